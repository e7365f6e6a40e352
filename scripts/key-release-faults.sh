#!/usr/bin/env bash
# Key-release faults, end to end with the real processes (run by scripts/test.sh after the
# release build): each starts the sealed system of scripts/lib.sh, breaks one thing, and checks
# that the enclave refuses to start with that failure's stable code and leaves no listening
# socket (no half-loaded model ever serves).
#   1. a sealed model with one flipped byte               -> sealed.chunk_rejected
#   2. the custodian down at enclave start (retries)      -> enclave.key_release.unreachable
#   3. one byte of the measured configuration changed     -> denied (policy.pcr_mismatch): PCR0
#      moves, and the key's policy pins the old one
#   4. the custodian's public key in the config replaced  -> denied as well (it is measured too)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
WORK=$(mktemp -d)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
trap 'stop_all; rm -rf "$WORK"' EXIT
FAILED=0

# expect_refusal NAME CODE: start the enclave of $WORK again and expect it to exit with CODE.
expect_refusal() {
  local name=$1 code=$2 rc=0
  rm -f "$WORK/enclave.sock"
  timeout 60 "$ENCLAVE" --listen "unix:$WORK/enclave.sock" --config "$WORK/enclave-config.json" \
    --relay "unix:$WORK/relay.sock" --model-store "unix:$WORK/store.sock" \
    --platform mock --mock-ca "$WORK/mock" 2>"$WORK/refused.log" || rc=$?
  if [ "$rc" -ne 2 ] || ! grep -q "error \[$code\]" "$WORK/refused.log" || [ -S "$WORK/enclave.sock" ]; then
    echo "FAIL $name: expected exit 2 with [$code], got rc $rc:" >&2
    sed 's/^/    /' "$WORK/refused.log" >&2
    FAILED=1
  else
    echo "ok   $name: $(grep -o "error \[$code\].*" "$WORK/refused.log" | head -c 160)"
  fi
}

echo "== key release: the good path starts"
start_sealed_system
grep -q "model key released by the custodian" "$WORK/enclave.log" \
  || { echo "FAIL the enclave did not log the release" >&2; exit 1; }
echo "ok   enclave started after the custodian released its key"
# Stop the enclave only: the custodian and the host stay up for the faults below.
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'

echo "== key release: faults"
cp "$WORK/store/credit-risk-v1.sealed" "$WORK/good.sealed"
python3 - "$WORK/store/credit-risk-v1.sealed" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) - 40] ^= 0x01  # inside the last chunk's ciphertext
open(p, "wb").write(bytes(b))
PY
expect_refusal "flipped byte in the sealed model" "sealed.chunk_rejected"
cp "$WORK/good.sealed" "$WORK/store/credit-risk-v1.sealed"

cp "$WORK/enclave-config.json" "$WORK/good-config.json"
sed -i 's/"log_level": "info"/"log_level": "warn"/' "$WORK/enclave-config.json"
expect_refusal "one changed byte of the measured configuration" "enclave.key_release.denied"
grep -q "policy.pcr_mismatch" "$WORK/refused.log" \
  || { echo "FAIL the denial does not name policy.pcr_mismatch" >&2; FAILED=1; }
cp "$WORK/good-config.json" "$WORK/enclave-config.json"

sed -i "s/$CUSTODIAN_PUB/$(printf '%064d' 7)/" "$WORK/enclave-config.json"
expect_refusal "another custodian key in the configuration" "enclave.key_release.denied"
cp "$WORK/good-config.json" "$WORK/enclave-config.json"

# Custodian down: stop it (the first process started), then the enclave retries and gives up.
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
expect_refusal "custodian down at enclave start" "enclave.key_release.unreachable"
grep -q "retrying" "$WORK/refused.log" \
  || { echo "FAIL the enclave did not retry before giving up" >&2; FAILED=1; }

[ "$FAILED" -eq 0 ] && echo "key release faults: OK" || { echo "key release faults: FAILED" >&2; exit 1; }
