"""I3D trunk: TF "SAME" padding, Unit3D against a direct reference, sizes, modes, bfloat16."""

import math

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from caav_jax.models import i3d
from caav_jax.models import same_padding
from tests.model_builders import build

# The published channel plan, written out again here so the parameter count is
# derived independently of the model code: (b0, b1a, b1b, b2a, b2b, b3b).
PUBLISHED_MIXED = (
    (64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64),
    (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64),
    (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
    (256, 160, 320, 32, 128, 128), (256, 160, 320, 32, 128, 128),
    (384, 192, 384, 48, 128, 128),
)
FULL_WIDTH_PARAMS = 12_287_264
BN_EPS = 1e-3


def tf_same_pads(size, kernel, stride):
  out = math.ceil(size / stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def pytorch_i3d_total_pad(size, kernel, stride):
  """pytorch-i3d's `compute_pad`, a different formula for the same total."""
  if size % stride == 0:
    return max(kernel - stride, 0)
  return max(kernel - size % stride, 0)


def abstract_call(abstract_module, method, *args):
  """Output shapes of `abstract_module.method(*args)` from shapes alone (no compute)."""
  graphdef, state = nnx.split(abstract_module)
  def call(state, *args):
    return getattr(nnx.merge(graphdef, state), method)(*args)
  return jax.eval_shape(call, state, *args)


def uniform_videos(shape, seed=1):
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape), jnp.float32)


@pytest.mark.parametrize('kernel', [1, 2, 3, 7])
@pytest.mark.parametrize('stride', [1, 2])
def test_same_padding_is_tensorflows_rule(kernel, stride):
  for size in range(1, 26):
    pads = same_padding.same_padding(size, kernel, stride)
    assert pads == tf_same_pads(size, kernel, stride)
    assert pads == tuple(jax.lax.padtype_to_pads((size,), (kernel,), (stride,), 'SAME')[0])
    assert sum(pads) == pytorch_i3d_total_pad(size, kernel, stride)
    assert size + sum(pads) - kernel >= 0
    assert (size + sum(pads) - kernel) // stride + 1 == math.ceil(size / stride)


def test_same_padding_puts_the_odd_element_after():
  assert same_padding.same_padding(224, 7, 2) == (2, 3)
  assert same_padding.same_padding(223, 7, 2) == (3, 3)
  assert same_padding.same_padding(8, 3, 2) == (0, 1)
  assert same_padding.same_padding(7, 2, 2) == (0, 1)
  assert same_padding.same_padding(4, 1, 2) == (0, 0)
  assert same_padding.same_paddings((16, 224, 223), (7, 7, 7), (2, 2, 2)) == (
      (2, 3), (2, 3), (3, 3))
  with pytest.raises(ValueError):
    same_padding.same_paddings((16, 224), (7, 7, 7), (2, 2, 2))


@pytest.mark.parametrize('sizes,kernel,strides', [
    ((5, 6, 7), (7, 7, 7), (2, 2, 2)),
    ((4, 9, 8), (3, 3, 3), (1, 2, 2)),
    ((3, 3, 3), (1, 1, 1), (1, 1, 1)),
])
def test_unit3d_output_size_is_ceil(sizes, kernel, strides):
  unit = nnx.eval_shape(lambda: i3d.Unit3D(3, 5, kernel, strides, rngs=nnx.Rngs(0)))
  out = abstract_call(unit, '__call__', jax.ShapeDtypeStruct((2, *sizes, 3), jnp.float32))
  assert out.shape == (2, *(math.ceil(n / s) for n, s in zip(sizes, strides)), 5)


def brute_force_max_pool(x, window, strides):
  """Max over each window's real inputs only: TF's SAME max pool."""
  spatial = x.shape[1:-1]
  pads = [tf_same_pads(n, k, s) for n, k, s in zip(spatial, window, strides)]
  out_sizes = [math.ceil(n / s) for n, s in zip(spatial, strides)]
  out = np.empty((x.shape[0], *out_sizes, x.shape[-1]), x.dtype)
  for index in np.ndindex(*out_sizes):
    starts = [o * s - p for o, s, (p, _) in zip(index, strides, pads)]
    slices = tuple(slice(max(a, 0), min(a + k, n)) for a, k, n in zip(starts, window, spatial))
    out[(slice(None), *index)] = x[(slice(None), *slices)].max(axis=(1, 2, 3))
  return out


