"""--mode=predict on real media: the evaluation path's numbers on the same windows, a row every 40 ms,
faceless stretches flagged, any frame rate and audio format, and one line for each bad input."""

import csv
import fractions
import json
import pathlib
import shutil

import av
import cv2
import numpy as np
import pytest
import soundfile
import soxr

from caav_jax import predict
from caav_jax.checkpointing import Checkpoints
from caav_jax.evaluation import predict as evaluation
from caav_jax.evaluation import scoring
from caav_jax.input_pipeline import datasets
from caav_jax.input_pipeline import media as media_lib
from caav_jax.training import sharding
from caav_jax.training import stages
from caav_jax.workdir import Workdir
from configs import run_config
from data_pipelines.affwild2 import layout
from data_pipelines.affwild2 import video_reader
from data_pipelines.recola import audio as audio_lib
from data_pipelines.recola import media_audio
from data_pipelines.recola import recording as recording_lib
from data_pipelines.recola import video as video_lib
from data_pipelines.recola.errors import RecolaInputError
from tests import mini_corpus
from tests import model_builders
from tests.entry_point import run_main


def speech(media: pathlib.Path, seconds: float) -> np.ndarray:
  """Real emotional speech, utterance after utterance, as 16 kHz int16 mono."""
  parts, total, index = [], 0, 0
  while total < seconds * 16_000:
    samples, rate = soundfile.read(media / 'speech_emotion' / f'{index:02d}.wav', dtype='int16')
    assert rate == 16_000
    parts.append(samples)
    total += samples.size
    index += 1
  return np.concatenate(parts)[:int(round(seconds * 16_000))]


def mux(path: pathlib.Path, video: pathlib.Path, audio: np.ndarray | None, *,
        audio_rate: int = 16_000, scale: float = 1.0) -> pathlib.Path:
  """`video`'s frames (timestamps kept, optionally scaled) with `audio` (int16, (samples,) or
  (samples, channels)) as PCM beside them."""
  with av.open(str(video)) as source, av.open(str(path), 'w') as output:
    stream = source.streams.video[0]
    width = int(stream.codec_context.width * scale) // 2 * 2
    height = int(stream.codec_context.height * scale) // 2 * 2
    encoder = output.add_stream('libx264', rate=stream.average_rate)
    encoder.width, encoder.height, encoder.pix_fmt = width, height, 'yuv420p'
    encoder.codec_context.time_base = stream.time_base
    if audio is not None:
      channels = 1 if audio.ndim == 1 else audio.shape[1]
      voice = output.add_stream('pcm_s16le', rate=audio_rate,
                                layout='mono' if channels == 1 else 'stereo')
    for frame in source.decode(stream):
      picture = cv2.resize(frame.to_ndarray(format='bgr24'), (width, height),
                           interpolation=cv2.INTER_AREA)
      copy = av.VideoFrame.from_ndarray(picture, format='bgr24')
      copy.pts, copy.time_base = frame.pts, stream.time_base
      output.mux(encoder.encode(copy))
    output.mux(encoder.encode(None))
    if audio is not None:
      for first in range(0, audio.shape[0], 1024):
        chunk = np.ascontiguousarray(audio[first:first + 1024]).reshape(1, -1)  # packed s16
        frame = av.AudioFrame.from_ndarray(chunk, format='s16',
                                           layout='mono' if channels == 1 else 'stereo')
        frame.sample_rate, frame.pts = audio_rate, first
        output.mux(voice.encode(frame))
      output.mux(voice.encode(None))
  return path


@pytest.fixture(scope='module')
def corpus(tmp_path_factory, media):
  """A RECOLA-layout corpus whose test recording is a real video (a face, then none) muxed
  with real speech as PCM, a model's workdir (config.json and a checkpoint) reading it, and
  the muxed video."""
  root = tmp_path_factory.mktemp('predict')
  config = mini_corpus.tiny_config_on(root, media, ('train_1', 'dev_1'))
  voice = speech(media, 6.45)
  video = mux(root / 'raw' / 'recordings_video' / 'test_1.mov',
              media / 'faces' / 'face_noface.mov', voice, scale=0.5)
  soundfile.write(root / 'raw' / 'recordings_audio' / 'test_1.wav', voice, 16_000,
                  subtype='PCM_16')
  config.eval.predict_test = False
  config.predict.batch_size = config.data.batch_size  # evaluation's batches, for equal numbers
  workdir = Workdir(root / 'run')
  model = model_builders.random_state(stages.abstract_model(config))
  checkpoints = Checkpoints(workdir.checkpoints)
  checkpoints.save(1, model)
  checkpoints.close()
  run_config.save(config, workdir.config)
  return config, workdir, video


