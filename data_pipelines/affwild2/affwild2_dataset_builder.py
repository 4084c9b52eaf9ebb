"""TFDS builder `affwild2`: one ArrayRecord example per video frame of every annotated subject-video.

A step is one frame at that video's own rate; the `RecordingIndex` keeps
each video's frame rate beside its labels (NaN where unannotated) and face
flags. A step's audio is the voice of that frame's span, so its length
follows the frame rate (640 samples at 25 fps, 533 or 534 at 30 fps).
"""

import dataclasses
import os

from etils import epath
import tensorflow_datasets as tfds

from data_pipelines import step_dataset
from data_pipelines.affwild2 import layout
from data_pipelines.affwild2.video_reader import ReadOptions
from data_pipelines.affwild2.video_reader import check_video
from data_pipelines.affwild2.video_reader import read_video


@dataclasses.dataclass
class AffWild2Config(tfds.core.BuilderConfig):
  """Builder config: the side of the stored face crops."""
  crop_size: int = 112


def affwild2_config(crop_size: int) -> AffWild2Config:
  return AffWild2Config(name=f'crop{crop_size}', crop_size=crop_size,
                        description=f'{crop_size}x{crop_size} aligned face crops.')


class AffWild2(step_dataset.StepDatasetBuilder):
  """Aff-Wild2, valence-arousal track: face crop, audio and labels of every frame.

  Examples keep their video order (shuffling disabled): a window of
  consecutive frames is a run of consecutive example indices.
  """

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  BUILDER_CONFIGS = [affwild2_config(size) for size in (112, 64, 28)]
  MANUAL_DOWNLOAD_INSTRUCTIONS = layout.HOW_TO_OBTAIN

  READ_OPTIONS = ReadOptions
  AUDIO_SAMPLES = None  # a frame's span of audio: its length follows the frame rate
  DESCRIPTION = 'Aff-Wild2 valence-arousal track, one example per video frame.'
  HOMEPAGE = 'https://ibug.doc.ic.ac.uk/resources/aff-wild2/'
  read = staticmethod(read_video)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    splits = layout.list_videos(dl_manager.manual_dir)
    for videos in splits.values():
      for video in videos:
        check_video(video, self._read_options)
    return {split: self._generate_examples(split, videos)
            for split, videos in splits.items() if videos}


def _builder(data_dir, crop_size: int, **kwargs) -> AffWild2:
  config = affwild2_config(crop_size)
  predefined = {c.name: c for c in AffWild2.BUILDER_CONFIGS}
  return AffWild2(config=predefined.get(config.name, config), data_dir=os.fspath(data_dir),
                  file_format='array_record', **kwargs)


def prepare(raw_dir: str | os.PathLike, data_dir: str | os.PathLike, crop_size: int = 112,
            read_options: ReadOptions | None = None,
            num_workers: int | None = None) -> AffWild2:
  """Builds the dataset from an Aff-Wild2 folder unless it is already built.

  Every video's files are checked (cheaply) before anything is written; a
  failed build leaves nothing that could pass for a built dataset.

  Raises:
    RecolaInputError: naming the first bad input file.
  """
  builder = _builder(data_dir, crop_size, read_options=read_options, num_workers=num_workers)
  if not builder.is_prepared():
    layout.list_videos(raw_dir)  # a clear error before TFDS's
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(raw_dir)))
  return builder


def load(data_dir: str | os.PathLike, crop_size: int = 112) -> AffWild2:
  """Opens an already built dataset.

  Raises:
    FileNotFoundError: when none of that crop size is built there.
  """
  builder = _builder(data_dir, crop_size)
  if not builder.is_prepared():
    built = sorted(p.name for p in (epath.Path(data_dir) / 'aff_wild2').glob('crop*'))
    raise FileNotFoundError(f'{data_dir}: no affwild2 dataset built with crop size '
                            f'{crop_size}; built: {", ".join(built) or "none"}')
  return builder
