"""Any video a user brings, as the model's evaluation windows, read as it streams.

The steps are the dataset builder's (data_pipelines/recola/recording.py):
one per 40 ms, the frame shown at that time (by timestamp, any frame rate),
the face found and tracked over the whole video, cropped and stored as the
dataset stores it (JPEG), and 640 samples of 16 kHz mono audio. For a model
trained on Aff-Wild2 a step is one frame at the video's own rate, and its
audio that frame's span (as data_pipelines/affwild2/video_reader.py). The windows
are evaluation's (`windows.eval_windows` of an unlabelled recording) and
each is made into model inputs by `loaders.window_inputs`, so the model sees
exactly what it sees when the same recording is evaluated from the dataset.

Memory is bounded by one batch of windows whatever the video's length: the
video is decoded twice (faces, then crops) and the audio once, as they are
read, never whole.
"""

import collections
import dataclasses
import fractions
import os
import pathlib
from typing import Callable
from typing import Iterator

import av
import cv2
import ml_collections
import numpy as np

from caav_jax.input_pipeline import loaders
from caav_jax.input_pipeline.windows import Windows
from caav_jax.input_pipeline.windows import eval_windows
from data_pipelines.recola import faces
from data_pipelines.recola import media_audio
from data_pipelines.recola import recording as recording_lib
from data_pipelines.recola import video as video_lib
from data_pipelines.recola.errors import RecolaInputError
from data_pipelines.recola.labels import DIMENSIONS
from data_pipelines.recola.labels import STEP_SECONDS


VIDEO_SUFFIXES = ('.mp4', '.mov', '.mkv', '.webm', '.avi', '.m4v', '.mpg', '.mpeg', '.wmv',
                  '.flv', '.ts', '.3gp')
# A face whose crop must be enlarged more than this to the model's crop size holds too
# little detail for the model: the input is refused rather than predicted on.
MAX_UPSCALE = 4.0


@dataclasses.dataclass(frozen=True)
class Media:
  """One video to predict on.

  Attributes:
    name: the video's file name without its suffix.
    video: the video file.
    audio: the file the voice comes from (the video itself, or one given
      apart), or None when there is none.
    audio_offset_s: silence put before the audio so that it starts with the
      first frame (a container's audio may start after its video).
    steps: 40 ms steps: the video's length / 40 ms, plus one (as the RECOLA
      builder); or, a step a frame, the container's frame count (as Aff-Wild2's).
    grid: when the steps fall: every 40 ms, or the video's own frames.
    duration_s: the video's length.
    frame_rate: the container's average frame rate.
  """
  name: str
  video: pathlib.Path
  audio: pathlib.Path | None
  audio_offset_s: float
  steps: int
  grid: video_lib.StepGrid
  duration_s: float
  frame_rate: float

  @property
  def steps_per_second(self) -> float:
    return float(1 / self.grid.step_s)


def find_videos(path: str | os.PathLike) -> list[pathlib.Path]:
  """`path` itself, or the videos in the folder `path` (by suffix), sorted.

  Raises:
    RecolaInputError: naming the path when it does not exist or the folder holds no video.
  """
  path = pathlib.Path(path)
  if path.is_file():
    return [path]
  if not path.is_dir():
    raise RecolaInputError(path, 'no such file or folder')
  videos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
  if not videos:
    raise RecolaInputError(path, f'the folder holds no video ({", ".join(VIDEO_SUFFIXES)})')
  return videos


def _duration_by_packets(path: pathlib.Path) -> float:
  """The video stream's length from its packets' timestamps (containers that state none)."""
  with av.open(os.fspath(path)) as container:
    stream = container.streams.video[0]
    first, end = None, 0
    for packet in container.demux(stream):
      if packet.pts is None:
        continue
      first = packet.pts if first is None else min(first, packet.pts)
      end = max(end, packet.pts + (packet.duration or 0))
    return float((end - (first or 0)) * stream.time_base)


def open_media(video: str | os.PathLike, audio: str | os.PathLike | None = None, *,
               needs_audio: bool = True, frame_steps: bool = False) -> Media:
  """Checks a video (and its audio) cheaply, before any decoding.

  Args:
    video: the video file.
    audio: a separate file holding the voice, or None to use the video's own track.
    needs_audio: whether the model listens (a visual-only model does not).
    frame_steps: a step a frame at the video's own rate (a model trained on
      Aff-Wild2), else a step every 40 ms (RECOLA).

  Raises:
    RecolaInputError: naming the file when it is missing, unreadable, empty,
      or has no audio track that the model needs.
  """
  video = pathlib.Path(video)
  if video.is_file() and video.stat().st_size == 0:
    raise RecolaInputError(video, 'empty file (0 bytes)')
  info = video_lib.probe_video(video)
  duration = info.duration_s if np.isfinite(info.duration_s) else _duration_by_packets(video)
  if duration <= 0:
    raise RecolaInputError(video, 'zero-length video')
  source, offset = None, 0.0
  if audio is not None:
    if media_audio.audio_start_s(audio) is None:
      raise RecolaInputError(audio, 'has no audio stream')
    source = pathlib.Path(audio)
  else:
    start = media_audio.audio_start_s(video)
    if start is not None:
      source, offset = video, start - video_lib.video_start_s(video)
    elif needs_audio:
      raise RecolaInputError(video, 'has no audio track, and the model listens: give the voice '
                             'with --audio=FILE, or use a visual_only run')
  if frame_steps:
    steps, grid = _frames(video, duration)
  else:
    steps, grid = int(round(duration / STEP_SECONDS)) + 1, video_lib.LABEL_GRID
  return Media(name=video.stem, video=video, audio=source, audio_offset_s=offset, steps=steps,
               grid=grid, duration_s=duration, frame_rate=info.frame_rate)


