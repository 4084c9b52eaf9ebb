"""The benchmark on the tiny config: figures true to their definitions, its files, a comparison."""

import json
import statistics
import subprocess
import sys

from flax import nnx
import jax
import pytest

from caav_jax.benchmark import peaks
from caav_jax.benchmark import report as benchmark_report
from caav_jax.benchmark import run as benchmark
from caav_jax.input_pipeline import datasets
from caav_jax.models import factory
from caav_jax.training import sharding
from caav_jax.training import stages
from caav_jax.training import steps
from tests import mini_corpus
from tests import model_builders


BATCH = 2


def numpy_filled_model(config, *, initialise_backbones):
  """The configured model, filled from numpy: initialising through jax.random costs 15 s here."""
  del initialise_backbones
  return model_builders.build(lambda rngs: factory.create_model(config, rngs))


@pytest.fixture(scope='module')
def measured(tmp_path_factory, media):
  """The tiny config, the rows `benchmark.run` returned, and its output folder."""
  root = tmp_path_factory.mktemp('benchmark')
  config = mini_corpus.tiny_config_on(root, media, ('train_1',))
  datasets.ensure_dataset(config.data)
  settings = config.benchmark
  settings.batch_sizes, settings.dtypes = (BATCH,), ('float32',)
  settings.warmup_steps, settings.timed_steps, settings.pipeline_batches = 1, 2, 2
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(stages, 'create_model', numpy_filled_model)
    rows = benchmark.run(config, str(root / 'work'))
  return config, rows, root / 'work' / 'benchmark'


PARTS = ('visual_tower', 'audio_tower', 'fusion_head')


def rows_by_step(rows):
  steps = [row['step'] for row in rows]
  assert sorted(steps) == sorted(['inference', 'input_pipeline', 'train', *PARTS])
  return {row['step']: row for row in rows}


def independent_inference_flops(config):
  """XLA FLOPs of the inference step, lowered here on a numpy-filled model (the global program)."""
  model = numpy_filled_model(config, initialise_backbones=False)
  mesh = sharding.data_mesh()
  nnx.update(model, sharding.replicate(nnx.state(model), mesh))
  model.eval()
  config = config.copy_and_resolve_references()
  config.data.batch_size = BATCH
  inputs = sharding.shard_batch(steps.model_inputs(benchmark.random_batch(config), steps.PIXELS),
                                mesh)
  return steps.eval_step.lower(model, inputs).cost_analysis()['flops']


def test_step_figures_follow_from_the_timed_steps(measured):
  config, rows, _ = measured
  by_step = rows_by_step(rows)
  for step in ('train', 'inference', *PARTS):
    row = by_step[step]
    assert row['dtype'] == 'float32' and row['batch_size'] == BATCH
    assert len(row['step_times_s']) == 2 and min(row['step_times_s']) > 0
    assert row['step_time_median_s'] == statistics.median(row['step_times_s'])
    assert row['step_time_median_s'] <= row['step_time_p90_s'] <= max(row['step_times_s'])
    assert row['clips_per_s'] == pytest.approx(BATCH / row['step_time_median_s'], rel=1e-12)
    assert row['frames_per_s'] == pytest.approx(row['clips_per_s'] * config.data.clip_frames)
    assert row['compile_s'] > 0
    assert row['flops_per_step'] > 0
    assert row['tflops_per_s'] == pytest.approx(
        row['flops_per_step'] / row['step_time_median_s'] / 1e12)
    assert row['fraction_of_peak'] is None  # no listed peak for a CPU
    assert row['program_memory_bytes'] > 0
    assert row['peak_memory_bytes'] is None or row['peak_memory_bytes'] > 0
  # Forward + backward + update costs well over twice the forward alone.
  assert by_step['train']['flops_per_step'] > 2 * by_step['inference']['flops_per_step']
  assert by_step['inference']['flops_per_step'] == independent_inference_flops(config)
  # The parts are the train step less the loss and the Adam update (a few FLOPs per parameter).
  parts = sum(by_step[part]['flops_per_step'] for part in PARTS)
  print({part: by_step[part]['flops_per_step'] for part in ('train', *PARTS)})
  assert 0.9 * by_step['train']['flops_per_step'] < parts < by_step['train']['flops_per_step']


def test_input_pipeline_row(measured):
  config, rows, _ = measured
  row = rows_by_step(rows)['input_pipeline']
  assert row['batch_size'] == config.data.batch_size
  assert row['clips_per_s'] > 0
  assert row['frames_per_s'] == pytest.approx(row['clips_per_s'] * config.data.clip_frames)
  assert row['flops_per_step'] is None and row['step_time_median_s'] is None


