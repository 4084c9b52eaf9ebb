"""Aff-Wild2 as distributed: the synthetic corpus in its exact layout; the reader's values, errors."""

import shutil
import subprocess
import sys

import av
import numpy as np
import pytest
import tensorflow_datasets as tfds

from caav_jax import evaluate
from caav_jax import train
from caav_jax.errors import ConfigError
from caav_jax.evaluation import predict as evaluation
from caav_jax.evaluation import restore
from caav_jax.evaluation import scoring
from caav_jax.input_pipeline import log_mel
from caav_jax.input_pipeline import windows as windows_lib
from caav_jax.metrics import concordance
from caav_jax.training import sharding
from caav_jax.workdir import Workdir
from configs import affwild2 as affwild2_config
from data_pipelines.affwild2 import affwild2_dataset_builder
from data_pipelines.affwild2 import labels as labels_lib
from data_pipelines.affwild2 import layout
from data_pipelines.affwild2 import video_reader
from data_pipelines.recola import audio as audio_lib
from data_pipelines.recola import media_audio
from data_pipelines.recola.errors import RecolaInputError
from data_pipelines.recola.recording import RecordingSummary
from data_pipelines.step_dataset import RecordingIndex
from data_pipelines.synthetic import affwild2_writer as writer


OPTIONS = writer.Options(duration_s=4.0)


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
  root = tmp_path_factory.mktemp('affwild2') / 'corpus'
  assert writer.write_corpus_once(root, OPTIONS)
  return root


@pytest.fixture(scope='module')
def built(corpus, tmp_path_factory):
  """The dataset built here, in this process."""
  return affwild2_dataset_builder.prepare(corpus, tmp_path_factory.mktemp('tfds'), crop_size=28,
                                          num_workers=1)


def assert_same_dataset(expected, actual):
  """Every split: the same index, and the same examples in the same order."""
  expected_index, actual_index = (RecordingIndex.read(b.data_dir) for b in (expected, actual))
  for split in ('train', 'dev', 'test'):
    for want, got in zip(expected_index.recordings(split), actual_index.recordings(split),
                         strict=True):
      assert (got.name, got.frame_rate) == (want.name, want.frame_rate)
      np.testing.assert_array_equal(got.labels, want.labels)
      np.testing.assert_array_equal(got.face_found, want.face_found)
    want_source, got_source = (b.as_data_source(split=split) for b in (expected, actual))
    assert len(got_source) == len(want_source) > 0
    for index in range(len(want_source)):
      want, got = want_source[index], got_source[index]
      assert got.keys() == want.keys()
      for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=f'{split}[{index}] {key}')


def test_the_corpus_has_the_distributed_layout(corpus):
  annotations = corpus / writer.ANNOTATIONS
  train = sorted(p.name for p in (annotations / 'Train_Set').iterdir())
  assert train == ['1-30-320x240.txt', '2-25-320x240.txt', '3-30-640x240_left.txt',
                   '3-30-640x240_right.txt']
  assert sorted(p.name for p in (annotations / 'Validation_Set').iterdir()) == [
      '4-30-320x240.txt', '5-25-320x240.txt']
  assert (corpus / writer.TEST_LIST).read_text() == '6-30-320x240\n'
  assert sorted(p.name for p in (corpus / 'videos').iterdir()) == [
      '1-30-320x240.mp4', '2-25-320x240.avi', '3-30-640x240.mp4', '4-30-320x240.mp4',
      '5-25-320x240.mp4', '6-30-320x240.mp4']
  for video in writer.VIDEOS_WRITTEN:
    with av.open(str(corpus / 'videos' / f'{video.name}{video.suffix}')) as container:
      stream = container.streams.video[0]
      assert stream.average_rate == video.fps and container.streams.audio
      assert stream.codec_context.width == 320 * len(video.subjects())
    frames = int(OPTIONS.duration_s * video.fps)
    for name in video.subjects():
      crops = sorted(p.name for p in (corpus / writer.CROPS / name).iterdir())
      assert crops[0] >= '00001.jpg' and len(crops[0]) == 9
      assert 0.6 * frames < len(crops) < frames  # hidden faces have no crop
      if video.split != 'test':
        folder = writer.SPLIT_FOLDERS[video.split]
        lines = (annotations / folder / f'{name}.txt').read_text().splitlines()
        assert lines[0] == 'valence,arousal' and len(lines) == frames + 1
        assert 0 < sum(line == '-5,-5' for line in lines) < 0.2 * frames


