"""Decodes a video onto a label grid by timestamp (RECOLA's 40 ms, or the video's own frames)."""

import dataclasses
import fractions
import os
from typing import Iterator

import av
import numpy as np

from data_pipelines.recola.errors import RecolaInputError


@dataclasses.dataclass(frozen=True)
class StepGrid:
  """When the label steps fall, exactly: step k at k·step_s + lead_s after the first frame.

  A step gets the latest frame shown at its time. RECOLA's grid (`LABEL_GRID`) is
  every 40 ms; a video's own frame grid (`frame_grid`) leads by half a frame, so
  that step k is frame k even where a container rounds timestamps (MKV's and
  WebM's milliseconds put 30 fps frame 2 at 67 ms, after 2/30 s).
  """
  step_s: fractions.Fraction
  lead_s: fractions.Fraction = fractions.Fraction(0)

  def time(self, step: int) -> fractions.Fraction:
    return step * self.step_s + self.lead_s

  def step_at(self, time: fractions.Fraction) -> int:
    """The step whose span [time(k) - step_s, time(k)) holds `time` (a frame's own step)."""
    return int((time + self.lead_s) // self.step_s)


LABEL_GRID = StepGrid(fractions.Fraction(1, 25))  # RECOLA's 40 ms


def frame_grid(frame_rate: fractions.Fraction) -> StepGrid:
  """A step a frame at `frame_rate` frames a second."""
  return StepGrid(1 / frame_rate, 1 / (2 * frame_rate))


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  """What the container says about its video stream."""
  width: int
  height: int
  frame_rate: float
  duration_s: float


def _open(path: str | os.PathLike):
  if not os.path.isfile(path):
    raise RecolaInputError(path, 'video file not found')
  try:
    container = av.open(os.fspath(path))
  except av.error.FFmpegError as e:
    raise RecolaInputError(path, f'not a readable video ({e.strerror or e})') from None
  if not container.streams.video:
    container.close()
    raise RecolaInputError(path, 'has no video stream')
  return container


def video_start_s(path: str | os.PathLike) -> float:
  """When the first video stream starts on the container's clock, in seconds."""
  with _open(path) as container:
    stream = container.streams.video[0]
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def probe_video(path: str | os.PathLike) -> VideoInfo:
  """Reads the stream's size, rate and duration, and decodes its first frame.

  Raises:
    RecolaInputError: naming the file when it is missing, not a video, or its
      first frame cannot be decoded.
  """
  with _open(path) as container:
    stream = container.streams.video[0]
    if stream.duration is not None:
      duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
      duration = container.duration / av.time_base
    else:
      duration = float('nan')
    try:
      next(container.decode(stream))
    except (StopIteration, av.error.FFmpegError):
      raise RecolaInputError(path, 'no decodable video frame') from None
    rate = stream.average_rate or stream.guessed_rate or 0
    return VideoInfo(width=stream.codec_context.width,
                     height=stream.codec_context.height,
                     frame_rate=float(rate), duration_s=duration)


@dataclasses.dataclass
class DecodedExtent:
  """Filled in by `frames_on_label_grid` once decoding ends.

  Attributes:
    frames: number of video frames decoded.
    duration_s: time from the first frame's start to the last frame's end.
    steps_past_end: label steps that fell after the last frame ended (they
      were given the last frame).
  """
  frames: int = 0
  duration_s: float = 0.0
  steps_past_end: int = 0


def frames_on_label_grid(path: str | os.PathLike, steps: int,
                         extent: DecodedExtent | None = None, grid: StepGrid = LABEL_GRID
                         ) -> Iterator[tuple[int, np.ndarray]]:
  """Yields one frame per label step (40 ms unless `grid` says): the latest frame shown then.

  Step k (time k × 40 ms after the first frame) gets the frame with the largest
  timestamp ≤ k × 40 ms, computed in exact rational arithmetic on the stream's
  time base: a 30 fps video maps frames 0, 1, 2, 4, 5, 6, 7, 8, 10, ... onto
  steps 0, 1, 2, 3, ...; a 25 fps video maps frame k to step k. On the
  video's own `frame_grid`, every frame is its own step.

  Args:
    path: the video file.
    steps: number of label steps to produce.
    extent: optional record of how much video there was, filled in at the end.
    grid: when the steps fall.

  Yields:
    (step, frame) with frame a (height, width, 3) uint8 BGR array.

  Raises:
    RecolaInputError: naming the file when it cannot be decoded.
  """
  extent = extent if extent is not None else DecodedExtent()
  with _open(path) as container:
    stream = container.streams.video[0]
    stream.thread_type = 'AUTO'
    time_base = stream.time_base
    start = None
    held = None  # the latest decoded frame, converted on first use
    held_time = None
    step = 0
    last_duration = fractions.Fraction(0)
    try:
      for frame in container.decode(stream):
        if frame.pts is None:
          raise RecolaInputError(path, 'frame without timestamp')
        start = frame.pts if start is None else start
        time = (frame.pts - start) * time_base
        if held is not None:
          last_duration = time - held_time
          if step < steps and grid.time(step) < time:
            pixels = held.to_ndarray(format='bgr24')
            while step < steps and grid.time(step) < time:
              yield step, pixels
              step += 1
        held = frame
        held_time = time
        extent.frames += 1
    except av.error.FFmpegError as e:
      raise RecolaInputError(path, f'corrupt video at frame {extent.frames} '
                             f'({e.strerror or e})') from None
    if held is None:
      raise RecolaInputError(path, 'no decodable video frame')
    end = held_time + (last_duration or grid.step_s)
    extent.duration_s = float(end)
    if step < steps:
      pixels = held.to_ndarray(format='bgr24')
    while step < steps:
      if grid.time(step) >= end:
        extent.steps_past_end += 1
      yield step, pixels
      step += 1
