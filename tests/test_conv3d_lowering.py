"""The CPU's 3D convolution as per-tap matrix products equals XLA's 3D convolution, values and gradients."""

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest

from caav_jax.models import conv3d_lowering


def _reference(inputs, kernel, strides):
  return lax.conv_general_dilated(inputs, kernel, strides, 'VALID',
                                  dimension_numbers=('NDHWC', 'DHWIO', 'NDHWC'))


def _loss(conv, strides):
  return lambda x, k: jnp.sum(jnp.sin(conv(x, k, strides)))


def _float64_truth(inputs, kernel, strides):
  """XLA's 3D convolution in float64: values, and gradients of `_loss`."""
  with jax.enable_x64(True):
    x, k = (jnp.asarray(np.asarray(a), jnp.float64) for a in (inputs, kernel))
    grads = jax.grad(_loss(_reference, strides), argnums=(0, 1))(x, k)
    return np.asarray(_reference(x, k, strides)), [np.asarray(g) for g in grads]


@pytest.mark.parametrize('kernel_shape, strides, frames', [
    ((7, 7, 7), (2, 2, 2), 13),   # I3D's first unit, odd frame count
    ((3, 3, 3), (1, 1, 1), 6),
    ((1, 1, 1), (1, 1, 1), 4),   # the Inception branches' pointwise units
    ((3, 2, 1), (2, 1, 2), 8),
    ((2, 3, 3), (1, 2, 3), 7),   # strides that do not divide the extent
])
def test_tap_matmuls_equals_xla_3d_convolution(kernel_shape, strides, frames):
  rng = np.random.default_rng(0)
  inputs = jnp.asarray(rng.standard_normal((2, frames, 9, 10, 3)), jnp.float32)
  kernel = jnp.asarray(rng.standard_normal(kernel_shape + (3, 5)), jnp.float32)
  got = conv3d_lowering.tap_matmuls(inputs, kernel, strides)
  # Against float64, not against XLA's float32 3D convolution: two float32
  # sums in different orders differ by both their errors. Measured on the
  # 7×7×7 case (Xeon with AVX-512 and AMX): each float32 path's gradients are
  # within 1.0e-5 × the largest gradient of the float64 ones, and the two
  # paths differed by 1.1e-5 × it, failing the earlier check at 1e-5.
  want, want_grads = _float64_truth(inputs, kernel, strides)
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
  got_grads = jax.grad(_loss(conv3d_lowering.tap_matmuls, strides), argnums=(0, 1))(inputs, kernel)
  for got_grad, want_grad in zip(got_grads, want_grads):
    scale = float(np.max(np.abs(want_grad)))  # float32 sums of hundreds of products
    np.testing.assert_allclose(got_grad, want_grad, rtol=0, atol=3e-5 * scale)


def test_nnx_conv_uses_it_on_the_cpu_and_keeps_the_result():
  from flax import nnx  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(1)
  inputs = jnp.asarray(rng.standard_normal((1, 5, 6, 6, 2)), jnp.float32)
  conv = nnx.Conv(2, 4, (3, 3, 3), (1, 2, 2), padding='VALID', use_bias=False,
                  conv_general_dilated=conv3d_lowering.conv_general_dilated, rngs=nnx.Rngs(0))
  np.testing.assert_allclose(conv(inputs), _reference(inputs, conv.kernel[...], (1, 2, 2)),
                             rtol=1e-5, atol=1e-5)
  assert jax.default_backend() == 'cpu'
  lowered = jax.jit(lambda x: conv(x)).lower(inputs).as_text()
  assert 'stablehlo.convolution' not in lowered
  assert lowered.count('stablehlo.dot_general') == 3  # one matrix product per temporal tap


def test_too_few_frames_is_a_clear_error():
  with pytest.raises(ValueError, match='2 frames are fewer than the kernel.s 3 taps'):
    conv3d_lowering.tap_matmuls(jnp.zeros((1, 2, 4, 4, 1)), jnp.zeros((3, 1, 1, 1, 1)), (1, 1, 1))
