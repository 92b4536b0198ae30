#!/usr/bin/env bash
# Tests the Go binding (bindings/go) the way a Go user gets it: against an
# installed library, from outside this source tree.
#
#   1. installs Go 1.23 from Debian bookworm-backports (golang-1.23-go) if
#      /usr/lib/go-1.23/bin/go is missing, and cmake/pkg-config through
#      scripts/setup.sh if they are (needs root or sudo then);
#   2. builds the library with CMake in a temporary build directory and
#      installs it with `cmake --install <build> --prefix <tmp>/prefix`, as
#      scripts/test-packaging.sh does (cargo's target/ is shared, so a built
#      library is reused);
#   3. copies bindings/go to <tmp>/pagedrange, outside the tree, and there,
#      with PKG_CONFIG_PATH=<prefix>/lib/pkgconfig (the binding's
#      `#cgo pkg-config: pagedrange`) and LD_LIBRARY_PATH=<prefix>/lib:
#        go vet ./...; go test -race -count=1 ./...; and go test -count=1
#        ./... built with GOEXPERIMENT=cgocheck2, the run-time check that C
#        never keeps an unpinned Go pointer (skip with PR_GO_CGOCHECK2=0;
#        its first build of the standard library takes about a minute);
#      the header tests there read the installed pagedrange.h;
#   4. builds the consumer module bindings/go/testdata/consumer (copied to
#      <tmp>/consumer; it imports the binding through
#      `replace pagedrange.dev/pagedrange => ../pagedrange`) with an rpath
#      to the prefix, checks that it links libpagedrange.so.0 from there,
#      runs it with no library path, and checks that it fails when told to
#      expect another version;
#   5. in the source tree, go vet and go test with the build tag
#      pagedrange_static_intree, which links target/release's static
#      archive instead of the installed library.
#
# Every Go command runs with GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod:
# standard library only, no module proxy. Idempotent: a second run installs
# nothing. The temporary directory is removed at the end (PR_KEEP_TMP=1
# keeps it). Prints the time each step took; exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
# Where `pip install` puts cmake when setup.sh has to fall back to it.
export PATH="$PATH:${HOME:-/root}/.local/bin"

log() { printf 'test-go: %s\n' "$*" >&2; }
die() {
    log "FAIL $*"
    exit 1
}

# as_root, apt_add_backports, apt_install.
source "$root/scripts/lib/apt.sh"

GO_BIN=${GO_BIN:-/usr/lib/go-1.23/bin/go}
if [ ! -x "$GO_BIN" ]; then
    log "installing golang-1.23-go"
    { apt_add_backports && apt_install golang-1.23-go; } || die "installing Go failed"
    [ -x "$GO_BIN" ] || die "$GO_BIN still missing after install"
fi
if ! command -v cmake >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1 ||
    ! command -v cc >/dev/null 2>&1 || ! command -v readelf >/dev/null 2>&1; then
    log "installing missing tools with scripts/setup.sh"
    scripts/setup.sh
    hash -r
fi
for tool in cmake pkg-config cc readelf sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (cgo needs a C compiler)"
done

export PATH="$(dirname "$GO_BIN"):$PATH"
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod CGO_ENABLED=1
# Keep Go's caches in a writable place even when HOME is unset.
export GOCACHE=${GOCACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/go-build}
export GOPATH=${GOPATH:-${HOME:-/root}/go}
log "$(go version)"

version=$(sed -nE 's/^version[[:space:]]*=[[:space:]]*"([0-9]+\.[0-9]+\.[0-9]+)".*/\1/p' Cargo.toml | head -n1)
[ -n "$version" ] || die "no version in Cargo.toml"
major=${version%%.*}

