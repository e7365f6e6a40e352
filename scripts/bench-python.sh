#!/usr/bin/env bash
# The Python SDK's figures, merged into target/bench/summary.json (python/bench/verify_nitro.py):
# py-verify-nitro-us (warm Nitro verification through cloister.verify, printed next to the Rust
# nitro-verify-warm-us when scripts/bench.sh has written it) and
# py-verify-gil-two-threads-speedup (two threads against one after the other: the GIL is
# released while Rust verifies). Builds a fresh environment unless target/python-venv already
# has the SDK (CLOISTER_PY_REBUILD=1 forces it). Wall-clock: compare ratios within one run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/target/python-venv"
if [ "${CLOISTER_PY_REBUILD:-}" = 1 ] || ! "$VENV/bin/python" -c 'import cloister' 2>/dev/null; then
  "$ROOT/scripts/python-env.sh"
fi
echo "== Python SDK benchmarks"
(cd "$ROOT/target" && "$VENV/bin/python" "$ROOT/python/bench/verify_nitro.py")
