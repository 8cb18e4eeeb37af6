#!/usr/bin/env python3
"""The Windows camview.exe under wine (run.sh sets up wine, Xvfb and the app folder) against the
real Linux campub on 127.0.0.1: its version; headless JSON with frames; a window whose
screenshot shows the test pattern (corner marks and colour bars checked pixel by pixel); CURVE
with keys camview.exe wrote itself, the viewer's public key on campub's allow-list; and a key
campub does not allow: no frame, the refusal in the JSON and on the screen; and mDNS discovery,
campub in one network namespace, camview.exe --discover in another (root).

    check.py --campub PATH --app DIR --out DIR
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time

RESULTS = []
STEP_TIMEOUT_S = 120
WIDTH_PX, HEIGHT_PX = 640, 360


def check(ok, message):
    if not ok:
        raise AssertionError(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Campub:
    """The Linux campub with the test pattern on 127.0.0.1, until stop()."""

    def __init__(self, binary, out, name, extra=(), bind=None):
        self.endpoint = bind or f"tcp://127.0.0.1:{free_port()}"
        self.log_path = os.path.join(out, f"campub-{name}.log")
        self.log = open(self.log_path, "w")
        command = binary if isinstance(binary, list) else [binary]
        self.proc = subprocess.Popen(
            [*command, "--source", "pattern", "--size", "1280x720", "--fps", "30",
             "--stats-interval", "0", "--bind", self.endpoint, *extra],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while "first frame published" not in self.read_log():
            check(self.proc.poll() is None, f"campub exited: {self.read_log()}")
            check(time.monotonic() < deadline, f"campub did not start: {self.read_log()}")
            time.sleep(0.05)

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def camview(app, *args, timeout=STEP_TIMEOUT_S):
    """camview.exe ARGS under wine, in the app folder (paths are relative to it)."""
    return subprocess.run(["wine", os.path.join(app, "camview.exe"), *args], cwd=app,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def summary(run):
    lines = [l for l in run.stdout.splitlines() if l.startswith("{")]
    check(lines, f"no JSON on stdout (exit {run.returncode}); stderr:\n{run.stderr[-2000:]}")
    return json.loads(lines[-1])


def rgb_of(png):
    """The PNG's pixels as rows of (r, g, b), decoded by ffmpeg."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=width,height", "-of", "csv=p=0", png],
                           capture_output=True, text=True, check=True)
    width, height = map(int, probe.stdout.strip().split(","))
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", png, "-f", "rawvideo", "-pix_fmt",
                          "rgb24", "-"], capture_output=True, check=True).stdout
    check(len(raw) == width * height * 3, f"{png}: {len(raw)} bytes of pixels")
    rows = [[tuple(raw[(y * width + x) * 3:(y * width + x) * 3 + 3]) for x in range(width)]
            for y in range(height)]
    return width, height, rows


# publisher/src/capture/pattern.rs (as tests/http-clients/check.py, there in BGR): a square
# mark in each corner, 1/12 of the height, and 75 % colour bars over the top three quarters.
CORNERS = {"top-left": (255, 0, 0), "top-right": (0, 255, 0), "bottom-left": (0, 0, 255),
           "bottom-right": (255, 255, 255)}
BARS = {"yellow": (191, 191, 0), "cyan": (0, 191, 191), "green": (0, 191, 0),
        "magenta": (191, 0, 191), "red": (191, 0, 0), "blue": (0, 0, 191)}
TOLERANCE = 60  # per channel: JPEG at quality 80, chroma subsampled, scaled


def near(rgb, want):
    return all(abs(a - b) <= TOLERANCE for a, b in zip(rgb, want))


