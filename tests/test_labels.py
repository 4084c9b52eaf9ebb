"""Gold-standard ARFF and individual-rating CSV parsing."""

import numpy as np
import pytest

from data_pipelines.recola.errors import RecolaInputError
from data_pipelines.recola.labels import parse_gold_standard_arff
from data_pipelines.recola.labels import parse_individual_ratings_csv

REAL_HEADER = ('@relation {relation}{nl}{nl}@attribute Instance_name string{nl}'
               '@attribute frameTime numeric{nl}@attribute GoldStandard numeric'
               '{nl}{nl}{nl}@data{nl}{nl}')


def write_arff(path, values, relation='GOLDSTANDARD_AROUSAL', nl='\r\n',
               name='dev_1'):
  rows = ''.join(f'{name},{k * 0.04:.2f},{v:.6f}{nl}'.replace('0.00,', '0,', 1)
                 for k, v in enumerate(values))
  path.write_bytes((REAL_HEADER.format(relation=relation, nl=nl) + rows).encode())
  return path


@pytest.mark.parametrize('relation', ['GOLDSTANDARD', 'GOLDSTANDARD_VALENCE',
                                      'an odd name with spaces'])
@pytest.mark.parametrize('newline', ['\r\n', '\n'])
def test_arff_values_and_times(tmp_path, relation, newline):
  values = np.sin(np.arange(30) / 4)
  gold = parse_gold_standard_arff(
      write_arff(tmp_path / 'dev_1.arff', values, relation, newline))
  np.testing.assert_allclose(gold.values, values, atol=5e-7)
  np.testing.assert_allclose(gold.times, np.arange(30) * 0.04)


def test_arff_columns_found_by_name_not_position(tmp_path):
  text = ('@RELATION x\n@ATTRIBUTE GoldStandard NUMERIC\n'
          '@ATTRIBUTE frameTime NUMERIC\n@ATTRIBUTE Instance_name STRING\n'
          '@DATA\n0.5,0,a\n-0.25,0.04,a\n')
  (tmp_path / 'x.arff').write_text(text)
  gold = parse_gold_standard_arff(tmp_path / 'x.arff')
  np.testing.assert_array_equal(gold.values, [0.5, -0.25])


def test_arff_missing_column_is_named(tmp_path):
  text = '@relation G\n@attribute Instance_name string\n@attribute frameTime numeric\n@data\na,0\n'
  (tmp_path / 'bad.arff').write_text(text)
  with pytest.raises(RecolaInputError, match=r"bad\.arff: missing column 'goldstandard'"):
    parse_gold_standard_arff(tmp_path / 'bad.arff')


def test_arff_gap_in_times_is_reported_with_row(tmp_path):
  path = write_arff(tmp_path / 'g.arff', [0.1, 0.2, 0.3])
  text = path.read_text().replace('0.04,', '0.08,')
  path.write_text(text)
  with pytest.raises(RecolaInputError, match=r'g\.arff: row 2 has time 0\.08'):
    parse_gold_standard_arff(path)


def test_arff_ragged_row_and_not_a_number(tmp_path):
  path = write_arff(tmp_path / 'r.arff', [0.1, 0.2])
  path.write_text(path.read_text() + 'dev_1,0.08\n')
  with pytest.raises(RecolaInputError, match='2 fields where the header declares 3'):
    parse_gold_standard_arff(path)
  path = write_arff(tmp_path / 'n.arff', [0.1, 0.2])
  path.write_text(path.read_text().replace('0.200000', 'abc'))
  with pytest.raises(RecolaInputError, match='not a number'):
    parse_gold_standard_arff(path)


def test_arff_missing_file_and_binary_file(tmp_path):
  with pytest.raises(RecolaInputError, match='nope.arff: file not found'):
    parse_gold_standard_arff(tmp_path / 'nope.arff')
  (tmp_path / 'b.arff').write_bytes(b'\xff\xfe\x00\x81')
  with pytest.raises(RecolaInputError, match='b.arff: not a text file'):
    parse_gold_standard_arff(tmp_path / 'b.arff')


def test_individual_ratings_with_padded_rater_names(tmp_path):
  lines = ['time;FM1 ;FM2 ;FM3 ;FF1 ;FF2 ;FF3']
  table = np.round(np.random.default_rng(0).uniform(-1, 1, (5, 6)), 2)
  for k, row in enumerate(table):
    lines.append(f'{k * 0.04:.2f};' + ';'.join(f'{v:.2f}' for v in row))
  (tmp_path / 'r.csv').write_text('\r\n'.join(lines) + '\r\n')
  ratings = parse_individual_ratings_csv(tmp_path / 'r.csv')
  assert ratings.raters == ('FM1', 'FM2', 'FM3', 'FF1', 'FF2', 'FF3')
  np.testing.assert_allclose(ratings.ratings, table, atol=1e-6)
  np.testing.assert_allclose(ratings.times, np.arange(5) * 0.04)


def test_individual_ratings_ragged_row(tmp_path):
  (tmp_path / 'r.csv').write_text('time;FM1 ;FM2\n0;0.1;0.2\n0.04;0.1\n')
  with pytest.raises(RecolaInputError, match=r'r\.csv: line 3: 2 fields where the header has 3'):
    parse_individual_ratings_csv(tmp_path / 'r.csv')
