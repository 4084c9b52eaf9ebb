"""Reads one RECOLA recording into aligned 40 ms steps: face crop, 640 audio samples, labels."""

import dataclasses
import io
from typing import Any
from typing import Callable
from typing import Iterator

from absl import logging
import cv2
import numpy as np

from data_pipelines.recola import audio as audio_lib
from data_pipelines.recola import face_images
from data_pipelines.recola import faces
from data_pipelines.recola import video
from data_pipelines.recola.errors import RecolaInputError
from data_pipelines.recola.labels import DIMENSIONS
from data_pipelines.recola.labels import STEP_SECONDS
from data_pipelines.recola.labels import parse_gold_standard_arff
from data_pipelines.recola.layout import Recording


@dataclasses.dataclass(frozen=True)
class ReadOptions:
  """How a recording is turned into steps.

  Attributes:
    crop_size: side of the stored square face crop, in pixels.
    jpeg_quality: JPEG quality of the stored crops.
    max_length_mismatch_s: largest allowed difference between the video's
      length and the labels' (the labels' N rows cover N × 40 ms).
    tracking: face detection and tracking parameters.
  """
  crop_size: int = 224
  jpeg_quality: int = 95
  max_length_mismatch_s: float = 0.5
  tracking: faces.FaceTrackingOptions = faces.FaceTrackingOptions()


@dataclasses.dataclass(frozen=True)
class RecordingSummary:
  """What the input pipeline needs in memory about a recording.

  Attributes:
    name: e.g. 'train_1'.
    labels: (steps, 2) float32 gold standard, columns in `DIMENSIONS` order
      (valence, arousal); NaN where withheld (test split).
    face_found: (steps,) whether a face crop is available at each step.
    frame_rate: steps per second (RECOLA: 25, one per 40 ms; Aff-Wild2: the
      video's own frame rate, one step per frame).
  """
  name: str
  labels: np.ndarray
  face_found: np.ndarray
  frame_rate: float = 25.0

  @property
  def steps(self) -> int:
    return self.labels.shape[0]


def read_labels(recording: Recording) -> np.ndarray | None:
  """Returns (steps, 2) gold standard (valence, arousal), or None if withheld.

  Raises:
    RecolaInputError: naming the file when a file is malformed or the two
      dimensions disagree in length.
  """
  if not recording.gold_standard:
    return None
  columns = [parse_gold_standard_arff(recording.gold_standard[dim]).values
             for dim in DIMENSIONS]
  if columns[0].size != columns[1].size:
    raise RecolaInputError(
        recording.gold_standard['arousal'],
        f'{columns[1].size} rows, but the valence file has {columns[0].size}')
  return np.stack(columns, axis=1)


def _check_length(path, media_seconds: float, steps: int, what: str,
                  options: ReadOptions) -> None:
  label_seconds = steps * STEP_SECONDS
  if media_seconds > label_seconds + options.max_length_mismatch_s:
    raise RecolaInputError(
        path, f'labels are shorter than the {what}: {steps} label rows cover '
        f'{label_seconds:.2f} s, the {what} lasts {media_seconds:.2f} s')
  if media_seconds < label_seconds - options.max_length_mismatch_s:
    raise RecolaInputError(
        path, f'{what} is shorter than its labels: it lasts {media_seconds:.2f} '
        f's, the {steps} label rows cover {label_seconds:.2f} s')


def count_steps(recording: Recording, labels: np.ndarray | None,
                options: ReadOptions) -> int:
  """Number of 40 ms steps: the label rows, or (test split) the video's length.

  Checks the video's length against the labels, cheaply (container metadata).

  Raises:
    RecolaInputError: naming the file on a length mismatch or unreadable video.
  """
  if recording.video is not None:
    info = video.probe_video(recording.video)
    if labels is None:
      return int(round(info.duration_s / STEP_SECONDS)) + 1
    if np.isfinite(info.duration_s):
      _check_length(recording.video, info.duration_s, labels.shape[0], 'video',
                    options)
    return labels.shape[0]
  frames = len(face_images.index_face_images(recording.face_images))
  return labels.shape[0] if labels is not None else frames


def check_recording(recording: Recording, options: ReadOptions) -> None:
  """Cheap checks of every file of a recording, run before anything is written.

  Raises:
    RecolaInputError: naming the culprit file.
  """
  labels = read_labels(recording)
  count_steps(recording, labels, options)
  audio_lib.check_wav(recording.audio)


