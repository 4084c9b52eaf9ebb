"""Finds the recordings of an AVEC 2016 RECOLA directory and checks that each is complete."""

import dataclasses
import pathlib
import re

from data_pipelines.recola.errors import RecolaInputError
from data_pipelines.recola.labels import DIMENSIONS

SPLITS = ('train', 'dev', 'test')
_NAME = re.compile(r'^(train|dev|test)_(\d+)$')
HOW_TO_OBTAIN = (
    'RECOLA is licensed per user: request it from its authors '
    '(https://diuf.unifr.ch/main/diva/recola/), then point --raw_dir (or the '
    "config's data.raw_dir) at the folder that holds recordings_audio/, "
    'recordings_video/ and ratings_gold_standard/. Without it, '
    'configs/synthetic.py runs on a synthetic corpus in the same layout.')


@dataclasses.dataclass(frozen=True)
class Recording:
  """The files of one recording.

  Attributes:
    name: e.g. 'dev_3'.
    split: 'train', 'dev' or 'test'.
    audio: the WAV file.
    video: the video file, or None when faces come from image folders.
    face_images: the folder of pre-cropped face images, or None.
    gold_standard: dimension name -> ARFF file; empty when withheld (test).
  """
  name: str
  split: str
  audio: pathlib.Path
  video: pathlib.Path | None
  face_images: pathlib.Path | None
  gold_standard: dict[str, pathlib.Path]


def _sort_key(name: str) -> tuple[int, int]:
  split, index = _NAME.match(name).groups()
  return SPLITS.index(split), int(index)


def _stems(folder: pathlib.Path, suffixes: tuple[str, ...]) -> dict[str, pathlib.Path]:
  return {p.stem: p for p in folder.iterdir()
          if p.suffix.lower() in suffixes and _NAME.match(p.stem)}


def _face_image_folders(folder: pathlib.Path) -> dict[str, pathlib.Path]:
  found = {}
  for path in folder.iterdir():
    name = path.name.removesuffix('_aligned')
    if path.is_dir() and _NAME.match(name):
      found[name] = path
  return found


def list_recordings(root: str | pathlib.Path,
                    face_source: str = 'video') -> dict[str, list[Recording]]:
  """Lists the recordings of each split, checking each has all its files.

  Args:
    root: the RECOLA folder (AVEC 2016 layout, see RECOLA_FORMAT.md).
    face_source: 'video' to find faces in `recordings_video/*.mp4`, or
      'images' to read pre-cropped faces from `faces/<name>/` (or
      `faces/<name>_aligned/`, as OpenFace names them), one image per frame.

  Returns:
    split -> recordings in numeric order (train_1, train_2, ..., train_10).

  Raises:
    RecolaInputError: naming the missing folder or file.
  """
  root = pathlib.Path(root)
  if not root.is_dir():
    raise RecolaInputError(root, 'RECOLA folder not found. ' + HOW_TO_OBTAIN)
  if face_source not in ('video', 'images'):
    raise ValueError(f"face_source must be 'video' or 'images', not {face_source!r}")
  audio_dir = root / 'recordings_audio'
  face_dir = root / ('recordings_video' if face_source == 'video' else 'faces')
  for folder in (audio_dir, face_dir):
    if not folder.is_dir():
      raise RecolaInputError(folder, 'folder not found; expected the AVEC 2016 '
                             'RECOLA layout. ' + HOW_TO_OBTAIN)
  audio = _stems(audio_dir, ('.wav',))
  if face_source == 'video':
    faces = _stems(face_dir, ('.mp4', '.avi', '.mov', '.mkv'))
  else:
    faces = _face_image_folders(face_dir)
  for name in sorted(set(audio) | set(faces), key=_sort_key):
    if name not in audio:
      raise RecolaInputError(audio_dir / f'{name}.wav',
                             f'missing: {faces[name].name} has no audio')
    if name not in faces:
      what = f'{name}.mp4' if face_source == 'video' else f'{name}/'
      raise RecolaInputError(face_dir / what,
                             f'missing: {audio[name].name} has no faces')
  if not audio:
    raise RecolaInputError(audio_dir, 'no recordings named train_N/dev_N/test_N')
  splits: dict[str, list[Recording]] = {split: [] for split in SPLITS}
  for name in sorted(audio, key=_sort_key):
    split = _NAME.match(name).group(1)
    gold = {dim: root / 'ratings_gold_standard' / dim / f'{name}.arff'
            for dim in DIMENSIONS}
    present = {dim: path for dim, path in gold.items() if path.is_file()}
    if split != 'test' and len(present) < len(gold):
      missing = next(p for d, p in gold.items() if d not in present)
      raise RecolaInputError(missing, 'gold standard not found')
    if split == 'test' and 0 < len(present) < len(gold):
      missing = next(p for d, p in gold.items() if d not in present)
      raise RecolaInputError(missing, 'gold standard of one dimension only')
    splits[split].append(Recording(
        name=name, split=split, audio=audio[name],
        video=faces[name] if face_source == 'video' else None,
        face_images=faces[name] if face_source == 'images' else None,
        gold_standard=present))
  return splits