def test_the_reader_gives_the_written_labels_faces_and_voice(corpus):
  videos = layout.list_videos(corpus)
  assert [v.name for v in videos['train']] == ['1-30-320x240', '2-25-320x240',
                                               '3-30-640x240_left', '3-30-640x240_right']
  assert [v.name for v in videos['dev']] == ['4-30-320x240', '5-25-320x240']
  assert [(v.name, v.annotation) for v in videos['test']] == [('6-30-320x240', None)]
  left, right = videos['train'][2:]
  assert left.video == right.video == corpus / 'videos' / '3-30-640x240.mp4'
  for video in videos['train'] + videos['test']:
    video_reader.check_video(video, video_reader.ReadOptions())
    summary, steps = video_reader.read_video(video, video_reader.ReadOptions(crop_size=64))
    steps = list(steps)
    rate = 25 if '-25-' in video.name else 30
    assert summary.frame_rate == rate and summary.steps == len(steps) == 4 * rate
    crops = {int(p.stem) - 1 for p in video.crops.iterdir()}
    np.testing.assert_array_equal(summary.face_found, [i in crops for i in range(len(steps))])
    if video.annotation is not None:
      text = np.genfromtxt(video.annotation, delimiter=',', skip_header=1)
      expected = np.where(text == -5, np.nan, text)
      np.testing.assert_array_equal(summary.labels, expected.astype(np.float32))
      np.testing.assert_array_equal([s['valence'] for s in steps], summary.labels[:, 0])
    else:
      assert np.isnan(summary.labels).all()
    audio = np.concatenate([s['audio'] for s in steps])
    voice = np.concatenate(list(media_audio.stream_audio_16k(video.video)))
    np.testing.assert_array_equal(audio, voice[:audio.size])
    assert audio.size == 4 * 16_000
    sizes = {s['audio'].size for s in steps}
    assert sizes == ({640} if rate == 25 else {533, 534})
    if rate == 25:  # one frame is one RECOLA step: the same cut as the RECOLA builder's
      np.testing.assert_array_equal(np.stack([s['audio'] for s in steps]),
                                    audio_lib.audio_on_label_grid(voice, len(steps)))


def test_the_annotation_is_the_emotion_the_subject_expresses(corpus):
  video = writer.VIDEOS_WRITTEN[2]
  subject = writer._subject(video.subjects()[1], video, OPTIONS)  # pylint: disable=protected-access
  times = writer.frame_times(video, OPTIONS)
  values = labels_lib.read_annotation(
      corpus / writer.ANNOTATIONS / 'Train_Set' / f'{video.subjects()[1]}.txt')
  annotated = ~np.isnan(values[:, 0])
  np.testing.assert_allclose(values[annotated, 0],
                             np.clip(subject.emotion.expressed_valence(times), -1, 1)[annotated],
                             atol=5e-4)


@pytest.mark.parametrize('text, problem', [
    ('arousal,valence\n0.1,0.2\n', "first line must be 'valence,arousal'"),
    ('valence,arousal\n0.1;0.2\n', 'line 2: expected two numbers'),
    ('valence,arousal\n0.1,0.2\n1.5,0.2\n', 'line 3: \'1.5,0.2\' is outside [-1, 1]'),
    ('valence,arousal\n', 'no frame annotated'),
])
def test_a_malformed_annotation_is_named_with_its_line(tmp_path, text, problem):
  path = tmp_path / 'x.txt'
  path.write_text(text)
  with pytest.raises(RecolaInputError, match=None) as error:
    labels_lib.read_annotation(path)
  assert str(error.value).startswith(f'{path}: ') and problem in str(error.value)


