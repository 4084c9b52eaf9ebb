"""A run's resolved configuration, kept in its workdir (config.json): later modes need only --workdir.

Paths in it are made absolute, so the run can be evaluated or used for
prediction from any directory. Sequences come back as tuples, as the
configs write them, and settings added to configs/default.py since the run
was saved take their defaults.
"""

import json
import os
import pathlib

import ml_collections

from caav_jax.atomic_write import atomic_write
from configs import default


_PATHS = (('data', 'raw_dir'), ('data', 'data_dir'), ('train', 'init_visual'),
          ('train', 'init_audio'), ('train', 'feature_dir'), ('recipe', 'visual_weights'))


def save(config: ml_collections.ConfigDict, path: str | os.PathLike) -> None:
  """Writes `config` as JSON, with its non-empty paths made absolute."""
  values = config.to_dict()
  for section, key in _PATHS:
    if values.get(section, {}).get(key):
      values[section][key] = os.path.abspath(values[section][key])
  with atomic_write(path) as file:
    file.write(json.dumps(values, indent=2, sort_keys=True) + '\n')


def _tuples(value):
  if isinstance(value, dict):
    return {key: _tuples(item) for key, item in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(item) for item in value)
  return value


def _merge(defaults: dict, saved: dict) -> dict:
  merged = dict(defaults)
  for key, value in saved.items():
    both = isinstance(value, dict) and isinstance(defaults.get(key), dict)
    merged[key] = _merge(defaults[key], value) if both else value
  return merged


def load(path: str | os.PathLike) -> ml_collections.ConfigDict:
  """The configuration `save` wrote, over today's defaults: a key added since it was saved
  gets its default, every saved value is kept."""
  saved = _tuples(json.loads(pathlib.Path(path).read_text()))
  return ml_collections.ConfigDict(_merge(default.get_config().to_dict(), saved))
