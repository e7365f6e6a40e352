#!/usr/bin/env bash
# Starts scripts/demo.sh's system (mock platform: custodian, host, enclave with the sealed model
# credit-risk-v1, through scripts/lib.sh's start_sealed_system) in WORK, writes WORK/system.env
# (CLOISTER_HOST, CLOISTER_POLICY, CLOISTER_MOCK_ROOT) once the enclave listens, and keeps it running until it gets
# SIGTERM or SIGINT, when it stops exactly the processes it started.
# usage: start-system.sh WORK      (needs target/release binaries: cargo build --release --workspace --bins)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$1
mkdir -p "$WORK"
# shellcheck source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
trap 'stop_all; exit 0' TERM INT
trap 'stop_all' EXIT
if ! start_sealed_system >"$WORK/start.log" 2>&1; then
  echo "start-system.sh: the system did not start; logs in $WORK" >&2
  exit 1
fi
cat >"$WORK/system.env.partial" <<ENV
CLOISTER_HOST=$HOST_URL
CLOISTER_POLICY=$WORK/mock/policy.json
CLOISTER_MOCK_ROOT=$WORK/mock/root.pem
ENV
mv "$WORK/system.env.partial" "$WORK/system.env"
# Wait in the background-friendly way: `wait` returns when a trapped signal arrives.
sleep infinity &
PIDS+=($!)
wait $! || true
