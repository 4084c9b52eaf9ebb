"""Orbax checkpoints of a training run: model, optimizer and step, plus the data iterator's position."""

import os

from flax import nnx
import grain
import jax
import orbax.checkpoint as ocp


class Checkpoints:
  """Keeps the last `max_to_keep` checkpoints of a run under `directory`.

  Each checkpoint holds `state` (the model and optimizer variables, the
  optimizer's step included) and `data` (the Grain iterator's state), so a
  resumed run continues with the same next batch.
  """

  def __init__(self, directory: str | os.PathLike, max_to_keep: int = 3):
    self._manager = ocp.CheckpointManager(
        os.path.abspath(os.fspath(directory)),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'data': grain.checkpoint.CheckpointHandler()})

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, model: nnx.Module, optimizer: nnx.Optimizer,
           data_iterator) -> None:
    """Writes checkpoint `step` (atomically: a partial write is never listed) and waits."""
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(nnx.state((model, optimizer))),
        data=grain.checkpoint.CheckpointSave(data_iterator)))
    self._manager.wait_until_finished()

  def restore(self, model: nnx.Module, optimizer: nnx.Optimizer, data_iterator,
              step: int | None = None) -> int:
    """Loads checkpoint `step` (default: the latest) into the given objects; returns its step.

    The model and optimizer may be freshly built (or abstract): their
    variables only give the structure, shapes and shardings to restore to.
    """
    step = self._manager.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f'{self._manager.directory}: no checkpoint to restore')
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, nnx.state((model, optimizer)))
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target),
        data=grain.checkpoint.CheckpointRestore(data_iterator)))
    nnx.update((model, optimizer), restored['state'])
    return step

  def close(self) -> None:
    self._manager.close()
