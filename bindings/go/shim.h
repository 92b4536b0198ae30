// C helpers of the Go binding (shim.c), declared for the cgo preambles.
#ifndef PAGEDRANGE_GO_SHIM_H
#define PAGEDRANGE_GO_SHIM_H

#include <stdint.h>
#include <pagedrange.h>

// Creates a callback memory whose context pointer is the cgo.Handle value
// itself, with the Go trampolines (callbacks.go) as callbacks.
pr_status prgo_memory_new(uintptr_t handle, int with_fill, pr_memory **out);

// Wraps mem into a memory reporting writes to the Go trampoline prgoDirty,
// with the cgo.Handle value as the context pointer.
pr_status prgo_memory_with_dirty(const pr_memory *mem, uintptr_t handle, pr_memory **out);

#endif
