#!/usr/bin/env python3
"""End to end on loopback: campub -> camview, the real binaries, as docs/PERFORMANCE.md reports.

campub publishes a source at a fixed rate; camview subscribes (headless, or with a window on
the current DISPLAY) for a fixed time. Prints one JSON object with, for each process, CPU ms
per frame (from the kernel: /proc/PID/stat while both run, and getrusage of the child at exit),
RSS while running and its peak (VmRSS, VmHWM from /proc/PID/status: getrusage's ru_maxrss
would report this script's own size, which a child keeps across exec), and camview's frame rate and capture-to-decoded latency percentiles.

    e2e.py --campub PATH --camview PATH --source pattern|file:PATH --size WxH
           [--fps 30] [--seconds 10] [--window]
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP_S = 1.5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    """utime + stime of a running process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0])
    return out


def wait_rusage(proc, timeout_s):
    """Waits for a child (killing it after timeout_s) and returns (status, rusage)."""
    deadline = time.monotonic() + timeout_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        if time.monotonic() > deadline:
            proc.kill()
            timeout_s = float("inf")
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campub", required=True)
    parser.add_argument("--camview", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--size", required=True)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--window", action="store_true", help="camview with a window (needs DISPLAY)")
    args = parser.parse_args()

    endpoint = f"tcp://127.0.0.1:{free_port()}"
    campub = subprocess.Popen(
        [args.campub, "--source", args.source, "--size", args.size, "--fps", str(args.fps),
         "--bind", endpoint, "--stats-interval", "0", "--log-level", "warn"],
        stderr=subprocess.PIPE,
    )
    camview = None
    try:
        time.sleep(WARM_UP_S)
        if campub.poll() is not None:
            sys.exit(f"campub exited early: {campub.stderr.read().decode(errors='replace')}")
        view_args = [args.camview, endpoint, "--duration", str(WARM_UP_S + args.seconds)]
        view_args += [] if args.window else ["--headless"]
        camview = subprocess.Popen(view_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Both running and connected: measure a window of `seconds`.
        time.sleep(WARM_UP_S)
        pub_cpu0, view_cpu0, t0 = cpu_s(campub.pid), cpu_s(camview.pid), time.monotonic()
        time.sleep(args.seconds * 0.98)
        pub_cpu1, view_cpu1, t1 = cpu_s(campub.pid), cpu_s(camview.pid), time.monotonic()
        pub_rss, view_rss = rss_kb(campub.pid), rss_kb(camview.pid)

        view_status, view_usage = wait_rusage(camview, args.seconds + 30)
        view_out = camview.stdout.read().decode()
        view_err = camview.stderr.read().decode(errors="replace")
        if view_status != 0:
            sys.exit(f"camview exited {view_status}: {view_err}")
        campub.send_signal(signal.SIGTERM)
        pub_status, pub_usage = wait_rusage(campub, 10)
        if pub_status != 0:
            sys.exit(f"campub exited {pub_status}: {campub.stderr.read().decode(errors='replace')}")
    finally:
        for proc in (camview, campub):
            if proc is not None and proc.returncode is None:
                proc.kill()
                proc.wait()

    window_s = t1 - t0
    if args.window:
        m = re.search(r"shown (\d+) frames in ([\d.]+) s \(([\d.]+) fps\)", view_err)
        if not m:
            sys.exit(f"no summary line from camview: {view_err}")
        frames, fps = int(m.group(1)), float(m.group(3))
        summary = {"frames_shown": frames, "fps": fps}
    else:
        summary = json.loads(view_out)
        frames, fps = summary["frames_shown"], summary["fps"]
    # Frames in the measured window, at the rate camview saw them (camview keeps up at 30 fps;
    # the "fps" checks that).
    window_frames = max(fps * window_s, 1)
    result = {
        "source": args.source,
        "size": args.size,
        "fps_asked": args.fps,
        "window": args.window,
        "measured_s": round(window_s, 3),
        "camview_fps": fps,
        "camview_frames": frames,
        "campub_cpu_ms_per_frame": round((pub_cpu1 - pub_cpu0) * 1000 / window_frames, 3),
        "camview_cpu_ms_per_frame": round((view_cpu1 - view_cpu0) * 1000 / window_frames, 3),
        "campub_cpu_ms_lifetime": round((pub_usage.ru_utime + pub_usage.ru_stime) * 1000, 1),
        "camview_cpu_ms_lifetime": round((view_usage.ru_utime + view_usage.ru_stime) * 1000, 1),
        "campub_rss_kb": pub_rss.get("VmRSS"),
        "campub_hwm_kb": pub_rss.get("VmHWM"),
        "camview_rss_kb": view_rss.get("VmRSS"),
        "camview_hwm_kb": view_rss.get("VmHWM"),
    }
    if not args.window:
        result["latency_ms"] = summary.get("latency_ms")
        result["skipped"] = summary.get("skipped")
        result["bad_messages"] = summary.get("bad_messages")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
