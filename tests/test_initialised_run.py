"""tools/initialised_run: an untrained run that --mode=predict and --mode=eval can load."""

from flax import nnx
import numpy as np
import pytest

from caav_jax.errors import ConfigError
from caav_jax.evaluation import restore
from caav_jax.tools import initialised_run
from caav_jax.training import sharding
from caav_jax.training import stages
from caav_jax.workdir import Workdir
from configs import run_config


def test_writes_the_config_and_a_step_0_checkpoint_of_the_initialised_model(tmp_path):
  from configs import tiny  # pylint: disable=g-import-not-at-top
  config = tiny.get_config()
  config.model.fusion = 'audio_only'  # no I3D to initialise: seconds, not a minute
  initialised_run.write(config, tmp_path / 'run')
  run = Workdir(tmp_path / 'run')
  assert run_config.load(run.config).to_dict() == config.to_dict()
  model, step, is_best = restore.restore_for_evaluation(config, run, sharding.data_mesh())
  assert (step, is_best) == (0, False)
  fresh = nnx.state(stages.create_model(config, initialise_backbones=False), nnx.Param)
  restored = nnx.state(model, nnx.Param)
  for (path, value), (_, expected) in zip(restored.flat_state(), fresh.flat_state(),
                                          strict=True):
    np.testing.assert_array_equal(value[...], expected[...], err_msg=str(path))
  assert float(np.abs(model.head.fc1.kernel[...]).sum()) > 0
  with pytest.raises(ConfigError, match='already holds a run'):
    initialised_run.write(config, tmp_path / 'run')
