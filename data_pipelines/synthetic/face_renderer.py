"""Renders a synthetic frontal face (or a turned-away or occluded head) into a BGR frame."""

import dataclasses
import enum

import cv2
import numpy as np

from data_pipelines.synthetic import emotion_trajectories as emotion_lib

_SUBPIXEL_BITS = 4
_SUBPIXEL_SCALE = 1 << _SUBPIXEL_BITS
_SKIN_BGR = np.array((150.0, 175.0, 215.0))
_HAIR_BGR = (35.0, 40.0, 50.0)
_SHIRT_BGR = (120.0, 80.0, 60.0)
_SCLERA_BGR = (190.0, 195.0, 200.0)
_IRIS_BGR = (30.0, 25.0, 20.0)
_BROW_BGR = (40.0, 45.0, 55.0)
_OCCLUDER_BGR = (205.0, 210.0, 205.0)
_FACE_ASPECT = 0.75
_HIDDEN_COVERAGE_RANGE = (0.10, 0.15)
_POKER_FACE_COVERAGE_RANGE = (0.08, 0.12)
# While the participant speaks, articulation moves the mouth and hides most of the smile.
_TALKING_SMILE_GAIN = 0.2
_ARTICULATION_RMS = 0.5
_ARTICULATION_PERIOD_S = (0.15, 0.5)
_MEAN_FACE_HEIGHT_RANGE = (0.40, 0.50)
_FACE_HEIGHT_SWING = 0.04
_BLINKS_PER_S = 0.25
_BLINK_S = 0.12


class FaceView(enum.IntEnum):
  """What the camera sees of the head."""

  VISIBLE = 0
  TURNED_AWAY = 1
  OCCLUDED = 2


@dataclasses.dataclass(frozen=True)
class FaceFrame:
  """Everything needed to draw one frame.

  Attributes:
    center_x: Horizontal centre of the face ellipse, in pixels.
    center_y: Vertical centre of the face ellipse, in pixels.
    scale: Half-height of the face ellipse, in pixels (the face is 2·scale
      tall; the hair reaches 0.05·scale above it and 0.85·scale to each side).
    smile: Mouth curvature, -1 (frown, corners down) to 1 (smile, corners up).
    eye_openness: Eyelid opening, 0 (nearly closed) to 1 (wide open).
    brow_raise: Eyebrow height, -1 (lowered) to 1 (raised).
    view: Whether the face is visible, turned away or occluded.
  """

  center_x: float
  center_y: float
  scale: float
  smile: float = 0.0
  eye_openness: float = 0.5
  brow_raise: float = 0.0
  view: FaceView = FaceView.VISIBLE


def face_box(frame: FaceFrame) -> tuple[float, float, float, float]:
  """Returns the face's bounding box (x0, y0, x1, y1): the skin ellipse."""
  half_width = _FACE_ASPECT * frame.scale
  return (frame.center_x - half_width, frame.center_y - frame.scale,
          frame.center_x + half_width, frame.center_y + frame.scale)


def _fixed(value: float) -> int:
  return int(round(value * _SUBPIXEL_SCALE))


def _point(x: float, y: float) -> tuple[int, int]:
  return _fixed(x), _fixed(y)


def _ellipse(image, cx, cy, half_w, half_h, color, start=0, end=360):
  cv2.ellipse(image, _point(cx, cy), (_fixed(max(half_w, 0.5)),
                                      _fixed(max(half_h, 0.5))),
              0, start, end, color, -1, cv2.LINE_AA, _SUBPIXEL_BITS)


def _make_background(width: int, height: int) -> np.ndarray:
  """A smooth, featureless wall: a horizontal and vertical shading gradient."""
  xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
  ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
  wall = np.array((110.0, 125.0, 135.0), np.float32)
  image = wall * (0.8 + 0.3 * xs) * (1.05 - 0.15 * ys)
  return np.clip(image, 0, 255).astype(np.uint8)


