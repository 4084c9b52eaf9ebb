"""Writes synthetic recordings in the AVEC 2016 RECOLA layout (video, WAV, ARFF, CSV)."""

import dataclasses
import fractions
import json
import os
import pathlib
import shutil
import tempfile
from typing import Iterable

import av
import cv2
import numpy as np
import soundfile
import tqdm

from data_pipelines.synthetic import emotion_trajectories as emotion_lib
from data_pipelines.synthetic import face_renderer
from data_pipelines.synthetic import voice_synth


SPLITS = ('train', 'dev', 'test')
LABELLED_SPLITS = ('train', 'dev')
DIMENSIONS = ('arousal', 'valence')
RATER_NAMES = ('FM1 ', 'FM2 ', 'FM3 ', 'FF1 ', 'FF2 ', 'FF3 ')
VIDEO_DIR = 'recordings_video'
AUDIO_DIR = 'recordings_audio'
GOLD_STANDARD_DIR = 'ratings_gold_standard'
INDIVIDUAL_RATINGS_DIR = 'ratings_individual'
MANIFEST_NAME = 'synthetic_corpus.json'
_GENERATOR = 'data_pipelines.synthetic_recola'
_FORMAT_VERSION = 1
_CRLF = '\r\n'
_VIDEO_CRF = 20


@dataclasses.dataclass(frozen=True)
class CorpusOptions:
  """What a synthetic corpus is made of; equal options give identical files.

  Attributes:
    recordings_per_split: Recordings in each of train, dev and test.
    duration_s: Length of each recording; duration_s · 25 must be whole.
    frame_width: Video width in pixels (even).
    frame_height: Video height in pixels (even).
    fps: Video frame rate.
    sample_rate: Audio sample rate in Hz.
    seed: Seed of every random draw.
  """

  recordings_per_split: int = 3
  duration_s: float = 120.0
  frame_width: int = 320
  frame_height: int = 240
  fps: float = 25.0
  sample_rate: int = 44100
  seed: int = 0

  def validate(self) -> None:
    """Raises ValueError if the options cannot make a valid corpus."""
    steps = self.duration_s * emotion_lib.LABEL_RATE_HZ
    if self.recordings_per_split < 1:
      raise ValueError('recordings_per_split must be at least 1.')
    if self.duration_s <= 0 or abs(steps - round(steps)) > 1e-6:
      raise ValueError(f'duration_s must be a positive multiple of 0.04 s, '
                       f'got {self.duration_s}.')
    if self.frame_width % 2 or self.frame_height % 2:
      raise ValueError('frame_width and frame_height must be even (yuv420p).')
    if self.frame_height < 64 or self.frame_width < self.frame_height * 0.7:
      raise ValueError('frames must be at least 64 pixels high and at least '
                       '0.7 times as wide as high, for the face to fit.')
    if self.fps <= 0 or self.sample_rate < 8000:
      raise ValueError('fps must be positive and sample_rate >= 8000.')


@dataclasses.dataclass(frozen=True)
class RecordingTruth:
  """What was generated for one recording, beyond what its files say.

  Attributes:
    name: Recording name, e.g. 'train_1'.
    emotion: The true emotion.
    gold_standard: Dimension name -> (num_steps,) gold standard (mean rating).
    ratings_hundredths: Dimension name -> (num_steps, 6) int ratings · 100.
    face: The per-frame face parameters.
    voice: The audio and its silent intervals.
  """

  name: str
  emotion: emotion_lib.RecordingEmotion
  gold_standard: dict[str, np.ndarray]
  ratings_hundredths: dict[str, np.ndarray]
  face: face_renderer.FaceTrack
  voice: voice_synth.VoiceTrack


def recording_names(recordings_per_split: int) -> list[str]:
  """Names of all recordings: train_1 … train_n, dev_1 …, test_1 …."""
  return [f'{split}_{index}' for split in SPLITS
          for index in range(1, recordings_per_split + 1)]


