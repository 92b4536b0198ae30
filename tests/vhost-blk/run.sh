#!/usr/bin/env bash
# Every test of pagedrange-vhost-blk (examples/vhost-user-blk), in order:
#   msg-fuzz      vu_msg_parse against mutated messages (ASan/UBSan)
#   dirty-log     dirty log bits and event-index interrupts, by a Python front-end
#   hostile       a hostile front-end and guest, then libblkio verify
#   truncate      a front-end that truncates its guest memory file under requests
#   blkio-verify  libblkio verify with 1 and 2 queues (and 1 IO thread per queue)
#   valgrind      dirty-log, hostile and truncate with the device under memcheck
#   guest-io      a TCG Linux guest doing O_DIRECT IO (1 queue, 2 queues, read-only)
#   migrate       live migration of a writing guest (1 and 2 queues)
#
#   tests/vhost-blk/run.sh [TEST...]      (default: all; builds the device first)
#
# Ends with "N passed, N failed"; exit non-zero when any failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/vhost-blk
if [ -z "${PR_VHOST_BLK:-}" ]; then
    cmake --build "$ROOT/build" --target pagedrange-vhost-blk >/dev/null 2>&1 || {
        echo "vhost-blk: build failed (configure first: cmake -S . -B build)"; exit 1; }
fi
TESTS=("$@")
[ ${#TESTS[@]} = 0 ] && TESTS=(msg-fuzz dirty-log hostile truncate blkio-verify valgrind guest-io migrate)
PASS=0 FAIL=0
for t in "${TESTS[@]}"; do
    if [ -x "$HERE/$t.sh" ]; then cmd=("$HERE/$t.sh"); else cmd=(python3 "$HERE/$t.py"); fi
    start=$(date +%s.%N)
    out=$(timeout 900 "${cmd[@]}" 2>"/tmp/pr-vhost-blk-$t.err")
    st=$?
    secs=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { print a - b }')
    verdict=$(echo "$out" | grep -E ': (PASS|FAIL)' | tail -1)
    printf '%-13s %6.1f s  %s\n' "$t" "$secs" "${verdict:-no verdict (status $st)}"
    if [ $st = 0 ]; then
        PASS=$((PASS + 1)); rm -f "/tmp/pr-vhost-blk-$t.err"
    else
        FAIL=$((FAIL + 1)); echo "    (stderr in /tmp/pr-vhost-blk-$t.err)"
    fi
done
echo "$PASS passed, $FAIL failed"
[ $FAIL = 0 ]
