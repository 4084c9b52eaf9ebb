"""Builds the `recola` TFDS dataset from a RECOLA (or synthetic) folder.

  python -m data_pipelines.build_recola --raw_dir=PATH --data_dir=PATH [--crop_size=224]
"""

import time

from absl import app
from absl import flags

from data_pipelines import step_dataset
from data_pipelines.recola import recola_dataset_builder
from data_pipelines.recola.errors import RecolaInputError
from data_pipelines.recola.recording import ReadOptions


_RAW_DIR = flags.DEFINE_string('raw_dir', None, 'RECOLA folder (AVEC 2016 layout).', required=True)
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Where TFDS datasets are kept.', required=True)
_CROP_SIZE = flags.DEFINE_integer('crop_size', 224, 'Side of the stored face crops.')
_MISMATCH = flags.DEFINE_float('max_length_mismatch_s', 0.5,
                               'Largest allowed difference in seconds between a '
                               "recording's video or audio and its labels.")
_WORKERS = flags.DEFINE_integer('num_workers', None, 'Recordings read in parallel '
                                '(default: one per CPU core).')
_FACE_SOURCE = flags.DEFINE_enum('face_source', 'video', ['video', 'images'],
                                 'Find faces in the videos, or read pre-cropped face images.')


def main(argv):
  del argv
  start = time.perf_counter()
  try:
    builder = recola_dataset_builder.prepare(
        _RAW_DIR.value, _DATA_DIR.value, _CROP_SIZE.value, _FACE_SOURCE.value,
        ReadOptions(max_length_mismatch_s=_MISMATCH.value), _WORKERS.value)
  except RecolaInputError as e:
    raise app.UsageError(str(e)) from None
  print(step_dataset.build_report(builder, time.perf_counter() - start))


if __name__ == '__main__':
  app.run(main)
