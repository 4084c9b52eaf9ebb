"""The PyTorch state-dict reader: genuine torch files, old-format files, attacks, damage."""

import os
import pathlib
import pickle
import struct
import subprocess
import zipfile

import ml_dtypes
import numpy as np
import pytest

from caav_jax.models import torch_state_dict
from caav_jax.models.torch_state_dict import UnsafeWeightsError, read_torch_state_dict

# Written by torch 2.13.0 with tests/fixtures/make_torch_fixtures.py.
FIXTURES = pathlib.Path(__file__).resolve().parent / 'fixtures'
FORMATS = ('zip', 'legacy')


def expected(name: str) -> dict[str, np.ndarray]:
  with np.load(FIXTURES / f'{name}_expected.npz', allow_pickle=False) as arrays:
    return {key: arrays[key] for key in arrays.files}


def assert_state_dicts_equal(actual: dict[str, np.ndarray],
                             reference: dict[str, np.ndarray]) -> None:
  assert list(actual) == list(reference)
  for key, array in actual.items():
    if array.dtype == ml_dtypes.bfloat16:  # The fixture holds it as float32.
      array = array.astype(np.float32)
    assert array.dtype == reference[key].dtype, key
    np.testing.assert_array_equal(array, reference[key], err_msg=key)


# A tiny pickle writer (protocol 2 opcodes) for files that torch 2.13 no longer
# writes (torch 0.3 tensors, storage views, Python 2 strings) and for forgeries.
def op_str(text: str) -> bytes:
  data = text.encode()
  return b'X' + struct.pack('<I', len(data)) + data  # BINUNICODE


def op_py2_str(text: str) -> bytes:
  return b'U' + bytes([len(text)]) + text.encode()  # SHORT_BINSTRING


def op_int(value: int) -> bytes:
  return b'J' + struct.pack('<i', value)  # BININT


def op_global(module: str, name: str) -> bytes:
  return b'c' + f'{module}\n{name}\n'.encode()


def op_tuple(*items: bytes) -> bytes:
  return b'(' + b''.join(items) + b't'


def op_call(function: bytes, *args: bytes) -> bytes:
  return function + op_tuple(*args) + b'R'


def op_dict(*pairs: tuple[bytes, bytes]) -> bytes:
  return b'}(' + b''.join(key + value for key, value in pairs) + b'u'


def op_storage(key: str, numel: int, view: bytes = b'N', module: str = 'torch',
               storage_class: str = 'FloatStorage', location: str = 'cpu') -> bytes:
  """A persistent reference to a legacy-format storage, as BINPERSID."""
  return op_tuple(op_str('storage'), op_global(module, storage_class), op_str(key),
                  op_str(location), op_int(numel), view) + b'Q'


def op_tensor_v2(storage: bytes, offset: int, size: tuple[int, ...],
                 stride: tuple[int, ...]) -> bytes:
  return op_call(op_global('torch._utils', '_rebuild_tensor_v2'), storage,
                 op_int(offset), op_tuple(*map(op_int, size)),
                 op_tuple(*map(op_int, stride)), b'\x89',  # requires_grad False
                 op_call(op_global('collections', 'OrderedDict')))


def protocol_2(body: bytes) -> bytes:
  return b'\x80\x02' + body + b'.'


def legacy_file(path: pathlib.Path, object_pickle: bytes,
                storages: dict[str, np.ndarray]) -> pathlib.Path:
  """Writes the legacy torch.save layout around an already pickled object."""
  system_info = {'protocol_version': 1001, 'little_endian': True,
                 'type_sizes': {'short': 2, 'int': 4, 'long': 4}}
  parts = [pickle.dumps(value, protocol=2)
           for value in (0x1950A86A20F9469CFC6C, 1001, system_info)]
  parts += [object_pickle, pickle.dumps(list(storages), protocol=2)]
  for array in storages.values():
    parts += [struct.pack('<q', array.size), array.tobytes()]
  path.write_bytes(b''.join(parts))
  return path


def zip_file(path: pathlib.Path, object_pickle: bytes) -> pathlib.Path:
  """Writes the zip torch.save layout around an already pickled object."""
  with zipfile.ZipFile(path, 'w') as archive:
    archive.writestr('archive/data.pkl', object_pickle)
    archive.writestr('archive/byteorder', 'little')
    archive.writestr('archive/version', '3\n')
  return path


@pytest.mark.parametrize('file_format', FORMATS)
def test_genuine_files_equal_tensor_numpy(file_format):
  state_dict = read_torch_state_dict(FIXTURES / f'small_{file_format}.pt')
  assert_state_dicts_equal(state_dict, expected('small'))
  assert state_dict['bfloat16'].dtype == ml_dtypes.bfloat16
  assert state_dict['scalar'].shape == () and state_dict['empty'].shape == (0, 3)


