#!/usr/bin/env bash
# Tests the amd64 package end to end on this machine (root, Debian bookworm): builds the .deb,
# installs it with dpkg, checks its files, Depends and conffile, runs the installed
# /usr/bin/campub with campub.service's own ExecStart line (plus --source pattern and a
# loopback bind) as an unprivileged user with a systemd notify socket, checks that frames reach
# a ZeroMQ subscriber and that READY=1 and WATCHDOG=1 arrive, then purges the package.
# Needs no systemd as PID 1. Refuses to run where campub is already installed.
#
#   packaging/test-deb.sh [path/to/campub_VERSION_amd64.deb]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "test-deb: run as root (it installs a package)" >&2; exit 1; }
if dpkg-query -W -f='${Status}' campub 2>/dev/null | grep -q "installed"; then
    echo "test-deb: campub is installed already; not touching it" >&2
    exit 1
fi

deb="${1:-$(packaging/build-deb.sh)}"
echo "test-deb: $deb"
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
trap 'dpkg --purge campub >/dev/null 2>&1 || true' EXIT

# The package itself.
dpkg-deb --info "$deb" >/dev/null
depends=$(dpkg-deb --field "$deb" Depends)
echo "test-deb: Depends: $depends"
for lib in libc6 libzmq5; do
    [[ "$depends" == *"$lib "* || "$depends" == *"$lib," || "$depends" == *"$lib" ]] || fail "Depends lacks $lib"
done
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = "$(printf '%s\n' /etc/campub/campub.conf /etc/campub/camrelay.conf)" ] \
    || fail "conffiles is not exactly campub.conf and camrelay.conf"

# Install: no systemd here, so postinst must cope (and must not enable or start anything).
dpkg -i "$deb" >/dev/null
for f in /usr/bin/campub /lib/systemd/system/campub.service /lib/systemd/system/campub@.service \
    /etc/campub/campub.conf /usr/share/doc/campub/copyright /usr/bin/camrelay \
    /lib/systemd/system/camrelay.service /etc/campub/camrelay.conf; do
    [ -f "$f" ] || fail "$f missing after install"
done
[ ! -e /etc/systemd/system/multi-user.target.wants/camrelay.service ] || fail "install enabled camrelay"
/usr/bin/camrelay --help >/dev/null || fail "camrelay --help"
# camrelay's shipped configuration is valid as it is (a bad one exits 2 at once; a good one
# runs until stopped).
timeout -s TERM 2 /usr/bin/camrelay --config /etc/campub/camrelay.conf --bind tcp://127.0.0.1:0 \
    --listen tcp://127.0.0.1:0 --stats-interval 0 2>/dev/null && status=0 || status=$?
[ "$status" -eq 124 ] || [ "$status" -eq 0 ] || fail "camrelay with the shipped camrelay.conf exited $status"
[ -x /usr/bin/campub ] || fail "/usr/bin/campub not executable"
[ "$(stat -c %a /etc/campub/campub.conf)" = 644 ] || fail "campub.conf mode"
dpkg-query -W -f='${Conffiles}\n' campub | grep -q '/etc/campub/campub.conf' || fail "dpkg does not list the conffile"
[ ! -e /etc/systemd/system/multi-user.target.wants/campub.service ] || fail "install enabled the unit"
/usr/bin/campub --help >/dev/null || fail "campub --help"
echo "test-deb: installed files ok"

# The unit's own command line, as systemd would run it (first ExecStart= of the unit).
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/campub.service | head -n 1)
[ -n "$exec_start" ] || fail "no ExecStart in campub.service"
echo "test-deb: ExecStart=$exec_start"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
read -r -a command <<<"$exec_start"
command+=(--source pattern --bind "tcp://127.0.0.1:$port" --stats-interval 0)

python3 - "$port" "${command[@]}" <<'EOF'
# Runs the command as nobody (the unit's DynamicUser stands for "some unprivileged user") with
# systemd's notify and watchdog variables, subscribes, and checks frames and notifications.
import os, socket, struct, subprocess, sys, tempfile, time
import zmq

port, command = sys.argv[1], sys.argv[2:]
tmp = tempfile.mkdtemp()
os.chmod(tmp, 0o755)
notify_path = os.path.join(tmp, "notify")
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)
os.chmod(notify_path, 0o777)
notify.setblocking(False)

env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "2000000"}
user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
campub = subprocess.Popen(user + command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
# WATCHDOG_PID must name campub itself, not setpriv: setpriv execs, so the pid is the same.

sub = zmq.Context().socket(zmq.SUB)
sub.setsockopt(zmq.SUBSCRIBE, b"cam\0")
sub.setsockopt(zmq.RCVTIMEO, 100)
sub.connect(f"tcp://127.0.0.1:{port}")

frames, states, deadline = [], [], time.time() + 5
while time.time() < deadline and campub.poll() is None:
    try:
        msg = sub.recv()
        nul = msg.index(b"\0")
        magic, version, codec, header_len, seq, _ns, w, h, n = struct.unpack_from("<4sBBHQQHHI", msg, nul + 1)
        jpeg = msg[nul + 1 + header_len:]
        if magic == b"CAMF" and len(jpeg) == n and jpeg[:2] == b"\xff\xd8":
            frames.append((seq, w, h))
    except zmq.Again:
        pass
    try:
        while True:
            states += notify.recv(4096).decode().split("\n")
    except BlockingIOError:
        pass

still_running = campub.poll() is None
campub.terminate()
_, err = campub.communicate(timeout=10)
print(err.decode(errors="replace")[-2000:], file=sys.stderr)
print(f"test-deb: {len(frames)} frames in 5 s, first {frames[:1]}, notify {sorted(set(states) - {''})}")
assert still_running, "campub exited by itself"
assert campub.returncode == 0, f"campub exit status {campub.returncode} after SIGTERM"
assert len(frames) >= 10, "too few frames"
assert frames[0][1] == 640, "not 640 wide"
assert "READY=1" in states, "no READY=1"
assert "WATCHDOG=1" in states, "no WATCHDOG=1"
EOF
echo "test-deb: the installed campub streams with the unit's command line"

# Purge: everything the package installed goes, the conffile too.
dpkg --purge campub >/dev/null
for f in /usr/bin/campub /lib/systemd/system/campub.service /etc/campub/campub.conf \
    /usr/bin/camrelay /lib/systemd/system/camrelay.service /etc/campub/camrelay.conf; do
    [ ! -e "$f" ] || fail "$f left after purge"
done
trap - EXIT
echo "test-deb: 1 passed, 0 failed"
