"""Default configuration: the paper's data setting (see ../shared/PAPER.md)."""

import ml_collections


def data_config() -> ml_collections.ConfigDict:
  """Where the data lives and how windows are cut from it."""
  data = ml_collections.ConfigDict()
  data.corpus = 'recola'  # 'recola' (AVEC 2016 layout) or 'affwild2' (ABAW VA track).
  data.raw_dir = ''  # The corpus as distributed (or a synthetic one in its layout).
  data.data_dir = ''  # Where the TFDS dataset is built.
  data.crop_size = 224  # Stored face crop side (the TFDS builder config).
  data.face_source = 'video'  # 'video' or 'images' (pre-cropped faces).
  data.image_size = 224  # Model input side: random crop (train) / centre crop (eval).
  data.flip = True  # Train: flip each clip horizontally with probability 1/2.
  data.clip_frames = 128  # 5.12 s per clip.
  data.subseq_frames = 16  # 8 sub-sequences per clip, one spectrogram each.
  data.dimensions = ('valence', 'arousal')
  # Annotation delay: frame t is paired with the label at t + delay.
  data.label_delay_frames = ml_collections.ConfigDict({'valence': 58, 'arousal': 68})
  data.label_median_kernel = 3
  data.target = 'clip_mean'  # 'clip_mean' (the paper) or 'per_frame'.
  data.faceless_policy = 'drop'  # Train windows with a faceless frame: 'drop' or 'mask'.
  data.eval_faceless_policy = 'mask'  # Evaluation scores every frame.
  data.train_stride = 1  # A train clip starts at every frame.
  data.eval_stride = 64  # Evaluation windows overlap by half.
  data.batch_size = 16  # The global batch: all processes and devices together.
  data.num_workers = 0  # Grain worker processes; 0 loads in the main process.
  data.seed = 0
  return data


def model_config() -> ml_collections.ConfigDict:
  """Which network: the paper's CAM or a baseline, sizes and precision."""
  model = ml_collections.ConfigDict()
  # 'cam', 'cam_concat', 'jca', 'concat', 'sum', 'audio_only' or 'visual_only'.
  model.fusion = 'cam'
  model.jca_encoder_features = 128  # jca: each modality's linear encoder (0: none)
  model.jca_hidden = 32  # jca: k, the attention's hidden width
  model.visual_width = 1.0  # I3D width multiplier (1.0: the published network).
  model.audio_width = 1.0  # Spectrogram CNN width multiplier.
  model.dropout_rate = 0.5
  # I3D batch-norm running statistics, flax meaning: 0.99 is pytorch-i3d's momentum 0.01.
  model.visual_batch_norm_momentum = 0.99
  model.dtype = 'float32'  # Compute dtype; 'bfloat16' on accelerators. Parameters stay float32.
  return model


def train_config() -> ml_collections.ConfigDict:
  """How long and how fast to train."""
  train = ml_collections.ConfigDict()
  # 'end_to_end' trains everything; 'unimodal_audio' / 'unimodal_visual'
  # pre-train one backbone with its own head; 'fusion' trains only the fusion
  # and head on frozen backbones (the paper's recipe, docs/model.md).
  train.stage = 'end_to_end'
  train.init_visual = ''  # workdir of a unimodal_visual run, or converted I3D weights (.npz)
  train.init_audio = ''  # workdir of a unimodal_audio run
  train.feature_cache = False  # fusion: train on cached backbone features, not pixels
  train.feature_dir = ''  # where the cache goes; '' is <workdir>/features
  train.steps = 20_000
  train.learning_rate = 1e-4  # Adam, as the paper.
  # The paper's schedule: after epoch 15 the rate is multiplied by 0.8 every 2 epochs.
  train.decay_start_epoch = 15
  train.decay_every_epochs = 2
  train.decay_factor = 0.8
  train.grad_clip_norm = 0.0  # 0 disables clipping.
  # Steps per compiled call (a loop over that many batches): pays where a step takes
  # milliseconds (the fusion stage on cached features), not where it takes seconds.
  train.steps_per_call = 1
  train.log_every = 50
  train.checkpoint_every = 1_000
  train.eval_every = 1_000  # dev evaluation (and best-on-dev checkpoint); also after the last step
  train.checkpoints_to_keep = 3
  train.seed = 0
  return train


def eval_config() -> ml_collections.ConfigDict:
  """What --mode=eval restores, scores and writes."""
  evaluation = ml_collections.ConfigDict()
  evaluation.checkpoint = 'best'  # 'best' (on dev), 'latest', or a step number such as '1200'
  evaluation.split = 'dev'  # Scored split (needs labels).
  evaluation.predict_test = True  # Also the test split, in its corpus's format (AVEC / ABAW).
  evaluation.postprocess = True  # Also report AVEC-style post-processed scores (fitted on dev).
  evaluation.smoothing_windows = (1, 5, 11, 21, 41, 81)  # median filter widths tried, in frames
  evaluation.max_shift_frames = 50  # time shifts tried: 0..max, in frames
  evaluation.plots = True  # PNG of prediction against gold per recording
  return evaluation


def benchmark_config() -> ml_collections.ConfigDict:
  """What --mode=benchmark measures."""
  benchmark = ml_collections.ConfigDict()
  benchmark.batch_sizes = (1, 8, 16)
  benchmark.dtypes = ('float32', 'bfloat16')
  benchmark.warmup_steps = 2
  benchmark.timed_steps = 10
  benchmark.pipeline_batches = 8  # batches timed for the input-pipeline figure; 0 skips it
  benchmark.shapes = ''  # a name for the workload in the report (configs/benchmark.py sets it)
  return benchmark


def predict_config() -> ml_collections.ConfigDict:
  """--mode=predict (docs/predict.md)."""
  predict = ml_collections.ConfigDict()
  # Windows per model call. On a CPU one is fastest and leanest (docs/performance.md); on an
  # accelerator a batch pays. Rounded up to a multiple of the device count.
  predict.batch_size = 1
  return predict


def recipe_config() -> ml_collections.ConfigDict:
  """--mode=recipe: the paper's recipe end to end (caav_jax/recipe.py)."""
  recipe = ml_collections.ConfigDict()
  recipe.seeds = (0,)
  recipe.visual_weights = ''  # converted Kinetics I3D weights (.npz) for the visual pre-training; '' starts from scratch
  recipe.unimodal_audio_steps = 2_000
  recipe.unimodal_visual_steps = 2_000
  recipe.fusions = ('audio_only', 'visual_only', 'concat', 'sum', 'cam', 'cam_concat', 'jca')
  recipe.fusion_steps = 2_000
  recipe.fusion_learning_rate = 1e-4
  recipe.fusion_steps_per_call = 25  # on cached features a step takes milliseconds
  recipe.end_to_end_steps = 2_000  # 0 skips the end-to-end CAM model
  return recipe


def distributed_config() -> ml_collections.ConfigDict:
  """Multi-host set-up: jax.distributed.initialize before anything else when enabled."""
  distributed = ml_collections.ConfigDict()
  distributed.initialize = False
  distributed.coordinator_address = ''  # host:port; '' lets JAX detect it (TPU pods, SLURM)
  distributed.num_processes = 0  # 0: detect
  distributed.process_id = -1  # -1: detect
  return distributed


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.data = data_config()
  config.model = model_config()
  config.train = train_config()
  config.eval = eval_config()
  config.benchmark = benchmark_config()
  config.predict = predict_config()
  config.recipe = recipe_config()
  config.distributed = distributed_config()
  return config