def encode_face(crop_bgr: np.ndarray, quality: int) -> io.BytesIO:
  """A face crop as the dataset stores it: JPEG of the given quality."""
  ok, encoded = cv2.imencode('.jpg', crop_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
  assert ok, 'JPEG encoding failed'
  return io.BytesIO(encoded.tobytes())


def track_video_faces(path, steps: int, tracking: faces.FaceTrackingOptions,
                      extent: video.DecodedExtent | None = None,
                      on_step: Callable[[], None] | None = None,
                      grid: video.StepGrid = video.LABEL_GRID) -> faces.FaceTrack:
  """Detects the face on each step (40 ms unless `grid` says) of a video, then tracks it.

  `on_step` is called after each step (a progress bar's update).
  """
  detector = faces.FaceDetector(tracking)
  raw = np.full((steps, 4), np.nan)
  for step, frame in video.frames_on_label_grid(path, steps, extent, grid):
    raw[step] = detector(frame, near=raw[step - 1] if step else None)
    if on_step is not None:
      on_step()
  return faces.track_faces(raw, tracking)


def video_face_crops(path, track: faces.FaceTrack, crop_size: int, crop_scale: float,
                     grid: video.StepGrid = video.LABEL_GRID) -> Iterator[np.ndarray]:
  """Second pass: the (crop_size, crop_size, 3) BGR face crop of each step; black where no face."""
  blank = np.zeros((crop_size, crop_size, 3), np.uint8)
  for step, frame in video.frames_on_label_grid(path, track.found.size, grid=grid):
    if track.found[step]:
      yield faces.crop_face(frame, track.boxes[step], crop_size, crop_scale)
    else:
      yield blank


def _video_faces(recording: Recording, steps: int, options: ReadOptions
                 ) -> tuple[faces.FaceTrack, Iterator[np.ndarray]]:
  """Tracks faces over the whole video, then returns a second pass of crops."""
  extent = video.DecodedExtent()
  track = track_video_faces(recording.video, steps, options.tracking, extent)
  _check_length(recording.video, extent.duration_s, steps, 'video', options)
  return track, video_face_crops(recording.video, track, options.crop_size,
                                 options.tracking.crop_scale)


def _image_faces(recording: Recording, steps: int, options: ReadOptions
                 ) -> tuple[faces.FaceTrack, Iterator[np.ndarray]]:
  """Reads pre-cropped faces; frames without an image have no face."""
  images = face_images.index_face_images(recording.face_images)
  beyond = max(images) + 1 - steps
  if beyond * STEP_SECONDS > options.max_length_mismatch_s:
    raise RecolaInputError(
        recording.face_images, f'labels are shorter than the face images: '
        f'{steps} label rows, images up to frame {max(images) + 1}')
  found = np.array([step in images for step in range(steps)])
  track = faces.FaceTrack(boxes=np.full((steps, 4), np.nan), found=found,
                          detected=found.copy())
  blank = np.zeros((options.crop_size,) * 2 + (3,), np.uint8)

  def crops():
    for step in range(steps):
      yield (face_images.read_face_image(images[step], options.crop_size)
             if step in images else blank)
  return track, crops()


def read_recording(recording: Recording, options: ReadOptions = ReadOptions()
                   ) -> tuple[RecordingSummary, Iterator[dict[str, Any]]]:
  """Reads labels and audio, tracks the face, and returns the steps lazily.

  The labels, audio and face track are read eagerly (so every length check
  and face decision is made before a single step is handed out); the face
  crops are decoded and JPEG-encoded lazily, step by step.

  Args:
    recording: the files of one recording.
    options: crop size and tracking parameters.

  Returns:
    The recording's summary, and an iterator over its steps in order, each a
    dict with keys recording, frame_index, face (JPEG bytes as a file
    object), face_found, face_detected, audio ((640,) float32 at 16 kHz),
    valence, arousal (NaN when withheld).

  Raises:
    RecolaInputError: naming the culprit file.
  """
  labels = read_labels(recording)
  steps = count_steps(recording, labels, options)
  if labels is None:
    labels = np.full((steps, len(DIMENSIONS)), np.nan, np.float32)
  samples = audio_lib.load_audio_16k(recording.audio)
  _check_length(recording.audio, samples.size / audio_lib.SAMPLE_RATE, steps,
                'audio', options)
  segments = audio_lib.audio_on_label_grid(samples, steps, recording.audio)
  if recording.video is not None:
    track, crops = _video_faces(recording, steps, options)
  else:
    track, crops = _image_faces(recording, steps, options)
  summary = RecordingSummary(recording.name, labels, track.found)
  missing = steps - int(track.found.sum())
  if missing:
    logging.info('%s: no face in %d of %d steps (%.1f%%).', recording.name,
                 missing, steps, 100 * missing / steps)

  def examples():
    for step, crop in enumerate(crops):
      yield {
          'recording': recording.name,
          'frame_index': step,
          'face': encode_face(crop, options.jpeg_quality),
          'face_found': bool(track.found[step]),
          'face_detected': bool(track.detected[step]),
          'audio': segments[step],
          'valence': labels[step, 0],
          'arousal': labels[step, 1],
      }
  return summary, examples()
