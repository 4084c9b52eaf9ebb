"""A seconds-long configuration for tests: tiny crops, windows and networks."""

from configs import default


def get_config():
  config = default.get_config()
  data = config.data
  data.crop_size = data.image_size = 32
  data.clip_frames, data.subseq_frames = 32, 16  # the audio CNN needs >= 12 frames
  data.label_delay_frames.valence = 3
  data.label_delay_frames.arousal = 5
  data.batch_size = 2
  data.train_stride = 2
  config.model.visual_width = config.model.audio_width = 1 / 32
  config.train.steps = 4
  config.train.learning_rate = 1e-3
  config.train.log_every = 1
  config.train.checkpoint_every = 2
  return config
