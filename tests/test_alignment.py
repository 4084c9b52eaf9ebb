"""Alignment end to end: video frame ↔ label row ↔ audio samples, through the dataset and windows.

The alignment probe marks each video frame with a random brightness gain,
each 40 ms of audio with a random tone amplitude and each label row with a
random value. If anything were off by even one step, the markers read back
would correlate best at a non-zero lag.
"""

import numpy as np
import pytest

from caav_jax.input_pipeline import datasets
from configs import default
from data_pipelines.recola import recola_dataset_builder
from data_pipelines.synthetic import alignment_probe


DURATION_S = 4.0
STEPS = 101  # label rows 0, 0.04, ..., 4.0


def best_lag(measured, truth, lags=range(-3, 4)):
  """Lag maximising the correlation of measured[k] with truth[k + lag]."""
  def corr(lag):
    a = measured[max(0, -lag):len(measured) - max(0, lag)]
    b = truth[max(0, lag):len(truth) - max(0, -lag)][:len(a)]
    return np.corrcoef(a[:len(b)], b)[0, 1]
  scores = {lag: corr(lag) for lag in lags}
  return max(scores, key=scores.get), scores


@pytest.fixture(scope='module', params=[25.0, 30.0], ids=['25fps', '30fps'])
def probe(request, tmp_path_factory):
  root = tmp_path_factory.mktemp(f'probe{int(request.param)}')
  truth = alignment_probe.write_alignment_probe(
      root / 'raw', 'train_1', duration_s=DURATION_S, fps=request.param,
      frame_width=160, frame_height=120, seed=3)
  builder = recola_dataset_builder.prepare(root / 'raw', root / 'tfds', crop_size=48)
  source = builder.as_data_source()['train']
  steps = [source[k] for k in range(len(source))]
  return request.param, truth, steps, root / 'tfds'


def test_every_step_has_the_face_and_the_labels_of_its_row(probe):
  _, truth, steps, _ = probe
  assert len(steps) == STEPS and all(s['face_found'] for s in steps)
  np.testing.assert_allclose([s['arousal'] for s in steps], truth['labels'], atol=1e-6)
  np.testing.assert_allclose([s['valence'] for s in steps], -truth['labels'], atol=1e-6)


def test_step_k_shows_the_latest_frame_at_k_times_40ms(probe):
  fps, truth, steps, _ = probe
  brightness = np.array([s['face'].astype(float).mean() for s in steps])
  frame_of_step = np.floor(np.arange(STEPS) * fps / 25 + 1e-9).astype(int)
  frame_of_step = np.minimum(frame_of_step, truth['frame_gains'].size - 1)
  expected = truth['frame_gains'][frame_of_step]
  assert np.corrcoef(brightness, expected)[0, 1] > 0.995
  lag, scores = best_lag(brightness, expected)
  assert lag == 0, scores


def test_step_k_holds_audio_samples_640k_to_640k_plus_640(probe):
  _, truth, steps, _ = probe
  # RMS of the middle of each step (resampling blurs ~1 ms at the edges).
  rms = np.array([np.sqrt(np.mean(s['audio'][40:600] ** 2)) for s in steps[:-1]])
  np.testing.assert_allclose(rms, truth['step_amplitudes'] / np.sqrt(2), rtol=0.03, atol=0.003)
  lag, scores = best_lag(rms, truth['step_amplitudes'])
  assert lag == 0, scores


def test_windows_pair_frame_t_with_label_t_plus_delay(probe):
  fps, truth, steps, data_dir = probe
  data = default.data_config()
  data.data_dir, data.crop_size, data.image_size = str(data_dir), 48, 48
  data.clip_frames, data.subseq_frames, data.batch_size = 32, 8, 2
  data.label_delay_frames.valence, data.label_delay_frames.arousal = 4, 7
  data.label_median_kernel, data.target, data.eval_stride = 1, 'per_frame', 16
  brightness = np.array([s['face'].astype(float).mean() for s in steps])
  bands, band_steps = [], []
  for batch in datasets.eval_dataset(data, 'train'):
    for i in np.flatnonzero(batch['valid']):
      start = int(batch['start'][i])
      frames = start + np.arange(32)
      np.testing.assert_allclose(batch['targets'][i, :, 0], -truth['labels'][frames + 4], atol=1e-6)
      np.testing.assert_allclose(batch['targets'][i, :, 1], truth['labels'][frames + 7], atol=1e-6)
      window_brightness = batch['frames'][i].reshape(32, -1).astype(float).mean(axis=1)
      np.testing.assert_allclose(window_brightness, brightness[frames], atol=1e-9)
      for j, spectrogram in enumerate(batch['spectrograms'][i]):
        bands.append(spectrogram[np.argmax(spectrogram.mean(axis=1))])
        band_steps.append(start + 8 * j + np.minimum(np.arange(bands[-1].size) // 4, 7))
  # Each spectrogram is normalised, but its time course still follows the
  # tone's loudness step by step: frame f of sub-sequence j is centred on
  # sample 160 f of it, i.e. on step start + 8 j + f // 4.
  band, band_step = np.concatenate(bands), np.concatenate(band_steps)
  loudness = np.log(truth['step_amplitudes'])
  aligned = np.corrcoef(band, loudness[band_step])[0, 1]
  shifted = [np.corrcoef(band, loudness[band_step + d])[0, 1] for d in (-1, 1)]
  assert aligned > 0.6 and aligned > max(shifted) + 0.4, (aligned, shifted)
