#!/usr/bin/env python3
"""campub --http against real clients (issue 19): Debian's Chromium, ffmpeg, OpenCV, curl,
Python's Prometheus parser and a JSON schema validator, all on 127.0.0.1. Started by run.sh,
which makes the venv this runs in; prints one PASS/FAIL line per check, and last the line
"N passed, M failed". Exit status 1 if any check failed. Nothing is ever skipped: a missing
tool is a failure.

    check.py CAMPUB RESULTS_DIR

Two campubs run the test pattern (1280x720 at 15 fps, published 640x360): one on plain HTTP,
one on HTTPS with a pair from `campub tls-selfsigned`, both with a users file from `campub
passwd` and a token file. RESULTS_DIR gets the browser screenshots, the campub logs and the
files the clients were given.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import cv2
import jsonschema
import numpy as np
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as prometheus_families

if len(sys.argv) != 3:
    sys.exit(__doc__)
CAMPUB, RESULTS = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
USER, PASSWORD = "ann", "secret-one"
TOKEN = "a-bearer-token-for-real-clients"
WIDTH_PX, HEIGHT_PX = 640, 360  # --size 1280x720 scaled to campub's default --width 640
# Generous: Chromium starts in about 1 s on an idle machine, several times that under load.
STEP_TIMEOUT_S = 60


class Fail(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Fail(message)


def need(tool):
    path = shutil.which(tool)
    check(path, f"{tool} is not installed (scripts/setup-debian.sh --test installs it)")
    return path


def run(args, timeout=STEP_TIMEOUT_S, env=None, **kwargs):
    """A client to its end, with a deadline; returns the CompletedProcess (stdout as bytes)."""
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout, env=env, **kwargs)
    except subprocess.TimeoutExpired:
        raise Fail(f"{args[0]} did not finish within {timeout} s: {' '.join(args)}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the picture ---------------------------------------------------------------------------
# publisher/src/capture/pattern.rs: 75 % colour bars over the top three quarters, a luma ramp
# below, a white box bouncing over the bars, and a square mark in each corner, 1/12 of the
# height: red top-left, green top-right, blue bottom-left, white bottom-right. BGR, as OpenCV.
CORNERS = {
    "top-left": ("red", (0, 0, 255)),
    "top-right": ("green", (0, 255, 0)),
    "bottom-left": ("blue", (255, 0, 0)),
    "bottom-right": ("white", (255, 255, 255)),
}
BARS = {
    "yellow": (0, 191, 191),
    "cyan": (191, 191, 0),
    "green": (0, 191, 0),
    "magenta": (191, 0, 191),
    "red": (0, 0, 191),
    "blue": (191, 0, 0),
}
TOLERANCE = 60  # per channel: JPEG at quality 80, chroma subsampled, then scaled by a browser


def near(bgr, want):
    """Per pixel of `bgr` (..., 3): within TOLERANCE of `want` in every channel."""
    return np.all(np.abs(np.asarray(bgr, int) - want) <= TOLERANCE, axis=-1)


def check_picture(bgr, what):
    """`bgr` (HxWx3) is the test pattern at WIDTH_PX x HEIGHT_PX: corner marks and colour bars."""
    check(bgr.shape == (HEIGHT_PX, WIDTH_PX, 3), f"{what}: {bgr.shape[1]}x{bgr.shape[0]}, "
          f"not {WIDTH_PX}x{HEIGHT_PX}")
    mark = HEIGHT_PX // 12
    # The middle of each mark, a 5x5 median (the mark's edge is soft after JPEG and scaling).
    spots = {
        "top-left": (mark // 2, mark // 2),
        "top-right": (mark // 2, WIDTH_PX - mark // 2),
        "bottom-left": (HEIGHT_PX - mark // 2, mark // 2),
        "bottom-right": (HEIGHT_PX - mark // 2, WIDTH_PX - mark // 2),
    }
    for corner, (y, x) in spots.items():
        name, want = CORNERS[corner]
        got = np.median(bgr[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3), axis=0)
        check(near(got, want), f"{what}: the {corner} mark is BGR {got.astype(int).tolist()}, "
              f"not {name}")
    # Every chromatic bar somewhere in three rows of the bars (the box hides at most one bar of
    # one row); a bar is counted when 10 pixels of a row are its colour.
    seen = set()
    for fraction in (0.2, 0.4, 0.6):
        row = bgr[int(HEIGHT_PX * fraction)]
        for name, want in BARS.items():
            if near(row[mark:WIDTH_PX - mark], want).sum() >= 10:
                seen.add(name)
    check(seen == set(BARS), f"{what}: colour bars seen: {sorted(seen)}, missing "
          f"{sorted(set(BARS) - seen)}")


def check_distinct(frames, what):
    """Live frames: the pattern moves and its frame counter changes every frame."""
    distinct = len({f.tobytes() for f in frames})
    check(distinct >= len(frames) - 1, f"{what}: only {distinct} distinct of {len(frames)} frames")


def decode_jpeg(data, what):
    check(data[:2] == b"\xff\xd8", f"{what}: not a JPEG ({data[:16]!r})")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    check(img is not None, f"{what}: does not decode")
    return img


# ---- campub ----------------------------------------------------------------------------------
class Campub:
    """One campub with the test pattern and --http on 127.0.0.1, stopped by stop()."""

    def __init__(self, name, work, http_args):
        self.name = name
        self.port = free_port()
        self.log_path = os.path.join(RESULTS, f"campub-{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [CAMPUB, "--source", "pattern", "--size", "1280x720", "--fps", "15",
             "--stats-interval", "0", "--bind", f"tcp://127.0.0.1:{free_port()}",
             "--http", f"127.0.0.1:{self.port}"] + http_args,
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, cwd=work)

    def wait_ready(self):
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            check(self.proc.poll() is None,
                  f"campub ({self.name}) exited {self.proc.returncode}: {self.read_log()}")
            if "first frame published" in self.read_log():
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    pass
            check(time.monotonic() < deadline, f"campub ({self.name}) not ready: {self.read_log()}")
            time.sleep(0.05)

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        """SIGTERM; campub must exit 0 (it does so on a signal, README)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Fail(f"campub ({self.name}) did not stop within 15 s of SIGTERM")
        self.log.close()
        check(self.proc.returncode == 0, f"campub ({self.name}) exited {self.proc.returncode}")


