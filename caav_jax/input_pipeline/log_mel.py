"""The paper's audio front end: log-mel spectrograms of a sub-sequence's audio, in numpy.

Per segment of 10,240 samples at 16 kHz: power mel spectrogram (n_fft 1024,
periodic Hann window of 400 samples centred in the FFT frame, hop 160,
centred frames with reflect padding, 128 HTK-scale triangular mel bands
without area normalisation, as torchaudio's `MelSpectrogram` defaults) →
log2 (values below 1e-19 floored there) → z-score over the spectrogram →
divided by its largest absolute value, so it lies in [-1, 1].
Result: (128, 65) per segment. A sub-sequence of steps other than 40 ms (a
30 fps frame) keeps 1 + 4 × its steps columns: its hop follows the step.
"""

import numpy as np

from data_pipelines.recola.audio import SAMPLES_PER_STEP  # 40 ms: 4 hops a step


SAMPLE_RATE = 16_000
N_FFT = 1024
WINDOW_LENGTH = 400
HOP_LENGTH = 160
N_MELS = 128
LOG_FLOOR = 1e-19


def hz_to_mel_htk(hz):
  return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_to_hz_htk(mel):
  return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT,
                   n_mels: int = N_MELS, f_min: float = 0.0,
                   f_max: float | None = None) -> np.ndarray:
  """Triangular filters equally spaced on the HTK mel scale, peak height 1.

  Returns:
    (n_fft // 2 + 1, n_mels) float64 weights from FFT bins to mel bands.
  """
  f_max = sample_rate / 2 if f_max is None else f_max
  bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
  edges = mel_to_hz_htk(np.linspace(hz_to_mel_htk(f_min), hz_to_mel_htk(f_max),
                                    n_mels + 2))
  lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
  rising = (bins[:, None] - lower) / (centre - lower)
  falling = (upper - bins[:, None]) / (upper - centre)
  return np.maximum(0.0, np.minimum(rising, falling))


def _window() -> np.ndarray:
  """Periodic Hann of WINDOW_LENGTH, zero-padded to N_FFT, centred."""
  hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW_LENGTH) / WINDOW_LENGTH)
  left = (N_FFT - WINDOW_LENGTH) // 2
  return np.pad(hann, (left, N_FFT - WINDOW_LENGTH - left))


_WINDOW = _window().astype(np.float32)
_FILTERBANK = mel_filterbank().astype(np.float32)


def mel_power_spectrogram(segments: np.ndarray) -> np.ndarray:
  """Power mel spectrogram of each segment.

  Args:
    segments: (..., samples) float audio at 16 kHz.

  Returns:
    (..., N_MELS, 1 + samples // HOP_LENGTH) float32.
  """
  segments = np.asarray(segments, np.float32)
  pad = N_FFT // 2
  padded = np.pad(segments, [(0, 0)] * (segments.ndim - 1) + [(pad, pad)],
                  mode='reflect')
  frames = np.lib.stride_tricks.sliding_window_view(
      padded, N_FFT, axis=-1)[..., ::HOP_LENGTH, :]
  spectrum = np.fft.rfft(frames * _WINDOW, axis=-1)
  power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
  return np.swapaxes(power @ _FILTERBANK, -1, -2)


def _framed_power(segment: np.ndarray, frames: int) -> np.ndarray:
  """(N_MELS, frames) power mel spectrogram of one segment, frame k centred at k·n / (frames − 1).

  The hop is the segment's length / (frames − 1): HOP_LENGTH for 640
  samples a step at 25 steps a second, 133⅓ at 30 (a step is one video
  frame there), so a sub-sequence of F steps always has 1 + 4F frames.
  """
  segment = np.asarray(segment, np.float32)
  pad = N_FFT // 2
  padded = np.pad(segment, (pad, pad), mode='reflect')
  starts = np.round(np.arange(frames) * segment.size / (frames - 1)).astype(np.int64)
  windows = padded[starts[:, None] + np.arange(N_FFT)]
  spectrum = np.fft.rfft(windows * _WINDOW, axis=-1)
  power = (spectrum.real ** 2 + spectrum.imag ** 2).astype(np.float32)
  return (power @ _FILTERBANK).T


def subsequence_spectrograms(step_audio, starts: np.ndarray, steps: int) -> np.ndarray:
  """The normalised log-mel spectrogram of the audio of steps [s, s + steps) for each start s.

  Args:
    step_audio: each step's audio, 16 kHz: 640 samples a step (RECOLA, and
      Aff-Wild2 at 25 fps), or as many as the step's video frame spans.
    starts: (n,) first step of each sub-sequence.
    steps: steps per sub-sequence.

  Returns:
    (n, N_MELS, 1 + 4·steps) float32 in [-1, 1].
  """
  frames = 1 + steps * SAMPLES_PER_STEP // HOP_LENGTH
  lengths = np.array([np.size(a) for a in step_audio])
  if (lengths == SAMPLES_PER_STEP).all():  # the vectorised path, hop HOP_LENGTH
    audio = np.asarray(step_audio, np.float32).reshape(len(lengths), SAMPLES_PER_STEP)
    rows = np.asarray(starts)[:, None] + np.arange(steps)
    return log_mel_spectrogram(audio[rows].reshape(len(starts), -1))
  flat = np.concatenate([np.asarray(a, np.float32) for a in step_audio])
  bounds = np.concatenate([[0], np.cumsum(lengths)])
  power = np.stack([_framed_power(flat[bounds[s]:bounds[s + steps]], frames) for s in starts])
  return _normalised_log(power)


def _normalised_log(power: np.ndarray) -> np.ndarray:
  """log2 (floored), z-scored over each spectrogram, divided by its largest magnitude."""
  log_mel = np.log2(np.maximum(power, LOG_FLOOR))
  axes = (-2, -1)
  centred = log_mel - log_mel.mean(axis=axes, keepdims=True)
  std = centred.std(axis=axes, keepdims=True)
  flat = std < 1e-6  # a constant spectrogram (e.g. digital silence)
  standardised = np.where(flat, 0.0, centred / np.where(flat, 1.0, std))
  peak = np.abs(standardised).max(axis=axes, keepdims=True)
  return (standardised / np.where(peak > 0, peak, 1.0)).astype(np.float32)


def log_mel_spectrogram(segments: np.ndarray) -> np.ndarray:
  """The paper's normalised log-mel spectrogram of each segment.

  Args:
    segments: (..., samples) float audio at 16 kHz (10,240 samples gives the
      paper's (128, 65)).

  Returns:
    (..., N_MELS, frames) float32 in [-1, 1]; a silent segment gives zeros.
  """
  return _normalised_log(mel_power_spectrogram(segments))
