"""Two processes joined by jax.distributed (CPU, 2 devices each) train like one process with 4."""

import json
import socket
import subprocess
import sys

import numpy as np

from tests.entry_point import ROOT, environment, run_main, tiny_args

SETTINGS = ('--config.data.batch_size=4', '--config.train.steps=3',
            '--config.train.checkpoint_every=100')


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def losses(workdir) -> list[float]:
  lines = (workdir / 'train_log.jsonl').read_text().splitlines()
  return [record['loss'] for record in map(json.loads, lines) if 'loss' in record]


def test_two_processes_give_the_losses_of_one_process_with_four_devices(tmp_path, mini_dataset):
  raw, data = mini_dataset
  single = run_main(*tiny_args(tmp_path / 'single', raw, data, *SETTINGS), devices=4)
  assert single.returncode == 0, single.stderr[-2000:]

  workdir, port = tmp_path / 'two_processes', free_port()
  processes = [subprocess.Popen(
      [sys.executable, '-m', 'caav_jax.main', *tiny_args(workdir, raw, data, *SETTINGS),
       '--config.distributed.initialize=True',
       f'--config.distributed.coordinator_address=localhost:{port}',
       '--config.distributed.num_processes=2', f'--config.distributed.process_id={index}'],
      cwd=ROOT, env=environment(devices=2), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True) for index in (0, 1)]
  outputs = [process.communicate(timeout=300) for process in processes]
  for process, (_, err) in zip(processes, outputs):
    assert process.returncode == 0, err[-3000:]
  assert 'step 3/3' in outputs[0][0] and 'step 3/' not in outputs[1][0]  # process 0 reports
  assert len(losses(workdir)) == len(losses(tmp_path / 'single')) == 3
  # The same windows in each global batch, rows in another order: equal up to summation order.
  np.testing.assert_allclose(losses(workdir), losses(tmp_path / 'single'), rtol=1e-5)
  assert (workdir / 'checkpoints' / '3').is_dir()
