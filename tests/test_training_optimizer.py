"""The optimizer's learning-rate schedule is the paper's."""

import numpy as np

from caav_jax.training import optimizer
from configs import tiny


def test_the_papers_learning_rate_schedule():
  config = tiny.get_config().train
  config.learning_rate = 1e-4
  schedule = optimizer.learning_rate_schedule(config, steps_per_epoch=10)
  epochs = {0: 1e-4, 14.9: 1e-4, 15: 1e-4, 16.9: 1e-4, 17: 0.8e-4, 18.9: 0.8e-4,
            19: 0.64e-4, 25: 0.8 ** 5 * 1e-4}
  for epoch, rate in epochs.items():
    np.testing.assert_allclose(float(schedule(int(epoch * 10))), rate, rtol=1e-6)
