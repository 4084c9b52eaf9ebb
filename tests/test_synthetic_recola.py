"""Tests of the synthetic RECOLA corpus generator, on the values it writes."""

import dataclasses
import os
import pathlib
import re
import subprocess
import sys
import time

import av
import cv2
import numpy as np
import pytest
import soundfile

from data_pipelines.synthetic import alignment_probe
from data_pipelines.synthetic import corpus_writer
from data_pipelines.synthetic import emotion_trajectories as emotion_lib
from data_pipelines.synthetic import face_renderer

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SMALL = corpus_writer.CorpusOptions(recordings_per_split=1, duration_s=4.0,
                                    frame_width=160, frame_height=120,
                                    sample_rate=22050, seed=3)
ARFF_HEADER = (b'@relation GOLDSTANDARD_AROUSAL\r\n\r\n'
               b'@attribute Instance_name string\r\n'
               b'@attribute frameTime numeric\r\n'
               b'@attribute GoldStandard numeric\r\n\r\n\r\n@data\r\n\r\n')
CSV_HEADER = 'time;FM1 ;FM2 ;FM3 ;FF1 ;FF2 ;FF3 '


def _cascade():
  return cv2.CascadeClassifier(cv2.data.haarcascades +
                               'haarcascade_frontalface_default.xml')


def _detections(cascade, bgr: np.ndarray) -> np.ndarray:
  gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
  return np.reshape(cascade.detectMultiScale(gray, scaleFactor=1.1,
                                             minNeighbors=5), (-1, 4))


def _any_centred_on(detections: np.ndarray,
                    face: face_renderer.FaceFrame) -> bool:
  """Whether a detection is centred inside the face's true bounding box."""
  x0, y0, x1, y1 = face_renderer.face_box(face)
  return any(x0 < x + w / 2 < x1 and y0 < y + h / 2 < y1
             for x, y, w, h in detections)


def _decode(path: pathlib.Path) -> list[np.ndarray]:
  with av.open(str(path)) as container:
    return [frame.to_ndarray(format='bgr24')
            for frame in container.decode(video=0)]


def _read_arff_values(path: pathlib.Path) -> tuple[list[str], np.ndarray]:
  rows = path.read_text().split('@data')[1].split()
  times = [row.split(',')[1] for row in rows]
  return times, np.array([float(row.split(',')[2]) for row in rows])


def _read_csv(path: pathlib.Path) -> tuple[str, np.ndarray]:
  lines = path.read_text().splitlines()
  values = np.array([[float(v) for v in line.split(';')[1:]]
                     for line in lines[1:]])
  return lines[0], values


def _lagged_correlation(cue: np.ndarray, frames: np.ndarray,
                        labels: np.ndarray, lag: int) -> float:
  keep = frames + lag < labels.size
  return float(np.corrcoef(cue[keep], labels[frames[keep] + lag])[0, 1])


@pytest.fixture(scope='module')
def small_corpus(tmp_path_factory) -> pathlib.Path:
  root = tmp_path_factory.mktemp('small') / 'corpus'
  assert corpus_writer.write_corpus_once(root, SMALL)
  return root


@pytest.fixture(scope='module')
def cue_recording(tmp_path_factory):
  root = tmp_path_factory.mktemp('cues')
  corpus_writer.ensure_layout(root)
  options = corpus_writer.CorpusOptions(duration_s=16.0, seed=1)
  truth = corpus_writer.write_recording(root, 'train_1', options)
  return root, truth


def test_layout_and_file_names(small_corpus):
  written = {path.relative_to(small_corpus).as_posix()
             for path in small_corpus.rglob('*') if path.is_file()}
  expected = {p.as_posix() for p in corpus_writer.expected_files(1)}
  assert written == expected | {corpus_writer.MANIFEST_NAME}
  assert 'recordings_video/test_1.mp4' in written
  assert 'recordings_audio/test_1.wav' in written
  assert not any('test_' in name for name in written if 'ratings' in name)
  assert not list(small_corpus.parent.glob('.corpus.partial-*'))


def test_label_time_formatting():
  formatted = [corpus_writer.format_label_time(k)
               for k in (0, 1, 2, 5, 25, 26, 7499, 7500)]
  assert formatted == ['0', '0.04', '0.08', '0.2', '1', '1.04', '299.96',
                       '300']


