#!/usr/bin/env bash
# The main job: the whole attested-inference flow on the mock backend, as separate processes.
# Builds; seals the model (a fresh data key, a signed manifest) and registers its key with a key
# custodian whose policy pins the enclave's measurement; starts the host (relay to the custodian,
# store of sealed models) and the enclave, which pulls its key with attested evidence and unseals
# the model before it listens; runs `cloister infer` (verify evidence, encrypt, send, open, check
# the signature), prints the verified, signed result, and stops what it started. Exits non-zero
# on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
"$ROOT/scripts/setup.sh"
if [ "${1:-}" = "--vm" ]; then
  # The same flow with the real enclave image booted in a local QEMU microVM (emulated Nitro
  # NSM, real vsock): scripts/test-vm.sh --demo.
  exec "$ROOT/scripts/test-vm.sh" --demo
fi
echo "== building (release)"
cargo build --release --workspace --bins --quiet
WORK=$(mktemp -d)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
trap 'stop_all; rm -rf "$WORK"' EXIT
echo "== sealed model, key custodian, host and enclave (mock platform)"
if ! start_sealed_system; then
  echo "-- enclave log:" >&2; cat "$WORK/enclave.log" >&2 || true
  echo "-- custodian log:" >&2; cat "$WORK/custodian.log" >&2 || true
  exit 1
fi
echo "   the model on disk is sealed: $WORK/store/credit-risk-v1.sealed"
"$CLOISTER" model inspect "$WORK/store/credit-risk-v1.sealed" --publisher "$PUBLISHER_PUB" | sed 's/^/   /'
echo "   the custodian's release decisions:"
grep -E "key released|denied" "$WORK/custodian.log" | sed 's/^/   /'
echo "   the custodian's audit chain (hash-linked, signed):"
"$CUSTODIAN" audit verify --config "$WORK/custodian/custodian.json" | sed 's/^/   /'
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
echo "cloister demo: OK (model key released to attested evidence, evidence verified, request encrypted to the attested key, result signature checked)"
