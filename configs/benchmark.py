"""`./run.sh benchmark`: the paper's train step timed on this machine's device.

  --config=configs/benchmark.py:paper   the paper's shapes (an accelerator): batch 16, CAM end to
                                        end, clips of 8 sub-sequences × 16 frames at 224², 8
                                        spectrograms, full-width backbones, bfloat16
  --config=configs/benchmark.py:cpu     reduced for a 2-core CPU (about 5 minutes): batch 2,
                                        clips of 2 × 16 frames at 112², full width, float32

Also the input pipeline's windows/s with `data.num_workers` Grain workers, on the
dataset that `./run.sh benchmark` builds from a short synthetic corpus.
"""

import os

from configs import default

SHAPES = ('paper', 'cpu')


def get_config(shapes: str = 'paper'):
  if shapes not in SHAPES:
    raise ValueError(f'configs/benchmark.py:{shapes}: use one of {SHAPES}')
  config = default.get_config()
  config.train.stage = 'end_to_end'
  config.model.fusion = 'cam'
  benchmark = config.benchmark
  benchmark.shapes = shapes
  data = config.data
  data.num_workers = min(8, os.cpu_count() or 1)
  if shapes == 'paper':
    benchmark.batch_sizes, benchmark.dtypes = (16,), ('bfloat16',)
  else:
    data.crop_size = data.image_size = 112
    data.clip_frames = 32
    benchmark.batch_sizes, benchmark.dtypes = (2,), ('float32',)
    benchmark.warmup_steps, benchmark.timed_steps, benchmark.pipeline_batches = 1, 3, 4
  return config
