"""The whole network: I3D and spectrogram CNN backbones, a fusion, and a head.

`EmotionModel` is the paper's model (fusion='cam') and its baselines;
`UnimodalModel` pre-trains one backbone with its own head. Both name their
backbones `visual` and `audio`, so a backbone moves between them by name.
"""

from flax import nnx
import jax.numpy as jnp

from caav_jax.models.audio_cnn import AudioCNN
from caav_jax.models.fusion import Fusion
from caav_jax.models.i3d import BATCH_NORM_MOMENTUM
from caav_jax.models.i3d import InceptionI3d
from caav_jax.models.prediction_head import PredictionHead
from caav_jax.models.unimodal_heads import AudioPretrainHead
from caav_jax.models.unimodal_heads import VisualPretrainHead


def frames_to_unit_range(frames: jnp.ndarray, dtype) -> jnp.ndarray:
  """uint8 RGB [0, 255] → [-1, 1] in the compute dtype."""
  return frames.astype(dtype) * (2.0 / 255.0) - 1.0


def _embed_visual(visual: InceptionI3d, frames: jnp.ndarray, dtype) -> jnp.ndarray:
  """(batch, L, frames, H, W, 3) uint8 → (batch, L, features)."""
  batch, length = frames.shape[:2]
  clips = frames_to_unit_range(frames.reshape(batch * length, *frames.shape[2:]), dtype)
  return visual(clips).reshape(batch, length, -1)


def _embed_audio(audio: AudioCNN, spectrograms: jnp.ndarray) -> jnp.ndarray:
  """(batch, L, mels, time) → (batch, L, features)."""
  batch, length = spectrograms.shape[:2]
  flat = spectrograms.reshape(batch * length, *spectrograms.shape[2:])
  return audio(flat).reshape(batch, length, -1)


class EmotionModel(nnx.Module):
  """Backbones → fusion → head: valence and arousal for a clip.

  Attributes:
    visual: the I3D backbone (None for fusion='audio_only').
    audio: the spectrogram CNN backbone (None for fusion='visual_only').
    fusion: how the sequences are combined (see `Fusion`).
    head: the prediction head.
  """

  def __init__(self, *, fusion: str = 'cam', outputs: int = 2,
               visual_width: float = 1.0, audio_width: float = 1.0,
               dropout_rate: float = 0.5, dtype=jnp.float32,
               visual_batch_norm_momentum: float = BATCH_NORM_MOMENTUM,
               sequence_length: int = 0, jca_encoder_features: int = 128,
               jca_hidden: int = 32, rngs: nnx.Rngs):
    self.dtype = dtype
    uses_visual, uses_audio = fusion != 'audio_only', fusion != 'visual_only'
    self.visual = (InceptionI3d(width_multiplier=visual_width, dtype=dtype,
                                batch_norm_momentum=visual_batch_norm_momentum, rngs=rngs)
                   if uses_visual else None)
    self.audio = (AudioCNN(width_multiplier=audio_width, dtype=dtype, rngs=rngs)
                  if uses_audio else None)
    visual_features = self.visual.features if uses_visual else 0
    audio_features = self.audio.features if uses_audio else 0
    self.fusion = Fusion(fusion, audio_features, visual_features, length=sequence_length,
                         jca_encoder_features=jca_encoder_features, jca_hidden=jca_hidden,
                         dtype=dtype, rngs=rngs)
    self.head = PredictionHead(self.fusion.features, outputs,
                               dropout_rate=dropout_rate, dtype=dtype, rngs=rngs)

  def embed(self, frames: jnp.ndarray | None, spectrograms: jnp.ndarray | None
            ) -> tuple[jnp.ndarray | None, jnp.ndarray | None]:
    """Backbone features of each sub-sequence.

    Args:
      frames: (batch, L, frames, H, W, 3) uint8, or None if unused.
      spectrograms: (batch, L, mels, time) float32, or None if unused.

    Returns:
      (audio (batch, L, d_a), visual (batch, L, d_v)); None for a modality
      the model lacks or whose input is None.
    """
    audio = (_embed_audio(self.audio, spectrograms)
             if self.audio is not None and spectrograms is not None else None)
    visual = (_embed_visual(self.visual, frames, self.dtype)
              if self.visual is not None and frames is not None else None)
    return audio, visual

  def predict(self, audio: jnp.ndarray | None, visual: jnp.ndarray | None
              ) -> jnp.ndarray:
    """Fusion and head on backbone features: (batch, outputs)."""
    return self.head(self.fusion(audio, visual))

  def __call__(self, frames: jnp.ndarray | None,
               spectrograms: jnp.ndarray | None) -> jnp.ndarray:
    """(batch, outputs) predictions in (-1, 1), float32."""
    return self.predict(*self.embed(frames, spectrograms))


class FusionHead(nnx.Module):
  """An EmotionModel's fusion and head, sharing their variables: what runs on cached features.

  A jitted step receives every variable of the modules passed to it; on
  cached features the backbones are dead weight. The parameters keep their
  paths ('fusion/…', 'head/…'), so
  an optimizer built on this part has the same state as one built on the
  whole model for these parameters.
  """

  def __init__(self, model: EmotionModel):
    self.fusion = model.fusion
    self.head = model.head

  def __call__(self, audio: jnp.ndarray | None, visual: jnp.ndarray | None
               ) -> jnp.ndarray:
    """Fusion and head on cached backbone features: (batch, outputs)."""
    return self.head(self.fusion(audio, visual))


class UnimodalModel(nnx.Module):
  """One backbone with its pre-training head (PAPER.md), for the unimodal stages."""

  def __init__(self, modality: str, *, outputs: int = 2, width: float = 1.0,
               dropout_rate: float = 0.5, dtype=jnp.float32,
               visual_batch_norm_momentum: float = BATCH_NORM_MOMENTUM, rngs: nnx.Rngs):
    if modality not in ('audio', 'visual'):
      raise ValueError(f"modality must be 'audio' or 'visual', not {modality!r}")
    self.modality = modality
    self.dtype = dtype
    if modality == 'visual':
      self.visual = InceptionI3d(width_multiplier=width, dtype=dtype,
                                 batch_norm_momentum=visual_batch_norm_momentum, rngs=rngs)
      self.head = VisualPretrainHead(self.visual.features, outputs,
                                     dropout_rate=dropout_rate, dtype=dtype, rngs=rngs)
    else:
      self.audio = AudioCNN(width_multiplier=width, dtype=dtype, rngs=rngs)
      self.head = AudioPretrainHead(self.audio.features, outputs,
                                    dropout_rate=dropout_rate, dtype=dtype, rngs=rngs)

  def __call__(self, frames: jnp.ndarray | None,
               spectrograms: jnp.ndarray | None) -> jnp.ndarray:
    """(batch, outputs) float32 from the one modality this model sees."""
    if self.modality == 'visual':
      return self.head(_embed_visual(self.visual, frames, self.dtype))
    return self.head(_embed_audio(self.audio, spectrograms))
