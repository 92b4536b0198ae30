#!/usr/bin/env bash
# Records the ABI of libpagedrange.so as it is now in the baseline
# abi/pagedrange.abi, which scripts/check-abi.sh (stage check-abi of the
# test command) compares every build with. Run it on purpose, and commit
# the result with the change it records:
#
#   scripts/abi-baseline.sh                        functions were added
#   scripts/abi-baseline.sh --allow-incompatible   see below
#
# Added functions are recorded without question. A change of what the
# baseline has (a removed function, a changed signature, struct layout or
# symbol version) breaks programs linked against libpagedrange.so.<major>,
# so it is recorded only
#   * with a new SONAME, i.e. after the major version in Cargo.toml was
#     bumped (and the version nodes of abi/pagedrange.map renamed), or
#   * with --allow-incompatible, for a version that was never released (a
#     released ABI is never changed in place).
# Either way, say it in CHANGELOG.md.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BASELINE=abi/pagedrange.abi

allow_incompatible=0
case "${1:-}" in
    "") ;;
    --allow-incompatible) allow_incompatible=1 ;;
    *)
        echo "usage: $0 [--allow-incompatible]" >&2
        exit 2
        ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
so=$(scripts/abi-dump.sh "$tmp/new.abi")

soname() { sed -n "1s/.* soname='\([^']*\)'.*/\1/p" "$1"; }

if [ -f "$BASELINE" ]; then
    # The policy of scripts/check-abi.sh: nothing but additions.
    rc=0
    report=$(abidiff --no-added-syms "$BASELINE" "$tmp/new.abi" 2>&1) || rc=$?
    if [ $((rc & 3)) -ne 0 ]; then
        printf '%s\n' "$report" >&2
        echo "abi-baseline: abidiff failed (status $rc)" >&2
        exit 1
    fi
    if [ "$rc" -ne 0 ]; then
        printf '%s\n' "$report"
        old_soname=$(soname "$BASELINE") new_soname=$(soname "$tmp/new.abi")
        if [ "$old_soname" != "$new_soname" ]; then
            echo "abi-baseline: incompatible changes (above) with a new SONAME ($old_soname -> $new_soname)"
        elif [ "$allow_incompatible" -eq 1 ]; then
            echo "abi-baseline: incompatible changes (above) recorded under the same SONAME $new_soname (--allow-incompatible)"
        else
            echo "abi-baseline: the changes above break programs linked against $new_soname; not recorded." >&2
            echo "  Bump the major version (Cargo.toml) for a new SONAME, or pass --allow-incompatible" >&2
            echo "  if this version was never released." >&2
            exit 1
        fi
    fi
    added=$(abidiff "$BASELINE" "$tmp/new.abi" 2>&1 | sed -n 's/^  \[A\] //p' || true)
    [ -z "$added" ] || printf 'abi-baseline: added:\n%s\n' "$(sed 's/^/  /' <<<"$added")"
fi

if [ -f "$BASELINE" ] && cmp -s "$tmp/new.abi" "$BASELINE"; then
    echo "abi-baseline: $BASELINE unchanged"
else
    cp "$tmp/new.abi" "$BASELINE"
    echo "abi-baseline: wrote $BASELINE from $so"
fi