def test_predictions_are_those_of_the_evaluation_path_on_the_same_windows(corpus):
  config, workdir, video = corpus
  datasets.ensure_dataset(config.data)
  predictor = predict.Predictor(run_config.load(workdir.config), workdir)
  expected = evaluation.predict_split(predictor.module, config.data, 'test',
                                      sharding.data_mesh())
  result = predictor.predict(media_lib.open_media(video))
  np.testing.assert_array_equal(result.windows.windows.start, expected.windows.start)
  assert len(expected.windows) >= 3
  np.testing.assert_array_equal(result.windows.window_predictions, expected.window_predictions)
  np.testing.assert_array_equal(result.frames, scoring.frame_predictions(expected, config.data)[0])
  summary = expected.recordings[0]
  np.testing.assert_array_equal(result.track.found, summary.face_found)
  assert result.frames.shape == (summary.steps, 2) and summary.steps == round(6.4 / 0.04) + 1
  # One window per call (the default, fastest on a CPU): the same numbers up to rounding.
  single = run_config.load(workdir.config)
  single.predict.batch_size = 1
  alone = predict.Predictor(single, workdir).predict(media_lib.open_media(video))
  np.testing.assert_allclose(alone.windows.window_predictions, expected.window_predictions,
                             rtol=1e-5, atol=1e-6)


def test_the_command_writes_a_row_every_40_ms_flags_faceless_steps_and_an_annotated_video(
    corpus, media, tmp_path):
  _, workdir, video = corpus
  folder = tmp_path / 'videos'
  folder.mkdir()
  (folder / 'interview.mov').symlink_to(video)
  (folder / 'webcam.mp4').symlink_to(media / 'faces' / 'single_face.mp4')  # 30 fps, 44.1 kHz stereo
  result = run_main('--mode=predict', f'--workdir={workdir.root}', f'--input={folder}',
                    f'--output={tmp_path / "out"}', '--overlay')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'real-time factor' in result.stdout
  summary = json.loads((tmp_path / 'out' / predict.SUMMARY_FILE).read_text())
  assert summary['run']['step'] == 1 and not summary['failed']
  for name, seconds, frames in (('interview', 6.4, 169), ('webcam', 2.4, 72)):
    with open(tmp_path / 'out' / f'{name}.csv') as file:
      rows = list(csv.DictReader(file))
    assert list(rows[0]) == ['time_s', 'valence', 'arousal', 'face_found']
    assert len(rows) == round(seconds / 0.04) + 1 == summary['videos'][name]['steps']
    np.testing.assert_allclose([float(r['time_s']) for r in rows], np.arange(len(rows)) * 0.04,
                               atol=1e-9)
    assert all(np.isfinite(float(r['valence'])) and -5 < float(r['arousal']) < 5 for r in rows)
    found = np.array([r['face_found'] == '1' for r in rows])
    assert found[:20].all()  # the face is there from the start in both
    picture = cv2.imread(str(tmp_path / 'out' / f'{name}.png'))
    assert picture is not None and picture.shape[1] == 1000
    with av.open(str(tmp_path / 'out' / f'{name}_annotated.mp4')) as annotated:
      picture, voice = annotated.streams.video[0], annotated.streams.audio[0]
      assert picture.frames == frames  # every frame of the input, at its own time
      assert abs(float(picture.duration * picture.time_base) - seconds) < 0.1
      assert abs(float(voice.duration * voice.time_base) - seconds) < 0.1
  with open(tmp_path / 'out' / 'interview.csv') as file:
    interview = [row['face_found'] == '1' for row in csv.DictReader(file)]
  assert not any(interview[-40:])  # the speaker has left the picture by the end
  # The face is on screen for about 75 of the video's 169 frames (../shared/media/README.md).
  assert 0.3 < np.mean(interview) < 0.6
  assert summary['videos']['webcam']['face_found_fraction'] == 1.0
  assert summary['videos']['webcam']['frame_rate'] == 30.0