# ---- Chromium through the DevTools protocol ---------------------------------------------------
class Chromium:
    """Headless Chromium driven over --remote-debugging-pipe (no port; fd 3 in, fd 4 out, one
    JSON message per NUL). HOME is `home`: Chromium on Linux trusts what $HOME/.pki/nssdb says.
    A request that needs a login is answered with `login` as a person would type it into the
    browser's prompt (Fetch.authRequired), not with credentials in the URL."""

    def __init__(self, home, login=None):
        self.login = login
        self.auth_challenges = 0
        self.urls = []
        self.next_id = 0
        self.replies = {}
        self.cond = threading.Condition()
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        profile = os.path.join(home, "profile")
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
            f"--user-data-dir={profile}", "--window-size=800,600", "--hide-scrollbars",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            # Nothing but 127.0.0.1: no background traffic, and anything else that Chromium
            # might still try goes to a proxy that is not there (loopback is never proxied).
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-domain-reliability", "--no-pings", "--proxy-server=http://127.0.0.1:9",
            "about:blank",
        ]
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"),
                   XDG_CACHE_HOME=os.path.join(home, ".cache"))
        self.log = open(os.path.join(home, "chromium.log"), "w")
        # sh puts the pipes on fds 3 and 4, where Chromium looks for them.
        self.proc = subprocess.Popen(
            ["sh", "-c", f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}',
             need("chromium")] + flags,
            pass_fds=(to_chrome_r, from_chrome_w), env=env, stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        threading.Thread(target=self._read, daemon=True).start()
        try:
            targets = self.call("Target.getTargets")["targetInfos"]
            page = next((t for t in targets if t["type"] == "page"), None)
            check(page, f"chromium: no page among {targets}")
            self.session = self.call("Target.attachToTarget", targetId=page["targetId"],
                                     flatten=True)["sessionId"]
            self.call("Page.enable", session=True)
            self.viewport(800, 600)
            self.call("Fetch.enable", session=True, handleAuthRequests=True,
                      patterns=[{"urlPattern": "*"}])
        except BaseException:
            self.close()
            raise

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self.from_chrome, 65536)
            if not chunk:
                os.close(self.from_chrome)
                with self.cond:
                    self.replies["closed"] = True
                    self.cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                self._message(json.loads(raw))

    def _message(self, msg):
        if "id" in msg:
            with self.cond:
                self.replies[msg["id"]] = msg
                self.cond.notify_all()
            return
        params = msg.get("params", {})
        # Answered from this thread without waiting: the replies come to this thread too.
        if msg.get("method") == "Fetch.requestPaused":
            self.urls.append(params["request"]["url"])
            self.send("Fetch.continueRequest", session=True, requestId=params["requestId"])
        elif msg.get("method") == "Fetch.authRequired":
            self.auth_challenges += 1
            if self.login:
                response = {"response": "ProvideCredentials", "username": self.login[0],
                            "password": self.login[1]}
            else:
                response = {"response": "CancelAuth"}
            self.send("Fetch.continueWithAuth", session=True, requestId=params["requestId"],
                      authChallengeResponse=response)

    def send(self, method, session=False, **params):
        with self.cond:
            self.next_id += 1
            msg_id = self.next_id
        msg = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        return msg_id

    def call(self, method, session=False, timeout=STEP_TIMEOUT_S, **params):
        msg_id = self.send(method, session, **params)
        with self.cond:
            ok = self.cond.wait_for(lambda: msg_id in self.replies or "closed" in self.replies,
                                    timeout)
            reply = self.replies.pop(msg_id, None)
        check(ok and reply, f"chromium: no answer to {method} within {timeout} s "
              f"(exited: {self.proc.poll()})")
        check("error" not in reply, f"chromium: {method}: {reply.get('error')}")
        return reply["result"]

    def viewport(self, width, height, scale=1, mobile=False):
        """The page's size in CSS pixels, device pixels per CSS pixel, a phone's or not."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width,
                  height=height, deviceScaleFactor=scale, mobile=mobile)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", session=True, expression=expression,
                           returnByValue=True)
        check("exceptionDetails" not in result, f"chromium: {expression}: {result}")
        return result["result"].get("value")

    def screenshot(self, path):
        data = base64.b64decode(self.call("Page.captureScreenshot", session=True,
                                          format="png")["data"])
        with open(path, "wb") as f:
            f.write(data)
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    def close(self):
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.to_chrome)
        self.log.close()


def nss_db(home, cert=None):
    """An NSS database in `home` where Chromium looks; with `cert` trusted as a server's."""
    db = "sql:" + os.path.join(home, ".pki", "nssdb")
    os.makedirs(os.path.join(home, ".pki", "nssdb"))
    certutil = need("certutil")
    out = run([certutil, "-d", db, "-N", "--empty-password"])
    check(out.returncode == 0, f"certutil -N: {out.stderr.decode()}")
    if cert:
        # C: trusted to issue server certificates, what importing it under Authorities does
        # (docs/HTTP.md); Chromium takes the self-signed certificate so ("P,,", a trusted peer,
        # works too).
        out = run([certutil, "-d", db, "-A", "-t", "C,,", "-n", "campub-test", "-i", cert])
        check(out.returncode == 0, f"certutil -A: {out.stderr.decode()}")


