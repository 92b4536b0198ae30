#!/usr/bin/env bash
# Tests the installed library the way users get it, not the build tree:
#
#   1. configures and builds the library in a fresh CMake build directory
#      (cargo's target/ is shared, so a built library is reused);
#   2. `cmake --install` into a fresh temporary prefix, then checks the tree:
#      every file, the SONAME links, SONAME and RUNPATH of the installed .so,
#      the header (same as include/pagedrange.h), pagedrange.pc (version,
#      prefix, Libs.private) and the CMake package config;
#   3. builds the out-of-tree consumer tests/packaging/ and runs it:
#        a. CMake, find_package(pagedrange CONFIG) with CMAKE_PREFIX_PATH:
#           shared (pagedrange::pagedrange) and static (pagedrange::static),
#           also under valgrind when it is installed;
#        b. pkg-config, shared: cc consumer.c $(pkg-config --cflags --libs)
#           run with LD_LIBRARY_PATH=<prefix>/lib;
#        c. pkg-config, static: $(pkg-config --static --libs) with the
#           archive picked instead of the .so, run with no library path;
#        d. the consumer fails (exit 1) when told to expect another version,
#           so a pass above means its checks ran;
#   4. installs again with DESTDIR and --prefix /opt/pagedrange (staged
#      install: files under DESTDIR, .pc prefix /opt/pagedrange), moves the
#      staged tree elsewhere and builds the consumer against the moved tree
#      through find_package (the CMake config is relocatable).
#
# Everything happens in a temporary directory that is removed at the end
# (set PR_KEEP_TMP=1 to keep it), so the script is idempotent and leaves the
# source tree alone. Exit status: 0 when every check passed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Where `pip install` puts cmake when setup.sh had to fall back to it.
export PATH="$PATH:${HOME:-/root}/.local/bin"

log() { printf 'test-packaging: %s\n' "$*"; }
failures=0
ok() { log "ok    $*"; }
fail() {
    log "FAIL  $*" >&2
    failures=$((failures + 1))
}
# check DESCRIPTION COMMAND...: runs COMMAND, records the outcome.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
die() {
    log "FATAL $*" >&2
    exit 1
}
# Predicates on ELF files, for check. Each captures the tool's output before
# grepping it: with pipefail, `tool | grep -q` can fail when grep exits
# early and the tool dies of SIGPIPE.
dynamic() { readelf -d "$1"; }
needs() { grep -qF "Shared library: [$2]" <<<"$(dynamic "$1")"; }
needs_no_pagedrange() { ! grep -qF libpagedrange <<<"$(dynamic "$1")"; }
has_no_runpath() { ! grep -qE '\((RPATH|RUNPATH)\)' <<<"$(dynamic "$1")"; }
defines() { grep -qE " T $2\$" <<<"$(nm -g --defined-only "$1" 2>/dev/null)"; }
# loads BINARY SONAME PATH: the dynamic loader resolves SONAME to PATH
# (without LD_LIBRARY_PATH).
loads() { grep -qF "$2 => $3" <<<"$(env -u LD_LIBRARY_PATH ldd "$1")"; }

# ---------------------------------------------------------------- tools
if ! command -v cmake >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1 ||
    ! command -v cc >/dev/null 2>&1 || ! command -v readelf >/dev/null 2>&1; then
    log "installing missing tools with scripts/setup.sh"
    scripts/setup.sh
    hash -r
fi
if ! command -v pkg-config >/dev/null 2>&1; then
    # setup.sh installs it; this is the fallback when it did not.
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends pkg-config
    hash -r
fi
for tool in cmake pkg-config cc readelf ldd; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found"
done
CC=${CC:-cc}
jobs=$(nproc 2>/dev/null || echo 2)

# The version, from Cargo.toml as CMakeLists.txt reads it.
version=$(sed -nE 's/^version[[:space:]]*=[[:space:]]*"([0-9]+\.[0-9]+\.[0-9]+)".*/\1/p' Cargo.toml | head -n1)
[ -n "$version" ] || die "no version in Cargo.toml"
major=${version%%.*}
log "pagedrange $version"

work=$(mktemp -d "${TMPDIR:-/tmp}/pagedrange-packaging.XXXXXX")
cleanup() {
    if [ "${PR_KEEP_TMP:-0}" = 1 ]; then
        log "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- build + install
build=$work/build
prefix=$work/prefix
log "configuring and building the library in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log" >&2; die "cmake configure failed"; }
# The install rules need only the staged libraries (and the header cargo
# writes), not the C tests.
cmake --build "$build" --target pagedrange_cargo --parallel "$jobs" >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; die "cmake build failed"; }
cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; die "cmake --install failed"; }
ok "cmake --install --prefix $prefix"