@pytest.mark.parametrize('window,strides', [
    ((3, 3, 3), (1, 1, 1)), ((1, 3, 3), (1, 2, 2)),
    ((3, 3, 3), (2, 2, 2)), ((2, 2, 2), (2, 2, 2)),
])
def test_max_pool_padding_never_wins(window, strides):
  rng = np.random.default_rng(0)
  x = -1.0 - rng.uniform(0, 1, (2, 5, 6, 7, 3)).astype(np.float32)  # all negative
  pooled = np.asarray(same_padding.max_pool_same(jnp.asarray(x), window, strides))
  assert pooled.shape == (2, *(math.ceil(n / s) for n, s in zip((5, 6, 7), strides)), 3)
  assert (pooled < -1.0).all()
  np.testing.assert_array_equal(pooled, brute_force_max_pool(x, window, strides))


@pytest.mark.parametrize('sizes,kernel,strides', [
    ((5, 6, 7), (3, 3, 3), (1, 1, 1)),
    ((6, 9, 8), (7, 7, 7), (2, 2, 2)),
    ((4, 7, 10), (1, 3, 3), (1, 2, 2)),
])
def test_unit3d_equals_direct_reference(sizes, kernel, strides):
  unit = build(lambda rngs: i3d.Unit3D(3, 4, kernel, strides, rngs=rngs))
  unit.eval()
  x = uniform_videos((2, *sizes, 3))
  pads = [tf_same_pads(n, k, s) for n, k, s in zip(sizes, kernel, strides)]
  padded = np.pad(np.asarray(x), [(0, 0), *pads, (0, 0)])
  conv = jax.lax.conv_general_dilated(
      padded, unit.conv3d.kernel[...], strides, 'VALID',
      dimension_numbers=('NDHWC', 'DHWIO', 'NDHWC'),
      precision=jax.lax.Precision.HIGHEST)
  bn = unit.bn
  normalised = ((np.asarray(conv) - np.asarray(bn.mean[...]))
                / np.sqrt(np.asarray(bn.var[...]) + BN_EPS)
                * np.asarray(bn.scale[...]) + np.asarray(bn.bias[...]))
  np.testing.assert_allclose(unit(x), np.maximum(normalised, 0), rtol=1e-5, atol=1e-5)


def inception_conv_params(c_in, plan):
  b0, b1a, b1b, b2a, b2b, b3b = plan
  layers = [(1, c_in, b0), (1, c_in, b1a), (27, b1a, b1b),
            (1, c_in, b2a), (27, b2a, b2b), (1, c_in, b3b)]
  return layers, b0 + b1b + b2b + b3b


def test_full_width_parameter_count():
  # Conv kernels (no bias) k_t·k_h·k_w·c_in·c_out, plus batch-norm scale and
  # bias (2·c_out); running mean/var are BatchStats, not Params.
  layers = [(7 * 7 * 7, 3, 64), (1, 64, 64), (3 * 3 * 3, 64, 192)]
  channels = 192
  for plan in PUBLISHED_MIXED:
    mixed_layers, channels = inception_conv_params(channels, plan)
    layers += mixed_layers
  expected = sum(k * c_in * c_out + 2 * c_out for k, c_in, c_out in layers)
  assert expected == FULL_WIDTH_PARAMS
  assert len(layers) == 57 and channels == 1024

  model = nnx.eval_shape(lambda: i3d.InceptionI3d(rngs=nnx.Rngs(0)))
  def count(variable_type):
    return sum(leaf.size for leaf in jax.tree.leaves(nnx.state(model, variable_type)))
  assert count(nnx.Param) == FULL_WIDTH_PARAMS
  assert count(nnx.BatchStat) == 2 * sum(c_out for _, _, c_out in layers)
  assert model.features == 1024
  assert model.Mixed_4b.b1b.conv3d.kernel.shape == (3, 3, 3, 96, 208)
  assert model.Conv3d_1a_7x7.conv3d.kernel.shape == (7, 7, 7, 3, 64)


