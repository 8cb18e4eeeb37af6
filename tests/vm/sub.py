#!/usr/bin/env python3
"""Host-side subscriber for the VM tests: receives campub's native messages through qemu's
port forward on loopback until SIGTERM, checks each one against docs/PROTOCOL.md and writes a
JSON summary per stream name (the guest gives every campub run its own --stream), and the last
JPEG of each stream as STREAM.jpg next to the summary (check.py compares pictures).

    sub.py tcp://127.0.0.1:PORT summary.json
"""
import json
import os
import signal
import struct
import sys
import time

import zmq

HEADER = struct.Struct("<4sBBHQQHHI")  # magic, version, codec, header_len, seq, ns, w, h, len


def jpeg_size(jpeg):
    """(width, height) from the JPEG's SOFn segment, or None."""
    if jpeg[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(jpeg):
        if jpeg[i] != 0xFF:
            return None
        marker = jpeg[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", jpeg[i + 5:i + 9])
            return (w, h)
        i += 2 + length
    return None


def parse(msg):
    """(stream, seq, width, height, jpeg) of a valid native message; raises ValueError otherwise."""
    nul = msg.find(b"\0", 0, 66)
    if nul < 1:
        raise ValueError("no stream name")
    stream = msg[:nul].decode("ascii")
    magic, version, codec, hlen, seq, _ns, w, h, plen = HEADER.unpack_from(msg, nul + 1)
    if magic != b"CAMF" or version != 1 or codec != 1 or hlen < 32:
        raise ValueError(f"bad header {magic!r} v{version} codec {codec} len {hlen}")
    jpeg = msg[nul + 1 + hlen:]
    if len(jpeg) != plen:
        raise ValueError(f"payload_len {plen} but {len(jpeg)} bytes follow")
    if jpeg[-2:] != b"\xff\xd9":
        raise ValueError("JPEG does not end with FF D9")
    if jpeg_size(jpeg) != (w, h):
        raise ValueError(f"JPEG is {jpeg_size(jpeg)}, header says {(w, h)}")
    return stream, seq, w, h, jpeg


def main():
    endpoint, out = sys.argv[1], sys.argv[2]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.setsockopt(zmq.RCVHWM, 10000)
    sock.setsockopt(zmq.RCVTIMEO, 200)
    sock.setsockopt(zmq.MAXMSGSIZE, 16 << 20)
    # qemu's user-net accepts our connection at once and then retries its own connection to the
    # guest with a growing back-off, so a connection made while the VM boots could start
    # carrying frames seconds after campub began (7 s measured). Give up on a connection that
    # has not greeted within 1 s instead: the next attempt reaches a listening campub at once.
    sock.setsockopt(zmq.HANDSHAKE_IVL, 1000)
    sock.connect(endpoint)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    streams = {}
    last_jpeg = {}
    malformed = []
    while not stop:
        try:
            msg = sock.recv()
        except zmq.Again:
            continue
        t = time.monotonic()
        try:
            name, seq, w, h, jpeg = parse(msg)
        except (ValueError, struct.error, UnicodeDecodeError) as e:
            malformed.append(str(e))
            continue
        s = streams.setdefault(name, {"received": 0, "first_seq": seq, "last_seq": None,
                                      "gaps": 0, "restarts": 0, "sizes": {},
                                      "first_t": t, "last_t": t})
        if s["last_seq"] is not None:
            if seq > s["last_seq"]:
                s["gaps"] += seq - s["last_seq"] - 1
            else:
                s["restarts"] += 1
        s["last_seq"] = seq
        last_jpeg[name] = jpeg
        s["received"] += 1
        s["last_t"] = t
        key = f"{w}x{h}"
        s["sizes"][key] = s["sizes"].get(key, 0) + 1
    for s in streams.values():
        span = s["last_t"] - s["first_t"]
        s["span_s"] = round(span, 3)
        s["rate_fps"] = round((s["received"] - 1) / span, 2) if span > 0 else 0.0
        del s["first_t"], s["last_t"]
    for name, jpeg in last_jpeg.items():
        with open(os.path.join(os.path.dirname(os.path.abspath(out)), f"{name}.jpg"), "wb") as f:
            f.write(jpeg)
    with open(out, "w") as f:
        json.dump({"streams": streams, "malformed": malformed[:20],
                   "malformed_count": len(malformed)}, f, indent=1)


if __name__ == "__main__":
    main()
