#!/usr/bin/env bash
# pagedrange-vhost-blk under valgrind memcheck (leaks and memory errors are
# failures: --error-exitcode=99, checked through the device's exit status
# after SIGTERM): the dirty-log test, the hostile front-end test, which ends
# with a libblkio verify run on 2 queues (REM/ADD_MEM_REGION during IO), and
# the truncate test (guest memory cut under requests: the library's fault
# handler rewrites the interrupted context to resume its copy routine, which
# valgrind honours).
#
#   tests/vhost-blk/valgrind.sh
#
# Device: $PR_VHOST_BLK or build/pagedrange-vhost-blk. Prints PASS or FAIL;
# exit 0 on PASS.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEV=${PR_VHOST_BLK:-$ROOT/build/pagedrange-vhost-blk}
T0=$(date +%s.%N)
command -v valgrind >/dev/null || { echo "valgrind: FAIL valgrind not installed"; exit 1; }
export PR_VHOST_BLK_WRAP="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=yes"
FAILS=0
SUMMARY=
RUNS=(dirty-log hostile truncate)
for t in "${RUNS[@]}"; do
    out=$(timeout 600 python3 "$ROOT/tests/vhost-blk/$t.py" --device "$DEV" 2>&1)
    st=$?
    line=$(echo "$out" | grep -E "^$t: (PASS|FAIL)" | tail -1)
    echo "  ${line:-$t: no verdict (status $st)}" >&2
    if [ $st != 0 ]; then
        FAILS=$((FAILS + 1))
        echo "$out" | tail -30 >&2
    fi
    SUMMARY+="$t $(echo "$line" | sed -n 's/.*PASS \([0-9]* checks\).*/\1/p'); "
done
T=$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { print a - b }')
if [ $FAILS = 0 ]; then
    printf 'valgrind: PASS no memcheck error or leak: %s(%.1f s)\n' "$SUMMARY" "$T"
else
    printf 'valgrind: FAIL %d of %d runs (%.1f s)\n' "$FAILS" "${#RUNS[@]}" "$T"
    exit 1
fi
