"""The corpus a configuration reads (`data.corpus`): RECOLA (AVEC 2016) or Aff-Wild2, one interface.

Both builders write one example per step in recording order and a
`RecordingIndex` (names, lengths, labels, face flags, frame rates); the
rest of the pipeline reads them alike.
"""


import ml_collections
import tensorflow_datasets as tfds

from caav_jax.errors import ConfigError
from data_pipelines import step_dataset
from data_pipelines.affwild2 import affwild2_dataset_builder
from data_pipelines.recola import recola_dataset_builder
from data_pipelines.step_dataset import RecordingIndex


CORPORA = ('recola', 'affwild2')


def _check(data: ml_collections.ConfigDict) -> None:
  if data.corpus not in CORPORA:
    raise ConfigError(f'data.corpus must be one of {CORPORA}, not {data.corpus!r}')


def load(data: ml_collections.ConfigDict) -> tfds.core.DatasetBuilder:
  """The built dataset (FileNotFoundError naming the crop sizes built when it is not)."""
  _check(data)
  if data.corpus == 'affwild2':
    return affwild2_dataset_builder.load(data.data_dir, data.crop_size)
  return recola_dataset_builder.load(data.data_dir, data.crop_size, data.face_source)


def prepare(data: ml_collections.ConfigDict) -> tfds.core.DatasetBuilder:
  """Builds the dataset from `data.raw_dir` unless it is built."""
  _check(data)
  if data.corpus == 'affwild2':
    return affwild2_dataset_builder.prepare(data.raw_dir, data.data_dir, data.crop_size)
  return recola_dataset_builder.prepare(data.raw_dir, data.data_dir, data.crop_size,
                                        data.face_source)


def built_configs(data: ml_collections.ConfigDict) -> list[str]:
  """The crop sizes built under `data.data_dir` for this corpus, e.g. ['crop112']."""
  _check(data)
  dataset = (affwild2_dataset_builder.AffWild2 if data.corpus == 'affwild2'
             else recola_dataset_builder.Recola).name
  return step_dataset.built_configs(data.data_dir, dataset)


def index(builder: tfds.core.DatasetBuilder) -> RecordingIndex:
  """A built dataset's recording index."""
  return RecordingIndex.read(builder.data_dir)


def steps_are_frames(data: ml_collections.ConfigDict) -> bool:
  """Whether a step is one frame at the video's own rate (Aff-Wild2), not RECOLA's 40 ms."""
  _check(data)
  return data.corpus == 'affwild2'


def check_evaluation(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError when the evaluation settings do not suit the corpus's protocol
  (checked before training too, so that a long run does not fail at its end)."""
  _check(config.data)
  settings = config.eval
  if config.data.corpus != 'recola' and settings.postprocess:
    raise ConfigError("config.eval.postprocess is AVEC's (RECOLA's protocol): set it False for "
                      f'data.corpus={config.data.corpus!r}')
  if (config.data.corpus == 'affwild2' and settings.predict_test
      and sorted(config.data.dimensions) != ['arousal', 'valence']):
    raise ConfigError("ABAW's test files hold valence and arousal: predict both "
                      '(data.dimensions) or set config.eval.predict_test False')
