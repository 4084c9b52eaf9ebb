"""Shared fixtures: the real media in ../shared, a built mini dataset, absl flags parsed, one XLA cache."""

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


@pytest.fixture(scope='module', autouse=True)
def release_executables_after_each_module():
  """One pytest process compiles dozens of I3D programs; their kernels' maps must not pile up."""
  yield
  from caav_jax.recipe import run as recipe  # pylint: disable=g-import-not-at-top
  recipe.release_executables()


@pytest.fixture(scope='session')
def media() -> pathlib.Path:
  if not MEDIA.is_dir():
    pytest.fail(f'{MEDIA} is missing: the tests need ../shared/media beside the checkout')
  return MEDIA


@pytest.fixture(scope='session')
def mini_dataset(tmp_path_factory, media) -> tuple[str, str]:
  """(raw_dir, data_dir) of a built mini corpus (train_1, dev_1) on the tiny config."""
  from caav_jax.input_pipeline import datasets  # pylint: disable=g-import-not-at-top
  from tests import mini_corpus  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('mini_dataset')
  config = mini_corpus.tiny_config_on(root, media, ('train_1', 'dev_1'))
  datasets.ensure_dataset(config.data)
  return config.data.raw_dir, config.data.data_dir
