"""Source-filter synthesis of a speech-like voice whose prosody follows the emotion."""

import dataclasses

import numpy as np

from data_pipelines.synthetic import emotion_trajectories as emotion_lib

BASE_PITCH_HZ = 110.0
_CONTROL_RATE_HZ = 200.0
# The participant listens to the partner in turns longer than a 5.12 s window,
# so some windows hold no voice at all and only the face tells their arousal.
_SILENT_COVERAGE_RANGE = (0.35, 0.45)
_SILENT_TURN_S = (4.0, 10.0)
_VOICED_FRACTION_OF_SYLLABLE = 0.65
_SKIPPED_SYLLABLE_PROBABILITY = 0.1
_GATE_RAMP_S = 0.03
_FILTER_TAIL_S = 0.05
_BACKGROUND_NOISE_RMS = 10.0 ** (-55.0 / 20.0)
# Formant frequencies (Hz) of the vowels /a/, /i/ and /u/, and bandwidths (Hz).
_VOWEL_FORMANTS_HZ = ((730.0, 1090.0, 2440.0), (270.0, 2290.0, 3010.0),
                      (300.0, 870.0, 2240.0))
_FORMANT_BANDWIDTHS_HZ = (90.0, 110.0, 170.0)


@dataclasses.dataclass(frozen=True)
class VoiceTrack:
  """The audio of one recording.

  Attributes:
    waveform: (num_samples,) float32 samples in [-1, 1].
    sample_rate: Samples per second.
    silent_intervals: (n, 2) [start, end) seconds where nobody speaks (only
      faint background noise).
  """

  waveform: np.ndarray
  sample_rate: int
  silent_intervals: np.ndarray


def _resonate(samples: np.ndarray, formants_hz: np.ndarray,
              sample_rate: int) -> np.ndarray:
  """Filters through cascaded two-pole formant resonators (unit gain at 0 Hz).

  The filtering is done in the frequency domain, with enough zero padding for
  the resonances to die out, so it equals recursive filtering from rest.

  Args:
    samples: (n,) input.
    formants_hz: Resonance frequencies; bandwidths are _FORMANT_BANDWIDTHS_HZ.
    sample_rate: Samples per second.

  Returns:
    (n,) the filtered samples.
  """
  size = 1 << int(np.ceil(np.log2(samples.size + _FILTER_TAIL_S * sample_rate)))
  spectrum = np.fft.rfft(samples, size)
  delay = np.exp(-2j * np.pi * np.fft.rfftfreq(size))
  for frequency, bandwidth in zip(formants_hz, _FORMANT_BANDWIDTHS_HZ):
    frequency = min(frequency, 0.45 * sample_rate)
    radius = np.exp(-np.pi * bandwidth / sample_rate)
    a1 = -2.0 * radius * np.cos(2.0 * np.pi * frequency / sample_rate)
    a2 = radius ** 2
    spectrum *= (1.0 + a1 + a2) / (1.0 + a1 * delay + a2 * delay ** 2)
  return np.fft.irfft(spectrum, size)[:samples.size]


def _unit_rms(values: np.ndarray) -> np.ndarray:
  return values / max(float(np.sqrt(np.mean(values ** 2))), 1e-12)


def _speech_gate(num_samples: int, sample_rate: int,
                 silent_intervals: np.ndarray) -> np.ndarray:
  """1 where the voice may sound, 0 in silent intervals, cosine ramps between."""
  gate = np.ones(num_samples)
  for start_s, end_s in silent_intervals:
    first = max(0, int(np.floor((start_s - _GATE_RAMP_S) * sample_rate)))
    last = min(num_samples, int(np.ceil((end_s + _GATE_RAMP_S) * sample_rate)))
    times_s = np.arange(first, last) / sample_rate
    outside_s = np.maximum(start_s - times_s, times_s - end_s)
    ramp = np.clip(outside_s / _GATE_RAMP_S, 0.0, 1.0)
    gate[first:last] = np.minimum(gate[first:last],
                                  0.5 - 0.5 * np.cos(np.pi * ramp))
  return gate


