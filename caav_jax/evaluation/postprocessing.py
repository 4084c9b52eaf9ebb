"""AVEC-style post-processing of frame-level (40 ms) emotion predictions.

Per dimension, in this order (AVEC 2016 baseline; Trigeorgis et al. 2016):
  1. median filter with an odd window (edges repeat the nearest value),
  2. centring: subtract the prediction mean, add the gold mean,
  3. scaling: multiply the centred deviation by std(gold) / std(prediction),
  4. time shift: predictions move k frames later, shifted[t] = pred[t - k],
     the first k frames repeating pred[0]; the length is kept.

The shift compensates the annotators' reaction lag: the gold at frame t rates
what was shown around t - lag, so a model that sees frame t predicts
gold[t + lag]; moving its output lag frames later aligns it with the gold.

Centring and scaling match the mean and the standard deviation of the
predictions to those of the gold, which turns the CCC into Pearson's r. Since
CCC = r * 2 s_p s_g / (s_p² + s_g² + (m_p - m_g)²) and that factor is at most
1, this never lowers the CCC when r >= 0, but lowers it when r < 0.
"""

from collections.abc import Sequence
import dataclasses

import numpy as np

from caav_jax import metrics


DEFAULT_WINDOWS = (1, 5, 11, 21, 41, 81)
DEFAULT_MAX_SHIFT = 50


def _check_window(window) -> None:
  if not isinstance(window, (int, np.integer)) or window < 1 or window % 2 == 0:
    raise ValueError(f'median window must be an odd positive integer, got {window!r}')


def _check_shift(shift, name: str = 'shift') -> None:
  if not isinstance(shift, (int, np.integer)) or shift < 0:
    raise ValueError(f'{name} must be a non-negative integer, got {shift!r}')


def _as_series(series, name: str) -> np.ndarray:
  """Returns `series` as a float64 array, checked to be 1-D, non-empty and finite."""
  array = np.asarray(series, np.float64)
  if array.ndim != 1:
    raise ValueError(f'{name} must be 1-D, got shape {array.shape}')
  if array.size == 0:
    raise ValueError(f'{name} is empty')
  if not np.all(np.isfinite(array)):
    raise ValueError(f'{name} contains NaN or infinite values')
  return array


def median_smooth(series: np.ndarray, window: int) -> np.ndarray:
  """Median filter with edges padded by repeating the nearest value.

  Args:
    series: (steps,) one recording.
    window: odd filter length; 1 returns the series unchanged.

  Returns:
    (steps,) the smoothed series.
  """
  _check_window(window)
  if window == 1:
    return series
  padded = np.pad(series, window // 2, mode='edge')
  return np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)


def _shifted_versions(series: np.ndarray, max_shift: int) -> np.ndarray:
  """Returns (max_shift + 1, steps): row k is `series` moved k frames later."""
  padded = np.concatenate([np.full(max_shift, series[0]), series])
  windows = np.lib.stride_tricks.sliding_window_view(padded, series.size)
  return windows[::-1]


@dataclasses.dataclass(frozen=True)
class PostProcessing:
  """Fitted post-processing of one dimension.

  Attributes:
    window: odd median-filter length (1 = no smoothing).
    shift: frames by which predictions are moved later.
    pred_mean: mean of the smoothed predictions the parameters were fitted on.
    pred_std: their (population) standard deviation.
    gold_mean: mean of the gold standard.
    gold_std: its (population) standard deviation.
  """
  window: int
  shift: int
  pred_mean: float
  pred_std: float
  gold_mean: float
  gold_std: float

  def __post_init__(self):
    _check_window(self.window)
    _check_shift(self.shift)
    for name in ('pred_mean', 'pred_std', 'gold_mean', 'gold_std'):
      if not np.isfinite(getattr(self, name)):
        raise ValueError(f'{name} must be finite, got {getattr(self, name)!r}')
    if self.pred_std < 0 or self.gold_std < 0:
      raise ValueError(f'standard deviations must be >= 0, got pred_std='
                       f'{self.pred_std!r}, gold_std={self.gold_std!r}')

  @property
  def scale(self) -> float:
    """The factor on the centred deviation; 0 for constant predictions."""
    return self.gold_std / self.pred_std if self.pred_std > 0 else 0.0

  def apply(self, series: np.ndarray) -> np.ndarray:
    """Post-processes one recording.

    Args:
      series: (steps,) frame-level predictions of one dimension.

    Returns:
      (steps,) float64 smoothed, centred, scaled and shifted predictions.

    Raises:
      ValueError: if `series` is not a finite non-empty 1-D array.
    """
    smoothed = median_smooth(_as_series(series, 'series'), self.window)
    rescaled = self.gold_mean + (smoothed - self.pred_mean) * self.scale
    return _shifted_versions(rescaled, self.shift)[self.shift]

  def to_json(self) -> dict:
    """Returns the parameters as a JSON-serialisable dict."""
    return {'window': int(self.window), 'shift': int(self.shift),
            'pred_mean': float(self.pred_mean), 'pred_std': float(self.pred_std),
            'gold_mean': float(self.gold_mean), 'gold_std': float(self.gold_std)}


