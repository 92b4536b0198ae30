#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ and prints, per target, what
# libFuzzer reports: executions, exec/s, final coverage (cov / ft), and the
# commit the targets were built from.
#
#   scripts/fuzz.sh [SECONDS [EXECUTIONS]]
#
# Each target runs until it has done EXECUTIONS inputs or SECONDS have
# passed, whichever comes first (libFuzzer's -runs= and -max_total_time=).
# SECONDS defaults to 60; EXECUTIONS to no limit. Issue 12's long runs:
#
#   scripts/fuzz.sh 1800 10000000      (10 million, or 30 minutes)
#
# Environment:
#   FUZZ_TARGETS="ops wire"   only these targets (default: all of fuzz/)
#   FUZZ_PARALLEL=2           run this many targets at once (default 1)
#
# The commit is `git rev-parse --short HEAD`, with "-dirty" when core/,
# src/, fuzz/ or examples/ (everything built into the targets) differ from
# it when the targets are built. New inputs go to fuzz/scratch/<target>
# (ignored by git); the committed seeds in fuzz/corpus/<target> are only
# read. A crash leaves its input in fuzz/artifacts/<target>/ and makes the
# script exit non-zero. The table is also written to
# fuzz/scratch/logs/summary.txt. Needs Rust nightly; installs cargo-fuzz
# when it is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
secs="${1:-60}"
runs="${2:--1}"
parallel="${FUZZ_PARALLEL:-1}"
usage() {
    echo "usage: $0 [seconds [executions]]" >&2
    exit 2
}
case "$secs" in '' | *[!0-9]*) usage ;; esac
case "$runs" in -1) ;; '' | *[!0-9]*) usage ;; esac
[ "$#" -le 2 ] || usage

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list --fuzz-dir fuzz)}"
logdir=fuzz/scratch/logs
mkdir -p "$logdir"

# The commit the build sees (untracked files count as changes too).
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ "$commit" != unknown ] &&
    [ -n "$(git status --porcelain -- core src fuzz examples 2>/dev/null)" ]; then
    commit="$commit-dirty"
fi

echo "== building fuzz targets (commit $commit)"
cargo +nightly fuzz build --fuzz-dir fuzz >/dev/null
# The binaries just built run as they are (`cargo fuzz run` would rebuild
# each from the tree as it is by then), with what `cargo fuzz run` adds.
bindir="fuzz/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
export ASAN_OPTIONS="detect_odr_violation=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

run_one() {
    local t="$1" start=$SECONDS
    mkdir -p "fuzz/scratch/$t" "fuzz/corpus/$t" "fuzz/artifacts/$t"
    local rc=0
    "$bindir/$t" -artifact_prefix="fuzz/artifacts/$t/" \
        -max_total_time="$secs" -runs="$runs" -print_final_stats=1 \
        "fuzz/scratch/$t" "fuzz/corpus/$t" >"$logdir/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$logdir/$t.rc"
    echo $((SECONDS - start)) >"$logdir/$t.secs"
}

# Launch `parallel` targets at a time.
limit="${secs}s"
[ "$runs" = -1 ] || limit="$runs executions or $limit"
running=0
for t in $targets; do
    echo "== fuzzing $t for $limit (log: $logdir/$t.log)"
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$parallel" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

status=0
summary="$logdir/summary.txt"
{
    printf '\n%-10s %12s %9s %6s %8s %8s %-14s %s\n' \
        target executions exec/s secs cov ft commit result
    for t in $targets; do
        log="$logdir/$t.log"
        rc="$(cat "$logdir/$t.rc" 2>/dev/null || echo 1)"
        took="$(cat "$logdir/$t.secs" 2>/dev/null || echo '?')"
        done_runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
        rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)"
        last="$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)"
        cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
        ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
        if [ "$rc" = 0 ]; then
            result=ok
        else
            result="CRASH (exit $rc; see $log and fuzz/artifacts/$t/)"
        fi
        printf '%-10s %12s %9s %6s %8s %8s %-14s %s\n' "$t" "${done_runs:-?}" \
            "${rate:-?}" "$took" "${cov:-?}" "${ft:-?}" "$commit" "$result"
    done
} >"$summary"
cat "$summary"
for t in $targets; do
    [ "$(cat "$logdir/$t.rc" 2>/dev/null || echo 1)" = 0 ] || status=1
done
exit "$status"
