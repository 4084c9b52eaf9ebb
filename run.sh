#!/usr/bin/env bash
# One command per job on a fresh machine:
#   ./run.sh        set up, then run the main job: synthetic corpus -> dataset -> the paper's recipe -> results table
#   ./run.sh test   set up, then run the tests
# Set-up is idempotent: the virtual environment is rebuilt only when
# requirements.lock or pyproject.toml change.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv
STAMP="$VENV/.setup-stamp"
want="$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)"

if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "caav_jax needs Python 3.11, found " + sys.version' \
    || { echo "run.sh: set PYTHON to a Python 3.11 interpreter" >&2; exit 1; }
  echo "run.sh: setting up $VENV (first run only) ..."
  rm -f "$STAMP"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.lock
  echo "$want" > "$STAMP"
fi
PY="$VENV/bin/python"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL=3

case "${1:-}" in
  test)
    shift
    set +e
    "$PY" -m pytest "$@"
    rc=$?
    set -e
    if [[ $rc -eq 5 ]]; then
      echo "run.sh: pytest collected no tests; failing on purpose." >&2
      exit 1
    fi
    exit $rc
    ;;
  "")
    WORK="${CAAV_WORKDIR:-runs}"
    "$PY" -m data_pipelines.synthetic_recola --output_dir="$WORK/synthetic_recola"
    "$PY" -m caav_jax.main --mode=recipe --config=configs/synthetic.py --workdir="$WORK/recipe" \
      --config.data.raw_dir="$WORK/synthetic_recola" --config.data.data_dir="$WORK/tfds"
    ;;
  *)
    echo "usage: ./run.sh [test [pytest args...]]" >&2
    exit 2
    ;;
esac
