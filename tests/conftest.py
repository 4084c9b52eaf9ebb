"""Shared fixtures: paths to the real media in ../shared, absl flags parsed, one XLA cache."""

import atexit
import os
import pathlib
import shutil
import tempfile

from absl import flags
import pytest

SHARED = pathlib.Path(__file__).resolve().parents[2] / 'shared'
MEDIA = SHARED / 'media'


def pytest_configure(config):
  del config
  flags.FLAGS.mark_as_parsed()  # Grain's worker processes read absl flags.
  # Tests and the entry points they start in subprocesses compile the same tiny
  # networks again and again; a session-wide persistent cache compiles each once.
  if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
    os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='caav_jax_xla_cache_')
    atexit.register(shutil.rmtree, os.environ['JAX_COMPILATION_CACHE_DIR'], True)


@pytest.fixture(scope='session')
def media() -> pathlib.Path:
  if not MEDIA.is_dir():
    pytest.fail(f'{MEDIA} is missing: the tests need ../shared/media beside the checkout')
  return MEDIA
