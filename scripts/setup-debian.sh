#!/usr/bin/env bash
# Installs what building campub and camview needs on Debian or Ubuntu; with --test, also what
# the test suite needs (Xvfb for a real SDL window, python3 with pyzmq for the protocol example,
# python3-venv for the benchmarks' tutorial baseline and the HTTP client tests, iproute2 and
# nftables for the link outage tests, ffmpeg for the exec: source tests and the HTTP client
# tests, chromium and libnss3-tools (certutil) for the HTTP client tests' browser).
# Safe to run again: it installs only what is missing.
set -euo pipefail

want_test=false
[ "${1:-}" = "--test" ] && want_test=true

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

packages=(build-essential pkg-config cmake nasm libclang-dev libzmq3-dev libsdl2-dev curl ca-certificates)
if $want_test; then
    # iproute2 and nftables: e2e/tests/outage.rs (network namespaces, outages, loss); iproute2
    # (ip, tc) and curl: e2e/tests/http_slow_link.rs (an HTTP client behind tbf);
    # ffmpeg: publisher/tests/cameras.rs (exec: sources), http.rs and tests/http-clients;
    # chromium: http.rs and tests/http-clients (the page in a real browser); libnss3-tools
    # (certutil): tests/http-clients (Chromium trusting the test certificate); vlc-bin and
    # vlc-plugin-base: tests/http-clients (VLC reading /stream); xdotool:
    # viewer/tests/grid.rs (keys to the camview grid under Xvfb).
    packages+=(xvfb xauth python3 python3-pip python3-venv iproute2 nftables ffmpeg chromium libnss3-tools openssl vlc-bin vlc-plugin-base xdotool)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: installing Rust with rustup (https://rustup.rs)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if $want_test; then
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
    if ! python3 -c 'import zmq' 2>/dev/null; then
        echo "setup: installing pyzmq"
        python3 -m pip install --quiet pyzmq 2>/dev/null \
            || DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-zmq >/dev/null
    fi
    # publisher/tests/http.rs: /metrics through a real OpenMetrics parser.
    if ! python3 -c 'import prometheus_client' 2>/dev/null; then
        echo "setup: installing prometheus_client (Python)"
        python3 -m pip install --quiet prometheus-client 2>/dev/null \
            || DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-prometheus-client >/dev/null
    fi
fi
