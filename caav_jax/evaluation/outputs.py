"""Evaluation and prediction outputs: per-recording CSV, AVEC ARFF predictions, plots, metrics JSON.

Every writer creates the parent directories and writes atomically
(caav_jax/atomic_write.py): a failed write leaves any earlier file untouched.
"""

from collections.abc import Sequence
import json
import os
import re

from matplotlib import figure as figure_lib
from matplotlib.backends import backend_agg
import numpy as np

from caav_jax import metrics as metrics_lib
from caav_jax.atomic_write import atomic_write


_NAME_PATTERN = re.compile(r'[A-Za-z0-9_.-]+')


def _check_name(name, what: str) -> None:
  if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
    raise ValueError(f'{what} must be a non-empty name of letters, digits, "_", "." or "-", '
                     f'got {name!r}')


def _check_dimensions(dimensions: Sequence[str]) -> None:
  if not dimensions:
    raise ValueError('no dimensions given')
  for name in dimensions:
    _check_name(name, 'dimension')
  if len(set(dimensions)) != len(dimensions):
    raise ValueError(f'dimension names repeat: {tuple(dimensions)}')


def _as_finite(array, name: str, shape: tuple[int, ...], nan_allowed: bool = False
               ) -> np.ndarray:
  """Returns `array` as float64, checked to have `shape` and finite values (or NaN, where
  allowed: a gold standard's unannotated steps)."""
  array = np.asarray(array, np.float64)
  if array.shape != shape:
    raise ValueError(f'{name} must have shape {shape}, got {array.shape}')
  if not np.all(np.isfinite(array) | (nan_allowed & np.isnan(array))):
    raise ValueError(f'{name} contains NaN or infinite values')
  return array


def _check_times(times) -> np.ndarray:
  times = np.asarray(times, np.float64)
  if times.ndim != 1 or times.size == 0:
    raise ValueError(f'times must be a non-empty 1-D array, got shape {times.shape}')
  return _as_finite(times, 'times', times.shape)


def write_recording_csv(path: str | os.PathLike, times: np.ndarray, predictions: np.ndarray,
                        golds: np.ndarray | None, dimensions: Sequence[str]) -> None:
  """Writes one recording's frame-level predictions (and gold) as CSV.

  The header is `time,<dim>_prediction,<dim>_gold,...` per dimension in order;
  the gold columns are left out when `golds` is None, and hold `nan` at an
  unannotated step. Times are written in
  seconds with 2 decimals, values with `%.6f`.

  Args:
    path: the `.csv` file.
    times: (steps,) frame times in seconds.
    predictions: (steps, dims) predictions.
    golds: (steps, dims) gold standard, or None.
    dimensions: the dims names, in column order.

  Raises:
    ValueError: on shapes that disagree, NaN or infinite values, or bad names.
  """
  _check_dimensions(dimensions)
  times = _check_times(times)
  shape = (times.size, len(dimensions))
  columns = [_as_finite(predictions, 'predictions', shape)]
  suffixes = ['prediction']
  if golds is not None:
    columns.append(_as_finite(golds, 'golds', shape, nan_allowed=True))
    suffixes.append('gold')
  # (steps, dims, kinds) -> (steps, dims * kinds): the kinds of one dimension side by side.
  values = np.stack(columns, axis=2).reshape(times.size, -1)
  header = ','.join(['time'] + [f'{name}_{suffix}' for name in dimensions for suffix in suffixes])
  with atomic_write(path) as file:
    np.savetxt(file, np.column_stack([times, values]), delimiter=',', header=header,
               comments='', fmt=[_time_format(times)] + ['%.6f'] * values.shape[1])


def _time_format(times: np.ndarray) -> str:
  """RECOLA's 40 ms steps need 2 decimals; a 30 fps video's frames need more."""
  return '%.2f' if np.allclose(times * 100, np.round(times * 100)) else '%.4f'


def _format_time(seconds: float) -> str:
  """Formats a time like the RECOLA gold standard: `0`, `0.04`, `300`."""
  return f'{seconds:.2f}'.rstrip('0').rstrip('.')