# The page's figures and its <img>, as the page lays them out ({} while the page is not there
# yet: Page.navigate answers before the document is parsed).
PAGE_STATE = """JSON.stringify((() => {
  const img = document.getElementById("picture"), figures = document.getElementById("figures");
  if (!img || !figures) return {};
  const r = img.getBoundingClientRect();
  return {title: document.title, complete: img.complete, natural: [img.naturalWidth,
    img.naturalHeight], rect: [r.left, r.top, r.width, r.height], dpr: devicePixelRatio,
    figures: figures.textContent, viewport: [innerWidth, innerHeight]};
})())"""


def picture_in(screenshot, state):
    """The picture as the page shows it (object-fit: contain in the <img> box), at 640x360."""
    left, top, width, height = (v * state["dpr"] for v in state["rect"])
    scale = min(width / WIDTH_PX, height / HEIGHT_PX)
    w, h = WIDTH_PX * scale, HEIGHT_PX * scale
    x0, y0 = left + (width - w) / 2, top + (height - h) / 2
    check(w >= WIDTH_PX / 2, f"the picture is drawn only {w:.0f} px wide: {state}")
    crop = screenshot[round(y0):round(y0 + h), round(x0):round(x0 + w)]
    return cv2.resize(crop, (WIDTH_PX, HEIGHT_PX), interpolation=cv2.INTER_AREA)


# ---- the checks ---------------------------------------------------------------------------
class Env:
    pass


