"""The paper's 2D CNN on a log-mel spectrogram: (128, 65) → 1024-d per 0.64 s segment."""

import jax.numpy as jnp
from flax import nnx


def _scaled(channels: int, width_multiplier: float) -> int:
  return max(1, int(round(channels * width_multiplier)))


def max_pool_ceil(x: jnp.ndarray, window: tuple[int, int]) -> jnp.ndarray:
  """Max pooling with stride = window, keeping partial windows (PyTorch ceil_mode).

  Args:
    x: (batch, height, width, channels).
    window: pooling window, also the stride.

  Returns:
    (batch, ceil(height / wh), ceil(width / ww), channels).
  """
  pads = [(0, 0)] + [(0, -size % w) for size, w in zip(x.shape[1:3], window)] + [(0, 0)]
  padded = jnp.pad(x, pads, constant_values=-jnp.inf)
  return nnx.max_pool(padded, window, strides=window)


class AudioCNN(nnx.Module):
  """Spectrogram CNN of PAPER.md (channels last; PyTorch's zero padding).

  conv 1→64 k5 s(1,2) → BN → ReLU → max pool (4, 2);
  conv 64→128 k5 s(1,2) p1 → ReLU;
  conv 128→256 k3 p1 → ReLU → BN → max pool 2×2 (ceil);
  conv 256→512 k5 p1 → ReLU; conv 512→1024 k3 p1 → ReLU; global average pool.
  Sizes for a (128, 65) spectrogram: (124, 31) → (31, 15) → (29, 7) →
  (29, 7) → (15, 4) → (13, 2) → (13, 2) → 1024.
  """

  def __init__(self, *, width_multiplier: float = 1.0, dtype=jnp.float32,
               rngs: nnx.Rngs):
    c = [_scaled(n, width_multiplier) for n in (64, 128, 256, 512, 1024)]
    conv = lambda i, o, k, s, p: nnx.Conv(
        i, o, (k, k), strides=s, padding=[(p, p), (p, p)], dtype=dtype,
        rngs=rngs)
    batch_norm = lambda n: nnx.BatchNorm(n, momentum=0.9, epsilon=1e-5,
                                         dtype=dtype, rngs=rngs)
    self.conv1 = conv(1, c[0], 5, (1, 2), 0)
    self.bn1 = batch_norm(c[0])
    self.conv2 = conv(c[0], c[1], 5, (1, 2), 1)
    self.conv3 = conv(c[1], c[2], 3, (1, 1), 1)
    self.bn3 = batch_norm(c[2])
    self.conv4 = conv(c[2], c[3], 5, (1, 1), 1)
    self.conv5 = conv(c[3], c[4], 3, (1, 1), 1)
    self.features = c[4]

  def __call__(self, spectrograms: jnp.ndarray) -> jnp.ndarray:
    """Maps (batch, mels, frames) spectrograms to (batch, features)."""
    x = spectrograms[..., None]
    x = nnx.max_pool(nnx.relu(self.bn1(self.conv1(x))), (4, 2), strides=(4, 2))
    x = nnx.relu(self.conv2(x))
    x = max_pool_ceil(self.bn3(nnx.relu(self.conv3(x))), (2, 2))
    x = nnx.relu(self.conv4(x))
    if 0 in x.shape:
      raise ValueError(
          f'a spectrogram of {spectrograms.shape[-2]}×{spectrograms.shape[-1]} is too '
          'small for the audio CNN: it needs at least 47 time frames (sub-sequences '
          'of at least 12 video frames; the paper uses 16)')
    x = nnx.relu(self.conv5(x))
    return x.mean(axis=(1, 2))
