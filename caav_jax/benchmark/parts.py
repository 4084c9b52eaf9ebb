"""The train step's parts, timed alone: visual tower, audio tower, fusion with head.

Each part is the gradient (forward and backward) of a scalar with respect to
that part's own parameters, from that part's own input. Read against the
whole train step, their FLOP/s show where the time goes and which part runs
far below the device's speed.
"""

from typing import Any
from typing import Callable
from typing import Iterator

from flax import nnx
import jax.numpy as jnp
import ml_collections
import numpy as np

from caav_jax.metrics import concordance_loss
from caav_jax.training import sharding


def _gradient_of(parts: tuple[str, ...], scalar: Callable) -> Callable:
  """A jitted (model, *inputs) → gradients of `scalar` w.r.t. the parameters under `parts`."""
  wrt = nnx.All(nnx.Param, nnx.Any(*[nnx.PathContains(part) for part in parts]))

  @nnx.jit
  def step(model, *inputs):
    return nnx.grad(lambda m: scalar(m, *inputs), argnums=nnx.DiffState(0, wrt))(model)

  return step


visual_tower_step = _gradient_of(
    ('visual',), lambda model, frames: jnp.sum(model.embed(frames, None)[1].astype(jnp.float32)))
audio_tower_step = _gradient_of(
    ('audio',), lambda model, spectrograms: jnp.sum(
        model.embed(None, spectrograms)[0].astype(jnp.float32)))
fusion_head_step = _gradient_of(
    ('fusion', 'head'), lambda model, audio, visual, targets: concordance_loss(
        model.predict(audio, visual), targets))


def measure_parts(model: nnx.Module, frames, spectrograms, mesh,
                  config: ml_collections.ConfigDict, measure_step: Callable
                  ) -> Iterator[dict[str, Any]]:
  """Rows 'visual_tower', 'audio_tower' and 'fusion_head' of a two-tower model (train mode).

  `frames` and `spectrograms` are a sharded pixel batch; the fusion's inputs
  are random features of the backbones' output shapes.
  """
  yield measure_step('visual_tower', visual_tower_step, (model, frames), config)
  yield measure_step('audio_tower', audio_tower_step, (model, spectrograms), config)
  rows, subseqs = frames.shape[:2]
  rng = np.random.default_rng(0)
  audio, visual, targets = sharding.shard_global_batch((
      rng.normal(size=(rows, subseqs, model.audio.features)).astype(np.float32),
      rng.normal(size=(rows, subseqs, model.visual.features)).astype(np.float32),
      rng.uniform(-1, 1, (rows, len(config.data.dimensions))).astype(np.float32)), mesh)
  yield measure_step('fusion_head', fusion_head_step, (model, audio, visual, targets), config)
