#!/usr/bin/env bash
# What of camview can be compiled for macOS on this Linux machine (README, "camview on macOS"):
# the pure-Rust crates type-check for both Mac targets. The rest (camview itself, through the
# zmq-sys, sdl2-sys and turbojpeg-sys build scripts) needs Apple's C compiler and SDK, which a
# Linux machine does not have; this script checks that this is still the only obstacle, so a
# new Linux-only dependency in the portable crates fails here.
#
#   scripts/check-macos.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# CI keeps its cross builds between runs (CAMPUB_CROSS_TARGET_DIR: .ci/run).
[ -z "${CAMPUB_CROSS_TARGET_DIR:-}" ] || export CARGO_TARGET_DIR=$CAMPUB_CROSS_TARGET_DIR
targets=(aarch64-apple-darwin x86_64-apple-darwin)
portable=(-p camwire -p camtext -p camthreads -p camcli)
for target in "${targets[@]}"; do
    rustup target list --installed | grep -qx "$target" || rustup target add "$target" >&2
    cargo check --locked --target "$target" "${portable[@]}"
    echo "check-macos: $target: camwire, camtext, camthreads, camcli type-check"
    # camview: expected to stop at a C library's build script (no macOS SDK here), never at
    # camview's own Rust code.
    log=$(mktemp)
    if cargo check --locked --target "$target" -p camview >"$log" 2>&1; then
        echo "check-macos: $target: camview type-checks"
    else
        failed=$(grep -oE 'failed to run custom build command for `[a-z0-9_-]+' "$log" | sed 's/.*`//' | sort -u | tr '\n' ' ')
        # A Rust error (error[E...]) or no failed build script: something else broke.
        if [ -z "$failed" ] || grep -q '^error\[E' "$log"; then
            cat "$log" >&2
            echo "check-macos: $target: camview failed for another reason than a C build script" >&2
            rm -f "$log"
            exit 1
        fi
        echo "check-macos: $target: camview needs a macOS C toolchain for: $failed(not available on Linux)"
    fi
    rm -f "$log"
done
