"""The configuration a run saved in its workdir: --config=configs/workdir.py:RUN.

caav_jax.main adds this flag itself when it is given --workdir and no --config.
"""

import pathlib

from caav_jax.workdir import Workdir
from configs import run_config


def get_config(workdir: str):
  return run_config.load(Workdir(pathlib.Path(workdir)).config)
