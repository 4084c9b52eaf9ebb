"""Writes an untrained run: config.json and a step-0 checkpoint of freshly initialised weights.

  python -m caav_jax.tools.initialised_run --config=configs/default.py --workdir=RUN \
      [--config.data.crop_size=112 --config.data.image_size=112 ...]

For timing --mode=predict (docs/performance.md) on a model of any size
without training it first; its predictions mean nothing.
"""

import pathlib
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from caav_jax.checkpointing import Checkpoints
from caav_jax.errors import ConfigError
from caav_jax.training import stages
from caav_jax.workdir import Workdir
from configs import run_config


def write(config, workdir: pathlib.Path) -> None:
  """Initialises the configured model (backbones included) and saves it as step 0 of `workdir`."""
  run = Workdir(workdir)
  if run.latest_step() is not None:
    raise ConfigError(f'{workdir} already holds a run; give a new --workdir')
  model = stages.create_model(config, initialise_backbones=False)
  checkpoints = Checkpoints(run.checkpoints)
  checkpoints.save(0, model)
  checkpoints.close()
  run_config.save(config, run.config)


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  try:
    write(flags.FLAGS.config, pathlib.Path(flags.FLAGS.workdir))
  except ConfigError as error:
    sys.exit(f'caav_jax.initialised_run: {error}')
  print(f'wrote an untrained run to {flags.FLAGS.workdir}')


if __name__ == '__main__':
  # Defined here, not on import: caav_jax.main defines flags of the same names.
  config_flags.DEFINE_config_file('config', None, 'Configuration file.', lock_config=True)
  flags.DEFINE_string('workdir', None, 'Where the run goes.')
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main)
