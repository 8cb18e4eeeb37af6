#!/usr/bin/env bash
# The performance measurement of docs/PERFORMANCE.md, in one command: criterion stage benches of
# campub and camview (with the floor, a bare libjpeg-turbo encode, measured beside them), the
# tutorial's Python pipeline on the same frames (installed from PyPI into a venv), and campub ->
# camview end to end on loopback, campub's CPU per frame with 0-50 HTTP and ZeroMQ clients
# (bench-clients), camrelay's CPU and added latency (bench-relay); several runs, medians, ratios,
# one table.
#
#   scripts/bench.sh [--quick] [--runs N] [--profile PROFILE] [--arm]
#
# --quick: short runs, one of each (a smoke test: CI runs it; its numbers are rough).
# --runs N: repetitions of the benches and end-to-end runs (default 3; --quick: 1).
# --profile: cargo profile for the benches and binaries (default: release settings; CI uses dev,
#            whose builds it already has, so its numbers are not the release ones).
# --arm: also build campub for aarch64 (scripts/cross-build.sh --native) to report its size.
# Everything runs under `nice -n 19` (the machine is shared). Results: target/bench/ (report.md,
# summary.json and the raw results). Exits non-zero if any benchmark fails to run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

quick=false
runs=""
profile=release
arm=false
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=true ;;
        --runs) runs="$2"; shift ;;
        --profile) profile="$2"; shift ;;
        --arm) arm=true ;;
        *) sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
    esac
    shift
done
if $quick; then
    runs=${runs:-1}
    criterion_args=(--warm-up-time 0.2 --measurement-time 0.5 --sample-size 10)
    e2e_seconds=3
    tutorial_args=(--runs 1 --frames-per-run 60)
else
    runs=${runs:-3}
    criterion_args=(--warm-up-time 1 --measurement-time 3)
    e2e_seconds=10
    tutorial_args=(--runs 5 --frames-per-run 300)
fi

nice_run() { nice -n 19 "$@"; }
case "$profile" in
    release) cargo_profile=(--release); bench_profile=(); bin_dir=target/release ;;
    dev) cargo_profile=(); bench_profile=(--profile dev); bin_dir=target/debug ;;
    *) cargo_profile=(--profile "$profile"); bench_profile=(--profile "$profile"); bin_dir="target/$profile" ;;
esac

out=target/bench
rm -rf "$out"
mkdir -p "$out"
load() { cut -d' ' -f1-3 /proc/loadavg; }
load_before=$(load)

echo "bench: building ($profile)"
if [ "$profile" = dev ]; then
    # After `cargo test --workspace` (the test command) this builds nothing: the binaries with
    # the features that build unified, the benches of the whole workspace likewise. Packages
    # picked with -p resolve other features and would rebuild half the tree.
    nice_run cargo test --locked --workspace --no-run
    bench_packages=(--workspace)
else
    nice_run cargo build --locked "${cargo_profile[@]}" -p campub -p camview -p camrelay -p cambench --bins
    bench_packages=(-p cambench)
fi
nice_run cargo bench --locked "${bench_profile[@]}" "${bench_packages[@]}" --bench campub --bench camview --no-run
if $arm; then
    nice_run scripts/cross-build.sh --native aarch64-unknown-linux-gnu
fi

# A private X display for camview's window (the benches' texture upload and the RSS run).
display=""
for n in $(seq 90 120); do
    [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] || { display=":$n"; break; }
done
[ -n "$display" ] || { echo "bench: no free X display number" >&2; exit 1; }
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
trap 'kill "$xvfb_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
export DISPLAY="$display"

# The tutorial's Python stack, from PyPI, in a venv kept between runs.
venv=target/bench-venv
if ! "$venv/bin/python" -c 'import cv2, imutils, numpy, zmq' 2>/dev/null; then
    echo "bench: installing the tutorial's packages into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        opencv-python-headless numpy pyzmq imutils
fi