def write_abaw_predictions(path: str | os.PathLike, valence: np.ndarray,
                           arousal: np.ndarray) -> None:
  """Writes one Aff-Wild2 test video's predictions in its annotation files' format, which
  ABAW's valence-arousal track takes: a `valence,arousal` header, then one line per video
  frame, values clipped to the labels' range [-1, 1] and written with `%.6f`.

  Raises:
    ValueError: on lengths that disagree, or NaN or infinite values.
  """
  valence = np.asarray(valence)
  values = _as_finite(np.column_stack([valence, np.asarray(arousal)]), 'predictions',
                      (valence.shape[0], 2))
  with atomic_write(path) as file:
    np.savetxt(file, np.clip(values, -1.0, 1.0), delimiter=',', header='valence,arousal',
               comments='', fmt='%.6f')


def write_avec_arff(path: str | os.PathLike, recording: str, dimension: str,
                    times: np.ndarray, values: np.ndarray) -> None:
  """Writes one recording's predictions of one dimension as an AVEC ARFF file.

  The layout is that of the RECOLA gold standard (9 header lines, then
  `<recording>,<time>,<value>` rows), with relation `PREDICTION_<DIMENSION>`
  and the value attribute named `prediction`. Values are written with `%.6f`,
  lines end with '\\n'.

  Args:
    path: the `.arff` file.
    recording: the instance name, e.g. `dev_1`.
    dimension: e.g. `arousal`.
    times: (steps,) frame times in seconds.
    values: (steps,) predictions.

  Raises:
    ValueError: on lengths that disagree, NaN or infinite values, or names
      that an ARFF row cannot hold unquoted.
  """
  _check_name(recording, 'recording')
  _check_name(dimension, 'dimension')
  times = _check_times(times)
  values = _as_finite(values, 'values', times.shape)
  header = (f'@relation PREDICTION_{dimension.upper()}\n\n'
            '@attribute Instance_name string\n'
            '@attribute frameTime numeric\n'
            '@attribute prediction numeric\n\n\n'
            '@data\n\n')
  with atomic_write(path) as file:
    file.write(header)
    file.writelines(f'{recording},{_format_time(time)},{value:.6f}\n'
                    for time, value in zip(times, values))


def _save(path: str | os.PathLike, figure: figure_lib.Figure, axes, title: str) -> None:
  """Labels the time axis, titles the figure and writes it as PNG, atomically."""
  axes[-1].set_xlabel('time (s)')
  figure.suptitle(title)
  with atomic_write(path, binary=True) as file:
    figure.savefig(file, format='png', dpi=100)


def plot_recording(path: str | os.PathLike, times: np.ndarray, predictions: np.ndarray,
                   golds: np.ndarray, dimensions: Sequence[str], title: str) -> None:
  """Plots gold and prediction against time, one panel per dimension, as PNG.

  Each panel's title gives the CCC of the recording in that dimension. The
  figure is drawn with matplotlib's Agg canvas directly, leaving pyplot's
  global backend alone.

  Args:
    path: the `.png` file.
    times: (steps,) frame times in seconds.
    predictions: (steps, dims) predictions.
    golds: (steps, dims) gold standard.
    dimensions: the dims names, in column order.
    title: the figure title, e.g. the recording name.

  Raises:
    ValueError: on shapes that disagree, NaN or infinite values, or bad names.
  """
  _check_dimensions(dimensions)
  times = _check_times(times)
  shape = (times.size, len(dimensions))
  predictions = _as_finite(predictions, 'predictions', shape)
  golds = _as_finite(golds, 'golds', shape, nan_allowed=True)
  figure = figure_lib.Figure(figsize=(10, 2.5 * len(dimensions)), layout='constrained')
  backend_agg.FigureCanvasAgg(figure)
  axes = figure.subplots(len(dimensions), 1, sharex=True, squeeze=False)[:, 0]
  for column, (name, panel) in enumerate(zip(dimensions, axes)):
    annotated = np.isfinite(golds[:, column])  # gaps in the gold line: unannotated steps
    ccc = metrics_lib.concordance(predictions[annotated, column], golds[annotated, column])
    panel.plot(times, golds[:, column], label='gold', color='black', linewidth=1)
    panel.plot(times, predictions[:, column], label='prediction', color='tab:red', linewidth=1)
    panel.set_title(f'{name}: CCC = {ccc:.3f}')
    panel.set_ylabel(name)
    panel.legend(loc='upper right')
  _save(path, figure, axes, title)


