"""Every error a user can cause and mend: the entry point prints each as one line naming its culprit.

An error outside `USER_ERRORS` is a bug and keeps its traceback.
"""

from data_pipelines.recola.errors import RecolaInputError


class ConfigError(ValueError):
  """A setting of the configuration is wrong; the message names it (e.g. `config.train.stage`)."""


class CheckpointError(RuntimeError):
  """A checkpoint that cannot be restored: damaged, partial, or of another model; the message names it."""


class WeightsFileError(ValueError):
  """The weights file is unreadable or does not fit the model; the message names it and every problem."""


class ResultsFileError(ValueError):
  """A benchmark results file that is missing or unreadable; the message names the file."""


# Bad corpus files, missing files, bad settings, unreadable checkpoints and
# weights, and divergence (a non-finite loss names its step).
USER_ERRORS = (RecolaInputError, FileNotFoundError, ConfigError, CheckpointError,
               FloatingPointError, WeightsFileError, ResultsFileError)
