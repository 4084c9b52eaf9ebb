"""Finds the videos of an Aff-Wild2 folder (the ABAW valence-arousal track, as distributed).

  <root>/.../Train_Set/NAME.txt          annotations, one per annotated subject-video (train)
  <root>/.../Validation_Set/NAME.txt     the same, validation (read as the 'dev' split)
  <root>/*test*.txt                      the test split: one name per line, no labels
  <root>/cropped_aligned/NAME/00001.jpg  aligned face crops, numbered from 1 by video frame
  <root>/.../NAME.mp4 or NAME.avi        raw videos (the audio comes from these), anywhere
                                         below the root outside cropped_aligned/

A video showing two people has two annotation files, NAME_left.txt and
NAME_right.txt, crops in cropped_aligned/NAME_left/ and .../NAME_right/,
and one raw video NAME.mp4.
"""

import dataclasses
import os
import pathlib

from data_pipelines.recola.errors import RecolaInputError


SPLIT_FOLDERS = {'train': 'Train_Set', 'dev': 'Validation_Set'}
CROPS_FOLDER = 'cropped_aligned'
VIDEO_SUFFIXES = ('.mp4', '.avi')
_SIDES = ('_left', '_right')
HOW_TO_OBTAIN = (
    'Aff-Wild2 is licensed per user: request it from the ABAW organisers '
    '(https://ibug.doc.ic.ac.uk/resources/aff-wild2/), then point data.raw_dir at the folder '
    'that holds the VA annotations (Train_Set/, Validation_Set/), cropped_aligned/ and the raw '
    'videos. Without it, python -m data_pipelines.synthetic_affwild2 writes a synthetic corpus '
    'in the same layout.')


@dataclasses.dataclass(frozen=True)
class Video:
  """The files of one annotated subject-video.

  Attributes:
    name: e.g. '118-30-640x480_left'.
    split: 'train', 'dev' or 'test'.
    annotation: the valence-arousal file, or None (test split).
    crops: the folder of aligned face crops.
    video: the raw video (shared by the _left and _right subjects).
  """
  name: str
  split: str
  annotation: pathlib.Path | None
  crops: pathlib.Path
  video: pathlib.Path


def raw_video_name(name: str) -> str:
  """The raw video of a subject: 'x_left' and 'x_right' share 'x'."""
  for side in _SIDES:
    if name.endswith(side):
      return name.removesuffix(side)
  return name


def _walk(root: pathlib.Path) -> tuple[dict[str, pathlib.Path], dict[str, pathlib.Path]]:
  """One walk of the tree, never into the crops' folders (millions of files): the raw videos
  by name, and each split's annotation folder.

  Raises:
    RecolaInputError: for a second raw video of one name, or an annotation folder missing
      or found twice.
  """
  videos, folders = {}, {folder: [] for folder in SPLIT_FOLDERS.values()}
  for directory, subdirectories, files in os.walk(root):
    here = pathlib.Path(directory)
    subdirectories[:] = sorted(d for d in subdirectories if d != CROPS_FOLDER)
    for name in subdirectories:
      if name in folders:
        folders[name].append(here / name)
    for name in sorted(files):
      path = here / name
      if path.suffix.lower() in VIDEO_SUFFIXES:
        if path.stem in videos:
          raise RecolaInputError(path, f'a second raw video named {path.stem} '
                                 f'(the first: {videos[path.stem]})')
        videos[path.stem] = path
  for folder, found in folders.items():
    if not found:
      raise RecolaInputError(root, f'no {folder}/ folder of valence-arousal annotations below '
                             'it. ' + HOW_TO_OBTAIN)
    if len(found) > 1:
      raise RecolaInputError(root, f'several {folder}/ folders below it ({found[0]}, '
                             f'{found[1]}); point data.raw_dir at the one corpus to read')
  return videos, {folder: found[0] for folder, found in folders.items()}


def _test_names(root: pathlib.Path) -> list[str]:
  lists = sorted(p for p in root.glob('*.txt') if 'test' in p.name.lower())
  if len(lists) > 1:
    raise RecolaInputError(root, f'several test lists ({lists[0].name}, {lists[1].name})')
  if not lists:
    return []
  return [line.strip() for line in lists[0].read_text().splitlines() if line.strip()]


def list_videos(root: str | pathlib.Path) -> dict[str, list[Video]]:
  """Lists the subject-videos of each split, checking that each has its crops and raw video.

  Returns:
    'train', 'dev', 'test' -> videos sorted by name.

  Raises:
    RecolaInputError: naming the missing folder or file.
  """
  root = pathlib.Path(root)
  if not root.is_dir():
    raise RecolaInputError(root, 'Aff-Wild2 folder not found. ' + HOW_TO_OBTAIN)
  crops = root / CROPS_FOLDER
  if not crops.is_dir():
    raise RecolaInputError(crops, 'folder of aligned face crops not found. ' + HOW_TO_OBTAIN)
  videos, folders = _walk(root)
  annotations = {split: folders[folder] for split, folder in SPLIT_FOLDERS.items()}
  names = {split: sorted(p.stem for p in folder.glob('*.txt'))
           for split, folder in annotations.items()}
  names['test'] = _test_names(root)
  listed = {}
  for split, split_names in names.items():
    listed[split] = []
    for name in split_names:
      raw = raw_video_name(name)
      if raw not in videos:
        raise RecolaInputError(root / f'{raw}.mp4', f'missing: the raw video of {name} '
                               f'({raw}.mp4 or {raw}.avi anywhere below {root})')
      if not (crops / name).is_dir():
        raise RecolaInputError(crops / name, f'missing: the face crops of {name}')
      annotation = annotations[split] / f'{name}.txt' if split in annotations else None
      listed[split].append(Video(name, split, annotation, crops / name, videos[raw]))
  return listed
