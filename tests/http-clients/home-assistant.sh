#!/usr/bin/env bash
# tests/http-clients/home-assistant.sh: Home Assistant's MJPEG camera against campub --http with
# Basic auth (home_assistant.py says what is checked). Run by hand, not by the test command:
# Home Assistant from PyPI is a 400 MB venv (target/ha-venv, kept between runs). docs/HTTP.md,
# "Home Assistant".
#
#   tests/http-clients/home-assistant.sh            # builds the debug campub
#   CAMPUB=... tests/http-clients/home-assistant.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
# 2024.3.3: the newest that installs on Debian 12's Python 3.11. numpy and PyTurboJPEG are what
# HA's camera and stream components import; HA would pip-install them at its first start.
requirements="homeassistant==2024.3.3 numpy==1.26.0 PyTurboJPEG==1.7.1"
venv=target/ha-venv
if [ "$(cat "$venv/requirements" 2> /dev/null)" != "$requirements" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    # shellcheck disable=SC2086 # one word per requirement
    "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements
    echo "$requirements" > "$venv/requirements"
fi
if [ -z "${CAMPUB:-}" ]; then
    cargo build -p campub >&2
    CAMPUB=$PWD/target/debug/campub
fi
out=$PWD/target/ha-test
rm -rf "$out"
mkdir -p "$out"
echo "a-long-password" | "$CAMPUB" passwd "$out/users" ann > /dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
zmq_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$CAMPUB" --source pattern --bind "tcp://127.0.0.1:$zmq_port" --no-announce --http "127.0.0.1:$port" \
    --http-users "$out/users" > "$out/campub.log" 2>&1 &
campub=$!
trap 'kill $campub 2> /dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "first frame published" "$out/campub.log" && break
    sleep 0.1
done
status=0
timeout 180 "$venv/bin/python" tests/http-clients/home_assistant.py "http://127.0.0.1:$port" ann \
    a-long-password "$out" 2> "$out/ha.log" || status=$?
[ $status -eq 0 ] && echo "home-assistant: PASS" || { tail -n 20 "$out/ha.log" >&2; echo "home-assistant: FAIL ($status)"; }
exit $status