# ---------------------------------------------------------------- the installed tree
lib=$prefix/lib
real=libpagedrange.so.$version
soname=libpagedrange.so.$major
for f in "lib/$real" lib/libpagedrange.a include/pagedrange.h lib/pkgconfig/pagedrange.pc \
    lib/cmake/pagedrange/pagedrangeConfig.cmake lib/cmake/pagedrange/pagedrangeConfigVersion.cmake; do
    check "installed regular file $f" test -f "$prefix/$f" -a ! -L "$prefix/$f"
done
check "$soname -> $real" test "$(readlink "$lib/$soname" 2>/dev/null)" = "$real"
check "libpagedrange.so -> $soname" test "$(readlink "$lib/libpagedrange.so" 2>/dev/null)" = "$soname"
check "the links resolve inside the prefix" \
    test "$(readlink -f "$lib/libpagedrange.so")" = "$(readlink -f "$lib/$real")"
check "nothing else installed (6 files, 2 links)" \
    test "$(find "$prefix" -type f | wc -l) $(find "$prefix" -type l | wc -l)" = "6 2"

check "SONAME of the installed .so is $soname" \
    grep -qF "Library soname: [$soname]" <<<"$(dynamic "$lib/$real")"
check "no RPATH/RUNPATH in the installed .so" has_no_runpath "$lib/$real"
check "installed header is include/pagedrange.h" cmp -s "$prefix/include/pagedrange.h" include/pagedrange.h
check "libpagedrange.a defines pr_version" defines "$lib/libpagedrange.a" pr_version

# pkg-config metadata (PKG_CONFIG_PATH first, so an installed copy elsewhere
# does not win).
export PKG_CONFIG_PATH="$lib/pkgconfig"
check "pkg-config --validate" pkg-config --validate pagedrange
check "pkg-config --modversion is $version" test "$(pkg-config --modversion pagedrange)" = "$version"
check "pkg-config prefix is the install prefix" \
    test "$(pkg-config --variable=prefix pagedrange)" = "$prefix"
