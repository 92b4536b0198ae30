#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a while and prints, per target,
# the executions and exec/s libFuzzer reports.
#
#   scripts/fuzz.sh [seconds-per-target]      (default 60)
#
# Environment:
#   FUZZ_TARGETS="ops wire"   only these targets (default: all of fuzz/)
#   FUZZ_PARALLEL=2           run this many targets at once (default 1)
#
# New inputs go to fuzz/scratch/<target> (ignored by git); the committed
# seeds in fuzz/corpus/<target> are only read. A crash leaves its input in
# fuzz/artifacts/<target>/ and makes the script exit non-zero. Needs Rust
# nightly; installs cargo-fuzz when it is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
secs="${1:-60}"
parallel="${FUZZ_PARALLEL:-1}"
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 2 ;; esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list --fuzz-dir fuzz)}"
logdir=fuzz/scratch/logs
mkdir -p "$logdir"

echo "== building fuzz targets"
cargo +nightly fuzz build --fuzz-dir fuzz >/dev/null

run_one() {
    local t="$1"
    mkdir -p "fuzz/scratch/$t" "fuzz/corpus/$t"
    local rc=0
    cargo +nightly fuzz run --fuzz-dir fuzz "$t" "fuzz/scratch/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$logdir/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$logdir/$t.rc"
}

# Launch `parallel` targets at a time.
running=0
for t in $targets; do
    echo "== fuzzing $t for ${secs}s (log: $logdir/$t.log)"
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$parallel" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

status=0
printf '\n%-8s %12s %10s %8s %8s %s\n' target executions exec/s cov ft result
for t in $targets; do
    log="$logdir/$t.log"
    rc="$(cat "$logdir/$t.rc" 2>/dev/null || echo 1)"
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)"
    last="$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)"
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
    if [ "$rc" = 0 ]; then
        result=ok
    else
        result="CRASH (exit $rc; see $log and fuzz/artifacts/$t/)"
        status=1
    fi
    printf '%-8s %12s %10s %8s %8s %s\n' "$t" "${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit "$status"
