"""CPU demo on the synthetic corpus (python -m data_pipelines.synthetic_recola)."""

from configs import default


def get_config():
  config = default.get_config()
  data = config.data
  data.raw_dir = 'runs/synthetic_recola'
  data.data_dir = 'runs/tfds'
  data.crop_size = 64
  data.image_size = 56
  data.batch_size = 8
  data.train_stride = 4
  config.model.visual_width = 0.25
  config.model.audio_width = 0.25
  return config
