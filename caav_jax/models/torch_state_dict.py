"""Reads PyTorch state dicts into numpy arrays without running code from the file.

Both serialization formats are read:

* zip (torch >= 1.6 default): `<name>/data.pkl`, raw storages in
  `<name>/data/<key>`, and a `<name>/byteorder` record;
* legacy (torch < 1.6, or `_use_new_zipfile_serialization=False`): a sequence of
  pickles (magic number, protocol version, system info, the object, the list of
  storage keys), then each storage's raw bytes after an 8-byte element count.

Pickles are parsed by an unpickler whose `find_class` admits only the globals a
plain tensor state dict uses (see `_ALLOWED_FUNCTIONS` and `_STORAGE_DTYPES`);
any other global, as a malicious `__reduce__` would need, raises
`UnsafeWeightsError` before anything is called. Tensor sizes, strides and
offsets are checked against their storage before any bytes are viewed.
Storages are read as little-endian, the byte order of every host JAX runs on.
"""

import collections
import dataclasses
import io
import os
import pickle
import struct
import zipfile
from typing import Any, BinaryIO, Callable

import ml_dtypes
import numpy as np

_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL_VERSION = 1001
# torch.save always pickles with protocol 2, so a legacy file opens with exactly
# this pickle of the magic number.
_LEGACY_HEADER = pickle.dumps(_LEGACY_MAGIC_NUMBER, protocol=2)
_ZIP_HEADER = b'PK\x03\x04'

# Storage classes (`torch.FloatStorage`, or `torch.cuda.FloatStorage` in files
# saved from a GPU) name the element type of the raw bytes.
_STORAGE_MODULES = ('torch', 'torch.cuda')
_STORAGE_DTYPES = {
    'DoubleStorage': np.dtype(np.float64),
    'FloatStorage': np.dtype(np.float32),
    'HalfStorage': np.dtype(np.float16),
    'BFloat16Storage': np.dtype(ml_dtypes.bfloat16),
    'LongStorage': np.dtype(np.int64),
    'IntStorage': np.dtype(np.int32),
    'ShortStorage': np.dtype(np.int16),
    'CharStorage': np.dtype(np.int8),
    'ByteStorage': np.dtype(np.uint8),
    'BoolStorage': np.dtype(np.bool_),
    'ComplexDoubleStorage': np.dtype(np.complex128),
    'ComplexFloatStorage': np.dtype(np.complex64),
}
# Flags that recent torch passes to `_rebuild_tensor_v2` for lazily negated or
# conjugated views.
_TENSOR_METADATA_KEYS = frozenset({'conj', 'neg'})
# What a truncated or corrupt file makes the parsers raise.
_CORRUPT_FILE_ERRORS = (ValueError, TypeError, AttributeError, KeyError,
                        IndexError, EOFError, NotImplementedError,
                        pickle.UnpicklingError, zipfile.BadZipFile)


class UnsafeWeightsError(Exception):
  """A weights file asks for a global that a plain tensor state dict never uses."""


@dataclasses.dataclass(frozen=True, slots=True)
class _StorageType:
  """What `find_class` returns for a storage class: its element type."""
  dtype: np.dtype


@dataclasses.dataclass(frozen=True, slots=True)
class _StorageRef:
  """Elements [offset, offset + numel) of the saved storage `key`."""
  key: str
  dtype: np.dtype
  offset: int
  numel: int


@dataclasses.dataclass(frozen=True, slots=True)
class _TensorRef:
  """A tensor to cut from its storage once the storage bytes are read."""
  storage: _StorageRef
  offset: int
  shape: tuple[int, ...]
  strides: tuple[int, ...]
  negate: bool
  conjugate: bool


