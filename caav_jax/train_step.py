"""The jitted, data-parallel steps: one mesh, batches sharded on its 'data' axis, the model replicated."""

from typing import Any

from flax import nnx
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec
import numpy as np

from caav_jax.metrics import concordance_loss

DATA_AXIS = 'data'
PIXEL_INPUTS = ('frames', 'spectrograms')
FEATURE_INPUTS = ('visual_features', 'audio_features')
STEP_INPUTS = PIXEL_INPUTS + FEATURE_INPUTS + ('targets',)


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


def model_inputs(batch: dict[str, Any]) -> tuple[str, ...]:
  """The keys a batch feeds the model: cached features if it has them, else pixels."""
  return FEATURE_INPUTS if FEATURE_INPUTS[0] in batch or FEATURE_INPUTS[1] in batch \
      else PIXEL_INPUTS


def shard_batch(batch: dict[str, np.ndarray], mesh: jax.sharding.Mesh,
                keys: tuple[str, ...] = STEP_INPUTS) -> dict[str, jax.Array]:
  """Assembles this process's part of a global batch, split along the data axis.

  Each process passes its own rows; the global batch is their concatenation
  in process order. Its size must be a multiple of the number of devices.
  Keys the batch lacks are skipped. Training stacks several such batches
  (`stack_batches`); this one is for a single step's inputs (the benchmark).
  """
  sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
  return {key: jax.make_array_from_process_local_data(sharding, np.asarray(batch[key]))
          for key in keys if key in batch}


def stack_batches(batches: list[dict[str, np.ndarray]], mesh: jax.sharding.Mesh,
                  keys: tuple[str, ...] = STEP_INPUTS) -> dict[str, jax.Array]:
  """`train_steps`' input: this process's parts of consecutive global batches, stacked.

  The batches are stacked on a new axis 0, and each is split along the
  data axis as by `shard_batch` (axis 1 of the stack). A single batch is
  not copied.
  """
  sharding = NamedSharding(mesh, PartitionSpec(None, DATA_AXIS))

  def stack(key):
    if len(batches) == 1:
      return np.asarray(batches[0][key])[None]
    return np.stack([batch[key] for batch in batches])

  return {key: jax.make_array_from_process_local_data(sharding, stack(key))
          for key in keys if key in batches[0]}


def shard_global_batch(batch: dict[str, np.ndarray], mesh: jax.sharding.Mesh,
                       keys: tuple[str, ...] = STEP_INPUTS) -> dict[str, jax.Array]:
  """Splits a batch that every process holds whole (evaluation) along the data axis."""
  sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))

  def place(values):
    values = np.asarray(values)
    return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])

  return {key: place(batch[key]) for key in keys if key in batch}


def to_host(array: jax.Array) -> np.ndarray:
  """The whole of a (possibly multi-process) sharded array, on this host."""
  if array.is_fully_addressable:
    return np.asarray(array)
  return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def predict(model: nnx.Module, batch: dict[str, jax.Array]) -> jax.Array:
  """(batch, dims) predictions from pixels, or from cached backbone features."""
  if model_inputs(batch) == FEATURE_INPUTS:
    return model.predict(batch.get('audio_features'), batch.get('visual_features'))
  return model(batch.get('frames'), batch.get('spectrograms'))


def _step(model: nnx.Module, optimizer: nnx.Optimizer, batch: dict[str, jax.Array]
          ) -> jax.Array:
  """One optimiser step on 1 − CCC (mean over dimensions); returns the loss."""
  def loss_fn(model):
    return concordance_loss(predict(model, batch), batch['targets'].astype(jnp.float32))

  loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, optimizer.wrt))(model)
  optimizer.update(model, grads)
  return loss


@nnx.jit(donate_argnames=('model', 'optimizer'))
def train_steps(model: nnx.Module, optimizer: nnx.Optimizer,
                batches: dict[str, jax.Array]) -> jax.Array:
  """One optimiser step per batch, in order; returns the (steps,) losses.

  `batches` stacks the steps' batches on a leading axis (`stack_batches`).
  The steps run in one compiled loop (`lax.scan`) and make the same updates
  as that many calls of one step (dropout keys included; equal within float
  rounding, tested), without a dispatch and a wait per step: on cached
  features a CAM step takes milliseconds, and a call per step cost about a
  sixth of it (7.6 against 6.4 ms on this 2-core CPU). A stack of one batch
  runs without the loop. The model's and optimizer's buffers are donated,
  so the update is written in place.

  Only the parameters the optimizer was built for (`optimizer.wrt`) get
  gradients, so frozen backbones cost no backward pass. Under a mesh, each
  batch arrives sharded and the model replicated; XLA partitions the
  computation, so batch statistics and the CCC are computed over the whole
  global batch, exactly as on one device.
  """
  if jax.tree.leaves(batches)[0].shape[0] == 1:
    # Not in a loop: XLA's CPU runs convolutions inside one several times slower
    # (the demo's audio step: 2.05 s in a loop of one step, 0.33 s outside).
    return _step(model, optimizer, jax.tree.map(lambda x: x[0], batches))[None]
  graphdef, state = nnx.split((model, optimizer))

  def step(state, batch):
    model, optimizer = nnx.merge(graphdef, state)
    loss = _step(model, optimizer, batch)
    return nnx.state((model, optimizer)), loss

  state, losses = jax.lax.scan(step, state, batches)
  nnx.update((model, optimizer), state)
  return losses


@nnx.jit
def eval_step(model: nnx.Module, batch: dict[str, jax.Array]) -> jax.Array:
  """(batch, dims) predictions of a model in eval mode."""
  return predict(model, batch)
