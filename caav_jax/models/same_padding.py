"""TensorFlow's "SAME" padding for strided convolutions and pools, from the input size."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from caav_jax.models.window_max import window_max


def same_output_size(size: int, stride: int) -> int:
  """Output length of a "SAME" convolution or pool: ceil(size / stride)."""
  return -(-size // stride)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """Padding of one axis under TensorFlow's "SAME" rule.

  The output has ceil(size / stride) positions; the total padding is
  max((out − 1)·stride + kernel − size, 0), split with the odd element after:
  before = total // 2, after = total − before.

  Args:
    size: input length along the axis (≥ 1).
    kernel: window length along the axis (≥ 1).
    stride: window stride along the axis (≥ 1).

  Returns:
    (pad_before, pad_after).
  """
  if min(size, kernel, stride) < 1:
    raise ValueError(f'size, kernel and stride must be ≥ 1, got {size}, {kernel}, {stride}')
  total = max((same_output_size(size, stride) - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def same_paddings(sizes: Sequence[int], kernel_shape: Sequence[int],
                  strides: Sequence[int]) -> tuple[tuple[int, int], ...]:
  """Per-axis "SAME" padding, e.g. for (frames, height, width) of a 3D conv or pool.

  Args:
    sizes: input length per spatial axis.
    kernel_shape: window length per spatial axis.
    strides: stride per spatial axis.

  Returns:
    One (pad_before, pad_after) pair per axis.
  """
  if not len(sizes) == len(kernel_shape) == len(strides):
    raise ValueError(f'rank mismatch: sizes {sizes}, kernel {kernel_shape}, strides {strides}')
  return tuple(same_padding(n, k, s) for n, k, s in zip(sizes, kernel_shape, strides))


def pad_same(x: jax.Array, kernel_shape: Sequence[int], strides: Sequence[int],
             value: float = 0.0) -> jax.Array:
  """Pads the spatial axes of a channels-last array so a "VALID" window op is "SAME".

  Args:
    x: (batch, *spatial, channels), e.g. (batch, frames, height, width, channels).
    kernel_shape: window length per spatial axis.
    strides: stride per spatial axis.
    value: the constant written into the padding.

  Returns:
    (batch, *padded_spatial, channels), same dtype as `x`.
  """
  pads = same_paddings(x.shape[1:-1], kernel_shape, strides)
  return jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=jnp.asarray(value, x.dtype))


def max_pool_same(x: jax.Array, window_shape: Sequence[int],
                  strides: Sequence[int]) -> jax.Array:
  """Max pool with TensorFlow's "SAME" padding, padded with −inf.

  As in TensorFlow, padded positions never win the max: a window at the border
  takes the max over its real inputs only, even when they are all negative.

  Args:
    x: (batch, *spatial, channels), floating point.
    window_shape: window length per spatial axis.
    strides: stride per spatial axis.

  Returns:
    (batch, *[ceil(n / s) per spatial axis], channels).
  """
  return window_max(pad_same(x, window_shape, strides, value=-jnp.inf), window_shape, strides)
