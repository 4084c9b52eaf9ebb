"""The feature cache's layout: frozen-backbone features of every sub-sequence, and what they were made from.

For each recording and each step s, the cache holds the backbone features of
the sub-sequence that starts at s (steps s … s + subseq_frames − 1), visual
from the centre-cropped faces (the evaluation view) and audio from that
sub-sequence's log-mel spectrogram. A window starting at s reads rows s,
s + subseq_frames, …, so any stride works:

  <dir>/fingerprint.json              what the features were made from
  <dir>/<split>/<name>.visual.npy     (steps − subseq_frames + 1, d_v) float32
  <dir>/<split>/<name>.audio.npy      (steps − subseq_frames + 1, d_a) float32

Written by caav_jax/training/feature_extraction.py; fusion runs that share
backbones (e.g. cam, concat and sum) can share one cache.
"""

import json
import os
import pathlib
from typing import Any

import ml_collections


MODALITIES = ('visual', 'audio')
FINGERPRINT = 'fingerprint.json'


def fingerprint(config: ml_collections.ConfigDict, backbones: dict[str, str]) -> dict[str, Any]:
  """What the features depend on: the view of the data, the network and the backbones' source."""
  data, model = config.data, config.model
  return {'corpus': data.corpus, 'data_dir': os.path.abspath(data.data_dir),
          'crop_size': data.crop_size,
          'face_source': data.face_source, 'image_size': data.image_size,
          'subseq_frames': data.subseq_frames,
          'visual_width': model.visual_width, 'audio_width': model.audio_width,
          'dtype': model.dtype, 'backbones': backbones}


def is_current(directory: pathlib.Path, expected: dict[str, Any], needed: list[str]) -> bool:
  """Whether the cache holds the `needed` modalities, made from exactly what `expected` says."""
  path = directory / FINGERPRINT
  if not path.is_file():
    return False
  stored = json.loads(path.read_text())
  stored_sources, expected_sources = stored.pop('backbones'), expected['backbones']
  return (set(needed) <= set(stored.pop('modalities', ()))
          and all(stored_sources.get(m) == expected_sources.get(m) for m in needed)
          and stored == {k: v for k, v in expected.items() if k != 'backbones'})


def feature_path(directory: pathlib.Path, split: str, name: str, modality: str) -> pathlib.Path:
  return directory / split / f'{name}.{modality}.npy'
