package pagedrange

/*
#include <pagedrange.h>
*/
import "C"

import (
	"runtime"
)

// Ranges is a list of ranges read and written as one logical buffer
// (pr_ranges). All methods are safe for concurrent use; Skip, Truncate,
// Push and Close are serialized against the others.
type Ranges struct {
	shared[*C.pr_ranges]
}

func newRanges(p *C.pr_ranges) *Ranges {
	rs := &Ranges{shared[*C.pr_ranges]{ptr: p}}
	runtime.SetFinalizer(rs, (*Ranges).Close)
	return rs
}

// NewRanges creates a buffer from ranges, in order. Each window is copied;
// the caller keeps (and must still Close) the Range values.
func NewRanges(ranges ...*Range) (*Ranges, error) {
	const op = "pr_ranges_new"
	// Read-lock each distinct Range once (a second RLock of the same mutex
	// could deadlock behind a waiting Close).
	ptrs := make([]*C.pr_range, len(ranges))
	locked := make(map[*Range]*C.pr_range, len(ranges))
	defer func() {
		for r := range locked {
			r.mu.RUnlock()
		}
	}()
	for i, r := range ranges {
		p, ok := locked[r]
		if !ok {
			var err error
			if p, err = r.rlock(); err != nil {
				return nil, err
			}
			locked[r] = p
		}
		ptrs[i] = p
	}
	var arr **C.pr_range
	if len(ptrs) > 0 {
		arr = &ptrs[0]
	}
	var out *C.pr_ranges
	if err := statusErr(op, C.pr_ranges_new(arr, C.size_t(len(ptrs)), &out)); err != nil {
		return nil, err
	}
	return newRanges(out), nil
}

func (rs *Ranges) rlock() (*C.pr_ranges, error) {
	if rs == nil {
		return nil, ErrClosed
	}
	return rs.shared.rlock()
}

func (rs *Ranges) wlock() (*C.pr_ranges, error) {
	if rs == nil {
		return nil, ErrClosed
	}
	return rs.shared.wlock()
}

// Close frees the handle. Ranges obtained from it and cursors over it stay
// valid. Closing twice is harmless.
func (rs *Ranges) Close() error {
	if rs != nil && rs.close(func(p *C.pr_ranges) { C.pr_ranges_free(p) }) {
		runtime.SetFinalizer(rs, nil)
	}
	return nil
}

// Len returns the number of bytes in the buffer (0 once closed).
func (rs *Ranges) Len() int {
	p, err := rs.rlock()
	if err != nil {
		return 0
	}
	defer rs.mu.RUnlock()
	return int(C.pr_ranges_len(p))
}

// Count returns the number of non-empty windows in the buffer (0 once
// closed).
func (rs *Ranges) Count() int {
	p, err := rs.rlock()
	if err != nil {
		return 0
	}
	defer rs.mu.RUnlock()
	return int(C.pr_ranges_count(p))
}

// Get returns a new Range for window index (counted as Count counts).
func (rs *Ranges) Get(index int) (*Range, error) {
	const op = "pr_ranges_get"
	i, err := sizeArg(op, index)
	if err != nil {
		return nil, err
	}
	p, err := rs.rlock()
	if err != nil {
		return nil, err
	}
	defer rs.mu.RUnlock()
	var out *C.pr_range
	if err := statusErr(op, C.pr_ranges_get(p, i, &out)); err != nil {
		return nil, err
	}
	return newRange(out), nil
}

// Push appends a copy of r's window after the buffer's end.
func (rs *Ranges) Push(r *Range) error {
	p, err := rs.wlock()
	if err != nil {
		return err
	}
	defer rs.mu.Unlock()
	rp, err := r.rlock()
	if err != nil {
		return err
	}
	defer r.mu.RUnlock()
	return statusErr("pr_ranges_push", C.pr_ranges_push(p, rp))
}

// Skip drops the first n bytes of the buffer, in place.
func (rs *Ranges) Skip(n int) error {
	const op = "pr_ranges_skip"
	sz, err := sizeArg(op, n)
	if err != nil {
		return err
	}
	p, err := rs.wlock()
	if err != nil {
		return err
	}
	defer rs.mu.Unlock()
	return statusErr(op, C.pr_ranges_skip(p, sz))
}

// Truncate shortens the buffer to its first n bytes, in place.
func (rs *Ranges) Truncate(n int) error {
	const op = "pr_ranges_truncate"
	sz, err := sizeArg(op, n)
	if err != nil {
		return err
	}
	p, err := rs.wlock()
	if err != nil {
		return err
	}
	defer rs.mu.Unlock()
	return statusErr(op, C.pr_ranges_truncate(p, sz))
}

