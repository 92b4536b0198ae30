#!/usr/bin/env bash
# Benchmarks (not part of the tests): pagedrange's C ABI against a
# hand-written C loop and one memcpy (bench-c/bench.c), and pagedrange
# against rust-vmm's vm-memory (benches/transfer.rs, criterion). Writes
# docs/bench/{c-results.csv,rust-results.csv,results.md,throughput.png}.
# Then instruction counts (bench-c/icount.c under valgrind's callgrind:
# repeatable on a shared machine, unlike times) to docs/bench/icount.md.
#
# Usage: scripts/bench.sh [--quick | --icount]
#   --quick   fewer/shorter trials (a smoke run, ~2 min once built)
#   --icount  only the instruction counts (needs valgrind; seconds once built)
# Environment: CARGO_TARGET_DIR is honoured; BENCH_CPU=N pins the benchmark
# processes to CPU N with taskset when it exists.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/docs/bench"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
# The static library every C benchmark links; the one place naming it.
LIB=${PAGEDRANGE_LIB:-$TARGET/release/libpagedrange_ffi.a}
QUICK=0
ICOUNT_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --icount) ICOUNT_ONLY=1 ;;
        *) echo "usage: $0 [--quick | --icount]" >&2; exit 2 ;;
    esac
done
[ $((QUICK + ICOUNT_ONLY)) -le 1 ] || { echo "usage: $0 [--quick | --icount]" >&2; exit 2; }
CMD="scripts/bench.sh${1:+ $1}"

log() { printf '\n== %s\n' "$*"; }

PIN=()
if [ -n "${BENCH_CPU:-}" ] && command -v taskset >/dev/null 2>&1; then
    PIN=(taskset -c "$BENCH_CPU")
fi

# --- the machine ------------------------------------------------------------
model=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | sed -n 1p)
cpus=$(nproc)
cores=$(lscpu | sed -n 's/^Core(s) per socket:[[:space:]]*//p' | sed -n 1p)
sockets=$(lscpu | sed -n 's/^Socket(s):[[:space:]]*//p' | sed -n 1p)
glibc=$(ldd --version 2>/dev/null | sed -n 1p | sed 's/.* //')
MACHINE="${model:-unknown CPU}, ${cpus} CPUs (${sockets:-?} socket x ${cores:-?} cores), \
Linux $(uname -r), glibc ${glibc:-?}, $(rustc --version | cut -d' ' -f1-2), gcc $(gcc -dumpversion)"
log "machine: $MACHINE"
log "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other processes make the figures noisier)"

# --- the library --------------------------------------------------------------
log "cargo build --release -p pagedrange-ffi"
cargo build --release -p pagedrange-ffi --quiet
[ -f "$LIB" ] || { echo "bench: $LIB missing" >&2; exit 1; }
CC_FLAGS=(-O2 -std=c11 -Wall -Wextra -Werror -I"$ROOT/include")
LINK=("$LIB" -lpthread -ldl -lm)
mkdir -p "$TARGET/bench-c" "$OUT"

