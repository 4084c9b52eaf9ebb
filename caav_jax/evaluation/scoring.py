"""Window predictions → a prediction every 40 ms of each recording → CCC, the AVEC way.

Each evaluation window (clip_frames steps starting at s) gives one prediction
per dimension: the clip-mean of the labels at s + delay … s + clip_frames − 1
+ delay. That prediction is assigned to each of those label steps; where
windows overlap their predictions are averaged, and the first `delay` steps
of a recording (before any window reaches them) repeat the nearest predicted
step (gaps left by dropped windows are interpolated linearly), so every 40 ms
step has a prediction, as AVEC requires. The CCC is computed on all
recordings of the split concatenated (the AVEC protocol, and ABAW's pooled
CCC) and per recording, against the gold standard as distributed (not
median-filtered), over the annotated steps only.
"""

import dataclasses

import ml_collections
import numpy as np

from caav_jax.input_pipeline.windows import Windows
from caav_jax.metrics import ConcordanceStatistics
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
  windows: Windows
  window_predictions: np.ndarray


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


def is_labelled(recordings: list[RecordingSummary]) -> bool:
  """Every recording has annotated steps (Aff-Wild2's may leave some unannotated)."""
  return all(np.isfinite(r.labels).any() for r in recordings)


def scores(frames: list[np.ndarray], golds: list[np.ndarray],
           recordings: list[RecordingSummary], dimensions) -> dict:
  """CCC per dimension over the concatenated recordings, their mean, and per recording.

  Each recording's sufficient statistics are gathered once; merged, they
  give the CCC of the recordings concatenated.
  """
  # Only annotated steps count (Aff-Wild2 leaves some unannotated: NaN), pooled the ABAW way.
  statistics = [ConcordanceStatistics.zeros(len(dimensions)).add(prediction, gold,
                                                                 np.isfinite(gold))
                for prediction, gold in zip(frames, golds)]
  overall = statistics[0]
  for recording in statistics[1:]:
    overall = overall.merge(recording)
  overall = overall.result()
  result = {'ccc': {dim: float(v) for dim, v in zip(dimensions, overall)},
            'ccc_mean': float(overall.mean()), 'per_recording': {}}
  for recording, recording_statistics in zip(recordings, statistics):
    result['per_recording'][recording.name] = {
        dim: float(v) for dim, v in zip(dimensions, recording_statistics.result())}
  return result
