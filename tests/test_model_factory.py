"""Models chosen by config: fusion, outputs per dimension, widths, precision, clear errors."""

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from caav_jax.models import factory
from configs import default, synthetic


def abstract(create):
  return nnx.eval_shape(lambda: create(nnx.Rngs(0)))


def test_default_config_is_the_papers_model():
  config = default.get_config()
  model = abstract(lambda rngs: factory.create_model(config, rngs))
  assert model.fusion.kind == 'cam' and model.visual.features == model.audio.features == 1024
  assert model.head.fc3.kernel.shape == (256, 2)  # valence and arousal
  assert model.fusion.cross_attention.w.shape == (1024, 1024)


@pytest.mark.parametrize('fusion', ['concat', 'audio_only'])
def test_baselines_and_one_dimension_by_config(fusion):
  config = synthetic.get_config()
  config.model.fusion, config.data.dimensions = fusion, ('arousal',)
  model = abstract(lambda rngs: factory.create_model(config, rngs))
  assert model.fusion.kind == fusion and model.head.fc3.kernel.shape == (256, 1)
  assert model.audio.features == 256
  assert (model.visual is None) == (fusion == 'audio_only')


def test_bfloat16_compute_keeps_float32_parameters():
  config = synthetic.get_config()
  config.model.dtype = 'bfloat16'
  model = abstract(lambda rngs: factory.create_unimodal_model(config, 'visual', rngs))
  assert model.visual.Conv3d_1a_7x7.conv3d.dtype == jnp.bfloat16
  assert {leaf.dtype for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))} == {jnp.dtype('float32')}


def test_unknown_settings_are_named():
  config = default.get_config()
  config.model.dtype = 'float16'
  with pytest.raises(ValueError, match=r"config.model.dtype must be one of \['bfloat16', 'float32'\], not 'float16'"):
    factory.create_model(config, nnx.Rngs(0))
  config.model.dtype, config.model.fusion = 'float32', 'attention'
  with pytest.raises(ValueError, match='fusion must be one of'):
    abstract(lambda rngs: factory.create_model(config, rngs))
