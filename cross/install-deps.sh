#!/bin/sh
# Installs the Debian bookworm packages that cross-compiling campub for one ARM target needs:
# the host's gcc (build scripts) and the cross gcc, cmake (bundled libjpeg-turbo), libclang
# (v4l's bindgen), the target's libzmq through multiarch (CURVE-enabled, as on Raspberry Pi
# OS) and qemu-user to run its tests.
# The one list of these packages: cross/Dockerfile.* runs it in the image and
# scripts/cross-build.sh --native runs it on a Debian bookworm host.
# Usage: cross/install-deps.sh aarch64-unknown-linux-gnu|armv7-unknown-linux-gnueabihf
set -eu

case "${1:-}" in
    aarch64-unknown-linux-gnu) deb_arch=arm64 gnu=aarch64-linux-gnu ;;
    armv7-unknown-linux-gnueabihf) deb_arch=armhf gnu=arm-linux-gnueabihf ;;
    *) echo "usage: $0 aarch64-unknown-linux-gnu|armv7-unknown-linux-gnueabihf" >&2; exit 2 ;;
esac

packages="gcc libc6-dev gcc-$gnu g++-$gnu libc6-dev-$deb_arch-cross cmake make pkg-config libclang-dev
    qemu-user-static libzmq3-dev:$deb_arch"

sudo_cmd=
[ "$(id -u)" -eq 0 ] || sudo_cmd=sudo

missing=
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

if ! dpkg --print-foreign-architectures | grep -qx "$deb_arch"; then
    $sudo_cmd dpkg --add-architecture "$deb_arch"
fi
echo "install-deps: installing$missing"
$sudo_cmd apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing >/dev/null