def test_unannotated_frames_are_nan_one_dimension_at_a_time(tmp_path):
  path = tmp_path / 'x.txt'
  path.write_text('\ufeffvalence,arousal\n0.5,-5\n-5,-5\n-1,1\n')
  np.testing.assert_array_equal(labels_lib.read_annotation(path),
                                [[0.5, np.nan], [np.nan, np.nan], [-1, 1]])


def test_a_broken_corpus_is_named_in_one_line(corpus, tmp_path):
  broken = tmp_path / 'broken'
  shutil.copytree(corpus, broken)
  train = broken / writer.ANNOTATIONS / 'Train_Set'
  # Too few label lines for the video: beyond the tolerance of half a second of frames.
  lines = (train / '1-30-320x240.txt').read_text().splitlines()
  (train / '1-30-320x240.txt').write_text('\n'.join(lines[:-20]) + '\n')
  video = layout.list_videos(broken)['train'][0]
  with pytest.raises(RecolaInputError, match='100 annotated frames, but 1-30-320x240.mp4 has '
                     r'120 frames at 30 fps \(at most 15 may differ: 0.5 s\)'):
    video_reader.check_video(video, video_reader.ReadOptions())
  (train / '1-30-320x240.txt').write_text('\n'.join(lines[:-10]) + '\n')  # within it
  video_reader.check_video(video, video_reader.ReadOptions())
  # An unreadable crop is named when it is read.
  crop = sorted(video.crops.iterdir())[0]
  crop.write_bytes(b'not a jpeg')
  with pytest.raises(RecolaInputError, match=f'{crop}: not a readable image'):
    list(video_reader.read_video(video)[1])
  # A missing raw video.
  (broken / 'videos' / '4-30-320x240.mp4').unlink()
  with pytest.raises(RecolaInputError, match='missing: the raw video of 4-30-320x240'):
    layout.list_videos(broken)
  with pytest.raises(RecolaInputError, match='Aff-Wild2 folder not found'):
    layout.list_videos(tmp_path / 'absent')


def test_a_second_write_is_a_no_op_and_other_content_is_refused(corpus, tmp_path):
  assert not writer.write_corpus_once(corpus, OPTIONS)
  (tmp_path / 'other').mkdir()
  (tmp_path / 'other' / 'file').write_text('x')
  with pytest.raises(ValueError, match='holds no synthetic Aff-Wild2 corpus'):
    writer.write_corpus_once(tmp_path / 'other', OPTIONS)


def test_the_built_dataset_holds_every_frame_with_its_rate_labels_and_voice(corpus, built):
  builder = built
  index = RecordingIndex.read(builder.data_dir)
  videos = layout.list_videos(corpus)
  for split in ('train', 'dev', 'test'):
    recordings = index.recordings(split)
    assert [r.name for r in recordings] == [v.name for v in videos[split]]
    source = builder.as_data_source(split=split)
    assert len(source) == sum(r.steps for r in recordings)
    first = 0
    for recording, video in zip(recordings, videos[split]):
      summary, steps = video_reader.read_video(video, video_reader.ReadOptions(crop_size=28))
      assert recording.frame_rate == summary.frame_rate in (25.0, 30.0)
      np.testing.assert_array_equal(recording.labels, summary.labels)
      np.testing.assert_array_equal(recording.face_found, summary.face_found)
      for offset, step in enumerate(steps):
        if offset % 37 == 0:  # a sample of the frames, read back
          stored = source[first + offset]
          assert stored['frame_index'] == offset
          np.testing.assert_array_equal(stored['audio'], step['audio'])
          np.testing.assert_array_equal(stored['valence'], step['valence'])
      first += recording.steps
  data_dir = builder.data_dir_root
  assert affwild2_dataset_builder.load(data_dir, 28).data_dir == builder.data_dir
  with pytest.raises(FileNotFoundError, match='no affwild2 dataset built with crop size 64; '
                     'built: crop28'):
    affwild2_dataset_builder.load(data_dir, 64)


