"""Entry point: python -m caav_jax.main --config=configs/recola.py --workdir=DIR [--config.x=y]."""

from absl import app
from absl import flags
from ml_collections import config_flags

from caav_jax import train

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Configuration file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints and logs go.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == '__main__':
  app.run(main)
