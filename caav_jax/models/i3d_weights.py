"""pytorch-i3d weights (e.g. `rgb_imagenet.pt`) → `InceptionI3d` parameters, with every key and shape checked.

  python -m caav_jax.models.i3d_weights --torch_file=rgb_imagenet.pt --output=i3d_rgb_imagenet.npz

The state dict is read by `torch_state_dict.read_torch_state_dict`, which
never runs code from the file. The output `.npz` holds one array per
parameter and batch statistic of the trunk, keyed by its path in the model
(`Mixed_4b/b1b/conv3d/kernel`); `load_i3d_weights` puts it into a model.
"""

import os
import zipfile

from absl import app
from absl import flags
from flax import nnx
import numpy as np

from caav_jax.models.i3d import InceptionI3d
from caav_jax.models.torch_state_dict import read_torch_state_dict

# pytorch-i3d's BatchNorm3d names → nnx.BatchNorm's.
_BATCH_NORM_NAMES = {'weight': 'scale', 'bias': 'bias', 'running_mean': 'mean',
                     'running_var': 'var'}


class WeightsFileError(ValueError):
  """The weights file is unreadable or does not fit the model; the message names it and every problem."""


def _model_path(torch_key: str) -> str | None:
  """`Mixed_4b.b1b.conv3d.weight` → `Mixed_4b/b1b/conv3d/kernel`; None if not part of the trunk."""
  *module, leaf = torch_key.split('.')
  if torch_key.startswith('logits.') or leaf == 'num_batches_tracked':
    return None  # The Kinetics classifier, and a counter: not trunk weights.
  if module and module[-1] == 'conv3d' and leaf in ('weight', 'bias'):
    return '/'.join(module + ['kernel' if leaf == 'weight' else 'bias'])
  if module and module[-1] == 'bn' and leaf in _BATCH_NORM_NAMES:
    return '/'.join(module + [_BATCH_NORM_NAMES[leaf]])
  return '/'.join(module + [leaf])  # unknown: reported as an extra key


def _model_shapes(model: nnx.Module) -> dict[str, tuple[int, ...]]:
  """Path → shape of every Param and BatchStat (works on `nnx.eval_shape` models)."""
  return {'/'.join(map(str, path)): tuple(variable.get_value().shape)
          for path, variable in nnx.to_flat_state(nnx.state(model))
          if isinstance(variable, (nnx.Param, nnx.BatchStat))}


def convert_state_dict(state_dict: dict[str, np.ndarray], model: InceptionI3d,
                       source: str = 'state dict') -> dict[str, np.ndarray]:
  """Maps a pytorch-i3d state dict onto the model's parameter paths.

  Convolution kernels go from PyTorch's (out, in, t, h, w) to (t, h, w, in, out).

  Args:
    state_dict: torch key → array.
    model: a full-width trunk whose shapes the weights must match.
    source: the file name, for error messages.

  Returns:
    model path → float32 array, one per Param and BatchStat of the model.

  Raises:
    WeightsFileError: listing every missing, extra and mis-shaped key.
  """
  expected = _model_shapes(model)
  converted, problems, seen = {}, [], set()
  for key, array in state_dict.items():
    path = _model_path(key)
    if path is None:
      continue
    seen.add(path)
    if path not in expected:
      problems.append(f'extra key {key!r} (no {path} in the model)')
      continue
    if path.endswith('conv3d/kernel'):
      array = np.transpose(array, (2, 3, 4, 1, 0))
    if array.shape != expected[path]:
      problems.append(f'{key!r} has shape {array.shape} after conversion; the '
                      f'model wants {expected[path]}')
      continue
    converted[path] = np.asarray(array, np.float32)
  problems += [f'missing key for {path}' for path in expected if path not in seen]
  if problems:
    raise WeightsFileError(f'{source}: does not fit the I3D trunk: ' + '; '.join(problems))
  return converted


def load_i3d_weights(model: InceptionI3d, path: str | os.PathLike) -> None:
  """Overwrites the model's trunk with converted weights from an `.npz`.

  Raises:
    WeightsFileError: naming the file, when it is not an .npz of plain arrays
      (object arrays, which would need unpickling, are refused) or a key
      does not fit.
  """
  try:
    with np.load(path, allow_pickle=False) as stored:  # never unpickles: no code runs
      arrays = dict(stored)
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
    raise WeightsFileError(f'{os.fspath(path)}: not a readable .npz of arrays '
                           f'({type(error).__name__}: {error})') from None
  expected = _model_shapes(model)
  problems = [f'missing {p}' for p in expected if p not in arrays]
  problems += [f'extra {p}' for p in arrays if p not in expected]
  problems += [f'{p} has shape {arrays[p].shape}, the model wants {expected[p]}'
               for p in arrays if p in expected and arrays[p].shape != expected[p]]
  if problems:
    raise WeightsFileError(f'{os.fspath(path)}: ' + '; '.join(problems))
  state = nnx.state(model)
  for key_path, variable in nnx.to_flat_state(state):
    name = '/'.join(map(str, key_path))
    if name in arrays:
      variable[...] = arrays[name]
  nnx.update(model, state)


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
  except (ValueError, OSError) as e:
    raise app.UsageError(str(e)) from None
  temporary = f'{_OUTPUT.value}.partial.npz'
  np.savez(temporary, **converted)
  os.replace(temporary, _OUTPUT.value)
  count = sum(a.size for a in converted.values())
  print(f'wrote {len(converted)} arrays ({count:,} numbers) to {_OUTPUT.value}')


if __name__ == '__main__':
  app.run(main)