class FaceRenderer:
  """Draws `FaceFrame`s onto a fixed background of a given size."""

  def __init__(self, width: int, height: int):
    """Initialises the renderer.

    Args:
      width: Frame width in pixels.
      height: Frame height in pixels.
    """
    self.width = width
    self.height = height
    self._background = _make_background(width, height)
    self._columns = np.arange(width, dtype=np.float32)
    self._rows = np.arange(height, dtype=np.float32)

  def render(self, frame: FaceFrame) -> np.ndarray:
    """Renders one frame.

    Args:
      frame: The head's position, size, expression and view.

    Returns:
      A (height, width, 3) uint8 BGR image.
    """
    image = self._background.copy()
    cx, cy, s = frame.center_x, frame.center_y, frame.scale
    _ellipse(image, cx, cy + 1.55 * s, 1.25 * s, 0.6 * s, _SHIRT_BGR)
    _ellipse(image, cx, cy + 0.8 * s, 0.32 * s, 0.5 * s, tuple(_SKIN_BGR * 0.8))
    if frame.view == FaceView.TURNED_AWAY:
      self._draw_back_of_head(image, frame)
    else:
      self._draw_face(image, frame)
      if frame.view == FaceView.OCCLUDED:
        self._draw_occluder(image, frame)
    return cv2.GaussianBlur(image, (0, 0), max(0.8, s / 60.0))

  def _shade_ellipse(self, image, cx, cy, half_w, half_h, strength):
    """Darkens an elliptic region radially (brightest at its centre)."""
    x0 = max(int(cx - half_w) - 1, 0)
    x1 = min(int(cx + half_w) + 2, self.width)
    y0 = max(int(cy - half_h) - 1, 0)
    y1 = min(int(cy + half_h) + 2, self.height)
    if x0 >= x1 or y0 >= y1:
      return
    dx = ((self._columns[x0:x1] - cx) / half_w) ** 2
    dy = ((self._rows[y0:y1] - cy) / half_h) ** 2
    radius2 = dy[:, None] + dx[None, :]
    gain = np.where(radius2 <= 1.0, np.clip(1.0 - strength * radius2, 0.4, 1.0),
                    1.0)
    region = image[y0:y1, x0:x1]
    region[...] = (region * gain[..., None]).astype(np.uint8)

  def _draw_face(self, image: np.ndarray, frame: FaceFrame) -> None:
    cx, cy, s = frame.center_x, frame.center_y, frame.scale
    skin = _SKIN_BGR
    _ellipse(image, cx, cy - 0.1 * s, 0.85 * s, 0.85 * s, _HAIR_BGR, 180, 360)
    _ellipse(image, cx, cy, _FACE_ASPECT * s, s, tuple(skin))
    self._shade_ellipse(image, cx, cy, _FACE_ASPECT * s, s, 0.3)
    _ellipse(image, cx, cy - 0.6 * s, 0.8 * s, 0.45 * s, _HAIR_BGR, 180, 360)
    eye_y = cy - 0.12 * s
    # Bold enough to read at the CPU demo's 24-pixel faces (s ≈ 11 pixels):
    # from half-closed to wide open the eye grows by 0.08·s each side (about
    # 2 pixels in all), and the thick brows move by 0.12·s per unit of raise.
    # Raised higher or drawn thicker, the brows merge with the hairline and
    # OpenCV's Haar cascade misses some raised-brow faces.
    eye_half_height = (0.02 + 0.14 * frame.eye_openness) * s
    iris_radius = 0.08 * s
    brow_y = eye_y - (0.18 + 0.12 * frame.brow_raise) * s
    for side in (-1.0, 1.0):
      eye_x = cx + side * 0.28 * s
      _ellipse(image, eye_x, eye_y, 0.26 * s, 0.12 * s, tuple(skin * 0.6))
      _ellipse(image, eye_x, eye_y, 0.13 * s, eye_half_height, _SCLERA_BGR)
      _ellipse(image, eye_x, eye_y, iris_radius,
               min(iris_radius, eye_half_height), _IRIS_BGR)
      _ellipse(image, eye_x, brow_y, 0.2 * s, 0.06 * s, _BROW_BGR)
      _ellipse(image, cx + side * 0.07 * s, cy + 0.05 * s, 0.03 * s, 0.15 * s,
               tuple(skin * 0.9))
    _ellipse(image, cx, cy + 0.2 * s, 0.1 * s, 0.05 * s, tuple(skin * 0.7))
    self._draw_mouth(image, frame)

  def _draw_mouth(self, image: np.ndarray, frame: FaceFrame) -> None:
    cx, cy, s = frame.center_x, frame.center_y, frame.scale
    half_width = (0.26 + 0.04 * frame.smile) * s
    mouth_y = cy + 0.4 * s
    along = np.linspace(-1.0, 1.0, 21)
    xs = cx + along * half_width
    # Bold enough to read at the CPU demo's 24-pixel faces: corners move by
    # 0.25·s against the middle (about 2 pixels there), and the line is thick
    # and dark.
    ys = mouth_y + frame.smile * 0.25 * s * (0.5 - along ** 2)
    points = np.stack([xs, ys], axis=1) * _SUBPIXEL_SCALE
    thickness = max(2, int(round(0.1 * s)))
    cv2.polylines(image, [np.round(points).astype(np.int32)], False,
                  tuple(_SKIN_BGR * 0.25), thickness, cv2.LINE_AA,
                  _SUBPIXEL_BITS)

  def _draw_back_of_head(self, image: np.ndarray, frame: FaceFrame) -> None:
    cx, cy, s = frame.center_x, frame.center_y, frame.scale
    for side in (-1.0, 1.0):
      _ellipse(image, cx + side * 0.74 * s, cy - 0.05 * s, 0.1 * s, 0.18 * s,
               tuple(_SKIN_BGR * 0.85))
    _ellipse(image, cx, cy - 0.05 * s, 0.78 * s, 1.02 * s, _HAIR_BGR)
    self._shade_ellipse(image, cx, cy - 0.05 * s, 0.78 * s, 1.02 * s, 0.3)

  def _draw_occluder(self, image: np.ndarray, frame: FaceFrame) -> None:
    cx, cy, s = frame.center_x, frame.center_y, frame.scale
    top_left = _point(cx - 0.95 * s, cy - 0.75 * s)
    bottom_right = _point(cx + 0.85 * s, cy + 1.1 * s)
    cv2.rectangle(image, top_left, bottom_right, _OCCLUDER_BGR, -1,
                  cv2.LINE_AA, _SUBPIXEL_BITS)


