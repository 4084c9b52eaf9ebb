"""Max pooling as shifted slices: nnx.max_pool's values, and its gradient wherever maxima are unique."""

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caav_jax.models.window_max import window_max


@pytest.mark.parametrize('shape, window, strides', [
    ((2, 5, 9, 8, 3), (3, 3, 3), (1, 1, 1)),  # I3D's inception pool (after SAME padding)
    ((2, 5, 9, 8, 3), (1, 3, 3), (1, 2, 2)),
    ((2, 6, 9, 8, 3), (2, 2, 2), (2, 2, 2)),
    ((2, 7, 9, 8, 3), (3, 3, 3), (2, 2, 2)),
    ((3, 124, 31, 2), (4, 2), (4, 2)),        # the audio CNN's first pool
])
def test_equals_nnx_max_pool_values_and_gradients(shape, window, strides):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal(shape), jnp.float32)  # continuous: no ties
  want = nnx.max_pool(x, window, strides=strides, padding='VALID')
  got = window_max(x, window, strides)
  np.testing.assert_array_equal(got, want)
  weights = jnp.asarray(rng.standard_normal(want.shape), jnp.float32)
  want_grad = jax.grad(lambda v: jnp.sum(weights * nnx.max_pool(
      v, window, strides=strides, padding='VALID')))(x)
  got_grad = jax.grad(lambda v: jnp.sum(weights * window_max(v, window, strides)))(x)
  # Overlapping windows add several weights into one input, in another order.
  np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-6)
  assert (np.asarray(got_grad) != 0).sum() == (np.asarray(want_grad) != 0).sum()  # same winners


def test_a_tie_splits_the_gradient_and_keeps_its_sum():
  x = jnp.asarray([[[1.0], [5.0], [5.0], [2.0]]])  # (batch, length, channels)
  grad = jax.grad(lambda v: jnp.sum(window_max(v, (4,), (1,))))(x)
  np.testing.assert_array_equal(grad[0, :, 0], [0.0, 0.5, 0.5, 0.0])


def test_a_window_longer_than_the_axis_is_a_clear_error():
  with pytest.raises(ValueError, match='shorter than the window'):
    window_max(jnp.zeros((1, 2, 5, 1)), (3, 3), (1, 1))
