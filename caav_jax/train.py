"""Training: builds the data if needed, then runs the jitted data-parallel step with checkpoints."""

import json
import pathlib
import time

from absl import logging
from flax import nnx
import jax
import ml_collections
import numpy as np
import optax

from caav_jax import checkpointing
from caav_jax import input_pipeline
from caav_jax import train_step as train_step_lib
from caav_jax.models import factory
from data_pipelines.recola import recola_dataset_builder


def ensure_dataset(data: ml_collections.ConfigDict) -> None:
  """Builds the TFDS dataset from `data.raw_dir` unless it is already built."""
  try:
    recola_dataset_builder.load(data.data_dir, data.crop_size, data.face_source)
  except FileNotFoundError:
    logging.info('Building the dataset from %s into %s.', data.raw_dir, data.data_dir)
    recola_dataset_builder.prepare(data.raw_dir, data.data_dir, data.crop_size,
                                   data.face_source)


def steps_per_epoch(data: ml_collections.ConfigDict) -> int:
  """Batches in one pass over the training windows (all processes together)."""
  windows = input_pipeline.train_windows(data, input_pipeline.split_recordings(data, 'train'))
  return max(1, len(windows) // data.batch_size)


def create_model(config: ml_collections.ConfigDict) -> nnx.Module:
  """The configured model, initialised in one compiled program.

  The non-partitionable threefry keeps that program small: with the default,
  XLA compiles a random-number routine per kernel shape (over a minute for a
  tiny I3D on a 2-core CPU, against about 14 s).
  """
  with jax.threefry_partitionable(False):
    return nnx.jit(lambda: factory.create_model(config, nnx.Rngs(config.train.seed)))()


def learning_rate_schedule(train: ml_collections.ConfigDict,
                           steps_per_epoch: int) -> optax.Schedule:
  """The paper's: constant, then × decay_factor every decay_every_epochs after decay_start_epoch."""
  return optax.exponential_decay(
      train.learning_rate, transition_steps=train.decay_every_epochs * steps_per_epoch,
      decay_rate=train.decay_factor,
      transition_begin=train.decay_start_epoch * steps_per_epoch, staircase=True)


def create_optimizer(model: nnx.Module, train: ml_collections.ConfigDict,
                     steps_per_epoch: int) -> nnx.Optimizer:
  """Adam on the paper's schedule, with optional global-norm clipping."""
  tx = optax.adam(learning_rate_schedule(train, steps_per_epoch))
  if train.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(train.grad_clip_norm), tx)
  return nnx.Optimizer(model, tx, wrt=nnx.Param)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> float:
  """Trains `config.train.steps` steps, resuming from the latest checkpoint in `workdir`.

  Returns:
    The last step's loss.

  Raises:
    FloatingPointError: naming the step, when the loss is not finite (the
      last good checkpoint is kept).
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  ensure_dataset(config.data)
  model = create_model(config)
  optimizer = create_optimizer(model, config.train, steps_per_epoch(config.data))
  mesh = train_step_lib.data_mesh()
  nnx.update((model, optimizer), train_step_lib.replicate(nnx.state((model, optimizer)), mesh))
  iterator = iter(input_pipeline.train_dataset(
      config.data, process_index=jax.process_index(), process_count=jax.process_count()))
  checkpoints = checkpointing.Checkpoints(workdir / 'checkpoints',
                                          config.train.checkpoints_to_keep)
  step = 0
  if checkpoints.latest_step() is not None:
    step = checkpoints.restore(model, optimizer, iterator)
    logging.info('Resumed from step %d.', step)
  model.train()
  loss = float('nan')
  start, start_step = time.perf_counter(), step
  with open(workdir / 'train_log.jsonl', 'a') as log:
    while step < config.train.steps:
      batch = train_step_lib.shard_batch(next(iterator), mesh)
      loss = float(train_step_lib.train_step(model, optimizer, batch))
      step += 1
      if not np.isfinite(loss):
        raise FloatingPointError(f'loss is {loss} at step {step}; stopping. The last '
                                 f'good checkpoint is step {checkpoints.latest_step()}.')
      if step % config.train.log_every == 0 or step == config.train.steps:
        seconds = time.perf_counter() - start
        rate = (step - start_step) * config.data.batch_size / seconds
        eta = (config.train.steps - step) * config.data.batch_size / rate
        log.write(json.dumps({'step': step, 'loss': loss, 'clips_per_s': rate}) + '\n')
        log.flush()
        print(f'step {step}/{config.train.steps}  loss {loss:.4f}  {rate:.2f} clips/s  '
              f'ETA {eta / 60:.1f} min', flush=True)
      if step % config.train.checkpoint_every == 0 or step == config.train.steps:
        checkpoints.save(step, model, optimizer, iterator)
  checkpoints.close()
  return loss
