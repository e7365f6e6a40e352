#!/usr/bin/env bash
# The Python SDK (python/): a fresh virtual environment, maturin + pytest + mypy from PyPI, the
# wheel built (release, into the shared target/) and installed, then the pytest suite (fixture
# matrix against the CLI, the round trip against real processes on the mock platform, errors,
# EIF) and mypy --strict on a typed usage example. Also clippy -D warnings and cargo-deny on the
# extension crate, which is its own Cargo workspace (python/README.md says why).
#
# Needs the release binaries for the matrix comparison and the round trip (scripts/test.sh
# builds them first: cargo build --release --workspace --bins). With CLOISTER_REQUIRE_PYTHON=1
# a missing component fails the run; otherwise the tests that need it print "DID NOT RUN".
# The environment comes from scripts/python-env.sh (which, on a fresh Debian machine as root,
# installs python3-venv and python3-dev if missing).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$ROOT/scripts/python-env.sh"
VENV="$ROOT/target/python-venv"

echo "== fmt, clippy and cargo-deny on python/ (its own workspace: the root's checks skip it)"
cargo fmt --manifest-path python/Cargo.toml --check
# Into the shared target/, where maturin builds too: the dependencies are compiled once.
CARGO_TARGET_DIR="$ROOT/target" cargo clippy --release --quiet --manifest-path python/Cargo.toml --all-targets -- -D warnings
if command -v cargo-deny >/dev/null; then
  # Run from the project root, whose deny.toml applies.
  cargo deny --manifest-path python/Cargo.toml --offline --log-level error check licenses bans sources
elif [ "${CLOISTER_REQUIRE_PYTHON:-}" = 1 ]; then
  echo "test-python: cargo-deny is missing (scripts/setup.sh installs it)" >&2
  exit 1
else
  echo "*** cargo deny on python/: cargo-deny not installed, DID NOT RUN ***"
fi

echo "== pytest"
# From outside python/, so that `import cloister` is the installed wheel, not the sources.
(cd "$ROOT/target" && "$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider \
  --rootdir "$ROOT/python" -c "$ROOT/python/pyproject.toml" "$ROOT/python/tests")

echo "== mypy --strict on a typed usage example (checks the installed package's types)"
(cd "$ROOT/target" && "$VENV/bin/python" -m mypy --strict --no-incremental "$ROOT/python/examples/typed_usage.py")
(cd "$ROOT/python" && "$VENV/bin/python" -m mypy --strict --no-incremental cloister)
"$VENV/bin/python" "$ROOT/python/examples/typed_usage.py" \
  ../shared/fixtures/nitro/evervault+attestation-doc-validation/valid-attestation-doc-bytes.cbor 1665651500 \
  | grep -q "'verdict': 'accepted'"
echo "test-python: OK"
