#!/usr/bin/env bash
# Build the library and test the Go binding (bindings/go).
#
#   1. install Go 1.23 from Debian bookworm-backports (golang-1.23-go) if
#      /usr/lib/go-1.23/bin/go is missing (needs root or sudo);
#   2. cargo build --release -p pagedrange-ffi in the repository root (libpagedrange.a);
#   3. go vet ./... and go test -race -count=1 ./... in bindings/go;
#   4. go test -count=1 ./... again built with GOEXPERIMENT=cgocheck2, the
#      runtime check that C never keeps an unpinned Go pointer (skip with
#      PR_GO_CGOCHECK2=0; its first build of the standard library takes
#      about a minute).
#
# Idempotent: a second run installs nothing. Exits non-zero on any failure.
# Standard library only: the Go module proxy is not used (GOPROXY=off).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

log() { printf 'test-go: %s\n' "$*" >&2; }

# as_root, apt_add_backports, apt_install.
source "$root/scripts/lib/apt.sh"

GO_BIN=${GO_BIN:-/usr/lib/go-1.23/bin/go}

install_go() {
    apt_add_backports && apt_install golang-1.23-go
}

if [ ! -x "$GO_BIN" ]; then
    log "installing golang-1.23-go"
    install_go || { log "installing Go failed"; exit 1; }
    [ -x "$GO_BIN" ] || { log "$GO_BIN still missing after install"; exit 1; }
fi
# cgo needs a C compiler.
command -v gcc >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || {
    log "no C compiler (gcc) found: cgo needs one"
    exit 1
}

export PATH="$(dirname "$GO_BIN"):$PATH"
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod CGO_ENABLED=1
# Keep Go's caches in a writable place even when HOME is unset.
export GOCACHE=${GOCACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/go-build}
export GOPATH=${GOPATH:-${HOME:-/root}/go}

log "$(go version)"
log "cargo build --release -p pagedrange-ffi"
cargo build --release -p pagedrange-ffi --quiet
[ -f "$root/target/release/libpagedrange_ffi.a" ] || { log "target/release/libpagedrange_ffi.a missing"; exit 1; }

# Go does not notice when the static library changes under an unchanged
# #cgo LDFLAGS line; a define carrying its hash makes the package rebuild.
lib_hash=$(sha256sum "$root/target/release/libpagedrange_ffi.a" | cut -c1-16)
export CGO_CFLAGS="-O2 -g -DPAGEDRANGE_LIB_HASH=$lib_hash"

cd "$root/bindings/go"
log "go vet ./..."
go vet ./...
log "go test -race -count=1 ./..."
go test -race -count=1 ./...
if [ "${PR_GO_CGOCHECK2:-1}" != 0 ]; then
    log "GOEXPERIMENT=cgocheck2 go test -count=1 ./..."
    GOEXPERIMENT=cgocheck2 go test -count=1 ./...
fi
log "ok"
