"""Run as a script with 4 forced host devices: two train steps (one call) on 1 device vs on 4."""

import json
import os
import sys


os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=4'

from flax import nnx
import jax  # pylint: disable=g-import-not-at-top
import numpy as np
import optax

from caav_jax.models.emotion_model import EmotionModel
from caav_jax.training import sharding
from caav_jax.training import steps
from tests.model_builders import build


def step_on(devices, batch):
  model = build(lambda rngs: EmotionModel(visual_width=1 / 32, audio_width=1 / 32,
                                          dropout_rate=0.0, rngs=rngs))
  optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
  mesh = sharding.data_mesh(devices)
  state = sharding.replicate(nnx.state((model, optimizer)), mesh)
  nnx.update((model, optimizer), state)
  one_step = steps.train_batch(batch, steps.PIXELS)
  sharded = sharding.stack_batches([one_step, one_step], mesh)
  losses = [float(loss) for loss in steps.train_steps(model, optimizer, sharded)]
  kernel = np.asarray(model.fusion.cross_attention.w[...])
  initial = np.asarray(build(lambda rngs: EmotionModel(
      visual_width=1 / 32, audio_width=1 / 32, rngs=rngs)).fusion.cross_attention.w[...])
  assert not np.allclose(kernel, initial), 'the steps did not update W'
  return losses, kernel, sharded['inputs'][0].sharding.num_devices


def main():
  rng = np.random.default_rng(0)
  batch = {'frames': rng.integers(0, 256, (8, 2, 8, 16, 16, 3), dtype=np.uint8),
           'spectrograms': rng.uniform(-1, 1, (8, 2, 128, 65)).astype(np.float32),
           'targets': rng.uniform(-1, 1, (8, 2)).astype(np.float32)}
  one = step_on(jax.devices()[:1], batch)
  four = step_on(jax.devices(), batch)
  json.dump({'devices': len(jax.devices()), 'losses_1': one[0], 'losses_4': four[0],
             'shards_1': one[2], 'shards_4': four[2],
             'max_w_difference': float(np.abs(one[1] - four[1]).max())}, sys.stdout)


if __name__ == '__main__':
  main()
