"""--mode=train: builds the data if needed, then runs the data-parallel steps with dev passes and checkpoints.

Resumes from the workdir's latest checkpoint (caav_jax/workdir.py lists
what a workdir holds); SIGTERM saves a checkpoint and returns.
"""

import json
import os
import pathlib
import time

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from caav_jax.atomic_write import atomic_write
from caav_jax.checkpointing import Checkpoints
from caav_jax.evaluation import predict
from caav_jax.input_pipeline import corpora
from caav_jax.input_pipeline import datasets
from caav_jax.training import feature_extraction
from caav_jax.training import optimizer as optimizer_lib
from caav_jax.training import preemption
from caav_jax.training import sharding
from caav_jax.training import stages
from caav_jax.training import steps
from caav_jax.training.run_log import RunLog
from caav_jax.workdir import Workdir
from configs import run_config


def dev_pass(model: nnx.Module, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh,
             features_dir, output_dir) -> dict:
  """Dev scores of the model (eval mode); window predictions and scores go to `output_dir`."""
  stages.set_training(model, config.train.stage, False)
  result = predict.evaluate_split(model, config.data, 'dev', mesh, features_dir)
  stages.set_training(model, config.train.stage, True)
  if output_dir is not None:
    predict.save_window_predictions(output_dir, result.predictions)
    with atomic_write(output_dir / 'scores.json') as file:
      file.write(json.dumps(result.scores, indent=2, sort_keys=True))
  return result.scores


@jax.jit
def _all_finite(params) -> jax.Array:
  return jnp.all(jnp.stack([jnp.isfinite(p).all() for p in jax.tree.leaves(params)]))


def _last_good(checkpoints: Checkpoints) -> str:
  step = checkpoints.latest_step()
  if step is None:
    return 'No checkpoint was written before.'
  return f'The last good checkpoint, step {step}, is kept in {checkpoints.directory}.'


def steps_in_next_call(step: int, train: ml_collections.ConfigDict) -> int:
  """Steps the next call of `train_steps` runs after `step`.

  `train.steps_per_call`, cut short at the next step that logs, evaluates,
  checkpoints or ends the run, so these happen at the same steps whatever
  the setting.
  """
  periods = [p for p in (train.log_every, train.eval_every, train.checkpoint_every) if p > 0]
  next_event = min([train.steps] + [(step // p + 1) * p for p in periods])
  return min(train.steps_per_call, next_event - step)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> float:
  """Trains `config.train.steps` steps, resuming from the latest checkpoint in `workdir`.

  SIGTERM makes the loop save a checkpoint after the current call and return.

  Returns:
    The last step's loss.

  Raises:
    FloatingPointError: naming the step, when the loss or, at a checkpoint,
      a parameter is not finite (no checkpoint of non-finite parameters is
      written; the last good one is kept).
  """
  corpora.check_evaluation(config)
  train = config.train
  workdir = Workdir(pathlib.Path(workdir))
  workdir.root.mkdir(parents=True, exist_ok=True)
  writes = jax.process_index() == 0
  if writes:  # what --mode=eval and --mode=predict read back with --workdir alone
    run_config.save(config, workdir.config)
  datasets.ensure_dataset(config.data)
  model = stages.create_model(config)
  features_dir = feature_extraction.ensure_features(
      config, model, workdir.features(train.feature_dir))
  trained, inputs = steps.runnable(model, on_features=features_dir is not None)
  epoch_steps = datasets.steps_per_epoch(config.data)
  optimizer = optimizer_lib.create_optimizer(trained, train, epoch_steps,
                                             wrt=stages.trainable(train.stage))
  schedule = optimizer_lib.learning_rate_schedule(train, epoch_steps)
  mesh = sharding.data_mesh()
  nnx.update((model, optimizer), sharding.replicate(nnx.state((model, optimizer)), mesh))
  iterator = iter(datasets.train_dataset(
      config.data, process_index=jax.process_index(), process_count=jax.process_count(),
      features_dir=features_dir, prefetch_batches=max(2, train.steps_per_call)))
  checkpoints = Checkpoints(workdir.checkpoints, train.checkpoints_to_keep)
  best = Checkpoints(workdir.best, 1)
  step, best_score, resumed_at = 0, -np.inf, None
  if checkpoints.latest_step() is not None:
    step = resumed_at = checkpoints.restore(model, optimizer, iterator)
    print(f'resumed from step {step}', flush=True)
  if best.latest_step() is not None:
    best_score = best.metrics()['ccc_mean']
  loss = float('nan')
  start, start_step = time.perf_counter(), step
  with (preemption.StopRequest() as stop,
        RunLog(workdir, writes=writes, resumed_at=resumed_at) as log):
    stages.set_training(model, train.stage, True)
    # Traverses the model and optimizer graphs once, not at every call.
    steps_fn = nnx.cached_partial(steps.train_steps, trained, optimizer)
    while step < train.steps and not stop.requested:
      count = steps_in_next_call(step, train)
      batches = [steps.train_batch(next(iterator), inputs) for _ in range(count)]
      losses = np.asarray(steps_fn(sharding.stack_batches(batches, mesh)))
      first_step, step = step + 1, step + count
      if not np.isfinite(losses).all():
        bad = int(np.argmin(np.isfinite(losses)))
        raise FloatingPointError(f'loss is {losses[bad]} at step {first_step + bad}; stopping. '
                                 f'{_last_good(checkpoints)}')
      loss = float(losses[-1])
      finished = step == train.steps
      if step % train.log_every == 0 or finished or stop.requested:
        seconds = time.perf_counter() - start
        rate = (step - start_step) * config.data.batch_size / seconds
        eta = (train.steps - step) * config.data.batch_size / rate
        log.record({'loss': loss, 'clips_per_s': rate,
                    'learning_rate': float(schedule(step - 1))}, step)
        if writes:
          print(f'step {step}/{train.steps}  loss {loss:.4f}  {rate:.2f} clips/s  '
                f'ETA {eta / 60:.1f} min', flush=True)
      if train.eval_every > 0 and (step % train.eval_every == 0 or finished):
        result = dev_pass(model, config, mesh, features_dir,
                          workdir.dev_pass(step) if writes else None)
        log.record({f'dev_ccc_{dim}': v for dim, v in result['ccc'].items()}
                   | {'dev_ccc_mean': result['ccc_mean']}, step)
        if writes:
          print(f'step {step}: dev CCC ' + '  '.join(
              f'{dim} {v:.4f}' for dim, v in result['ccc'].items()), flush=True)
        if result['ccc_mean'] > best_score:
          best_score = result['ccc_mean']
          best.save(step, model, metrics={'step': step, **result})
      if step % train.checkpoint_every == 0 or finished or stop.requested:
        if not _all_finite(nnx.state(model, nnx.Param)):
          raise FloatingPointError(
              f'a parameter is not finite after step {step}; stopping without saving it. '
              f'{_last_good(checkpoints)}')
        checkpoints.save(step, model, optimizer, iterator)
    if stop.requested and writes:
      print(f'SIGTERM: saved step {step}; run the same command again to resume.', flush=True)
  checkpoints.close()
  best.close()
  return loss
