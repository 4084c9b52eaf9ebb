"""Reads an Aff-Wild2 valence-arousal annotation file: a header, then one line per video frame."""

import os

import numpy as np

from data_pipelines.recola.errors import RecolaInputError


HEADER = 'valence,arousal'
UNANNOTATED = -5.0  # a frame without annotation: kept out of the loss and the metrics


def read_annotation(path: str | os.PathLike) -> np.ndarray:
  """(frames, 2) float32 valence and arousal, row i for video frame i; NaN where unannotated.

  Raises:
    RecolaInputError: naming the file (and line) for a wrong header, a line that is not two
      numbers, a value outside [-1, 1] other than the -5 marker, or no frame at all.
  """
  try:
    with open(path, encoding='utf-8-sig') as file:  # a byte-order mark is tolerated
      lines = file.read().splitlines()
  except (OSError, UnicodeDecodeError) as error:
    raise RecolaInputError(path, f'unreadable annotation file ({error})') from None
  if not lines or lines[0].strip().replace(' ', '').lower() != HEADER:
    first = lines[0].strip()[:40] if lines else ''
    raise RecolaInputError(path, f'first line must be {HEADER!r}, not {first!r}')
  rows = []
  for number, line in enumerate(lines[1:], start=2):
    if not line.strip():
      continue
    fields = line.split(',')
    try:
      if len(fields) != 2:
        raise ValueError
      rows.append([float(fields[0]), float(fields[1])])
    except ValueError:
      raise RecolaInputError(path, f'line {number}: expected two numbers, got '
                             f'{line.strip()[:40]!r}') from None
  if not rows:
    raise RecolaInputError(path, 'no frame annotated (only the header)')
  values = np.asarray(rows, np.float64)
  marker = values == UNANNOTATED
  bad = ~marker & ~((values >= -1) & (values <= 1))
  if bad.any():
    row = int(np.argwhere(bad)[0, 0])
    raise RecolaInputError(path, f'line {row + 2}: {lines[row + 1].strip()!r} is outside '
                           f'[-1, 1] (and not the {UNANNOTATED:g} marker of an unannotated frame)')
  return np.where(marker, np.nan, values).astype(np.float32)
