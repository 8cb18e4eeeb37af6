"""The systemd-mode test VM seen from the host: boots image.sh's Debian with systemd as PID 1
under qemu, and runs shell commands in it through the guest's agent (agent.sh) on a
virtio-serial port. A guest reboot restarts the VM in the same qemu process, on the same disk.

    with Vm(image, arch, share, port) as vm:
        vm.wait_booted()
        rc, out = vm.run("systemctl is-system-running --wait")

Networking: qemu's user network with restrict=on (the guest reaches nothing outside the VM)
and one port forwarded from 127.0.0.1:PORT on the host to the guest's 5555. The disk is the
cached image in snapshot mode: writes live in a temporary file that qemu drops at exit.
"""
import base64
import os
import socket
import subprocess
import time


class VmError(Exception):
    pass


class Vm:
    def __init__(self, image, arch, share, port, out, smp=None):
        self.image, self.arch, self.share, self.port, self.out = image, arch, share, port, out
        self.smp = smp or min(os.cpu_count() or 1, 4)
        self.sock_path = os.path.join(out, "agent.sock")
        self.console = os.path.join(out, "console.log")
        self.proc = None
        self.conn = None
        self.buf = b""
        self.boot_id = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        os.makedirs(self.out, exist_ok=True)
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)
        if self.arch == "x86_64":
            # Software emulation; AVX hidden from the guest (qemu emulates it very slowly; see
            # tests/vm/README.md).
            machine = ["-M", "pc", "-accel", "tcg", "-cpu", os.environ.get("CAMPUB_VM_CPU", "max,-avx,-avx2")]
            console = "ttyS0"
        else:
            machine = ["-M", "virt", "-accel", "tcg", "-cpu", os.environ.get("CAMPUB_VM_CPU", "cortex-a72")]
            console = "ttyAMA0"
        cmd = [f"qemu-system-{self.arch}", "-nodefaults", "-no-user-config", "-display", "none",
               *machine, "-m", "1024", "-smp", str(self.smp),
               "-kernel", os.path.join(self.image, "kernel"),
               "-initrd", os.path.join(self.image, "initrd"),
               "-append", f"console={console} root=/dev/vda quiet loglevel=3 panic=-1 "
                          "mitigations=off random.trust_cpu=on systemd.show_status=0",
               "-drive", f"file={os.path.join(self.image, 'root.img')},format=raw,if=none,id=disk,snapshot=on",
               "-device", "virtio-blk-pci,drive=disk",
               "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-:5555",
               "-device", "virtio-net-pci,netdev=n0",
               "-device", "virtio-serial-pci",
               "-chardev", f"socket,id=agent,path={self.sock_path},server=on,wait=off",
               "-device", "virtserialport,chardev=agent,name=campub.agent",
               "-fsdev", f"local,id=host,path={self.share},security_model=none,multidevs=remap",
               "-device", "virtio-9p-pci,fsdev=host,mount_tag=host",
               "-device", "virtio-rng-pci",
               "-serial", f"file:{self.console}"]
        self.qemu_log = open(os.path.join(self.out, "qemu.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.qemu_log,
                                     stderr=subprocess.STDOUT)
        # qemu binds the socket's path before it listens on it: a connect in between is refused,
        # so retry until it is accepted.
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise VmError(f"qemu did not start: {self.tail('qemu.log')}")
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(self.sock_path)
            except (FileNotFoundError, ConnectionRefusedError):
                conn.close()
                time.sleep(0.05)
                continue
            self.conn = conn
            break

    def stop(self):
        if self.conn:
            self.conn.close()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, name, lines=30):
        try:
            with open(os.path.join(self.out, name), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def _line(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if self.proc.poll() is not None:
                raise VmError(f"qemu exited ({self.proc.returncode}); console:\n{self.tail('console.log')}")
            self.conn.settimeout(min(left, 1.0))
            try:
                chunk = self.conn.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise VmError("the agent's channel closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def wait_booted(self, timeout_s):
        """Until the agent (started by systemd late in the boot) says hello from a new boot."""
        deadline = time.monotonic() + timeout_s
        previous = self.boot_id
        while True:
            try:
                line = self._line(deadline)
            except TimeoutError:
                raise VmError(f"no boot within {timeout_s} s; console:\n{self.tail('console.log')}")
            if line.startswith("HELLO ") and line[6:] != previous:
                self.boot_id = line[6:]
                return

    def run(self, command, timeout_s=60):
        """(exit status, output) of a bash command in the guest, as root."""
        self.conn.sendall(b"CMD " + base64.b64encode(command.encode()) + b"\n")
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._line(deadline)
            except TimeoutError:
                raise VmError(f"no answer within {timeout_s} s to: {command}")
            if line.startswith("RC "):
                _, rc, *rest = line.split(" ", 2)
                return int(rc), base64.b64decode(rest[0] if rest else "").decode(errors="replace")

    def ok(self, command, timeout_s=60):
        """The command's output; VmError when it fails."""
        rc, out = self.run(command, timeout_s)
        if rc != 0:
            raise VmError(f"`{command}` exited {rc}: {out}")
        return out

    def reboot(self, timeout_s):
        """systemctl reboot, then until the agent greets from the next boot."""
        self.conn.sendall(b"CMD " + base64.b64encode(b"systemctl reboot") + b"\n")
        self.wait_booted(timeout_s)
