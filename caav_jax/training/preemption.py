"""SIGTERM (a cluster's pre-emption notice) asks the training loop to save and exit cleanly."""

import signal


class StopRequest:
  """Within `with`, SIGTERM sets `requested` instead of killing the process.

  The loop checks `requested` after each step, writes a checkpoint and
  returns; the previous handler is restored on exit.
  """

  def __init__(self):
    self.requested = False
    self._previous = None

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def __enter__(self) -> 'StopRequest':
    self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def __exit__(self, *exc_info) -> None:
    signal.signal(signal.SIGTERM, self._previous)