work=$(mktemp -d "${TMPDIR:-/tmp}/pagedrange-go.XXXXXX")
cleanup() {
    if [ "${PR_KEEP_TMP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# step NAME COMMAND...: runs COMMAND, logs how long it took.
timings=()
step() {
    local name=$1 start tenths
    shift
    log "$name"
    start=$(date +%s%N)
    "$@" || die "$name"
    tenths=$((($(date +%s%N) - start) / 100000000))
    timings+=("$(printf '%4d.%ds  %s' $((tenths / 10)) $((tenths % 10)) "$name")")
}
# quietly LOGFILE COMMAND...: runs COMMAND with its output in LOGFILE,
# shown only when it fails.
quietly() {
    local out=$1
    shift
    "$@" >"$out" 2>&1 || { cat "$out" >&2; return 1; }
}

# ---------------------------------------------------------------- install
build=$work/build
prefix=$work/prefix
install_library() {
    quietly "$work/configure.log" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release &&
        quietly "$work/build.log" cmake --build "$build" --target pagedrange_cargo --parallel 1 &&
        quietly "$work/install.log" cmake --install "$build" --prefix "$prefix"
}
step "cmake build + install into $prefix" install_library
[ -f "$prefix/lib/pkgconfig/pagedrange.pc" ] || die "no pagedrange.pc in $prefix"

# ---------------------------------------------------------------- the binding, out of tree
cp -r bindings/go "$work/pagedrange"
rm -rf "$work/pagedrange/testdata/consumer"
cp -r bindings/go/testdata/consumer "$work/consumer"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

in_dir() {
    local dir=$1
    shift
    (cd "$dir" && "$@")
}
step "go vet ./... (copy in $work/pagedrange, installed library)" in_dir "$work/pagedrange" go vet ./...
step "go test -race -count=1 ./... (installed library)" in_dir "$work/pagedrange" go test -race -count=1 ./...
if [ "${PR_GO_CGOCHECK2:-1}" != 0 ]; then
    step "GOEXPERIMENT=cgocheck2 go test -count=1 ./... (installed library)" \
        in_dir "$work/pagedrange" env GOEXPERIMENT=cgocheck2 go test -count=1 ./...
fi

# ---------------------------------------------------------------- a consumer project
consumer_bin=$work/pagedrange-consumer
build_consumer() {
    in_dir "$work/consumer" go vet ./... &&
        in_dir "$work/consumer" env CGO_LDFLAGS="-Wl,-rpath,$prefix/lib" go build -o "$consumer_bin" .
}
step "consumer module: go vet, go build (replace => ../pagedrange)" build_consumer
dyn=$(readelf -d "$consumer_bin")
grep -qF "Shared library: [libpagedrange.so.$major]" <<<"$dyn" || die "consumer does not link libpagedrange.so.$major"
grep -qE "R(UN)?PATH.*\[$prefix/lib\]" <<<"$dyn" || die "consumer has no rpath to $prefix/lib"
loaded=$(env -u LD_LIBRARY_PATH ldd "$consumer_bin")
grep -qF "libpagedrange.so.$major => $prefix/lib/libpagedrange.so.$major" <<<"$loaded" ||
    die "consumer does not load the installed library: $loaded"
step "consumer runs against the installed library" env -u LD_LIBRARY_PATH "$consumer_bin" "$version"
rc=0
env -u LD_LIBRARY_PATH "$consumer_bin" "$major.999.0" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || die "consumer expecting version $major.999.0 exited $rc, want 1"
log "consumer expecting version $major.999.0 exits 1: its checks run"

# ---------------------------------------------------------------- in the tree, static archive
archive=$root/target/release/libpagedrange_ffi.a
[ -f "$archive" ] || die "$archive missing"
# Go does not notice when the archive or the header changes under an
# unchanged #cgo line; a define carrying their hash makes it rebuild.
lib_hash=$(cat "$archive" include/pagedrange.h | sha256sum | cut -c1-16)
intree() {
    (cd bindings/go &&
        unset PKG_CONFIG_PATH LD_LIBRARY_PATH &&
        export CGO_CFLAGS="-O2 -g -DPAGEDRANGE_LIB_HASH=$lib_hash" &&
        go vet -tags pagedrange_static_intree ./... &&
        go test -tags pagedrange_static_intree -count=1 ./...)
}
step "go vet + go test -tags pagedrange_static_intree (source tree, static archive)" intree

printf 'test-go: %s\n' "${timings[@]}" >&2
log "ok"
