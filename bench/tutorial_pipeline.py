#!/usr/bin/env python3
"""The tutorial's server pipeline on campub's benchmark frames (the baseline in
docs/PERFORMANCE.md).

Per frame, what the tutorial's server.py does, minus its camera, preview window and sleep:
the frame as OpenCV's camera capture hands it over (YUYV converted to BGR, which is what
cv2.VideoCapture does by default), imutils.resize to 640 wide, cv2.imencode JPEG quality 80,
base64, and a send on a ZeroMQ PUB socket on loopback with a subscriber process attached.

CPU is time.process_time(): every thread of the process (OpenCV's worker threads and libzmq's
I/O thread included). Prints one JSON object: CPU ms per frame for each run, their median, and
the median split by step.

    tutorial_pipeline.py --frames FILE --size WIDTHxHEIGHT [--runs N] [--frames-per-run N]

FILE holds raw YUYV frames back to back (bench-frames yuyv WIDTHxHEIGHT COUNT FILE).
"""

import argparse
import base64
import json
import os
import select
import statistics
import subprocess
import sys
import time

import cv2
import imutils
import numpy as np
import zmq

READY = b"subscribed\n"


def subscribe(endpoint):
    """Subscriber process: receive and drop until the parent goes away."""
    context = zmq.Context()
    sock = context.socket(zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.setsockopt(zmq.RCVTIMEO, 100)
    sock.connect(endpoint)
    parent = os.getppid()
    ready = False
    while os.getppid() == parent:
        try:
            sock.recv()
        except zmq.Again:
            continue
        if not ready:
            ready = True
            sys.stdout.buffer.write(READY)
            sys.stdout.flush()


def load_frames(path, width, height):
    data = open(path, "rb").read()
    frame_bytes = width * height * 2
    if not data or len(data) % frame_bytes:
        sys.exit(f"{path}: {len(data)} bytes is not a whole number of {width}x{height} YUYV frames")
    return [
        np.frombuffer(data, np.uint8, frame_bytes, offset).reshape(height, width, 2)
        for offset in range(0, len(data), frame_bytes)
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", help="file of raw YUYV frames")
    parser.add_argument("--size", help="WIDTHxHEIGHT of the frames")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--frames-per-run", type=int, default=300)
    parser.add_argument("--subscribe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscribe:
        subscribe(args.subscribe)
        return
    if not args.frames or not args.size:
        parser.error("--frames and --size are required")
    width, height = (int(v) for v in args.size.split("x"))
    frames = load_frames(args.frames, width, height)

    context = zmq.Context()
    server_socket = context.socket(zmq.PUB)
    port = server_socket.bind_to_random_port("tcp://127.0.0.1")
    endpoint = f"tcp://127.0.0.1:{port}"
    subscriber = subprocess.Popen(
        [sys.executable, __file__, "--subscribe", endpoint], stdout=subprocess.PIPE
    )
    try:
        # Send until the subscriber has a message: from then on every send really goes out.
        deadline = time.monotonic() + 20
        while True:
            server_socket.send(b"warm-up")
            if select.select([subscriber.stdout], [], [], 0.01)[0]:
                if subscriber.stdout.readline() == READY:
                    break
            if time.monotonic() > deadline:
                sys.exit("the subscriber got nothing within 20 s")

        steps = ["yuyv_to_bgr", "resize", "imencode", "base64", "send"]
        runs, step_runs = [], []
        for _ in range(args.runs):
            spent = dict.fromkeys(steps, 0.0)
            start = time.process_time()
            for i in range(args.frames_per_run):
                t0 = time.process_time()
                # As cv2.VideoCapture delivers a YUYV camera's frame by default.
                frame = cv2.cvtColor(frames[i % len(frames)], cv2.COLOR_YUV2BGR_YUYV)
                t1 = time.process_time()
                frame = imutils.resize(frame, width=640)
                t2 = time.process_time()
                encoded, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
                t3 = time.process_time()
                data = base64.b64encode(buffer)
                t4 = time.process_time()
                server_socket.send(data)
                t5 = time.process_time()
                for name, (a, b) in zip(steps, [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)]):
                    spent[name] += b - a
            runs.append((time.process_time() - start) * 1000 / args.frames_per_run)
            step_runs.append({k: v * 1000 / args.frames_per_run for k, v in spent.items()})
        print(
            json.dumps(
                {
                    "size": args.size,
                    "output": f"{frame.shape[1]}x{frame.shape[0]}",
                    "frames_per_run": args.frames_per_run,
                    "cpu_ms_per_frame_runs": [round(r, 4) for r in runs],
                    "cpu_ms_per_frame": round(statistics.median(runs), 4),
                    "steps_ms": {
                        k: round(statistics.median(s[k] for s in step_runs), 4) for k in steps
                    },
                    "jpeg_bytes": int(buffer.size),
                    "opencv": cv2.__version__,
                    "opencv_threads": cv2.getNumThreads(),
                    "numpy": np.__version__,
                    "pyzmq": zmq.__version__,
                }
            )
        )
    finally:
        subscriber.kill()
        subscriber.wait()


if __name__ == "__main__":
    main()
