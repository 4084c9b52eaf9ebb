"""Reads pre-cropped face images (one per frame, e.g. OpenFace `*_aligned/`) instead of video."""

import os
import pathlib
import re

import cv2
import numpy as np

from data_pipelines.recola.errors import RecolaInputError

_IMAGE_SUFFIXES = ('.bmp', '.jpg', '.jpeg', '.png')
_FRAME_NUMBER = re.compile(r'(\d+)$')


def index_face_images(folder: pathlib.Path) -> dict[int, pathlib.Path]:
  """Maps 0-based frame index -> image, from the trailing number in each file name.

  OpenFace numbers frames from 1 (`frame_det_00_000001.bmp` is frame 0); a
  folder whose numbers start at 0 is taken as 0-based. Frames without an
  image (OpenFace writes none where it lost the face) have no entry.

  Raises:
    RecolaInputError: naming the folder when it holds no numbered images or
      two images claim the same frame.
  """
  numbered = {}
  for path in folder.iterdir():
    match = _FRAME_NUMBER.search(path.stem)
    if path.suffix.lower() in _IMAGE_SUFFIXES and match:
      number = int(match.group(1))
      if number in numbered:
        raise RecolaInputError(path, f'frame number {number} also used by '
                               f'{numbered[number].name}')
      numbered[number] = path
  if not numbered:
    raise RecolaInputError(folder, 'no numbered face images '
                           f'({", ".join(_IMAGE_SUFFIXES)})')
  first = 0 if 0 in numbered else 1
  return {number - first: path for number, path in numbered.items()}


def read_face_image(path: str | os.PathLike, size: int) -> np.ndarray:
  """Reads one face image as (size, size, 3) uint8 BGR.

  Raises:
    RecolaInputError: naming the file when it cannot be decoded.
  """
  image = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
  if image is None:
    raise RecolaInputError(path, 'not a readable image')
  interpolation = cv2.INTER_AREA if max(image.shape[:2]) > size else cv2.INTER_LINEAR
  return cv2.resize(image, (size, size), interpolation=interpolation)
