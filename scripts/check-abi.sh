#!/usr/bin/env bash
# Check the C ABI of libpagedrange.so as CMake links and installs it:
#   1. SONAME libpagedrange.so.<major version> (readelf -d);
#   2. symbol versions: every exported symbol is a pr_ function or object
#      carrying, as its default version, a version node of the linker
#      version script abi/pagedrange.map; the library defines exactly those
#      nodes (readelf -V); nothing else is exported;
#   3. the exported functions are exactly the functions include/pagedrange.h
#      declares;
#   4. a translation unit that includes only the header (twice) compiles as
#      C11 (-Wall -Wextra -Werror -pedantic) and as C++17, links, and the
#      program records the version node it binds to;
#   5. the ABI has not changed incompatibly since the baseline
#      abi/pagedrange.abi: abidiff against a fresh dump (scripts/abi-dump.sh)
#      may report added functions, and nothing else (a removed function, a
#      changed signature or struct layout, a changed symbol version or
#      SONAME, or an abidiff error fails). A changed ABI is recorded on
#      purpose with scripts/abi-baseline.sh (README.md, "ABI stability").
#      Before comparing, the policy is checked against mutated copies of the
#      dump: one without a function and one with a struct member of another
#      size must fail, and a dump that has a function more than its baseline
#      must pass.
# Usage: scripts/check-abi.sh [path/to/libpagedrange.so]
#   checks 1 to 4 on that library (default: build/lib/libpagedrange.so.X.Y.Z,
#   built first: CMake in $PR_BUILD_DIR, default build/, configured when it
#   is not); check 5 compares the library scripts/abi-dump.sh builds from
#   the same sources with full debug info.
# Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
# Where `pip install` puts cmake when setup.sh had to fall back to it.
export PATH="$PATH:${HOME:-/root}/.local/bin"

HEADER=$ROOT/include/pagedrange.h
VERSION_SCRIPT=$ROOT/abi/pagedrange.map
BASELINE=$ROOT/abi/pagedrange.abi

failures=0
fail() { printf 'check-abi: FAIL: %s\n' "$*" >&2; failures=$((failures + 1)); }
ok() { printf 'check-abi: ok: %s\n' "$*"; }

