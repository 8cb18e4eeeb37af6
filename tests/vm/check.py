#!/usr/bin/env python3
"""Judges the VM tests (tests/vm/run.sh): reads what guest.sh recorded inside the VMs (campub's
logs, exit statuses, timings) and what sub.py received on the host, prints one PASS/FAIL line
per test, the measured numbers, and last the line "N passed, M failed". Exit status 1 if any
test failed.

    check.py RESULTS_DIR LABEL GROUP...

GROUP: the VMs that ran (webcam and hdmi for x86_64, arm64 for the aarch64 campub); only their
tests are judged.

The subscriber's RECEIVED rate is held to the driver's rate within 10 % on the webcam input, at
rates the emulated CPU sustains (guest.sh chooses them, README.md says why). At vivid's HDMI
30 fps only the capture rate is: above 640x480 campub's encoder cannot keep up in a
software-emulated VM and drops frames by design (newest frame wins). Set
CAMPUB_VM_STRICT_RATE=1 (with CAMPUB_VM_ACCEL=kvm) to hold the received rate at 30 fps too.
"""
import json
import os
import re
import subprocess
import sys

if len(sys.argv) < 4:
    sys.exit(__doc__)
RESULTS, LABEL, GROUPS = sys.argv[1], sys.argv[2], sys.argv[3:]
STATS_S = 2.0  # guest.sh runs campub with --stats-interval 2
TOLERANCE = 0.10
# Upward, 15 %: under emulation vivid itself delivers MORE than its nominal rate at 1920x1080:
# some buffers repeat the previous sequence number (v4l2-ctl --stream-mmap --verbose in the VM:
# 13 repeats in 180 frames, 32 with two busy guest CPUs). Apparently its capture thread times its
# sleep from the start of a frame's fill, so a fill longer than half a frame period (slow under
# emulation) makes it wake early, round to the same frame slot and deliver it again. campub
# dequeues them all: 30.8-32.8 fps measured per run, single 2 s windows up to 33.9.
OVER_TOLERANCE = 0.15
STRICT_RATE = os.environ.get("CAMPUB_VM_STRICT_RATE") == "1"


