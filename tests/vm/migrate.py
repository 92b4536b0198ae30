#!/usr/bin/env python3
"""Live migration of a real guest doing IO on a vhost-user-blk backend.

  tests/vm/migrate.py [options] [--] [BACKEND_CMD...]

Backend templates as in tests/vm/guest-io.py (default: qemu-storage-daemon).

Steps: start the backend on a fresh sparse image; boot the guest
(scripts/vm/run-guest.sh --mode migrate-writer, QMP on a unix socket); once
it has written blocks for --before seconds, QMP `migrate` with
uri "exec:cat > FILE" while the guest keeps writing, poll `query-migrate`
until completed, `quit`; start a second QEMU with `-incoming "exec:cat FILE"`
on the same backend socket; let the guest write for --after seconds, then
write the stop marker ("PRSTOP" at the start of the image's last sector);
the guest stops, reads every block back and prints its verdict. Checks: the
block numbers run 0..N-1 without a gap across the two QEMUs, every PRBLOCK
md5 (before, during and after the migration) matches the same byte range of
the image, the guest's own readback passed, the backend is still alive.

If QEMU refuses to migrate (backend without VHOST_F_LOG_ALL /
VHOST_USER_PROTOCOL_F_LOG_SHMFD), QEMU's message is printed, the guest is
stopped and verified on the source, and the result is FAIL, or SKIP (exit 0)
with --allow-no-migration. Exit: 0 PASS/SKIP, 1 FAIL, 2 setup error.
"""

import argparse
import os
import shlex
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402

PROG = "migrate"


