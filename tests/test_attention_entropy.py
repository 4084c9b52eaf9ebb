"""The sharpness measure of caav_jax.attention_entropy (its run over a cache: tests/test_training_recipe.py)."""

import numpy as np

from caav_jax.tools import attention_entropy


def test_attention_sharpness_of_uniform_one_hot_and_half_split_columns():
  uniform = np.full((2, 4, 4), 0.25)
  one_hot = np.broadcast_to(np.eye(4), (2, 4, 4))
  halves = np.broadcast_to(np.array([[0.5], [0.5], [0.0], [0.0]]), (1, 4, 3))
  np.testing.assert_allclose(attention_entropy.sharpness(uniform), (1.0, 0.25))
  np.testing.assert_allclose(attention_entropy.sharpness(one_hot), (0.0, 1.0), atol=1e-12)
  np.testing.assert_allclose(attention_entropy.sharpness(halves), (0.5, 0.5))
