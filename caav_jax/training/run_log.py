"""A run's figures as it trains: one JSON line each in train_log.jsonl, and TensorBoard scalars.

TensorBoard files are written by tensorboardX's synchronous `EventsWriter`
(no TensorFlow needed): every record reaches the disk before training goes
on. Its `SummaryWriter` queues events for a thread, so a killed run loses
the last ones. Only the first process writes; on the others every call does
nothing.
"""

import json
import os
import time

import numpy as np
from tensorboardX import summary
from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto import event_pb2
from tensorboardX.proto import summary_pb2

from caav_jax.atomic_write import atomic_write
from caav_jax.workdir import Workdir


class RunLog:
  """Appends records to `<workdir>/train_log.jsonl` and `<workdir>/tensorboard/`."""

  def __init__(self, workdir: Workdir, writes: bool = True, resumed_at: int | None = None):
    """Opens the log for appending.

    Args:
      workdir: the run's workdir.
      writes: whether this process writes (the first process only).
      resumed_at: the step a resumed run restarts from: records of later
        steps, written before a crash and redone now, are dropped.
    """
    self._writes = writes
    if not writes:
      return
    path = workdir.train_log
    path.parent.mkdir(parents=True, exist_ok=True)
    if resumed_at is not None and path.is_file():
      lines = path.read_text().splitlines(keepends=True)
      kept = [line for line in lines if line.strip() and json.loads(line)['step'] <= resumed_at]
      if len(kept) < len(lines):
        with atomic_write(path) as file:
          file.write(''.join(kept))
    self._log = open(path, 'a')
    workdir.tensorboard.mkdir(parents=True, exist_ok=True)
    # The name's time has whole seconds only: the suffix keeps a resumed run's file
    # apart from the earlier one's, and after it in TensorBoard's (name) order.
    self._events = EventsWriter(os.fspath(workdir.tensorboard / 'events'),
                                filename_suffix=f'.{time.time_ns()}')
    if resumed_at is not None:
      # TensorBoard hides the earlier files' events from this step on.
      self._write_event(event_pb2.Event(
          step=resumed_at + 1, session_log=event_pb2.SessionLog(
              status=event_pb2.SessionLog.START)))

  def _write_event(self, event: event_pb2.Event) -> None:
    event.wall_time = time.time()
    self._events.write_event(event)
    self._events.flush()

  def record(self, values: dict, step: int) -> None:
    """One line {'step': step, **values}; the scalar values also as TensorBoard scalars."""
    if not self._writes:
      return
    self._log.write(json.dumps({'step': step, **values}) + '\n')
    self._log.flush()
    scalars = [summary.scalar(tag, value).value[0] for tag, value in values.items()
               if np.isscalar(value)]
    if scalars:  # one event per record, as TensorBoard's own writers do
      self._write_event(event_pb2.Event(step=step, summary=summary_pb2.Summary(value=scalars)))

  def close(self) -> None:
    if self._writes:
      self._log.close()
      self._events.close()

  def __enter__(self) -> 'RunLog':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()
