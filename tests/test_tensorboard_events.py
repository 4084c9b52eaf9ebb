"""Event files decode to what was written, with CRCs that catch corruption and survive a crash."""

import os
import pathlib
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from caav_jax.tensorboard_events import EventWriter, crc32c, masked_crc32c

REPO = pathlib.Path(__file__).resolve().parents[1]


def read_records(path) -> list[bytes]:
  """TFRecord payloads of `path`; raises ValueError on a CRC mismatch or a truncated record."""
  data = pathlib.Path(path).read_bytes()
  records, offset = [], 0
  while offset < len(data):
    header = data[offset:offset + 12]
    if len(header) < 12:
      raise ValueError(f'truncated header at {offset}')
    (length,), (length_crc,) = struct.unpack('<Q', header[:8]), struct.unpack('<I', header[8:])
    if masked_crc32c(header[:8]) != length_crc:
      raise ValueError(f'length CRC mismatch at {offset}')
    payload = data[offset + 12:offset + 12 + length]
    footer = data[offset + 12 + length:offset + 16 + length]
    if len(payload) < length or len(footer) < 4:
      raise ValueError(f'truncated record at {offset}')
    if masked_crc32c(payload) != struct.unpack('<I', footer)[0]:
      raise ValueError(f'data CRC mismatch at {offset}')
    records.append(payload)
    offset += 16 + length
  return records


def parse_fields(message: bytes) -> list[tuple[int, int | bytes]]:
  """(field number, value) pairs of a protobuf message: ints for varints, raw bytes otherwise."""
  fields, offset = [], 0

  def varint():
    nonlocal offset
    number, shift = 0, 0
    while True:
      byte = message[offset]
      offset += 1
      number |= (byte & 0x7F) << shift
      shift += 7
      if byte < 0x80:
        return number

  while offset < len(message):
    key = varint()
    field, wire_type = key >> 3, key & 7
    if wire_type == 0:
      fields.append((field, varint()))
      continue
    size = {1: 8, 5: 4}.get(wire_type) or varint()
    fields.append((field, message[offset:offset + size]))
    offset += size
  return fields


def decode_event(record: bytes) -> dict:
  """The tensorflow.Event fields this writer uses, with summary values as {tag: float}."""
  event = {'values': {}}
  for field, value in parse_fields(record):
    if field == 1:
      event['wall_time'] = struct.unpack('<d', value)[0]
    elif field == 2:
      event['step'] = value - (1 << 64) if value >= 1 << 63 else value
    elif field == 3:
      event['file_version'] = value.decode()
    elif field == 5:
      for _, summary_value in parse_fields(value):
        tag_and_value = dict(parse_fields(summary_value))
        event['values'][tag_and_value[1].decode()] = struct.unpack('<f', tag_and_value[2])[0]
  return event


def read_events(logdir) -> list[dict]:
  (path,) = pathlib.Path(logdir).glob('events.out.tfevents.*')
  return [decode_event(record) for record in read_records(path)]


def test_crc32c_matches_the_check_value_and_the_mask_rotates_and_adds():
  assert crc32c(b'') == 0
  assert crc32c(b'123456789') == 0xE3069283
  # 0xE3069283 >> 15 = 0x1C60D; (0xE3069283 << 17) mod 2^32 = 0x25060000;
  # 0x1C60D | 0x25060000 = 0x2507C60D; + 0xA282EAD8 mod 2^32 = 0xC78AB0E5.
  assert masked_crc32c(b'123456789') == 0xC78AB0E5


def test_tags_steps_values_and_wall_times_round_trip(tmp_path):
  logdir = tmp_path / 'runs' / 'train'
  before = time.time()
  with EventWriter(logdir) as writer:
    writer.scalar('loss', 0.1, 1)
    writer.scalars({'loss': 0.25, 'ccc/arousal': np.float32(0.75), 'ünïcode': -3,
                    'huge': 1e40}, 2)
    writer.scalar('warmup', 1.0, -1)
    writer.scalar('loss', 0.5, 2**40)
  writer.close()  # A second close is harmless.
  after = time.time()

  assert pathlib.Path(writer.path).parent == logdir
  assert pathlib.Path(writer.path).name.startswith('events.out.tfevents.')
  events = read_events(logdir)
  assert events[0] == {'wall_time': events[0]['wall_time'], 'step': 0,
                       'file_version': 'brain.Event:2', 'values': {}}
  assert [(event['step'], event['values']) for event in events[1:]] == [
      (1, {'loss': float(np.float32(0.1))}),
      (2, {'loss': 0.25, 'ccc/arousal': 0.75, 'ünïcode': -3.0, 'huge': float('inf')}),
      (-1, {'warmup': 1.0}),
      (2**40, {'loss': 0.5}),
  ]
  wall_times = [event['wall_time'] for event in events]
  assert before <= wall_times[0] and wall_times == sorted(wall_times) and wall_times[-1] <= after


def test_every_single_byte_corruption_is_caught_by_a_crc(tmp_path):
  with EventWriter(tmp_path) as writer:
    writer.scalars({'loss': 0.5, 'ccc': 0.25}, 3)
  original = pathlib.Path(writer.path).read_bytes()
  assert len(read_records(writer.path)) == 2
  for position in range(len(original)):
    corrupted = bytearray(original)
    corrupted[position] ^= 0x10
    pathlib.Path(writer.path).write_bytes(corrupted)
    with pytest.raises(ValueError, match='CRC mismatch'):
      read_records(writer.path)


def test_events_written_before_an_abrupt_exit_are_all_readable(tmp_path):
  script = textwrap.dedent(f"""
      import os
      from caav_jax.tensorboard_events import EventWriter
      writer = EventWriter({str(tmp_path)!r})
      for step in range(3):
        writer.scalars({{'loss': step / 4, 'ccc': 1 - step / 4}}, step)
      os._exit(0)
      """)
  subprocess.run([sys.executable, '-c', script], check=True, cwd=REPO,
                 env={**os.environ, 'PYTHONPATH': str(REPO)})
  events = read_events(tmp_path)
  assert events[0]['file_version'] == 'brain.Event:2'
  assert [(event['step'], event['values']) for event in events[1:]] == [
      (step, {'loss': step / 4, 'ccc': 1 - step / 4}) for step in range(3)]