def synthesize_voice(emotion: emotion_lib.RecordingEmotion, duration_s: float,
                     sample_rate: int, rng: np.random.Generator) -> VoiceTrack:
  """Synthesises a recording's voice.

  Arousal (expressed, i.e. the label 2.72 s later) is the strong audio cue:
  pitch f0 = 110 Hz · speaker factor · 2^(0.6·arousal), with per-syllable
  intonation and jitter; speaking rate (4 + 2·arousal) · speaker factor
  syllables/s, each a voiced burst; loudness -20 + 8·arousal dB. Valence (the
  label 2.32 s later) is a medium cue, spectral brightness, set per syllable:
  formants scaled by 1 + 0.1·valence + N(0, 0.03²) and a pre-emphasised copy
  mixed in at 0.5 · (1 + 0.9·valence) + N(0, 0.08²). The glottal source (a
  sawtooth) goes through the three formants of one of three vowels per
  syllable. In random listening turns of 4-10 s (35-45 % of the time) nobody
  speaks; faint background noise (-55 dB) runs throughout.

  Args:
    emotion: The recording's true emotion.
    duration_s: Length of the audio, in seconds.
    sample_rate: Samples per second.
    rng: Source of randomness.

  Returns:
    The voice track, exactly round(duration_s · sample_rate) samples long.
  """
  num_samples = int(round(duration_s * sample_rate))
  sample_times = np.arange(num_samples) / sample_rate
  control_times = np.arange(
      int(np.ceil(duration_s * _CONTROL_RATE_HZ)) + 2) / _CONTROL_RATE_HZ
  arousal = np.interp(sample_times, control_times,
                      emotion.expressed_arousal(control_times))
  valence = np.interp(sample_times, control_times,
                      emotion.expressed_valence(control_times))

  speaker_pitch = BASE_PITCH_HZ * rng.uniform(0.85, 1.2)
  speaker_rate = rng.uniform(0.9, 1.1)
  syllable_phase = np.cumsum(speaker_rate * (4.0 + 2.0 * arousal)) / sample_rate
  syllable = syllable_phase.astype(np.int64)
  num_syllables = int(syllable[-1]) + 1
  syllable_gain = rng.uniform(0.7, 1.0, num_syllables) * (
      rng.random(num_syllables) >= _SKIPPED_SYLLABLE_PROBABILITY)
  syllable_semitones = rng.normal(0.0, 1.0, num_syllables)
  syllable_vowel = rng.integers(0, len(_VOWEL_FORMANTS_HZ), num_syllables)
  syllable_formant_noise = rng.normal(0.0, 0.03, num_syllables)
  syllable_brightness_noise = rng.normal(0.0, 0.08, num_syllables)

  voiced_part = np.clip(
      (syllable_phase - syllable) / _VOICED_FRACTION_OF_SYLLABLE, 0.0, 1.0)
  envelope = np.sin(np.pi * voiced_part) ** 2 * syllable_gain[syllable]

  jitter = np.convolve(rng.normal(0.0, 1.0, control_times.size),
                       np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2) / 5.0,
                       mode='same')
  pitch = (speaker_pitch * 2.0 ** (0.6 * arousal) *
           2.0 ** (syllable_semitones[syllable] / 12.0) *
           (1.03 - 0.06 * voiced_part) *
           (1.0 + 0.01 * np.interp(sample_times, control_times, jitter)))
  glottal_phase = np.cumsum(pitch) / sample_rate
  source = 1.0 - 2.0 * (glottal_phase - np.floor(glottal_phase))

  voiced = np.zeros(num_samples)
  segment_starts = np.concatenate([[0], np.flatnonzero(np.diff(syllable)) + 1])
  segment_ends = np.append(segment_starts[1:], num_samples)
  for start, end in zip(segment_starts, segment_ends):
    index = syllable[start]
    if syllable_gain[index] == 0.0 or end - start < 2:
      continue
    middle_valence = valence[(start + end) // 2]
    formants = np.array(_VOWEL_FORMANTS_HZ[syllable_vowel[index]]) * (
        1.0 + 0.1 * middle_valence + syllable_formant_noise[index])
    filtered = _unit_rms(_resonate(source[start:end], formants, sample_rate))
    brightness = max(0.0, 0.5 * (1.0 + 0.9 * middle_valence) +
                     syllable_brightness_noise[index])
    voiced[start:end] = _unit_rms(
        filtered + brightness * _unit_rms(np.diff(filtered, prepend=0.0)))
  loudness = 10.0 ** ((-20.0 + 8.0 * arousal) / 20.0)

  silent_intervals = emotion_lib.random_intervals(
      rng, duration_s, rng.uniform(*_SILENT_COVERAGE_RANGE), *_SILENT_TURN_S)
  noise = np.convolve(rng.normal(0.0, 1.0, num_samples), [0.25, 0.5, 0.25],
                      mode='same')
  waveform = (_speech_gate(num_samples, sample_rate, silent_intervals) * loudness *
              envelope * voiced + _BACKGROUND_NOISE_RMS * _unit_rms(noise))
  return VoiceTrack(
      waveform=np.clip(waveform, -1.0, 1.0).astype(np.float32),
      sample_rate=sample_rate,
      silent_intervals=silent_intervals,
  )
