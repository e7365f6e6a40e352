#!/usr/bin/env bash
# Installs SoftHSM2 (a software PKCS#11 token) when it is missing and prints the path of its
# PKCS#11 module on stdout, one line. The custodian's PKCS#11 KEK tests
# (custodian/tests/pkcs11_softhsm.rs) run against it. Safe to re-run.
#
# Exit codes: 0 ok (path printed), 2 missing and cannot install (not root, or no apt-get).
set -euo pipefail

# The module's usual places (Debian/Ubuntu, multiarch, Fedora, source builds); the first that
# exists wins. CLOISTER_PKCS11_MODULE overrides, as it does in the tests.
find_module() {
  local candidates=(
    "${CLOISTER_PKCS11_MODULE:-}"
    /usr/lib/softhsm/libsofthsm2.so
    /usr/lib/"$(uname -m)"-linux-gnu/softhsm/libsofthsm2.so
    /usr/lib64/softhsm/libsofthsm2.so
    /usr/lib64/pkcs11/libsofthsm2.so
    /usr/lib/pkcs11/libsofthsm2.so
    /usr/local/lib/softhsm/libsofthsm2.so
  )
  local c
  for c in "${candidates[@]}"; do
    if [ -n "$c" ] && [ -f "$c" ]; then
      echo "$c"
      return 0
    fi
  done
  # Ask the package manager where it put the module, then search the library directories.
  if command -v dpkg >/dev/null; then
    c=$(dpkg -L libsofthsm2 softhsm2 2>/dev/null | grep -m1 '/libsofthsm2\.so$' || true)
    if [ -n "$c" ] && [ -f "$c" ]; then
      echo "$c"
      return 0
    fi
  fi
  c=$(find /usr/lib /usr/lib64 /usr/local/lib -name libsofthsm2.so -type f 2>/dev/null | head -n1 || true)
  if [ -n "$c" ]; then
    echo "$c"
    return 0
  fi
  return 1
}

if ! command -v softhsm2-util >/dev/null || ! find_module >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    {
      echo "=================================================================="
      echo "softhsm: SoftHSM2 is NOT installed and this script cannot install it"
      echo "softhsm: (needs root and apt-get). Install the 'softhsm2' package, e.g."
      echo "softhsm:     sudo apt-get install softhsm2"
      echo "softhsm: then re-run scripts/softhsm.sh."
      echo "=================================================================="
    } >&2
    exit 2
  fi
  echo "softhsm: installing softhsm2 (apt-get)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >&2
fi

if ! module=$(find_module); then
  echo "softhsm: softhsm2 is installed but libsofthsm2.so was not found; set CLOISTER_PKCS11_MODULE" >&2
  exit 2
fi
echo "$module"
