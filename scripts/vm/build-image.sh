#!/usr/bin/env bash
# Builds the enclave image (EIF) that `cloister emulate run` boots in a local microVM and that a
# Nitro host would run: the Debian cloud kernel, a Nitro-style command line, a bootstrap ramdisk
# (busybox, /init, the virtio and vsock modules) and an application ramdisk (the static
# cloister-enclave, its measured configuration, and the command line it starts with).
#
#   scripts/vm/build-image.sh --enclave-binary target/x86_64-unknown-linux-gnu/release/cloister-enclave \
#       --config enclave-config.json --out enclave.eif
#
# Reproducible: the same kernel and busybox packages, binary and configuration give the same
# bytes (SOURCE_DATE_EPOCH=0 unless set; `cloister eif build` writes a canonical cpio). The
# Debian packages are fetched with `apt-get download` into $CLOISTER_VM_CACHE (default
# target/vm-cache) and their versions and SHA-256 are printed, so a build can be redone with the
# very same inputs (pin them with CLOISTER_VM_KERNEL_PKG=name=version, CLOISTER_VM_BUSYBOX_PKG).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN="" CONFIG="" OUT=""
# The enclave's vsock ports: it listens on ENCLAVE_PORT; it reaches the host (CID 2) for the
# emulated NSM, the custodian relay and the model store.
ENCLAVE_PORT=${CLOISTER_VM_ENCLAVE_PORT:-5000}
NSM_PORT=${CLOISTER_VM_NSM_PORT:-9000}
RELAY_PORT=${CLOISTER_VM_RELAY_PORT:-8001}
STORE_PORT=${CLOISTER_VM_STORE_PORT:-8002}
while [ $# -gt 0 ]; do
  case "$1" in
    --enclave-binary) BIN=$2; shift 2 ;;
    --config) CONFIG=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$BIN" ] || [ -z "$CONFIG" ] || [ -z "$OUT" ]; then
  echo "usage: build-image.sh --enclave-binary FILE --config FILE --out IMAGE.eif" >&2
  exit 2
fi
if ! file_is_static=$(LC_ALL=C readelf -l "$BIN" 2>/dev/null | grep -c "INTERP" || true) || [ "$file_is_static" != 0 ]; then
  echo "build-image.sh: $BIN is dynamically linked; build it with" >&2
  echo '  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu -p cloister-enclave' >&2
  exit 2
fi
CACHE=${CLOISTER_VM_CACHE:-$ROOT/target/vm-cache}
mkdir -p "$CACHE"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}

# --- the Debian packages (kernel: the versioned image package the cloud metapackage names)
fetch() { # fetch PACKAGE[=VERSION] -> path of the .deb in $CACHE
  local spec=$1 name=${1%%=*} deb
  deb=$( (ls "$CACHE/${name}_"*.deb 2>/dev/null || true) | head -n1)
  if [ -z "$deb" ]; then
    (cd "$CACHE" && apt-get download "$spec" >/dev/null 2>&1) || {
      apt-get update >/dev/null 2>&1 || true
      (cd "$CACHE" && apt-get download "$spec" >/dev/null)
    }
    deb=$(ls "$CACHE/${name}_"*.deb | head -n1)
  fi
  echo "$deb"
}
KERNEL_PKG=${CLOISTER_VM_KERNEL_PKG:-}
if [ -z "$KERNEL_PKG" ]; then
  KERNEL_PKG=$( (ls "$CACHE"/linux-image-*-cloud-amd64_*.deb 2>/dev/null || true) | head -n1 | xargs -r basename | cut -d_ -f1)
fi
resolve_kernel() {
  (apt-cache depends linux-image-cloud-amd64 2>/dev/null || true) | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}
if [ -z "$KERNEL_PKG" ]; then
  KERNEL_PKG=$(resolve_kernel)
fi
if [ -z "$KERNEL_PKG" ]; then
  # A machine whose package lists were never fetched (QEMU preinstalled, no apt-get update yet).
  apt-get update >/dev/null 2>&1 || true
  KERNEL_PKG=$(resolve_kernel)
fi
if [ -z "$KERNEL_PKG" ]; then
  echo "build-image.sh: cannot resolve linux-image-cloud-amd64 (run apt-get update)" >&2
  exit 2
fi
KERNEL_DEB=$(fetch "$KERNEL_PKG")
BUSYBOX_DEB=$(fetch "${CLOISTER_VM_BUSYBOX_PKG:-busybox-static}")
for deb in "$KERNEL_DEB" "$BUSYBOX_DEB"; do
  echo "input $(basename "$deb") sha256 $(sha256sum "$deb" | cut -d' ' -f1)" >&2
