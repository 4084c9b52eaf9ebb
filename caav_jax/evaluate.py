"""--mode=eval: restores a checkpoint of a workdir and scores it on dev, the AVEC way.

Writes into <workdir>/evaluation/step_<N>/ (best_step_<N>/ for the best checkpoint):
  metrics.json                    CCC per dimension on all dev recordings concatenated
                                  and per recording; raw, and post-processed (fitted on dev)
  window_predictions.npz          the model's raw output per window
  predictions/<recording>.csv     time, prediction and gold per dimension (raw)
  plots/<recording>.png           prediction against gold (as the paper's Figure 2)
  test/{raw,postprocessed}/<dimension>/<recording>.arff   RECOLA: AVEC-format test predictions
  test/<video>.txt                Aff-Wild2: test predictions in ABAW's format, a line a frame
"""

import os
import pathlib

import ml_collections
import numpy as np

from caav_jax.evaluation import outputs
from caav_jax.evaluation import postprocessing
from caav_jax.evaluation import predict
from caav_jax.evaluation import restore
from caav_jax.evaluation import scoring
from caav_jax.input_pipeline import corpora
from caav_jax.input_pipeline import datasets
from caav_jax.training import sharding
from caav_jax.workdir import Workdir
from data_pipelines.recola.labels import STEP_SECONDS


METRICS_FILE = 'metrics.json'


def trained_features(config: ml_collections.ConfigDict, workdir: Workdir) -> pathlib.Path | None:
  """The feature cache the run trained on, if it trained on one and it is still there."""
  directory = workdir.features(config.train.feature_dir)
  return directory if config.train.feature_cache and directory.is_dir() else None


def _write_recordings(output: pathlib.Path, evaluation: predict.SplitEvaluation,
                      dimensions, plots: bool) -> None:
  for recording, prediction, gold in zip(evaluation.predictions.recordings,
                                         evaluation.frames, evaluation.golds):
    times = np.arange(recording.steps) / recording.frame_rate
    outputs.write_recording_csv(output / 'predictions' / f'{recording.name}.csv',
                                times, prediction, gold, dimensions)
    if plots:
      outputs.plot_recording(output / 'plots' / f'{recording.name}.png', times,
                             prediction, gold, dimensions, recording.name)


def _write_test_predictions(output: pathlib.Path, frames: list[np.ndarray],
                            predictions: scoring.SplitPredictions, data: ml_collections.ConfigDict,
                            fitted: dict | None) -> None:
  """The test split's predictions in its corpus's own submission format."""
  dimensions = tuple(data.dimensions)
  if data.corpus == 'affwild2':
    for recording, series in zip(predictions.recordings, frames):
      outputs.write_abaw_predictions(output / 'test' / f'{recording.name}.txt',
                                     series[:, dimensions.index('valence')],
                                     series[:, dimensions.index('arousal')])
    return
  versions = {'raw': lambda series: series}
  if fitted is not None:
    versions['postprocessed'] = lambda series: postprocessing.apply_all(
        fitted, series, dimensions)
  for version, transform in versions.items():
    for recording, series in zip(predictions.recordings, frames):
      values = transform(series)
      times = np.arange(recording.steps) * STEP_SECONDS
      for column, dimension in enumerate(dimensions):
        outputs.write_avec_arff(
            output / 'test' / version / dimension / f'{recording.name}.arff',
            recording.name, dimension, times, values[:, column])


def evaluate(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> dict:
  """Restores the configured checkpoint, scores it and writes the outputs; returns the metrics."""
  workdir = Workdir(pathlib.Path(workdir))
  data, settings = config.data, config.eval
  corpora.check_evaluation(config)
  datasets.ensure_dataset(data)
  mesh = sharding.data_mesh()
  model, step, is_best = restore.restore_for_evaluation(config, workdir, mesh)
  features_dir = trained_features(config, workdir)
  output = workdir.evaluation(step, best=is_best)
  label = 'best' if is_best else 'step'
  print(f'evaluating step {step} ({label}) of {workdir.root} on {settings.split} ...', flush=True)

  evaluation = predict.evaluate_split(model, data, settings.split, mesh, features_dir)
  recordings = evaluation.predictions.recordings
  metrics = {'checkpoint': {'workdir': str(workdir.root), 'step': step, 'which': label},
             'split': settings.split, 'raw': evaluation.scores}
  fitted = None
  if settings.postprocess:
    fitted = postprocessing.fit_all(evaluation.frames, evaluation.golds, data.dimensions,
                                    windows=tuple(settings.smoothing_windows),
                                    max_shift=settings.max_shift_frames)
    processed = [postprocessing.apply_all(fitted, f, data.dimensions) for f in evaluation.frames]
    metrics['postprocessed'] = {
        'note': f'smoothing, centring, scaling and time shift fitted on {settings.split} '
                f'itself: optimistic, not comparable with raw scores',
        'parameters': {dim: p.to_json() for dim, p in fitted.items()},
        **scoring.scores(processed, evaluation.golds, recordings, data.dimensions)}
  predict.save_window_predictions(output, evaluation.predictions)
  _write_recordings(output, evaluation, data.dimensions, settings.plots)
  if settings.predict_test and corpora.index(corpora.load(data)).recordings('test'):
    test = predict.predict_split(model, data, 'test', mesh, features_dir)
    _write_test_predictions(output, scoring.frame_predictions(test, data), test, data, fitted)
  outputs.write_metrics_json(output / METRICS_FILE, metrics)
  raw = metrics['raw']
  print(f'{settings.split} CCC (raw, {len(recordings)} recordings concatenated): '
        + '  '.join(f'{dim} {v:.4f}' for dim, v in raw['ccc'].items()), flush=True)
  if fitted is not None:
    print('post-processed (fitted on the same split): ' + '  '.join(
        f'{dim} {v:.4f}' for dim, v in metrics['postprocessed']['ccc'].items()), flush=True)
  print(f'wrote {output}', flush=True)
  return metrics
