"""Grain input pipeline: synchronised windows of face frames, log-mel spectrograms and labels.

A window is `clip_frames` consecutive 40 ms steps of one recording, read from
the `recola` TFDS dataset (one example per step) and cut into sub-sequences
of `subseq_frames`:

  frames        (subseqs, subseq_frames, image_size, image_size, 3) uint8 RGB
  spectrograms  (subseqs, 128, 65) float32, one per sub-sequence's audio
or, from a feature cache (caav_jax.feature_cache) instead of the two above,
  visual_features, audio_features   (subseqs, d) float32, one per sub-sequence
  targets       (dims,) mean of the shifted labels ('clip_mean'), or
                (clip_frames, dims) ('per_frame'); NaN where labels are withheld
  face_mask     (clip_frames,) bool, False where no face was found
  recording     int32, the recording's position in its split
  start         int32, the window's first step in the recording
  valid         bool, False for padding added to fill the last eval batch

Frame t of a window is paired with the label at t + delay of each dimension
(the annotators' reaction time). Frames are left as uint8; the model scales
them to [-1, 1].
"""

import dataclasses
import pathlib
import sys
from typing import Any, Sequence

import grain
import ml_collections
import numpy as np
import scipy.ndimage

from caav_jax import feature_cache
from caav_jax import log_mel
from caav_jax.config_error import ConfigError
from data_pipelines.recola import recola_dataset_builder
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


def _delays(data: ml_collections.ConfigDict) -> np.ndarray:
  return np.array([data.label_delay_frames[dim] for dim in data.dimensions])


def plan_windows(recordings: Sequence[RecordingSummary], *, clip_frames: int,
                 max_delay: int, stride: int, faceless_policy: str,
                 include_tail: bool) -> Windows:
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

  Returns:
    The window table, ordered by recording then start.
  """
  if faceless_policy not in ('drop', 'mask'):
    raise ValueError(f"faceless_policy must be 'drop' or 'mask', not {faceless_policy!r}")
  recording_ids, starts = [], []
  for index, summary in enumerate(recordings):
    labelled = bool(np.isfinite(summary.labels).all())
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
    recording_ids.append(np.full(candidates.size, index, np.int32))
    starts.append(candidates.astype(np.int32))
  if not starts:
    return Windows(np.zeros(0, np.int32), np.zeros(0, np.int32))
  return Windows(np.concatenate(recording_ids), np.concatenate(starts))


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
    self._data_dir = data.data_dir
    self._crop_size = data.crop_size
    self._face_source = data.face_source
    self._split = split
    self._clip = data.clip_frames
    self._subseq = data.subseq_frames
    self._subseqs = data.clip_frames // data.subseq_frames
    self._per_frame = data.target == 'per_frame'
    # Row (t, d) of a window's labels: step t + delay of dimension d, counted from its start.
    self._label_steps = np.arange(self._clip)[:, None] + _delays(data)
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
    return {
        'targets': shifted if self._per_frame else shifted.mean(axis=1),
        'face_mask': self._face_found[face_rows],
        'recording': recording.astype(np.int32),
        'start': start.astype(np.int32),
        'valid': windows[:, 1].astype(bool),
    }

  def _read(self, first: int, count: int) -> list[dict[str, Any]]:
    if self._source is None:
      builder = recola_dataset_builder.load(self._data_dir, self._crop_size,
                                            self._face_source)
      self._source = builder.as_data_source(split=self._split)
    return self._source.__getitems__(range(first, first + count))

  def map(self, window: np.ndarray) -> dict[str, Any]:
    """Loads window (index, valid): index into the window table, valid flag."""
    annotations = {key: value[0] for key, value in self._annotations(window[None]).items()}
    steps = self._read(self._offsets[annotations['recording']] + annotations['start'],
                       self._clip)
    frames = np.stack([step['face'] for step in steps])
    audio = np.concatenate([step['audio'] for step in steps])
    return {'frames': frames.reshape(self._subseqs, -1, *frames.shape[1:]),
            'spectrograms': log_mel.log_mel_spectrogram(audio.reshape(self._subseqs, -1)),
            **annotations}


class LoadFeatureBatch(LoadWindow):
  """A whole batch of windows from a feature cache (caav_jax.feature_cache): one pipeline element per batch.

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
    # A view: batching copies it once (a copy here too cost 20 % of a 224² window).
    return {**element, 'frames': frames}


class CentreCrop(grain.transforms.Map):
  """Evaluation: the central image_size square of every frame."""

  def __init__(self, image_size: int):
    self._size = image_size

  def map(self, element: dict[str, Any]) -> dict[str, Any]:
    frames = element['frames']
    top = (frames.shape[-3] - self._size) // 2
    left = (frames.shape[-2] - self._size) // 2
    return {**element, 'frames': frames[..., top:top + self._size, left:left + self._size, :]}