def pattern_problems(png):
    """What is missing of the test pattern in the screenshot: [] when it is all there."""
    width, height, rows = rgb_of(png)
    if (width, height) != (WIDTH_PX, HEIGHT_PX):
        return [f"{width}x{height}, not {WIDTH_PX}x{HEIGHT_PX}"]
    problems = []
    mark = HEIGHT_PX // 12
    spots = {"top-left": (mark // 2, mark // 2), "top-right": (mark // 2, WIDTH_PX - mark // 2),
             "bottom-left": (HEIGHT_PX - mark // 2, mark // 2),
             "bottom-right": (HEIGHT_PX - mark // 2, WIDTH_PX - mark // 2)}
    for corner, (y, x) in spots.items():
        got = rows[y][x]
        if not near(got, CORNERS[corner]):
            problems.append(f"the {corner} mark is {got}")
    seen = set()
    for fraction in (0.2, 0.4, 0.6):
        row = rows[int(HEIGHT_PX * fraction)][mark:WIDTH_PX - mark]
        for name, want in BARS.items():
            if sum(near(p, want) for p in row) >= 10:
                seen.add(name)
    if seen != set(BARS):
        problems.append(f"colour bars missing: {sorted(set(BARS) - seen)}")
    return problems


def test(name):
    def wrap(fn):
        def run(*args):
            started = time.monotonic()
            try:
                detail = fn(*args)
                RESULTS.append(True)
                print(f"PASS  {name} ({time.monotonic() - started:.0f} s)")
                if detail:
                    print(f"      {detail}")
            except (AssertionError, subprocess.SubprocessError, OSError, ValueError) as e:
                RESULTS.append(False)
                print(f"FAIL  {name} ({time.monotonic() - started:.0f} s)\n      {e}")
            sys.stdout.flush()
        return run
    return wrap


@test("camview.exe --version")
def version(app):
    run = camview(app, "--version")
    check(run.returncode == 0 and run.stdout.startswith("camview "),
          f"exit {run.returncode}: {run.stdout!r} {run.stderr[-500:]!r}")
    return run.stdout.strip()


@test("headless: 30 frames from the Linux campub, JSON summary")
def headless(app, campub):
    run = camview(app, "--headless", "--frames", "30", campub.endpoint)
    s = summary(run)
    check(run.returncode == 0, f"exit {run.returncode}: {run.stderr[-1000:]}")
    check(s["frames_shown"] == 30 and (s["width"], s["height"]) == (WIDTH_PX, HEIGHT_PX),
          f"{s}")
    check(s["bad_messages"] == 0 and s["source_format"]["native"] >= 30, f"{s}")
    return f"{s['fps']} fps, latency p50 {s['latency_ms']['p50']} ms"


@test("window (SDL under wine, Xvfb): the screenshot shows the test pattern")
def window(app, campub, out):
    shot = "window.png"
    run = camview(app, "--frames", "45", "--no-banner", "--screenshot", shot, campub.endpoint)
    check(run.returncode == 0, f"exit {run.returncode}: {run.stderr[-1500:]}")
    path = os.path.join(app, shot)
    check(os.path.exists(path), "no screenshot written")
    os.replace(path, os.path.join(out, shot))
    problems = pattern_problems(os.path.join(out, shot))
    check(not problems, f"{shot}: {problems}")
    return f"{out}/{shot}: corner marks and colour bars"


@test("CURVE: keys written by camview.exe, its public key allow-listed: frames")
def curve_allowed(app, campub_bin, out):
    for stem in ("laptop", "stranger"):
        run = camview(app, "--keygen", stem)
        check(run.returncode == 0, f"--keygen {stem}: exit {run.returncode}: {run.stderr}")
        for suffix in (".key", ".key_secret"):
            check(os.path.exists(os.path.join(app, stem + suffix)), f"no {stem}{suffix}")
    server = os.path.join(out, "server")
    subprocess.run([campub_bin, "keygen", server], check=True, capture_output=True)
    subprocess.run(["cp", server + ".key", os.path.join(app, "server.key")], check=True)
    campub = Campub(campub_bin, out, "curve", ["--curve-secret-key", server + ".key_secret",
                                               "--allow", os.path.join(app, "laptop.key")])
    try:
        run = camview(app, "--headless", "--frames", "20", "--server-key", "server.key",
                      "--key", "laptop.key_secret", campub.endpoint)
        s = summary(run)
        check(run.returncode == 0 and s["frames_shown"] == 20, f"exit {run.returncode}: {s}")
        refused = refused_key(app, campub, out)
    finally:
        campub.stop()
    return "20 frames encrypted; " + refused


def refused_key(app, campub, out):
    """A key campub does not allow: no frame, the refusal in the JSON, and on the screen."""
    run = camview(app, "--headless", "--duration", "4", "--server-key", "server.key", "--key",
                  "stranger.key_secret", campub.endpoint)
    s = summary(run)
    check(s["frames_shown"] == 0, f"frames with a refused key: {s}")
    conn = s["connection"][0]
    check(conn["handshakes_failed"] >= 1 and "refused" in (conn["detail"] or ""),
          f"the refusal is not in the JSON: {conn}")
    shot = "refused.png"
    run = camview(app, "--duration", "4", "--screenshot", shot, "--server-key", "server.key",
                  "--key", "stranger.key_secret", campub.endpoint)
    path = os.path.join(app, shot)
    check(os.path.exists(path), f"no screenshot (exit {run.returncode}): {run.stderr[-800:]}")
    os.replace(path, os.path.join(out, shot))
    _, _, rows = rgb_of(os.path.join(out, shot))
    bright = sum(1 for row in rows for p in row if min(p) >= 170)
    problems = pattern_problems(os.path.join(out, shot))
    check(problems, "the refused viewer's window shows the picture")
    check(bright >= 200, f"no text on the refused viewer's window ({bright} bright pixels)")
    return f"a key not allowed: no frame, '{conn['detail']}', {bright} text pixels in {shot}"


# Two hosts on one LAN segment: network namespaces joined by a veth pair, which carries
# multicast (mDNS) like a switch. campub announces in one; camview.exe browses in the other.
LAN = {"ns": ("campub-wine-a", "campub-wine-b"), "veth": ("cwa", "cwb"),
       "addr": ("10.78.0.1", "10.78.0.2")}


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


def lan_down():
    for ns in LAN["ns"]:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def lan_up():
    check(os.geteuid() == 0, "discovery makes network namespaces and must run as root (CI does)")
    lan_down()
    for ns in LAN["ns"]:
        ip("netns", "add", ns)
        ip("-n", ns, "link", "set", "lo", "up")
    ip("link", "add", LAN["veth"][0], "type", "veth", "peer", "name", LAN["veth"][1])
    for ns, dev, addr in zip(LAN["ns"], LAN["veth"], LAN["addr"]):
        ip("link", "set", dev, "netns", ns)
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
        ip("-n", ns, "link", "set", dev, "up")


def instance(stream):
    """The instance name campub gives itself: the host name's first label, '-', the stream."""
    label = socket.gethostname().split(".")[0]
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in label) + "-" + stream


def discover(app):
    """camview.exe --discover in the viewer's namespace: {instance: [fields...]}.
    The prefix's wine services (wineserver and the driver host that answers
    GetAdaptersAddresses) are stopped first, so that they start again inside that namespace:
    started outside it, they would list this machine's interfaces, not the namespace's, and
    the browse would join multicast on addresses that are not there (seen here)."""
    subprocess.run(["wineserver", "-k"], capture_output=True)
    subprocess.run(["wineserver", "-w"], capture_output=True)
    run = subprocess.run(["ip", "netns", "exec", LAN["ns"][1], "wine",
                          os.path.join(app, "camview.exe"), "--discover", "--discover-seconds",
                          "6"], cwd=app, stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=STEP_TIMEOUT_S)
    subprocess.run(["wineserver", "-k"], capture_output=True)
    subprocess.run(["wineserver", "-w"], capture_output=True)
    found = {}
    for line in run.stdout.splitlines():
        fields = line.split("\t")
        found[fields[0]] = fields[1:]
    return run, found


@test("discovery (mDNS between two network namespaces): both campubs, their TXT fields; one stopped is gone")
def discovery(app, campub_bin, out):
    lan_up()
    publishers = []
    try:
        server = os.path.join(out, "discovery-server")
        for suffix in (".key", ".key_secret"):  # keygen never overwrites a key
            if os.path.exists(server + suffix):
                os.remove(server + suffix)
        subprocess.run([campub_bin, "keygen", server], check=True, capture_output=True)
        with open(server + ".key") as f:
            server_key = re.search(r'public-key = "(.{40})"', f.read()).group(1)
        addr = LAN["addr"][0]
        for stream, port, extra in (("door", 5555, ["--curve-secret-key", server + ".key_secret"]),
                                    ("yard", 5556, ["--wire", "base64"])):
            publishers.append(Campub(["ip", "netns", "exec", LAN["ns"][0], campub_bin], out,
                                     f"discovery-{stream}", ["--stream", stream, *extra],
                                     bind=f"tcp://{addr}:{port}"))
        want = {
            instance("door"): [f"tcp://{addr}:5555", "stream=door", "wire=native", "curve=on",
                               f"key={server_key}"],
            instance("yard"): [f"tcp://{addr}:5556", "stream=yard", "wire=base64", "curve=off",
                               "key=-"],
        }
        run, found = discover(app)
        check(run.returncode == 0 and found == want,
              f"exit {run.returncode}, found {found}, wanted {want}; stderr {run.stderr[-800:]}")
        publishers.pop().stop()  # yard says goodbye as it stops
        run, found = discover(app)
        check(run.returncode == 0 and list(found) == [instance("door")],
              f"after yard stopped: exit {run.returncode}, found {found}")
    finally:
        for p in publishers:
            p.stop()
        lan_down()
    return f"found {sorted(want)} with their TXT fields, then only {instance('door')}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--campub", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    version(args.app)
    campub = Campub(args.campub, args.out, "open")
    try:
        headless(args.app, campub)
        window(args.app, campub, args.out)
    finally:
        campub.stop()
    curve_allowed(args.app, args.campub, args.out)
    discovery(args.app, args.campub, args.out)
    passed = sum(RESULTS)
    print(f"{passed} passed, {len(RESULTS) - passed} failed")
    sys.exit(0 if passed == len(RESULTS) and RESULTS else 1)


if __name__ == "__main__":
    main()
