#!/usr/bin/env bash
# tests/http-clients/mediamtx.sh: MediaMTX taking campub's /stream (docs/HTTP.md, "MediaMTX"):
# MediaMTX has no MJPEG-over-HTTP source, so its documented way in is an ffmpeg it runs itself
# (runOnInit) that reads campub's /stream with Basic auth and publishes it, unchanged, to
# MediaMTX's RTSP server. Checked, through MediaMTX:
#   - ffmpeg publishes one M-JPEG track to the path (MediaMTX's log), and ffprobe reads
#     rtsp://…/pi as mjpeg 640x360;
#   - 30 frames read from MediaMTX decode without an error, and one of them is the test
#     pattern (corner marks and colour bars, by pixel);
#   - a path whose ffmpeg has a wrong password gets nothing published (ffmpeg's 401 is in
#     MediaMTX's log), and campub logs the failed login.
# Run by hand, not by the test command: MediaMTX is a Go program, and neither its release binaries
# (github.com) nor Go's module proxy are reachable from CI's machine. Give it a MediaMTX binary:
#
#   MEDIAMTX=/path/to/mediamtx tests/http-clients/mediamtx.sh          # builds the debug campub
#   MEDIAMTX=... CAMPUB=... tests/http-clients/mediamtx.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
[ -x "${MEDIAMTX:-}" ] || { echo "mediamtx: set MEDIAMTX to a MediaMTX binary" >&2; exit 2; }
if [ -z "${CAMPUB:-}" ]; then
    cargo build -p campub >&2
    CAMPUB=$PWD/target/debug/campub
fi
out=$PWD/target/mediamtx-test
rm -rf "$out"
mkdir -p "$out"
tool=mediamtx
# shellcheck source=tests/http-clients/by-hand.sh
. tests/http-clients/by-hand.sh
echo "a-long-password" | "$CAMPUB" passwd "$out/users" ann > /dev/null
http=$(free_port) rtsp=$(free_port)
pids=()
trap 'kill "${pids[@]}" 2> /dev/null || true' EXIT
"$CAMPUB" --source pattern --bind "tcp://127.0.0.1:$(free_port)" --no-announce \
    --http "127.0.0.1:$http" --http-users "$out/users" > "$out/campub.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    grep -qs "first frame published" "$out/campub.log" && break
    sleep 0.1
done
# MediaMTX's own settings: only its RTSP server, on 127.0.0.1, TCP only; everything else off.
publish() { # PASSWORD: the runOnInit command, as MediaMTX's docs give it for an HTTP source
    echo "ffmpeg -nostdin -v error -i http://ann:$1@127.0.0.1:$http/stream -c:v copy -f rtsp -rtsp_transport tcp rtsp://127.0.0.1:\$RTSP_PORT/\$MTX_PATH"
}
cat > "$out/mediamtx.yml" <<EOF
logLevel: info
rtsp: yes
protocols: [tcp]
encryption: "no"
rtspAddress: 127.0.0.1:$rtsp
rtmp: no
hls: no
webrtc: no
srt: no
api: no
metrics: no
pprof: no
playback: no
paths:
  pi:
    runOnInit: $(publish a-long-password)
    runOnInitRestart: yes
  wrong:
    runOnInit: $(publish not-the-password)
    runOnInitRestart: yes
EOF
"$MEDIAMTX" "$out/mediamtx.yml" > "$out/mediamtx.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
    grep -qs "is publishing to path 'pi'" "$out/mediamtx.log" && break
    sleep 0.1
done

check "ffmpeg publishes campub's MJPEG to the path" grep -q "is publishing to path 'pi', 1 track (M-JPEG)" "$out/mediamtx.log"
probe=$(timeout 30 ffprobe -v error -rtsp_transport tcp -show_entries stream=codec_name,width,height \
    -of csv=p=0 "rtsp://127.0.0.1:$rtsp/pi" 2> "$out/ffprobe.log" || true)
echo "mediamtx: RTSP stream: $probe"
check "RTSP serves campub's MJPEG" [ "$probe" = "mjpeg,640,360" ]
decoded=$(timeout 60 ffmpeg -v error -rtsp_transport tcp -i "rtsp://127.0.0.1:$rtsp/pi" -frames:v 30 \
    -f framemd5 - 2> "$out/rtsp-errors.log" | grep -c '^0,' || true)
# Joining mid-picture, ffmpeg's RTP depacketizer drops the packets before the first picture's
# start ("Received packet without a start chunk"): not a decoding error; anything else is.
grep -v -e "Received packet without a start chunk" -e "Last message repeated" \
    "$out/rtsp-errors.log" > "$out/rtsp-decode-errors.log" || true
check "30 RTSP frames decode without an error" eval '[ "$decoded" -eq 30 ] && [ ! -s "$out/rtsp-decode-errors.log" ]'
timeout 30 ffmpeg -v error -rtsp_transport tcp -i "rtsp://127.0.0.1:$rtsp/pi" -frames:v 1 -c:v copy \
    -f image2 "$out/frame.jpg" || true
check "a frame through MediaMTX is campub's picture" pattern "$out/frame.jpg"
check "a wrong password: nothing published, ffmpeg's 401 in MediaMTX's log" eval \
    '! grep -q "publishing to path .wrong." "$out/mediamtx.log" && grep -q "not-the-password.*401 Unauthorized" "$out/mediamtx.log"'
check "campub logs the failed login" grep -q "HTTP: wrong credentials from 127.0.0.1" "$out/campub.log"

echo "mediamtx: $("$MEDIAMTX" --version 2>&1 | head -n 1)"
[ "$failed" -eq 0 ] && echo "mediamtx: all passed" || { echo "mediamtx: $failed failed (logs in $out)"; exit 1; }
