"""The paper's prediction head: max over sub-sequences, then 1024 → 512 → 256 → outputs, tanh."""

import jax.numpy as jnp
from flax import nnx


class PredictionHead(nnx.Module):
  """max over L → dropout → Linear → tanh → Linear → tanh → Linear → tanh.

  With 1024 inputs and one output it has 656,385 parameters, as the paper's.
  """

  def __init__(self, in_features: int, outputs: int, *, dropout_rate: float = 0.5,
               hidden: tuple[int, int] = (512, 256), dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.dropout = nnx.Dropout(dropout_rate, rngs=rngs)
    self.fc1 = nnx.Linear(in_features, hidden[0], dtype=dtype, rngs=rngs)
    self.fc2 = nnx.Linear(hidden[0], hidden[1], dtype=dtype, rngs=rngs)
    self.fc3 = nnx.Linear(hidden[1], outputs, dtype=dtype, rngs=rngs)

  def __call__(self, sequence: jnp.ndarray) -> jnp.ndarray:
    """Maps (batch, L, features) to (batch, outputs) in (-1, 1), float32."""
    x = self.dropout(sequence.max(axis=1))
    x = jnp.tanh(self.fc1(x))
    x = jnp.tanh(self.fc2(x))
    return jnp.tanh(self.fc3(x)).astype(jnp.float32)
