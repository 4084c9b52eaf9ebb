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

# The pins to carry: missing on the node, or there in another version.
python3 - "$lock" "$node" "$work/wanted.txt" <<'PY'
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
def carried(name, version):
  if name in ('jax', 'jaxlib') or name.startswith(('jax-', 'nvidia-', 'libtpu')):
    return False  # the image's own
  return name not in node or node[name] not in (version, None)  # missing, or another version
wanted = [f'{name}=={version}' for name, version in sorted(lock.items()) if carried(name, version)]
open(sys.argv[3], 'w').write('\n'.join(wanted) + '\n')
PY

source scripts/wheel_platforms.sh
mkdir -p "$work/wheels"
if grep -q '^promise==' "$work/wanted.txt"; then  # TFDS's `promise` ships only an sdist (pure Python)
  python3 -m pip wheel --quiet --no-deps "$(grep '^promise==' "$work/wanted.txt")" -w "$work/wheels"
  sed -i '/^promise==/d' "$work/wanted.txt"
fi
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
