#!/usr/bin/env bash
# Fails when include/pagedrange.h differs from what the code generates
# (build.rs writes it into cargo's OUT_DIR), when it is not committed, when
# an exported function in it lacks a doc comment or its list of errors, or
# when a comment carries Rust syntax (rustdoc links, attributes).
set -euo pipefail
cd "$(dirname "$0")/.."

header=include/pagedrange.h
generated=$(scripts/gen-header.sh --print-path)

if ! git ls-files --error-unmatch "$header" >/dev/null 2>&1; then
    echo "check-header: $header is not committed" >&2
    exit 1
fi
if ! cmp -s "$generated" "$header"; then
    echo "check-header: $header differs from the header the code generates:" >&2
    diff -u "$header" "$generated" | head -40 >&2 || true
    echo "run scripts/gen-header.sh and commit $header" >&2
    exit 1
fi
if ! git diff --quiet -- "$header"; then
    echo "check-header: $header has uncommitted changes" >&2
    exit 1
fi
# A C header reads like C: no rustdoc link syntax, no Rust paths or
# attributes in its comments.
rusty=$(grep -nE '\]\((crate|super|self)::|\[`[^]]*`\]|#\[|crate::|Option<|&mut |&\[' "$header" || true)
if [ -n "$rusty" ]; then
    echo "check-header: Rust syntax in the comments of $header:" >&2
    echo "$rusty" >&2
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
