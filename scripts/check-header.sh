#!/usr/bin/env bash
# Fails when include/pagedrange.h differs from what the code generates, or
# when an exported function in it lacks a doc comment.
set -euo pipefail
cd "$(dirname "$0")/.."

header=include/pagedrange.h
# build.rs regenerates the header in place (only when it changed).
cargo build --quiet

if ! git ls-files --error-unmatch "$header" >/dev/null 2>&1; then
    echo "check-header: $header is not committed" >&2
    exit 1
fi
if ! git diff --quiet -- "$header"; then
    echo "check-header: the committed $header differs from the generated one:" >&2
    git --no-pager diff --stat -- "$header" >&2
    echo "run 'cargo build' and commit $header" >&2
    exit 1
fi

# Every declaration of a pr_ function must follow the end of a doc comment.
undocumented=$(awk '
    /^[a-zA-Z].*[ *]pr_[a-z_0-9]+\(/ {
        if (prev !~ /\*\/[[:space:]]*$/) { print FNR": "$0 }
    }
    { if ($0 !~ /^[[:space:]]*$/) prev = $0 }
' "$header")
if [ -n "$undocumented" ]; then
    echo "check-header: undocumented functions in $header:" >&2
    echo "$undocumented" >&2
    exit 1
fi
# Every function returning a status must list the errors it can return.
no_errors=$(awk '
    /^\/\*\*/ { doc = ""; indoc = 1 }
    indoc { doc = doc $0 "\n" }
    /\*\/$/ { indoc = 0 }
    /^pr_status pr_[a-z_0-9]+\(/ {
        if (doc !~ /Errors:/) { match($0, /pr_[a-z_0-9]+\(/); print substr($0, RSTART, RLENGTH - 1) }
    }
' "$header")
if [ -n "$no_errors" ]; then
    echo "check-header: functions whose doc lists no 'Errors:' in $header:" >&2
    echo "$no_errors" >&2
    exit 1
fi
count=$(grep -cE '^[a-zA-Z].*[ *]pr_[a-z_0-9]+\(' "$header")
echo "check-header: $header matches the code; $count functions, all documented, errors listed"