def wait_for_page(browser):
    """The page's state once its <img> has a 640x360 frame and the figures, from /status (once
    a second), count this browser's stream."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        state = json.loads(browser.evaluate(PAGE_STATE) or "{}")
        if (state.get("natural") == [WIDTH_PX, HEIGHT_PX]
                and re.search(r"\d+\.\d fps, 640x360, .*viewers: 1 HTTP",
                              state.get("figures", ""))):
            return state
        check(time.monotonic() < deadline,
              f"no picture and figures within {STEP_TIMEOUT_S} s: {state}")
        time.sleep(0.2)


def check_screenshots(browser, state, name):
    """A screenshot shows the pattern where the page lays out the picture, and a later one
    another frame (the pattern moves 4 px a frame): the picture is live."""
    path = os.path.join(RESULTS, f"chromium-{name}.png")
    shot = browser.screenshot(path)
    width, height = (round(v * state["dpr"]) for v in state["viewport"])
    check(shot is not None and shot.shape[:2] == (height, width),
          f"{name}: screenshot {None if shot is None else shot.shape}, viewport {width}x{height}")
    first = picture_in(shot, state)
    check_picture(first, f"the {name} screenshot")
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        time.sleep(0.3)
        later = picture_in(browser.screenshot(os.path.join(RESULTS, f"chromium-{name}-later.png")),
                           state)
        if np.abs(later.astype(int) - first.astype(int)).mean() > 2:
            break
        check(time.monotonic() < deadline, f"{name}: the picture in the page does not change")
    check_picture(later, f"the later {name} screenshot")
    return os.path.relpath(path, REPO)


def t_chromium_page_over_https(env):
    """Chromium loads / over HTTPS with the certificate trusted in its NSS db and the login
    given at the browser's prompt; in an 800x600 window and on a phone's screen (390x844 CSS
    px, 3 device px each) its screenshots show the live picture (corner marks, colour bars,
    another frame a moment later) and the figures from /status, this browser's stream counted."""
    home = os.path.join(env.work, "chromium-trusted")
    nss_db(home, env.cert)
    browser = Chromium(home, login=(USER, PASSWORD))
    try:
        nav = browser.call("Page.navigate", session=True, url=env.https + "/")
        check("errorText" not in nav, f"navigating to {env.https}/: {nav.get('errorText')}")
        state = wait_for_page(browser)
        check(state["title"] == "campub", f"page title {state['title']!r}")
        desktop = check_screenshots(browser, state, "page")
        browser.viewport(390, 844, scale=3, mobile=True)
        phone = wait_for_page(browser)
        check(phone["rect"][2] == 390, f"on a phone the picture is not screen-wide: {phone}")
        check_screenshots(browser, phone, "phone")
        check(browser.auth_challenges >= 1, "the browser was never asked for a login")
        paths = {u.split("127.0.0.1:", 1)[-1].split("/", 1)[-1] for u in browser.urls}
        check({"", "stream", "status"} <= paths, f"requests seen: {sorted(paths)}")
        return (f"{browser.auth_challenges} login prompt(s) answered; {state['figures'][:40]!r}"
                f"...; {desktop} and more")
    finally:
        browser.close()


def t_chromium_refuses_untrusted_certificate(env):
    """The control: without the certificate in its NSS db, Chromium does not load the page."""
    home = os.path.join(env.work, "chromium-untrusted")
    nss_db(home)
    browser = Chromium(home, login=(USER, PASSWORD))
    try:
        nav = browser.call("Page.navigate", session=True, url=env.https + "/")
        error = nav.get("errorText", "")
        check("CERT" in error, f"expected a certificate error, got {nav}")
        check(browser.auth_challenges == 0, "credentials were asked for over an untrusted link")
        return error
    finally:
        browser.close()


def ffmpeg_frames(url, count, options=()):
    """`count` frames of `url` decoded by ffmpeg to BGR; (frames, CompletedProcess)."""
    out = run([need("ffmpeg"), "-nostdin", "-loglevel", "error", *options, "-i", url,
               "-frames:v", str(count), "-f", "rawvideo", "-pix_fmt", "bgr24", "-"])
    size = WIDTH_PX * HEIGHT_PX * 3
    frames = [np.frombuffer(out.stdout[i:i + size], np.uint8).reshape(HEIGHT_PX, WIDTH_PX, 3)
              for i in range(0, len(out.stdout) - size + 1, size)]
    return frames, out


def check_ffmpeg_stream(url, options, what):
    frames, out = ffmpeg_frames(url, 10, options)
    check(out.returncode == 0, f"{what}: ffmpeg exited {out.returncode}: {out.stderr.decode()}")
    check(len(out.stdout) == 10 * WIDTH_PX * HEIGHT_PX * 3,
          f"{what}: {len(out.stdout)} bytes, not 10 frames of {WIDTH_PX}x{HEIGHT_PX} BGR")
    check_picture(frames[0], f"{what}, first frame")
    check_picture(frames[-1], f"{what}, last frame")
    check_distinct(frames, what)


def with_login(url, user=USER, password=PASSWORD):
    return url.replace("://", f"://{user}:{password}@", 1)


