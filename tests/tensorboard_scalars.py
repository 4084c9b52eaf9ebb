"""TensorBoard scalars of a log folder, read with TensorBoard's own reader."""

import pathlib

from tensorboard.backend.event_processing import event_accumulator


def scalars(logdir: pathlib.Path) -> dict[str, list[tuple[int, float]]]:
  """{tag: [(step, value), ...]} as TensorBoard shows them (earlier files' purged steps dropped)."""
  accumulator = event_accumulator.EventAccumulator(str(logdir), size_guidance={'scalars': 0})
  accumulator.Reload()
  return {tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
          for tag in accumulator.Tags()['scalars']}
