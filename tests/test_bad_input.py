"""Broken input of every kind: one clear error naming the culprit, earlier data and checkpoints intact.

Each case raises one of the errors that the entry point prints as a single
line (`caav_jax.errors.USER_ERRORS`, checked through the command line in
`test_the_command_line_prints_one_line_and_no_traceback`), and the files
that earlier work wrote are byte for byte what they were.
"""

import hashlib
import pathlib
import pickle
import shutil

import numpy as np
import pytest

from caav_jax import errors
from caav_jax import train
from caav_jax import workdir as workdir_lib
from caav_jax.input_pipeline import datasets
from configs import tiny
from data_pipelines.recola import recola_dataset_builder
from tests.entry_point import run_main
from tests.entry_point import tiny_args


def snapshot(folder: pathlib.Path) -> dict[str, str]:
  """Every file under `folder`: relative path -> SHA-256 of its bytes."""
  return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
          for path in sorted(folder.rglob('*')) if path.is_file()}


def config_on(raw_dir, data_dir, **train_settings):
  config = tiny.get_config()
  config.data.raw_dir, config.data.data_dir = str(raw_dir), str(data_dir)
  config.train.stage, config.train.eval_every = 'unimodal_audio', 0
  config.train.update(train_settings)
  return config


def expect_user_error(call, match: str):
  """Runs `call`; it must raise a one-line user error whose message matches `match`."""
  with pytest.raises(errors.USER_ERRORS, match=match) as raised:
    call()
  assert '\n' not in str(raised.value)
  return raised.value


@pytest.fixture
def corpus(tmp_path, mini_dataset):
  """A private copy of the raw mini corpus and of its built dataset (crop 32)."""
  raw, data = mini_dataset
  shutil.copytree(raw, tmp_path / 'raw')
  shutil.copytree(data, tmp_path / 'tfds')
  return tmp_path / 'raw', tmp_path / 'tfds'


def arff_rows_dropped(path: pathlib.Path, count: int) -> None:
  lines = path.read_text().splitlines(keepends=True)
  path.write_text(''.join(lines[:-count]))


def arff_value_replaced(path: pathlib.Path) -> None:
  lines = path.read_text().splitlines(keepends=True)
  lines[-5] = lines[-5].rsplit(',', 1)[0] + ',high\n'
  path.write_text(''.join(lines))


