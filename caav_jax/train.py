"""Training: builds the data if needed, then runs the jitted data-parallel step with dev evaluation and checkpoints.

A workdir holds:
  checkpoints/          the last `checkpoints_to_keep` checkpoints (model, optimizer, data order)
  best/                 the checkpoint with the best dev CCC so far, with its scores
  eval/step_<N>/        dev window predictions and scores of each evaluation
  features/             cached backbone features (fusion stage with feature_cache)
  train_log.jsonl       one JSON line per logged step and per evaluation
  tensorboard/          TensorBoard event files of the same figures
"""

import json
import pathlib
import time

from absl import logging
from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from caav_jax import backbone_init
from caav_jax import checkpointing
from caav_jax import evaluation
from caav_jax import feature_cache
from caav_jax import input_pipeline
from caav_jax import preemption
from caav_jax import stages
from caav_jax import tensorboard_events
from caav_jax import train_step as train_step_lib
from caav_jax.config_error import ConfigError
from caav_jax.models.emotion_model import FusionHead
from data_pipelines.recola import recola_dataset_builder


def ensure_dataset(data: ml_collections.ConfigDict) -> None:
  """Builds the TFDS dataset from `data.raw_dir` unless it is already built.

  Raises:
    FileNotFoundError: when it is not built and `data.raw_dir` is not a
      folder to build it from; the message lists the crop sizes that are
      built (a config asking for another crop size than the dataset has).
  """
  try:
    recola_dataset_builder.load(data.data_dir, data.crop_size, data.face_source)
  except FileNotFoundError as missing:
    if (not pathlib.Path(data.raw_dir).is_dir()
        and recola_dataset_builder.built_configs(data.data_dir)):
      raise FileNotFoundError(
          f'{missing}; or set config.data.crop_size to a built one. config.data.raw_dir '
          f'({data.raw_dir}) is not a folder to build it from.') from None
    logging.info('Building the dataset from %s into %s.', data.raw_dir, data.data_dir)
    recola_dataset_builder.prepare(data.raw_dir, data.data_dir, data.crop_size,
                                   data.face_source)


def steps_per_epoch(data: ml_collections.ConfigDict) -> int:
  """Batches in one pass over the training windows (all processes together)."""
  windows = input_pipeline.train_windows(data, input_pipeline.split_recordings(data, 'train'))
  return max(1, len(windows) // data.batch_size)


def learning_rate_schedule(train: ml_collections.ConfigDict,
                           steps_per_epoch: int) -> optax.Schedule:
  """The paper's: constant, then × decay_factor every decay_every_epochs after decay_start_epoch."""
  return optax.exponential_decay(
      train.learning_rate, transition_steps=train.decay_every_epochs * steps_per_epoch,
      decay_rate=train.decay_factor,
      transition_begin=train.decay_start_epoch * steps_per_epoch, staircase=True)


def create_optimizer(model: nnx.Module, train: ml_collections.ConfigDict,
                     steps_per_epoch: int, wrt: nnx.filterlib.Filter = nnx.Param
                     ) -> nnx.Optimizer:
  """Adam on the paper's schedule over the `wrt` parameters, with optional global-norm clipping."""
  tx = optax.adam(learning_rate_schedule(train, steps_per_epoch))
  if train.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(train.grad_clip_norm), tx)
  return nnx.Optimizer(model, tx, wrt=wrt)


def features_for_training(config: ml_collections.ConfigDict, workdir: pathlib.Path,
                          model: nnx.Module, *, force: bool = False) -> pathlib.Path | None:
  """The feature cache to train on (extracting it first if missing, stale or forced), or None.

  Only the fusion stage has frozen backbones to cache; other stages ignore
  `config.train.feature_cache`.
  """
  if not (config.train.feature_cache and config.train.stage == 'fusion'):
    return None
  directory = feature_cache.cache_directory(config, workdir)
  expected = feature_cache.fingerprint(config, backbone_init.describe_sources(config))
  if force or not feature_cache.is_current(directory, expected,
                                           feature_cache.modalities(model)):
    print(f'extracting backbone features into {directory} ...', flush=True)
    feature_cache.extract(config, model, directory, expected)
  return directory


def extract_features(config: ml_collections.ConfigDict, workdir: str) -> pathlib.Path:
  """--mode=extract_features: runs the fusion stage's frozen backbones once over every sub-sequence."""
  if config.train.stage != 'fusion' or not config.train.feature_cache:
    raise ConfigError('--mode=extract_features caches the frozen backbones of the fusion '
                     'stage: set config.train.stage=fusion and config.train.feature_cache=True')
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  ensure_dataset(config.data)
  return features_for_training(config, workdir, stages.create_model(config), force=True)


def evaluate_on_dev(model: nnx.Module, config: ml_collections.ConfigDict,
                    mesh: jax.sharding.Mesh, features_dir: pathlib.Path | None,
                    output_dir: pathlib.Path | None) -> dict:
  """Dev scores of the model (eval mode); window predictions and scores go to `output_dir`."""
  stages.set_training(model, config.train.stage, False)
  predictions = evaluation.predict_split(model, config.data, 'dev', mesh, features_dir)
  golds = evaluation.gold_standard(predictions.recordings, config.data.dimensions)
  result = evaluation.scores(evaluation.frame_predictions(predictions, config.data), golds,
                             predictions.recordings, config.data.dimensions)
  if output_dir is not None:
    evaluation.save_window_predictions(output_dir, predictions)
    (output_dir / 'scores.json').write_text(json.dumps(result, indent=2, sort_keys=True))
  return result