def blocks(recs):
    return [r for r in recs if r[1] == "PRBLOCK"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="qsd", help="qsd, pagedrange, or a template string")
    ap.add_argument("--queues", type=int, default=1, help="device queues and guest vCPUs (1)")
    ap.add_argument("--disk-size", default="128M", help="image size (128M: ~1000 block slots)")
    ap.add_argument("--before", type=float, default=1.5, help="seconds of writes before migrating")
    ap.add_argument("--after", type=float, default=1.5, help="seconds of writes on the destination")
    ap.add_argument("--timeout", type=float, default=90, help="per-QEMU timeout, seconds (90)")
    ap.add_argument("--allow-no-migration", action="store_true",
                    help="SKIP (exit 0) instead of FAIL when QEMU refuses to migrate")
    ap.add_argument("--trace", action="store_true", help="QEMU vhost-user traces into qemu-*.log")
    ap.add_argument("--qemu-arg", action="append", default=[],
                    help="one more QEMU argument for both QEMUs (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("-v", "--verbose", action="store_true", help="echo the guest console")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="backend command template")
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    template = " ".join(t if "{" in t else shlex.quote(t) for t in cmd) if cmd else a.backend

    t0 = time.monotonic()
    vmlib.ensure_setup(PROG)
    work = vmlib.make_workdir()
    disk = os.path.join(work, "disk.img")
    sock = os.path.join(work, "vhost.sock")
    state = os.path.join(work, "migration.bin")
    size = vmlib.parse_size(a.disk_size)
    with open(disk, "wb") as f:
        f.truncate(size)
    argv = vmlib.backend_argv(template, sock, disk, a.queues, False)
    vmlib.log(PROG, "backend: " + " ".join(argv))
    backend = vmlib.Backend(argv, sock, os.path.join(work, "backend.log"))

    common = ["--socket", sock, "--queues", str(a.queues), "--mode", "migrate-writer",
              "--timeout", str(int(a.timeout))]
    if a.trace:
        common.append("--trace")
    for q in a.qemu_arg:
        common += ["--qemu-arg", q]
    failures, notes = [], []
    summary = ""
    refused = None
    src = dst = None
    t = {}
    try:
        try:
            backend.start()
        except (RuntimeError, OSError) as e:
            print(f"{PROG}: FAIL backend did not start: {e} (work directory {work})")
            return 1

        # --- source ------------------------------------------------------
        qmp1 = os.path.join(work, "qmp1.sock")
        src = vmlib.Guest(common + ["--qmp", qmp1], os.path.join(work, "qemu-src.log"),
                          echo=a.verbose).start()
        t["src_start"] = time.monotonic()
        if not src.wait_until(lambda r: len(blocks(r)) >= 1, a.timeout):
            failures.append("the guest wrote no block on the source")
            raise Done
        t["first_block"] = time.monotonic()
        src.wait_until(lambda r: False, a.before)  # keep writing for --before s
        mon = vmlib.QMP(qmp1)
        n_before = len(blocks(vmlib.parse_records(src.output())))
        mark_migrate = src.size()
        t["migrate"] = time.monotonic()
        kind, val = mon.cmd("migrate", uri="exec:cat > " + shlex.quote(state))
        if kind == "error":
            refused = val
        else:
            status, info = poll_migration(mon, a.timeout)
            if status != "completed":
                refused = f"migration ended with status {status}: {info}"
        if refused:
            vmlib.log(PROG, f"QEMU refused to migrate: {refused}")
            # Structure still exercised: stop the writer, let it verify.
            mon.close()
            write_stop_marker(disk)
            rc = src.wait(a.timeout)
            out = src.output()
            recs = vmlib.parse_records(out, partial=True)
            bad, summary = check_blocks(recs, disk, mark_migrate, len(out))
            failures += bad
            if rc != 0:
                failures.append(f"source QEMU exited with status {rc}")
            raise Done
        t["migrated"] = time.monotonic()
        notes.append(f"migration: {info.get('total-time')} ms total, downtime "
                     f"{info.get('downtime')} ms, {info.get('ram', {}).get('transferred', 0) >> 20} MiB")
        mark_migrated = src.size()
        mon.cmd("quit")
        mon.close()
        rc = src.wait(15)
        if rc != 0:
            failures.append(f"source QEMU exited with status {rc} after quit")
        src_out = src.output()
        if not backend.alive():
            failures.append("backend died when the source QEMU went away")
            raise Done

        # --- destination ---------------------------------------------------
        qmp2 = os.path.join(work, "qmp2.sock")
        dst = vmlib.Guest(common + ["--qmp", qmp2, "--incoming", state],
                          os.path.join(work, "qemu-dst.log"), echo=a.verbose).start()
        t["dst_start"] = time.monotonic()
        n_src = len(blocks(vmlib.parse_records(src_out, partial=True)))

        def dst_blocks():
            return len(blocks(vmlib.parse_records(src_out + dst.output())))
        if not dst.wait_until(lambda r: dst_blocks() > n_src, a.timeout):
            failures.append("the guest wrote no block after the migration")
        else:
            t["dst_first_block"] = time.monotonic()
            dst.wait_until(lambda r: False, a.after)
        write_stop_marker(disk)
        t["stop"] = time.monotonic()
        rc = dst.wait(a.timeout)
        t["end"] = time.monotonic()
        if rc != 0:
            failures.append(f"destination QEMU exited with status {rc}" +
                            (" (timeout)" if rc == 124 else ""))
        out = src_out + dst.output()
        recs = vmlib.parse_records(out, partial=True)
        bad, summary = check_blocks(recs, disk, mark_migrate, len(src_out), mark_migrated)
        failures += bad
        if not backend.alive():
            failures.append("backend died after the guest disconnected")
    except Done:
        pass
    finally:
        for g in (src, dst):
            if g and g.proc.poll() is None:
                g.proc.kill()
        status = backend.stop()
    elapsed = time.monotonic() - t0
    vmlib.log(PROG, f"backend exit status after SIGTERM: {status}")
    if summary:
        vmlib.log(PROG, summary)
    for n in notes:
        vmlib.log(PROG, n)
    if "migrate" in t:
        vmlib.log(PROG, "timeline (s from source start): " + ", ".join(
            f"{k} {v - t['src_start']:.1f}" for k, v in t.items() if k != "src_start"))
    if refused:
        msg = f"QEMU refused to migrate: {refused!r}"
        if failures:
            print(f"{PROG}: FAIL {msg}; also: " + "; ".join(failures[:10]))
            keep_note(work, src, dst, backend)
            return 1
        if a.allow_no_migration:
            print(f"{PROG}: SKIP {msg} (IO before the attempt verified, {elapsed:.1f} s)")
            cleanup(work, a.keep)
            return 0
        print(f"{PROG}: FAIL {msg} (IO before the attempt verified, {elapsed:.1f} s)")
        keep_note(work, src, dst, backend)
        return 1
    if failures:
        print(f"{PROG}: FAIL ({elapsed:.1f} s): " + "; ".join(failures[:10]))
        keep_note(work, src, dst, backend)
        return 1
    print(f"{PROG}: PASS {summary}, guest readback PASS, backend alive (queues={a.queues}, total {elapsed:.1f} s)")
    cleanup(work, a.keep)
    return 0


class Done(Exception):
    pass


def poll_migration(mon, timeout):
    deadline = time.monotonic() + timeout
    info = {}
    while time.monotonic() < deadline:
        kind, info = mon.cmd("query-migrate")
        if kind == "error":
            return "error", info
        st = info.get("status")
        if st in ("completed", "failed", "cancelled"):
            return st, info if st == "completed" else info.get("error-desc", info)
        time.sleep(0.05)
    return "timeout", info


def write_stop_marker(disk):
    size = os.path.getsize(disk)
    with open(disk, "r+b") as f:
        f.seek(size - 512)
        f.write(b"PRSTOP".ljust(512, b"\0"))
        f.flush()
        os.fsync(f.fileno())


def check_blocks(recs, disk, mark_migrate, mark_dst, mark_migrated=None):
    """Check every PRBLOCK against the image and the guest's own verdict.
    Phases by console position: before the migrate command, during it
    (until completion), after (printed by the destination). Returns
    (problems, summary)."""
    bad = []
    for _, k, f in recs:
        if k == "PRERR":
            bad.append("guest: " + " ".join(f))
    blks = [(pos, f) for pos, k, f in recs if k == "PRBLOCK"]
    phases = {"before": 0, "during": 0, "after": 0}
    for i, (pos, f) in enumerate(blks):
        if len(f) != 4:
            bad.append("malformed PRBLOCK " + " ".join(f))
            continue
        n, off, length, want = int(f[0]), int(f[1]), int(f[2]), f[3]
        if n != i:
            bad.append(f"block numbers jump: record {i} is block {n}")
        got = vmlib.md5_range(disk, off, length)
        if got != want:
            bad.append(f"block {n} [{off}, +{length}) image md5 {got}, guest wrote {want}")
        if pos < mark_migrate:
            phases["before"] += 1
        elif pos < mark_dst:
            phases["during"] += 1
        else:
            phases["after"] += 1
    stopped = [f for _, k, f in recs if k == "PRSTOPPED"]
    verify = [f for _, k, f in recs if k == "PRVERIFY"]
    results = [f for _, k, f in recs if k == "PRRESULT"]
    if not stopped:
        bad.append("no PRSTOPPED record")
    elif int(stopped[-1][0]) != len(blks):
        bad.append(f"guest says it wrote {stopped[-1][0]} blocks, printed {len(blks)}")
    elif stopped[-1][1] != "marker":
        bad.append(f"the writer stopped on {stopped[-1][1]}, not on the host's marker")
    nbad = sum(1 for f in verify if f[1] != "ok")
    if len(verify) != len(blks):
        bad.append(f"{len(verify)} PRVERIFY records for {len(blks)} blocks")
    if nbad:
        bad.append(f"guest readback: {nbad} blocks differ")
    if not results:
        bad.append("no PRRESULT from the guest (crash, panic or timeout)")
    elif results[-1][0] != "PASS":
        bad.append("guest verdict: " + " ".join(results[-1]))
    if mark_migrated is not None and phases["after"] == 0:
        bad.append("no block written after the migration")
    summary = (f"{len(blks)} blocks match the image (before {phases['before']}, during "
               f"{phases['during']}, after {phases['after']})")
    if any("image md5" in b for b in bad):
        summary = summary.replace("match", "checked against")
    return bad, summary


def keep_note(work, src, dst, backend):
    vmlib.log(PROG, f"work directory kept: {work} (qemu-src.log, qemu-dst.log, backend.log)")
    for name, g in (("source", src), ("destination", dst)):
        if g:
            tail = g.output().decode(errors="replace").replace("\r", "").splitlines()[-15:]
            vmlib.log(PROG, f"{name} console tail:\n  " + "\n  ".join(tail))
    vmlib.log(PROG, "backend log tail:\n  " + backend.log_tail().replace("\n", "\n  "))


def cleanup(work, keep):
    if keep:
        vmlib.log(PROG, f"work directory: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
