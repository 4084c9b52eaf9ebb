"""Evaluation output files: read back by value, atomic replacement, bad input."""

import json

from matplotlib import image
import numpy as np
import pytest

from caav_jax.evaluation import outputs
from data_pipelines.affwild2 import labels
from data_pipelines.recola.labels import parse_gold_standard_arff


DIMENSIONS = ('valence', 'arousal')
STEPS = 7501  # 0 .. 300 s at 40 ms.
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(name='recording')
def fixture_recording():
  rng = np.random.default_rng(0)
  times = np.arange(STEPS) * 0.04
  return times, rng.uniform(-1, 1, (STEPS, 2)), rng.uniform(-1, 1, (STEPS, 2))


def test_csv_reads_back_with_its_header(tmp_path, recording):
  times, predictions, golds = recording
  path = tmp_path / 'new' / 'dir' / 'dev_1.csv'
  outputs.write_recording_csv(path, times, predictions, golds, DIMENSIONS)
  assert path.read_text().splitlines()[0] == (
      'time,valence_prediction,valence_gold,arousal_prediction,arousal_gold')
  table = np.loadtxt(path, delimiter=',', skiprows=1)
  np.testing.assert_allclose(table[:, 0], times, rtol=0, atol=1e-9)
  np.testing.assert_allclose(table[:, [1, 3]], predictions, rtol=0, atol=1e-6)
  np.testing.assert_allclose(table[:, [2, 4]], golds, rtol=0, atol=1e-6)


def test_csv_without_gold_has_prediction_columns_only(tmp_path, recording):
  times, predictions, _ = recording
  path = tmp_path / 'test_1.csv'
  outputs.write_recording_csv(path, times, predictions, None, DIMENSIONS)
  assert path.read_text().splitlines()[0] == 'time,valence_prediction,arousal_prediction'
  np.testing.assert_allclose(np.loadtxt(path, delimiter=',', skiprows=1)[:, 1:], predictions,
                             rtol=0, atol=1e-6)


def test_arff_has_the_gold_standard_layout(tmp_path, recording):
  times, predictions, _ = recording
  path = tmp_path / 'arousal' / 'dev_1.arff'
  outputs.write_avec_arff(path, 'dev_1', 'arousal', times, predictions[:, 1])
  raw = path.read_bytes()
  assert b'\r' not in raw
  lines = raw.decode().split('\n')
  assert lines[:9] == ['@relation PREDICTION_AROUSAL', '', '@attribute Instance_name string',
                       '@attribute frameTime numeric', '@attribute prediction numeric', '', '',
                       '@data', '']
  assert lines[9] == f'dev_1,0,{predictions[0, 1]:.6f}'
  assert lines[10] == f'dev_1,0.04,{predictions[1, 1]:.6f}'
  assert lines[-2] == f'dev_1,300,{predictions[-1, 1]:.6f}'
  assert lines[-1] == '' and len(lines) == 9 + STEPS + 1


def test_arff_reads_back_with_the_project_reader(tmp_path, recording):
  times, predictions, _ = recording
  path = tmp_path / 'dev_1.arff'
  outputs.write_avec_arff(path, 'dev_1', 'valence', times, predictions[:, 0])
  parsed = parse_gold_standard_arff(path, value_attribute='prediction')
  np.testing.assert_allclose(parsed.times, times, rtol=0, atol=1e-9)
  np.testing.assert_allclose(parsed.values, predictions[:, 0], rtol=0, atol=1e-6)


def test_abaw_test_predictions_read_back_as_an_annotation_file(tmp_path):
  valence = np.array([0.25, -1.5, 0.123456789, 0.0])
  arousal = np.array([1.2, -0.5, 0.0, -0.999999])
  outputs.write_abaw_predictions(tmp_path / 'video_left.txt', valence, arousal)
  lines = (tmp_path / 'video_left.txt').read_text().splitlines()
  assert lines[0] == 'valence,arousal' and len(lines) == 5
  assert lines[1:3] == ['0.250000,1.000000', '-1.000000,-0.500000']  # clipped to [-1, 1]
  # Aff-Wild2's own annotation reader takes it back, one frame a line.
  np.testing.assert_allclose(labels.read_annotation(tmp_path / 'video_left.txt'),
                             np.clip(np.column_stack([valence, arousal]), -1, 1), atol=5e-7)
  with pytest.raises(ValueError, match='NaN or infinite'):
    outputs.write_abaw_predictions(tmp_path / 'bad.txt', np.array([np.nan]), np.array([0.0]))
  assert not (tmp_path / 'bad.txt').exists()


