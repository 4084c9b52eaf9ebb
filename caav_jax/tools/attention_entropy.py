"""How sharp a trained CAM's attention is on dev: does it pick sub-sequences, or average them?

  python -m caav_jax.tools.attention_entropy --config=CONFIG --workdir=RUN --config.model.fusion=cam
      --config.train.feature_dir=FEATURES

RUN is a cam or cam_concat fusion run trained on cached features (the recipe's
runs/recipe/seed_<k>/fusion_cam with FEATURES runs/recipe/seed_<k>/features).
Its checkpoint is restored, the cross-attention runs over every evaluation
window of `config.eval.split`, and for A_a (over the audio index) and A_v
(over the visual index) it prints the mean normalised entropy, H / log L
(1: uniform, so CAM averages that modality over the window's L
sub-sequences; 0: one sub-sequence), and the mean largest weight (1/L when
uniform).
"""

import pathlib
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags
import numpy as np

from caav_jax.errors import ConfigError
from caav_jax.evaluation import restore
from caav_jax.input_pipeline import datasets
from caav_jax.models.cross_attention import l2_normalise
from caav_jax.training import sharding
from caav_jax.workdir import Workdir


def sharpness(attention: np.ndarray) -> tuple[float, float]:
  """(mean H / log L, mean largest weight) of (batch, L, L) attention whose columns sum to 1."""
  attention = np.asarray(attention, np.float64)
  length = attention.shape[1]
  entropy = -np.sum(attention * np.log(np.maximum(attention, 1e-30)), axis=1)
  return float(np.mean(entropy) / np.log(length)), float(np.mean(attention.max(axis=1)))


def measure(config, workdir: str) -> dict[str, tuple[float, float]]:
  """{'audio': sharpness of A_a, 'visual': sharpness of A_v} over the split's windows."""
  if not config.model.fusion.startswith('cam'):
    raise ConfigError(f"config.model.fusion is {config.model.fusion!r}: only 'cam' and "
                      "'cam_concat' have attention")
  run = Workdir(pathlib.Path(workdir))
  features_dir = run.features(config.train.feature_dir)
  if not features_dir.is_dir():
    raise FileNotFoundError(f'{features_dir}: no feature cache; set --config.train.feature_dir '
                            'to the features the run was trained on')
  model, _, _ = restore.restore_for_evaluation(config, run, sharding.data_mesh())
  attention = jax.jit(lambda a, v: model.fusion.cross_attention.attention(
      l2_normalise(a), l2_normalise(v)))
  audio, visual = [], []
  for batch in datasets.eval_dataset(config.data, config.eval.split,
                                           features_dir=features_dir):
    a, v = attention(batch['audio_features'], batch['visual_features'])
    audio.append(np.asarray(a)[batch['valid']])
    visual.append(np.asarray(v)[batch['valid']])
  return {'audio': sharpness(np.concatenate(audio)),
          'visual': sharpness(np.concatenate(visual))}


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  config = flags.FLAGS.config
  try:
    results = measure(config, flags.FLAGS.workdir)
  except (ConfigError, FileNotFoundError) as error:
    sys.exit(f'caav_jax.attention_entropy: {error}')
  length = config.data.clip_frames // config.data.subseq_frames
  for modality, (entropy, largest) in results.items():
    print(f'A over the {modality} index: normalised entropy {entropy:.3f}, '
          f'mean largest weight {largest:.3f} (uniform over {length}: 1.000, {1 / length:.3f})')


if __name__ == '__main__':
  # Defined here, not on import: caav_jax.main defines flags of the same names.
  config_flags.DEFINE_config_file('config', None, 'Configuration file.', lock_config=True)
  flags.DEFINE_string('workdir', None, 'The cam or cam_concat fusion run.')
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main)
