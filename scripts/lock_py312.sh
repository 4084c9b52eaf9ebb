#!/usr/bin/env bash
# Resolves requirements-py312.lock (Python 3.12 and 3.13) from any machine with pip,
# whatever its own Python: every pin must exist as a cp312 wheel for Linux x86-64,
# and the same pins must resolve for cp313. TFDS's dependency `promise` ships
# only an sdist (pure Python); a wheel of it built here stands in for the check.
#   scripts/lock_py312.sh            writes requirements-py312.lock
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
source scripts/wheel_platforms.sh
python3 -m pip wheel --quiet --no-deps promise==2.3 -w "$work/wheels"
# The direct dependencies (pyproject.toml) for Python >= 3.12, and the test tools.
python3 - "$work/direct.txt" <<'PY'
import sys, tomllib
from packaging.markers import Marker  # pip vendors packaging; so does every venv with pip
project = tomllib.load(open('pyproject.toml', 'rb'))['project']
environment = {'python_version': '3.12', 'python_full_version': '3.12.0', 'sys_platform': 'linux',
               'platform_system': 'Linux', 'platform_machine': 'x86_64', 'extra': ''}
lines = []
for requirement in project['dependencies'] + project['optional-dependencies']['test']:
  spec, _, marker = requirement.partition(';')
  if not marker or Marker(marker).evaluate(environment):
    lines.append(spec.strip())
open(sys.argv[1], 'w').write('\n'.join(lines) + '\n')
PY
resolve() {  # resolve PYTHON_VERSION REQUIREMENTS REPORT
  python3 -m pip install --quiet --dry-run --ignore-installed --ignore-requires-python \
    --target "$work/target-$1" --find-links "$work/wheels" --python-version "$1" \
    --implementation cp --only-binary=:all: "${platforms[@]}" --report "$3" -r "$2"
}
resolve 3.12 "$work/direct.txt" "$work/report312.json"
python3 - "$work/report312.json" "$work/pins.txt" <<'PY'
import json, sys
installs = json.load(open(sys.argv[1]))['install']
pins = sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in installs)
open(sys.argv[2], 'w').write('\n'.join(sorted(pins, key=str.lower)) + '\n')
PY
resolve 3.13 "$work/pins.txt" "$work/report313.json"
{
  echo "# Exact versions for Python 3.12 and 3.13 (CPU; CAAV_ACCELERATOR adds the jax plugin). Installed by ./run.sh."
  echo "# Resolved, not frozen: every pin exists as a wheel for cp312 and cp313 (promise: pure-Python sdist). Regenerate: scripts/lock_py312.sh"
  cat "$work/pins.txt"
} > requirements-py312.lock
echo "wrote requirements-py312.lock ($(grep -vc '^#' requirements-py312.lock) pins)"
