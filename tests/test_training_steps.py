"""The train step: several steps per call equal one per call; 4 forced host devices equal 1."""

import json
import os
import pathlib
import subprocess
import sys

from flax import nnx
import jax
import numpy as np
import optax
import pytest

from caav_jax.errors import ConfigError
from caav_jax.models.emotion_model import EmotionModel
from caav_jax.training import sharding
from caav_jax.training import stages
from caav_jax.training import steps
from configs import default
from tests.model_builders import build


ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_four_devices_match_one_device():
  env = {**os.environ, 'PYTHONPATH': str(ROOT)}
  result = subprocess.run([sys.executable, '-m', 'tests.data_parallel_check'], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout)
  assert report['devices'] == 4 and report['shards_1'] == 1 and report['shards_4'] == 4
  # Losses agree to float32 rounding of sums taken in another order (seen:
  # 2e-5, then 4e-5 after an Adam update, which divides by √v and so magnifies
  # rounding in the smallest gradients). Batch statistics or a CCC computed
  # per device on 2 clips instead of over the 8-clip batch would not agree.
  assert abs(report['losses_1'][0] - report['losses_4'][0]) < 1e-4, report
  assert abs(report['losses_1'][1] - report['losses_4'][1]) < 1e-3, report
  assert report['losses_1'][1] != report['losses_1'][0]  # the update changed the model
  assert report['max_w_difference'] < 1e-3, report


def tiny_fusion_head():
  model = build(lambda rngs: EmotionModel(fusion='cam', visual_width=1 / 16, audio_width=1 / 16,
                                          rngs=rngs))
  stages.set_training(model, 'fusion', True)  # dropout on: its keys must follow the steps
  trained, _ = steps.runnable(model, on_features=True)
  return trained, nnx.Optimizer(trained, optax.adam(1e-2), wrt=stages.trainable('fusion'))


def test_steps_in_one_call_equal_one_call_per_step():
  """train_steps over 3 stacked batches = 3 calls of one batch: losses, parameters, Adam state."""
  features = tiny_fusion_head()[0].fusion.cross_attention.w.shape[0]
  rng = np.random.default_rng(0)
  batches = [steps.train_batch({
      'audio_features': rng.normal(size=(4, 3, features)).astype(np.float32),
      'visual_features': rng.normal(size=(4, 3, features)).astype(np.float32),
      'targets': rng.uniform(-1, 1, (4, 2)).astype(np.float32)}, steps.FEATURES)
             for _ in range(3)]
  mesh = sharding.data_mesh()
  together, together_optimizer = tiny_fusion_head()
  losses_together = np.asarray(steps.train_steps(
      together, together_optimizer, sharding.stack_batches(batches, mesh)))
  apart, apart_optimizer = tiny_fusion_head()
  losses_apart = [float(steps.train_steps(
      apart, apart_optimizer, sharding.stack_batches([batch], mesh))[0])
                  for batch in batches]
  assert losses_together.shape == (3,) and len(set(losses_apart)) == 3
  np.testing.assert_allclose(losses_together, losses_apart, rtol=1e-6)
  assert int(together_optimizer.step[...]) == int(apart_optimizer.step[...]) == 3
  for a, b in zip(jax.tree.leaves(nnx.state((together, together_optimizer))),
                  jax.tree.leaves(nnx.state((apart, apart_optimizer))), strict=True):
    if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
      a, b = jax.random.key_data(a), jax.random.key_data(b)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def test_fewer_than_one_step_per_call_is_refused_by_name():
  config = default.get_config()
  config.train.steps_per_call = 0
  with pytest.raises(ConfigError, match='config.train.steps_per_call must be at least 1, not 0'):
    stages.check_stage(config)
