"""Command line tool: writes a synthetic corpus in Aff-Wild2's valence-arousal layout, once."""

import pathlib
import time

from absl import app
from absl import flags

from data_pipelines.synthetic import affwild2_writer


_OUTPUT_DIR = flags.DEFINE_string('output_dir', None, 'Directory to write the corpus into.',
                                  required=True)
_DURATION_S = flags.DEFINE_float('duration_s', 20.0, 'Length of every video, in seconds.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of every random draw.')


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  options = affwild2_writer.Options(duration_s=_DURATION_S.value, seed=_SEED.value)
  start = time.monotonic()
  try:
    written = affwild2_writer.write_corpus_once(pathlib.Path(_OUTPUT_DIR.value), options,
                                                show_progress=True)
  except ValueError as error:
    raise SystemExit(f'synthetic_affwild2: error: {error}') from None
  if not written:
    print(f'Synthetic Aff-Wild2 corpus already complete at {_OUTPUT_DIR.value}; nothing to do.')
    return
  videos = affwild2_writer.VIDEOS_WRITTEN
  print(f'Wrote a synthetic Aff-Wild2 corpus: {len(videos)} raw videos '
        f'({sum(len(v.subjects()) for v in videos)} subjects) of {options.duration_s:g} s '
        f'-> {_OUTPUT_DIR.value} in {time.monotonic() - start:.1f} s.')


if __name__ == '__main__':
  app.run(main)
