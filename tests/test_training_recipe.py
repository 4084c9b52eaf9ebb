"""The paper's recipe on the tiny config: unimodal stages → fusion on frozen backbones → evaluation.

One module-scoped run of each stage is shared by the tests (each compiles a
tiny I3D, the slow part on this CPU).
"""

import json
import pathlib
import subprocess
import sys

from flax import nnx
import jax
import numpy as np
import pytest

from caav_jax import checkpointing
from caav_jax import train
from caav_jax.input_pipeline import datasets
from caav_jax.input_pipeline import feature_cache
from caav_jax.input_pipeline import windows as windows_lib
from caav_jax.tools import attention_entropy
from caav_jax.training import backbones
from caav_jax.training import stages
from caav_jax.workdir import Workdir
from configs import tiny
from data_pipelines.recola.labels import parse_gold_standard_arff
from tests import mini_corpus
from tests.tensorboard_scalars import scalars


def base_config(root: pathlib.Path):
  config = tiny.get_config()
  config.data.raw_dir, config.data.data_dir = str(root / 'raw'), str(root / 'tfds')
  config.data.flip = False  # the feature cache holds the unaugmented view
  config.train.steps = 2
  return config


@pytest.fixture(scope='module')
def runs(tmp_path_factory, media):
  """Workdirs of a unimodal audio run, a unimodal visual run and a fusion run on pixels."""
  root = tmp_path_factory.mktemp('recipe')
  mini_corpus.make_mini_corpus(root / 'raw', media,
                               names=('train_1', 'train_2', 'dev_1', 'test_1'))
  workdirs = {}
  for stage in ('unimodal_audio', 'unimodal_visual'):
    config = base_config(root)
    config.train.stage = stage
    config.train.eval_every = 0
    workdirs[stage] = root / stage
    train.train_and_evaluate(config, str(workdirs[stage]))
  config = fusion_config(root, workdirs)
  config.train.checkpoint_every = 1
  workdirs['fusion'] = root / 'fusion'
  train.train_and_evaluate(config, str(workdirs['fusion']))
  return root, workdirs


def fusion_config(root, workdirs):
  config = base_config(root)
  config.train.stage = 'fusion'
  config.train.init_audio = str(workdirs['unimodal_audio'])
  config.train.init_visual = str(workdirs['unimodal_visual'])
  return config


def restored(config, workdir, step=None):
  model = stages.abstract_model(config)
  checkpoints = checkpointing.Checkpoints(workdir / 'checkpoints')
  checkpoints.restore_model(model, step)
  checkpoints.close()
  return model


def params(module):
  return jax.tree.leaves(nnx.state(module, nnx.Param))


def logged(workdir, key):
  lines = (workdir / 'train_log.jsonl').read_text().splitlines()
  return [json.loads(line)[key] for line in lines if key in json.loads(line)]


def test_fusion_starts_from_the_unimodal_backbones_and_keeps_them_frozen(runs):
  root, workdirs = runs
  config = fusion_config(root, workdirs)
  fused = restored(config, workdirs['fusion'])
  for modality in ('audio', 'visual'):
    unimodal_config = base_config(root)
    unimodal_config.train.stage = f'unimodal_{modality}'
    unimodal = restored(unimodal_config, workdirs[f'unimodal_{modality}'])
    for a, b in zip(params(getattr(fused, modality)), params(getattr(unimodal, modality))):
      np.testing.assert_array_equal(a, b)  # loaded, then untouched by two fusion steps
    # batch statistics are frozen too (eval-mode backbones)
    for a, b in zip(jax.tree.leaves(nnx.state(getattr(fused, modality), nnx.BatchStat)),
                    jax.tree.leaves(nnx.state(getattr(unimodal, modality), nnx.BatchStat))):
      np.testing.assert_array_equal(a, b)
  after_one = restored(config, workdirs['fusion'], step=1)
  for a, b in zip(params(after_one.visual), params(fused.visual)):
    np.testing.assert_array_equal(a, b)
  moved = [not np.allclose(a, b) for a, b in zip(
      params(fused.fusion) + params(fused.head), params(after_one.fusion) + params(after_one.head))]
  assert all(moved)  # the fusion and head did train


