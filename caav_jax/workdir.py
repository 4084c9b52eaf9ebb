"""The run's output folder: created and test-written before any work, so a bad --workdir costs one line."""

import os
import pathlib
import tempfile

from caav_jax.config_error import ConfigError


def create_writable(workdir: str | os.PathLike) -> pathlib.Path:
  """Creates `workdir` if needed and checks that files can be written in it.

  Raises:
    ConfigError: naming the folder and what the system said.
  """
  path = pathlib.Path(workdir)
  try:
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path, prefix='.write-test-'):
      pass
  except OSError as error:
    raise ConfigError(f'--workdir {path}: cannot write there '
                      f'({error.strerror or error}: {error.filename or path})') from error
  return path
