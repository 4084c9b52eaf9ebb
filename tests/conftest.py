"""Shared fixtures: paths to the real media in ../shared, absl flags parsed."""

import pathlib

from absl import flags
import pytest

SHARED = pathlib.Path(__file__).resolve().parents[2] / 'shared'
MEDIA = SHARED / 'media'


def pytest_configure(config):
  del config
  flags.FLAGS.mark_as_parsed()  # Grain's worker processes read absl flags.


@pytest.fixture(scope='session')
def media() -> pathlib.Path:
  if not MEDIA.is_dir():
    pytest.fail(f'{MEDIA} is missing: the tests need ../shared/media beside the checkout')
  return MEDIA