def expected_files(recordings_per_split: int) -> list[pathlib.PurePosixPath]:
  """Every file a complete corpus holds, relative to its root."""
  files = []
  for name in recording_names(recordings_per_split):
    files.append(pathlib.PurePosixPath(VIDEO_DIR, f'{name}.mp4'))
    files.append(pathlib.PurePosixPath(AUDIO_DIR, f'{name}.wav'))
    if name.rsplit('_', 1)[0] in LABELLED_SPLITS:
      for dimension in DIMENSIONS:
        files.append(pathlib.PurePosixPath(GOLD_STANDARD_DIR, dimension,
                                           f'{name}.arff'))
        files.append(pathlib.PurePosixPath(INDIVIDUAL_RATINGS_DIR, dimension,
                                           f'{name}.csv'))
  return files


def format_label_time(step: int) -> str:
  """Formats step · 0.04 s as the real files do: '0', '0.04', '0.1', '300'."""
  hundredths = 4 * int(step)
  whole, fraction = divmod(hundredths, 100)
  if fraction == 0:
    return str(whole)
  return f'{whole}.{fraction:02d}'.rstrip('0')


def _format_gold_value(value: float) -> str:
  return format(float(value) + 0.0, '.7g')


def write_gold_standard_arff(path: pathlib.Path, name: str, dimension: str,
                             values: np.ndarray) -> None:
  """Writes one gold-standard ARFF file (CRLF line endings, 9-line header).

  Args:
    path: Output file.
    name: Recording name written in every row.
    dimension: 'arousal' or 'valence' (names the relation).
    values: (num_steps,) gold standard on the 40 ms grid.
  """
  lines = [
      f'@relation GOLDSTANDARD_{dimension.upper()}', '',
      '@attribute Instance_name string', '@attribute frameTime numeric',
      '@attribute GoldStandard numeric', '', '', '@data', ''
  ]
  lines += [f'{name},{format_label_time(step)},{_format_gold_value(value)}'
            for step, value in enumerate(values)]
  path.write_bytes((_CRLF.join(lines) + _CRLF).encode('ascii'))


def write_individual_ratings_csv(path: pathlib.Path,
                                 ratings_hundredths: np.ndarray) -> None:
  """Writes one individual-ratings CSV (';'-separated, CRLF line endings).

  Args:
    path: Output file.
    ratings_hundredths: (num_steps, 6) int ratings · 100.
  """
  lines = ['time;' + ';'.join(RATER_NAMES)]
  for step, row in enumerate(np.asarray(ratings_hundredths)):
    values = ';'.join(f'{int(value) / 100:.2f}' for value in row)
    lines.append(f'{format_label_time(step)};{values}')
  path.write_bytes((_CRLF.join(lines) + _CRLF).encode('ascii'))


def write_wav(path: pathlib.Path, waveform: np.ndarray,
              sample_rate: int) -> None:
  """Writes mono 16-bit PCM WAV from float samples in [-1, 1]."""
  soundfile.write(str(path), np.asarray(waveform, np.float32), sample_rate,
                  subtype='PCM_16', format='WAV')


def write_video(path: pathlib.Path, frames: Iterable[np.ndarray], width: int,
                height: int, fps: float, crf: int = _VIDEO_CRF) -> int:
  """Encodes BGR uint8 frames as constant-rate H.264 (yuv420p) in MP4.

  Encoding is single-threaded, the frames reach x264 already in yuv420p
  (converted by OpenCV), and x264's macroblock tree and rate-control
  lookahead are off, so that the same frames give the same bytes (with them
  on, the first group of pictures differed between encodings of the same
  frames; docs/synthetic_corpus.md).

  Args:
    path: Output file.
    frames: (height, width, 3) BGR uint8 images, in order.
    width: Frame width (even).
    height: Frame height (even).
    fps: Frames per second.
    crf: x264 constant rate factor (lower is closer to lossless).

  Returns:
    The number of frames written.
  """
  rate = fractions.Fraction(fps).limit_denominator(1001)
  count = 0
  with av.open(str(path), mode='w', format='mp4') as container:
    stream = container.add_stream('libx264', rate=rate)
    stream.width = width
    stream.height = height
    stream.pix_fmt = 'yuv420p'
    stream.time_base = 1 / rate
    stream.codec_context.thread_count = 1
    stream.options = {'crf': str(crf), 'preset': 'veryfast', 'threads': '1',
                      'x264-params': 'mbtree=0:rc-lookahead=0'}
    for image in frames:
      frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420),
                                         format='yuv420p')
      frame.pts = count
      frame.time_base = 1 / rate
      container.mux(stream.encode(frame))
      count += 1
    container.mux(stream.encode(None))
  return count


