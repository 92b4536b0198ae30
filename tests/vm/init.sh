#!/bin/sh
# /init of the test initramfs (busybox ash). Built into target/vm/initrd.gz
# by scripts/vm/setup.sh; booted by scripts/vm/run-guest.sh.
#
# Loads the virtio modules, waits for /dev/vda and runs the workload named
# by the kernel command line, then powers off. Parameters (kernel command
# line, read from /proc/cmdline):
#   pr.mode=write-verify    (default) writes random data at offsets and sizes
#                           that are multiples of 512 (512 B .. 2 MiB, many
#                           not 4 KiB aligned), serially and then from 8
#                           concurrent writers, reads everything back; needs
#                           a disk of at least 64 MiB
#   pr.mode=read-verify     reads the same ranges and checks that a write
#                           is refused (read-only device)
#   pr.mode=migrate-writer  writes numbered blocks until stopped, then reads
#                           them all back
#   pr.seconds=N            migrate-writer: stop after N s of guest time (60)
#   pr.maxblocks=N          migrate-writer: stop after N blocks
#
# Output, one record per console line (fields separated by one space):
#   PRINFO key=value...                 facts about the guest and the disk
#   PRSUM <offset> <len> <md5>          md5 of the bytes read back (direct IO)
#   PRBLOCK <n> <offset> <len> <md5>    block n written (O_DIRECT + fsync)
#   PRSTOPPED <blocks> <reason>         the writer loop ended
#   PRVERIFY <n> ok|bad <md5 direct> <md5 cached>
#                                       block n read back with O_DIRECT and
#                                       through the page cache (filled by a
#                                       buffered read right after the write)
#   PRERR <text>                        a check failed inside the guest
#   PRRO rejected|accepted              read-verify: outcome of the write
#   PRRESULT PASS|FAIL <key=value...>   the guest's own verdict (last record)
# The host side checks PRSUM/PRBLOCK md5s against the disk image.
#
# migrate-writer stops when the last 512-byte sector of the disk starts with
# the 6 bytes "PRSTOP" (the host writes them into the image), after
# pr.seconds of guest time, after pr.maxblocks blocks, or when the disk is
# full. Block n occupies [1 MiB + n*128 KiB + (n%8)*512, +len), len =
# ((n*37)%248+1)*512 (512 B .. 124 KiB).

PATH=/bin:/sbin
export PATH

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

# Failures are counted in a file: background writers are subshells.
fail() {
    echo "PRERR $*"
    echo x >>/tmp/fails
}

finish() {
    # Flush the device's write cache (fsync on the block device) so the host
    # finds everything in the image when it compares.
    if [ -b /dev/vda ] && [ "$(cat /sys/block/vda/ro)" = 0 ]; then
        dd if=/dev/zero of=/dev/vda bs=512 count=0 conv=notrunc,fsync 2>/dev/null ||
            fail "final flush (fsync of /dev/vda) failed"
    fi
    echo "PRINFO uptime_end=$(cut -d' ' -f1 /proc/uptime)"
    FAILS=$(cat /tmp/fails 2>/dev/null | wc -l)
    if [ "$FAILS" -eq 0 ]; then
        echo "PRRESULT PASS $*"
    else
        echo "PRRESULT FAIL errors=$FAILS $*"
    fi
    poweroff -f
    sleep 10
}

