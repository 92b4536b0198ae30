#!/usr/bin/env bash
# Benchmarks (not part of the tests): pagedrange's C ABI against a
# hand-written C loop and one memcpy (bench-c/bench.c), and pagedrange
# against rust-vmm's vm-memory (benches/transfer.rs, criterion). Writes
# docs/bench/{c-results.csv,rust-results.csv,results.md,throughput.png}.
#
# Usage: scripts/bench.sh [--quick]
#   --quick   fewer/shorter trials (a smoke run, ~2 min once built)
# Environment: CARGO_TARGET_DIR is honoured; BENCH_CPU=N pins the benchmark
# processes to CPU N with taskset when it exists.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/docs/bench"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
    esac
done

log() { printf '\n== %s\n' "$*"; }

PIN=()
if [ -n "${BENCH_CPU:-}" ] && command -v taskset >/dev/null 2>&1; then
    PIN=(taskset -c "$BENCH_CPU")
fi

# --- the machine ------------------------------------------------------------
model=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
cpus=$(nproc)
cores=$(lscpu | sed -n 's/^Core(s) per socket:[[:space:]]*//p' | head -1)
sockets=$(lscpu | sed -n 's/^Socket(s):[[:space:]]*//p' | head -1)
glibc=$(ldd --version 2>/dev/null | head -1 | sed 's/.* //')
MACHINE="${model:-unknown CPU}, ${cpus} CPUs (${sockets:-?} socket x ${cores:-?} cores), \
Linux $(uname -r), glibc ${glibc:-?}, $(rustc --version | cut -d' ' -f1-2), gcc $(gcc -dumpversion)"
log "machine: $MACHINE"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other processes make the figures noisier)"

# --- the library --------------------------------------------------------------
log "cargo build --release"
cargo build --release --quiet
LIB="$TARGET/release/libpagedrange.a"
[ -f "$LIB" ] || { echo "bench: $LIB missing" >&2; exit 1; }

# --- C benchmark --------------------------------------------------------------
log "C benchmark (bench-c/bench.c, -O2, static library)"
mkdir -p "$TARGET/bench-c" "$OUT"
gcc -O2 -std=c11 -Wall -Wextra -Werror -I"$ROOT/include" "$ROOT/bench-c/bench.c" \
    "$LIB" -lpthread -ldl -lm -o "$TARGET/bench-c/bench"
C_ARGS=(--csv "$OUT/c-results.csv")
[ "$QUICK" -eq 1 ] && C_ARGS+=(--quick)
"${PIN[@]}" "$TARGET/bench-c/bench" "${C_ARGS[@]}"

# --- criterion benchmark ----------------------------------------------------
log "criterion benchmark (benches/transfer.rs: pagedrange vs vm-memory)"
# Stale groups from an earlier run must not leak into the table.
rm -rf "$TARGET"/criterion/read_* "$TARGET"/criterion/write_*
if [ "$QUICK" -eq 1 ]; then
    CRIT=(--warm-up-time 0.1 --measurement-time 0.2 --sample-size 10)
else
    CRIT=(--warm-up-time 0.3 --measurement-time 1)
fi
CLOG="$TARGET/bench-c/criterion.log"
set +e
"${PIN[@]}" cargo bench --quiet --bench transfer -- --noplot "${CRIT[@]}" 2>&1 |
    tee "$CLOG" | grep --line-buffered -E '^(read|write)/|time:'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "bench: cargo bench failed ($status); log in $CLOG:" >&2
    tail -30 "$CLOG" >&2
    exit 1
fi

# --- table and plot ---------------------------------------------------------
log "results table and plot"
if ! python3 -c 'import matplotlib' >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore matplotlib ||
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --break-system-packages \
            matplotlib ||
        echo "bench: could not install matplotlib; the table is made without the plot" >&2
fi
CMD="scripts/bench.sh${1:+ $1}"
python3 "$OUT/make_table.py" --c-csv "$OUT/c-results.csv" \
    --criterion-dir "$TARGET/criterion" --machine "$MACHINE" --command "$CMD" \
    --out-dir "$OUT" >/dev/null
cat "$OUT/results.md"
log "machine: $MACHINE"
log "wrote $OUT/results.md, $OUT/throughput.png, $OUT/c-results.csv, $OUT/rust-results.csv"