def bytes_truncated(path: pathlib.Path) -> None:
  path.write_bytes(path.read_bytes()[:path.stat().st_size // 3])


RAW_DAMAGE = {
    'missing video': ('recordings_video/dev_1.mp4', pathlib.Path.unlink, r'dev_1'),
    'corrupt video': ('recordings_video/dev_1.mp4',
                      lambda p: p.write_bytes(b'\x00\x00\x00\x18ftypmp42' + bytes(5000)),
                      r'dev_1\.mp4'),
    'truncated WAV': ('recordings_audio/dev_1.wav', bytes_truncated, r'dev_1\.wav'),
    'ARFF with too few rows': ('ratings_gold_standard/arousal/dev_1.arff',
                               lambda p: arff_rows_dropped(p, 20), r'dev_1\.arff'),
    'ARFF with a word for a number': ('ratings_gold_standard/valence/train_1.arff',
                                      arff_value_replaced, r'train_1\.arff.*high'),
}


@pytest.mark.parametrize('kind', RAW_DAMAGE)
def test_a_broken_corpus_file_is_named_and_the_built_dataset_kept(corpus, kind):
  raw, data = corpus
  relative, damage, names = RAW_DAMAGE[kind]
  damage(raw / relative)
  before = snapshot(data)
  config = config_on(raw, data)
  config.data.crop_size = 48  # not built yet: this reads the damaged corpus
  expect_user_error(lambda: datasets.ensure_dataset(config.data), names)
  assert snapshot(data) == before
  with pytest.raises(FileNotFoundError):  # nothing that passes for a built dataset
    recola_dataset_builder.load(data, 48)


def test_a_config_asking_for_an_unbuilt_crop_size_lists_the_built_ones(corpus):
  raw, data = corpus
  shutil.rmtree(raw)  # only the built dataset was shipped
  config = config_on(raw, data)
  config.data.crop_size = 48
  before = snapshot(data)
  expect_user_error(lambda: datasets.ensure_dataset(config.data),
                    r'no recola dataset built with crop size 48.*built configs: crop32.*'
                    r'config\.data\.crop_size.*is not a folder')
  assert snapshot(data) == before


def test_config_file_missing_unknown_key_and_wrong_type_are_one_line(tmp_path):
  expected = {
      ('--config=configs/tiny.py', '--config.train.stpes=3'):
          'caav_jax: bad configuration override: \'stpes\' Did you mean "steps" instead of "stpes"?',
      ('--config=configs/tiny.py', '--config.train.steps=many'):
          "caav_jax: bad configuration override: flag --config.train.steps=many: invalid literal "
          "for int() with base 10: 'many'",
      ('--config=configs/tiyn.py',):
          'caav_jax: cannot load the --config file: Configuration is not available because of an '
          'earlier failure to load: Failed loading config file config_config Attempted [Relative '
          "path]: configs/tiyn.py [Errno 2] No such file or directory: 'configs/tiyn.py'",
  }
  for args, line in expected.items():
    result = run_main(*args, f'--workdir={tmp_path / "w"}')
    assert result.returncode == 1 and result.stderr.strip() == line
  assert not (tmp_path / 'w').exists()  # nothing was started


def test_a_workdir_that_cannot_be_written(tmp_path):
  in_the_way = tmp_path / 'results.txt'
  in_the_way.write_text('earlier results\n')
  expect_user_error(lambda: workdir_lib.create_writable(in_the_way / 'run'),
                    r'--workdir .*results\.txt/run: cannot write there')
  expect_user_error(lambda: workdir_lib.create_writable(in_the_way),
                    r'--workdir .*results\.txt: cannot write there')
  assert in_the_way.read_text() == 'earlier results\n'


@pytest.fixture(scope='module')
def trained(tmp_path_factory, mini_dataset) -> pathlib.Path:
  """A workdir with the checkpoint of 2 audio-stage steps."""
  workdir = tmp_path_factory.mktemp('trained') / 'run'
  train.train_and_evaluate(config_on(*mini_dataset, steps=2), str(workdir))
  return workdir


def resume_fails(trained_copy: pathlib.Path, mini_dataset, match: str, audio_width=1 / 32):
  before = snapshot(trained_copy / 'checkpoints')
  config = config_on(*mini_dataset, steps=4)
  config.model.audio_width = audio_width
  expect_user_error(lambda: train.train_and_evaluate(config, str(trained_copy)), match)
  assert snapshot(trained_copy / 'checkpoints') == before


def test_a_corrupt_checkpoint(trained, tmp_path, mini_dataset):
  run = shutil.copytree(trained, tmp_path / 'run')
  data_files = [p for p in (run / 'checkpoints' / '2' / 'model').rglob('*')
                if p.is_file() and p.stat().st_size > 100]
  assert data_files
  for path in data_files:
    path.write_bytes(b'\xff' * path.stat().st_size)
  resume_fails(run, mini_dataset, r'checkpoints/2: cannot restore model, optimizer, data')


def test_a_partial_checkpoint(trained, tmp_path, mini_dataset):
  run = shutil.copytree(trained, tmp_path / 'run')
  shutil.rmtree(run / 'checkpoints' / '2' / 'optimizer')
  resume_fails(run, mini_dataset, r'checkpoints/2: cannot restore .*optimizer')


def test_a_checkpoint_of_another_model(trained, tmp_path, mini_dataset):
  run = shutil.copytree(trained, tmp_path / 'run')
  resume_fails(run, mini_dataset, r'checkpoints/2: cannot restore .*other settings',
               audio_width=1 / 16)


def test_a_missing_backbone_source(tmp_path, mini_dataset):
  config = config_on(*mini_dataset, steps=1, stage='unimodal_visual',
                     init_visual=str(tmp_path / 'rgb_imagenet.npz'))
  expect_user_error(lambda: train.train_and_evaluate(config, str(tmp_path / 'run')),
                    r'config\.train\.init_visual: .*rgb_imagenet\.npz does not exist')


class _Payload:
  """Unpickling this object writes a file: the proof that a weights file ran code."""

  def __init__(self, marker: pathlib.Path):
    self.marker = marker

  def __reduce__(self):
    return pathlib.Path.write_text, (self.marker, 'code from the weights file ran')


def test_weights_that_need_unpickling_are_refused_without_running(tmp_path, mini_dataset):
  marker = tmp_path / 'pwned'
  weights = tmp_path / 'rgb_imagenet.npz'
  np.savez(weights, **{'Conv3d_1a_7x7/conv3d/kernel': np.array([_Payload(marker)], object)})
  assert pickle.loads(pickle.dumps(_Payload(marker))) is not None and marker.exists()
  marker.unlink()  # the payload is live: plain unpickling runs it
  config = config_on(*mini_dataset, steps=1, stage='unimodal_visual', init_visual=str(weights))
  expect_user_error(lambda: train.train_and_evaluate(config, str(tmp_path / 'run')),
                    r'rgb_imagenet\.npz: not a readable \.npz of arrays')
  assert not marker.exists()


def test_the_command_line_prints_one_line_and_no_traceback(trained, tmp_path, mini_dataset):
  run = shutil.copytree(trained, tmp_path / 'run')
  shutil.rmtree(run / 'checkpoints' / '2' / 'optimizer')
  result = run_main(*tiny_args(run, *mini_dataset, '--config.train.steps=4'))
  assert result.returncode == 1 and 'Traceback' not in result.stderr
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith(f'caav_jax: {run / "checkpoints" / "2"}: cannot restore')
