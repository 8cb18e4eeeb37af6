# tests/http-clients/by-hand.sh: what the by-hand client scripts (go2rtc.sh, mediamtx.sh) share.
# Sourced; the script sets `tool` (its name in the PASS/FAIL lines) first.

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

failed=0
check() { # NAME CONDITION...
    local name=$1
    shift
    if "$@"; then echo "$tool: PASS $name"; else echo "$tool: FAIL $name"; failed=$((failed + 1)); fi
}

# pattern FILE: the picture is campub's test pattern (publisher/src/capture/pattern.rs) at
# 640x360: its corner marks and colour bars, by pixel.
pattern() {
    ffmpeg -v error -i "$1" -f rawvideo -pix_fmt rgb24 - | python3 -c '
import sys
w, h, mark = 640, 360, 30
rgb = sys.stdin.buffer.read()
px = lambda x, y: rgb[3 * (y * w + x):3 * (y * w + x) + 3]
near = lambda got, want: all(abs(g - c) <= 60 for g, c in zip(got, want))
corners = {(15, 15): (255, 0, 0), (w - 15, 15): (0, 255, 0), (15, h - 15): (0, 0, 255),
           (w - 15, h - 15): (255, 255, 255)}
bars = [(191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191)]
# Every bar somewhere in three rows (the bouncing box hides at most one bar of one row).
seen = {bar for y in (int(h * 0.2), int(h * 0.4), int(h * 0.6)) for bar in bars
        if sum(near(px(x, y), bar) for x in range(mark, w - mark)) >= 10}
ok = len(rgb) == w * h * 3 and len(seen) == len(bars) \
    and all(near(px(x, y), want) for (x, y), want in corners.items())
sys.exit(0 if ok else 1)'
}