@jax.jit
def _all_finite(params) -> jax.Array:
  return jnp.all(jnp.stack([jnp.isfinite(p).all() for p in jax.tree.leaves(params)]))


def _last_good(checkpoints: checkpointing.Checkpoints) -> str:
  step = checkpoints.latest_step()
  if step is None:
    return 'No checkpoint was written before.'
  return f'The last good checkpoint, step {step}, is kept in {checkpoints.directory}.'


def _forget_logged_steps_after(log_path: pathlib.Path, step: int) -> None:
  """Drops train-log lines of steps after `step` (written before a crash, redone on resume)."""
  if not log_path.is_file():
    return
  lines = log_path.read_text().splitlines(keepends=True)
  kept = [line for line in lines if line.strip() and json.loads(line)['step'] <= step]
  if len(kept) < len(lines):
    partial = log_path.with_suffix('.partial')
    partial.write_text(''.join(kept))
    partial.replace(log_path)


def steps_in_next_call(step: int, train: ml_collections.ConfigDict) -> int:
  """Steps the next call of `train_steps` runs after `step`.

  `train.steps_per_call`, cut short at the next step that logs, evaluates,
  checkpoints or ends the run, so these happen at the same steps whatever
  the setting.
  """
  periods = [p for p in (train.log_every, train.eval_every, train.checkpoint_every) if p > 0]
  next_event = min([train.steps] + [(step // p + 1) * p for p in periods])
  return min(train.steps_per_call, next_event - step)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> float:
  """Trains `config.train.steps` steps, resuming from the latest checkpoint in `workdir`.

  SIGTERM makes the loop save a checkpoint after the current call and return.

  Returns:
    The last step's loss.

  Raises:
    FloatingPointError: naming the step, when the loss or, at a checkpoint,
      a parameter is not finite (no checkpoint of non-finite parameters is
      written; the last good one is kept).
  """
  train = config.train
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  writes = jax.process_index() == 0
  ensure_dataset(config.data)
  model = stages.create_model(config)
  features_dir = features_for_training(config, workdir, model)
  # On cached features, the step needs only the fusion and head (their variables are the model's).
  trained = model if features_dir is None else FusionHead(model)
  optimizer = create_optimizer(trained, train, steps_per_epoch(config.data),
                               wrt=stages.trainable(train.stage))
  schedule = learning_rate_schedule(train, steps_per_epoch(config.data))
  mesh = train_step_lib.data_mesh()
  nnx.update((model, optimizer), train_step_lib.replicate(nnx.state((model, optimizer)), mesh))
  iterator = iter(input_pipeline.train_dataset(
      config.data, process_index=jax.process_index(), process_count=jax.process_count(),
      features_dir=features_dir, prefetch_batches=max(2, train.steps_per_call)))
  checkpoints = checkpointing.Checkpoints(workdir / backbone_init.CHECKPOINT_DIRECTORY,
                                          train.checkpoints_to_keep)
  best = checkpointing.Checkpoints(workdir / backbone_init.BEST_DIRECTORY, 1)
  step, best_score = 0, -np.inf
  if checkpoints.latest_step() is not None:
    step = checkpoints.restore(model, optimizer, iterator)
    if writes:
      _forget_logged_steps_after(workdir / 'train_log.jsonl', step)
    print(f'resumed from step {step}', flush=True)
  if best.latest_step() is not None:
    best_score = best.metrics()['ccc_mean']
  loss = float('nan')
  start, start_step = time.perf_counter(), step
  with (preemption.StopRequest() as stop,
        tensorboard_events.EventWriter(workdir / 'tensorboard') as events,
        open(workdir / 'train_log.jsonl', 'a') as log):

    def record(values: dict, step: int) -> None:
      if writes:
        log.write(json.dumps({'step': step, **values}) + '\n')
        log.flush()
        events.scalars({k: v for k, v in values.items() if np.isscalar(v)}, step)

    stages.set_training(model, train.stage, True)
    # Traverses the model and optimizer graphs once, not at every call (50 ms a step on the demo).
    steps_fn = nnx.cached_partial(train_step_lib.train_steps, trained, optimizer)
    while step < train.steps and not stop.requested:
      count = steps_in_next_call(step, train)
      batches = [next(iterator) for _ in range(count)]
      losses = np.asarray(steps_fn(train_step_lib.stack_batches(batches, mesh)))
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
        record({'loss': loss, 'clips_per_s': rate,
                'learning_rate': float(schedule(step - 1))}, step)
        if writes:
          print(f'step {step}/{train.steps}  loss {loss:.4f}  {rate:.2f} clips/s  '
                f'ETA {eta / 60:.1f} min', flush=True)
      if train.eval_every > 0 and (step % train.eval_every == 0 or finished):
        result = evaluate_on_dev(model, config, mesh, features_dir,
                                 workdir / 'eval' / f'step_{step}' if writes else None)
        stages.set_training(model, train.stage, True)
        record({f'dev_ccc_{dim}': v for dim, v in result['ccc'].items()}
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
