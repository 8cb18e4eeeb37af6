#!/usr/bin/env bash
# tests/vm/systemd/image.sh: the Debian bookworm system that boots systemd as PID 1 for the
# systemd-mode VM tests (issue 15), built once per recipe and cached.
#
#   tests/vm/systemd/image.sh [--arch x86_64|aarch64]    # prints the image's directory
#
# What is in it: debootstrap's minbase plus systemd, udev, dbus, python3-minimal, libzmq5 (campub's one runtime
# library, so `apt install ./campub_*.deb` needs no network in the VM), v4l-utils (v4l2-ctl) and
# kmod; the guest kernel's modules that the VM needs (virtio disk, network, serial and 9p,
# ext4, vivid) under /lib/modules; vivid loaded at boot by systemd-modules-load
# (/etc/modules-load.d), as on a machine with a camera; a static address for qemu's user network;
# the host's share at /mnt/host (9p); and campub-vm-agent.service, which runs the commands the
# host's test driver sends over a virtio-serial port (agent.sh).
#
# The directory holds root.img (raw ext4, used read-only through a qcow2 overlay per run),
# initrd (busybox: loads the disk modules, switch_root to /sbin/init), kernel (vm.sh's) and
# kver. Its name carries a hash of this recipe (these files, the kernel package): a changed
# recipe builds a new image, and older ones are removed. The cache is vm.sh's
# (${CAMPUB_VM_CACHE:-~/.cache/campub-vm}/ARCH). An aarch64 image is made on this x86_64 host
# with qemu-user through binfmt_misc (debootstrap's second stage runs arm64 programs).
# First build: about 3 minutes (x86_64) and 6 (aarch64), mostly downloads and dpkg.
set -euo pipefail
# The image's directory is the one thing on stdout (callers take it with $(...)): everything
# the steps print goes to stderr (mkfs.ext4, for one, reports the file it creates on stdout).
exec 3>&1 1>&2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VMDIR=$(dirname "$HERE")
ARCH=x86_64
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) ARCH=$2; shift 2 ;;
        *) sed -n '2,20p' "$0" >&2; exit 2 ;;
    esac
done
case "$ARCH" in
    x86_64) DEB_ARCH=amd64 ;;
    aarch64) DEB_ARCH=arm64 ;;
    *) echo "image.sh: --arch x86_64 or aarch64" >&2; exit 2 ;;
esac
say() { echo "systemd-image: $*" >&2; }
SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)

# python3-minimal: the DNS-SD listener (mdns_listen.py) that checks campub's announcement.
PACKAGES=systemd,systemd-sysv,udev,dbus,libnss-systemd,libzmq5,v4l-utils,kmod,iproute2,python3-minimal
# Modules the guest loads from its disk (udev by modalias, mount, modules-load.d); the disk's
# own (virtio_blk, ext4) also go into the initrd.
DISK_MODS="virtio_pci virtio_blk ext4"
GUEST_MODS="$DISK_MODS virtio_net virtio_console virtio-rng 9p 9pnet_virtio vivid"

"$VMDIR/vm.sh" --arch "$ARCH" --setup
CACHE=${CAMPUB_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/campub-vm}/$ARCH
read -r KPKG KVER < "$CACHE/kernel.stamp"
KEY=$({ cat "$HERE/image.sh" "$HERE/agent.sh" "$HERE/init.sh"; echo "$KPKG $KVER"; } | md5sum | cut -c1-12)
IMAGE=$CACHE/systemd-$KEY
if [ -s "$IMAGE/root.img" ] && [ -s "$IMAGE/initrd" ]; then
    echo "$IMAGE" >&3
    exit 0
fi

exec 9> "$CACHE/.systemd-lock"
flock 9
if [ -s "$IMAGE/root.img" ] && [ -s "$IMAGE/initrd" ]; then # built while we waited
    echo "$IMAGE" >&3
    exit 0
fi
rm -rf "$CACHE"/systemd-* "$CACHE"/sd-build.*
need=()
for p in debootstrap e2fsprogs cpio kmod; do
    dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "ok installed" || need+=("$p")
done
if [ "$ARCH" != x86_64 ]; then
    for p in qemu-user-static binfmt-support; do
        dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "ok installed" || need+=("$p")
    done
fi
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    "${SUDO[@]}" apt-get update -qq || say "apt-get update had errors; installing anyway"
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null
fi
if [ "$ARCH" != x86_64 ]; then
    # debootstrap's second stage runs the arm64 dpkg and maintainer scripts: qemu-user, through
    # binfmt_misc (mounted here if the machine has not; registered by qemu-user-static).
    [ -e /proc/sys/fs/binfmt_misc/register ] \
        || "${SUDO[@]}" mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || "${SUDO[@]}" update-binfmts --enable qemu-aarch64
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { say "cannot register qemu-aarch64 with binfmt_misc"; exit 1; }
fi

