"""The paper's claims, checked on a recipe's results: does fusion add, does CAM beat concat (and JCA CAM)?

The single modalities are the fusion head on one frozen backbone
('audio_only', 'visual_only'), so every comparison is between models trained
the same way on the same cached features. Each claim is judged on the mean over
seeds; the cell also counts the seeds in which it holds.
"""

import math
import statistics


FUSIONS = ('concat', 'sum', 'cam', 'cam_concat', 'jca')
# (better, worse): the paper's CAM over concatenation; the authors' later JCA over CAM.
COMPARISONS = (('cam', 'concat'), ('cam_concat', 'concat'), ('jca', 'cam'))
BEST_MODEL_TARGET = 0.6


def frozen_backbones_name(fusion: str) -> str:
  """The recipe's name for a fusion trained on the frozen backbones, e.g. 'cam (frozen backbones)'."""
  return f'{fusion} (frozen backbones)'


SINGLE_MODALITIES = tuple(map(frozen_backbones_name, ('audio_only', 'visual_only')))


def _ccc(seed_results: dict[str, dict], name: str, dimension: str) -> float:
  return seed_results[name]['raw']['ccc'][dimension]


def _cell(holds_on_mean: bool, holds: list[bool], text: str) -> str:
  """'✓ text (k/n seeds)': ✓ when the claim holds on the means; it holds in k seeds of n."""
  mark = '✓' if holds_on_mean else '✗'
  return f'{mark} {text} ({sum(holds)}/{len(holds)} seed{"s" if len(holds) > 1 else ""})'


def _signed(value: float) -> str:
  """+0.012 or −0.012; a margin that rounds to zero keeps its first two significant digits."""
  decimals = 3 if abs(value) >= 5e-4 or value == 0 else 1 - math.floor(math.log10(abs(value)))
  return f'{value:+.{decimals}f}'.replace('-', '−')


def claims_table(per_seed: list[dict[str, dict]], dimensions) -> str:
  """Markdown: one row per claim, one column per dimension.

  Args:
    per_seed: Per seed, {model name: metrics} as `recipe.run_seed` returns.
    dimensions: The label dimensions scored.

  Returns:
    The table, or '' when the results hold no single-modality run to compare with.
  """
  names = list(per_seed[0])
  if not all(name in names for name in SINGLE_MODALITIES):
    return ''

  def mean(name, dimension):
    return statistics.mean(_ccc(seed, name, dimension) for seed in per_seed)

  def best_single(seed, dimension):
    return max(_ccc(seed, name, dimension) for name in SINGLE_MODALITIES)

  def best_model_cell(dimension):
    best = max(names, key=lambda name: mean(name, dimension))
    best_mean = mean(best, dimension)
    holds = [max(_ccc(seed, name, dimension) for name in names) >= BEST_MODEL_TARGET
             for seed in per_seed]
    return _cell(best_mean >= BEST_MODEL_TARGET, holds, f'{best} {best_mean:.3f}')

  rows = {f"best model's CCC ≥ {BEST_MODEL_TARGET}": [best_model_cell(d) for d in dimensions]}
  fusions = [fusion for fusion in FUSIONS if frozen_backbones_name(fusion) in names]
  for fusion in fusions:
    name = frozen_backbones_name(fusion)
    cells = []
    for dimension in dimensions:
      margins = [_ccc(seed, name, dimension) - best_single(seed, dimension) for seed in per_seed]
      single = max(SINGLE_MODALITIES, key=lambda single: mean(single, dimension))
      margin = mean(name, dimension) - mean(single, dimension)
      cells.append(_cell(margin > 0, [m > 0 for m in margins], _signed(margin)))
    rows[f'{fusion} above each single modality'] = cells
  for better, worse in COMPARISONS:
    if better in fusions and worse in fusions:
      cells = []
      for dimension in dimensions:
        margins = [_ccc(seed, frozen_backbones_name(better), dimension) -
                   _ccc(seed, frozen_backbones_name(worse), dimension) for seed in per_seed]
        margin = statistics.mean(margins)
        cells.append(_cell(margin >= 0, [m >= 0 for m in margins], _signed(margin)))
      rows[f'{better} ≥ {worse}'] = cells
  lines = ['| claim | ' + ' | '.join(dimensions) + ' |', '|---|' + '---|' * len(dimensions)]
  lines += [f'| {claim} | ' + ' | '.join(cells) + ' |' for claim, cells in rows.items()]
  return '\n'.join(lines) + '\n'
