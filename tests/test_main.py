"""The entry point: configuration errors as one line, a missing corpus explained, SIGTERM saves."""

import json
import re
import signal

from caav_jax.checkpointing import Checkpoints
from tests.entry_point import run_main
from tests.entry_point import start_main
from tests.entry_point import tiny_args


def test_a_missing_recola_folder_says_how_to_obtain_it(tmp_path):
  result = run_main('--config=configs/tiny.py', f'--workdir={tmp_path / "w"}',
                    f'--config.data.raw_dir={tmp_path / "RECOLA"}',
                    f'--config.data.data_dir={tmp_path / "tfds"}')
  assert result.returncode != 0
  message = result.stderr.strip().splitlines()[-1]
  assert message.startswith('caav_jax: ') and str(tmp_path / 'RECOLA') in message
  assert 'data.raw_dir' in message and 'configs/synthetic.py' in message
  assert 'Traceback' not in result.stderr


def test_an_unknown_stage_is_one_line_naming_the_setting(tmp_path, mini_dataset):
  raw, data = mini_dataset
  result = run_main('--config=configs/tiny.py', f'--workdir={tmp_path / "w"}',
                    f'--config.data.raw_dir={raw}', f'--config.data.data_dir={data}',
                    '--config.train.stage=fusoin')
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert "config.train.stage must be one of" in result.stderr and 'fusoin' in result.stderr


def test_sigterm_saves_a_checkpoint_then_exits_and_the_run_resumes(tmp_path, mini_dataset):
  raw, data = mini_dataset
  workdir = tmp_path / 'w'
  args = tiny_args(workdir, raw, data, '--config.train.steps=100000',
                   '--config.train.checkpoint_every=100000')
  process = start_main(*args)
  for line in process.stdout:
    if line.startswith('step 3/'):
      process.send_signal(signal.SIGTERM)
      break
  out, err = process.communicate(timeout=300)
  assert process.returncode == 0, err[-2000:]
  saved = int(re.search(r'SIGTERM: saved step (\d+)', out).group(1))
  assert saved >= 3
  checkpoints = Checkpoints(workdir / 'checkpoints')
  assert checkpoints.latest_step() == saved
  checkpoints.close()
  result = run_main(*args[:-2], f'--config.train.steps={saved + 1}')
  assert result.returncode == 0, result.stderr[-2000:]
  assert f'resumed from step {saved}' in result.stdout
  steps = [json.loads(line)['step'] for line in (workdir / 'train_log.jsonl').read_text().splitlines()]
  assert steps[-1] == saved + 1 and steps.count(saved + 1) == 1


def test_a_platform_without_devices_is_one_line(tmp_path, monkeypatch):
  monkeypatch.setenv('JAX_PLATFORMS', 'cuda')  # what CAAV_ACCELERATOR=cuda12 sets; no GPU here
  result = run_main('--config=configs/tiny.py', f'--workdir={tmp_path}')
  assert result.returncode == 1 and 'Traceback' not in result.stderr
  line = result.stderr.strip().splitlines()[-1]
  assert line.startswith('caav_jax: JAX_PLATFORMS=cuda: no such device on this machine (')
  assert line.endswith('unset CAAV_ACCELERATOR (./run.sh) or JAX_PLATFORMS to run on the CPU')
