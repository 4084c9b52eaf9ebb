"""Video decoding onto the 40 ms grid by timestamp, and bad video files."""

import fractions

import av
import numpy as np
import pytest

from data_pipelines.recola import video
from data_pipelines.recola.errors import RecolaInputError


def write_numbered_video(path, fps, frames, size=(64, 48)):
  """Frame j is uniformly grey at level 8 j + 12, so decoding reveals j."""
  with av.open(str(path), 'w') as container:
    stream = container.add_stream('libx264', rate=fractions.Fraction(fps))
    stream.width, stream.height = size
    stream.pix_fmt = 'yuv420p'
    stream.options = {'crf': '0'}
    for j in range(frames):
      image = np.full((size[1], size[0], 3), 8 * j + 12, np.uint8)
      container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')))
    container.mux(stream.encode())


def decoded_indices(path, steps):
  return [int(round((frame.mean() - 12) / 8))
          for _, frame in video.frames_on_label_grid(path, steps)]


def test_30fps_maps_to_latest_earlier_frame(tmp_path):
  write_numbered_video(tmp_path / 'v.mp4', 30, 30)
  # Step k is at k/25 s; the latest 30 fps frame at or before it is floor(1.2 k).
  assert decoded_indices(tmp_path / 'v.mp4', 25) == [int(k * 6 // 5) for k in range(25)]


def test_25fps_maps_frame_k_to_step_k_and_reports_extent(tmp_path):
  write_numbered_video(tmp_path / 'v.mp4', 25, 20)
  extent = video.DecodedExtent()
  frames = list(video.frames_on_label_grid(tmp_path / 'v.mp4', 21, extent))
  assert [int(round((f.mean() - 12) / 8)) for _, f in frames] == list(range(20)) + [19]
  assert extent.frames == 20 and extent.duration_s == pytest.approx(0.8)
  assert extent.steps_past_end == 1  # RECOLA's 7,501 labels for 7,500 frames.


def test_slower_video_repeats_frames(tmp_path):
  write_numbered_video(tmp_path / 'v.mp4', 10, 10)
  assert decoded_indices(tmp_path / 'v.mp4', 10) == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]


def test_real_30fps_video(media):
  path = media / 'faces' / 'single_face.mp4'
  info = video.probe_video(path)
  assert (info.width, info.height, info.frame_rate) == (640, 360, 30.0)
  assert info.duration_s == pytest.approx(2.4, abs=0.01)
  extent = video.DecodedExtent()
  steps = list(video.frames_on_label_grid(path, 61, extent))
  assert len(steps) == 61 and extent.frames == 72
  assert steps[0][1].shape == (360, 640, 3)


def test_not_a_video(tmp_path, media):
  fake = tmp_path / 'train_1.mp4'
  fake.write_bytes((media / 'speech_emotion' / 'arousal.csv').read_bytes() * 50)
  with pytest.raises(RecolaInputError, match=r'train_1\.mp4: not a readable video'):
    video.probe_video(fake)
  with pytest.raises(RecolaInputError, match=r'gone\.mp4: video file not found'):
    video.probe_video(tmp_path / 'gone.mp4')


def test_wav_is_not_a_video(media):
  with pytest.raises(RecolaInputError, match='has no video stream'):
    video.probe_video(media / 'speech_emotion' / '00.wav')
