"""Grain windows: planning, label shift, spectrograms, crops, order, determinism, state."""

import numpy as np
import pytest

from caav_jax.input_pipeline import datasets
from caav_jax.input_pipeline import log_mel
from caav_jax.input_pipeline import windows as windows_lib
from configs import default
from data_pipelines import step_dataset
from data_pipelines.recola import recola_dataset_builder
from data_pipelines.recola.recording import RecordingSummary
from tests import mini_corpus


CLIP, SUBSEQ, DELAYS = 16, 4, {'valence': 3, 'arousal': 5}


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory, media):
  root = tmp_path_factory.mktemp('pipeline')
  mini_corpus.make_mini_corpus(root / 'raw', media, names=('train_1', 'train_2', 'dev_1'))
  recola_dataset_builder.prepare(root / 'raw', root / 'tfds', crop_size=40)
  return root / 'tfds'


@pytest.fixture
def data(data_dir):
  config = default.data_config()
  config.data_dir = str(data_dir)
  config.crop_size, config.image_size = 40, 32
  config.clip_frames, config.subseq_frames = CLIP, SUBSEQ
  config.label_delay_frames.valence = DELAYS['valence']
  config.label_delay_frames.arousal = DELAYS['arousal']
  config.batch_size, config.eval_stride = 4, 8
  return config


def median3(values):
  padded = np.concatenate([values[:1], values, values[-1:]])
  return np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)


def summary(found, labelled=True):
  found = np.asarray(found, bool)
  labels = np.zeros((found.size, 2), np.float32) if labelled else np.full((found.size, 2), np.nan)
  return RecordingSummary('x', labels, found)


def test_plan_windows_respects_delay_faces_stride_and_tail():
  found = np.ones(20, bool)
  found[9] = False
  kwargs = dict(clip_frames=4, max_delay=3, stride=2)
  drop = windows_lib.plan_windows([summary(found)], faceless_policy='drop',
                                     include_tail=False, **kwargs)
  # Starts s with s + 4 - 1 + 3 <= 19, even, and no faceless step 9 inside.
  assert drop.start.tolist() == [0, 2, 4, 10, 12]
  mask = windows_lib.plan_windows([summary(found)], faceless_policy='mask',
                                     include_tail=True, **dict(kwargs, stride=5))
  assert mask.start.tolist() == [0, 5, 10, 13]
  unlabelled = windows_lib.plan_windows(
      [summary(np.ones(10)), summary(found, labelled=False)], faceless_policy='mask',
      include_tail=True, **dict(kwargs, stride=8))
  assert unlabelled.recording.tolist() == [0, 0, 1, 1, 1]
  assert unlabelled.start.tolist() == [0, 3, 0, 8, 16]


def first_element(data, split='train'):
  batch = next(iter(datasets.eval_dataset(data, split)))
  return {key: value[0] for key, value in batch.items()}, batch


def test_targets_are_the_delayed_median_filtered_labels(data):
  data.target = 'per_frame'
  _, batch = first_element(data)
  labels = mini_corpus.labels_of('train_1')
  for i, start in enumerate(batch['start']):
    frames = start + np.arange(CLIP)
    for d, dimension in enumerate(('valence', 'arousal')):
      expected = median3(labels[dimension])[frames + DELAYS[dimension]]
      np.testing.assert_allclose(batch['targets'][i, :, d], expected, atol=1e-6)
  data.target = 'clip_mean'
  _, means = first_element(data)
  np.testing.assert_allclose(means['targets'], batch['targets'].mean(axis=1), atol=1e-6)


