"""Audio: 16 kHz mono from any WAV, the 40 ms grid, truncated and bogus files."""

import numpy as np
import pytest
import soundfile

from data_pipelines.recola import audio
from data_pipelines.recola.errors import RecolaInputError


def test_real_speech_wavs_load_at_16k_unchanged(media):
  for name in ('00.wav', '25.wav', '46.wav'):
    path = media / 'speech_emotion' / name
    reference, rate = soundfile.read(path, dtype='float32')
    assert rate == 16_000 and reference.ndim == 1
    np.testing.assert_array_equal(audio.load_audio_16k(path), reference)


@pytest.mark.parametrize('rate', [44_100, 48_000, 8_000])
def test_resampling_keeps_duration_and_pitch(tmp_path, rate):
  t = np.arange(int(1.5 * rate)) / rate
  tone = 0.5 * np.sin(2 * np.pi * 440 * t)
  soundfile.write(tmp_path / 'a.wav', np.stack([tone, tone], 1), rate, subtype='PCM_16')
  samples = audio.load_audio_16k(tmp_path / 'a.wav')
  assert samples.size == 24_000
  spectrum = np.abs(np.fft.rfft(samples[4000:20000]))
  peak_hz = np.fft.rfftfreq(16_000, 1 / 16_000)[np.argmax(spectrum)]
  assert abs(peak_hz - 440) <= 1
  expected = 0.5 * np.sin(2 * np.pi * 440 * np.arange(24_000) / 16_000)
  np.testing.assert_allclose(samples[1000:-1000], expected[1000:-1000], atol=2e-3)


def test_stereo_channels_are_averaged(tmp_path):
  left = np.full(16_000, 0.5, np.float32)
  right = np.full(16_000, -0.25, np.float32)
  soundfile.write(tmp_path / 's.wav', np.stack([left, right], 1), 16_000, subtype='FLOAT')
  np.testing.assert_allclose(audio.load_audio_16k(tmp_path / 's.wav'), 0.125)


def test_truncated_wav_is_reported(tmp_path, media):
  data = (media / 'speech_emotion' / '00.wav').read_bytes()
  (tmp_path / 'cut.wav').write_bytes(data[:len(data) // 2])
  with pytest.raises(RecolaInputError, match=r'cut\.wav: truncated WAV: header declares \d+ bytes'):
    audio.load_audio_16k(tmp_path / 'cut.wav')


def test_not_a_wav_and_missing_wav(tmp_path, media):
  (tmp_path / 'x.wav').write_bytes((media / 'speech_emotion' / 'arousal.csv').read_bytes())
  with pytest.raises(RecolaInputError, match=r'x\.wav: not a RIFF/WAVE file'):
    audio.load_audio_16k(tmp_path / 'x.wav')
  with pytest.raises(RecolaInputError, match=r'y\.wav: audio file not found'):
    audio.load_audio_16k(tmp_path / 'y.wav')


def test_label_grid_segments_and_padding():
  samples = np.arange(640 * 3 + 100, dtype=np.float32)
  grid = audio.audio_on_label_grid(samples, 3)
  np.testing.assert_array_equal(grid[2], samples[1280:1920])
  padded = audio.audio_on_label_grid(samples, 5)
  np.testing.assert_array_equal(padded[3, :100], samples[1920:])
  assert not padded[3, 100:].any() and not padded[4].any()


def test_one_missing_step_is_normal_and_more_is_a_warning():
  from absl import logging  # pylint: disable=g-import-not-at-top
  samples = np.ones(640 * 10, np.float32)
  messages = []
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(logging, 'warning', lambda *args: messages.append(('warning', args[0] % args[1:])))
    patch.setattr(logging, 'info', lambda *args: messages.append(('info', args[0] % args[1:])))
    audio.audio_on_label_grid(samples, 11, 'rec.wav')  # RECOLA: a label at the end instant too
    audio.audio_on_label_grid(samples, 13, 'rec.wav')
  assert messages == [
      ('info', 'rec.wav: audio is 0.040 s shorter than the labels; padding with silence.'),
      ('warning', 'rec.wav: audio is 0.120 s shorter than the labels; padding with silence.')]
