"""Writes a recording whose video, audio and labels carry known per-step markers, to check alignment."""

import os
import pathlib

import numpy as np

from data_pipelines.synthetic import corpus_writer
from data_pipelines.synthetic import emotion_trajectories as emotion_lib
from data_pipelines.synthetic import face_renderer

PROBE_TONE_HZ = 440.0
_PROBE_VIDEO_CRF = 10


def write_alignment_probe(root: str | os.PathLike,
                          name: str = 'train_1',
                          duration_s: float = 4.0,
                          fps: float = 25.0,
                          sample_rate: int = 44100,
                          seed: int = 0,
                          frame_width: int = 320,
                          frame_height: int = 240) -> dict[str, np.ndarray]:
  """Writes one recording (video, WAV, both ARFFs, both CSVs) of known markers.

  - Video frame j (time j / fps) is a static, detectable face multiplied, whole
    frame, by gain g_j ∈ [0.55, 1.0]; encoded nearly losslessly (crf 10).
  - Audio step k, samples [round(k·0.04·sr), round((k+1)·0.04·sr)), is a
    440 Hz sine (continuous phase) of amplitude a_k ∈ [0.05, 0.8].
  - Labels: arousal at step k is u_k and valence -u_k, u_k ∈ [-0.9, 0.9]
    rounded to 2 decimals; all six raters give exactly that value, so the gold
    standard equals it too.
  g, a and u are independent uniform draws.

  Args:
    root: Corpus root; the AVEC 2016 directories are created if missing.
    name: Recording name.
    duration_s: Length in seconds; duration_s · 25 must be whole.
    fps: Video frame rate; the video has round(duration_s · fps) frames.
    sample_rate: Audio sample rate in Hz.
    seed: Seed of the random markers.
    frame_width: Video width in pixels (even).
    frame_height: Video height in pixels (even).

  Returns:
    'frame_gains': (round(duration_s · fps),) g_j per video frame.
    'step_amplitudes': (n_steps,) a_k per 40 ms audio step, n_steps =
      round(duration_s · 25).
    'labels': (n_steps + 1,) u_k per label row (the label grid also has a row
      at t = duration_s), the arousal gold standard; valence is -labels.
  """
  corpus_writer.CorpusOptions(duration_s=duration_s, frame_width=frame_width,
                              frame_height=frame_height, fps=fps,
                              sample_rate=sample_rate).validate()
  root = pathlib.Path(root)
  corpus_writer.ensure_layout(root)
  rng = np.random.default_rng(seed)
  num_frames = int(round(duration_s * fps))
  num_steps = int(round(duration_s * emotion_lib.LABEL_RATE_HZ))
  frame_gains = rng.uniform(0.55, 1.0, num_frames)
  step_amplitudes = rng.uniform(0.05, 0.8, num_steps)
  labels = np.rint(rng.uniform(-0.9, 0.9, num_steps + 1) * 100.0) / 100.0

  face = face_renderer.FaceFrame(center_x=0.5 * frame_width,
                                 center_y=0.52 * frame_height,
                                 scale=0.225 * frame_height)
  image = face_renderer.FaceRenderer(frame_width, frame_height).render(
      face).astype(np.float64)
  corpus_writer.write_video(
      root / corpus_writer.VIDEO_DIR / f'{name}.mp4',
      (np.rint(image * gain).astype(np.uint8) for gain in frame_gains),
      frame_width, frame_height, fps, crf=_PROBE_VIDEO_CRF)

  num_samples = int(round(duration_s * sample_rate))
  step_edges = np.rint(np.arange(num_steps + 1) * emotion_lib.LABEL_STEP_S *
                       sample_rate).astype(np.int64)
  step_edges[-1] = num_samples
  amplitude = np.repeat(step_amplitudes, np.diff(step_edges))
  tone = np.sin(2.0 * np.pi * PROBE_TONE_HZ * np.arange(num_samples) /
                sample_rate)
  corpus_writer.write_wav(root / corpus_writer.AUDIO_DIR / f'{name}.wav',
                          amplitude * tone, sample_rate)

  hundredths = np.rint(labels * 100.0).astype(np.int64)
  ratings = {
      'arousal': np.tile(hundredths[:, None], (1, emotion_lib.NUM_RATERS)),
      'valence': np.tile(-hundredths[:, None], (1, emotion_lib.NUM_RATERS)),
  }
  gold = {dimension: emotion_lib.gold_standard(values)
          for dimension, values in ratings.items()}
  corpus_writer.write_labels(root, name, gold, ratings)
  return {
      'frame_gains': frame_gains,
      'step_amplitudes': step_amplitudes,
      'labels': labels,
  }
