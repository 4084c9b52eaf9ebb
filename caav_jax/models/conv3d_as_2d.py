"""The 3D convolution of the I3D units, computed as 2D convolutions on the CPU.

XLA's CPU backend has no fast 3D convolution: on this project's 2-core
machine a 7×7×7 stride-2 convolution of 64 clips of 18×30×30 RGB frames takes
1.3 s forward and backward, against 0.14 s as seven 2D convolutions, one per
temporal tap, whose outputs are summed (`frame_taps`). The two are the same
sum of products, in another order. GPUs and TPUs keep XLA's 3D convolution
(cuDNN and the TPU compiler are fast at it), except that on a GPU a strided
convolution of a few input channels (I3D's RGB stem) first becomes a
stride-1 one over 2×2×2 blocks (models/space_to_depth.py): on an H200, in
bfloat16 at the paper's shapes, the stem alone took 81 of the visual
tower's 207 ms a step as XLA's 3D convolution (cuDNN ran it channels
first, with transposes), and the tower took 157 ms with the rewrite. On the
CPU the rewrite is slower (7.6 against 4.9 s for the stem at batch 2, 112²),
so the CPU keeps `frame_taps` of the strided kernel.

`conv_general_dilated` has `lax.conv_general_dilated`'s signature, so
`nnx.Conv(..., conv_general_dilated=conv_general_dilated)` keeps its
parameters, initialisation and checkpoints unchanged.
"""

import jax
from jax import lax

from caav_jax.models.space_to_depth import space_to_depth

# A strided convolution of at most this many input channels runs as space_to_depth on a GPU.
FEW_INPUT_CHANNELS = 4


def frame_taps(inputs: jax.Array, kernel: jax.Array, strides: tuple[int, int, int]) -> jax.Array:
  """A 'VALID' 3D convolution as one 2D convolution per temporal tap, summed.

  Args:
    inputs: (batch, frames, height, width, in_channels).
    kernel: (k_t, k_h, k_w, in_channels, out_channels).
    strides: (s_t, s_h, s_w).

  Returns:
    (batch, (frames − k_t) // s_t + 1, height', width', out_channels), as
    `lax.conv_general_dilated` gives.
  """
  batch, frames, height, width, channels = inputs.shape
  taps, stride = kernel.shape[0], strides[0]
  out_frames = (frames - taps) // stride + 1
  if out_frames < 1:
    raise ValueError(f'{frames} frames are fewer than the kernel\'s {taps} taps')
  total = None
  for tap in range(taps):
    # The frames this tap meets: tap, tap + s_t, ..., one per output frame.
    frames_at_tap = lax.slice_in_dim(inputs, tap, tap + (out_frames - 1) * stride + 1, stride,
                                     axis=1)
    out = lax.conv_general_dilated(
        frames_at_tap.reshape(batch * out_frames, height, width, channels), kernel[tap],
        strides[1:], 'VALID', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    total = out if total is None else total + out
  return total.reshape(batch, out_frames, *total.shape[1:])


def conv_general_dilated(inputs, kernel, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         precision=None, **kwargs):
  """`lax.conv_general_dilated` for nnx.Conv's channels-last 3D case, lowered per backend.

  The CPU gets `frame_taps`; a GPU gets `space_to_depth` first for a strided
  convolution of at most FEW_INPUT_CHANNELS input channels.
  """
  plain = (padding == 'VALID' and feature_group_count == 1 and inputs.ndim == 5
           and all(d in (None, (1, 1, 1)) for d in (lhs_dilation, rhs_dilation)))
  backend = jax.default_backend()
  if plain and backend == 'cpu':
    return frame_taps(inputs, kernel, tuple(window_strides))
  if (plain and backend == 'gpu' and inputs.shape[-1] <= FEW_INPUT_CHANNELS
      and any(stride > 1 for stride in window_strides)):
    inputs, kernel = space_to_depth(inputs, kernel, window_strides)
    window_strides = (1, 1, 1)
  return lax.conv_general_dilated(inputs, kernel, window_strides, padding, lhs_dilation,
                                  rhs_dilation, dimension_numbers, feature_group_count,
                                  precision=precision, **kwargs)
