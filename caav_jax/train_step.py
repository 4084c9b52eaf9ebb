"""The jitted, data-parallel train step: one mesh, the batch sharded on its 'data' axis."""

from typing import Any

import jax
from jax.sharding import NamedSharding, PartitionSpec
import jax.numpy as jnp
from flax import nnx
import numpy as np

from caav_jax.metrics import concordance_loss

DATA_AXIS = 'data'


def data_mesh(devices=None) -> jax.sharding.Mesh:
  """A 1-D mesh over `devices` (default: every device of every process)."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  return jax.sharding.Mesh(devices, (DATA_AXIS,))


def replicate(tree: Any, mesh: jax.sharding.Mesh) -> Any:
  """Places every array of `tree` on every device of the mesh."""
  return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(batch: dict[str, np.ndarray], mesh: jax.sharding.Mesh,
                keys=('frames', 'spectrograms', 'targets')) -> dict[str, jax.Array]:
  """Splits the model inputs of a host batch along the mesh's data axis.

  The batch size must be a multiple of the number of devices.
  """
  sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
  return {key: jax.device_put(np.asarray(batch[key]), sharding) for key in keys}


@nnx.jit
def train_step(model: nnx.Module, optimizer: nnx.Optimizer,
               batch: dict[str, jax.Array]) -> jax.Array:
  """One optimiser step on 1 − CCC (mean over dimensions); returns the loss.

  Under a mesh, the batch arrives sharded and the model replicated; XLA
  partitions the computation, so batch statistics and the CCC are computed
  over the whole global batch, exactly as on one device.
  """
  def loss_fn(model):
    predictions = model(batch['frames'], batch['spectrograms'])
    return concordance_loss(predictions, batch['targets'].astype(jnp.float32))

  loss, grads = nnx.value_and_grad(loss_fn)(model)
  optimizer.update(model, grads)
  return loss
