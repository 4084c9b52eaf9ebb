"""Orbax checkpoints restore model, optimizer, step and the data order."""

from flax import nnx
import grain
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from caav_jax.checkpointing import Checkpoints
from caav_jax.models.prediction_head import PredictionHead


def make(seed):
  model = PredictionHead(8, 2, rngs=nnx.Rngs(seed))
  return model, nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)


def data():
  return iter(grain.MapDataset.range(100).seed(3).shuffle().batch(4).to_iter_dataset())


@nnx.jit
def step(model, optimizer, x):
  loss, grads = nnx.value_and_grad(lambda m: jnp.mean(m(x) ** 2))(model)
  optimizer.update(model, grads)
  return loss


def test_restore_continues_with_the_same_parameters_step_and_batches(tmp_path):
  model, optimizer = make(0)
  iterator = data()
  x = jnp.ones((4, 3, 8))
  for _ in range(3):
    next(iterator)
    step(model, optimizer, x)
  checkpoints = Checkpoints(tmp_path / 'ckpt')
  checkpoints.save(3, model, optimizer, iterator)
  expected_batches = [next(iterator).tolist() for _ in range(2)]
  expected_loss = float(step(model, optimizer, x))

  fresh_model, fresh_optimizer = make(1)  # different initial values
  fresh_iterator = data()
  assert Checkpoints(tmp_path / 'ckpt').restore(fresh_model, fresh_optimizer, fresh_iterator) == 3
  assert int(fresh_optimizer.step[...]) == 3
  assert [next(fresh_iterator).tolist() for _ in range(2)] == expected_batches
  np.testing.assert_array_equal(float(step(fresh_model, fresh_optimizer, x)), expected_loss)
  checkpoints.close()


def test_keeps_the_last_n_and_says_when_there_is_none(tmp_path):
  model, optimizer = make(0)
  iterator = data()
  checkpoints = Checkpoints(tmp_path / 'ckpt', max_to_keep=2)
  with pytest.raises(FileNotFoundError, match='no checkpoint to restore'):
    checkpoints.restore(model, optimizer, iterator)
  for s in (1, 2, 3):
    checkpoints.save(s, model, optimizer, iterator)
  assert checkpoints.latest_step() == 3
  assert sorted(int(p.name) for p in (tmp_path / 'ckpt').iterdir() if p.name.isdigit()) == [2, 3]
  checkpoints.close()
