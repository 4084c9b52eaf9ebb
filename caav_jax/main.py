"""Entry point: python -m caav_jax.main --config=configs/recola.py --workdir=DIR [--mode=...] [--config.x=y].

Modes: train (default; resumes from the workdir), eval (restores a checkpoint
and scores dev), predict (valence and arousal of any video: --input=PATH),
extract_features (caches the fusion stage's frozen backbone features),
benchmark (step times and throughput on this machine's devices), recipe (the
paper's whole recipe and a results table). A run's workdir keeps its
configuration (config.json): with --workdir alone, eval, predict and a resumed
train read it, and --config.x=y overrides still apply. Errors a user can mend
(caav_jax/errors.py) are printed as one line.
"""

import os
import pathlib
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from caav_jax import evaluate
from caav_jax import extract_features
from caav_jax import predict
from caav_jax import train
from caav_jax import workdir
from caav_jax.benchmark import run as benchmark
from caav_jax.errors import ConfigError
from caav_jax.errors import USER_ERRORS
from caav_jax.recipe import run as recipe
import configs


_CONFIG = config_flags.DEFINE_config_file('config', None, 'Configuration file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, logs and outputs go.')
_MODE = flags.DEFINE_enum('mode', 'train',
                          ['train', 'eval', 'predict', 'extract_features', 'benchmark', 'recipe'],
                          'What to do.')
_INPUT = flags.DEFINE_string('input', None, 'predict: a video, or a folder of videos.')
_OUTPUT = flags.DEFINE_string('output', None,
                              'predict: where to write (default WORKDIR/predictions).')
_AUDIO = flags.DEFINE_string('audio', None,
                             'predict: a file holding the voice of the --input video.')
_OVERLAY = flags.DEFINE_bool('overlay', False, 'predict: also write NAME_annotated.mp4.')
_STEP = flags.DEFINE_integer('step', None, 'eval, predict: the checkpoint step to use '
                             '(default: the best on dev, else the latest).')
flags.mark_flags_as_required(['workdir'])

CONFIG_FROM_WORKDIR = pathlib.Path(configs.__file__).with_name('workdir.py')

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
  if config is None:
    sys.exit('caav_jax: give --config=FILE (e.g. configs/synthetic.py), or a --workdir whose '
             'run saved its config.json')
  try:
    config.keys()  # ml_collections reports a --config file it could not load on first use
  except OSError as error:
    sys.exit(f'caav_jax: cannot load the --config file: {" ".join(str(error).split())}')
  if _STEP.value is not None:
    config.eval.checkpoint = str(_STEP.value)
  initialise_distributed(config.distributed)
  check_devices()
  try:
    if _MODE.value == 'predict':
      if not _INPUT.value:
        raise ConfigError('--mode=predict needs --input=VIDEO (or a folder of videos)')
      request = predict.Request(input=pathlib.Path(_INPUT.value),
                                output=pathlib.Path(_OUTPUT.value) if _OUTPUT.value else None,
                                audio=pathlib.Path(_AUDIO.value) if _AUDIO.value else None,
                                overlay=_OVERLAY.value)
      predict.predict(config, _WORKDIR.value, request)
    else:
      MODES[_MODE.value](config, workdir.create_writable(_WORKDIR.value))
  except USER_ERRORS as error:
    sys.exit(f'caav_jax: {error}')


def _flag_value(argv: list[str], name: str) -> str | None:
  """The value of --name=V or --name V in argv (the last one given), if any."""
  value = None
  for index, argument in enumerate(argv):
    if argument.startswith(f'--{name}='):
      value = argument.split('=', 1)[1]
    elif argument == f'--{name}' and index + 1 < len(argv):
      value = argv[index + 1]
  return value


def with_run_config(argv: list[str]) -> list[str]:
  """argv, with --config=configs/workdir.py:RUN added when --workdir=RUN is given without --config.

  Exits with one line when that workdir holds no run's config.json.
  """
  if any(a == '--config' or a.startswith('--config=') for a in argv[1:]):
    return argv
  run = _flag_value(argv[1:], 'workdir')
  if not run:
    return argv
  folder = workdir.Workdir(pathlib.Path(run))
  if folder.config.is_file():
    return [argv[0], f'--config={CONFIG_FROM_WORKDIR}:{run}', *argv[1:]]
  inside = folder.runs_inside()
  missing = folder.config.name
  where = (f'; it holds runs: {", ".join(str(p) for p in inside[:6])}'
           f'{" ..." if len(inside) > 6 else ""}; point --workdir at one' if inside else
           '; point --workdir at a training run, or give --config=FILE to start one')
  sys.exit(f'caav_jax: --workdir {run} holds no run (no {missing}){where}')


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parsing, with a bad override (a typo, a wrong type) as one line, not a traceback."""
  argv = with_run_config(argv)
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