done

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
dpkg-deb -x "$KERNEL_DEB" "$STAGE/kernel"
dpkg-deb -x "$BUSYBOX_DEB" "$STAGE/busybox"
KVER=$(ls "$STAGE/kernel/lib/modules")
MODDIR="$STAGE/kernel/lib/modules/$KVER/kernel"

# --- bootstrap ramdisk (PCR1 with the kernel): busybox, /init, the modules, in load order
BOOT="$STAGE/bootstrap"
mkdir -p "$BOOT/bin" "$BOOT/lib/modules" "$BOOT/dev" "$BOOT/proc" "$BOOT/sys" "$BOOT/tmp" "$BOOT/run"
cp "$STAGE/busybox/bin/busybox" "$BOOT/bin/busybox"
MODULES="drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_mmio.ko \
net/vmw_vsock/vsock.ko net/vmw_vsock/vmw_vsock_virtio_transport_common.ko \
net/vmw_vsock/vmw_vsock_virtio_transport.ko"
n=0
for m in $MODULES; do
  src="$MODDIR/$m"
  if [ ! -f "$src" ]; then
    for ext in xz zst; do
      if [ -f "$src.$ext" ]; then
        case $ext in xz) xz -dc "$src.xz" >"$STAGE/m.ko" ;; zst) zstd -qdc "$src.zst" >"$STAGE/m.ko" ;; esac
        src="$STAGE/m.ko"
      fi
    done
  fi
  cp "$src" "$BOOT/lib/modules/$(printf %02d $n)-$(basename "$m")"
  n=$((n + 1))
done
cat >"$BOOT/init" <<'INIT'
#!/bin/busybox sh
# Enclave init: mount the pseudo file systems, load the virtio and vsock modules, start the
# application. When it exits the kernel panics, and the VM stops (panic=-1, -no-reboot).
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
$B mount -t tmpfs tmpfs /tmp
for m in /lib/modules/*.ko; do
  $B insmod "$m" || echo "init: insmod $m failed"
done
$B ip link set lo up 2>/dev/null
echo "init: starting /app/start"
/bin/busybox sh /app/start
echo "init: the enclave exited with status $?"
$B poweroff -f
INIT
chmod 0755 "$BOOT/init"

# --- application ramdisk (PCR2): the enclave, its measured configuration, its command line
APP="$STAGE/app"
mkdir -p "$APP/app"
# Stripped (deterministically): a smaller ramdisk boots faster, and symbols are of no use inside.
if command -v strip >/dev/null; then
  strip --strip-all -o "$APP/app/cloister-enclave" "$BIN"
else
  cp "$BIN" "$APP/app/cloister-enclave"
fi
chmod 0755 "$APP/app/cloister-enclave"
cp "$CONFIG" "$APP/app/enclave-config.json"
cat >"$APP/app/start" <<START
# The enclave's command line: part of the image, so of PCR2 and PCR0. The platform is named
# here, never guessed: nitro-emulated asks the emulator's NSM on vsock port $NSM_PORT of the host.
exec /app/cloister-enclave --listen vsock:$ENCLAVE_PORT --config /app/enclave-config.json \\
  --relay vsock:2:$RELAY_PORT --model-store vsock:2:$STORE_PORT \\
  --platform nitro-emulated --nsm-vsock-port $NSM_PORT
START

# Fixed modes, whatever the umask: the archive records them.
find "$BOOT" "$APP" -type d -exec chmod 0755 {} +
find "$BOOT" "$APP" -type f -exec chmod 0644 {} +
chmod 0755 "$BOOT/init" "$BOOT/bin/busybox" "$APP/app/cloister-enclave"

# Nitro's command line with the microVM's needs: ACPI finds the virtio-mmio devices, and
# tsc_early_khz gives the TSC rate, which TCG offers no reference to calibrate against (without
# it the boot stalls after "tsc: Marking TSC unstable").
CMDLINE="reboot=k panic=-1 pci=off console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on acpi=on tsc_early_khz=2000000 quiet"
CLOISTER=${CLOISTER:-$ROOT/target/release/cloister}
"$CLOISTER" eif build --kernel "$STAGE/kernel/boot/vmlinuz-$KVER" --cmdline "$CMDLINE" \
  --ramdisk "$BOOT" --ramdisk "$APP" --name cloister-enclave-vm --image-version 1 --output "$OUT"
