"""Builds the `aff_wild2` TFDS dataset from an Aff-Wild2 (or synthetic) folder.

  python -m data_pipelines.build_affwild2 --raw_dir=PATH --data_dir=PATH [--crop_size=112]

Here, videos are read in worker processes (one per core). With
--beam_options the build is an Apache Beam pipeline, one element per video,
run by the runner those flags name, e.g. a Flink cluster whose task managers
each have a Beam worker pool beside them running this project:

  --beam_options="--runner=FlinkRunner --flink_master=HOST:8081 \
    --environment_type=EXTERNAL --environment_config=localhost:50000"

This machine and every worker must see --raw_dir and --data_dir at the same
paths (a shared filesystem). docs/data.md, "Aff-Wild2", says more.
"""

import shlex
import time

from absl import app
from absl import flags

from data_pipelines import step_dataset
from data_pipelines.affwild2 import affwild2_dataset_builder
from data_pipelines.affwild2.video_reader import ReadOptions
from data_pipelines.recola.errors import RecolaInputError


_RAW_DIR = flags.DEFINE_string('raw_dir', None, 'Aff-Wild2 folder (VA track layout).',
                               required=True)
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Where TFDS datasets are kept.', required=True)
_CROP_SIZE = flags.DEFINE_integer('crop_size', 112, 'Side of the stored face crops.')
_MISMATCH = flags.DEFINE_float('max_length_mismatch_s', 0.5,
                               "Largest allowed difference in seconds between an annotation's "
                               "frame count and its raw video's.")
_WORKERS = flags.DEFINE_integer('num_workers', None, 'Videos read in parallel here '
                                '(default: one per CPU core); not used with --beam_options.')
_BEAM_OPTIONS = flags.DEFINE_string('beam_options', None,
                                    'Apache Beam pipeline flags, as on a command line: build '
                                    'with Beam, on the runner they name (default DirectRunner).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  beam_options = None
  if _BEAM_OPTIONS.value is not None:
    try:
      beam_options = shlex.split(_BEAM_OPTIONS.value)
      affwild2_dataset_builder.pipeline_options(beam_options)
    except ValueError as e:
      raise app.UsageError(f'--beam_options: {e}') from None
  start = time.perf_counter()
  try:
    builder = affwild2_dataset_builder.prepare(
        _RAW_DIR.value, _DATA_DIR.value, _CROP_SIZE.value,
        ReadOptions(max_length_mismatch_s=_MISMATCH.value), _WORKERS.value, beam_options)
  except RecolaInputError as e:
    raise app.UsageError(str(e)) from None
  print(step_dataset.build_report(builder, time.perf_counter() - start))


if __name__ == '__main__':
  app.run(main)
