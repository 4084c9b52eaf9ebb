"""Frozen-backbone features of every sub-sequence, computed once, so the fusion stage reads features.

For each recording and each step s, the cache holds the backbone features of
the sub-sequence that starts at s (steps s … s + subseq_frames − 1): visual
from the centre-cropped faces (the evaluation view: no random crop, no flip)
and audio from that sub-sequence's log-mel spectrogram. A window starting at
s then reads rows s, s + subseq_frames, … — any stride works. Layout:

  <dir>/fingerprint.json              what the features were made from
  <dir>/<split>/<name>.visual.npy     (steps − subseq_frames + 1, d_v) float32
  <dir>/<split>/<name>.audio.npy      (steps − subseq_frames + 1, d_a) float32

where <dir> is config.train.feature_dir, or <workdir>/features. Fusion runs
that share backbones (e.g. cam, concat and sum) can share one cache.

The cache is written into a temporary folder and renamed into place, so a
killed extraction never leaves a half-written cache behind.
"""

import json
import os
import pathlib
import shutil
from typing import Any

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm

from caav_jax import log_mel
from caav_jax import train_step as train_step_lib
from data_pipelines.recola import recola_dataset_builder

DIRECTORY = 'features'
MODALITIES = ('visual', 'audio')


def cache_directory(config: ml_collections.ConfigDict,
                    workdir: str | os.PathLike) -> pathlib.Path:
  """`config.train.feature_dir` if set (runs that share backbones share it), else <workdir>/features."""
  return pathlib.Path(config.train.feature_dir or pathlib.Path(workdir) / DIRECTORY)


def fingerprint(config: ml_collections.ConfigDict, backbones: dict[str, str]) -> dict[str, Any]:
  """What the features depend on: the view of the data, the network and the backbones' source."""
  data, model = config.data, config.model
  return {'data_dir': os.path.abspath(data.data_dir), 'crop_size': data.crop_size,
          'face_source': data.face_source, 'image_size': data.image_size,
          'subseq_frames': data.subseq_frames,
          'visual_width': model.visual_width, 'audio_width': model.audio_width,
          'dtype': model.dtype, 'backbones': backbones}


def modalities(model: nnx.Module) -> list[str]:
  """The backbones a model has, hence the features it can extract or needs."""
  return [m for m in MODALITIES if getattr(model, m, None) is not None]


def is_current(directory: pathlib.Path, expected: dict[str, Any], needed: list[str]) -> bool:
  """Whether the cache holds the `needed` modalities, made from exactly what `expected` says."""
  path = directory / 'fingerprint.json'
  if not path.is_file():
    return False
  stored = json.loads(path.read_text())
  stored_sources, expected_sources = stored.pop('backbones'), expected['backbones']
  return (set(needed) <= set(stored.pop('modalities', ()))
          and all(stored_sources.get(m) == expected_sources.get(m) for m in needed)
          and stored == {k: v for k, v in expected.items() if k != 'backbones'})


def feature_path(directory: pathlib.Path, split: str, name: str, modality: str) -> pathlib.Path:
  return directory / split / f'{name}.{modality}.npy'


def _subsequence_inputs(faces: np.ndarray, audio: np.ndarray, starts: np.ndarray,
                        subseq: int, image_size: int) -> tuple[np.ndarray, np.ndarray]:
  """(starts, 1, subseq, S, S, 3) centre-cropped frames and (starts, 1, 128, 65) spectrograms."""
  top = (faces.shape[1] - image_size) // 2
  left = (faces.shape[2] - image_size) // 2
  rows = starts[:, None] + np.arange(subseq)
  frames = faces[rows, top:top + image_size, left:left + image_size]
  spectrograms = log_mel.log_mel_spectrogram(audio[rows].reshape(starts.size, -1))
  return frames[:, None], spectrograms[:, None]


@nnx.jit
def _embed(model: nnx.Module, frames: jax.Array, spectrograms: jax.Array):
  audio, visual = model.embed(frames, spectrograms)
  squeeze = lambda x: None if x is None else x[:, 0].astype(jnp.float32)
  return squeeze(audio), squeeze(visual)


def extract(config: ml_collections.ConfigDict, model: nnx.Module,
            directory: pathlib.Path, expected: dict[str, Any]) -> None:
  """Runs the model's backbones (eval mode) over every sub-sequence of the splits it needs.

  Train and dev always; test too when `config.eval.predict_test`.

  Args:
    config: the whole configuration (data and model sections are used).
    model: an EmotionModel with its backbones loaded.
    directory: where the cache goes (replaced when complete).
    expected: the fingerprint to store.
  """
  data = config.data
  builder = recola_dataset_builder.load(data.data_dir, data.crop_size, data.face_source)
  index = recola_dataset_builder.RecordingIndex.read(builder.data_dir)
  mesh = train_step_lib.data_mesh()
  batch = data.batch_size * (data.clip_frames // data.subseq_frames)
  batch += -batch % mesh.size
  model.eval()
  partial = directory.with_name(directory.name + '.partial')
  shutil.rmtree(partial, ignore_errors=True)
  partial.mkdir(parents=True)
  splits = sorted(split for split in index
                  if split in ('train', 'dev') or config.eval.predict_test)
  total = sum(max(0, r.steps - data.subseq_frames + 1) for split in splits
              for r in index.recordings(split))
  with tqdm.tqdm(total=total, desc='extracting features', unit='subseq') as progress:
    for split in splits:
      source = builder.as_data_source(split=split)
      offset = 0
      for summary in index.recordings(split):
        steps = source.__getitems__(range(offset, offset + summary.steps))
        offset += summary.steps
        faces = np.stack([step['face'] for step in steps])
        audio = np.stack([step['audio'] for step in steps])
        count = summary.steps - data.subseq_frames + 1
        outputs = {modality: [] for modality in MODALITIES}
        for first in range(0, max(count, 0), batch):
          starts = np.arange(first, first + batch)
          valid = starts < count
          frames, spectrograms = _subsequence_inputs(
              faces, audio, np.where(valid, starts, 0), data.subseq_frames, data.image_size)
          inputs = train_step_lib.shard_global_batch(
              {'frames': frames, 'spectrograms': spectrograms}, mesh,
              keys=('frames', 'spectrograms'))
          audio_features, visual_features = _embed(model, inputs['frames'],
                                                   inputs['spectrograms'])
          for modality, features in (('audio', audio_features), ('visual', visual_features)):
            if features is not None:
              outputs[modality].append(train_step_lib.to_host(features)[valid])
          progress.update(int(valid.sum()))
        for modality, chunks in outputs.items():
          if chunks:
            path = feature_path(partial, split, summary.name, modality)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, np.concatenate(chunks))
  stored = {**expected, 'modalities': modalities(model),
            'backbones': {m: expected['backbones'].get(m) for m in modalities(model)}}
  (partial / 'fingerprint.json').write_text(json.dumps(stored, indent=2, sort_keys=True))
  shutil.rmtree(directory, ignore_errors=True)
  os.replace(partial, directory)
