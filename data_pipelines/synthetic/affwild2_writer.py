"""Writes a synthetic corpus in Aff-Wild2's valence-arousal layout from the synthetic parts.

  annotations/VA_Estimation_Challenge/{Train_Set,Validation_Set}/NAME.txt
  Valence_Arousal_Estimation_Challenge_test_set_release.txt
  cropped_aligned/NAME/00001.jpg, ...   (no file where the face is turned away or hidden)
  videos/NAME.mp4 or NAME.avi           (raw videos with their voice)

Each subject's emotion, face and voice come from the synthetic RECOLA
generator (data_pipelines/synthetic/); frames are rendered at the video's own
rate (25 or 30 fps). An annotation line holds the emotion the face and voice
express at that frame (Aff-Wild2's labels are taken as synchronous with the
video), rounded to 3 decimals; stretches of `-5,-5` mark unannotated
frames. One video shows two people side by side (NAME_left, NAME_right),
each with a voice of their own, mixed in its one audio track.
"""

import dataclasses
import fractions
import json
import pathlib
import shutil
import tempfile

import av
import cv2
import numpy as np
import tqdm

from data_pipelines.synthetic import emotion_trajectories as emotion_lib
from data_pipelines.synthetic import face_renderer
from data_pipelines.synthetic import voice_synth


ANNOTATIONS = pathlib.PurePosixPath('annotations', 'VA_Estimation_Challenge')
SPLIT_FOLDERS = {'train': 'Train_Set', 'dev': 'Validation_Set'}
TEST_LIST = 'Valence_Arousal_Estimation_Challenge_test_set_release.txt'
CROPS = 'cropped_aligned'
VIDEOS = 'videos'
MANIFEST = 'synthetic_affwild2.json'
_CROP_SCALE = 1.25
_UNANNOTATED_COVERAGE = 0.06


@dataclasses.dataclass(frozen=True)
class SyntheticVideo:
  """One raw video of the corpus: its name, split, frame rate and container."""
  name: str
  split: str
  fps: int
  two_people: bool = False
  suffix: str = '.mp4'

  def subjects(self) -> list[str]:
    return [f'{self.name}_left', f'{self.name}_right'] if self.two_people else [self.name]


VIDEOS_WRITTEN = (
    SyntheticVideo('1-30-320x240', 'train', 30),
    SyntheticVideo('2-25-320x240', 'train', 25, suffix='.avi'),
    SyntheticVideo('3-30-640x240', 'train', 30, two_people=True),
    SyntheticVideo('4-30-320x240', 'dev', 30),
    SyntheticVideo('5-25-320x240', 'dev', 25),
    SyntheticVideo('6-30-320x240', 'test', 30),
)


@dataclasses.dataclass(frozen=True)
class Options:
  """What the corpus is made of; equal options give the same corpus.

  Attributes:
    duration_s: length of every video.
    width: width of one person's half of the picture (even).
    height: picture height (even).
    crop_size: side of the aligned crops.
    sample_rate: audio rate of the raw videos.
    seed: seed of every random draw.
  """
  duration_s: float = 20.0
  width: int = 320
  height: int = 240
  crop_size: int = 112
  sample_rate: int = 44_100
  seed: int = 0

  def validate(self) -> None:
    if self.duration_s < 2:
      raise ValueError(f'duration_s must be at least 2 s, got {self.duration_s}')
    if self.width % 2 or self.height % 2 or self.height < 64:
      raise ValueError('width and height must be even, and height at least 64')


@dataclasses.dataclass(frozen=True)
class Subject:
  """What was drawn for one person: emotion, face, voice and the unannotated stretches."""
  emotion: emotion_lib.RecordingEmotion
  face: face_renderer.FaceTrack
  voice: voice_synth.VoiceTrack
  unannotated: np.ndarray


def _subject(name: str, video: SyntheticVideo, options: Options) -> Subject:
  index = [v.name for v in VIDEOS_WRITTEN].index(video.name)
  side = video.subjects().index(name)
  sequence = np.random.SeedSequence([options.seed, index, side])
  emotion_rng, voice_rng, face_rng, label_rng = [
      np.random.default_rng(child) for child in sequence.spawn(4)]
  emotion = emotion_lib.random_recording_emotion(emotion_rng)
  voice = voice_synth.synthesize_voice(emotion, options.duration_s, options.sample_rate,
                                       voice_rng)
  times = frame_times(video, options)
  face = face_renderer.random_face_track(emotion, times, options.duration_s, options.width,
                                         options.height, voice.silent_intervals, face_rng)
  unannotated = emotion_lib.random_intervals(label_rng, options.duration_s,
                                             _UNANNOTATED_COVERAGE, 0.3, 1.0)
  return Subject(emotion, face, voice, unannotated)


def frame_times(video: SyntheticVideo, options: Options) -> np.ndarray:
  return np.arange(int(round(options.duration_s * video.fps))) / video.fps


def annotation_lines(subject: Subject, times: np.ndarray) -> list[str]:
  """The annotation file's lines: header, then one `valence,arousal` line per frame."""
  valence = np.clip(subject.emotion.expressed_valence(times), -1, 1)
  arousal = np.clip(subject.emotion.expressed_arousal(times), -1, 1)
  skipped = emotion_lib.in_intervals(times, subject.unannotated)
  lines = ['valence,arousal']
  for v, a, skip in zip(valence, arousal, skipped):
    lines.append('-5,-5' if skip else f'{v:.3f},{a:.3f}')
  return lines