@pytest.mark.parametrize('width,features', [(1.0, 1024), (1 / 8, 128)])
def test_output_shapes_for_16x224x224(width, features):
  model = nnx.eval_shape(lambda: i3d.InceptionI3d(width_multiplier=width, rngs=nnx.Rngs(0)))
  videos = jax.ShapeDtypeStruct((2, 16, 224, 224, 3), jnp.float32)
  assert model.features == features
  assert abstract_call(model, 'feature_map', videos).shape == (2, 2, 7, 7, features)
  pooled = abstract_call(model, '__call__', videos)
  assert pooled.shape == (2, features) and pooled.dtype == jnp.float32


def test_train_and_eval_reach_every_batch_norm():
  model = nnx.eval_shape(lambda: i3d.InceptionI3d(width_multiplier=1 / 8, rngs=nnx.Rngs(0)))
  norms = [m for _, m in nnx.iter_modules(model) if isinstance(m, nnx.BatchNorm)]
  assert len(norms) == 57
  model.eval()
  assert all(norm.use_running_average for norm in norms)
  model.train()
  assert not any(norm.use_running_average for norm in norms)


def test_running_statistics_update_in_train_mode_only():
  module = build(lambda rngs: i3d.InceptionModule(6, (3, 2, 4, 2, 3, 2), rngs=rngs))
  x = uniform_videos((2, 3, 5, 4, 6))
  before = nnx.clone(nnx.state(module, nnx.BatchStat))

  module.eval()
  first = module(x)
  np.testing.assert_array_equal(first, module(x))
  assert first.shape == (2, 3, 5, 4, 3 + 4 + 3 + 2)
  jax.tree.map(np.testing.assert_array_equal, nnx.state(module, nnx.BatchStat), before)

  conv_b0 = np.asarray(module.b0.conv3d(x))
  module.train()
  trained = module(x)
  assert not np.allclose(trained, first)
  # Flax momentum 0.99 = PyTorch 0.01: the stat moves 1 % towards the batch's.
  np.testing.assert_allclose(
      module.b0.bn.mean[...],
      0.99 * before['b0']['bn']['mean'][...] + 0.01 * conv_b0.mean(axis=(0, 1, 2, 3)),
      rtol=1e-5, atol=1e-6)
  for updated, old in zip(jax.tree.leaves(nnx.state(module, nnx.BatchStat)),
                          jax.tree.leaves(before)):
    assert not np.allclose(updated, old)


@pytest.fixture(scope='module')
def tiny_float32_features():
  """Width-1/8 trunk in eval mode on 16×48×64 clips, whose sizes go odd on the way."""
  model = build(lambda rngs: i3d.InceptionI3d(width_multiplier=1 / 8, rngs=rngs))
  model.eval()
  videos = uniform_videos((2, 16, 48, 64, 3))
  return nnx.state(model), videos, np.asarray(nnx.jit(lambda m, v: m(v))(model, videos))


def test_tiny_forward_pass(tiny_float32_features):
  _, _, features = tiny_float32_features
  assert features.shape == (2, 128) and features.dtype == np.float32
  assert np.isfinite(features).all() and (features >= 0).all() and features.max() > 0
  assert not np.allclose(features[0], features[1])


def test_bfloat16_compute_is_close_to_float32(tiny_float32_features):
  state, videos, reference = tiny_float32_features
  model = nnx.eval_shape(lambda: i3d.InceptionI3d(
      width_multiplier=1 / 8, dtype=jnp.bfloat16, rngs=nnx.Rngs(0)))
  nnx.update(model, state)
  model.eval()
  assert model.Mixed_5c.b0.conv3d.kernel[...].dtype == jnp.float32
  features = np.asarray(nnx.jit(lambda m, v: m(v))(model, videos))
  assert features.dtype == np.float32
  relative_error = np.linalg.norm(features - reference) / np.linalg.norm(reference)
  assert 0 < relative_error < 3e-2
