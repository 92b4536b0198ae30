#!/usr/bin/env bash
# Tests the Zig binding (bindings/zig): its own tests in the tree, then the
# package used the way a project outside this repository uses it, against
# an installed library.
#
#   1. installs Zig $ZIG_VERSION from PyPI (`ziglang`) unless
#      `python3 -m ziglang version` already reports it, and cmake and
#      pkg-config (scripts/setup.sh) when missing;
#   2. in the tree: `zig fmt --check`; README's Zig example is, line for
#      line, the start of the test "README example"; `cargo build --release
#      -p pagedrange-ffi`, then
#      `zig build test` in bindings/zig against cargo's archive and
#      include/ (static link), natively and, when valgrind is installed and
#      PR_ZIG_VALGRIND is not 0, also under valgrind (memory errors and
#      leaked handles fail). The tests check every function, PR_ERR_*,
#      PR_CHAIN_* and PR_FAULT_* constant of the header against the binding;
#   3. installed: builds the library with CMake in a temporary directory and
#      `cmake --install`s it into a temporary prefix (as
#      scripts/test-packaging.sh does), copies bindings/zig and
#      tests/zig-consumer out of the tree (same relative layout, so the
#      consumer's `.path` dependency holds), and
#        a. runs the binding's tests against the installed shared library,
#           found through pkg-config (PKG_CONFIG_PATH=<prefix>/lib/pkgconfig);
#        b. builds the consumer through pkg-config: it runs without
#           LD_LIBRARY_PATH, loads <prefix>/lib/libpagedrange.so.0, prints
#           Cargo.toml's version; also under valgrind;
#        c. builds the consumer with -Dpagedrange-prefix=<prefix>
#           -Dpagedrange-linkage=static: it needs no libpagedrange.so;
#        d. fetches the package as a user does: a tarball of bindings/zig,
#           `zig fetch --save=pagedrange` into a copy of the consumer (the
#           package then holds only what its build.zig.zon `.paths` lists),
#           built with -Dpagedrange-prefix and run.
#
# Everything built from the copies happens in a temporary directory that is
# removed at the end (PR_KEEP_TMP=1 keeps it); caches stay in
# bindings/zig/.zig-cache (git-ignored). Every build targets the baseline
# x86-64 CPU (-Dcpu=baseline): valgrind 3.19 cannot decode AVX-512, and
# Zig builds for the native CPU by default. Exits non-zero when any step
# fails; the last line says which, or gives the timings.
set -euo pipefail

ZIG_VERSION=0.15.2

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
# Where `pip install` puts cmake when setup.sh had to fall back to it.
export PATH="$PATH:${HOME:-/root}/.local/bin"

log() { printf 'test-zig: %s\n' "$*" >&2; }
fail() {
    log "$1"
    echo "zig binding: FAIL ($1)"
    exit 1
}
zig() { python3 -m ziglang "$@"; }
timings=()
# timed NAME COMMAND...: runs COMMAND, records its seconds under NAME.
timed() {
    local name=$1 start rc=0
    shift
    start=$(date +%s)
    "$@" || rc=$?
    timings+=("$name $(($(date +%s) - start))s")
    return "$rc"
}

# ---------------------------------------------------------------- tools
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
if ! command -v cmake >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1; then
    log "installing missing tools with scripts/setup.sh"
    scripts/setup.sh || fail "scripts/setup.sh failed"
    hash -r
fi
valgrind=()
if [ "${PR_ZIG_VALGRIND:-1}" != 0 ] && command -v valgrind >/dev/null 2>&1; then
    valgrind=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1)
fi

version=$(sed -nE 's/^version[[:space:]]*=[[:space:]]*"([0-9]+\.[0-9]+\.[0-9]+)".*/\1/p' Cargo.toml | head -n1)
[ -n "$version" ] || fail "no version in Cargo.toml"

export ZIG_GLOBAL_CACHE_DIR="$root/bindings/zig/.zig-cache/global"

