#!/usr/bin/env python3
"""pagedrange-vhost-blk against a front-end that truncates its guest memory
file while requests are in flight (tests/vhost-blk/vufront.py front-end).

  tests/vhost-blk/truncate.py [--device PATH] [--keep] [-v]

The device maps the front-end's memfd; when the front-end shrinks the file,
touching a page past its new end raises SIGBUS. The device installs the
library's fault recovery (pr_fault_recovery_install), so a library copy
that faults fails with PR_ERR_MEMORY (the GPA, PR_FAULT_SIGBUS, the bytes
done) and a kernel copy (preadv/pwritev) with EFAULT. Checked, one
front-end after another on one device process:

1. Requests made available, then the memfd cut under half of them, then
   the ring enabled: requests wholly below the cut complete OK (data read
   and written correctly); those whose data, header, GET_ID buffer or
   DISCARD segment lies past the cut get VIRTIO_BLK_S_IOERR (status byte
   below the cut), with the used length counting exactly the bytes put in
   before the fault; the device logs the GPA and SIGBUS (EFAULT for
   preadv/pwritev). An indirect table past the cut: the chain is refused
   (length 0, GPA and SIGBUS logged). A request whose status byte lies past
   the cut cannot complete: the device writes the error eventfd, logs it,
   and leaves it out of the used ring.
2. A ring that lies past the cut: the queue stops (error eventfd, log line
   with a GPA past the cut); no request below the cut is touched.
3. A race: 48 requests kicked and the memfd cut at once, 2 IO threads:
   every request completes, OK or IOERR.
4. A dirty log file truncated while logging: the device puts a zero page
   in (its own SIGBUS handler, which the library chains to) and goes on.
5. A well-behaved front-end afterwards: writes and reads back correctly,
   and the disk changed only where successful writes went.

The device must stay alive throughout and exit 0 on SIGTERM. Prints PASS or
FAIL; exit 0 on PASS.
"""

