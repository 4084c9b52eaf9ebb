"""Orbax checkpoints of a training run: model, optimizer, data iterator and metrics, as separate items.

A checkpoint directory holds numbered steps, each with up to four items:
`model` (every model variable: parameters, batch statistics, dropout RNG
state), `optimizer` (the optimizer's step and moments), `data` (the Grain
iterator's position) and `metrics` (JSON, e.g. the dev scores). Items are
restored independently, so evaluation and backbone initialisation read the
model alone.
"""

import os
from typing import Any

from flax import nnx
import grain
import jax
import orbax.checkpoint as ocp

from caav_jax.errors import CheckpointError


def _abstract(tree: Any, sharding: jax.sharding.Sharding | None = None) -> Any:
  """Restore targets: each leaf's shape, dtype and sharding (`sharding` where it has none)."""
  default = sharding or jax.sharding.SingleDeviceSharding(jax.devices()[0])

  def target(leaf):
    leaf_sharding = getattr(leaf, 'sharding', None)
    return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype,
                                sharding=leaf_sharding if sharding is None and
                                leaf_sharding is not None else default)

  return jax.tree.map(target, tree)


def _first_line(error: Exception, limit: int = 300) -> str:
  text = str(error).strip().splitlines()
  line = f'{type(error).__name__}: {text[0] if text else ""}'
  return line if len(line) <= limit else line[:limit] + ' ...'


class Checkpoints:
  """Keeps the last `max_to_keep` checkpoints of a run under `directory`."""

  def __init__(self, directory: str | os.PathLike, max_to_keep: int = 3):
    self.directory = os.path.abspath(os.fspath(directory))
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_handlers={'model': ocp.StandardCheckpointHandler(),
                       'optimizer': ocp.StandardCheckpointHandler(),
                       'data': grain.checkpoint.CheckpointHandler(),
                       'metrics': ocp.JsonCheckpointHandler()})

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, model: nnx.Module, optimizer: nnx.Optimizer | None = None,
           data_iterator=None, metrics: dict[str, Any] | None = None) -> None:
    """Writes checkpoint `step` (atomically: a partial write is never listed) and waits."""
    items = {'model': ocp.args.StandardSave(nnx.state(model))}
    if optimizer is not None:
      items['optimizer'] = ocp.args.StandardSave(nnx.state(optimizer))
    if data_iterator is not None:
      items['data'] = grain.checkpoint.CheckpointSave(data_iterator)
    if metrics is not None:
      items['metrics'] = ocp.args.JsonSave(metrics)
    self._manager.save(step, args=ocp.args.Composite(**items))
    self._manager.wait_until_finished()

  def _step(self, step: int | None) -> int:
    step = self._manager.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f'{self.directory}: no checkpoint to restore')
    if step not in self._manager.all_steps():
      raise FileNotFoundError(f'{self.directory}: no checkpoint of step {step}; there are '
                              f'{sorted(self._manager.all_steps())}')
    return step

  def _restore(self, step: int, items: dict[str, Any]) -> dict[str, Any]:
    """Orbax's restore, any failure reported as a CheckpointError naming the step's folder."""
    try:
      return self._manager.restore(step, args=ocp.args.Composite(**items))
    except Exception as error:  # Orbax raises many types; each means this checkpoint is unusable.
      raise CheckpointError(
          f'{self.directory}/{step}: cannot restore {", ".join(items)} from this checkpoint '
          f'({_first_line(error)}). It is damaged, partial, or from a model with other '
          'settings; it is left as it is. Train with the settings that wrote it, or move '
          'this step folder away to use the one before.') from error

  def restore(self, model: nnx.Module, optimizer: nnx.Optimizer, data_iterator,
              step: int | None = None) -> int:
    """Loads checkpoint `step` (default: the latest) into the given objects; returns its step.

    The model and optimizer may be freshly built (or abstract): their
    variables only give the structure, shapes and shardings to restore to.
    """
    step = self._step(step)
    restored = self._restore(step, {
        'model': ocp.args.StandardRestore(_abstract(nnx.state(model))),
        'optimizer': ocp.args.StandardRestore(_abstract(nnx.state(optimizer))),
        'data': grain.checkpoint.CheckpointRestore(data_iterator)})
    nnx.update(model, restored['model'])
    nnx.update(optimizer, restored['optimizer'])
    return step

  def restore_model(self, model: nnx.Module, step: int | None = None,
                    sharding: jax.sharding.Sharding | None = None) -> int:
    """Loads only the model variables of checkpoint `step` (default: the latest).

    The model may be abstract (`nnx.eval_shape`); its arrays are placed with
    `sharding` (e.g. replicated over a mesh), by default as the model's own.
    """
    step = self._step(step)
    restored = self._restore(step, {
        'model': ocp.args.StandardRestore(_abstract(nnx.state(model), sharding))})
    nnx.update(model, restored['model'])
    return step

  def model_shape(self, path: tuple[str, ...], step: int | None = None) -> tuple[int, ...]:
    """The stored shape of the model variable at `path` (e.g. ('head', 'fc2', 'bias')), read
    from checkpoint `step`'s metadata (default: the latest) without restoring it."""
    step = self._step(step)
    node = self._manager.item_metadata(step)['model']
    try:
      for key in path:
        node = node[key]
      return tuple(node['value'].shape)
    except (KeyError, TypeError, AttributeError):
      raise CheckpointError(f'{self.directory}/{step}: the model has no variable '
                            f'{".".join(path)}') from None

  def metrics(self, step: int | None = None) -> dict[str, Any] | None:
    """The metrics saved with checkpoint `step` (default: the latest), or None."""
    step = self._step(step)
    if 'metrics' not in self._manager.item_metadata(step).keys():
      return None
    return self._restore(step, {'metrics': ocp.args.JsonRestore()})['metrics']

  def close(self) -> None:
    self._manager.close()
