#!/usr/bin/env bash
# Runs the Zig binding's tests (bindings/zig).
#
#   1. installs Zig $ZIG_VERSION from PyPI (`ziglang`) unless
#      `python3 -m ziglang version` already reports it;
#   2. builds the library: `cargo build --release -p pagedrange-ffi` at the repository root;
#   3. `python3 -m ziglang build test -Dcpu=baseline` in bindings/zig (a
#      fixed CPU, never the native one), under valgrind
#      (-Dvalgrind=true: memory errors and leaked handles fail) when valgrind
#      is installed and PR_ZIG_VALGRIND is not 0.
#
# Idempotent; caches stay in bindings/zig/.zig-cache (git-ignored). Exits
# non-zero when any step or any Zig test fails; the last line says which.
set -euo pipefail

ZIG_VERSION=0.15.2

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

log() { printf 'test-zig: %s\n' "$*" >&2; }
fail() {
    log "$1"
    echo "zig binding: FAIL ($1)"
    exit 1
}

zig_version() { python3 -m ziglang version 2>/dev/null || true; }

have=$(zig_version)
if [ "$have" != "$ZIG_VERSION" ]; then
    log "installing ziglang==$ZIG_VERSION from PyPI (found: ${have:-none})"
    # --break-system-packages for a Debian-managed python3 (PEP 668); older
    # pip does not know the flag, so retry without it.
    export PIP_ROOT_USER_ACTION=ignore
    pip_args=(install --quiet --disable-pip-version-check --no-cache-dir "ziglang==$ZIG_VERSION")
    python3 -m pip "${pip_args[@]}" --break-system-packages 2>/dev/null ||
        python3 -m pip "${pip_args[@]}" ||
        fail "pip install ziglang==$ZIG_VERSION failed"
    have=$(zig_version)
    [ "$have" = "$ZIG_VERSION" ] ||
        fail "python3 -m ziglang reports '${have:-nothing}', want $ZIG_VERSION"
fi

log "cargo build --release -p pagedrange-ffi"
cargo build --release -p pagedrange-ffi || fail "cargo build --release failed"
[ -f "$root/target/release/libpagedrange_ffi.a" ] || fail "target/release/libpagedrange_ffi.a missing"

cd "$root/bindings/zig"
export ZIG_GLOBAL_CACHE_DIR="$PWD/.zig-cache/global"
export ZIG_LOCAL_CACHE_DIR="$PWD/.zig-cache"

# Zig builds for the native CPU by default. valgrind 3.19 cannot decode
# AVX-512 (SIGILL in Zig's own memcpy on such machines), so the test binary
# is always built for the baseline x86-64 CPU, which every x86-64 machine
# and valgrind run.
args=(build test --summary all --prefix zig-out -Dcpu=baseline)
mode="native"
if [ "${PR_ZIG_VALGRIND:-1}" != 0 ] && command -v valgrind >/dev/null 2>&1; then
    args+=(-Dvalgrind=true)
    mode="under valgrind"
fi

log "python3 -m ziglang ${args[*]}"
start=$(date +%s)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
python3 -m ziglang "${args[@]}" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e
secs=$(($(date +%s) - start))

# "Build Summary: 5/5 steps succeeded; 27/27 tests passed". Under valgrind
# the build runner does not count tests; each binary prints "All N tests
# passed." itself.
summary=$(grep -m1 '^Build Summary:' "$out" | sed 's/^Build Summary: //' || true)
if [ "$mode" != native ] && [ "$rc" -eq 0 ]; then
    n=$(sed -n 's/^All \([0-9][0-9]*\) tests passed\.$/\1/p' "$out" | awk '{s += $1} END {print s + 0}')
    summary="$summary; $n tests passed"
fi
if [ "$rc" -ne 0 ]; then
    fail "zig build test exited $rc after ${secs}s: ${summary:-no summary}"
fi
echo "zig binding: OK (Zig $ZIG_VERSION, $mode, ${secs}s: ${summary:-done})"
