"""The assembled model at tiny widths: fusions, permutation invariance, backbone transfer, precision."""

import functools

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from caav_jax.metrics import concordance_loss
from caav_jax.models.emotion_model import EmotionModel
from caav_jax.models.emotion_model import UnimodalModel
from caav_jax.models.emotion_model import frames_to_unit_range
from caav_jax.training import stages
from caav_jax.training import steps
from tests.model_builders import build


WIDTH = 1 / 16


@pytest.fixture(scope='module')
def inputs():
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 256, (2, 3, 8, 32, 32, 3), dtype=np.uint8)
  spectrograms = rng.uniform(-1, 1, (2, 3, 128, 65)).astype(np.float32)
  return jnp.asarray(frames), jnp.asarray(spectrograms)


@functools.cache
def tiny(fusion='cam', dtype=jnp.float32, outputs=2):
  return build(lambda rngs: EmotionModel(fusion=fusion, visual_width=WIDTH, audio_width=WIDTH,
                                         dtype=dtype, outputs=outputs, rngs=rngs))


forward = nnx.jit(lambda model, frames, spectrograms: model(frames, spectrograms))
embed = nnx.jit(lambda model, frames, spectrograms: model.embed(frames, spectrograms))
predict = nnx.jit(lambda model, audio, visual: model.predict(audio, visual))


@pytest.mark.parametrize('fusion', ['cam', 'cam_concat', 'concat', 'sum', 'audio_only',
                                    'visual_only'])
def test_every_fusion_predicts_both_dimensions(inputs, fusion):
  frames, spectrograms = inputs
  model = tiny(fusion)
  model.eval()
  out = np.asarray(forward(model, frames, spectrograms))
  assert out.shape == (2, 2) and np.isfinite(out).all() and (np.abs(out) < 1).all()
  audio, visual = embed(model, frames, spectrograms)
  np.testing.assert_allclose(predict(model, audio, visual), out, atol=1e-6)
  if fusion == 'audio_only':
    assert model.visual is None and visual is None
    np.testing.assert_allclose(forward(model, None, spectrograms), out, atol=1e-6)
  if fusion == 'visual_only':
    assert model.audio is None and audio is None
    np.testing.assert_allclose(forward(model, frames, None), out, atol=1e-6)


def test_single_dimension_model(inputs):
  model = tiny(outputs=1)
  model.eval()
  assert forward(model, *inputs).shape == (2, 1)


def test_order_of_subsequences_does_not_matter(inputs):
  frames, spectrograms = inputs
  model = tiny('cam')
  model.eval()
  order = np.array([2, 0, 1])
  np.testing.assert_allclose(forward(model, frames[:, order], spectrograms[:, order]),
                             forward(model, frames, spectrograms), atol=1e-5)


def test_backbones_move_from_unimodal_models_by_name(inputs):
  frames, spectrograms = inputs
  model = build(lambda rngs: EmotionModel(visual_width=WIDTH, audio_width=WIDTH, rngs=rngs))
  audio_model = build(lambda rngs: UnimodalModel('audio', width=WIDTH, rngs=rngs), seed=7)
  visual_model = build(lambda rngs: UnimodalModel('visual', width=WIDTH, rngs=rngs), seed=8)
  for module in (model, audio_model, visual_model):
    module.eval()
  assert forward(audio_model, None, spectrograms).shape == (2, 2)
  assert forward(visual_model, frames, None).shape == (2, 2)
  nnx.update(model.audio, nnx.state(audio_model.audio))
  nnx.update(model.visual, nnx.state(visual_model.visual))
  audio, visual = embed(model, frames, spectrograms)
  want_audio = nnx.jit(lambda m, s: m(s))(audio_model.audio, spectrograms.reshape(6, 128, 65))
  clips = frames_to_unit_range(frames.reshape(6, 8, 32, 32, 3), jnp.float32)
  want_visual = nnx.jit(lambda m, v: m(v))(visual_model.visual, clips)
  np.testing.assert_allclose(audio, want_audio.reshape(2, 3, -1), atol=1e-5)
  np.testing.assert_allclose(visual, want_visual.reshape(2, 3, -1), atol=1e-5)


def test_dropout_only_in_train_mode(inputs):
  model = tiny('cam')
  model.train()
  first, second = forward(model, *inputs), forward(model, *inputs)
  assert not np.allclose(first, second)  # a new dropout mask each call
  model.eval()
  np.testing.assert_array_equal(forward(model, *inputs), forward(model, *inputs))


def test_bfloat16_compute_close_to_float32(inputs):
  full, half = tiny('cam'), tiny('cam', jnp.bfloat16)
  full.eval(), half.eval()
  params = nnx.state(half, nnx.Param)
  assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {jnp.dtype(jnp.float32)}
  np.testing.assert_allclose(forward(half, *inputs), forward(full, *inputs), atol=0.03)


def test_every_parameter_gets_a_finite_gradient(inputs):
  model = tiny('cam')
  model.train()
  targets = jnp.asarray([[0.5, -0.2], [-0.3, 0.1]])
  loss = lambda m: jnp.mean((m(*inputs) - targets) ** 2)
  gradients = nnx.jit(nnx.grad(loss))(model)
  leaves = jax.tree.leaves(gradients)
  assert len(leaves) == len(jax.tree.leaves(nnx.state(model, nnx.Param)))
  assert all(np.isfinite(g).all() for g in leaves)
  assert np.abs(gradients['visual']['Conv3d_1a_7x7']['conv3d']['kernel'][...]).max() > 0
  assert np.abs(gradients['fusion']['cross_attention']['w'][...]).max() > 0


@nnx.jit
def whole_model_step(model, optimizer, batch):
  """The fusion stage's step written on the whole model, its backbones unused."""
  def loss_fn(model):
    return concordance_loss(model.predict(batch['audio_features'], batch['visual_features']),
                            batch['targets'])
  loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, optimizer.wrt))(model)
  optimizer.update(model, grads)
  return loss


def test_fusion_head_trains_the_models_own_variables_as_the_whole_model_would():
  """Adam steps on cached features through FusionHead = the same steps through the whole model."""
  features = tiny('cam').audio.features
  rng = np.random.default_rng(1)
  batch = {'audio_features': jnp.asarray(rng.normal(size=(2, 3, features)), jnp.float32),
           'visual_features': jnp.asarray(rng.normal(size=(2, 3, features)), jnp.float32),
           'targets': jnp.asarray([[0.5, -0.2], [-0.3, 0.4]])}
  results = []
  for use_part in (False, True):
    model = tiny.__wrapped__('cam')  # a copy of its own: the step donates its arrays
    stages.set_training(model, 'fusion', True)
    if use_part:
      trained, inputs = steps.runnable(model, on_features=True)
      optimizer = nnx.Optimizer(trained, optax.adam(1e-2), wrt=stages.trainable('fusion'))
      one_step = jax.tree.map(lambda x: x[None], steps.train_batch(batch, inputs))
      losses = [float(steps.train_steps(trained, optimizer, one_step)[0]) for _ in range(2)]
    else:
      optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=stages.trainable('fusion'))
      losses = [float(whole_model_step(model, optimizer, batch)) for _ in range(2)]
    results.append((losses, nnx.state(model, nnx.Param), nnx.state(optimizer)))
  (losses_whole, params_whole, opt_whole), (losses_part, params_part, opt_part) = results
  assert losses_whole[1] != losses_whole[0]
  np.testing.assert_allclose(losses_part, losses_whole, rtol=1e-6)
  assert jax.tree.structure(opt_part) == jax.tree.structure(opt_whole)
  for whole, part in zip(jax.tree.leaves(params_whole), jax.tree.leaves(params_part)):
    np.testing.assert_allclose(part, whole, rtol=1e-5, atol=1e-7)
  w_before = tiny('cam').fusion.cross_attention.w[...]
  assert not np.allclose(params_part['fusion']['cross_attention']['w'][...], w_before)
