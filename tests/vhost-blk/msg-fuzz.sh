#!/usr/bin/env bash
# vu_msg_parse (examples/vhost-user-blk/vu_msg.c, the device's message
# validation, a pure function) against random and mutated messages, built
# with ASan and UBSan (tests/vhost-blk/msg_fuzz.c: no crash, no overread,
# only well-formed messages accepted).
#
#   tests/vhost-blk/msg-fuzz.sh [iterations] [seed]     (default 2000000)
#
# Prints PASS or FAIL; exit 0 on PASS.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T0=$(date +%s.%N)
OUT=$(mktemp -d /tmp/pr-msgfuzz-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
cc -std=c11 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all \
    -I"$ROOT/examples/vhost-user-blk" "$ROOT/tests/vhost-blk/msg_fuzz.c" \
    "$ROOT/examples/vhost-user-blk/vu_msg.c" -o "$OUT/msg_fuzz" || { echo "msg-fuzz: FAIL build"; exit 1; }
if line=$("$OUT/msg_fuzz" "${1:-2000000}" "${2:-0x5eed}"); then
    printf '%s\nmsg-fuzz: PASS (%.1f s)\n' "$line" "$(awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { print a - b }')"
else
    echo "msg-fuzz: FAIL"
    exit 1
fi
