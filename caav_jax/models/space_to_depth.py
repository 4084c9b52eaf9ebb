"""A strided convolution as a stride-1 one over blocks of stride-sized cells (space to depth).

A convolution over few input channels (I3D's stem: 3 RGB channels, a 7×7×7
kernel, stride 2) keeps GPU tensor cores mostly idle, and cuDNN runs it in a
channels-first layout with transposes around it. Folding each stride-sized
block of positions into the channel axis gives the same sums with 8× the
input channels (2×2×2 blocks), a 4×4×4 kernel (the 7 taps padded with a zero
to 8) and stride 1. The zero taps add multiplications by zero, nothing else.
"""

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp


def space_to_depth(inputs: jax.Array, kernel: jax.Array, strides: Sequence[int]
                   ) -> tuple[jax.Array, jax.Array]:
  """Rewrites a channels-last "VALID" convolution with `strides` as one with stride 1.

  Output position o of axis d reads inputs o·s + t (tap t < k). With t = s·a + b
  (b < s), that is block o + a, cell b: a stride-1 convolution over blocks of
  s cells, whose channels are (cells, input channels) and whose kernel has
  ceil(k / s) taps per axis.

  Args:
    inputs: (batch, *spatial, in_channels).
    kernel: (*kernel_taps, in_channels, out_channels).
    strides: one stride per spatial axis.

  Returns:
    (blocks, block_kernel): a "VALID", stride-1 convolution of these gives
    the same output as the strided one. blocks: (batch, *block_counts,
    prod(strides)·in_channels); block_kernel: (*block_taps,
    prod(strides)·in_channels, out_channels).
  """
  spatial, taps = inputs.shape[1:-1], kernel.shape[:-2]
  if not len(spatial) == len(taps) == len(strides):
    raise ValueError(f'rank mismatch: inputs {inputs.shape}, kernel {kernel.shape}, '
                     f'strides {tuple(strides)}')
  out_sizes = [(n - k) // s + 1 for n, k, s in zip(spatial, taps, strides)]
  block_taps = [math.ceil(k / s) for k, s in zip(taps, strides)]
  # Exactly the positions the blocks cover: pad with zeros, or drop positions no output reads.
  lengths = [s * (o + a - 1) for s, o, a in zip(strides, out_sizes, block_taps)]
  inputs = inputs[(slice(None), *(slice(0, n) for n in lengths))]
  inputs = jnp.pad(inputs, [(0, 0), *((0, n - m) for n, m in zip(lengths, inputs.shape[1:-1])),
                            (0, 0)])
  kernel = jnp.pad(kernel, [*((0, a * s - k) for a, s, k in zip(block_taps, strides, taps)),
                            (0, 0), (0, 0)])
  rank = len(strides)
  batch, channels, out_channels = inputs.shape[0], inputs.shape[-1], kernel.shape[-1]
  # (batch, blocks_1, s_1, ..., blocks_r, s_r, C) → (batch, blocks_1..r, s_1..r, C)
  split = inputs.reshape(batch, *[v for n, s in zip(lengths, strides) for v in (n // s, s)],
                         channels)
  blocks = split.transpose(0, *range(1, 2 * rank, 2), *range(2, 2 * rank + 1, 2), 2 * rank + 1)
  blocks = blocks.reshape(batch, *(n // s for n, s in zip(lengths, strides)),
                          math.prod(strides) * channels)
  # (a_1, s_1, ..., a_r, s_r, C, O) → (a_1..r, s_1..r, C, O)
  split_kernel = kernel.reshape(*[v for a, s in zip(block_taps, strides) for v in (a, s)],
                                channels, out_channels)
  block_kernel = split_kernel.transpose(*range(0, 2 * rank, 2), *range(1, 2 * rank, 2),
                                        2 * rank, 2 * rank + 1)
  block_kernel = block_kernel.reshape(*block_taps, math.prod(strides) * channels, out_channels)
  return blocks, block_kernel
