"""Measures the input pipeline: windows/s in one worker, and through Grain with N workers.

  python -m caav_jax.input_pipeline_benchmark --data_dir=PATH [--crop_sizes=224,112]
"""

import json
import statistics
import time

from absl import app
from absl import flags
import numpy as np

from caav_jax import input_pipeline
from configs import default
from data_pipelines.recola import recola_dataset_builder

_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Where the recola dataset is built.')
_CROP_SIZES = flags.DEFINE_list('crop_sizes', ['224', '112'], 'Stored crop sizes to measure.')
_WINDOWS = flags.DEFINE_integer('windows', 24, 'Windows timed per repeat.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Repeats; the median is reported.')
_WORKERS = flags.DEFINE_list('workers', ['0', '2'], 'Grain worker counts to measure end to end.')
_JSON = flags.DEFINE_string('json', None, 'Optional path for the figures as JSON.')


def one_worker_rate(data, split: str, windows: int, repeats: int) -> float:
  """Median windows/s of loading + augmenting single windows (and copying them out) in this process."""
  recordings = input_pipeline.split_recordings(data, split)
  table = input_pipeline.train_windows(data, recordings)
  load = input_pipeline.LoadWindow(data, split, recordings, table)
  augment = input_pipeline.RandomCropFlip(data.image_size, data.flip)
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
  iterator = iter(input_pipeline.train_dataset(data))
  next(iterator)
  batches = max(1, windows // data.batch_size)
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  return batches * data.batch_size / (time.perf_counter() - start)


def main(argv):
  del argv
  results = []
  for crop in map(int, _CROP_SIZES.value):
    data = default.data_config()
    data.data_dir, data.crop_size, data.image_size = _DATA_DIR.value, crop, crop
    data.batch_size = 4
    try:
      recola_dataset_builder.load(data.data_dir, crop)
    except FileNotFoundError as e:
      print(f'skipping crop {crop}: {e}')
      continue
    row = {'crop': crop, 'clip_frames': data.clip_frames,
           'one_worker_windows_per_s': one_worker_rate(
               data, 'train', _WINDOWS.value, _REPEATS.value)}
    for workers in map(int, _WORKERS.value):
      data.num_workers = workers
      row[f'grain_{workers}_workers_windows_per_s'] = grain_rate(data, _WINDOWS.value)
    results.append(row)
  print('| crop | window | windows/s, one worker | ' +
        ' | '.join(f'Grain, {w} workers' for w in _WORKERS.value) + ' |')
  print('|---' * (3 + len(_WORKERS.value)) + '|')
  for row in results:
    print(f"| {row['crop']} | {row['clip_frames']} frames | "
          f"{row['one_worker_windows_per_s']:.1f} | " +
          ' | '.join(f"{row[f'grain_{w}_workers_windows_per_s']:.1f}"
                     for w in map(int, _WORKERS.value)) + ' |')
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump(results, f, indent=2)


if __name__ == '__main__':
  flags.mark_flag_as_required('data_dir')
  app.run(main)
