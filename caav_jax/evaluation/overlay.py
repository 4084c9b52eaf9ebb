"""The annotated video of a prediction: every frame with its face box and a live bar per dimension.

Frames keep their own rate and timestamps; frame time t shows the
prediction of the step it falls in (40 ms steps, or a step a frame). The voice is re-encoded as AAC
beside the picture, interleaved as it is read, so memory stays bounded.
"""

import fractions
import os
import pathlib
from typing import Callable
from typing import Iterator
from typing import Sequence

import av
import cv2
import numpy as np

from caav_jax.atomic_write import atomic_write
from data_pipelines.recola import video as video_lib


_FACE = (80, 200, 80)  # BGR
_POSITIVE, _NEGATIVE, _TRACK = (60, 180, 240), (230, 140, 60), (60, 60, 60)


def draw(frame_bgr: np.ndarray, box: np.ndarray | None, values: np.ndarray,
         dimensions: Sequence[str]) -> np.ndarray:
  """Draws the face box (if any) and a bar per dimension from the centre (0) to its value."""
  height, width = frame_bgr.shape[:2]
  if box is not None:
    x, y, w, h = (int(round(v)) for v in box)
    cv2.rectangle(frame_bgr, (x, y), (x + w, y + h), _FACE, max(2, height // 240))
  bar = max(10, height // 28)
  left, length = max(8, width // 40), width // 3
  text_scale = bar / 28
  panel_top = height - len(dimensions) * (bar + bar // 2) - bar
  panel = frame_bgr[max(0, panel_top):, :min(width, left + length + 9 * bar)]
  panel[:] = panel // 2  # a darker band behind the bars keeps them readable on any picture
  for row, (name, value) in enumerate(zip(dimensions, values)):
    top = height - (len(dimensions) - row) * (bar + bar // 2) - bar // 2
    centre = left + length // 2
    cv2.rectangle(frame_bgr, (left, top), (left + length, top + bar), _TRACK, -1)
    end = centre + int(round(np.clip(value, -1, 1) * length / 2))
    cv2.rectangle(frame_bgr, (min(centre, end), top), (max(centre, end), top + bar),
                  _POSITIVE if value >= 0 else _NEGATIVE, -1)
    cv2.line(frame_bgr, (centre, top), (centre, top + bar), (255, 255, 255), 1)
    cv2.putText(frame_bgr, f'{name} {value:+.2f}', (left + length + bar // 2, top + bar - 2),
                cv2.FONT_HERSHEY_SIMPLEX, text_scale, (255, 255, 255), max(1, bar // 12),
                cv2.LINE_AA)
  return frame_bgr


def _audio_frames(path: pathlib.Path, offset_s: float) -> Iterator[tuple[float, av.AudioFrame]]:
  """(time from the first video frame, frame) of the audio stream of `path`."""
  with av.open(os.fspath(path)) as container:
    stream = container.streams.audio[0]
    start = stream.start_time or 0
    for frame in container.decode(stream):
      if frame.pts is not None:
        yield float((frame.pts - start) * stream.time_base) + offset_s, frame


def write_overlay(path: str | os.PathLike, video: pathlib.Path, audio: pathlib.Path | None,
                  audio_offset_s: float, boxes: np.ndarray, found: np.ndarray,
                  predictions: np.ndarray, dimensions: Sequence[str], grid: video_lib.StepGrid,
                  on_frame: Callable[[], None] | None = None) -> None:
  """Writes the annotated video (H.264 + AAC in MP4), atomically.

  Args:
    path: the `.mp4` file.
    video: the input video.
    audio: the file the voice comes from, or None for a silent result.
    audio_offset_s: when that audio starts, in seconds after the first frame.
    boxes: (steps, 4) face box (x, y, width, height) of each step.
    found: (steps,) whether a face is there.
    predictions: (steps, dims) the prediction of each step.
    dimensions: the dims names.
    grid: when the steps fall (the one the predictions were made on).
    on_frame: called after each frame (a progress bar's update).
  """
  steps = predictions.shape[0]
  with atomic_write(path, binary=True) as file, av.open(os.fspath(video)) as source:
    source_video = source.streams.video[0]
    source_video.thread_type = 'AUTO'
    with av.open(file, 'w', format='mp4') as output:
      rate = source_video.average_rate or fractions.Fraction(25)
      width = source_video.codec_context.width // 2 * 2
      height = source_video.codec_context.height // 2 * 2
      encoder = output.add_stream('libx264', rate=rate, options={'preset': 'veryfast', 'crf': '23'})
      encoder.width, encoder.height, encoder.pix_fmt = width, height, 'yuv420p'
      encoder.codec_context.time_base = source_video.time_base  # keeps each frame's own time
      voice = sound = None
      if audio is not None:
        sound = _audio_frames(audio, audio_offset_s)
        voice = output.add_stream('aac', rate=48_000)
      pending = next(sound, None) if sound else None
      start = None
      for frame in source.decode(source_video):
        if frame.pts is None:
          continue
        start = frame.pts if start is None else start
        time = (frame.pts - start) * source_video.time_base
        step = min(steps - 1, grid.step_at(time))
        picture = draw(frame.to_ndarray(format='bgr24')[:height, :width],
                       boxes[step] if found[step] else None, predictions[step], dimensions)
        annotated = av.VideoFrame.from_ndarray(picture, format='bgr24')
        annotated.pts, annotated.time_base = frame.pts - start, source_video.time_base
        for packet in encoder.encode(annotated):
          output.mux(packet)
        while pending is not None and pending[0] <= float(time):
          _encode_audio(output, voice, *pending)
          pending = next(sound, None)
        if on_frame is not None:
          on_frame()
      while pending is not None and pending[0] <= steps * float(grid.step_s):
        _encode_audio(output, voice, *pending)
        pending = next(sound, None)
      for stream in (encoder, voice):
        if stream is not None:
          for packet in stream.encode(None):
            output.mux(packet)


def _encode_audio(output, stream, time: float, frame: av.AudioFrame) -> None:
  if time < 0:
    return  # audio from before the first frame
  frame.pts, frame.time_base = int(round(time * frame.sample_rate)), fractions.Fraction(
      1, frame.sample_rate)
  for packet in stream.encode(frame):
    output.mux(packet)
