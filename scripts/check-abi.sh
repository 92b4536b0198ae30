#!/usr/bin/env bash
# Check the C ABI of the cargo release build:
#   1. libpagedrange.so has SONAME libpagedrange.so.0 (readelf -d);
#   2. every symbol it exports starts with pr_ (nm -D --defined-only), and
#      the exported functions are exactly the functions include/pagedrange.h
#      declares;
#   3. a translation unit that includes only the header (twice) compiles as
#      C11 (-Wall -Wextra -Werror -pedantic) and as C++17, and links.
# Usage: scripts/check-abi.sh [path/to/libpagedrange.so]
# Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

EXPECTED_SONAME=libpagedrange.so.0
HEADER=$ROOT/include/pagedrange.h
# Defined dynamic symbols that are allowed without the pr_ prefix. Rust's
# cdylib linker version script exports only #[no_mangle] items (no _init,
# _fini, __bss_start, _edata, _end, rust_eh_personality, ... on
# x86_64-unknown-linux-gnu with GNU ld), so nothing needs to be listed here.
# Add a name only if a toolchain adds it unavoidably, and say which one.
ALLOWED_NON_PR=()

failures=0
fail() { printf 'check-abi: FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }
ok() { printf 'check-abi: ok: %s\n' "$*"; }

if [ $# -ge 1 ]; then
    SO=$1
else
    # Build (a no-op when cargo is up to date) so the script also works alone.
    cargo build --release -p pagedrange-ffi --lib --quiet
    # cargo's name for it; the CMake build stages this file as
    # libpagedrange.so.X.Y.Z (scripts/test-packaging.sh checks the links).
    SO=${CARGO_TARGET_DIR:-$ROOT/target}/release/libpagedrange_ffi.so
fi
[ -f "$SO" ] || { fail "$SO not found"; exit 1; }
[ -f "$HEADER" ] || { fail "$HEADER not found (scripts/gen-header.sh writes it)"; exit 1; }

# 1. SONAME
soname=$(readelf -d "$SO" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" = "$EXPECTED_SONAME" ]; then
    ok "SONAME is $soname"
else
    fail "SONAME of $SO is '${soname:-<none>}', expected $EXPECTED_SONAME"
fi

# 2. Exported symbols
exported=$(nm -D --defined-only "$SO" | awk 'NF >= 3 {print $3}' | sed 's/@.*//' | sort -u)
if [ -z "$exported" ]; then
    fail "$SO exports no symbols"
fi
bad=()
while IFS= read -r sym; do
    [ -n "$sym" ] || continue
    case $sym in
        pr_*) ;;
        *)
            allowed=0
            for a in "${ALLOWED_NON_PR[@]+"${ALLOWED_NON_PR[@]}"}"; do
                [ "$sym" = "$a" ] && allowed=1
            done
            [ "$allowed" -eq 1 ] || bad+=("$sym")
            ;;
    esac
done <<<"$exported"
if [ "${#bad[@]}" -eq 0 ]; then
    ok "all $(grep -c . <<<"$exported") exported symbols start with pr_"
else
    fail "exported symbols without the pr_ prefix: ${bad[*]}"
fi

# Functions declared by the header (comments stripped by the preprocessor)
# versus functions exported by the library.
cc=${CC:-cc}
cxx=${CXX:-c++}
declared=$("$cc" -E -P -x c "$HEADER" | grep -oE '\bpr_[A-Za-z0-9_]+[[:space:]]*\(' |
    tr -d '( \t' | sort -u)
exported_funcs=$(nm -D --defined-only "$SO" | awk 'NF >= 3 && ($2 == "T" || $2 == "W" || $2 == "i") {print $3}' |
    sed 's/@.*//' | sort -u)
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported_funcs"))
extra=$(comm -13 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported_funcs"))
if [ -n "$missing" ]; then
    fail "declared in pagedrange.h but not exported: $(tr '\n' ' ' <<<"$missing")"
fi
if [ -n "$extra" ]; then
    fail "exported but not declared in pagedrange.h: $(tr '\n' ' ' <<<"$extra")"
fi
if [ -z "$missing" ] && [ -z "$extra" ]; then
    ok "the $(grep -c . <<<"$declared") functions declared in pagedrange.h are exactly the exported ones"
fi

# 3. Header-only translation units, C11 and C++17, header included twice.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/header_only.c" <<'SRC'
#include "pagedrange.h"
#include "pagedrange.h" /* twice: the include guard must make this harmless */
int main(void) {
    const char *v = pr_version();
    return v == 0;
}
SRC
cp "$tmp/header_only.c" "$tmp/header_only.cpp"

if "$cc" -std=c11 -Wall -Wextra -Werror -pedantic -Wstrict-prototypes \
    -I"$ROOT/include" -c "$tmp/header_only.c" -o "$tmp/c.o" &&
    "$cc" "$tmp/c.o" -o "$tmp/c.out" "$SO"; then
    ok "header compiles as C11 (-Wall -Wextra -Werror -pedantic) and links"
else
    fail "header does not compile/link as C11"
fi
if "$cxx" -std=c++17 -Wall -Wextra -Werror -pedantic \
    -I"$ROOT/include" -c "$tmp/header_only.cpp" -o "$tmp/cxx.o" &&
    "$cxx" "$tmp/cxx.o" -o "$tmp/cxx.out" "$SO"; then
    ok "header compiles as C++17 (-Wall -Wextra -Werror -pedantic) and links"
else
    fail "header does not compile/link as C++17"
fi

if [ "$failures" -ne 0 ]; then
    printf 'check-abi: %d check(s) failed\n' "$failures" >&2
    exit 1
fi
echo "check-abi: all checks passed"
