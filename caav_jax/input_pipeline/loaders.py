"""Grain transforms that load windows: pixels and spectrograms, a batch of cached features, crop and flip.

A loaded window (one element; a batch of them stacks each entry):

  frames        (subseqs, subseq_frames, image_size, image_size, 3) uint8 RGB, once cropped
  spectrograms  (subseqs, 128, 1 + 4 subseq_frames) float32, one per sub-sequence's audio
or, from a feature cache instead of the two above,
  visual_features, audio_features   (subseqs, d) float32, one per sub-sequence
  targets       (dims,) mean of the shifted annotated labels ('clip_mean'), or
                (clip_frames, dims) ('per_frame'); NaN where a window has no label
  face_mask     (clip_frames,) bool, False where no face was found
  recording     int32, the recording's position in its split
  start         int32, the window's first step in the recording
  valid         bool, False for padding added to fill the last eval batch

Frames are left as uint8; the model scales them to [-1, 1].
"""

import pathlib
from typing import Any
from typing import Sequence

import grain
import ml_collections
import numpy as np
import scipy.ndimage

from caav_jax.input_pipeline import corpora
from caav_jax.input_pipeline import feature_cache
from caav_jax.input_pipeline import log_mel
from caav_jax.input_pipeline.windows import Windows
from caav_jax.input_pipeline.windows import label_delays
from data_pipelines.recola.labels import DIMENSIONS
from data_pipelines.recola.recording import RecordingSummary


def window_inputs(faces: np.ndarray, audio: Sequence[np.ndarray], subseqs: int
                  ) -> dict[str, np.ndarray]:
  """A window's model inputs from its steps: (clip, side, side, 3) uint8 RGB faces and
  each step's audio → frames (subseqs, subseq_frames, side, side, 3) and spectrograms
  (subseqs, 128, 1 + 4 subseq_frames), one per sub-sequence's audio."""
  subseq = faces.shape[0] // subseqs
  return {'frames': faces.reshape(subseqs, subseq, *faces.shape[1:]),
          'spectrograms': log_mel.subsequence_spectrograms(
              audio, np.arange(subseqs) * subseq, subseq)}


def centre_crop(frames: np.ndarray, size: int) -> np.ndarray:
  """The central size × size square of every frame (..., height, width, channels)."""
  top = (frames.shape[-3] - size) // 2
  left = (frames.shape[-2] - size) // 2
  return frames[..., top:top + size, left:left + size, :]


def smoothed_labels(summary: RecordingSummary, dimensions: Sequence[str],
                    median_kernel: int) -> np.ndarray:
  """(steps, dims) gold standard, median-filtered along time (edges repeated)."""
  labels = summary.labels[:, [DIMENSIONS.index(d) for d in dimensions]]
  if median_kernel > 1 and np.isfinite(labels).all():
    labels = scipy.ndimage.median_filter(labels, size=(median_kernel, 1),
                                         mode='nearest')
  return labels.astype(np.float32)


class LoadWindow(grain.transforms.Map):
  """Reads one window's steps from the dataset, and its targets."""

  def __init__(self, data: ml_collections.ConfigDict, split: str,
               recordings: Sequence[RecordingSummary], windows: Windows):
    self._data = data
    self._split = split
    self._clip = data.clip_frames
    self._subseq = data.subseq_frames
    self._subseqs = data.clip_frames // data.subseq_frames
    self._per_frame = data.target == 'per_frame'
    # Row (t, d) of a window's labels: step t + delay of dimension d, counted from its start.
    self._label_steps = np.arange(self._clip)[:, None] + label_delays(data)
    self._label_columns = np.arange(len(data.dimensions))
    self._windows = windows
    self._names = [r.name for r in recordings]
    self._steps = np.array([r.steps for r in recordings])
    self._offsets = np.concatenate([[0], np.cumsum(self._steps)])
    self._labels = np.concatenate([smoothed_labels(r, data.dimensions, data.label_median_kernel)
                                   for r in recordings])
    self._face_found = np.concatenate([r.face_found for r in recordings])
    self._source = None

  def __getstate__(self):
    state = dict(self.__dict__)
    state['_source'] = None  # Each worker opens its own reader.
    return state

  def _annotations(self, windows: np.ndarray) -> dict[str, np.ndarray]:
    """Targets, face mask and position of (n, 2) windows (index, valid), each with a leading n axis."""
    index = windows[:, 0]
    recording = self._windows.recording[index]
    start = self._windows.start[index]
    last = (self._steps[recording] - 1)[:, None, None]
    label_rows = (self._offsets[recording][:, None, None]
                  + np.minimum(start[:, None, None] + self._label_steps, last))
    shifted = self._labels[label_rows, self._label_columns]
    face_rows = self._offsets[recording][:, None] + start[:, None] + np.arange(self._clip)
    if not self._per_frame and np.isfinite(shifted).all():
      shifted = shifted.mean(axis=1)
    elif not self._per_frame:
      # The mean of the annotated labels: Aff-Wild2's unannotated frames (NaN) stay out of
      # the loss. A window with none (evaluation's, or withheld labels) gets NaN.
      annotated = np.isfinite(shifted)
      count = annotated.sum(axis=1).astype(np.float32)
      total = np.where(annotated, shifted, 0).sum(axis=1)
      shifted = np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(np.float32)
    return {
        'targets': shifted,
        'face_mask': self._face_found[face_rows],
        'recording': recording.astype(np.int32),
        'start': start.astype(np.int32),
        'valid': windows[:, 1].astype(bool),
    }

  def _read(self, first: int, count: int) -> list[dict[str, Any]]:
    if self._source is None:
      self._source = corpora.load(self._data).as_data_source(split=self._split)
    return self._source.__getitems__(range(first, first + count))

  def map(self, window: np.ndarray) -> dict[str, Any]:
    """Loads window (index, valid): index into the window table, valid flag."""
    annotations = {key: value[0] for key, value in self._annotations(window[None]).items()}
    steps = self._read(self._offsets[annotations['recording']] + annotations['start'],
                       self._clip)
    return {**window_inputs(np.stack([step['face'] for step in steps]),
                            [step['audio'] for step in steps], self._subseqs),
            **annotations}