def test_arff_bytes_header_and_rows(small_corpus):
  data = (small_corpus / 'ratings_gold_standard/arousal/train_1.arff'
         ).read_bytes()
  assert data.startswith(ARFF_HEADER)
  assert data.count(b'\n') == data.count(b'\r\n')
  rows = data[len(ARFF_HEADER):].decode().split('\r\n')[:-1]
  assert len(rows) == 101
  assert all(re.fullmatch(r'train_1,\d+(\.\d+)?,-?\d+(\.\d+)?', row)
             for row in rows)
  assert [row.split(',')[1] for row in rows[:3]] == ['0', '0.04', '0.08']
  assert rows[-1].split(',')[1] == '4'
  valence = (small_corpus / 'ratings_gold_standard/valence/dev_1.arff'
            ).read_bytes()
  assert valence.startswith(b'@relation GOLDSTANDARD_VALENCE\r\n')
  assert valence.split(b'@data\r\n\r\n')[1].startswith(b'dev_1,0,')


def test_individual_ratings_average_to_gold(small_corpus):
  for dimension in corpus_writer.DIMENSIONS:
    for name in ('train_1', 'dev_1'):
      csv_path = small_corpus / 'ratings_individual' / dimension / f'{name}.csv'
      raw = csv_path.read_bytes()
      assert raw.count(b'\n') == raw.count(b'\r\n')
      header, ratings = _read_csv(csv_path)
      assert header == CSV_HEADER
      lines = raw.decode().split('\r\n')[1:-1]
      assert all(re.fullmatch(r'[\d.]+(;-?\d\.\d\d){6}', line)
                 for line in lines)
      assert [line.split(';')[0] for line in lines[:3]] == ['0', '0.04', '0.08']
      times, gold = _read_arff_values(
          small_corpus / 'ratings_gold_standard' / dimension / f'{name}.arff')
      assert times == [line.split(';')[0] for line in lines]
      assert ratings.shape == (101, 6)
      assert np.all(np.abs(ratings) <= 1.0)
      np.testing.assert_allclose(ratings.mean(axis=1), gold, atol=1e-6)
      assert ratings.std(axis=1).mean() > 0.01


def test_wav_rate_and_exact_duration(small_corpus):
  for name in ('train_1', 'test_1'):
    info = soundfile.info(str(small_corpus / 'recordings_audio' / f'{name}.wav'))
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1,
                                                              'PCM_16')
    assert info.frames == 4 * 22050


def test_video_is_h264_at_25_fps_with_right_frame_count(small_corpus):
  with av.open(str(small_corpus / 'recordings_video/dev_1.mp4')) as container:
    stream = container.streams.video[0]
    assert stream.codec_context.name == 'h264'
    assert stream.average_rate == 25
    assert (stream.width, stream.height) == (160, 120)
    assert stream.codec_context.pix_fmt == 'yuv420p'
    times = [frame.time for frame in container.decode(video=0)]
  assert len(times) == 100
  np.testing.assert_allclose(times, np.arange(100) / 25.0, atol=1e-6)


def test_video_at_30_fps_has_frames_at_j_over_30(tmp_path):
  corpus_writer.ensure_layout(tmp_path)
  options = dataclasses.replace(SMALL, duration_s=2.0, fps=30.0)
  truth = corpus_writer.write_recording(tmp_path, 'dev_1', options)
  with av.open(str(tmp_path / 'recordings_video/dev_1.mp4')) as container:
    assert container.streams.video[0].average_rate == 30
    times = [frame.time for frame in container.decode(video=0)]
  assert len(times) == len(truth.face.frames) == 60
  np.testing.assert_allclose(times, np.arange(60) / 30.0, atol=1e-6)
  assert truth.gold_standard['valence'].shape == (51,)


def test_same_seed_gives_identical_files(small_corpus, tmp_path):
  again = tmp_path / 'again'
  corpus_writer.write_corpus_once(again, SMALL)
  for path in corpus_writer.expected_files(1):
    assert (again / path).read_bytes() == (small_corpus / path).read_bytes(), (
        path)


