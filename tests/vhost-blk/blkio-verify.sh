#!/usr/bin/env bash
# libblkio against pagedrange-vhost-blk: tests/vhost-blk-client verify with
# 1 and then 2 queues on one device process (the second run also checks that
# the device accepts a new front-end after the first disconnected), plus a
# run with a single IO thread per queue. Randomized verified IO, unaligned
# many-segment buffers, flushes, write-zeroes, REM/ADD_MEM_REGION during IO,
# final byte-for-byte check of the disk file.
#
#   tests/vhost-blk/blkio-verify.sh [--seconds S]     (default 8 per run)
#
# Device: $PR_VHOST_BLK or build/pagedrange-vhost-blk. Prints PASS or FAIL;
# exit 0 on PASS. Bounded: every client run has a timeout.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEV=${PR_VHOST_BLK:-$ROOT/build/pagedrange-vhost-blk}
CLIENT_DIR=$ROOT/tests/vhost-blk-client
CLIENT=$CLIENT_DIR/target/release/vhost-blk-client
SECS=8
[ "${1:-}" = --seconds ] && SECS=$2
T0=$(date +%s.%N)
fail() { echo "blkio-verify: FAIL $*"; exit 1; }

[ -x "$DEV" ] || fail "device $DEV not built (cmake --build build)"
cargo build --release --quiet --manifest-path "$CLIENT_DIR/Cargo.toml" || fail "client build"
WORK=$(mktemp -d /tmp/pr-blkio-XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
dd if=/dev/urandom of="$WORK/disk.img" bs=1M count=128 status=none

start() { # start IO_THREADS
    rm -f "$WORK/s.sock"
    "$DEV" --socket "$WORK/s.sock" --disk "$WORK/disk.img" --queues 2 --io-threads "$1" \
        2>>"$WORK/device.log" &
    PID=$!
    for _ in $(seq 100); do [ -S "$WORK/s.sock" ] && return 0; sleep 0.05; done
    cat "$WORK/device.log"; fail "device did not start"
}
stop() {
    kill "$PID"; wait "$PID"; local st=$?; PID=
    [ $st = 0 ] || { tail "$WORK/device.log"; fail "device exit status $st after SIGTERM"; }
}
run() { # run QUEUES
    local out
    out=$(timeout $((${SECS%.*} + 60)) "$CLIENT" verify --socket "$WORK/s.sock" \
        --disk "$WORK/disk.img" --queues "$1" --seconds "$SECS" --remap-every 2000 2>&1)
    local st=$?
    echo "$out" | tail -2 | sed 's/^/  /' >&2
    [ $st = 0 ] || { echo "$out" | tail -20; tail -20 "$WORK/device.log"; fail "verify --queues $1 (status $st)"; }
    SUMMARY+="q$1: $(echo "$out" | tail -1 | sed 's/^verify: //'); "
}
SUMMARY=
start 2
run 1
run 2
kill -0 "$PID" 2>/dev/null || fail "device died"
stop
start 1
run 2
stop
printf 'blkio-verify: PASS %s(%.1f s)\n' "$SUMMARY" "$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { print a - b }')"