def test_a_beam_build_over_worker_processes_and_shards_writes_the_same_dataset(
    corpus, built, tmp_path):
  # Two worker processes read the videos in any order; three shards a split test
  # that the integer keys put every frame back in video order across shards.
  from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
  builder = affwild2_dataset_builder.AffWild2(config='crop28', data_dir=str(tmp_path),
                                             file_format='array_record', use_beam=True)
  options = pipeline_options.PipelineOptions(['--direct_num_workers=2',
                                              '--direct_running_mode=multi_processing'])
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(corpus), num_shards=3, beam_options=options))
  assert len(list(builder.data_path.glob('aff_wild2-train.array_record-*-of-00003'))) == 3
  assert_same_dataset(built, builder)


def test_beam_flags_that_beam_does_not_know_are_refused():
  with pytest.raises(ValueError, match='Beam does not know --direct_num_worker=2'):
    affwild2_dataset_builder.pipeline_options(['--direct_num_worker=2'])
  with pytest.raises(ValueError, match='Beam does not know FlinkRunner'):
    affwild2_dataset_builder.pipeline_options(['FlinkRunner'])
  options = affwild2_dataset_builder.pipeline_options(['--runner=DirectRunner',
                                                      '--direct_num_workers', '2'])
  assert options.get_all_options()['direct_num_workers'] == 2


def test_settings_that_do_not_suit_abaw_are_refused_before_training(tmp_path):
  config = affwild2_config.get_config('synthetic')
  config.data.dimensions = ('arousal',)
  with pytest.raises(ConfigError, match="ABAW's test files hold valence and arousal"):
    train.train_and_evaluate(config, tmp_path / 'run')
  assert not (tmp_path / 'run').exists()
  config.data.dimensions, config.eval.postprocess = ('valence', 'arousal'), True
  with pytest.raises(ConfigError, match="postprocess is AVEC's"):
    evaluate.evaluate(config, tmp_path / 'run')


def test_the_build_command_runs_beam_and_reports_each_split(corpus, built, tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'data_pipelines.build_affwild2', f'--raw_dir={corpus}',
       f'--data_dir={tmp_path}', '--crop_size=28', '--beam_options=--runner=DirectRunner'],
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  train = RecordingIndex.read(built.data_dir).recordings('train')
  faces = np.concatenate([r.face_found for r in train])
  assert (f'train: {len(train)} recordings, {faces.size} steps ('
          f'{sum(r.steps / r.frame_rate for r in train) / 60:.1f} min), face found in '
          f'{100 * faces.mean():.1f}%') in result.stdout
  assert_same_dataset(built, affwild2_dataset_builder.load(tmp_path, 28))


def test_a_sub_sequence_spectrogram_follows_the_frame_rate():
  rng = np.random.default_rng(0)
  steps = [rng.normal(size=640).astype(np.float32) for _ in range(32)]
  starts = np.array([0, 5, 16])
  vectorised = log_mel.subsequence_spectrograms(steps, starts, 16)
  # The general path (any step length), on steps of 640 samples, is the 25 fps one.
  general = np.stack([log_mel._normalised_log(  # pylint: disable=protected-access
      log_mel._framed_power(np.concatenate(steps[s:s + 16]), 65)) for s in starts])
  np.testing.assert_allclose(general, vectorised, atol=2e-6)
  # 30 fps: 16 frames span 8,533 samples, still 65 columns; a 1 kHz tone lights the same band.
  bounds = np.round(np.arange(17) * 16_000 / 30).astype(int)
  tone = np.sin(2 * np.pi * 1000 * np.arange(bounds[-1]) / 16_000).astype(np.float32)
  thirty = log_mel.subsequence_spectrograms(
      [tone[a:b] for a, b in zip(bounds[:-1], bounds[1:])], np.array([0]), 16)
  reference = log_mel.log_mel_spectrogram(
      np.sin(2 * np.pi * 1000 * np.arange(10_240) / 16_000)[None].astype(np.float32))
  assert thirty.shape == reference.shape == (1, 128, 65)
  band = reference[0, :, 2:-2].argmax(axis=0)  # away from the reflect-padded edges
  assert (band == band[0]).all() and (thirty[0, :, 2:-2].argmax(axis=0) == band[0]).all()


