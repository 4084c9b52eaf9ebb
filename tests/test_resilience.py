"""Surviving kills and divergence, and moving a checkpoint between device counts."""

import json
import shutil
import signal

from flax import nnx
import jax
import numpy as np
import pytest

from caav_jax import checkpointing
from caav_jax import train
from caav_jax.training import stages
from configs import tiny
from tests.entry_point import run_main
from tests.entry_point import start_main
from tests.entry_point import tiny_args


def audio_config(raw_dir: str, data_dir: str, **train_settings):
  config = tiny.get_config()
  config.data.raw_dir, config.data.data_dir = raw_dir, data_dir
  config.train.stage, config.train.eval_every = 'unimodal_audio', 0
  config.train.update(train_settings)
  return config


def saved_model(config, workdir, step=None) -> tuple[int, list[np.ndarray]]:
  """A checkpoint's model variables (parameters and batch statistics) as host arrays."""
  model = stages.abstract_model(config)
  checkpoints = checkpointing.Checkpoints(workdir / 'checkpoints')
  step = checkpoints.restore_model(model, step)
  checkpoints.close()
  return step, [np.asarray(jax.random.key_data(leaf)
                           if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf)
                for leaf in jax.tree.leaves(nnx.state(model))]


def logged_losses(workdir) -> dict[int, float]:
  records = [json.loads(line) for line in (workdir / 'train_log.jsonl').read_text().splitlines()]
  steps = [r['step'] for r in records if 'loss' in r]
  assert len(steps) == len(set(steps)), f'a step is logged twice: {steps}'
  return {r['step']: r['loss'] for r in records if 'loss' in r}


def test_kill_9_then_the_same_command_ends_where_an_uninterrupted_run_ends(tmp_path, mini_dataset):
  raw, data = mini_dataset
  args = lambda workdir: tiny_args(workdir, raw, data, '--config.train.steps=30')
  straight = run_main(*args(tmp_path / 'straight'))
  assert straight.returncode == 0, straight.stderr[-2000:]

  process = start_main(*args(tmp_path / 'killed'))
  for line in process.stdout:
    if line.startswith('step 5/30'):
      process.send_signal(signal.SIGKILL)
      break
  process.wait(timeout=300)
  assert process.returncode == -signal.SIGKILL
  again = run_main(*args(tmp_path / 'killed'))
  assert again.returncode == 0, again.stderr[-2000:]
  resumed_from = int(again.stdout.split('resumed from step ')[1].split()[0])
  assert 4 <= resumed_from < 30  # checkpoint_every=2; killed after step 5 was logged

  config = audio_config(raw, data)
  step_a, straight_state = saved_model(config, tmp_path / 'straight')
  step_b, resumed_state = saved_model(config, tmp_path / 'killed')
  assert step_a == step_b == 30
  for a, b in zip(straight_state, resumed_state, strict=True):
    np.testing.assert_array_equal(a, b)  # bitwise: same batches, same programs, same order
  assert logged_losses(tmp_path / 'killed') == logged_losses(tmp_path / 'straight')


def test_divergence_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path,
                                                                            mini_dataset):
  workdir = tmp_path / 'run'
  config = audio_config(*mini_dataset, steps=2, checkpoint_every=2)
  train.train_and_evaluate(config, str(workdir))
  _, good = saved_model(config, workdir, 2)
  # From step 2 on, a NaN learning rate poisons every parameter at step 3's update. Steps
  # 3 and 4 run in one call (cut at the checkpoint): the error names the step within it.
  config = audio_config(*mini_dataset, steps=6, checkpoint_every=2, steps_per_call=3,
                        learning_rate=float('nan'))
  with pytest.raises(FloatingPointError,
                     match=r'loss is nan at step 4; stopping. The last good checkpoint, '
                           r'step 2, is kept in .*checkpoints'):
    train.train_and_evaluate(config, str(workdir))
  checkpoints = checkpointing.Checkpoints(workdir / 'checkpoints')
  assert checkpoints.latest_step() == 2
  checkpoints.close()
  _, kept = saved_model(config, workdir, 2)
  for a, b in zip(good, kept, strict=True):
    np.testing.assert_array_equal(a, b)
  # A checkpoint due right after the poisoned update is not written either.
  config.train.checkpoint_every = 1
  with pytest.raises(FloatingPointError,
                     match=r'a parameter is not finite after step 3; stopping without saving'):
    train.train_and_evaluate(config, str(workdir))
  assert checkpointing.Checkpoints(workdir / 'checkpoints').latest_step() == 2


def test_trained_on_4_devices_resumes_and_evaluates_on_1(tmp_path, mini_dataset):
  raw, data = mini_dataset
  four = tmp_path / 'four_devices'
  settings = ('--config.data.batch_size=4', '--config.train.steps=4',
              '--config.train.eval_every=4')
  result = run_main(*tiny_args(four, raw, data, *settings), devices=4)
  assert result.returncode == 0, result.stderr[-2000:]
  # Resume on 1 device from the 4-device checkpoint of step 2.
  one = tmp_path / 'one_device'
  shutil.copytree(four, one)
  shutil.rmtree(one / 'checkpoints' / '4')
  (one / 'train_log.jsonl').unlink()
  shutil.rmtree(one / 'eval')
  result = run_main(*tiny_args(one, raw, data, *settings), devices=1)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'resumed from step 2' in result.stdout
  losses_four, losses_one = logged_losses(four), logged_losses(one)
  assert sorted(losses_one) == [3, 4]
  for step in (3, 4):
    np.testing.assert_allclose(losses_one[step], losses_four[step], rtol=1e-5)
  # Evaluate the 4-device checkpoint of step 4 on 1 device.
  result = run_main(*tiny_args(four, raw, data, *settings), '--mode=eval',
                    '--config.eval.checkpoint=latest', devices=1)
  assert result.returncode == 0, result.stderr[-2000:]
  on_four = np.load(four / 'eval' / 'step_4' / 'window_predictions.npz')
  on_one = np.load(four / 'evaluation' / 'step_4' / 'window_predictions.npz')
  np.testing.assert_array_equal(on_one['start'], on_four['start'])
  np.testing.assert_allclose(on_one['predictions'], on_four['predictions'], rtol=1e-5, atol=1e-6)
  assert np.ptp(on_one['predictions']) > 0
