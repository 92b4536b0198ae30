#!/usr/bin/env python3
"""Dirty logging and interrupt suppression of pagedrange-vhost-blk, checked
bit by bit with a Python front-end (tests/vhost-blk/vufront.py).

  tests/vhost-blk/dirty-log.py [--device PATH] [--keep] [-v]

With VHOST_F_LOG_ALL and a log from SET_LOG_BASE (a memfd, one bit per
4 KiB guest page), every page the device writes must be marked: the pages
an IN request's data went to (exported to preadv as iovecs), the page of
the status byte, the used ring's page; pages it only reads (request
header, OUT data, descriptor table) must not be. A write the log cannot
record (a page beyond the log) must fail the request, not go unlogged.
Without LOG_ALL nothing is marked. With VIRTIO_RING_F_EVENT_IDX the device
must publish avail_event and notify the call eventfd only when used_event
asks for it. Prints PASS or FAIL; exit 0 on PASS.
"""

import argparse
import mmap
import os
import select
import signal
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vufront import (  # noqa: E402
    F_EVENT_IDX, F_LOG_ALL, F_PROTOCOL_FEATURES, F_VERSION_1, PAGE, S_IOERR, S_OK,
    SET_FEATURES, SET_LOG_BASE, T_IN, T_OUT, Alloc, Checks, Conn, Device, Region, VQ,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROG = "dirty-log"
BASE = F_VERSION_1 | F_PROTOCOL_FEATURES | F_EVENT_IDX


class Log:
    def __init__(self, size):
        self.fd = os.memfd_create("dirty-log")
        os.ftruncate(self.fd, size)
        self.m = mmap.mmap(self.fd, size)
        self.size = size

    def pages(self):
        out = set()
        for i, b in enumerate(self.m[:self.size]):
            if b:
                for k in range(8):
                    if b >> k & 1:
                        out.add(i * 8 + k)
        return out

    def clear(self):
        self.m[:self.size] = bytes(self.size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--device", default=os.path.join(ROOT, "build", "pagedrange-vhost-blk"))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    signal.alarm(60)
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix="pr-dirty-", dir="/tmp")
    sock, disk = os.path.join(work, "s.sock"), os.path.join(work, "disk.img")
    content = os.urandom(4 << 20)
    with open(disk, "wb") as f:
        f.write(content)
    check = Checks(PROG, a.verbose)

    dev = Device([a.device, "--socket", sock, "--disk", disk], sock,
                 os.path.join(work, "device.log"))
    status = None
    try:
        c = Conn(sock)
        c.handshake(features=BASE)
        ram = Region(4 << 20, 0x200000)  # guest pages 0x200 .. 0x600
        check("region added", ram.add(c) == 0)
        vq = VQ(ram, ram.gpa, num=32)
        vq.setup(c)
        ring_pages = set(range(vq.desc // PAGE, (vq.end - 1) // PAGE + 1))
        used_pages = set(range(vq.used // PAGE, (vq.end - 1) // PAGE + 1))
        hdr_page = ram.gpa + 0x100000  # one page for headers and status bytes
        alloc = Alloc(ram.gpa + 0x101000, ram.gpa + ram.size)

        def req(t, sector, data_pages=(), data_len=PAGE, offset=0):
            """A request whose data is data_len bytes at `offset` into each of the
            given guest pages (one descriptor per page)."""
            h = hdr_page + 64 * (vq.next_desc % 32)
            ram.write(h, struct.pack("<IIQ", t, 0, sector))
            st = h + 32
            ram.write(st, b"\xff")
            w = t == T_IN
            segs = [(h, 16, False)] + [(p * PAGE + offset, data_len, w) for p in data_pages]
            segs.append((st, 1, True))
            head = vq.chain(segs)
            vq.publish([head])
            (uid, ulen), = vq.wait_used(1)
            return ram.read(st, 1)[0], ulen

        # Without logging.
        st, _ = req(T_IN, 0, [0x300])
        check("IN before logging", st == S_OK)

        log = Log(4096)  # 32768 pages: all of guest memory
        check("SET_LOG_BASE", c.set(SET_LOG_BASE, struct.pack("<QQ", 4096, 0), [log.fd]) == 0)
        check("nothing logged before LOG_ALL", not log.pages(), str(sorted(log.pages())))
        check("SET_FEATURES with LOG_ALL", c.set_u64(SET_FEATURES, BASE | F_LOG_ALL) == 0)

        data_pages = [0x310, 0x311, 0x345, 0x3F0]
        st, ulen = req(T_IN, 8, data_pages, data_len=PAGE - 512, offset=512)
        check("IN while logging", st == S_OK and ulen == 4 * (PAGE - 512) + 1, f"{st} {ulen}")
        got = ram.read(0x310 * PAGE + 512, PAGE - 512)
        check("IN data", got == content[8 * 512:8 * 512 + PAGE - 512])
        marked = log.pages()
        want = set(data_pages) | {hdr_page // PAGE} | used_pages
        check("IN: data pages, status page and used ring page marked", want <= marked,
              f"missing {sorted(hex(p) for p in want - marked)}")
        check("IN: nothing else marked", marked <= want | ring_pages,
              f"extra {sorted(hex(p) for p in marked - want - ring_pages)}")
        check("IN: the descriptor table page not marked",
              vq.desc // PAGE not in marked or vq.desc // PAGE in used_pages)

        log.clear()
        src = [0x400, 0x402]
        ram.write(0x400 * PAGE, os.urandom(PAGE))
        ram.write(0x402 * PAGE, os.urandom(PAGE))
        st, _ = req(T_OUT, 64, src)
        marked = log.pages()
        check("OUT while logging", st == S_OK)
        check("OUT: source pages not marked", not (set(src) & marked), str(marked))
        check("OUT: status and used ring pages marked",
              ({hdr_page // PAGE} | used_pages) <= marked)
        with open(disk, "rb") as f:
            f.seek(64 * 512)
            on_disk = f.read(2 * PAGE)
        check("OUT data on disk", on_disk == ram.read(0x400 * PAGE, PAGE) +
              ram.read(0x402 * PAGE, PAGE))

        # A log too small for the guest: writes it cannot record are refused.
        small = Log(4096)
        check("SET_LOG_BASE with a log of 0x400 pages",
              c.set(SET_LOG_BASE, struct.pack("<QQ", 0x400 // 8, 0), [small.fd]) == 0)
        before = ram.read(0x500 * PAGE, PAGE)
        st, ulen = req(T_IN, 0, [0x500])
        check("IN into a page beyond the log: IOERR, page untouched",
              st == S_IOERR and ram.read(0x500 * PAGE, PAGE) == before, f"{st} {ulen}")
        st, _ = req(T_IN, 0, [0x3A0])
        check("IN into a page the log covers still works", st == S_OK)
        check("and is marked in the new log", 0x3A0 in small.pages())

        check("SET_FEATURES without LOG_ALL", c.set_u64(SET_FEATURES, BASE) == 0)
        small.clear()
        st, _ = req(T_IN, 0, [0x500])
        check("after LOG_ALL is cleared: IN anywhere, nothing marked",
              st == S_OK and not small.pages())

        # Event index: avail_event follows the ring; call only when asked.
        avail_event = struct.unpack("<H", ram.read(vq.used + 4 + 8 * vq.num, 2))[0]
        check("avail_event published", avail_event == vq.avail_idx, f"{avail_event}")
        while select.select([vq.call], [], [], 0)[0]:
            os.eventfd_read(vq.call)
        ram.write(vq.avail + 4 + 2 * vq.num, struct.pack("<H", (vq.used_idx() + 5) & 0xFFFF))
        req(T_IN, 0, [0x300])
        check("used_event ahead: no interrupt",
              not select.select([vq.call], [], [], 0.2)[0])
        ram.write(vq.avail + 4 + 2 * vq.num, struct.pack("<H", vq.used_idx()))
        req(T_IN, 0, [0x300])
        check("used_event reached: interrupt", bool(select.select([vq.call], [], [], 1)[0]))
        c.close()
    except (OSError, AssertionError, TimeoutError) as e:
        check("scenario ran to the end", False, f"{type(e).__name__}: {e}")
    finally:
        status = dev.stop()
    check("device exits 0 on SIGTERM", status == 0, f"status {status}")
    return check.verdict(time.monotonic() - t0, work, a.keep)


if __name__ == "__main__":
    sys.exit(main())