# --- instruction counts ---------------------------------------------------------
# Each measurement `NAME` of bench-c/icount.c runs once under callgrind,
# collecting only inside its function measure_NAME; the `totals:` line of
# the output is that function's inclusive instruction count (Ir).
icount() {
    log "instruction counts (bench-c/icount.c under callgrind)"
    command -v valgrind >/dev/null 2>&1 || { echo "bench: valgrind is needed for the instruction counts" >&2; exit 1; }
    local dir="$TARGET/bench-c/icount.d" bin="$TARGET/bench-c/icount"
    local wrap=-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=posix_memalign,--wrap=aligned_alloc
    local t0=$SECONDS cmds=() cmd m total
    rm -rf "$dir"
    mkdir -p "$dir"
    # The commands run, for the report (paths relative to the repository).
    run_cmd() { cmds+=("${*//$ROOT\//}"); "$@"; }
    run_cmd gcc "${CC_FLAGS[@]}" "$ROOT/bench-c/icount.c" "${LINK[@]}" -o "$bin"
    # A second build counts heap allocations (malloc & co. wrapped), natively:
    # the wrappers' own instructions stay out of the counted binary.
    run_cmd gcc "${CC_FLAGS[@]}" -DICOUNT_COUNT_ALLOCS "$wrap" "$ROOT/bench-c/icount.c" "${LINK[@]}" -o "$bin-allocs"
    run_cmd "$bin" check
    run_cmd "$bin-allocs" allocs >"$dir/values.txt"
    local names first
    names=$("$bin" list)
    first=${names%%$'\n'*}
    for m in $names; do
        cmd=(valgrind --tool=callgrind --toggle-collect="measure_$m" --callgrind-out-file="$dir/$m.out" "$bin" run "$m")
        [ "$m" = "$first" ] && cmds+=("${cmd[*]//$ROOT\//}   # likewise for each NAME of \`icount list\`")
        if ! "${cmd[@]}" >"$dir/$m.log" 2>&1; then
            echo "bench: callgrind run of $m failed; log in $dir/$m.log:" >&2
            tail -20 "$dir/$m.log" >&2
            exit 1
        fi
        total=$(awk '$1 == "totals:" { print $2 }' "$dir/$m.out")
        [ -n "$total" ] || { echo "bench: no totals line in $dir/$m.out" >&2; exit 1; }
        printf '%s %s\n' "$m" "$total" >>"$dir/values.txt"
        printf '  %-22s %12s instructions\n' "$m" "$total"
    done
    cmds+=("${bin//$ROOT\//} table ${dir//$ROOT\//}/values.txt   # the allocs output, then \`NAME Ir\` per totals: line")
    "$bin" table "$dir/values.txt" >"$dir/table.md"
    {
        echo "# pagedrange instruction counts"
        echo
        echo "Machine: $MACHINE, $(valgrind --version)"
        echo
        echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'), library at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' (with local changes)')"
        echo
        echo "Command: \`$CMD\` (this part: $((SECONDS - t0)) s), which ran:"
        echo
        echo '```'
        printf '%s\n' "${cmds[@]}"
        echo '```'
        echo
        echo "Method: instructions executed (callgrind's \`Ir\`), not time: repeatable on a shared machine. Each measured loop is one \`measure_NAME\` function of \`bench-c/icount.c\` (\`noipa\`, -O2, no \`-march\`), run after an uncollected warm-up of the same loop; callgrind collects only inside it, and its total is divided by the calls made (and by 256 for the per-GPN figures). Guest RAM is one 64 MiB anonymous mapping at GPA 0 (\`pr_memory_new_mapped\`); the GPN list is a fixed shuffle of 256 distinct even pages (no two neighbours adjacent), one 1 MiB range. \`memcpy\` is glibc's, picked for the CPU valgrind emulates. \`icount check\` first verifies that each pagedrange call and its hand-written reference give the same results. Heap allocations are counted natively in a second build whose malloc, calloc, realloc, posix_memalign, aligned_alloc and free are wrapped (\`-Wl,--wrap\`)."
        echo
        cat "$dir/table.md"
    } >"$OUT/icount.md"
    sed -n '/^| call/,$p' "$dir/table.md"
    log "wrote $OUT/icount.md ($((SECONDS - t0)) s)"
}

if [ "$ICOUNT_ONLY" -eq 1 ]; then
    icount
    exit 0
fi

# --- C benchmark --------------------------------------------------------------
log "C benchmark (bench-c/bench.c, -O2, static library)"
gcc "${CC_FLAGS[@]}" "$ROOT/bench-c/bench.c" "${LINK[@]}" -o "$TARGET/bench-c/bench"
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
python3 "$OUT/make_table.py" --c-csv "$OUT/c-results.csv" \
    --criterion-dir "$TARGET/criterion" --machine "$MACHINE" --command "$CMD" \
    --out-dir "$OUT" >/dev/null
cat "$OUT/results.md"
log "machine: $MACHINE"
log "wrote $OUT/results.md, $OUT/throughput.png, $OUT/c-results.csv, $OUT/rust-results.csv"

icount
