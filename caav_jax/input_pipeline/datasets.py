"""Grain datasets: shuffled, augmented, batched train windows and in-order eval windows of a built split.

Windows are read from the corpus's TFDS dataset (one example per step: 40 ms
on RECOLA, a video frame on Aff-Wild2) or from a feature cache;
caav_jax/input_pipeline/loaders.py says what a loaded window holds.
`ensure_dataset` builds the TFDS dataset first when it is missing.
"""

import pathlib
import sys
from typing import Sequence

from absl import logging
import grain
import ml_collections
import numpy as np

from caav_jax.errors import ConfigError
from caav_jax.input_pipeline import corpora
from caav_jax.input_pipeline.loaders import CentreCrop
from caav_jax.input_pipeline.loaders import LoadFeatureBatch
from caav_jax.input_pipeline.loaders import LoadWindow
from caav_jax.input_pipeline.loaders import RandomCropFlip
from caav_jax.input_pipeline.windows import eval_windows
from caav_jax.input_pipeline.windows import train_windows
from data_pipelines.recola.labels import DIMENSIONS
from data_pipelines.recola.recording import RecordingSummary


def ensure_dataset(data: ml_collections.ConfigDict) -> None:
  """Builds the TFDS dataset from `data.raw_dir` unless it is already built.

  Raises:
    FileNotFoundError: when it is not built and `data.raw_dir` is not a
      folder to build it from; the message lists the crop sizes that are
      built (a config asking for another crop size than the dataset has).
  """
  try:
    corpora.load(data)
  except FileNotFoundError as missing:
    if not pathlib.Path(data.raw_dir).is_dir() and corpora.built_configs(data):
      raise FileNotFoundError(
          f'{missing}; or set config.data.crop_size to a built one. config.data.raw_dir '
          f'({data.raw_dir}) is not a folder to build it from.') from None
    logging.info('Building the dataset from %s into %s.', data.raw_dir, data.data_dir)
    corpora.prepare(data)


def check_data_config(data: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first setting of `config.data` that cannot work."""
  if data.clip_frames % data.subseq_frames:
    raise ConfigError(f'data.clip_frames ({data.clip_frames}) must be a multiple '
                     f'of data.subseq_frames ({data.subseq_frames})')
  if data.target not in ('clip_mean', 'per_frame'):
    raise ConfigError(f"data.target must be 'clip_mean' or 'per_frame', not {data.target!r}")
  if data.corpus == 'affwild2' and data.target != 'clip_mean':
    raise ConfigError("data.target must be 'clip_mean' for data.corpus='affwild2': its "
                      'unannotated frames are kept out of a clip mean, not of per-frame targets')
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
  builder = corpora.load(data)
  recordings = corpora.index(builder).recordings(split)
  if not recordings:
    raise ConfigError(f'{builder.data_dir}: the dataset has no {split!r} split')
  return recordings


def steps_per_epoch(data: ml_collections.ConfigDict) -> int:
  """Batches in one pass over the training windows (all processes together)."""
  return max(1, len(train_windows(data, split_recordings(data, 'train'))) // data.batch_size)


def _iterate(dataset: grain.MapDataset, data: ml_collections.ConfigDict,
             prefetch_batches: int = 2) -> grain.IterDataset:
  iterable = dataset.to_iter_dataset(grain.ReadOptions(num_threads=2,
                                                       prefetch_buffer_size=prefetch_batches))
  if data.num_workers > 0:
    iterable = iterable.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=data.num_workers))
  return iterable


class ShuffledWindows(grain.MapDataset):
  """Rows (window, valid=1) of `count` windows, in a new random order each epoch.

  Element e·count + i is row i of epoch e's permutation (drawn from `seed`
  and e). Endless when `num_epochs` is None. `rows` draws many elements in
  one vectorised call: a batch of cached features takes microseconds to
  load, less than Grain's own shuffle spends on each element.
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
      (a feature cache alone: caav_jax/benchmark/feature_epoch.py).
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
