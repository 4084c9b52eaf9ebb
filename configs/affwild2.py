"""The paper's recipe on Aff-Wild2's valence-arousal track (ABAW), for a GPU or TPU.

The same stages as configs/recola.py (--mode=recipe runs them all), on
Aff-Wild2 as distributed (docs/data.md, "Aff-Wild2"): a step is one video
frame at that video's rate, its 112×112 aligned crop and its voice; clips of
8 sub-sequences × 16 frames; unannotated frames (-5) stay out of the clip-mean
targets and the scores. Scored the ABAW way: CCC of each dimension over
every annotated validation frame pooled, and their mean; the test list's
videos are written in ABAW's format.

`configs/affwild2.py:synthetic` is the same corpus handling at the CPU demo's
size (configs/synthetic.py), on `python -m data_pipelines.synthetic_affwild2
--output_dir=runs/synthetic_affwild2`.
"""

from configs import default
from configs import synthetic


WORKDIRS = 'runs/affwild2'


def get_config(variant: str = ''):
  if variant not in ('', 'synthetic'):
    raise ValueError(f"configs/affwild2.py takes '' or 'synthetic', not {variant!r}")
  config = synthetic.get_config() if variant else default.get_config()
  data = config.data
  data.corpus = 'affwild2'
  # Aff-Wild2's annotations are taken as synchronous with the video (no reaction delay), and
  # not median-filtered.
  data.label_delay_frames.valence = data.label_delay_frames.arousal = 0
  data.label_median_kernel = 1
  evaluation = config.eval
  evaluation.postprocess = False  # AVEC's post-processing is RECOLA's
  evaluation.predict_test = True  # the test list's videos, in ABAW's format (test/<video>.txt)
  if variant == 'synthetic':
    data.raw_dir = 'runs/synthetic_affwild2'
    data.data_dir = 'runs/tfds'
    return config
  data.raw_dir = 'data/Aff-Wild2'
  data.data_dir = 'runs/affwild2_tfds'
  data.crop_size = data.image_size = 112  # the distributed aligned crops
  data.num_workers = 8
  data.train_stride = 4  # a million training frames: a clip every 4 frames is plenty
  data.eval_stride = 64
  config.model.dtype = 'bfloat16'
  train = config.train
  train.stage = 'fusion'
  train.init_visual = f'{WORKDIRS}/unimodal_visual'
  train.init_audio = f'{WORKDIRS}/unimodal_audio'
  train.feature_cache = True
  train.steps = 30 * 10_000
  train.eval_every = train.checkpoint_every = 10_000
  train.log_every = 100
  recipe = config.recipe
  recipe.visual_weights = 'weights/rgb_imagenet.npz'
  recipe.unimodal_audio_steps = recipe.unimodal_visual_steps = 5 * 10_000
  recipe.fusion_steps = train.steps
  recipe.end_to_end_steps = 5 * 10_000
  return config
