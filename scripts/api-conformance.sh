#!/usr/bin/env bash
# Checks the running host against its OpenAPI description (host/openapi.json, served at
# /openapi.json) with schemathesis from PyPI: every answer has a status the description declares
# (no undeclared 5xx), a declared content type and headers, and a body matching its schema; data
# the description calls invalid is refused. The system is started the production way:
# `cloister-host run --config` supervising the mock enclave. Needs the release binaries
# (scripts/test.sh builds them). The virtual environment is kept in target/api-venv and made
# again when requirements-api.txt changes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/target/api-venv"
REQ="$ROOT/scripts/requirements-api.txt"
if ! cmp -s "$REQ" "$VENV/requirements.txt" 2>/dev/null; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv
      rm -rf "$VENV" && python3 -m venv "$VENV"
    else
      echo "api-conformance: python3 -m venv failed and python3-venv cannot be installed here" >&2
      exit 2
    fi
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$VENV/requirements.txt"
fi
"$VENV/bin/schemathesis" --version
WORK=$(mktemp -d)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
trap 'stop_all; rm -rf "$WORK"' EXIT
"$CLOISTER" mock init "$WORK/mock" --enclave-binary "$ENCLAVE" >/dev/null
cat >"$WORK/host.json" <<JSON
{"listen": "127.0.0.1:0", "addr_file": "$WORK/host.addr",
 "supervisor": {"address": "unix://$WORK/enclave.sock",
   "enclave": {"kind": "mock", "binary": "$ENCLAVE", "log_file": "$WORK/enclave.log",
     "args": ["--listen", "unix:$WORK/enclave.sock", "--model", "$ROOT/models/credit-risk-v1",
              "--platform", "mock", "--mock-ca", "$WORK/mock"]}},
 "log_format": "json"}
JSON
"$HOST" run --config "$WORK/host.json" 2>"$WORK/host.log" &
PIDS+=($!)
if ! wait_for "the host (enclave started and ready)" test -s "$WORK/host.addr"; then
  cat "$WORK/host.log" >&2
  exit 1
fi
HOST_URL="http://$(cat "$WORK/host.addr")"
# Checks: see the header. Not `positive_data_acceptance`: bytes that fit `format: binary` are
# still not a valid OHTTP request, and refusing them is right.
# From the scratch directory: schemathesis keeps its state in ./.schemathesis.
cd "$WORK"
PYTHONPATH="$ROOT/scripts" SCHEMATHESIS_HOOKS=schemathesis_hooks \
  timeout -k 10 300 "$VENV/bin/schemathesis" run "$HOST_URL/openapi.json" \
  --checks status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,not_a_server_error,negative_data_rejection \
  --max-examples 100 --workers 2 --seed 1 --warnings off
echo "api conformance: OK (schemathesis against $HOST_URL/openapi.json)"