# The mirror this machine's apt uses for bookworm (no address is written into the project).
MIRROR=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2> /dev/null | awk '$2 == "bookworm" {print $1; exit}')
if [ -z "$MIRROR" ]; then
    "${SUDO[@]}" apt-get update -qq || true
    MIRROR=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk '$2 == "bookworm" {print $1; exit}')
fi
[ -n "$MIRROR" ] || { say "apt has no bookworm source to debootstrap from"; exit 1; }

BUILD=$(mktemp -d "$CACHE/sd-build.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
ROOT=$BUILD/root
say "debootstrap bookworm $DEB_ARCH from $MIRROR (one time)"
"${SUDO[@]}" debootstrap --variant=minbase --arch="$DEB_ARCH" --include="$PACKAGES" bookworm "$ROOT" "$MIRROR" \
    > "$BUILD/debootstrap.log" 2>&1 || { tail -n 30 "$BUILD/debootstrap.log" >&2; exit 1; }

# The kernel's modules, from the package vm.sh took the kernel from.
(cd "$BUILD" && apt-get download "$KPKG:$DEB_ARCH" 2>&1 > /dev/null | { grep -v unsandboxed >&2 || true; })
dpkg -x "$BUILD"/linux-image-*.deb "$BUILD/k"
depmod -b "$BUILD/k" "$KVER"
mods() { # MODULE... -> the files to load, dependencies first
    local m
    for m in "$@"; do
        modprobe -d "$BUILD/k" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
    done | awk '!seen[$0]++'
}
for f in $(mods $GUEST_MODS); do
    rel=${f#"$BUILD/k/"}
    mkdir -p "$ROOT/$(dirname "$rel")"
    cp "$f" "$ROOT/$rel"
done
cp "$BUILD/k/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "$ROOT/lib/modules/$KVER/" 2> /dev/null || true
depmod -b "$ROOT" "$KVER"

# The system's settings.
echo campub-vm > "$ROOT/etc/hostname"
printf '127.0.1.1\tcampub-vm\n' >> "$ROOT/etc/hosts"
cat > "$ROOT/etc/fstab" << 'EOF'
/dev/vda  /          ext4  rw,errors=remount-ro  0  1
host      /mnt/host  9p    trans=virtio,version=9p2000.L,msize=512000,nofail  0  0
EOF
mkdir -p "$ROOT/mnt/host"
echo vivid > "$ROOT/etc/modules-load.d/vivid.conf"
# One webcam-like input (discrete sizes and rates, YUYV and more): what a USB camera offers.
echo "options vivid n_devs=1 node_types=0x1 num_inputs=1 input_types=0x0" > "$ROOT/etc/modprobe.d/vivid.conf"
cat > "$ROOT/etc/systemd/network/10-qemu.network" << 'EOF'
[Match]
Name=e*
[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
EOF
install -m 0755 "$HERE/agent.sh" "$ROOT/usr/local/sbin/campub-vm-agent"
cat > "$ROOT/etc/systemd/system/campub-vm-agent.service" << 'EOF'
[Unit]
Description=campub VM test agent (runs the host's commands; tests/vm/systemd)
After=systemd-udev-settle.service local-fs.target
[Service]
ExecStart=/usr/local/sbin/campub-vm-agent
Restart=always
RestartSec=1
[Install]
WantedBy=multi-user.target
EOF
systemctl --root="$ROOT" enable systemd-networkd.service campub-vm-agent.service > /dev/null 2>&1
# Nothing in the VM reaches a network: timers that would try stay off.
systemctl --root="$ROOT" mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
    fstrim.timer systemd-networkd-wait-online.service > /dev/null 2>&1
passwd -R "$ROOT" -d root > /dev/null 2>&1 || true
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*_Packages

# The initrd: busybox, the disk's modules, init.sh.
INITRD=$BUILD/initrd
mkdir -p "$INITRD/bin" "$INITRD/mods"
cp "$CACHE/busybox" "$INITRD/bin/busybox"
for f in $(mods $DISK_MODS); do
    name=${f##*/}
    name=${name%.xz}
    case "$f" in *.xz) xz -dc "$f" > "$INITRD/mods/$name" ;; *) cp "$f" "$INITRD/mods/$name" ;; esac
    echo "$name" >> "$INITRD/mods/order"
done
install -m 0755 "$HERE/init.sh" "$INITRD/init"

mkdir -p "$BUILD/out"
(cd "$INITRD" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$BUILD/out/initrd"
mkfs.ext4 -q -L campub-root -d "$ROOT" "$BUILD/out/root.img" 1200M
cp "$CACHE/kernel" "$BUILD/out/kernel"
echo "$KVER" > "$BUILD/out/kver"
mv "$BUILD/out" "$IMAGE"
say "image ready: $IMAGE ($(du -sh --apparent-size "$IMAGE/root.img" | cut -f1) apparent, $(du -sh "$IMAGE/root.img" | cut -f1) used)"
echo "$IMAGE" >&3
