"""A trained model from a workdir's checkpoint, ready to predict (--mode=eval and --mode=predict)."""

from flax import nnx
import jax
import ml_collections

from caav_jax.training import sharding
from caav_jax.training import stages
from caav_jax.workdir import Workdir


def restore_for_evaluation(config: ml_collections.ConfigDict, workdir: Workdir,
                           mesh: jax.sharding.Mesh) -> tuple[nnx.Module, int, bool]:
  """The model with `config.eval.checkpoint` of `workdir` loaded, replicated, in eval mode.

  Returns:
    (model, step, whether it is the best-on-dev checkpoint).
  """
  checkpoints, step, is_best = workdir.checkpoint(config.eval.checkpoint)
  model = stages.abstract_model(config)
  try:
    checkpoints.restore_model(model, step, sharding=sharding.replicated(mesh))
  finally:
    checkpoints.close()
  stages.set_training(model, config.train.stage, False)
  return model, step, is_best
