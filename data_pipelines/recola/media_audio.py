"""Decodes the audio of any file PyAV opens (a video's track, a sound file) to 16 kHz mono, in chunks.

The samples are those `audio.load_audio_16k` gives for a WAV file (float32
in [-1, 1], channels averaged, then resampled with soxr's HQ filter; soxr's
stream gives the same samples as its one-shot call), but a file of any
length is read a chunk at a time.
"""

import os
from typing import Iterable
from typing import Iterator

import av
import numpy as np
import soxr

from data_pipelines.recola.audio import SAMPLE_RATE
from data_pipelines.recola.errors import RecolaInputError


def _open(path: str | os.PathLike):
  if not os.path.isfile(path):
    raise RecolaInputError(path, 'file not found')
  try:
    return av.open(os.fspath(path))
  except av.error.FFmpegError as error:
    raise RecolaInputError(path, f'not a readable media file ({error.strerror or error})') from None


def audio_start_s(path: str | os.PathLike) -> float | None:
  """When the file's first audio stream starts on the container's clock, or None without audio.

  Raises:
    RecolaInputError: naming the file when it is missing or unreadable.
  """
  with _open(path) as container:
    if not container.streams.audio:
      return None
    stream = container.streams.audio[0]
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def stream_audio_16k(path: str | os.PathLike, offset_s: float = 0.0) -> Iterator[np.ndarray]:
  """Yields the first audio stream as consecutive chunks of 16 kHz mono float32.

  Args:
    path: any file PyAV opens that holds an audio stream.
    offset_s: seconds of silence put before the first sample (negative:
      seconds of audio dropped), e.g. to align a video's audio, which may
      start later than its first frame, with that frame.

  Raises:
    RecolaInputError: naming the file when it has no audio or cannot be decoded.
  """
  with _open(path) as container:
    if not container.streams.audio:
      raise RecolaInputError(path, 'has no audio stream')
    stream = container.streams.audio[0]
    to_float = av.AudioResampler(format='fltp')  # keeps the channels and the rate
    resampler = None
    skip = max(0, int(round(-offset_s * SAMPLE_RATE)))
    if offset_s > 0:
      yield np.zeros(int(round(offset_s * SAMPLE_RATE)), np.float32)
    try:
      for frame in container.decode(stream):
        for converted in to_float.resample(frame):
          mono = converted.to_ndarray().mean(axis=0, dtype=np.float32)
          if resampler is None and converted.sample_rate != SAMPLE_RATE:
            resampler = soxr.ResampleStream(converted.sample_rate, SAMPLE_RATE, 1,
                                            dtype='float32', quality='HQ')
          chunk = mono if resampler is None else resampler.resample_chunk(mono)
          if skip:
            dropped = min(skip, chunk.size)
            chunk, skip = chunk[dropped:], skip - dropped
          if chunk.size:
            yield chunk
    except av.error.FFmpegError as error:
      raise RecolaInputError(path, f'corrupt audio ({error.strerror or error})') from None
    if resampler is not None:
      tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
      if tail.size > skip:
        yield tail[skip:]


def cut(chunks: Iterator[np.ndarray], sizes: Iterable[int]) -> Iterator[np.ndarray]:
  """Re-cuts consecutive chunks into consecutive segments of the given sizes (silence past
  the audio's end): 640 samples a 40 ms step, or an Aff-Wild2 frame's span."""
  pending = np.zeros(0, np.float32)
  for size in sizes:
    while pending.size < size:
      chunk = next(chunks, None)
      if chunk is None:
        pending = np.pad(pending, (0, size - pending.size))
        break
      pending = np.concatenate([pending, chunk])
    yield pending[:size]
    pending = pending[size:]


def step_sizes(steps: int, rate: float) -> np.ndarray:
  """Samples of each of `steps` steps at `rate` steps a second: step k holds samples
  [round(k·16000/rate), round((k+1)·16000/rate)), so 640 each at 25, 533 or 534 at 30."""
  return np.diff(np.round(np.arange(steps + 1) * SAMPLE_RATE / rate).astype(np.int64))
