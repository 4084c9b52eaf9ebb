"""Training on the tiny config: checkpoints, and a resumed run equal to an uninterrupted one."""

import json

import jax
import numpy as np
import pytest
from flax import nnx

from caav_jax import checkpointing
from caav_jax import stages
from caav_jax import train
from configs import tiny
from data_pipelines.recola import recola_dataset_builder
from tests import mini_corpus


@pytest.fixture(scope='module')
def config(tmp_path_factory, media):
  root = tmp_path_factory.mktemp('train')
  config = mini_corpus.tiny_config_on(root, media, ('train_1', 'train_2', 'dev_1'))
  config.train.eval_every = 0  # dev evaluation is tested in test_training_recipe.py
  # The audio stage compiles in seconds (the I3D's train step: about 35 s); end-to-end training
  # is run by test_recipe.py. Calls of up to 3 steps, cut at the checkpoints every 2 steps.
  config.train.stage = 'unimodal_audio'
  config.train.steps_per_call = 3
  return config


def final_state(config, workdir):
  model = stages.create_model(config)
  optimizer = train.create_optimizer(model, config.train, train.steps_per_epoch(config.data))
  checkpoints = checkpointing.Checkpoints(workdir / 'checkpoints')
  iterator = iter(train.input_pipeline.train_dataset(config.data))
  step = checkpoints.restore(model, optimizer, iterator)
  checkpoints.close()
  return step, jax.tree.leaves(nnx.state(model, nnx.Param))


def logged(workdir):
  lines = (workdir / 'train_log.jsonl').read_text().splitlines()
  return [record for record in map(json.loads, lines) if 'loss' in record]


def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(config, tmp_path):
  config.train.steps = 4
  train.train_and_evaluate(config, str(tmp_path / 'straight'))
  assert recola_dataset_builder.load(config.data.data_dir, 32).is_prepared()  # built on the way
  config.train.steps = 2
  train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  assert checkpointing.Checkpoints(tmp_path / 'resumed' / 'checkpoints').latest_step() == 2
  config.train.steps = 4
  train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  straight, resumed = logged(tmp_path / 'straight'), logged(tmp_path / 'resumed')
  assert [r['step'] for r in resumed] == [1, 2, 3, 4]
  assert [r['loss'] for r in resumed] == [r['loss'] for r in straight]  # same batches, same maths
  step_a, params_a = final_state(config, tmp_path / 'straight')
  step_b, params_b = final_state(config, tmp_path / 'resumed')
  assert step_a == step_b == 4
  for a, b in zip(params_a, params_b):
    np.testing.assert_array_equal(a, b)


def test_the_papers_learning_rate_schedule():
  config = tiny.get_config().train
  config.learning_rate = 1e-4
  schedule = train.learning_rate_schedule(config, steps_per_epoch=10)
  epochs = {0: 1e-4, 14.9: 1e-4, 15: 1e-4, 16.9: 1e-4, 17: 0.8e-4, 18.9: 0.8e-4,
            19: 0.64e-4, 25: 0.8 ** 5 * 1e-4}
  for epoch, rate in epochs.items():
    np.testing.assert_allclose(float(schedule(int(epoch * 10))), rate, rtol=1e-6)
