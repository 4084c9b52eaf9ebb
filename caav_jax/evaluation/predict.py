"""Runs a model over a split and scores it: the one routine of training's dev pass and --mode=eval."""

import dataclasses
import pathlib
from typing import Iterable

from flax import nnx
import jax
import ml_collections
import numpy as np

from caav_jax.atomic_write import atomic_write
from caav_jax.errors import ConfigError
from caav_jax.evaluation import scoring
from caav_jax.input_pipeline import datasets
from caav_jax.input_pipeline.windows import eval_windows
from caav_jax.training import sharding
from caav_jax.training import steps


@dataclasses.dataclass
class SplitEvaluation:
  """A model's predictions on a split, reassembled per recording, and their scores.

  Attributes:
    predictions: the window predictions.
    frames: per recording, (steps, dims) predictions every 40 ms.
    golds: per recording, (steps, dims) gold standard.
    scores: CCC per dimension, their mean, and per recording (`scoring.scores`).
  """
  predictions: scoring.SplitPredictions
  frames: list[np.ndarray]
  golds: list[np.ndarray]
  scores: dict


def predict_split(model: nnx.Module, data: ml_collections.ConfigDict, split: str,
                  mesh: jax.sharding.Mesh,
                  features_dir: pathlib.Path | None = None) -> scoring.SplitPredictions:
  """Runs the model (in eval mode) over every evaluation window of `split`, in order.

  On cached features (`features_dir`) only the model's fusion and head run.
  """
  module, inputs = steps.runnable(model, on_features=features_dir is not None)
  recordings = datasets.split_recordings(data, split)
  windows = eval_windows(data, recordings)
  batches = datasets.eval_dataset(data, split, features_dir=features_dir)
  return scoring.SplitPredictions(split, recordings, windows,
                                  window_predictions(module, inputs, batches, mesh))


def window_predictions(module: nnx.Module, inputs: tuple[str, ...], batches: Iterable[dict],
                       mesh: jax.sharding.Mesh) -> np.ndarray:
  """(windows, dims) float32: the model's output on every valid window of `batches`, in order."""
  rows = []
  for batch in batches:
    arguments = sharding.shard_global_batch(steps.model_inputs(batch, inputs), mesh)
    rows.append(sharding.to_host(steps.eval_step(module, arguments))[batch['valid']])
  return np.concatenate(rows).astype(np.float32)


def evaluate_split(model: nnx.Module, data: ml_collections.ConfigDict, split: str,
                   mesh: jax.sharding.Mesh,
                   features_dir: pathlib.Path | None = None) -> SplitEvaluation:
  """Predicts `split` and scores it against its gold standard.

  Raises:
    ConfigError: when the split has no labels to score against.
  """
  predictions = predict_split(model, data, split, mesh, features_dir)
  if not scoring.is_labelled(predictions.recordings):
    raise ConfigError(f'the {split!r} split has no labels to score against '
                      '(config.eval.split)')
  frames = scoring.frame_predictions(predictions, data)
  golds = scoring.gold_standard(predictions.recordings, data.dimensions)
  return SplitEvaluation(predictions, frames, golds,
                         scoring.scores(frames, golds, predictions.recordings, data.dimensions))


def save_window_predictions(directory: pathlib.Path,
                            predictions: scoring.SplitPredictions) -> None:
  """Writes `window_predictions.npz` (recording, start, predictions, names) into `directory`."""
  with atomic_write(directory / 'window_predictions.npz', binary=True) as file:
    np.savez(file, recording=predictions.windows.recording,
             start=predictions.windows.start, predictions=predictions.window_predictions,
             names=np.array([r.name for r in predictions.recordings]))
