#!/usr/bin/env bash
# Runs every test: format, clippy (warnings denied), the workspace's unit and integration tests
# (the integration tests start the real enclave and host processes), and the shared fixture
# matrix over the real attestation evidence in ../shared/fixtures.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$ROOT/scripts/setup.sh"
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy (warnings denied)"
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
echo "== build binaries (the integration tests run them)"
cargo build --release --workspace --bins --quiet
echo "== cargo test"
cargo test --release --workspace --no-fail-fast 2>&1
echo "== demo"
"$ROOT/scripts/demo.sh"
FIXTURES="$ROOT/../shared/tools/fixture-matrix.py"
if [ -f "$FIXTURES" ]; then
  for platform in nitro snp tdx; do
    echo "== fixture matrix: $platform"
    python3 "$FIXTURES" "$platform" --cli target/release/cloister
  done
else
  echo "fixture matrix not found at $FIXTURES: ../shared must sit beside the project" >&2
  exit 1
fi
