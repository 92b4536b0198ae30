#!/usr/bin/env python3
"""Real-guest IO test of a vhost-user-blk backend.

  tests/vm/guest-io.py [options] [--] [BACKEND_CMD...]

BACKEND_CMD is a command template ({socket}, {disk}, {queues}, {ro},
{writable}, {root}: see tests/vm/vmlib.py), e.g.
  tests/vm/guest-io.py -- build/pagedrange-vhost-blk --socket {socket} --disk {disk} --queues {queues} {ro}
Without one, --backend names a template: qsd (default, qemu-storage-daemon)
or pagedrange (build/pagedrange-vhost-blk).

Steps: create a sparse disk image in a fresh /tmp directory, start the
backend on a socket there, boot the guest (scripts/vm/run-guest.sh) in
write-verify mode (read-verify with --read-only: the image is filled with
random data first and the guest must see a read-only disk that refuses
writes), compare each PRSUM the guest printed with the md5 of the same byte
range of the image, check that the guest passed its own checks, that QEMU
exited 0, and that the backend is still running after the guest went away.
Prints one PASS/FAIL line on stdout; exits 0 on PASS, 1 on FAIL, 2 on a
setup error.
"""

import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402

PROG = "guest-io"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="qsd", help="qsd, pagedrange, or a template string")
    ap.add_argument("--queues", type=int, default=1, help="device queues and guest vCPUs (1)")
    ap.add_argument("--read-only", action="store_true", help="read-only device: read-verify mode")
    ap.add_argument("--disk-size", default="64M", help="image size (64M, the minimum)")
    ap.add_argument("--timeout", type=float, default=120, help="guest timeout, seconds (120)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("-v", "--verbose", action="store_true", help="echo the guest console")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="backend command template")
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    template = " ".join(_quote(t) for t in cmd) if cmd else a.backend

    t0 = time.monotonic()
    vmlib.ensure_setup(PROG)
    work = vmlib.make_workdir()
    disk = os.path.join(work, "disk.img")
    sock = os.path.join(work, "vhost.sock")
    size = vmlib.parse_size(a.disk_size)
    with open(disk, "wb") as f:
        f.truncate(size)
        if a.read_only:  # something to read: random data in the tested ranges
            f.seek(0)
            f.write(os.urandom(16 << 20))
    argv = vmlib.backend_argv(template, sock, disk, a.queues, a.read_only)
    vmlib.log(PROG, "backend: " + " ".join(argv))
    backend = vmlib.Backend(argv, sock, os.path.join(work, "backend.log"))
    failures = []
    recs = []
    guest = None
    rc = None
    try:
        try:
            backend.start()
        except (RuntimeError, OSError) as e:
            print(f"{PROG}: FAIL backend did not start: {e} (work directory {work})")
            return 1
        mode = "read-verify" if a.read_only else "write-verify"
        guest = vmlib.Guest(["--socket", sock, "--queues", str(a.queues), "--mode", mode,
                             "--timeout", str(int(a.timeout))],
                            os.path.join(work, "console.log"), echo=a.verbose).start()
        t_boot = time.monotonic()
        rc = guest.wait(a.timeout + 15)
        t_guest = time.monotonic() - t_boot
        recs = vmlib.parse_records(guest.output(), partial=True)
        failures += check(recs, disk, a.read_only, a.queues)
        if rc != 0:
            failures.append(f"QEMU exited with status {rc}" + (" (timeout)" if rc == 124 else ""))
        if not backend.alive():
            failures.append(f"backend died (status {backend.proc.returncode}) "
                            "after the guest disconnected")
    finally:
        status = backend.stop()
    elapsed = time.monotonic() - t0
    nsums = sum(1 for _, k, _ in recs if k == "PRSUM") if guest else 0
    info = " ".join(" ".join(f) for _, k, f in recs if k == "PRINFO") if guest else ""
    vmlib.log(PROG, f"guest: {info}")
    vmlib.log(PROG, f"backend exit status after SIGTERM: {status}")
    if failures:
        vmlib.log(PROG, f"work directory kept: {work} (console.log, backend.log)")
        tail = guest.output().decode(errors="replace").replace("\r", "").splitlines()[-25:] if guest else []
        vmlib.log(PROG, "console tail:\n  " + "\n  ".join(tail))
        vmlib.log(PROG, "backend log tail:\n  " + backend.log_tail().replace("\n", "\n  "))
        print(f"{PROG}: FAIL ({len(failures)} problems, {elapsed:.1f} s): " + "; ".join(failures[:10]))
        return 1
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    what = "read-only disk refused the write, " if a.read_only else ""
    print(f"{PROG}: PASS {nsums} ranges match the image, {what}guest verdict PASS, "
          f"backend alive after disconnect (queues={a.queues}, guest {t_guest:.1f} s, total {elapsed:.1f} s)")
    return 0


def _quote(tok):
    import shlex
    return shlex.quote(tok) if "{" not in tok else tok


def check(recs, disk, read_only, queues):
    bad = []
    sums = [f for _, k, f in recs if k == "PRSUM"]
    results = [f for _, k, f in recs if k == "PRRESULT"]
    for _, k, f in recs:
        if k == "PRERR":
            bad.append("guest: " + " ".join(f))
    if not results:
        bad.append("no PRRESULT from the guest (crash, panic or timeout)")
        return bad
    verdict = results[-1]
    if verdict[0] != "PASS":
        bad.append("guest verdict: " + " ".join(verdict))
    kv = dict(x.split("=", 1) for x in verdict[1:] if "=" in x)
    if "sums" in kv and int(kv["sums"]) != len(sums):
        bad.append(f"guest announced {kv['sums']} PRSUM records, printed {len(sums)}")
    if not sums:
        bad.append("no PRSUM records")
    for f in sums:
        if len(f) != 3:
            bad.append("malformed PRSUM " + " ".join(f))
            continue
        off, length, want = int(f[0]), int(f[1]), f[2]
        got = vmlib.md5_range(disk, off, length)
        if got != want:
            bad.append(f"image [{off}, +{length}) md5 {got}, guest read {want}")
    if read_only:
        ro = [f for _, k, f in recs if k == "PRRO"]
        if not ro or ro[-1][0] != "rejected":
            bad.append("read-only: the guest's write was not rejected")
    infos = {}
    for _, k, f in recs:
        if k == "PRINFO":
            infos.update(x.split("=", 1) for x in f if "=" in x)
    if "hw_queues" in infos and int(infos["hw_queues"]) != queues:
        bad.append(f"guest sees {infos['hw_queues']} hardware queues, expected {queues}")
    return bad


if __name__ == "__main__":
    sys.exit(main())
