"""Window tables: which `clip_frames`-step windows of each recording a split's pipeline reads.

Frame t of a window is paired with the label at t + delay of each dimension
(the annotators' reaction time), so a labelled recording admits only starts
whose delayed labels lie inside it; a training window also needs an annotated
label of each dimension in its span (Aff-Wild2 leaves frames unannotated).
"""

import dataclasses
from typing import Sequence

import ml_collections
import numpy as np

from data_pipelines.recola.labels import DIMENSIONS
from data_pipelines.recola.recording import RecordingSummary


@dataclasses.dataclass(frozen=True)
class Windows:
  """Window table of one split.

  Attributes:
    recording: (windows,) index of each window's recording in the split.
    start: (windows,) first step of each window within its recording.
  """
  recording: np.ndarray
  start: np.ndarray

  def __len__(self) -> int:
    return self.recording.size


def label_delays(data: ml_collections.ConfigDict) -> np.ndarray:
  """(dims,) label delay in steps of each of `data.dimensions`."""
  return np.array([data.label_delay_frames[dim] for dim in data.dimensions])


def plan_windows(recordings: Sequence[RecordingSummary], *, clip_frames: int,
                 max_delay: int, stride: int, faceless_policy: str,
                 include_tail: bool, require_labels: Sequence[tuple[int, int]] = ()
                 ) -> Windows:
  """Lists the windows of a split.

  A labelled recording of N steps admits starts s with
  s + clip_frames - 1 + max_delay ≤ N - 1 (every shifted label exists); one
  whose labels are withheld admits s + clip_frames ≤ N.

  Args:
    recordings: the split's recordings.
    clip_frames: steps per window.
    max_delay: the largest label delay in use, in steps.
    stride: steps between consecutive window starts.
    faceless_policy: 'drop' removes windows with any faceless step; 'mask'
      keeps them (the `face_mask` says which steps).
    include_tail: also add the last admissible start, so that walking the
      recording in order covers its every step.
    require_labels: (label column, delay) of each dimension trained on: a
      window of a labelled recording is kept only if each has an annotated
      label in its span (Aff-Wild2 leaves frames unannotated). Not used for
      evaluation, whose windows must cover every step.

  Returns:
    The window table, ordered by recording then start.
  """
  if faceless_policy not in ('drop', 'mask'):
    raise ValueError(f"faceless_policy must be 'drop' or 'mask', not {faceless_policy!r}")
  recording_ids, starts = [], []
  for index, summary in enumerate(recordings):
    labelled = bool(np.isfinite(summary.labels).any())
    last = summary.steps - clip_frames - (max_delay if labelled else 0)
    if last < 0:
      continue
    candidates = np.arange(0, last + 1, stride)
    if include_tail and candidates[-1] != last:
      candidates = np.append(candidates, last)
    if faceless_policy == 'drop':
      faceless = np.concatenate([[0], np.cumsum(~summary.face_found)])
      candidates = candidates[
          faceless[candidates + clip_frames] == faceless[candidates]]
    if require_labels and labelled:  # Aff-Wild2: a label in each dimension's span
      annotated = np.concatenate([np.zeros((1, summary.labels.shape[1])),
                                  np.cumsum(np.isfinite(summary.labels), axis=0)])
      spans = [annotated[np.minimum(candidates + delay + clip_frames, summary.steps), column]
               - annotated[np.minimum(candidates + delay, summary.steps), column]
               for column, delay in require_labels]
      candidates = candidates[np.all(np.stack(spans) > 0, axis=0)]
    recording_ids.append(np.full(candidates.size, index, np.int32))
    starts.append(candidates.astype(np.int32))
  if not starts:
    return Windows(np.zeros(0, np.int32), np.zeros(0, np.int32))
  return Windows(np.concatenate(recording_ids), np.concatenate(starts))


def train_windows(data: ml_collections.ConfigDict,
                  recordings: Sequence[RecordingSummary]) -> Windows:
  """The training windows: every `train_stride` steps, faceless policy applied."""
  columns = [DIMENSIONS.index(dim) for dim in data.dimensions]
  delays = label_delays(data)
  return plan_windows(recordings, clip_frames=data.clip_frames, max_delay=int(delays.max()),
                      stride=data.train_stride,
                      faceless_policy=data.faceless_policy, include_tail=False,
                      require_labels=list(zip(columns, delays.tolist())))


def eval_windows(data: ml_collections.ConfigDict,
                 recordings: Sequence[RecordingSummary]) -> Windows:
  """The evaluation windows, in recording order, covering every labelled step."""
  return plan_windows(recordings, clip_frames=data.clip_frames,
                      max_delay=int(label_delays(data).max()),
                      stride=data.eval_stride,
                      faceless_policy=data.eval_faceless_policy,
                      include_tail=True)
