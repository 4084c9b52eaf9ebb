"""Reads a corpus's recordings in worker processes, handing them back in order."""

import collections
import concurrent.futures
import multiprocessing
from typing import Any
from typing import Callable
from typing import Iterator


Reader = Callable[[Any], tuple[Any, Iterator[dict]]]


def _whole(read: Reader, item) -> tuple[Any, list[dict]]:
  """In a worker process: the summary and every example of one recording."""
  summary, examples = read(item)
  return summary, list(examples)


def read_in_order(items: list, read: Reader, num_workers: int
                  ) -> Iterator[tuple[Any, Iterator[dict]]]:
  """`read(item)` = (summary, examples) for each item, in order.

  With several workers, up to `num_workers` recordings are read ahead in
  spawned processes (`read` must pickle: a module-level function or a
  partial of one) and come back whole; with one worker, or one item, each
  is read here and its examples stream.
  """
  if num_workers == 1 or len(items) == 1:
    for item in items:
      yield read(item)
    return
  context = multiprocessing.get_context('spawn')
  with concurrent.futures.ProcessPoolExecutor(num_workers, mp_context=context) as pool:
    pending: collections.deque = collections.deque()
    for item in items:
      pending.append(pool.submit(_whole, read, item))
      if len(pending) > num_workers:
        yield pending.popleft().result()
    while pending:
      yield pending.popleft().result()
