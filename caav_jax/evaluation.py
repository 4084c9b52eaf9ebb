"""Scores a model on a split the AVEC way: frame-level predictions reassembled per recording.

Each evaluation window (clip_frames steps starting at s) gives one prediction
per dimension: the clip-mean of the labels at s + delay … s + clip_frames − 1
+ delay. That prediction is assigned to each of those label steps; where
windows overlap their predictions are averaged, and the first `delay` steps
of a recording (before any window reaches them) repeat the nearest predicted
step (gaps left by dropped windows are interpolated linearly), so every 40 ms
step has a prediction, as AVEC requires. The CCC is
computed on all recordings of the split concatenated (the AVEC protocol) and
per recording, against the gold standard as distributed (not median-filtered).
"""

import dataclasses
import pathlib

from flax import nnx
import jax
import ml_collections
import numpy as np

from caav_jax import input_pipeline
from caav_jax import train_step as train_step_lib
from caav_jax.metrics import concordance
from caav_jax.models.emotion_model import FusionHead
from data_pipelines.recola.labels import DIMENSIONS
from data_pipelines.recola.recording import RecordingSummary


@dataclasses.dataclass
class SplitPredictions:
  """A model's window predictions on one split.

  Attributes:
    split: e.g. 'dev'.
    recordings: the split's recordings, in order.
    windows: the evaluation windows (recording, start).
    window_predictions: (windows, dims) float32, one row per window.
  """
  split: str
  recordings: list[RecordingSummary]
  windows: input_pipeline.Windows
  window_predictions: np.ndarray


def predict_split(model: nnx.Module, data: ml_collections.ConfigDict, split: str,
                  mesh: jax.sharding.Mesh,
                  features_dir: pathlib.Path | None = None) -> SplitPredictions:
  """Runs the model (eval mode) over every evaluation window of `split`, in order.

  On cached features (`features_dir`) only the model's fusion and head run.
  """
  if features_dir is not None:
    model = FusionHead(model)
  recordings = input_pipeline.split_recordings(data, split)
  windows = input_pipeline.eval_windows(data, recordings)
  rows = []
  for batch in input_pipeline.eval_dataset(data, split, features_dir=features_dir):
    inputs = train_step_lib.shard_global_batch(
        batch, mesh, keys=train_step_lib.model_inputs(batch))
    predictions = train_step_lib.to_host(train_step_lib.eval_step(model, inputs))
    rows.append(predictions[batch['valid']])
  return SplitPredictions(split, recordings, windows,
                          np.concatenate(rows).astype(np.float32))


def frame_predictions(predictions: SplitPredictions, data: ml_collections.ConfigDict
                      ) -> list[np.ndarray]:
  """(steps, dims) label-time predictions of each recording (see the module docstring)."""
  delays = [data.label_delay_frames[dim] for dim in data.dimensions]
  dims = len(delays)
  sums = [np.zeros((r.steps, dims)) for r in predictions.recordings]
  counts = [np.zeros((r.steps, dims)) for r in predictions.recordings]
  for recording, start, values in zip(predictions.windows.recording,
                                      predictions.windows.start,
                                      predictions.window_predictions):
    for dim, delay in enumerate(delays):
      first = start + delay
      last = min(first + data.clip_frames, sums[recording].shape[0])
      sums[recording][first:last, dim] += values[dim]
      counts[recording][first:last, dim] += 1
  frames = []
  for recording, total, count in zip(predictions.recordings, sums, counts):
    covered = count > 0
    if not covered.any(axis=0).all():
      raise ValueError(f'{recording.name}: shorter than one evaluation window '
                       f'({data.clip_frames} steps plus the label delay); cannot predict it')
    series = np.empty_like(total)
    steps = np.arange(total.shape[0])
    for dim in range(dims):
      known = np.flatnonzero(covered[:, dim])
      series[:, dim] = np.interp(steps, known, total[known, dim] / count[known, dim])
    frames.append(series.astype(np.float32))
  return frames


def gold_standard(recordings: list[RecordingSummary], dimensions) -> list[np.ndarray]:
  """(steps, dims) gold standard of each recording, as distributed."""
  columns = [DIMENSIONS.index(dim) for dim in dimensions]
  return [r.labels[:, columns] for r in recordings]


def scores(frames: list[np.ndarray], golds: list[np.ndarray],
           recordings: list[RecordingSummary], dimensions) -> dict:
  """CCC per dimension over the concatenated recordings, their mean, and per recording."""
  overall = concordance(np.concatenate(frames).astype(np.float64),
                        np.concatenate(golds).astype(np.float64))
  result = {'ccc': {dim: float(v) for dim, v in zip(dimensions, overall)},
            'ccc_mean': float(overall.mean()), 'per_recording': {}}
  for recording, prediction, gold in zip(recordings, frames, golds):
    values = concordance(prediction.astype(np.float64), gold.astype(np.float64))
    result['per_recording'][recording.name] = {dim: float(v)
                                               for dim, v in zip(dimensions, values)}
  return result


def is_labelled(recordings: list[RecordingSummary]) -> bool:
  return all(np.isfinite(r.labels).all() for r in recordings)


def save_window_predictions(directory: pathlib.Path, predictions: SplitPredictions) -> None:
  """Writes `window_predictions.npz` (recording, start, predictions) into `directory`."""
  directory.mkdir(parents=True, exist_ok=True)
  temporary = directory / 'window_predictions.partial.npz'
  np.savez(temporary, recording=predictions.windows.recording,
           start=predictions.windows.start, predictions=predictions.window_predictions,
           names=np.array([r.name for r in predictions.recordings]))
  temporary.replace(directory / 'window_predictions.npz')
