"""Times one fusion-stage epoch on cached features at RECOLA's size: input pipeline and train step.

  python -m caav_jax.benchmark.feature_epoch [--fusions=cam,concat] [--recordings=18] [--batch_size=16]
      [--steps_per_call=25]

The feature cache of a RECOLA-sized corpus (18 recordings of 7,501 steps:
5 min at 25 fps, 7,306 training windows each with the paper's window and
label delays) is written into a temporary folder with random features at
the backbones' width (1024 each at full width); labels are random and every
face is found. One epoch then runs as train.py runs it: the Grain train
pipeline reading the cache, `train_steps` on the model's fusion and head
(`steps.runnable`) for `steps_per_call` batches at a time, the losses fetched
after every call. Also timed alone: the pipeline (batches drawn, no step)
and the steps (one call's batches, repeated).
"""

from collections.abc import Iterator
import itertools
import json
import pathlib
import tempfile
import time

from absl import app
from absl import flags
from flax import nnx
import jax
import ml_collections
import numpy as np

from caav_jax.input_pipeline import datasets
from caav_jax.input_pipeline import feature_cache
from caav_jax.input_pipeline.windows import train_windows
from caav_jax.training import optimizer as optimizer_lib
from caav_jax.training import sharding
from caav_jax.training import stages
from caav_jax.training import steps as steps_lib
from configs import default
from data_pipelines.recola.recording import RecordingSummary


_FUSIONS = flags.DEFINE_list('fusions', ['cam', 'cam_concat', 'concat', 'sum'],
                             'Fusions to time.')
_RECORDINGS = flags.DEFINE_integer('recordings', 18, 'Recordings in the corpus.')
_STEPS = flags.DEFINE_integer('steps', 7501, 'Steps (40 ms) per recording.')
_WIDTH = flags.DEFINE_float('width', 1.0, 'Backbone width multiplier (1: 1024 features).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 16, 'Windows per step (the paper: 16).')
_STEPS_PER_CALL = flags.DEFINE_integer('steps_per_call', 25,
                                       'Steps per compiled call (config.train.steps_per_call).')
_CALL_REPEATS = flags.DEFINE_integer('call_repeats', 20, 'Calls timed for the steps alone.')
_JSON = flags.DEFINE_string('json', None, 'Optional path for the figures as JSON.')


def write_cache(directory: pathlib.Path, config: ml_collections.ConfigDict,
                recordings: int, steps: int) -> list[RecordingSummary]:
  """Random features of `recordings` train recordings; their summaries (random labels)."""
  abstract = nnx.eval_shape(lambda: stages.create_model(config, initialise_backbones=False))
  rng = np.random.default_rng(0)
  rows = steps - config.data.subseq_frames + 1
  summaries = []
  for number in range(1, recordings + 1):
    name = f'train_{number}'
    for modality in feature_cache.MODALITIES:
      path = feature_cache.feature_path(directory, 'train', name, modality)
      path.parent.mkdir(parents=True, exist_ok=True)
      width = getattr(abstract, modality).features
      np.save(path, rng.standard_normal((rows, width), dtype=np.float32))
    summaries.append(RecordingSummary(name, rng.uniform(-1, 1, (steps, 2)).astype(np.float32),
                                      np.ones(steps, bool)))
  return summaries


def time_fusion(config: ml_collections.ConfigDict, recordings: list[RecordingSummary],
                directory: pathlib.Path) -> dict:
  """Seconds of one epoch (pipeline + steps, as in training), of the pipeline alone, of the steps alone."""
  data, per_call = config.data, config.train.steps_per_call
  windows = len(train_windows(data, recordings))
  steps = windows // data.batch_size
  model = stages.create_model(config, initialise_backbones=False)
  trained, inputs = steps_lib.runnable(model, on_features=True)
  optimizer = optimizer_lib.create_optimizer(trained, config.train, steps,
                                             wrt=stages.trainable('fusion'))
  mesh = sharding.data_mesh()
  nnx.update((model, optimizer), sharding.replicate(nnx.state((model, optimizer)), mesh))
  stages.set_training(model, 'fusion', True)
  steps_fn = nnx.cached_partial(steps_lib.train_steps, trained, optimizer)

  def calls(with_steps: bool) -> Iterator[dict]:
    batches = iter(datasets.train_dataset(data, num_epochs=1, features_dir=directory,
                                                recordings=recordings,
                                                prefetch_batches=max(2, per_call)))
    while chunk := list(itertools.islice(batches, per_call)):
      if len(chunk) == per_call:  # a shorter last call would compile another program
        stacked = sharding.stack_batches([steps_lib.train_batch(b, inputs) for b in chunk], mesh)
        if with_steps:
          np.asarray(steps_fn(stacked))
        yield stacked

  def epoch(with_steps: bool) -> float:
    chunks = calls(with_steps)
    next(chunks)  # compiles; not timed
    start = time.perf_counter()
    timed = sum(1 for _ in chunks) * per_call
    return (time.perf_counter() - start) * steps / timed

  together = epoch(with_steps=True)
  pipeline = epoch(with_steps=False)
  stacked = next(calls(with_steps=False))
  times = []
  for _ in range(_CALL_REPEATS.value):
    start = time.perf_counter()
    np.asarray(steps_fn(stacked))
    times.append((time.perf_counter() - start) / per_call)
  step_s = float(np.median(times))
  return {'fusion': config.model.fusion, 'windows': windows, 'steps': steps,
          'batch_size': data.batch_size, 'steps_per_call': per_call, 'epoch_s': together,
          'pipeline_epoch_s': pipeline, 'step_ms_median': step_s * 1e3,
          'step_epoch_s': step_s * steps}


def main(argv):
  del argv
  config = default.get_config()
  config.train.stage = 'fusion'
  config.model.visual_width = config.model.audio_width = _WIDTH.value
  config.data.batch_size = _BATCH_SIZE.value
  config.train.steps_per_call = _STEPS_PER_CALL.value
  results = []
  with tempfile.TemporaryDirectory(prefix='feature_epoch_') as folder:
    directory = pathlib.Path(folder)
    recordings = write_cache(directory, config, _RECORDINGS.value, _STEPS.value)
    for fusion in _FUSIONS.value:
      config.model.fusion = fusion
      results.append(time_fusion(config, recordings, directory))
      row = results[-1]
      print(f"{fusion}: epoch {row['epoch_s']:.1f} s ({row['windows']:,} windows, "
            f"{row['steps']:,} steps); pipeline alone {row['pipeline_epoch_s']:.1f} s, "
            f"step alone {row['step_ms_median']:.2f} ms = {row['step_epoch_s']:.1f} s",
            flush=True)
  print(f'\n{jax.devices()[0].device_kind}, {_RECORDINGS.value} recordings × {_STEPS.value} '
        f'steps, width {_WIDTH.value:g}, batch {config.data.batch_size}, '
        f'{config.train.steps_per_call} steps per call\n')
  print('| fusion | epoch s | pipeline alone s | step alone ms (× steps = s) |')
  print('|---|---|---|---|')
  for row in results:
    print(f"| {row['fusion']} | {row['epoch_s']:.1f} | {row['pipeline_epoch_s']:.1f} | "
          f"{row['step_ms_median']:.2f} ({row['step_epoch_s']:.1f}) |")
  if _JSON.value:
    pathlib.Path(_JSON.value).write_text(json.dumps(results, indent=2) + '\n')


if __name__ == '__main__':
  app.run(main)
