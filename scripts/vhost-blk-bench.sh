#!/usr/bin/env bash
# Benchmarks vhost-user-blk backends with tests/vhost-blk-client (libblkio,
# no VM): qemu-storage-daemon (the reference) and a second backend, in the
# same run, on the same disk file, one fresh backend process per measurement.
#
#   scripts/vhost-blk-bench.sh [--quick] [--device-cmd CMD] [--seconds S]
#                              [--rounds N] [--size BYTES] [--keep]
#
#   --device-cmd  the second backend; {socket} and {disk} are replaced.
#                 Default: 'pagedrange-vhost-blk --socket {socket} --disk {disk}'
#                 (looked up on PATH). Skipped, with a note, when its program
#                 does not exist.
#   --quick       2 s per measurement, 1 round, 256 MiB disk (~20 s with
#                 one backend); default 4 s, 2 rounds, 1 GiB
#   --seconds S, --rounds N, --size BYTES  override those
#                 (the table shows the mean of the rounds)
#   --keep        keep the scratch folder (disk, sockets, backend logs)
#
# Cases: 4 KiB random read and write at queue depth 1 and 32, 1 MiB
# sequential read and write at queue depth 32; one queue. The order of the
# backends alternates from case to case (and round to round) to spread the
# noise of a shared machine.
#
# Disk and cache mode, the same for both backends: a raw file on /tmp,
# fully allocated and written once (zeros) before the first case; buffered
# IO through the host page cache (qemu-storage-daemon: driver=file,
# cache.direct=off, aio=threads, writeback; the client sends no flushes). The
# second backend must also do buffered IO (no O_DIRECT) for the comparison
# to hold; pass its cache option in --device-cmd if it has one.
#
# Output: a markdown table on stdout (IOPS, MiB/s, ratio to
# qemu-storage-daemon); progress and raw client lines on stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLIENT_DIR=$ROOT/tests/vhost-blk-client
CLIENT=$CLIENT_DIR/target/release/vhost-blk-client

SECONDS_PER=
SIZE=
ROUNDS=
KEEP=0
DEVICE_CMD='pagedrange-vhost-blk --socket {socket} --disk {disk}'
QUICK=0

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --device-cmd) DEVICE_CMD=$2; shift ;;
    --seconds) SECONDS_PER=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "vhost-blk-bench: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
# Defaults: --quick 2 s x 1 round on 256 MiB; else 4 s x 2 rounds on 1 GiB
# (with two rounds each backend goes first once per case).
if [ "$QUICK" = 1 ]; then
    : "${SECONDS_PER:=2}" "${SIZE:=$((256 << 20))}" "${ROUNDS:=1}"
else
    : "${SECONDS_PER:=4}" "${SIZE:=$((1 << 30))}" "${ROUNDS:=2}"
fi

log() { echo "vhost-blk-bench: $*" >&2; }

command -v qemu-storage-daemon >/dev/null || { log "qemu-storage-daemon not found (apt-get install -t bookworm-backports qemu-utils)"; exit 2; }

log "building the client"
cargo build --release --quiet --manifest-path "$CLIENT_DIR/Cargo.toml"

