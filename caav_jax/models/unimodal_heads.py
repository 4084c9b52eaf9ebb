"""The unimodal pre-training heads of PAPER.md, one per backbone."""

import jax
import jax.numpy as jnp
from flax import nnx


class VisualPretrainHead(nnx.Module):
  """I3D's head: dropout → 1×1×1 conv 1024→512 → ReLU → 1×1×1 conv 512→outputs.

  On pooled features a 1×1×1 convolution is a linear layer. The ReLU between
  them is pytorch-i3d's Unit3D default activation (PAPER.md names no other).
  Applied to each sub-sequence; the clip prediction is their mean.
  """

  def __init__(self, in_features: int, outputs: int, *, dropout_rate: float = 0.5,
               dtype=jnp.float32, rngs: nnx.Rngs):
    self.dropout = nnx.Dropout(dropout_rate, rngs=rngs)
    self.fc1 = nnx.Linear(in_features, 512, dtype=dtype, rngs=rngs)
    self.fc2 = nnx.Linear(512, outputs, dtype=dtype, rngs=rngs)

  def __call__(self, sequence: jnp.ndarray) -> jnp.ndarray:
    """Maps (batch, L, features) to (batch, outputs), float32."""
    x = self.fc2(nnx.relu(self.fc1(self.dropout(sequence))))
    return x.mean(axis=1).astype(jnp.float32)


class AudioPretrainHead(nnx.Module):
  """dropout → Linear 1024→256 → BatchNorm → sigmoid → dropout → Linear 256→outputs.

  Applied to each sub-sequence; the clip prediction is their mean.
  """

  def __init__(self, in_features: int, outputs: int, *, dropout_rate: float = 0.5,
               dtype=jnp.float32, rngs: nnx.Rngs):
    self.dropout = nnx.Dropout(dropout_rate, rngs=rngs)
    self.fc1 = nnx.Linear(in_features, 256, dtype=dtype, rngs=rngs)
    self.bn = nnx.BatchNorm(256, momentum=0.9, epsilon=1e-5, dtype=dtype, rngs=rngs)
    self.fc2 = nnx.Linear(256, outputs, dtype=dtype, rngs=rngs)

  def __call__(self, sequence: jnp.ndarray) -> jnp.ndarray:
    """Maps (batch, L, features) to (batch, outputs), float32."""
    batch, length, features = sequence.shape
    x = self.fc1(self.dropout(sequence)).reshape(batch * length, -1)
    x = jax.nn.sigmoid(self.bn(x)).reshape(batch, length, -1)
    return self.fc2(self.dropout(x)).mean(axis=1).astype(jnp.float32)
