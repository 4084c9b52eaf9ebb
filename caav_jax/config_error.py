"""The error for a configuration that cannot work: the entry point prints it as one line."""


class ConfigError(ValueError):
  """A setting of the configuration is wrong; the message names it (e.g. `config.train.stage`)."""
