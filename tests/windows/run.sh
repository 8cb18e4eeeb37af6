#!/usr/bin/env bash
# tests/windows/run.sh: the Windows camview (scripts/build-windows.sh's zip) under Debian's wine
# and Xvfb, against the Linux campub on 127.0.0.1, and its mDNS discovery between two network
# namespaces (root, as CI; issue 21). check.py says what each check asserts; one PASS/FAIL
# line per check, last "N passed, M failed".
#
#   tests/windows/run.sh                            # builds the zip and the debug campub
#   ZIP=... CAMPUB=... tests/windows/run.sh         # tests those, builds nothing
#   tests/windows/run.sh --setup                    # installs the packages only
#
# Installs wine, Xvfb and mingw-w64 with apt when missing. wine 8.0 lacks bcryptprimitives.dll,
# which Rust's standard library imports on Windows 10 and later: bcryptprimitives.c here is a
# stand-in (ProcessPrng through RtlGenRandom), built with mingw-w64 and put next to
# camview.exe in the test only; the zip does not carry it. Results, the wine prefix, logs and
# screenshots: target/windows-tests/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
say() { echo "windows-tests: $*" >&2; }

SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)
need=()
command -v wine > /dev/null || need+=(wine wine64)
command -v Xvfb > /dev/null || need+=(xvfb)
command -v x86_64-w64-mingw32-gcc-posix > /dev/null || need+=(gcc-mingw-w64-x86-64-posix)
command -v ffmpeg > /dev/null || need+=(ffmpeg)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
        "${need[@]}" > /dev/null
fi
if [ "${1:-}" = --setup ]; then
    # What needs apt, and the libraries' cache (CI runs this first, then the build in the
    # background: .ci/run).
    scripts/build-windows.sh --setup
    exit 0
fi

# CI keeps its cross builds between runs (CAMPUB_CROSS_TARGET_DIR: .ci/run).
[ -n "${ZIP:-}" ] || ZIP=$(CARGO_TARGET_DIR=${CAMPUB_CROSS_TARGET_DIR:-${CARGO_TARGET_DIR:-target}} scripts/build-windows.sh)
if [ -z "${CAMPUB:-}" ]; then
    cargo build -p campub >&2
    CAMPUB=$PWD/target/debug/campub
fi

out=$PWD/target/windows-tests
rm -rf "$out"
mkdir -p "$out/app"
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$ZIP" "$out/app"
x86_64-w64-mingw32-gcc-posix -O2 -shared -o "$out/app/bcryptprimitives.dll" \
    tests/windows/bcryptprimitives.c tests/windows/bcryptprimitives.def -ladvapi32

display=""
for n in $(seq 140 180); do
    [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || { display=":$n"; break; }
done
[ -n "$display" ] || { say "no free X display number"; exit 1; }
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp > "$out/xvfb.log" 2>&1 &
xvfb_pid=$!
trap 'kill "$xvfb_pid" 2> /dev/null || true; WINEPREFIX="$out/prefix" wineserver -k 2> /dev/null || true' EXIT
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done

export DISPLAY=$display WINEPREFIX=$out/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
say "making a wine prefix"
wineboot --init > "$out/wineboot.log" 2>&1 || { cat "$out/wineboot.log" >&2; exit 1; }
exec python3 tests/windows/check.py --campub "$CAMPUB" --app "$out/app" --out "$out"
