"""A run's workdir: every path inside it, and which of its checkpoints to read.

  checkpoints/          the last `checkpoints_to_keep` checkpoints (model, optimizer, data order)
  best/                 the checkpoint with the best dev CCC so far, with its scores
  eval/step_<N>/        training's dev passes: window predictions and scores
  evaluation/step_<N>/  --mode=eval's outputs (best_step_<N>/ for the best checkpoint)
  features/             cached backbone features, unless config.train.feature_dir says elsewhere
  train_log.jsonl       one JSON line per logged step and per dev pass
  tensorboard/          TensorBoard event files of the same figures
  benchmark/            --mode=benchmark's tables
  config.json           the resolved configuration of the run's latest start (configs/run_config.py)
  predictions/          --mode=predict's outputs, unless --output says elsewhere
"""

import dataclasses
import os
import pathlib
import tempfile

from caav_jax.checkpointing import Checkpoints
from caav_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Workdir:
  """The paths of one run's workdir (nothing is created by naming them)."""
  root: pathlib.Path

  @property
  def checkpoints(self) -> pathlib.Path:
    return self.root / 'checkpoints'

  @property
  def best(self) -> pathlib.Path:
    return self.root / 'best'

  def dev_pass(self, step: int) -> pathlib.Path:
    """Where training's dev evaluation after `step` writes its predictions and scores."""
    return self.root / 'eval' / f'step_{step}'

  def evaluation(self, step: int, best: bool = False) -> pathlib.Path:
    """Where --mode=eval writes the outputs of checkpoint `step`."""
    return self.root / 'evaluation' / (f'best_step_{step}' if best else f'step_{step}')

  def features(self, feature_dir: str = '') -> pathlib.Path:
    """The feature cache: `feature_dir` if set (runs that share backbones share it), else here."""
    return pathlib.Path(feature_dir) if feature_dir else self.root / 'features'

  @property
  def train_log(self) -> pathlib.Path:
    return self.root / 'train_log.jsonl'

  @property
  def tensorboard(self) -> pathlib.Path:
    return self.root / 'tensorboard'

  @property
  def benchmark(self) -> pathlib.Path:
    return self.root / 'benchmark'

  @property
  def config(self) -> pathlib.Path:
    return self.root / 'config.json'

  @property
  def predictions(self) -> pathlib.Path:
    return self.root / 'predictions'

  def runs_inside(self) -> list[pathlib.Path]:
    """Folders below this one (two levels at most: a recipe's seed_N/name) that hold a run."""
    found = [*self.root.glob('*/config.json'), *self.root.glob('*/*/config.json')]
    return sorted(path.parent for path in found)

  def latest_step(self) -> int | None:
    """The step of the latest checkpoint, or None when there is none."""
    if not self.checkpoints.is_dir():
      return None
    checkpoints = Checkpoints(self.checkpoints)
    step = checkpoints.latest_step()
    checkpoints.close()
    return step

  def trained_checkpoints(self) -> tuple[Checkpoints, str]:
    """The checkpoints to read the trained model from: best on dev if any, else the latest.

    Returns:
      (checkpoints, 'best' or 'latest'); the caller closes them.

    Raises:
      FileNotFoundError: naming the workdir, when it holds no checkpoint.
    """
    for directory, which in ((self.best, 'best'), (self.checkpoints, 'latest')):
      if directory.is_dir():
        checkpoints = Checkpoints(directory)
        if checkpoints.latest_step() is not None:
          return checkpoints, which
        checkpoints.close()
    raise FileNotFoundError(f'{self.root}: no checkpoint of a training run (looked in '
                            f'{self.best.name}/ and {self.checkpoints.name}/)')

  def checkpoint(self, which: str) -> tuple[Checkpoints, int, bool]:
    """The checkpoint that `config.eval.checkpoint` names: 'best', 'latest' or a step number.

    'best' falls back to the latest for a run without dev passes (the recipe's).

    Returns:
      (checkpoints, step, whether it is the best-on-dev one); the caller closes them.

    Raises:
      FileNotFoundError: naming the workdir, when there is no such checkpoint.
      ConfigError: for a setting that is none of the three.
    """
    if which == 'best':
      checkpoints, found = self.trained_checkpoints()
      return checkpoints, checkpoints.latest_step(), found == 'best'
    if which != 'latest' and not which.isdigit():
      raise ConfigError(f"config.eval.checkpoint must be 'best', 'latest' or a step number, "
                        f'not {which!r}')
    checkpoints = Checkpoints(self.checkpoints)
    step = checkpoints.latest_step() if which == 'latest' else int(which)
    if step is None:
      checkpoints.close()
      raise FileNotFoundError(f'{self.root}: no checkpoint to evaluate; train first with '
                              f'--mode=train and the same --workdir')
    return checkpoints, step, False


def create_writable(workdir: str | os.PathLike) -> pathlib.Path:
  """Creates `workdir` if needed and checks that files can be written in it.

  Raises:
    ConfigError: naming the folder and what the system said.
  """
  path = pathlib.Path(workdir)
  try:
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path, prefix='.write-test-'):
      pass
  except OSError as error:
    raise ConfigError(f'--workdir {path}: cannot write there '
                      f'({error.strerror or error}: {error.filename or path})') from error
  return path
