"""One data-parallel mesh: batches split on its 'data' axis, the model replicated on every device.

Every function here takes a pytree of arrays (None leaves stay None), so the
steps' batches keep whatever structure the steps give them.
"""

from typing import Any

import jax
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec
import numpy as np


DATA_AXIS = 'data'


def data_mesh(devices=None) -> jax.sharding.Mesh:
  """A 1-D mesh over `devices` (default: every device of every process)."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  return jax.sharding.Mesh(devices, (DATA_AXIS,))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  """The sharding that keeps a whole copy on every device of the mesh."""
  return NamedSharding(mesh, PartitionSpec())


def replicate(tree: Any, mesh: jax.sharding.Mesh) -> Any:
  """Places every array of `tree` on every device of the mesh.

  Every process must hold the same values (the same seed gives the same
  initialisation); each fills in the copies on its own devices, so this
  also works when the mesh spans several processes.
  """
  sharding = replicated(mesh)

  def place(leaf):
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      return jax.random.wrap_key_data(place(jax.random.key_data(leaf)),
                                      impl=jax.random.key_impl(leaf))
    values = np.asarray(leaf)
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])

  return jax.tree.map(place, tree)


def shard_batch(batch: Any, mesh: jax.sharding.Mesh) -> Any:
  """Assembles this process's part of a global batch, split along the data axis.

  Each process passes its own rows; the global batch is their concatenation
  in process order. Its size must be a multiple of the number of devices.
  """
  sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
  return jax.tree.map(
      lambda rows: jax.make_array_from_process_local_data(sharding, np.asarray(rows)), batch)


def stack_batches(batches: list[Any], mesh: jax.sharding.Mesh) -> Any:
  """This process's parts of consecutive global batches, stacked on a new axis 0.

  Each is split along the data axis as by `shard_batch` (axis 1 of the
  stack). A single batch is not copied.
  """
  sharding = NamedSharding(mesh, PartitionSpec(None, DATA_AXIS))

  def stack(*parts):
    stacked = np.asarray(parts[0])[None] if len(parts) == 1 else np.stack(parts)
    return jax.make_array_from_process_local_data(sharding, stacked)

  return jax.tree.map(stack, *batches)


def shard_global_batch(batch: Any, mesh: jax.sharding.Mesh) -> Any:
  """Splits a batch that every process holds whole (evaluation) along the data axis."""
  sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))

  def place(values):
    values = np.asarray(values)
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])

  return jax.tree.map(place, batch)


def to_host(array: jax.Array) -> np.ndarray:
  """The whole of a (possibly multi-process) sharded array, on this host."""
  if array.is_fully_addressable:
    return np.asarray(array)
  return np.asarray(multihost_utils.process_allgather(array, tiled=True))
