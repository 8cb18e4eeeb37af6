#!/usr/bin/env python3
"""campub's .deb under a real systemd (issue 15): Debian bookworm booting systemd as PID 1 in a
qemu VM (image.sh), the package installed with apt, the units run exactly as shipped. Every
check that involves a viewer runs on this host, through qemu's port forward on 127.0.0.1.
Prints PASS/FAIL per check and last "N passed, M failed"; exit status 1 if any failed.

    test.py --image DIR --deb campub_*.deb --out DIR [--arch aarch64 --short] [--camview PATH]

Full (x86_64): install; `enable --now` activating until the first frame, then active; frames
on the host; campub@video0 as stream video0; the journal (start, stats, priorities, no
timestamps of campub's own); the watchdog restarting a frozen campub; camera loss -> exit 1 ->
restarted -> streaming when the camera returns; a configuration error not retried; CURVE
turned on with campub.conf's two lines (allowed, keyless and unlisted viewers; SIGHUP admits a
new key); a clean stop that frees the camera at once; start at boot; purge.
--short (the arm64 package in an emulated aarch64 VM): install, enable --now, frames on the
host, the journal.
"""
import argparse
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from sub import parse  # noqa: E402  (tests/vm/sub.py: one native message, checked)
from vm import Vm, VmError  # noqa: E402


