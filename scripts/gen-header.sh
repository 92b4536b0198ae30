#!/usr/bin/env bash
# Regenerates the committed include/pagedrange.h: builds the C library's
# crate (its build.rs writes the header with cbindgen into cargo's OUT_DIR,
# and nowhere else) and copies that header into include/.
#
# Usage: scripts/gen-header.sh [--print-path]
#   --print-path   only print where the generated header is
# The test command checks that the two do not differ (scripts/check-header.sh
# and the `header_matches_the_code` test of the C library's crate).
set -euo pipefail
cd "$(dirname "$0")/.."

# The OUT_DIR of pagedrange-ffi's build script, from cargo's own report.
generated=$(cargo build --quiet -p pagedrange-ffi --message-format=json |
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "build-script-executed" and "pagedrange-ffi" in m.get("package_id", ""):
        out = m["out_dir"]
print(out + "/pagedrange.h")
')
if [ "${1:-}" = --print-path ]; then
    echo "$generated"
    exit 0
fi
cp "$generated" include/pagedrange.h
echo "gen-header: include/pagedrange.h written from $generated"