def test_a_one_dimension_model_takes_the_backbones_of_runs_on_both(runs):
  root, workdirs = runs
  config = fusion_config(root, workdirs)
  config.data.dimensions = ('arousal',)  # the authors' fusion: one model per dimension
  model = stages.create_model(config)
  assert model.head.fc3.kernel.shape[-1] == 1
  for modality in ('audio', 'visual'):
    unimodal_config = base_config(root)
    unimodal_config.train.stage = f'unimodal_{modality}'
    unimodal = restored(unimodal_config, workdirs[f'unimodal_{modality}'])
    assert unimodal.head.fc2.bias.shape == (2,)
    for a, b in zip(params(getattr(model, modality)), params(getattr(unimodal, modality))):
      np.testing.assert_array_equal(a, b)


def test_a_fusion_model_skips_drawing_its_loaded_backbones_and_gets_the_same_values(runs):
  root, workdirs = runs
  config = fusion_config(root, workdirs)
  model = stages.create_model(config)
  assert backbones.replaced_backbones(model, config) == ['visual', 'audio']
  with jax.threefry_partitionable(False):
    every_part_drawn = nnx.jit(lambda: stages._build(config))()  # pylint: disable=protected-access
  backbones.initialise_backbones(every_part_drawn, config)
  fast, full = nnx.state(model).flat_state(), nnx.state(every_part_drawn).flat_state()
  assert [path for path, _ in fast] == [path for path, _ in full]
  for (path, a), (_, b) in zip(fast, full):
    a, b = a[...], b[...]
    if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
      a, b = jax.random.key_data(a), jax.random.key_data(b)
    np.testing.assert_array_equal(a, b, err_msg=str(path))


def test_a_mismatched_unimodal_checkpoint_is_refused_by_name(runs):
  root, workdirs = runs
  config = fusion_config(root, workdirs)
  config.model.audio_width = config.model.visual_width = 1 / 16
  with pytest.raises(ValueError, match=f"{workdirs['unimodal_visual']}: its checkpoint does not fit"):
    stages.create_model(config)


def test_training_on_cached_features_equals_training_on_pixels(runs, tmp_path):
  root, workdirs = runs
  config = fusion_config(root, workdirs)
  config.train.feature_cache = True
  train.train_and_evaluate(config, str(tmp_path))
  # the cached features are the backbones' outputs on the centre-cropped sub-sequences
  cached = np.load(feature_cache.feature_path(tmp_path / 'features', 'train', 'train_1',
                                              'audio'))
  assert cached.shape[0] == mini_corpus.STEPS - config.data.subseq_frames + 1
  pixels, features = logged(workdirs['fusion'], 'loss'), logged(tmp_path, 'loss')
  np.testing.assert_allclose(features, pixels, rtol=2e-4, atol=2e-5)
  a, b = restored(config, workdirs['fusion']), restored(config, tmp_path)
  for x, y in zip(params(a.fusion) + params(a.head), params(b.fusion) + params(b.head)):
    np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-5)
  np.testing.assert_allclose(logged(tmp_path, 'dev_ccc_mean'),
                             logged(workdirs['fusion'], 'dev_ccc_mean'), atol=1e-3)
  # CAM's attention sharpness over the dev windows, against numpy on the cache's rows
  config.eval.checkpoint = 'latest'
  measured = attention_entropy.measure(config, str(tmp_path))
  w = np.asarray(b.fusion.cross_attention.w[...], np.float64)
  recordings = datasets.split_recordings(config.data, 'dev')
  windows = windows_lib.eval_windows(config.data, recordings)
  length = config.data.clip_frames // config.data.subseq_frames
  expected = {'audio': [], 'visual': []}
  for recording, start in zip(windows.recording, windows.start):
    rows = start + config.data.subseq_frames * np.arange(length)
    a, v = (np.load(feature_cache.feature_path(tmp_path / 'features', 'dev',
                                               recordings[recording].name, m))[rows]
            for m in ('audio', 'visual'))
    a, v = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (a, v))
    z = a @ w @ v.T
    for modality, logits in (('audio', z), ('visual', z.T)):
      attention = np.exp(logits) / np.exp(logits).sum(axis=0)
      expected[modality].append((-(attention * np.log(attention)).sum(axis=0) / np.log(length),
                                 attention.max(axis=0)))
  for modality, values in expected.items():
    np.testing.assert_allclose(measured[modality],
                               [np.mean([e for e, _ in values]), np.mean([m for _, m in values])],
                               rtol=1e-5)