@pytest.mark.parametrize('file_format', FORMATS)
def test_tensors_sharing_a_storage_become_independent_arrays(file_format):
  state_dict = read_torch_state_dict(str(FIXTURES / f'small_{file_format}.pt'))
  for array in state_dict.values():
    assert array.flags.c_contiguous and array.flags.writeable
  state_dict['float32'][:] = 0
  np.testing.assert_array_equal(state_dict['transposed'], expected('small')['transposed'])


@pytest.mark.parametrize('file_format', FORMATS)
def test_pytorch_i3d_key_names_round_trip(file_format):
  state_dict = read_torch_state_dict(FIXTURES / f'i3d_{file_format}.pt')
  assert_state_dicts_equal(state_dict, expected('i3d'))
  assert list(state_dict)[:6] == [
      'Conv3d_1a_7x7.conv3d.weight', 'Conv3d_1a_7x7.bn.weight',
      'Conv3d_1a_7x7.bn.bias', 'Conv3d_1a_7x7.bn.running_mean',
      'Conv3d_1a_7x7.bn.running_var', 'Conv3d_1a_7x7.bn.num_batches_tracked']
  branches = {key.split('.')[1] for key in state_dict if key.startswith('Mixed_3b.')}
  assert branches == {'b0', 'b1a', 'b1b', 'b2a', 'b2b', 'b3b'}
  assert state_dict['Mixed_3b.b1b.conv3d.weight'].shape == (2, 2, 3, 3, 3)
  assert state_dict['logits.conv3d.bias'].shape == (4,)


def test_state_dict_under_a_state_dict_key():
  state_dict = read_torch_state_dict(FIXTURES / 'wrapped_zip.pt')
  assert list(state_dict) == ['weight']
  np.testing.assert_array_equal(state_dict['weight'],
                                np.arange(6, dtype=np.float32).reshape(2, 3))


def test_torch_0_3_python_2_file_with_storage_views(tmp_path):
  # One CUDA root storage of 6 floats, saved through two views of it.
  rebuild = op_global('torch._utils', '_rebuild_tensor')
  first_view = op_storage('root', 6, op_tuple(op_str('view1'), op_int(0), op_int(4)),
                          module='torch.cuda', location='cuda:0')
  second_view = op_storage('root', 6, op_tuple(op_str('view2'), op_int(4), op_int(2)),
                           module='torch.cuda', location='cuda:0')
  body = op_dict(
      (op_py2_str('a'), op_call(rebuild, first_view, op_int(0),
                                op_tuple(op_int(2), op_int(2)),
                                op_tuple(op_int(1), op_int(2)))),
      (op_py2_str('b'), op_call(rebuild, second_view, op_int(1), op_tuple(op_int(1)),
                                op_tuple(op_int(1)))))
  path = legacy_file(tmp_path / 'old.pt', protocol_2(body),
                     {'root': np.arange(6, dtype=np.float32)})
  state_dict = read_torch_state_dict(path)
  np.testing.assert_array_equal(state_dict['a'], [[0, 2], [1, 3]])
  np.testing.assert_array_equal(state_dict['b'], [5])


class SystemCall:
  """Runs `os.system(command)` when plainly unpickled."""

  def __init__(self, command: str):
    self.command = command

  def __reduce__(self):
    return os.system, (self.command,)


class Eval:
  """Evaluates `expression` when plainly unpickled."""

  def __init__(self, expression: str):
    self.expression = expression

  def __reduce__(self):
    return eval, (self.expression,)


class Spawn:
  """Starts `argv` as a process when plainly unpickled."""

  def __init__(self, argv: list[str]):
    self.argv = argv

  def __reduce__(self):
    return subprocess.Popen, (self.argv,)


PAYLOADS = {
    'posix.system': lambda target: SystemCall(f'touch {target}'),
    'builtins.eval': lambda target: Eval(f"__import__('os').system('touch {target}')"),
    'subprocess.Popen': lambda target: Spawn(['touch', str(target)]),
}


def write_malicious(path: pathlib.Path, file_format: str, payload: object) -> None:
  """Zip: protocol 4 (STACK_GLOBAL); legacy: protocol 2 (GLOBAL), Python 3 names."""
  state_dict = {'weight': payload}
  if file_format == 'zip':
    zip_file(path, pickle.dumps(state_dict, protocol=4))
  else:
    legacy_file(path, pickle.dumps(state_dict, protocol=2, fix_imports=False), {})


@pytest.mark.parametrize('refused_global', PAYLOADS)
def test_payloads_do_run_under_plain_pickle(tmp_path, refused_global):
  target = tmp_path / 'pwned'
  result = pickle.loads(pickle.dumps(PAYLOADS[refused_global](target), protocol=2))
  if isinstance(result, subprocess.Popen):
    result.wait()
  assert target.exists()


