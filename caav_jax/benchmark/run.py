"""--mode=benchmark: throughput of the train and inference steps per dtype and batch size, and of the input pipeline.

`run(config, workdir)` writes `<workdir>/benchmark/<device>_<count>x.json` and
a markdown table beside it; caav_jax/benchmark/report.py merges the JSON
files of several accelerators into one comparison.
"""

import datetime
import json
import os
import pathlib
import re
import statistics
import time
from typing import Any
from typing import Callable
from typing import Iterator

from flax import nnx
import jax
import ml_collections
import numpy as np

from caav_jax.atomic_write import atomic_write
from caav_jax.benchmark import input_pipeline as input_pipeline_benchmark
from caav_jax.benchmark import parts
from caav_jax.benchmark import peaks
from caav_jax.benchmark import report
from caav_jax.benchmark.flops import program_flops
from caav_jax.errors import ConfigError
from caav_jax.errors import ResultsFileError
from caav_jax.input_pipeline import datasets
from caav_jax.input_pipeline import log_mel
from caav_jax.training import optimizer as optimizer_lib
from caav_jax.training import sharding
from caav_jax.training import stages
from caav_jax.training import steps
from caav_jax.workdir import Workdir
from data_pipelines.recola.audio import SAMPLES_PER_STEP


def device_slug(device_kind: str) -> str:
  """A file-name-safe form of a device kind: 'NVIDIA H100 80GB HBM3' → 'nvidia_h100_80gb_hbm3'."""
  return re.sub(r'[^a-z0-9]+', '_', device_kind.lower()).strip('_')


def random_batch(config: ml_collections.ConfigDict, seed: int = 0) -> dict[str, np.ndarray]:
  """This process's share of a random batch, shaped as the input pipeline's (clip-mean targets)."""
  data = config.data
  rows = data.batch_size // jax.process_count()
  subseqs = data.clip_frames // data.subseq_frames
  spectrogram_frames = 1 + data.subseq_frames * SAMPLES_PER_STEP // log_mel.HOP_LENGTH
  rng = np.random.default_rng(seed)
  return {
      'frames': rng.integers(0, 256, (rows, subseqs, data.subseq_frames, data.image_size,
                                      data.image_size, 3), dtype=np.uint8),
      'spectrograms': rng.uniform(-1, 1, (rows, subseqs, log_mel.N_MELS, spectrogram_frames)
                                  ).astype(np.float32),
      'targets': rng.uniform(-1, 1, (rows, len(data.dimensions))).astype(np.float32),
  }


def random_features(model: nnx.Module, config: ml_collections.ConfigDict,
                    seed: int = 0) -> dict[str, np.ndarray]:
  """This process's share of a batch of cached backbone features (the fusion stage's input)."""
  data = config.data
  rows = data.batch_size // jax.process_count()
  subseqs = data.clip_frames // data.subseq_frames
  rng = np.random.default_rng(seed)
  batch = {'targets': rng.uniform(-1, 1, (rows, len(data.dimensions))).astype(np.float32)}
  for modality in ('audio', 'visual'):
    backbone = getattr(model, modality)
    if backbone is not None:
      batch[f'{modality}_features'] = rng.normal(
          size=(rows, subseqs, backbone.features)).astype(np.float32)
  return batch


def compiled_memory_bytes(compiled) -> int | None:
  """XLA's estimate of one device's memory for the program: arguments, outputs and temporaries."""
  stats = compiled.memory_analysis()
  if stats is None:
    return None
  return (stats.argument_size_in_bytes + stats.output_size_in_bytes
          + stats.temp_size_in_bytes - stats.alias_size_in_bytes)


def peak_memory_bytes() -> int | None:
  """The highest memory in use so far on any local device (a high-water mark), if reported."""
  peaks = [(device.memory_stats() or {}).get('peak_bytes_in_use')
           for device in jax.local_devices()]
  peaks = [peak for peak in peaks if peak is not None]
  return max(peaks) if peaks else None


