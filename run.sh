#!/usr/bin/env bash
# One command per job on a fresh machine:
#   ./run.sh              set up, then run the main job: synthetic corpus -> dataset -> the paper's recipe -> results table
#   ./run.sh test [ARGS]  set up, then run the tests (pytest ARGS)
#   ./run.sh benchmark    set up, then time the train step, its parts, inference and the input
#                         pipeline on this machine's device; runs/benchmark/ compares every device measured
# Python 3.11, 3.12 or 3.13 (PYTHON=... picks one; else the newest found). Accelerator:
#   CAAV_ACCELERATOR=cpu (default) | cuda12 | cuda13 | tpu   adds the matching jax plugin.
# A node with no package registry: CAAV_WHEELHOUSE=DIR (made by scripts/wheelhouse.sh) uses
#   the interpreter's own packages (its jax) and installs DIR's wheels on top, offline.
# Set-up is idempotent: .venv is rebuilt only when the lock, pyproject.toml, the Python
# version or the accelerator change.
set -euo pipefail
cd "$(dirname "$0")"

say() { echo "run.sh: $*" >&2; }
fail() { say "$*"; exit 1; }

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
supported() { [[ "$1" == 3.11 || "$1" == 3.12 || "$1" == 3.13 ]]; }

if [[ -n "${PYTHON:-}" ]]; then
  command -v "$PYTHON" >/dev/null 2>&1 || fail "PYTHON=$PYTHON: no such interpreter"
  PY_VERSION="$(version_of "$PYTHON" || true)"
  supported "$PY_VERSION" || fail "PYTHON=$PYTHON is Python ${PY_VERSION:-?}; caav_jax needs 3.11, 3.12 or 3.13"
else
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && supported "$(version_of "$candidate")"; then
      PYTHON="$candidate"
      break
    fi
  done
  [[ -n "${PYTHON:-}" ]] || fail "no Python 3.11, 3.12 or 3.13 found; install one or set PYTHON=/path/to/python3.1x"
  PY_VERSION="$(version_of "$PYTHON")"
fi
if [[ "$PY_VERSION" == 3.11 ]]; then LOCK=requirements.lock; else LOCK=requirements-py312.lock; fi

ACCELERATOR="${CAAV_ACCELERATOR:-cpu}"
case "$ACCELERATOR" in
  cpu) ;;
  cuda12|cuda13)
    command -v nvidia-smi >/dev/null 2>&1 \
      || fail "CAAV_ACCELERATOR=$ACCELERATOR asks for an NVIDIA GPU, but this machine has no nvidia-smi (no driver); unset it to run on the CPU"
    export JAX_PLATFORMS=cuda ;;
  tpu) export JAX_PLATFORMS=tpu ;;
  *) fail "CAAV_ACCELERATOR=$ACCELERATOR: use cpu, cuda12, cuda13 or tpu" ;;
esac
if [[ -z "${CAAV_ACCELERATOR:-}" ]] && command -v nvidia-smi >/dev/null 2>&1; then
  cuda="$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9]*\).*/\1/p' | head -1)"
  say "an NVIDIA GPU is here (driver's CUDA ${cuda:-?}): set CAAV_ACCELERATOR=$([[ "${cuda:-0}" -ge 13 ]] && echo cuda13 || echo cuda12) to use it; installing for the CPU"
fi

VENV=.venv
STAMP="$VENV/.setup-stamp"
WHEELHOUSE="${CAAV_WHEELHOUSE:-}"
if [[ -n "$WHEELHOUSE" ]]; then
  compgen -G "$WHEELHOUSE/*.whl" >/dev/null || fail "CAAV_WHEELHOUSE=$WHEELHOUSE: no wheels there (scripts/wheelhouse.sh makes them)"
fi
want="$( (cat "$LOCK" pyproject.toml; echo "$PY_VERSION $ACCELERATOR $WHEELHOUSE"; [[ -z "$WHEELHOUSE" ]] || ls "$WHEELHOUSE") \
        | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
  say "setting up $VENV with Python $PY_VERSION ($(command -v "$PYTHON")), $LOCK, accelerator $ACCELERATOR ..."
  rm -f "$STAMP"
  if [[ -x "$VENV/bin/python" && "$(version_of "$VENV/bin/python")" != "$PY_VERSION" ]]; then
    rm -rf "$VENV"
  fi
  pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
  if [[ -n "$WHEELHOUSE" ]]; then
    # The interpreter itself (an image's Python is often a venv already) and the wheels beside it.
    rm -rf "$VENV"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-index --no-deps \
      --target "$VENV/wheelhouse-site" "$WHEELHOUSE"/*.whl
  else
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    pip_install -r "$LOCK"
  fi
  if [[ "$ACCELERATOR" != cpu && -z "$WHEELHOUSE" ]]; then
    # The pyproject extra of that name, held to the lock's versions (jax, jaxlib).
    "$VENV/bin/python" -c 'import sys, tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"][sys.argv[1]]))' \
      "$ACCELERATOR" > "$VENV/accelerator-requirements.txt"
    pip_install -c "$LOCK" -r "$VENV/accelerator-requirements.txt"
  fi
  echo "$want" > "$STAMP"
fi
if [[ -n "$WHEELHOUSE" ]]; then
  PY="$PYTHON"
  export PYTHONPATH="$PWD:$PWD/$VENV/wheelhouse-site${PYTHONPATH:+:$PYTHONPATH}"
else
  PY="$VENV/bin/python"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export TF_CPP_MIN_LOG_LEVEL=3
WORK="${CAAV_WORKDIR:-runs}"

case "${1:-}" in
  test)
    shift
    set +e
    "$PY" -m pytest "$@"
    rc=$?
    set -e
    if [[ $rc -eq 5 ]]; then
      say "pytest collected no tests; failing on purpose."
      exit 1
    fi
    exit $rc
    ;;
  benchmark)
    shift
    # The paper's shapes on an accelerator; reduced ones (configs/benchmark.py says which) on a CPU.
    shapes="$("$PY" -c 'import jax; print("cpu" if jax.default_backend() == "cpu" else "paper")')"
    "$PY" -m data_pipelines.synthetic_recola --output_dir="$WORK/benchmark_corpus" \
      --recordings_per_split=1 --duration_s=40
    "$PY" -m caav_jax.main --mode=benchmark --config="configs/benchmark.py:$shapes" --workdir="$WORK" \
      --config.data.raw_dir="$WORK/benchmark_corpus" --config.data.data_dir="$WORK/benchmark_tfds" "$@"
    ;;
  "")
    "$PY" -m data_pipelines.synthetic_recola --output_dir="$WORK/synthetic_recola"
    "$PY" -m caav_jax.main --mode=recipe --config=configs/synthetic.py --workdir="$WORK/recipe" \
      --config.data.raw_dir="$WORK/synthetic_recola" --config.data.data_dir="$WORK/tfds"
    ;;
  *)
    echo "usage: ./run.sh [test [pytest args...] | benchmark [--config.x=y ...]]" >&2
    exit 2
    ;;
esac
