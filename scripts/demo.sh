#!/usr/bin/env bash
# The main job on one machine: builds campub and camview, streams the camera (/dev/video0 if
# there is one, else the built-in test pattern) through campub to camview on loopback, and stops
# both when the viewer window closes. Extra arguments go to campub (e.g. --size 640x480).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p campub -p camview

endpoint=tcp://127.0.0.1:5555
source_args=(--source pattern)
if [ -e /dev/video0 ]; then
    source_args=(--source v4l2 --device /dev/video0)
fi
./target/release/campub "${source_args[@]}" --bind "$endpoint" "$@" &
campub_pid=$!
trap 'kill "$campub_pid" 2>/dev/null; wait "$campub_pid" 2>/dev/null || true' EXIT

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    ./target/release/camview "$endpoint"
else
    echo "demo: no display; running camview headless for 10 s instead of opening a window"
    ./target/release/camview "$endpoint" --headless --duration 10
fi
