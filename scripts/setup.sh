#!/usr/bin/env bash
# Installs what the scripts need on a fresh machine: the Rust components, cargo-deny (the
# supply-chain checks, deny.toml) and Python 3 (for the shared fixture matrix). Safe to re-run;
# does nothing when everything is there.
set -euo pipefail
if ! command -v cargo >/dev/null; then
  echo "setup: cargo is required (install Rust with rustup)" >&2
  exit 2
fi
if command -v rustup >/dev/null; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
if ! command -v cargo-deny >/dev/null; then
  # Built from crates.io with its own lock file: about 10 minutes on 2 cores, once per machine.
  echo "setup: installing cargo-deny (cargo install cargo-deny --locked; ~10 min on 2 cores, once)"
  started=$SECONDS
  if ! cargo install cargo-deny --locked; then
    echo "setup: installing cargo-deny failed; scripts/test.sh cannot check deny.toml without it" >&2
    exit 2
  fi
  echo "setup: cargo-deny installed in $((SECONDS - started)) s"
fi
if ! command -v python3 >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3
  else
    echo "setup: python3 is required for the fixture matrix" >&2
    exit 2
  fi
fi
"$(dirname "$0")/softhsm.sh" | sed 's/^/setup: SoftHSM2 PKCS#11 module (custodian KEK tests): /'
