// Package pagedrange is a Go binding for the pagedrange C library
// (pagedrange.h): scatter/gather IO buffers over 4 KiB guest pages, for
// devices that move bytes between guest memory and the host.
//
// A [Range] is a window of bytes over a list of guest page numbers; a
// [Ranges] is a list of ranges used as one logical buffer. A [Builder]
// joins guest byte segments (a descriptor chain) into the fewest windows,
// a [ChainWalker] walks a virtqueue descriptor chain into two buffers, and
// [ParseGPARanges] / [Ranges.AppendGPARanges] read and write the packed
// GPA-range wire format. Bytes move through a [Memory], which is guest
// memory implemented in Go (any [GuestMemory], see [NewMemory]) or guest
// RAM held in Go byte slices ([NewMappedMemory]), optionally logging the
// pages it writes ([Memory.WithDirtyBitmap], [Memory.WithDirtyFunc]).
// [Reader] and [Writer] are cursors implementing io.Reader and io.Writer;
// Memory implements io.ReaderAt and io.WriterAt over guest addresses.
//
// # Linking
//
// The package links the installed C library through pkg-config
// (`#cgo pkg-config: pagedrange`): install it with
// `cmake --install build --prefix PREFIX`, build with
// PKG_CONFIG_PATH=PREFIX/lib/pkgconfig and run with the dynamic loader
// able to find libpagedrange.so.0 (LD_LIBRARY_PATH=PREFIX/lib, or
// CGO_LDFLAGS=-Wl,-rpath,PREFIX/lib). Inside the source tree, the build
// tag pagedrange_static_intree links target/release/libpagedrange_ffi.a
// instead.
//
// # Ownership
//
// Every handle must be released with Close; a finalizer is only a safety
// net. Handles derived from others (a subrange, a cursor, a buffer from a
// builder) hold their own references and may outlive them. After Close,
// methods returning an error return [ErrClosed], and the infallible
// getters (Len, Offset, Count, Remaining, GPNs) return zero values;
// nothing crashes. All handle types are safe for concurrent use:
// operations the C contract allows to run in parallel (everything taking a
// const handle) do so, the others (Skip, Truncate, Push, cursor, builder
// and walker calls, Close) are serialized by a lock.
//
// # Errors
//
// Failures are *[Error] values carrying the C pr_status and, where the C
// call reports them, the fault address and code, the index of the segment,
// wire word or descriptor at fault, and the chain rule broken. Compare them
// with errors.Is against the sentinels ([ErrOutOfRange], [ErrMemory],
// [ErrLimit], [ErrMalformed], ...), one per pr_status.
package pagedrange

/*
#include <pagedrange.h>
*/
import "C"

import (
	"errors"
	"fmt"
)

// PageSize is the size of a guest page in bytes (PR_PAGE_SIZE).
const PageSize = C.PR_PAGE_SIZE

// MaxGPN is the highest addressable guest page number (PR_MAX_GPN).
const MaxGPN uint64 = C.PR_MAX_GPN

// The version of the header the package was compiled against
// (PR_VERSION_MAJOR, PR_VERSION_MINOR, PR_VERSION_PATCH); [Version] is the
// version of the library linked at run time.
const (
	VersionMajor = C.PR_VERSION_MAJOR
	VersionMinor = C.PR_VERSION_MINOR
	VersionPatch = C.PR_VERSION_PATCH
)

// Version returns the version of the linked C library ("MAJOR.MINOR.PATCH").
func Version() string { return C.GoString(C.pr_version()) }

// Status is a pr_status code from the C library.
type Status uint32

// The pr_status codes (PR_OK, PR_ERR_*).
const (
	StatusOK              Status = C.PR_OK
	StatusNullArgument    Status = C.PR_ERR_NULL_ARGUMENT
	StatusOutOfRange      Status = C.PR_ERR_OUT_OF_RANGE
	StatusInvalidGPN      Status = C.PR_ERR_INVALID_GPN
	StatusMemory          Status = C.PR_ERR_MEMORY
	StatusBufferTooSmall  Status = C.PR_ERR_BUFFER_TOO_SMALL
	StatusInvalidArgument Status = C.PR_ERR_INVALID_ARGUMENT
	StatusAllocation      Status = C.PR_ERR_ALLOCATION
	StatusPanic           Status = C.PR_ERR_PANIC
	StatusLimit           Status = C.PR_ERR_LIMIT
	StatusMalformed       Status = C.PR_ERR_MALFORMED
	StatusUnsupported     Status = C.PR_ERR_UNSUPPORTED
)