def test_spectrograms_and_frames_come_from_the_window_steps(data, data_dir):
  element, _ = first_element(data)
  source = recola_dataset_builder.load(data_dir, 40).as_data_source()['train']
  start = int(element['start'])
  steps = [source[start + k] for k in range(CLIP)]
  audio = np.concatenate([s['audio'] for s in steps]).reshape(CLIP // SUBSEQ, -1)
  np.testing.assert_allclose(element['spectrograms'], log_mel.log_mel_spectrogram(audio),
                             atol=1e-6)
  assert element['spectrograms'].shape == (4, 128, 1 + SUBSEQ * 640 // 160)
  faces = np.stack([s['face'] for s in steps]).reshape(4, SUBSEQ, 40, 40, 3)
  np.testing.assert_array_equal(element['frames'], faces[..., 4:36, 4:36, :])
  np.testing.assert_array_equal(element['face_mask'], True)


def test_train_crop_and_flip_are_one_per_clip(data, data_dir):
  data.batch_size = 8
  batch = next(iter(datasets.train_dataset(data)))
  source = recola_dataset_builder.load(data_dir, 40).as_data_source()['train']
  offsets = step_dataset.RecordingIndex.read(
      recola_dataset_builder.load(data_dir, 40).data_dir).recordings('train')
  first_step = {0: 0, 1: offsets[0].steps}
  flips = 0
  for i in range(8):
    stored = np.stack([source[first_step[int(batch['recording'][i])] + int(batch['start'][i]) + k]['face']
                       for k in range(CLIP)])
    got = batch['frames'][i].reshape(CLIP, 32, 32, 3)
    matches = [(top, left, flip) for top in range(9) for left in range(9) for flip in (0, 1)
               if np.array_equal(got, (stored[:, :, ::-1] if flip else stored)[:, top:top + 32, left:left + 32])]
    assert len(matches) >= 1
    flips += matches[0][2]
  assert 0 < flips < 8  # flipped with probability 1/2, per clip


def test_same_seed_same_batches_other_seed_other_batches(data):
  def starts(seed):
    data.seed = seed
    iterator = iter(datasets.train_dataset(data))
    return [next(iterator)['start'].tolist() for _ in range(3)]
  assert starts(0) == starts(0)
  assert starts(0) != starts(1)


def test_each_epoch_is_a_new_permutation_of_every_window():
  shuffled = datasets.ShuffledWindows(10, seed=7, num_epochs=3)
  assert len(shuffled) == 30
  rows = np.stack([shuffled[i] for i in range(30)])
  assert (rows[:, 1] == 1).all()
  epochs = rows[:, 0].reshape(3, 10)
  for epoch in epochs:
    assert sorted(epoch) == list(range(10))
  assert len({tuple(epoch) for epoch in epochs}) == 3
  positions = np.array([8, 9, 10, 11, 29, 0])  # across epoch boundaries, in any order
  np.testing.assert_array_equal(shuffled.rows(positions), rows[positions])
  np.testing.assert_array_equal(datasets.ShuffledWindows(10, 7, None).rows(positions),
                                rows[positions])


def test_whole_batch_shares_are_the_per_window_shares_batched():
  shuffled = datasets.ShuffledWindows(13, seed=0, num_epochs=2)
  for process in (0, 1):
    windows = datasets.ProcessShare(shuffled, 4, process, 2)
    batches = datasets.ProcessShare(shuffled, 4, process, 2, whole_batches=True)
    assert len(batches) == 6 and len(windows) == 12
    for k in range(6):
      np.testing.assert_array_equal(batches[k], np.stack([windows[2 * k], windows[2 * k + 1]]))
      np.testing.assert_array_equal(batches[k], shuffled.rows(4 * k + 2 * process + np.arange(2)))


def test_iterator_state_restores_the_data_order(data):
  iterator = iter(datasets.train_dataset(data))
  for _ in range(2):
    next(iterator)
  state = iterator.get_state()
  expected = [next(iterator)['start'].tolist() for _ in range(3)]
  resumed = iter(datasets.train_dataset(data))
  resumed.set_state(state)
  assert [next(resumed)['start'].tolist() for _ in range(3)] == expected


def test_eval_walks_each_recording_in_order_and_covers_it(data):
  data.batch_size = 5  # 2 recordings x 6 windows: the last batch needs 3 pads
  batches = list(datasets.eval_dataset(data, 'train'))
  valid = np.concatenate([b['valid'] for b in batches])
  recording = np.concatenate([b['recording'] for b in batches])[valid]
  start = np.concatenate([b['start'] for b in batches])[valid]
  assert all(b['frames'].shape[0] == data.batch_size for b in batches)
  assert valid.tolist() == [True] * 12 + [False] * 3
  assert recording.tolist() == sorted(recording.tolist())
  last_start = mini_corpus.STEPS - CLIP - max(DELAYS.values())
  for r in (0, 1):
    mine = start[recording == r]
    assert mine.tolist() == sorted(mine.tolist())
    covered = np.zeros(mini_corpus.STEPS, bool)
    for s in mine:
      covered[s:s + CLIP] = True
    assert covered[:last_start + CLIP].all() and mine[-1] == last_start


def test_processes_split_the_global_batch_of_one_process(data):
  data.batch_size = 4
  one = list(datasets.train_dataset(data, num_epochs=1))
  two = [list(datasets.train_dataset(data, num_epochs=1, process_index=process,
                                           process_count=2)) for process in (0, 1)]
  assert len(one) == len(two[0]) == len(two[1]) >= 3
  for whole, first, second in zip(one, *two):
    assert first['frames'].shape[0] == second['frames'].shape[0] == 2
    windows = lambda b: [(int(r), int(s)) for r, s in zip(b['recording'], b['start'])]
    assert not set(windows(first)) & set(windows(second))  # hosts read disjoint windows
    for key in whole:  # rows 0, 1 on process 0 and 2, 3 on process 1: same crops and flips
      np.testing.assert_array_equal(whole[key][:2], first[key])
      np.testing.assert_array_equal(whole[key][2:], second[key])


def test_worker_processes_give_the_same_batches(data):
  iterator = iter(datasets.train_dataset(data))
  expected = [next(iterator) for _ in range(2)]
  data.num_workers = 2
  iterator = iter(datasets.train_dataset(data))
  for want in expected:
    got = next(iterator)
    for key in want:
      np.testing.assert_array_equal(np.asarray(got[key]), want[key])


def test_bad_settings_are_explained(data):
  data.image_size = 64
  with pytest.raises(ValueError, match=r'data.image_size \(64\) must be in'):
    datasets.train_dataset(data)
  data.image_size, data.subseq_frames = 32, 5
  with pytest.raises(ValueError, match=r'data.clip_frames \(16\) must be a multiple of data.subseq_frames \(5\)'):
    datasets.train_dataset(data)
  data.subseq_frames, data.target = SUBSEQ, 'per_clip'
  with pytest.raises(ValueError, match="data.target must be 'clip_mean' or 'per_frame'"):
    datasets.train_dataset(data)
  data.target, data.dimensions = 'clip_mean', ('valence', 'dominance')
  with pytest.raises(ValueError, match='data.dimensions must name some of'):
    datasets.train_dataset(data)
  data.dimensions, data.crop_size = ('valence', 'arousal'), 56
  with pytest.raises(FileNotFoundError, match='no recola dataset built with crop size 56'):
    datasets.train_dataset(data)


def write_feature_cache(directory, data, split):
  """Features whose row r of recording i is i·1000 + r (audio: its negative), as in a real cache."""
  for position, recording in enumerate(datasets.split_recordings(data, split)):
    rows = recording.steps - SUBSEQ + 1
    values = position * 1000 + np.arange(rows, dtype=np.float32)[:, None] * np.ones(3, np.float32)
    for modality, sign in (('visual', 1), ('audio', -1)):
      path = directory / split / f'{recording.name}.{modality}.npy'
      path.parent.mkdir(parents=True, exist_ok=True)
      np.save(path, sign * values)


def test_cached_features_come_in_the_order_and_with_the_targets_of_pixels(data, tmp_path):
  write_feature_cache(tmp_path, data, 'train')
  write_feature_cache(tmp_path, data, 'dev')
  for pixels, features in [
      (datasets.train_dataset(data, num_epochs=1),
       datasets.train_dataset(data, num_epochs=1, features_dir=tmp_path)),
      (datasets.eval_dataset(data, 'dev'),
       datasets.eval_dataset(data, 'dev', features_dir=tmp_path))]:
    pixel_batches, feature_batches = list(pixels), list(features)
    assert len(feature_batches) == len(pixel_batches) > 1
    for a, b in zip(pixel_batches, feature_batches):
      assert set(b) == set(a) - {'frames', 'spectrograms'} | {'visual_features', 'audio_features'}
      for key in ('targets', 'face_mask', 'recording', 'start', 'valid'):
        np.testing.assert_array_equal(b[key], a[key])
        assert b[key].dtype == a[key].dtype
      rows = a['start'][:, None] + SUBSEQ * np.arange(CLIP // SUBSEQ)
      expected = a['recording'][:, None] * 1000 + rows
      np.testing.assert_array_equal(b['visual_features'][..., 0], expected)
      np.testing.assert_array_equal(b['audio_features'][..., 2], -expected)
      assert b['visual_features'].dtype == np.float32
