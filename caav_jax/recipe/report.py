"""The recipe's results: a markdown table (mean ± std over seeds), the claims under it, JSON and a plot."""

import pathlib
import statistics

import numpy as np

from caav_jax.atomic_write import atomic_write
from caav_jax.evaluation import outputs
from caav_jax.recipe import claims


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
  with atomic_write(path, binary=True) as file:
    figure.savefig(file, format='png')


def write(root: pathlib.Path, seeds: list[int], per_seed: list[dict[str, dict]],
          dimensions) -> str:
  """Writes results[_seeds_…].md, .json and .png under `root`; returns the markdown."""
  recordings = len(next(iter(per_seed[0].values()))['raw']['per_recording'])
  text = (f'Raw CCC on the {recordings} held-out dev recordings (concatenated), last '
          f'checkpoint of each run, seed{"s" if len(seeds) > 1 else ""} '
          f'{", ".join(map(str, seeds))}.\n\n' + table(per_seed, dimensions))
  claims_table = claims.claims_table(per_seed, dimensions)
  if claims_table:
    text += ("\nThe paper's claims, judged on the means (k/n: the seeds in which a claim "
             'holds; a single modality is audio_only or visual_only):\n\n' + claims_table)
  stem = 'results' if len(seeds) == 1 else 'results_seeds_' + '_'.join(map(str, seeds))
  with atomic_write(root / f'{stem}.md') as file:
    file.write(text)
  outputs.write_metrics_json(root / f'{stem}.json', {
      str(seed): {name: metrics['raw'] for name, metrics in results.items()}
      for seed, results in zip(seeds, per_seed)})
  plot_results(root / f'{stem}.png', per_seed, dimensions)
  print('\n' + text + f'\nwrote {root / stem}.md, .json and .png', flush=True)
  return text