// String returns the library's description of the status (pr_status_str).
func (s Status) String() string { return C.GoString(C.pr_status_str(C.pr_status(s))) }

// Error is a failed call. Status is the pr_status the C library returned
// (or that the binding determined before calling it, for a negative length
// or count).
//
// For StatusMemory, GPA and Code are the guest address blamed and the
// nonzero fault code (pr_transfer.fault_gpa and fault_code, or
// pr_chain_error's): for a [GuestMemory], the code it chose (see
// [FaultCode]); otherwise one of the library's codes, [FaultUnmapped],
// [FaultUntracked], [FaultSIGBUS] or [FaultSIGSEGV]. Err is the error a
// GuestMemory method returned, when known.
//
// Index locates the input at fault: for [Builder.Push] the segment (counted
// over every Push since the last Clear), for [ParseGPARanges] the word,
// for [ChainWalker.Walk] the descriptor within its table (Indirect tells
// whether that is an indirect table). Rule is the chain rule a walk broke.
type Error struct {
	Op       string // the C function, e.g. "pr_range_read"
	Status   Status
	GPA      uint64
	Code     int
	Index    int
	Rule     ChainRule
	Indirect bool
	Err      error

	indexOf string // what Index counts ("segment", "word", "descriptor"), for Error()
}

func (e *Error) Error() string {
	msg := "pagedrange: "
	if e.Op != "" {
		msg += e.Op + ": "
	}
	msg += e.Status.String()
	if e.Rule != 0 {
		msg += ": " + e.Rule.String()
	}
	if e.indexOf != "" {
		msg += fmt.Sprintf(" (%s %d", e.indexOf, e.Index)
		if e.Indirect {
			msg += " of an indirect table"
		}
		msg += ")"
	}
	if e.Status == StatusMemory {
		msg += fmt.Sprintf(" (gpa %#x, code %d)", e.GPA, e.Code)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the GuestMemory error behind a StatusMemory failure.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Status, so that
// errors.Is(err, ErrMemory) matches every memory fault, or a FaultCode
// equal to the Code of a memory fault, so that errors.Is(err, FaultSIGBUS)
// matches the faults it names.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *Error:
		return t.Status == e.Status
	case FaultCode:
		return e.Status == StatusMemory && e.Code == int(t)
	}
	return false
}

// Sentinels for errors.Is, one per failure status.
var (
	ErrNullArgument    = &Error{Status: StatusNullArgument}
	ErrOutOfRange      = &Error{Status: StatusOutOfRange}
	ErrInvalidGPN      = &Error{Status: StatusInvalidGPN}
	ErrMemory          = &Error{Status: StatusMemory}
	ErrBufferTooSmall  = &Error{Status: StatusBufferTooSmall}
	ErrInvalidArgument = &Error{Status: StatusInvalidArgument}
	ErrAllocation      = &Error{Status: StatusAllocation}
	ErrPanic           = &Error{Status: StatusPanic}
	ErrLimit           = &Error{Status: StatusLimit}
	ErrMalformed       = &Error{Status: StatusMalformed}
	ErrUnsupported     = &Error{Status: StatusUnsupported}
)

// sentinels lists every sentinel above, in that order; the header test
// checks it against the PR_ERR_* defines of pagedrange.h.
var sentinels = []*Error{
	ErrNullArgument, ErrOutOfRange, ErrInvalidGPN, ErrMemory, ErrBufferTooSmall,
	ErrInvalidArgument, ErrAllocation, ErrPanic, ErrLimit, ErrMalformed, ErrUnsupported,
}

// ErrClosed is returned when a handle is used after Close.
var ErrClosed = errors.New("pagedrange: use of closed handle")

// statusErr turns a C status into nil or an *Error.
func statusErr(op string, s C.pr_status) error {
	if s == C.PR_OK {
		return nil
	}
	return &Error{Op: op, Status: Status(s)}
}

// sizeArg converts a Go length or offset to size_t; negative values are
// refused with StatusInvalidArgument before any C call.
func sizeArg(op string, n int) (C.size_t, error) {
	if n < 0 {
		return 0, &Error{Op: op, Status: StatusInvalidArgument}
	}
	return C.size_t(n), nil
}
