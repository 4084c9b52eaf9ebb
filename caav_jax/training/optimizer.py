"""Adam on the paper's learning-rate schedule, over the parameters a stage trains."""

from flax import nnx
import ml_collections
import optax


def learning_rate_schedule(train: ml_collections.ConfigDict,
                           steps_per_epoch: int) -> optax.Schedule:
  """The paper's: constant, then × decay_factor every decay_every_epochs after decay_start_epoch."""
  return optax.exponential_decay(
      train.learning_rate, transition_steps=train.decay_every_epochs * steps_per_epoch,
      decay_rate=train.decay_factor,
      transition_begin=train.decay_start_epoch * steps_per_epoch, staircase=True)


def create_optimizer(model: nnx.Module, train: ml_collections.ConfigDict,
                     steps_per_epoch: int, wrt: nnx.filterlib.Filter = nnx.Param
                     ) -> nnx.Optimizer:
  """Adam on the paper's schedule over the `wrt` parameters, with optional global-norm clipping."""
  tx = optax.adam(learning_rate_schedule(train, steps_per_epoch))
  if train.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(train.grad_clip_norm), tx)
  return nnx.Optimizer(model, tx, wrt=wrt)
