"""The jitted steps: optimiser steps on 1 − CCC, and predictions in eval mode.

A step runs one module on one kind of input, chosen once per run
(`runnable`): the whole model on pixels, or its fusion and head alone on
cached backbone features. A step's batch is
{'inputs': the module's arguments in order, 'targets': (batch, dims)}.
"""

from typing import Any

from flax import nnx
import jax
import jax.numpy as jnp

from caav_jax.metrics import concordance_loss
from caav_jax.models.emotion_model import FusionHead


PIXELS = ('frames', 'spectrograms')  # the arguments of EmotionModel and UnimodalModel
FEATURES = ('audio_features', 'visual_features')  # the arguments of FusionHead


def runnable(model: nnx.Module, on_features: bool) -> tuple[nnx.Module, tuple[str, str]]:
  """The module a step runs and the batch entries it takes.

  On cached features that is the model's fusion and head alone (sharing its
  variables): a jitted step receives every variable of the modules passed to
  it, and the backbones would be dead weight.
  """
  return (FusionHead(model), FEATURES) if on_features else (model, PIXELS)


def model_inputs(batch: dict[str, Any], inputs: tuple[str, str]) -> tuple:
  """The module's arguments from a pipeline batch; None for a modality the batch lacks."""
  return tuple(batch.get(key) for key in inputs)


def train_batch(batch: dict[str, Any], inputs: tuple[str, str]) -> dict[str, Any]:
  """A pipeline batch as `train_steps` takes it."""
  return {'inputs': model_inputs(batch, inputs), 'targets': batch['targets']}


def _step(model: nnx.Module, optimizer: nnx.Optimizer, batch: dict[str, jax.Array]
          ) -> jax.Array:
  """One optimiser step on 1 − CCC (mean over dimensions); returns the loss."""
  def loss_fn(model):
    return concordance_loss(model(*batch['inputs']), batch['targets'].astype(jnp.float32))

  loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, optimizer.wrt))(model)
  optimizer.update(model, grads)
  return loss


@nnx.jit(donate_argnames=('model', 'optimizer'))
def train_steps(model: nnx.Module, optimizer: nnx.Optimizer,
                batches: dict[str, Any]) -> jax.Array:
  """One optimiser step per batch, in order; returns the (steps,) losses.

  `batches` stacks the steps' batches on a leading axis
  (`sharding.stack_batches`). The steps run in one compiled loop
  (`lax.scan`), the same updates as that many calls of one step (tested),
  without a dispatch and a wait per step: that matters where a step takes
  milliseconds (the fusion stage on cached features).

  The model's and optimizer's buffers are donated (updated in place). Only
  `optimizer.wrt` gets gradients, so frozen backbones cost no backward pass.
  Under a mesh XLA partitions the computation, so batch statistics and the
  CCC are those of the whole global batch, exactly as on one device.
  """
  if jax.tree.leaves(batches)[0].shape[0] == 1:
    # Not in a loop: XLA's CPU runs convolutions inside one several times slower.
    return _step(model, optimizer, jax.tree.map(lambda x: x[0], batches))[None]
  graphdef, state = nnx.split((model, optimizer))

  def step(state, batch):
    model, optimizer = nnx.merge(graphdef, state)
    loss = _step(model, optimizer, batch)
    return nnx.state((model, optimizer)), loss

  state, losses = jax.lax.scan(step, state, batches)
  nnx.update((model, optimizer), state)
  return losses


@nnx.jit
def eval_step(model: nnx.Module, inputs: tuple) -> jax.Array:
  """(batch, dims) predictions of a module in eval mode."""
  return model(*inputs)
