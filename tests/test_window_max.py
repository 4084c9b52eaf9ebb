"""Max pooling as shifted slices: nnx.max_pool's values and gradients, ties included."""

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
    ((3, 124, 31, 2), (4, 2), (4, 2)),        # 2D, not overlapping, a partial window dropped
])
@pytest.mark.parametrize('values', ['continuous', 'tied'])
def test_equals_nnx_max_pool_values_and_gradients(shape, window, strides, values):
  rng = np.random.default_rng(0)
  x = rng.standard_normal(shape) if values == 'continuous' else rng.integers(0, 3, shape)
  x = jnp.asarray(x, jnp.float32)  # 'tied': most windows hold several maxima
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


def test_a_tie_goes_to_the_first_maximum_in_row_major_order():
  x = jnp.asarray([[[1.0], [5.0], [5.0], [2.0]]])  # (batch, length, channels)
  grad = jax.grad(lambda v: jnp.sum(window_max(v, (4,), (1,))))(x)
  np.testing.assert_array_equal(grad[0, :, 0], [0.0, 1.0, 0.0, 0.0])
  # Row-major, the maximum at (0, 1) comes before the one at (1, 0).
  x = jnp.asarray([[0.0, 5.0], [5.0, 0.0]])[None, :, :, None]
  grad = jax.grad(lambda v: jnp.sum(window_max(v, (2, 2), (1, 1))))(x)
  np.testing.assert_array_equal(grad[0, :, :, 0], [[0.0, 1.0], [0.0, 0.0]])
  np.testing.assert_array_equal(
      grad, jax.grad(lambda v: jnp.sum(nnx.max_pool(v, (2, 2), padding='VALID')))(x))


def test_a_window_longer_than_the_axis_is_a_clear_error():
  with pytest.raises(ValueError, match='shorter than the window'):
    window_max(jnp.zeros((1, 2, 5, 1)), (3, 3), (1, 1))
