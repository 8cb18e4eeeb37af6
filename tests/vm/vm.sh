#!/usr/bin/env bash
# tests/vm/vm.sh: run one command inside a throw-away qemu VM whose kernel has the `vivid`
# virtual camera driver loaded, so campub meets a real V4L2 driver (this host cannot load
# kernel modules, a VM can).
#
#   tests/vm/vm.sh [--arch A] [--vivid "OPTS"] [--fwd HOSTPORT:GUESTPORT] [--out DIR] [--timeout SEC] -- CMD [ARGS]
#   tests/vm/vm.sh [--arch A] --setup   # install the packages and build the cached kernel + initramfs only
#   tests/vm/vm.sh [--arch A] --packages  # install the packages (and add a foreign guest's dpkg
#                                         # architecture) only: what needs apt, so that CI can build
#                                         # the caches in the background beside other apt users
#
# --arch x86_64 (the default) or aarch64: the guest's architecture. An x86_64 guest runs the
# host's binaries unmodified. An aarch64 guest (qemu's "virt" board with a Cortex-A72, the
# Raspberry Pi 4's CPU, emulated) runs aarch64 programs with the aarch64 libraries installed on
# the host through Debian multiarch (e.g. libzmq5:arm64); CMD runs under a static aarch64 bash
# with busybox's tools first in PATH (in /.vm-tools), since the host's own tools cannot run.
#
# How: a stock Debian kernel (apt-get download + dpkg -x, nothing installed into /boot) boots
# with a small busybox initramfs that loads vivid, mounts the host's / read-only over 9p with a
# tmpfs overlay on top, chroots into it and runs CMD (host binaries run unmodified) in the same
# directory with the same environment. DIR (--out, default a temporary directory) is shared
# read-write at the same path; CMD's stdout and stderr are written there and copied to ours
# when the VM has stopped. Exit status: CMD's; 124 on --timeout; 255 when the VM failed.
#
# Networking: qemu user-net with restrict=on (the guest reaches nothing outside the VM) and, with
# --fwd, one TCP port forwarded from 127.0.0.1:HOSTPORT on the host. Nothing else is opened.
#
# The idea and the measured tricks (PVH boot of the extracted vmlinux, 9p root + overlay, module
# dependencies from modprobe --show-depends) come from the vm-run tool written during issue 5;
# this is a smaller rewrite for campub's tests only.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${CAMPUB_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/campub-vm}
# Kernel modules the guest loads, dependencies resolved on the host; "base" before the 9p mount.
BASE_MODS="virtio_pci 9pnet_virtio 9p overlay virtio_net virtio-rng"
VIVID_MODS="vivid"

VIVID="n_devs=1 node_types=0x1"
ARCH=x86_64
FWD=
OUT=
TIMEOUT=0
SETUP_ONLY=0
PACKAGES_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) ARCH=$2; shift 2 ;;
        --vivid) VIVID=$2; shift 2 ;;
        --fwd) FWD=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --setup) SETUP_ONLY=1; shift ;;
        --packages) PACKAGES_ONLY=1 SETUP_ONLY=1; shift ;;
        --) shift; break ;;
        *) echo "vm.sh: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
    esac
done
if [ $SETUP_ONLY = 0 ] && [ $# -eq 0 ]; then
    echo "usage: vm.sh [--arch x86_64|aarch64] [--vivid OPTS] [--fwd HP:GP] [--out DIR] [--timeout SEC] -- CMD [ARGS]" >&2
    exit 2
fi
[ "$(uname -m)" = x86_64 ] || { echo "vm.sh: only x86_64 hosts are supported" >&2; exit 255; }
case "$ARCH" in
    x86_64) DEB_ARCH=amd64 QEMU_PKG=qemu-system-x86 ;;
    aarch64) DEB_ARCH=arm64 QEMU_PKG=qemu-system-arm ;;
    *) echo "vm.sh: --arch x86_64 or aarch64, not $ARCH" >&2; exit 2 ;;
esac
CACHE=$CACHE/$ARCH

say() { echo "vm.sh: $*" >&2; }
SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)