def write_prediction_csv(path: str | os.PathLike, times: np.ndarray, predictions: np.ndarray,
                         face_found: np.ndarray, dimensions: Sequence[str]) -> None:
  """Writes a predicted video's rows: `time_s,<dim>,...,face_found` (0 or 1), one per step.

  Raises:
    ValueError: on shapes that disagree, NaN or infinite values, or bad names.
  """
  _check_dimensions(dimensions)
  times = _check_times(times)
  values = _as_finite(predictions, 'predictions', (times.size, len(dimensions)))
  found = np.asarray(face_found, bool)
  if found.shape != times.shape:
    raise ValueError(f'face_found must have shape {times.shape}, got {found.shape}')
  header = ','.join(['time_s', *dimensions, 'face_found'])
  with atomic_write(path) as file:
    np.savetxt(file, np.column_stack([times, values, found]), delimiter=',', header=header,
               comments='', fmt=[_time_format(times)] + ['%.6f'] * len(dimensions) + ['%d'])


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
  """[first, last + 1) of each run of True in a 1-D bool array."""
  edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
  return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def plot_prediction(path: str | os.PathLike, times: np.ndarray, predictions: np.ndarray,
                    face_found: np.ndarray, dimensions: Sequence[str], title: str) -> None:
  """Plots a predicted video's curves over time, one panel per dimension, as PNG.

  Stretches without a face are shaded grey: there the prediction rests on the
  voice alone (the model sees black frames).

  Raises:
    ValueError: on shapes that disagree, NaN or infinite values, or bad names.
  """
  _check_dimensions(dimensions)
  times = _check_times(times)
  predictions = _as_finite(predictions, 'predictions', (times.size, len(dimensions)))
  step = times[1] - times[0] if times.size > 1 else 0.04
  figure = figure_lib.Figure(figsize=(10, 2.2 * len(dimensions) + 0.6), layout='constrained')
  backend_agg.FigureCanvasAgg(figure)
  axes = figure.subplots(len(dimensions), 1, sharex=True, squeeze=False)[:, 0]
  faceless = _runs(~np.asarray(face_found, bool))
  limit = max(1.0, 1.05 * float(np.abs(predictions).max()))
  for column, (name, panel) in enumerate(zip(dimensions, axes)):
    for index, (first, end) in enumerate(faceless):
      panel.axvspan(times[first], times[end - 1] + step, color='0.85', linewidth=0,
                    label='no face' if index == 0 else None)
    panel.axhline(0, color='0.6', linewidth=0.6)
    panel.plot(times, predictions[:, column], color='tab:red', linewidth=1.2, label=name)
    panel.set_ylim(-limit, limit)
    panel.set_ylabel(name)
    panel.legend(loc='upper right')
  _save(path, figure, axes, title)


def _json_value(value):
  """Converts numpy scalars and arrays, which `json` cannot encode itself."""
  if isinstance(value, (np.generic, np.ndarray)):
    return value.tolist()
  raise ValueError(f'metrics hold a {type(value).__name__}, which JSON cannot encode: {value!r}')


def write_metrics_json(path: str | os.PathLike, metrics: dict) -> None:
  """Writes metrics as JSON, indented by 2 with sorted keys.

  Args:
    path: the `.json` file.
    metrics: string keys; numbers, strings, lists, dicts and numpy scalars
      or arrays as values.

  Raises:
    ValueError: if `metrics` is not a dict, or holds NaN, infinity, keys
      that cannot be sorted, or a value JSON cannot encode.
  """
  if not isinstance(metrics, dict):
    raise ValueError(f'metrics must be a dict, got {type(metrics).__name__}')
  try:
    text = json.dumps(metrics, indent=2, sort_keys=True, allow_nan=False,
                      default=_json_value)
  except (TypeError, ValueError) as error:  # TypeError: keys JSON cannot hold or sort.
    raise ValueError(f'metrics cannot be written as JSON: {error}') from None
  with atomic_write(path) as file:
    file.write(text + '\n')
