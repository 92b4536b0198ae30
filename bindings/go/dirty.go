package pagedrange

/*
#include "shim.h"
*/
import "C"

import (
	"math/bits"
	"runtime/cgo"
	"sync/atomic"
	"unsafe"
)

// DirtyBitmap is a log of written guest pages for live migration, in the
// layout pr_memory_with_dirty_bitmap uses: bit gpn%64 of word gpn/64 stands
// for guest page gpn, for pages below Pages. The library sets bits with
// atomic OR while memories log into it ([Memory.WithDirtyBitmap]); its
// methods use atomic operations too, so they may run during transfers.
type DirtyBitmap struct {
	words []uint64
	pages int
}

// NewDirtyBitmap returns a clear bitmap for guest pages 0 .. pages-1. It
// panics if pages is negative.
func NewDirtyBitmap(pages int) *DirtyBitmap {
	if pages < 0 {
		panic("pagedrange: NewDirtyBitmap with a negative page count")
	}
	// At least one word, so that C always gets a valid pointer.
	return &DirtyBitmap{words: make([]uint64, max(1, (pages+63)/64)), pages: pages}
}

// Pages returns the number of guest pages the bitmap covers.
func (b *DirtyBitmap) Pages() int { return b.pages }

// Dirty reports whether page gpn is marked (false beyond Pages).
func (b *DirtyBitmap) Dirty(gpn uint64) bool {
	if gpn >= uint64(b.pages) {
		return false
	}
	return atomic.LoadUint64(&b.words[gpn/64])&(1<<(gpn%64)) != 0
}

// Collect clears the bitmap and returns the pages that were marked, in
// ascending order: one round of a migration's dirty-page sync. Each word is
// swapped with zero atomically, so a page marked concurrently is reported
// by this call or by the next one, never lost.
func (b *DirtyBitmap) Collect() []uint64 {
	var gpns []uint64
	for i := range b.words {
		w := atomic.SwapUint64(&b.words[i], 0)
		for w != 0 {
			bit := uint64(bits.TrailingZeros64(w))
			gpns = append(gpns, uint64(i)*64+bit)
			w &= w - 1
		}
	}
	return gpns
}

// WithDirtyBitmap returns a new Memory over the same guest memory as m
// that also marks the pages it writes in b (pr_memory_with_dirty_bitmap):
// after each run is written or filled successfully, never for a failed
// run. A write or fill touching a page at or beyond b.Pages() fails with
// StatusMemory and Code -2 before any byte moves. Reads mark nothing.
// IOVecs of the new memory mark the pages they cover when exported, since
// the IO through them is invisible to the library.
//
// m stays usable on its own (without logging); the new Memory keeps it
// alive, and keeps b pinned until it and its cursors are closed. Close the
// new Memory like any other.
func (m *Memory) WithDirtyBitmap(b *DirtyBitmap) (*Memory, error) {
	const op = "pr_memory_with_dirty_bitmap"
	if b == nil {
		return nil, &Error{Op: op, Status: StatusNullArgument}
	}
	core, err := m.rlock()
	if err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	wrapped := &memCore{gm: core.gm, regions: core.regions}
	words := unsafe.Pointer(unsafe.SliceData(b.words))
	wrapped.pinner.Pin(words)
	var out *C.pr_memory
	s := C.pr_memory_with_dirty_bitmap(core.ptr, (*C.uint64_t)(words), C.uint64_t(b.pages), &out)
	if err := statusErr(op, s); err != nil {
		wrapped.pinner.Unpin()
		return nil, err
	}
	wrapped.ptr = out
	core.acquire()
	wrapped.base = core
	return newMemory(wrapped), nil
}

// goDirty is what the cgo.Handle of a dirty-function memory refers to.
type goDirty struct {
	fn       func(gpa uint64, n int)
	panicked atomic.Pointer[callbackPanic]
}

// WithDirtyFunc returns a new Memory over the same guest memory as m that
// also reports every write to f (pr_memory_with_dirty_callback): after each
// run is written or filled successfully, f gets its guest address and
// length (exactly the bytes written; never a failed run). IOVecs of the new
// memory report what they cover when exported.
//
// f runs synchronously on the goroutine of the transfer, concurrently when
// several goroutines write through the memory; it must not call into the
// handles of the call that invoked it. A panic in f is recovered at the C
// boundary and re-raised when that call returns (when several goroutines
// write at once, on one of them).
//
// m stays usable on its own; the new Memory keeps it alive.
func (m *Memory) WithDirtyFunc(f func(gpa uint64, n int)) (*Memory, error) {
	const op = "pr_memory_with_dirty_callback"
	if f == nil {
		return nil, &Error{Op: op, Status: StatusNullArgument}
	}
	core, err := m.rlock()
	if err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	d := &goDirty{fn: f}
	h := cgo.NewHandle(d)
	var out *C.pr_memory
	if err := statusErr(op, C.prgo_memory_with_dirty(core.ptr, C.uintptr_t(h), &out)); err != nil {
		h.Delete()
		return nil, err
	}
	core.acquire()
	return newMemory(&memCore{ptr: out, handle: h, dirty: d, gm: core.gm, regions: core.regions, base: core}), nil
}

// rethrowDirty re-raises a panic of the dirty function of c or of a
// memory it wraps, once the C call that ran it has returned.
func (c *memCore) rethrowDirty() {
	for k := c; k != nil; k = k.base {
		if k.dirty != nil {
			if p := k.dirty.panicked.Swap(nil); p != nil {
				panic(p.value)
			}
		}
	}
}
