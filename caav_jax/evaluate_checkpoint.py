"""--mode=eval: restores a checkpoint of a workdir and scores it on dev, the AVEC way.

Writes into <workdir>/evaluation/step_<N>/ (best_step_<N>/ for the best checkpoint):
  metrics.json                    CCC per dimension on all dev recordings concatenated
                                  and per recording; raw, and post-processed (fitted on dev)
  window_predictions.npz          the model's raw output per window
  predictions/<recording>.csv     time, prediction and gold per dimension (raw)
  plots/<recording>.png           prediction against gold (as the paper's Figure 2)
  test/{raw,postprocessed}/<dimension>/<recording>.arff   AVEC-format test predictions
"""

import pathlib

from flax import nnx
import jax
import ml_collections
import numpy as np

from caav_jax import backbone_init
from caav_jax import checkpointing
from caav_jax import evaluation
from caav_jax import feature_cache
from caav_jax import postprocessing
from caav_jax import prediction_files
from caav_jax import stages
from caav_jax import train as train_lib
from caav_jax import train_step as train_step_lib
from caav_jax.config_error import ConfigError
from data_pipelines.recola import recola_dataset_builder
from data_pipelines.recola.labels import STEP_SECONDS


def choose_checkpoint(workdir: pathlib.Path, which: str
                      ) -> tuple[checkpointing.Checkpoints, int, str]:
  """The checkpoints, step and a label for `config.eval.checkpoint` ('best', 'latest' or a step).

  Raises:
    FileNotFoundError: naming the workdir and what it has, when there is no such checkpoint.
    ConfigError: for a setting that is none of the three.
  """
  if which == 'best':
    # A run without dev evaluation (the recipe's) has no best checkpoint: its latest, then.
    checkpoints, found = backbone_init.run_checkpoints(workdir)
    return checkpoints, checkpoints.latest_step(), 'best' if found == 'best' else 'step'
  if which == 'latest' or which.isdigit():
    checkpoints = checkpointing.Checkpoints(workdir / backbone_init.CHECKPOINT_DIRECTORY)
    step = checkpoints.latest_step() if which == 'latest' else int(which)
  else:
    raise ConfigError(f"config.eval.checkpoint must be 'best', 'latest' or a step number, "
                     f'not {which!r}')
  if step is None:
    raise FileNotFoundError(f'{workdir}: no checkpoint to evaluate; train first with '
                            f'--mode=train and the same --workdir')
  return checkpoints, step, 'step'


def restore_for_evaluation(config: ml_collections.ConfigDict, workdir: pathlib.Path,
                           mesh: jax.sharding.Mesh) -> tuple[nnx.Module, int, str]:
  """The model with `config.eval.checkpoint` of `workdir` loaded, replicated, in eval mode.

  Returns:
    (model, step, label), the step and label as `choose_checkpoint` gives them.
  """
  checkpoints, step, label = choose_checkpoint(workdir, config.eval.checkpoint)
  model = stages.abstract_model(config)
  try:
    checkpoints.restore_model(model, step, sharding=train_step_lib.replicated(mesh))
  finally:
    checkpoints.close()
  stages.set_training(model, config.train.stage, False)
  return model, step, label


def _write_recordings(output: pathlib.Path, predictions: evaluation.SplitPredictions,
                      frames: list[np.ndarray], golds: list[np.ndarray],
                      dimensions, plots: bool) -> None:
  for recording, prediction, gold in zip(predictions.recordings, frames, golds):
    times = np.arange(recording.steps) * STEP_SECONDS
    prediction_files.write_recording_csv(output / 'predictions' / f'{recording.name}.csv',
                                         times, prediction, gold, dimensions)
    if plots:
      prediction_files.plot_recording(output / 'plots' / f'{recording.name}.png', times,
                                      prediction, gold, dimensions, recording.name)


def _write_test_predictions(output: pathlib.Path, frames: list[np.ndarray],
                            predictions: evaluation.SplitPredictions, dimensions,
                            fitted: dict | None) -> None:
  versions = {'raw': lambda series: series}
  if fitted is not None:
    versions['postprocessed'] = lambda series: postprocessing.apply_all(
        fitted, series, dimensions)
  for version, transform in versions.items():
    for recording, series in zip(predictions.recordings, frames):
      values = transform(series)
      times = np.arange(recording.steps) * STEP_SECONDS
      for column, dimension in enumerate(dimensions):
        prediction_files.write_avec_arff(
            output / 'test' / version / dimension / f'{recording.name}.arff',
            recording.name, dimension, times, values[:, column])


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Restores the configured checkpoint, scores it and writes the outputs; returns the metrics."""
  workdir = pathlib.Path(workdir)
  data, settings = config.data, config.eval
  train_lib.ensure_dataset(data)
  mesh = train_step_lib.data_mesh()
  model, step, label = restore_for_evaluation(config, workdir, mesh)
  features_dir = feature_cache.cache_directory(config, workdir)
  if not (config.train.feature_cache and features_dir.is_dir()):
    features_dir = None
  output = workdir / 'evaluation' / (f'best_step_{step}' if label == 'best' else f'step_{step}')
  print(f'evaluating step {step} ({label}) of {workdir} on {settings.split} ...', flush=True)

  predictions = evaluation.predict_split(model, data, settings.split, mesh, features_dir)
  if not evaluation.is_labelled(predictions.recordings):
    raise ConfigError(f'config.eval.split={settings.split!r} has no labels to score against')
  frames = evaluation.frame_predictions(predictions, data)
  golds = evaluation.gold_standard(predictions.recordings, data.dimensions)
  metrics = {'checkpoint': {'workdir': str(workdir), 'step': step, 'which': label},
             'split': settings.split,
             'raw': evaluation.scores(frames, golds, predictions.recordings, data.dimensions)}
  fitted = None
  if settings.postprocess:
    fitted = postprocessing.fit_all(frames, golds, data.dimensions,
                                    windows=tuple(settings.smoothing_windows),
                                    max_shift=settings.max_shift_frames)
    processed = [postprocessing.apply_all(fitted, f, data.dimensions) for f in frames]
    metrics['postprocessed'] = {
        'note': f'smoothing, centring, scaling and time shift fitted on {settings.split} '
                f'itself: optimistic, not comparable with raw scores',
        'parameters': {dim: p.to_json() for dim, p in fitted.items()},
        **evaluation.scores(processed, golds, predictions.recordings, data.dimensions)}
  evaluation.save_window_predictions(output, predictions)
  _write_recordings(output, predictions, frames, golds, data.dimensions, settings.plots)
  index = recola_dataset_builder.RecordingIndex.read(
      recola_dataset_builder.load(data.data_dir, data.crop_size, data.face_source).data_dir)
  if settings.predict_test and index.recordings('test'):
    test = evaluation.predict_split(model, data, 'test', mesh, features_dir)
    _write_test_predictions(output, evaluation.frame_predictions(test, data), test,
                            data.dimensions, fitted)
  prediction_files.write_metrics_json(output / 'metrics.json', metrics)
  raw = metrics['raw']
  print(f'{settings.split} CCC (raw, {len(predictions.recordings)} recordings concatenated): '
        + '  '.join(f'{dim} {v:.4f}' for dim, v in raw['ccc'].items()), flush=True)
  if fitted is not None:
    print('post-processed (fitted on the same split): ' + '  '.join(
        f'{dim} {v:.4f}' for dim, v in metrics['postprocessed']['ccc'].items()), flush=True)
  print(f'wrote {output}', flush=True)
  return metrics
