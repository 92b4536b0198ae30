// Package pagedrange is a Go binding for the pagedrange C ABI
// (include/pagedrange.h): scatter/gather IO buffers over guest pages.
//
// A [Range] is a window of bytes over a list of guest page numbers; a
// [Ranges] is a list of ranges used as one logical buffer. Bytes move
// through a [Memory], which is either guest memory implemented in Go (any
// [GuestMemory], see [NewMemory]) or guest RAM held in Go byte slices
// ([NewMappedMemory]). [Reader] and [Writer] are cursors implementing
// io.Reader and io.Writer.
//
// Every handle must be released with Close; a finalizer is only a safety
// net. After Close, methods returning an error return [ErrClosed], and the
// infallible getters (Len, Offset, Count, Remaining, GPNs) return zero
// values; nothing crashes. All handle types are safe for concurrent use:
// operations the C contract allows to run in parallel (everything taking a
// const handle) do so, the others (Skip, Truncate, Push, cursor calls, Close)
// are serialized by a lock.
//
// Failures are *[Error] values carrying the C pr_status; compare them with
// errors.Is against ErrOutOfRange, ErrMemory and the other sentinels.
package pagedrange

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libpagedrange_ffi.a -lpthread -ldl -lm
#include <stdlib.h>
#include "pagedrange.h"

// Defined in shim.c: creates a callback memory whose context pointer is the
// cgo.Handle value itself, with the Go trampolines as callbacks.
pr_status prgo_memory_new(uintptr_t handle, int with_fill, pr_memory **out);
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
)

// String returns the library's description of the status (pr_status_str).
func (s Status) String() string { return C.GoString(C.pr_status_str(C.pr_status(s))) }

// Error is a failed call. Status is the pr_status the C library returned
// (or that the binding determined before calling it, for a negative length).
// For StatusMemory, GPA and Code are pr_transfer.fault_gpa and fault_code:
// the guest address of the run whose access failed and the nonzero code
// the memory returned (for a [GuestMemory], see [FaultCode]; for mapped
// memory -1 means an unmapped address). Err is the error a GuestMemory
// method returned, when known.
type Error struct {
	Op     string // the C function, e.g. "pr_range_read"
	Status Status
	GPA    uint64
	Code   int
	Err    error
}

func (e *Error) Error() string {
	msg := "pagedrange: "
	if e.Op != "" {
		msg += e.Op + ": "
	}
	msg += e.Status.String()
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
// errors.Is(err, ErrMemory) matches every memory fault.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
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
)

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
