"""The one atomic-write helper: the target appears whole or not at all; a failure leaves the old one."""

import numpy as np
import pytest

from caav_jax.atomic_write import atomic_write


def test_text_and_binary_files_appear_whole_with_their_parent_folders(tmp_path):
  text = tmp_path / 'a' / 'b' / 'notes.md'
  with atomic_write(text) as file:
    file.write('line one\nline two\n')
  assert text.read_bytes() == b'line one\nline two\n'
  arrays = tmp_path / 'arrays.npz'
  with atomic_write(arrays, binary=True) as file:
    np.savez(file, x=np.arange(3))
  with np.load(arrays) as stored:
    np.testing.assert_array_equal(stored['x'], [0, 1, 2])
  assert sorted(p.name for p in tmp_path.rglob('*') if p.is_file()) == ['arrays.npz', 'notes.md']


@pytest.mark.parametrize('failure', [RuntimeError('disk full'), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_earlier_file_and_no_temporary(tmp_path, failure):
  path = tmp_path / 'scores.json'
  path.write_text('{"ccc": 0.5}\n')
  with pytest.raises(type(failure)):
    with atomic_write(path) as file:
      file.write('{"ccc": 0.')
      raise failure
  assert path.read_text() == '{"ccc": 0.5}\n'
  assert [p.name for p in tmp_path.iterdir()] == ['scores.json']
