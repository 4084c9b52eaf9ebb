"""Reads one Aff-Wild2 subject-video into steps, one per video frame: face crop, audio, labels.

A step lasts one frame of that video (1/30 s at 30 fps). Its audio is the
16 kHz mono voice of that frame's span, samples [round(k·16000/fps),
round((k+1)·16000/fps)): 640 samples at 25 fps, 533 or 534 at 30 fps.
"""

import dataclasses
from typing import Any
from typing import Iterator

from absl import logging
import av
import numpy as np

from data_pipelines.affwild2.labels import read_annotation
from data_pipelines.affwild2.layout import Video
from data_pipelines.recola import face_images
from data_pipelines.recola import media_audio
from data_pipelines.recola import video as video_lib
from data_pipelines.recola.errors import RecolaInputError
from data_pipelines.recola.recording import RecordingSummary
from data_pipelines.recola.recording import encode_face


@dataclasses.dataclass(frozen=True)
class ReadOptions:
  """How a subject-video is turned into steps.

  Attributes:
    crop_size: side of the stored square face crop, in pixels.
    jpeg_quality: JPEG quality of the stored crops.
    max_length_mismatch_s: largest allowed difference between the labels'
      frame count and the raw video's, in seconds of that video.
  """
  crop_size: int = 112
  jpeg_quality: int = 95
  max_length_mismatch_s: float = 0.5


def frame_count(path) -> tuple[int, float]:
  """(frames, frame rate) of a raw video, from its container (only its first frame decoded).

  Raises:
    RecolaInputError: naming the file when it is not a readable video.
  """
  info = video_lib.probe_video(path)
  with av.open(str(path)) as container:
    frames = container.streams.video[0].frames
  if not frames:
    frames = int(round(info.duration_s * info.frame_rate))
  if info.frame_rate <= 0 or frames <= 0:
    raise RecolaInputError(path, 'no frame rate or no frames in its container')
  return frames, info.frame_rate


def read_labels(video: Video, frames: int, rate: float, options: ReadOptions) -> np.ndarray:
  """(steps, 2) valence and arousal; NaN where unannotated, and for the whole test split.

  Raises:
    RecolaInputError: naming the annotation file when its frame count and
      the video's differ by more than `max_length_mismatch_s`.
  """
  if video.annotation is None:
    return np.full((frames, 2), np.nan, np.float32)
  labels = read_annotation(video.annotation)
  allowed = int(round(options.max_length_mismatch_s * rate))
  if abs(labels.shape[0] - frames) > allowed:
    raise RecolaInputError(video.annotation, f'{labels.shape[0]} annotated frames, but '
                           f'{video.video.name} has {frames} frames at {rate:g} fps (at most '
                           f'{allowed} may differ: {options.max_length_mismatch_s:g} s)')
  return labels


def check_video(video: Video, options: ReadOptions) -> None:
  """Cheap checks of a subject-video's files before anything is written.

  Raises:
    RecolaInputError: naming the culprit file.
  """
  frames, rate = frame_count(video.video)
  read_labels(video, frames, rate, options)
  face_images.index_face_images(video.crops)
  if media_audio.audio_start_s(video.video) is None:
    raise RecolaInputError(video.video, 'has no audio track')


def audio_segments(video: Video, steps: int, rate: float) -> Iterator[np.ndarray]:
  """Each step's audio: 16 kHz mono samples of that frame's span, aligned to the first frame."""
  offset = media_audio.audio_start_s(video.video) - video_lib.video_start_s(video.video)
  return media_audio.cut(media_audio.stream_audio_16k(video.video, offset),
                         media_audio.step_sizes(steps, rate))


def read_video(video: Video, options: ReadOptions = ReadOptions()
               ) -> tuple[RecordingSummary, Iterator[dict[str, Any]]]:
  """Reads labels and the crop index eagerly, and returns the steps lazily.

  Returns:
    The summary (labels, face flags, frame rate), and an iterator over its
    steps in order, each a dict with keys recording, frame_index, face (JPEG
    bytes), face_found, face_detected, audio (variable length float32),
    valence, arousal (NaN where unannotated).

  Raises:
    RecolaInputError: naming the culprit file.
  """
  frames, rate = frame_count(video.video)
  labels = read_labels(video, frames, rate, options)
  steps = labels.shape[0]
  crops = face_images.index_face_images(video.crops)
  found = np.array([step in crops for step in range(steps)])
  beyond = [index for index in crops if index >= steps]
  if beyond:
    logging.info('%s: %d face crops past the last annotated frame ignored.', video.name,
                 len(beyond))
  summary = RecordingSummary(video.name, labels, found, frame_rate=rate)
  blank = np.zeros((options.crop_size,) * 2 + (3,), np.uint8)

  def examples():
    for step, audio in enumerate(audio_segments(video, steps, rate)):
      crop = (face_images.read_face_image(crops[step], options.crop_size) if found[step]
              else blank)
      yield {'recording': video.name, 'frame_index': step,
             'face': encode_face(crop, options.jpeg_quality),
             'face_found': bool(found[step]), 'face_detected': bool(found[step]),
             'audio': audio, 'valence': labels[step, 0], 'arousal': labels[step, 1]}
  return summary, examples()
