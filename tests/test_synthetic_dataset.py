"""The synthetic corpus through the real reader: labels, faces and face positions come back."""

import numpy as np
import pytest

from data_pipelines import step_dataset
from data_pipelines.recola import faces
from data_pipelines.recola import labels
from data_pipelines.recola import layout
from data_pipelines.recola import recola_dataset_builder
from data_pipelines.recola import video
from data_pipelines.synthetic import corpus_writer
from data_pipelines.synthetic.face_renderer import FaceView


OPTIONS = corpus_writer.CorpusOptions(duration_s=16.0, frame_width=192,
                                      frame_height=144, seed=4)


@pytest.fixture(scope='module')
def built(tmp_path_factory):
  root = tmp_path_factory.mktemp('synthetic')
  corpus_writer.ensure_layout(root / 'raw')
  truths = {name: corpus_writer.write_recording(root / 'raw', name, OPTIONS)
            for name in ('train_1', 'dev_1', 'test_1')}
  builder = recola_dataset_builder.prepare(root / 'raw', root / 'tfds', crop_size=48)
  return root, truths, builder


def test_labels_read_back_equal_labels_written(built):
  _, truths, builder = built
  index = step_dataset.RecordingIndex.read(builder.data_dir)
  for split in ('train', 'dev'):
    summary, = index.recordings(split)
    gold = truths[summary.name].gold_standard
    assert summary.steps == 401
    np.testing.assert_allclose(summary.labels[:, 0], gold['valence'], atol=1e-6)
    np.testing.assert_allclose(summary.labels[:, 1], gold['arousal'], atol=1e-6)
  test, = index.recordings('test')
  assert test.steps == 401 and np.isnan(test.labels).all()


def test_reader_finds_the_six_raters_average_to_the_gold_standard(built):
  root, _, _ = built
  for dimension in ('valence', 'arousal'):
    folder = root / 'raw' / 'ratings_individual' / dimension
    ratings = labels.parse_individual_ratings_csv(folder / 'dev_1.csv')
    gold = labels.parse_gold_standard_arff(
        root / 'raw' / 'ratings_gold_standard' / dimension / 'dev_1.arff')
    assert ratings.raters == ('FM1', 'FM2', 'FM3', 'FF1', 'FF2', 'FF3')
    np.testing.assert_allclose(ratings.times, gold.times)
    np.testing.assert_allclose(ratings.ratings.mean(axis=1), gold.values, atol=1e-6)
    assert ratings.ratings.std(axis=1).mean() > 0.01  # raters really differ


def test_faces_found_exactly_where_the_face_is_visible(built):
  _, truths, builder = built
  index = step_dataset.RecordingIndex.read(builder.data_dir)
  hidden_steps = 0
  for split in ('train', 'dev', 'test'):
    summary, = index.recordings(split)
    views = [frame.view for frame in truths[summary.name].face.frames]
    visible = np.array([views[min(k, len(views) - 1)] == FaceView.VISIBLE
                        for k in range(summary.steps)])
    hidden_steps += int((~visible).sum())
    changes = np.flatnonzero(np.diff(visible.astype(int))) + 1
    near_change = np.zeros(summary.steps, bool)
    for change in changes:
      near_change[max(0, change - 3):change + 3] = True
    np.testing.assert_array_equal(summary.face_found[~near_change], visible[~near_change])
  assert hidden_steps > 20  # the corpus really hides the face


def test_tracked_box_follows_the_rendered_face(built):
  root, truths, _ = built
  recording, = layout.list_recordings(root / 'raw')['train']
  detector = faces.FaceDetector()
  raw = np.full((401, 4), np.nan)
  for step, frame in video.frames_on_label_grid(recording.video, 401):
    raw[step] = detector(frame, near=raw[step - 1] if step else None)
  track = faces.track_faces(raw)
  frames = truths['train_1'].face.frames
  checked = 0
  for k in np.flatnonzero(track.found[:400]):
    truth = frames[k]
    if truth.view != FaceView.VISIBLE:
      continue
    centre = track.boxes[k, :2] + track.boxes[k, 2:] / 2
    assert np.hypot(*(centre - (truth.center_x, truth.center_y))) < 0.2 * truth.scale
    checked += 1
  assert checked > 300
  centres = np.array([(f.center_x, f.center_y) for f in frames])
  assert np.ptp(centres, axis=0).max() > 10  # the face really moves