def test_plot_is_a_png_of_the_expected_size(tmp_path, recording):
  times, predictions, golds = (array[:750] for array in recording)  # 30 s draws faster.
  path = tmp_path / 'plots' / 'dev_1.png'
  outputs.plot_recording(path, times, predictions, golds, DIMENSIONS, 'dev_1')
  assert path.stat().st_size > 0
  assert path.read_bytes()[:8] == PNG_SIGNATURE
  assert image.imread(path).shape == (500, 1000, 4)  # 10 x 2.5 inches per panel at 100 dpi.


def test_metrics_json_is_sorted_indented_and_converts_numpy(tmp_path):
  path = tmp_path / 'metrics.json'
  metrics = {'raw': {'valence': np.float32(0.5), 'arousal': 0.25},
             'epoch': np.int64(3), 'shifts': np.array([7, 9])}
  outputs.write_metrics_json(path, metrics)
  expected = {'raw': {'valence': 0.5, 'arousal': 0.25}, 'epoch': 3, 'shifts': [7, 9]}
  assert path.read_text() == json.dumps(expected, indent=2, sort_keys=True) + '\n'


def leftovers(directory, keep):
  return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def test_a_failed_write_leaves_the_earlier_file_unchanged(tmp_path, recording):
  times, predictions, golds = recording
  arff, csv = tmp_path / 'dev_1.arff', tmp_path / 'dev_1.csv'
  outputs.write_avec_arff(arff, 'dev_1', 'valence', times, predictions[:, 0])
  outputs.write_recording_csv(csv, times, predictions, golds, DIMENSIONS)
  before = arff.read_bytes(), csv.read_bytes()
  with pytest.raises(ValueError, match='shape'):
    outputs.write_avec_arff(arff, 'dev_1', 'valence', times, predictions[:-1, 0])
  with pytest.raises(ValueError, match='golds'):
    outputs.write_recording_csv(csv, times, predictions, golds[:, :1], DIMENSIONS)
  assert (arff.read_bytes(), csv.read_bytes()) == before
  assert leftovers(tmp_path, {arff.name, csv.name}) == []


def bad_calls(tmp_path, times, predictions, golds):
  nan = predictions.copy()
  nan[3, 1] = np.nan
  csv, arff = tmp_path / 'x.csv', tmp_path / 'x.arff'
  return {
      'NaN prediction': (lambda: outputs.write_recording_csv(
          csv, times, nan, golds, DIMENSIONS), 'NaN'),
      'dimension count': (lambda: outputs.write_recording_csv(
          csv, times, predictions, golds, ('valence',)), 'shape'),
      'repeated dimension': (lambda: outputs.write_recording_csv(
          csv, times, predictions, golds, ('valence', 'valence')), 'repeat'),
      'comma in recording': (lambda: outputs.write_avec_arff(
          arff, 'dev,1', 'valence', times, predictions[:, 0]), 'recording'),
      'NaN in ARFF values': (lambda: outputs.write_avec_arff(
          arff, 'dev_1', 'valence', times, nan[:, 1]), 'NaN'),
      '2-D times': (lambda: outputs.plot_recording(
          tmp_path / 'x.png', times[:, None], predictions, golds, DIMENSIONS, 't'), '1-D'),
      'NaN metric': (lambda: outputs.write_metrics_json(
          tmp_path / 'x.json', {'ccc': float('nan')}), 'JSON'),
      'object metric': (lambda: outputs.write_metrics_json(
          tmp_path / 'x.json', {'ccc': object()}), 'object'),
  }


@pytest.mark.parametrize('case', ['NaN prediction', 'dimension count', 'repeated dimension',
                                  'comma in recording', 'NaN in ARFF values', '2-D times',
                                  'NaN metric', 'object metric'])
def test_bad_input_raises_value_error_and_writes_nothing(tmp_path, recording, case):
  call, message = bad_calls(tmp_path, *recording)[case]
  with pytest.raises(ValueError, match=message):
    call()
  assert leftovers(tmp_path, set()) == []
