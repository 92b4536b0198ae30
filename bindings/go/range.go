package pagedrange

/*
#include <stdlib.h>
#include <pagedrange.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// AddressRange is a run of guest physical addresses, Start .. End (End is
// exclusive). Its layout matches pr_address_range.
type AddressRange struct {
	Start uint64
	End   uint64
}

// Len returns End - Start.
func (a AddressRange) Len() uint64 { return a.End - a.Start }

// Range is a window of bytes over a list of guest page numbers (pr_range).
// All methods are safe for concurrent use; Skip, Truncate and Close are
// serialized against the others.
type Range struct {
	shared[*C.pr_range]
}

func newRange(p *C.pr_range) *Range {
	r := &Range{shared[*C.pr_range]{ptr: p}}
	runtime.SetFinalizer(r, (*Range).Close)
	return r
}

// NewRange creates the window of length bytes starting offset bytes into
// the flat byte space of the pages gpns (page i holds bytes
// i*PageSize .. (i+1)*PageSize). The list is copied.
func NewRange(gpns []uint64, offset, length int) (*Range, error) {
	const op = "pr_range_new"
	off, err := sizeArg(op, offset)
	if err != nil {
		return nil, err
	}
	n, err := sizeArg(op, length)
	if err != nil {
		return nil, err
	}
	var p *C.uint64_t
	if len(gpns) > 0 {
		p = (*C.uint64_t)(unsafe.Pointer(&gpns[0]))
	}
	var out *C.pr_range
	if err := statusErr(op, C.pr_range_new(p, C.size_t(len(gpns)), off, n, &out)); err != nil {
		return nil, err
	}
	return newRange(out), nil
}

// rlock read-locks r and returns its C handle; the caller must RUnlock.
func (r *Range) rlock() (*C.pr_range, error) {
	if r == nil {
		return nil, ErrClosed
	}
	return r.shared.rlock()
}

// wlock locks r exclusively and returns its C handle; the caller must Unlock.
func (r *Range) wlock() (*C.pr_range, error) {
	if r == nil {
		return nil, ErrClosed
	}
	return r.shared.wlock()
}

// Close frees the handle. Ranges derived from it and cursors over it stay
// valid. Closing twice is harmless.
func (r *Range) Close() error {
	if r != nil && r.close(func(p *C.pr_range) { C.pr_range_free(p) }) {
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

// Clone returns a new handle for the same window (sharing the GPN list).
func (r *Range) Clone() (*Range, error) {
	p, err := r.rlock()
	if err != nil {
		return nil, err
	}
	defer r.mu.RUnlock()
	var out *C.pr_range
	if err := statusErr("pr_range_clone", C.pr_range_clone(p, &out)); err != nil {
		return nil, err
	}
	return newRange(out), nil
}

// Len returns the number of bytes in the window (0 once closed).
func (r *Range) Len() int {
	p, err := r.rlock()
	if err != nil {
		return 0
	}
	defer r.mu.RUnlock()
	return int(C.pr_range_len(p))
}

// Offset returns the offset of the window's first byte within its first
// page (0 once closed).
func (r *Range) Offset() int {
	p, err := r.rlock()
	if err != nil {
		return 0
	}
	defer r.mu.RUnlock()
	return int(C.pr_range_offset(p))
}

// GPNs returns a copy of the page numbers the window covers, first page
// first (nil for an empty window, and once closed).
func (r *Range) GPNs() []uint64 {
	p, err := r.rlock()
	if err != nil {
		return nil
	}
	defer r.mu.RUnlock()
	var n C.size_t
	arr := C.pr_range_gpns(p, &n)
	if arr == nil || n == 0 {
		return nil
	}
	return append([]uint64(nil), unsafe.Slice((*uint64)(unsafe.Pointer(arr)), int(n))...)
}

// Subrange returns a new range for the length bytes starting offset bytes
// into the window.
func (r *Range) Subrange(offset, length int) (*Range, error) {
	const op = "pr_range_subrange"
	off, err := sizeArg(op, offset)
	if err != nil {
		return nil, err
	}
	n, err := sizeArg(op, length)
	if err != nil {
		return nil, err
	}
	p, err := r.rlock()
	if err != nil {
		return nil, err
	}
	defer r.mu.RUnlock()
	var out *C.pr_range
	if err := statusErr(op, C.pr_range_subrange(p, off, n, &out)); err != nil {
		return nil, err
	}
	return newRange(out), nil
}

// Skip drops the first n bytes of the window, in place.
func (r *Range) Skip(n int) error {
	const op = "pr_range_skip"
	sz, err := sizeArg(op, n)
	if err != nil {
		return err
	}
	p, err := r.wlock()
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	return statusErr(op, C.pr_range_skip(p, sz))
}

// Truncate shortens the window to its first n bytes, in place.
func (r *Range) Truncate(n int) error {
	const op = "pr_range_truncate"
	sz, err := sizeArg(op, n)
	if err != nil {
		return err
	}
	p, err := r.wlock()
	if err != nil {
		return err
	}
	defer r.mu.Unlock()
	return statusErr(op, C.pr_range_truncate(p, sz))
}

// Split returns two new ranges: front holds bytes 0 .. offset of the
// window, back the rest. r is unchanged.
func (r *Range) Split(offset int) (front, back *Range, err error) {
	const op = "pr_range_split"
	off, err := sizeArg(op, offset)
	if err != nil {
		return nil, nil, err
	}
	p, err := r.rlock()
	if err != nil {
		return nil, nil, err
	}
	defer r.mu.RUnlock()
	var f, b *C.pr_range
	if err := statusErr(op, C.pr_range_split(p, off, &f, &b)); err != nil {
		return nil, nil, err
	}
	return newRange(f), newRange(b), nil
}

// AddressRanges returns the window's runs of physically adjacent pages as
// guest address ranges, in order.
func (r *Range) AddressRanges() ([]AddressRange, error) {
	p, err := r.rlock()
	if err != nil {
		return nil, err
	}
	defer r.mu.RUnlock()
	return addressRanges("pr_range_address_ranges", func(out *C.pr_address_range, capacity C.size_t, count *C.size_t) C.pr_status {
		return C.pr_range_address_ranges(p, out, capacity, count)
	})
}

// addressRanges asks for the count, then fills a slice of that size.
func addressRanges(op string, f func(*C.pr_address_range, C.size_t, *C.size_t) C.pr_status) ([]AddressRange, error) {
	var count C.size_t
	s := f(nil, 0, &count)
	for {
		if s != C.PR_OK && s != C.PR_ERR_BUFFER_TOO_SMALL {
			return nil, statusErr(op, s)
		}
		if count == 0 {
			return []AddressRange{}, nil
		}
		out := make([]AddressRange, int(count))
		var got C.size_t
		s = f((*C.pr_address_range)(unsafe.Pointer(&out[0])), count, &got)
		if s == C.PR_OK {
			return out[:int(got)], nil
		}
		count = got // cannot grow under our read lock; loop stays safe anyway
	}
}

func bufPtr(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return nil
	}
	return unsafe.Pointer(&p[0])
}

// Read reads the first len(p) bytes of the window into p through mem and
// returns the number of bytes transferred. On a memory fault the first n
// bytes of p are valid and the *Error carries the GPA and code.
func (r *Range) Read(mem *Memory, p []byte) (n int, err error) {
	rp, err := r.rlock()
	if err != nil {
		return 0, err
	}
	defer r.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return 0, err
	}
	defer mem.mu.RUnlock()
	var t C.pr_transfer
	s := C.pr_range_read(rp, core.ptr, bufPtr(p), C.size_t(len(p)), &t)
	return int(t.done), core.transferErr("pr_range_read", s, &t)
}

// Write writes p over the first len(p) bytes of the window through mem and
// returns the number of bytes transferred.
func (r *Range) Write(mem *Memory, p []byte) (n int, err error) {
	rp, err := r.rlock()
	if err != nil {
		return 0, err
	}
	defer r.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return 0, err
	}
	defer mem.mu.RUnlock()
	var t C.pr_transfer
	s := C.pr_range_write(rp, core.ptr, bufPtr(p), C.size_t(len(p)), &t)
	return int(t.done), core.transferErr("pr_range_write", s, &t)
}

// Fill sets the first n bytes of the window to value through mem and
// returns the number of bytes transferred.
func (r *Range) Fill(mem *Memory, value byte, n int) (int, error) {
	const op = "pr_range_fill"
	sz, err := sizeArg(op, n)
	if err != nil {
		return 0, err
	}
	rp, err := r.rlock()
	if err != nil {
		return 0, err
	}
	defer r.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return 0, err
	}
	defer mem.mu.RUnlock()
	var t C.pr_transfer
	s := C.pr_range_fill(rp, core.ptr, C.uint8_t(value), sz, &t)
	return int(t.done), core.transferErr(op, s, &t)
}

// IOVecs returns the host bytes of the first n bytes of the window in a
// mapped memory (see NewMappedMemory), as sub-slices of the regions' slices
// in window order (usable as net.Buffers or for readv/writev). covered is
// n on success. If a run is not mapped the error is StatusMemory and
// covered is the number of bytes before it. A callback memory gives
// StatusInvalidArgument. A memory logging dirty pages marks the pages the
// slices cover (the IO through them is invisible to the library).
func (r *Range) IOVecs(mem *Memory, n int) (bufs [][]byte, covered int, err error) {
	const op = "pr_range_iovecs"
	if _, err := sizeArg(op, n); err != nil {
		return nil, 0, err
	}
	rp, err := r.rlock()
	if err != nil {
		return nil, 0, err
	}
	defer r.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return nil, 0, err
	}
	defer mem.mu.RUnlock()
	return iovecs(op, core, n, false, func(n C.size_t, iov *C.struct_iovec, capacity C.size_t, count, covered *C.size_t) C.pr_status {
		return C.pr_range_iovecs(rp, core.ptr, n, iov, capacity, count, covered)
	})
}

// iovecs exports the host pieces of n bytes through f (pr_range_iovecs or
// a sibling), as sub-slices of the mapped regions. The array is C memory
// because C stores (pinned) Go pointers into it. When it is too short, a
// cursor (moves) has advanced past what was exported, so the export goes on
// with the rest; a range or buffer is exported again with a larger array.
// On StatusMemory, covered counts the bytes before the unmapped run and
// bufs what a cursor exported before the call that met it.
func iovecs(op string, core *memCore, n int, moves bool, f func(n C.size_t, iov *C.struct_iovec, capacity C.size_t, count, covered *C.size_t) C.pr_status) (bufs [][]byte, covered int, err error) {
	defer core.rethrowDirty()
	capacity := min(n/PageSize+2, 1024)
	for {
		arr := (*C.struct_iovec)(C.calloc(C.size_t(capacity), C.size_t(unsafe.Sizeof(C.struct_iovec{}))))
		if arr == nil {
			return bufs, covered, &Error{Op: op, Status: StatusAllocation}
		}
		var count, done C.size_t
		s := f(C.size_t(n-covered), arr, C.size_t(capacity), &count, &done)
		if s == C.PR_OK || (s == C.PR_ERR_BUFFER_TOO_SMALL && moves) {
			bufs = append(bufs, core.hostSlices(unsafe.Slice(arr, int(count)))...)
		}
		C.free(unsafe.Pointer(arr))
		switch s {
		case C.PR_OK:
			return bufs, covered + int(done), nil
		case C.PR_ERR_BUFFER_TOO_SMALL:
			if moves {
				covered += int(done)
			}
			if !moves || done == 0 {
				capacity *= 2
			}
		case C.PR_ERR_MEMORY:
			return bufs, covered + int(done), &Error{Op: op, Status: StatusMemory}
		default:
			return bufs, covered, statusErr(op, s)
		}
	}
}

// NewReader returns a cursor reading the window from its first byte. It
// keeps what it needs alive: r and mem may be closed before it.
func (r *Range) NewReader(mem *Memory) (*Reader, error) {
	rp, err := r.rlock()
	if err != nil {
		return nil, err
	}
	defer r.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return nil, err
	}
	defer mem.mu.RUnlock()
	var out *C.pr_reader
	if err := statusErr("pr_reader_new", C.pr_reader_new(rp, core.ptr, &out)); err != nil {
		return nil, err
	}
	return newReader(out, core), nil
}

// NewWriter returns a cursor writing the window from its first byte. It
// keeps what it needs alive: r and mem may be closed before it.
func (r *Range) NewWriter(mem *Memory) (*Writer, error) {
	rp, err := r.rlock()
	if err != nil {
		return nil, err
	}
	defer r.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return nil, err
	}
	defer mem.mu.RUnlock()
	var out *C.pr_writer
	if err := statusErr("pr_writer_new", C.pr_writer_new(rp, core.ptr, &out)); err != nil {
		return nil, err
	}
	return newWriter(out, core), nil
}
