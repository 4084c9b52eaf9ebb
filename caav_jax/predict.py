"""--mode=predict: valence and arousal every step of the videos a user brings, from a trained run.

  python -m caav_jax.main --mode=predict --workdir=RUN --input=VIDEO_OR_FOLDER
      [--output=DIR] [--audio=FILE] [--overlay] [--step=N]

Writes into DIR (default RUN/predictions/), per video NAME:
  NAME.csv            time_s, one column per dimension, face_found: a row a step (40 ms;
                      a video frame for a run trained on Aff-Wild2)
  NAME.png            the curves over time, stretches without a face shaded
  NAME_annotated.mp4  with --overlay: the video with its face box and a live bar per dimension
and summary.json for the whole batch. The model is the run's best checkpoint
on dev (else its latest), or --step=N. Frame-level predictions are assembled
from the windows exactly as evaluation assembles them (evaluation/scoring.py).
A video that cannot be predicted is named in one line and leaves no file.
"""

import dataclasses
import os
import pathlib
import sys
import time

import jax
import ml_collections
import numpy as np
import tqdm

from caav_jax.errors import ConfigError
from caav_jax.evaluation import outputs
from caav_jax.evaluation import overlay
from caav_jax.evaluation import predict as evaluation
from caav_jax.evaluation import restore
from caav_jax.evaluation import scoring
from caav_jax.input_pipeline import corpora
from caav_jax.input_pipeline import media as media_lib
from caav_jax.training import sharding
from caav_jax.training import steps
from caav_jax.workdir import Workdir
from data_pipelines.recola import faces
from data_pipelines.recola import recording as recording_lib
from data_pipelines.recola.errors import RecolaInputError


SUMMARY_FILE = 'summary.json'


@dataclasses.dataclass(frozen=True)
class Request:
  """What to predict and where to write it: the command line's --input, --output, --audio
  and --overlay."""
  input: pathlib.Path
  output: pathlib.Path | None = None
  audio: pathlib.Path | None = None
  overlay: bool = False


def _listens(config: ml_collections.ConfigDict) -> bool:
  return config.model.fusion != 'visual_only' and config.train.stage != 'unimodal_visual'


def _looks(config: ml_collections.ConfigDict) -> bool:
  return config.model.fusion != 'audio_only' and config.train.stage != 'unimodal_audio'


@dataclasses.dataclass(frozen=True)
class VideoPrediction:
  """What the model made of one video.

  Attributes:
    frames: (steps, dims) a prediction a step, assembled as evaluation does.
    track: the face track (boxes, found) of every step.
    windows: the window predictions the frames are assembled from.
  """
  frames: np.ndarray
  track: faces.FaceTrack
  windows: scoring.SplitPredictions


class Predictor:
  """A restored model and what it needs to run on any video."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: Workdir):
    self.config, self.data = config, config.data
    self.mesh = sharding.data_mesh()
    model, self.step, is_best = restore.restore_for_evaluation(config, workdir, self.mesh)
    self.which = ('best' if is_best else
                  'step' if str(config.eval.checkpoint).isdigit() else 'latest')
    self.module, self.inputs = steps.runnable(model, on_features=False)
    self.options = recording_lib.ReadOptions(crop_size=self.data.crop_size)
    devices = self.mesh.size
    self.batch_size = -(-config.predict.batch_size // devices) * devices

  def predict(self, media: media_lib.Media, quiet: bool = True) -> VideoPrediction:
    """Runs the model over every evaluation window of the video (progress bars unless quiet)."""
    with tqdm.tqdm(total=media.steps, desc=f'{media.name}: finding faces', unit='step',
                   disable=quiet) as bar:
      track = media_lib.find_faces(media, self.options, bar.update)
    if _looks(self.config):
      media_lib.check_faces(media, track, self.options)
    summary = media_lib.recording_summary(media, track)
    windows = media_lib.plan(self.data, media, summary)
    with tqdm.tqdm(total=media.steps, desc=f'{media.name}: predicting', unit='step',
                   disable=quiet) as bar:
      batches = media_lib.window_batches(media, track, windows, self.data, self.options,
                                         self.batch_size, bar.update)
      rows = evaluation.window_predictions(self.module, self.inputs, batches, self.mesh)
    predictions = scoring.SplitPredictions('predict', [summary], windows, rows)
    return VideoPrediction(scoring.frame_predictions(predictions, self.data)[0], track,
                           predictions)


def _names(videos: list[pathlib.Path]) -> list[str]:
  """Output names: the file's stem, or stem_suffix where two videos share a stem."""
  stems = [video.stem for video in videos]
  return [f'{video.stem}_{video.suffix[1:]}' if stems.count(video.stem) > 1 else video.stem
          for video in videos]