@dataclasses.dataclass(frozen=True, slots=True)
class _AllowedCall:
  """A fresh, immutable wrapper per `find_class` call around an allowed function.

  Handing out the module-level functions themselves would let a pickle's BUILD
  opcode rewrite their `__defaults__` for every later load in the process.
  """
  function: Callable[..., Any]

  def __call__(self, *args):
    return self.function(*args)


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _is_int_tuple(value: Any) -> bool:
  return isinstance(value, tuple) and all(_is_int(item) for item in value)


def _checked_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any,
                    metadata: Any) -> _TensorRef:
  """A `_TensorRef` once its layout is known to lie inside its storage."""
  if not isinstance(storage, _StorageRef):
    raise ValueError(f'a tensor is built on {type(storage).__name__}, not a storage')
  if not (_is_int(storage_offset) and _is_int_tuple(size) and _is_int_tuple(stride)
          and len(size) == len(stride)):
    raise ValueError(f'malformed tensor layout: offset {storage_offset!r}, '
                     f'size {size!r}, stride {stride!r}')
  if storage_offset < 0 or min(size + stride, default=0) < 0:
    raise ValueError(f'negative tensor offset, size or stride: offset '
                     f'{storage_offset}, size {size}, stride {stride}')
  # Size-1 dimensions may carry any stride; 0 keeps the byte strides small.
  stride = tuple(0 if extent == 1 else step for extent, step in zip(size, stride))
  last = storage_offset + sum((extent - 1) * step for extent, step in zip(size, stride))
  if 0 not in size and last >= storage.numel:
    raise ValueError(f'tensor of size {size}, stride {stride} at offset '
                     f'{storage_offset} overruns its storage {storage.key!r} '
                     f'of {storage.numel} elements')
  metadata = metadata or {}
  if not isinstance(metadata, dict) or not set(metadata) <= _TENSOR_METADATA_KEYS:
    raise ValueError(f'unsupported tensor metadata {metadata!r}')
  return _TensorRef(storage, storage_offset, size, stride,
                    negate=bool(metadata.get('neg')),
                    conjugate=bool(metadata.get('conj')))


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any,
                    stride: Any) -> _TensorRef:
  """torch 0.3's tensor rebuild call."""
  return _checked_tensor(storage, storage_offset, size, stride, metadata=None)


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any,
                       requires_grad: Any, backward_hooks: Any,
                       metadata: Any = None) -> _TensorRef:
  """torch >= 0.4's tensor rebuild call; gradients and hooks do not matter here."""
  del requires_grad, backward_hooks
  return _checked_tensor(storage, storage_offset, size, stride, metadata)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any) -> _TensorRef:
  """An `nn.Parameter` is read as its tensor."""
  del requires_grad, backward_hooks
  if not isinstance(data, _TensorRef):
    raise ValueError(f'a parameter wraps {type(data).__name__}, not a tensor')
  return data


_ALLOWED_FUNCTIONS = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor_v2,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
  """Unpickles tensor state dicts only; storages become `_StorageRef`s.

  Attributes:
    storages: element type and count of every saved storage a tensor uses, by key.
  """

  def __init__(self, file: BinaryIO, path: os.PathLike[str] | str,
               storages: dict[str, tuple[np.dtype, int]]):
    super().__init__(file)
    self._path = path
    self.storages = storages

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) in _ALLOWED_FUNCTIONS:
      return _AllowedCall(_ALLOWED_FUNCTIONS[module, name])
    if module in _STORAGE_MODULES and name in _STORAGE_DTYPES:
      return _StorageType(_STORAGE_DTYPES[name])
    raise UnsafeWeightsError(
        f'{self._path}: refused to load the global {module}.{name}; a tensor '
        'state dict needs only OrderedDict, tensors and storages, so this file '
        'holds other Python objects (a pickled model, or code that would run '
        'on loading). Nothing was executed.')

  def persistent_load(self, pid: Any) -> _StorageRef:
    # ('storage', storage type, key, location, numel[, view metadata]); the view
    # metadata (legacy files only) is (view key, element offset, view numel).
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == 'storage'):
      raise ValueError(f'unsupported persistent id {pid!r:.100}')
    storage_type, key, _, numel = pid[1:5]
    view = pid[5] if len(pid) == 6 else None
    if not (isinstance(storage_type, _StorageType) and isinstance(key, str)
            and _is_int(numel) and numel >= 0):
      raise ValueError(f'malformed storage reference {pid!r:.100}')
    dtype = storage_type.dtype
    if self.storages.setdefault(key, (dtype, numel)) != (dtype, numel):
      raise ValueError(f'storage {key!r} is used as both {self.storages[key]} '
                       f'and {(dtype, numel)} (element type, count)')
    if view is None:
      return _StorageRef(key, dtype, 0, numel)
    if not (isinstance(view, tuple) and len(view) == 3 and _is_int(view[1])
            and _is_int(view[2]) and 0 <= view[1] and 0 <= view[2]
            and view[1] + view[2] <= numel):
      raise ValueError(f'malformed view {view!r:.100} of storage {key!r} '
                       f'({numel} elements)')
    return _StorageRef(key, dtype, view[1], view[2])


