#!/usr/bin/env bash
# CI's proof of the Raspberry Pi path, one step after another, each timed:
#   units      systemd-analyze verify on both units, security exposure at most 2.0
#   aarch64    campub built for aarch64 (release); all its tests (unit and integration) run
#              under qemu-user
#   vm         the aarch64 campub in an emulated aarch64 VM with vivid: --list-formats and a
#              YUYV stream received on this host (tests/vm/run.sh --arch aarch64)
#   deb        the amd64 .deb built, installed with dpkg, run with the unit's command line,
#              purged (packaging/test-deb.sh); the arm64 .deb built from the aarch64 binary;
#              campub built for armv7 (32-bit Pi OS) and its armhf .deb
#   systemd    the amd64 .deb installed with apt in a Debian VM that boots systemd as PID 1,
#              the units run as shipped (every check of tests/vm/systemd/test.py); the arm64
#              .deb the same way in an emulated aarch64 VM, the short version
#
#   scripts/ci-pi.sh [--cross]
#
# By default the builds use the host's cross toolchain (scripts/cross-build.sh --native, and
# --sysroot for armv7: see cross/install-deps.sh); --cross runs the real `cross build` in
# podman instead. All read the same cross/install-deps.sh and cross/TARGET.toml.
# Needs root and Debian bookworm (CI's machine). Ends with "ci-pi: N passed, M failed".
# The release and cross builds go to CAMPUB_CROSS_TARGET_DIR when it is set (.ci/run keeps one
# between runs on a machine), else to CARGO_TARGET_DIR or target/.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR=${CAMPUB_CROSS_TARGET_DIR:-${CARGO_TARGET_DIR:-target}}
target_dir=$CARGO_TARGET_DIR
target=aarch64-unknown-linux-gnu
armv7=armv7-unknown-linux-gnueabihf
armv7_sysroot=$target_dir/sysroot-$armv7

use_cross=false
[ "${1:-}" = "--cross" ] && use_cross=true

passed=0
failed=0
step() {
    local name=$1 started=$SECONDS status
    shift
    echo "ci-pi: --- $name"
    # Not under `if`: bash ignores set -e in a condition, even inside a subshell.
    (set -e; "$@")
    status=$?
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
        echo "ci-pi: ok   $name ($((SECONDS - started)) s)"
    else
        failed=$((failed + 1))
        echo "ci-pi: FAIL $name ($((SECONDS - started)) s)"
    fi
}

# systemd-analyze against a throw-away root: the system's units plus ours and a stand-in
# /usr/bin/campub, so neither systemd as PID 1 nor an installed campub is needed.
units() (
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/lib/systemd" "$root/usr/bin" "$root/etc/campub"
    cp -a /lib/systemd/system "$root/lib/systemd/"
    cp systemd/campub.service systemd/campub@.service systemd/camrelay.service "$root/lib/systemd/system/"
    cp systemd/campub.conf systemd/camrelay.conf "$root/etc/campub/"
    printf '#!/bin/sh\n' >"$root/usr/bin/campub"
    cp "$root/usr/bin/campub" "$root/usr/bin/camrelay"
    chmod 755 "$root/usr/bin/campub" "$root/usr/bin/camrelay"
    systemd-analyze verify --root="$root" campub.service campub@video0.service camrelay.service
    for unit in campub.service campub@video0.service camrelay.service; do
        systemd-analyze security --offline=yes --root="$root" --threshold=20 "$unit" | tail -n 1
    done
)

# The CI machine only: podman as a stand-in for docker, and a debootstrapped Debian in place of
# the registry's debian:bookworm-slim (no registry is reachable). Never on a user's machine.
podman_for_ci() (
    [ "${CI:-}" = true ] || { echo "ci-pi: --cross changes /etc/containers; CI only (CI=true)" >&2; exit 1; }
    missing=()
    for p in podman runc debootstrap; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if [ ! -e /etc/containers/containers.conf ]; then
        mkdir -p /etc/containers
        printf '%s\n' '[containers]' 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]' \
            '' '[engine]' 'runtime = "runc"' >/etc/containers/containers.conf
    fi
    if ! podman image exists docker.io/library/debian:bookworm-slim; then
        rootfs=$(mktemp -d)
        debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
        tar -C "$rootfs" -c . | podman import - docker.io/library/debian:bookworm-slim >/dev/null
        rm -rf "$rootfs"
    fi
    command -v cross >/dev/null || cargo install --locked cross
)

