"""A small vhost-user front-end in pure Python (standard library only), to
drive a vhost-user-blk backend the way a hostile or buggy VMM or guest
would: raw messages with any header and any file descriptors (SCM_RIGHTS),
guest memory in memfds, split virtqueues built by hand.

Used by tests/vhost-blk/hostile.py, dirty-log.py and truncate.py.
"""

import mmap
import os
import select
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import time

# Requests.
GET_FEATURES = 1
SET_FEATURES = 2
SET_OWNER = 3
RESET_OWNER = 4
SET_MEM_TABLE = 5
SET_LOG_BASE = 6
SET_VRING_NUM = 8
SET_VRING_ADDR = 9
SET_VRING_BASE = 10
GET_VRING_BASE = 11
SET_VRING_KICK = 12
SET_VRING_CALL = 13
SET_VRING_ERR = 14
GET_PROTOCOL_FEATURES = 15
SET_PROTOCOL_FEATURES = 16
GET_QUEUE_NUM = 17
SET_VRING_ENABLE = 18
SET_BACKEND_REQ_FD = 21
GET_CONFIG = 24
SET_CONFIG = 25
GET_MAX_MEM_SLOTS = 36
ADD_MEM_REGION = 37
REM_MEM_REGION = 38

VERSION = 0x1
FLAG_REPLY = 0x4
NEED_REPLY = 0x8

# Feature bits.
F_VERSION_1 = 1 << 32
F_PROTOCOL_FEATURES = 1 << 30
F_EVENT_IDX = 1 << 29
F_INDIRECT = 1 << 28
F_LOG_ALL = 1 << 26
PF_MQ, PF_LOG_SHMFD, PF_REPLY_ACK, PF_CONFIG, PF_MEM_SLOTS = 1, 2, 8, 1 << 9, 1 << 15

# Descriptor flags.
D_NEXT, D_WRITE, D_INDIRECT = 1, 2, 4

# virtio-blk.
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WRITE_ZEROES = 0, 1, 4, 8, 11, 13
S_OK, S_IOERR, S_UNSUPP = 0, 1, 2

PAGE = 4096


class Closed(Exception):
    pass


