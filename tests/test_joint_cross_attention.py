"""Joint cross-attention against a numpy transcription of its equations, written here independently."""

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caav_jax.errors import ConfigError
from caav_jax.models.fusion import Fusion
from caav_jax.models.joint_cross_attention import JointCrossAttention


def numpy_jca(x_a, x_v, weights, encoders=None):
  """The issue's equations, one clip at a time, column vectors as in the paper's notation."""
  if encoders is not None:
    (k_a, b_a), (k_v, b_v) = encoders
    x_a, x_v = x_a @ k_a + b_a, x_v @ k_v + b_v
  outputs = []
  for a, v in zip(x_a, x_v):  # (L, d_a), (L, d_v)
    j = np.concatenate([a, v], axis=1)  # J ∈ R^{L×d}
    d = j.shape[1]
    attended = []
    for x, (w_j, w, w_c, w_h) in ((a, weights['audio']), (v, weights['visual'])):
      c = np.tanh(x.T @ w_j @ j / np.sqrt(d))  # (d_x, d)
      h = np.maximum(x.T @ w + c @ w_c, 0)  # (d_x, k)
      attended.append((h @ w_h).T + x)  # (L, d_x)
    outputs.append(np.concatenate(attended, axis=1))
  return np.stack(outputs)


def _large_weights(module, rng, scale):
  weights = {}
  for name in ('audio', 'visual'):
    branch = getattr(module, f'{name}_attention')
    values = []
    for param in (branch.w_j, branch.w, branch.w_c, branch.w_h):
      value = rng.normal(0, scale, param[...].shape).astype(np.float32)
      param[...] = jnp.asarray(value)
      values.append(value.astype(np.float64))
    weights[name] = values
  return weights


@pytest.mark.parametrize('encoder_features', [0, 12])
def test_matches_the_equations_outside_the_linear_range_of_tanh_and_relu(encoder_features):
  rng = np.random.default_rng(0)
  length, d_a, d_v = 6, 10, 14
  module = JointCrossAttention(d_a, d_v, length, encoder_features=encoder_features, hidden=5,
                               rngs=nnx.Rngs(0))
  weights = _large_weights(module, rng, 1.5)
  encoders = None
  if encoder_features:
    encoders = [(np.asarray(e.kernel[...], np.float64), np.asarray(e.bias[...], np.float64))
                for e in (module.audio_encoder, module.visual_encoder)]
  x_a = rng.normal(size=(3, length, d_a)).astype(np.float32)
  x_v = rng.normal(size=(3, length, d_v)).astype(np.float32)
  expected = numpy_jca(x_a.astype(np.float64), x_v.astype(np.float64), weights, encoders)
  got = np.asarray(nnx.jit(lambda m, a, v: m(a, v))(module, x_a, x_v))
  assert got.shape == (3, length, module.features)
  np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4)
  # The weights reach the saturated and the cut-off ranges: not a linear map in disguise.
  d = (encoder_features or d_a) + (encoder_features or d_v)
  a = x_a @ encoders[0][0] + encoders[0][1] if encoders else x_a
  joint = np.concatenate([a, x_v @ encoders[1][0] + encoders[1][1] if encoders else x_v], -1)
  pre = np.einsum('bla,lm,bmd->bad', a, weights['audio'][0], joint) / np.sqrt(d)
  assert (np.abs(pre) > 1).mean() > 0.3  # tanh saturates
  hidden = np.einsum('bla,lk->bak', a, weights['audio'][1])
  assert (hidden < 0).mean() > 0.3  # ReLU cuts (before C_a W_ca is added, roughly half)


def test_gradients_are_finite_and_bfloat16_is_close_to_float32():
  rng = np.random.default_rng(1)
  x_a = jnp.asarray(rng.normal(size=(4, 8, 16)), jnp.float32)
  x_v = jnp.asarray(rng.normal(size=(4, 8, 24)), jnp.float32)
  full = JointCrossAttention(16, 24, 8, rngs=nnx.Rngs(0))
  half = JointCrossAttention(16, 24, 8, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
  nnx.update(half, nnx.state(full))
  run = nnx.jit(lambda module, a, v: module(a, v))  # eager calls compile every op
  expected = run(full, x_a, x_v)
  got = run(half, x_a, x_v).astype(jnp.float32)
  assert float(jnp.abs(got - expected).max()) < 0.05 * float(jnp.abs(expected).max())

  def loss(module):
    return jnp.mean(module(x_a, x_v) ** 2)

  grads = nnx.jit(nnx.grad(loss))(full)
  leaves = jax.tree.leaves(nnx.state(grads))
  assert leaves and all(bool(jnp.isfinite(g).all()) for g in leaves)
  assert all(float(jnp.abs(g).sum()) > 0 for g in leaves)


def test_a_model_is_built_for_one_clip_length():
  fusion = Fusion('jca', 16, 24, length=8, rngs=nnx.Rngs(0))
  assert fusion.features == 256  # two encoders of 128, attended and concatenated
  with pytest.raises(ConfigError, match='built for 8 sub-sequences a clip, got 4'):
    nnx.eval_shape(lambda: fusion(jnp.zeros((2, 4, 16)), jnp.zeros((2, 4, 24))))
  with pytest.raises(ValueError, match='built for a clip length'):
    Fusion('jca', 16, 24, rngs=nnx.Rngs(0))
  # 'audio' and 'visual' in a variable's path select a backbone (training/stages.py).
  for path, _ in nnx.state(fusion).flat_state():
    assert 'audio' not in path and 'visual' not in path, path