def _write(output: pathlib.Path, name: str, media: media_lib.Media, frames: np.ndarray,
           track, dimensions, with_overlay: bool, quiet: bool) -> list[str]:
  times = np.arange(media.steps) / media.steps_per_second
  written = [f'{name}.csv', f'{name}.png']
  if with_overlay:
    with tqdm.tqdm(desc=f'{name}: annotated video', unit='frame', disable=quiet,
                   total=int(round(media.duration_s * media.frame_rate)) or None) as bar:
      overlay.write_overlay(output / f'{name}_annotated.mp4', media.video, media.audio,
                            media.audio_offset_s, track.boxes, track.found, frames,
                            dimensions, media.grid, bar.update)
    written.append(f'{name}_annotated.mp4')
  outputs.plot_prediction(output / f'{name}.png', times, frames, track.found, dimensions,
                          f'{media.video.name}: predicted {", ".join(dimensions)}')
  outputs.write_prediction_csv(output / f'{name}.csv', times, frames, track.found, dimensions)
  return written


def predict(config: ml_collections.ConfigDict, workdir: str | os.PathLike,
            request: Request) -> dict:
  """Predicts every video of `request.input`; returns (and writes) the batch's summary.

  Raises:
    RecolaInputError: naming the video when it is the only one and cannot be
      predicted; naming the folder, after the others are written, when some
      of its videos could not be.
    ConfigError: for --audio with a folder.
  """
  workdir = Workdir(pathlib.Path(workdir))
  videos = media_lib.find_videos(request.input)
  if request.audio is not None and len(videos) > 1:
    raise ConfigError(f'--audio gives the voice of one video, but --input {request.input} '
                      f'holds {len(videos)}')
  output = request.output or workdir.predictions
  # A single bad video is named before the model is loaded; a folder's, one by one.
  def open_media(video: pathlib.Path) -> media_lib.Media:
    return media_lib.open_media(video, request.audio, needs_audio=_listens(config),
                                frame_steps=corpora.steps_are_frames(config.data))

  opened = {videos[0]: open_media(videos[0])} if len(videos) == 1 else {}
  predictor = Predictor(config, workdir)
  dimensions = tuple(config.data.dimensions)
  quiet = jax.process_index() != 0
  summary = {'run': {'workdir': str(workdir.root), 'step': predictor.step,
                     'which': predictor.which},
             'dimensions': list(dimensions), 'videos': {}, 'failed': {}}
  print(f'predicting {len(videos)} video(s) with step {predictor.step} ({predictor.which}) of '
        f'{workdir.root}; writing to {output}', flush=True)
  for video, name in zip(videos, _names(videos)):
    started = time.perf_counter()
    try:
      media = opened.get(video) or open_media(video)
      result = predictor.predict(media, quiet)
      frames, track = result.frames, result.track
      seconds = time.perf_counter() - started
      written = _write(output, name, media, frames, track, dimensions, request.overlay, quiet)
    except RecolaInputError as error:
      if len(videos) == 1:
        raise
      print(f'caav_jax: {error}', file=sys.stderr, flush=True)
      summary['failed'][name] = str(error)
      continue
    summary['videos'][name] = {
        'input': str(video), 'audio': str(media.audio) if media.audio else None,
        'duration_s': round(media.duration_s, 3), 'frame_rate': round(media.frame_rate, 3),
        'steps': media.steps, 'steps_per_second': round(media.steps_per_second, 3),
        'face_found_fraction': round(float(track.found.mean()), 4),
        'mean': {dim: float(frames[:, i].mean()) for i, dim in enumerate(dimensions)},
        'seconds': round(seconds, 2), 'real_time_factor': round(seconds / media.duration_s, 3),
        'files': written}
    print(f'{name}: {media.duration_s:.1f} s of video in {seconds:.1f} s, real-time factor '
          f'{seconds / media.duration_s:.2f} (below 1 is faster than real time); '
          f'face in {100 * track.found.mean():.0f}% of steps', flush=True)
  outputs.write_metrics_json(output / SUMMARY_FILE, summary)
  print(f'wrote {output}', flush=True)
  if summary['failed']:
    raise RecolaInputError(request.input, f'{len(summary["failed"])} of {len(videos)} videos '
                           f'could not be predicted (each is named above and in '
                           f'{output / SUMMARY_FILE})')
  return summary