MODE=write-verify
SECONDS_MAX=60
MAXBLOCKS=
for tok in $(cat /proc/cmdline); do
    case "$tok" in
        pr.mode=*) MODE=${tok#*=} ;;
        pr.seconds=*) SECONDS_MAX=${tok#*=} ;;
        pr.maxblocks=*) MAXBLOCKS=${tok#*=} ;;
    esac
done

for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
    [ -f "/modules/$m.ko" ] || continue   # built into the kernel
    insmod "/modules/$m.ko" || fail "insmod $m failed"
done

i=0
while [ ! -b /dev/vda ] && [ "$i" -lt 200 ]; do
    usleep 50000
    i=$((i + 1))
done
if [ ! -b /dev/vda ]; then
    fail "no /dev/vda after 10 s"
    finish mode="$MODE"
fi

DEV=/dev/vda
Q=/sys/block/vda/queue
DISK_BYTES=$(( $(cat /sys/block/vda/size) * 512 ))
NCPU=$(nproc)
HWQ=$(ls /sys/block/vda/mq 2>/dev/null | wc -l)
echo "PRINFO mode=$MODE kernel=$(uname -r) cpus=$NCPU disk_bytes=$DISK_BYTES hw_queues=$HWQ ro=$(cat /sys/block/vda/ro) uptime=$(cut -d' ' -f1 /proc/uptime)"
echo "PRINFO lbs=$(cat $Q/logical_block_size) pbs=$(cat $Q/physical_block_size) max_segments=$(cat $Q/max_segments) max_sectors_kb=$(cat $Q/max_sectors_kb) write_cache=$(tr ' ' _ <$Q/write_cache) discard_max_bytes=$(cat $Q/discard_max_bytes) write_zeroes_max_bytes=$(cat $Q/write_zeroes_max_bytes)"

# write_range OFF LEN [TAG]: LEN random bytes to OFF with O_DIRECT; records
# "OFF LEN MD5" in /tmp/expect${TAG}.
write_range() {
    src=/tmp/src$3
    dd if=/dev/urandom of="$src" bs="$2" count=1 iflag=fullblock 2>/dev/null
    if ! dd if="$src" of=$DEV bs="$2" count=1 seek="$1" oflag=direct,seek_bytes conv=notrunc 2>/tmp/dd.err$3; then
        fail "write off=$1 len=$2: $(tr '\n' ' ' </tmp/dd.err$3)"
    fi
    echo "$1 $2 $(md5sum <"$src" | cut -d' ' -f1)" >>/tmp/expect$3
    rm -f "$src"
}

# read_md5 OFF LEN: md5 of LEN bytes at OFF, read with O_DIRECT.
read_md5() {
    dd if=$DEV bs="$2" count=1 skip="$1" iflag=direct,skip_bytes 2>/dev/null | md5sum | cut -d' ' -f1
}

# cached_md5 OFF LEN: the same through the page cache (no O_DIRECT).
cached_md5() {
    dd if=$DEV bs="$2" count=1 skip="$1" iflag=skip_bytes 2>/dev/null | md5sum | cut -d' ' -f1
}

# check_file FILE: read back every "OFF LEN MD5" of FILE, print PRSUM.
check_file() {
    while read -r off len want; do
        got=$(read_md5 "$off" "$len")
        echo "PRSUM $off $len $got"
        [ "$got" = "$want" ] || fail "readback off=$off len=$len got=$got want=$want"
    done <"$1"
}

# The serial cases: sizes 512 B .. 2 MiB, offsets aligned to 512 only,
# 4 KiB, or more; none overlap. "OFF LEN" per line.
serial_cases() {
    cat <<'EOF'
0 512
512 512
1536 1536
4096 4096
9216 3584
16384 8192
24576 65536
98816 66048
196608 131072
335360 261632
1048576 1048576
2097664 1048064
3146240 524288
4194304 2097152
6291968 1572864
8388608 4096
8392704 512
8393728 1024
EOF
}

# Parallel cases: 8 writers, 4 ranges each, inside [32 MiB, 40 MiB).
par_cases() {
    j=$1
    k=0
    while [ "$k" -lt 4 ]; do
        off=$(( 33554432 + j * 1048576 + k * 262144 + ((j + k) % 8) * 512 ))
        len=$(( ( (j * 4 + k) * 61 % 480 + 1 ) * 512 ))
        echo "$off $len"
        k=$((k + 1))
    done
}

# pin_self N: pin the calling (sub)shell to CPU N % NCPU. /proc/self read
# by the builtin is the subshell itself, not a child.
pin_self() {
    [ "$NCPU" -gt 1 ] || return 0
    read -r mypid _ </proc/self/stat
    taskset -p -c $(( $1 % NCPU )) "$mypid" >/dev/null 2>&1
}

mode_write_verify() {
    [ "$DISK_BYTES" -ge 67108864 ] || { fail "disk too small ($DISK_BYTES < 64 MiB)"; return; }
    : >/tmp/expect
    serial_cases >/tmp/ranges
    while read -r off len; do write_range "$off" "$len"; done </tmp/ranges
    # 8 concurrent writers: queue depth > 1, and every queue on SMP guests.
    j=0
    while [ "$j" -lt 8 ]; do
        : >/tmp/expect.$j
        ( pin_self $j; par_cases $j >/tmp/ranges.$j
          while read -r off len; do write_range "$off" "$len" ".$j"; done </tmp/ranges.$j ) &
        j=$((j + 1))
    done
    wait
    # A flush (fsync on the block device: VIRTIO_BLK_T_FLUSH if offered).
    dd if=/dev/zero of=$DEV bs=512 count=1 seek=$((40 * 2048)) oflag=direct conv=notrunc,fsync 2>/dev/null ||
        fail "write+fsync at 40 MiB failed"
    echo "$((40 * 1048576)) 512 $(dd if=/dev/zero bs=512 count=1 2>/dev/null | md5sum | cut -d' ' -f1)" >>/tmp/expect
    sync
    check_file /tmp/expect
    # Concurrent readback of the parallel set.
    j=0
    while [ "$j" -lt 8 ]; do
        ( pin_self $j; check_file /tmp/expect.$j >/tmp/out.$j 2>&1 ) &
        j=$((j + 1))
    done
    wait
    j=0
    while [ "$j" -lt 8 ]; do
        cat /tmp/out.$j
        j=$((j + 1))
    done
    # Discard, when offered: the content afterwards is the device's choice,
    # the host checks that guest and image agree.
    if [ "$(cat $Q/discard_max_bytes)" -gt 0 ]; then
        if blkdiscard -o $((44 * 1048576)) -l 1048576 $DEV 2>/tmp/discard.err; then
            echo "PRSUM $((44 * 1048576)) 1048576 $(read_md5 $((44 * 1048576)) 1048576)"
        else
            fail "blkdiscard: $(cat /tmp/discard.err)"
        fi
    fi
    n=$(cat /tmp/expect /tmp/expect.* | wc -l)
    [ "$(cat $Q/discard_max_bytes)" -gt 0 ] && n=$((n + 1))
    finish sums=$n
}

mode_read_verify() {
    n=0
    serial_cases >/tmp/ranges
    while read -r off len; do
        [ $((off + len)) -le "$DISK_BYTES" ] || continue
        echo "PRSUM $off $len $(read_md5 "$off" "$len")"
        n=$((n + 1))
    done </tmp/ranges
    [ "$(cat /sys/block/vda/ro)" = 1 ] || fail "/sys/block/vda/ro is not 1"
    if dd if=/dev/zero of=$DEV bs=512 count=1 oflag=direct conv=notrunc 2>/tmp/dd.err; then
        echo "PRRO accepted"
        fail "a write to the read-only disk succeeded"
    else
        echo "PRRO rejected $(tr '\n' ' ' </tmp/dd.err)"
    fi
    finish sums=$n
}

mode_migrate_writer() {
    base=1048576
    stride=131072
    stop_sector=$(( DISK_BYTES / 512 - 1 ))
    slots=$(( (DISK_BYTES - 512 - base) / stride ))
    max=$slots
    [ -n "$MAXBLOCKS" ] && [ "$MAXBLOCKS" -lt "$max" ] && max=$MAXBLOCKS
    start=$(cut -d. -f1 /proc/uptime)
    : >/tmp/written
    n=0
    reason=full
    while [ "$n" -lt "$max" ]; do
        mark=$(dd if=$DEV bs=512 count=1 skip=$stop_sector iflag=direct 2>/dev/null | head -c 6)
        [ "$mark" = PRSTOP ] && { reason=marker; break; }
        now=$(cut -d. -f1 /proc/uptime)
        [ $((now - start)) -ge "$SECONDS_MAX" ] && { reason=seconds; break; }
        off=$(( base + n * stride + (n % 8) * 512 ))
        len=$(( ( (n * 37) % 248 + 1 ) * 512 ))
        dd if=/dev/urandom of=/tmp/b bs=$len count=1 iflag=fullblock 2>/dev/null
        if ! dd if=/tmp/b of=$DEV bs=$len count=1 seek=$off oflag=direct,seek_bytes conv=notrunc,fsync 2>/tmp/dd.err; then
            fail "block $n write off=$off len=$len: $(tr '\n' ' ' </tmp/dd.err)"
            reason=error
            break
        fi
        sum=$(md5sum </tmp/b | cut -d' ' -f1)
        # A buffered read puts the block in the guest's page cache: pages
        # the device fills by DMA, which must reach the destination (dirty
        # log) for the cached readback at the end to match.
        cached=$(cached_md5 "$off" "$len")
        [ "$cached" = "$sum" ] || fail "block $n buffered readback $cached, wrote $sum"
        echo "$n $off $len $sum" >>/tmp/written
        echo "PRBLOCK $n $off $len $sum"
        n=$((n + 1))
    done
    [ "$n" -ge "$max" ] && [ "$reason" = full ] && [ -n "$MAXBLOCKS" ] && reason=maxblocks
    echo "PRSTOPPED $n $reason"
    bad=0
    while read -r i off len want; do
        got=$(read_md5 "$off" "$len")
        cached=$(cached_md5 "$off" "$len")
        if [ "$got" = "$want" ] && [ "$cached" = "$want" ]; then
            echo "PRVERIFY $i ok $got $cached"
        else
            echo "PRVERIFY $i bad $got $cached"
            bad=$((bad + 1))
        fi
    done </tmp/written
    [ "$bad" -eq 0 ] || fail "$bad of $n blocks read back wrong"
    finish blocks=$n bad=$bad stop=$reason
}

case "$MODE" in
    write-verify) mode_write_verify ;;
    read-verify) mode_read_verify ;;
    migrate-writer) mode_migrate_writer ;;
    *) fail "unknown pr.mode=$MODE"; finish ;;
esac
finish
