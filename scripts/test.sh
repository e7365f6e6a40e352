#!/usr/bin/env bash
# Runs every test: format, the supply-chain checks (cargo-deny, deny.toml), clippy (warnings
# denied), the workspace's unit and integration tests (the custodian's replica tests against a
# throwaway PostgreSQL cluster that scripts/postgres.sh installs, starts and removes; the PKCS#11
# tests against a SoftHSM2 token that scripts/softhsm.sh installs)
# (the integration tests start the real enclave and host processes), and the shared fixture
# matrix over the real attestation evidence in ../shared/fixtures.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$ROOT/scripts/setup.sh"
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo deny: licences, bans, sources (deny.toml)"
if ! command -v cargo-deny >/dev/null; then
  echo "cargo-deny is missing (scripts/setup.sh installs it): the supply-chain checks cannot run" >&2
  exit 1
fi
cargo deny --version
# Every target's crates, so that the offline graph below is complete (crates.io only).
cargo fetch --quiet
# Errors only, with counts: the duplicate-version warnings (bans.multiple-versions = "warn") are
# listed in full by `cargo deny check bans`.
cargo deny --offline --log-level error check --show-stats licenses bans sources
echo "== cargo deny: advisories (RustSec database)"
# The database is a git clone from GitHub; where GitHub is unreachable the check is skipped,
# loudly, rather than failing or hanging the run. Known advisories are listed in deny.toml.
ADVISORY_DBS="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
local_db() {
  local d
  for d in "$ADVISORY_DBS"/advisory-db-*; do
    [ -d "$d" ] && git -C "$d" rev-parse -q --verify HEAD >/dev/null 2>&1 && return 0
  done
  return 1
}
if timeout -k 10 120 cargo deny fetch db >/dev/null 2>&1; then
  cargo deny --offline check --show-stats advisories
elif local_db; then
  echo "!! cargo deny: the RustSec advisory database could not be fetched from GitHub; checking" >&2
  echo "!! against the local copy in $ADVISORY_DBS, which may be stale" >&2
  cargo deny --offline check --show-stats advisories
else
  echo "!! SKIPPED: cargo deny check advisories -- the RustSec advisory database could not be" >&2
  echo "!! fetched from github.com (unreachable, or no answer in 120 s) and there is no local copy." >&2
  echo "!! Licences, bans and sources were checked; run 'cargo deny check advisories' where GitHub is reachable." >&2
fi
echo "== cargo clippy (warnings denied)"
cargo clippy --release --workspace --all-targets --quiet -- -D warnings
echo "== build binaries (the integration tests run them)"
cargo build --release --workspace --bins --quiet
echo "== PostgreSQL for the custodian replica tests (throwaway cluster, loopback)"
PGTMP=$(mktemp -d)
trap '"$ROOT/scripts/postgres.sh" stop "$PGTMP/cluster"' EXIT
eval "$("$ROOT/scripts/postgres.sh" start "$PGTMP/cluster")"
export CLOISTER_TEST_POSTGRES_URL CLOISTER_TEST_POSTGRES_RESTART
# The replica tests fail rather than skip when the cluster is missing.
export CLOISTER_REQUIRE_POSTGRES=1
echo "cluster at ${CLOISTER_TEST_POSTGRES_URL}"
echo "== oracles of the cloister measure tests (Debian OVMF, sev-snp-measure from PyPI)"
eval "$("$ROOT/scripts/measure-oracles.sh")"
export CLOISTER_SEV_SNP_MEASURE CLOISTER_DEBIAN_OVMF
# The differential and Debian-OVMF tests fail rather than skip when an oracle is missing.
export CLOISTER_REQUIRE_MEASURE_ORACLES=1
echo "== cargo test"
cargo test --release --workspace --no-fail-fast 2>&1
echo "== demo"
"$ROOT/scripts/demo.sh"
echo "== key release faults (real processes)"
"$ROOT/scripts/key-release-faults.sh"
echo "== API conformance: schemathesis against the running host and host/openapi.json"
"$ROOT/scripts/api-conformance.sh"
echo "== Nitro emulation: the enclave image in a QEMU microVM over real vsock (scripts/test-vm.sh)"
# Installs QEMU, the Debian kernel package and vhost-device-vsock when missing; fails rather than
# skips when it cannot.
CLOISTER_REQUIRE_VM=1 "$ROOT/scripts/test-vm.sh"
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
echo "== Python SDK (python/): fresh venv, abi3 wheel, pytest (fixture matrix, errors, round trip), mypy"
CLOISTER_REQUIRE_PYTHON=1 "$ROOT/scripts/test-python.sh"