@dataclasses.dataclass(frozen=True)
class FaceTrack:
  """The face of one recording, frame by frame.

  Attributes:
    frames: One `FaceFrame` per video frame.
    hidden_intervals: (n, 2) [start, end) seconds where the face is turned away
      or occluded.
    poker_face_intervals: (m, 2) [start, end) seconds where the face is
      visible but frozen in a neutral expression.
  """

  frames: list[FaceFrame]
  hidden_intervals: np.ndarray
  poker_face_intervals: np.ndarray


def _blink_mask(rng: np.random.Generator, frame_times_s: np.ndarray,
                duration_s: float) -> np.ndarray:
  num_blinks = rng.poisson(_BLINKS_PER_S * duration_s)
  starts = rng.uniform(0.0, duration_s, num_blinks)
  return emotion_lib.in_intervals(
      frame_times_s, np.stack([starts, starts + _BLINK_S], axis=1))


def random_face_track(emotion: emotion_lib.RecordingEmotion,
                      frame_times_s: np.ndarray, duration_s: float, width: int,
                      height: int, silent_intervals: np.ndarray,
                      rng: np.random.Generator) -> FaceTrack:
  """Turns a recording's emotion into per-frame face parameters.

  Valence is the strong visual cue while the participant listens: smile =
  valence + N(0, 0.08²). While they speak (outside `silent_intervals`, the
  voice's listening turns), articulation moves the mouth and hides most of the
  smile: smile = 0.2·valence + 0.5·articulation, a unit-variance random signal
  with periods of 0.15-0.5 s (syllables).
  Arousal is a weaker, noisier one: eye opening 0.5 + 0.3·arousal + N(0, 0.12²)
  (plus blinks), brow raise 0.5·arousal + N(0, 0.3²), and head jitter whose
  amplitude grows with arousal. Both use the expressed emotion (the label
  `delay` later). The head drifts smoothly across the frame and its size swings
  a little. In random intervals (10-15 % of the time) the face is turned away
  or occluded; in others (8-12 %) it is a neutral, frozen poker face.

  Args:
    emotion: The recording's true emotion.
    frame_times_s: (n,) presentation time of each video frame.
    duration_s: Length of the recording, in seconds.
    width: Frame width in pixels.
    height: Frame height in pixels.
    silent_intervals: (k, 2) [start, end) seconds where the participant does
      not speak (the voice track's).
    rng: Source of randomness.

  Returns:
    The face track.
  """
  times = np.asarray(frame_times_s, np.float64)
  num_frames = times.size
  hidden_intervals = emotion_lib.random_intervals(
      rng, duration_s, rng.uniform(*_HIDDEN_COVERAGE_RANGE))
  poker_intervals = emotion_lib.random_intervals(
      rng, duration_s, rng.uniform(*_POKER_FACE_COVERAGE_RANGE))
  hidden_views = rng.choice([FaceView.TURNED_AWAY, FaceView.OCCLUDED],
                            len(hidden_intervals))

  mean_height = rng.uniform(*_MEAN_FACE_HEIGHT_RANGE)
  size_swing = emotion_lib.random_smooth_trajectory(rng, 10.0, 60.0)
  scale = 0.5 * height * (mean_height + _FACE_HEIGHT_SWING * size_swing(times))
  largest_scale = 0.5 * height * (mean_height + _FACE_HEIGHT_SWING)
  x_low = 0.95 * largest_scale + 2.0
  x_high = width - x_low
  y_low = 1.15 * largest_scale + 2.0
  y_high = height - 1.1 * largest_scale - 2.0
  drift_x = emotion_lib.random_smooth_trajectory(rng, 8.0, 60.0, 6, (0.7, 1.0),
                                                 (0.0, 0.0))
  drift_y = emotion_lib.random_smooth_trajectory(rng, 8.0, 60.0, 6, (0.7, 1.0),
                                                 (0.0, 0.0))
  center_x = 0.5 * (x_low + x_high) + 0.5 * (x_high - x_low) * drift_x(times)
  center_y = 0.5 * (y_low + y_high) + 0.5 * (y_high - y_low) * drift_y(times)

  valence = emotion.expressed_valence(times)
  arousal = emotion.expressed_arousal(times)
  smile = valence + rng.normal(0.0, 0.08, num_frames)
  talking = ~emotion_lib.in_intervals(times, silent_intervals)
  articulation = emotion_lib.random_smooth_trajectory(
      rng, *_ARTICULATION_PERIOD_S).unit_variance_signal(times)
  smile[talking] = (_TALKING_SMILE_GAIN * valence[talking] +
                    _ARTICULATION_RMS * articulation[talking])
  smile = np.clip(smile, -1.0, 1.0)
  eye_openness = np.clip(0.5 + 0.3 * arousal +
                         rng.normal(0.0, 0.12, num_frames), 0.0, 1.0)
  eye_openness[_blink_mask(rng, times, duration_s)] = 0.0
  brow_raise = np.clip(0.5 * arousal + rng.normal(0.0, 0.3, num_frames), -1.0,
                       1.0)
  jitter_amplitude = scale * (0.005 + 0.01 * (arousal + 1.0))
  jitter = rng.normal(0.0, 1.0, (num_frames, 2))

  poker = emotion_lib.in_intervals(times, poker_intervals)
  smile[poker] = 0.0
  eye_openness[poker] = 0.5
  brow_raise[poker] = 0.0
  jitter_amplitude[poker] = 0.005 * scale[poker]

  views = np.full(num_frames, FaceView.VISIBLE)
  for (start, end), view in zip(hidden_intervals, hidden_views):
    views[(times >= start) & (times < end)] = view

  frames = [
      FaceFrame(
          center_x=float(center_x[i] + jitter_amplitude[i] * jitter[i, 0]),
          center_y=float(center_y[i] + jitter_amplitude[i] * jitter[i, 1]),
          scale=float(scale[i]),
          smile=float(smile[i]),
          eye_openness=float(eye_openness[i]),
          brow_raise=float(brow_raise[i]),
          view=FaceView(int(views[i])),
      ) for i in range(num_frames)
  ]
  return FaceTrack(frames, hidden_intervals, poker_intervals)
