// C side of the Go callbacks: adapts pr_memory_ops and the dirty-log
// callback to the exported Go trampolines (callbacks.go). The context
// pointer carries a cgo.Handle by value; it is never a pointer to Go memory.
#include "_cgo_export.h"
#include "shim.h"

static int shim_read(void *ctx, uint64_t gpa, void *dst, size_t len) {
    return prgoRead((uintptr_t)ctx, gpa, dst, len);
}

static int shim_write(void *ctx, uint64_t gpa, const void *src, size_t len) {
    return prgoWrite((uintptr_t)ctx, gpa, (void *)src, len);
}

static int shim_fill(void *ctx, uint64_t gpa, uint8_t value, size_t len) {
    return prgoFill((uintptr_t)ctx, gpa, value, len);
}

static void shim_dirty(void *ctx, uint64_t gpa, size_t len) {
    prgoDirty((uintptr_t)ctx, gpa, len);
}

pr_status prgo_memory_new(uintptr_t handle, int with_fill, pr_memory **out) {
    pr_memory_ops ops = {shim_read, shim_write, with_fill ? shim_fill : NULL};
    return pr_memory_new_callbacks(&ops, (void *)handle, out);
}

pr_status prgo_memory_with_dirty(const pr_memory *mem, uintptr_t handle, pr_memory **out) {
    return pr_memory_with_dirty_callback(mem, shim_dirty, (void *)handle, out);
}
