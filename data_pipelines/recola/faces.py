"""Finds the face in each frame (OpenCV Haar cascade), tracks it over time, and crops it."""

import dataclasses

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True)
class FaceTrackingOptions:
  """How faces are found, tracked and cropped.

  Attributes:
    cascade: a Haar cascade file shipped in `cv2.data.haarcascades`.
    detection_width: frames wider than this are downscaled before detection
      (speed); boxes are mapped back to full resolution.
    scale_factor: `detectMultiScale`'s scale step.
    min_neighbors: `detectMultiScale`'s vote threshold.
    min_face_fraction: smallest face searched, as a fraction of frame height.
    min_track_detections: a track (detections linked over time) with fewer
      detections than this is rejected as a false detection.
    max_gap_steps: a gap of at most this many steps without detection inside a
      track is bridged by interpolating the box (the frame's own pixels are
      cropped; the step is flagged as not detected). Longer gaps end a track.
    max_jump: a detection whose centre lies further than this many face sizes
      from the track's previous box starts a new track.
    smoothing_steps: the box is smoothed with a moving average of this width.
    crop_scale: the square crop's side, as a multiple of the box side.
  """
  cascade: str = 'haarcascade_frontalface_default.xml'
  detection_width: int = 480
  scale_factor: float = 1.1
  min_neighbors: int = 5
  min_face_fraction: float = 0.15
  min_track_detections: int = 5
  max_gap_steps: int = 5
  max_jump: float = 0.5
  smoothing_steps: int = 5
  crop_scale: float = 1.25


class FaceDetector:
  """Largest-face detector on single frames."""

  def __init__(self, options: FaceTrackingOptions = FaceTrackingOptions()):
    self.options = options
    if not hasattr(cv2, 'CascadeClassifier'):  # OpenCV 5 dropped the Haar cascades
      raise ImportError(f'OpenCV {cv2.__version__} has no Haar cascade face detector '
                        '(cv2.CascadeClassifier); install opencv-python-headless<5, as '
                        'requirements.lock pins')
    self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + options.cascade)
    if self._cascade.empty():
      raise ValueError(f'Haar cascade {options.cascade!r} not found in '
                       f'{cv2.data.haarcascades}')

  def __call__(self, frame_bgr: np.ndarray,
               near: np.ndarray | None = None) -> np.ndarray:
    """Finds the largest face.

    Args:
      frame_bgr: (height, width, 3) uint8 frame.
      near: optional (x, y, width, height) box of the face in the previous
        frame. The search then looks first for a face of similar size around
        it (a few scales over a small region: several times faster), and
        searches the whole frame only if none is there.

    Returns:
      (x, y, width, height) in full-frame pixels, or four NaNs.
    """
    height, width = frame_bgr.shape[:2]
    scale = min(1.0, self.options.detection_width / width)
    gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
    if scale < 1.0:
      gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if near is not None and not np.isnan(near).any():
      box = self._search_near(gray, np.asarray(near) * scale)
      if box is not None:
        return box / scale
    smallest = max(16, int(self.options.min_face_fraction * height * scale))
    box = self._largest(gray, smallest, None)
    return np.full(4, np.nan) if box is None else box / scale

  def _search_near(self, gray: np.ndarray, near: np.ndarray) -> np.ndarray | None:
    side = max(near[2], near[3])
    centre_x, centre_y = near[0] + near[2] / 2, near[1] + near[3] / 2
    left = int(max(0, centre_x - side))
    top = int(max(0, centre_y - side))
    region = gray[top:int(centre_y + side) + 1, left:int(centre_x + side) + 1]
    box = self._largest(region, max(16, int(0.75 * side)), int(1.35 * side) + 1)
    return None if box is None else box + np.array([left, top, 0, 0])

  def _largest(self, gray: np.ndarray, smallest: int,
               largest: int | None) -> np.ndarray | None:
    boxes = self._cascade.detectMultiScale(
        gray, scaleFactor=self.options.scale_factor,
        minNeighbors=self.options.min_neighbors, minSize=(smallest, smallest),
        maxSize=(largest, largest) if largest else (0, 0))
    if len(boxes) == 0:
      return None
    return boxes[np.argmax(boxes[:, 2] * boxes[:, 3])].astype(np.float64)


