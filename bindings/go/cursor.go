package pagedrange

/*
#include "pagedrange.h"
*/
import "C"

import (
	"io"
	"runtime"
	"sync"
)

// Reader reads a Range or Ranges from front to back through a Memory
// (pr_reader). It implements io.Reader. Calls are serialized by a mutex, so
// sharing one Reader between goroutines is safe (but rarely useful).
type Reader struct {
	mu   sync.Mutex
	ptr  *C.pr_reader // nil once closed
	core *memCore     // reference held until Close
}

func newReader(p *C.pr_reader, core *memCore) *Reader {
	core.acquire()
	rd := &Reader{ptr: p, core: core}
	runtime.SetFinalizer(rd, (*Reader).Close)
	return rd
}

func (rd *Reader) lock() (*C.pr_reader, error) {
	if rd == nil {
		return nil, ErrClosed
	}
	rd.mu.Lock()
	if rd.ptr == nil {
		rd.mu.Unlock()
		return nil, ErrClosed
	}
	return rd.ptr, nil
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

// Close frees the cursor and its reference to the memory. Closing twice is
// harmless.
func (rd *Reader) Close() error {
	if rd == nil {
		return nil
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.ptr != nil {
		C.pr_reader_free(rd.ptr)
		rd.ptr = nil
		rd.core.release()
		rd.core = nil
		runtime.SetFinalizer(rd, nil)
	}
	return nil
}

// Writer writes a Range or Ranges from front to back through a Memory
// (pr_writer). It implements io.Writer. Calls are serialized by a mutex.
type Writer struct {
	mu   sync.Mutex
	ptr  *C.pr_writer // nil once closed
	core *memCore
}

func newWriter(p *C.pr_writer, core *memCore) *Writer {
	core.acquire()
	w := &Writer{ptr: p, core: core}
	runtime.SetFinalizer(w, (*Writer).Close)
	return w
}

func (w *Writer) lock() (*C.pr_writer, error) {
	if w == nil {
		return nil, ErrClosed
	}
	w.mu.Lock()
	if w.ptr == nil {
		w.mu.Unlock()
		return nil, ErrClosed
	}
	return w.ptr, nil
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

// Close frees the cursor and its reference to the memory. Closing twice is
// harmless.
func (w *Writer) Close() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ptr != nil {
		C.pr_writer_free(w.ptr)
		w.ptr = nil
		w.core.release()
		w.core = nil
		runtime.SetFinalizer(w, nil)
	}
	return nil
}

var (
	_ io.Reader = (*Reader)(nil)
	_ io.Writer = (*Writer)(nil)
)
