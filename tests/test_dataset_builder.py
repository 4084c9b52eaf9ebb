"""The `recola` TFDS builder: round trip, order, and bad input that leaves nothing behind."""

import shutil

import cv2
import numpy as np
import pytest
import soundfile

from data_pipelines import step_dataset
from data_pipelines.recola import recola_dataset_builder
from data_pipelines.recola import recording as recording_lib
from data_pipelines.recola.errors import RecolaInputError
from data_pipelines.synthetic import corpus_writer
from tests import mini_corpus


@pytest.fixture(scope='module')
def built(tmp_path_factory, media):
  """The mini corpus and its dataset at crop 32, built once for this file."""
  root = tmp_path_factory.mktemp('built')
  mini_corpus.make_mini_corpus(root / 'raw', media, names=('train_1', 'dev_1', 'test_1'))
  recola_dataset_builder.prepare(root / 'raw', root / 'tfds', crop_size=32)
  return root


@pytest.fixture
def corpus(tmp_path, built):
  """A private copy of the corpus (and of its crop-32 build in tmp_path/tfds)."""
  shutil.copytree(built / 'tfds', tmp_path / 'tfds')
  return shutil.copytree(built / 'raw', tmp_path / 'raw')


def test_round_trip_keeps_order_labels_audio_and_faces(tmp_path, corpus):
  builder = recola_dataset_builder.prepare(corpus, tmp_path / 'tfds', crop_size=48)
  sources = builder.as_data_source()
  index = step_dataset.RecordingIndex.read(builder.data_dir)
  assert set(sources) == {'train', 'dev', 'test'}
  for split, name in (('train', 'train_1'), ('dev', 'dev_1')):
    steps = [sources[split][i] for i in range(len(sources[split]))]
    assert [s['frame_index'] for s in steps] == list(range(mini_corpus.STEPS))
    assert {s['recording'] for s in steps} == {name.encode()}
    expected = mini_corpus.labels_of(name)
    for dimension in ('valence', 'arousal'):
      np.testing.assert_allclose([s[dimension] for s in steps], expected[dimension], atol=1e-6)
    summary, = index.recordings(split)
    np.testing.assert_allclose(summary.labels[:, 0], expected['valence'], atol=1e-6)
    assert all(s['face_found'] and s['face_detected'] for s in steps)
    assert steps[0]['face'].shape == (48, 48, 3) and steps[0]['face'].std() > 20
  test_steps = sources['test']
  assert len(test_steps) == mini_corpus.STEPS  # from the video's length
  assert np.isnan(test_steps[5]['valence'])
  # Audio: 220 Hz tone at 44.1 kHz, resampled, 640 samples per step.
  audio = np.concatenate([sources['train'][i]['audio'] for i in range(20)])
  expected = 0.3 * np.sin(2 * np.pi * 220 * np.arange(audio.size) / 16_000)
  np.testing.assert_allclose(audio[500:], expected[500:], atol=3e-3)


def test_second_prepare_reuses_the_build(tmp_path, corpus, monkeypatch):
  monkeypatch.setattr(recording_lib, 'read_recording', None)  # would crash if called
  builder = recola_dataset_builder.prepare(corpus, tmp_path / 'tfds', crop_size=32)
  assert builder.is_prepared()


def break_missing_audio(root):
  (root / 'recordings_audio' / 'dev_1.wav').unlink()
  return r'dev_1\.wav: missing: dev_1\.mp4 has no audio'


def break_video(root):
  (root / 'recordings_video' / 'train_1.mp4').write_bytes(b'\x00\x01garbage' * 1000)
  return r'train_1\.mp4: not a readable video'


def break_wav(root):
  path = root / 'recordings_audio' / 'dev_1.wav'
  path.write_bytes(path.read_bytes()[:20_000])
  return r'dev_1\.wav: truncated WAV'


def break_arff_column(root):
  path = root / 'ratings_gold_standard' / 'valence' / 'train_1.arff'
  path.write_text(path.read_text().replace('@attribute GoldStandard numeric', ''))
  return r"train_1\.arff: missing column 'goldstandard'"


def break_short_labels(root):
  corpus_writer.write_gold_standard_arff(
      root / 'ratings_gold_standard' / 'valence' / 'dev_1.arff', 'dev_1', 'valence', np.zeros(30))
  return r'dev_1\.arff: 61 rows, but the valence file has 30'


