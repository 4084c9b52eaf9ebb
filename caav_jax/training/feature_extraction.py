"""Runs the frozen backbones once over every sub-sequence, so the fusion stage trains on features.

The cache's layout is caav_jax/input_pipeline/feature_cache.py's. It is
written into a temporary folder and renamed into place, so a killed
extraction never leaves a half-written cache behind.
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

from caav_jax.input_pipeline import corpora
from caav_jax.input_pipeline import feature_cache
from caav_jax.input_pipeline import loaders
from caav_jax.input_pipeline import log_mel
from caav_jax.training import backbones
from caav_jax.training import sharding


def modalities(model: nnx.Module) -> list[str]:
  """The backbones a model has, hence the features it can extract or needs."""
  return [m for m in feature_cache.MODALITIES if getattr(model, m, None) is not None]


def ensure_features(config: ml_collections.ConfigDict, model: nnx.Module,
                    directory: pathlib.Path, *, force: bool = False) -> pathlib.Path | None:
  """The feature cache to train on (extracting it first if missing, stale or forced), or None.

  Only the fusion stage has frozen backbones to cache; other stages ignore
  `config.train.feature_cache`.
  """
  if not (config.train.feature_cache and config.train.stage == 'fusion'):
    return None
  expected = feature_cache.fingerprint(config, backbones.describe_sources(config))
  if force or not feature_cache.is_current(directory, expected, modalities(model)):
    print(f'extracting backbone features into {directory} ...', flush=True)
    extract(config, model, directory, expected)
  return directory


def _subsequence_inputs(faces: np.ndarray, audio: list[np.ndarray], starts: np.ndarray,
                        subseq: int, image_size: int) -> tuple[np.ndarray, np.ndarray]:
  """(starts, 1, subseq, S, S, 3) centre-cropped frames and (starts, 1, 128, 1 + 4 subseq)
  spectrograms."""
  rows = starts[:, None] + np.arange(subseq)
  frames = loaders.centre_crop(faces[rows], image_size)
  first = int(starts.min())  # only the steps these sub-sequences span, not the recording's
  spectrograms = log_mel.subsequence_spectrograms(audio[first:int(starts.max()) + subseq],
                                                  starts - first, subseq)
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
  builder = corpora.load(data)
  index = corpora.index(builder)
  mesh = sharding.data_mesh()
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
        audio = [step['audio'] for step in steps]
        count = summary.steps - data.subseq_frames + 1
        outputs = {modality: [] for modality in feature_cache.MODALITIES}
        for first in range(0, max(count, 0), batch):
          starts = np.arange(first, first + batch)
          valid = starts < count
          frames, spectrograms = _subsequence_inputs(
              faces, audio, np.where(valid, starts, first), data.subseq_frames, data.image_size)
          audio_features, visual_features = _embed(
              model, *sharding.shard_global_batch((frames, spectrograms), mesh))
          for modality, features in (('audio', audio_features), ('visual', visual_features)):
            if features is not None:
              outputs[modality].append(sharding.to_host(features)[valid])
          progress.update(int(valid.sum()))
        for modality, chunks in outputs.items():
          if chunks:
            path = feature_cache.feature_path(partial, split, summary.name, modality)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, np.concatenate(chunks))
  stored = {**expected, 'modalities': modalities(model),
            'backbones': {m: expected['backbones'].get(m) for m in modalities(model)}}
  (partial / feature_cache.FINGERPRINT).write_text(json.dumps(stored, indent=2, sort_keys=True))
  shutil.rmtree(directory, ignore_errors=True)
  os.replace(partial, directory)