def test_training_windows_need_an_annotated_label_and_targets_average_only_those():
  labels = np.full((100, 2), 0.5, np.float32)
  labels[10:60, 0] = np.nan  # valence unannotated for 50 frames
  labels[20:30, 1] = np.nan
  labels[40:50, 0] = 0.5  # an annotated island
  labels[40:50, 1] = -1.0
  summary = RecordingSummary('x', labels, np.ones(100, bool), 30.0)
  windows = windows_lib.plan_windows([summary], clip_frames=16, max_delay=0, stride=1,
                                     faceless_policy='drop', include_tail=False,
                                     require_labels=[(0, 0), (1, 0)])
  for start in range(85):
    span = labels[start:start + 16]
    expected = np.isfinite(span[:, 0]).any() and np.isfinite(span[:, 1]).any()
    assert (start in windows.start) == expected, start


def test_a_fusion_on_cached_features_trains_and_scores_the_abaw_way(corpus, tmp_path):
  from configs import tiny  # pylint: disable=g-import-not-at-top
  config = tiny.get_config()
  data = config.data
  data.corpus, data.raw_dir, data.data_dir = 'affwild2', str(corpus), str(tmp_path / 'tfds')
  data.label_delay_frames.valence = data.label_delay_frames.arousal = 0
  config.eval.postprocess, config.eval.predict_test = False, True
  config.train.eval_every, config.train.steps = 0, 2
  config.train.stage = 'unimodal_audio'
  train.train_and_evaluate(config, tmp_path / 'audio')
  # The audio-only fusion on cached features: 30 fps sub-sequences' audio goes through the cache.
  config.train.stage, config.model.fusion = 'fusion', 'audio_only'
  config.train.init_audio, config.train.feature_cache = str(tmp_path / 'audio'), True
  train.train_and_evaluate(config, tmp_path / 'fusion')
  assert (tmp_path / 'fusion' / 'features' / 'train' / '1-30-320x240.audio.npy').is_file()
  config.eval.checkpoint = 'latest'
  metrics = evaluate.evaluate(config, tmp_path / 'fusion')
  output = tmp_path / 'fusion' / 'evaluation' / 'step_2'
  # ABAW: CCC over every annotated validation frame pooled, from the written per-video rows.
  rows = [np.genfromtxt(output / 'predictions' / f'{name}.csv', delimiter=',', names=True)
          for name in ('4-30-320x240', '5-25-320x240')]
  assert np.isnan(rows[0]['valence_gold']).sum() > 0
  np.testing.assert_allclose(np.diff(rows[0]['time'][:3]), 1 / 30, atol=1e-4)
  np.testing.assert_allclose(np.diff(rows[1]['time'][:3]), 1 / 25, atol=1e-4)
  for dimension in ('valence', 'arousal'):
    prediction = np.concatenate([r[f'{dimension}_prediction'] for r in rows])
    gold = np.concatenate([r[f'{dimension}_gold'] for r in rows])
    annotated = np.isfinite(gold)
    expected = concordance(prediction[annotated], gold[annotated])
    assert abs(metrics['raw']['ccc'][dimension] - expected) < 1e-4
  assert (output / 'plots' / '4-30-320x240.png').is_file()
  # The test list's video, for ABAW: a `valence,arousal` line for every frame of its raw video.
  test_video = layout.list_videos(corpus)['test'][0]
  submitted = labels_lib.read_annotation(output / 'test' / f'{test_video.name}.txt')
  assert submitted.shape == (video_reader.frame_count(test_video.video)[0], 2) == (120, 2)
  # ... and its values are the model's frame predictions on the test split, clipped to [-1, 1].
  workdir = Workdir(tmp_path / 'fusion')
  mesh = sharding.data_mesh()
  model, _, _ = restore.restore_for_evaluation(config, workdir, mesh)
  test = evaluation.predict_split(model, data, 'test', mesh,
                                  evaluate.trained_features(config, workdir))
  expected = np.clip(scoring.frame_predictions(test, data)[0], -1, 1)
  assert tuple(data.dimensions) == ('valence', 'arousal') and expected.std(axis=0).min() > 0
  np.testing.assert_allclose(submitted, expected, atol=1e-6)
