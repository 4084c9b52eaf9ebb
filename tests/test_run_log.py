"""The run log: JSON lines and TensorBoard scalars, read back with TensorBoard's own reader."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np

from caav_jax.training.run_log import RunLog
from caav_jax.workdir import Workdir
from tests.tensorboard_scalars import scalars


REPO = pathlib.Path(__file__).resolve().parents[1]


def lines(workdir: Workdir) -> list[dict]:
  return [json.loads(line) for line in workdir.train_log.read_text().splitlines()]


def test_records_are_json_lines_and_tensorboard_scalars(tmp_path):
  workdir = Workdir(tmp_path)
  with RunLog(workdir) as log:
    log.record({'loss': 0.25, 'clips_per_s': 3.5, 'learning_rate': 1e-4}, 1)
    log.record({'dev_ccc_arousal': 0.75, 'note': 'not a scalar'.split()}, 2)
  assert lines(workdir) == [
      {'step': 1, 'loss': 0.25, 'clips_per_s': 3.5, 'learning_rate': 1e-4},
      {'step': 2, 'dev_ccc_arousal': 0.75, 'note': ['not', 'a', 'scalar']}]
  read = scalars(workdir.tensorboard)
  assert set(read) == {'loss', 'clips_per_s', 'learning_rate', 'dev_ccc_arousal'}
  assert read['loss'] == [(1, 0.25)] and read['clips_per_s'] == [(1, 3.5)]
  assert read['learning_rate'] == [(1, float(np.float32(1e-4)))]
  assert read['dev_ccc_arousal'] == [(2, 0.75)]


def test_a_resumed_run_drops_the_records_of_steps_it_redoes(tmp_path):
  workdir = Workdir(tmp_path)
  with RunLog(workdir) as log:
    for step in range(1, 6):
      log.record({'loss': step / 10}, step)
  with RunLog(workdir, resumed_at=3) as log:  # the crash lost steps 4 and 5
    for step in range(4, 7):
      log.record({'loss': step / 100}, step)
  assert [(r['step'], r['loss']) for r in lines(workdir)] == [
      (1, 0.1), (2, 0.2), (3, 0.3), (4, 0.04), (5, 0.05), (6, 0.06)]
  np.testing.assert_allclose(scalars(workdir.tensorboard)['loss'],
                             [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.04), (5, 0.05), (6, 0.06)],
                             rtol=1e-6)


def test_only_the_writing_process_creates_files(tmp_path):
  with RunLog(Workdir(tmp_path), writes=False) as log:
    log.record({'loss': 0.5}, 1)
  assert not any(tmp_path.iterdir())


def test_records_written_before_an_abrupt_exit_are_all_readable(tmp_path):
  script = textwrap.dedent(f"""
      import os, pathlib
      from caav_jax.training.run_log import RunLog
      from caav_jax.workdir import Workdir
      log = RunLog(Workdir(pathlib.Path({str(tmp_path)!r})))
      for step in range(3):
        log.record({{'loss': step / 4, 'ccc': 1 - step / 4}}, step)
      os._exit(0)
      """)
  subprocess.run([sys.executable, '-c', script], check=True, cwd=REPO,
                 env={**os.environ, 'PYTHONPATH': str(REPO)})
  workdir = Workdir(tmp_path)
  assert [r['step'] for r in lines(workdir)] == [0, 1, 2]
  read = scalars(workdir.tensorboard)
  assert read['loss'] == [(step, step / 4) for step in range(3)]
  assert read['ccc'] == [(step, 1 - step / 4) for step in range(3)]
