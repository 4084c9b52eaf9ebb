"""The I3D visual tower: Inception-v1 inflated to 3D (Carreira & Zisserman 2017) in Flax NNX."""

from collections.abc import Sequence
import functools

import jax
import jax.numpy as jnp
from flax import nnx

from caav_jax.models import conv3d_lowering
from caav_jax.models import same_padding

# Batch norm as in pytorch-i3d: eps 1e-3; PyTorch momentum 0.01, which is
# flax's momentum 0.99 (running = 0.99·running + 0.01·batch).
BATCH_NORM_EPSILON = 1e-3
BATCH_NORM_MOMENTUM = 0.99

# Output channels of each Inception module's branches:
# (b0, b1a, b1b, b2a, b2b, b3b); the module outputs b0 + b1b + b2b + b3b.
INCEPTION_CHANNELS = {
    'Mixed_3b': (64, 96, 128, 16, 32, 32),
    'Mixed_3c': (128, 128, 192, 32, 96, 64),
    'Mixed_4b': (192, 96, 208, 16, 48, 64),
    'Mixed_4c': (160, 112, 224, 24, 64, 64),
    'Mixed_4d': (128, 128, 256, 24, 64, 64),
    'Mixed_4e': (112, 144, 288, 32, 64, 64),
    'Mixed_4f': (256, 160, 320, 32, 128, 128),
    'Mixed_5b': (256, 160, 320, 32, 128, 128),
    'Mixed_5c': (384, 192, 384, 48, 128, 128),
}

# Trunk max pools: (window, strides) over (frames, height, width).
MAX_POOLS = {
    'MaxPool3d_2a_3x3': ((1, 3, 3), (1, 2, 2)),
    'MaxPool3d_3a_3x3': ((1, 3, 3), (1, 2, 2)),
    'MaxPool3d_4a_3x3': ((3, 3, 3), (2, 2, 2)),
    'MaxPool3d_5a_2x2': ((2, 2, 2), (2, 2, 2)),
}

RGB_CHANNELS = 3


def _max_pool(x: jax.Array, name: str) -> jax.Array:
  window, strides = MAX_POOLS[name]
  return same_padding.max_pool_same(x, window, strides)