class Fail(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Fail(message)


def read(*path):
    p = os.path.join(RESULTS, *path)
    try:
        with open(p) as f:
            return f.read().strip()
    except OSError:
        raise Fail(f"{os.path.relpath(p, RESULTS)} is missing (the VM step did not run; see vm.log)")


def number(*path):
    text = read(*path)
    check(re.fullmatch(r"-?\d+", text), f"{'/'.join(path)}: not a number: {text!r}")
    return int(text)


STATS = re.compile(r"stats: captured ([\d.]+) fps, published ([\d.]+) fps, dropped (\d+) \(encoder busy\)"
                   r" \+ (\d+) \(source\), (\d+) bad,.* processing ([\d.]+) ms/frame \(max ([\d.]+)\)")


IDLE = re.compile(r"idle \(nobody watching\): (\d+) frames not encoded")


def stats_lines(log):
    """The stats windows; "idle" is the frames captured while nobody watched (campub encodes
    none of them: before the host's subscriber connected, say)."""
    keys = ("captured", "published", "dropped", "source", "bad", "proc_ms", "proc_max_ms")
    windows = []
    for line in log.splitlines():
        m = STATS.search(line)
        if m:
            w = dict(zip(keys, map(float, m.groups())))
            idle = IDLE.search(line)
            w["idle"] = float(idle.group(1)) if idle else 0.0
            windows.append(w)
    return windows


SLOW = re.compile(r"published ([\d.]+) fps,.*subscribers? \(\d+ on a slow link, the slowest gets (\d+) % of the stream\)")


def slow_windows(log):
    """[(published fps, share of the stream the slowest subscriber got)] of the stats windows in
    which campub reported a subscriber on a link slower than the stream."""
    return [(float(m.group(1)), int(m.group(2)) / 100) for m in SLOW.finditer(log)]


def received(group):
    try:
        with open(os.path.join(RESULTS, group, "received.json")) as f:
            return json.load(f)
    except OSError:
        raise Fail(f"{group}/received.json is missing (the host subscriber did not finish)")


def not_hung(group, step):
    if os.path.exists(os.path.join(RESULTS, group, step, "hung")):
        raise Fail(f"{step}: campub {read(group, step, 'hung')}")


def exited_cleanly(group, step, limit_ms):
    """campub got SIGTERM: exit 0, promptly, saying so."""
    not_hung(group, step)
    rc, ms = number(group, step, "rc"), number(group, step, "exit_ms")
    check(rc == 0, f"{step}: exit status {rc} after SIGTERM, expected 0")
    check(ms <= limit_ms, f"{step}: took {ms} ms to exit after SIGTERM (limit {limit_ms})")
    check("INFO ] stopped" in read(group, step, "campub.log"), f"{step}: no 'stopped' in the log")
    return ms


MEASURED = []  # lines for the measurements block


def requested(group, step):
    """(size, fps) that guest.sh asked campub for in this step (its `args` file)."""
    args = read(group, step, "args").split()
    try:
        return args[args.index("--size") + 1], int(args[args.index("--fps") + 1])
    except (ValueError, IndexError):
        raise Fail(f"{step}: no --size and --fps in its args: {args}")


def output_size(size):
    """What campub publishes for a capture size: 640 wide, the height to scale, rounded to even."""
    w, h = map(int, size.split("x"))
    return f"640x{round(h * 640 / w / 2) * 2}"


def streamed(group, step, size, out_size, fps, hold_received=False, fourcc="YUYV"):
    """The checks every streaming run shares; with hold_received (or CAMPUB_VM_STRICT_RATE=1)
    the rate the host received must be the driver's within 10 % too. Returns a one-line summary."""
    log = read(group, step, "campub.log")
    src = f"source: /dev/video0 {fourcc} {size} at {fps:.2f} fps"
    check(src in log, f"{step}: expected '{src}' in the log:\n{log}")
    exit_ms = exited_cleanly(group, step, 2000)
    windows = stats_lines(log)
    check(len(windows) >= 3, f"{step}: only {len(windows)} stats lines in the log:\n{log}")
    # The first window includes start-up; judge the steady state.
    steady = windows[1:]
    cap = sum(w["captured"] for w in steady) / len(steady)
    pub = sum(w["published"] for w in steady) / len(steady)
    check((1 - TOLERANCE) * fps <= cap <= (1 + OVER_TOLERANCE) * fps,
          f"{step}: captured {cap:.1f} fps on average, the driver delivers {fps:g} "
          f"(-10 %/+{OVER_TOLERANCE * 100:.0f} %); per stats window: " + ", ".join(f"{w['captured']:g}" for w in steady))
    # Every captured frame is published, dropped because the encoder was busy (newest frame
    # wins), bad, or captured while nobody watched: per window, captured - published - bad -
    # dropped - idle = 0 (+-2 at the edges), for a window length between the interval and the
    # interval + one frame's processing.
    for i, w in enumerate(windows):
        lo, hi = STATS_S, STATS_S + w["proc_max_ms"] / 1000 + 0.3
        rest = [(w["captured"] - w["published"]) * e - w["bad"] - w["dropped"] - w["idle"]
                for e in (lo, hi)]
        check(min(rest) - 2 <= 0 <= max(rest) + 2,
              f"{step}: stats window {i + 1} does not add up: {w}")
    # What the subscriber got.
    rx = received(group)
    check(rx["malformed_count"] == 0, f"{group}: {rx['malformed_count']} malformed messages: {rx['malformed']}")
    s = rx["streams"].get(step)
    check(s is not None, f"{step}: the host subscriber received no frame of this stream")
    check(s["received"] >= 10, f"{step}: only {s['received']} frames received")
    check(s["sizes"] == {out_size: s["received"]}, f"{step}: JPEG sizes {s['sizes']}, expected all {out_size}")
    check(s["restarts"] == 0, f"{step}: sequence numbers went back {s['restarts']} times")
    # A missing sequence number is either dropped for a slow subscriber (campub's design: the
    # newest frame replaces one the link could not take yet; campub counts the link as slow
    # and reports it) or lost (never allowed). On a loaded host qemu's port forward can be
    # slower than the stream for a moment: then campub's stats line for that window says "1 on
    # a slow link, the slowest gets N % of the stream", and at most the missing share of that
    # window's frames (+2 at its edges) may be missing. A gap with no such report is a loss,
    # with one exception: campub judges a link slow when it delivered under 90 % of a window's
    # bytes, and cannot resolve a single replaced frame (1/60 of a 2-s window at 30 fps; a
    # frame in flight at a window's edge looks the same), so ONE missing frame in the whole
    # run, unreported, is a replacement below that resolution (seen once in CI at 720p30, the
    # host's cores busy with other jobs); two are a loss.
    slow = slow_windows(log)
    dropped_allowed = sum(pub_fps * (STATS_S + 0.3) * (1 - share) + 2 for pub_fps, share in slow)
    check(s["gaps"] <= 1 or slow,
          f"{step}: {s['gaps']} frames LOST: sequence numbers missing while campub reported every "
          "subscriber keeping up with the stream")
    check(s["gaps"] <= max(dropped_allowed, 1),
          f"{step}: {s['gaps']} sequence numbers missing, more than campub's slow-link reports account "
          f"for ({dropped_allowed:.0f}: {slow})")
    # The subscriber's view must match campub's count: last_seq + 1 frames were published up to
    # the last one received; the stats windows (each at least STATS_S long) account for at
    # least sum(published * STATS_S) of them, at most that plus one window's overshoot each and
    # the time after the last stats line; up to 4 queued frames may die with the socket.
    pub_lo = sum(w["published"] * STATS_S for w in windows)
    slack = STATS_S + max(w["proc_max_ms"] for w in windows) / 1000 + 0.3
    pub_hi = sum(w["published"] * slack for w in windows) + max(w["published"] for w in windows) * slack
    n = s["last_seq"] + 1
    check(pub_lo - 4 - len(windows) <= n <= pub_hi + 2,
          f"{step}: campub's stats say {pub_lo:.0f}..{pub_hi:.0f} frames published, the subscriber "
          f"saw sequence numbers up to {s['last_seq']}")
    if hold_received or STRICT_RATE:
        check(abs(s["rate_fps"] - fps) <= TOLERANCE * fps,
              f"{step}: received {s['rate_fps']} fps, the driver delivers {fps:g} (+-10 %); campub "
              f"published {pub:.1f} fps, processing {sum(w['proc_ms'] for w in steady) / len(steady):.0f} ms/frame")
    fill = os.path.join(RESULTS, group, step, "vivid_fill_percent")
    fill = f" (vivid drew {read(group, step, 'vivid_fill_percent')} % of each frame)" if os.path.exists(fill) else ""
    MEASURED.append(
        f"{step:8} {size:>9} -> {out_size}{fill}: captured {cap:5.1f} fps "
        f"({min(w['captured'] for w in steady):g}..{max(w['captured'] for w in steady):g}), "
        f"published {pub:5.1f} fps, received {s['rate_fps']:5.1f} fps ({s['received']} frames, "
        f"seq {s['first_seq']}..{s['last_seq']}, {s['gaps']} dropped for a slow link), encoder-busy drops "
        f"{sum(w['dropped'] for w in steady) / len(steady) / STATS_S:4.1f}/s, source drops "
        f"{sum(w['source'] for w in steady):g}, processing "
        f"{sum(w['proc_ms'] for w in steady) / len(steady):.0f} ms/frame, SIGTERM->exit {exit_ms} ms")
    why = "reported by campub" if slow else "one, below campub's resolution"
    gaps = "no gaps" if s["gaps"] == 0 else f"{s['gaps']} dropped for a slow link ({why}), none lost"
    return (f"{s['received']} JPEGs {out_size}, {gaps}; captured {cap:.1f} fps (driver {fps:g}), "
            f"published {pub:.1f} fps, received {s['rate_fps']:.1f} fps")


TESTS = []


def test(group, name):
    """Registers a test of what the VM `group` recorded."""
    def register(fn):
        TESTS.append((group, name, fn))
        return fn
    return register


for group in ("webcam", "hdmi", "arm64"):
    @test(group, f"the '{group}' VM boots, loads vivid and runs guest.sh to the end")
    def _(group=group):
        rc = number(group, "vm.rc")
        log = read(group, "vm.log")
        check(rc == 0, f"vm.sh exit status {rc}:\n{log[-3000:]}")
        return f"{group}/.vm/console.log has the guest console"


# The V4L2 formats campub reads (publisher/src/capture/layout.rs), in --format auto's order.
READ_BY_CAMPUB_ORDER = ["MJPG", "YUYV", "UYVY", "NV12", "YU12", "NV21", "YV12"]
READ_BY_CAMPUB = set(READ_BY_CAMPUB_ORDER)


def listed_formats(group):
    """campub --list-formats of this VM: {fourcc: {"usable": bool, "sizes": {size: [fps...]}}}."""
    rc = number(group, "formats", "rc")
    check(rc == 0, f"campub --list-formats: exit status {rc} (137: killed after the time limit): "
          + read(group, "formats", "stderr"))
    out = read(group, "formats", "stdout")
    ours, cur = {}, None
    for line in out.splitlines():
        if m := re.match(r"  (\S.{3}(?:-BE)?) ", line):
            name = m.group(1)
            cur = ours.setdefault(name, {"usable": "not read by campub" not in line, "sizes": {}})
        elif (m := re.match(r"    (\d+x\d+)  fps: (.*)", line)) and cur is not None:
            cur["sizes"][m.group(1)] = sorted(float(x) for x in m.group(2).split())
    check("YUYV" in ours and ours["YUYV"]["usable"], f"YUYV missing or not marked usable:\n{out}")
    usable = {f for f, v in ours.items() if v["usable"]}
    expected = READ_BY_CAMPUB & set(ours)
    check(usable == expected, f"marked usable: {sorted(usable)}; campub reads {sorted(expected)} of them "
          "(no MJPG in vivid)")
    yuyv = ours["YUYV"]["sizes"]
    check({"640x480", "1280x720", "1920x1080"} <= set(yuyv) and "800x600" not in yuyv,
          f"unexpected webcam sizes {sorted(yuyv)}")
    return ours


@test("webcam", "1a --list-formats lists what vivid offers (same formats and YUYV sizes/rates as v4l2-ctl)")
def _():
    ours = listed_formats("webcam")
    ref = read("webcam", "formats", "v4l2-ctl.txt")
    theirs, cur, size = {}, None, None
    for line in ref.splitlines():
        if m := re.search(r"\[\d+\]: '([^']+)'", line):
            cur = theirs.setdefault(m.group(1), {})
        elif m := re.search(r"Size: Discrete (\d+x\d+)", line):
            size = m.group(1)
            cur[size] = []
        elif m := re.search(r"Interval: Discrete .*\(([\d.]+) fps\)", line):
            cur[size].append(float(m.group(1)))
    check(set(ours) == set(theirs), f"campub lists {sorted(ours)}, v4l2-ctl {sorted(theirs)}")
    yuyv = ours["YUYV"]["sizes"]
    ref_yuyv = {k: sorted(round(x, 3) for x in v) for k, v in theirs["YUYV"].items()}
    check({k: [round(x, 3) for x in v] for k, v in yuyv.items()} == ref_yuyv,
          f"YUYV sizes/rates differ: campub {yuyv}, v4l2-ctl {ref_yuyv}")
    return f"{len(ours)} formats; YUYV sizes {', '.join(yuyv)}"


@test("webcam", "1b --size 800x600 on the webcam input: nearest size 640x480 with a warning, streamed")
def _():
    log = read("webcam", "nearest", "campub.log")
    for want in ("WARN ] /dev/video0: asked for 800x600, the driver granted the nearest size it has: 640x480",
                 "WARN ] /dev/video0: asked for 30 fps, the driver granted 25.00 fps"):
        check(want in log, f"expected '{want}' in the log:\n{log}")
    return streamed("webcam", "nearest", "640x480", "640x480", 25)


# Sizes and rates: guest.sh's (its args files), granted as asked (streamed() checks the log).
for step in ("cam480", "cam720", "cam1080"):
    @test("webcam", f"2a {step}: YUYV on the webcam input at a rate the emulated CPU sustains -> 640 wide JPEGs "
          "on the host, none lost (drops only for a link campub reports slow), capture rate -10 %/+15 %, received rate +-10 %")
    def _(step=step):
        size, fps = requested("webcam", step)
        return f"{size} at {fps} fps: " + streamed("webcam", step, size, output_size(size), fps, hold_received=True)


for step, size, timings in (("hd480", "640x480", "1080p30 scaled"), ("hd720", "1280x720", "720p30"),
                            ("hd1080", "1920x1080", "1080p30")):
    @test("hdmi", f"2b YUYV {size} at 30 fps (HDMI {timings}) -> {output_size(size)} JPEGs on the host, none lost, "
          f"capture rate -10 %/+15 %{', received rate +-10 %' if STRICT_RATE else ''}")
    def _(step=step, size=size):
        return streamed("hdmi", step, size, output_size(size), 30)


def bar_colours(group, stream):
    """The mean RGB of the middle of each of the 8 colour bars of vivid's pattern in the last
    JPEG the host received of `stream` (decoded by the host's ffmpeg)."""
    path = os.path.join(RESULTS, group, f"{stream}.jpg")
    check(os.path.exists(path), f"{stream}: no JPEG saved by the host subscriber")
    try:
        rgb = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", path, "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise Fail(f"cannot decode {path} with ffmpeg (scripts/setup-debian.sh --test installs it): {e}")
    w, h = 640, 480
    check(len(rgb) == w * h * 3, f"{stream}: decoded {len(rgb)} bytes, expected a 640x480 picture")
    bars = []
    for i in range(8):
        x0 = i * w // 8 + w // 32
        patch = [rgb[(y * w + x) * 3 + c] for y in range(h // 2 - 40, h // 2 + 40, 4)
                 for x in range(x0, x0 + w // 16, 4) for c in range(3)]
        bars.append(tuple(round(sum(patch[c::3]) / (len(patch) // 3)) for c in range(3)))
    return bars


# The other V4L2 formats, converted in campub's copy out of the driver's buffer: the same
# picture as YUYV (a swapped U/V or a misplaced plane changes the bars' colours).
for fourcc in ("UYVY", "NV12", "YU12"):
    @test("webcam", f"2c {fourcc} on the webcam input -> 640x480 JPEGs on the host, none lost, the colour bars "
          "as in the YUYV stream (within 24 per channel)")
    def _(fourcc=fourcc):
        step = f"fmt-{fourcc.lower()}"
        size, fps = requested("webcam", step)
        summary = streamed("webcam", step, size, output_size(size), fps, hold_received=True, fourcc=fourcc)
        ours, ref = bar_colours("webcam", step), bar_colours("webcam", "cam480")
        worst = max(abs(a - b) for bar, ref_bar in zip(ours, ref) for a, b in zip(bar, ref_bar))
        check(worst <= 24, f"{step}: bars {ours}, YUYV's {ref}")
        return f"{summary}; bars within {worst} of YUYV's {ref}"


@test("webcam", "3 a device offering none of campub's formats (vivid touch node): clear error naming what it offers")
def _():
    ref = read("webcam", "touch", "v4l2-ctl.txt")
    offered = re.findall(r"\[\d+\]: '(\S{4})'", ref)
    check(offered and not READ_BY_CAMPUB & set(offered), f"v4l2-ctl says:\n{ref}")
    not_hung("webcam", "touch")
    rc, ms = number("webcam", "touch", "rc"), number("webcam", "touch", "exit_ms")
    log = read("webcam", "touch", "campub.log")
    want = ("ERROR] /dev/v4l-touch0 offers none of the formats campub reads (MJPEG, YUYV, UYVY, NV12, "
            f"YU12, NV21, YV12); it offers: {', '.join(offered)}")
    check(rc == 1, f"exit status {rc}, expected 1:\n{log}")
    check(want in log, f"expected '{want}' in the log:\n{log}")
    check(ms < 5000, f"took {ms} ms to fail")
    return f"exit 1 after {ms} ms: ...it offers: {', '.join(offered)}"


@test("hdmi", "4 camera lost mid-stream (vivid unbound): exit 1 within 2 s with 'lost mid-stream', no hang")
def _():
    not_hung("hdmi", "lost")
    check(number("hdmi", "lost", "unbind_rc") == 0, "the unbind failed")
    check(not os.path.exists(os.path.join(RESULTS, "hdmi", "lost", "device_still_there")), "/dev/video0 still exists")
    rc, ms, unbind = number("hdmi", "lost", "rc"), number("hdmi", "lost", "exit_ms"), number("hdmi", "lost", "unbind_ms")
    log = read("hdmi", "reopen", "campub.log")
    check(rc == 1, f"exit status {rc}, expected 1:\n{log}")
    check(re.search(r"ERROR\] camera /dev/video0 was lost mid-stream: .+", log), f"no 'lost mid-stream' error:\n{log}")
    check(ms <= 2000, f"exited {ms} ms after the unbind started (limit 2000)")
    MEASURED.append(f"lost     unbind took {unbind} ms; campub exited {ms} ms after the unbind started")
    return f"exit 1, {ms} ms after the unbind started (the unbind itself took {unbind} ms)"


@test("hdmi", "5 clean stop: SIGTERM -> exit 0, and a second campub opens /dev/video0 at once and gets frames")
def _():
    ms = exited_cleanly("hdmi", "stop", 2000)
    first = number("hdmi", "reopen", "first_frame_ms")
    log = read("hdmi", "reopen", "campub.log")
    errors = [line for line in log.splitlines() if "ERROR" in line and "lost mid-stream" not in line]
    check(not errors, f"the second campub logged an error:\n{log}")
    s = received("hdmi")["streams"].get("reopen")
    check(s and s["received"] > 0 and list(s["sizes"]) == ["640x360"],
          f"the host received no proper frame from the second campub: {s}")
    MEASURED.append(f"stop     SIGTERM->exit {ms} ms; the next campub published its first frame "
                    f"{first} ms after it started")
    return f"exit 0 in {ms} ms; second campub's first frame {first} ms after start, {s['received']} received"


CONTROL = re.compile(r"^\s*(\w+) (0x[0-9a-f]{8}) \((\S+)\)\s*:(.*)$")


def controls_listing(text):
    """A --list-ctrls-menus style listing: {name: {"id", "type", "fields", "rest", "menu"}}."""
    out, cur = {}, None
    for line in text.splitlines():
        if m := CONTROL.match(line):
            cur = out[m.group(1)] = {"id": m.group(2), "type": m.group(3), "rest": m.group(4),
                                     "fields": dict(re.findall(r"(\w+)=([^\s,]+)", m.group(4))), "menu": {}}
        elif (m := re.match(r"^\s+(\d+): (.*)$", line)) and cur is not None:
            cur["menu"][int(m.group(1))] = m.group(2).strip()
    return out


@test("webcam", "6a --list-controls lists every control v4l2-ctl lists: same id, type, range, step, default, "
      "current value and menu entries")
def _():
    rc = number("webcam", "controls", "rc")
    check(rc == 0, f"campub --list-controls: exit status {rc}: " + read("webcam", "controls", "stderr"))
    ours = controls_listing(read("webcam", "controls", "stdout"))
    theirs = controls_listing(read("webcam", "controls", "v4l2-ctl.txt"))
    check(len(theirs) > 20, f"v4l2-ctl lists only {sorted(theirs)}")
    check(set(ours) == set(theirs), f"only campub lists {sorted(set(ours) - set(theirs))}, "
          f"only v4l2-ctl {sorted(set(theirs) - set(ours))}")
    values = 0
    for name, t in theirs.items():
        o = ours[name]
        check((o["id"], o["type"]) == (t["id"], t["type"]),
              f"{name}: campub says {o['id']} ({o['type']}), v4l2-ctl {t['id']} ({t['type']})")
        scalar = t["type"] in ("int", "int64", "bool", "menu", "intmenu", "bitmask") and "dims=" not in t["rest"]
        keys = ["min", "max", "step", "default"]
        if scalar and "volatile" not in t["rest"]:
            keys.append("value")
        for key in keys:
            if key not in t["fields"]:
                continue
            # v4l2-ctl prints a bitmask's value as a signed 32-bit number, campub in hex.
            mask = 0xFFFFFFFF if t["type"] == "bitmask" else -1
            mine = o["fields"].get(key)
            check(mine is not None and int(mine, 0) & mask == int(t["fields"][key], 0) & mask,
                  f"{name}: {key}={mine} in campub's listing, {t['fields'][key]} in v4l2-ctl's")
            values += key == "value"
        # v4l2-ctl prints an integer menu's entries as "5 (0x5)", campub as "5".
        menu = {i: label.split()[0] if t["type"] == "intmenu" else label for i, label in t["menu"].items()}
        check(o["menu"] == menu, f"{name}: menu entries {o['menu']} in campub's listing, {menu} in v4l2-ctl's")
    menus = sum(1 for t in theirs.values() if t["menu"])
    return f"{len(theirs)} controls ({menus} menus, {values} current values compared), all as v4l2-ctl lists them"


@test("webcam", "6b --control brightness=200 --control contrast=90 --control horizontal_flip=1: set when the "
      "camera opens, and v4l2-ctl reads them back while campub streams")
def _():
    exited_cleanly("webcam", "ctlbright", 2000)
    log = read("webcam", "ctlbright", "campub.log")
    want = {"brightness": 200, "contrast": 90, "horizontal_flip": 1}
    for name, value in want.items():
        check(f"INFO ] /dev/video0: control {name}={value}" in log, f"campub did not log {name}={value}:\n{log}")
    readback = read("webcam", "ctlbright", "readback.txt")
    got = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+): (-?\d+)$", readback, re.M)}
    check(got == want, f"v4l2-ctl -C read back {got}, campub was asked for {want}:\n{readback}")
    return "v4l2-ctl -C: " + ", ".join(f"{k}={v}" for k, v in got.items())


def luma(group, stream):
    """Mean luma (0-255) of the last JPEG the host received of `stream`: (whole, left quarter,
    right quarter)."""
    path = os.path.join(RESULTS, group, f"{stream}.jpg")
    check(os.path.exists(path), f"{stream}: no JPEG saved by the host subscriber")
    with open(path, "rb") as f:
        head = f.read(4096)
    size = None
    i = 2
    while i + 9 <= len(head) and head[i] == 0xFF:  # SOF0..: height and width of the picture
        marker, length = head[i + 1], int.from_bytes(head[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            size = (int.from_bytes(head[i + 7:i + 9], "big"), int.from_bytes(head[i + 5:i + 7], "big"))
            break
        i += 2 + length
    check(size is not None, f"{path}: no frame size in the JPEG")
    w, h = size
    gray = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                          capture_output=True, timeout=60)
    check(gray.returncode == 0 and len(gray.stdout) == w * h,
          f"{path}: ffmpeg could not decode it: {gray.stderr.decode(errors='replace')}")
    px = gray.stdout
    q = w // 4
    left = sum(sum(px[r * w:r * w + q]) for r in range(h)) / (q * h)
    right = sum(sum(px[r * w + w - q:r * w + w]) for r in range(h)) / (q * h)
    return sum(px) / (w * h), left, right


@test("webcam", "6c the picture follows the controls: brighter with brightness=200 than with 70 (mean luma, a margin "
      "of 40), and vivid's colour bars mirrored by horizontal_flip=1")
def _():
    bright, dark = luma("webcam", "ctlbright"), luma("webcam", "ctldark")
    exited_cleanly("webcam", "ctldark", 2000)
    text = (f"mean luma {bright[0]:.0f} (left quarter {bright[1]:.0f}, right {bright[2]:.0f}) with brightness=200 "
            f"horizontal_flip=1; {dark[0]:.0f} ({dark[1]:.0f}, {dark[2]:.0f}) with brightness=70 horizontal_flip=0")
    check(bright[0] >= dark[0] + 40, f"not brighter: {text}")
    # The bars run from white on the left to black on the right; flipped, the other way round.
    check(dark[1] >= dark[2] + 20, f"unflipped, the left quarter should be the brighter: {text}")
    check(bright[2] >= bright[1] + 20, f"flipped, the right quarter should be the brighter: {text}")
    return text + " (webcam/ctlbright.jpg, webcam/ctldark.jpg)"


@test("webcam", "6d an unknown control and an out-of-range value: exit 2 at open, the log names the controls "
      "there are / the valid range")
def _():
    details = []
    for step, want in (("ctlunknown", 'ERROR] /dev/video0: --control brightnes=100: no control "brightnes"; '
                        "the camera has: brightness, contrast, "),
                       ("ctlrange", "ERROR] /dev/video0: --control brightness=300: 300 is out of range: "
                        "brightness takes 0 to 255 in steps of 1 (default 128)")):
        not_hung("webcam", step)
        rc, log = number("webcam", step, "rc"), read("webcam", step, "campub.log")
        check(rc == 2, f"{step}: exit status {rc}, expected 2:\n{log}")
        check(want in log, f"{step}: expected '{want}' in the log:\n{log}")
        check("first frame published" not in log, f"{step}: it streamed:\n{log}")
        details.append(f"{step}: exit 2 after {number('webcam', step, 'exit_ms')} ms")
    return "; ".join(details)


@test("arm64", "A1 the aarch64 campub's --list-formats on vivid's webcam input: all its formats, YUYV usable")
def _():
    ours = listed_formats("arm64")
    check(len(ours) > 1, f"only {sorted(ours)} listed; vivid offers dozens of formats")
    yuyv = ours["YUYV"]["sizes"]
    return f"{len(ours)} formats; YUYV sizes {', '.join(yuyv)}"


@test("arm64", "A2 the aarch64 campub streams YUYV from vivid -> 640 wide JPEGs on the host, none lost, "
      "capture rate -10 %/+15 %, received rate +-10 %")
def _():
    size, fps = requested("arm64", "arm480")
    return f"{size} at {fps} fps: " + streamed("arm64", "arm480", size, output_size(size), fps, hold_received=True)


def others_cores():
    """{group: cores that other processes on the host kept busy while its VM ran}."""
    out = {}
    for group in GROUPS:
        try:
            out[group] = float(read(group, "host_others_cores"))
        except (Fail, ValueError):
            pass
    return out


passed = failed = 0
busy = others_cores()
print(f"campub VM tests ({LABEL})" if LABEL else "campub VM tests")
unknown = set(GROUPS) - {group for group, _, _ in TESTS}
if unknown:
    sys.exit(f"check.py: no tests for {sorted(unknown)}")
for group, name, fn in TESTS:
    if group not in GROUPS:
        continue
    try:
        detail = fn()
        passed += 1
        print(f"PASS  {name}\n      {detail}")
    except Exception as e:  # Fail, or a surprise in what was recorded
        failed += 1
        why = str(e) if isinstance(e, Fail) else f"{type(e).__name__}: {e}"
        if ("captured" in why or "received" in why) and max(busy.values(), default=0) >= 0.5:
            why += ("\n(the host was busy: other processes kept "
                    + ", ".join(f"{c:.1f} cores busy during the {g} VM" for g, c in busy.items())
                    + f" of {os.cpu_count()}; the emulated CPUs then cannot generate and capture"
                    " 1920x1080 at 30 fps, and campub needs up to twice its usual time per frame;"
                    " see tests/vm/README.md)")
        print(f"FAIL  {name}\n      " + why.replace("\n", "\n      "))
if MEASURED or busy:
    print("measured:")
    for line in MEASURED:
        print("  " + line)
    for g, c in busy.items():
        print(f"  host     other processes kept {c:.2f} of {os.cpu_count()} cores busy during the {g} VM")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
