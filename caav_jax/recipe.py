"""The paper's whole recipe on one config, and a results table that shows what fusion buys.

  python -m caav_jax.main --mode=recipe --config=configs/synthetic.py --workdir=runs/recipe \
      [--config.recipe.seeds=0,1,2]

Per seed: pre-train the audio and the visual backbone alone (their own
heads), extract their features once, train each fusion of
`config.recipe.fusions` on the frozen backbones from the cached features, train
the CAM model end to end (backbones starting from the pre-trained ones, every
layer training), and score every model's last checkpoint the AVEC way (raw
CCC, dev recordings concatenated). The dev recordings are never used to
choose a checkpoint or a setting, so the scores are held-out figures. Every run lives in its own
workdir under <workdir>/seed_<k>/; a finished run or evaluation is reused, so
a second call only prints the table. With several seeds the table gives mean ±
std.
"""

import gc
import json
import pathlib
import statistics
import time

import jax
import ml_collections
import numpy as np

from caav_jax import backbone_init
from caav_jax import checkpointing
from caav_jax import evaluate_checkpoint
from caav_jax import paper_claims
from caav_jax import prediction_files
from caav_jax import train

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


def is_finished(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> bool:
  directory = workdir / backbone_init.CHECKPOINT_DIRECTORY
  if not directory.is_dir():
    return False
  checkpoints = checkpointing.Checkpoints(directory)
  finished = checkpoints.latest_step() == config.train.steps
  checkpoints.close()
  return finished


def train_and_score(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict:
  """Trains (unless finished) and evaluates the last checkpoint (unless done); its metrics."""
  start = time.perf_counter()
  if not is_finished(config, workdir):
    fusion = '' if config.train.stage.startswith('unimodal_') else f', fusion {config.model.fusion}'
    print(f'\n== {workdir.name}: stage {config.train.stage}{fusion}, {config.train.steps} steps',
          flush=True)
    train.train_and_evaluate(config, str(workdir))
  done = workdir / 'evaluation' / f'step_{config.train.steps}' / 'metrics.json'
  if done.is_file():
    metrics = json.loads(done.read_text())
  else:
    metrics = evaluate_checkpoint.evaluate(config, str(workdir))
    print(f'{workdir.name}: {(time.perf_counter() - start) / 60:.1f} min', flush=True)
  release_executables()
  return metrics


def release_executables() -> None:
  """Drops every compiled program: the next run compiles its own.

  XLA's CPU runtime maps each kernel of a program into pages of its own
  (three maps a kernel; the I3D's forward and backward pass alone has
  about 1,000 kernels), and Linux allows a process vm.max_map_count maps
  (65,530 by default); past it the process dies of a segmentation fault.
  A recipe compiles several I3D programs, so each run's are released once
  it is scored.
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
  results.update({paper_claims.frozen_backbones_name(fusion): fused[fusion]
                  for fusion in recipe.fusions})
  if recipe.end_to_end_steps:
    config = stage_config(base, seed, **{
        'train.stage': 'end_to_end', 'model.fusion': 'cam', 'train.steps': recipe.end_to_end_steps,
        'train.init_audio': str(audio_dir), 'train.init_visual': str(visual_dir)})
    results['cam, end to end'] = train_and_score(config, root / 'end_to_end_cam')
  return results


def table(per_seed: list[dict[str, dict]], dimensions) -> str:
  """Markdown: raw dev CCC per model and dimension (mean ± std over seeds when several)."""
  lines = ['| model | ' + ' | '.join(f'{d} CCC' for d in dimensions) + ' |',
           '|---|' + '---|' * len(dimensions)]
  for name in per_seed[0]:
    cells = []
    for dim in dimensions:
      values = [seed[name]['raw']['ccc'][dim] for seed in per_seed]
      cells.append(f'{values[0]:.3f}' if len(values) == 1 else
                   f'{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}')
    lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def plot_results(path: pathlib.Path, per_seed: list[dict[str, dict]], dimensions) -> None:
  """Grouped bars: raw dev CCC per model and dimension; error bars: the table's std over seeds."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=g-import-not-at-top
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  names = list(per_seed[0])
  figure = Figure(figsize=(10, 4), dpi=100)
  FigureCanvasAgg(figure)
  axes = figure.add_subplot()
  width = 0.8 / len(dimensions)
  for offset, dim in enumerate(dimensions):
    values = np.array([[seed[name]['raw']['ccc'][dim] for seed in per_seed] for name in names])
    axes.bar(np.arange(len(names)) + offset * width, values.mean(axis=1), width,
             yerr=values.std(axis=1, ddof=1) if len(per_seed) > 1 else None, label=dim)
  axes.set_xticks(np.arange(len(names)) + width * (len(dimensions) - 1) / 2)
  axes.set_xticklabels(names, rotation=20, ha='right', fontsize=8)
  axes.set_ylabel('dev CCC (raw)')
  axes.axhline(0, color='black', linewidth=0.5)
  axes.legend(loc='upper left', bbox_to_anchor=(1.0, 1.0))  # clear of the bars
  figure.tight_layout()
  path.parent.mkdir(parents=True, exist_ok=True)
  figure.savefig(path)


def run(base: ml_collections.ConfigDict, workdir: str) -> str:
  """Runs the recipe for every seed of config.recipe.seeds; writes results.md, .json and .png."""
  root = pathlib.Path(workdir)
  seeds = list(base.recipe.seeds)
  train.ensure_dataset(base.data)
  per_seed = [run_seed(base, root, seed) for seed in seeds]
  dimensions = list(base.data.dimensions)
  recordings = len(next(iter(per_seed[0].values()))['raw']['per_recording'])
  text = (f'Raw CCC on the {recordings} held-out dev recordings (concatenated), last '
          f'checkpoint of each run, seed{"s" if len(seeds) > 1 else ""} '
          f'{", ".join(map(str, seeds))}.\n\n' + table(per_seed, dimensions))
  claims = paper_claims.claims_table(per_seed, dimensions)
  if claims:
    text += ("\nThe paper's claims, judged on the means (k/n: the seeds in which a claim "
             'holds; a single modality is audio_only or visual_only):\n\n' + claims)
  stem = 'results' if len(seeds) == 1 else 'results_seeds_' + '_'.join(map(str, seeds))
  (root / f'{stem}.md').write_text(text)
  prediction_files.write_metrics_json(root / f'{stem}.json', {
      str(seed): {name: metrics['raw'] for name, metrics in results.items()}
      for seed, results in zip(seeds, per_seed)})
  plot_results(root / f'{stem}.png', per_seed, dimensions)
  print('\n' + text + f'\nwrote {root / stem}.md, .json and .png', flush=True)
  return text
