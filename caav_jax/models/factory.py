"""Builds the configured network from `config.model` and `config.data`."""

from flax import nnx
import jax.numpy as jnp
import ml_collections

from caav_jax.errors import ConfigError
from caav_jax.models.emotion_model import EmotionModel
from caav_jax.models.emotion_model import UnimodalModel
from caav_jax.models.fusion import FUSIONS


DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def compute_dtype(name: str):
  if name not in DTYPES:
    raise ConfigError(f"config.model.dtype must be one of {sorted(DTYPES)}, not {name!r}")
  return DTYPES[name]


def create_model(config: ml_collections.ConfigDict, rngs: nnx.Rngs) -> EmotionModel:
  """The fusion model of `config.model`, predicting each of `config.data.dimensions`."""
  model = config.model
  if model.fusion not in FUSIONS:
    raise ConfigError(f'config.model.fusion must be one of {FUSIONS}, not {model.fusion!r}')
  return EmotionModel(fusion=model.fusion, outputs=len(config.data.dimensions),
                      visual_width=model.visual_width, audio_width=model.audio_width,
                      dropout_rate=model.dropout_rate, dtype=compute_dtype(model.dtype),
                      visual_batch_norm_momentum=model.visual_batch_norm_momentum,
                      sequence_length=config.data.clip_frames // config.data.subseq_frames,
                      jca_encoder_features=model.jca_encoder_features,
                      jca_hidden=model.jca_hidden, rngs=rngs)


def create_unimodal_model(config: ml_collections.ConfigDict, modality: str,
                          rngs: nnx.Rngs) -> UnimodalModel:
  """A backbone with its pre-training head, for the unimodal stages."""
  model = config.model
  width = model.visual_width if modality == 'visual' else model.audio_width
  return UnimodalModel(modality, outputs=len(config.data.dimensions), width=width,
                       dropout_rate=model.dropout_rate, dtype=compute_dtype(model.dtype),
                       visual_batch_norm_momentum=model.visual_batch_norm_momentum,
                       rngs=rngs)
