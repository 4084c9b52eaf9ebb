"""What every corpus builder shares: one example per step in recording order, and the index of them.

A step is RECOLA's 40 ms or one Aff-Wild2 video frame. Examples keep their
recording order (shuffling disabled), so a window of consecutive steps is a
run of consecutive example indices; the `RecordingIndex` metadata says
where each recording starts, its labels, face flags and frame rate.
"""

import abc
import dataclasses
import functools
import os
from typing import Any
from typing import Callable

from etils import epath
import numpy as np
import tensorflow_datasets as tfds

from data_pipelines import read_ahead
from data_pipelines.recola.labels import DIMENSIONS
from data_pipelines.recola.recording import RecordingSummary


_INDEX_FILE = 'recordings.npz'


class RecordingIndex(tfds.core.Metadata):
  """Per split: each recording's name, length (its first example follows), labels, face flags.

  Saved beside the ArrayRecord files so the input pipeline can plan windows
  without reading a single example; read it with `RecordingIndex.read`.
  Keys: '<split>/names', '<split>/steps', '<split>/frame_rates' (steps a
  second), '<split>/labels' ((examples, 2) valence, arousal) and
  '<split>/face_found' ((examples,)).
  """

  def add(self, split: str, summary: RecordingSummary) -> None:
    self.setdefault(split, []).append(summary)

  def recordings(self, split: str) -> list[RecordingSummary]:
    return self.get(split, [])

  def save_metadata(self, data_dir):
    arrays = {}
    for split, summaries in self.items():
      arrays[f'{split}/names'] = np.array([s.name for s in summaries])
      arrays[f'{split}/steps'] = np.array([s.steps for s in summaries])
      arrays[f'{split}/labels'] = np.concatenate([s.labels for s in summaries])
      arrays[f'{split}/face_found'] = np.concatenate(
          [s.face_found for s in summaries])
      arrays[f'{split}/frame_rates'] = np.array([s.frame_rate for s in summaries])
    with epath.Path(data_dir, _INDEX_FILE).open('wb') as f:
      np.savez(f, **arrays)

  @classmethod
  def read(cls, data_dir: str | os.PathLike) -> 'RecordingIndex':
    """Reads the index of a built dataset (its `builder.data_dir`)."""
    index = cls()
    index.load_metadata(data_dir)
    return index

  def load_metadata(self, data_dir):
    self.clear()
    with epath.Path(data_dir, _INDEX_FILE).open('rb') as f:
      arrays = dict(np.load(f))
    for split in {key.split('/')[0] for key in arrays}:
      ends = np.cumsum(arrays[f'{split}/steps'])
      starts = ends - arrays[f'{split}/steps']
      # Datasets built before frame rates were kept hold RECOLA's 25 steps a second.
      rates = arrays.get(f'{split}/frame_rates', np.full(ends.size, 25.0))
      self[split] = [
          RecordingSummary(str(name), arrays[f'{split}/labels'][a:b],
                           arrays[f'{split}/face_found'][a:b], float(rate))
          for name, a, b, rate in zip(arrays[f'{split}/names'], starts, ends, rates)]


def built_configs(data_dir: str | os.PathLike, dataset: str) -> list[str]:
  """The builder configs (crop sizes) of `dataset` built under `data_dir`, e.g. ['crop112']."""
  return sorted(p.name for p in (epath.Path(data_dir) / dataset).glob('crop*'))


def build_report(builder: tfds.core.DatasetBuilder, seconds: float) -> str:
  """What a build command prints: each split's recordings, steps, duration and where a face
  was found, then where the dataset is and how long it took."""
  index = RecordingIndex.read(builder.data_dir)
  lines = []
  for split in ('train', 'dev', 'test'):
    recordings = index.recordings(split)
    if recordings:
      steps = sum(r.steps for r in recordings)
      minutes = sum(r.steps / r.frame_rate for r in recordings) / 60
      faces = sum(int(r.face_found.sum()) for r in recordings)
      lines.append(f'{split:5s}: {len(recordings)} recordings, {steps} steps ({minutes:.1f} min), '
                   f'face found in {100 * faces / steps:.1f}%')
  return '\n'.join([*lines, f'dataset ready in {builder.data_dir} ({seconds:.1f} s)'])


def step_features(crop_size: int, audio_samples: int | None) -> tfds.features.FeaturesDict:
  """What one example (one step) holds; `audio_samples` None where it varies (Aff-Wild2)."""
  return tfds.features.FeaturesDict({
      'recording': tfds.features.Text(),
      'frame_index': np.int32,
      'face': tfds.features.Image(shape=(crop_size, crop_size, 3), encoding_format='jpeg'),
      'face_found': np.bool_,
      'face_detected': np.bool_,
      'audio': tfds.features.Tensor(shape=(audio_samples,), dtype=np.float32),
      **{dim: np.float32 for dim in DIMENSIONS},
  })


class LocalDatasetInfo(tfds.core.DatasetInfo):
  """DatasetInfo that never looks for precomputed info on TFDS's servers.

  These corpora are not there, and TFDS's look-up leaves an empty temporary folder
  behind for every builder made before the dataset is built.
  """

  def initialize_from_bucket(self) -> None:
    pass


class StepDatasetBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A corpus builder: its recordings read in order (ahead, in worker processes), one example a step.

  A subclass names its reader (`read`: (item, options) -> (summary,
  examples), a module-level function), the reader's options class, the
  audio samples of a step (None where they vary) and `_split_generators`.
  """

  READ_OPTIONS: type
  AUDIO_SAMPLES: int | None
  DESCRIPTION: str
  HOMEPAGE: str

  def __init__(self, *, read_options: Any = None, num_workers: int | None = None, **kwargs):
    """Args: read_options: the reader's checks and settings (crop size from the builder
    config); num_workers: recordings read in parallel processes (default: one per core)."""
    super().__init__(**kwargs)
    self._read_options = dataclasses.replace(
        read_options or self.READ_OPTIONS(), crop_size=self.builder_config.crop_size)
    self._num_workers = num_workers or os.cpu_count() or 1

  @staticmethod
  @abc.abstractmethod
  def read(item, options) -> tuple[RecordingSummary, Any]:
    """One recording's summary and its examples, in order."""

  def _info(self) -> tfds.core.DatasetInfo:
    return LocalDatasetInfo(
        builder=self, description=self.DESCRIPTION,
        features=step_features(self.builder_config.crop_size, self.AUDIO_SAMPLES),
        metadata=RecordingIndex(), disable_shuffling=True, homepage=self.HOMEPAGE)

  def _generate_examples(self, split: str, items: list):
    read: Callable = functools.partial(type(self).read, options=self._read_options)
    for summary, examples in read_ahead.read_in_order(items, read, self._num_workers):
      self.info.metadata.add(split, summary)
      for example in examples:
        yield f'{summary.name}_{example["frame_index"]:06d}', example
