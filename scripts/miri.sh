#!/usr/bin/env bash
# Runs the core and FFI tests under Miri (undefined-behaviour checker):
# the unit tests in src/ (src/ffi/tests.rs drives the C ABI from Rust with
# `extern "C"` callbacks, since Miri cannot run C) and the integration
# tests in tests/.
#
#   scripts/miri.sh [extra cargo test filter args...]
#
# Needs Rust nightly. Installs the miri and rust-src components when they
# are missing (idempotent), then `cargo +nightly miri setup`.
#
# Tests Miri is too slow for are skipped here, by name, with the reason:
#   wire::tests::refuses_windows_beyond_u32  builds a 2^20-entry GPN list
#       (8 MiB, one element at a time): > 20 min under Miri, 0.01 s native.
# Property tests in tests/ carry #[cfg_attr(miri, ignore)] in their files.
set -euo pipefail

cd "$(dirname "$0")/.."

if ! rustup +nightly component list --installed 2>/dev/null | grep -q '^miri'; then
    echo "== installing the miri and rust-src components for nightly"
    rustup component add --toolchain nightly miri rust-src
fi

echo "== cargo +nightly miri setup"
cargo +nightly miri setup

echo "== cargo +nightly miri test (lib unit tests, FFI tests, integration tests)"
start=$(date +%s)
# --lib and --tests: the unit tests of src/ and every file of tests/
# (doc tests and examples are not run under Miri).
cargo +nightly miri test --no-fail-fast --lib --tests -- "$@"
end=$(date +%s)
echo "== miri: all tests passed in $((end - start)) s"
