#!/usr/bin/env bash
# tests/http-clients/go2rtc.sh: go2rtc taking campub's /stream as a source (docs/HTTP.md,
# "go2rtc"): campub --http with Basic auth, once over plain HTTP and once over HTTPS with a
# `campub tls-selfsigned` certificate that go2rtc trusts through SSL_CERT_FILE; go2rtc with both
# as http:// and https:// sources, and one with a wrong password. Checked, through go2rtc:
#   - /api/frame.jpeg: a 640x360 JPEG that ffmpeg decodes (both sources);
#   - /api/stream.mjpeg: go2rtc's own MJPEG restream, at least 20 JPEG parts in 2 s;
#   - rtsp://…/pi: go2rtc's RTSP server, codec mjpeg 640x360, 30 frames that ffmpeg decodes;
#   - the wrong password: no picture, go2rtc logs the refusal and campub logs the failed login.
# Run by hand, not by the test command: go2rtc is a Go program, and neither its release binaries
# (github.com) nor Go's module proxy are reachable from CI's machine. Give it a go2rtc binary:
#
#   GO2RTC=/path/to/go2rtc tests/http-clients/go2rtc.sh          # builds the debug campub
#   GO2RTC=... CAMPUB=... tests/http-clients/go2rtc.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
[ -x "${GO2RTC:-}" ] || { echo "go2rtc: set GO2RTC to a go2rtc binary" >&2; exit 2; }
if [ -z "${CAMPUB:-}" ]; then
    cargo build -p campub >&2
    CAMPUB=$PWD/target/debug/campub
fi
out=$PWD/target/go2rtc-test
rm -rf "$out"
mkdir -p "$out"
tool=go2rtc
# shellcheck source=tests/http-clients/by-hand.sh
. tests/http-clients/by-hand.sh
echo "a-long-password" | "$CAMPUB" passwd "$out/users" ann > /dev/null
"$CAMPUB" tls-selfsigned "$out/cert.pem" "$out/key.pem" --name 127.0.0.1 > /dev/null
http=$(free_port) https=$(free_port) api=$(free_port) rtsp=$(free_port)
pids=()
trap 'kill "${pids[@]}" 2> /dev/null || true' EXIT
start_campub() { # NAME HTTP_PORT [ARGS...]
    "$CAMPUB" --source pattern --bind "tcp://127.0.0.1:$(free_port)" --no-announce \
        --http "127.0.0.1:$2" --http-users "$out/users" "${@:3}" > "$out/campub-$1.log" 2>&1 &
    pids+=($!)
}
start_campub http "$http"
start_campub https "$https" --http-cert "$out/cert.pem" --http-key "$out/key.pem"
for name in http https; do
    for _ in $(seq 100); do
        grep -qs "first frame published" "$out/campub-$name.log" && break
        sleep 0.1
    done
done
cat > "$out/go2rtc.yaml" <<EOF
log:
  level: debug
api:
  listen: "127.0.0.1:$api"
rtsp:
  listen: "127.0.0.1:$rtsp"
webrtc:
  listen: ""
streams:
  pi: http://ann:a-long-password@127.0.0.1:$http/stream
  pi_tls: https://ann:a-long-password@127.0.0.1:$https/stream
  wrong: http://ann:not-the-password@127.0.0.1:$http/stream
EOF
# Go reads the trusted roots from SSL_CERT_FILE (crypto/x509, on Linux).
SSL_CERT_FILE=$out/cert.pem "$GO2RTC" -c "$out/go2rtc.yaml" > "$out/go2rtc.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$api/api/streams" && break
    sleep 0.1
done

picture_ok() { # FILE: a 640x360 JPEG that ffmpeg decodes without an error, of the test pattern
    [ "$(ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 "$1")" = "mjpeg,640,360" ] \
        && [ -z "$(ffmpeg -v error -i "$1" -f null - 2>&1)" ] && pattern "$1"
}
frame() { # STREAM FILE
    curl -s -m 20 -o "$2" "http://127.0.0.1:$api/api/frame.jpeg?src=$1"
}
check "frame.jpeg over HTTP is campub's picture" eval 'frame pi "$out/pi.jpg" && picture_ok "$out/pi.jpg"'
check "frame.jpeg over HTTPS is campub's picture" eval 'frame pi_tls "$out/pi_tls.jpg" && picture_ok "$out/pi_tls.jpg"'

# go2rtc's MJPEG restream: count the JPEG parts that arrive in 2 s.
curl -s -m 2 -o "$out/stream.mjpeg" "http://127.0.0.1:$api/api/stream.mjpeg?src=pi" || true
parts=$(python3 -c 'import sys; print(open(sys.argv[1], "rb").read().count(b"\xff\xd8\xff"))' "$out/stream.mjpeg")
echo "go2rtc: $parts JPEG parts in 2 s from /api/stream.mjpeg"
check "stream.mjpeg restreams campub" [ "$parts" -ge 20 ]

probe=$(timeout 30 ffprobe -v error -rtsp_transport tcp -show_entries stream=codec_name,width,height \
    -of csv=p=0 "rtsp://127.0.0.1:$rtsp/pi" 2> "$out/ffprobe.log" || true)
echo "go2rtc: RTSP stream: $probe"
check "RTSP serves campub's MJPEG" [ "$probe" = "mjpeg,640,360" ]
decoded=$(timeout 60 ffmpeg -v error -rtsp_transport tcp -i "rtsp://127.0.0.1:$rtsp/pi" -frames:v 30 \
    -f framemd5 - 2> "$out/rtsp-errors.log" | grep -c '^0,' || true)
# Joining mid-picture, ffmpeg's RTP depacketizer drops the packets before the first picture's
# start ("Received packet without a start chunk"): not a decoding error; anything else is.
grep -v -e "Received packet without a start chunk" -e "Last message repeated" \
    "$out/rtsp-errors.log" > "$out/rtsp-decode-errors.log" || true
check "30 RTSP frames decode without an error" eval '[ "$decoded" -eq 30 ] && [ ! -s "$out/rtsp-decode-errors.log" ]'

frame wrong "$out/wrong.jpg" || true
check "a wrong password gets no picture" [ ! -s "$out/wrong.jpg" ]
check "go2rtc says why" grep -q 'unsupported auth: Basic realm' "$out/go2rtc.log"
check "campub logs the failed login" grep -q "HTTP: wrong credentials from 127.0.0.1" "$out/campub-http.log"

echo "go2rtc: $("$GO2RTC" -version 2>&1 | head -n 1)"
[ "$failed" -eq 0 ] && echo "go2rtc: all passed" || { echo "go2rtc: $failed failed (logs in $out)"; exit 1; }