def _check_pairs(predictions, golds) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """Validates per-recording 1-D series and returns them as float64 arrays."""
  if len(predictions) != len(golds):
    raise ValueError(f'{len(predictions)} prediction series but {len(golds)} gold series')
  if not predictions:
    raise ValueError('no recordings given')
  checked_predictions, checked_golds = [], []
  for index, (prediction, gold) in enumerate(zip(predictions, golds)):
    prediction = _as_series(prediction, f'prediction of recording {index}')
    gold = _as_series(gold, f'gold of recording {index}')
    if prediction.size != gold.size:
      raise ValueError(f'recording {index}: prediction has {prediction.size} steps '
                       f'but gold has {gold.size}')
    checked_predictions.append(prediction)
    checked_golds.append(gold)
  return checked_predictions, checked_golds


def fit(predictions: Sequence[np.ndarray], golds: Sequence[np.ndarray], *,
        windows: Sequence[int] = DEFAULT_WINDOWS,
        max_shift: int = DEFAULT_MAX_SHIFT) -> PostProcessing:
  """Grid-searches window and shift maximising the CCC of all recordings.

  Each recording is smoothed and shifted on its own; the statistics and the
  CCC are taken over all recordings concatenated. Ties go to the earlier
  window in `windows` and the smaller shift.

  Args:
    predictions: per recording, (steps,) predictions of one dimension.
    golds: per recording, (steps,) gold standard of the same dimension.
    windows: odd median-filter lengths to try.
    max_shift: shifts 0..max_shift frames are tried.

  Returns:
    The parameters with the highest CCC.

  Raises:
    ValueError: on mismatched lengths, NaN or infinite values, an even or
      non-positive window, a negative shift, or a constant gold standard.
  """
  predictions, golds = _check_pairs(predictions, golds)
  if not windows:
    raise ValueError('no median windows to try')
  for window in windows:
    _check_window(window)
  _check_shift(max_shift, 'max_shift')
  gold = np.concatenate(golds)
  gold_mean, gold_std = float(gold.mean()), float(gold.std())
  if gold_std == 0:
    raise ValueError('gold standard is constant: the CCC is undefined')
  best_ccc, best = -np.inf, None
  for window in windows:
    smoothed = [median_smooth(prediction, window) for prediction in predictions]
    joined = np.concatenate(smoothed)
    candidate = PostProcessing(int(window), 0, float(joined.mean()),
                               float(joined.std()), gold_mean, gold_std)
    rescaled = np.concatenate(
        [_shifted_versions(s, max_shift) for s in smoothed], axis=1)
    rescaled = gold_mean + (rescaled - candidate.pred_mean) * candidate.scale
    cccs = metrics.concordance(rescaled, gold[np.newaxis], axis=1)
    shift = int(np.argmax(cccs))
    if cccs[shift] > best_ccc:
      best_ccc, best = cccs[shift], dataclasses.replace(candidate, shift=shift)
  return best


def _check_matrices(arrays, dimensions, name: str) -> None:
  for index, array in enumerate(arrays):
    shape = np.shape(array)
    if len(shape) != 2 or shape[1] != len(dimensions):
      raise ValueError(f'{name} of recording {index} must have shape '
                       f'(steps, {len(dimensions)}) for {tuple(dimensions)}, got {shape}')


def fit_all(predictions: Sequence[np.ndarray], golds: Sequence[np.ndarray],
            dimensions: Sequence[str], **kwargs) -> dict[str, PostProcessing]:
  """Fits every dimension separately.

  Args:
    predictions: per recording, (steps, dims) predictions.
    golds: per recording, (steps, dims) gold standard.
    dimensions: the dims names, in column order.
    **kwargs: `windows` and `max_shift`, passed to `fit`.

  Returns:
    The fitted parameters by dimension name.

  Raises:
    ValueError: on arrays of the wrong shape, and as `fit` does.
  """
  _check_matrices(predictions, dimensions, 'predictions')
  _check_matrices(golds, dimensions, 'golds')
  return {name: fit([np.asarray(p)[:, column] for p in predictions],
                    [np.asarray(g)[:, column] for g in golds], **kwargs)
          for column, name in enumerate(dimensions)}


def apply_all(fitted: dict[str, PostProcessing], prediction: np.ndarray,
              dimensions: Sequence[str]) -> np.ndarray:
  """Post-processes every dimension of one recording.

  Args:
    fitted: parameters by dimension name, e.g. from `fit_all`.
    prediction: (steps, dims) predictions of one recording.
    dimensions: the dims names, in column order.

  Returns:
    (steps, dims) float64 post-processed predictions.

  Raises:
    ValueError: on a dimension without parameters or a wrongly shaped array.
  """
  missing = [name for name in dimensions if name not in fitted]
  if missing:
    raise ValueError(f'no fitted post-processing for {missing}')
  _check_matrices([prediction], dimensions, 'prediction')
  prediction = np.asarray(prediction)
  return np.stack([fitted[name].apply(prediction[:, column])
                   for column, name in enumerate(dimensions)], axis=1)
