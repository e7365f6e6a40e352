#!/usr/bin/env bash
# Installs what the scripts need on a fresh machine: the Rust components and Python 3 (for the
# shared fixture matrix). Safe to re-run; does nothing when everything is there.
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
if ! command -v python3 >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3
  else
    echo "setup: python3 is required for the fixture matrix" >&2
    exit 2
  fi
fi
