#!/usr/bin/env bash
# tests/vm/run.sh: campub against a real V4L2 driver, the kernel's `vivid` virtual camera, in
# small qemu VMs (issue 5). One command, installs what it needs (Debian packages via apt-get).
#
#   tests/vm/run.sh                        # builds and tests the debug campub (what CI runs)
#   tests/vm/run.sh --release              # builds and tests target/release/campub
#   CAMPUB=/path/to/campub tests/vm/run.sh # tests that binary, builds nothing
#   tests/vm/run.sh --arch aarch64         # the aarch64 campub that scripts/cross-build.sh built,
#                                          # in an emulated aarch64 VM (CAMPUB= works here too)
#
# Two VMs boot, one after the other (see guest.sh for what runs inside): vivid's webcam input
# (formats, nearest size, 640x480/1280x720/1920x1080 at rates the emulated CPU sustains, a
# device with none of campub's formats, camera controls) and vivid's HDMI input
# (640x480/1280x720/1920x1080 at 30 fps, SIGTERM and reopen, device lost mid-stream). A
# subscriber on this host (sub.py) receives the frames through qemu's port forward on
# 127.0.0.1; check.py then judges everything and prints "N passed, M failed". Results, logs and
# the guest consoles stay in target/vm-tests/.
# With --arch aarch64 one VM boots, an emulated Cortex-A72 (the Raspberry Pi 4's CPU): the
# aarch64 campub lists vivid's formats and streams YUYV to the subscriber on this host; results
# in target/vm-tests-aarch64/.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
HERE=$ROOT/tests/vm
PROFILE=debug
ARCH=x86_64
while [ $# -gt 0 ]; do
    case "$1" in
        --release) PROFILE=release; shift ;;
        --arch) ARCH=${2:-}; shift 2 || shift ;;
        *) sed -n '2,20p' "$0"; exit 2 ;;
    esac
done
case "$ARCH" in
    x86_64) RESULTS=$ROOT/target/vm-tests GROUPS_RUN="webcam hdmi" ;;
    aarch64) RESULTS=$ROOT/target/vm-tests-aarch64 GROUPS_RUN="arm64" PROFILE=release ;;
    *) echo "run.sh: --arch x86_64 or aarch64" >&2; exit 2 ;;
esac
START=$(date +%s%N)
SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)
say() { echo "vm-tests: $*" >&2; }
elapsed() { echo "$((($(date +%s%N) - START) / 1000000))" | awk '{printf "%.1f s", $1 / 1000}'; }

# Host tools: python3 with pyzmq (the subscriber), v4l-utils (v4l2-ctl, run in the guest),
# ffmpeg (check.py decodes the frames that show camera controls at work).
PY=
for p in python3 /usr/bin/python3; do
    if "$p" -c 'import zmq' 2> /dev/null; then PY=$p; break; fi
done
need=()
[ -n "$PY" ] || { need+=(python3-zmq); PY=/usr/bin/python3; }
command -v v4l2-ctl > /dev/null || need+=(v4l-utils)
[ "$ARCH" = aarch64 ] || command -v ffmpeg > /dev/null || need+=(ffmpeg)
if [ "$ARCH" = aarch64 ]; then
    # What the aarch64 campub links (its .deb's Depends), from Debian multiarch.
    for p in libc6:arm64 libgcc-s1:arm64 libzmq5:arm64; do
        dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "ok installed" || need+=("$p")
    done
    if [[ " ${need[*]} " == *:arm64* ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
        "${SUDO[@]}" dpkg --add-architecture arm64
    fi
fi
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    "${SUDO[@]}" apt-get update -qq || say "apt-get update had errors; installing anyway"
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" > /dev/null || exit 1
fi

if [ -z "${CAMPUB:-}" ] && [ "$ARCH" = aarch64 ]; then
    CAMPUB=${CARGO_TARGET_DIR:-$ROOT/target}/aarch64-unknown-linux-gnu/release/campub
    [ -x "$CAMPUB" ] || { say "no $CAMPUB: build it with scripts/cross-build.sh --native (or set CAMPUB)"; exit 1; }
elif [ -z "${CAMPUB:-}" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
    if [ $PROFILE = release ]; then cargo build --release -p campub; else cargo build -p campub; fi || exit 1
    CAMPUB=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/campub
fi
CAMPUB=$(realpath "$CAMPUB")
export CAMPUB
"$HERE/vm.sh" --arch "$ARCH" --setup || exit 1
say "campub: $CAMPUB; setup done after $(elapsed)"

rm -rf "$RESULTS"
mkdir -p "$RESULTS"

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# CPU ticks: all busy time on this host, and what this script's finished children used.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
our_ticks() { awk '{print $16 + $17}' /proc/$$/stat; }

# vm GROUP VIVID_OPTIONS: one VM running `guest.sh GROUP`, the subscriber listening meanwhile.
vm() {
    local group=$1 vivid=$2 port sub rc busy0 ours0 t0
    local out=$RESULTS/$group
    mkdir -p "$out"
    port=$(free_port)
    "$PY" "$HERE/sub.py" "tcp://127.0.0.1:$port" "$out/received.json" &
    sub=$!
    say "VM '$group' (vivid $vivid) ..."
    busy0=$(busy_ticks) ours0=$(our_ticks) t0=$SECONDS
    "$HERE/vm.sh" --arch "$ARCH" --vivid "$vivid" --fwd "$port:5555" --out "$out" --timeout 240 \
        -- bash "$HERE/guest.sh" "$group" > "$out/vm.log" 2>&1
    rc=$?
    echo $rc > "$out/vm.rc"
    kill -TERM $sub
    wait $sub
    # Software emulation is slow: other work on this host starves the VM. Record how many
    # cores other processes kept busy meanwhile, for check.py to mention next to a failure.
    echo "$(busy_ticks) $busy0 $(our_ticks) $ours0 $((SECONDS - t0))" \
        | awk '{printf "%.2f\n", (($1 - $2) - ($3 - $4)) / 100 / ($5 > 0 ? $5 : 1)}' > "$out/host_others_cores"
    say "VM '$group' done (exit $rc) after $(elapsed)"
}

# node_types 0x80001: a video capture node (/dev/video0) and a touch node (/dev/v4l-touch0);
# input_types: 0 = webcam, 3 = HDMI (2 bits per input).
if [ "$ARCH" = x86_64 ]; then
    vm webcam "n_devs=1 node_types=0x80001 num_inputs=1 input_types=0x0"
    vm hdmi "n_devs=1 node_types=0x1 num_inputs=1 input_types=0x3"
else
    vm arm64 "n_devs=1 node_types=0x1 num_inputs=1 input_types=0x0"
fi

say "total $(elapsed); logs in $RESULTS"
# shellcheck disable=SC2086 # one word per group
exec "$PY" "$HERE/check.py" "$RESULTS" "$PROFILE $ARCH campub" $GROUPS_RUN
