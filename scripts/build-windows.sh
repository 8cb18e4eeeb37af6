#!/usr/bin/env bash
# Builds camview for Windows (x86_64-pc-windows-gnu) on this Debian/Ubuntu machine and packs it
# as one zip: camview.exe needs only Windows' own DLLs (SDL2, libzmq with CURVE through
# libsodium, libjpeg-turbo and the C++ runtime are linked in).
#
#   scripts/build-windows.sh     # -> target/windows/camview-VERSION-windows-x86_64.zip
#   scripts/build-windows.sh --setup   # installs the packages and the Rust target only
#   scripts/build-windows.sh --libs    # ... and builds the libraries' cache (no apt if --setup ran)
#
# Installs what it needs: Debian's mingw-w64 (apt), the Rust target (rustup). libsodium and
# libzmq are built from the sources the crates.io packages libsodium-sys-stable and zeromq-src
# ship (the zmq crate's own vendored build has no CURVE on Windows), once per recipe, into
# ~/.cache/campub-windows/<hash of the recipe: versions, compilers, flags>/ (CAMPUB_WINDOWS_CACHE
# overrides). The zip
# holds camview.exe and README-windows.txt. Prints the zip's path on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
say() { echo "build-windows: $*" >&2; }

TARGET=x86_64-pc-windows-gnu
SODIUM_CRATE=libsodium-sys-stable@1.24.3   # ships libsodium 1.0.x stable as LATEST.tar.gz
ZMQ_CRATE=zeromq-src@0.2.6+4.3.4           # ships libzmq 4.3.4, as zmq-sys 0.12 uses
GCC=x86_64-w64-mingw32-gcc-posix           # the posix thread model: libzmq needs std::thread
GXX=x86_64-w64-mingw32-g++-posix

mode=zip
case "${1:-}" in
    "") ;;
    --setup) mode=setup ;;
    --libs) mode=libs ;;
    *) sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac

SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)
# Each checked: tests/windows/run.sh installs the C compiler alone (for its DLL stand-in), and
# libzmq needs the C++ one too.
if ! command -v "$GCC" > /dev/null || ! command -v "$GXX" > /dev/null \
    || ! command -v cmake > /dev/null || ! command -v make > /dev/null; then
    say "installing mingw-w64 (64-bit, posix threads), cmake, make"
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
        gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64 \
        cmake make pkg-config > /dev/null
fi
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET" >&2
[ $mode != setup ] || exit 0
gcc_dir=$(dirname "$("$GCC" -print-libgcc-file-name)")

# _WIN32_WINNT: libzmq 4.3.4's CMake leaves it empty with mingw (Vista is its floor).
# No IPC (Unix sockets), no tests, tools, docs, WebSocket or TLS: camview needs TCP + CURVE.
ZMQ_CMAKE_FLAGS=(-DCMAKE_SYSTEM_NAME=Windows -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_C_FLAGS=-D_WIN32_WINNT=0x0600 -DCMAKE_CXX_FLAGS=-D_WIN32_WINNT=0x0600
    -DBUILD_SHARED=OFF -DBUILD_STATIC=ON -DBUILD_TESTS=OFF -DWITH_PERF_TOOL=OFF
    -DWITH_DOCS=OFF -DWITH_DOC=OFF -DENABLE_CPACK=OFF -DENABLE_DRAFTS=OFF -DENABLE_WS=OFF
    -DWITH_TLS=OFF -DWITH_LIBBSD=OFF -DZMQ_HAVE_IPC=OFF -DENABLE_PRECOMPILED=OFF
    -DWITH_LIBSODIUM=ON -DWITH_LIBSODIUM_STATIC=ON -DENABLE_CURVE=ON)
SODIUM_CONFIGURE_FLAGS=(--host=x86_64-w64-mingw32 --disable-shared --enable-static)
recipe=$(printf '%s\n' "$SODIUM_CRATE" "$ZMQ_CRATE" "$("$GCC" --version | head -1)" \
    "${ZMQ_CMAKE_FLAGS[@]}" "${SODIUM_CONFIGURE_FLAGS[@]}" | sha256sum | cut -c1-16)
cache=${CAMPUB_WINDOWS_CACHE:-$HOME/.cache/campub-windows}/$recipe
prefix=$cache/prefix
mkdir -p "${cache%/*}"
# One build at a time (CI builds the cache in the background while the tests run): a second
# caller waits for the first's and then finds it done.
exec 9> "$cache.lock"
flock 9
if [ ! -f "$prefix/lib/libzmq.a" ] || [ ! -f "$prefix/lib/libsodium.a" ]; then
    say "building libsodium and libzmq for $TARGET into $cache (once per recipe)"
    rm -rf "$cache"
    mkdir -p "$cache/src"
    # The sources come from crates.io: a scratch package that depends on both, fetched.
    fetch=$cache/src/fetch
    mkdir -p "$fetch/src"
    cat > "$fetch/Cargo.toml" <<EOF