def video_frame_times(duration_s: float, fps: float) -> np.ndarray:
  """Presentation times j / fps of the round(duration_s · fps) video frames."""
  return np.arange(int(round(duration_s * fps))) / fps


def recording_rngs(seed: int, name: str,
                   count: int) -> list[np.random.Generator]:
  """Independent random generators for one recording, from seed and name."""
  split, index = name.rsplit('_', 1)
  sequence = np.random.SeedSequence([seed, SPLITS.index(split), int(index)])
  return [np.random.default_rng(child) for child in sequence.spawn(count)]


def ensure_layout(root: pathlib.Path) -> None:
  """Creates the corpus's directories under `root`."""
  for directory in (VIDEO_DIR, AUDIO_DIR):
    (root / directory).mkdir(parents=True, exist_ok=True)
  for directory in (GOLD_STANDARD_DIR, INDIVIDUAL_RATINGS_DIR):
    for dimension in DIMENSIONS:
      (root / directory / dimension).mkdir(parents=True, exist_ok=True)


def write_labels(root: pathlib.Path, name: str,
                 gold_standard: dict[str, np.ndarray],
                 ratings_hundredths: dict[str, np.ndarray]) -> None:
  """Writes a recording's gold-standard ARFFs and individual-ratings CSVs."""
  for dimension in DIMENSIONS:
    write_gold_standard_arff(
        root / GOLD_STANDARD_DIR / dimension / f'{name}.arff', name, dimension,
        gold_standard[dimension])
    write_individual_ratings_csv(
        root / INDIVIDUAL_RATINGS_DIR / dimension / f'{name}.csv',
        ratings_hundredths[dimension])


def write_recording(root: pathlib.Path, name: str,
                    options: CorpusOptions) -> RecordingTruth:
  """Generates one recording and writes its files under `root`.

  Test recordings get no label files, as in the real release.

  Args:
    root: Corpus root; its directories must exist (see `ensure_layout`).
    name: Recording name, '<split>_<index>'.
    options: Corpus options.

  Returns:
    What was generated.
  """
  emotion_rng, rating_rng, face_rng, voice_rng = recording_rngs(
      options.seed, name, 4)
  emotion = emotion_lib.random_recording_emotion(emotion_rng)
  times = emotion_lib.label_times(options.duration_s)
  ratings = {
      'arousal': emotion_lib.simulate_ratings(emotion.arousal(times),
                                              rating_rng),
      'valence': emotion_lib.simulate_ratings(emotion.valence(times),
                                              rating_rng),
  }
  gold = {dimension: emotion_lib.gold_standard(values)
          for dimension, values in ratings.items()}

  voice = voice_synth.synthesize_voice(emotion, options.duration_s,
                                       options.sample_rate, voice_rng)
  write_wav(root / AUDIO_DIR / f'{name}.wav', voice.waveform,
            options.sample_rate)

  frame_times = video_frame_times(options.duration_s, options.fps)
  face = face_renderer.random_face_track(
      emotion, frame_times, options.duration_s, options.frame_width,
      options.frame_height, voice.silent_intervals, face_rng)
  renderer = face_renderer.FaceRenderer(options.frame_width,
                                        options.frame_height)
  write_video(root / VIDEO_DIR / f'{name}.mp4',
              (renderer.render(frame) for frame in face.frames),
              options.frame_width, options.frame_height, options.fps)

  if name.rsplit('_', 1)[0] in LABELLED_SPLITS:
    write_labels(root, name, gold, ratings)
  return RecordingTruth(name, emotion, gold, ratings, face, voice)


