"""Parsers for RECOLA gold-standard ARFF files and individual-rating CSVs."""

import dataclasses
import os

import numpy as np

from data_pipelines.recola.errors import RecolaInputError

STEP_SECONDS = 0.04
DIMENSIONS = ('valence', 'arousal')


@dataclasses.dataclass(frozen=True)
class GoldStandard:
  """One gold-standard file.

  Attributes:
    times: (steps,) frame times in seconds.
    values: (steps,) the gold-standard rating at each time.
  """
  times: np.ndarray
  values: np.ndarray


@dataclasses.dataclass(frozen=True)
class IndividualRatings:
  """One individual-ratings file.

  Attributes:
    times: (steps,) frame times in seconds.
    ratings: (steps, raters) one column per rater.
    raters: rater names, stripped of the padding spaces the files carry.
  """
  times: np.ndarray
  ratings: np.ndarray
  raters: tuple[str, ...]


def _read_text(path: str | os.PathLike) -> str:
  try:
    with open(path, 'rb') as f:
      raw = f.read()
  except FileNotFoundError:
    raise RecolaInputError(path, 'file not found') from None
  except OSError as e:
    raise RecolaInputError(path, f'cannot read ({e.strerror})') from None
  try:
    return raw.decode('utf-8-sig')
  except UnicodeDecodeError:
    raise RecolaInputError(path, 'not a text file') from None


def _check_grid(path, times: np.ndarray) -> None:
  """Checks times run 0, 0.04, 0.08, ... without gaps."""
  if times.size == 0:
    raise RecolaInputError(path, 'no data rows')
  expected = np.arange(times.size) * STEP_SECONDS
  bad = np.flatnonzero(np.abs(times - expected) > 1e-3)
  if bad.size:
    k = int(bad[0])
    raise RecolaInputError(
        path, f'row {k + 1} has time {times[k]:g} s where the 40 ms grid '
        f'expects {expected[k]:g} s')


def parse_gold_standard_arff(path: str | os.PathLike,
                             value_attribute: str = 'GoldStandard') -> GoldStandard:
  """Parses a gold-standard ARFF (or a prediction file in the same layout) by its attribute names.

  Any relation name and CRLF or LF line endings are accepted. The columns are
  found from the `@attribute` lines: `frameTime` and `value_attribute` (case
  insensitive), wherever they stand.

  Args:
    path: the `.arff` file.
    value_attribute: the value column; `prediction` reads this project's
      AVEC-format prediction files.

  Returns:
    The frame times and values.

  Raises:
    RecolaInputError: naming the file, when a column is missing, a row is
      malformed, or the times leave the 40 ms grid.
  """
  lines = _read_text(path).splitlines()
  attributes: list[str] = []
  data_start = None
  for number, line in enumerate(lines):
    stripped = line.strip()
    lowered = stripped.lower()
    if lowered.startswith('@attribute'):
      parts = stripped.split()
      if len(parts) < 2:
        raise RecolaInputError(path, f'line {number + 1}: malformed @attribute')
      attributes.append(parts[1].lower())
    elif lowered.startswith('@data'):
      data_start = number + 1
      break
  if data_start is None:
    raise RecolaInputError(path, 'no @data section: not an ARFF file')
  columns = {}
  value_column = value_attribute.lower()
  for wanted in ('frametime', value_column):
    if wanted not in attributes:
      raise RecolaInputError(
          path, f'missing column {wanted!r} (has {", ".join(attributes)})')
    columns[wanted] = attributes.index(wanted)
  times, values = [], []
  for number in range(data_start, len(lines)):
    line = lines[number].strip()
    if not line or line.startswith('%'):
      continue
    fields = line.split(',')
    if len(fields) != len(attributes):
      raise RecolaInputError(
          path, f'line {number + 1}: {len(fields)} fields where the header '
          f'declares {len(attributes)}')
    try:
      times.append(float(fields[columns['frametime']]))
      values.append(float(fields[columns[value_column]]))
    except ValueError:
      raise RecolaInputError(
          path, f'line {number + 1}: not a number in {line!r}') from None
  gold = GoldStandard(np.asarray(times), np.asarray(values, np.float32))
  _check_grid(path, gold.times)
  if not np.all(np.isfinite(gold.values)):
    raise RecolaInputError(path, 'non-finite gold-standard value')
  return gold


def parse_individual_ratings_csv(
    path: str | os.PathLike) -> IndividualRatings:
  """Parses a `;`-separated individual-ratings CSV (`time;FM1 ;FM2 ;...`).

  Args:
    path: the `.csv` file.

  Returns:
    The times, one column per rater, and the rater names.

  Raises:
    RecolaInputError: naming the file, on a missing time column, a ragged or
      non-numeric row, or times off the 40 ms grid.
  """
  lines = [l for l in _read_text(path).splitlines() if l.strip()]
  if not lines:
    raise RecolaInputError(path, 'empty file')
  header = [h.strip() for h in lines[0].split(';')]
  if header[0].lower() != 'time' or len(header) < 2:
    raise RecolaInputError(
        path, f'header must be "time;<rater>;..." but is {lines[0]!r}')
  rows = []
  for number, line in enumerate(lines[1:], start=2):
    fields = line.split(';')
    if len(fields) != len(header):
      raise RecolaInputError(
          path, f'line {number}: {len(fields)} fields where the header has '
          f'{len(header)}')
    try:
      rows.append([float(f) for f in fields])
    except ValueError:
      raise RecolaInputError(
          path, f'line {number}: not a number in {line!r}') from None
  table = np.asarray(rows, np.float64).reshape(-1, len(header))
  ratings = IndividualRatings(
      times=table[:, 0], ratings=table[:, 1:].astype(np.float32),
      raters=tuple(header[1:]))
  _check_grid(path, ratings.times)
  return ratings
