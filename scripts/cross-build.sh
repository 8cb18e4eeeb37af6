#!/usr/bin/env bash
# Builds campub for a Raspberry Pi: with cross-rs in our Debian bookworm image (the default), or
# with --native on a Debian bookworm host's own cross toolchain. Both use the same packages
# (cross/install-deps.sh) and the same cargo settings (cross/TARGET.toml).
#
#   scripts/cross-build.sh [--native] [--test | --test-all] [TARGET...]
#
# TARGET: aarch64-unknown-linux-gnu (64-bit Raspberry Pi OS, the default) and/or
# armv7-unknown-linux-gnueabihf (32-bit). --test also runs campub's unit tests for the target
# under qemu-user; --test-all its integration tests too, which start the ARM campub binary
# themselves and so need the kernel to run ARM binaries (binfmt_misc with qemu-user-static
# registered, as binfmt-support sets up). Prints the path of each binary built.
# cross needs `cargo install cross` and docker or podman; --native needs Debian bookworm.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

native=false
test_args=()
targets=()
for arg in "$@"; do
    case "$arg" in
        --native) native=true ;;
        --test) test_args=(--bins) ;;
        --test-all) test_args=(--no-fail-fast) ;;
        aarch64-unknown-linux-gnu | armv7-unknown-linux-gnueabihf) targets+=("$arg") ;;
        *) sed -n '2,13s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-gnu)

target_dir="${CARGO_TARGET_DIR:-target}"

if $native; then
    for target in "${targets[@]}"; do
        cross/install-deps.sh "$target"
        rustup target list --installed | grep -x "$target" >/dev/null || rustup target add "$target"
    done
    build() { cargo --config "cross/$1.toml" "${@:2}" --target "$1"; }
else
    command -v cross >/dev/null || { echo "cross-build: install cross-rs first: cargo install cross" >&2; exit 1; }
    # A docker client without a daemon (common on podman hosts) would make cross fail.
    if [ -z "${CROSS_CONTAINER_ENGINE:-}" ] && ! docker info >/dev/null 2>&1 && command -v podman >/dev/null; then
        export CROSS_CONTAINER_ENGINE=podman
    fi
    # cross 0.2.5 runs `rustup toolchain add` on the active toolchain whenever rustup >= 1.28
    # lists it as "(active, default)": for a channel like stable that means an update. Hand it
    # the version instead (a no-op to re-add), or pin one in rust-toolchain.toml.
    toolchain=()
    active=$(rustup show active-toolchain | cut -d' ' -f1)
    case "$active" in
        stable* | beta* | nightly*)
            version=$(rustc --version | cut -d' ' -f2)
            if ! rustup toolchain list | grep "^$version-" >/dev/null; then
                echo "cross-build: cross would update $active; run: rustup toolchain install $version" >&2
                exit 1
            fi
            toolchain=("+$version") ;;
    esac
    build() { cross "${toolchain[@]}" "${@:2}" --target "$1"; }
fi

for target in "${targets[@]}"; do
    echo "cross-build: $target ($($native && echo native || echo cross))"
    build "$target" build --release --locked -p campub
    if [ ${#test_args[@]} -gt 0 ]; then
        build "$target" test --locked -p campub "${test_args[@]}"
    fi
    echo "cross-build: built $target_dir/$target/release/campub"
done
