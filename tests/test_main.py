"""The entry point refuses configuration typos before doing anything."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_main(*args):
  return subprocess.run([sys.executable, '-m', 'caav_jax.main', *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300, check=False)


def test_config_typo_is_an_error_naming_the_key(tmp_path):
  result = run_main('--config=configs/tiny.py', f'--workdir={tmp_path / "w"}',
                    '--config.train.stpes=3')
  assert result.returncode != 0
  assert 'stpes' in result.stderr
  assert not (tmp_path / 'w').exists()  # nothing was started


def test_wrong_type_is_an_error(tmp_path):
  result = run_main('--config=configs/tiny.py', f'--workdir={tmp_path / "w"}',
                    '--config.train.steps=many')
  assert result.returncode != 0 and 'many' in result.stderr
