#!/usr/bin/env python3
"""A hostile vhost-user front-end against pagedrange-vhost-blk.

  tests/vhost-blk/hostile.py [--device PATH] [--verify-seconds S] [--keep] [-v]

Speaks vhost-user over the unix socket (SCM_RIGHTS for descriptors, Python
standard library only) and sends what a broken or malicious VMM or guest
would: unknown requests, wrong size fields, too many descriptors,
descriptors that cannot be mapped, overlapping or overflowing regions, ring
addresses outside the regions, bad versions, truncated messages; then, on a
proper queue, requests past the disk end or overflowing the sector
arithmetic, buffers outside guest memory or in a truncated memory file,
descriptor loops, bad indirect tables, readable-after-writable chains,
heads out of range, an available index running away. Checks that the
device answers each as it should (a failed acknowledgement, a closed
connection, VIRTIO_BLK_S_IOERR/UNSUPP, a head returned with length 0, a
log line), that its descriptor count does not grow, that the disk file
changed only where valid writes went, and that a well-behaved libblkio
client (tests/vhost-blk-client verify) is served correctly afterwards.
Prints PASS or FAIL; exit 0 on PASS.
"""

import argparse
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vufront import (  # noqa: E402
    ADD_MEM_REGION, D_INDIRECT, D_NEXT, D_WRITE, F_INDIRECT, F_PROTOCOL_FEATURES, F_VERSION_1,
    GET_CONFIG, GET_QUEUE_NUM, NEED_REPLY, REM_MEM_REGION, S_IOERR, S_OK, S_UNSUPP,
    SET_FEATURES, SET_LOG_BASE, SET_OWNER, SET_VRING_ADDR, SET_VRING_CALL, SET_VRING_KICK,
    SET_VRING_NUM, T_DISCARD, T_FLUSH, T_GET_ID, T_IN, T_OUT, T_WRITE_ZEROES, VERSION, Alloc,
    Blk, Checks, Closed, Conn, Device, Region, VQ,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROG = "hostile"
DISK_SIZE = 16 << 20
SECTORS = DISK_SIZE // 512


def nack(conn, req, payload=b"", fds=(), size=None):
    """Sends with NEED_REPLY; returns the acknowledgement value."""
    conn.send(req, payload, fds, flags=VERSION | NEED_REPLY, size=size)
    return struct.unpack("<Q", conn.reply(req))[0]


def control_plane(dev, sock, check, tmp):
    base_fds = dev.nfds()
    c = Conn(sock)
    c.handshake(features=F_VERSION_1 | F_PROTOCOL_FEATURES)

    check("unknown request, reply expected: failure ack", nack(c, 99) != 0)
    c.send(99)
    check("unknown request, no reply expected: ignored", c.no_reply())
    check("still answering after that", c.get_u64(GET_QUEUE_NUM) == 2)
    check("SET_FEATURES with a 4-byte payload: failure ack",
          nack(c, SET_FEATURES, b"\0\0\0\0") != 0)
    check("SET_FEATURES with a bit never offered: failure ack",
          nack(c, SET_FEATURES, struct.pack("<Q", 1 << 63 | F_VERSION_1)) != 0)
    check("SET_VRING_NUM on queue 7 of 2: failure ack",
          nack(c, SET_VRING_NUM, struct.pack("<II", 7, 64)) != 0)
    check("SET_VRING_NUM 100 (not a power of 2): failure ack",
          nack(c, SET_VRING_NUM, struct.pack("<II", 0, 100)) != 0)
    check("SET_VRING_NUM 0: failure ack", nack(c, SET_VRING_NUM, struct.pack("<II", 0, 0)) != 0)

    efds = [os.eventfd(0) for _ in range(20)]
    check("SET_VRING_CALL with 3 fds: failure ack",
          nack(c, SET_VRING_CALL, struct.pack("<Q", 0), efds[:3]) != 0)
    check("SET_OWNER with 20 fds: failure ack", nack(c, SET_OWNER, b"", efds) != 0)
    check("SET_VRING_KICK without fd and without the no-fd flag: failure ack",
          nack(c, SET_VRING_KICK, struct.pack("<Q", 0)) != 0)
    for f in efds:
        os.close(f)

    r, w = os.pipe()
    region = struct.pack("<QQQQQ", 0, 0x100000, 1 << 20, 0x7F0000100000, 0)
    check("ADD_MEM_REGION with a pipe fd (cannot be mmapped): failure ack",
          nack(c, ADD_MEM_REGION, region, [r]) != 0)
    check("SET_LOG_BASE with a pipe fd: failure reply",
          nack(c, SET_LOG_BASE, struct.pack("<QQ", 4096, 0), [r]) != 0)
    os.close(r)
    os.close(w)
    small = os.memfd_create("small")
    os.ftruncate(small, 4096)
    check("ADD_MEM_REGION larger than its memfd: failure ack",
          nack(c, ADD_MEM_REGION, region, [small]) != 0)
    check("ADD_MEM_REGION of size 0: failure ack",
          nack(c, ADD_MEM_REGION, struct.pack("<QQQQQ", 0, 0x100000, 0, 0x7F0000100000, 0),
               [small]) != 0)
    check("ADD_MEM_REGION whose guest range passes 2^64: failure ack",
          nack(c, ADD_MEM_REGION,
               struct.pack("<QQQQQ", 0, (1 << 64) - 4096, 8192, 0x7F0000100000, 0),
               [small]) != 0)
    check("ADD_MEM_REGION with mmap_offset + size past 2^64: failure ack",
          nack(c, ADD_MEM_REGION,
               struct.pack("<QQQQQ", 0, 0x100000, 4096, 0x7F0000100000, (1 << 64) - 2048),
               [small]) != 0)
    os.close(small)

    a = Region(1 << 20, 0x100000)
    b = Region(1 << 20, 0x180000)  # overlaps a's upper half
    check("ADD_MEM_REGION (well-formed)", a.add(c) == 0)
    check("ADD_MEM_REGION overlapping it: failure ack (pr_memory_new_mapped refuses)",
          b.add(c) != 0)
    check("REM_MEM_REGION of a region never added: failure ack",
          nack(c, REM_MEM_REGION, bytes(8) + struct.pack("<QQQQ", 0x900000, 4096, 0, 0)) != 0)
    check("SET_VRING_NUM 64", nack(c, SET_VRING_NUM, struct.pack("<II", 0, 64)) == 0)
    outside = struct.pack("<IIQQQQ", 0, 0, 0x12340000, 0x12350000, 0x12360000, 0)
    check("SET_VRING_ADDR outside the regions: failure ack", nack(c, SET_VRING_ADDR, outside) != 0)
    straddle = struct.pack("<IIQQQQ", 0, 0, a.uva + a.size - 512, a.uva, a.uva + 4096, 0)
    check("SET_VRING_ADDR with a ring crossing the region end: failure ack",
          nack(c, SET_VRING_ADDR, straddle) != 0)
    misaligned = struct.pack("<IIQQQQ", 0, 0, a.uva + 8, a.uva + 8192, a.uva + 4096, 0)
    check("SET_VRING_ADDR with a misaligned descriptor table: failure ack",
          nack(c, SET_VRING_ADDR, misaligned) != 0)
    with open(os.path.join(tmp, "regular"), "wb") as f:
        f.write(b"x" * 64)
    fd = os.open(os.path.join(tmp, "regular"), os.O_RDONLY)
    check("SET_VRING_KICK with a regular file: failure ack",
          nack(c, SET_VRING_KICK, struct.pack("<Q", 0), [fd]) != 0)
    os.close(fd)
    c.send(GET_CONFIG, struct.pack("<III", 250, 100, 0) + bytes(100), flags=VERSION | NEED_REPLY)
    check("GET_CONFIG past the config space: connection closed", c.is_closed())
    c.close()
    a.close()
    b.close()

    c = Conn(sock)
    c.send(SET_OWNER, size=0x100000)
    check("size field of 1 MiB: connection closed", c.is_closed())
    c.close()
    c = Conn(sock)
    c.send(SET_OWNER, flags=0x2)
    check("protocol version 2: connection closed", c.is_closed())
    c.close()
    c = Conn(sock)
    c.s.sendall(struct.pack("<II", SET_FEATURES, VERSION))  # 8 of the 12 header bytes
    c.close()
    c = Conn(sock)
    c.send(SET_FEATURES, b"\0\0\0", size=8)  # payload shorter than announced
    c.close()
    check("truncated messages: device alive", dev.alive())
    c = Conn(sock)
    check("next connection served", c.get_u64(GET_QUEUE_NUM) == 2)
    c.close()
    time.sleep(0.3)
    check("no descriptor leaked by the device", dev.nfds() == base_fds,
          f"{dev.nfds()} open, {base_fds} at the start")


def guest_side(dev, sock, disk, model, check):
    c = Conn(sock)
    c.handshake(features=F_VERSION_1 | F_PROTOCOL_FEATURES | F_INDIRECT)
    ram = Region(8 << 20, 0x100000)
    check("guest RAM region added", ram.add(c) == 0)
    vq = VQ(ram, ram.gpa, num=64, index=0)
    vq.setup(c)
    alloc = Alloc(vq.end + 4096, ram.gpa + ram.size)
    blk = Blk(ram, vq, alloc)
    rnd = random.Random(7)

    # Well-formed requests, with many small unaligned segments.
    data = bytes(rnd.getrandbits(8) for _ in range(8192))
    st, ulen, _ = blk.request(T_OUT, 100, out_data=data, seg=777)
    check("OUT 8 KiB in 11 odd segments", st == S_OK and ulen == 1, f"status {st} len {ulen}")
    model[100 * 512:100 * 512 + len(data)] = data
    st, ulen, got = blk.request(T_IN, 100, in_len=8192, seg=333)
    check("IN 8 KiB in 25 odd segments reads it back", st == S_OK and got == data and
          ulen == 8193, f"status {st} len {ulen}")
    st, ulen, _ = blk.request(T_FLUSH, 0)
    check("FLUSH", st == S_OK and ulen == 1)
    st, ulen, got = blk.request(T_GET_ID, 0, in_len=20)
    check("GET_ID", st == S_OK and got == b"pagedrange-vhost-blk" and ulen == 21, repr(got))
    st, ulen, got = blk.request(T_IN, SECTORS - 2, in_len=1024)
    check("IN of the last 2 sectors", st == S_OK and got == bytes(model[-1024:]))

    # Requests the device must refuse whole.
    st, ulen, got = blk.request(T_IN, SECTORS - 1, in_len=1024)
    check("IN past the disk end: IOERR, no data", st == S_IOERR and ulen == 1 and
          got == b"\xee" * 1024, f"status {st} len {ulen}")
    st, ulen, _ = blk.request(T_OUT, SECTORS - 1, out_data=b"\xab" * 1024)
    check("OUT past the disk end: IOERR", st == S_IOERR and ulen == 1)
    st, _, _ = blk.request(T_OUT, (1 << 64) - 1, out_data=b"\xab" * 512)
    check("OUT at sector 2^64-1 (sector arithmetic overflows): IOERR", st == S_IOERR)
    st, _, _ = blk.request(T_OUT, (1 << 55) + 1, out_data=b"\xab" * 512)
    check("OUT at sector 2^55+1 (byte offset overflows): IOERR", st == S_IOERR)
    st, _, _ = blk.request(T_IN, 1 << 60, in_len=512)
    check("IN at sector 2^60: IOERR", st == S_IOERR)
    st, _, _ = blk.request(T_OUT, 10, out_data=b"\xab" * 100)
    check("OUT of 100 bytes (not whole sectors): IOERR", st == S_IOERR)
    st, _, _ = blk.request(99, 0, in_len=512)
    check("unknown request type: UNSUPP", st == S_UNSUPP)
    seg = struct.pack("<QII", SECTORS - 4, 8, 0)
    st, _, _ = blk.request(T_DISCARD, 0, out_data=seg)
    check("DISCARD past the disk end: IOERR", st == S_IOERR)
    st, _, _ = blk.request(T_WRITE_ZEROES, 0, out_data=struct.pack("<QII", 200, 8, 0x80))
    check("WRITE_ZEROES with unknown flags: UNSUPP", st == S_UNSUPP)
    st, _, _ = blk.request(T_DISCARD, 0, out_data=seg + seg)
    check("DISCARD with 2 segments (max 1): UNSUPP", st == S_UNSUPP)

    def raw(segs, expect_len, name, status_at=None, expect_status=None):
        head = vq.chain(segs)
        vq.publish([head])
        (uid, ulen), = vq.wait_used(1)
        ok = uid == head and ulen == expect_len
        detail = f"used id {uid} len {ulen}"
        if status_at is not None:
            s = ram.read(status_at, 1)[0]
            ok = ok and s == expect_status
            detail += f" status {s}"
        check(name, ok, detail)
        alloc.reset()

    h = alloc.take(16, 8)
    ram.write(h, struct.pack("<IIQ", T_OUT, 0, 300))
    stat = alloc.take(1)
    ram.write(stat, b"\xff")
    raw([(h, 16, False), (0x7000000000, 512, False), (stat, 1, True)], 1,
        "OUT from a buffer outside guest memory: IOERR", stat, S_IOERR)
    h = alloc.take(16, 8)
    ram.write(h, struct.pack("<IIQ", T_IN, 0, 300))
    stat = alloc.take(1)
    ram.write(stat, b"\xff")
    raw([(h, 16, False), (ram.gpa + ram.size - 256, 512, True), (stat, 1, True)], 1,
        "IN into a buffer running off guest memory: IOERR", stat, S_IOERR)
    h = alloc.take(8, 8)
    ram.write(h, struct.pack("<II", T_IN, 0))
    stat = alloc.take(1)
    raw([(h, 8, False), (stat, 1, True)], 1, "8-byte header: IOERR", stat, S_IOERR)
    h = alloc.take(16, 8)
    ram.write(h, struct.pack("<IIQ", T_IN, 0, 0))
    raw([(h, 16, False)], 0, "no device-writable byte: returned with length 0")

    # Malformed chains: the walker refuses them.
    h = alloc.take(16, 8)
    ram.write(h, struct.pack("<IIQ", T_IN, 0, 0))
    d0, d1 = vq.next_desc % vq.num, (vq.next_desc + 1) % vq.num
    vq.next_desc += 2
    vq.put_desc(d0, h, 16, D_NEXT, d1)
    vq.put_desc(d1, alloc.take(512), 512, D_NEXT, d0)
    vq.publish([d0])
    (uid, ulen), = vq.wait_used(1)
    check("descriptor loop: returned with length 0", uid == d0 and ulen == 0, f"{uid} {ulen}")
    alloc.reset()

    stat = alloc.take(1)
    ram.write(stat, b"\xff")
    h = alloc.take(16, 8)
    ram.write(h, struct.pack("<IIQ", T_IN, 0, 0))
    raw([(h, 16, False), (alloc.take(512), 512, True), (alloc.take(16), 16, False),
         (stat, 1, True)], 1, "readable after writable: IOERR in the last byte", stat, S_IOERR)

    head = vq.next_desc % vq.num
    vq.next_desc += 1
    tbl = alloc.take(64, 16)
    vq.put_desc(head, tbl, 24, D_INDIRECT)
    vq.publish([head])
    (uid, ulen), = vq.wait_used(1)
    check("indirect table of 24 bytes: returned with length 0", ulen == 0, f"len {ulen}")
    alloc.reset()

    head = vq.next_desc % vq.num
    vq.next_desc += 1
    tbl = alloc.take(48, 16)
    vq.put_desc(head, 0x7000000000, 48, D_INDIRECT)
    vq.publish([head])
    (uid, ulen), = vq.wait_used(1)
    check("indirect table outside guest memory: returned with length 0", ulen == 0)

    h = alloc.take(16, 8)
    ram.write(h, struct.pack("<IIQ", T_IN, 0, 0))
    stat = alloc.take(1)
    ram.write(stat, b"\xff")
    tbl = alloc.take(48, 16)
    inner = alloc.take(32, 16)
    ram.write(tbl, struct.pack("<QIHH", h, 16, D_NEXT, 1) +
              struct.pack("<QIHH", inner, 32, D_INDIRECT | D_NEXT, 2) +
              struct.pack("<QIHH", stat, 1, D_WRITE, 0))
    head = vq.next_desc % vq.num
    vq.next_desc += 1
    vq.put_desc(head, tbl, 48, D_INDIRECT)
    vq.publish([head])
    (uid, ulen), = vq.wait_used(1)
    check("indirect table inside an indirect table: refused",
          uid == head and ulen in (0, 1) and ram.read(stat, 1)[0] in (0xFF, S_IOERR))
    alloc.reset()

    # A well-formed indirect request works.
    h = alloc.take(16, 8)
    ram.write(h, struct.pack("<IIQ", T_IN, 0, 100))
    buf = alloc.take(4096)
    stat = alloc.take(1)
    tbl = alloc.take(48, 16)
    ram.write(tbl, struct.pack("<QIHH", h, 16, D_NEXT, 1) +
              struct.pack("<QIHH", buf, 4096, D_WRITE | D_NEXT, 2) +
              struct.pack("<QIHH", stat, 1, D_WRITE, 0))
    head = vq.next_desc % vq.num
    vq.next_desc += 1
    vq.put_desc(head, tbl, 48, D_INDIRECT)
    vq.publish([head])
    (uid, ulen), = vq.wait_used(1)
    check("well-formed indirect IN", ulen == 4097 and ram.read(stat, 1)[0] == S_OK and
          ram.read(buf, 4096) == bytes(model[100 * 512:100 * 512 + 4096]))
    alloc.reset()

    # A second region whose memfd the front-end then shrinks to nothing: the
    # device must not die of SIGBUS touching it (tests/vhost-blk/truncate.py
    # does this with requests in flight).
    data = Region(1 << 20, 0x4000000)
    check("second region added", data.add(c) == 0)
    h = alloc.take(16, 8)
    ram.write(h, struct.pack("<IIQ", T_IN, 0, 0))
    stat = alloc.take(1)
    ram.write(stat, b"\xff")
    raw([(h, 16, False), (data.gpa, 4096, True), (stat, 1, True)], 4097,
        "IN into the second region", stat, S_OK)
    os.ftruncate(data.fd, 0)
    h = alloc.take(16, 8)
    ram.write(h, struct.pack("<IIQ", T_IN, 0, 0))
    stat = alloc.take(1)
    ram.write(stat, b"\xff")
    raw([(h, 16, False), (data.gpa + 8192, 4096, True), (stat, 1, True)], 1,
        "IN into a region whose file was truncated: IOERR (preadv EFAULT)", stat, S_IOERR)
    h = alloc.take(16, 8)
    ram.write(h, struct.pack("<IIQ", T_GET_ID, 0, 0))
    stat = alloc.take(1)
    ram.write(stat, b"\xff")
    raw([(h, 16, False), (data.gpa + 12288, 20, True), (stat, 1, True)], 1,
        "GET_ID into the truncated region: IOERR (the library's copy took SIGBUS)", stat,
        S_IOERR)
    check("device alive after touching a truncated region", dev.alive())
    data.m.close()  # never touched here after the truncation
    os.close(data.fd)

    vq.publish([1000])
    (uid, ulen), = vq.wait_used(1)
    check("head 1000 in a queue of 64: returned with length 0", uid == 1000 and ulen == 0)

    # A run-away available index stops the queue, not the device.
    before = vq.used_idx()
    vq.set_avail_idx(vq.avail_idx + 1000)
    time.sleep(0.3)
    check("available index 1000 ahead: nothing completed", vq.used_idx() == before)
    check("device alive", dev.alive())
    check("control plane still answers", c.get_u64(GET_QUEUE_NUM) == 2)
    c.close()
    vq.close()
    ram.close()
    time.sleep(0.2)

    with open(disk, "rb") as f:
        now = f.read()
    diff = [i for i in range(0, DISK_SIZE, 512) if now[i:i + 512] != model[i:i + 512]]
    check("disk changed only where valid writes went", not diff,
          f"{len(diff)} sectors differ, first at sector {diff[0] // 512 if diff else 0}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--device", default=os.path.join(ROOT, "build", "pagedrange-vhost-blk"))
    ap.add_argument("--client", default=os.path.join(
        ROOT, "tests", "vhost-blk-client", "target", "release", "vhost-blk-client"))
    ap.add_argument("--verify-seconds", type=float, default=3)
    ap.add_argument("--timeout", type=int, default=120, help="whole test, seconds")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    signal.alarm(a.timeout)
    t0 = time.monotonic()
    if not os.path.exists(a.client):
        subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                        os.path.join(ROOT, "tests", "vhost-blk-client", "Cargo.toml")], check=True)
    work = tempfile.mkdtemp(prefix="pr-hostile-", dir="/tmp")
    sock, disk = os.path.join(work, "s.sock"), os.path.join(work, "disk.img")
    model = bytearray(os.urandom(DISK_SIZE))
    with open(disk, "wb") as f:
        f.write(model)
    check = Checks(PROG, a.verbose)
    dev = Device([a.device, "--socket", sock, "--disk", disk, "--queues", "2"], sock,
                 os.path.join(work, "device.log"))
    status = None
    try:
        try:
            control_plane(dev, sock, check, work)
            guest_side(dev, sock, disk, model, check)
        except (Closed, TimeoutError, AssertionError, OSError) as e:
            check("scenario ran to the end", False, f"{type(e).__name__}: {e}")
        check("device alive after the hostile front-end", dev.alive())
        r = subprocess.run([a.client, "verify", "--socket", sock, "--disk", disk, "--queues", "2",
                            "--seconds", str(a.verify_seconds)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=a.verify_seconds + 60)
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        check("libblkio verify afterwards", r.returncode == 0, last)
        log = dev.log()
        for want in ("closing the connection", "refused", "descriptor", "past the disk end",
                     "outside the memory regions", "overlap", "entries ahead"):
            check(f"device log mentions '{want}'", want in log.lower() or want in log)
    finally:
        status = dev.stop()
    check("device exits 0 on SIGTERM", status == 0, f"status {status}")
    return check.verdict(time.monotonic() - t0, work, a.keep, ", libblkio verify afterwards PASS")


if __name__ == "__main__":
    sys.exit(main())
