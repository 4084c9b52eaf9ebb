"""Starts backbones from earlier work: a unimodal run of this project, or converted I3D weights.

`config.train.init_visual` / `init_audio` name either the workdir of a
`unimodal_visual` / `unimodal_audio` run (its best-on-dev checkpoint if it has
one, else its latest) or, for the visual backbone, an `.npz` written by
`python -m caav_jax.tools.convert_i3d_weights` from pytorch-i3d's `rgb_imagenet.pt`.
"""

import os
import pathlib

from flax import nnx
import ml_collections

from caav_jax.errors import CheckpointError
from caav_jax.errors import ConfigError
from caav_jax.models import factory
from caav_jax.models.i3d_weights import load_i3d_weights
from caav_jax.workdir import Workdir
from data_pipelines.recola.labels import DIMENSIONS


def load_from_unimodal_run(backbone: nnx.Module, modality: str,
                           workdir: str | os.PathLike,
                           config: ml_collections.ConfigDict) -> int:
  """Overwrites `backbone` with the `modality` backbone of a unimodal run; returns its step.

  The run's head may predict other dimensions than `config.data.dimensions`
  (e.g. a backbone pre-trained on both, a fusion trained per dimension): only
  the backbone is taken.

  Raises:
    ConfigError: naming the workdir, when its backbone has other shapes (a
      different width or input size in its config).
  """
  checkpoints, which = Workdir(pathlib.Path(workdir)).trained_checkpoints()
  try:
    outputs, = checkpoints.model_shape(('head', 'fc2', 'bias'))
    run_config = config.copy_and_resolve_references()
    run_config.data.dimensions = DIMENSIONS[:outputs]  # only their number matters here
    unimodal = nnx.eval_shape(
        lambda: factory.create_unimodal_model(run_config, modality, nnx.Rngs(0)))
    step = checkpoints.restore_model(unimodal)
  except CheckpointError as e:
    raise ConfigError(f'{workdir}: its checkpoint does not fit a unimodal {modality} model '
                     f'of this config (was it trained with another '
                     f'config.model.{modality}_width?): {e}') from None
  finally:
    checkpoints.close()
  nnx.update(backbone, nnx.state(getattr(unimodal, modality)))
  print(f'{modality} backbone: step {step} ({which}) of {workdir}', flush=True)
  return step


def describe_sources(config: ml_collections.ConfigDict) -> dict[str, str]:
  """Where each backbone's weights come from, precisely enough to tell when they change."""
  sources = {}
  for modality in ('visual', 'audio'):
    source = config.train[f'init_{modality}']
    if not source:
      continue
    if os.path.isfile(source):
      stat = os.stat(source)
      sources[modality] = f'{os.path.abspath(source)} ({stat.st_size} bytes, {stat.st_mtime_ns})'
    else:
      checkpoints, which = Workdir(pathlib.Path(source)).trained_checkpoints()
      sources[modality] = f'{os.path.abspath(source)} step {checkpoints.latest_step()} ({which})'
      checkpoints.close()
  return sources


def replaced_backbones(model: nnx.Module, config: ml_collections.ConfigDict) -> list[str]:
  """The model's backbones that `initialise_backbones` overwrites whole: those from a unimodal run.

  Converted I3D weights (.npz) are not counted: they need not cover every
  variable of a narrowed backbone.
  """
  return [modality for modality in ('visual', 'audio')
          if getattr(model, modality, None) is not None
          and os.path.isdir(config.train[f'init_{modality}'] or '')]


def initialise_backbones(model: nnx.Module, config: ml_collections.ConfigDict) -> None:
  """Loads `config.train.init_visual` / `init_audio` into the model's backbones.

  Raises:
    ConfigError: when a source is set for a backbone the fusion model does
      not have (unimodal stages ignore the other modality's source).
    ValueError: when a source does not fit its backbone.
    FileNotFoundError: naming a missing source.
  """
  for modality in ('visual', 'audio'):
    source = config.train[f'init_{modality}']
    if not source:
      continue
    backbone = getattr(model, modality, None)
    if backbone is None and config.train.stage.startswith('unimodal_'):
      continue  # e.g. init_visual of a config shared with the fusion stage
    if backbone is None:
      raise ConfigError(f'config.train.init_{modality} is set, but the '
                       f'{config.train.stage} model (fusion={config.model.fusion}) has '
                       f'no {modality} backbone')
    if not os.path.exists(source):
      raise FileNotFoundError(f'config.train.init_{modality}: {source} does not exist')
    if modality == 'visual' and source.endswith('.npz'):
      load_i3d_weights(backbone, source)
      print(f'visual backbone: converted I3D weights {source}', flush=True)
    else:
      load_from_unimodal_run(backbone, modality, source, config)
