#!/usr/bin/env bash
# tests/vm/systemd/run.sh: campub's .deb under a real systemd in a qemu VM (issue 15); see
# test.py for the checks and tests/vm/README.md for the harness.
#
#   tests/vm/systemd/run.sh                  # the amd64 .deb (packaging/build-deb.sh), every check
#   tests/vm/systemd/run.sh --arch aarch64   # the arm64 .deb of scripts/cross-build.sh's binary
#                                            # in an emulated aarch64 VM, the short version
#   --deb PATH                               # test that package, build none
#
# Needs root or sudo for the first image build (debootstrap); results in
# target/vm-systemd-ARCH/ (the guest console, qemu's log, the whole journal).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
export PATH="$HOME/.cargo/bin:$PATH"
ARCH=x86_64
DEB=
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) ARCH=$2; shift 2 ;;
        --deb) DEB=$2; shift 2 ;;
        *) sed -n '2,12p' "$0" >&2; exit 2 ;;
    esac
done
SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)
python3 -c 'import zmq' 2> /dev/null || {
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends python3-zmq > /dev/null
}
IMAGE=$(tests/vm/systemd/image.sh --arch "$ARCH")
OUT=$PWD/target/vm-systemd-$ARCH
rm -rf "$OUT"
mkdir -p "$OUT"
if [ "$ARCH" = x86_64 ]; then
    [ -n "$DEB" ] || DEB=$(packaging/build-deb.sh)
    [ -x target/debug/camview ] || cargo build -p camview >&2
    exec python3 tests/vm/systemd/test.py --image "$IMAGE" --deb "$DEB" --out "$OUT" \
        --camview "$PWD/target/debug/camview"
else
    [ -n "$DEB" ] || DEB=$(packaging/build-deb.sh --target aarch64-unknown-linux-gnu)
    exec python3 tests/vm/systemd/test.py --image "$IMAGE" --deb "$DEB" --out "$OUT" --arch aarch64 --short
fi