@dataclasses.dataclass(frozen=True)
class FaceTrack:
  """Per-step face boxes after tracking.

  Attributes:
    boxes: (steps, 4) smoothed (x, y, width, height); NaN where no face.
    found: (steps,) a face box is available (detected or bridged).
    detected: (steps,) the detector itself fired and the detection was kept.
  """
  boxes: np.ndarray
  found: np.ndarray
  detected: np.ndarray


def _link_tracks(raw: np.ndarray, options: FaceTrackingOptions) -> list[list[int]]:
  """Groups detections into tracks of nearby boxes with short gaps.

  A detection joins the nearest track that is still open (its last detection
  at most max_gap_steps + 1 steps ago) and close enough; otherwise it opens a
  track of its own. A stray detection elsewhere in the frame therefore
  neither joins nor breaks the track of the real face.
  """
  tracks: list[list[int]] = []
  centres = raw[:, :2] + raw[:, 2:] / 2
  for step in np.flatnonzero(~np.isnan(raw[:, 0])):
    best, best_distance = None, np.inf
    for track in tracks:
      last = track[-1]
      if step - last - 1 > options.max_gap_steps:
        continue
      distance = np.linalg.norm(centres[step] - centres[last])
      if distance <= options.max_jump * max(raw[last, 2], raw[step, 2]) and distance < best_distance:
        best, best_distance = track, distance
    if best is None:
      tracks.append([int(step)])
    else:
      best.append(int(step))
  return tracks


def track_faces(raw_boxes: np.ndarray,
                options: FaceTrackingOptions = FaceTrackingOptions()) -> FaceTrack:
  """Turns per-frame detections into a smooth track, rejecting lone false detections.

  Args:
    raw_boxes: (steps, 4) detector output, NaN rows where nothing was found.
    options: tracking parameters.

  Returns:
    The tracked boxes and the found/detected flags. Steps outside every kept
    track have no face: they are marked, never filled. Where two tracks
    overlap in time (a second face), the one with more detections is kept.
  """
  steps = raw_boxes.shape[0]
  boxes = np.full((steps, 4), np.nan)
  found = np.zeros(steps, bool)
  detected = np.zeros(steps, bool)
  half = options.smoothing_steps // 2
  tracks = sorted(_link_tracks(raw_boxes, options), key=len, reverse=True)
  for track in tracks:  # Longest first: where tracks overlap, the longer wins.
    if (len(track) < options.min_track_detections
        or found[track[0]:track[-1] + 1].any()):
      continue
    span = np.arange(track[0], track[-1] + 1)
    filled = np.stack([np.interp(span, track, raw_boxes[track, i])
                       for i in range(4)], axis=1)
    cumulative = np.concatenate([np.zeros((1, 4)), np.cumsum(filled, axis=0)])
    lo = np.clip(np.arange(span.size) - half, 0, span.size)
    hi = np.clip(np.arange(span.size) + half + 1, 0, span.size)
    boxes[span] = (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, None]
    found[span] = True
    detected[track] = True
  return FaceTrack(boxes=boxes, found=found, detected=detected)


def crop_face(frame_bgr: np.ndarray, box: np.ndarray, size: int,
              crop_scale: float) -> np.ndarray:
  """Crops a square around the box and resizes it to (size, size).

  Parts of the square outside the frame repeat the frame's border pixels.

  Args:
    frame_bgr: (height, width, 3) uint8.
    box: (x, y, width, height) in frame pixels.
    size: output side in pixels.
    crop_scale: the square's side as a multiple of the box's larger side.

  Returns:
    (size, size, 3) uint8 crop.
  """
  x, y, w, h = box
  side = max(2, int(round(max(w, h) * crop_scale)))
  left = int(round(x + w / 2 - side / 2))
  top = int(round(y + h / 2 - side / 2))
  height, width = frame_bgr.shape[:2]
  pad = max(0, -left, -top, left + side - width, top + side - height)
  if pad:
    frame_bgr = cv2.copyMakeBorder(frame_bgr, pad, pad, pad, pad,
                                   cv2.BORDER_REPLICATE)
  square = frame_bgr[top + pad:top + pad + side, left + pad:left + pad + side]
  interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
  return cv2.resize(square, (size, size), interpolation=interpolation)
