#!/usr/bin/env bash
# README command 2, the one test command (.ci/run runs it too):
#   setup         install what is missing (scripts/setup.sh)
#   fmt           cargo fmt --check
#   clippy        cargo clippy --all-targets -- -D warnings
#   cargo-test    cargo test --no-fail-fast (unit, property, doc, FFI tests)
#   doc           cargo doc --no-deps with rustdoc warnings denied
#   header        scripts/check-header.sh: committed include/pagedrange.h is
#                 what build.rs generates, and every function is documented
#   publish       cargo publish --workspace --dry-run: both crates
#                 (pagedrange in core/, pagedrange-ffi) package and build
#                 from their packages alone, as crates.io users get them
#   build         CMake into build/ (cargo release build, C/C++ tests, demo)
#   ctest         ctest in build/ (each test also under valgrind memcheck)
#   vhost-blk     tests/vhost-blk/run.sh: the vhost-user-blk device
#                 (build/pagedrange-vhost-blk) against its message parser's
#                 fuzzer, a dirty-log checker, a hostile front-end, libblkio
#                 verified IO, valgrind, a TCG Linux guest and live migration
#                 (installs QEMU and a guest kernel via scripts/vm/setup.sh)
#   build-asan    CMake into build-asan/ with PR_SANITIZE=ON (ASan + UBSan)
#   ctest-asan    ctest in build-asan/
#   check-abi     scripts/check-abi.sh: SONAME, pr_-only exports, each in a
#                 version node of abi/pagedrange.map, header compiles as C11
#                 and C++17, and abidiff against the ABI baseline
#                 abi/pagedrange.abi (added functions pass, any other
#                 change fails)
#   matrix-doc    docs/bad-input-matrix.md is the table c-tests/test_matrix.c runs
#   packaging     scripts/test-packaging.sh: cmake --install into a temporary
#                 prefix; an out-of-tree consumer via find_package and pkg-config
#   go            scripts/test-go.sh: the Go binding's go vet and go test -race
#   zig           scripts/test-zig.sh: the Zig binding's tests (Zig from PyPI)
# Every stage runs even when an earlier one failed (except that nothing runs
# after a failed setup); the last line is "N passed, N failed" over the
# stages, and the exit status is non-zero when any stage failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Where `pip install` puts cmake when setup.sh has to fall back to it.
export PATH="$PATH:${HOME:-/root}/.local/bin"

jobs=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0
summary=()

# run_stage NAME COMMAND...: runs COMMAND in a subshell with errexit active.
run_stage() {
    local name=$1 rc start secs
    shift
    printf '\n==> [%s] %s\n' "$name" "$*"
    start=$(date +%s)
    set +e
    (set -e; "$@")
    rc=$?
    set -e
    secs=$(($(date +%s) - start))
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        summary+=("$(printf 'ok    %-11s %4ss' "$name" "$secs")")
    else
        failed=$((failed + 1))
        summary+=("$(printf 'FAIL  %-11s %4ss  (exit %s)' "$name" "$secs" "$rc")")
    fi
    return 0
}

finish() {
    printf '\n==> summary\n'
    printf '  %s\n' "${summary[@]}"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

stage_build() {
    local dir=$1
    shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug "$@"
    cmake --build "$dir" --parallel "$jobs"
}

stage_ctest() {
    ctest --test-dir "$1" --output-on-failure --parallel "$jobs" --no-tests=error
}

# LeakSanitizer refuses to run when the process is being ptrace'd (some
# sandboxes and debuggers); then it aborts every program with a fatal error.
# Probe once, and fall back to ASan/UBSan without leak detection (the
# valgrind runs in build/ still check leaks) instead of failing every test.
asan_options() {
    local base="strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1"
    local tmp out
    tmp=$(mktemp -d)
    printf 'int main(void) { return 0; }\n' >"$tmp/probe.c"
    if cc -fsanitize=address "$tmp/probe.c" -o "$tmp/probe" 2>/dev/null &&
        out=$(ASAN_OPTIONS=detect_leaks=1 "$tmp/probe" 2>&1); then
        echo "detect_leaks=1:$base"
    else
        printf 'test.sh: LeakSanitizer unusable here (%s); ASan runs without leak detection\n' \
            "$(head -n1 <<<"${out:-probe did not build}")" >&2
        echo "detect_leaks=0:$base"
    fi
    rm -rf "$tmp"
}

run_stage setup scripts/setup.sh
if [ "$failed" -ne 0 ]; then
    finish
    exit 1
fi

run_stage fmt cargo fmt --check
run_stage clippy cargo clippy --all-targets -- -D warnings
run_stage cargo-test cargo test --no-fail-fast
run_stage doc env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
run_stage header scripts/check-header.sh
run_stage publish cargo publish --workspace --dry-run --quiet --allow-dirty

# Every C test also runs under valgrind memcheck (setup.sh installs it).
run_stage build stage_build build -DPR_VALGRIND=ON
run_stage ctest stage_ctest build
run_stage vhost-blk tests/vhost-blk/run.sh

run_stage build-asan stage_build build-asan -DPR_SANITIZE=ON "-DPR_ASAN_OPTIONS=$(asan_options)"
run_stage ctest-asan stage_ctest build-asan

run_stage check-abi scripts/check-abi.sh
run_stage matrix-doc scripts/check-matrix-doc.sh
run_stage packaging scripts/test-packaging.sh
run_stage go scripts/test-go.sh
run_stage zig scripts/test-zig.sh

finish