# pkg-config output without the trailing blank it prints.
pc() {
    local out
    out=$(pkg-config "$@")
    printf '%s' "${out%"${out##*[![:space:]]}"}"
}
check "pkg-config --cflags is -I$prefix/include" \
    test "$(pc --cflags pagedrange)" = "-I$prefix/include"
check "pkg-config --libs is -L$lib -lpagedrange" \
    test "$(pc --libs pagedrange)" = "-L$lib -lpagedrange"
static_libs=$(pkg-config --static --libs pagedrange)
for l in -lgcc_s -lutil -lrt -lpthread -lm -ldl; do
    check "pkg-config --static --libs has $l" grep -qw -- "$l" <<<"$static_libs"
done

# ---------------------------------------------------------------- consumer: find_package
cm=$work/consumer-cmake
log "building tests/packaging with find_package (CMAKE_PREFIX_PATH=$prefix)"
if cmake -S tests/packaging -B "$cm" -DCMAKE_PREFIX_PATH="$prefix" >"$work/consumer-configure.log" 2>&1 &&
    cmake --build "$cm" --parallel "$jobs" >"$work/consumer-build.log" 2>&1; then
    ok "consumer configured and built through find_package (shared and static)"
    check "find_package used the prefix's config" \
        grep -qxF "pagedrange_DIR:PATH=$lib/cmake/pagedrange" "$cm/CMakeCache.txt"
    check "consumer (find_package, shared) runs" env -u LD_LIBRARY_PATH "$cm/consumer"
    check "consumer needs $soname" \
        needs "$cm/consumer" "$soname"
    check "consumer loads the installed library" \
        loads "$cm/consumer" "$soname" "$lib/$soname"
    check "consumer_static (pagedrange::static) runs" "$cm/consumer_static"
    check "consumer_static does not need libpagedrange.so" \
        needs_no_pagedrange "$cm/consumer_static"
    check "ctest in the consumer project" \
        ctest --test-dir "$cm" --output-on-failure --no-tests=error -Q
    if command -v valgrind >/dev/null 2>&1; then
        check "consumer under valgrind" valgrind --quiet --leak-check=full \
            --errors-for-leak-kinds=definite,indirect --error-exitcode=99 "$cm/consumer"
    fi
else
    cat "$work"/consumer-*.log >&2
    fail "consumer through find_package"
fi

# ---------------------------------------------------------------- consumer: pkg-config
cflags=(-std=c11 -Wall -Wextra -Werror "-DPR_EXPECTED_VERSION=\"$version\"")
read -r -a pc_shared <<<"$(pkg-config --cflags --libs pagedrange)"
if "$CC" "${cflags[@]}" tests/packaging/consumer.c "${pc_shared[@]}" -o "$work/consumer-pc"; then
    ok "consumer built with \$(pkg-config --cflags --libs pagedrange)"
    check "consumer (pkg-config, shared) runs with LD_LIBRARY_PATH=$lib" \
        env LD_LIBRARY_PATH="$lib" "$work/consumer-pc"
    check "consumer (pkg-config) needs $soname" \
        needs "$work/consumer-pc" "$soname"
else
    fail "consumer through pkg-config (shared)"
fi

# Static: pkg-config --static adds Libs.private; -lpagedrange would still
# pick the .so next to the .a, so ask the linker for the archive by name.
read -r -a pc_static <<<"$(pkg-config --static --cflags --libs pagedrange)"
pc_static=("${pc_static[@]/#-lpagedrange/-l:libpagedrange.a}")
if "$CC" "${cflags[@]}" tests/packaging/consumer.c "${pc_static[@]}" -o "$work/consumer-pc-static"; then
    ok "consumer built with \$(pkg-config --static --cflags --libs pagedrange) (${pc_static[*]})"
    check "consumer (pkg-config, static) runs with no library path" \
        env -u LD_LIBRARY_PATH "$work/consumer-pc-static"
    check "consumer (pkg-config, static) does not need libpagedrange.so" \
        needs_no_pagedrange "$work/consumer-pc-static"
else
    fail "consumer through pkg-config --static"
fi

# The consumer's checks can fail: told to expect another version, it exits 1.
wrong=(-std=c11 "-DPR_EXPECTED_VERSION=\"$major.999.0\"")
if "$CC" "${wrong[@]}" tests/packaging/consumer.c "${pc_shared[@]}" -o "$work/consumer-wrong"; then
    rc=0
    LD_LIBRARY_PATH="$lib" "$work/consumer-wrong" >/dev/null 2>&1 || rc=$?
    check "consumer expecting version $major.999.0 exits 1 (got $rc)" test "$rc" -eq 1
else
    fail "consumer with a wrong expected version did not build"
fi

# ---------------------------------------------------------------- DESTDIR + relocation
stage=$work/stage
DESTDIR=$stage cmake --install "$build" --prefix /opt/pagedrange >"$work/install-destdir.log" 2>&1 ||
    { cat "$work/install-destdir.log" >&2; die "cmake --install with DESTDIR failed"; }
check "DESTDIR install puts files under DESTDIR/opt/pagedrange" \
    test -f "$stage/opt/pagedrange/lib/$real" -a -L "$stage/opt/pagedrange/lib/$soname"
check "DESTDIR install: pagedrange.pc says prefix=/opt/pagedrange" \
    grep -qx 'prefix=/opt/pagedrange' "$stage/opt/pagedrange/lib/pkgconfig/pagedrange.pc"

moved=$work/moved/elsewhere
mkdir -p "$(dirname "$moved")"
mv "$stage/opt/pagedrange" "$moved"
cr=$work/consumer-relocated
if cmake -S tests/packaging -B "$cr" -DCMAKE_PREFIX_PATH="$moved" >"$work/relocated.log" 2>&1 &&
    cmake --build "$cr" --parallel "$jobs" >>"$work/relocated.log" 2>&1; then
    check "find_package found the moved tree" \
        grep -qxF "pagedrange_DIR:PATH=$moved/lib/cmake/pagedrange" "$cr/CMakeCache.txt"
    check "consumer built against the moved tree runs" env -u LD_LIBRARY_PATH "$cr/consumer"
    check "consumer built against the moved tree loads it" \
        loads "$cr/consumer" "$soname" "$moved/lib/$soname"
else
    cat "$work/relocated.log" >&2
    fail "consumer against a moved install tree (CMake config not relocatable?)"
fi

if [ "$failures" -ne 0 ]; then
    log "$failures check(s) FAILED"
    exit 1
fi
log "all checks passed"
