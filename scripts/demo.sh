#!/usr/bin/env bash
# The main job: the whole attested-inference flow on the mock backend, as separate processes.
# Builds, creates a mock root CA, starts the enclave and the host on Unix sockets and loopback,
# runs `cloister infer` (verify evidence, encrypt, send, open, check the signature), prints the
# verified, signed result, and stops what it started. Exits non-zero on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$ROOT/scripts/setup.sh"
echo "== building (release)"
cargo build --release --workspace --bins --quiet
WORK=$(mktemp -d)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
trap 'stop_all; rm -rf "$WORK"' EXIT
echo "== mock platform, enclave and host"
start_mock_system
echo "   enclave: unix:$WORK/enclave.sock   host: $HOST_URL"
echo "== cloister infer (sample applicant: models/credit-risk-v1/sample-input.json)"
"$CLOISTER" infer --host "$HOST_URL" --policy "$WORK/mock/policy.json" --mock-root "$WORK/mock/root.pem" \
  --model credit-risk-v1 --input "$ROOT/models/credit-risk-v1/sample-input.json"
echo "== the empty trust policy {} accepts no platform: it must refuse the same enclave"
if "$CLOISTER" infer --host "$HOST_URL" --policy <(echo '{}') --mock-root "$WORK/mock/root.pem" \
  --input "$ROOT/models/credit-risk-v1/sample-input.json" 2>"$WORK/refused.txt"; then
  echo "cloister demo: FAILED (an untrusting policy accepted the mock enclave)" >&2
  exit 1
fi
sed 's/^/   /' "$WORK/refused.txt"
stop_all
echo "cloister demo: OK (evidence verified, request encrypted to the attested key, result signature checked)"
