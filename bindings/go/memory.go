package pagedrange

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"io"
	"math"
	"runtime"
	"runtime/cgo"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"
)

// GuestMemory is guest memory implemented in Go. ReadAt copies the guest
// bytes at gpa into p; WriteAt copies p to the guest bytes at gpa. Each call
// transfers all of p or fails; on failure none of its bytes count as
// transferred and the transfer stops there.
//
// p is borrowed for the duration of the call only: do not keep it. Methods
// run synchronously on the goroutine that called the library, and
// concurrently when one Memory is used from several goroutines. They must
// not call methods of the Memory, Range, Ranges or cursor whose call
// invoked them (those hold a lock during the call; Close would deadlock).
//
// A returned error fails the transfer with StatusMemory; the *Error then
// carries the GPA, the code (see [FaultCode]) and the returned error. A
// panic in a method is recovered at the C boundary and re-raised on the
// calling goroutine once the C call has returned.
type GuestMemory interface {
	ReadAt(gpa uint64, p []byte) error
	WriteAt(gpa uint64, p []byte) error
}

// Filler is an optional GuestMemory method: Fill sets n guest bytes from
// gpa to value. Without it, fills are done through WriteAt with pieces of
// at most 4 KiB.
type Filler interface {
	Fill(gpa uint64, value byte, n int) error
}

// FaultCode is an error a GuestMemory method may return (also wrapped) to
// choose the code reported in Error.Code. For any other error, and for a
// code of 0 or one in the range the binding reserves
// ([math.MinInt32, math.MinInt32+2^30)), the binding picks a code from the
// reserved range itself and Error.Err holds the returned error. The
// library's own codes are FaultCode constants too ([FaultUnmapped], ...),
// and errors.Is(err, code) matches a memory fault with that code.
type FaultCode int

func (c FaultCode) Error() string { return "guest memory fault code " + strconv.Itoa(int(c)) }

// FaultCode returns c as an int.
func (c FaultCode) FaultCode() int { return int(c) }

// The codes the library itself reports in Error.Code (PR_FAULT_*). Test
// for them with errors.Is(err, FaultSIGBUS) and the like.
const (
	// FaultUnmapped: mapped memory was asked for an address outside its
	// regions; GPA is the first such address.
	FaultUnmapped FaultCode = C.PR_FAULT_UNMAPPED
	// FaultUntracked: a dirty-logged memory was asked to write a page
	// beyond its bitmap (see Memory.WithDirtyBitmap).
	FaultUntracked FaultCode = C.PR_FAULT_UNTRACKED
	// FaultSIGBUS: an access to mapped memory raised SIGBUS (a page past
	// the end of a truncated file), with InstallFaultRecovery.
	FaultSIGBUS FaultCode = C.PR_FAULT_SIGBUS
	// FaultSIGSEGV: an access to mapped memory raised SIGSEGV (an unmapped
	// or protected page), with InstallFaultRecovery.
	FaultSIGSEGV FaultCode = C.PR_FAULT_SIGSEGV
)

// InstallFaultRecovery installs the library's SIGSEGV and SIGBUS handler
// (pr_fault_recovery_install), so that a fault while a transfer accesses
// mapped guest memory fails the transfer instead of killing the process:
// the error is StatusMemory with GPA the address that faulted, Code
// [FaultSIGBUS] (the file behind the region was truncated) or
// [FaultSIGSEGV] (the pages were unmapped or protected), and the bytes
// before it done (a cursor advances by exactly those). This matters for
// regions mapped from files or shared memory another process controls
// (syscall.Mmap); Go byte slices do not fault.
//
// Any other fault goes on to the handler installed before, the Go
// runtime's: a nil dereference in Go still panics as usual. The handler
// is process-wide and cannot be removed; installing it again does
// nothing. It returns an error with StatusUnsupported on platforms other
// than x86-64 Linux.
func InstallFaultRecovery() error {
	return statusErr("pr_fault_recovery_install", C.pr_fault_recovery_install())
}

// Codes the binding hands out for errors without a usable FaultCode.
const (
	tokenBase  = math.MinInt32
	tokenRange = 1 << 30
)

func isToken(code int) bool { return code >= tokenBase && code < tokenBase+tokenRange }

// goMem is what the cgo.Handle of a callback memory refers to.
type goMem struct {
	mem    GuestMemory
	filler Filler
	next   atomic.Uint32
	causes sync.Map // token (int) -> error or *callbackPanic
}

type callbackPanic struct{ value any }

// fault turns a callback error (or recovered panic) into the C code.
func (g *goMem) fault(err error, p *callbackPanic) C.int {
	if p == nil {
		var fc interface{ FaultCode() int }
		if errors.As(err, &fc) {
			if c := fc.FaultCode(); c != 0 && !isToken(c) && c >= math.MinInt32 && c <= math.MaxInt32 {
				return C.int(c)
			}
		}
	}
	tok := tokenBase + int(g.next.Add(1)%tokenRange)
	if p != nil {
		g.causes.Store(tok, p)
	} else {
		g.causes.Store(tok, err)
	}
	return C.int(tok)
}

