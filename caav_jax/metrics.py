"""Concordance correlation coefficient (CCC), one-shot and from streamed sufficient statistics.

CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) − mean(y))²), with population
(1/n) moments. A CCC over many batches is not the mean of per-batch CCCs:
accumulate (n, Σx, Σy, Σx², Σy², Σxy) per dimension and finish once.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np


def concordance(predictions, targets, axis: int = 0):
  """CCC along `axis` (per remaining index), for numpy or JAX arrays."""
  xp = jnp if isinstance(predictions, jnp.ndarray) else np
  mean_p, mean_t = predictions.mean(axis), targets.mean(axis)
  covariance = ((predictions - xp.expand_dims(mean_p, axis))
                * (targets - xp.expand_dims(mean_t, axis))).mean(axis)
  return 2 * covariance / (predictions.var(axis) + targets.var(axis)
                           + (mean_p - mean_t) ** 2)


def concordance_loss(predictions: jnp.ndarray, targets: jnp.ndarray) -> jnp.ndarray:
  """The training loss: 1 − CCC over the batch, per dimension, averaged.

  Args:
    predictions: (batch, dims).
    targets: (batch, dims).

  Returns:
    A scalar.
  """
  return jnp.mean(1.0 - concordance(predictions, targets, axis=0))


@dataclasses.dataclass
class ConcordanceStatistics:
  """Streamed sufficient statistics of CCC, one entry per dimension (float64 on the host)."""
  count: np.ndarray
  sum_p: np.ndarray
  sum_t: np.ndarray
  sum_pp: np.ndarray
  sum_tt: np.ndarray
  sum_pt: np.ndarray

  @classmethod
  def zeros(cls, dims: int) -> 'ConcordanceStatistics':
    return cls(*(np.zeros(dims) for _ in range(6)))

  def add(self, predictions, targets, valid=None) -> 'ConcordanceStatistics':
    """Adds (n, dims) pairs; rows (valid of shape (n,)) or entries (valid of shape (n, dims))
    with valid=False are ignored, whatever they hold."""
    p = np.asarray(predictions, np.float64)
    t = np.asarray(targets, np.float64)
    w = np.ones(p.shape[0]) if valid is None else np.asarray(valid, np.float64)
    w = w[:, None] if w.ndim == 1 else w
    p, t = np.where(w > 0, p, 0.0), np.where(w > 0, t, 0.0)
    return ConcordanceStatistics(
        self.count + w.sum(0), self.sum_p + (w * p).sum(0), self.sum_t + (w * t).sum(0),
        self.sum_pp + (w * p * p).sum(0), self.sum_tt + (w * t * t).sum(0),
        self.sum_pt + (w * p * t).sum(0))

  def merge(self, other: 'ConcordanceStatistics') -> 'ConcordanceStatistics':
    return ConcordanceStatistics(*(a + b for a, b in zip(
        dataclasses.astuple(self), dataclasses.astuple(other))))

  def result(self) -> np.ndarray:
    """(dims,) CCC of everything added."""
    n = self.count
    mean_p, mean_t = self.sum_p / n, self.sum_t / n
    var_p = self.sum_pp / n - mean_p ** 2
    var_t = self.sum_tt / n - mean_t ** 2
    covariance = self.sum_pt / n - mean_p * mean_t
    return 2 * covariance / (var_p + var_t + (mean_p - mean_t) ** 2)
