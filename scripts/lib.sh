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

CUSTODIAN="$ROOT/target/release/cloister-custodian"

# The steps of the key-release path, shared by start_sealed_system and scripts/test-vm.sh. Each
# returns non-zero at its first failed step (callers often run them under `if !` or `||`, where
# `set -e` does not apply).

# make_keys_and_config: a key custodian (config in $WORK/custodian), a publisher key
# ($WORK/publisher.pem) and the enclave's measured configuration $WORK/enclave-config.json naming
# both. Sets CUSTODIAN_PUB and PUBLISHER_PUB.
make_keys_and_config() {
  CUSTODIAN_PUB=$("$CUSTODIAN" init --dir "$WORK/custodian") || return 1
  PUBLISHER_PUB=$("$CLOISTER" model keygen -o "$WORK/publisher.pem" 2>/dev/null) || return 1
  cat >"$WORK/enclave-config.json" <<JSON
{"custodian_pub": "$CUSTODIAN_PUB", "publisher_pub": "$PUBLISHER_PUB",
 "models": [{"model_id": "credit-risk-v1", "key_id": "credit-risk-v1"}], "log_level": "info"}
JSON
}

# serve_custodian: the custodian, trusting the mock root $WORK/mock/root.pem (CI and demos only:
# `dangerous_`; it still releases only to evidence whose PCR0 the key's policy pins). Sets
# CUSTODIAN_ADDR; log in $WORK/custodian.log.
serve_custodian() {
  python3 - "$WORK/custodian/custodian.json" "$WORK/mock/root.pem" <<'PY' || return 1
import json, sys
path, root = sys.argv[1], sys.argv[2]
config = json.load(open(path))
config["dangerous_mock_root_pem"] = root
json.dump(config, open(path, "w"), indent=2)
PY
  "$CUSTODIAN" serve --config "$WORK/custodian/custodian.json" --addr-file "$WORK/custodian.addr" \
    2>"$WORK/custodian.log" &
  PIDS+=($!)
  wait_for "the custodian address" test -s "$WORK/custodian.addr" || return 1
  CUSTODIAN_ADDR=$(cat "$WORK/custodian.addr")
}

# seal_model_and_allow: seals models/credit-risk-v1 into $WORK/store with the publisher key,
# registers its data key with the custodian under the release policy $WORK/mock/policy.json,
# and writes the host's relay allowlist $WORK/allowlist.yaml naming the custodian.
seal_model_and_allow() {
  mkdir -p "$WORK/store"
  "$CLOISTER" model seal "$ROOT/models/credit-risk-v1" --model-id credit-risk-v1 --model-version 1.0.0 \
    --publisher-key "$WORK/publisher.pem" -o "$WORK/store/credit-risk-v1.sealed" \
    --custodian "http://$CUSTODIAN_ADDR" --admin-token-file "$WORK/custodian/admin-token" \
    --release-policy "$WORK/mock/policy.json" >"$WORK/seal.json" || return 1
  cat >"$WORK/allowlist.yaml" <<YAML
allowlist:
- {address: ${CUSTODIAN_ADDR%:*}, port: ${CUSTODIAN_ADDR##*:}}
YAML
}

# start_sealed_system: the key-release path. A publisher key seals models/credit-risk-v1 into
# $WORK/store; a key custodian (config in $WORK/custodian) holds its data key, released only to
# evidence its trust policy ($WORK/mock/policy.json: the mock root and PCR0 of the enclave binary
# with its measured configuration $WORK/enclave-config.json) accepts; the host relays the
# enclave to the custodian and serves the sealed model; the enclave pulls its key at start and
# unseals the model before it listens. Leaves HOST_URL set; logs in $WORK/{custodian,enclave,host}.log.
start_sealed_system() {
  make_keys_and_config || return 1
  "$CLOISTER" mock init "$WORK/mock" --enclave-binary "$ENCLAVE" \
    --enclave-config "$WORK/enclave-config.json" || return 1
  serve_custodian || return 1
  seal_model_and_allow || return 1
  "$HOST" --listen 127.0.0.1:0 --addr-file "$WORK/host.addr" --enclave "unix:$WORK/enclave.sock" \
    --relay "unix:$WORK/relay.sock=$CUSTODIAN_ADDR" --relay-allowlist "$WORK/allowlist.yaml" \
    --model-store "unix:$WORK/store.sock=$WORK/store" 2>"$WORK/host.log" &
  PIDS+=($!)
  wait_for "the host address" test -s "$WORK/host.addr"
  HOST_URL="http://$(cat "$WORK/host.addr")"
  "$ENCLAVE" --listen "unix:$WORK/enclave.sock" --config "$WORK/enclave-config.json" \
    --relay "unix:$WORK/relay.sock" --model-store "unix:$WORK/store.sock" \
    --platform mock --mock-ca "$WORK/mock" 2>"$WORK/enclave.log" &
  PIDS+=($!)
  wait_for "the enclave socket (key released, model unsealed)" test -S "$WORK/enclave.sock"
}
