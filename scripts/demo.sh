#!/usr/bin/env bash
# README command 1: install what is missing, build everything (cargo release
# build of the Rust library, the C tests and the demo) with CMake into build/,
# then run the C demo.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Where `pip install` puts cmake when setup.sh has to fall back to it.
export PATH="$PATH:${HOME:-/root}/.local/bin"

scripts/setup.sh

jobs=$(nproc 2>/dev/null || echo 2)
echo "==> cmake -S . -B build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Debug >/dev/null
echo "==> cmake --build build (cargo build --release, C tests, demo)"
cmake --build build --parallel "$jobs"

if [ ! -x build/pagedrange_demo ]; then
    echo "demo.sh: build/pagedrange_demo was not built (is examples/demo.c there?)" >&2
    exit 1
fi
echo "==> build/pagedrange_demo"
echo
exec build/pagedrange_demo
