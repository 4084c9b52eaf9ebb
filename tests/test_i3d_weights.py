"""Converting pytorch-i3d state dicts: key map, kernel layout, and errors that list every problem."""

import pathlib

import jax
import numpy as np
import pytest
from flax import nnx

from caav_jax.models import i3d_weights
from caav_jax.models.i3d import InceptionI3d
from caav_jax.models.torch_state_dict import read_torch_state_dict
from tests.model_builders import build

FIXTURES = pathlib.Path(__file__).parent / 'fixtures'
_TORCH_BN = {'scale': 'weight', 'bias': 'bias', 'mean': 'running_mean', 'var': 'running_var'}


def torch_style_state_dict(model, seed=0):
  """What pytorch-i3d would save for this model: torch names and layouts, plus logits."""
  rng = np.random.default_rng(seed)
  state = {}
  for path, variable in nnx.to_flat_state(nnx.state(model)):
    *module, leaf = map(str, path)
    shape = variable.get_value().shape
    if leaf == 'kernel':
      t, h, w, i, o = shape
      state['.'.join(module + ['weight'])] = rng.standard_normal((o, i, t, h, w)).astype(np.float32)
    else:
      state['.'.join(module + [_TORCH_BN[leaf]])] = rng.standard_normal(shape).astype(np.float32)
      if leaf == 'var':
        state['.'.join(module + ['num_batches_tracked'])] = np.array(7)
  state['logits.conv3d.weight'] = np.zeros((400, 1024, 1, 1, 1), np.float32)
  state['logits.conv3d.bias'] = np.zeros(400, np.float32)
  return state


@pytest.fixture(scope='module')
def full_width():
  return nnx.eval_shape(lambda: InceptionI3d(rngs=nnx.Rngs(0)))


def test_full_width_key_map_and_kernel_layout(full_width):
  state = torch_style_state_dict(full_width)
  converted = i3d_weights.convert_state_dict(state, full_width)
  model_paths = {'/'.join(map(str, p)) for p, _ in nnx.to_flat_state(nnx.state(full_width))}
  assert set(converted) == model_paths
  np.testing.assert_array_equal(converted['Mixed_4b/b1b/conv3d/kernel'],
                                state['Mixed_4b.b1b.conv3d.weight'].transpose(2, 3, 4, 1, 0))
  assert converted['Conv3d_1a_7x7/conv3d/kernel'].shape == (7, 7, 7, 3, 64)
  np.testing.assert_array_equal(converted['Mixed_5c/b3b/bn/var'],
                                state['Mixed_5c.b3b.bn.running_var'])
  trunk = sum(a.size for p, a in converted.items() if p.split('/')[-1] in ('kernel', 'scale', 'bias'))
  assert trunk == sum(x.size for x in jax.tree.leaves(nnx.state(full_width, nnx.Param)))


def test_every_problem_is_listed(full_width):
  state = torch_style_state_dict(full_width)
  del state['Mixed_5c.b3b.bn.running_var']
  state['Mixed_6a.b0.conv3d.weight'] = np.zeros((1, 1, 1, 1, 1), np.float32)
  state['Mixed_3b.b0.conv3d.weight'] = np.zeros((64, 192, 3, 1, 1), np.float32)
  with pytest.raises(i3d_weights.WeightsFileError) as error:
    i3d_weights.convert_state_dict(state, full_width, 'rgb_imagenet.pt')
  message = str(error.value)
  assert message.startswith('rgb_imagenet.pt: does not fit the I3D trunk')
  assert 'missing key for Mixed_5c/b3b/bn/var' in message
  assert "extra key 'Mixed_6a.b0.conv3d.weight'" in message
  assert "'Mixed_3b.b0.conv3d.weight' has shape (3, 1, 1, 192, 64)" in message


def test_a_genuine_torch_file_is_read_and_checked(full_width):
  state = read_torch_state_dict(FIXTURES / 'i3d_zip.pt')
  with pytest.raises(i3d_weights.WeightsFileError,
                     match=r"'Conv3d_1a_7x7\.conv3d\.weight' has shape \(3, 3, 3, 3, 2\).*"
                           r"the model wants \(7, 7, 7, 3, 64\)"):
    i3d_weights.convert_state_dict(state, full_width, 'i3d_zip.pt')


def test_npz_round_trip_into_a_model(tmp_path):
  model = build(lambda rngs: InceptionI3d(width_multiplier=1 / 32, rngs=rngs))
  converted = i3d_weights.convert_state_dict(torch_style_state_dict(model, seed=3), model)
  np.savez(tmp_path / 'w.npz', **converted)
  fresh = build(lambda rngs: InceptionI3d(width_multiplier=1 / 32, rngs=rngs), seed=1)
  i3d_weights.load_i3d_weights(fresh, tmp_path / 'w.npz')
  for path, variable in nnx.to_flat_state(nnx.state(fresh)):
    np.testing.assert_array_equal(variable[...], converted['/'.join(map(str, path))])
  wrong = build(lambda rngs: InceptionI3d(width_multiplier=1 / 16, rngs=rngs), seed=1)
  with pytest.raises(i3d_weights.WeightsFileError, match=r'w\.npz: .*has shape'):
    i3d_weights.load_i3d_weights(wrong, tmp_path / 'w.npz')
