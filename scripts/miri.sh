#!/usr/bin/env bash
# Runs the tests of both workspace crates under Miri (undefined-behaviour
# checker): the core crate `pagedrange` (unit tests in core/src/,
# integration tests in core/tests/) and the C ABI crate `pagedrange-ffi`
# (unit tests in src/, where src/tests.rs drives the C ABI from Rust with
# `extern "C"` callbacks, since Miri cannot run C; integration tests in
# tests/).
#
#   scripts/miri.sh [extra cargo test filter args...]
#
# Needs Rust nightly. Installs the miri and rust-src components when they
# are missing (idempotent), then `cargo +nightly miri setup`.
#
# Tests Miri is too slow for, or cannot run, carry #[cfg_attr(miri, ignore)]
# in their files, e.g. core/src/wire.rs
# wire::tests::refuses_windows_beyond_u32 builds a 2^20-entry GPN list
# (8 MiB, one element at a time): > 20 min under Miri, 0.01 s native.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^miri'; then
    echo "== installing the miri and rust-src components for nightly"
    rustup component add --toolchain nightly miri rust-src
fi

echo "== cargo +nightly miri setup"
cargo +nightly miri setup

echo "== cargo +nightly miri test --workspace (pagedrange, pagedrange-ffi: unit and integration tests)"
start=$(date +%s)
# --workspace: both crates, whatever default-members says. --lib and
# --tests: each crate's unit tests and every file of its tests/ (doc tests
# and examples are not run under Miri).
cargo +nightly miri test --workspace --no-fail-fast --lib --tests -- "$@"
end=$(date +%s)
echo "== miri: all tests passed in $((end - start)) s"