def test_the_same_frames_encode_to_the_same_bytes_every_time(cue_recording, tmp_path):
  # 300 frames: with x264's rate-control lookahead on, the first 250 came out different.
  _, truth = cue_recording
  options = corpus_writer.CorpusOptions()
  renderer = face_renderer.FaceRenderer(options.frame_width, options.frame_height)
  frames = [renderer.render(frame) for frame in truth.face.frames[:300]]
  assert len(frames) == 300
  encodings = []
  for attempt in range(3):
    path = tmp_path / f'{attempt}.mp4'
    corpus_writer.write_video(path, frames, options.frame_width, options.frame_height,
                              options.fps)
    encodings.append(path.read_bytes())
  assert encodings[0] == encodings[1] == encodings[2]


def test_different_seeds_differ(small_corpus, tmp_path):
  other = dataclasses.replace(SMALL, seed=SMALL.seed + 1)
  corpus_writer.write_corpus_once(tmp_path / 'other', other)
  for path in ('recordings_audio/train_1.wav',
               'ratings_gold_standard/valence/train_1.arff'):
    assert ((tmp_path / 'other' / path).read_bytes() !=
            (small_corpus / path).read_bytes())
  _, first = _read_arff_values(
      small_corpus / 'ratings_gold_standard/arousal/train_1.arff')
  _, second = _read_arff_values(
      small_corpus / 'ratings_gold_standard/arousal/dev_1.arff')
  assert np.abs(first - second).mean() > 0.05


def _run_cli(output_dir: pathlib.Path, *extra: str):
  env = {**os.environ, 'PYTHONPATH': str(REPO_ROOT)}
  return subprocess.run(
      [sys.executable, '-m', 'data_pipelines.synthetic_recola',
       f'--output_dir={output_dir}', '--recordings_per_split=1',
       '--duration_s=2', '--frame_width=160', '--frame_height=120', *extra],
      capture_output=True, text=True, cwd=REPO_ROOT, env=env, check=False)


def test_cli_is_idempotent_and_refuses_other_directories(tmp_path):
  output_dir = tmp_path / 'corpus'
  first = _run_cli(output_dir)
  assert first.returncode == 0, first.stderr
  assert 'Wrote synthetic RECOLA corpus' in first.stdout
  stamps = {p: p.stat().st_mtime_ns for p in output_dir.rglob('*')}

  start = time.monotonic()
  second = _run_cli(output_dir)
  assert second.returncode == 0, second.stderr
  assert time.monotonic() - start < 10.0
  assert 'already complete' in second.stdout
  assert {p: p.stat().st_mtime_ns for p in output_dir.rglob('*')} == stamps

  other_options = _run_cli(output_dir, '--seed=5')
  assert other_options.returncode != 0
  assert 'other options' in other_options.stderr
  assert {p: p.stat().st_mtime_ns for p in output_dir.rglob('*')} == stamps

  foreign = tmp_path / 'foreign'
  foreign.mkdir()
  (foreign / 'notes.txt').write_text('mine')
  refused = _run_cli(foreign)
  assert refused.returncode != 0
  assert 'refusing to overwrite' in refused.stderr
  assert len(refused.stderr.strip().splitlines()) == 1
  assert [p.name for p in foreign.iterdir()] == ['notes.txt']


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path,
                                                            monkeypatch):
  def write_then_fail(root, options, show_progress):
    del options, show_progress
    (pathlib.Path(root) / 'recordings_video').mkdir()
    raise KeyboardInterrupt

  monkeypatch.setattr(corpus_writer, 'write_corpus', write_then_fail)
  with pytest.raises(KeyboardInterrupt):
    corpus_writer.write_corpus_once(tmp_path / 'corpus', SMALL)
  assert list(tmp_path.iterdir()) == []


def test_invalid_duration_is_rejected(tmp_path):
  options = corpus_writer.CorpusOptions(duration_s=2.01)
  with pytest.raises(ValueError, match='multiple of 0.04'):
    corpus_writer.write_corpus_once(tmp_path / 'corpus', options)


