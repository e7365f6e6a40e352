#!/usr/bin/env bash
# Installs the external oracles of the `cloister measure` tests and prints, on stdout, the
# `export` lines that point the tests at them (so: `eval "$(scripts/measure-oracles.sh)"`):
#
# - CLOISTER_SEV_SNP_MEASURE: the `sev-snp-measure` command of virtee/sev-snp-measure (PyPI,
#   Apache-2.0), pinned to one version, in a virtual environment under target/measure-oracles/.
#   The differential test (measure/tests/oracles.rs) runs it on the same inputs as
#   cloister-measure and expects the same SEV-SNP launch digest.
# - CLOISTER_DEBIAN_OVMF: Debian bookworm's `ovmf` package's /usr/share/ovmf/OVMF.fd, checked
#   against its pinned SHA-256; the known-answer test pins its TDX MRTD (both orders) and its
#   SEV-SNP digest.
#
# Safe to re-run: nothing is installed twice. Progress goes to stderr.
# Exit codes: 0 ok, 2 an oracle is missing and cannot be installed, or does not match its pin.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/target/measure-oracles/venv"
SSM_VERSION="0.0.13"
OVMF_FD=/usr/share/ovmf/OVMF.fd
# Debian bookworm, ovmf 2022.11-6+deb12u2 (and +deb12u1, the same file).
OVMF_SHA256="7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773"

fail() {
  {
    echo "=================================================================="
    echo "measure-oracles: $*"
    echo "=================================================================="
  } >&2
  exit 2
}

# 1. Debian's OVMF.fd.
if [ ! -f "$OVMF_FD" ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    fail "$OVMF_FD is missing and this script cannot install it (needs root and apt-get): sudo apt-get install ovmf"
  fi
  echo "measure-oracles: installing ovmf (apt-get)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ovmf >&2
fi
got=$(sha256sum "$OVMF_FD" | cut -d' ' -f1)
if [ "$got" != "$OVMF_SHA256" ]; then
  fail "$OVMF_FD has sha256 $got, not the pinned $OVMF_SHA256 (Debian bookworm ovmf 2022.11-6+deb12u2); the MRTD known answers are for that file"
fi

# 2. sev-snp-measure in a virtual environment.
SSM="$VENV/bin/sev-snp-measure"
if [ ! -x "$SSM" ] || ! "$VENV/bin/pip" show sev-snp-measure 2>/dev/null | grep -qx "Version: $SSM_VERSION"; then
  command -v python3 >/dev/null || fail "python3 is missing (scripts/setup.sh installs it)"
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "measure-oracles: installing python3-venv (apt-get)" >&2
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    else
      fail "python3 has no venv/ensurepip module: sudo apt-get install python3-venv"
    fi
  fi
  echo "measure-oracles: creating $VENV with sev-snp-measure==$SSM_VERSION (PyPI)" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "sev-snp-measure==$SSM_VERSION" >&2 \
    || fail "pip could not install sev-snp-measure==$SSM_VERSION from PyPI"
fi
"$SSM" --help >/dev/null 2>&1 || fail "$SSM does not run"

echo "export CLOISTER_SEV_SNP_MEASURE=$SSM"
echo "export CLOISTER_DEBIAN_OVMF=$OVMF_FD"