def test_json_and_markdown_files(measured):
  _, rows, output = measured
  device = jax.devices()[0]
  name = f'{benchmark.device_slug(device.device_kind)}_{jax.device_count()}x'
  assert sorted(path.name for path in output.iterdir()) == [
      'comparison.md', f'{name}.json', f'{name}.md']
  results = json.loads((output / f'{name}.json').read_text())
  assert results['rows'] == rows
  header = results['header']
  assert header['device_kind'] == device.device_kind
  assert header['device_count'] == jax.device_count()
  assert header['platform'] == device.platform and header['jax_version'] == jax.__version__
  assert header['timestamp_utc'].endswith('+00:00')
  lines = (output / f'{name}.md').read_text().splitlines()
  table = [line for line in lines if line.startswith('| ')]
  assert table[0].startswith('| step | dtype | batch |')
  assert [line.split(' | ')[0][2:] for line in table[1:]] == [row['step'] for row in rows]
  # The comparison of every device measured in this folder: here, this one against itself.
  compared = [line.split(' | ') for line in (output / 'comparison.md').read_text().splitlines()
              if line.startswith('| ')][1:]
  assert len(compared) == len(rows)
  assert all(line[-1] == '1.00 |' for line in compared)


def faster_copy(results):
  """The results as if measured on a chip twice as fast."""
  faster = json.loads(json.dumps(results))
  faster['header']['device_kind'] = 'Faster Chip'
  for row in faster['rows']:
    row['step_times_s'] = [t / 2 for t in row['step_times_s']]
    for key in ('step_time_median_s', 'step_time_p90_s'):
      row[key] = None if row[key] is None else row[key] / 2
    for key in ('clips_per_s', 'frames_per_s', 'tflops_per_s'):
      row[key] = None if row[key] is None else row[key] * 2
  return faster


def run_report(*args):
  return subprocess.run([sys.executable, '-m', 'caav_jax.benchmark.report', *map(str, args)],
                        capture_output=True, text=True, timeout=120, check=False)


def test_comparison_of_two_files(measured, tmp_path):
  _, rows, output = measured
  [measured_file] = output.glob('*.json')
  faster_file = tmp_path / 'faster.json'
  faster_file.write_text(json.dumps(faster_copy(json.loads(measured_file.read_text()))))
  comparison_file = tmp_path / 'comparison.md'
  result = run_report(f'--output={comparison_file}', measured_file, faster_file)
  assert result.returncode == 0, result.stderr
  written = comparison_file.read_text()
  assert written == result.stdout
  table = [line.split(' | ') for line in written.splitlines() if line.startswith('| ')][1:]
  assert len(table) == 2 * len(rows)
  device, count = jax.devices()[0].device_kind, jax.device_count()
  for first, second in zip(table[::2], table[1::2]):
    assert first[0] == f'| {device} ×{count}' and second[0] == f'| Faster Chip ×{count}'
    assert first[1:4] == second[1:4]  # the same step, dtype and batch, side by side
    assert first[-1] == '1.00 |' and second[-1] == '2.00 |'


def test_unreadable_files_are_named(tmp_path):
  corrupt = tmp_path / 'corrupt.json'
  corrupt.write_text('{"header": {"device_kind": ')
  with pytest.raises(benchmark_report.ResultsFileError, match='corrupt.json: not valid JSON'):
    benchmark_report.load_results(corrupt)
  result = run_report(corrupt)
  assert result.returncode == 1
  assert result.stderr.startswith(f'caav_jax.benchmark.report: {corrupt}: not valid JSON')
  with pytest.raises(benchmark_report.ResultsFileError, match='absent.json: cannot read'):
    benchmark_report.load_results(tmp_path / 'absent.json')
  wrong = tmp_path / 'wrong.json'
  wrong.write_text('[1, 2]')
  with pytest.raises(benchmark_report.ResultsFileError, match='wrong.json: not a benchmark'):
    benchmark_report.load_results(wrong)


def test_peaks_are_the_data_sheets_dense_bfloat16_figures():
  assert peaks.peak_tflops('NVIDIA H100 80GB HBM3', 'bfloat16') == 989.0
  assert peaks.peak_tflops('NVIDIA H100 PCIe', 'bfloat16') == 756.0
  assert peaks.peak_tflops('NVIDIA L40S', 'bfloat16') == 362.0  # not L4's
  assert peaks.peak_tflops('TPU v5 lite', 'bfloat16') == 197.0  # not v5p's
  assert peaks.peak_tflops('NVIDIA H100 80GB HBM3', 'float32') is None
  assert peaks.peak_tflops('cpu', 'bfloat16') is None