def break_short_labels_both(root):
  for dimension in ('valence', 'arousal'):
    corpus_writer.write_gold_standard_arff(
        root / 'ratings_gold_standard' / dimension / 'dev_1.arff', 'dev_1', dimension, np.zeros(30))
  return r'dev_1\.mp4: labels are shorter than the video: 30 label rows cover 1\.20 s'


def break_missing_gold(root):
  (root / 'ratings_gold_standard' / 'arousal' / 'train_1.arff').unlink()
  return r'arousal/train_1\.arff: gold standard not found'


@pytest.mark.parametrize('breakage', [
    break_missing_audio, break_video, break_wav, break_arff_column,
    break_short_labels, break_short_labels_both, break_missing_gold])
def test_bad_input_is_named_and_leaves_nothing(tmp_path, corpus, breakage):
  earlier = recola_dataset_builder.load(tmp_path / 'tfds', 32)
  earlier_files = sorted(p.name for p in earlier.data_path.iterdir())
  message = breakage(corpus)
  with pytest.raises(RecolaInputError, match=message):
    recola_dataset_builder.prepare(corpus, tmp_path / 'tfds', crop_size=40)
  crop40 = tmp_path / 'tfds' / 'recola' / 'crop40'
  assert not crop40.exists() or not any(crop40.iterdir())
  assert sorted(p.name for p in earlier.data_path.iterdir()) == earlier_files
  assert recola_dataset_builder.load(tmp_path / 'tfds', 32).is_prepared()


def test_failure_mid_build_leaves_no_dataset(tmp_path, corpus, monkeypatch):
  real = recola_dataset_builder.read_recording

  def fail_on_dev(recording, options):
    if recording.name == 'dev_1':
      raise RecolaInputError(recording.video, 'corrupt video at frame 7')
    return real(recording, options)
  monkeypatch.setattr(recola_dataset_builder.Recola, 'read', staticmethod(fail_on_dev))
  with pytest.raises(RecolaInputError, match='corrupt video at frame 7'):
    recola_dataset_builder.prepare(corpus, tmp_path / 'tfds', crop_size=40, num_workers=1)
  with pytest.raises(FileNotFoundError, match='no recola dataset built with crop size 40'):
    recola_dataset_builder.load(tmp_path / 'tfds', 40)
  assert list((tmp_path / 'tfds' / 'recola' / 'crop40').rglob('*')) == []


def test_error_in_a_worker_process_reaches_the_caller(tmp_path, corpus):
  # One second of audio for 2.4 s of labels: found only when the audio is decoded.
  soundfile.write(corpus / 'recordings_audio' / 'dev_1.wav', np.zeros(44_100), 44_100)
  with pytest.raises(RecolaInputError, match=r'dev_1\.wav: audio is shorter than its labels'):
    recola_dataset_builder.prepare(corpus, tmp_path / 'tfds', crop_size=40, num_workers=2)
  assert list((tmp_path / 'tfds' / 'recola' / 'crop40').rglob('*')) == []


def test_missing_raw_dir_says_how_to_obtain_recola(tmp_path):
  with pytest.raises(RecolaInputError, match='RECOLA is licensed per user.*configs/synthetic.py'):
    recola_dataset_builder.prepare(tmp_path / 'nowhere', tmp_path / 'tfds', crop_size=32)


def test_face_images_folders_instead_of_video(tmp_path, corpus):
  for name in ('train_1', 'dev_1', 'test_1'):
    folder = corpus / 'faces' / f'{name}_aligned'
    folder.mkdir(parents=True)
    for frame in range(mini_corpus.STEPS):
      if frame % 10 != 3:  # OpenFace writes nothing where it lost the face
        image = np.full((112, 112, 3), frame * 4, np.uint8)
        cv2.imwrite(str(folder / f'frame_det_00_{frame + 1:06d}.bmp'), image)
  shutil.rmtree(corpus / 'recordings_video')
  builder = recola_dataset_builder.prepare(corpus, tmp_path / 'tfds', crop_size=32,
                                           face_source='images')
  assert builder.builder_config.name == 'crop32_images'
  source = builder.as_data_source()['train']
  steps = [source[i] for i in range(len(source))]
  assert [s['face_found'] for s in steps] == [k % 10 != 3 for k in range(mini_corpus.STEPS)]
  assert [int(s['face'].mean().round()) for s in steps if s['face_found']] == [
      k * 4 for k in range(mini_corpus.STEPS) if k % 10 != 3]
