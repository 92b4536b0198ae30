#!/usr/bin/env bash
# Fails when docs/bad-input-matrix.md differs from the table that the
# bad-input matrix test (c-tests/test_matrix.c) runs. Needs build/ built.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! build/c_test_matrix --markdown | diff -u docs/bad-input-matrix.md -; then
    echo "check-matrix-doc: regenerate with: build/c_test_matrix --markdown > docs/bad-input-matrix.md" >&2
    exit 1
fi
echo "check-matrix-doc: docs/bad-input-matrix.md matches c-tests/test_matrix.c ($(grep -c '^| `pr_' docs/bad-input-matrix.md) rows)"
