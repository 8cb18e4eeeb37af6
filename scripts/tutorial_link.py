#!/usr/bin/env python3
"""The tutorial's sockets on a link, for docs/WIFI.md's side-by-side run.

Relays campub's base64 frames (campub --wire base64, on a fast loopback socket) through a PUB
socket set up exactly as the tutorial's server.py sets its up (libzmq defaults: high-water mark
1000, kernel buffers autotuned), and receives them as client.py does (SUB defaults, recv, base64
decode), through whatever sits between --pub and --sub (linksim). Every --report-every seconds it
prints one JSON line: frames received, fps, and the age of each frame from the moment the relay
sent it to the moment the client had decoded its base64 (p50/p95/max, ms).

    tutorial_link.py --source tcp://127.0.0.1:5560 --pub tcp://127.0.0.1:5561 \
                     --sub tcp://127.0.0.1:6561 --seconds 120
"""
import argparse
import base64
import json
import sys
import threading
import time

import zmq


def percentile(sorted_ms, p):
    if not sorted_ms:
        return None
    rank = max(1, -(-len(sorted_ms) * p // 100))
    return round(sorted_ms[int(rank) - 1], 1)


def relay(context, source, pub, sent_at, stop):
    """server.py's side: one PUB with the library's defaults, sending each frame as it comes."""
    incoming = context.socket(zmq.SUB)
    incoming.connect(source)
    incoming.setsockopt_string(zmq.SUBSCRIBE, "")
    incoming.setsockopt(zmq.RCVTIMEO, 200)
    server_socket = context.socket(zmq.PUB)  # as in server.py: no options
    server_socket.bind(pub)
    while not stop.is_set():
        try:
            data = incoming.recv()
        except zmq.Again:
            continue
        sent_at[hash(data)] = time.monotonic()
        server_socket.send(data)
    server_socket.close(linger=0)
    incoming.close(linger=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="campub --wire base64 endpoint")
    parser.add_argument("--pub", required=True, help="where the tutorial-style PUB binds")
    parser.add_argument("--sub", required=True, help="where the tutorial-style SUB connects")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--report-every", type=float, default=10)
    args = parser.parse_args()

    context = zmq.Context()
    sent_at = {}
    stop = threading.Event()
    relay_thread = threading.Thread(
        target=relay, args=(context, args.source, args.pub, sent_at, stop), daemon=True
    )
    relay_thread.start()

    client_socket = context.socket(zmq.SUB)  # as in client.py
    client_socket.connect(args.sub)
    client_socket.setsockopt_string(zmq.SUBSCRIBE, "")
    client_socket.setsockopt(zmq.RCVTIMEO, 200)

    started = time.monotonic()
    window_start, ages, frames = started, [], 0
    while time.monotonic() - started < args.seconds:
        try:
            frame = client_socket.recv()
        except zmq.Again:
            frame = None
        now = time.monotonic()
        if frame is not None:
            base64.b64decode(frame)
            sent = sent_at.pop(hash(frame), None)
            if sent is not None:
                ages.append((time.monotonic() - sent) * 1000.0)
            frames += 1
        if now - window_start >= args.report_every:
            ages.sort()
            print(json.dumps({
                "t_s": round(now - started, 1),
                "frames": frames,
                "fps": round(frames / (now - window_start), 2),
                "age_ms": {"p50": percentile(ages, 50), "p95": percentile(ages, 95),
                           "max": round(ages[-1], 1) if ages else None},
            }), flush=True)
            window_start, ages, frames = now, [], 0
        # Frames the client will never get (dropped at a full queue) must not pile up here.
        if len(sent_at) > 10_000:
            cutoff = now - 60
            for key in [k for k, t in sent_at.items() if t < cutoff]:
                del sent_at[key]
    stop.set()
    relay_thread.join(timeout=2)
    client_socket.close(linger=0)
    context.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
