"""FLOPs as the benchmark counts them: XLA's count of the traced program, the same on every backend.

  python -m caav_jax.benchmark.flops --fusion=cam --frames=16 --image_size=224 --width=1.0

prints the forward pass's and the train step's FLOPs per clip.
"""

from absl import app
from absl import flags
from flax import nnx
import jax
import jax.numpy as jnp

from caav_jax.metrics import concordance_loss
from caav_jax.models.emotion_model import EmotionModel


def program_flops(lowered) -> float | None:
  """FLOPs of one call of a lowered step, all devices together, as traced (before XLA's optimisations).

  The traced program is the same on every backend, apart from the
  convolution lowerings of models/conv3d_lowering.py: the CPU's per-tap
  matrix products do the same multiplications, and the GPU's space-to-depth
  stem adds multiplications by zero (its 7 taps padded to 8). The compiled
  program's analysis is no substitute: on a GPU it leaves out the
  convolutions XLA hands to cuDNN. Returns None where the backend reports
  no FLOPs.
  """
  analysis = lowered.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older JAX: one dict per program
    analysis = analysis[0] if analysis else None
  flops = (analysis or {}).get('flops')
  return None if flops is None or flops <= 0 else float(flops)


def flops_per_clip(fusion: str, subseqs: int, frames: int, image_size: int, width: float,
                   batch: int = 1) -> tuple[float, float]:
  """(forward, train step) FLOPs per clip of an EmotionModel of these shapes."""
  model = nnx.eval_shape(lambda: EmotionModel(
      fusion=fusion, visual_width=width, audio_width=width, rngs=nnx.Rngs(0)))
  model.eval()
  graphdef, state = nnx.split(model)
  pixels = jax.ShapeDtypeStruct((batch, subseqs, frames, image_size, image_size, 3), jnp.uint8)
  spectrograms = jax.ShapeDtypeStruct((batch, subseqs, 128, 65), jnp.float32)
  targets = jax.ShapeDtypeStruct((batch, 2), jnp.float32)

  def forward(state, pixels, spectrograms):
    return nnx.merge(graphdef, state)(pixels, spectrograms)

  def train_gradients(state, pixels, spectrograms, targets):
    module = nnx.merge(graphdef, state)
    module.train()
    loss = lambda m: concordance_loss(m(pixels, spectrograms), targets)
    return nnx.grad(loss)(module)

  forward_flops = program_flops(jax.jit(forward).lower(state, pixels, spectrograms))
  train_flops = program_flops(jax.jit(train_gradients).lower(state, pixels, spectrograms,
                                                             targets))
  return forward_flops / batch, train_flops / batch


def main(argv):
  del argv
  values = flags.FLAGS
  forward, train = flops_per_clip(values.fusion, values.subseqs, values.frames,
                                  values.image_size, values.width, values.batch)
  print(f'{values.fusion}, width {values.width:g}, {values.subseqs}×{values.frames} frames of '
        f'{values.image_size}² + {values.subseqs} spectrograms, batch {values.batch}: '
        f'forward {forward / 1e9:.1f} GFLOP/clip, '
        f'train step (forward + backward) {train / 1e9:.1f} GFLOP/clip')


if __name__ == '__main__':
  # Defined only when run as a program: --mode=benchmark imports this module.
  flags.DEFINE_string('fusion', 'cam', 'Fusion (see caav_jax.models.fusion.FUSIONS).')
  flags.DEFINE_integer('subseqs', 8, 'Sub-sequences per clip.')
  flags.DEFINE_integer('frames', 16, 'Frames per sub-sequence.')
  flags.DEFINE_integer('image_size', 224, 'Face crop side.')
  flags.DEFINE_float('width', 1.0, 'Width multiplier of both backbones.')
  flags.DEFINE_integer('batch', 1, 'Clips per step (FLOPs are reported per clip).')
  app.run(main)
