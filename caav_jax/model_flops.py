"""FLOPs per clip of the model's forward pass and train step: XLA's count of the traced program.

  python -m caav_jax.model_flops --fusion=cam --frames=16 --image_size=224 --width=1.0
"""

from absl import app
from absl import flags
from flax import nnx
import jax
import jax.numpy as jnp

from caav_jax.metrics import concordance_loss
from caav_jax.models.emotion_model import EmotionModel

_FUSION = flags.DEFINE_string('fusion', 'cam', 'Fusion (see caav_jax.models.fusion.FUSIONS).')
_SUBSEQS = flags.DEFINE_integer('subseqs', 8, 'Sub-sequences per clip.')
_FRAMES = flags.DEFINE_integer('frames', 16, 'Frames per sub-sequence.')
_IMAGE_SIZE = flags.DEFINE_integer('image_size', 224, 'Face crop side.')
_WIDTH = flags.DEFINE_float('width', 1.0, 'Width multiplier of both backbones.')
_BATCH = flags.DEFINE_integer('batch', 1, 'Clips per step (FLOPs are reported per clip).')


def flops(fn, *args) -> float:
  """As caav_jax.benchmark counts: the traced program's FLOPs, the same on every backend."""
  return jax.jit(fn).lower(*args).cost_analysis()['flops']


def main(argv):
  del argv
  model = nnx.eval_shape(lambda: EmotionModel(
      fusion=_FUSION.value, visual_width=_WIDTH.value, audio_width=_WIDTH.value,
      rngs=nnx.Rngs(0)))
  model.eval()
  graphdef, state = nnx.split(model)
  batch, subseqs = _BATCH.value, _SUBSEQS.value
  frames = jax.ShapeDtypeStruct(
      (batch, subseqs, _FRAMES.value, _IMAGE_SIZE.value, _IMAGE_SIZE.value, 3), jnp.uint8)
  spectrograms = jax.ShapeDtypeStruct((batch, subseqs, 128, 65), jnp.float32)
  targets = jax.ShapeDtypeStruct((batch, 2), jnp.float32)

  def forward(state, frames, spectrograms):
    return nnx.merge(graphdef, state)(frames, spectrograms)

  def train_gradients(state, frames, spectrograms, targets):
    module = nnx.merge(graphdef, state)
    module.train()
    loss = lambda m: concordance_loss(m(frames, spectrograms), targets)
    return nnx.grad(loss)(module)

  forward_flops = flops(forward, state, frames, spectrograms) / batch
  train_flops = flops(train_gradients, state, frames, spectrograms, targets) / batch
  print(f'{_FUSION.value}, width {_WIDTH.value:g}, {subseqs}×{_FRAMES.value} frames of '
        f'{_IMAGE_SIZE.value}² + {subseqs} spectrograms, batch {batch}: '
        f'forward {forward_flops / 1e9:.1f} GFLOP/clip, '
        f'train step (forward + backward) {train_flops / 1e9:.1f} GFLOP/clip')


if __name__ == '__main__':
  app.run(main)