// AddressRanges returns the guest address runs of the buffer, window by
// window (runs are not merged across windows).
func (rs *Ranges) AddressRanges() ([]AddressRange, error) {
	p, err := rs.rlock()
	if err != nil {
		return nil, err
	}
	defer rs.mu.RUnlock()
	return addressRanges("pr_ranges_address_ranges", func(out *C.pr_address_range, capacity C.size_t, count *C.size_t) C.pr_status {
		return C.pr_ranges_address_ranges(p, out, capacity, count)
	})
}

// Read reads the first len(p) bytes of the buffer into p through mem; see
// Range.Read.
func (rs *Ranges) Read(mem *Memory, p []byte) (int, error) {
	rp, err := rs.rlock()
	if err != nil {
		return 0, err
	}
	defer rs.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return 0, err
	}
	defer mem.mu.RUnlock()
	var t C.pr_transfer
	s := C.pr_ranges_read(rp, core.ptr, bufPtr(p), C.size_t(len(p)), &t)
	return int(t.done), core.transferErr("pr_ranges_read", s, &t)
}

// Write writes p over the first len(p) bytes of the buffer through mem;
// see Range.Write.
func (rs *Ranges) Write(mem *Memory, p []byte) (int, error) {
	rp, err := rs.rlock()
	if err != nil {
		return 0, err
	}
	defer rs.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return 0, err
	}
	defer mem.mu.RUnlock()
	var t C.pr_transfer
	s := C.pr_ranges_write(rp, core.ptr, bufPtr(p), C.size_t(len(p)), &t)
	return int(t.done), core.transferErr("pr_ranges_write", s, &t)
}

// Fill sets the first n bytes of the buffer to value through mem; see
// Range.Fill.
func (rs *Ranges) Fill(mem *Memory, value byte, n int) (int, error) {
	const op = "pr_ranges_fill"
	sz, err := sizeArg(op, n)
	if err != nil {
		return 0, err
	}
	rp, err := rs.rlock()
	if err != nil {
		return 0, err
	}
	defer rs.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return 0, err
	}
	defer mem.mu.RUnlock()
	var t C.pr_transfer
	s := C.pr_ranges_fill(rp, core.ptr, C.uint8_t(value), sz, &t)
	return int(t.done), core.transferErr(op, s, &t)
}

// IOVecs is Range.IOVecs for the whole buffer, window by window (pieces of
// consecutive windows merge when they touch in host memory).
func (rs *Ranges) IOVecs(mem *Memory, n int) (bufs [][]byte, covered int, err error) {
	const op = "pr_ranges_iovecs"
	if _, err := sizeArg(op, n); err != nil {
		return nil, 0, err
	}
	rp, err := rs.rlock()
	if err != nil {
		return nil, 0, err
	}
	defer rs.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return nil, 0, err
	}
	defer mem.mu.RUnlock()
	return iovecs(op, core, n, false, func(n C.size_t, iov *C.struct_iovec, capacity C.size_t, count, covered *C.size_t) C.pr_status {
		return C.pr_ranges_iovecs(rp, core.ptr, n, iov, capacity, count, covered)
	})
}

// NewReader returns a cursor reading the buffer as it is now. rs and mem
// may be closed before it.
func (rs *Ranges) NewReader(mem *Memory) (*Reader, error) {
	rp, err := rs.rlock()
	if err != nil {
		return nil, err
	}
	defer rs.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return nil, err
	}
	defer mem.mu.RUnlock()
	var out *C.pr_reader
	if err := statusErr("pr_ranges_reader_new", C.pr_ranges_reader_new(rp, core.ptr, &out)); err != nil {
		return nil, err
	}
	return newReader(out, core), nil
}

// NewWriter returns a cursor writing the buffer as it is now. rs and mem
// may be closed before it.
func (rs *Ranges) NewWriter(mem *Memory) (*Writer, error) {
	rp, err := rs.rlock()
	if err != nil {
		return nil, err
	}
	defer rs.mu.RUnlock()
	core, err := mem.rlock()
	if err != nil {
		return nil, err
	}
	defer mem.mu.RUnlock()
	var out *C.pr_writer
	if err := statusErr("pr_ranges_writer_new", C.pr_ranges_writer_new(rp, core.ptr, &out)); err != nil {
		return nil, err
	}
	return newWriter(out, core), nil
}
