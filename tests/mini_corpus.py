"""A small corpus in the AVEC 2016 layout, made from the real face video."""

import pathlib
import shutil

import numpy as np
import soundfile

from data_pipelines.synthetic import corpus_writer

STEPS = 61  # single_face.mp4 lasts 2.4 s: 60 frames at 25 fps, 61 label rows.


def labels_of(name: str) -> dict[str, np.ndarray]:
  k = np.arange(STEPS)
  phase = sum(map(ord, name))
  return {'valence': np.round(np.sin(k / 7 + phase), 6),
          'arousal': np.round(np.cos(k / 5 + phase), 6)}


def make_mini_corpus(root: pathlib.Path, media: pathlib.Path,
                     names=('train_1', 'dev_1')) -> pathlib.Path:
  """Writes video (the real 30 fps face video), 44.1 kHz audio and labels."""
  for folder in ('recordings_video', 'recordings_audio'):
    (root / folder).mkdir(parents=True, exist_ok=True)
  rate = 44_100
  t = np.arange(int(2.4 * rate)) / rate
  for index, name in enumerate(names):
    shutil.copy(media / 'faces' / 'single_face.mp4', root / 'recordings_video' / f'{name}.mp4')
    tone = 0.3 * np.sin(2 * np.pi * (220 + 110 * index) * t)
    soundfile.write(root / 'recordings_audio' / f'{name}.wav', tone, rate, subtype='PCM_16')
    if not name.startswith('test'):
      for dimension, values in labels_of(name).items():
        folder = root / 'ratings_gold_standard' / dimension
        folder.mkdir(parents=True, exist_ok=True)
        corpus_writer.write_gold_standard_arff(folder / f'{name}.arff', name,
                                               dimension, values)
  return root


def tiny_config_on(root: pathlib.Path, media: pathlib.Path, names):
  """The tiny config reading a mini corpus of `names` written under root/raw (dataset in root/tfds)."""
  from configs import tiny  # pylint: disable=g-import-not-at-top
  make_mini_corpus(root / 'raw', media, names=names)
  config = tiny.get_config()
  config.data.raw_dir, config.data.data_dir = str(root / 'raw'), str(root / 'tfds')
  return config
