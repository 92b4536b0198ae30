#!/usr/bin/env bash
# Install the tools the CMake build and the test script need, if missing.
#
# Idempotent: every step checks first and does nothing when the tool is
# already there, so running it twice (or from every script) is cheap.
# Needs root (or sudo) only when something actually has to be installed.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }

# as_root, apt_install.
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

# Rust toolchain: not installed here (no network beyond package registries),
# but say clearly when it is missing.
for tool in cargo rustc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "'$tool' not found on PATH: install a Rust toolchain (rustup) first"
        exit 1
    fi
done
# cargo fmt / cargo clippy (scripts/test.sh) come from rustup components.
for pair in fmt:rustfmt clippy:clippy; do
    sub=${pair%%:*} component=${pair#*:}
    if ! cargo "$sub" --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
        log "adding rustup component $component"
        rustup component add "$component" >/dev/null 2>&1 ||
            log "could not add $component (scripts/test.sh needs it)"
    fi
done

# CMake >= 3.20: apt first, PyPI as a fallback.
cmake_ok() {
    command -v cmake >/dev/null 2>&1 || return 1
    local v
    v=$(cmake --version | awk 'NR==1 {print $3}')
    # sort -V puts the smaller version first.
    [ "$(printf '%s\n%s\n' 3.20 "$v" | sort -V | head -n1)" = 3.20 ]
}
if ! cmake_ok; then
    log "installing cmake"
    if ! apt_install cmake || ! cmake_ok; then
        log "apt-get failed for cmake, trying pip"
        python3 -m pip install --quiet --disable-pip-version-check \
            --break-system-packages cmake 2>/dev/null ||
            python3 -m pip install --quiet --disable-pip-version-check cmake
        hash -r
    fi
    cmake_ok || { log "cmake >= 3.20 still not available"; exit 1; }
fi

# Everything else comes from apt; collect what is missing into one install.
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
# readelf and nm (scripts/check-abi.sh)
{ command -v readelf >/dev/null 2>&1 && command -v nm >/dev/null 2>&1; } || missing+=(binutils)
# abidw and abidiff (scripts/check-abi.sh compares the ABI with its
# baseline), and python3 (scripts/abi-dump.sh, the check's self-test)
{ command -v abidw >/dev/null 2>&1 && command -v abidiff >/dev/null 2>&1; } || missing+=(abigail-tools)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}" || { log "apt-get install ${missing[*]} failed"; exit 1; }
fi