def check_data_config(data: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first setting of `config.data` that cannot work."""
  if data.clip_frames % data.subseq_frames:
    raise ConfigError(f'data.clip_frames ({data.clip_frames}) must be a multiple '
                     f'of data.subseq_frames ({data.subseq_frames})')
  if data.target not in ('clip_mean', 'per_frame'):
    raise ConfigError(f"data.target must be 'clip_mean' or 'per_frame', not {data.target!r}")
  if not data.dimensions or any(d not in DIMENSIONS for d in data.dimensions):
    raise ConfigError(f'data.dimensions must name some of {DIMENSIONS}, '
                     f'not {tuple(data.dimensions)}')
  if not 0 < data.image_size <= data.crop_size:
    raise ConfigError(f'data.image_size ({data.image_size}) must be in '
                     f'(0, data.crop_size = {data.crop_size}]')


def split_recordings(data: ml_collections.ConfigDict, split: str
                     ) -> list[RecordingSummary]:
  """The recordings of a split of the built dataset, checking the config against it."""
  check_data_config(data)
  builder = recola_dataset_builder.load(data.data_dir, data.crop_size,
                                        data.face_source)
  index = recola_dataset_builder.RecordingIndex.read(builder.data_dir)
  recordings = index.recordings(split)
  if not recordings:
    raise ConfigError(f'{builder.data_dir}: the dataset has no {split!r} split')
  return recordings


def _iterate(dataset: grain.MapDataset, data: ml_collections.ConfigDict,
             prefetch_batches: int = 2) -> grain.IterDataset:
  iterable = dataset.to_iter_dataset(grain.ReadOptions(num_threads=2,
                                                       prefetch_buffer_size=prefetch_batches))
  if data.num_workers > 0:
    iterable = iterable.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=data.num_workers))
  return iterable


def train_windows(data: ml_collections.ConfigDict,
                  recordings: Sequence[RecordingSummary]) -> Windows:
  """The training windows: every `train_stride` steps, faceless policy applied."""
  return plan_windows(recordings, clip_frames=data.clip_frames,
                      max_delay=int(_delays(data).max()),
                      stride=data.train_stride,
                      faceless_policy=data.faceless_policy, include_tail=False)


class ShuffledWindows(grain.MapDataset):
  """Rows (window, valid=1) of `count` windows, in a new random order each epoch.

  Element e·count + i is row i of epoch e's permutation (drawn from `seed`
  and e). Endless when `num_epochs` is None. `rows` draws many elements in
  one vectorised call: a batch of cached features takes microseconds to
  load, against about 36 µs per element through Grain's own shuffle.
  """

  def __init__(self, count: int, seed: int, num_epochs: int | None):
    super().__init__()
    self._count = count
    self._seed = seed
    self._length = sys.maxsize if num_epochs is None else count * num_epochs
    self._epoch_order = (-1, np.arange(count))

  def __len__(self) -> int:
    return self._length

  def _order(self, epoch: int) -> np.ndarray:
    cached_epoch, order = self._epoch_order
    if cached_epoch != epoch:
      order = np.random.default_rng([self._seed, epoch]).permutation(self._count)
      self._epoch_order = (epoch, order)  # one assignment: safe for prefetch threads
    return order

  def rows(self, positions: np.ndarray) -> np.ndarray:
    """(n, 2) rows (window, 1) at `positions` of the shuffled sequence."""
    epochs, within = np.divmod(positions, self._count)
    windows = np.empty(positions.shape, np.int64)
    for epoch in np.unique(epochs):
      chosen = epochs == epoch
      windows[chosen] = self._order(int(epoch))[within[chosen]]
    return np.stack([windows, np.ones_like(windows)], axis=1)

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    return self.rows(np.array([index]))[0]


class ProcessShare(grain.MapDataset):
  """One process's rows of each global batch: rows [i·n, (i+1)·n) of every `batch_size`, n = batch_size / count.

  Lazy like every MapDataset: a process loads and augments only its own
  windows. Concatenated in process order, the shares give each global batch
  row for row (the order matters: dropout masks follow the row). With
  `whole_batches` (the parent is then `ShuffledWindows`), element k is the
  process's (n, 2) rows of global batch k at once, for cached features
  loaded a batch at a time; else element j is the process's j-th window.
  """

  def __init__(self, parent: grain.MapDataset, batch_size: int, process_index: int,
               process_count: int, *, whole_batches: bool = False):
    super().__init__(parent)
    self._batch_size = batch_size
    self._share = batch_size // process_count
    self._offset = process_index * self._share
    self._whole_batches = whole_batches

  def __len__(self) -> int:
    batches = len(self._parent) // self._batch_size
    return batches if self._whole_batches else batches * self._share

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    if self._whole_batches:
      first = index * self._batch_size + self._offset
      return self._parent.rows(np.arange(first, first + self._share))
    batch, row = divmod(index, self._share)
    return self._parent[batch * self._batch_size + self._offset + row]


def train_dataset(data: ml_collections.ConfigDict, split: str = 'train', *,
                  num_epochs: int | None = None, process_index: int = 0,
                  process_count: int = 1, features_dir: pathlib.Path | None = None,
                  recordings: Sequence[RecordingSummary] | None = None,
                  prefetch_batches: int = 2) -> grain.IterDataset:
  """Shuffled, augmented, batched train windows (endless unless num_epochs).

  `data.batch_size` is the global batch: every process draws the same
  shuffled, augmented sequence of windows (data.seed) and loads only its
  share of each global batch (`ProcessShare`). Hosts thus read disjoint
  windows, and the global batch is the same, row for row, whatever the
  number of processes. The returned dataset's iterator has
  get_state/set_state.

  Args:
    data: the `data` section of the config.
    split: the split to read.
    num_epochs: passes over the windows; None repeats forever.
    process_index: this process's index (multi-host).
    process_count: number of processes.
    features_dir: read cached backbone features from here instead of pixels
      (no augmentation: the cache holds the evaluation view).
    recordings: the split's recordings, when known without the built dataset
      (a feature cache alone: caav_jax/feature_epoch_benchmark.py).
    prefetch_batches: batches loaded ahead by background threads (at least
      the steps of one call, so the next call's batches load while one runs).

  Returns:
    A Grain IterDataset of this process's batches of
    `data.batch_size / process_count` windows.
  """
  if data.batch_size % process_count:
    raise ConfigError(f'data.batch_size ({data.batch_size}) must be a multiple of the '
                      f'number of processes ({process_count})')
  if recordings is None:
    recordings = split_recordings(data, split)
  windows = train_windows(data, recordings)
  if len(windows) < data.batch_size:
    raise ConfigError(f'{split}: only {len(windows)} training windows, fewer than one '
                      f'batch of {data.batch_size}')
  shuffled = ShuffledWindows(len(windows), data.seed, num_epochs)
  if features_dir is None:
    dataset = (shuffled.seed(data.seed).map(LoadWindow(data, split, recordings, windows))
               .random_map(RandomCropFlip(data.image_size, data.flip)))
    dataset = ProcessShare(dataset, data.batch_size, process_index, process_count).batch(
        data.batch_size // process_count, drop_remainder=True)
  else:
    dataset = ProcessShare(shuffled, data.batch_size, process_index, process_count,
                           whole_batches=True).map(
                               LoadFeatureBatch(data, split, recordings, windows, features_dir))
  return _iterate(dataset, data, prefetch_batches)


def eval_windows(data: ml_collections.ConfigDict,
                 recordings: Sequence[RecordingSummary]) -> Windows:
  """The evaluation windows, in recording order, covering every labelled step."""
  return plan_windows(recordings, clip_frames=data.clip_frames,
                      max_delay=int(_delays(data).max()),
                      stride=data.eval_stride,
                      faceless_policy=data.eval_faceless_policy,
                      include_tail=True)


def eval_dataset(data: ml_collections.ConfigDict, split: str = 'dev', *,
                 features_dir: pathlib.Path | None = None) -> grain.IterDataset:
  """Every evaluation window once, in recording order, centre-cropped, batched.

  The last batch is filled up with copies of the first window marked
  `valid=False`, so every batch has the same shape.
  """
  recordings = split_recordings(data, split)
  windows = eval_windows(data, recordings)
  if not len(windows):
    raise ConfigError(f'{split}: no window of {data.clip_frames} frames fits')
  padding = -len(windows) % data.batch_size
  order = np.concatenate([np.arange(len(windows)), np.zeros(padding, int)])
  valid = np.arange(order.size) < len(windows)
  dataset = grain.MapDataset.source(np.stack([order, valid], axis=1))
  if features_dir is None:
    dataset = (dataset.map(LoadWindow(data, split, recordings, windows))
               .map(CentreCrop(data.image_size)).batch(data.batch_size))
  else:
    dataset = dataset.batch(data.batch_size).map(
        LoadFeatureBatch(data, split, recordings, windows, features_dir))
  return _iterate(dataset, data)
