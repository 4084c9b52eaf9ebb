"""pytorch-i3d weights (e.g. `rgb_imagenet.pt`) → `InceptionI3d` parameters, with every key and shape checked.

The command is caav_jax/tools/convert_i3d_weights.py. The state dict is read by `torch_state_dict.read_torch_state_dict`, which
never runs code from the file. The output `.npz` holds one array per
parameter and batch statistic of the trunk, keyed by its path in the model
(`Mixed_4b/b1b/conv3d/kernel`); `load_i3d_weights` puts it into a model.
"""

import os
import zipfile

from flax import nnx
import numpy as np

from caav_jax.errors import WeightsFileError
from caav_jax.models.i3d import InceptionI3d


# pytorch-i3d's BatchNorm3d names → nnx.BatchNorm's.
_BATCH_NORM_NAMES = {'weight': 'scale', 'bias': 'bias', 'running_mean': 'mean',
                     'running_var': 'var'}


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