ensure_packages() {
    local need=() p
    # v4l-utils: run.sh's v4l2-ctl. debootstrap, e2fsprogs (and qemu-user for a foreign
    # guest): systemd/image.sh's.
    local also=(v4l-utils debootstrap e2fsprogs)
    [ "$ARCH" = x86_64 ] || also+=(qemu-user-static binfmt-support)
    for p in $QEMU_PKG kmod cpio xz-utils gzip util-linux "${also[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        say "installing ${need[*]}"
        # An index that fails to download (a foreign architecture's, say) need not stop us.
        "${SUDO[@]}" apt-get update -qq || say "apt-get update had errors; installing anyway"
        DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    fi
}

# build_kernel: -> $CACHE/kernel, $CACHE/mods/, $CACHE/busybox (+ $CACHE/bash for a foreign
# guest), $CACHE/kernel.stamp; all from Debian packages of the guest's architecture.
ensure_architecture() {
    if [ "$DEB_ARCH" != "$(dpkg --print-architecture)" ] \
        && ! dpkg --print-foreign-architectures | grep -qx "$DEB_ARCH"; then
        say "adding the $DEB_ARCH architecture to dpkg (for its kernel and busybox packages)"
        "${SUDO[@]}" dpkg --add-architecture "$DEB_ARCH"
        "${SUDO[@]}" apt-get update -qq
    fi
}