def test_a_run_trained_on_affwild2_predicts_every_frame_at_the_videos_own_rate(
    corpus, media, tmp_path):
  _, workdir, _ = corpus
  video = media / 'faces' / 'single_face.mp4'  # 30 fps, 72 frames, 44.1 kHz stereo MP3
  # Step k is decoded frame k, also where the container rounds timestamps to milliseconds
  # (MKV: 30 fps frame 2 at 67 ms, after 2/30 s).
  for source in (video, mux(tmp_path / 'webcam.mkv', video, None)):
    opened = media_lib.open_media(source, frame_steps=True, needs_audio=False)
    assert opened.steps == 72 and opened.grid == video_lib.frame_grid(fractions.Fraction(30))
    with av.open(str(source)) as container:
      times = []
      decoded = []
      for frame in container.decode(video=0):
        times.append(frame.time)
        decoded.append(frame.to_ndarray(format='bgr24'))
    grid = list(video_lib.frames_on_label_grid(source, opened.steps, grid=opened.grid))
    assert len(grid) == len(decoded) == 72
    for (step, frame), expected in zip(grid, decoded):
      np.testing.assert_array_equal(frame, expected, err_msg=f'{source.name}, step {step}')
    # The overlay puts each frame on its own step too.
    assert [opened.grid.step_at(fractions.Fraction(t).limit_denominator(1000)) for t in times
            ] == list(range(72))
  assert times[2] == 0.067  # the MKV's rounded timestamp
  # Step k's voice is frame k's span, cut as Aff-Wild2's builder cuts it.
  opened = media_lib.open_media(video, frame_steps=True)
  built = list(video_reader.audio_segments(layout.Video('webcam', 'test', None, tmp_path, video),
                                           72, 30.0))
  streamed = list(media_lib.step_audio(opened))
  assert [s.size for s in streamed] == [s.size for s in built]
  assert {s.size for s in streamed} == {533, 534} and sum(s.size for s in streamed) == 38_400
  np.testing.assert_array_equal(np.concatenate(streamed), np.concatenate(built))

  # The same model, saved as trained on Aff-Wild2: a row and an annotated frame per video frame.
  run = Workdir(tmp_path / 'affwild2_run')
  shutil.copytree(workdir.checkpoints, run.checkpoints)
  config = run_config.load(workdir.config)
  config.data.corpus = 'affwild2'
  run_config.save(config, run.config)
  result = run_main('--mode=predict', f'--workdir={run.root}', f'--input={video}',
                    f'--output={tmp_path / "out"}', '--overlay')
  assert result.returncode == 0, result.stderr[-3000:]
  with open(tmp_path / 'out' / 'single_face.csv') as file:
    rows = list(csv.DictReader(file))
  assert len(rows) == 72
  np.testing.assert_allclose([float(r['time_s']) for r in rows], np.arange(72) / 30, atol=5e-5)
  # The rows are the predictor's frame predictions on the frame-stepped video.
  result = predict.Predictor(config, run).predict(opened)
  np.testing.assert_allclose([[float(r['valence']), float(r['arousal'])] for r in rows],
                             result.frames, atol=1e-6)
  np.testing.assert_array_equal([r['face_found'] == '1' for r in rows], result.track.found)
  summary = json.loads((tmp_path / 'out' / predict.SUMMARY_FILE).read_text())
  assert summary['videos']['single_face']['steps_per_second'] == 30.0
  with av.open(str(tmp_path / 'out' / 'single_face_annotated.mp4')) as annotated:
    assert annotated.streams.video[0].frames == 72