def _crop(picture: np.ndarray, frame: face_renderer.FaceFrame, size: int) -> np.ndarray:
  x0, y0, x1, y1 = face_renderer.face_box(frame)
  side = _CROP_SCALE * max(x1 - x0, y1 - y0)
  cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
  matrix = np.array([[size / side, 0, size / 2 - cx * size / side],
                     [0, size / side, size / 2 - cy * size / side]])
  return cv2.warpAffine(picture, matrix, (size, size), flags=cv2.INTER_AREA,
                        borderMode=cv2.BORDER_REPLICATE)


def _write_video(path: pathlib.Path, pictures, audio: np.ndarray, video: SyntheticVideo,
                 options: Options) -> None:
  """Encodes the pictures (H.264 in MP4, MPEG-4 Part 2 in AVI) with the voice (AAC / PCM)."""
  rate = fractions.Fraction(video.fps)
  width = options.width * len(video.subjects())
  with av.open(str(path), 'w') as container:
    picture_stream = container.add_stream('libx264' if video.suffix == '.mp4' else 'mpeg4',
                                          rate=rate)
    picture_stream.width, picture_stream.height = width, options.height
    picture_stream.pix_fmt = 'yuv420p'
    if video.suffix == '.mp4':
      voice_stream = container.add_stream('aac', rate=options.sample_rate, layout='mono')
    else:
      voice_stream = container.add_stream('pcm_s16le', rate=options.sample_rate, layout='mono')
    for index, picture in enumerate(pictures):
      frame = av.VideoFrame.from_ndarray(picture, format='bgr24')
      frame.pts, frame.time_base = index, 1 / rate
      container.mux(picture_stream.encode(frame))
    container.mux(picture_stream.encode(None))
    samples = np.clip(audio, -1, 1).astype(np.float32)
    for first in range(0, samples.size, 1024):
      chunk = samples[None, first:first + 1024]
      if video.suffix != '.mp4':
        chunk = np.round(chunk * 32767).astype(np.int16)
      frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk),
                                         format='flt' if video.suffix == '.mp4' else 's16',
                                         layout='mono')
      frame.sample_rate, frame.pts = options.sample_rate, first
      container.mux(voice_stream.encode(frame))
    container.mux(voice_stream.encode(None))


def write_video(root: pathlib.Path, video: SyntheticVideo, options: Options) -> dict[str, Subject]:
  """Writes one raw video, its subjects' crops and (unless test) their annotations."""
  subjects = {name: _subject(name, video, options) for name in video.subjects()}
  renderer = face_renderer.FaceRenderer(options.width, options.height)
  times = frame_times(video, options)
  for name, subject in subjects.items():
    (root / CROPS / name).mkdir(parents=True, exist_ok=True)
    if video.split in SPLIT_FOLDERS:
      folder = root / ANNOTATIONS / SPLIT_FOLDERS[video.split]
      folder.mkdir(parents=True, exist_ok=True)
      (folder / f'{name}.txt').write_text('\n'.join(annotation_lines(subject, times)) + '\n')

  def pictures():
    for index in range(times.size):
      halves = []
      for name, subject in subjects.items():
        frame = subject.face.frames[index]
        half = renderer.render(frame)
        if frame.view == face_renderer.FaceView.VISIBLE:
          cv2.imwrite(str(root / CROPS / name / f'{index + 1:05d}.jpg'),
                      _crop(half, frame, options.crop_size), [cv2.IMWRITE_JPEG_QUALITY, 95])
        halves.append(half)
      yield np.concatenate(halves, axis=1)

  voice = sum(s.voice.waveform for s in subjects.values()) / len(subjects)
  (root / VIDEOS).mkdir(parents=True, exist_ok=True)
  _write_video(root / VIDEOS / f'{video.name}{video.suffix}', pictures(), voice, video, options)
  return subjects


def _manifest(options: Options) -> dict:
  return {'generator': 'data_pipelines.synthetic_affwild2', 'format_version': 1,
          'options': dataclasses.asdict(options)}


def write_corpus_once(output_dir: pathlib.Path, options: Options,
                      show_progress: bool = False) -> bool:
  """Writes the corpus into `output_dir` unless the same corpus is already there.

  Written into a temporary sibling and renamed into place when complete, the
  manifest last: an interrupted run leaves nothing that looks complete.

  Returns:
    True if written, False if already there.

  Raises:
    ValueError: for bad options, or an `output_dir` holding anything else.
  """
  options.validate()
  output_dir = pathlib.Path(output_dir)
  if output_dir.exists():
    manifest = output_dir / MANIFEST
    if manifest.is_file() and json.loads(manifest.read_text()) == _manifest(options):
      return False
    if output_dir.is_dir() and not any(output_dir.iterdir()):
      output_dir.rmdir()
    else:
      raise ValueError(f'{output_dir} exists and holds no synthetic Aff-Wild2 corpus of these '
                       'options; pick another output directory')
  output_dir.parent.mkdir(parents=True, exist_ok=True)
  partial = pathlib.Path(tempfile.mkdtemp(prefix=f'.{output_dir.name}.partial-',
                                          dir=output_dir.parent))
  try:
    partial.chmod(0o755)
    for video in tqdm.tqdm(VIDEOS_WRITTEN, desc='synthetic Aff-Wild2', unit='video',
                           disable=not show_progress):
      write_video(partial, video, options)
    tests = [name for v in VIDEOS_WRITTEN if v.split == 'test' for name in v.subjects()]
    (partial / TEST_LIST).write_text('\n'.join(tests) + '\n')
    (partial / MANIFEST).write_text(json.dumps(_manifest(options), indent=2) + '\n')
    partial.rename(output_dir)
  except BaseException:
    shutil.rmtree(partial, ignore_errors=True)
    raise
  return True
