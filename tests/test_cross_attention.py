"""CAM against a direct numpy implementation of the paper's formula; fusion baselines; head."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from caav_jax.models.cross_attention import CrossAttention
from caav_jax.models.fusion import Fusion
from caav_jax.models.prediction_head import PredictionHead


def numpy_cam(x_audio, x_visual, w):
  """The paper, literally: X ∈ R^{d×L}; returns X̂_a, X̂_v (d×L), A_a, A_v."""
  def softmax_rows(z):  # softmax over the first index (rows)
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)
  x_audio = x_audio / np.linalg.norm(x_audio, axis=0, keepdims=True)
  x_visual = x_visual / np.linalg.norm(x_visual, axis=0, keepdims=True)
  z = x_audio.T @ w @ x_visual
  a_audio, a_visual = softmax_rows(z), softmax_rows(z.T)
  return x_audio @ a_audio, x_visual @ a_visual, a_audio, a_visual


def random_sequences(seed, batch=3, length=8, d=16):
  rng = np.random.default_rng(seed)
  return (rng.standard_normal((batch, length, d)).astype(np.float32),
          rng.standard_normal((batch, length, d)).astype(np.float32))


def test_cam_equals_the_formula():
  cam = CrossAttention(16, 16, rngs=nnx.Rngs(0))
  cam.w[...] = jnp.asarray(np.random.default_rng(1).standard_normal((16, 16)) * 3, jnp.float32)
  audio, visual = random_sequences(2)
  attended_audio, attended_visual = cam(jnp.asarray(audio), jnp.asarray(visual))
  for b in range(3):
    want_audio, want_visual, _, _ = numpy_cam(audio[b].T.astype(np.float64),
                                              visual[b].T.astype(np.float64),
                                              np.asarray(cam.w[...], np.float64))
    np.testing.assert_allclose(np.asarray(attended_audio[b]).T, want_audio, atol=2e-5)
    np.testing.assert_allclose(np.asarray(attended_visual[b]).T, want_visual, atol=2e-5)


def test_attention_weights_and_their_normalisation():
  cam = CrossAttention(16, 16, rngs=nnx.Rngs(0))
  audio, visual = random_sequences(3)
  normalise = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
  a_audio, a_visual = cam.attention(jnp.asarray(normalise(audio)), jnp.asarray(normalise(visual)))
  _, _, want_a, want_v = numpy_cam(audio[0].T, visual[0].T, np.asarray(cam.w[...]))
  np.testing.assert_allclose(np.asarray(a_audio[0]), want_a, atol=1e-5)
  np.testing.assert_allclose(np.asarray(a_visual[0]), want_v, atol=1e-5)
  np.testing.assert_allclose(np.asarray(a_audio).sum(axis=1), 1.0, atol=1e-5)  # over audio index
  np.testing.assert_allclose(np.asarray(a_visual).sum(axis=1), 1.0, atol=1e-5)  # over visual index


def test_permuting_subsequences_permutes_the_attention():
  cam = CrossAttention(16, 16, rngs=nnx.Rngs(0))
  audio, visual = random_sequences(4)
  permutation = np.random.default_rng(5).permutation(8)
  out_audio, out_visual = cam(jnp.asarray(audio), jnp.asarray(visual))
  perm_audio, perm_visual = cam(jnp.asarray(audio[:, permutation]), jnp.asarray(visual[:, permutation]))
  np.testing.assert_allclose(perm_audio, np.asarray(out_audio)[:, permutation], atol=1e-5)
  np.testing.assert_allclose(perm_visual, np.asarray(out_visual)[:, permutation], atol=1e-5)
  normalise = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
  a, _ = cam.attention(jnp.asarray(normalise(audio)), jnp.asarray(normalise(visual)))
  a_perm, _ = cam.attention(jnp.asarray(normalise(audio[:, permutation])),
                            jnp.asarray(normalise(visual[:, permutation])))
  np.testing.assert_allclose(a_perm, np.asarray(a)[:, permutation][:, :, permutation], atol=1e-6)


def test_w_is_1024_squared_xavier_normal():
  cam = CrossAttention(1024, 1024, rngs=nnx.Rngs(0))
  w = np.asarray(cam.w[...])
  assert w.size == 1_048_576
  assert abs(w.mean()) < 1e-3
  assert w.std() == pytest.approx(np.sqrt(2 / 2048), rel=0.01)  # Glorot: 2 / (fan_in + fan_out)


def count(module):
  return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


def test_head_has_the_papers_656385_parameters():
  assert count(PredictionHead(1024, 1, rngs=nnx.Rngs(0))) == (
      1024 * 512 + 512 + 512 * 256 + 256 + 256 + 1) == 656_385


def test_head_maxes_over_subsequences_and_is_bounded():
  head = PredictionHead(16, 2, rngs=nnx.Rngs(0))
  head.eval()
  sequence = jnp.asarray(random_sequences(6)[0]) * 10
  out = head(sequence)
  assert out.shape == (3, 2) and (np.abs(out) < 1).all()
  shuffled = sequence[:, ::-1]
  np.testing.assert_allclose(head(shuffled), out, atol=1e-6)
  manual = head.fc3(jnp.tanh(head.fc2(jnp.tanh(head.fc1(sequence.max(axis=1))))))
  np.testing.assert_allclose(out, jnp.tanh(manual), atol=1e-6)


def test_dropout_only_in_train_mode():
  head = PredictionHead(16, 1, rngs=nnx.Rngs(0))
  sequence = jnp.asarray(random_sequences(7)[0])
  head.train()
  first, second = head(sequence), head(sequence)
  assert not np.allclose(first, second)  # a new dropout mask each call
  head.eval()
  np.testing.assert_array_equal(head(sequence), head(sequence))


@pytest.mark.parametrize('kind,features', [('cam', 16), ('cam_concat', 32), ('concat', 32),
                                           ('sum', 16), ('audio_only', 16), ('visual_only', 16)])
def test_fusions_against_numpy(kind, features):
  fusion = Fusion(kind, 16, 16, rngs=nnx.Rngs(0))
  if fusion.cross_attention is not None:  # far from uniform attention
    fusion.cross_attention.w[...] = jnp.asarray(
        np.random.default_rng(1).standard_normal((16, 16)) * 3, jnp.float32)
  audio, visual = random_sequences(8)
  out = np.asarray(fusion(jnp.asarray(audio), jnp.asarray(visual)))
  assert out.shape == (3, 8, features) and fusion.features == features
  unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
  attended = [numpy_cam(a.T.astype(np.float64), v.T.astype(np.float64),
                        np.asarray(fusion.cross_attention.w[...], np.float64))[:2]
              for a, v in zip(audio, visual)] if fusion.cross_attention is not None else None
  expected = {
      'concat': lambda: np.concatenate([unit(audio), unit(visual)], -1),
      'sum': lambda: unit(audio) + unit(visual), 'audio_only': lambda: unit(audio),
      'visual_only': lambda: unit(visual),
      'cam': lambda: np.stack([(a + v).T for a, v in attended]),
      'cam_concat': lambda: np.stack([np.concatenate([a.T, v.T], -1) for a, v in attended])}
  np.testing.assert_allclose(out, expected[kind](), atol=2e-5)


def test_fusion_rejects_mismatched_sizes_and_unknown_kinds():
  with pytest.raises(ValueError, match='must match'):
    Fusion('cam', 16, 32, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match='fusion must be one of'):
    Fusion('attention', 16, 16, rngs=nnx.Rngs(0))
