"""Training on the tiny config: checkpoints, and a resumed run equal to an uninterrupted one."""

import json

from flax import nnx
import jax
import ml_collections
import numpy as np
import pytest

from caav_jax import checkpointing
from caav_jax import train
from caav_jax.input_pipeline import datasets
from caav_jax.training import optimizer as optimizer_lib
from caav_jax.training import stages
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
  optimizer = optimizer_lib.create_optimizer(model, config.train, datasets.steps_per_epoch(config.data))
  checkpoints = checkpointing.Checkpoints(workdir / 'checkpoints')
  iterator = iter(datasets.train_dataset(config.data))
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


def test_a_call_stops_at_the_next_step_that_logs_evaluates_checkpoints_or_ends():
  settings = ml_collections.ConfigDict({'steps': 25, 'steps_per_call': 8, 'log_every': 10,
                                        'eval_every': 0, 'checkpoint_every': 12})
  step, calls = 0, []
  while step < settings.steps:
    calls.append(train.steps_in_next_call(step, settings))
    step += calls[-1]
  # to 8, 10 (log), 12 (checkpoint), 20 (log), 24 (checkpoint), 25 (end)
  assert calls == [8, 2, 2, 8, 4, 1]
  settings.steps_per_call = 1
  assert train.steps_in_next_call(7, settings) == 1
