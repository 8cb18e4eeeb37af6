#!/bin/sh
# Installs the Debian bookworm packages that cross-compiling campub for one ARM target needs:
# the host's gcc (build scripts) and the cross gcc, cmake (bundled libjpeg-turbo), libclang
# (v4l's bindgen), the target's libzmq (CURVE-enabled, as on Raspberry Pi OS) and qemu-user to
# run its tests.
# The one list of these packages: cross/Dockerfile.* runs it in the image and
# scripts/cross-build.sh --native runs it on a Debian bookworm host.
#
#   cross/install-deps.sh [--sysroot DIR] aarch64-unknown-linux-gnu|armv7-unknown-linux-gnueabihf
#
# The target's libzmq comes through multiarch (libzmq3-dev:arm64 installed next to the host's
# packages), or with --sysroot unpacked into DIR instead: libzmq3-dev and what libzmq5 needs at
# run time, the target architecture's packages fetched with an apt state of DIR's own (nothing
# is installed, the host's dpkg is left alone), their symbols and shlibs files merged into
# DIR/DEBIAN for dpkg-shlibdeps (packaging/build-deb.sh --sysroot). That is for hosts where
# multiarch cannot install them: it needs the same version of every Multi-Arch: same package
# for both architectures, and a mirror may carry security updates for the host's only.
set -eu

sysroot=
if [ "${1:-}" = --sysroot ]; then
    sysroot=${2:?--sysroot needs a directory}
    shift 2
fi
case "${1:-}" in
    aarch64-unknown-linux-gnu) deb_arch=arm64 gnu=aarch64-linux-gnu ;;
    armv7-unknown-linux-gnueabihf) deb_arch=armhf gnu=arm-linux-gnueabihf ;;
    *) echo "usage: $0 [--sysroot DIR] aarch64-unknown-linux-gnu|armv7-unknown-linux-gnueabihf" >&2; exit 2 ;;
esac

host_packages="gcc libc6-dev gcc-$gnu g++-$gnu libc6-dev-$deb_arch-cross cmake make pkg-config libclang-dev
    qemu-user-static"
# The target's: the -dev package campub links against and the library it loads at run time.
target_dev=libzmq3-dev
target_runtime=libzmq5

sudo_cmd=
[ "$(id -u)" -eq 0 ] || sudo_cmd=sudo

packages=$host_packages
if [ -z "$sysroot" ]; then
    packages="$packages $target_dev:$deb_arch"
fi
missing=
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ -z "$sysroot" ] && ! dpkg --print-foreign-architectures | grep -qx "$deb_arch"; then
        $sudo_cmd dpkg --add-architecture "$deb_arch"
    fi
    echo "install-deps: installing$missing"
    $sudo_cmd apt-get update -qq || echo "install-deps: apt-get update had errors; installing anyway" >&2
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ -n "$sysroot" ] || exit 0

# The sysroot, rebuilt only when what it should hold changes.
stamp="$deb_arch $target_dev $target_runtime"
if [ "$(cat "$sysroot/.stamp" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi
case "$sysroot" in "" | / | -*) echo "install-deps: bad --sysroot '$sysroot'" >&2; exit 2 ;; esac
rm -rf "$sysroot"
apt_state="$sysroot.apt"
rm -rf "$apt_state"
mkdir -p "$apt_state/lists/partial" "$apt_state/archives/partial" "$sysroot/DEBIAN"
: >"$apt_state/status"
apt_private() {
    "$@" -o "APT::Architectures=$deb_arch" -o "Dir::State::Lists=$apt_state/lists" \
        -o "Dir::State::status=$apt_state/status" -o "Dir::Cache::Archives=$apt_state/archives" \
        -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
}
echo "install-deps: fetching $deb_arch package lists for $sysroot"
# An index that fails to download (a mirror mid-sync) leaves the others usable.
apt_private apt-get update -qq || echo "install-deps: apt-get update had errors; going on" >&2
runtime=$(apt_private apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "$target_runtime:$deb_arch" | grep -x "[^ <].*:$deb_arch" | sort -u)
[ -n "$runtime" ] || { echo "install-deps: no $target_runtime:$deb_arch in the package lists" >&2; exit 1; }
# (as root, apt warns that its _apt user cannot write there; harmless)
# shellcheck disable=SC2086 # one word per package
(cd "$apt_state/archives" && apt_private apt-get download -qq "$target_dev:$deb_arch" $runtime 2>&1 \
    | { grep -v unsandboxed >&2 || true; })
wanted=$(($(echo "$runtime" | wc -w) + 1))
got=$(find "$apt_state/archives" -maxdepth 1 -name '*.deb' | wc -l)
[ "$got" -eq "$wanted" ] || { echo "install-deps: downloaded $got of $wanted $deb_arch packages" >&2; exit 1; }
for deb in "$apt_state"/archives/*.deb; do
    dpkg-deb -x "$deb" "$sysroot"
    control=$(mktemp -d)
    dpkg-deb -e "$deb" "$control"
    for f in symbols shlibs; do
        if [ -f "$control/$f" ]; then cat "$control/$f" >>"$sysroot/DEBIAN/$f"; fi
    done
    rm -rf "$control"
done
rm -rf "$apt_state"
echo "$stamp" >"$sysroot/.stamp"
echo "install-deps: $sysroot holds $wanted $deb_arch packages"
