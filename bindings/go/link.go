//go:build !pagedrange_static_intree

package pagedrange

// How the package finds the C library. By default it is an installed
// library found by pkg-config (pagedrange.pc, installed by
// `cmake --install`): set PKG_CONFIG_PATH=<prefix>/lib/pkgconfig when the
// prefix is not a system one, and let the dynamic loader find
// libpagedrange.so.0 at run time (LD_LIBRARY_PATH=<prefix>/lib, or
// CGO_LDFLAGS=-Wl,-rpath,<prefix>/lib when building). The build tag
// pagedrange_static_intree links the archive of a source tree instead
// (link_intree.go).

// #cgo pkg-config: pagedrange
import "C"