class LoadFeatureBatch(LoadWindow):
  """A whole batch of windows from a feature cache: one pipeline element per batch.

  A window's features are rows start, start + subseq_frames, … of its
  recording's cache. The split's cache is read whole into memory on first
  use (2 × 276 MB for RECOLA's 9 training recordings at full width), and
  each batch is one gather per array: loading a window costs microseconds,
  so a pipeline element per window would spend most of its time in Grain.
  The arrays are those Grain's `batch` would make of per-window elements.
  """

  def __init__(self, data: ml_collections.ConfigDict, split: str,
               recordings: Sequence[RecordingSummary], windows: Windows,
               features_dir: pathlib.Path):
    super().__init__(data, split, recordings, windows)
    self._features_dir = features_dir
    rows = np.maximum(self._steps - self._subseq + 1, 0)
    self._feature_offsets = np.concatenate([[0], np.cumsum(rows)])
    self._features = None

  def __getstate__(self):
    state = super().__getstate__()
    state['_features'] = None  # Each worker reads its own copy.
    return state

  def _read_features(self) -> dict[str, np.ndarray]:
    """{'<modality>_features': (rows of every recording, d)} for each modality cached."""
    features = {}
    for modality in feature_cache.MODALITIES:
      paths = [feature_cache.feature_path(self._features_dir, self._split, name, modality)
               for name in self._names]
      if all(path.exists() for path in paths):
        features[f'{modality}_features'] = np.concatenate([np.load(path) for path in paths])
    return features

  def map(self, windows: np.ndarray) -> dict[str, np.ndarray]:
    """Loads (n, 2) windows (index, valid)."""
    if self._features is None:
      self._features = self._read_features()
    annotations = self._annotations(windows)
    rows = (self._feature_offsets[annotations['recording']][:, None]
            + annotations['start'][:, None] + self._subseq * np.arange(self._subseqs))
    return {**{key: values[rows] for key, values in self._features.items()}, **annotations}


class RandomCropFlip(grain.transforms.RandomMap):
  """Train augmentation: one random crop offset and one coin flip per clip."""

  def __init__(self, image_size: int, flip: bool):
    self._size = image_size
    self._flip = flip

  def random_map(self, element: dict[str, Any], rng: np.random.Generator):
    frames = element['frames']
    room = frames.shape[-2] - self._size
    top, left = rng.integers(0, room + 1, size=2)
    frames = frames[..., top:top + self._size, left:left + self._size, :]
    if self._flip and rng.random() < 0.5:
      frames = frames[..., ::-1, :]
    # A view: batching copies it once (a copy here as well costs a fifth of a 224² window).
    return {**element, 'frames': frames}


class CentreCrop(grain.transforms.Map):
  """Evaluation: the central image_size square of every frame."""

  def __init__(self, image_size: int):
    self._size = image_size

  def map(self, element: dict[str, Any]) -> dict[str, Any]:
    return {**element, 'frames': centre_crop(element['frames'], self._size)}