def test_eval_in_a_fresh_process_reproduces_the_training_time_predictions(runs):
  root, workdirs = runs
  workdir = workdirs['fusion']
  overrides = [f'--config.data.raw_dir={root / "raw"}', f'--config.data.data_dir={root / "tfds"}',
               '--config.data.flip=False', '--config.train.stage=fusion',
               '--config.eval.checkpoint=latest']
  result = subprocess.run(
      [sys.executable, '-m', 'caav_jax.main', '--config=configs/tiny.py', '--mode=eval',
       f'--workdir={workdir}', *overrides],
      cwd=pathlib.Path(__file__).resolve().parents[1], capture_output=True, text=True,
      timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  at_training = np.load(workdir / 'eval' / 'step_2' / 'window_predictions.npz')
  output = workdir / 'evaluation' / 'step_2'
  in_eval = np.load(output / 'window_predictions.npz')
  np.testing.assert_array_equal(in_eval['predictions'], at_training['predictions'])
  np.testing.assert_array_equal(in_eval['start'], at_training['start'])
  metrics = json.loads((output / 'metrics.json').read_text())
  scores = json.loads((workdir / 'eval' / 'step_2' / 'scores.json').read_text())
  assert metrics['raw']['ccc'] == scores['ccc']
  assert metrics['checkpoint']['step'] == 2
  # post-processing was fitted for both dimensions
  assert set(metrics['postprocessed']['parameters']) == {'valence', 'arousal'}
  # per-recording CSV: the frame-level series the scores were computed from
  table = np.genfromtxt(output / 'predictions' / 'dev_1.csv', delimiter=',', names=True)
  assert table.shape == (mini_corpus.STEPS,)
  gold = mini_corpus.labels_of('dev_1')
  np.testing.assert_allclose(table['valence_gold'], gold['valence'], atol=1e-6)
  assert (output / 'plots' / 'dev_1.png').read_bytes()[:4] == b'\x89PNG'
  for version in ('raw', 'postprocessed'):
    arff = parse_gold_standard_arff(output / 'test' / version / 'arousal' / 'test_1.arff',
                                    value_attribute='prediction')
    assert arff.values.shape == (mini_corpus.STEPS,) and np.isfinite(arff.values).all()


def test_training_writes_tensorboard_events_and_a_best_checkpoint(runs):
  _, workdirs = runs
  workdir = workdirs['fusion']
  read = scalars(workdir / 'tensorboard')
  assert {'loss', 'clips_per_s', 'learning_rate', 'dev_ccc_mean'} <= set(read)
  assert [step for step, _ in read['loss']] == [1, 2]
  np.testing.assert_allclose([loss for _, loss in read['loss']], logged(workdir, 'loss'),
                             rtol=1e-6)
  checkpoints, which = Workdir(workdir).trained_checkpoints()
  assert which == 'best' and checkpoints.metrics()['step'] == 2
  checkpoints.close()


def test_eval_of_a_run_without_dev_evaluation_takes_its_latest_checkpoint(runs, tmp_path):
  _, workdirs = runs
  workdir = workdirs['unimodal_audio']  # trained with eval_every=0: an empty best/
  assert Workdir(workdir).best.is_dir()
  checkpoints, step, is_best = Workdir(workdir).checkpoint('best')
  checkpoints.close()
  assert (step, is_best) == (2, False)
  checkpoints, step, is_best = Workdir(workdirs['fusion']).checkpoint('best')
  checkpoints.close()
  assert (step, is_best) == (2, True)
  with pytest.raises(FileNotFoundError, match=f'{tmp_path}: no checkpoint of a training run'):
    Workdir(tmp_path).checkpoint('best')
