"""Benchmark tables: one run's markdown, and the JSON files of several accelerators merged into one comparison.

  python -m caav_jax.benchmark.report --output=comparison.md a.json b.json ...

Rows with the same step, dtype and batch size sit together, one per file;
"× vs first file" is each row's clips/s over the first file's matching row.
"""

import json
import pathlib
import sys
from typing import Any

from absl import app
from absl import flags

from caav_jax.atomic_write import atomic_write
from caav_jax.errors import ResultsFileError


HEADER_KEYS = ('device_kind', 'device_count', 'jax_version', 'timestamp_utc', 'workload')
ROW_KEYS = ('step', 'dtype', 'batch_size', 'clips_per_s', 'frames_per_s', 'step_time_median_s',
            'compile_s', 'tflops_per_s', 'peak_memory_bytes')
COMPARISON_COLUMNS = ('device', 'step', 'dtype', 'batch', 'clips/s', 'frames/s', 'step ms median',
                      'compile s', 'TFLOP/s', '% of peak', 'peak mem GiB', '× vs first file')
STEP_ORDER = ('train', 'train_on_features', 'inference', 'input_pipeline')
GIB = 2 ** 30
RUN_COLUMNS = ('step', 'dtype', 'batch', 'compile s', 'step ms median', 'step ms p90',
               'clips/s', 'frames/s', 'GFLOP/step', 'TFLOP/s', '% of peak', 'peak mem GiB',
               'XLA mem GiB')


def cell(value: float | None, spec: str, factor: float = 1.0) -> str:
  """`value` × `factor` (a change of unit) formatted with `spec`, or '–' when it is unknown."""
  return '–' if value is None else format(value * factor, spec)


def markdown(head: dict[str, Any], rows: list[dict[str, Any]]) -> str:
  """A markdown report: what was measured, then one table line per row."""
  workload = head['workload']
  lines = [
      f"# Benchmark: {head['device_kind']} ×{head['device_count']} "
      f"({head['platform']}, jax {head['jax_version']}, {head['timestamp_utc']})",
      '',
      (f"Shapes: {workload['shapes']}. " if workload.get('shapes') else '') +
      f"Stage {workload['stage']}, fusion {workload['fusion']}, widths "
      f"{workload['visual_width']:g} (visual) / {workload['audio_width']:g} (audio); clips of "
      f"{workload['clip_frames']} frames at {workload['image_size']}² in sub-sequences of "
      f"{workload['subseq_frames']}; {head['warmup_steps']} warm-up and "
      f"{head['timed_steps']} timed steps; the input pipeline with {head['pipeline_workers']} "
      "Grain workers. % of peak: against the chip's dense bfloat16 peak "
      "(caav_jax/benchmark/peaks.py; '–' for CPUs and float32). Peak memory is the devices' "
      "high-water mark so far; XLA memory is the compiled step's own estimate per device.",
      '',
      '| ' + ' | '.join(RUN_COLUMNS) + ' |',
      '|' + '---|' * len(RUN_COLUMNS),
  ]
  for row in rows:
    cells = (row['step'], row['dtype'] or '–', str(row['batch_size']),
             cell(row['compile_s'], '.1f'), cell(row['step_time_median_s'], '.1f', 1e3),
             cell(row['step_time_p90_s'], '.1f', 1e3), cell(row['clips_per_s'], '.2f'),
             cell(row['frames_per_s'], '.1f'), cell(row['flops_per_step'], ',.2f', 1e-9),
             cell(row['tflops_per_s'], '.3g'), cell(row.get('fraction_of_peak'), '.1f', 100),
             cell(row['peak_memory_bytes'], '.2f', 1 / GIB),
             cell(row['program_memory_bytes'], '.2f', 1 / GIB))
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def load_results(path: str | pathlib.Path) -> dict[str, Any]:
  """The header and rows of a JSON file written by --mode=benchmark (caav_jax/benchmark/run.py).

  Raises:
    ResultsFileError: naming the file, when it is missing, not JSON, or lacks
      a key the comparison needs.
  """
  path = pathlib.Path(path)
  try:
    results = json.loads(path.read_text())
  except OSError as e:
    raise ResultsFileError(f'{path}: cannot read it ({e.strerror})') from e
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ResultsFileError(f'{path}: not valid JSON ({e})') from e
  if (not isinstance(results, dict) or not isinstance(results.get('header'), dict)
      or not isinstance(results.get('rows'), list)):
    raise ResultsFileError(f'{path}: not a benchmark results file (expected an object with '
                           '"header" and "rows", as --mode=benchmark writes)')
  missing = [key for key in HEADER_KEYS if key not in results['header']]
  if missing:
    raise ResultsFileError(f'{path}: the header lacks {", ".join(missing)}')
  for index, row in enumerate(results['rows']):
    missing = ROW_KEYS if not isinstance(row, dict) else [k for k in ROW_KEYS if k not in row]
    if missing:
      raise ResultsFileError(f'{path}: row {index} lacks {", ".join(missing)}')
  return results


