"""Joint cross-attention (JCA; Praveen et al., CVPR Workshops 2022): each modality against both.

Row-major, per clip of L sub-sequences (docs/model.md):
  X_a ∈ R^{L×d_a}, X_v ∈ R^{L×d_v}; J = [X_a, X_v] ∈ R^{L×d}, d = d_a + d_v
  C_a = tanh(X_aᵀ W_ja J / √d) ∈ R^{d_a×d}                W_ja ∈ R^{L×L}
  H_a = ReLU(X_aᵀ W_a + C_a W_ca) ∈ R^{d_a×k}             W_a ∈ R^{L×k}, W_ca ∈ R^{d×k}
  X_att,a = (H_a W_ha)ᵀ + X_a ∈ R^{L×d_a}                 W_ha ∈ R^{k×L}
and likewise for v. Before that, optional linear encoders map each
modality's features to `encoder_features` (the authors' code: 128). The
weights' shapes follow from L, so a model is built for one L.
"""

import math

from flax import nnx
import jax
import jax.numpy as jnp

from caav_jax.errors import ConfigError


class _Branch(nnx.Module):
  """One modality's weights: W_j (L×L), W (L×k), W_c (d×k), W_h (k×L)."""

  def __init__(self, length: int, joint: int, hidden: int, rngs: nnx.Rngs):
    init = nnx.initializers.xavier_normal()
    self.w_j = nnx.Param(init(rngs.params(), (length, length), jnp.float32))
    self.w = nnx.Param(init(rngs.params(), (length, hidden), jnp.float32))
    self.w_c = nnx.Param(init(rngs.params(), (joint, hidden), jnp.float32))
    self.w_h = nnx.Param(init(rngs.params(), (hidden, length), jnp.float32))

  def __call__(self, x: jnp.ndarray, joint: jnp.ndarray, dtype) -> jnp.ndarray:
    """X_att (batch, L, d_x) from X (batch, L, d_x) and J (batch, L, d)."""
    w_j, w, w_c, w_h = (p[...].astype(dtype) for p in (self.w_j, self.w, self.w_c, self.w_h))
    scale = 1.0 / math.sqrt(joint.shape[-1])
    correlation = jnp.tanh(jnp.einsum('bla,lm,bmd->bad', x, w_j, joint) * scale)
    hidden = jax.nn.relu(jnp.einsum('bla,lk->bak', x, w)
                         + jnp.einsum('bad,dk->bak', correlation, w_c))
    return jnp.einsum('bak,kl->bla', hidden, w_h) + x


class JointCrossAttention(nnx.Module):
  """Attends each modality against the joint audio-visual representation.

  Returns [X_att,a, X_att,v] (batch, L, d_a + d_v), the sequence the head
  reads (the authors' regressor reads concat(X_v, X_att,v) and leaves the
  attended audio unused; here both attended sequences, docs/model.md).
  """

  def __init__(self, audio_features: int, visual_features: int, length: int, *,
               encoder_features: int = 128, hidden: int = 32, dtype=jnp.float32,
               rngs: nnx.Rngs):
    if encoder_features:
      self.audio_encoder = nnx.Linear(audio_features, encoder_features, dtype=dtype, rngs=rngs)
      self.visual_encoder = nnx.Linear(visual_features, encoder_features, dtype=dtype,
                                       rngs=rngs)
      audio_features = visual_features = encoder_features
    else:
      self.audio_encoder = self.visual_encoder = None
    self.length = length
    joint = audio_features + visual_features
    # Not named audio/visual: those path names select the backbones (training/stages.py).
    self.audio_attention = _Branch(length, joint, hidden, rngs)
    self.visual_attention = _Branch(length, joint, hidden, rngs)
    self.features = joint
    self.dtype = dtype

  def __call__(self, audio: jnp.ndarray, visual: jnp.ndarray) -> jnp.ndarray:
    """(batch, L, d_a) and (batch, L, d_v) to (batch, L, features)."""
    if audio.shape[1] != self.length or visual.shape[1] != self.length:
      raise ConfigError(f'the jca fusion was built for {self.length} sub-sequences a clip, '
                        f'got {audio.shape[1]}: data.clip_frames / data.subseq_frames must be '
                        'what the model was built with')
    if self.audio_encoder is not None:
      audio, visual = self.audio_encoder(audio), self.visual_encoder(visual)
    audio, visual = audio.astype(self.dtype), visual.astype(self.dtype)
    joint = jnp.concatenate([audio, visual], axis=-1)
    return jnp.concatenate([self.audio_attention(audio, joint, self.dtype),
                            self.visual_attention(visual, joint, self.dtype)], axis=-1)
