"""The one way files are written: into a temporary sibling that replaces the target only when complete."""

import contextlib
import os
import pathlib
import uuid


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, binary: bool = False):
  """Yields a new file that replaces `path` only if the block succeeds.

  A failed or killed write leaves any earlier file untouched and no partial
  file under the target's name.

  Args:
    path: the file to (re)place; its parent directories are created.
    binary: open in binary mode instead of UTF-8 text with '\\n' newlines.

  Yields:
    The open temporary file, in the same directory as `path`.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  temporary = path.with_name(f'.{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp')
  text_options = {} if binary else {'encoding': 'utf-8', 'newline': '\n'}
  try:
    with open(temporary, 'xb' if binary else 'x', **text_options) as file:
      yield file
      file.flush()
      os.fsync(file.fileno())
    os.replace(temporary, path)
  except BaseException:
    temporary.unlink(missing_ok=True)
    raise
