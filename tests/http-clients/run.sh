#!/usr/bin/env bash
# tests/http-clients/run.sh: campub --http against real clients on 127.0.0.1 (issue 19):
# headless Chromium over HTTPS with the test certificate trusted, ffmpeg, OpenCV, VLC, curl, Python's
# Prometheus parser and the /status JSON schema of docs/HTTP.md. check.py says what each check
# asserts; it prints one PASS/FAIL line per check and last "N passed, M failed".
#
#   tests/http-clients/run.sh                          # builds the debug campub and tests it
#   CAMPUB=/path/to/campub tests/http-clients/run.sh   # tests that binary, builds nothing
#
# Needs chromium, libnss3-tools (certutil), ffmpeg, vlc-bin, curl and python3-venv (scripts/setup-debian.sh
# --test installs them): a missing one is a failure, never a skip. The Python packages of
# requirements.txt go into a venv under target/, kept between runs. Results, campub's logs and
# the browser's screenshots: target/http-clients/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
say() { echo "http-clients: $*" >&2; }

missing=()
for tool in chromium certutil ffmpeg curl python3 cvlc; do
    command -v "$tool" > /dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "FAIL: ${missing[*]} not installed (scripts/setup-debian.sh --test installs them)"
    exit 1
fi

venv=target/http-clients-venv
requirements=tests/http-clients/requirements.txt
# Made again when requirements.txt changes (a copy of it in the venv says what it holds).
if ! cmp -s "$requirements" "$venv/requirements.txt"; then
    say "installing the Python clients into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/requirements.txt"
fi

if [ -z "${CAMPUB:-}" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
    cargo build -p campub
    CAMPUB=target/debug/campub
fi
exec "$venv/bin/python" tests/http-clients/check.py "$CAMPUB" target/http-clients