def t_ffmpeg_stream_over_http(env):
    """ffmpeg reads /stream (Basic credentials in the URL) and decodes 10 distinct 640x360
    frames of the pattern."""
    check_ffmpeg_stream(with_login(env.http + "/stream"), (), "ffmpeg over HTTP")


def t_ffmpeg_stream_over_https(env):
    """The same over HTTPS, ffmpeg verifying the certificate (-tls_verify 1 -ca_file CERT); and
    without -ca_file the same command gets nothing."""
    url = with_login(env.https + "/stream")
    check_ffmpeg_stream(url, ("-tls_verify", "1", "-ca_file", env.cert), "ffmpeg over HTTPS")
    frames, out = ffmpeg_frames(url, 1, ("-tls_verify", "1"))
    check(out.returncode != 0 and not frames,
          f"ffmpeg without the certificate: exit {out.returncode}, {len(frames)} frames")
    return f"untrusted: {out.stderr.decode().strip().splitlines()[0]}"


def opencv_frames(url, count, capture_options=None):
    """`count` frames read by cv2.VideoCapture (its own FFmpeg; options through
    OPENCV_FFMPEG_CAPTURE_OPTIONS, read when a capture opens)."""
    if capture_options:
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = capture_options
    else:
        os.environ.pop("OPENCV_FFMPEG_CAPTURE_OPTIONS", None)
    # OpenCV's own open and read timeouts, so a stalled server fails the check, not hangs it.
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 20000,
                                                 cv2.CAP_PROP_READ_TIMEOUT_MSEC, 20000])
    try:
        if not cap.isOpened():
            return None
        frames = []
        for _ in range(count):
            ok, frame = cap.read()
            check(ok, f"OpenCV: read failed after {len(frames)} frames")
            frames.append(frame)
        return frames
    finally:
        cap.release()


def t_opencv_stream_over_http_and_https(env):
    """cv2.VideoCapture reads 10 frames of /stream over HTTP and over HTTPS (the certificate
    trusted through OPENCV_FFMPEG_CAPTURE_OPTIONS): 640x360, the pattern, distinct; without the
    certificate the HTTPS capture does not open."""
    for what, url, options in [
        ("OpenCV over HTTP", with_login(env.http + "/stream"), None),
        ("OpenCV over HTTPS", with_login(env.https + "/stream"),
         f"tls_verify;1|ca_file;{env.cert}"),
    ]:
        frames = opencv_frames(url, 10, options)
        check(frames is not None, f"{what}: the capture did not open")
        check_picture(frames[0], f"{what}, first frame")
        check_picture(frames[-1], f"{what}, last frame")
        check_distinct(frames, what)
    check(opencv_frames(with_login(env.https + "/stream"), 1, "tls_verify;1") is None,
          "OpenCV over HTTPS opened without trusting the certificate")


# VLC writes what it reads for this long: it does not stop a live stream by itself (--run-time
# ends playback, not a --sout copy), so the check ends it.
VLC_RUN_S = 4