def _frames(video: pathlib.Path, duration: float) -> tuple[int, video_lib.StepGrid]:
  """The video's frame count (stated, else its length × rate) and its own frame grid."""
  with av.open(os.fspath(video)) as container:
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate
    frames = stream.frames
  if not rate:
    raise RecolaInputError(video, 'states no frame rate, and the model steps a frame at a time')
  return frames or int(round(duration * rate)), video_lib.frame_grid(fractions.Fraction(rate))


def find_faces(media: Media, options: recording_lib.ReadOptions,
               on_step: Callable[[], None] | None = None) -> faces.FaceTrack:
  """The first pass over the video: the face on every step, tracked as the builder tracks it."""
  return recording_lib.track_video_faces(media.video, media.steps, options.tracking,
                                         on_step=on_step, grid=media.grid)


def check_faces(media: Media, track: faces.FaceTrack, options: recording_lib.ReadOptions) -> None:
  """Refuses a video without a face, or whose faces are far smaller than the model's crop.

  Raises:
    RecolaInputError: naming the video.
  """
  if not track.found.any():
    raise RecolaInputError(media.video, f'no face found in any of its {media.steps} steps '
                           '(a frontal face of at least 15% of the frame height)')
  sides = np.nanmax(track.boxes[track.found, 2:], axis=1) * options.tracking.crop_scale
  median = float(np.median(sides))
  if median * MAX_UPSCALE < options.crop_size:
    raise RecolaInputError(
        media.video, f'faces are far smaller than the model\'s crop: {median:.0f} px around '
        f'the face (median) against a {options.crop_size} px crop, more than '
        f'{MAX_UPSCALE:g}x enlarged; use a higher-resolution video')


def recording_summary(media: Media, track: faces.FaceTrack) -> recording_lib.RecordingSummary:
  """The video as an unlabelled recording (what windows and frame predictions read)."""
  return recording_lib.RecordingSummary(
      media.name, np.full((media.steps, len(DIMENSIONS)), np.nan, np.float32), track.found,
      media.steps_per_second)


def plan(data: ml_collections.ConfigDict, media: Media,
         summary: recording_lib.RecordingSummary) -> Windows:
  """Evaluation's windows of the video, in order.

  Raises:
    RecolaInputError: when the video is shorter than one window.
  """
  windows = eval_windows(data, [summary])
  if not len(windows):
    raise RecolaInputError(media.video, f'lasts {media.duration_s:.2f} s, shorter than one '
                           f'window of the model ({data.clip_frames} steps, '
                           f'{data.clip_frames / media.steps_per_second:.2f} s)')
  return windows


def stored_face(crop_bgr: np.ndarray, quality: int) -> np.ndarray:
  """A face crop as the dataset gives it back: JPEG-encoded, decoded, RGB."""
  encoded = np.frombuffer(recording_lib.encode_face(crop_bgr, quality).getbuffer(), np.uint8)
  return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)


def step_audio(media: Media) -> Iterator[np.ndarray]:
  """The voice of each step's span (silence without a voice or past its end)."""
  chunks = (iter(()) if media.audio is None else
            media_audio.stream_audio_16k(media.audio, media.audio_offset_s))
  return media_audio.cut(chunks, media_audio.step_sizes(media.steps, media.steps_per_second))


def window_batches(media: Media, track: faces.FaceTrack, windows: Windows,
                   data: ml_collections.ConfigDict, options: recording_lib.ReadOptions,
                   batch_size: int, on_step: Callable[[], None] | None = None
                   ) -> Iterator[dict[str, np.ndarray]]:
  """The second pass: batches of `batch_size` windows, in order, as evaluation makes them.

  Yields:
    {'frames': (batch, subseqs, subseq_frames, image_size, image_size, 3) uint8,
     'spectrograms': (batch, subseqs, 128, 65) float32, 'valid': (batch,) bool};
    the last batch is filled up with copies of its first window, marked not valid.
  """
  clip, subseqs = data.clip_frames, data.clip_frames // data.subseq_frames
  recent = collections.deque(maxlen=clip)
  crops = recording_lib.video_face_crops(media.video, track, options.crop_size,
                                         options.tracking.crop_scale, media.grid)
  pending, next_window = [], 0
  for step, (crop, audio) in enumerate(zip(crops, step_audio(media))):
    recent.append((stored_face(crop, options.jpeg_quality), audio))
    while next_window < len(windows) and windows.start[next_window] + clip - 1 == step:
      inputs = loaders.window_inputs(np.stack([face for face, _ in recent]),
                                     [segment for _, segment in recent], subseqs)
      inputs['frames'] = loaders.centre_crop(inputs['frames'], data.image_size)
      pending.append(inputs)
      next_window += 1
      if len(pending) == batch_size:
        yield _batch(pending, batch_size)
        pending = []
    if on_step is not None:
      on_step()
  if pending:
    yield _batch(pending, batch_size)


def _batch(windows: list[dict[str, np.ndarray]], size: int) -> dict[str, np.ndarray]:
  padded = windows + [windows[0]] * (size - len(windows))
  return {'frames': np.stack([w['frames'] for w in padded]),
          'spectrograms': np.stack([w['spectrograms'] for w in padded]),
          'valid': np.arange(size) < len(windows)}

