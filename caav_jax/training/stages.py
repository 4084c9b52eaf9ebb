"""Training stages: which network a stage builds, which parameters it trains, how its backbones start.

The paper's recipe (docs/model.md): pre-train each backbone with
its own head (`unimodal_visual`, from Kinetics I3D weights; `unimodal_audio`),
then train the fusion and head on the frozen backbones (`fusion`).
`end_to_end` trains everything at once.
"""

from flax import nnx
import jax
import ml_collections

from caav_jax.errors import ConfigError
from caav_jax.models import factory
from caav_jax.training import backbones


STAGES = ('end_to_end', 'unimodal_audio', 'unimodal_visual', 'fusion')


def check_stage(config: ml_collections.ConfigDict, *, training: bool = True) -> None:
  """Raises ConfigError naming the setting when the stage cannot run with this config.

  Training the fusion stage needs the sources of its frozen backbones;
  restoring a checkpoint does not.
  """
  train = config.train
  if train.stage not in STAGES:
    raise ConfigError(f'config.train.stage must be one of {STAGES}, not {train.stage!r}')
  if training and train.steps_per_call < 1:
    raise ConfigError(f'config.train.steps_per_call must be at least 1, not '
                      f'{train.steps_per_call}')
  if train.stage == 'fusion' and training:
    uses = {'visual': config.model.fusion != 'audio_only',
            'audio': config.model.fusion != 'visual_only'}
    for modality, used in uses.items():
      source = train[f'init_{modality}']
      if used and not source:
        raise ConfigError(
            f'config.train.stage=fusion trains on frozen backbones: set '
            f'config.train.init_{modality} to the workdir of a unimodal_{modality} run')


def _build(config: ml_collections.ConfigDict) -> nnx.Module:
  rngs = nnx.Rngs(config.train.seed)
  stage = config.train.stage
  if stage.startswith('unimodal_'):
    return factory.create_unimodal_model(config, stage.removeprefix('unimodal_'), rngs)
  return factory.create_model(config, rngs)


def abstract_model(config: ml_collections.ConfigDict) -> nnx.Module:
  """The stage's network with shapes but no values (for restoring a checkpoint into)."""
  check_stage(config, training=False)
  return nnx.eval_shape(lambda: _build(config))


def create_model(config: ml_collections.ConfigDict, *,
                 initialise_backbones: bool = True) -> nnx.Module:
  """The stage's network, initialised in one compiled program, backbones loaded if asked.

  The non-partitionable threefry keeps the initialisation program small (the
  default compiles a random-number routine per kernel shape). A backbone
  that a unimodal run replaces whole is left out of that program, so XLA
  drops its random numbers; the fusion and head get the same values as when
  every part is initialised.

  Args:
    config: the whole configuration.
    initialise_backbones: load `config.train.init_visual` / `init_audio`
      (training); evaluation restores every variable from a checkpoint instead.
  """
  check_stage(config, training=initialise_backbones)
  model = nnx.eval_shape(lambda: _build(config))
  replaced = backbones.replaced_backbones(model, config) if initialise_backbones else []
  drawn = nnx.Not(nnx.Any(*(nnx.PathContains(m) for m in replaced))) if replaced else ...
  with jax.threefry_partitionable(False):
    nnx.update(model, jax.jit(lambda: nnx.state(_build(config), drawn))())
  if initialise_backbones:
    backbones.initialise_backbones(model, config)
  unset = [jax.tree_util.keystr(path) for path, value
           in jax.tree_util.tree_leaves_with_path(nnx.state(model))
           if isinstance(value, jax.ShapeDtypeStruct)]
  if unset:
    raise ValueError(f'the sources of {replaced} left variables without a value: {unset[:3]}')
  return model


def trainable(stage: str) -> nnx.filterlib.Filter:
  """The parameters the stage's optimizer updates."""
  if stage == 'fusion':
    return nnx.All(nnx.Param, nnx.Any(nnx.PathContains('fusion'), nnx.PathContains('head')))
  return nnx.Param


def set_training(model: nnx.Module, stage: str, training: bool) -> None:
  """Train or eval mode; the fusion stage keeps its frozen backbones in eval mode.

  Frozen backbones use their batch-norm running statistics, exactly as when
  their features are cached.
  """
  if not training:
    model.eval()
    return
  model.train()
  if stage == 'fusion':
    for backbone in (model.visual, model.audio):
      if backbone is not None:
        backbone.eval()