def measure_step(label: str, step: Callable, args: tuple,
                 config: ml_collections.ConfigDict) -> dict[str, Any]:
  """Compiles `step` for `args`, runs it warmup_steps times, then times timed_steps calls.

  Args:
    label: the row's step kind: 'train', 'train_on_features', 'inference', or
      a part of the train step ('visual_tower', 'audio_tower', 'fusion_head').
    step: an `nnx.jit` function.
    args: its arguments (the model, and the optimizer when training, are updated in place).
    config: the configuration the model and batch were made from.

  Returns:
    The row of figures (see `run`).
  """
  batch_size = config.data.batch_size
  print(f'{label} {config.model.dtype} batch {batch_size}: ', end='', flush=True)
  start = time.perf_counter()
  lowered = step.lower(*args)
  compiled = lowered.compile()
  compile_s = time.perf_counter() - start
  for _ in range(config.benchmark.warmup_steps):
    jax.block_until_ready(compiled(*args))
  step_times_s = []
  for _ in range(config.benchmark.timed_steps):
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    step_times_s.append(time.perf_counter() - start)
  median_s = statistics.median(step_times_s)
  clips_per_s = batch_size / median_s
  flops = program_flops(lowered)
  peak = peaks.peak_tflops(jax.devices()[0].device_kind, config.model.dtype)
  row = {
      'step': label, 'dtype': config.model.dtype, 'batch_size': batch_size,
      'compile_s': compile_s, 'step_times_s': step_times_s,
      'step_time_median_s': median_s,
      'step_time_p90_s': float(np.percentile(step_times_s, 90)),
      'clips_per_s': clips_per_s,
      'frames_per_s': clips_per_s * config.data.clip_frames,
      'flops_per_step': flops,
      'tflops_per_s': None if flops is None else flops / median_s / 1e12,
      'fraction_of_peak': None if flops is None or peak is None else flops / median_s / 1e12 / peak,
      'peak_memory_bytes': peak_memory_bytes(),
      'program_memory_bytes': compiled_memory_bytes(compiled),
  }
  print(f'compile {compile_s:.1f} s, {median_s * 1e3:.1f} ms/step median '
        f'(p90 {row["step_time_p90_s"] * 1e3:.1f}), {clips_per_s:.2f} clips/s, '
        f'{report.cell(row["tflops_per_s"], ".3g")} TFLOP/s', flush=True)
  return row


def measure_dtype(config: ml_collections.ConfigDict, batch_sizes: list[int]
                  ) -> Iterator[dict[str, Any]]:
  """Yields the train and inference rows of one compute dtype; one model serves every batch size.

  For the fusion stage, a `train_on_features` row times the same step on
  cached backbone features, against `train` on pixels through the frozen
  backbones. For the end-to-end stage, rows `visual_tower`, `audio_tower`
  and `fusion_head` time the train step's parts alone (caav_jax/benchmark/parts.py).

  `config` is a copy for this dtype; its `data.batch_size` is set to each
  batch size in turn.

  The weights only change the values, not the speed: the model is built
  without loading backbones, and the optimizer's schedule is irrelevant.
  """
  stage = config.train.stage
  model = stages.create_model(config, initialise_backbones=False)
  optimizer = optimizer_lib.create_optimizer(model, config.train, steps_per_epoch=1,
                                             wrt=stages.trainable(stage))
  mesh = sharding.data_mesh()
  nnx.update((model, optimizer), sharding.replicate(nnx.state((model, optimizer)), mesh))
  for batch_size in batch_sizes:
    config.data.batch_size = batch_size
    host_batch = random_batch(config, seed=jax.process_index())
    inputs = sharding.shard_batch(steps.model_inputs(host_batch, steps.PIXELS), mesh)
    stages.set_training(model, stage, True)
    yield measure_step('train', steps.train_steps, (model, optimizer, sharding.stack_batches(
        [steps.train_batch(host_batch, steps.PIXELS)], mesh)), config)
    if stage == 'end_to_end' and model.audio is not None and model.visual is not None:
      yield from parts.measure_parts(model, *inputs, mesh, config, measure_step)
    if stage == 'fusion':
      fusion_head, features = steps.runnable(model, on_features=True)
      batch = sharding.stack_batches(
          [steps.train_batch(random_features(model, config, seed=jax.process_index()),
                             features)], mesh)
      fusion_optimizer = optimizer_lib.create_optimizer(
          fusion_head, config.train, steps_per_epoch=1, wrt=stages.trainable(stage))
      nnx.update(fusion_optimizer, sharding.replicate(nnx.state(fusion_optimizer), mesh))
      yield measure_step('train_on_features', steps.train_steps,
                         (fusion_head, fusion_optimizer, batch), config)
    stages.set_training(model, stage, False)
    yield measure_step('inference', steps.eval_step, (model, inputs), config)