class Fail(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Fail(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def receive(port, seconds, want=None, stop_after=None):
    """{stream: [seq...]} of valid native messages received on the forwarded port for
    `seconds` (or until `stop_after` frames of stream `want`)."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.setsockopt(zmq.RCVTIMEO, 200)
    sock.setsockopt(zmq.MAXMSGSIZE, 16 << 20)
    # qemu accepts at once and reaches the guest later; a connection that has not greeted
    # within 1 s is retried (see tests/vm/sub.py).
    sock.setsockopt(zmq.HANDSHAKE_IVL, 1000)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://127.0.0.1:{port}")
    streams = {}
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            try:
                msg = sock.recv()
            except zmq.Again:
                continue
            try:
                name, seq, _w, _h, _jpeg = parse(msg)
            except (ValueError, struct.error, UnicodeDecodeError):
                streams.setdefault("<malformed>", []).append(0)
                continue
            streams.setdefault(name, []).append(seq)
            if want and stop_after and len(streams.get(want, [])) >= stop_after:
                break
    finally:
        sock.close()
    return streams


class Suite:
    def __init__(self, args):
        self.args = args
        self.passed = self.failed = 0
        self.measured = []
        self.share = tempfile.mkdtemp(prefix="campub-sd-share-")
        os.chmod(self.share, 0o755)
        self.port = free_port()
        self.vm = Vm(args.image, args.arch, self.share, self.port, os.path.join(args.out, "vm"))
        self.boot_s = {"x86_64": 240, "aarch64": 600}[args.arch]

    def run(self, name, fn):
        t0 = time.monotonic()
        try:
            detail = fn()
            self.passed += 1
            print(f"PASS  {name} ({time.monotonic() - t0:.0f} s)\n      {detail}", flush=True)
        except Exception as e:  # Fail, VmError, or a surprise: the check failed
            self.failed += 1
            why = str(e) if isinstance(e, (Fail, VmError)) else traceback.format_exc()
            print(f"FAIL  {name} ({time.monotonic() - t0:.0f} s)\n      " + why.replace("\n", "\n      "),
                  flush=True)

    # --- helpers over the guest ---
    def sh(self, command, timeout_s=90):
        return self.vm.ok(command, timeout_s)

    def show(self, unit, *props):
        out = self.sh(f"systemctl show {unit} " + " ".join(f"-p {p}" for p in props))
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def wait_state(self, unit, states, timeout_s):
        """Polls ActiveState/SubState until ActiveState is one of `states`; returns the props."""
        end = time.monotonic() + timeout_s
        while True:
            p = self.show(unit, "ActiveState", "SubState", "MainPID", "NRestarts", "Result", "ExecMainStatus")
            if p.get("ActiveState") in states:
                return p
            if time.monotonic() > end:
                raise Fail(f"{unit} not {'/'.join(states)} within {timeout_s} s: {p}\n{self.journal(unit, 20)}")
            time.sleep(0.5)

    def journal(self, unit, lines=200, extra=""):
        return self.vm.run(f"journalctl -u {unit} -o cat --no-pager -n {lines} {extra}")[1]

    def frames(self, stream, seconds=20, at_least=5):
        got = receive(self.port, seconds, want=stream, stop_after=at_least)
        seqs = got.get(stream, [])
        check(len(seqs) >= at_least, f"the host received {len(seqs)} frames of stream {stream!r} in "
              f"{seconds} s (everything received: { {k: len(v) for k, v in got.items()} })")
        check("<malformed>" not in got, f"malformed messages: {len(got.get('<malformed>', []))}")
        return seqs

    def conf(self, sed, unit_conf="/etc/campub/campub.conf"):
        self.sh(f"sed -i {sed} {unit_conf}")

    # --- the checks ---
    def install(self):
        shutil.copy(self.args.deb, os.path.join(self.share, "campub.deb"))
        out = self.sh("DEBIAN_FRONTEND=noninteractive apt-get install -y /mnt/host/campub.deb", 300)
        check("Setting up campub" in out, f"apt did not set up campub:\n{out}")
        rc, enabled = self.vm.run("systemctl is-enabled campub")
        check(enabled.strip() == "disabled", f"installing enabled the unit: {enabled}")
        check(self.vm.run("systemctl is-active campub")[1].strip() == "inactive", "installing started campub")
        # What a user edits for this camera: a size and rate vivid offers and the emulated CPU
        # sustains, and stats every 2 s instead of 10 so the journal shows them soon.
        fps = 10 if self.args.arch == "x86_64" else 5
        self.conf(f"-e 's/^size = .*/size = 640x480/' -e 's/^fps = .*/fps = {fps}/' "
                  "-e 's/^stats-interval = .*/stats-interval = 2/'")
        version = self.sh("campub --version").strip()
        formats = self.sh("campub --list-formats")  # the README's next step on a Pi
        check("YUYV" in formats, f"campub --list-formats:\n{formats}")
        return f"apt installed {os.path.basename(self.args.deb)} ({version}); disabled and inactive until enabled"

    def enable_now_activating_then_active(self):
        # No frame until the test says so: vivid keeps every buffer (its dropped-buffers
        # control at 100 %), so campub has the camera open but nothing to publish.
        self.sh("v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=100")
        self.sh("systemctl enable campub && systemctl start --no-block campub")
        time.sleep(3)
        p = self.show("campub", "ActiveState", "SubState", "MainPID")
        check(p["ActiveState"] == "activating" and p["SubState"] == "start",
              f"before the first frame campub should be activating (start), is {p}\n{self.journal('campub', 20)}")
        check(int(p["MainPID"]) > 0, f"no main process: {p}")
        self.sh("v4l2-ctl -d /dev/video0 -c percentage_of_dropped_buffers=0")
        p = self.wait_state("campub", ["active"], 20)
        seqs = self.frames("cam")
        log = self.journal("campub")
        check("first frame published" in log, f"no 'first frame published' in the journal:\n{log}")
        return (f"activating (start) while the camera delivered nothing, active after the first frame "
                f"(MainPID {p['MainPID']}); {len(seqs)} frames of stream 'cam' on the host")

    def journal_levels(self):
        time.sleep(2.5)  # at least one stats line (stats-interval = 2)
        log = self.journal("campub")
        # systemd's default soft descriptor limit is 1024; campub raises it to the hard limit
        # (prlimit64, which the unit's system-call filter allows) against connection floods.
        for want in ("source: /dev/video0", "publishing native JPEGs", "first frame published", "stats: ",
                     "file-descriptor limit raised from 1024"):
            check(want in log, f"no {want!r} in journalctl -u campub:\n{log}")
        stamped = [line for line in log.splitlines() if re.match(r"\[?\d{4}-\d\d-\d\d", line)]
        check(not stamped, f"campub's lines carry a timestamp of their own: {stamped[:3]}")
        check(not re.search(r"^<\d>", log, re.M), "a priority prefix reached the journal as text")
        warnings = self.journal("campub", extra="-p warning")
        check("the stream is not encrypted" in warnings,
              f"journalctl -p warning lacks the not-encrypted warning:\n{warnings}")
        check("first frame published" not in warnings, f"info lines are filed as warnings:\n{warnings}")
        prio = {}
        for line in self.vm.run("journalctl -u campub -o json --no-pager -n 200")[1].splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            msg = entry.get("MESSAGE")
            if isinstance(msg, str):
                if msg.startswith("the stream is not encrypted"):
                    prio["warning"] = entry.get("PRIORITY")
                elif msg.startswith("first frame published"):
                    prio["info"] = entry.get("PRIORITY")
        check(prio == {"warning": "4", "info": "6"}, f"priorities in the journal: {prio} (want warning 4, info 6)")
        return "start, source, first-frame and stats lines; the warning at priority 4, info at 6; no own timestamps"

    def watchdog(self):
        before = self.show("campub", "MainPID", "NRestarts")
        self.sh("systemctl kill -s STOP campub")
        t0 = time.monotonic()
        end = t0 + 60
        while True:
            p = self.show("campub", "MainPID", "NRestarts", "ActiveState")
            if int(p["NRestarts"]) > int(before["NRestarts"]) and p["ActiveState"] == "active" \
                    and p["MainPID"] not in ("0", before["MainPID"]):
                break
            check(time.monotonic() < end, f"no restart within 60 s of freezing campub: {p}\n{self.journal('campub', 20)}")
            time.sleep(1)
        took = time.monotonic() - t0
        log = self.sh("journalctl -u campub -o cat --no-pager -n 300")
        check("Watchdog timeout" in log, f"systemd did not log a watchdog timeout:\n{log[-2000:]}")
        seqs = self.frames("cam")
        self.measured.append(f"watchdog: frozen campub restarted and READY again after {took:.0f} s")
        return f"frozen (SIGSTOP) -> watchdog timeout -> restarted, active again after {took:.0f} s; {len(seqs)} frames"

    def camera_loss(self):
        before = self.show("campub", "NRestarts")
        self.sh("echo vivid.0 > /sys/bus/platform/drivers/vivid/unbind")
        t0 = time.monotonic()
        end = t0 + 30
        while "lost mid-stream" not in self.journal("campub", 50):
            check(time.monotonic() < end, f"no 'lost mid-stream' in the journal:\n{self.journal('campub', 30)}")
            time.sleep(0.5)
        time.sleep(6)  # a few restarts with no camera: exit 1 each time, retried
        p = self.show("campub", "NRestarts", "ActiveState", "SubState")
        check(int(p["NRestarts"]) >= int(before["NRestarts"]) + 2,
              f"campub is not being restarted while the camera is away: {p}")
        check(p["ActiveState"] != "failed", f"the unit gave up: {p}")
        errors = self.journal("campub", 100, "-p err")
        check("lost mid-stream" in errors, f"the loss is not at priority err:\n{errors}")
        self.sh("echo vivid.0 > /sys/bus/platform/drivers/vivid/bind")
        t1 = time.monotonic()
        self.wait_state("campub", ["active"], 30)
        back = time.monotonic() - t1
        seqs = self.frames("cam")
        self.measured.append(f"camera loss: {int(p['NRestarts']) - int(before['NRestarts'])} restarts while away; "
                             f"active {back:.1f} s after it returned")
        return (f"camera unbound: 'lost mid-stream' at priority err, restarted (NRestarts "
                f"{before['NRestarts']} -> {p['NRestarts']}); camera back: active after {back:.1f} s, {len(seqs)} frames")

    def instance(self):
        self.sh("systemctl stop campub && cp /etc/campub/campub.conf /etc/campub/video0.conf")
        try:
            self.sh("systemctl start campub@video0", 60)
            seqs = self.frames("video0")
        finally:
            self.vm.run("systemctl stop campub@video0; systemctl start campub", 60)
        return f"campub@video0 active, {len(seqs)} frames of stream 'video0' on the host"

    def config_error(self):
        self.sh("cp /etc/campub/campub.conf /root/campub.conf.orig")
        # CURVE asked for, but no key was ever made: the credential holds no key (exit 2).
        self.conf("'s|^#curve-secret-key = |curve-secret-key = |'")
        try:
            self.vm.run("systemctl restart campub", 60)
            time.sleep(8)  # RestartSec=2: several restarts would have happened by now
            p = self.show("campub", "ActiveState", "Result", "ExecMainStatus", "NRestarts")
            check(p["ActiveState"] == "failed" and p["ExecMainStatus"] == "2" and p["NRestarts"] == "0",
                  f"a configuration error should stop the unit at once (failed, status 2, no restarts): {p}")
            errors = self.journal("campub", 50, "-p err")
            check("no key in it" in errors, f"the error is not in the journal at priority err:\n{errors}")
        finally:
            self.vm.run("cp /root/campub.conf.orig /etc/campub/campub.conf && systemctl reset-failed campub "
                        "&& systemctl start campub", 60)
        why = next(line for line in errors.splitlines() if "no key in it" in line)
        return f"exit 2 -> failed at once, NRestarts 0; under -p err: {why[:120]}"

    def camview(self, *args, duration=8):
        cmd = [self.args.camview, "--headless", "--duration", str(duration), *args, f"127.0.0.1:{self.port}"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
        try:
            summary = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            summary = {}
        return done.returncode, summary, done.stderr

    def curve(self):
        self.sh("cp /etc/campub/campub.conf /root/campub.conf.orig")
        try:
            return self.curve_steps()
        finally:
            self.vm.run("cp /root/campub.conf.orig /etc/campub/campub.conf && systemctl restart campub", 60)

    def curve_steps(self):
        keys = tempfile.mkdtemp(prefix="campub-sd-keys-")
        for who in ("allowed", "unlisted", "later"):
            subprocess.run([self.args.camview, "--keygen", os.path.join(keys, who)], check=True, capture_output=True)
        shutil.copy(os.path.join(keys, "allowed.key"), self.share)
        shutil.copy(os.path.join(keys, "later.key"), self.share)
        # The steps campub.conf gives, as root in the guest.
        self.sh("campub keygen /etc/campub/server && mkdir -p /etc/campub/allowed "
                "&& cp /mnt/host/allowed.key /etc/campub/allowed/ && cp /etc/campub/server.key /mnt/host/")
        self.conf("-e 's|^#curve-secret-key = |curve-secret-key = |' -e 's|^#allow = |allow = |'")
        self.sh("systemctl restart campub", 60)
        self.wait_state("campub", ["active"], 30)
        server = os.path.join(self.share, "server.key")
        rc, s, err = self.camview("--server-key", server, "--key", os.path.join(keys, "allowed.key_secret"))
        check(rc == 0 and s.get("frames_shown", 0) > 0, f"the allowed viewer got no frames (exit {rc}): {err}")
        allowed = s["frames_shown"]
        rc, s, err = self.camview(duration=5)
        check(rc == 3 and s.get("frames_shown") == 0, f"a viewer without keys: exit {rc}, {s.get('frames_shown')} frames")
        rc, s, err = self.camview("--server-key", server, "--key", os.path.join(keys, "unlisted.key_secret"), duration=5)
        check(rc == 3 and "not authorised" in err, f"an unlisted key: exit {rc}: {err}")
        # A viewer waits with a key that is not listed yet; SIGHUP after adding it lets it in.
        waiting = subprocess.Popen([self.args.camview, "--headless", "--duration", "30", "--server-key", server,
                                    "--key", os.path.join(keys, "later.key_secret"), f"127.0.0.1:{self.port}"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(5)
        self.sh("cp /mnt/host/later.key /etc/campub/allowed/ && systemctl kill -s HUP campub")
        out, err = waiting.communicate(timeout=60)
        try:
            later = json.loads(out.strip().splitlines()[-1])["frames_shown"]
        except (ValueError, IndexError, KeyError):
            later = 0
        check(waiting.returncode == 0 and later > 0, f"after SIGHUP the new key got no frames (exit {waiting.returncode}): {err}")
        log = self.journal("campub", 200)
        check("refused viewer key" in log, f"campub did not log the refused key:\n{log[-1500:]}")
        announced = self.dnssd_curve()
        return (f"allowed viewer {allowed} frames; keyless and unlisted viewers none (exit 3, 'not authorised'); "
                f"a key added + SIGHUP: {later} frames without restarting the viewer; DNS-SD: {announced}")

    def clean_stop(self):
        self.wait_state("campub", ["active"], 30)
        t0 = time.monotonic()
        self.sh("systemctl stop campub")
        took = time.monotonic() - t0
        p = self.show("campub", "ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
        check(p["ActiveState"] == "inactive" and p["Result"] == "success" and p["ExecMainStatus"] == "0",
              f"after systemctl stop: {p}")
        out = self.sh("v4l2-ctl -d /dev/video0 --stream-mmap --stream-count=3 2>&1 && echo captured")
        check("captured" in out, f"the camera is not free right after the stop:\n{out}")
        self.measured.append(f"systemctl stop: {took:.1f} s, exit 0, camera free at once")
        return f"stopped in {took:.1f} s with exit 0 (Result=success); v4l2-ctl captured from the camera right after"

    def boot(self):
        t0 = time.monotonic()
        self.vm.reboot(self.boot_s)
        p = self.wait_state("campub", ["active"], 60)
        seqs = self.frames("cam")
        return f"after a reboot ({time.monotonic() - t0:.0f} s) the enabled unit is active (MainPID {p['MainPID']}), {len(seqs)} frames"

    def announced(self):
        """campub's DNS-SD records as a listener in the guest receives them (through the
        unit's sandbox: RestrictAddressFamilies, the system-call filter)."""
        shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "mdns_listen.py"),
                    os.path.join(self.share, "mdns_listen.py"))
        out = self.sh("python3 /mnt/host/mdns_listen.py 6 10.0.2.15", 60)
        lines = [line for line in out.splitlines() if line.startswith("instance=")]
        check(len(lines) == 1, f"expected one _campub._tcp service, the listener printed:\n{out}\n"
              f"{self.journal('campub', 20)}")
        return dict(pair.split("=", 1) for pair in lines[0].split())

    def dnssd_plain(self):
        self.wait_state("campub", ["active"], 60)
        fields = self.announced()
        for key, want in (("port", "5555"), ("stream", "cam"), ("wire", "native"), ("curve", "off")):
            check(fields.get(key) == want, f"{key}={fields.get(key)!r}, expected {want!r}: {fields}")
        check("key" not in fields, f"a key announced without CURVE: {fields}")
        return f"a listener in the guest got {fields['instance']}: " + " ".join(
            f"{k}={v}" for k, v in sorted(fields.items()) if k != "instance")

    def dnssd_curve(self):
        self.wait_state("campub", ["active"], 60)
        public = self.sh("sed -n 's/^ *public-key = \"\\(.*\\)\"$/\\1/p' /etc/campub/server.key").strip()
        check(len(public) == 40, f"no public key in /etc/campub/server.key: {public!r}")
        fields = self.announced()
        check(fields.get("curve") == "on" and fields.get("key") == public,
              f"with CURVE on: {fields}, server key {public}")
        return f"curve=on key={public} (the server's public key, as in /etc/campub/server.key)"

    def relay(self):
        """camrelay.service as shipped, in front of the running campub: the host reaches the
        relay on the forwarded port, so campub moves to 127.0.0.1:5556 for this check."""
        self.wait_state("campub", ["active"], 60)
        self.conf("-e 's|^bind = .*|bind = tcp://127.0.0.1:5556|'")
        self.sh("systemctl restart campub")
        self.wait_state("campub", ["active"], 60)
        self.conf("-e 's|^listen = |#listen = |' -e 's|^stats-interval = .*|stats-interval = 2|' "
                  "-e '$a from = tcp://127.0.0.1:5556'", "/etc/campub/camrelay.conf")
        check(self.vm.run("systemctl is-enabled camrelay")[1].strip() == "disabled",
              "installing enabled camrelay")
        t0 = time.monotonic()
        self.sh("systemctl start camrelay", 120)
        p = self.show("camrelay", "ActiveState", "SubState", "MainPID", "WatchdogUSec", "NRestarts")
        check(p["ActiveState"] == "active", f"camrelay after start: {p}\n{self.journal('camrelay', 30)}")
        # Frames of stream cam through the relay (subscribed to it alone), and the directory.
        ctx = zmq.Context.instance()
        socks = []
        for prefix in (b"cam\x00", b".streams\x00"):
            s = ctx.socket(zmq.SUB)
            s.setsockopt(zmq.SUBSCRIBE, prefix)
            s.setsockopt(zmq.RCVTIMEO, 200)
            s.setsockopt(zmq.HANDSHAKE_IVL, 1000)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(f"tcp://127.0.0.1:{self.port}")
            socks.append(s)
        seqs, directory = [], None
        end = time.monotonic() + 40
        try:
            while time.monotonic() < end and (len(seqs) < 5 or directory is None):
                for i, s in enumerate(socks):
                    try:
                        msg = s.recv()
                    except zmq.Again:
                        continue
                    if i == 0:
                        name, seq, _w, _h, _jpeg = parse(msg)
                        check(name == "cam", f"a frame of {name!r} under the cam subscription")
                        seqs.append(seq)
                    else:
                        check(msg[9:14] == b"CAMD\x01", f"not a directory: {msg[:20]!r}")
                        directory = [n.decode() for n in msg[14:].split(b"\x00") if n]
        finally:
            for s in socks:
                s.close()
        check(len(seqs) >= 5, f"{len(seqs)} frames through the relay in 40 s\n{self.journal('camrelay', 30)}")
        check(directory == ["cam"], f"the relay's directory: {directory}")
        check(seqs == sorted(seqs), f"sequence numbers out of order: {seqs}")
        log = self.journal("camrelay")
        check('stream "cam" appeared' in log and "taking streams from tcp://127.0.0.1:5556" in log,
              f"camrelay's journal:\n{log}")
        self.sh("systemctl stop camrelay")
        q = self.show("camrelay", "ActiveState", "Result", "ExecMainStatus")
        check(q["ActiveState"] == "inactive" and q["Result"] == "success" and q["ExecMainStatus"] == "0",
              f"after systemctl stop camrelay: {q}")
        self.conf("-e 's|^bind = .*|bind = tcp://*:5555|'")
        self.sh("systemctl restart campub")
        return (f"camrelay.service active {time.monotonic() - t0:.0f} s after start (Type=notify, watchdog "
                f"{p['WatchdogUSec']}); {len(seqs)} frames of cam through it on the host, directory {directory}; "
                "stopped with exit 0")

    def purge(self):
        out = self.sh("DEBIAN_FRONTEND=noninteractive apt-get purge -y campub", 120)
        check("Purging configuration files for campub" in out, f"apt purge said:\n{out}")
        procs = self.vm.run("grep -lx campub /proc/[0-9]*/comm")[1].strip()
        check(not procs, f"campub still runs after the purge: {procs}")
        for path in ("/lib/systemd/system/campub.service", "/etc/campub/campub.conf", "/usr/bin/campub",
                     "/lib/systemd/system/camrelay.service", "/etc/campub/camrelay.conf", "/usr/bin/camrelay"):
            check(self.vm.run(f"test -e {path}")[0] == 1, f"{path} is still there")
        units = self.sh("systemctl list-unit-files campub.service campub@.service --no-legend || true")
        check("campub" not in units, f"systemd still knows the units: {units}")
        return "stopped, files and units gone, /etc/campub removed"

    def short_enable_now(self):
        t0 = time.monotonic()
        self.sh("systemctl enable --now campub", 180)
        p = self.show("campub", "ActiveState", "MainPID")
        check(p["ActiveState"] == "active", f"after enable --now: {p}\n{self.journal('campub', 20)}")
        seqs = self.frames("cam", seconds=60)
        log = self.journal("campub")
        warnings = self.journal("campub", extra="-p warning")
        check("first frame published" in log and "stats: " in log, f"journal:\n{log}")
        check("the stream is not encrypted" in warnings and "first frame published" not in warnings,
              f"journalctl -p warning:\n{warnings}")
        return (f"enable --now returned active after {time.monotonic() - t0:.0f} s; {len(seqs)} frames on the host; "
                "the journal has the start and stats lines, the warning under -p warning")

    def main(self):
        arch = self.args.arch
        print(f"campub under systemd ({arch} VM, {os.path.basename(self.args.deb)})", flush=True)
        t0 = time.monotonic()
        with self.vm:
            try:
                self.vm.wait_booted(self.boot_s)
            except VmError as e:
                print(f"FAIL  the VM boots systemd\n      {e}")
                print("0 passed, 1 failed")
                return 1
            state = self.vm.run("systemctl is-system-running --wait", 120)[1].strip()
            failed_units = self.vm.run("systemctl --failed --no-legend")[1].strip()
            self.measured.append(f"boot: {time.monotonic() - t0:.0f} s to the agent, system {state}")
            self.run("the VM boots systemd as PID 1 with vivid loaded", lambda: (
                check(self.vm.run("readlink /proc/1/exe")[1].strip().endswith("/systemd"),
                      f"PID 1 is {self.vm.run('readlink /proc/1/exe; cat /proc/1/comm')[1]!r}, not systemd"),
                check(state == "running", f"system state {state}; failed units: {failed_units}"),
                check(self.vm.run("test -c /dev/video0")[0] == 0, "no /dev/video0"),
                f"systemd {self.sh('systemctl --version | head -1').split()[1]}, /dev/video0 from vivid")[-1])
            self.run("1 apt installs the .deb; nothing enabled or started", self.install)
            if self.args.short:
                self.run("2 enable --now: active, frames on the host, the journal with levels", self.short_enable_now)
            else:
                self.run("2 enable --now: activating until the first frame, then active; frames on the host",
                         self.enable_now_activating_then_active)
                self.run("3 the journal: start and stats lines, levels as priorities, no own timestamps",
                         self.journal_levels)
                self.run("4 the watchdog restarts a frozen campub", self.watchdog)
                self.run("5 camera lost -> exit 1 -> restarted -> streaming when it returns", self.camera_loss)
                self.run("6 a configuration error stops the unit at once (no restart loop)", self.config_error)
                self.run("7 campub@video0 streams as stream video0", self.instance)
                self.run("7b DNS-SD: the announcement gets out of the unit's sandbox, with its TXT fields",
                         self.dnssd_plain)
                self.run("8 CURVE from campub.conf's two lines: allow-list, refusals, SIGHUP, the key in DNS-SD",
                         self.curve)
                self.run("9 systemctl stop: exit 0, camera free at once", self.clean_stop)
                self.run("10 after a reboot the enabled unit starts", self.boot)
                self.run("11 camrelay.service in front of campub: frames through it, directory, clean stop",
                         self.relay)
                self.run("12 apt purge stops and forgets campub", self.purge)
            with open(os.path.join(self.args.out, "journal.txt"), "w") as f:
                f.write(self.vm.run("journalctl -b --no-pager -n 2000", 60)[1])
        print("measured:")
        for line in self.measured:
            print("  " + line)
        print(f"  total {time.monotonic() - t0:.0f} s")
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", required=True)
    ap.add_argument("--deb", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--arch", default="x86_64", choices=["x86_64", "aarch64"])
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--camview")
    args = ap.parse_args()
    if not args.short and not args.camview:
        ap.error("the full run needs --camview (the CURVE checks)")
    os.makedirs(args.out, exist_ok=True)
    suite = Suite(args)
    try:
        return suite.main()
    finally:
        shutil.rmtree(suite.share, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