class Unit3D(nnx.Module):
  """Conv3d without bias → batch norm → ReLU, with TensorFlow "SAME" padding.

  The padding is computed from the input's actual size at call time, so odd
  and even sizes pad exactly as TensorFlow does (the odd element after).

  Attributes:
    conv3d: the convolution; kernel (k_t, k_h, k_w, in_channels, out_channels).
      On the CPU it runs as matrix products (models/conv3d_lowering.py).
    bn: the batch norm; Params scale and bias, BatchStats mean and var.
  """

  def __init__(self, in_channels: int, out_channels: int,
               kernel_shape: Sequence[int] = (1, 1, 1),
               strides: Sequence[int] = (1, 1, 1), *,
               dtype: jnp.dtype | None = None, param_dtype: jnp.dtype = jnp.float32,
               batch_norm_momentum: float = BATCH_NORM_MOMENTUM, rngs: nnx.Rngs):
    """Builds the unit.

    Args:
      in_channels: input channels.
      out_channels: output channels.
      kernel_shape: (k_t, k_h, k_w).
      strides: (s_t, s_h, s_w).
      dtype: compute dtype (None: that of the inputs and parameters).
      param_dtype: dtype of the parameters.
      batch_norm_momentum: flax meaning (running = m·running + (1 − m)·batch).
      rngs: random streams; `params` initialises the kernel.
    """
    self.kernel_shape = tuple(kernel_shape)
    self.strides = tuple(strides)
    self.conv3d = nnx.Conv(
        in_channels, out_channels, self.kernel_shape, self.strides,
        padding='VALID', use_bias=False, dtype=dtype, param_dtype=param_dtype,
        conv_general_dilated=conv3d_lowering.conv_general_dilated, rngs=rngs)
    self.bn = nnx.BatchNorm(
        out_channels, epsilon=BATCH_NORM_EPSILON, momentum=batch_norm_momentum,
        dtype=dtype, param_dtype=param_dtype, rngs=rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies the unit.

    Args:
      x: (batch, frames, height, width, in_channels).

    Returns:
      (batch, ceil(frames / s_t), ceil(height / s_h), ceil(width / s_w), out_channels).
    """
    x = same_padding.pad_same(x, self.kernel_shape, self.strides)
    return nnx.relu(self.bn(self.conv3d(x)))


class InceptionModule(nnx.Module):
  """Four parallel branches concatenated on channels; spatial size unchanged.

  b0: 1×1×1 conv; b1a 1×1×1 → b1b 3×3×3; b2a 1×1×1 → b2b 3×3×3;
  3×3×3 max pool (stride 1) → b3b 1×1×1. Every conv is a `Unit3D`.

  Attributes:
    out_channels: channels of the output, b0 + b1b + b2b + b3b.
  """

  def __init__(self, in_channels: int, branch_channels: Sequence[int], *,
               dtype: jnp.dtype | None = None, param_dtype: jnp.dtype = jnp.float32,
               batch_norm_momentum: float = BATCH_NORM_MOMENTUM, rngs: nnx.Rngs):
    """Builds the module.

    Args:
      in_channels: input channels.
      branch_channels: output channels (b0, b1a, b1b, b2a, b2b, b3b).
      dtype: compute dtype (None: that of the inputs and parameters).
      param_dtype: dtype of the parameters.
      batch_norm_momentum: of every batch norm (flax meaning).
      rngs: random streams; `params` initialises the kernels.
    """
    b0, b1a, b1b, b2a, b2b, b3b = branch_channels
    unit = functools.partial(Unit3D, dtype=dtype, param_dtype=param_dtype,
                             batch_norm_momentum=batch_norm_momentum, rngs=rngs)
    self.b0 = unit(in_channels, b0)
    self.b1a = unit(in_channels, b1a)
    self.b1b = unit(b1a, b1b, (3, 3, 3))
    self.b2a = unit(in_channels, b2a)
    self.b2b = unit(b2a, b2b, (3, 3, 3))
    self.b3b = unit(in_channels, b3b)
    self.out_channels = b0 + b1b + b2b + b3b

  def __call__(self, x: jax.Array) -> jax.Array:
    """Applies the module.

    Args:
      x: (batch, frames, height, width, in_channels).

    Returns:
      (batch, frames, height, width, out_channels).
    """
    pooled = same_padding.max_pool_same(x, (3, 3, 3), (1, 1, 1))
    return jnp.concatenate(
        [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(pooled)],
        axis=-1)


class InceptionI3d(nnx.Module):  # pylint: disable=invalid-name
  """The I3D trunk, Conv3d_1a_7x7 … Mixed_5c, then a global average pool.

  Attribute names follow pytorch-i3d's state-dict keys (`Mixed_4b.b1b.conv3d`
  ↔ `Mixed_4b.b1b.conv3d.weight`; `bn.scale/bias/mean/var` ↔
  `bn.weight/bias/running_mean/running_var`). Input: RGB in [-1, 1],
  channels last. Any frames/height/width ≥ 1 work; each stride-2 stage
  halves a size, rounding up. For 16×224×224 the (frames, height, width) are:
  Conv3d_1a_7x7 8×112×112, MaxPool3d_2a_3x3 … Conv3d_2c_3x3 8×56×56,
  MaxPool3d_3a_3x3 … Mixed_3c 8×28×28, MaxPool3d_4a_3x3 … Mixed_4f 4×14×14,
  MaxPool3d_5a_2x2 … Mixed_5c 2×7×7, pooled to one 1024-d vector per clip.

  Batch norm follows NNX's mode: `model.train()` normalises with batch
  statistics and updates the running averages; `model.eval()` uses the
  running averages. A new model is in train mode.

  Attributes:
    features: output dimension, the channels of Mixed_5c (1024 at width 1).
  """

  def __init__(self, *, width_multiplier: float = 1.0, dtype: jnp.dtype | None = None,
               param_dtype: jnp.dtype = jnp.float32,
               batch_norm_momentum: float = BATCH_NORM_MOMENTUM, rngs: nnx.Rngs):
    """Builds the trunk.

    Args:
      width_multiplier: scales every channel count (rounded, at least 1), for
        small test and demo models; 1.0 is the published I3D.
      dtype: compute dtype, e.g. jnp.bfloat16 (None: float32 inputs give
        float32 compute). Batch-norm statistics and the final average are
        computed in float32 whatever the compute dtype.
      param_dtype: dtype of the parameters.
      batch_norm_momentum: of every batch norm, flax meaning; pytorch-i3d's
        0.99 averages over ~100 steps, too slow for a short run.
      rngs: random streams; `params` initialises the kernels.
    """
    if width_multiplier <= 0:
      raise ValueError(f'width_multiplier must be > 0, got {width_multiplier}')
    self.width_multiplier = width_multiplier

    def width(channels: int) -> int:
      return max(1, round(channels * width_multiplier))

    unit = functools.partial(Unit3D, dtype=dtype, param_dtype=param_dtype,
                             batch_norm_momentum=batch_norm_momentum, rngs=rngs)

    def inception(name: str, in_channels: int) -> InceptionModule:
      return InceptionModule(
          in_channels, [width(c) for c in INCEPTION_CHANNELS[name]],
          dtype=dtype, param_dtype=param_dtype, batch_norm_momentum=batch_norm_momentum,
          rngs=rngs)

    self.Conv3d_1a_7x7 = unit(RGB_CHANNELS, width(64), (7, 7, 7), (2, 2, 2))
    self.Conv3d_2b_1x1 = unit(width(64), width(64))
    self.Conv3d_2c_3x3 = unit(width(64), width(192), (3, 3, 3))
    self.Mixed_3b = inception('Mixed_3b', width(192))
    self.Mixed_3c = inception('Mixed_3c', self.Mixed_3b.out_channels)
    self.Mixed_4b = inception('Mixed_4b', self.Mixed_3c.out_channels)
    self.Mixed_4c = inception('Mixed_4c', self.Mixed_4b.out_channels)
    self.Mixed_4d = inception('Mixed_4d', self.Mixed_4c.out_channels)
    self.Mixed_4e = inception('Mixed_4e', self.Mixed_4d.out_channels)
    self.Mixed_4f = inception('Mixed_4f', self.Mixed_4e.out_channels)
    self.Mixed_5b = inception('Mixed_5b', self.Mixed_4f.out_channels)
    self.Mixed_5c = inception('Mixed_5c', self.Mixed_5b.out_channels)
    self.features = self.Mixed_5c.out_channels

  def feature_map(self, videos: jax.Array) -> jax.Array:
    """The Mixed_5c output, before pooling.

    Args:
      videos: (batch, frames, height, width, 3), RGB in [-1, 1].

    Returns:
      (batch, ⌈frames/8⌉, ⌈height/32⌉, ⌈width/32⌉, features) in the compute
      dtype; (batch, 2, 7, 7, 1024) for 16×224×224 at width 1.
    """
    x = self.Conv3d_1a_7x7(videos)
    x = _max_pool(x, 'MaxPool3d_2a_3x3')
    x = self.Conv3d_2b_1x1(x)
    x = self.Conv3d_2c_3x3(x)
    x = _max_pool(x, 'MaxPool3d_3a_3x3')
    x = self.Mixed_3b(x)
    x = self.Mixed_3c(x)
    x = _max_pool(x, 'MaxPool3d_4a_3x3')
    x = self.Mixed_4b(x)
    x = self.Mixed_4c(x)
    x = self.Mixed_4d(x)
    x = self.Mixed_4e(x)
    x = self.Mixed_4f(x)
    x = _max_pool(x, 'MaxPool3d_5a_2x2')
    x = self.Mixed_5b(x)
    return self.Mixed_5c(x)

  def __call__(self, videos: jax.Array) -> jax.Array:
    """One feature vector per clip: the Mixed_5c map averaged over space and time.

    Args:
      videos: (batch, frames, height, width, 3), RGB in [-1, 1].

    Returns:
      (batch, features), float32.
    """
    return jnp.mean(self.feature_map(videos), axis=(1, 2, 3), dtype=jnp.float32)
