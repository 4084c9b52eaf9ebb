"""Entry point: python -m caav_jax.main --config=configs/recola.py --workdir=DIR [--mode=...] [--config.x=y].

Modes: train (default; resumes from the workdir), eval (restores a checkpoint
and scores dev), extract_features (caches the fusion stage's frozen backbone
features), benchmark (step times and throughput on this machine's devices),
recipe (the paper's whole recipe and a results table). Errors a user can
mend (caav_jax/errors.py) are printed as one line.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from caav_jax import evaluate
from caav_jax import extract_features
from caav_jax import train
from caav_jax import workdir
from caav_jax.benchmark import run as benchmark
from caav_jax.errors import USER_ERRORS
from caav_jax.recipe import run as recipe


_CONFIG = config_flags.DEFINE_config_file('config', None, 'Configuration file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, logs and outputs go.')
_MODE = flags.DEFINE_enum('mode', 'train',
                          ['train', 'eval', 'extract_features', 'benchmark', 'recipe'],
                          'What to do.')
flags.mark_flags_as_required(['config', 'workdir'])

MODES = {'train': train.train_and_evaluate, 'eval': evaluate.evaluate,
         'extract_features': extract_features.extract_features, 'benchmark': benchmark.run,
         'recipe': recipe.run}


def initialise_distributed(distributed) -> None:
  """jax.distributed.initialize from config.distributed (empty / 0 / -1: let JAX detect)."""
  if distributed.initialize:
    jax.distributed.initialize(
        coordinator_address=distributed.coordinator_address or None,
        num_processes=distributed.num_processes or None,
        process_id=None if distributed.process_id < 0 else distributed.process_id)


def check_devices() -> None:
  """Exits with one line when the asked-for platform (JAX_PLATFORMS, set by ./run.sh) has no device."""
  try:
    jax.devices()
  except Exception as error:  # pylint: disable=broad-except  # jax raises several types here
    platforms = os.environ.get('JAX_PLATFORMS') or 'any'
    detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
    sys.exit(f'caav_jax: JAX_PLATFORMS={platforms}: no such device on this machine ({detail}); '
             'unset CAAV_ACCELERATOR (./run.sh) or JAX_PLATFORMS to run on the CPU')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Orbax and TFDS log every file at INFO.
  config = _CONFIG.value
  try:
    config.keys()  # ml_collections reports a --config file it could not load on first use
  except OSError as error:
    sys.exit(f'caav_jax: cannot load the --config file: {" ".join(str(error).split())}')
  initialise_distributed(config.distributed)
  check_devices()
  try:
    MODES[_MODE.value](config, workdir.create_writable(_WORKDIR.value))
  except USER_ERRORS as error:
    sys.exit(f'caav_jax: {error}')


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing, with a bad override (a typo, a wrong type) as one line, not a traceback."""
  try:
    return flags.FLAGS(argv)
  except (flags.Error, KeyError, AttributeError, TypeError, ValueError) as error:
    about_config = not isinstance(error, flags.Error) or '--config' in str(error)
    while error.args and isinstance(error.args[0], Exception):
      error = error.args[0]  # ml_collections wraps a KeyError in an AttributeError.
    detail = str(error.args[0] if error.args else error).replace('\n', ' ')
    what = 'bad configuration override' if about_config else 'bad command line'
    sys.exit(f'caav_jax: {what}: {detail}')


def run():
  app.run(main, flags_parser=parse_flags)


if __name__ == '__main__':
  run()
