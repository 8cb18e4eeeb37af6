#!/usr/bin/env bash
# docs/WIFI.md's longer run: the same emulated slow link (linksim) first between campub and
# camview, then between the tutorial's sockets (scripts/tutorial_link.py), one after the other
# so they do not compete for the CPU. Prints each side's per-interval JSON lines and a summary.
#
#   scripts/wifi-compare.sh [--seconds 120] [--rate 2M] [--report-every 10]
#
# The link: --rate (default 2M, about half of the test pattern's ~4 Mbit/s at quality 80),
# 20 ms ± 10 ms, 1 % loss, 50 ms queue; after --seconds it is uncapped for 20 s more (recovery).
# Everything stays on 127.0.0.1. Needs python3 with pyzmq (python3-zmq).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds=120
rate=2M
every=10
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --report-every) every=$2; shift 2 ;;
        *) echo "usage: $0 [--seconds N] [--rate R] [--report-every S]" >&2; exit 2 ;;
    esac
done
python3 -c 'import zmq' 2>/dev/null || {
    echo "wifi-compare: needs pyzmq: apt-get install python3-zmq" >&2
    exit 1
}

cargo build --release -q -p campub -p camview -p linksim
bin=target/release
out=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
total=$((seconds + 20))
link=(--rate "$rate" --delay-ms 20 --jitter-ms 10 --loss-percent 1 --queue-ms 50
    --at "$seconds=0" --report-s 0)

echo "wifi-compare: campub -> linksim ($rate) -> camview, ${seconds} s + 20 s recovered"
"$bin/campub" --source pattern --bind tcp://127.0.0.1:7601 --stats-interval "$every" \
    2>"$out/campub.log" &
pids+=($!)
"$bin/linksim" --listen 127.0.0.1:7602 --upstream 127.0.0.1:7601 "${link[@]}" 2>"$out/linksim.log" &
pids+=($!)
sleep 1
"$bin/camview" --headless --duration "$total" --report-every "$every" tcp://127.0.0.1:7602 \
    >"$out/camview.jsonl" 2>"$out/camview.log"
cleanup
pids=()
grep stats: "$out/campub.log" | tail -n 3 | sed 's/^/  campub: /'
grep t_s "$out/camview.jsonl" | sed 's/^/  camview: /'

echo "wifi-compare: tutorial sockets (PUB/SUB defaults) -> linksim ($rate), same frames and link"
"$bin/campub" --source pattern --wire base64 --bind tcp://127.0.0.1:7611 --stats-interval 0 \
    2>"$out/campub-b64.log" &
pids+=($!)
"$bin/linksim" --listen 127.0.0.1:7613 --upstream 127.0.0.1:7612 "${link[@]}" 2>"$out/linksim2.log" &
pids+=($!)
sleep 1
python3 scripts/tutorial_link.py --source tcp://127.0.0.1:7611 --pub tcp://127.0.0.1:7612 \
    --sub tcp://127.0.0.1:7613 --seconds "$total" --report-every "$every" >"$out/tutorial.jsonl"
cleanup
pids=()
sed 's/^/  tutorial: /' "$out/tutorial.jsonl"

python3 - "$out/camview.jsonl" "$out/tutorial.jsonl" "$seconds" <<'PY'
import json, statistics, sys
def rows(path, key):
    out = []
    for line in open(path):
        v = json.loads(line)
        if "t_s" in v:
            out.append((v["t_s"], v["fps"], v[key]["p95"]))
    return out
constrained_s = float(sys.argv[3])
for name, path, key in [("campub+camview", sys.argv[1], "latency_ms"), ("tutorial", sys.argv[2], "age_ms")]:
    r = rows(path, key)
    slow = [x for x in r if x[0] <= constrained_s and x[2] is not None]
    fast = [x for x in r if x[0] > constrained_s + 10 and x[2] is not None]
    if not slow:
        print(f"{name}: no interval with frames"); continue
    print(f"{name}: constrained: median fps {statistics.median(x[1] for x in slow):.1f}, "
          f"p95 age first interval {slow[0][2]:.0f} ms, last {slow[-1][2]:.0f} ms, "
          f"worst {max(x[2] for x in slow):.0f} ms"
          + (f"; recovered: fps {fast[-1][1]:.1f}, p95 {fast[-1][2]:.0f} ms" if fast else ""))
PY
rm -rf "$out"
