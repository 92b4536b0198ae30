#!/usr/bin/env bash
# Live migration of a real guest writing through pagedrange-vhost-blk:
# tests/vm/migrate.py (migration to a file and back while the guest writes,
# every block checked against the disk file, the guest's readback through
# its page cache catching device writes missing from the dirty log), with
# 1 queue and with 2 queues (2 vCPUs). Needs VHOST_F_LOG_ALL, LOG_SHMFD
# and SET_LOG_BASE. Needs scripts/vm/setup.sh (run by migrate.py).
#
#   tests/vhost-blk/migrate.sh
#
# Device: $PR_VHOST_BLK or build/pagedrange-vhost-blk. Prints PASS or FAIL;
# exit 0 on PASS. Bounded: each QEMU has a timeout.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEV=${PR_VHOST_BLK:-$ROOT/build/pagedrange-vhost-blk}
T0=$(date +%s.%N)
[ -x "$DEV" ] || { echo "migrate: FAIL device $DEV not built"; exit 1; }
TEMPLATE="$DEV --socket {socket} --disk {disk} --queues {queues}"
FAILS=0
SUMMARY=
for q in 1 2; do
    out=$(timeout 400 "$ROOT/tests/vm/migrate.py" --timeout 120 --queues $q -- $TEMPLATE 2>&1)
    st=$?
    line=$(echo "$out" | grep -E '^migrate: (PASS|FAIL|SKIP)' | tail -1)
    echo "  [queues $q] ${line:-no verdict (status $st)}" >&2
    if [ $st != 0 ] || ! echo "$line" | grep -q '^migrate: PASS'; then
        FAILS=$((FAILS + 1))
        echo "$out" | tail -30 >&2
    fi
    SUMMARY+="[queues $q] $(echo "$line" | sed -n 's/^migrate: PASS \([0-9]* blocks\).*total \([0-9.]* s\)).*/\1 \2/p'); "
done
T=$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { print a - b }')
if [ $FAILS = 0 ]; then
    printf 'migrate: PASS 2 migrations: %s(%.1f s)\n' "$SUMMARY" "$T"
else
    printf 'migrate: FAIL %d of 2 migrations (%.1f s)\n' "$FAILS" "$T"
    exit 1
fi