// memCore is the state shared by a Memory and the cursors created from it.
// Its Go-side resources (the cgo.Handle, the pinned slices or bitmap) must
// outlive the C memory and every C cursor using it, so it is reference
// counted. A dirty-logging memory's core holds a reference to the core of
// the memory it wraps.
type memCore struct {
	ptr     *C.pr_memory
	refs    atomic.Int64
	handle  cgo.Handle // callback memory or dirty function; 0 otherwise
	gm      *goMem     // callback memory (also of a wrapped one): fault causes
	dirty   *goDirty   // dirty function memory: its pending panic
	base    *memCore   // the memory a dirty-logging memory wraps
	pinner  runtime.Pinner
	regions []MappedRegion // mapped memory (also of a wrapped one), for IOVecs
}

func (c *memCore) acquire() { c.refs.Add(1) }

func (c *memCore) release() {
	if c.refs.Add(-1) != 0 {
		return
	}
	C.pr_memory_free(c.ptr)
	c.ptr = nil
	if c.handle != 0 {
		c.handle.Delete()
		c.handle = 0
	}
	c.pinner.Unpin()
	if c.base != nil {
		c.base.release()
		c.base = nil
	}
}

// transferErr builds the error of a read, write or fill, attaching the
// fault address, code and Go cause; it re-raises a callback panic.
func (c *memCore) transferErr(op string, s C.pr_status, t *C.pr_transfer) error {
	c.rethrowDirty()
	if s == C.PR_OK {
		return nil
	}
	e := &Error{Op: op, Status: Status(s)}
	if s == C.PR_ERR_MEMORY {
		c.fault(e, uint64(t.fault_gpa), int(t.fault_code))
	}
	return e
}

// fault records a memory fault in e: its address, its code and, for a
// code the binding handed out, the Go error behind it. A callback panic
// behind the code is re-raised here, on the goroutine that called C.
func (c *memCore) fault(e *Error, gpa uint64, code int) {
	e.GPA, e.Code = gpa, code
	if c.gm == nil || !isToken(code) {
		return
	}
	if v, ok := c.gm.causes.LoadAndDelete(code); ok {
		if p, isPanic := v.(*callbackPanic); isPanic {
			panic(p.value)
		}
		e.Err = v.(error)
	}
}

// Memory is guest memory that ranges read from and write to (pr_memory):
// Go memory ([NewMemory]), Go byte slices ([NewMappedMemory]), or either of
// those logging the pages written ([Memory.WithDirtyBitmap],
// [Memory.WithDirtyFunc]). It is also an io.ReaderAt and io.WriterAt over
// guest physical addresses.
type Memory struct {
	mu   sync.RWMutex
	core *memCore // nil once closed
}

// NewMemory wraps a Go GuestMemory (and its Fill method, when it has one)
// as a Memory. The value is reached from C through a cgo.Handle passed by
// value as the callback context; C never holds a Go pointer.
func NewMemory(gm GuestMemory) (*Memory, error) {
	if gm == nil {
		return nil, &Error{Op: "pr_memory_new_callbacks", Status: StatusNullArgument}
	}
	g := &goMem{mem: gm}
	g.filler, _ = gm.(Filler)
	h := cgo.NewHandle(g)
	withFill := C.int(0)
	if g.filler != nil {
		withFill = 1
	}
	var out *C.pr_memory
	if err := statusErr("pr_memory_new_callbacks", C.prgo_memory_new(C.uintptr_t(h), withFill, &out)); err != nil {
		h.Delete()
		return nil, err
	}
	core := &memCore{ptr: out, handle: h, gm: g}
	return newMemory(core), nil
}

// MappedRegion is guest RAM held in a Go byte slice: guest addresses
// GPA .. GPA+len(Data) are the bytes of Data.
type MappedRegion struct {
	GPA  uint64
	Data []byte
}

// NewMappedMemory creates a Memory that copies straight to and from the
// regions' slices (pr_memory_new_mapped), with no callback. The slices are
// pinned with a runtime.Pinner until the Memory and every cursor created
// from it are closed; C keeps pointers into them only during that time.
// Regions must be non-empty and must not overlap in guest addresses
// (StatusInvalidArgument). The caller may keep using the slices (they are
// the guest RAM), but must not read or write bytes concurrently with a
// transfer touching them.
func NewMappedMemory(regions ...MappedRegion) (*Memory, error) {
	const op = "pr_memory_new_mapped"
	core := &memCore{regions: append([]MappedRegion(nil), regions...)}
	var arr *C.pr_mapped_region
	if len(regions) > 0 {
		// C memory for the array: it then holds only pinned Go pointers.
		arr = (*C.pr_mapped_region)(C.calloc(C.size_t(len(regions)), C.size_t(unsafe.Sizeof(C.pr_mapped_region{}))))
		if arr == nil {
			return nil, &Error{Op: op, Status: StatusAllocation}
		}
		defer C.free(unsafe.Pointer(arr))
		cs := unsafe.Slice(arr, len(regions))
		for i, r := range core.regions {
			cs[i].gpa = C.uint64_t(r.GPA)
			cs[i].size = C.uint64_t(len(r.Data))
			if len(r.Data) > 0 {
				p := unsafe.Pointer(unsafe.SliceData(r.Data))
				core.pinner.Pin(p)
				cs[i].host = p
			}
		}
	}
	var out *C.pr_memory
	if err := statusErr(op, C.pr_memory_new_mapped(arr, C.size_t(len(regions)), &out)); err != nil {
		core.pinner.Unpin()
		return nil, err
	}
	core.ptr = out
	return newMemory(core), nil
}

