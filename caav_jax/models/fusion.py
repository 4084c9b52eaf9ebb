"""How the two feature sequences are combined: the paper's CAM, the baselines, and the authors' JCA."""

from flax import nnx
import jax.numpy as jnp

from caav_jax.models.cross_attention import CrossAttention
from caav_jax.models.cross_attention import l2_normalise
from caav_jax.models.joint_cross_attention import JointCrossAttention


FUSIONS = ('cam', 'cam_concat', 'jca', 'concat', 'sum', 'audio_only', 'visual_only')


class Fusion(nnx.Module):
  """Combines L2-normalised audio and visual sequences into one sequence.

  'cam': X̂_a + X̂_v from cross-attention (the authors' code sums the
  attended features); 'cam_concat': [X̂_a, X̂_v] (the paper's text feeds
  both attended sequences to the fully connected layers); 'concat':
  [x_a, x_v]; 'sum': x_a + x_v; 'jca': joint cross-attention
  (joint_cross_attention.py; built for `length` sub-sequences a clip);
  'audio_only' / 'visual_only': one modality.
  """

  def __init__(self, kind: str, audio_features: int, visual_features: int, *,
               length: int = 0, jca_encoder_features: int = 128, jca_hidden: int = 32,
               dtype=jnp.float32, rngs: nnx.Rngs):
    if kind not in FUSIONS:
      raise ValueError(f'fusion must be one of {FUSIONS}, not {kind!r}')
    if kind in ('cam', 'cam_concat', 'sum') and audio_features != visual_features:
      raise ValueError(f'{kind!r} fusion adds the two sequences: audio features '
                       f'({audio_features}) and visual features '
                       f'({visual_features}) must match')
    self.kind = kind
    self.cross_attention = (CrossAttention(audio_features, visual_features,
                                           dtype=dtype, rngs=rngs)
                            if kind.startswith('cam') else None)
    if kind == 'jca' and length < 1:
      raise ValueError('the jca fusion is built for a clip length: give length, the '
                       'sub-sequences a clip')
    self.joint_attention = (JointCrossAttention(
        audio_features, visual_features, length, encoder_features=jca_encoder_features,
        hidden=jca_hidden, dtype=dtype, rngs=rngs) if kind == 'jca' else None)
    self.features = (self.joint_attention.features if kind == 'jca' else
                     {'concat': audio_features + visual_features,
                      'cam_concat': audio_features + visual_features,
                      'visual_only': visual_features}.get(kind, audio_features))

  def __call__(self, audio: jnp.ndarray | None, visual: jnp.ndarray | None
               ) -> jnp.ndarray:
    """Maps (batch, L, d_a) and (batch, L, d_v) to (batch, L, features)."""
    if self.kind == 'cam':
      attended_audio, attended_visual = self.cross_attention(audio, visual)
      return attended_audio + attended_visual
    if self.kind == 'cam_concat':
      return jnp.concatenate(self.cross_attention(audio, visual), axis=-1)
    if self.kind == 'jca':
      return self.joint_attention(audio, visual)
    if self.kind == 'audio_only':
      return l2_normalise(audio)
    if self.kind == 'visual_only':
      return l2_normalise(visual)
    audio, visual = l2_normalise(audio), l2_normalise(visual)
    if self.kind == 'concat':
      return jnp.concatenate([audio, visual], axis=-1)
    return audio + visual
