"""Converts pytorch-i3d's weights (e.g. `rgb_imagenet.pt`) into an `.npz` for `config.train.init_visual`.

  python -m caav_jax.tools.convert_i3d_weights --torch_file=rgb_imagenet.pt --output=weights/rgb_imagenet.npz

Nothing in the `.pt` file is executed (caav_jax/models/torch_state_dict.py);
every key and shape is checked against the full-width I3D trunk.
"""

import sys

from absl import app
from absl import flags
from flax import nnx
import numpy as np

from caav_jax.atomic_write import atomic_write
from caav_jax.models.i3d import InceptionI3d
from caav_jax.models.i3d_weights import convert_state_dict
from caav_jax.models.torch_state_dict import read_torch_state_dict


_TORCH_FILE = flags.DEFINE_string('torch_file', None, 'pytorch-i3d state dict (.pt).')
_OUTPUT = flags.DEFINE_string('output', None, 'Where to write the converted .npz.')


def main(argv):
  del argv
  if not _TORCH_FILE.value or not _OUTPUT.value:
    raise app.UsageError('--torch_file and --output are required')
  model = nnx.eval_shape(lambda: InceptionI3d(rngs=nnx.Rngs(0)))
  try:
    converted = convert_state_dict(read_torch_state_dict(_TORCH_FILE.value), model,
                                   _TORCH_FILE.value)
  except (ValueError, OSError) as error:
    sys.exit(f'convert_i3d_weights: {error}')
  with atomic_write(_OUTPUT.value, binary=True) as file:
    np.savez(file, **converted)
  count = sum(a.size for a in converted.values())
  print(f'wrote {len(converted)} arrays ({count:,} numbers) to {_OUTPUT.value}')


if __name__ == '__main__':
  app.run(main)