import argparse
import os
import random
import re
import signal
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vufront import (  # noqa: E402
    D_INDIRECT, D_NEXT, D_WRITE, F_INDIRECT, F_LOG_ALL, F_PROTOCOL_FEATURES, F_VERSION_1, PAGE,
    S_IOERR, S_OK, SET_FEATURES, SET_LOG_BASE, T_DISCARD, T_GET_ID, T_IN, T_OUT, Alloc, Blk,
    Checks, Closed, Conn, Device, Region, Req, VQ, blk_hdr,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROG = "truncate"
DISK_SIZE = 16 << 20
BASE = F_VERSION_1 | F_PROTOCOL_FEATURES
ID = b"pagedrange-vhost-blk"


def log_since(dev, at):
    """The device log written after offset `at`."""
    return dev.log()[at:]


def connect(sock, ram_size, gpa=0x100000, features=BASE):
    c = Conn(sock)
    c.handshake(features=features)
    ram = Region(ram_size, gpa)
    assert ram.add(c) == 0, "ADD_MEM_REGION refused"
    return c, ram


def by_head(used):
    return {uid: ulen for uid, ulen in used}


def in_flight_cut(dev, sock, model, check):
    """Phase 1: requests available when the memfd is cut under half of them."""
    mark = len(dev.log())
    c, ram = connect(sock, 4 << 20, features=BASE | F_INDIRECT)
    cut = 2 << 20  # bytes the memfd keeps
    cut_gpa = ram.gpa + cut
    vq = VQ(ram, ram.gpa, num=64)
    vq.setup(c, enable=False)
    low = Alloc(vq.end + PAGE, cut_gpa)
    high = Alloc(cut_gpa, ram.gpa + ram.size)
    blk = Blk(ram, vq, low)
    rnd = random.Random(1)
    out_a = rnd.randbytes(8192)

    reqs = {}  # name -> (Req, expected status, expected used length)
    reqs["OUT below the cut"] = (blk.build(T_OUT, 64, out_data=out_a, seg=3000), S_OK, 1)
    reqs["IN below the cut"] = (blk.build(T_IN, 200, in_len=8192, seg=5000), S_OK, 8193)
    reqs["IN with its data past the cut"] = (
        blk.build(T_IN, 300, in_len=16384, data_alloc=high), S_IOERR, 1)
    reqs["OUT with its data past the cut"] = (
        blk.build(T_OUT, 400, out_data=rnd.randbytes(8192), data_alloc=high), S_IOERR, 1)
    # Data from 4 KiB below the cut to 4 KiB past it: preadv fills the first
    # page, then fails (EFAULT); the request fails whole.
    reqs["IN with its data across the cut"] = (
        blk.build(T_IN, 500, in_len=8192, data_alloc=Alloc(cut_gpa - PAGE, cut_gpa + PAGE)),
        S_IOERR, 1)
    reqs["GET_ID with its buffer past the cut"] = (
        blk.build(T_GET_ID, 0, in_len=20, data_alloc=high), S_IOERR, 1)
    # 8 bytes below the cut, 12 past it: the library's copy stops at the
    # cut (SIGBUS) with 8 bytes done, and the used length counts them.
    reqs["GET_ID with its buffer across the cut"] = (
        blk.build(T_GET_ID, 0, in_len=20, data_alloc=Alloc(cut_gpa - 8, cut_gpa + 12)),
        S_IOERR, 9)
    seg_gpa = ram.gpa + ram.size - 2 * PAGE
    reqs["DISCARD with its segment past the cut"] = (
        blk.build(T_DISCARD, 0, out_data=struct.pack("<QII", 800, 8, 0),
                  data_alloc=Alloc(seg_gpa, seg_gpa + 16)), S_IOERR, 1)
    # An indirect descriptor table past the cut: the chain walker cannot
    # read it, so the chain is refused and returned with length 0.
    tbl, h, st = high.take(48, 16), low.take(16, 8), low.take(1)
    ram.write(h, blk_hdr(T_IN, 900))
    ram.write(st, b"\xff")
    ram.write(tbl, struct.pack("<QIHH", h, 16, D_NEXT, 1) +
              struct.pack("<QIHH", low.take(512), 512, D_WRITE | D_NEXT, 2) +
              struct.pack("<QIHH", st, 1, D_WRITE, 0))
    ind_head = vq.next_desc % vq.num
    vq.next_desc += 1
    vq.put_desc(ind_head, tbl, 48, D_INDIRECT)
    reqs["indirect table past the cut"] = (Req(ind_head, [], st), 0xFF, 0)
    hdr_gpa = ram.gpa + ram.size - PAGE
    hdr_past = Blk(ram, vq, Alloc(hdr_gpa, hdr_gpa + 16))
    reqs["IN with its header past the cut"] = (
        hdr_past.build(T_IN, 600, in_len=4096, data_alloc=low, status_alloc=low), S_IOERR, 1)
    # Published after the others complete: its status byte is past the cut.
    no_status = blk.build(T_IN, 700, in_len=4096, status_alloc=high)

    vq.publish([r.head for r, _, _ in reqs.values()], kick=False)
    ram.truncate(cut)
    vq.enable(c)
    os.eventfd_write(vq.kick, 1)
    got = by_head(vq.wait_used(len(reqs)))
    for name, (r, want_st, want_len) in reqs.items():
        st = r.status(ram)
        check(f"{name}: status {want_st}, used length {want_len}",
              got.get(r.head) == want_len and st == want_st,
              f"status {st}, used length {got.get(r.head)}")
    model[64 * 512:64 * 512 + len(out_a)] = out_a
    r = reqs["IN below the cut"][0]
    check("IN below the cut: the data read",
          r.data(ram) == bytes(model[200 * 512:200 * 512 + 8192]))
    below = ram.read(cut_gpa - 8, 8)
    check("GET_ID across the cut: the 8 bytes below it written", below == ID[:8], repr(below))
    check("no error eventfd for requests that failed with IOERR", not vq.wait_err(0))

    log = log_since(dev, mark)
    id_past = reqs["GET_ID with its buffer past the cut"][0]
    for name, what, gpa, done in (
            ("GET_ID with its buffer past the cut", "GET_ID buffer", id_past.in_segs[0][0], 0),
            ("GET_ID with its buffer across the cut", "GET_ID buffer", cut_gpa, 8),
            ("IN with its header past the cut", "request header", hdr_gpa, 0),
            ("DISCARD with its segment past the cut", "segment", seg_gpa, 0)):
        head = reqs[name][0].head
        check(f"device log: {name}: GPA {gpa:#x}, SIGBUS, {done} bytes done",
              re.search(rf"head {head}: {what}: GPA {gpa:#x} SIGBUS .*, {done} bytes done",
                        log) is not None)
    check("device log: indirect table past the cut: its GPA, SIGBUS",
          re.search(rf"head {ind_head} refused: .* at GPA {tbl:#x}, SIGBUS", log) is not None)
    check("device log: preadv and pwritev into the cut part fail (EFAULT)",
          re.search(r"preadv at \d+: guest buffer unreachable \(EFAULT\)", log) is not None and
          re.search(r"pwritev at \d+: guest buffer unreachable \(EFAULT\)", log) is not None)

    # The status byte past the cut: the request cannot complete.
    mark = len(dev.log())
    vq.publish([no_status.head])
    check("status byte past the cut: error eventfd written", vq.wait_err())
    check("status byte past the cut: the data below the cut was read",
          no_status.data(ram) == bytes(model[700 * 512:700 * 512 + 4096]))
    log = log_since(dev, mark)
    check("device log: status byte at its GPA, SIGBUS, queue stopped",
          re.search(rf"head {no_status.head}: status byte: GPA {no_status.status_gpa:#x} SIGBUS",
                    log) is not None and f"head {no_status.head} cannot be completed" in log, log)
    base = c.get_vring_base(0)  # stops the queue: nothing is in progress after it
    check("GET_VRING_BASE: every head was taken", base == (0, len(reqs) + 1), str(base))
    check("the head without a status was not completed", vq.used_idx() == len(reqs),
          f"used index {vq.used_idx()}")
    check("device alive after phase 1", dev.alive())
    c.close()
    vq.close()
    ram.close()


def ring_cut(dev, sock, check):
    """Phase 2: the ring lies in the part that is cut."""
    mark = len(dev.log())
    c, ram = connect(sock, 2 << 20)
    cut = 1 << 20
    vq = VQ(ram, ram.gpa + cut, num=64)
    vq.setup(c, enable=False)
    blk = Blk(ram, vq, Alloc(ram.gpa, ram.gpa + cut))
    reqs = [blk.build(T_IN, 10 * i, in_len=4096) for i in range(4)]
    vq.publish([r.head for r in reqs], kick=False)
    ram.truncate(cut)
    vq.enable(c)
    os.eventfd_write(vq.kick, 1)
    check("ring past the cut: error eventfd written", vq.wait_err())
    m = re.search(r"queue 0: ring at GPA (0x[0-9a-f]+): SIGBUS", log_since(dev, mark))
    check("device log: the ring's GPA (past the cut), SIGBUS",
          m is not None and ram.gpa + cut <= int(m.group(1), 16) < ram.gpa + ram.size,
          log_since(dev, mark))
    c.get_vring_base(0)
    check("ring past the cut: no request touched",
          all(r.status(ram) == 0xFF and r.data(ram) == b"\xee" * 4096 for r in reqs))
    check("device alive after phase 2", dev.alive())
    c.close()
    vq.close()
    ram.close()


def race(dev, sock, check):
    """Phase 3: the memfd cut while the device serves the requests."""
    c, ram = connect(sock, 8 << 20)
    cut = 1 << 20
    vq = VQ(ram, ram.gpa, num=256)
    vq.setup(c)
    blk = Blk(ram, vq, Alloc(vq.end + PAGE, ram.gpa + cut))
    high = Alloc(ram.gpa + cut, ram.gpa + ram.size)
    reqs = []
    for i in range(48):
        if i % 4 == 3:
            reqs.append((blk.build(T_GET_ID, 0, in_len=20, data_alloc=high), 20))
        else:
            reqs.append((blk.build(T_IN, 128 * i, in_len=65536, seg=16384, data_alloc=high), 65536))
    vq.publish([r.head for r, _ in reqs])
    # Cut as soon as the first request completes, so that the others are
    # being served (which ones fail depends on timing; the checks do not).
    deadline = time.monotonic() + 30
    while vq.used_idx() == 0 and time.monotonic() < deadline:
        pass
    ram.truncate(cut)
    got = by_head(vq.wait_used(len(reqs), timeout=60))
    bad = []
    counts = {S_OK: 0, S_IOERR: 0}
    for r, n in reqs:
        st, ulen = r.status(ram), got.get(r.head)
        ok = (st == S_OK and ulen == n + 1) or (st == S_IOERR and ulen is not None and
                                                 1 <= ulen <= n + 1)
        if not ok:
            bad.append(f"head {r.head}: status {st} used length {ulen}")
        else:
            counts[st] += 1
    check("race: every request completed once, OK or IOERR", not bad and len(got) == len(reqs),
          "; ".join(bad[:4]))
    if check.verbose:
        print(f"{PROG}: race: {counts[S_OK]} OK, {counts[S_IOERR]} IOERR", file=sys.stderr)
    check("device alive after phase 3", dev.alive())
    c.close()
    vq.close()
    ram.close()


def log_cut(dev, sock, model, check):
    """Phase 4: the dirty log file truncated while the device logs."""
    mark = len(dev.log())
    c, ram = connect(sock, 4 << 20)
    vq = VQ(ram, ram.gpa, num=64)
    vq.setup(c)
    blk = Blk(ram, vq, Alloc(vq.end + PAGE, ram.gpa + ram.size))
    log_fd = os.memfd_create("dirty-log")
    os.ftruncate(log_fd, 4096)  # 32768 pages: all of guest memory
    check("SET_LOG_BASE", c.set(SET_LOG_BASE, struct.pack("<QQ", 4096, 0), [log_fd]) == 0)
    check("SET_FEATURES with LOG_ALL", c.set_u64(SET_FEATURES, BASE | F_LOG_ALL) == 0)
    st, _, data = blk.request(T_IN, 40, in_len=8192)
    check("IN while logging", st == S_OK and data == bytes(model[40 * 512:40 * 512 + 8192]))
    os.ftruncate(log_fd, 0)
    st, _, data = blk.request(T_IN, 80, in_len=8192)
    check("IN after the log file was truncated: OK",
          st == S_OK and data == bytes(model[80 * 512:80 * 512 + 8192]), f"status {st}")
    check("device log: a dirty log page vanished", "dirty log page vanished" in
          log_since(dev, mark))
    check("device alive after phase 4", dev.alive())
    os.close(log_fd)
    c.close()
    vq.close()
    ram.close()


def next_frontend(dev, sock, disk, model, check):
    """Phase 5: a well-behaved front-end is served normally."""
    c, ram = connect(sock, 4 << 20)
    vq = VQ(ram, ram.gpa, num=64)
    vq.setup(c)
    blk = Blk(ram, vq, Alloc(vq.end + PAGE, ram.gpa + ram.size))
    data = random.Random(5).randbytes(65536)
    st, ulen, _ = blk.request(T_OUT, 1000, out_data=data, seg=7000)
    check("next front-end: OUT 64 KiB", st == S_OK and ulen == 1, f"status {st} len {ulen}")
    model[1000 * 512:1000 * 512 + len(data)] = data
    st, ulen, got = blk.request(T_IN, 1000, in_len=65536, seg=9000)
    check("next front-end: IN reads it back", st == S_OK and ulen == 65537 and got == data,
          f"status {st} len {ulen}")
    st, _, got = blk.request(T_IN, 64, in_len=8192)
    check("next front-end: reads what phase 1 wrote below the cut",
          st == S_OK and got == bytes(model[64 * 512:64 * 512 + 8192]))
    st, _, got = blk.request(T_GET_ID, 0, in_len=20)
    check("next front-end: GET_ID", st == S_OK and got == ID, repr(got))
    c.close()
    vq.close()
    ram.close()
    with open(disk, "rb") as f:
        now = f.read()
    diff = [i // 512 for i in range(0, DISK_SIZE, 512) if now[i:i + 512] != model[i:i + 512]]
    check("disk changed only where successful writes went", not diff,
          f"{len(diff)} sectors differ, first {diff[:4]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default=os.path.join(ROOT, "build", "pagedrange-vhost-blk"))
    ap.add_argument("--timeout", type=int, default=300, help="whole test, seconds")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    signal.alarm(a.timeout)
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix="pr-truncate-", dir="/tmp")
    sock, disk = os.path.join(work, "s.sock"), os.path.join(work, "disk.img")
    model = bytearray(os.urandom(DISK_SIZE))
    with open(disk, "wb") as f:
        f.write(model)
    check = Checks(PROG, a.verbose)
    dev = Device([a.device, "--socket", sock, "--disk", disk], sock,
                 os.path.join(work, "device.log"))
    try:
        phases = (lambda: in_flight_cut(dev, sock, model, check),
                  lambda: ring_cut(dev, sock, check),
                  lambda: race(dev, sock, check),
                  lambda: log_cut(dev, sock, model, check),
                  lambda: next_frontend(dev, sock, disk, model, check))
        for phase in phases:
            try:
                phase()
            except (Closed, TimeoutError, AssertionError, OSError) as e:
                check("phase ran to the end", False, f"{type(e).__name__}: {e}")
                break
        check("device alive at the end", dev.alive())
    finally:
        status = dev.stop()
    check("device exits 0 on SIGTERM", status == 0, f"status {status}")
    return check.verdict(time.monotonic() - t0, work, a.keep)


if __name__ == "__main__":
    sys.exit(main())