[package]
name = "fetch"
version = "0.0.0"
edition = "2021"
[dependencies]
libsodium-sys-stable = "=${SODIUM_CRATE#*@}"
zeromq-src = "=${ZMQ_CRATE#*@}"
EOF
    echo 'fn main() {}' > "$fetch/src/main.rs"
    (cd "$fetch" && cargo metadata --format-version 1 > metadata.json)
    crate_dir() {
        python3 -c 'import json, sys
meta = json.load(open(sys.argv[1]))
print(next(p["manifest_path"].rsplit("/", 1)[0] for p in meta["packages"] if p["name"] == sys.argv[2]))' \
            "$fetch/metadata.json" "$1"
    }
    sodium_src=$(crate_dir libsodium-sys-stable)
    zmq_src=$(crate_dir zeromq-src)

    tar -xzf "$sodium_src/LATEST.tar.gz" -C "$cache/src"
    (cd "$cache/src/libsodium-stable" \
        && ./configure "${SODIUM_CONFIGURE_FLAGS[@]}" --prefix="$prefix" CC="$GCC" \
            > "$cache/libsodium.log" 2>&1 \
        && make -j"$(nproc)" install >> "$cache/libsodium.log" 2>&1) \
        || { tail -20 "$cache/libsodium.log" >&2; exit 1; }

    cp -r "$zmq_src/vendor" "$cache/src/libzmq"
    mkdir -p "$cache/src/libzmq-build"
    (cd "$cache/src/libzmq-build" \
        && cmake ../libzmq "${ZMQ_CMAKE_FLAGS[@]}" \
            -DCMAKE_C_COMPILER="$GCC" -DCMAKE_CXX_COMPILER="$GXX" \
            -DCMAKE_RC_COMPILER=x86_64-w64-mingw32-windres \
            -DCMAKE_FIND_ROOT_PATH="$prefix;/usr/x86_64-w64-mingw32" \
            -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY \
            -DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER -DCMAKE_INSTALL_PREFIX="$prefix" \
            -DSODIUM_INCLUDE_DIRS="$prefix/include" -DSODIUM_LIBRARIES="$prefix/lib/libsodium.a" \
            > "$cache/libzmq.log" 2>&1 \
        && make -j"$(nproc)" install >> "$cache/libzmq.log" 2>&1) \
        || { tail -20 "$cache/libzmq.log" >&2; exit 1; }
    grep -q "Using libsodium for CURVE security" "$cache/libzmq.log" \
        || { say "libzmq was configured without libsodium (see $cache/libzmq.log)"; exit 1; }
fi
exec 9>&-
[ $mode != libs ] || { say "libraries ready in $prefix"; exit 0; }

# The Linux builds link the system libzmq through zmq-sys's `links` override in
# .cargo/config.toml; this is the same for Windows, pointing at the static build above.
config=$cache/cargo-config.toml
cat > "$config" <<EOF
[target.$TARGET]
linker = "$GCC"
# Everything static: no libgcc, libstdc++ or libwinpthread DLL next to camview.exe.
rustflags = ["-C", "link-arg=-static", "-C", "link-arg=-static-libgcc", "-C", "link-arg=-static-libstdc++"]

[target.$TARGET.zmq]
rustc-link-search = ["$prefix/lib", "$gcc_dir"]
rustc-link-lib = ["static=zmq", "static=sodium", "static=stdc++", "ws2_32", "iphlpapi", "advapi32"]

[env]
CC_x86_64_pc_windows_gnu = "$GCC"
CXX_x86_64_pc_windows_gnu = "$GXX"
AR_x86_64_pc_windows_gnu = "x86_64-w64-mingw32-ar"
EOF
say "building camview.exe"
cargo --config "$config" build --locked --release -p camview --target "$TARGET" >&2
exe=${CARGO_TARGET_DIR:-target}/$TARGET/release/camview.exe

# Only Windows' own DLLs may be imported (bcryptprimitives.dll is Windows 10's; see
# tests/windows/README.md for running it under wine).
dlls=$(x86_64-w64-mingw32-objdump -p "$exe" | sed -n 's/^\s*DLL Name: //p' | sort -fu)
foreign=$(echo "$dlls" | grep -viE '^(advapi32|gdi32|imm32|iphlpapi|kernel32|oleaut32|setupapi|shell32|user32|version|winmm|ws2_32|msvcrt|ntdll|ole32|bcryptprimitives|api-ms-win-[a-z0-9-]+)\.dll$' || true)
if [ -n "$foreign" ]; then
    say "camview.exe needs DLLs Windows does not have: $foreign"
    exit 1
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
out=${CARGO_TARGET_DIR:-target}/windows
mkdir -p "$out"
zip=$out/camview-$version-windows-x86_64.zip
python3 - "$exe" "$zip" "$version" <<'EOF'
import sys, zipfile
exe, zip_path, version = sys.argv[1:]
readme = f"""camview {version} for Windows (64-bit): the viewer of campub's camera streams.

Unzip anywhere and run it from a Command Prompt or PowerShell in that folder:

  camview.exe PI-ADDRESS                  the stream of the Raspberry Pi at PI-ADDRESS (port 5555)
  camview.exe tcp://PI-ADDRESS:5555       the same, spelled out
  camview.exe --help                      every option

Keys in the window: q or Esc quit, f full screen, b banner, s snapshot.
Encrypted streams: camview.exe --keygen laptop writes laptop.key (give it to the Pi's
owner) and laptop.key_secret (keep it: write it in a folder of your own profile, whose
access list keeps other users out); then
  camview.exe --server-key server.key --key laptop.key_secret PI-ADDRESS
Windows Defender Firewall may ask whether camview may use the network: it only connects
out to the Pi, so private networks are enough.
"""
with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(exe, "camview.exe")
    z.writestr("README-windows.txt", readme.replace("\n", "\r\n"))
EOF
say "$(du -h "$zip" | cut -f1) $zip"
echo "$zip"
