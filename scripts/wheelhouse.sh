#!/usr/bin/env bash
# A wheelhouse for a node that reaches no package registry (an air-gapped GPU node): the
# lock's pins that the node's image lacks, as wheels for its Python, checked to fit 64 MiB.
#   on the node:  python3 -m pip list --format=freeze > node-packages.txt   (bring it here)
#   here:         scripts/wheelhouse.sh node-packages.txt [PYTHON_VERSION (3.12)] [OUT (wheelhouse)]
#   on the node:  CAAV_WHEELHOUSE=wheelhouse CAAV_ACCELERATOR=cuda13 ./run.sh benchmark
# The image's jax, jaxlib, jax plugins and NVIDIA libraries are always kept. A package the
# image has in another version is carried only when its wheel is pure Python; a compiled
# one (numpy, scipy, tensorstore, ...) is the image's.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 && -f "$1" ]] || { echo "usage: scripts/wheelhouse.sh NODE_PACKAGES.txt [3.12|3.13|3.11] [OUT]" >&2; exit 2; }
node="$1"
version="${2:-3.12}"
out="${3:-wheelhouse}"
limit=$((64 * 1024 * 1024))
if [[ "$version" == 3.11 ]]; then lock=requirements.lock; else lock=requirements-py312.lock; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

source scripts/wheel_platforms.sh
mkdir -p "$work/wheels"
promise="$(grep '^promise==' "$lock")"  # TFDS's `promise` ships only an sdist (pure Python)
python3 -m pip wheel --quiet --no-deps "$promise" -w "$work/wheels"

# The pins a node needs: the direct dependencies and test tools, held to the lock, less
# Apache Beam (a dataset build spread over a cluster, not an accelerator's work) and what
# only Beam needs; resolved for the node's Python.
python3 - "$version" "$work/direct.txt" <<'PY'
import sys, tomllib
from packaging.markers import Marker  # pip vendors packaging; so does every venv with pip
project = tomllib.load(open('pyproject.toml', 'rb'))['project']
environment = {'python_version': sys.argv[1], 'python_full_version': sys.argv[1] + '.0',
               'sys_platform': 'linux', 'platform_system': 'Linux', 'platform_machine': 'x86_64',
               'extra': ''}
lines = []
for requirement in project['dependencies'] + project['optional-dependencies']['test']:
  spec, _, marker = requirement.partition(';')
  if (not marker or Marker(marker).evaluate(environment)) and not spec.startswith('apache-beam'):
    lines.append(spec.strip())
open(sys.argv[2], 'w').write('\n'.join(lines) + '\n')
PY
python3 -m pip install --quiet --dry-run --ignore-installed --ignore-requires-python \
  --target "$work/target" --find-links "$work/wheels" --python-version "$version" \
  --implementation cp --only-binary=:all: "${platforms[@]}" --report "$work/needed.json" \
  -c "$lock" -r "$work/direct.txt"

# The pins to carry: needed, and missing on the node or there in another version.
python3 - "$lock" "$node" "$work/wanted.txt" "$work/needed.json" <<'PY'
import json
import re, sys
norm = lambda name: re.sub(r'[-_.]+', '-', name).lower()
def pins(path):
  found = {}
  for line in open(path):
    line = line.split('#')[0].strip()
    if '==' in line:
      name, version = line.split('==', 1)
      found[norm(name)] = version.strip()
    elif line and not line.startswith('-'):
      found[norm(line)] = None  # a name without its version
  return found
lock, node = pins(sys.argv[1]), pins(sys.argv[2])
needed = {norm(i['metadata']['name']) for i in json.load(open(sys.argv[4]))['install']}
def carried(name, version):
  if name in ('jax', 'jaxlib') or name.startswith(('jax-', 'nvidia-', 'libtpu')):
    return False  # the image's own
  if name not in needed:
    return False  # no direct dependency needs it (Beam's own)
  return name not in node or node[name] not in (version, None)  # missing, or another version
wanted = [f'{name}=={version}' for name, version in sorted(lock.items()) if carried(name, version)]
open(sys.argv[3], 'w').write('\n'.join(wanted) + '\n')
PY

grep -q '^promise==' "$work/wanted.txt" || rm "$work/wheels"/promise-*.whl
sed -i '/^promise==/d' "$work/wanted.txt"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$version" \
  --implementation cp "${platforms[@]}" -d "$work/wheels" -r "$work/wanted.txt"

# A compiled wheel of a package the node already has stays behind: the image's build is used.
python3 - "$node" "$work/wheels" <<'PY'
import pathlib, re, sys
norm = lambda name: re.sub(r'[-_.]+', '-', name).lower()
node = {norm(re.split(r'[=<> ]', line.strip())[0]) for line in open(sys.argv[1]) if line.strip()}
for wheel in pathlib.Path(sys.argv[2]).glob('*.whl'):
  fields = wheel.stem.split('-')  # name-version-python-abi-platform
  if norm(fields[0]) in node and fields[-1] != 'any':
    print(f'  the image has {norm(fields[0])}: its own build is used, not {wheel.name}')
    wheel.unlink()
PY
rm -rf "$out"
mkdir -p "$out"
mv "$work/wheels/"*.whl "$out/"
size=$(du -cb "$out"/*.whl | tail -1 | cut -f1)
echo "wrote $out: $(ls "$out" | wc -l) wheels, $((size / 1024 / 1024)) MiB (limit 64 MiB) for Python $version:"
ls -S "$out" | sed 's/^/  /'
if (( size > limit )); then
  echo "wheelhouse.sh: $out is over 64 MiB; the largest wheels are listed first" >&2
  exit 1
fi