def row_key(row: dict[str, Any]) -> tuple[str, str | None, int]:
  """What makes rows of different files comparable: step kind, dtype and batch size."""
  return row['step'], row['dtype'], row['batch_size']


def sort_key(row: dict[str, Any]) -> tuple[int, str, str, int]:
  """Train, inference, then input-pipeline rows; by dtype and batch size within each."""
  step = row['step']
  order = STEP_ORDER.index(step) if step in STEP_ORDER else len(STEP_ORDER)
  return order, step, row['dtype'] or '', row['batch_size']


def comparison(results: list[dict[str, Any]], names: list[str]) -> str:
  """One markdown table of the rows of every file, with clips/s relative to the first file.

  Args:
    results: the files' contents, as `load_results` returns them.
    names: the files' names, in the same order, for the list of sources.

  Returns:
    Markdown: the sources, then the table. A file whose workload (model and
    clip shape) differs from the first file's gets no ratios.
  """
  first = results[0]
  reference = {row_key(row): row['clips_per_s'] for row in first['rows']}
  lines = ['# Benchmark comparison', '']
  for number, (name, result) in enumerate(zip(names, results), start=1):
    head = result['header']
    same = head['workload'] == first['header']['workload']
    lines.append(f"{number}. `{name}`: {head['device_kind']} ×{head['device_count']}, jax "
                 f"{head['jax_version']}, {head['timestamp_utc']}"
                 + ('' if same else ' (a different workload than the first file: no ratios)'))
  lines += ['', '| ' + ' | '.join(COMPARISON_COLUMNS) + ' |', '|' + '---|' * len(COMPARISON_COLUMNS)]
  entries = [(sort_key(row), number, result, row) for number, result in enumerate(results)
             for row in result['rows']]
  for _, _, result, row in sorted(entries, key=lambda entry: entry[:2]):
    head = result['header']
    first_clips = reference.get(row_key(row))
    ratio = (row['clips_per_s'] / first_clips
             if first_clips and head['workload'] == first['header']['workload'] else None)
    cells = (f"{head['device_kind']} ×{head['device_count']}", row['step'], row['dtype'] or '–',
             str(row['batch_size']), cell(row['clips_per_s'], '.2f'),
             cell(row['frames_per_s'], '.1f'), cell(row['step_time_median_s'], '.1f', 1e3),
             cell(row['compile_s'], '.1f'), cell(row['tflops_per_s'], '.3g'),
             cell(row.get('fraction_of_peak'), '.1f', 100),
             cell(row['peak_memory_bytes'], '.2f', 1 / GIB), cell(ratio, '.2f'))
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def main(argv):
  paths = argv[1:]
  if not paths:
    raise app.UsageError('name the benchmark JSON files to compare')
  try:
    results = [load_results(path) for path in paths]
  except ResultsFileError as e:
    sys.exit(f'caav_jax.benchmark.report: {e}')
  table = comparison(results, paths)
  if flags.FLAGS.output:
    with atomic_write(flags.FLAGS.output) as file:
      file.write(table)
  print(table, end='')


if __name__ == '__main__':
  # Defined only when run as a program, so that importing this module beside
  # another that defines --output (caav_jax/tools/convert_i3d_weights.py) cannot clash.
  flags.DEFINE_string('output', None, 'Where to write the comparison (it is also printed).')
  app.run(main)
