"""TFDS builder `affwild2`: one ArrayRecord example per video frame of every annotated subject-video.

A step is one frame at that video's own rate; the `RecordingIndex` keeps
each video's frame rate beside its labels (NaN where unannotated) and face
flags. A step's audio is the voice of that frame's span, so its length
follows the frame rate (640 samples at 25 fps, 533 or 534 at 30 fps).

Built in this process's workers, or with `beam_options` as an Apache Beam
pipeline (one element per video) that a Beam runner spreads over machines.
"""

import dataclasses
import os
from typing import Any
from typing import Iterator

import tensorflow_datasets as tfds
from tensorflow_datasets.core.utils.lazy_imports_utils import apache_beam as beam

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

  def __init__(self, *, use_beam: bool = False, **kwargs):
    """Args: use_beam: build as a Beam pipeline (the runner comes with
    `download_and_prepare`'s `beam_options`); else in worker processes here."""
    super().__init__(**kwargs)
    self._use_beam = use_beam

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    splits = layout.list_videos(dl_manager.manual_dir)
    for videos in splits.values():
      for video in videos:
        check_video(video, self._read_options)
    generate = self._beam_examples if self._use_beam else self._generate_examples
    return {split: generate(split, videos) for split, videos in splits.items() if videos}

  def _beam_examples(self, split: str, videos: list[layout.Video]) -> 'beam.PTransform':
    """The split as a Beam transform: (example index, example) of each frame, read per video.

    The index is summarised here from the annotations, crop listings and
    containers (no video is decoded past its first frame), which also gives
    each video its first example index; integer keys keep TFDS's Beam writer
    in video order.
    """
    items, start = [], 0
    for video in videos:
      summary, _ = read_video(video, self._read_options)
      self.info.metadata.add(split, summary)
      items.append((start, video))
      start += summary.steps
    return (f'{split}_videos' >> beam.Create(items)
            | f'{split}_spread' >> beam.Reshuffle()
            | f'{split}_frames' >> beam.FlatMap(_keyed_examples, options=self._read_options))


def _keyed_examples(item: tuple[int, layout.Video], options: ReadOptions
                    ) -> Iterator[tuple[int, dict[str, Any]]]:
  """On a Beam worker: every frame of one video, keyed by its example index in the split."""
  start, video = item
  _, examples = read_video(video, options)
  for example in examples:
    yield start + example['frame_index'], example


def _builder(data_dir, crop_size: int, **kwargs) -> AffWild2:
  config = affwild2_config(crop_size)
  predefined = {c.name: c for c in AffWild2.BUILDER_CONFIGS}
  return AffWild2(config=predefined.get(config.name, config), data_dir=os.fspath(data_dir),
                  file_format='array_record', **kwargs)


def prepare(raw_dir: str | os.PathLike, data_dir: str | os.PathLike, crop_size: int = 112,
            read_options: ReadOptions | None = None, num_workers: int | None = None,
            beam_options: list[str] | None = None) -> AffWild2:
  """Builds the dataset from an Aff-Wild2 folder unless it is already built.

  Every video's files are checked (cheaply) before anything is written; a
  failed build leaves nothing that could pass for a built dataset.

  Args:
    num_workers: videos read in parallel processes here (default: one per core).
    beam_options: Beam pipeline flags (e.g. ['--runner=FlinkRunner', ...]):
      build as a Beam pipeline instead; this machine and every worker must
      see `raw_dir` and `data_dir` at the same paths.

  Raises:
    RecolaInputError: naming the first bad input file.
    ValueError: for a flag Beam does not know.
  """
  options = None
  if beam_options is not None:
    options = pipeline_options(beam_options)
    # Workers resolve paths in their own working folders.
    raw_dir, data_dir = os.path.abspath(raw_dir), os.path.abspath(data_dir)
  builder = _builder(data_dir, crop_size, read_options=read_options, num_workers=num_workers,
                     use_beam=options is not None)
  if not builder.is_prepared():
    layout.list_videos(raw_dir)  # a clear error before TFDS's
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(raw_dir), beam_options=options))
  return builder


def pipeline_options(flags: list[str]) -> 'beam.options.pipeline_options.PipelineOptions':
  """Beam's pipeline options from command-line flags, every one of which Beam must know.

  Beam itself only warns about a flag it does not know and drops it, so a typo
  (`--runer=FlinkRunner`) would quietly build on the local DirectRunner.

  Raises:
    ValueError: naming the flags Beam does not know.
  """
  options = beam.options.pipeline_options.PipelineOptions(flags)
  parsers = []
  options.get_all_options(add_extra_args_fn=parsers.append)  # the parser Beam reads them with
  _, unknown = parsers[0].parse_known_args(flags)
  if unknown:
    raise ValueError(f'Beam does not know {" ".join(unknown)} (its flags: '
                     'https://beam.apache.org/releases/pydoc/current/'
                     'apache_beam.options.pipeline_options.html)')
  return options


def load(data_dir: str | os.PathLike, crop_size: int = 112) -> AffWild2:
  """Opens an already built dataset.

  Raises:
    FileNotFoundError: when none of that crop size is built there.
  """
  builder = _builder(data_dir, crop_size)
  if not builder.is_prepared():
    built = step_dataset.built_configs(data_dir, AffWild2.name)
    raise FileNotFoundError(f'{data_dir}: no affwild2 dataset built with crop size '
                            f'{crop_size}; built: {", ".join(built) or "none"}')
  return builder
