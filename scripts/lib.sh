# Shared helpers for the scripts: start the mock system, wait for it, stop it.
# Sourced, not run. Expects ROOT (project root) and WORK (a scratch dir) to be set.

CLOISTER="$ROOT/target/release/cloister"
ENCLAVE="$ROOT/target/release/cloister-enclave"
HOST="$ROOT/target/release/cloister-host"
PIDS=()

stop_all() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

wait_for() { # wait_for DESCRIPTION TEST-COMMAND...
  local what=$1; shift
  for _ in $(seq 1 200); do
    if "$@"; then return 0; fi
    sleep 0.05
  done
  echo "timed out waiting for $what" >&2
  return 1
}

# start_mock_system: mock CA + policy in $WORK/mock, enclave on $WORK/enclave.sock, host on a free
# loopback port whose URL is left in HOST_URL. Logs go to $WORK/{enclave,host}.log.
start_mock_system() {
  "$CLOISTER" mock init "$WORK/mock" --enclave-binary "$ENCLAVE"
  "$ENCLAVE" --listen "unix:$WORK/enclave.sock" --model "$ROOT/models/credit-risk-v1" \
    --platform mock --mock-ca "$WORK/mock" 2>"$WORK/enclave.log" &
  PIDS+=($!)
  wait_for "the enclave socket" test -S "$WORK/enclave.sock"
  "$HOST" --listen 127.0.0.1:0 --addr-file "$WORK/host.addr" --enclave "unix:$WORK/enclave.sock" \
    2>"$WORK/host.log" &
  PIDS+=($!)
  wait_for "the host address" test -s "$WORK/host.addr"
  HOST_URL="http://$(cat "$WORK/host.addr")"
}
