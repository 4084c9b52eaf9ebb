"""A strided convolution rewritten over stride-sized blocks equals the strided one; the GPU takes it."""

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest

from caav_jax.models import conv3d_lowering
from caav_jax.models.space_to_depth import space_to_depth

NUMBERS = ('NDHWC', 'DHWIO', 'NDHWC')


@pytest.mark.parametrize('sizes, kernel_shape, strides', [
    ((21, 29, 29), (7, 7, 7), (2, 2, 2)),  # I3D's stem after SAME padding (16×24×24 input)
    ((22, 30, 30), (7, 7, 7), (2, 2, 2)),  # one position more than the outputs read
    ((9, 10, 11), (3, 5, 2), (2, 3, 1)),   # taps not a multiple of the stride, mixed strides
    ((6, 7, 8), (1, 3, 3), (1, 2, 2)),
])
def test_equals_the_strided_convolution(sizes, kernel_shape, strides):
  rng = np.random.default_rng(0)
  with jax.enable_x64(True):  # float64: the rewrite is exact, up to the order of the sums
    inputs = jnp.asarray(rng.standard_normal((2, *sizes, 3)))
    kernel = jnp.asarray(rng.standard_normal((*kernel_shape, 3, 4)))
    want = lax.conv_general_dilated(inputs, kernel, strides, 'VALID', dimension_numbers=NUMBERS)
    blocks, block_kernel = space_to_depth(inputs, kernel, strides)
    got = lax.conv_general_dilated(blocks, block_kernel, (1, 1, 1), 'VALID',
                                   dimension_numbers=NUMBERS)
    assert blocks.shape[-1] == block_kernel.shape[-2] == 3 * int(np.prod(strides))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_gpu_lowering_keeps_values_and_kernel_gradient(monkeypatch):
  """The GPU branch of conv3d_lowering (forced here on the CPU) against XLA's strided convolution."""
  rng = np.random.default_rng(1)
  with jax.enable_x64(True):
    inputs = jnp.asarray(rng.standard_normal((1, 21, 21, 21, 3)))
    kernel = jnp.asarray(rng.standard_normal((7, 7, 7, 3, 5)))

    def loss(conv, k):
      return jnp.sum(jnp.sin(conv(inputs, k, (2, 2, 2), 'VALID', dimension_numbers=NUMBERS)))

    want, want_grad = loss(lax.conv_general_dilated, kernel), jax.grad(
        lambda k: loss(lax.conv_general_dilated, k))(kernel)
    monkeypatch.setattr(conv3d_lowering.jax, 'default_backend', lambda: 'gpu')
    lowered = jax.jit(lambda k: loss(conv3d_lowering.conv_general_dilated, k)).lower(kernel)
    # The convolution that ran: stride 1 over 2×2×2 blocks, 4×4×4 taps of 8 × 3 channels.
    assert 'tensor<4x4x4x24x5xf64>' in lowered.as_text()
    assert 'stride = [1, 1, 1]' in lowered.as_text()
    got, got_grad = loss(conv3d_lowering.conv_general_dilated, kernel), jax.grad(
        lambda k: loss(conv3d_lowering.conv_general_dilated, k))(kernel)
  np.testing.assert_allclose(got, want, rtol=1e-10)
  np.testing.assert_allclose(got_grad, want_grad, rtol=1e-9, atol=1e-9)


def test_rank_mismatch_is_a_clear_error():
  with pytest.raises(ValueError, match='rank mismatch'):
    space_to_depth(jnp.zeros((1, 4, 4, 4, 3)), jnp.zeros((3, 3, 3, 5)), (2, 2, 2))
