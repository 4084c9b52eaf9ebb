"""The paper's log-mel spectrogram against librosa's reference implementation."""

import librosa
import numpy as np
import pytest
import soundfile

from caav_jax.input_pipeline import log_mel


# librosa with the paper's (torchaudio's default) settings: HTK mel scale, no
# filter normalisation, centred frames with reflect padding, periodic Hann.
REFERENCE = dict(sr=16_000, n_fft=1024, win_length=400, hop_length=160,
                 n_mels=128, htk=True, norm=None, center=True,
                 pad_mode='reflect', power=2.0, window='hann')


@pytest.fixture(scope='module')
def speech_segments(media):
  samples, rate = soundfile.read(media / 'speech_emotion' / '05.wav', dtype='float32')
  assert rate == 16_000
  return samples[:2 * 10_240].reshape(2, 10_240)


def test_filterbank_equals_librosa():
  reference = librosa.filters.mel(sr=16_000, n_fft=1024, n_mels=128, htk=True, norm=None)
  np.testing.assert_allclose(log_mel.mel_filterbank(), reference.T, atol=1e-6)


def test_power_spectrogram_equals_librosa(speech_segments):
  mine = log_mel.mel_power_spectrogram(speech_segments)
  assert mine.shape == (2, 128, 65)
  for segment, spectrogram in zip(speech_segments, mine):
    reference = librosa.feature.melspectrogram(y=segment, **REFERENCE)
    # Relative to each band's energy: float32 FFT against librosa's float64 path.
    np.testing.assert_allclose(spectrogram, reference, rtol=1e-3,
                               atol=1e-6 * reference.max())


def test_normalised_log_mel_equals_reference_formula(speech_segments):
  mine = log_mel.log_mel_spectrogram(speech_segments)
  for segment, spectrogram in zip(speech_segments, mine):
    power = librosa.feature.melspectrogram(y=segment, **REFERENCE)
    logged = np.log2(np.where(power == 0, 1e-19, power))
    z = (logged - logged.mean()) / logged.std()
    np.testing.assert_allclose(spectrogram, z / np.abs(z).max(), atol=2e-4)
    assert np.abs(spectrogram).max() == pytest.approx(1.0)


def test_silence_gives_zeros_not_nans():
  out = log_mel.log_mel_spectrogram(np.zeros((3, 10_240), np.float32))
  assert out.shape == (3, 128, 65)
  np.testing.assert_array_equal(out, 0.0)
