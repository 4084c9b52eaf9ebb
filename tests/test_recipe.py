"""--mode=recipe on the tiny config: every stage runs, the table reports the evaluations, a rerun reuses them."""

import json

import jax
import jax.numpy as jnp
import pytest

from caav_jax.recipe import run as recipe
from tests import mini_corpus


@pytest.fixture(scope='module')
def config(tmp_path_factory, media):
  root = tmp_path_factory.mktemp('recipe_mode')
  config = mini_corpus.tiny_config_on(root, media, ('train_1', 'train_2', 'dev_1'))
  config.eval.predict_test = config.eval.plots = False
  settings = config.recipe
  settings.unimodal_audio_steps = settings.unimodal_visual_steps = 1
  settings.fusion_steps = 1
  settings.end_to_end_steps = 1
  settings.fusions = ('visual_only', 'cam')
  return config


def test_the_recipe_runs_every_stage_and_tabulates_its_evaluations(config, tmp_path, capsys):
  text = recipe.run(config, str(tmp_path))
  names = ['audio backbone + own head', 'visual backbone + own head',
           'visual_only (frozen backbones)', 'cam (frozen backbones)', 'cam, end to end']
  rows = [line for line in text.splitlines() if line.startswith('| ') and 'CCC' not in line]
  assert [row.split(' | ')[0][2:] for row in rows] == names
  seed = tmp_path / 'seed_0'
  for row, workdir in zip(rows, ['unimodal_audio', 'unimodal_visual', 'fusion_visual_only',
                                 'fusion_cam', 'end_to_end_cam']):
    metrics = json.loads((seed / workdir / 'evaluation' / 'step_1' / 'metrics.json').read_text())
    cells = [f"{metrics['raw']['ccc'][dim]:.3f}" for dim in ('valence', 'arousal')]
    assert row == f"| {row.split(' | ')[0][2:]} | {cells[0]} | {cells[1]} |"
  # the fusion runs share one feature cache, made from both backbones
  fingerprint = json.loads((seed / 'features' / 'fingerprint.json').read_text())
  assert fingerprint['modalities'] == ['visual', 'audio']
  assert (tmp_path / 'results.png').read_bytes()[:4] == b'\x89PNG'
  # the end-to-end model starts from the pre-trained backbones
  end_to_end_log = capsys.readouterr().out.split('== end_to_end_cam')[1]
  for modality in ('visual', 'audio'):
    assert f'{modality} backbone: step 1 (latest) of {seed}/unimodal_{modality}' in end_to_end_log
  logs = {p: p.read_text() for p in seed.glob('*/train_log.jsonl')}
  assert recipe.run(config, str(tmp_path)) == text  # a rerun reuses every run and evaluation
  assert {p: p.read_text() for p in seed.glob('*/train_log.jsonl')} == logs


def test_released_programs_give_back_their_memory_maps():
  def map_count():
    with open('/proc/self/maps', encoding='ascii') as maps:
      return sum(1 for _ in maps)

  def chain(x):  # 200 matrix products, each with its own kernels
    for i in range(200):
      x = jnp.tanh(x @ x.T + i)
    return x

  recipe.release_executables()
  before = map_count()
  jax.jit(chain)(jnp.ones((8, 8))).block_until_ready()
  compiled = map_count()
  recipe.release_executables()
  assert compiled - before > 400  # about three maps a kernel
  assert map_count() - before < 0.25 * (compiled - before)  # 10 % measured (allocator, caches)
