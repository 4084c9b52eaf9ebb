"""--mode=recipe: the paper's whole recipe on one config, and a results table that shows what fusion buys.

  python -m caav_jax.main --mode=recipe --config=configs/synthetic.py --workdir=runs/recipe \
      [--config.recipe.seeds=0,1,2]

Per seed: pre-train the audio and the visual backbone alone (their own
heads), extract their features once, train each fusion of
`config.recipe.fusions` on the frozen backbones from the cached features,
train the CAM model end to end (backbones starting from the pre-trained
ones, every layer training), and score every model's last checkpoint the
AVEC way (raw CCC, dev recordings concatenated). The dev recordings never
choose a checkpoint or a setting, so the scores are held-out figures. Every
run lives in its own workdir under <workdir>/seed_<k>/; a finished run or
evaluation is reused, so a second call only prints the table.
"""

import gc
import json
import os
import pathlib
import time

import jax
import ml_collections

from caav_jax import evaluate
from caav_jax import train
from caav_jax.input_pipeline import datasets
from caav_jax.recipe import claims
from caav_jax.recipe import report
from caav_jax.workdir import Workdir


def stage_config(base: ml_collections.ConfigDict, seed: int, **changes
                 ) -> ml_collections.ConfigDict:
  """A copy of `base` for one run: `changes` maps 'section.key' to a value."""
  config = base.copy_and_resolve_references()
  config.train.seed = config.data.seed = seed
  config.train.eval_every = 0  # no checkpoint is chosen on dev
  config.eval.checkpoint = 'latest'
  for key, value in changes.items():
    section, name = key.split('.')
    config[section][name] = value
  return config


def train_and_score(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
  """Trains (unless finished) and evaluates the last checkpoint (unless done); its metrics."""
  start = time.perf_counter()
  run = Workdir(workdir)
  if run.latest_step() != config.train.steps:
    fusion = '' if config.train.stage.startswith('unimodal_') else f', fusion {config.model.fusion}'
    print(f'\n== {workdir.name}: stage {config.train.stage}{fusion}, {config.train.steps} steps',
          flush=True)
    train.train_and_evaluate(config, workdir)
  done = run.evaluation(config.train.steps) / evaluate.METRICS_FILE
  if done.is_file():
    metrics = json.loads(done.read_text())
  else:
    metrics = evaluate.evaluate(config, workdir)
    print(f'{workdir.name}: {(time.perf_counter() - start) / 60:.1f} min', flush=True)
  release_executables()
  return metrics


def release_executables() -> None:
  """Drops every compiled program: the next run compiles its own.

  XLA's CPU runtime maps each kernel of a program into pages of its own, and
  Linux allows a process vm.max_map_count maps; past it the process dies of
  a segmentation fault. A recipe compiles several I3D programs (about 1,000
  kernels each), so each run's are released once it is scored.
  """
  jax.clear_caches()
  gc.collect()


def run_seed(base: ml_collections.ConfigDict, root: pathlib.Path, seed: int) -> dict[str, dict]:
  """Every model of the recipe for one seed: {model name: metrics}."""
  recipe = base.recipe
  root = root / f'seed_{seed}'
  audio_dir, visual_dir = root / 'unimodal_audio', root / 'unimodal_visual'
  results = {
      'audio backbone + own head': train_and_score(stage_config(
          base, seed, **{'train.stage': 'unimodal_audio', 'train.init_audio': '',
                         'train.steps': recipe.unimodal_audio_steps}), audio_dir),
      'visual backbone + own head': train_and_score(stage_config(
          base, seed, **{'train.stage': 'unimodal_visual',
                         'train.init_visual': recipe.visual_weights,
                         'train.steps': recipe.unimodal_visual_steps}), visual_dir),
  }
  fused = {}
  # Fusions of both modalities first: their feature cache then serves the single-modality ones.
  for fusion in sorted(recipe.fusions, key=lambda f: f in ('audio_only', 'visual_only')):
    config = stage_config(base, seed, **{
        'train.stage': 'fusion', 'model.fusion': fusion, 'train.steps': recipe.fusion_steps,
        'train.init_audio': '' if fusion == 'visual_only' else str(audio_dir),
        'train.init_visual': '' if fusion == 'audio_only' else str(visual_dir),
        'train.feature_cache': True, 'train.feature_dir': str(root / 'features'),
        'train.learning_rate': recipe.fusion_learning_rate,
        'train.steps_per_call': recipe.fusion_steps_per_call})
    fused[fusion] = train_and_score(config, root / f'fusion_{fusion}')
  results.update({claims.frozen_backbones_name(fusion): fused[fusion]
                  for fusion in recipe.fusions})
  if recipe.end_to_end_steps:
    config = stage_config(base, seed, **{
        'train.stage': 'end_to_end', 'model.fusion': 'cam', 'train.steps': recipe.end_to_end_steps,
        'train.init_audio': str(audio_dir), 'train.init_visual': str(visual_dir)})
    results['cam, end to end'] = train_and_score(config, root / 'end_to_end_cam')
  return results


def run(base: ml_collections.ConfigDict, workdir: str | os.PathLike) -> str:
  """Runs the recipe for every seed of config.recipe.seeds; writes results.md, .json and .png."""
  root = pathlib.Path(workdir)
  seeds = list(base.recipe.seeds)
  datasets.ensure_dataset(base.data)
  per_seed = [run_seed(base, root, seed) for seed in seeds]
  return report.write(root, seeds, per_seed, list(base.data.dimensions))
