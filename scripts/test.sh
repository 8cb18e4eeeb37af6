#!/usr/bin/env bash
# The test command: installs what the tests need, then format check, clippy, and every test of
# the workspace (unit tests, the real binaries on loopback, a real SDL window under Xvfb), then
# campub's HTTP server against real clients (a browser, ffmpeg, OpenCV), and the Windows camview
# under wine.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step timed (the CI budget is an hour on a 2-core machine).
timed() {
    local started=$SECONDS
    "$@"
    echo "test.sh: $1 ${2:-} took $((SECONDS - started)) s" >&2
}
timed scripts/setup-debian.sh --test
export PATH="$HOME/.cargo/bin:$PATH"

timed cargo fmt --all -- --check
timed cargo clippy --workspace --all-targets -- -D warnings
timed cargo test --workspace
# macOS: the portable crates type-check for both Mac targets; camview stops only at a C
# library's build script (no macOS SDK on Linux). README, "camview on macOS".
timed scripts/check-macos.sh
# campub --http against real clients on 127.0.0.1: headless Chromium over HTTPS, ffmpeg,
# OpenCV, curl, a Prometheus parser, the /status schema (docs/HTTP.md). The campub that cargo
# test just built.
CAMPUB="$PWD/target/debug/campub" timed tests/http-clients/run.sh
# camview for Windows (scripts/build-windows.sh's zip, mingw-w64) under wine and Xvfb, against
# the campub that cargo test just built (tests/windows/check.py says what is checked).
CAMPUB="$PWD/target/debug/campub" timed tests/windows/run.sh
# The benchmarks and the end-to-end measurement in their quick mode (docs/PERFORMANCE.md): this
# shows they run (it fails if one does not), with no timing thresholds. The dev profile reuses
# what cargo test just built.
timed scripts/bench.sh --quick --profile dev
# campub against a real V4L2 driver (vivid) in small qemu VMs; see tests/vm/README.md.
# The campub that cargo test just built, so the VM tests build nothing.
CAMPUB="$PWD/target/debug/campub" timed tests/vm/run.sh
echo "test.sh: all passed in $SECONDS s" >&2