version=$(sed -nE 's/^version[[:space:]]*=[[:space:]]*"([0-9]+\.[0-9]+\.[0-9]+)".*/\1/p' Cargo.toml | head -n1)
# The SONAME carries the major version (CMakeLists.txt).
EXPECTED_SONAME=libpagedrange.so.${version%%.*}
if [ $# -ge 1 ]; then
    SO=$1
else
    # Build (a no-op when up to date) so the script also works alone.
    build=${PR_BUILD_DIR:-build}
    log=$(mktemp)
    if ! {
        [ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug
        cmake --build "$build" --target pagedrange_cargo
    } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        fail "building the library in $build failed"
        exit 1
    fi
    rm -f "$log"
    SO=$build/lib/libpagedrange.so.$version
fi
[ -f "$SO" ] || { fail "$SO not found"; exit 1; }
[ -f "$HEADER" ] || { fail "$HEADER not found (scripts/gen-header.sh writes it)"; exit 1; }
[ -f "$VERSION_SCRIPT" ] || { fail "$VERSION_SCRIPT not found"; exit 1; }

# 1. SONAME
soname=$(readelf -d "$SO" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" = "$EXPECTED_SONAME" ]; then
    ok "SONAME is $soname"
else
    fail "SONAME of $SO is '${soname:-<none>}', expected $EXPECTED_SONAME"
fi

# 2. Symbol versions and exported symbols. The version nodes are the
# names that open a block in the version script (comments removed first).
nodes=$(sed -e ':a' -e 's|/\*.*\*/||g' -e '/\/\*/{N;ba' -e '}' "$VERSION_SCRIPT" |
    sed -nE 's/^[[:space:]]*([A-Za-z_][A-Za-z0-9_.]*)[[:space:]]*\{.*/\1/p' | sort -u)
if [ -z "$nodes" ]; then
    fail "no version node in $VERSION_SCRIPT"
fi
is_node() { grep -qxF -- "$1" <<<"$nodes"; }

# The version definitions (.gnu.version_d): the BASE entry (the SONAME)
# and one per node.
defined_nodes=$(readelf -V "$SO" |
    awk '/^Version definition section/ {d = 1; next} /^Version (needs|symbols) section/ {d = 0}
         d && / Name: / && !/Flags: BASE/ {sub(/.* Name: /, ""); print $1}' | sort -u)
if [ "$defined_nodes" = "$nodes" ]; then
    ok "the version definitions are the nodes of abi/pagedrange.map: $(paste -sd ' ' <<<"$nodes")"
else
    fail "version definitions of $SO ($(paste -sd ' ' <<<"${defined_nodes:-<none>}")) are not the nodes of $VERSION_SCRIPT ($(paste -sd ' ' <<<"$nodes"))"
fi

# nm -D prints name@@NODE for a symbol whose default version is NODE,
# name@NODE for a non-default one, and the node itself as an absolute (A)
# symbol.
dynsyms=$(nm -D --defined-only "$SO" | awk 'NF >= 3 {print $2, $3}')
if [ -z "$dynsyms" ]; then
    fail "$SO exports no symbols"
fi
unversioned=()
unprefixed=()
n_pr=0
while read -r type sym; do
    [ -n "$sym" ] || continue
    name=${sym%%@*}
    ver=${sym#"$name"}
    if [ "$type" = A ] && [ -z "$ver" ] && is_node "$name"; then
        continue # a version node
    fi
    case $name in
        pr_*)
            if [[ $ver == @@* ]] && is_node "${ver#@@}"; then
                n_pr=$((n_pr + 1))
            else
                unversioned+=("$sym")
            fi
            ;;
        *) unprefixed+=("$sym") ;;
    esac
done <<<"$dynsyms"
if [ "${#unversioned[@]}" -ne 0 ]; then
    fail "${#unversioned[@]} exported pr_ symbols without a node of abi/pagedrange.map as default version: ${unversioned[*]}"
fi
if [ "${#unprefixed[@]}" -ne 0 ]; then
    fail "exported symbols without the pr_ prefix: ${unprefixed[*]}"
fi
if [ "${#unversioned[@]}" -eq 0 ] && [ "${#unprefixed[@]}" -eq 0 ]; then
    ok "all $n_pr exported symbols start with pr_ and carry a version node"
fi

# 3. Functions declared by the header (comments stripped by the
# preprocessor) versus functions exported by the library.
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

# 4. Header-only translation units, C11 and C++17, header included twice.
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
    # The program binds pr_version to its version node: the version needs
    # (.gnu.version_r) name the SONAME and a node.
    needs=$(readelf -V "$tmp/c.out" |
        awk -v so="$EXPECTED_SONAME" '/ File: / {f = ($0 ~ " File: " so " ")} f && / Name: / {sub(/.* Name: /, ""); print $1}')
    if [ -n "$needs" ] && is_node "$needs"; then
        ok "a program using pr_version needs $EXPECTED_SONAME version $needs"
    else
        fail "a program linked with $SO records no version node of it (needs: '${needs:-<none>}')"
    fi
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

# 5. The ABI against the baseline. The policy: abidiff, told to leave added
# functions and variables out, finds no change. Its exit status is a bit
# set: 1 error, 2 usage error, 4 ABI change, 8 incompatible ABI change (a
# removed symbol). A changed struct layout or parameter type is reported
# with 4 alone, so any non-zero status fails.
abi_policy() { abidiff --no-added-syms "$@"; }

if ! command -v abidw >/dev/null 2>&1 || ! command -v abidiff >/dev/null 2>&1; then
    fail "abidw/abidiff not found (scripts/setup.sh installs abigail-tools)"
elif ! dumped=$(scripts/abi-dump.sh "$tmp/current.abi"); then
    fail "scripts/abi-dump.sh could not dump the ABI"
else
    # The policy itself, against mutated copies of the dump: pr_version
    # removed, and the first member of the first pr_ struct given a type of
    # another size.
    if python3 - "$tmp/current.abi" "$tmp/removed.abi" "$tmp/layout.abi" <<'PY'
import re
import sys

src, removed_out, layout_out = sys.argv[1:]
abi = open(src).read()

removed, n1 = re.subn(r"\n *<elf-symbol name='pr_version' [^\n]*", "", abi)
removed, n2 = re.subn(r"\n *<function-decl name='pr_version' .*?</function-decl>", "", removed, flags=re.S)
if (n1, n2) != (1, 1):
    sys.exit("check-abi: pr_version not found once in the dump")
open(removed_out, "w").write(removed)

types = dict(re.findall(r"<type-decl name='([^']*)' size-in-bits='\d+' id='([^']*)'", abi))
struct = re.search(r"<class-decl name='pr_[^']*' size-in-bits=.*?</class-decl>", abi, re.S)
if struct is None or "u8" not in types or "u64" not in types:
    sys.exit("check-abi: no pr_ struct, u8 or u64 in the dump")
member = re.search(r"(<var-decl name='[^']*' type-id=')([^']*)'", struct.group(0))
other = types["u64"] if member.group(2) == types["u8"] else types["u8"]
body = struct.group(0).replace(member.group(0), member.group(1) + other + "'", 1)
open(layout_out, "w").write(abi[:struct.start()] + body + abi[struct.end():])
PY
    then
        rc_removed=0 rc_layout=0 rc_added=0
        abi_policy "$tmp/current.abi" "$tmp/removed.abi" >/dev/null 2>&1 || rc_removed=$?
        abi_policy "$tmp/current.abi" "$tmp/layout.abi" >/dev/null 2>&1 || rc_layout=$?
        abi_policy "$tmp/removed.abi" "$tmp/current.abi" >/dev/null 2>&1 || rc_added=$?
        if [ $((rc_removed & 8)) -ne 0 ] && [ $((rc_removed & 3)) -eq 0 ] &&
            [ "$rc_layout" -eq 4 ] && [ "$rc_added" -eq 0 ]; then
            ok "abidiff policy refuses a removed function (status $rc_removed) and a changed struct (status $rc_layout), accepts an added function"
        else
            fail "abidiff policy self-test: removed function gave status $rc_removed (want 8 set, 1 and 2 clear), changed struct $rc_layout (want 4), added function $rc_added (want 0)"
        fi
    else
        fail "could not mutate the ABI dump for the policy self-test"
    fi

    if [ ! -f "$BASELINE" ]; then
        fail "no ABI baseline $BASELINE: scripts/abi-baseline.sh writes it"
    else
        rc=0
        report=$(abi_policy "$BASELINE" "$tmp/current.abi" 2>&1) || rc=$?
        if [ "$rc" -eq 0 ]; then
            added=$(abidiff "$BASELINE" "$tmp/current.abi" 2>&1 | sed -n 's/^  \[A\] //p' || true)
            if [ -n "$added" ]; then
                ok "ABI compatible with abi/pagedrange.abi; added since: $(grep -c . <<<"$added") (scripts/abi-baseline.sh records them):"
                sed 's/^/    /' <<<"$added"
            else
                ok "ABI of $(basename "$dumped") is the baseline abi/pagedrange.abi"
            fi
        else
            printf '%s\n' "$report" | sed 's/^/    /' >&2
            if [ $((rc & 3)) -ne 0 ]; then
                fail "abidiff failed (status $rc) comparing abi/pagedrange.abi with the library"
            else
                fail "the ABI changed since abi/pagedrange.abi (abidiff status $rc, above). If that is meant, bump the version and record it with scripts/abi-baseline.sh (README.md, \"ABI stability\")"
            fi
        fi
    fi
fi

if [ "$failures" -ne 0 ]; then
    printf 'check-abi: %d check(s) failed\n' "$failures" >&2
    exit 1
fi
echo "check-abi: all checks passed"
