"""Builds models for tests without JAX's random-number code, which compiles once per kernel shape.

On this CPU, initialising even a tiny I3D through `jax.random` takes over a
minute; filling an abstract model (`nnx.eval_shape`) from numpy takes
milliseconds and gives the same structure.
"""

import math

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np


def random_state(abstract_module, seed: int = 0):
  """Concrete values for every variable of an abstract module.

  Kernels and W are He-normal; biases small; batch-norm scale, bias, mean and
  var drawn away from 1, 0, 0, 1 so that eval mode's use of the running
  statistics is visible; random streams get fresh keys.
  """
  graphdef, state = nnx.split(abstract_module)
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name, shape = str(path[-2].key), leaf.shape
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      return jax.random.key(int(rng.integers(2**31)))
    if name == 'count':
      return jnp.zeros(shape, leaf.dtype)
    if name in ('kernel', 'w'):
      fan_in = math.prod(shape[:-1])
      return jnp.asarray(rng.normal(0, math.sqrt(2 / fan_in), shape), jnp.float32)
    low, high = {'scale': (0.5, 1.5), 'bias': (-0.2, 0.2),
                 'mean': (-0.2, 0.2), 'var': (0.5, 1.5)}[name]
    return jnp.asarray(rng.uniform(low, high, shape), jnp.float32)

  return nnx.merge(graphdef, jax.tree_util.tree_map_with_path(fill, state))


def build(constructor, seed: int = 0):
  """`constructor(rngs=...)` with numpy-drawn values, e.g. build(lambda rngs: Model(rngs=rngs))."""
  return random_state(nnx.eval_shape(lambda: constructor(rngs=nnx.Rngs(0))), seed)