class Checks:
    """The named checks of one test program `prog`: failures are printed
    (passes too with `verbose`) and counted for the verdict."""

    def __init__(self, prog, verbose=False):
        self.prog, self.verbose = prog, verbose
        self.failed, self.passed = [], 0

    def __call__(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            if self.verbose:
                print(f"{self.prog}: ok   {name}", file=sys.stderr)
        else:
            self.failed.append(f"{name}{': ' + detail if detail else ''}")
            print(f"{self.prog}: FAIL {name} {detail}", file=sys.stderr)
        return ok

    def verdict(self, elapsed, work, keep=False, note=""):
        """Prints the PASS or FAIL line and returns the exit status; the work
        directory (device log, disk) is kept on failure or with `keep`."""
        if self.failed:
            print(f"{self.prog}: device log kept in {work}", file=sys.stderr)
            print(f"{self.prog}: FAIL {len(self.failed)} of {len(self.failed) + self.passed} "
                  f"checks ({elapsed:.1f} s): " + "; ".join(self.failed[:8]))
            return 1
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        print(f"{self.prog}: PASS {self.passed} checks{note} ({elapsed:.1f} s)")
        return 0


class Conn:
    """One connection to the backend socket."""

    def __init__(self, path, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.s.settimeout(timeout)

    def close(self):
        self.s.close()

    def send(self, req, payload=b"", fds=(), flags=VERSION, size=None):
        hdr = struct.pack("<III", req, flags, len(payload) if size is None else size)
        data = hdr + payload
        if fds:
            socket.send_fds(self.s, [data], list(fds))
        else:
            self.s.sendall(data)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise Closed("connection closed by the backend")
            buf += chunk
        return buf

    def reply(self, expect_req=None):
        req, flags, size = struct.unpack("<III", self._recv_exact(12))
        payload = self._recv_exact(size) if size else b""
        if expect_req is not None and req != expect_req:
            raise AssertionError(f"reply to request {req}, expected {expect_req}")
        if not flags & FLAG_REPLY:
            raise AssertionError(f"reply without the reply flag (flags {flags:#x})")
        return payload

    def no_reply(self, wait=0.3):
        """True when nothing arrives within `wait` seconds (and the socket is open)."""
        r, _, _ = select.select([self.s], [], [], wait)
        if not r:
            return True
        data = self.s.recv(1, socket.MSG_PEEK)
        if not data:
            raise Closed("connection closed by the backend")
        return False

    def is_closed(self, wait=2.0):
        """True when the backend closed the connection within `wait` s."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.s], [], [], 0.1)
            if r:
                try:
                    data = self.s.recv(4096)
                except ConnectionResetError:
                    return True
                if not data:
                    return True
        return False

    # --- typed helpers -------------------------------------------------------
    def get_u64(self, req):
        self.send(req, flags=VERSION | NEED_REPLY)
        p = self.reply(req)
        return struct.unpack("<Q", p)[0]

    def set(self, req, payload=b"", fds=()):
        """A SET_* with NEED_REPLY; returns the acknowledgement (0 = success)."""
        self.send(req, payload, fds, flags=VERSION | NEED_REPLY)
        p = self.reply(req)
        return struct.unpack("<Q", p)[0]

    def set_u64(self, req, v, fds=()):
        return self.set(req, struct.pack("<Q", v), fds)

    def state(self, req, index, num):
        return self.set(req, struct.pack("<II", index, num))

    def get_vring_base(self, index):
        self.send(GET_VRING_BASE, struct.pack("<II", index, 0), flags=VERSION | NEED_REPLY)
        return struct.unpack("<II", self.reply(GET_VRING_BASE))

    def get_config(self, offset=0, size=60):
        self.send(GET_CONFIG, struct.pack("<III", offset, size, 0) + bytes(size),
                  flags=VERSION | NEED_REPLY)
        p = self.reply(GET_CONFIG)
        return p[12:]

    def handshake(self, features=F_VERSION_1 | F_PROTOCOL_FEATURES,
                  protocol=PF_REPLY_ACK | PF_CONFIG | PF_MEM_SLOTS | PF_MQ | PF_LOG_SHMFD):
        offered = self.get_u64(GET_FEATURES)
        assert offered & features == features, f"features {offered:#x} lack {features:#x}"
        p_offered = self.get_u64(GET_PROTOCOL_FEATURES)
        assert p_offered & protocol == protocol, f"protocol {p_offered:#x} lack {protocol:#x}"
        assert self.set_u64(SET_PROTOCOL_FEATURES, protocol) == 0
        assert self.set(SET_OWNER) == 0
        assert self.set_u64(SET_FEATURES, features) == 0
        return offered


class Region:
    """Guest RAM in a memfd: guest addresses gpa.., front-end addresses uva.."""

    def __init__(self, size, gpa, uva=None):
        self.size, self.gpa = size, gpa
        self.uva = gpa + 0x7F0000000000 if uva is None else uva
        self.fd = os.memfd_create("guest-ram")
        os.ftruncate(self.fd, size)
        self.m = mmap.mmap(self.fd, size)
        self.held = size  # bytes the memfd still holds (see truncate)

    def truncate(self, held):
        """Shrinks the memfd to `held` bytes, as a hostile front-end would: the
        region keeps its size, and touching a page past the new end of the
        file raises SIGBUS (in the device and here: read and write refuse)."""
        os.ftruncate(self.fd, held)
        self.held = held

    def _offset(self, gpa, n):
        o = gpa - self.gpa
        assert 0 <= o and o + n <= self.held, f"gpa {gpa:#x} + {n} is not held by the memfd"
        return o

    def desc(self, mmap_offset=0):
        return struct.pack("<QQQQ", self.gpa, self.size, self.uva, mmap_offset)

    def add(self, conn):
        return conn.set(ADD_MEM_REGION, bytes(8) + self.desc(), [self.fd])

    def contains(self, gpa, n=1):
        return self.gpa <= gpa and gpa + n <= self.gpa + self.size

    def write(self, gpa, data):
        o = self._offset(gpa, len(data))
        self.m[o:o + len(data)] = data

    def read(self, gpa, n):
        o = self._offset(gpa, n)
        return bytes(self.m[o:o + n])

    def close(self):
        self.m.close()
        os.close(self.fd)


class VQ:
    """A split virtqueue whose rings live in `ram` at `base` (guest address)."""

    def __init__(self, ram, base, num=64, index=0):
        self.ram, self.num, self.index = ram, num, index
        self.desc = base
        self.avail = base + 16 * num
        self.used = (self.avail + 6 + 2 * num + 3) & ~3
        self.end = self.used + 6 + 8 * num
        self.next_desc = 0
        self.avail_idx = 0
        self.used_seen = 0
        self.kick = os.eventfd(0, os.EFD_NONBLOCK)
        self.call = os.eventfd(0, os.EFD_NONBLOCK)
        self.err = os.eventfd(0, os.EFD_NONBLOCK)
        ram.write(base, bytes(self.end - base))

    def uva(self, gpa):
        return gpa - self.ram.gpa + self.ram.uva

    def setup(self, conn, enable=True):
        assert conn.state(SET_VRING_NUM, self.index, self.num) == 0
        assert conn.state(SET_VRING_BASE, self.index, 0) == 0
        addr = struct.pack("<IIQQQQ", self.index, 0, self.uva(self.desc), self.uva(self.used),
                           self.uva(self.avail), 0)
        assert conn.set(SET_VRING_ADDR, addr) == 0
        assert conn.set_u64(SET_VRING_KICK, self.index, [self.kick]) == 0
        assert conn.set_u64(SET_VRING_CALL, self.index, [self.call]) == 0
        assert conn.set_u64(SET_VRING_ERR, self.index, [self.err]) == 0
        if enable:
            assert conn.state(SET_VRING_ENABLE, self.index, 1) == 0

    def put_desc(self, i, addr, length, flags, nxt=0, table=None):
        at = (self.desc if table is None else table) + 16 * i
        self.ram.write(at, struct.pack("<QIHH", addr, length, flags, nxt))

    def chain(self, segs):
        """segs: [(gpa, len, writable)] -> head, descriptors allocated in order."""
        head = None
        idxs = []
        for _ in segs:
            idxs.append(self.next_desc % self.num)
            self.next_desc += 1
        for k, (gpa, length, w) in enumerate(segs):
            flags = (D_WRITE if w else 0) | (D_NEXT if k + 1 < len(segs) else 0)
            nxt = idxs[k + 1] if k + 1 < len(segs) else 0
            self.put_desc(idxs[k], gpa, length, flags, nxt)
        head = idxs[0]
        return head

    def publish(self, heads, kick=True):
        for h in heads:
            self.ram.write(self.avail + 4 + 2 * (self.avail_idx % self.num), struct.pack("<H", h))
            self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        self.ram.write(self.avail + 2, struct.pack("<H", self.avail_idx))
        if kick:
            os.eventfd_write(self.kick, 1)

    def set_avail_idx(self, idx, kick=True):
        self.avail_idx = idx & 0xFFFF
        self.ram.write(self.avail + 2, struct.pack("<H", self.avail_idx))
        if kick:
            os.eventfd_write(self.kick, 1)

    def enable(self, conn, on=True):
        """SET_VRING_ENABLE: the device starts (or stops) serving the ring."""
        assert conn.state(SET_VRING_ENABLE, self.index, 1 if on else 0) == 0

    def wait_err(self, timeout=5.0):
        """True when the device wrote the error eventfd within `timeout` s
        (it stopped the queue); the count is consumed."""
        if not select.select([self.err], [], [], timeout)[0]:
            return False
        os.eventfd_read(self.err)
        return True

    def used_idx(self):
        return struct.unpack("<H", self.ram.read(self.used + 2, 2))[0]

    def wait_used(self, count, timeout=5.0):
        """The next `count` used elements [(id, len)], or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while (self.used_idx() - self.used_seen) & 0xFFFF < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"queue {self.index}: {count} completions expected, "
                                   f"{(self.used_idx() - self.used_seen) & 0xFFFF} arrived")
            time.sleep(0.002)
        out = []
        for _ in range(count):
            i = self.used_seen % self.num
            out.append(struct.unpack("<II", self.ram.read(self.used + 4 + 8 * i, 8)))
            self.used_seen = (self.used_seen + 1) & 0xFFFF
        return out

    def close(self):
        os.close(self.kick)
        os.close(self.call)
        os.close(self.err)


class Alloc:
    """Bump allocator over a guest address range."""

    def __init__(self, start, end):
        self.start, self.end, self.at = start, end, start

    def take(self, n, align=1):
        self.at = (self.at + align - 1) // align * align
        a = self.at
        self.at += n
        if self.at > self.end:
            raise MemoryError("test guest memory exhausted")
        return a

    def reset(self):
        self.at = self.start


def blk_hdr(t, sector):
    return struct.pack("<IIQ", t, 0, sector)


class Req:
    """A request built in guest memory: its head, the guest addresses of its
    device-writable data pieces [(gpa, len)] and of its status byte."""

    def __init__(self, head, in_segs, status_gpa):
        self.head, self.in_segs, self.status_gpa = head, in_segs, status_gpa

    def status(self, ram):
        return ram.read(self.status_gpa, 1)[0]

    def data(self, ram):
        return b"".join(ram.read(a, n) for a, n in self.in_segs)


class Blk:
    """virtio-blk requests on one queue, with buffers split into segments."""

    def __init__(self, ram, vq, alloc):
        self.ram, self.vq, self.alloc = ram, vq, alloc

    def build(self, t, sector, out_data=b"", in_len=0, seg=None, status_len=1, data_alloc=None,
              status_alloc=None):
        """Builds one request (not published): header from `alloc`, data from
        `data_alloc` and the status byte from `status_alloc` (both default to
        `alloc`). IN buffers are filled with 0xee, the status with 0xff."""
        data_alloc = data_alloc or self.alloc
        status_alloc = status_alloc or self.alloc
        segs = []
        h = self.alloc.take(16, 8)
        self.ram.write(h, blk_hdr(t, sector))
        segs.append((h, 16, False))
        for piece in _split(out_data, seg):
            a = data_alloc.take(len(piece), 1)
            self.ram.write(a, piece)
            segs.append((a, len(piece), False))
        in_segs = []
        for n in _split_len(in_len, seg):
            a = data_alloc.take(n, 1)
            self.ram.write(a, b"\xee" * n)
            segs.append((a, n, True))
            in_segs.append((a, n))
        st = status_alloc.take(status_len)
        self.ram.write(st, b"\xff" * status_len)
        segs.append((st, status_len, True))
        return Req(self.vq.chain(segs), in_segs, st + status_len - 1)

    def request(self, t, sector, out_data=b"", in_len=0, seg=None, status_len=1):
        """Builds, submits and waits for one request; returns (status, used_len, data)."""
        r = self.build(t, sector, out_data, in_len, seg, status_len)
        self.vq.publish([r.head])
        (uid, ulen), = self.vq.wait_used(1)
        assert uid == r.head, f"used id {uid}, expected head {r.head}"
        data, status = r.data(self.ram), r.status(self.ram)
        self.alloc.reset()
        return status, ulen, data


def _split_len(n, seg):
    if n == 0:
        return []
    if not seg:
        return [n]
    out = []
    while n > 0:
        k = min(seg, n)
        out.append(k)
        n -= k
    return out


def _split(data, seg):
    out, at = [], 0
    for k in _split_len(len(data), seg):
        out.append(data[at:at + k])
        at += k
    return out


class Device:
    """The backend process (started from a command list)."""

    def __init__(self, argv, sock, log, timeout=10):
        # PR_VHOST_BLK_WRAP: a command prefix, e.g. "valgrind --error-exitcode=99".
        argv = shlex.split(os.environ.get("PR_VHOST_BLK_WRAP", "")) + list(argv)
        self.argv, self.sock, self.logpath = argv, sock, log
        self.logf = open(log, "wb")
        if os.path.exists(sock):
            os.unlink(sock)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout * (3 if len(argv) > 1 and "valgrind" in argv[0] else 1)
        while not os.path.exists(sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("backend did not start:\n" + self.log())
            time.sleep(0.02)

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def nfds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode
