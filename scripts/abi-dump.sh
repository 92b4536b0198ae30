#!/usr/bin/env bash
# Writes the ABI of libpagedrange.so as abidw (libabigail) XML, for
# scripts/check-abi.sh (compares it with the baseline abi/pagedrange.abi)
# and scripts/abi-baseline.sh (replaces the baseline with it).
#
#   scripts/abi-dump.sh OUT.abi    prints the path of the library it dumped
#
# abidw reads function signatures and struct layouts from DWARF, and the
# release profile's `debug = 1` emits functions without their parameters.
# So the library is built a second time, from the same sources and linked
# by CMakeLists.txt as build/ links it, in a directory of its own,
# target/abi/ (cargo's target/abi/cargo, CMake's target/abi/cmake), with
#   --config profile.release.debug=2       full DWARF, and
#   --config profile.release.opt-level=0   no merged functions: optimized,
#       LLVM folds functions with identical code into aliases of one symbol
#       (pr_range_len and pr_ranges_len, say), and the dump would describe
#       only one signature of each group.
# Types and signatures do not depend on either setting. The first run costs
# one unoptimized build (under a minute); later runs reuse it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
# Where `pip install` puts cmake when setup.sh had to fall back to it.
export PATH="$PATH:${HOME:-/root}/.local/bin"

[ $# -eq 1 ] || { echo "usage: $0 OUT.abi" >&2; exit 2; }
out=$1
for tool in abidw cmake; do
    command -v "$tool" >/dev/null 2>&1 ||
        { echo "abi-dump: '$tool' not found: run scripts/setup.sh" >&2; exit 1; }
done

dir=$ROOT/target/abi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { cmake -S . -B "$dir/cmake" -DCMAKE_BUILD_TYPE=Release \
    "-DPR_CARGO_TARGET_DIR=$dir/cargo" "-DPR_CARGO_FLAGS=--config=profile.release.debug=2 --config=profile.release.opt-level=0" &&
    cmake --build "$dir/cmake" --target pagedrange_cargo; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "abi-dump: building the library with full debug info failed" >&2
    exit 1
fi
version=$(sed -nE 's/^version[[:space:]]*=[[:space:]]*"([0-9]+\.[0-9]+\.[0-9]+)".*/\1/p' Cargo.toml | head -n1)
so=$dir/cmake/lib/libpagedrange.so.$version
[ -f "$so" ] || { echo "abi-dump: $so not found after the build" >&2; exit 1; }

# No source locations, build paths or file name, and none of the Rust
# functions behind the C ones (abi/abidw.suppr): the dump changes only when
# the ABI does.
raw=$(mktemp)
trap 'rm -f "$log" "$raw"' EXIT
abidw --no-show-locs --no-comp-dir-path --no-corpus-path --drop-undefined-syms \
    --suppressions abi/abidw.suppr --out-file "$raw" "$so"

# DWARF names a Rust item by its module path (pagedrange_ffi::status::
# pr_transfer); C knows it as pr_transfer. Moving a type between the
# crates' modules changes no byte of the C ABI, so the dump drops the
# namespaces of the two crates (pagedrange_ffi, pagedrange) and keeps what
# they hold.
python3 - "$raw" "$out" <<'PY'
import re
import sys

ours = ("pagedrange_ffi", "pagedrange")
opening = re.compile(r"^\s*<namespace-decl name='([^']*)'>\s*$")
closing = re.compile(r"^\s*</namespace-decl>\s*$")
stack = []  # (name, dropped) of the open namespace-decl elements
kept = []
with open(sys.argv[1]) as f:
    for line in f:
        m = opening.match(line)
        if m:
            drop = (stack[0][0] if stack else m.group(1)) in ours
            stack.append((m.group(1), drop))
            if drop:
                continue
        elif closing.match(line):
            if stack.pop()[1]:
                continue
        kept.append(line)
if stack:
    sys.exit("abi-dump: unbalanced namespace-decl elements in the abidw output")
with open(sys.argv[2], "w") as f:
    f.writelines(kept)
PY
echo "$so"
