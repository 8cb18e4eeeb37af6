#!/usr/bin/env bash
# Soak test: campub (test pattern, 1280x720 at 30 fps -> 640x360, CURVE with an allow-list) ->
# camview --headless on loopback for DURATION seconds (default 600), sampling both processes'
# resident memory (VmRSS in /proc/PID/status) and open file descriptors (/proc/PID/fd) after a
# warm-up and again just before the end. Prints the figures, the load average and camview's
# JSON summary; fails if either process died, camview showed no frames, or a figure grew by
# more than the limits below (memory 8 MB, descriptors 4).
#
#   scripts/soak.sh [--duration S] [--plain] [--release]
#
# --plain: no CURVE. --release: the release build (slower to build) instead of target/debug.
# Results are kept in target/soak/ (logs, summary.json, figures.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

duration=600
curve=true
profile=debug
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration="$2"; shift 2 ;;
        --plain) curve=false; shift ;;
        --release) profile=release; shift ;;
        *) sed -n '2,13s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
    esac
done
warmup=15
[ "$duration" -gt $((warmup + 20)) ] || { echo "soak: --duration must be over $((warmup + 20)) s" >&2; exit 2; }
max_rss_growth_kb=$((8 * 1024))
max_fd_growth=4

if [ "$profile" = release ]; then
    nice -n 19 cargo build --release -p campub -p camview
else
    nice -n 19 cargo build -p campub -p camview
fi
bin="${CARGO_TARGET_DIR:-target}/$profile"
out="${CARGO_TARGET_DIR:-target}/soak"
rm -rf "$out"
mkdir -p "$out"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pub_args=()
view_args=()
if $curve; then
    "$bin/campub" keygen "$out/server" >/dev/null
    "$bin/camview" --keygen "$out/viewer" >/dev/null
    pub_args=(--curve-secret-key "$out/server.key_secret" --allow "$out/viewer.key")
    view_args=(--server-key "$out/server.key" --key "$out/viewer.key_secret")
fi

"$bin/campub" --source pattern --size 1280x720 --fps 30 --stats-interval 60 \
    --bind "tcp://127.0.0.1:$port" "${pub_args[@]}" 2>"$out/campub.log" &
pub=$!
"$bin/camview" --headless --duration "$duration" "${view_args[@]}" "tcp://127.0.0.1:$port" \
    >"$out/summary.json" 2>"$out/camview.log" &
view=$!
trap 'kill $pub $view 2>/dev/null || true' EXIT

sample() { # PID -> "RSS_KB FDS"
    echo "$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status") $(ls "/proc/$1/fd" | wc -l)"
}
alive() { kill -0 "$1" 2>/dev/null; }

started=$SECONDS
sleep "$warmup"
alive "$pub" && alive "$view" || { echo "soak: a process died during warm-up" >&2; cat "$out"/*.log >&2; exit 1; }
read -r pub_rss0 pub_fd0 <<<"$(sample "$pub")"
read -r view_rss0 view_fd0 <<<"$(sample "$view")"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
sleep $((duration - (SECONDS - started) - 5))
alive "$pub" && alive "$view" || { echo "soak: a process died" >&2; cat "$out"/*.log >&2; exit 1; }
read -r pub_rss1 pub_fd1 <<<"$(sample "$pub")"
read -r view_rss1 view_fd1 <<<"$(sample "$view")"
load1=$(cut -d' ' -f1-3 /proc/loadavg)
status=0
wait "$view" || status=$?
kill -TERM "$pub"
wait "$pub" || true
trap - EXIT

{
    echo "soak: $duration s, campub -> camview on loopback, CURVE $curve, $profile build, $(nproc) cores"
    echo "load average (1/5/15 min): $load0 after warm-up, $load1 at the end"
    printf '%-8s %12s %12s %10s %10s\n' process "RSS start kB" "RSS end kB" "fds start" "fds end"
    printf '%-8s %12s %12s %10s %10s\n' campub "$pub_rss0" "$pub_rss1" "$pub_fd0" "$pub_fd1"
    printf '%-8s %12s %12s %10s %10s\n' camview "$view_rss0" "$view_rss1" "$view_fd0" "$view_fd1"
    echo "camview: $(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("%s frames, %s fps, skipped %s, bad %s, latency p50 %s ms p95 %s ms, longest gap %s ms" % (s["frames_shown"], s["fps"], s["skipped"], s["bad_messages"], s["latency_ms"]["p50"], s["latency_ms"]["p95"], s["max_gap_ms"]))' "$out/summary.json")"
} | tee "$out/figures.txt"

failed=0
[ "$status" -eq 0 ] || { echo "soak: camview exited $status" >&2; failed=1; }
for who in pub view; do
    rss0_var=${who}_rss0 rss1_var=${who}_rss1 fd0_var=${who}_fd0 fd1_var=${who}_fd1
    if [ $((${!rss1_var} - ${!rss0_var})) -gt "$max_rss_growth_kb" ]; then
        echo "soak: $who memory grew from ${!rss0_var} to ${!rss1_var} kB" >&2; failed=1
    fi
    if [ $((${!fd1_var} - ${!fd0_var})) -gt "$max_fd_growth" ]; then
        echo "soak: $who descriptors grew from ${!fd0_var} to ${!fd1_var}" >&2; failed=1
    fi
done
[ "$failed" -eq 0 ] && echo "soak: ok" || echo "soak: FAILED"
exit "$failed"
