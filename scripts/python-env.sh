#!/usr/bin/env bash
# Makes a FRESH virtual environment at target/python-venv with maturin, pytest and mypy from
# PyPI, builds the Python SDK's abi3 wheel (maturin build --release, into the shared target/)
# and installs it. Used by scripts/test-python.sh and scripts/bench-python.sh. On a fresh
# Debian machine as root it installs python3-venv and python3-dev if missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing python3-venv and python3-dev (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-dev
  else
    echo "python-env: $PY has no venv/ensurepip module (Debian: apt-get install python3-venv)" >&2
    exit 2
  fi
fi
VENV="$ROOT/target/python-venv"
WHEELS="$ROOT/target/python-wheels"
rm -rf "$VENV" "$WHEELS"
echo "== fresh virtual environment $VENV ($("$PY" --version))"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "maturin>=1.9.4,<2" pytest mypy
echo "== maturin build --release (abi3 wheel, Python >= 3.9; target dir $ROOT/target)"
export CARGO_TARGET_DIR="$ROOT/target"
(cd python && "$VENV/bin/maturin" build --release --quiet --interpreter "$VENV/bin/python" --out "$WHEELS")
"$VENV/bin/python" -m pip install --quiet "$WHEELS"/cloister-*.whl
