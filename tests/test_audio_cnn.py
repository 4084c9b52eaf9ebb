"""The spectrogram CNN: layer sizes, parameter count, ceil-mode pooling, precision."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from caav_jax.models.audio_cnn import AudioCNN, max_pool_ceil


def test_parameter_count_matches_the_layer_plan():
  model = AudioCNN(rngs=nnx.Rngs(0))
  convs = [(5, 1, 64), (5, 64, 128), (3, 128, 256), (5, 256, 512), (3, 512, 1024)]
  expected = sum(k * k * i * o + o for k, i, o in convs) + 2 * 64 + 2 * 256
  assert expected == 8_499_328
  assert sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))) == expected


def test_sizes_through_the_network():
  model = AudioCNN(width_multiplier=0.125, rngs=nnx.Rngs(0))
  model.eval()
  x = jnp.zeros((2, 128, 65, 1))
  x = model.conv1(x); assert x.shape[1:3] == (124, 31)
  x = nnx.max_pool(x, (4, 2), strides=(4, 2)); assert x.shape[1:3] == (31, 15)
  x = model.conv2(x); assert x.shape[1:3] == (29, 7)
  x = max_pool_ceil(model.conv3(x), (2, 2)); assert x.shape[1:3] == (15, 4)
  x = model.conv4(x); assert x.shape[1:3] == (13, 2)
  x = model.conv5(x); assert x.shape[1:3] == (13, 2)
  assert model(jnp.zeros((2, 128, 65))).shape == (2, 128)


def test_ceil_mode_pooling_keeps_partial_windows():
  x = np.arange(5 * 3, dtype=np.float32).reshape(1, 5, 3, 1) - 100
  out = np.asarray(max_pool_ceil(jnp.asarray(x), (2, 2)))[0, :, :, 0]
  expected = np.array([[x[0, r:r + 2, c:c + 2, 0].max() for c in (0, 2)] for r in (0, 2, 4)])
  np.testing.assert_array_equal(out, expected)  # negative values: padding never wins


def test_bfloat16_close_to_float32():
  spectrograms = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 128, 65)), jnp.float32)
  full = AudioCNN(width_multiplier=0.25, rngs=nnx.Rngs(0))
  half = AudioCNN(width_multiplier=0.25, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
  full.eval(), half.eval()
  reference = np.asarray(full(spectrograms))
  approx = np.asarray(half(spectrograms).astype(jnp.float32))
  assert half.conv1.kernel[...].dtype == jnp.float32  # parameters stay float32
  assert np.linalg.norm(approx - reference) / np.linalg.norm(reference) < 0.03


def test_too_short_spectrograms_are_refused():
  model = AudioCNN(width_multiplier=0.125, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match='too small for the audio CNN'):
    model(jnp.zeros((1, 128, 33)))  # 8-frame sub-sequences
  assert model(jnp.zeros((1, 128, 47))).shape == (1, 128)
