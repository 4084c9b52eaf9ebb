"""Face finding, tracking and cropping, on real face videos and on known positions."""

import numpy as np
import pytest

from data_pipelines.recola import faces
from data_pipelines.recola import video


def raw_detections(path, options=faces.FaceTrackingOptions()):
  info = video.probe_video(path)
  steps = int(round(info.duration_s * 25)) + 1
  detector = faces.FaceDetector(options)
  return np.stack([detector(frame) for _, frame in
                   video.frames_on_label_grid(path, steps)])


def test_single_face_found_in_every_step(media):
  raw = raw_detections(media / 'faces' / 'single_face.mp4')
  track = faces.track_faces(raw)
  assert raw.shape[0] == 61 and track.found.all() and track.detected.all()
  centres = track.boxes[:, :2] + track.boxes[:, 2:] / 2
  assert np.abs(np.diff(centres, axis=0)).max() < 10  # smooth, no jumps


def test_faceless_tail_is_marked(media):
  raw = raw_detections(media / 'faces' / 'face_noface.mov')
  track = faces.track_faces(raw)
  assert raw.shape[0] == 161
  assert track.found[:55].all()
  assert not track.found[65:].any()
  assert np.isnan(track.boxes[65:]).all()


def test_lone_false_detection_is_rejected(media):
  # At full resolution with small faces allowed, the cascade fires on a
  # face-free frame; tracking must refuse it.
  sensitive = faces.FaceTrackingOptions(detection_width=960, min_face_fraction=0.05)
  raw = raw_detections(media / 'faces' / 'no_face.mp4', sensitive)
  assert 1 <= np.sum(~np.isnan(raw[:, 0])) <= 3
  track = faces.track_faces(raw, sensitive)
  assert not track.found.any()


def boxes_with(detected_steps, steps=40, box=(100, 80, 60, 60)):
  raw = np.full((steps, 4), np.nan)
  raw[list(detected_steps)] = box
  return raw


def test_short_gaps_are_bridged_and_flagged():
  raw = boxes_with([*range(0, 10), *range(13, 20)])
  track = faces.track_faces(raw)
  assert track.found[:20].all() and not track.found[20:].any()
  assert not track.detected[10:13].any() and track.detected[:10].all()
  np.testing.assert_allclose(track.boxes[:20], np.tile([100, 80, 60, 60], (20, 1)))


def test_long_gap_ends_the_track_and_short_tracks_go():
  raw = boxes_with([*range(0, 10), *range(30, 33)])
  track = faces.track_faces(raw)
  assert track.found[:10].all() and not track.found[10:].any()


def test_far_jump_starts_a_new_track():
  raw = boxes_with(range(0, 20))
  raw[12] = (300, 300, 60, 60)  # a lone detection elsewhere in the frame
  track = faces.track_faces(raw)
  assert not track.detected[12] and track.found[12]  # bridged at the real face
  np.testing.assert_allclose(track.boxes[12], [100, 80, 60, 60])


def test_known_face_position_is_tracked_and_cropped(media):
  first_frame = next(video.frames_on_label_grid(media / 'faces' / 'single_face.mp4', 1))[1]
  box = faces.FaceDetector()(first_frame)
  patch = faces.crop_face(first_frame, box, 120, crop_scale=1.6)  # face centred
  detector = faces.FaceDetector()
  raw, truth, frames = [], [], []
  for step in range(25):
    canvas = np.full((360, 640, 3), 90, np.uint8)
    top, left = 20 + 5 * step, 60 + 15 * step
    canvas[top:top + 120, left:left + 120] = patch
    truth.append((left + 60, top + 60))
    frames.append(canvas)
    raw.append(detector(canvas))
  track = faces.track_faces(np.stack(raw))
  assert track.found.all()
  centres = track.boxes[:, :2] + track.boxes[:, 2:] / 2
  np.testing.assert_allclose(centres[2:-2], np.array(truth)[2:-2], atol=6)
  first = faces.crop_face(frames[2], track.boxes[2], 64, crop_scale=1.0)
  later = faces.crop_face(frames[20], track.boxes[20], 64, crop_scale=1.0)
  correlation = np.corrcoef(first.ravel().astype(float), later.ravel().astype(float))[0, 1]
  assert correlation > 0.9  # the same face, found 270 px further right


def test_crop_outside_the_frame_repeats_the_border():
  frame = np.zeros((50, 50, 3), np.uint8)
  frame[:, :25] = 200
  crop = faces.crop_face(frame, np.array([-20, 10, 30, 30], float), 30, crop_scale=1.0)
  assert crop.shape == (30, 30, 3)
  assert (crop[:, :20] == 200).all()


def test_opencv_without_haar_cascades_is_a_clear_error(monkeypatch):
  """An OpenCV without cv2.CascadeClassifier (OpenCV 5; also a GPU machine's image here)."""
  monkeypatch.delattr(faces.cv2, 'CascadeClassifier')
  with pytest.raises(ImportError, match='has no Haar cascade.*opencv-python-headless<5'):
    faces.FaceDetector()


def test_unknown_cascade_is_an_error():
  with pytest.raises(ValueError, match='not found'):
    faces.FaceDetector(faces.FaceTrackingOptions(cascade='nope.xml'))


def test_overlapping_tracks_keep_the_longer():
  alone = boxes_with(range(0, 30), steps=30)
  merged = alone.copy()
  merged[5:15:2] = (400, 80, 60, 60)  # a second face on steps 5, 7, ..., 13
  track = faces.track_faces(merged)
  assert track.found.all()
  assert not track.detected[5:15:2].any()
  np.testing.assert_allclose(track.boxes, alone)


def test_search_near_the_previous_box_finds_the_same_face(media):
  frames = [f for _, f in video.frames_on_label_grid(media / 'faces' / 'single_face.mp4', 61)]
  detector = faces.FaceDetector()
  full = np.stack([detector(f) for f in frames])
  near = np.stack([detector(f, near=full[max(k - 1, 0)]) for k, f in enumerate(frames)])
  np.testing.assert_allclose(near, full, atol=0.1 * full[:, 2:].max())
  # A hint where there is no face falls back to the whole frame.
  np.testing.assert_array_equal(detector(frames[0], near=np.array([0, 0, 40, 40.])), full[0])
