"""The 3D convolution of the I3D units, computed as matrix products on the CPU.

XLA's CPU backend has no fast 3D convolution, and its 2D convolutions are
slow too, above all their backward pass. So on the CPU each temporal tap
is one matrix product of the spatial neighbourhoods its frames hold
(`tap_matmuls`): the same sum of products, in another order. It costs
memory: the neighbourhoods hold k_h·k_w / (s_h·s_w) copies of the input.

GPUs and TPUs keep XLA's 3D convolution, except that on a GPU a strided
convolution of a few input channels (I3D's RGB stem) first becomes a
stride-1 one over 2×2×2 blocks (models/space_to_depth.py), which cuDNN
runs without transposes. Measurements behind both choices:
docs/performance.md, "Why each lowering exists".

`conv_general_dilated` has `lax.conv_general_dilated`'s signature, so
`nnx.Conv(..., conv_general_dilated=conv_general_dilated)` keeps its
parameters, initialisation and checkpoints unchanged.
"""

import jax
from jax import lax
import jax.numpy as jnp

from caav_jax.models.space_to_depth import space_to_depth


# A strided convolution of at most this many input channels runs as space_to_depth on a GPU.
FEW_INPUT_CHANNELS = 4


def tap_matmuls(inputs: jax.Array, kernel: jax.Array, strides: tuple[int, int, int]) -> jax.Array:
  """A 'VALID' 3D convolution as one matrix product per temporal tap, summed.

  The k_h × k_w spatial neighbourhoods of every frame are laid side by side
  along the channel axis once (k_h·k_w·C values per output position, row
  by row). Each temporal tap then takes the frames it meets from them, and
  one matrix product with that tap's kernel, reshaped to (k_h·k_w·C, out),
  gives its share of every output. A 1×1×1 kernel is a single matrix product over
  channels. The neighbourhoods are built once, not once per tap: XLA's CPU
  compiler makes each slice a kernel of its own, and a slice per tap, row
  and column made compiling several times slower.

  Args:
    inputs: (batch, frames, height, width, in_channels).
    kernel: (k_t, k_h, k_w, in_channels, out_channels).
    strides: (s_t, s_h, s_w).

  Returns:
    (batch, (frames − k_t) // s_t + 1, height', width', out_channels), as
    `lax.conv_general_dilated` gives.
  """
  _, frames, height, width, channels = inputs.shape
  taps, rows, columns, _, out_channels = kernel.shape
  stride_t, stride_h, stride_w = strides
  out_frames = (frames - taps) // stride_t + 1
  if out_frames < 1:
    raise ValueError(f'{frames} frames are fewer than the kernel\'s {taps} taps')
  out_height = (height - rows) // stride_h + 1
  out_width = (width - columns) // stride_w + 1
  # Column shifts first, then row shifts of those: k_h + k_w slices, not k_h·k_w.
  columns_side_by_side = jnp.concatenate([
      lax.slice_in_dim(inputs, column, column + (out_width - 1) * stride_w + 1, stride_w, axis=3)
      for column in range(columns)], axis=-1)
  neighbourhoods = jnp.concatenate([
      lax.slice_in_dim(columns_side_by_side, row, row + (out_height - 1) * stride_h + 1,
                       stride_h, axis=2)
      for row in range(rows)], axis=-1)
  total = None
  for tap in range(taps):
    # The frames this tap meets: tap, tap + s_t, ..., one per output frame.
    frames_at_tap = lax.slice_in_dim(neighbourhoods, tap,
                                     tap + (out_frames - 1) * stride_t + 1, stride_t, axis=1)
    out = jnp.matmul(frames_at_tap, kernel[tap].reshape(rows * columns * channels, out_channels))
    total = out if total is None else total + out
  return total


def conv_general_dilated(inputs, kernel, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         precision=None, **kwargs):
  """`lax.conv_general_dilated` for nnx.Conv's channels-last 3D case, lowered per backend.

  The CPU gets `tap_matmuls`; a GPU gets `space_to_depth` first for a strided
  convolution of at most FEW_INPUT_CHANNELS input channels.
  """
  plain = (padding == 'VALID' and feature_group_count == 1 and inputs.ndim == 5
           and all(d in (None, (1, 1, 1)) for d in (lhs_dilation, rhs_dilation)))
  backend = jax.default_backend()
  if plain and backend == 'cpu':
    return tap_matmuls(inputs, kernel, tuple(window_strides))
  if (plain and backend == 'gpu' and inputs.shape[-1] <= FEW_INPUT_CHANNELS
      and any(stride > 1 for stride in window_strides)):
    inputs, kernel = space_to_depth(inputs, kernel, window_strides)
    window_strides = (1, 1, 1)
  return lax.conv_general_dilated(inputs, kernel, window_strides, padding, lhs_dilation,
                                  rhs_dilation, dimension_numbers, feature_group_count,
                                  precision=precision, **kwargs)
