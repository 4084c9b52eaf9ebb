"""The paper's setting on RECOLA (../shared/PAPER.md), for a GPU or TPU.

The recipe, one command per stage (docs/model.md, "Training recipe"):
  1. unimodal_visual: I3D from Kinetics weights, with its own head
       --config.train.stage=unimodal_visual --config.train.init_visual=weights/rgb_imagenet.npz
  2. unimodal_audio: the spectrogram CNN, with its own head
       --config.train.stage=unimodal_audio
  3. fusion (this file's default): CAM and head on the frozen backbones of 1 and 2,
     trained on their cached features
  4. --mode=eval: the best-on-dev checkpoint scored the AVEC way
Or all of it, with the baselines and the end-to-end variant: --mode=recipe.
"""

from configs import default

WORKDIRS = 'runs/recola'


def get_config():
  config = default.get_config()
  data = config.data
  data.raw_dir = 'data/RECOLA'  # The AVEC 2016 layout: recordings_audio/, recordings_video/, ...
  data.data_dir = 'runs/recola_tfds'
  data.num_workers = 8
  # Paper: 224×224 RGB faces, clips of 8 sub-sequences × 16 frames, batch 16,
  # label delays, median filter 3, clip-mean targets (configs/default.py).
  config.model.dtype = 'bfloat16'  # The paper trains in mixed precision.
  train = config.train
  train.stage = 'fusion'
  train.init_visual = f'{WORKDIRS}/unimodal_visual'
  train.init_audio = f'{WORKDIRS}/unimodal_audio'
  train.feature_cache = True
  # Up to 60 epochs; an epoch is about 4,100 steps of 16 clips at train_stride 1
  # (9 recordings × ~7,300 windows); evaluate and checkpoint every epoch.
  train.steps = 60 * 4_100
  train.eval_every = 4_100
  train.checkpoint_every = 4_100
  train.log_every = 100
  # --mode=recipe runs every stage above in one command, one workdir per stage
  # under --workdir. The paper does not say how long the backbones were
  # pre-trained: 10 epochs each here.
  recipe = config.recipe
  recipe.visual_weights = 'weights/rgb_imagenet.npz'
  recipe.unimodal_audio_steps = recipe.unimodal_visual_steps = 10 * 4_100
  recipe.fusion_steps = train.steps
  recipe.end_to_end_steps = 10 * 4_100
  return config
