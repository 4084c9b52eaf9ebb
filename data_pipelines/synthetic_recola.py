"""Command line tool: writes a synthetic RECOLA corpus in the AVEC 2016 layout, once."""

import time

from absl import app
from absl import flags

from data_pipelines.synthetic import corpus_writer

_OUTPUT_DIR = flags.DEFINE_string(
    'output_dir', None, 'Directory to write the corpus into.', required=True)
_RECORDINGS_PER_SPLIT = flags.DEFINE_integer(
    'recordings_per_split', 3, 'Recordings in each of train, dev and test.')
_DURATION_S = flags.DEFINE_float(
    'duration_s', 120.0, 'Length of each recording in seconds (multiple of '
    '0.04).')
_FRAME_WIDTH = flags.DEFINE_integer('frame_width', 320, 'Video width (even).')
_FRAME_HEIGHT = flags.DEFINE_integer('frame_height', 240,
                                     'Video height (even).')
_FPS = flags.DEFINE_float('fps', 25.0, 'Video frame rate.')
_SAMPLE_RATE = flags.DEFINE_integer('sample_rate', 44100,
                                    'Audio sample rate in Hz.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of every random draw.')


def _options_from_flags() -> corpus_writer.CorpusOptions:
  return corpus_writer.CorpusOptions(
      recordings_per_split=_RECORDINGS_PER_SPLIT.value,
      duration_s=_DURATION_S.value,
      frame_width=_FRAME_WIDTH.value,
      frame_height=_FRAME_HEIGHT.value,
      fps=_FPS.value,
      sample_rate=_SAMPLE_RATE.value,
      seed=_SEED.value,
  )


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
  options = _options_from_flags()
  start = time.monotonic()
  try:
    written = corpus_writer.write_corpus_once(_OUTPUT_DIR.value, options,
                                              show_progress=True)
  except (corpus_writer.CorpusDirectoryError, ValueError) as error:
    raise SystemExit(f'synthetic_recola: error: {error}') from None
  count = 3 * options.recordings_per_split
  if not written:
    print(f'Synthetic RECOLA corpus already complete at {_OUTPUT_DIR.value} '
          '(same options); nothing to do.')
    return
  print(f'Wrote synthetic RECOLA corpus: {count} recordings x '
        f'{options.duration_s:g} s, {options.frame_width}x'
        f'{options.frame_height} @ {options.fps:g} fps, '
        f'{options.sample_rate} Hz audio, seed {options.seed} -> '
        f'{_OUTPUT_DIR.value} in {time.monotonic() - start:.1f} s.')


if __name__ == '__main__':
  app.run(main)
