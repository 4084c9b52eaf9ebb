"""--mode=extract_features: caches the fusion stage's frozen-backbone features of every sub-sequence."""

import os
import pathlib

import ml_collections

from caav_jax.errors import ConfigError
from caav_jax.input_pipeline import datasets
from caav_jax.training import feature_extraction
from caav_jax.training import stages
from caav_jax.workdir import Workdir


def extract_features(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> pathlib.Path:
  """Runs the frozen backbones once over every sub-sequence; returns the cache's folder."""
  if config.train.stage != 'fusion' or not config.train.feature_cache:
    raise ConfigError('--mode=extract_features caches the frozen backbones of the fusion '
                      'stage: set config.train.stage=fusion and config.train.feature_cache=True')
  workdir = Workdir(pathlib.Path(workdir))
  workdir.root.mkdir(parents=True, exist_ok=True)
  datasets.ensure_dataset(config.data)
  return feature_extraction.ensure_features(
      config, stages.create_model(config), workdir.features(config.train.feature_dir),
      force=True)
