//go:build pagedrange_static_intree

package pagedrange

// With the build tag pagedrange_static_intree the package builds inside
// the pagedrange source tree, against the header in include/ and the
// static archive cargo leaves in target/release (`cargo build --release
// -p pagedrange-ffi` in the repository root), with no install and no
// pkg-config: go test -tags pagedrange_static_intree ./...
//
// Go does not notice when the archive changes under an unchanged flag
// line; scripts/test-go.sh passes its hash in CGO_CFLAGS so the package is
// rebuilt.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libpagedrange_ffi.a -lgcc_s -lutil -lrt -lpthread -lm -ldl
import "C"