def vlc_record(url, work):
    """cvlc reads `url` and copies the stream, untouched, into an mpjpeg file for VLC_RUN_S;
    returns (the file's bytes, VLC's output). VLC refuses to run as root: as root it runs as
    nobody (setpriv), in a scratch directory of its own."""
    cvlc = need("cvlc")
    out_dir = tempfile.mkdtemp(prefix="vlc-", dir=work)
    os.chmod(out_dir, 0o777)
    dst = os.path.join(out_dir, "stream.mjpeg")
    args = [cvlc, "-q", "--no-audio", url, "--sout",
            f"#std{{access=file,mux=mpjpeg,dst={dst}}}"]
    if os.geteuid() == 0:
        args = [need("setpriv"), "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                "env", f"HOME={out_dir}"] + args
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = proc.communicate(timeout=VLC_RUN_S)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    data = b""
    if os.path.exists(dst):
        with open(dst, "rb") as f:
            data = f.read()
    return data, output.decode(errors="replace")


def mpjpeg_parts(data):
    """The JPEGs of VLC's mpjpeg file: parts with Content-Length, as VLC writes them."""
    parts = []
    for m in re.finditer(rb"Content-Length: (\d+)\r\n\r\n", data):
        start, length = m.end(), int(m.group(1))
        if start + length <= len(data):
            parts.append(data[start:start + length])
    return parts


def t_vlc_stream_over_http(env):
    """VLC (cvlc, Debian's vlc-bin) reads /stream with the Basic login in the URL, as the
    recipe in docs/HTTP.md says, and copies it to a file: many JPEGs, the first and last decode
    to the 640x360 pattern, distinct; with a wrong password VLC gets no frame."""
    data, output = vlc_record(with_login(env.http + "/stream"), env.work)
    parts = mpjpeg_parts(data)
    check(len(parts) >= 10, f"VLC: {len(parts)} frames in {len(data)} bytes; VLC said: {output}")
    frames = [decode_jpeg(p, "VLC") for p in (parts[0], parts[len(parts) // 2], parts[-2])]
    check_picture(frames[0], "VLC, first frame")
    check_picture(frames[-1], "VLC, a late frame")
    check_distinct(frames, "VLC")
    data, output = vlc_record(with_login(env.http + "/stream", password="wrong"), env.work)
    check(not mpjpeg_parts(data), f"VLC with a wrong password got {len(data)} bytes")
    return f"{len(parts)} frames in {VLC_RUN_S} s"


def curl(args, timeout=STEP_TIMEOUT_S):
    """curl ARGS; (HTTP status, headers text, body bytes)."""
    with tempfile.NamedTemporaryFile() as headers:
        out = run([need("curl"), "-sS", "--max-time", str(timeout - 5), "-D", headers.name,
                   *args], timeout=timeout)
        check(out.returncode == 0, f"curl {' '.join(args)}: exit {out.returncode} "
              f"{out.stderr.decode()}")
        head = open(headers.name, errors="replace").read()
    status = int(head.split()[1])
    return status, head, out.stdout


def t_curl_snapshot(env):
    """curl gets /snapshot.jpg over HTTP (Basic) and over HTTPS (--cacert, bearer token):
    image/jpeg that decodes to the 640x360 pattern."""
    for what, args in [
        ("HTTP, Basic", ["-u", f"{USER}:{PASSWORD}", env.http + "/snapshot.jpg"]),
        ("HTTPS, bearer", ["--cacert", env.cert, "-H", f"Authorization: Bearer {TOKEN}",
                           env.https + "/snapshot.jpg"]),
    ]:
        status, head, body = curl(args)
        check(status == 200, f"{what}: HTTP {status}")
        check(re.search(r"(?im)^content-type: image/jpeg\s*$", head), f"{what}: {head}")
        check_picture(decode_jpeg(body, f"snapshot ({what})"), f"snapshot ({what})")


EXPECTED_COUNTERS = ["campub_frames_captured", "campub_frames_published",
                     "campub_frames_dropped_encoder_busy", "campub_frames_dropped_source",
                     "campub_frames_bad", "campub_published_bytes"]
EXPECTED_GAUGES = ["campub_captured_fps", "campub_published_fps",
                   "campub_capture_to_send_milliseconds", "campub_uptime_seconds",
                   "campub_width_pixels", "campub_height_pixels", "campub_http_clients",
                   "campub_http_streams", "campub_idle", "campub_zmq_subscribers"]


def t_metrics_parse(env):
    """/metrics parses with prometheus_client's Prometheus text parser and, as it is served
    (application/openmetrics-text), with its OpenMetrics parser: every family of docs/HTTP.md,
    counters as counters, the size 640x360, frames counted, build info with the version."""
    status, head, body = curl(["-u", f"{USER}:{PASSWORD}", env.http + "/metrics"])
    check(status == 200, f"HTTP {status}")
    check(re.search(r"(?im)^content-type: application/openmetrics-text", head), head)
    text = body.decode()
    # The Prometheus text format (0.0.4) parser: every sample there, with its number.
    samples = {s.name: s for family in prometheus_families(text) for s in family.samples}
    for name in [c + "_total" for c in EXPECTED_COUNTERS] + EXPECTED_GAUGES + [
            "campub_build_info"]:
        check(name in samples, f"Prometheus parser: no sample {name}; got {sorted(samples)}")
    # The OpenMetrics parser, strict (it wants the "# EOF"): types as documented.
    families = {f.name: f for f in openmetrics_families(text)}
    for name in EXPECTED_COUNTERS:
        check(name in families and families[name].type == "counter",
              f"OpenMetrics: {name} is {getattr(families.get(name), 'type', 'missing')}")
    for name in EXPECTED_GAUGES:
        check(name in families and families[name].type == "gauge",
              f"OpenMetrics: {name} is {getattr(families.get(name), 'type', 'missing')}")
    check(families["campub_build"].type == "info", "campub_build is not an info metric")

    def value(family):
        return families[family].samples[0].value

    check(value("campub_width_pixels") == WIDTH_PX and value("campub_height_pixels") == HEIGHT_PX,
          "size in metrics")
    check(value("campub_frames_published") > 0, "no frame published")
    version = families["campub_build"].samples[0].labels.get("version", "")
    check(re.fullmatch(r"\d+\.\d+\.\d+.*", version), f"build info version {version!r}")
    return f"{len(families)} families"


def status_schema():
    """The JSON schema of /status from docs/HTTP.md (the ```json block after "/status JSON
    schema"), and the keys of the /status table there: the test holds the page to the docs."""
    doc = open(os.path.join(REPO, "docs", "HTTP.md")).read()
    at = doc.find("### /status JSON schema")
    check(at >= 0, "docs/HTTP.md has no '### /status JSON schema' section")
    block = re.search(r"```json\n(.*?)```", doc[at:], re.S)
    check(block, "docs/HTTP.md: no ```json block in the /status JSON schema section")
    schema = json.loads(block.group(1))
    table = doc[doc.find("### /status"):doc.find("### /metrics")]
    keys = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            keys.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return schema, keys


def t_status_schema(env):
    """/status validates against the JSON schema in docs/HTTP.md (every key required, no
    other), the schema names exactly the keys of the docs' /status table, and the values are
    live: 640x360, frames published, a recent frame, this request counted."""
    schema, keys = status_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    check(set(schema["properties"]) == keys == set(schema["required"]),
          f"schema and table differ: {sorted(set(schema['properties']) ^ keys)}")
    status, head, body = curl(["-u", f"{USER}:{PASSWORD}", env.http + "/status"])
    check(status == 200, f"HTTP {status}")
    check(re.search(r"(?im)^content-type: application/json", head), head)
    doc = json.loads(body)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
    check(not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors))
    check((doc["width_px"], doc["height_px"]) == (WIDTH_PX, HEIGHT_PX), f"size {doc}")
    check(doc["published_total"] > 0 and doc["http_clients"] >= 1, f"{doc}")
    check(doc["last_frame_age_ms"] is not None and doc["last_frame_age_ms"] < 1000, f"{doc}")
    check(doc["source"] == "test pattern 1280x720 YUYV at 15 fps", doc["source"])
    return f"{len(doc)} keys"


def t_wrong_or_missing_credentials(env):
    """No credentials, a wrong password, an unknown user, a wrong token: curl gets 401 with
    WWW-Authenticate on every endpoint checked; ffmpeg and OpenCV fail cleanly (ffmpeg: exit
    status non-zero, "401" said, no frame, within 20 s)."""
    http = env.http
    for path in ["/", "/stream", "/snapshot.jpg", "/status", "/metrics"]:
        status, head, _ = curl([http + path])
        check(status == 401, f"no credentials, {path}: HTTP {status}")
        check(re.search(r'(?im)^www-authenticate: Basic realm="campub"', head), head)
    # Three failed logins on the plain server: under the limit of 5 (docs/HTTP.md).
    for what, args in [
        ("wrong password", ["-u", f"{USER}:wrong"]),
        ("unknown user", ["-u", f"bob:{PASSWORD}"]),
        ("wrong token", ["-H", "Authorization: Bearer not-the-token-at-all"]),
    ]:
        status, _, body = curl(args + [http + "/snapshot.jpg"])
        check(status == 401, f"{what}: HTTP {status}")
        check(not body.startswith(b"\xff\xd8"), f"{what}: a JPEG came back")
    # ffmpeg: no credentials on the plain server, a wrong password on the HTTPS one.
    for what, url, options in [
        ("ffmpeg, no credentials", http + "/stream", ()),
        ("ffmpeg, wrong password", with_login(env.https + "/stream", password="wrong"),
         ("-tls_verify", "1", "-ca_file", env.cert)),
    ]:
        started = time.monotonic()
        frames, out = ffmpeg_frames(url, 5, options)
        err = out.stderr.decode()
        check(out.returncode != 0 and not frames, f"{what}: exit {out.returncode}, "
              f"{len(frames)} frames")
        check("401" in err, f"{what}: ffmpeg did not say 401: {err}")
        check(time.monotonic() - started < 20, f"{what}: took {time.monotonic() - started:.1f} s")
    check(opencv_frames(with_login(env.https + "/stream", password="wrong"), 1,
                        f"tls_verify;1|ca_file;{env.cert}") is None,
          "OpenCV opened /stream with a wrong password")


def t_failure_limit(env):
    """More failed logins from 127.0.0.1 give 429 with Retry-After, good credentials included,
    and ffmpeg with good credentials fails cleanly meanwhile (run last: the address is blocked
    for 10 s); campub logs the burst and the block once each."""
    statuses = []
    for _ in range(6):
        status, head, _ = curl(["-u", f"{USER}:guess", env.http + "/status"])
        statuses.append(status)
        if status == 429:
            break
    check(statuses[-1] == 429, f"no 429 after {len(statuses)} failures: {statuses}")
    check(re.search(r"(?im)^retry-after: \d+", head), head)
    status, _, _ = curl(["-u", f"{USER}:{PASSWORD}", env.http + "/status"])
    check(status == 429, f"good credentials while blocked: HTTP {status}")
    frames, out = ffmpeg_frames(with_login(env.http + "/stream"), 1)
    # ffmpeg names 400, 401, 403 and 404; 429 it calls "4XX Client Error".
    check(out.returncode != 0 and not frames and re.search("429|4XX", out.stderr.decode()),
          f"ffmpeg while blocked: exit {out.returncode}, {out.stderr.decode()}")
    log = env.plain.read_log()
    check(log.count("wrong credentials from 127.0.0.1") == 1
          and log.count("failed logins from 127.0.0.1") == 1,
          f"the burst and the block are not logged once each: {log}")
    return f"statuses {statuses}"


CHECKS = [
    t_chromium_page_over_https,
    t_chromium_refuses_untrusted_certificate,
    t_ffmpeg_stream_over_http,
    t_ffmpeg_stream_over_https,
    t_opencv_stream_over_http_and_https,
    t_curl_snapshot,
    t_metrics_parse,
    t_status_schema,
    t_wrong_or_missing_credentials,
    # After the other failures: VLC's wrong password adds to the same burst (under 10 s), and
    # t_failure_limit expects its 429 however many failures came first.
    t_vlc_stream_over_http,
    t_failure_limit,
]


def setup(env):
    """Credentials and a certificate made by campub itself, and the two campubs."""
    out = run([CAMPUB, "passwd", "users", USER], input=f"{PASSWORD}\n".encode(), cwd=env.work)
    check(out.returncode == 0, f"campub passwd: {out.stderr.decode()}")
    with open(os.path.join(env.work, "tokens"), "w") as f:
        f.write(f"# real clients\n{TOKEN}\n")
    os.chmod(os.path.join(env.work, "tokens"), 0o600)
    out = run([CAMPUB, "tls-selfsigned", "cert.pem", "key.pem", "--name", "127.0.0.1"],
              cwd=env.work)
    check(out.returncode == 0, f"campub tls-selfsigned: {out.stderr.decode()}")
    env.cert = os.path.join(env.work, "cert.pem")
    login = ["--http-users", "users", "--http-token-file", "tokens"]
    env.plain = Campub("http", env.work, login)
    env.tls = Campub("https", env.work, login + ["--http-cert", "cert.pem", "--http-key",
                                                  "key.pem"])
    env.plain.wait_ready()
    env.tls.wait_ready()
    env.http = f"http://127.0.0.1:{env.plain.port}"
    env.https = f"https://127.0.0.1:{env.tls.port}"


def main():
    started = time.monotonic()
    shutil.rmtree(RESULTS, ignore_errors=True)
    os.makedirs(RESULTS)
    env = Env()
    env.work = os.path.join(RESULTS, "work")
    os.makedirs(env.work)
    passed = failed = 0
    results = []

    def report(name, fn):
        nonlocal passed, failed
        t0 = time.monotonic()
        try:
            note = fn()
            passed += 1
            line = f"PASS {name} ({time.monotonic() - t0:.1f} s)" + (f": {note}" if note else "")
        except Exception as e:  # a check that breaks in any way has failed
            failed += 1
            detail = str(e) if isinstance(e, Fail) else traceback.format_exc()
            line = f"FAIL {name} ({time.monotonic() - t0:.1f} s): {detail}"
        print(line, flush=True)
        results.append(line)

    def after_setup(fn):
        check(setup_ok, "setup failed")
        return fn(env)

    report("setup", lambda: setup(env))
    setup_ok = failed == 0
    for fn in CHECKS:
        report(fn.__name__[2:], lambda fn=fn: after_setup(fn))
    for campub in (getattr(env, "plain", None), getattr(env, "tls", None)):
        if campub:
            report(f"campub_{campub.name}_exits_0_on_sigterm", campub.stop)
    with open(os.path.join(RESULTS, "results.txt"), "w") as f:
        f.write("\n".join(results) + "\n")
    print(f"http-clients: {time.monotonic() - started:.1f} s, logs and screenshots in "
          f"{os.path.relpath(RESULTS, REPO)}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