def write_corpus(root: pathlib.Path, options: CorpusOptions,
                 show_progress: bool = False) -> None:
  """Writes every recording of a corpus under `root`.

  Args:
    root: Corpus root (created if missing).
    options: Corpus options.
    show_progress: Whether to show a progress bar over recordings.
  """
  options.validate()
  root = pathlib.Path(root)
  ensure_layout(root)
  names = recording_names(options.recordings_per_split)
  for name in tqdm.tqdm(names, desc='synthetic RECOLA', unit='recording',
                        disable=not show_progress):
    write_recording(root, name, options)


class CorpusDirectoryError(Exception):
  """The output directory holds something that must not be overwritten."""


def corpus_manifest(options: CorpusOptions) -> dict:
  """The manifest that marks a complete corpus written with `options`."""
  manifest = {
      'generator': _GENERATOR,
      'format_version': _FORMAT_VERSION,
      'options': dataclasses.asdict(options),
  }
  return json.loads(json.dumps(manifest))


def _holds_this_corpus(output_dir: pathlib.Path,
                       options: CorpusOptions) -> bool:
  """Returns True if `output_dir` holds a complete corpus made with `options`.

  Raises:
    CorpusDirectoryError: If `output_dir` holds anything else.
  """
  if not output_dir.exists():
    return False
  if not output_dir.is_dir():
    raise CorpusDirectoryError(f'{output_dir} exists and is not a directory.')
  try:
    manifest = json.loads((output_dir / MANIFEST_NAME).read_text())
  except (OSError, ValueError):
    if any(output_dir.iterdir()):
      raise CorpusDirectoryError(
          f'{output_dir} is not empty and holds no synthetic corpus; refusing '
          'to overwrite it: pick another output directory.') from None
    return False
  if manifest != corpus_manifest(options):
    raise CorpusDirectoryError(
        f'{output_dir} holds a synthetic corpus written with other options '
        f'({manifest.get("options")}); pick another output directory or '
        'delete it.')
  missing = [str(path) for path in expected_files(options.recordings_per_split)
             if not (output_dir / path).is_file()]
  if missing:
    raise CorpusDirectoryError(
        f'{output_dir} holds an incomplete synthetic corpus ({len(missing)} '
        f'files missing, e.g. {missing[0]}); delete it and run again.')
  return True


def write_corpus_once(output_dir: str | os.PathLike, options: CorpusOptions,
                      show_progress: bool = False) -> bool:
  """Writes a synthetic corpus to `output_dir` unless it is already there.

  The corpus is written into a temporary sibling directory, the manifest
  (`synthetic_corpus.json`, recording the options) last, and the directory is
  then renamed into place: an interrupted run leaves nothing that looks
  complete.

  Args:
    output_dir: Where the corpus goes. Must be missing, empty, or hold a
      complete corpus written with the same options.
    options: Corpus options.
    show_progress: Whether to show a progress bar over recordings.

  Returns:
    True if the corpus was written, False if it was already there.

  Raises:
    CorpusDirectoryError: If `output_dir` holds anything else.
    ValueError: If the options are invalid.
  """
  options.validate()
  output_dir = pathlib.Path(output_dir)
  if _holds_this_corpus(output_dir, options):
    return False
  output_dir.parent.mkdir(parents=True, exist_ok=True)
  partial_dir = pathlib.Path(tempfile.mkdtemp(
      prefix=f'.{output_dir.name}.partial-', dir=output_dir.parent))
  try:
    partial_dir.chmod(0o755)
    write_corpus(partial_dir, options, show_progress)
    (partial_dir / MANIFEST_NAME).write_text(
        json.dumps(corpus_manifest(options), indent=2, sort_keys=True) + '\n')
    if output_dir.exists():
      output_dir.rmdir()
    partial_dir.rename(output_dir)
  except BaseException:
    shutil.rmtree(partial_dir, ignore_errors=True)
    raise
  return True
