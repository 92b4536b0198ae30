#!/usr/bin/env bash
# Boot the test guest (TCG) on a vhost-user-blk socket. The guest console
# (tests/vm/init.sh's PR* records) goes to stdout; this script's own
# messages go to stderr. Exits with QEMU's status (124 on timeout).
#
#   run-guest.sh --socket PATH [--queues N] [--mode MODE] [--append 'k=v ...']
#                [--incoming FILE] [--monitor PATH] [--qmp PATH]
#                [--timeout SEC] [--mem SIZE] [--trace] [--dry-run]
#
#   --socket PATH    vhost-user-blk socket of a running backend (required)
#   --queues N       num-queues of the device and -smp N (default 1); N > 1
#                    uses multi-threaded TCG so each vCPU submits on its queue
#   --mode MODE      guest workload: write-verify (default), read-verify,
#                    migrate-writer (see tests/vm/init.sh)
#   --append ARGS    extra kernel command line, e.g. 'pr.seconds=20'
#   --incoming FILE  start paused and load the migration stream from FILE
#                    (written by `migrate "exec:cat > FILE"`)
#   --monitor PATH   human monitor on a unix socket (server, nowait)
#   --qmp PATH       QMP on a unix socket (server, nowait)
#   --timeout SEC    kill QEMU after SEC seconds (default 120)
#   --mem SIZE       guest memory (default 512M; memfd, share=on)
#   --trace          QEMU traces of every vhost-user message (stderr)
#   --qemu-arg ARG   one more QEMU argument (repeatable)
#   --dry-run        print the QEMU command line and exit
#
# Kernel and initramfs come from target/vm/ (PR_VM_CACHE), made by
# scripts/vm/setup.sh, which this script runs first if they are missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${PR_VM_CACHE:-$root/target/vm}

log() { printf 'run-guest: %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

socket= queues=1 mode=write-verify append= incoming= monitor= qmp=
timeout=120 mem=512M trace=0 dry=0
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --socket) socket=$2; shift 2 ;;
        --queues) queues=$2; shift 2 ;;
        --mode) mode=$2; shift 2 ;;
        --append) append=$2; shift 2 ;;
        --incoming) incoming=$2; shift 2 ;;
        --monitor) monitor=$2; shift 2 ;;
        --qmp) qmp=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --trace) trace=1; shift ;;
        --qemu-arg) extra+=("$2"); shift 2 ;;
        --dry-run) dry=1; shift ;;
        -h|--help) usage ;;
        *) log "unknown argument: $1"; usage ;;
    esac
done
[ -n "$socket" ] || { log "--socket is required"; usage; }
case "$queues" in ''|*[!0-9]*|0) log "--queues must be a positive integer"; exit 2 ;; esac

if [ ! -s "$cache/vmlinuz" ] || [ ! -s "$cache/initrd.gz" ] ||
   [ "$root/tests/vm/init.sh" -nt "$cache/initrd.gz" ]; then
    "$here/setup.sh" >/dev/null
fi

accel=tcg
[ "$queues" -gt 1 ] && accel=tcg,thread=multi
cmd=(qemu-system-x86_64
    -accel "$accel" -machine q35 -cpu max -m "$mem" -smp "$queues"
    -nographic -no-reboot -nodefaults -serial stdio
    -object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem
    -chardev "socket,id=char0,path=$socket"
    -device "vhost-user-blk-pci,chardev=char0,num-queues=$queues"
    -kernel "$cache/vmlinuz" -initrd "$cache/initrd.gz"
    -append "console=ttyS0 panic=-1 quiet pr.mode=$mode $append")
# qboot starts a direct kernel boot ~0.8 s sooner than SeaBIOS.
[ -f /usr/share/qemu/qboot.rom ] && cmd+=(-bios /usr/share/qemu/qboot.rom)
[ -n "$monitor" ] && cmd+=(-monitor "unix:$monitor,server=on,wait=off")
[ -n "$qmp" ] && cmd+=(-qmp "unix:$qmp,server=on,wait=off")
[ -n "$incoming" ] && cmd+=(-incoming "exec:cat $(printf %q "$incoming")")
[ "$trace" -eq 1 ] && cmd+=(-trace 'vhost_user_*')
cmd+=("${extra[@]}")

if [ "$dry" -eq 1 ]; then
    printf '%q ' timeout -k 5 "$timeout" "${cmd[@]}"
    echo
    exit 0
fi
# No terminal on QEMU's stdin: the serial port only writes to stdout.
exec timeout -k 5 "$timeout" "${cmd[@]}" </dev/null
