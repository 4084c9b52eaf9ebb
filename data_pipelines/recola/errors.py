"""The one error type of the RECOLA readers: a bad input file, named."""

import os


class RecolaInputError(ValueError):
  """A RECOLA input file is missing, unreadable or inconsistent.

  The message always starts with the offending path, so a user sees in one
  line which file to fix and what is wrong with it.
  """

  def __init__(self, path: str | os.PathLike, problem: str):
    self.path = os.fspath(path)
    self.problem = problem
    super().__init__(f'{self.path}: {problem}')

  def __reduce__(self):  # Survives the trip back from a worker process.
    return type(self), (self.path, self.problem)