WORK=$(mktemp -d /tmp/vhost-blk-bench.XXXXXX)
DISK=$WORK/disk.img
BACKEND_PID=
cleanup() {
    if [ -n "$BACKEND_PID" ]; then
        kill "$BACKEND_PID" 2>/dev/null || true
        wait "$BACKEND_PID" 2>/dev/null || true
    fi
    if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

log "disk: $DISK, $((SIZE >> 20)) MiB, preallocated and written once"
fallocate -l "$SIZE" "$DISK"
dd if=/dev/zero of="$DISK" bs=1M count=$((SIZE >> 20)) conv=notrunc,fsync status=none

# The second backend: skipped when its program does not exist.
DEVICE_PROG=${DEVICE_CMD%% *}
HAVE_DEVICE=1
if ! command -v "$DEVICE_PROG" >/dev/null 2>&1; then
    HAVE_DEVICE=0
fi
DEVICE_NAME=$(basename "$DEVICE_PROG")

# start_backend NAME SOCKET LOG: starts it in the background, sets
# BACKEND_PID, waits for the socket.
start_backend() {
    local name=$1 sock=$2 logf=$3
    rm -f "$sock"
    if [ "$name" = qsd ]; then
        qemu-storage-daemon \
            --blockdev "driver=file,node-name=disk0,filename=$DISK,cache.direct=off,aio=threads" \
            --export "type=vhost-user-blk,id=e0,node-name=disk0,addr.type=unix,addr.path=$sock,writable=on,num-queues=1" \
            >"$logf" 2>&1 &
    else
        local cmd=${DEVICE_CMD//\{socket\}/$sock}
        cmd=${cmd//\{disk\}/$DISK}
        bash -c "exec $cmd" >"$logf" 2>&1 &
    fi
    BACKEND_PID=$!
    local i
    for i in $(seq 100); do
        [ -S "$sock" ] && return 0
        kill -0 "$BACKEND_PID" 2>/dev/null || break
        sleep 0.05
    done
    log "$name did not create $sock; its log:"
    cat "$logf" >&2
    return 1
}

stop_backend() {
    kill "$BACKEND_PID" 2>/dev/null || true
    wait "$BACKEND_PID" 2>/dev/null || true
    BACKEND_PID=
}

# measure NAME PATTERN BS QD: prints "IOPS MIBPS", or "fail fail".
measure() {
    local name=$1 pattern=$2 bs=$3 qd=$4
    local sock=$WORK/$name.sock logf=$WORK/$name.log out
    if ! start_backend "$name" "$sock" "$logf"; then
        stop_backend
        echo "fail fail"
        return
    fi
    if out=$("$CLIENT" bench --socket "$sock" --queues 1 --pattern "$pattern" --bs "$bs" \
        --iodepth "$qd" --seconds "$SECONDS_PER" --warmup 0.5 2>>"$logf"); then
        log "$name: $out"
        echo "$out" | sed -n 's/.* iops=\([0-9.]*\) mibps=\([0-9.]*\) .*/\1 \2/p'
    else
        log "$name: client failed; backend log:"
        cat "$logf" >&2
        echo "fail fail"
    fi
    stop_backend
}

CASES=(
    "4 KiB randread QD1|randread|4096|1"
    "4 KiB randread QD32|randread|4096|32"
    "4 KiB randwrite QD1|randwrite|4096|1"
    "4 KiB randwrite QD32|randwrite|4096|32"
    "1 MiB seqread QD32|seqread|1048576|32"
    "1 MiB seqwrite QD32|seqwrite|1048576|32"
)

BACKENDS=(qsd)
[ "$HAVE_DEVICE" = 1 ] && BACKENDS+=(device)

declare -A SUM_IOPS SUM_MIB FAILED
FAILURES=0
for ((r = 0; r < ROUNDS; r++)); do
    for ((c = 0; c < ${#CASES[@]}; c++)); do
        IFS='|' read -r label pattern bs qd <<<"${CASES[$c]}"
        order=("${BACKENDS[@]}")
        if [ ${#BACKENDS[@]} = 2 ] && [ $(((c + r) % 2)) = 1 ]; then
            order=(device qsd)
        fi
        for b in "${order[@]}"; do
            log "round $((r + 1))/$ROUNDS, $label, $b"
            read -r iops mib < <(measure "$b" "$pattern" "$bs" "$qd")
            if [ "$iops" = fail ] || [ -z "$iops" ]; then
                FAILED[$c,$b]=1
                FAILURES=$((FAILURES + 1))
                continue
            fi
            SUM_IOPS[$c,$b]=$(awk -v a="${SUM_IOPS[$c,$b]:-0}" -v b="$iops" 'BEGIN { print a + b }')
            SUM_MIB[$c,$b]=$(awk -v a="${SUM_MIB[$c,$b]:-0}" -v b="$mib" 'BEGIN { print a + b }')
        done
    done
done

mean() { awk -v s="$1" -v n="$ROUNDS" -v f="$2" 'BEGIN { printf f, s / n }'; }

echo
echo "vhost-user-blk backends, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
echo "client: tests/vhost-blk-client bench (libblkio 0.5.1, one queue, eventfd completions), ${SECONDS_PER} s per measurement after 0.5 s warm-up, $ROUNDS round(s)"
echo "disk: raw file on /tmp, $((SIZE >> 20)) MiB, preallocated; buffered IO via the host page cache for both backends"
echo
echo "| case | qemu-storage-daemon IOPS | MiB/s | $DEVICE_NAME IOPS | MiB/s | ratio |"
echo "|---|---:|---:|---:|---:|---:|"
for ((c = 0; c < ${#CASES[@]}; c++)); do
    IFS='|' read -r label _ _ _ <<<"${CASES[$c]}"
    if [ -n "${FAILED[$c,qsd]:-}" ]; then
        q_iops=fail q_mib=fail
    else
        q_iops=$(mean "${SUM_IOPS[$c,qsd]}" '%.0f')
        q_mib=$(mean "${SUM_MIB[$c,qsd]}" '%.1f')
    fi
    if [ "$HAVE_DEVICE" = 0 ]; then
        d_iops=skipped d_mib=- ratio=-
    elif [ -n "${FAILED[$c,device]:-}" ]; then
        d_iops=fail d_mib=- ratio=-
    else
        d_iops=$(mean "${SUM_IOPS[$c,device]}" '%.0f')
        d_mib=$(mean "${SUM_MIB[$c,device]}" '%.1f')
        if [ "$q_iops" = fail ]; then
            ratio=-
        else
            ratio=$(awk -v d="${SUM_IOPS[$c,device]}" -v q="${SUM_IOPS[$c,qsd]}" \
                'BEGIN { if (q > 0) printf "%.2f", d / q; else print "-" }')
        fi
    fi
    echo "| $label | $q_iops | $q_mib | $d_iops | $d_mib | $ratio |"
done
if [ "$HAVE_DEVICE" = 0 ]; then
    echo
    echo "Note: \`$DEVICE_PROG\` was not found, so the second backend was skipped (command: \`$DEVICE_CMD\`)."
fi
[ "$FAILURES" = 0 ] || { log "$FAILURES measurement(s) failed"; exit 1; }
