package pagedrange

// The exported trampolines the C library calls (through shim.c) for a
// memory created by NewMemory or WithDirtyFunc. ctx is the cgo.Handle value
// itself.

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// call runs one GuestMemory method, converting its error or panic to the
// nonzero code C expects (0 on success). A panic must not unwind through
// the C frames, so it is recovered here and re-raised by transferErr.
func call(ctx C.uintptr_t, f func(g *goMem) error) (code C.int) {
	g := cgo.Handle(ctx).Value().(*goMem)
	defer func() {
		if v := recover(); v != nil {
			code = g.fault(nil, &callbackPanic{value: v})
		}
	}()
	if err := f(g); err != nil {
		return g.fault(err, nil)
	}
	return 0
}

//export prgoRead
func prgoRead(ctx C.uintptr_t, gpa C.uint64_t, dst unsafe.Pointer, n C.size_t) C.int {
	return call(ctx, func(g *goMem) error {
		return g.mem.ReadAt(uint64(gpa), unsafe.Slice((*byte)(dst), int(n)))
	})
}

//export prgoWrite
func prgoWrite(ctx C.uintptr_t, gpa C.uint64_t, src unsafe.Pointer, n C.size_t) C.int {
	return call(ctx, func(g *goMem) error {
		return g.mem.WriteAt(uint64(gpa), unsafe.Slice((*byte)(src), int(n)))
	})
}

//export prgoFill
func prgoFill(ctx C.uintptr_t, gpa C.uint64_t, value C.uint8_t, n C.size_t) C.int {
	return call(ctx, func(g *goMem) error {
		return g.filler.Fill(uint64(gpa), byte(value), int(n))
	})
}

//export prgoDirty
func prgoDirty(ctx C.uintptr_t, gpa C.uint64_t, n C.size_t) {
	d := cgo.Handle(ctx).Value().(*goDirty)
	// A panic must not unwind through the C frames: keep the first one for
	// rethrowDirty.
	defer func() {
		if v := recover(); v != nil {
			d.panicked.CompareAndSwap(nil, &callbackPanic{value: v})
		}
	}()
	d.fn(uint64(gpa), int(n))
}
