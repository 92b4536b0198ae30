package pagedrange

/*
#include <pagedrange.h>
*/
import "C"

import (
	"io"
	"runtime"
)

// Reader reads a Range or Ranges from front to back through a Memory
// (pr_reader). It implements io.Reader. Calls are serialized by a mutex, so
// sharing one Reader between goroutines is safe (but rarely useful).
//
// A device splits a request with Limit (the header, the data handed to a
// backend, the status) and reuses one Reader from request to request with
// Reset or ResetRanges, which allocate nothing.
type Reader struct {
	exclusive[*C.pr_reader]
	core *memCore // reference held until Close
}

func newReader(p *C.pr_reader, core *memCore) *Reader {
	core.acquire()
	rd := &Reader{exclusive[*C.pr_reader]{ptr: p}, core}
	runtime.SetFinalizer(rd, (*Reader).Close)
	return rd
}

func (rd *Reader) lock() (*C.pr_reader, error) {
	if rd == nil {
		return nil, ErrClosed
	}
	return rd.exclusive.lock()
}

// Read reads up to len(p) bytes (at most Remaining). At the end it returns
// 0, io.EOF. On a memory fault it returns the bytes read before the failed
// run and an *Error (StatusMemory, with GPA and Code); the cursor has
// advanced by exactly n, so a retry resumes at the failed run.
func (rd *Reader) Read(p []byte) (n int, err error) {
	rp, err := rd.lock()
	if err != nil {
		return 0, err
	}
	defer rd.mu.Unlock()
	want := min(len(p), int(C.pr_reader_remaining(rp)))
	if want == 0 {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	var t C.pr_transfer
	s := C.pr_reader_read(rp, bufPtr(p), C.size_t(want), &t)
	return int(t.done), rd.core.transferErr("pr_reader_read", s, &t)
}

// Skip advances past n bytes without reading them (StatusOutOfRange and
// no movement when n exceeds Remaining).
func (rd *Reader) Skip(n int) error {
	const op = "pr_reader_skip"
	sz, err := sizeArg(op, n)
	if err != nil {
		return err
	}
	rp, err := rd.lock()
	if err != nil {
		return err
	}
	defer rd.mu.Unlock()
	return statusErr(op, C.pr_reader_skip(rp, sz))
}

// Remaining returns the bytes left to read (0 once closed).
func (rd *Reader) Remaining() int {
	rp, err := rd.lock()
	if err != nil {
		return 0
	}
	defer rd.mu.Unlock()
	return int(C.pr_reader_remaining(rp))
}

// Limit splits off a Reader over the next n bytes and advances rd past
// them, so a device can hand the data part of a request to a backend while
// it goes on reading what follows. The new Reader uses the same memory and
// must be closed too. StatusOutOfRange (nothing moves) when n exceeds
// Remaining.
func (rd *Reader) Limit(n int) (*Reader, error) {
	const op = "pr_reader_limit"
	sz, err := sizeArg(op, n)
	if err != nil {
		return nil, err
	}
	rp, err := rd.lock()
	if err != nil {
		return nil, err
	}
	defer rd.mu.Unlock()
	var out *C.pr_reader
	if err := statusErr(op, C.pr_reader_limit(rp, sz, &out)); err != nil {
		return nil, err
	}
	return newReader(out, rd.core), nil
}

// Reset points the reader at the first byte of r's window (as it is now),
// keeping its memory, instead of closing it and creating another. It
// allocates nothing.
func (rd *Reader) Reset(r *Range) error {
	rp, err := rd.lock()
	if err != nil {
		return err
	}
	defer rd.mu.Unlock()
	p, err := r.rlock()
	if err != nil {
		return err
	}
	defer r.mu.RUnlock()
	return statusErr("pr_reader_reset", C.pr_reader_reset(rp, p))
}

// ResetRanges points the reader at the first byte of rs (as it is now),
// keeping its memory; see Reset.
func (rd *Reader) ResetRanges(rs *Ranges) error {
	rp, err := rd.lock()
	if err != nil {
		return err
	}
	defer rd.mu.Unlock()
	p, err := rs.rlock()
	if err != nil {
		return err
	}
	defer rs.mu.RUnlock()
	return statusErr("pr_ranges_reader_reset", C.pr_ranges_reader_reset(rp, p))
}

// Release drops the reader's reference to its range or buffer: it has
// nothing left to read until it is reset. This lets [Builder.FinishInto]
// and [ChainWalker.Walk] refill that buffer in place instead of copying it.
// Release of a closed reader does nothing.
func (rd *Reader) Release() {
	if rp, err := rd.lock(); err == nil {
		C.pr_reader_release(rp)
		rd.mu.Unlock()
	}
}

// IOVecs returns the host bytes of the next n bytes in a mapped memory
// (for writev straight from guest pages) and advances past them; see
// Range.IOVecs. The reader advances by exactly the bytes bufs cover: n on
// success. On StatusMemory, covered counts the bytes before the unmapped
// run, which the reader stands before (bufs then holds what was exported
// before it; usually nothing).
func (rd *Reader) IOVecs(n int) (bufs [][]byte, covered int, err error) {
	const op = "pr_reader_iovecs"
	if _, err := sizeArg(op, n); err != nil {
		return nil, 0, err
	}
	rp, err := rd.lock()
	if err != nil {
		return nil, 0, err
	}
	defer rd.mu.Unlock()
	return iovecs(op, rd.core, n, true, func(n C.size_t, iov *C.struct_iovec, capacity C.size_t, count, covered *C.size_t) C.pr_status {
		return C.pr_reader_iovecs(rp, n, iov, capacity, count, covered)
	})
}

// Close frees the cursor and its reference to the memory. Closing twice is
// harmless.
func (rd *Reader) Close() error {
	if rd != nil && rd.close(func(p *C.pr_reader) { C.pr_reader_free(p) }) {
		rd.core.release()
		runtime.SetFinalizer(rd, nil)
	}
	return nil
}

// Writer writes a Range or Ranges from front to back through a Memory
// (pr_writer). It implements io.Writer. Calls are serialized by a mutex.
// Limit, Reset, ResetRanges and Release work as for a Reader.
type Writer struct {
	exclusive[*C.pr_writer]
	core *memCore // reference held until Close
}

func newWriter(p *C.pr_writer, core *memCore) *Writer {
	core.acquire()
	w := &Writer{exclusive[*C.pr_writer]{ptr: p}, core}
	runtime.SetFinalizer(w, (*Writer).Close)
	return w
}

func (w *Writer) lock() (*C.pr_writer, error) {
	if w == nil {
		return nil, ErrClosed
	}
	return w.exclusive.lock()
}

// Write writes p at the cursor. When p is longer than Remaining, the bytes
// that fit are written and the error is an *Error with StatusOutOfRange
// (so io.Copy stops). On a memory fault it returns the bytes written
// before the failed run; the cursor has advanced by exactly n.
func (w *Writer) Write(p []byte) (n int, err error) {
	const op = "pr_writer_write"
	wp, err := w.lock()
	if err != nil {
		return 0, err
	}
	defer w.mu.Unlock()
	want := min(len(p), int(C.pr_writer_remaining(wp)))
	if want > 0 {
		var t C.pr_transfer
		s := C.pr_writer_write(wp, bufPtr(p), C.size_t(want), &t)
		if err := w.core.transferErr(op, s, &t); err != nil {
			return int(t.done), err
		}
	}
	if want < len(p) {
		return want, &Error{Op: op, Status: StatusOutOfRange}
	}
	return want, nil
}

// Fill sets the next n bytes to value and advances past them (StatusOutOfRange
// and no movement when n exceeds Remaining).
func (w *Writer) Fill(value byte, n int) (int, error) {
	const op = "pr_writer_fill"
	sz, err := sizeArg(op, n)
	if err != nil {
		return 0, err
	}
	wp, err := w.lock()
	if err != nil {
		return 0, err
	}
	defer w.mu.Unlock()
	var t C.pr_transfer
	s := C.pr_writer_fill(wp, C.uint8_t(value), sz, &t)
	return int(t.done), w.core.transferErr(op, s, &t)
}

// Remaining returns the bytes left to write (0 once closed).
func (w *Writer) Remaining() int {
	wp, err := w.lock()
	if err != nil {
		return 0
	}
	defer w.mu.Unlock()
	return int(C.pr_writer_remaining(wp))
}

// Skip advances past n bytes without writing them (StatusOutOfRange and
// no movement when n exceeds Remaining).
func (w *Writer) Skip(n int) error {
	const op = "pr_writer_skip"
	sz, err := sizeArg(op, n)
	if err != nil {
		return err
	}
	wp, err := w.lock()
	if err != nil {
		return err
	}
	defer w.mu.Unlock()
	return statusErr(op, C.pr_writer_skip(wp, sz))
}

// Limit splits off a Writer over the next n bytes and advances w past
// them; see Reader.Limit.
func (w *Writer) Limit(n int) (*Writer, error) {
	const op = "pr_writer_limit"
	sz, err := sizeArg(op, n)
	if err != nil {
		return nil, err
	}
	wp, err := w.lock()
	if err != nil {
		return nil, err
	}
	defer w.mu.Unlock()
	var out *C.pr_writer
	if err := statusErr(op, C.pr_writer_limit(wp, sz, &out)); err != nil {
		return nil, err
	}
	return newWriter(out, w.core), nil
}

// Reset points the writer at the first byte of r's window, keeping its
// memory; see Reader.Reset.
func (w *Writer) Reset(r *Range) error {
	wp, err := w.lock()
	if err != nil {
		return err
	}
	defer w.mu.Unlock()
	p, err := r.rlock()
	if err != nil {
		return err
	}
	defer r.mu.RUnlock()
	return statusErr("pr_writer_reset", C.pr_writer_reset(wp, p))
}

// ResetRanges points the writer at the first byte of rs, keeping its
// memory; see Reader.Reset.
func (w *Writer) ResetRanges(rs *Ranges) error {
	wp, err := w.lock()
	if err != nil {
		return err
	}
	defer w.mu.Unlock()
	p, err := rs.rlock()
	if err != nil {
		return err
	}
	defer rs.mu.RUnlock()
	return statusErr("pr_ranges_writer_reset", C.pr_ranges_writer_reset(wp, p))
}

// Release drops the writer's reference to its range or buffer; see
// Reader.Release.
func (w *Writer) Release() {
	if wp, err := w.lock(); err == nil {
		C.pr_writer_release(wp)
		w.mu.Unlock()
	}
}

// IOVecs returns the host bytes of the next n bytes in a mapped memory
// (for readv straight into guest pages) and advances past them, as
// Reader.IOVecs. A memory logging dirty pages marks the pages they cover
// when they are exported; an export its bitmap cannot record fails with
// StatusMemory, marks nothing and leaves the writer where it was.
func (w *Writer) IOVecs(n int) (bufs [][]byte, covered int, err error) {
	const op = "pr_writer_iovecs"
	if _, err := sizeArg(op, n); err != nil {
		return nil, 0, err
	}
	wp, err := w.lock()
	if err != nil {
		return nil, 0, err
	}
	defer w.mu.Unlock()
	return iovecs(op, w.core, n, true, func(n C.size_t, iov *C.struct_iovec, capacity C.size_t, count, covered *C.size_t) C.pr_status {
		return C.pr_writer_iovecs(wp, n, iov, capacity, count, covered)
	})
}

// Close frees the cursor and its reference to the memory. Closing twice is
// harmless.
func (w *Writer) Close() error {
	if w != nil && w.close(func(p *C.pr_writer) { C.pr_writer_free(p) }) {
		w.core.release()
		runtime.SetFinalizer(w, nil)
	}
	return nil
}

var (
	_ io.Reader = (*Reader)(nil)
	_ io.Writer = (*Writer)(nil)
)
