"""Shared pieces of the real-guest tests (tests/vm/guest-io.py, migrate.py).

Standard library only. A backend is a command template: tokens split like a
shell would (shlex), each formatted with
  {socket} {disk} {queues} {root}   the socket path, disk image, queue
                                    count, repository root
  {writable}                        "on" or "off" (qemu-storage-daemon style)
  {ro}                              "--read-only" or nothing (the token is
                                    dropped when it expands to nothing)
Named templates: "qsd" (qemu-storage-daemon, the reference) and
"pagedrange" (build/pagedrange-vhost-blk).
"""

import hashlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_GUEST = os.path.join(ROOT, "scripts", "vm", "run-guest.sh")
SETUP = os.path.join(ROOT, "scripts", "vm", "setup.sh")

BACKENDS = {
    "qsd": "qemu-storage-daemon"
           " --blockdev driver=file,node-name=disk0,filename={disk}"
           " --export type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,"
           "addr.path={socket},writable={writable},num-queues={queues}",
    "pagedrange": "{root}/build/pagedrange-vhost-blk --socket {socket} --disk {disk}"
                  " --queues {queues} {ro}",
}

RECORD = re.compile(r"(PR[A-Z]+)((?: [^ ]+)*)")


def _die_with_parent():
    """preexec_fn: SIGTERM the child when this harness dies (killed, or
    crashed), so no backend or QEMU outlives a test."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def log(prog, msg):
    print(f"{prog}: {msg}", file=sys.stderr, flush=True)


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip().upper())
    if not m:
        raise ValueError(f"bad size {text!r}")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def backend_argv(template, sock, disk, queues, read_only):
    template = BACKENDS.get(template, template)
    values = {
        "socket": sock, "disk": disk, "queues": str(queues), "root": ROOT,
        "writable": "off" if read_only else "on",
        "ro": "--read-only" if read_only else "",
    }
    argv = [tok.format(**values) for tok in shlex.split(template)]
    return [a for a in argv if a != ""]


def ensure_setup(prog):
    """Run scripts/vm/setup.sh (fast when everything is cached)."""
    r = subprocess.run([SETUP], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        log(prog, "scripts/vm/setup.sh failed:\n" + r.stderr)
        sys.exit(2)


def make_workdir():
    # Unix socket paths are limited to 107 bytes: keep the directory short.
    return tempfile.mkdtemp(prefix="pr-vm-", dir="/tmp")


def md5_range(path, off, length):
    h = hashlib.md5()
    with open(path, "rb") as f:
        f.seek(off)
        left = length
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    if left > 0:  # past the end of the file: short read, cannot match
        return "short-read"
    return h.hexdigest()


class Backend:
    """A vhost-user-blk backend process: start, wait for its socket, check."""

    def __init__(self, argv, sock, logpath):
        self.argv, self.sock, self.logpath = argv, sock, logpath
        self.proc = None
        self.exit_status = None

    def start(self, timeout=10.0):
        self.logf = open(self.logpath, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"backend exited with status {self.proc.returncode} "
                                   f"before creating {self.sock}:\n{self.log_tail()}")
            if os.path.exists(self.sock):
                return
            time.sleep(0.02)
        raise RuntimeError(f"backend did not create {self.sock} within {timeout} s")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL after timeout; returns the exit status
        (negative: killed by that signal)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        self.exit_status = self.proc.returncode
        return self.exit_status

    def log_tail(self, n=30):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""


class Guest:
    """scripts/vm/run-guest.sh in the background; its console is collected
    (raw bytes, for streams split across a migration) and parsed on demand."""

    def __init__(self, args, logpath, echo=False):
        self.args, self.logpath, self.echo = args, logpath, echo
        self.buf = bytearray()
        self.lock = threading.RLock()  # wait_until predicates may call output()
        self.cond = threading.Condition(self.lock)
        self.proc = None

    def start(self):
        self.logf = open(self.logpath, "wb")
        self.proc = subprocess.Popen([RUN_GUEST] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.logf,
                                     preexec_fn=_die_with_parent)
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()
        return self

    def _pump(self):
        fd = self.proc.stdout.fileno()
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            self.logf.write(data)
            self.logf.flush()
            if self.echo:
                sys.stderr.buffer.write(data)
                sys.stderr.flush()
            with self.cond:
                self.buf += data
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def size(self):
        with self.lock:
            return len(self.buf)

    def output(self):
        with self.lock:
            return bytes(self.buf)

    def wait_until(self, pred, timeout):
        """Wait until pred(records) is true (records parsed from the console
        so far) or the guest exits or timeout; returns pred's last value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                ok = pred(parse_records(bytes(self.buf)))
                if ok or self.proc.poll() is not None or time.monotonic() >= deadline:
                    return ok
                self.cond.wait(min(0.1, max(0.0, deadline - time.monotonic())))

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.thread.join(5)
        self.logf.close()
        return rc


def parse_records(data, partial=False):
    """PR* records of a console stream: list of (byte_offset, kind, fields),
    the offset being where the line starts (to attribute it to a phase). A
    last line without its newline is left out unless partial is true."""
    if not partial:
        data = data[:data.rfind(b"\n") + 1]
    out = []
    pos = 0
    for raw in data.split(b"\n"):
        line = raw.decode(errors="replace").replace("\r", "")
        m = RECORD.search(line)
        if m:
            out.append((pos, m.group(1), m.group(2).split()))
        pos += len(raw) + 1
    return out


class QMP:
    """Minimal QMP client over a unix socket."""

    def __init__(self, path, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.f = self.sock.makefile("rwb")
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise EOFError("QMP connection closed")
            msg = json.loads(line)
            if "event" in msg:
                continue
            return msg

    def cmd(self, name, **args):
        """Returns ("return", value) or ("error", desc)."""
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.f.write(json.dumps(req).encode() + b"\n")
        self.f.flush()
        msg = self._read()
        if "error" in msg:
            return "error", msg["error"].get("desc", str(msg["error"]))
        return "return", msg.get("return")

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass
