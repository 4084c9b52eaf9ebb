"""Measures the input pipeline: windows/s in one worker, and through Grain with N workers.

  python -m caav_jax.benchmark.input_pipeline --data_dir=PATH [--crop_sizes=224,112]
"""

import json
import statistics
import time

from absl import app
from absl import flags
import numpy as np

from caav_jax.input_pipeline import datasets
from caav_jax.input_pipeline import loaders
from caav_jax.input_pipeline import windows as windows_lib
from configs import default
from data_pipelines.recola import recola_dataset_builder


def one_worker_rate(data, split: str, windows: int, repeats: int) -> float:
  """Median windows/s of loading + augmenting single windows (and copying them out) in this process."""
  recordings = datasets.split_recordings(data, split)
  table = windows_lib.train_windows(data, recordings)
  load = loaders.LoadWindow(data, split, recordings, table)
  augment = loaders.RandomCropFlip(data.image_size, data.flip)
  rng = np.random.default_rng(0)
  augment.random_map(load.map(np.array([0, 1])), rng)  # opens the readers
  rates = []
  for _ in range(repeats):
    picks = rng.integers(0, len(table), windows)
    start = time.perf_counter()
    for pick in picks:
      # The copy of the (possibly flipped) crop that batching makes.
      np.ascontiguousarray(augment.random_map(load.map(np.array([pick, 1])), rng)['frames'])
    rates.append(windows / (time.perf_counter() - start))
  return statistics.median(rates)


def grain_rate(data, windows: int) -> float:
  """Windows/s through the full Grain train pipeline (after its first batch)."""
  iterator = iter(datasets.train_dataset(data))
  next(iterator)
  batches = max(1, windows // data.batch_size)
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  return batches * data.batch_size / (time.perf_counter() - start)


def main(argv):
  del argv
  results = []
  for crop in map(int, flags.FLAGS.crop_sizes):
    data = default.data_config()
    data.data_dir, data.crop_size, data.image_size = flags.FLAGS.data_dir, crop, crop
    data.batch_size = 4
    try:
      recola_dataset_builder.load(data.data_dir, crop)
    except FileNotFoundError as e:
      print(f'skipping crop {crop}: {e}')
      continue
    row = {'crop': crop, 'clip_frames': data.clip_frames,
           'one_worker_windows_per_s': one_worker_rate(
               data, 'train', flags.FLAGS.windows, flags.FLAGS.repeats)}
    for workers in map(int, flags.FLAGS.workers):
      data.num_workers = workers
      row[f'grain_{workers}_workers_windows_per_s'] = grain_rate(data, flags.FLAGS.windows)
    results.append(row)
  print('| crop | window | windows/s, one worker | ' +
        ' | '.join(f'Grain, {w} workers' for w in flags.FLAGS.workers) + ' |')
  print('|---' * (3 + len(flags.FLAGS.workers)) + '|')
  for row in results:
    print(f"| {row['crop']} | {row['clip_frames']} frames | "
          f"{row['one_worker_windows_per_s']:.1f} | " +
          ' | '.join(f"{row[f'grain_{w}_workers_windows_per_s']:.1f}"
                     for w in map(int, flags.FLAGS.workers)) + ' |')
  if flags.FLAGS.json:
    with open(flags.FLAGS.json, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  # Defined only when run as a program: --mode=benchmark imports this module.
  flags.DEFINE_string('data_dir', None, 'Where the recola dataset is built.')
  flags.DEFINE_list('crop_sizes', ['224', '112'], 'Stored crop sizes to measure.')
  flags.DEFINE_integer('windows', 24, 'Windows timed per repeat.')
  flags.DEFINE_integer('repeats', 3, 'Repeats; the median is reported.')
  flags.DEFINE_list('workers', ['0', '2'], 'Grain worker counts to measure end to end.')
  flags.DEFINE_string('json', None, 'Optional path for the figures as JSON.')
  flags.mark_flag_as_required('data_dir')
  app.run(main)
