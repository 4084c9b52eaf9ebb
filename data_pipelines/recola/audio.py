"""Reads RECOLA audio: any-rate PCM WAV in, 16 kHz mono float32 out, cut onto the 40 ms grid."""

import os
import struct

from absl import logging
import numpy as np
import soundfile
import soxr

from data_pipelines.recola.errors import RecolaInputError

SAMPLE_RATE = 16_000
SAMPLES_PER_STEP = 640  # 40 ms at 16 kHz


def check_wav(path: str | os.PathLike) -> None:
  """Checks a WAV file cheaply: present, RIFF/WAVE, and not truncated.

  A truncated file is found by comparing the `data` chunk's declared size
  with the bytes present (decoders silently return the shorter audio).

  Raises:
    RecolaInputError: naming the file and the problem.
  """
  if not os.path.isfile(path):
    raise RecolaInputError(path, 'audio file not found')
  size = os.path.getsize(path)
  with open(path, 'rb') as f:
    header = f.read(12)
    if len(header) < 12 or header[:4] != b'RIFF' or header[8:12] != b'WAVE':
      raise RecolaInputError(path, 'not a RIFF/WAVE file')
    while True:
      chunk = f.read(8)
      if len(chunk) < 8:
        raise RecolaInputError(path, 'truncated WAV: no audio data chunk')
      chunk_id, chunk_size = struct.unpack('<4sI', chunk)
      if chunk_id == b'data':
        present = size - f.tell()
        if chunk_size not in (0, 0xFFFFFFFF) and present < chunk_size:
          raise RecolaInputError(
              path, f'truncated WAV: header declares {chunk_size} bytes of '
              f'audio but only {present} are present')
        return
      f.seek(chunk_size + (chunk_size & 1), os.SEEK_CUR)


def load_audio_16k(path: str | os.PathLike) -> np.ndarray:
  """Loads a WAV file as 16 kHz mono float32 in [-1, 1].

  The native rate and channel count are read from the file, never assumed;
  channels are averaged and the signal is resampled with soxr (high quality).

  Args:
    path: the WAV file.

  Returns:
    (samples,) float32 at 16 kHz.

  Raises:
    RecolaInputError: naming the file when it is missing, not audio or
      truncated.
  """
  check_wav(path)
  try:
    samples, rate = soundfile.read(path, dtype='float32', always_2d=True)
  except (soundfile.LibsndfileError, RuntimeError) as e:
    raise RecolaInputError(path, f'unreadable audio ({e})') from None
  if samples.shape[0] == 0:
    raise RecolaInputError(path, 'audio file holds no samples')
  mono = samples.mean(axis=1)
  if rate != SAMPLE_RATE:
    mono = soxr.resample(mono, rate, SAMPLE_RATE, quality='HQ')
  return np.asarray(mono, np.float32)


def audio_on_label_grid(samples: np.ndarray, steps: int,
                        path: str | os.PathLike = '') -> np.ndarray:
  """Cuts 16 kHz audio into one 640-sample segment per 40 ms label step.

  Audio shorter than the labels is padded with silence, longer audio is cut;
  both are logged with the file name. A shortfall of up to one step is the
  normal case (RECOLA has a label at t = 300 s, the end of 300 s of audio)
  and is logged at INFO level; a longer one is a warning.

  Args:
    samples: (samples,) 16 kHz mono audio.
    steps: number of label steps.
    path: the source file, for the log message.

  Returns:
    (steps, 640) float32; row k holds samples [640 k, 640 (k + 1)).
  """
  needed = steps * SAMPLES_PER_STEP
  if samples.size < needed:
    log = logging.info if needed - samples.size <= SAMPLES_PER_STEP else logging.warning
    log('%s: audio is %.3f s shorter than the labels; padding with silence.', path,
        (needed - samples.size) / SAMPLE_RATE)
    samples = np.pad(samples, (0, needed - samples.size))
  elif samples.size > needed:
    excess = (samples.size - needed) / SAMPLE_RATE
    if excess >= 0.04:
      logging.info('%s: cutting %.3f s of audio beyond the labels.', path, excess)
    samples = samples[:needed]
  return samples.reshape(steps, SAMPLES_PER_STEP)
