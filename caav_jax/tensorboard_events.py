"""TensorBoard event files of scalar summaries, written without TensorFlow.

An event file is a sequence of TFRecords, each holding one serialized
`tensorflow.Event` protobuf; the protobuf fields used here are encoded by hand.
"""

import os
import socket
import struct
import time

import numpy as np

_CASTAGNOLI_REFLECTED = 0x82F63B78
_CRC_MASK_DELTA = 0xA282EAD8
_UINT32 = 0xFFFFFFFF
_UINT64 = 0xFFFFFFFFFFFFFFFF

# Protobuf wire types.
_VARINT = 0
_FIXED64 = 1
_LENGTH_DELIMITED = 2
_FIXED32 = 5

# Field numbers of tensorflow.Event, Summary and Summary.Value.
_EVENT_WALL_TIME = 1
_EVENT_STEP = 2
_EVENT_FILE_VERSION = 3
_EVENT_SUMMARY = 5
_SUMMARY_VALUE = 1
_VALUE_TAG = 1
_VALUE_SIMPLE_VALUE = 2

FILE_VERSION = 'brain.Event:2'


def _crc32c_table() -> tuple[int, ...]:
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ (_CASTAGNOLI_REFLECTED if crc & 1 else 0)
    table.append(crc)
  return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
  """CRC-32C (Castagnoli) of `data`, as TFRecord uses it."""
  crc = _UINT32
  for byte in data:
    crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ _UINT32


def masked_crc32c(data: bytes) -> int:
  """The CRC-32C of `data`, rotated right by 15 bits plus a constant, as stored in TFRecords."""
  crc = crc32c(data)
  return ((((crc >> 15) | (crc << 17)) & _UINT32) + _CRC_MASK_DELTA) & _UINT32


def tfrecord(data: bytes) -> bytes:
  """Frames `data`: length, masked CRC of the length, data, masked CRC of the data."""
  length = struct.pack('<Q', len(data))
  return (length + struct.pack('<I', masked_crc32c(length))
          + data + struct.pack('<I', masked_crc32c(data)))


def _varint(number: int) -> bytes:
  """Base-128 varint; a negative number is taken as its 64-bit two's complement."""
  number &= _UINT64
  encoded = bytearray()
  while number > 0x7F:
    encoded.append((number & 0x7F) | 0x80)
    number >>= 7
  encoded.append(number)
  return bytes(encoded)


def _key(field: int, wire_type: int) -> bytes:
  return _varint((field << 3) | wire_type)


def _length_delimited(field: int, payload: bytes) -> bytes:
  return _key(field, _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _float32(value: float) -> bytes:
  """Little-endian float32; values beyond its range become ±inf, as a cast in TensorFlow does."""
  with np.errstate(over='ignore'):
    return np.array(float(value), dtype='<f4').tobytes()


def _event(step: int, *, file_version: str | None = None,
           summary: bytes | None = None) -> bytes:
  """A serialized tensorflow.Event stamped with the current time."""
  event = _key(_EVENT_WALL_TIME, _FIXED64) + struct.pack('<d', time.time())
  event += _key(_EVENT_STEP, _VARINT) + _varint(step)
  if file_version is not None:
    event += _length_delimited(_EVENT_FILE_VERSION, file_version.encode())
  if summary is not None:
    event += _length_delimited(_EVENT_SUMMARY, summary)
  return event


def _scalar_summary(values: dict[str, float]) -> bytes:
  """A serialized tensorflow.Summary with one simple_value per tag."""
  return b''.join(
      _length_delimited(_SUMMARY_VALUE,
                        _length_delimited(_VALUE_TAG, tag.encode())
                        + _key(_VALUE_SIMPLE_VALUE, _FIXED32) + _float32(value))
      for tag, value in values.items())


class EventWriter:
  """Appends scalar summaries to <logdir>/events.out.tfevents.<seconds>.<hostname>.

  Each `scalars` call writes one event and flushes it to the operating system,
  so a process that dies later leaves every earlier event readable.

  Attributes:
    path: The event file being written.
  """

  def __init__(self, logdir: str | os.PathLike):
    """Creates `logdir` if needed and starts the file with its file_version event.

    Args:
      logdir: The run's directory, as TensorBoard's --logdir or one below it.
    """
    os.makedirs(logdir, exist_ok=True)
    self.path = os.path.join(
        logdir, f'events.out.tfevents.{int(time.time())}.{socket.gethostname()}')
    self._file = open(self.path, 'ab')
    self._write(_event(0, file_version=FILE_VERSION))

  def scalar(self, tag: str, value: float, step: int) -> None:
    """Writes one scalar: see `scalars`."""
    self.scalars({tag: value}, step)

  def scalars(self, values: dict[str, float], step: int) -> None:
    """Writes the scalars of one step as a single event and flushes it.

    Args:
      values: Tag to value; any number or 0-d array, stored as float32.
      step: The x-axis value TensorBoard plots them at.
    """
    self._write(_event(step, summary=_scalar_summary(values)))

  def flush(self) -> None:
    """Hands buffered records to the operating system (each `scalars` call already does)."""
    self._file.flush()

  def close(self) -> None:
    """Closes the file; calling it again does nothing."""
    self._file.close()

  def __enter__(self) -> 'EventWriter':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  def _write(self, event: bytes) -> None:
    self._file.write(tfrecord(event))
    self._file.flush()