work=$(mktemp -d "${TMPDIR:-/tmp}/pagedrange-zig.XXXXXX")
cleanup() {
    if [ "${PR_KEEP_TMP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- 2. in the tree
zig fmt --check bindings/zig/build.zig bindings/zig/src tests/zig-consumer ||
    fail "zig fmt --check: run python3 -m ziglang fmt on the files above"

# The README's last Zig example is, line for line, the start of the test
# "README example" (which then checks what it did).
python3 - README.md bindings/zig/src/tests.zig <<'PY' || fail "README's Zig example differs from the test \"README example\""
import re, sys
section = open(sys.argv[1]).read().split("\n## Zig\n", 1)[1].split("\n## ", 1)[0]
example = re.findall(r"```zig\n(.*?)```", section, re.S)[-1]
want = [l.strip() for l in example.splitlines() if l.strip() and l != 'const pr = @import("pagedrange");']
body = open(sys.argv[2]).read().split('test "README example" {\n', 1)[1]
got = [l.strip() for l in body.splitlines() if l.strip()][: len(want)]
sys.exit(0 if want and got == want else 1)
PY

log "cargo build --release -p pagedrange-ffi"
cargo build --release -p pagedrange-ffi || fail "cargo build --release failed"
[ -f "$root/target/release/libpagedrange_ffi.a" ] || fail "target/release/libpagedrange_ffi.a missing"

# zig build test in DIR with ARGS; its output in $work/LOG.
zig_test() {
    local dir=$1 logname=$2
    shift 2
    log "(cd ${dir#"$root"/} && zig build test $*)"
    local rc=0
    (cd "$dir" && ZIG_LOCAL_CACHE_DIR="$dir/.zig-cache" zig build test --summary all -Dcpu=baseline "$@") \
        >"$work/$logname" 2>&1 || rc=$?
    # Valgrind's complaints about Zig's DWARF 5 are noise, and so is a
    # line per passing test.
    grep -vE 'DWARF2 reader|DW_FORM|dwarf2 abbrev|reading debug info|\.\.\.OK$' "$work/$logname" >&2 || true
    return "$rc"
}
# "42/42 tests passed" from the build summary, and "All 42 tests passed."
# of the valgrind run.
tests_passed() {
    local native under
    native=$(sed -n 's/^Build Summary: .*; \([0-9]*\/[0-9]* tests passed\).*/\1/p' "$work/$1")
    under=$(sed -n 's/^All \([0-9]*\) tests passed\.$/\1/p' "$work/$1")
    echo "${native:-no test count}${under:+, $under under valgrind}"
}

in_tree=(-Dinclude-dir="$root/include" -Dlib-dir="$root/target/release"
    -Dlib-name=pagedrange_ffi -Dlinkage=static)
[ "${#valgrind[@]}" -eq 0 ] || in_tree+=(-Dvalgrind=true)
timed "in-tree" zig_test "$root/bindings/zig" in-tree.log "${in_tree[@]}" ||
    fail "zig build test in bindings/zig failed"
in_tree_result=$(tests_passed in-tree.log)

# ---------------------------------------------------------------- 3. installed
prefix=$work/prefix
install_library() {
    log "building the library with CMake and installing it into $prefix"
    cmake -S . -B "$work/build" -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log" 2>&1 &&
        cmake --build "$work/build" --target pagedrange_cargo --parallel 1 >>"$work/cmake.log" 2>&1 &&
        cmake --install "$work/build" --prefix "$prefix" >>"$work/cmake.log" 2>&1 ||
        { cat "$work/cmake.log" >&2; return 1; }
}
timed "install" install_library || fail "CMake build or install failed"

# The package and the consumer outside the tree, without caches.
out=$work/src
mkdir -p "$out/bindings" "$out/tests"
copy() { tar -C "$root/$1" --exclude=.zig-cache --exclude=zig-out -cf - . | (mkdir -p "$2" && tar -C "$2" -xf -); }
copy bindings/zig "$out/bindings/zig"
copy tests/zig-consumer "$out/tests/zig-consumer"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"

# a. The binding's tests against the installed shared library.
timed "installed" zig_test "$out/bindings/zig" installed.log ||
    fail "zig build test against the installed library (pkg-config) failed"
installed_result=$(tests_passed installed.log)

# build_consumer DIR NAME ARGS...: builds the consumer in DIR, installed to
# $work/NAME; runs it with no library path and checks what it prints.
build_consumer() {
    local dir=$1 name=$2 got
    shift 2
    log "(cd ${dir#"$work"/} && zig build --prefix $name $*)"
    (cd "$dir" && ZIG_LOCAL_CACHE_DIR="$dir/.zig-cache" zig build --prefix "$work/$name" -Dcpu=baseline "$@") ||
        return 1
    got=$(env -u LD_LIBRARY_PATH "$work/$name/bin/consumer") || { log "$name: the consumer failed"; return 1; }
    [ "$got" = "pagedrange $version: ok" ] || { log "$name printed '$got'"; return 1; }
}
# loads_installed BINARY: the loader finds libpagedrange.so.0 in the prefix.
loads_installed() {
    local deps
    deps=$(env -u LD_LIBRARY_PATH ldd "$1")
    grep -qF "libpagedrange.so.0 => $prefix/lib/libpagedrange.so.0" <<<"$deps" ||
        { log "$1 does not load $prefix/lib/libpagedrange.so.0:"; echo "$deps" >&2; return 1; }
}
needs_no_pagedrange() {
    ! grep -qF libpagedrange <<<"$(readelf -d "$1")" || { log "$1 needs libpagedrange"; return 1; }
}

# b. Through pkg-config, the shared library.
consumer=$out/tests/zig-consumer
shared() {
    build_consumer "$consumer" consumer-pkg-config && loads_installed "$work/consumer-pkg-config/bin/consumer" ||
        return 1
    if [ "${#valgrind[@]}" -ne 0 ]; then
        "${valgrind[@]}" "$work/consumer-pkg-config/bin/consumer" >"$work/consumer-valgrind.log" 2>&1 ||
            { cat "$work/consumer-valgrind.log" >&2; log "the consumer fails under valgrind"; return 1; }
    fi
}
timed "consumer-pkg-config" shared || fail "consumer through pkg-config failed"

# c. Through the prefix option, the static library.
static() {
    build_consumer "$consumer" consumer-static \
        -Dpagedrange-prefix="$prefix" -Dpagedrange-linkage=static &&
        needs_no_pagedrange "$work/consumer-static/bin/consumer"
}
timed "consumer-static" static || fail "consumer with -Dpagedrange-prefix, static, failed"

# d. The package from a tarball, through zig fetch --save.
fetched() {
    local tarball=$work/pagedrange-zig-$version.tar.gz app=$work/fetched/zig-consumer
    tar -C "$root/bindings/zig" --exclude=.zig-cache --exclude=zig-out \
        --transform "s,^\\.,pagedrange-zig-$version," -czf "$tarball" .
    mkdir -p "$app"
    cp -r "$consumer/build.zig" "$consumer/src" "$app/"
    # The consumer's manifest without its `.path` dependency: zig fetch
    # adds the package as a user's project gets it.
    grep -vF '.path = ' "$consumer/build.zig.zon" >"$app/build.zig.zon"
    ! grep -qF '.pagedrange =' "$app/build.zig.zon" || { log "could not drop the .path dependency"; return 1; }
    (cd "$app" && zig fetch --save=pagedrange "$tarball") || return 1
    grep -qF "\"$tarball\"" "$app/build.zig.zon" || { log "zig fetch --save did not record the tarball"; return 1; }
    build_consumer "$app" consumer-fetched -Dpagedrange-prefix="$prefix" &&
        loads_installed "$work/consumer-fetched/bin/consumer"
}
timed "consumer-fetched" fetched || fail "consumer with the package from zig fetch failed"

mode=native
[ "${#valgrind[@]}" -eq 0 ] || mode="native and valgrind"
echo "zig binding: OK (Zig $ZIG_VERSION; in tree, $mode: $in_tree_result; installed library: $installed_result; consumer via pkg-config, static prefix, zig fetch: ok; ${timings[*]})"