build_kernel() {
    local kpkg=${CAMPUB_VM_KERNEL_PKG:-} tmp kver vmlinuz off grp m f pkgs
    ensure_architecture
    if [ -z "$kpkg" ]; then
        kpkg=$(apt-cache depends "linux-image-$DEB_ARCH:$DEB_ARCH" 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
        if [ -z "$kpkg" ]; then
            "${SUDO[@]}" apt-get update -qq
            kpkg=$(apt-cache depends "linux-image-$DEB_ARCH:$DEB_ARCH" | awk '/Depends: linux-image-/{print $2; exit}')
        fi
    fi
    [ -n "$kpkg" ] || { say "cannot find the Debian kernel package (linux-image-$DEB_ARCH)"; exit 255; }
    kpkg=${kpkg%%:*}
    say "building the $ARCH guest kernel cache from $kpkg (one time, ~70 MB download)"
    tmp=$(mktemp -d "$CACHE/build.XXXXXX")
    pkgs=("$kpkg:$DEB_ARCH" "busybox-static:$DEB_ARCH")
    [ "$ARCH" = x86_64 ] || pkgs+=("bash-static:$DEB_ARCH")
    # (as root, apt warns that its _apt user cannot write here; harmless)
    download() { (cd "$tmp" && apt-get download "${pkgs[@]}" 2>&1 >/dev/null | { grep -v unsandboxed >&2 || true; }); }
    download || { "${SUDO[@]}" apt-get update -qq; download; }
    dpkg -x "$tmp"/linux-image-*.deb "$tmp/k"
    dpkg -x "$tmp"/busybox-static_*.deb "$tmp/bb"
    if [ "$ARCH" != x86_64 ]; then
        dpkg -x "$tmp"/bash-static_*.deb "$tmp/bash"
        cp "$tmp/bash/bin/bash-static" "$CACHE/bash"
    fi
    kver=$(ls "$tmp/k/lib/modules" | head -1)
    depmod -b "$tmp/k" "$kver"
    rm -rf "$CACHE/mods"
    mkdir -p "$CACHE/mods"
    for grp in base vivid; do
        [ $grp = base ] && set -- $BASE_MODS || set -- $VIVID_MODS
        : > "$CACHE/mods/$grp.order"
        for m in "$@"; do
            modprobe -d "$tmp/k" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
        done | while read -r f; do
            local name=${f##*/}
            name=${name%.xz}
            [ -e "$CACHE/mods/$name" ] && continue # loaded by an earlier line or group
            case "$f" in *.xz) xz -dc "$f" > "$CACHE/mods/$name" ;; *) cp "$f" "$CACHE/mods/$name" ;; esac
            echo "$name" >> "$CACHE/mods/$grp.order"
        done
    done
    grep -qx 'vivid.ko' "$CACHE/mods/vivid.order" || { say "no vivid.ko in $kpkg"; exit 255; }
    vmlinuz=$tmp/k/boot/vmlinuz-$kver
    if [ "$ARCH" = x86_64 ]; then
        # The bzImage holds an xz-compressed ELF vmlinux; qemu boots the ELF directly (PVH), which
        # skips the firmware and the slow in-guest decompression under software emulation.
        off=$(LC_ALL=C grep -aboP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
        tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream > "$tmp/kernel" 2>/dev/null || true
        [ "$(head -c 4 "$tmp/kernel" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] \
            || { say "could not extract vmlinux from $vmlinuz"; exit 255; }
    else
        # Debian's arm64 vmlinuz is the Image itself (gzip-compressed in some releases); its
        # header says "ARM\x64" at byte 56.
        gzip -dc "$vmlinuz" > "$tmp/kernel" 2>/dev/null || cp "$vmlinuz" "$tmp/kernel"
        [ "$(tail -c +57 "$tmp/kernel" | head -c 4)" = "$(printf 'ARM\x64')" ] \
            || { say "$vmlinuz is not an arm64 Image"; exit 255; }
    fi
    mv "$tmp/kernel" "$CACHE/kernel"
    cp "$tmp/bb/bin/busybox" "$CACHE/busybox"
    echo "$kpkg $kver" > "$CACHE/kernel.stamp"
    rm -rf "$tmp"
}

build_initrd() {
    local tmp
    tmp=$(mktemp -d "$CACHE/build.XXXXXX")
    mkdir -p "$tmp/bin" "$tmp/mods"
    cp "$CACHE/busybox" "$tmp/bin/busybox"
    if [ "$ARCH" != x86_64 ]; then # init.sh: a guest that cannot run the host's bash
        mkdir -p "$tmp/tools"
        cp "$CACHE/bash" "$tmp/tools/bash"
    fi
    cp "$CACHE"/mods/* "$tmp/mods/"
    cp "$HERE/init.sh" "$tmp/init"
    chmod 755 "$tmp/init"
    (cd "$tmp" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$CACHE/initrd.tmp"
    mv "$CACHE/initrd.tmp" "$CACHE/initrd"
    rm -rf "$tmp"
}

initrd_stamp() { { cat "$HERE/init.sh" "$CACHE/kernel.stamp"; echo "$BASE_MODS / $VIVID_MODS"; } | md5sum; }

ensure_cache() {
    mkdir -p "$CACHE"
    if [ -s "$CACHE/kernel" ] && [ -s "$CACHE/initrd" ] && command -v "qemu-system-$ARCH" >/dev/null \
        && [ "$(cat "$CACHE/initrd.stamp" 2>/dev/null)" = "$(initrd_stamp)" ]; then
        return 0
    fi
    exec 9> "$CACHE/.lock"
    flock 9 # parallel first runs wait for one build
    rm -rf "$CACHE"/build.*
    ensure_packages
    if [ ! -s "$CACHE/kernel" ] || [ ! -s "$CACHE/busybox" ] || [ ! -s "$CACHE/kernel.stamp" ] \
        || ! grep -qs "$BASE_MODS / $VIVID_MODS" "$CACHE/mods.list"; then
        build_kernel
        echo "$BASE_MODS / $VIVID_MODS" > "$CACHE/mods.list"
    fi
    if [ "$(cat "$CACHE/initrd.stamp" 2>/dev/null)" != "$(initrd_stamp)" ]; then
        build_initrd
        initrd_stamp > "$CACHE/initrd.stamp"
    fi
    exec 9>&-
}

if [ $PACKAGES_ONLY = 1 ]; then
    ensure_packages
    ensure_architecture
    exit 0
fi
ensure_cache
if [ $SETUP_ONLY = 1 ]; then
    say "cache ready in $CACHE ($(cat "$CACHE/kernel.stamp"))"
    exit 0
fi

if [ -n "$OUT" ]; then
    mkdir -p "$OUT"
    OUT=$(cd "$OUT" && pwd -P)
else
    OUT=$(mktemp -d)
    trap 'rm -rf "$OUT"' EXIT
fi
VM=$OUT/.vm
rm -rf "$VM"
mkdir -p "$VM"

# The payload runs under bash in the guest (the host's, or for aarch64 a static one from
# Debian's bash-static): same environment, same directory.
{
    export -p
    # shellcheck disable=SC2016 # expanded in the guest
    [ "$ARCH" = x86_64 ] || echo 'export PATH=/.vm-tools:$PATH'
    printf 'export VM_OUT=%q\n' "$OUT"
    printf 'cd %q || exit 125\n' "$PWD"
    printf 'exec'
    printf ' %q' "$@"
    echo
} > "$VM/payload"
printf 'VIVID=%q\nOUT=%q\n' "$VIVID" "$OUT" > "$VM/config"

if [ "$ARCH" = x86_64 ]; then
    # Software emulation (TCG). AVX/AVX2 are hidden from the guest: qemu 7.2 emulates them so
    # slowly that campub's SIMD resize/encode took ~340 ms per 1280x720 frame with them and
    # ~60 ms without.
    machine=(-M pc -accel tcg -cpu "${CAMPUB_VM_CPU:-max,-avx,-avx2}")
    # KVM is opt-in: it is untested here (this machine's /dev/kvm is kvm-pvm, unusable for qemu).
    [ "${CAMPUB_VM_ACCEL:-tcg}" = kvm ] && machine=(-M pc -accel kvm -cpu host)
    console=ttyS0
else
    # Always software emulation; the Raspberry Pi 4's CPU.
    machine=(-M virt -accel tcg -cpu "${CAMPUB_VM_CPU:-cortex-a72}")
    console=ttyAMA0
fi
net=()
if [ -n "$FWD" ]; then
    net=(-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:${FWD%%:*}-:${FWD#*:}"
         -device virtio-net-pci,netdev=n0)
fi
qemu=("qemu-system-$ARCH" -nodefaults -no-user-config -display none -no-reboot
      "${machine[@]}" -m 1024 -smp "${CAMPUB_VM_SMP:-$(($(nproc) > 4 ? 4 : $(nproc)))}"
      -kernel "$CACHE/kernel" -initrd "$CACHE/initrd"
      -append "console=$console quiet loglevel=3 panic=-1 mitigations=off cryptomgr.notests random.trust_cpu=on campubvm.config=$VM/config"
      -serial "file:$VM/console.log"
      -fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap
      -device virtio-9p-pci,fsdev=root,mount_tag=hostroot
      -fsdev "local,id=out,path=$OUT,security_model=none,multidevs=remap"
      -device virtio-9p-pci,fsdev=out,mount_tag=out
      -device virtio-rng-pci
      "${net[@]}")

"${qemu[@]}" < /dev/null > "$VM/qemu.log" 2>&1 &
QPID=$!
trap 'kill $QPID 2>/dev/null; exit 143' TERM INT
timed_out=0
if [ "$TIMEOUT" != 0 ]; then
    end=$((SECONDS + TIMEOUT))
    while kill -0 $QPID 2>/dev/null; do
        if [ $SECONDS -ge $end ]; then timed_out=1; kill $QPID; break; fi
        sleep 0.2
    done
fi
wait $QPID || true
trap - TERM INT

cat "$VM/stdout" 2>/dev/null || true
cat "$VM/stderr" >&2 2>/dev/null || true
if [ $timed_out = 1 ]; then
    say "timed out after ${TIMEOUT}s; last lines of the guest console:"
    tail -n 20 "$VM/console.log" | sed 's/^/  console: /' >&2
    exit 124
fi
rc=$(cat "$VM/rc" 2>/dev/null || true)
case "$rc" in
    [0-9]*) exit "$rc" ;;
    *)
        say "the VM did not report an exit status; qemu said:"
        sed 's/^/  qemu: /' "$VM/qemu.log" >&2
        tail -n 30 "$VM/console.log" 2>/dev/null | sed 's/^/  console: /' >&2
        exit 255 ;;
esac
