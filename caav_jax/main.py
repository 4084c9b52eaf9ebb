"""Entry point: python -m caav_jax.main --config=configs/recola.py --workdir=DIR [--mode=...] [--config.x=y].

Modes: train (default; resumes from the workdir), eval (restores a checkpoint
and scores dev), extract_features (caches the fusion stage's frozen backbone
features), benchmark (step times and throughput on this machine's devices),
recipe (the paper's whole recipe and a results table, caav_jax/recipe.py).
"""

import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from caav_jax import benchmark
from caav_jax import evaluate_checkpoint
from caav_jax import recipe
from caav_jax import train
from caav_jax.config_error import ConfigError
from data_pipelines.recola.errors import RecolaInputError

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Configuration file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, logs and outputs go.')
_MODE = flags.DEFINE_enum('mode', 'train',
                          ['train', 'eval', 'extract_features', 'benchmark', 'recipe'],
                          'What to do.')
flags.mark_flags_as_required(['config', 'workdir'])

MODES = {'train': train.train_and_evaluate, 'eval': evaluate_checkpoint.evaluate,
         'extract_features': train.extract_features, 'benchmark': benchmark.run,
         'recipe': recipe.run}


def initialise_distributed(distributed) -> None:
  """jax.distributed.initialize from config.distributed (empty / 0 / -1: let JAX detect)."""
  if distributed.initialize:
    jax.distributed.initialize(
        coordinator_address=distributed.coordinator_address or None,
        num_processes=distributed.num_processes or None,
        process_id=None if distributed.process_id < 0 else distributed.process_id)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Orbax and TFDS log every file at INFO.
  config = _CONFIG.value
  initialise_distributed(config.distributed)
  try:
    MODES[_MODE.value](config, _WORKDIR.value)
  except (RecolaInputError, FileNotFoundError, ConfigError) as error:
    sys.exit(f'caav_jax: {error}')


def run():
  """app.run, with configuration errors (a typo, a wrong type) as one line, not a traceback."""
  try:
    app.run(main)
  except (KeyError, AttributeError, TypeError, ValueError) as error:
    if flags.FLAGS.is_parsed():
      raise
    while error.args and isinstance(error.args[0], Exception):
      error = error.args[0]  # ml_collections wraps a KeyError in an AttributeError.
    detail = str(error.args[0] if error.args else error).replace('\n', ' ')
    sys.exit(f'caav_jax: bad configuration override: {detail}')


if __name__ == '__main__':
  run()
