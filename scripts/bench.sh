#!/usr/bin/env bash
# Runs the benchmarks in benches/ and prints target/bench/summary.json (flat {"figure": number}).
# Wall-clock figures: run on an otherwise idle machine and compare ratios within one run.
# Bench targets (all run by `cargo bench -p cloister-benches`): inference (end to end through the
# host), nitro_verify (Nitro document verification, cold/warm, against attestation-doc-validation
# and aws-nitro-enclaves-cose; about 30 s), snp_verify (SEV-SNP, against virtee sev), tdx_verify
# (TDX DCAP quotes with collateral, against Phala's dcap-qvl; about 10 s), eif_measure, unseal
# (1 GiB sealed model against raw AES-256-GCM), key_release (challenge to opened data key over
# the host relay and loopback, with real custodian and host processes) and custodian_replicas
# (releases per second of one and three custodians on one PostgreSQL database).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$ROOT/scripts/setup.sh"
cargo build --release --workspace --bins --quiet
# custodian_replicas needs PostgreSQL: a throwaway cluster on loopback, removed at exit.
PGTMP=$(mktemp -d)
trap '"$ROOT/scripts/postgres.sh" stop "$PGTMP/cluster"' EXIT
eval "$("$ROOT/scripts/postgres.sh" start "$PGTMP/cluster")"
export CLOISTER_TEST_POSTGRES_URL
rm -f target/bench/summary.json
cargo bench -p cloister-benches --quiet
# py-verify-nitro-us beside the Rust warm figure: the Python binding's overhead.
"$ROOT/scripts/bench-python.sh"
echo "== target/bench/summary.json"
cat target/bench/summary.json