def _storage_array(raw: bytes | memoryview, key: str, dtype: np.dtype,
                   numel: int) -> np.ndarray:
  if len(raw) < numel * dtype.itemsize:
    raise ValueError(f'storage {key!r} holds {len(raw)} bytes, fewer than its '
                     f'{numel} {dtype} elements need (truncated file?)')
  return np.frombuffer(raw, dtype, count=numel)


def _read_zip(file: BinaryIO, path: os.PathLike[str] | str,
              ) -> tuple[Any, dict[str, np.ndarray]]:
  """Unpickles a zip-format file; returns the object and its storages by key."""
  with zipfile.ZipFile(file) as archive:
    names = set(archive.namelist())
    pickles = [name for name in names
               if name.endswith('/data.pkl') and name.count('/') == 1]
    if len(pickles) != 1:
      raise ValueError('a zip archive without a single <name>/data.pkl: '
                       'not written by torch.save')
    prefix = pickles[0].removesuffix('data.pkl')
    if f'{prefix}constants.pkl' in names:
      raise ValueError('a TorchScript archive (torch.jit.save), not a state dict')
    byteorder = (archive.read(f'{prefix}byteorder')
                 if f'{prefix}byteorder' in names else b'little')
    if byteorder != b'little':
      raise ValueError(f'storages saved in {byteorder!r} byte order; only '
                       'little-endian files are supported')
    storages = {}
    with archive.open(pickles[0]) as pickle_file:
      obj = _RestrictedUnpickler(pickle_file, path, storages).load()
    arrays = {}
    for key, (dtype, numel) in storages.items():
      name = f'{prefix}data/{key}'
      if name not in names:
        raise ValueError(f'storage {key!r} is missing: no {name} in the archive')
      with archive.open(name) as member:
        arrays[key] = _storage_array(member.read(numel * dtype.itemsize),
                                     key, dtype, numel)
  return obj, arrays


def _read_legacy(contents: bytes, path: os.PathLike[str] | str,
                 ) -> tuple[Any, dict[str, np.ndarray]]:
  """Unpickles a legacy file's bytes after the magic number.

  Returns:
    The object and its storages by key.
  """
  # Reading from memory: a forged length can never make a read allocate more
  # than the file holds.
  stream = io.BytesIO(contents)
  storages = {}

  def load_pickle() -> Any:
    return _RestrictedUnpickler(stream, path, storages).load()

  protocol_version = load_pickle()
  if protocol_version != _LEGACY_PROTOCOL_VERSION:
    raise ValueError(f'unsupported legacy protocol version {protocol_version!r}')
  system_info = load_pickle()
  if not (isinstance(system_info, dict) and system_info.get('little_endian', True)):
    raise ValueError('saved on a big-endian machine; only little-endian files '
                     'are supported')
  obj = load_pickle()
  saved_keys = load_pickle()
  if not (isinstance(saved_keys, list)
          and all(isinstance(key, str) for key in saved_keys)):
    raise ValueError(f'malformed list of storage keys {saved_keys!r:.100}')
  arrays = {}
  position = stream.tell()
  for key in saved_keys:
    if key not in storages:
      raise ValueError(f'storage {key!r} is saved but no tensor uses it')
    dtype, numel = storages[key]
    header = contents[position:position + 8]
    if len(header) < 8:
      raise ValueError(f'file ends before storage {key!r} (truncated file?)')
    (saved_numel,) = struct.unpack('<q', header)
    if saved_numel != numel:
      raise ValueError(f'storage {key!r} holds {saved_numel} elements; its '
                       f'tensors expect {numel}')
    position += 8
    end = position + numel * dtype.itemsize
    arrays[key] = _storage_array(memoryview(contents)[position:end], key, dtype, numel)
    position = end
  missing = storages.keys() - arrays.keys()
  if missing:
    raise ValueError(f'storages {sorted(missing)} are missing from the file')
  return obj, arrays


