"""TFDS builder `recola`: one ArrayRecord example per 40 ms step of every recording."""

import dataclasses
import os

import tensorflow_datasets as tfds

from data_pipelines import step_dataset
from data_pipelines.recola import layout
from data_pipelines.recola.audio import SAMPLES_PER_STEP
from data_pipelines.recola.recording import ReadOptions
from data_pipelines.recola.recording import check_recording
from data_pipelines.recola.recording import read_recording


@dataclasses.dataclass
class RecolaConfig(tfds.core.BuilderConfig):
  """Builder config: the stored face crop size and where faces come from.

  Attributes:
    crop_size: side of the stored square face crops, in pixels.
    face_source: 'video' (find faces in recordings_video/) or 'images'
      (pre-cropped faces in faces/<recording>/).
  """
  crop_size: int = 224
  face_source: str = 'video'


def recola_config(crop_size: int, face_source: str = 'video') -> RecolaConfig:
  """A builder config for a crop size and face source, named e.g. `crop112`."""
  suffix = '' if face_source == 'video' else f'_{face_source}'
  return RecolaConfig(name=f'crop{crop_size}{suffix}', crop_size=crop_size,
                      face_source=face_source,
                      description=f'{crop_size}x{crop_size} face crops from '
                      f'{face_source}.')


class Recola(step_dataset.StepDatasetBuilder):
  """RECOLA (AVEC 2016 partitions): face crop, audio and labels every 40 ms.

  Examples keep their recording order (shuffling is disabled) so that a
  window of consecutive steps is a run of consecutive example indices; the
  `RecordingIndex` metadata says where each recording starts.
  """

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  # 224 and 112: the paper's faces and a half-size run; 64 and 28: smaller
  # demos (28 is the CPU demo's, configs/synthetic.py). Other sizes work too.
  BUILDER_CONFIGS = [recola_config(size) for size in (224, 112, 64, 28)]
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      'RECOLA is licensed per user and cannot be downloaded automatically. '
      'Request the AVEC 2016 release from its authors '
      '(https://diuf.unifr.ch/main/diva/recola/) and point manual_dir '
      '(--raw_dir, or data.raw_dir in the config) at the folder holding '
      'recordings_audio/, recordings_video/ and ratings_gold_standard/'
      '{arousal,valence}/. For pre-cropped faces instead of video, put one '
      'folder of frame images per recording in faces/<recording>/ (OpenFace '
      '<recording>_aligned/ folders work as they are). To try the project '
      'without RECOLA, write a synthetic corpus in the same layout with '
      '`python -m data_pipelines.synthetic_recola --output_dir=DIR`.')

  READ_OPTIONS = ReadOptions
  AUDIO_SAMPLES = SAMPLES_PER_STEP
  DESCRIPTION = 'RECOLA audio-visual emotion corpus, one example per 40 ms.'
  HOMEPAGE = 'https://diuf.unifr.ch/main/diva/recola/'
  read = staticmethod(read_recording)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    splits = layout.list_recordings(dl_manager.manual_dir,
                                    self.builder_config.face_source)
    for recordings in splits.values():
      for recording in recordings:
        check_recording(recording, self._read_options)
    return {split: self._generate_examples(split, recordings)
            for split, recordings in splits.items() if recordings}


def _builder(data_dir, crop_size: int, face_source: str, **kwargs) -> 'Recola':
  config = recola_config(crop_size, face_source)
  predefined = {c.name: c for c in Recola.BUILDER_CONFIGS}
  return Recola(config=predefined.get(config.name, config),
                data_dir=os.fspath(data_dir), file_format='array_record',
                **kwargs)


def prepare(raw_dir: str | os.PathLike, data_dir: str | os.PathLike,
            crop_size: int = 224, face_source: str = 'video',
            read_options: ReadOptions | None = None,
            num_workers: int | None = None) -> Recola:
  """Builds the dataset from a RECOLA folder unless it is already built.

  Every recording is checked before anything is written; a build that fails
  leaves no files that could pass for a built dataset (TFDS writes into a
  temporary folder and renames it only when complete).

  Args:
    raw_dir: the RECOLA (or synthetic) corpus in the AVEC 2016 layout.
    data_dir: where TFDS keeps built datasets.
    crop_size: stored face crop size.
    face_source: 'video' or 'images'.
    read_options: face tracking and length-check parameters.
    num_workers: recordings read in parallel (default: one per CPU core).

  Returns:
    The builder, prepared.

  Raises:
    RecolaInputError: naming the first bad input file.
  """
  builder = _builder(data_dir, crop_size, face_source,
                     read_options=read_options, num_workers=num_workers)
  if not builder.is_prepared():
    layout.list_recordings(raw_dir, face_source)  # A clear error before TFDS's.
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=os.fspath(raw_dir)))
  return builder


def load(data_dir: str | os.PathLike, crop_size: int = 224,
         face_source: str = 'video') -> Recola:
  """Opens an already built dataset.

  Raises:
    FileNotFoundError: when no dataset with that crop size is built there,
      listing the crop sizes that are.
  """
  builder = _builder(data_dir, crop_size, face_source)
  if not builder.is_prepared():
    built = step_dataset.built_configs(data_dir, Recola.name)
    raise FileNotFoundError(
        f'{data_dir}: no recola dataset built with crop size {crop_size} '
        f'(config {builder.builder_config.name!r}); built configs: '
        f'{", ".join(built) or "none"}. Build it with python -m '
        'data_pipelines.build_recola --raw_dir=... --data_dir=... '
        f'--crop_size={crop_size}')
  return builder
