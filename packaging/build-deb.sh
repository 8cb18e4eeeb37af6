#!/usr/bin/env bash
# Builds campub_VERSION_ARCH.deb: campub and camrelay in /usr/bin, the systemd units in
# /lib/systemd/system, /etc/campub/campub.conf as a conffile, Depends computed by
# dpkg-shlibdeps from the binary (as dh_shlibdeps does), maintainer scripts from
# packaging/debian/ (Debian's systemd conventions; nothing is enabled or started).
#
#   packaging/build-deb.sh [--target TRIPLE [--sysroot DIR]] [--out DIR]
#
# No --target: the host's amd64 build (cargo build --release first). --target
# aarch64-unknown-linux-gnu (arm64) or armv7-unknown-linux-gnueabihf (armhf): packages the
# binary that scripts/cross-build.sh built; dpkg-shlibdeps then needs the target's libraries,
# which cross/install-deps.sh TRIPLE installs, or with --sysroot DIR the ones that
# `cross/install-deps.sh --sysroot DIR TRIPLE` unpacked there (with their symbols files in
# DIR/DEBIAN). Prints the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

target=
out=
sysroot=
while [ $# -gt 0 ]; do
    case "$1" in
        --target) target="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --sysroot) sysroot="$2"; shift 2 ;;
        *) sed -n '2,14s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
    esac
done
target_dir="${CARGO_TARGET_DIR:-target}"
[ -n "$out" ] || out="$target_dir/debian"

case "$target" in
    "") deb_arch=$(dpkg --print-architecture) multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
        binary="$target_dir/release/campub"
        cargo build --release --locked -p campub -p camrelay >&2 ;;
    aarch64-unknown-linux-gnu) deb_arch=arm64 multiarch=aarch64-linux-gnu ;;
    armv7-unknown-linux-gnueabihf) deb_arch=armhf multiarch=arm-linux-gnueabihf ;;
    *) echo "build-deb: unknown target $target" >&2; exit 2 ;;
esac
if [ -n "$target" ]; then
    binary="$target_dir/$target/release/campub"
    [ -x "$binary" ] || { echo "build-deb: no $binary: run scripts/cross-build.sh $target first" >&2; exit 1; }
fi
relay="$(dirname "$binary")/camrelay"
[ -x "$relay" ] || { echo "build-deb: no $relay: run scripts/cross-build.sh ${target:-} first" >&2; exit 1; }

version=$(cargo metadata --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="campub"))')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"

install -D -m 0755 "$binary" "$root/usr/bin/campub"
install -D -m 0644 systemd/campub.service "$root/lib/systemd/system/campub.service"
install -D -m 0644 systemd/campub@.service "$root/lib/systemd/system/campub@.service"
install -D -m 0644 systemd/campub.conf "$root/etc/campub/campub.conf"
install -D -m 0755 "$relay" "$root/usr/bin/camrelay"
install -D -m 0644 systemd/camrelay.service "$root/lib/systemd/system/camrelay.service"
install -D -m 0644 systemd/camrelay.conf "$root/etc/campub/camrelay.conf"
install -D -m 0644 docs/SCALING.md "$root/usr/share/doc/campub/SCALING.md"
install -D -m 0644 systemd/README.md "$root/usr/share/doc/campub/README.systemd.md"
install -d "$root/usr/share/doc/campub"
cat >"$root/usr/share/doc/campub/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: campub
License: MIT OR Apache-2.0
Comment: campub statically includes libjpeg-turbo (IJG, BSD-3-Clause and Zlib licenses) and
 the Rust crates listed in its source's Cargo.lock, each under its own license.
EOF

# Depends: exactly the shared libraries the binary needs, at the versions its symbols need.
mkdir -p "$work/src/debian"
printf 'Source: campub\n\nPackage: campub\nArchitecture: any\n' >"$work/src/debian/control"
# A --sysroot counts as a package build tree: its libraries first, with their symbols files.
search=()
[ -z "$sysroot" ] || search=("-S$(realpath "$sysroot")")
depends=$(cd "$work/src" && DEB_HOST_ARCH=$deb_arch DEB_HOST_MULTIARCH=$multiarch \
    dpkg-shlibdeps -O "${search[@]}" -e"$root/usr/bin/campub" -e"$root/usr/bin/camrelay" 2>"$work/shlibdeps.err" | sed -n 's/^shlibs:Depends=//p') || true
if [ -z "$depends" ]; then
    cat "$work/shlibdeps.err" >&2
    echo "build-deb: dpkg-shlibdeps failed; for $deb_arch run cross/install-deps.sh [--sysroot DIR] ${target:-} first" >&2
    exit 1
fi

install -d "$root/DEBIAN"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
printf '%s\n' /etc/campub/campub.conf /etc/campub/camrelay.conf >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/control" <<EOF
Package: campub
Version: $version
Architecture: $deb_arch
Maintainer: ${DEB_MAINTAINER:-campub developers <campub@localhost>}
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Section: video
Priority: optional
Description: headless camera publisher: V4L2 -> JPEG -> ZeroMQ
 campub reads a V4L2 camera (or a test pattern, or a file of JPEGs), scales it to 640 pixels
 wide, encodes it with libjpeg-turbo and publishes it on a ZeroMQ PUB socket, for camview or
 any ZeroMQ subscriber. It runs as a hardened systemd service (campub.service, or
 campub@video0.service per camera) configured in /etc/campub/campub.conf.
 .
 camrelay (camrelay.service, /etc/campub/camrelay.conf) relays the streams of many campubs to
 many viewers, and lets a campub behind NAT dial out to it.
 .
 Installing does not enable or start the service: sudo systemctl enable --now campub
EOF

mkdir -p "$out"
deb="$out/campub_${version}_${deb_arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