def measure_input_pipeline(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """Windows/s of the real train pipeline over `benchmark.pipeline_batches` batches."""
  data = config.data
  print(f'input pipeline, batch {data.batch_size}, {data.num_workers} workers: ', end='',
        flush=True)
  windows_per_s = input_pipeline_benchmark.grain_rate(
      data, config.benchmark.pipeline_batches * data.batch_size)
  print(f'{windows_per_s:.2f} windows/s', flush=True)
  return {
      'step': 'input_pipeline', 'dtype': None, 'batch_size': data.batch_size,
      'compile_s': None, 'step_times_s': [], 'step_time_median_s': None,
      'step_time_p90_s': None, 'clips_per_s': windows_per_s,
      'frames_per_s': windows_per_s * data.clip_frames, 'flops_per_step': None,
      'tflops_per_s': None, 'fraction_of_peak': None, 'peak_memory_bytes': None,
      'program_memory_bytes': None,
  }


def header(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The device, software and workload that the rows were measured on."""
  device = jax.devices()[0]
  data, model = config.data, config.model
  return {
      'device_kind': device.device_kind, 'device_count': jax.device_count(),
      'platform': device.platform, 'process_count': jax.process_count(),
      'jax_version': jax.__version__,
      'timestamp_utc': datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec='seconds'),
      'workload': {
          'shapes': config.benchmark.shapes, 'stage': config.train.stage, 'fusion': model.fusion,
          'visual_width': model.visual_width, 'audio_width': model.audio_width,
          'clip_frames': data.clip_frames, 'subseq_frames': data.subseq_frames,
          'image_size': data.image_size, 'outputs': len(data.dimensions),
      },
      'warmup_steps': config.benchmark.warmup_steps,
      'timed_steps': config.benchmark.timed_steps,
      'pipeline_workers': config.data.num_workers,
  }


def check_benchmark_config(benchmark: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the setting that cannot be measured."""
  if benchmark.timed_steps < 1:
    raise ConfigError(f'config.benchmark.timed_steps must be at least 1, not '
                     f'{benchmark.timed_steps}')
  if benchmark.warmup_steps < 0 or benchmark.pipeline_batches < 0:
    raise ConfigError('config.benchmark.warmup_steps and pipeline_batches must not be negative')


def run(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> list[dict[str, Any]]:
  """Measures every dtype × batch size of `config.benchmark`, and the input pipeline.

  For each row: compile time (lowering and compiling), median and p90 step
  time of `timed_steps` calls after `warmup_steps`, clips/s = batch / median,
  video frames/s, XLA FLOPs per step and the achieved TFLOP/s, and memory.
  The input pipeline (unless `pipeline_batches` is 0) reads the train
  dataset of `config.data`, built first if needed.

  Args:
    config: the whole configuration; `config.model.dtype` and
      `config.data.batch_size` are replaced by each measured value.
    workdir: the results go to `<workdir>/benchmark/<device>_<count>x.{json,md}`,
      and `<workdir>/benchmark/comparison.md` compares every device measured there.

  Returns:
    The rows, as written to the JSON file (rewritten after each row, so that
    a run stopped part-way, e.g. out of memory, keeps what it measured).
  """
  check_benchmark_config(config.benchmark)
  if config.benchmark.pipeline_batches:
    datasets.ensure_dataset(config.data)
  devices = jax.device_count()
  batch_sizes = []
  for batch_size in config.benchmark.batch_sizes:
    if batch_size % devices:
      print(f'skipping batch {batch_size}: not a multiple of the {devices} devices', flush=True)
    else:
      batch_sizes.append(batch_size)
  head = header(config)
  output = Workdir(pathlib.Path(workdir)).benchmark
  output.mkdir(parents=True, exist_ok=True)
  stem = output / f"{device_slug(head['device_kind'])}_{devices}x"
  rows = []

  def record(row: dict[str, Any]) -> None:
    """Adds `row` and rewrites both files (from the first process only)."""
    rows.append(row)
    if jax.process_index() == 0:
      with atomic_write(stem.with_suffix('.json')) as file:
        file.write(json.dumps({'header': head, 'rows': rows}, indent=2) + '\n')
      with atomic_write(stem.with_suffix('.md')) as file:
        file.write(report.markdown(head, rows))

  for dtype in config.benchmark.dtypes:
    measured = config.copy_and_resolve_references()
    measured.model.dtype = dtype
    for row in measure_dtype(measured, batch_sizes):
      record(row)
  if config.benchmark.pipeline_batches:
    record(measure_input_pipeline(config))
  print(report.markdown(head, rows), flush=True)
  if jax.process_index() == 0:
    compare_devices(output, stem.with_suffix('.json'))
  return rows


def compare_devices(output: pathlib.Path, first: pathlib.Path) -> None:
  """Writes `output/comparison.md`: every device's results found there, ratios against `first`'s."""
  results, names = [], []
  for path in [first] + sorted(p for p in output.glob('*.json') if p != first):
    try:
      results.append(report.load_results(path))
      names.append(path.name)
    except ResultsFileError as error:
      print(f'comparison: skipping {error}', flush=True)
  with atomic_write(output / 'comparison.md') as file:
    file.write(report.comparison(results, names))
  print(f'wrote {output / "comparison.md"} ({len(results)} result files)', flush=True)