@pytest.mark.parametrize('file_format', FORMATS)
@pytest.mark.parametrize('refused_global', PAYLOADS)
def test_malicious_file_is_refused_without_running(tmp_path, file_format,
                                                   refused_global):
  target = tmp_path / 'pwned'
  path = tmp_path / 'weights.pt'
  write_malicious(path, file_format, PAYLOADS[refused_global](target))
  with pytest.raises(UnsafeWeightsError, match=refused_global) as raised:
    read_torch_state_dict(path)
  assert str(path) in str(raised.value)
  assert not target.exists()


def test_build_cannot_rewrite_an_allowed_function(tmp_path):
  defaults = torch_state_dict._rebuild_tensor_v2.__defaults__
  # BUILD with slot state: setattr(rebuild function, '__defaults__', ...).
  attack = (op_global('torch._utils', '_rebuild_tensor_v2')
            + op_tuple(b'N', op_dict((op_str('__defaults__'), b')'))) + b'b')
  with pytest.raises(ValueError, match='attack.pt'):
    read_torch_state_dict(zip_file(tmp_path / 'attack.pt', protocol_2(attack)))
  assert torch_state_dict._rebuild_tensor_v2.__defaults__ == defaults


@pytest.mark.parametrize('size, stride, offset, message', [
    ((5,), (1,), 0, 'overruns'),
    ((2, 2), (4, 1), 0, 'overruns'),
    ((2,), (-1,), 1, 'negative'),
    ((2,), (1,), -1, 'negative'),
])
def test_tensor_outside_its_storage_is_refused(tmp_path, size, stride, offset, message):
  body = op_dict((op_str('w'), op_tensor_v2(op_storage('0', 4), offset, size, stride)))
  path = legacy_file(tmp_path / 'forged.pt', protocol_2(body),
                     {'0': np.zeros(4, np.float32)})
  with pytest.raises(ValueError, match=message):
    read_torch_state_dict(path)


@pytest.mark.parametrize('file_format', FORMATS)
def test_truncated_file(tmp_path, file_format):
  contents = (FIXTURES / f'small_{file_format}.pt').read_bytes()
  for length in (len(contents) // 2, len(contents) - 3):
    path = tmp_path / f'cut_{length}.pt'
    path.write_bytes(contents[:length])
    with pytest.raises(ValueError, match=str(path)):
      read_torch_state_dict(path)


@pytest.mark.parametrize('contents', [b'', np.random.default_rng(0).bytes(4096)],
                         ids=['empty', 'random'])
def test_not_a_pytorch_file(tmp_path, contents):
  path = tmp_path / 'noise.pt'
  path.write_bytes(contents)
  with pytest.raises(ValueError, match=f'{path}.*not a PyTorch file'):
    read_torch_state_dict(path)


def test_zip_that_torch_did_not_write(tmp_path):
  with zipfile.ZipFile(tmp_path / 'other.pt', 'w') as archive:
    archive.writestr('readme.txt', 'hello')
  with pytest.raises(ValueError, match='data.pkl'):
    read_torch_state_dict(tmp_path / 'other.pt')


def test_torchscript_archive(tmp_path):
  with zipfile.ZipFile(tmp_path / 'scripted.pt', 'w') as archive:
    archive.writestr('scripted/data.pkl', protocol_2(b'}'))
    archive.writestr('scripted/constants.pkl', protocol_2(b')'))
  with pytest.raises(ValueError, match='TorchScript'):
    read_torch_state_dict(tmp_path / 'scripted.pt')


def test_missing_storage_in_zip(tmp_path):
  path = tmp_path / 'missing.pt'
  with (zipfile.ZipFile(FIXTURES / 'small_zip.pt') as source,
        zipfile.ZipFile(path, 'w') as archive):
    for name in source.namelist():
      if name != 'small_zip/data/0':
        archive.writestr(name, source.read(name))
  with pytest.raises(ValueError, match=f"{path}.*storage '0' is missing"):
    read_torch_state_dict(path)


def test_missing_storage_in_legacy_file(tmp_path):
  body = op_dict((op_str('w'), op_tensor_v2(op_storage('7', 2), 0, (2,), (1,))))
  path = legacy_file(tmp_path / 'missing.pt', protocol_2(body), {})
  with pytest.raises(ValueError, match=f"{path}.*'7'.*missing"):
    read_torch_state_dict(path)


@pytest.mark.parametrize('body, message', [
    (b']', 'holds a list'),
    (op_dict((op_str('epoch'), op_int(3))), "entry 'epoch' holds a int"),
])
def test_pickle_that_is_not_a_state_dict(tmp_path, body, message):
  path = legacy_file(tmp_path / 'other.pt', protocol_2(body), {})
  with pytest.raises(ValueError, match=message):
    read_torch_state_dict(path)