def _find_state_dict(obj: Any) -> dict[str, _TensorRef]:
  """The mapping of names to tensors: `obj` itself, or its 'state_dict' or 'model'."""
  if not isinstance(obj, dict):
    raise ValueError(f'holds a {type(obj).__name__}, not a state dict')
  for wrapper_key in ('state_dict', 'model'):
    if isinstance(obj.get(wrapper_key), dict):
      obj = obj[wrapper_key]
      break
  for name, value in obj.items():
    if not (isinstance(name, str) and isinstance(value, _TensorRef)):
      raise ValueError(f'entry {name!r} holds a {type(value).__name__}, not a '
                       'tensor: not a plain state dict')
  return obj


def _to_array(tensor: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
  """Copies a tensor out of its (already bounds-checked) storage."""
  storage = tensor.storage
  flat = storages[storage.key][storage.offset:storage.offset + storage.numel]
  if 0 in tensor.shape:
    return np.zeros(tensor.shape, flat.dtype)
  byte_strides = tuple(step * flat.itemsize for step in tensor.strides)
  array = np.lib.stride_tricks.as_strided(
      flat[tensor.offset:], tensor.shape, byte_strides, writeable=False).copy()
  if tensor.negate:
    array = np.negative(array)
  if tensor.conjugate:
    array = np.conjugate(array)
  return array


def read_torch_state_dict(path: os.PathLike[str] | str) -> dict[str, np.ndarray]:
  """Reads a PyTorch state dict saved by `torch.save`, without executing pickled code.

  Args:
    path: a `.pt`/`.pth` file in the zip or the legacy serialization format
      holding a mapping of names to tensors (e.g. `model.state_dict()`), or a
      dict holding such a mapping under 'state_dict' or 'model'.

  Returns:
    Name -> C-contiguous, writable numpy copy of each tensor, in file order,
    with the saved dtype (bfloat16 as `ml_dtypes.bfloat16`).

  Raises:
    UnsafeWeightsError: the file asks for any global beyond those of a tensor
      state dict (a pickled model, or a code-execution payload); nothing from
      the file has run.
    ValueError: naming the file, if it is not a PyTorch file, is truncated or
      corrupt, misses a storage, or holds something other than a state dict.
    OSError: if the file cannot be opened.
  """
  with open(path, 'rb') as file:
    header = file.read(len(_LEGACY_HEADER))
    try:
      if header.startswith(_ZIP_HEADER):
        obj, storages = _read_zip(file, path)
      elif header == _LEGACY_HEADER:
        obj, storages = _read_legacy(file.read(), path)
      else:
        raise ValueError('not a PyTorch file (neither the zip nor the legacy '
                         'torch.save format)')
      return {name: _to_array(tensor, storages)
              for name, tensor in _find_state_dict(obj).items()}
    except _CORRUPT_FILE_ERRORS as error:
      raise ValueError(f'{path}: cannot read a PyTorch state dict: {error}') from error
