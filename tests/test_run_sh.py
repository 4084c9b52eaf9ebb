"""./run.sh's start-up checks: a wrong interpreter or accelerator stops it with one line, before any set-up."""

import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_sh(*args, **env):
  return subprocess.run(['bash', str(ROOT / 'run.sh'), *args], capture_output=True, text=True,
                        timeout=60, check=False, env={**os.environ, **env})


def one_line_failure(result) -> str:
  assert result.returncode == 1, result
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and result.stdout == '', result
  return lines[0]


@pytest.mark.skipif(shutil.which('nvidia-smi') is not None, reason='this machine has a GPU driver')
@pytest.mark.parametrize('accelerator', ['cuda12', 'cuda13'])
def test_cuda_without_a_driver_fails_at_start_up(accelerator):
  line = one_line_failure(run_sh('test', CAAV_ACCELERATOR=accelerator))
  assert line == (f'run.sh: CAAV_ACCELERATOR={accelerator} asks for an NVIDIA GPU, but this '
                  'machine has no nvidia-smi (no driver); unset it to run on the CPU')


def test_an_unknown_accelerator_is_named():
  line = one_line_failure(run_sh('benchmark', CAAV_ACCELERATOR='rocm'))
  assert line == 'run.sh: CAAV_ACCELERATOR=rocm: use cpu, cuda12, cuda13 or tpu'


def test_an_unsupported_or_missing_interpreter_is_named():
  line = one_line_failure(run_sh(PYTHON='/bin/sh'))
  assert line == 'run.sh: PYTHON=/bin/sh is Python ?; caav_jax needs 3.11, 3.12 or 3.13'
  line = one_line_failure(run_sh(PYTHON='python2.99'))
  assert line == 'run.sh: PYTHON=python2.99: no such interpreter'


def test_every_accelerator_has_its_extra_for_both_locks():
  import tomllib  # pylint: disable=g-import-not-at-top
  project = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
  pins = {}
  for lock in ('requirements.lock', 'requirements-py312.lock'):
    lines = (ROOT / lock).read_text().splitlines()
    pins[lock] = dict(line.split('==') for line in lines if line and not line.startswith('#'))
  for accelerator in ('cuda12', 'cuda13', 'tpu'):
    extra = project['optional-dependencies'][accelerator]
    assert extra == [
        f"jax[{accelerator}]=={pins['requirements.lock']['jax']}; python_version < '3.12'",
        f"jax[{accelerator}]=={pins['requirements-py312.lock']['jax']}; python_version >= '3.12'"]
  assert pins['requirements-py312.lock']['jax'] == pins['requirements-py312.lock']['jaxlib']