def test_trajectories_are_smooth_and_use_the_range():
  times = np.arange(0.0, 300.0, emotion_lib.LABEL_STEP_S)
  spreads = []
  for seed in range(12):
    emotion = emotion_lib.random_recording_emotion(np.random.default_rng(seed))
    for trajectory in (emotion.valence, emotion.arousal):
      values = trajectory(times)
      assert np.all(np.abs(values) < 1.0)
      assert np.abs(np.diff(values)).max() < 0.05
      spreads.append(values.std())
  assert 0.35 <= np.median(spreads) <= 0.5
  emotion = emotion_lib.random_recording_emotion(np.random.default_rng(0))
  np.testing.assert_allclose(emotion.expressed_valence(times[:10]),
                             emotion.valence(times[58:68]), atol=1e-12)
  np.testing.assert_allclose(emotion.expressed_arousal(times[:10]),
                             emotion.arousal(times[68:78]), atol=1e-12)


def test_random_intervals_cover_the_requested_fraction():
  rng = np.random.default_rng(0)
  intervals = emotion_lib.random_intervals(rng, 60.0, 0.15)
  assert np.sum(intervals[:, 1] - intervals[:, 0]) == pytest.approx(9.0)
  assert intervals[0, 0] >= 0.0 and intervals[-1, 1] <= 60.0
  assert np.all(intervals[1:, 0] >= intervals[:-1, 1])


def test_haar_finds_visible_faces_only(cue_recording):
  root, truth = cue_recording
  frames = _decode(root / 'recordings_video/train_1.mp4')
  assert len(frames) == len(truth.face.frames) == 400
  cascade = _cascade()
  detections = [_detections(cascade, image) for image in frames]
  found = np.array([_any_centred_on(found_boxes, face) for found_boxes, face
                    in zip(detections, truth.face.frames)])
  anything = np.array([len(found_boxes) > 0 for found_boxes in detections])
  visible = np.array([f.view == face_renderer.FaceView.VISIBLE
                      for f in truth.face.frames])
  assert 0.05 < 1.0 - visible.mean() < 0.2
  assert found[visible].mean() >= 0.97
  assert anything[~visible].mean() <= 0.02


def _expressive_frames(truth, talking: bool = False) -> np.ndarray:
  """Visible frames, not in a poker face, with the participant silent (or talking)."""
  times = np.arange(len(truth.face.frames)) / 25.0
  poker = emotion_lib.in_intervals(times, truth.face.poker_face_intervals)
  silent = emotion_lib.in_intervals(times, truth.voice.silent_intervals)
  visible = np.array([f.view == face_renderer.FaceView.VISIBLE
                      for f in truth.face.frames])
  return np.flatnonzero(visible & ~poker & (silent != talking))


def test_smile_follows_valence_label_one_delay_later(cue_recording):
  _, truth = cue_recording
  frames = _expressive_frames(truth)
  smile = np.array([truth.face.frames[j].smile for j in frames])
  gold = truth.gold_standard['valence']
  by_lag = [_lagged_correlation(smile, frames, gold, lag) for lag in range(100)]
  assert by_lag[emotion_lib.VALENCE_DELAY_FRAMES] > 0.9
  # The participant listens in a few turns only, so the peak is broad: within 0.32 s.
  assert abs(int(np.argmax(by_lag)) - emotion_lib.VALENCE_DELAY_FRAMES) <= 8
  assert by_lag[emotion_lib.VALENCE_DELAY_FRAMES] > by_lag[0] + 0.2


def test_talking_mouth_hides_most_of_the_smile(cue_recording):
  _, truth = cue_recording
  frames = _expressive_frames(truth, talking=True)
  smile = np.array([truth.face.frames[j].smile for j in frames])
  expressed = truth.emotion.expressed_valence(frames / 25.0)
  slope, intercept = np.polyfit(expressed, smile, 1)
  assert frames.size > 100
  assert slope == pytest.approx(0.2, abs=0.1)
  assert np.std(smile - slope * expressed - intercept) > 0.3
  assert abs(_lagged_correlation(smile, frames, truth.gold_standard['valence'],
                                 emotion_lib.VALENCE_DELAY_FRAMES)) < 0.6