echo "bench: input frames"
frames="$out/frames"
mkdir -p "$frames"
yuyv_sizes=(1280x720)
$quick || yuyv_sizes=(640x480 1280x720 1920x1080)
for size in "${yuyv_sizes[@]}"; do
    nice_run "$bin_dir/bench-frames" yuyv "$size" 30 "$frames/yuyv-$size.raw"
done
for size in 1920x1080 640x480; do
    nice_run "$bin_dir/bench-frames" mjpeg "$size" 30 "$frames/mjpeg-$size.mjpeg"
done

for run in $(seq "$runs"); do
    echo "bench: criterion benches, run $run of $runs"
    rm -rf target/criterion
    nice_run cargo bench --locked "${bench_profile[@]}" "${bench_packages[@]}" --bench campub --bench camview -- "${criterion_args[@]}"
    mkdir -p "$out/run-$run"
    cp -r target/criterion "$out/run-$run/criterion"
done

echo "bench: the tutorial's pipeline"
for size in "${yuyv_sizes[@]}"; do
    nice_run "$venv/bin/python" bench/tutorial_pipeline.py --frames "$frames/yuyv-$size.raw" \
        --size "$size" "${tutorial_args[@]}" > "$out/tutorial-$size.json"
done

echo "bench: end to end"
e2e_cases=("pattern 1280x720" "pattern 1280x720 window")
$quick || e2e_cases+=("pattern 640x480" "pattern 1920x1080" "file:$frames/mjpeg-1920x1080.mjpeg 1920x1080"
    "file:$frames/mjpeg-640x480.mjpeg 640x480")
for run in $(seq "$runs"); do
    for case in "${e2e_cases[@]}"; do
        read -r source size window <<< "$case"
        name="$(case "$source" in file:*) echo mjpeg ;; *) echo "$source" ;; esac)-$size${window:+-window}"
        nice_run python3 bench/e2e.py --campub "$bin_dir/campub" --camview "$bin_dir/camview" \
            --source "$source" --size "$size" --seconds "$e2e_seconds" ${window:+--window} \
            > "$out/e2e-$name-$run.json"
    done
done

echo "bench: campub's CPU per frame with HTTP and ZeroMQ clients"
if $quick; then
    clients_args=(--clients 0,1,10 --seconds 2 --runs 1)
else
    clients_args=(--clients 0,1,10,50 --seconds 10 --runs "$runs")
fi
nice_run "$bin_dir/bench-clients" --campub "$bin_dir/campub" "${clients_args[@]}" > "$out/clients.txt"

echo "bench: camrelay's CPU and added latency against direct subscribers"
if $quick; then
    relay_args=(--viewers 1,10 --grid 2x2 --seconds 2 --runs 1)
else
    relay_args=(--viewers 1,10,100 --grid 8x10 --seconds 10 --runs "$runs")
fi
nice_run "$bin_dir/bench-relay" --campub "$bin_dir/campub" --camrelay "$bin_dir/camrelay" "${relay_args[@]}" > "$out/relay.txt"

size_of() { [ -f "$1" ] && { cp "$1" "$out/stripped"; strip "$out/stripped"; stat -c %s "$out/stripped"; } || echo null; }
x86_bytes=$(size_of target/release/campub)
arm_bytes=$( [ -f target/aarch64-unknown-linux-gnu/release/campub ] \
    && stat -c %s target/aarch64-unknown-linux-gnu/release/campub || echo null)
cat > "$out/machine.json" <<EOF
{"date": "$(date -u +%Y-%m-%dT%H:%MZ)", "cpu": "$(lscpu | sed -n 's/^Model name: *//p' | head -1)",
 "cores": $(nproc), "load_before": "$load_before", "load_after": "$(load)", "profile": "$profile",
 "campub_bytes_x86_64": $x86_bytes, "campub_bytes_aarch64": $arm_bytes}
EOF
{
    python3 bench/report.py "$out"
    printf '\n### CPU per frame with clients (bench-clients: medians of %s runs)\n\n' "$runs"
    grep '^|' "$out/clients.txt"
    printf '\n### camrelay (bench-relay: medians of %s runs)\n\n' "$runs"
    grep '^|' "$out/relay.txt"
} | tee "$out/report.md"