build_aarch64() {
    if $use_cross; then
        CROSS_CONTAINER_ENGINE=podman scripts/cross-build.sh --test-all "$target"
    else
        scripts/cross-build.sh --native --test-all "$target"
    fi
}

# check_deb DEB ARCH MACHINE FLAGS: the package's architecture, Depends and files; its campub
# is an ELF for MACHINE whose header flags match FLAGS (readelf -h).
check_deb() (
    deb=$1
    [ "$(dpkg-deb --field "$deb" Architecture)" = "$2" ]
    depends=$(dpkg-deb --field "$deb" Depends)
    echo "ci-pi: $deb Depends: $depends"
    for lib in libc6 libgcc-s1 libzmq5; do [[ "$depends" =~ (^|, )$lib( |,|$) ]]; done
    unpacked=$(mktemp -d)
    trap 'rm -rf "$unpacked"' EXIT
    dpkg-deb -x "$deb" "$unpacked"
    header=$(readelf -h "$unpacked/usr/bin/campub")
    echo "ci-pi: $(grep -E 'Machine:|Flags:' <<<"$header" | tr -s ' ' | tr '\n' ' ')"
    grep -E "Machine: +$3\$" <<<"$header" >/dev/null
    grep -E "Flags: .*$4" <<<"$header" >/dev/null
    for f in usr/bin/campub lib/systemd/system/campub.service lib/systemd/system/campub@.service \
        etc/campub/campub.conf usr/share/doc/campub/copyright usr/bin/camrelay \
        lib/systemd/system/camrelay.service etc/campub/camrelay.conf; do
        [ -f "$unpacked/$f" ] || { echo "ci-pi: $f missing in $deb" >&2; exit 1; }
    done
    [ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = "$(printf '%s\n' /etc/campub/campub.conf /etc/campub/camrelay.conf)" ]
)

deb_arm64() (
    cross/install-deps.sh "$target"   # dpkg-shlibdeps reads the arm64 libraries' symbols
    deb=$(packaging/build-deb.sh --target "$target")
    check_deb "$deb" arm64 AArch64 ""
)

# armv7 in a sysroot, not multiarch: on this machine's mirror the armhf packages lag behind the
# host's security updates, so libzmq3-dev:armhf cannot be installed next to them.
deb_armhf() (
    if $use_cross; then
        CROSS_CONTAINER_ENGINE=podman scripts/cross-build.sh "$armv7"
        cross/install-deps.sh --sysroot "$armv7_sysroot" "$armv7"
    else
        scripts/cross-build.sh --sysroot "$armv7"
    fi
    deb=$(packaging/build-deb.sh --target "$armv7" --sysroot "$armv7_sysroot")
    check_deb "$deb" armhf ARM "Version5 EABI, hard-float ABI"
    # It runs: qemu-user with the sysroot's armhf libraries.
    version=$(qemu-arm-static -L "$armv7_sysroot" "$target_dir/$armv7/release/campub" --version)
    echo "ci-pi: the armv7 campub says: $version"
    [[ "$version" == "campub "* ]]
)

# The size budget: campub's stripped aarch64 binary stays under 4 MB (camrelay is not counted:
# a binary of its own that a Pi which only publishes never runs).
# The release profile strips (Cargo.toml: strip = true).
size_budget() (
    bytes=$(stat -c %s "$target_dir/$target/release/campub")
    echo "ci-pi: stripped aarch64 campub: $bytes bytes (budget 4194304)"
    [ "$bytes" -lt 4194304 ]
)

step units units
if $use_cross; then
    step podman-setup podman_for_ci
fi
step "$target build+test" build_aarch64
step "aarch64 size budget" size_budget
step "$target vivid VM" tests/vm/run.sh --arch aarch64
step deb-amd64 packaging/test-deb.sh
step "systemd amd64 VM" tests/vm/systemd/run.sh
step deb-arm64 deb_arm64
step "systemd arm64 VM" tests/vm/systemd/run.sh --arch aarch64
step "$armv7 build + deb-armhf" deb_armhf

echo "ci-pi: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