def test_rendered_mouth_curvature_tracks_valence(cue_recording):
  root, truth = cue_recording
  images = _decode(root / 'recordings_video/train_1.mp4')
  frames = _expressive_frames(truth)
  curvature = []
  for j in frames:
    face = truth.face.frames[j]
    cx, cy, s = face.center_x, face.center_y, face.scale
    top, bottom = int(cy + 0.2 * s), int(cy + 0.65 * s)
    columns = np.arange(int(cx - 0.3 * s), int(cx + 0.3 * s) + 1)
    gray = cv2.cvtColor(images[j], cv2.COLOR_BGR2GRAY)[top:bottom, columns]
    darkness = np.clip(gray.max(axis=0) - gray.astype(float) - 10.0, 0, None)
    rows = np.arange(top, bottom)[:, None]
    centroid = (darkness * rows).sum(0) / (darkness.sum(0) + 1e-9)
    offset = np.abs(columns - cx)
    curvature.append((centroid[offset < 0.08 * s].mean() -
                      centroid[(offset > 0.16 * s) & (offset < 0.24 * s)].mean())
                     / s)
  assert _lagged_correlation(np.array(curvature), frames,
                             truth.gold_standard['valence'],
                             emotion_lib.VALENCE_DELAY_FRAMES) > 0.8


def test_voice_loudness_and_pitch_track_arousal_one_delay_later(cue_recording):
  root, truth = cue_recording
  waveform, rate = soundfile.read(str(root / 'recordings_audio/train_1.wav'))
  hop = int(0.04 * rate)
  steps = waveform[:waveform.size // hop * hop].reshape(-1, hop)
  times = np.arange(len(steps)) * 0.04
  deep_silence = emotion_lib.in_intervals(
      times, truth.voice.silent_intervals + np.array([0.1, -0.1]))
  speaking = ~emotion_lib.in_intervals(
      times, truth.voice.silent_intervals + np.array([-0.5, 0.5]))
  power = (steps ** 2).mean(axis=1)
  assert deep_silence.sum() > 25
  assert 10 * np.log10(power[deep_silence].max()) < -45.0
  assert np.percentile(power[speaking], 90) > 1000 * power[deep_silence].max()
  window = np.ones(25) / 25
  loudness_db = 10 * np.log10(np.convolve(power, window, mode='same'))
  spectrum = np.abs(np.fft.rfft(steps, 2 * hop, axis=1)) ** 2
  autocorrelation = np.fft.irfft(spectrum, axis=1)
  shortest, longest = int(rate / 250), int(rate / 60)
  period = shortest + np.argmax(autocorrelation[:, shortest:longest], axis=1)
  voiced = speaking & (power > 10 ** (-4.0))
  gold = truth.gold_standard['arousal']
  delay = emotion_lib.AROUSAL_DELAY_FRAMES
  index = np.arange(len(steps))
  assert _lagged_correlation(loudness_db[speaking], index[speaking], gold,
                             delay) > 0.8
  assert _lagged_correlation(np.log2(rate / period[voiced]), index[voiced],
                             gold, delay) > 0.7


@pytest.mark.parametrize('fps', [25.0, 30.0])
def test_alignment_probe_markers_survive_encoding(tmp_path, fps):
  truth = alignment_probe.write_alignment_probe(tmp_path, fps=fps,
                                                sample_rate=16000, seed=2)
  images = _decode(tmp_path / 'recordings_video/train_1.mp4')
  assert len(images) == len(truth['frame_gains']) == round(4.0 * fps)
  cascade = _cascade()
  assert all(len(_detections(cascade, image)) == 1 for image in images[::10])
  brightness = np.array([image[80:160, 120:200].mean() for image in images])
  ratio = brightness / truth['frame_gains']
  assert ratio.std() / ratio.mean() < 0.02

  waveform, rate = soundfile.read(str(tmp_path / 'recordings_audio/train_1.wav'))
  assert rate == 16000 and waveform.size == 4 * 16000
  steps = waveform.reshape(100, 640)
  np.testing.assert_allclose(np.sqrt(2 * (steps ** 2).mean(axis=1)),
                             truth['step_amplitudes'], atol=0.01)

  _, arousal = _read_arff_values(
      tmp_path / 'ratings_gold_standard/arousal/train_1.arff')
  _, valence = _read_arff_values(
      tmp_path / 'ratings_gold_standard/valence/train_1.arff')
  np.testing.assert_allclose(arousal, truth['labels'], atol=1e-9)
  np.testing.assert_allclose(valence, -truth['labels'], atol=1e-9)
  _, ratings = _read_csv(tmp_path / 'ratings_individual/arousal/train_1.csv')
  np.testing.assert_allclose(ratings.mean(axis=1), truth['labels'], atol=1e-9)
