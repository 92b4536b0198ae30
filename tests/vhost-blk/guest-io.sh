#!/usr/bin/env bash
# A real Linux guest (TCG) doing O_DIRECT IO through pagedrange-vhost-blk:
# tests/vm/guest-io.py with 1 queue, 2 queues (2 vCPUs) and read-only; the
# host checks every range's md5 against the disk file, and that the device
# is still alive after QEMU disconnected. Needs scripts/vm/setup.sh (run by
# guest-io.py; root for apt on the first run).
#
#   tests/vhost-blk/guest-io.sh
#
# Device: $PR_VHOST_BLK or build/pagedrange-vhost-blk. Prints PASS or FAIL;
# exit 0 on PASS. Bounded: each guest has a timeout.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEV=${PR_VHOST_BLK:-$ROOT/build/pagedrange-vhost-blk}
T0=$(date +%s.%N)
[ -x "$DEV" ] || { echo "guest-io: FAIL device $DEV not built"; exit 1; }
TEMPLATE="$DEV --socket {socket} --disk {disk} --queues {queues} {ro}"
FAILS=0
SUMMARY=
for args in "--queues 1" "--queues 2" "--read-only"; do
    out=$(timeout 300 "$ROOT/tests/vm/guest-io.py" --timeout 120 $args -- $TEMPLATE 2>&1)
    st=$?
    line=$(echo "$out" | grep -E '^guest-io: (PASS|FAIL)' | tail -1)
    echo "  [$args] ${line:-no verdict (status $st)}" >&2
    if [ $st != 0 ]; then
        FAILS=$((FAILS + 1))
        echo "$out" | tail -30 >&2
    fi
    SUMMARY+="[$args] $(echo "$line" | sed -n 's/.*(\(queues=[0-9]*\).*total \([0-9.]* s\)).*/\1 \2/p'); "
done
T=$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { print a - b }')
if [ $FAILS = 0 ]; then
    printf 'guest-io: PASS 3 guests: %s(%.1f s)\n' "$SUMMARY" "$T"
else
    printf 'guest-io: FAIL %d of 3 guests (%.1f s)\n' "$FAILS" "$T"
    exit 1
fi