def test_audio_of_any_container_and_rate_is_the_builders_audio(media, tmp_path):
  voice = speech(media, 3.0)
  stereo = np.stack([voice, (voice // 2)], axis=1)
  soundfile.write(tmp_path / 'stereo.wav', stereo, 16_000, subtype='PCM_16')
  fast = np.round(soxr.resample(stereo.astype(np.float32), 16_000, 44_100)).clip(
      -32768, 32767).astype(np.int16)
  soundfile.write(tmp_path / 'stereo44k.wav', fast, 44_100, subtype='PCM_16')
  mux(tmp_path / 'stereo44k.mkv', media / 'faces' / 'single_face.mp4', fast, audio_rate=44_100)
  builder = audio_lib.load_audio_16k(tmp_path / 'stereo44k.wav')
  for source in ('stereo44k.wav', 'stereo44k.mkv'):
    streamed = np.concatenate(list(media_audio.stream_audio_16k(tmp_path / source)))
    np.testing.assert_array_equal(streamed, builder)
  late = np.concatenate(list(media_audio.stream_audio_16k(tmp_path / 'stereo44k.wav', 0.25)))
  np.testing.assert_array_equal(late[:4000], 0)
  np.testing.assert_array_equal(late[4000:], builder)
  early = np.concatenate(list(media_audio.stream_audio_16k(tmp_path / 'stereo44k.wav', -0.1)))
  np.testing.assert_array_equal(early, builder[1600:])
  count = builder.size // 640 + 3  # past the end: silence, as the builder pads
  segments = np.stack(list(media_audio.cut(
      media_audio.stream_audio_16k(tmp_path / 'stereo44k.wav'), [640] * count)))
  np.testing.assert_array_equal(segments, audio_lib.audio_on_label_grid(builder, len(segments)))


def test_a_bad_video_is_one_line_naming_it_and_nothing_is_written(corpus, media, tmp_path):
  _, workdir, _ = corpus
  folder = tmp_path / 'videos'
  folder.mkdir()
  silent = mux(folder / 'silent.mp4', media / 'faces' / 'single_face.mp4', None)
  (folder / 'empty.mp4').write_bytes(b'')
  (folder / 'garbage.mp4').write_bytes(b'not a video at all' * 100)
  (folder / 'no_face.mp4').symlink_to(media / 'faces' / 'no_face.mp4')
  problems = {silent: 'has no audio track, and the model listens',
              folder / 'empty.mp4': 'empty file',
              folder / 'garbage.mp4': 'not a readable video',
              folder / 'no_face.mp4': 'no face found in any of its'}
  result = run_main('--mode=predict', f'--workdir={workdir.root}', f'--input={silent}',
                    f'--output={tmp_path / "one"}')
  assert result.returncode == 1 and 'Traceback' not in result.stderr, result.stderr[-2000:]
  assert result.stderr.strip().splitlines()[-1] == f'caav_jax: {silent}: {problems[silent]}: ' \
      'give the voice with --audio=FILE, or use a visual_only run'
  assert not (tmp_path / 'one').exists()
  # A folder: each bad video named on a line of its own, none of their files written.
  result = run_main('--mode=predict', f'--workdir={workdir.root}', f'--input={folder}',
                    f'--output={tmp_path / "out"}')
  assert result.returncode == 1 and 'Traceback' not in result.stderr, result.stderr[-2000:]
  lines = [line for line in result.stderr.splitlines() if line.startswith('caav_jax: ')]
  for video, problem in problems.items():
    assert any(line.startswith(f'caav_jax: {video}: ') and problem in line for line in lines), (
        video, lines)
  assert lines[-1].startswith(f'caav_jax: {folder}: 4 of 4 videos could not be predicted')
  assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == [predict.SUMMARY_FILE]
  summary = json.loads((tmp_path / 'out' / predict.SUMMARY_FILE).read_text())
  assert sorted(summary['failed']) == ['empty', 'garbage', 'no_face', 'silent']
  with pytest.raises(RecolaInputError, match='no such file or folder'):
    media_lib.find_videos(tmp_path / 'absent.mp4')


def test_faces_far_smaller_than_the_crop_are_refused(media, tmp_path):
  small = mux(tmp_path / 'small.mp4', media / 'faces' / 'single_face.mp4', None, scale=0.2)
  found = media_lib.open_media(small, needs_audio=False)
  options = recording_lib.ReadOptions(crop_size=224)
  track = media_lib.find_faces(found, options)
  assert track.found.mean() > 0.9
  with pytest.raises(RecolaInputError, match='faces are far smaller than the model'):
    media_lib.check_faces(found, track, options)
  media_lib.check_faces(found, track, recording_lib.ReadOptions(crop_size=32))


def test_a_workdir_without_a_run_is_one_line_listing_the_runs_inside(corpus, tmp_path):
  _, workdir, video = corpus
  for folder, expected in ((tmp_path / 'nothing', 'point --workdir at a training run'),
                           (workdir.root.parent, f'it holds runs: {workdir.root}')):
    result = run_main('--mode=predict', f'--workdir={folder}', f'--input={video}')
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f'caav_jax: --workdir {folder} holds no run') and expected in line
  assert not (tmp_path / 'nothing').exists()


def test_eval_needs_only_the_workdir_and_overrides_still_apply(corpus):
  _, workdir, _ = corpus
  result = run_main('--mode=eval', f'--workdir={workdir.root}', '--step=1',
                    '--config.eval.plots=False')
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'evaluating step 1 (step) of {workdir.root} on dev' in result.stdout
  output = workdir.evaluation(1)
  assert (output / 'metrics.json').is_file() and not (output / 'plots').exists()


def test_a_saved_config_reads_back_equal_with_absolute_paths(tmp_path, monkeypatch):
  from configs import synthetic  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(tmp_path)
  config = synthetic.get_config()
  run_config.save(config, tmp_path / 'config.json')
  loaded = run_config.load(tmp_path / 'config.json')
  assert loaded.data.raw_dir == str(tmp_path / 'runs' / 'synthetic_recola')
  loaded.data.raw_dir, loaded.data.data_dir = config.data.raw_dir, config.data.data_dir
  assert loaded.to_dict() == config.to_dict()
  assert isinstance(loaded.recipe.fusions, tuple)
  # A run saved before a setting existed gets the setting's default.
  older = json.loads((tmp_path / 'config.json').read_text())
  del older['predict']
  (tmp_path / 'config.json').write_text(json.dumps(older))
  assert run_config.load(tmp_path / 'config.json').predict.batch_size == 1
