"""Max pooling as a running maximum of shifted slices, one spatial axis at a time.

The maximum over a box is the maximum over each of its axes in turn, and a
window of k taps with stride s is the elementwise maximum of k strided
slices. Written this way, the backward pass is elementwise selects that XLA
fuses, instead of the select-and-scatter that `lax.reduce_window` (and so
`nnx.max_pool`) differentiates into, and which dominated the pools' cost
on the GPU and the CPU (docs/performance.md).

I3D's pools use it (models/same_padding.py). The audio CNN keeps
`nnx.max_pool`: its pools do not overlap, and this function made its
tower's train step slower on a GPU.

The values are exactly those of `nnx.max_pool`, and so is the gradient up
to the order in which overlapping windows add into an input: on a tie, both
give it all to the window's first maximum in row-major order. (Plain
`jnp.maximum` would split it between the tied inputs, which the demo's flat
synthetic faces make often.)
"""

from collections.abc import Sequence

import jax
from jax import lax
import jax.numpy as jnp


@jax.custom_jvp
def _first_max(a: jax.Array, b: jax.Array) -> jax.Array:
  """jnp.maximum, whose derivative on a tie follows `a`, the earlier input."""
  return jnp.maximum(a, b)


@_first_max.defjvp
def _first_max_jvp(primals, tangents):
  a, b = primals
  tangent_a, tangent_b = tangents
  return jnp.maximum(a, b), jnp.where(a >= b, tangent_a, tangent_b)


def window_max(x: jax.Array, window_shape: Sequence[int], strides: Sequence[int]) -> jax.Array:
  """"VALID" max pooling over the spatial axes of a channels-last array.

  Args:
    x: (batch, *spatial, channels).
    window_shape: window length per spatial axis.
    strides: stride per spatial axis.

  Returns:
    (batch, *[(n − k) // s + 1 per spatial axis], channels), as
    `nnx.max_pool(x, window_shape, strides, padding='VALID')` gives.
  """
  if not x.ndim - 2 == len(window_shape) == len(strides):
    raise ValueError(f'rank mismatch: x {x.shape}, window {tuple(window_shape)}, '
                     f'strides {tuple(strides)}')
  # Innermost axis first, earliest tap winning each tie: the gradient goes to
  # the window's first maximum in row-major order, as select-and-scatter's does.
  for axis in reversed(range(1, x.ndim - 1)):
    taps, stride = window_shape[axis - 1], strides[axis - 1]
    out_size = (x.shape[axis] - taps) // stride + 1
    if out_size < 1:
      raise ValueError(f'axis {axis} of {x.shape} is shorter than the window\'s {taps} taps')
    slices = [lax.slice_in_dim(x, tap, tap + (out_size - 1) * stride + 1, stride, axis=axis)
              for tap in range(taps)]
    x = slices[0]
    for later in slices[1:]:
      x = _first_max(x, later)
  return x