func newMemory(core *memCore) *Memory {
	core.refs.Store(1)
	m := &Memory{core: core}
	runtime.SetFinalizer(m, (*Memory).Close)
	return m
}

// Close releases the Memory. Cursors created from it keep the guest memory
// (and its pinned slices or Go value) alive until they are closed too.
// Closing twice is harmless.
func (m *Memory) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.core != nil {
		m.core.release()
		m.core = nil
		runtime.SetFinalizer(m, nil)
	}
	return nil
}

// rlock read-locks m and returns its core; the caller must call m.mu.RUnlock.
func (m *Memory) rlock() (*memCore, error) {
	if m == nil {
		return nil, ErrClosed
	}
	m.mu.RLock()
	if m.core == nil {
		m.mu.RUnlock()
		return nil, ErrClosed
	}
	return m.core, nil
}

// gpaArg converts an io.ReaderAt offset to a guest address; negative
// offsets are refused with StatusInvalidArgument.
func gpaArg(op string, off int64) (C.uint64_t, error) {
	if off < 0 {
		return 0, &Error{Op: op, Status: StatusInvalidArgument}
	}
	return C.uint64_t(off), nil
}

// ReadAt reads len(p) bytes at guest physical address gpa into p, in one
// access (pr_memory_read): for structures a device reads by address, such
// as a virtqueue's rings. It implements io.ReaderAt with the guest address
// as the offset (addresses from 2^63 up are not reachable this way).
//
// n is len(p) on success. On failure the error is an *Error with
// StatusMemory, the GPA and the code, and n is the bytes read before it: 0
// for a refused access, the bytes before the faulting one for a fault
// recovered after InstallFaultRecovery. With mapped memory,
// a read of 1, 2, 4 or 8 bytes at an address aligned to its size is one
// load.
func (m *Memory) ReadAt(p []byte, gpa int64) (n int, err error) {
	return m.byAddress("pr_memory_read", p, gpa, func(mem *C.pr_memory, addr C.uint64_t, t *C.pr_transfer) C.pr_status {
		return C.pr_memory_read(mem, addr, bufPtr(p), C.size_t(len(p)), t)
	})
}

// byAddress runs call, an access to p at guest address gpa, under the
// memory's read lock, and reports its bytes done and error.
func (m *Memory) byAddress(op string, p []byte, gpa int64, call func(*C.pr_memory, C.uint64_t, *C.pr_transfer) C.pr_status) (int, error) {
	addr, err := gpaArg(op, gpa)
	if err != nil {
		return 0, err
	}
	core, err := m.rlock()
	if err != nil {
		return 0, err
	}
	defer m.mu.RUnlock()
	var t C.pr_transfer
	s := call(core.ptr, addr, &t)
	return int(t.done), core.transferErr(op, s, &t)
}

// WriteAt writes p at guest physical address gpa in one access
// (pr_memory_write); n and the error as for ReadAt; a dirty log records
// what was written. It
// implements io.WriterAt with the guest address as the offset.
func (m *Memory) WriteAt(p []byte, gpa int64) (n int, err error) {
	return m.byAddress("pr_memory_write", p, gpa, func(mem *C.pr_memory, addr C.uint64_t, t *C.pr_transfer) C.pr_status {
		return C.pr_memory_write(mem, addr, bufPtr(p), C.size_t(len(p)), t)
	})
}

var (
	_ io.ReaderAt = (*Memory)(nil)
	_ io.WriterAt = (*Memory)(nil)
)

// hostSlices maps C iovecs of a mapped memory back to sub-slices of the
// regions' Go slices (split where they cross from one slice to another).
func (c *memCore) hostSlices(iov []C.struct_iovec) [][]byte {
	out := make([][]byte, 0, len(iov))
	for _, v := range iov {
		base := uintptr(v.iov_base)
		n := uintptr(v.iov_len)
		for n > 0 {
			var piece []byte
			for _, r := range c.regions {
				if len(r.Data) == 0 {
					continue
				}
				start := uintptr(unsafe.Pointer(unsafe.SliceData(r.Data)))
				if base >= start && base < start+uintptr(len(r.Data)) {
					off := base - start
					k := min(n, uintptr(len(r.Data))-off)
					piece = r.Data[off : off+k : off+k]
					break
				}
			}
			if piece == nil { // cannot happen: iovecs point into the regions
				panic("pagedrange: iovec outside every mapped region")
			}
			out = append(out, piece)
			base += uintptr(len(piece))
			n -= uintptr(len(piece))
		}
	}
	return out
}
