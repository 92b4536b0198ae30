/*
 * pagedrange.h - scatter/gather IO buffers over guest pages (C ABI).
 *
 * GENERATED FILE, DO NOT EDIT. Generated with cbindgen from the doc
 * comments of the C library's crate (src/); edit those and run
 * scripts/gen-header.sh to regenerate. A test fails when this copy differs
 * from what the code generates.
 *
 * Conventions: every fallible function returns a pr_status (PR_OK == 0) and
 * writes its results through out-parameters only on success. Every pointer
 * argument is checked: NULL gives PR_ERR_NULL_ARGUMENT (or the documented
 * neutral value for getters). `*_free(NULL)` is a no-op. No call ever
 * unwinds into C: an internal panic becomes PR_ERR_PANIC.
 *
 * Thread model: pr_range, pr_ranges and pr_memory handles may be used by
 * several threads at once for calls taking them as `const`; calls taking a
 * non-const handle (skip, truncate, push, every cursor call) need exclusive
 * use of that handle. Memory callbacks run synchronously on the calling
 * thread, concurrently when several threads use one pr_memory.
 */

#ifndef PAGEDRANGE_H
#define PAGEDRANGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/**
 * Size of a guest page in bytes.
 */
#define PR_PAGE_SIZE 4096

/**
 * The highest guest page number whose first byte is addressable
 * (2^52 - 1). Its last byte is not usable: a window covering it is
 * PR_ERR_INVALID_GPN, since the exclusive end 2^64 does not fit in 64 bits.
 */
#define PR_MAX_GPN 4503599627370495

/**
 * The queue size is 0 or above 32768.
 */
#define PR_CHAIN_QUEUE_SIZE 1

/**
 * The head index is not below the queue size.
 */
#define PR_CHAIN_HEAD_OUT_OF_RANGE 2

/**
 * A next index is not below the size of its table.
 */
#define PR_CHAIN_NEXT_OUT_OF_RANGE 3

/**
 * The chain is longer than its table (it loops).
 */
#define PR_CHAIN_TOO_LONG 4

/**
 * An indirect descriptor while indirect tables are not accepted.
 */
#define PR_CHAIN_INDIRECT_NOT_ALLOWED 5

/**
 * An indirect descriptor inside an indirect table.
 */
#define PR_CHAIN_NESTED_INDIRECT 6

/**
 * A descriptor with both INDIRECT and NEXT.
 */
#define PR_CHAIN_INDIRECT_WITH_NEXT 7

/**
 * An indirect table whose length is 0 or not a multiple of 16.
 */
#define PR_CHAIN_INDIRECT_LENGTH 8

/**
 * A device-readable descriptor after a device-writable one.
 */
#define PR_CHAIN_READABLE_AFTER_WRITABLE 9

/**
 * A descriptor (or its table) is not in guest memory.
 */
#define PR_CHAIN_UNREADABLE 10

/**
 * A buffer's address plus length overflows 64 bits.
 */
#define PR_CHAIN_OVERFLOW 11

/**
 * The chain exceeds a limit (windows, pages or bytes).
 */
#define PR_CHAIN_LIMIT 12

/**
 * Memory for the buffers could not be allocated.
 */
#define PR_CHAIN_ALLOCATION 13

/**
 * pr_transfer.fault_code of mapped memory for an access outside its
 * regions.
 */
#define PR_FAULT_UNMAPPED -1

/**
 * pr_transfer.fault_code of a dirty-logged memory for a write to a page
 * its bitmap does not cover.
 */
#define PR_FAULT_UNTRACKED -2

/**
 * pr_transfer.fault_code of mapped memory whose access raised SIGBUS (a
 * page past the end of a truncated file), with fault recovery installed.
 */
#define PR_FAULT_SIGBUS -3

/**
 * pr_transfer.fault_code of mapped memory whose access raised SIGSEGV (an
 * unmapped or protected page), with fault recovery installed.
 */
#define PR_FAULT_SIGSEGV -4

/**
 * Major version of the library.
 */
#define PR_VERSION_MAJOR 0

/**
 * Minor version of the library.
 */
#define PR_VERSION_MINOR 1

/**
 * Patch version of the library.
 */
#define PR_VERSION_PATCH 0

/**
 * Walks virtqueue descriptor chains (opaque). Reused from chain to chain:
 * once it has walked a queue's largest chain it allocates nothing. One
 * thread at a time.
 */
typedef struct pr_chain_walker pr_chain_walker;

/**
 * Guest memory that ranges read from and write to (opaque).
 *
 * Reference counted: cursors keep the memory they use alive, so
 * pr_memory_free may be called while they live. Usable from several threads
 * at once; its callbacks then run concurrently.
 */
typedef struct pr_memory pr_memory;

/**
 * A window of bytes over a list of guest page numbers (opaque).
 *
 * The GPN list is copied at creation and shared, read-only, by every range
 * derived from it (clone, subrange, split, pr_ranges_get) and by cursors,
 * so handles can be freed in any order. Calls taking a `const pr_range *`
 * may run concurrently; pr_range_skip and pr_range_truncate need exclusive
 * use.
 */
typedef struct pr_range pr_range;

/**
 * A list of ranges read and written as one logical buffer (opaque).
 *
 * Holds its own copy of the windows and their pages: the pr_range handles
 * it was built from may be freed at once. Calls taking a
 * `const pr_ranges *` may run concurrently; skip, truncate and push need
 * exclusive use.
 */
typedef struct pr_ranges pr_ranges;

/**
 * Collects guest byte segments (a virtio descriptor chain, an NVMe PRP or
 * SGL list) into the fewest windows (opaque). One thread at a time.
 */
typedef struct pr_ranges_builder pr_ranges_builder;

/**
 * A cursor reading a range or a buffer from front to back (opaque).
 *
 * It holds its own references to the range's GPN list and to the memory,
 * so those handles may be freed first. One thread at a time.
 */
typedef struct pr_reader pr_reader;

/**
 * A cursor writing a range or a buffer from front to back (opaque).
 *
 * It holds its own references to the range's GPN list and to the memory,
 * so those handles may be freed first. One thread at a time.
 */
typedef struct pr_writer pr_writer;

/**
 * Result of every fallible call: PR_OK (0) on success, a PR_ERR_* code
 * otherwise. An integer type (not a C enum) so that every language binding
 * sees the same width and signedness; codes are never reused.
 */
typedef uint32_t pr_status;

/**
 * Limits a builder enforces, so a hostile descriptor chain is refused in
 * one place.
 */
typedef struct pr_builder_limits {
  /**
   * Most windows the result may hold.
   */
  size_t max_windows;
  /**
   * Most guest pages the result may list.
   */
  size_t max_pages;
  /**
   * Most bytes the result may describe.
   */
  uint64_t max_bytes;
} pr_builder_limits;

/**
 * Limits a chain walker enforces.
 */
typedef struct pr_chain_limits {
  /**
   * Limits of the device-readable part (windows, pages, bytes).
   */
  struct pr_builder_limits readable;
  /**
   * Limits of the device-writable part.
   */
  struct pr_builder_limits writable;
  /**
   * Most bytes the whole chain may describe, both parts together.
   */
  uint64_t max_bytes;
  /**
   * Nonzero when indirect descriptor tables are accepted
   * (VIRTIO_F_INDIRECT_DESC negotiated).
   */
  uint32_t indirect;
} pr_chain_limits;

/**
 * Why a chain was refused: written by pr_chain_walker_walk on failure.
 */
typedef struct pr_chain_error {
  /**
   * The rule broken: a PR_CHAIN_* code (pr_chain_rule_str describes it).
   */
  uint32_t rule;
  /**
   * Index of the descriptor that broke it, in its table (for
   * PR_CHAIN_QUEUE_SIZE and PR_CHAIN_HEAD_OUT_OF_RANGE: the head).
   */
  uint16_t index;
  /**
   * 1 when that table is an indirect table, else 0.
   */
  uint8_t indirect;
  /**
   * Always 0.
   */
  uint8_t reserved;
  /**
   * For PR_CHAIN_UNREADABLE: the guest address the memory refused (0,
   * with fault_code 0, when the descriptor's own address passes 2^64
   * and the memory was not asked).
   */
  uint64_t fault_gpa;
  /**
   * For PR_CHAIN_UNREADABLE: the memory's fault code.
   */
  int32_t fault_code;
} pr_chain_error;

/**
 * Outcome of a read, write or fill.
 *
 * `done` is the number of bytes transferred. On PR_ERR_MEMORY,
 * `fault_gpa` is the guest address blamed and `fault_code` says why:
 * - callback memory: the start of the run whose callback failed, and the
 *   callback's nonzero return value;
 * - mapped memory: the first address outside the regions, and
 *   PR_FAULT_UNMAPPED (-1);
 * - mapped memory whose access faulted, with pr_fault_recovery_install:
 *   the address that faulted, and PR_FAULT_SIGBUS (-3) or
 *   PR_FAULT_SIGSEGV (-4); `done` then counts the bytes before it;
 * - a dirty-logged memory: a page beyond its bitmap, and
 *   PR_FAULT_UNTRACKED (-2).
 *
 * Both are 0 otherwise.
 */
typedef struct pr_transfer {
  /**
   * Bytes transferred (a cursor advanced by exactly this many).
   */
  size_t done;
  /**
   * GPA of the failed access on PR_ERR_MEMORY, else 0.
   */
  uint64_t fault_gpa;
  /**
   * Why the access failed on PR_ERR_MEMORY (see above), else 0.
   */
  int fault_code;
} pr_transfer;

/**
 * Guest memory callbacks.
 *
 * Each callback gets the context pointer given with the table, a guest
 * physical address and a byte count (never 0), and returns 0 on success or
 * any nonzero code on failure; the code is reported back unchanged. A
 * callback transfers the whole run or fails: on failure none of its bytes
 * count as transferred. The host buffer passed to `read`/`write` is borrowed
 * for the duration of the call only. Callbacks run synchronously on the
 * thread that called the library, and concurrently when the same memory is
 * used from several threads.
 */
typedef struct pr_memory_ops {
  /**
   * Copies guest bytes into a host buffer. Required.
   */
  int (*read)(void *ctx, uint64_t gpa, void *dst, size_t len);
  /**
   * Copies a host buffer into guest memory. Required.
   */
  int (*write)(void *ctx, uint64_t gpa, const void *src, size_t len);
  /**
   * Sets guest bytes to one value. Optional: when NULL, fills are done with
   * `write` from a 4 KiB stack buffer holding the value, one call per
   * 4 KiB piece of each run.
   */
  int (*fill)(void *ctx, uint64_t gpa, uint8_t value, size_t len);
} pr_memory_ops;

/**
 * One piece of guest RAM mapped into this process: guest physical
 * addresses `gpa .. gpa + size` live at host addresses
 * `host .. host + size`.
 */
typedef struct pr_mapped_region {
  /**
   * First guest physical address of the region.
   */
  uint64_t gpa;
  /**
   * Size of the region in bytes.
   */
  uint64_t size;
  /**
   * Host address where the region's first byte is mapped.
   */
  void *host;
} pr_mapped_region;

/**
 * A guest physical address range `start .. end` (end exclusive), as
 * pr_range_address_ranges and pr_ranges_address_ranges report runs.
 */
typedef struct pr_address_range {
  /**
   * First guest physical address in the range.
   */
  uint64_t start;
  /**
   * One past the last guest physical address in the range.
   */
  uint64_t end;
} pr_address_range;

/**
 * Success.
 */
#define PR_OK 0

/**
 * A required pointer argument was NULL.
 */
#define PR_ERR_NULL_ARGUMENT 1

/**
 * An offset or length lies outside the range, or `offset + len` overflows.
 */
#define PR_ERR_OUT_OF_RANGE 2

/**
 * A guest page number cannot be addressed in 64 bits.
 */
#define PR_ERR_INVALID_GPN 3

/**
 * A guest memory access failed; see pr_transfer.fault_gpa / fault_code.
 */
#define PR_ERR_MEMORY 4

/**
 * The output array is too small; the count needed was reported.
 */
#define PR_ERR_BUFFER_TOO_SMALL 5

/**
 * An argument has an impossible value (misaligned pointer, a count whose
 * byte size overflows, a length total that overflows).
 */
#define PR_ERR_INVALID_ARGUMENT 6

/**
 * Memory for a handle could not be allocated.
 */
#define PR_ERR_ALLOCATION 7

/**
 * An internal error (a Rust panic) was caught at the boundary.
 */
#define PR_ERR_PANIC 8

/**
 * A limit set by the caller (windows, pages or bytes of a builder) was
 * exceeded.
 */
#define PR_ERR_LIMIT 9

/**
 * Encoded input (the GPA-range wire format) is malformed: truncated, or a
 * field out of its range.
 */
#define PR_ERR_MALFORMED 10

/**
 * The platform cannot do what was asked (fault recovery exists only on
 * x86-64 Linux).
 */
#define PR_ERR_UNSUPPORTED 11

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Creates a builder. `limits` may be NULL for the virtio defaults (at most
 * 1024 windows, 2^32 - 1 bytes, and the pages those can span); a limit of 0
 * allows nothing.
 *
 * On success `*out` receives a handle to free with pr_ranges_builder_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`out`), PR_ERR_PANIC.
 */
pr_status pr_ranges_builder_new(const struct pr_builder_limits *limits, struct pr_ranges_builder **out);

/**
 * Adds the `len` bytes at guest address `gpa` after the bytes added so
 * far. The segment joins the last window when they meet exactly in guest
 * memory, or when the window ends on a page boundary and the segment starts
 * on one; otherwise it starts a new window. A zero-length segment is
 * ignored (it still counts as a segment for error indexes).
 *
 * On error nothing is added, and `*error_index` (when `error_index` is not
 * NULL) receives the index of this segment among all segments pushed, so
 * a device can name the descriptor that broke a rule.
 * Errors: PR_ERR_NULL_ARGUMENT (`b`), PR_ERR_OUT_OF_RANGE (`gpa + len`
 * overflows 64 bits), PR_ERR_LIMIT (too many windows, pages or bytes),
 * PR_ERR_ALLOCATION, PR_ERR_PANIC.
 */
pr_status pr_ranges_builder_push(struct pr_ranges_builder *b, uint64_t gpa, uint64_t len, size_t *error_index);

/**
 * Creates a buffer holding the windows built so far (they share one GPN
 * list). The builder is left as it is: it may go on, or be cleared with
 * pr_ranges_builder_clear.
 *
 * On success `*out` receives a handle to free with pr_ranges_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`b` or `out`), PR_ERR_ALLOCATION,
 * PR_ERR_PANIC.
 */
pr_status pr_ranges_builder_finish(const struct pr_ranges_builder *b, struct pr_ranges **out);

/**
 * Makes `rs` hold the windows built so far (as pr_ranges_builder_finish
 * would, but into an existing buffer), replacing what it held and any
 * skip or truncate. `rs`'s memory is reused when no other handle shares
 * its windows, so a device that releases its cursors
 * (pr_reader_release, pr_writer_release) or resets them to another buffer
 * before the next request refills without allocating. Otherwise `rs`
 * gets new memory and the other handles keep the old windows.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`b` or `rs`), PR_ERR_PANIC.
 */
pr_status pr_ranges_builder_finish_into(const struct pr_ranges_builder *b, struct pr_ranges *rs);

/**
 * Removes every segment from the builder, keeping its limits, so it can be
 * reused for the next request without allocating again.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`b`), PR_ERR_PANIC.
 */
pr_status pr_ranges_builder_clear(struct pr_ranges_builder *b);

/**
 * Frees a builder. Buffers made by pr_ranges_builder_finish stay valid.
 * NULL is a no-op.
 */
void pr_ranges_builder_free(struct pr_ranges_builder *b);

/**
 * Creates a chain walker. `limits` may be NULL for the spec's bounds (at
 * most 2^32 - 1 bytes per chain, the builder's virtio limits for each
 * part, indirect tables accepted).
 *
 * On success `*out` receives a handle to free with pr_chain_walker_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`out`), PR_ERR_PANIC.
 */
pr_status pr_chain_walker_new(const struct pr_chain_limits *limits, struct pr_chain_walker **out);

/**
 * Walks the descriptor chain starting at descriptor `head` of the split
 * virtqueue descriptor table at guest address `table_gpa` (`queue_size`
 * entries of 16 bytes), following NEXT and INDIRECT as VIRTIO 1.2
 * describes them, and makes `readable` hold the chain's device-readable
 * bytes and `writable` its device-writable bytes, each as the fewest
 * windows (as pr_ranges_builder_finish_into does: their memory is reused).
 *
 * Every descriptor is read through `mem`: a descriptor outside guest
 * memory is reported, never a host access. The rules checked: the head
 * and every next index inside their table; no chain longer than its table
 * (so no loop); indirect tables only when allowed, not nested, never with
 * NEXT, of a non-zero length that is a multiple of 16; readable
 * descriptors before writable ones; no buffer past 2^64; the limits.
 *
 * On failure `readable` and `writable` are left as they were and `*err`
 * (when `err` is not NULL) names the rule (PR_CHAIN_*) and the
 * descriptor. Errors: PR_ERR_NULL_ARGUMENT (`w`, `mem`, `readable` or
 * `writable`), PR_ERR_INVALID_ARGUMENT (`readable` and `writable` are the
 * same buffer), PR_ERR_MALFORMED (a rule of the spec is broken),
 * PR_ERR_MEMORY (a descriptor is not in guest memory), PR_ERR_LIMIT,
 * PR_ERR_ALLOCATION, PR_ERR_PANIC.
 */
pr_status pr_chain_walker_walk(struct pr_chain_walker *w, const struct pr_memory *mem, uint64_t table_gpa, uint16_t queue_size, uint16_t head, struct pr_ranges *readable, struct pr_ranges *writable, struct pr_chain_error *err);

/**
 * Frees a chain walker. NULL is a no-op.
 */
void pr_chain_walker_free(struct pr_chain_walker *w);

/**
 * Describes a PR_CHAIN_* rule code: a static, NUL-terminated English
 * string for any value ("unknown rule" for values that are not codes);
 * never NULL. Thread-safe.
 */
const char *pr_chain_rule_str(uint32_t rule);

/**
 * Creates a reader over the window of `r` in `mem`, at its first byte.
 *
 * The reader keeps the range's GPN list and the memory alive: `r` and
 * `mem` may be freed before it. On success `*out` receives a handle to
 * free with pr_reader_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`r`, `mem` or `out`), PR_ERR_PANIC.
 */
pr_status pr_reader_new(const struct pr_range *r, const struct pr_memory *mem, struct pr_reader **out);

/**
 * Creates a reader over the buffer `rs` (as it is now, after any skip or
 * truncate) in `mem`, at its first byte.
 *
 * The reader keeps what it needs alive: `rs` and `mem` may be freed before
 * it. On success `*out` receives a handle to free with pr_reader_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`rs`, `mem` or `out`), PR_ERR_PANIC.
 */
pr_status pr_ranges_reader_new(const struct pr_ranges *rs, const struct pr_memory *mem, struct pr_reader **out);

/**
 * Reads the next `len` bytes into `dst` and advances past them.
 *
 * The cursor advances by exactly the bytes transferred (`t->done`), also
 * when a callback fails: it then stands at the start of the failed run, so
 * a retry resumes there. `dst` may be NULL when `len` is 0; `t` may be
 * NULL, otherwise it is always written.
 * Errors: PR_ERR_NULL_ARGUMENT (`rd`, or `dst` with `len > 0`),
 * PR_ERR_OUT_OF_RANGE (`len` exceeds pr_reader_remaining; nothing moves),
 * PR_ERR_MEMORY, PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
 */
pr_status pr_reader_read(struct pr_reader *rd, void *dst, size_t len, struct pr_transfer *t);

/**
 * Splits off a reader over the next `len` bytes and advances `rd` past
 * them, so a device can hand "the data part" of a request to a backend
 * while it keeps reading what follows (the header before, the status
 * after). The new reader keeps what it needs alive, like `rd`.
 *
 * On success `*out` receives a handle to free with pr_reader_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`rd` or `out`), PR_ERR_OUT_OF_RANGE (`len`
 * exceeds pr_reader_remaining; nothing moves), PR_ERR_ALLOCATION,
 * PR_ERR_PANIC.
 */
pr_status pr_reader_limit(struct pr_reader *rd, size_t len, struct pr_reader **out);

/**
 * Advances the reader past `len` bytes without reading them.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`rd`), PR_ERR_OUT_OF_RANGE (`len` exceeds
 * pr_reader_remaining; nothing moves), PR_ERR_PANIC.
 */
pr_status pr_reader_skip(struct pr_reader *rd, size_t len);

/**
 * Bytes left to read; 0 when `rd` is NULL.
 */
size_t pr_reader_remaining(const struct pr_reader *rd);

/**
 * Frees a reader (and its references to the GPN list and the memory).
 * NULL is a no-op.
 */
void pr_reader_free(struct pr_reader *rd);

/**
 * Creates a writer over the window of `r` in `mem`, at its first byte.
 *
 * The writer keeps the range's GPN list and the memory alive: `r` and
 * `mem` may be freed before it. On success `*out` receives a handle to
 * free with pr_writer_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`r`, `mem` or `out`), PR_ERR_PANIC.
 */
pr_status pr_writer_new(const struct pr_range *r, const struct pr_memory *mem, struct pr_writer **out);

/**
 * Creates a writer over the buffer `rs` (as it is now) in `mem`, at its
 * first byte.
 *
 * The writer keeps what it needs alive: `rs` and `mem` may be freed before
 * it. On success `*out` receives a handle to free with pr_writer_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`rs`, `mem` or `out`), PR_ERR_PANIC.
 */
pr_status pr_ranges_writer_new(const struct pr_ranges *rs, const struct pr_memory *mem, struct pr_writer **out);

/**
 * Writes `len` bytes from `src` at the cursor and advances past them.
 *
 * The cursor advances by exactly `t->done`, also on failure. `src` may be
 * NULL when `len` is 0; `t` may be NULL, otherwise it is always written.
 * Errors: PR_ERR_NULL_ARGUMENT (`w`, or `src` with `len > 0`),
 * PR_ERR_OUT_OF_RANGE (`len` exceeds pr_writer_remaining; nothing moves),
 * PR_ERR_MEMORY, PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
 */
pr_status pr_writer_write(struct pr_writer *w, const void *src, size_t len, struct pr_transfer *t);

/**
 * Sets the next `len` bytes to `value` and advances past them.
 *
 * The cursor advances by exactly `t->done`, also on failure. `t` may be
 * NULL, otherwise it is always written.
 * Errors: PR_ERR_NULL_ARGUMENT (`w`), PR_ERR_OUT_OF_RANGE (`len` exceeds
 * pr_writer_remaining; nothing moves), PR_ERR_MEMORY, PR_ERR_PANIC.
 */
pr_status pr_writer_fill(struct pr_writer *w, uint8_t value, size_t len, struct pr_transfer *t);

/**
 * Splits off a writer over the next `len` bytes and advances `w` past
 * them (see pr_reader_limit).
 *
 * On success `*out` receives a handle to free with pr_writer_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`w` or `out`), PR_ERR_OUT_OF_RANGE (`len`
 * exceeds pr_writer_remaining; nothing moves), PR_ERR_ALLOCATION,
 * PR_ERR_PANIC.
 */
pr_status pr_writer_limit(struct pr_writer *w, size_t len, struct pr_writer **out);

/**
 * Bytes left to write; 0 when `w` is NULL.
 */
size_t pr_writer_remaining(const struct pr_writer *w);

/**
 * Frees a writer (and its references to the GPN list and the memory).
 * NULL is a no-op.
 */
void pr_writer_free(struct pr_writer *w);

/**
 * Points the reader at the first byte of the window of `r` (as it is now),
 * keeping its memory: a reader is reused for the next request instead of
 * freed and created again. It then holds a reference to `r`'s GPN list
 * (and drops the one it held), as pr_reader_new does. Never allocates.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`rd` or `r`), PR_ERR_PANIC.
 */
pr_status pr_reader_reset(struct pr_reader *rd, const struct pr_range *r);

/**
 * Points the reader at the first byte of the buffer `rs` (as it is now),
 * keeping its memory (see pr_reader_reset). Never allocates.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`rd` or `rs`), PR_ERR_PANIC.
 */
pr_status pr_ranges_reader_reset(struct pr_reader *rd, const struct pr_ranges *rs);

/**
 * Drops the reader's reference to its range or buffer; the reader then
 * has nothing left to read until it is reset. Lets
 * pr_ranges_builder_finish_into reuse the buffer's memory (it copies a
 * buffer that another handle still shares). NULL is a no-op.
 */
void pr_reader_release(struct pr_reader *rd);

/**
 * Writes the host `struct iovec`s of the next `len` bytes of the reader in
 * mapped guest memory (for `pwritev` straight from guest pages) and
 * advances past the bytes they cover. Pieces adjacent in host memory are
 * merged. Outputs and errors as for pr_range_iovecs: when the array is
 * too short, `*covered < len` and the status is PR_ERR_BUFFER_TOO_SMALL
 * (the reader advanced by `*covered`); on PR_ERR_MEMORY nothing is
 * exported (`*iov_count` is 0), `*covered` is the bytes before the
 * unmapped run, and the reader does not move.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`rd`, `iov_count`, `covered`, or `iov`
 * with `iov_capacity > 0`), PR_ERR_INVALID_ARGUMENT (the reader's memory
 * is not mapped; `iov` misaligned or `iov_capacity` too large to be an
 * array), PR_ERR_OUT_OF_RANGE (`len` exceeds pr_reader_remaining;
 * nothing moves), PR_ERR_BUFFER_TOO_SMALL, PR_ERR_MEMORY,
 * PR_ERR_INVALID_GPN, PR_ERR_PANIC.
 */
pr_status pr_reader_iovecs(struct pr_reader *rd, size_t len, struct iovec *iov, size_t iov_capacity, size_t *iov_count, size_t *covered);

/**
 * Points the writer at the first byte of the window of `r` (as it is now),
 * keeping its memory (see pr_reader_reset). Never allocates.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`w` or `r`), PR_ERR_PANIC.
 */
pr_status pr_writer_reset(struct pr_writer *w, const struct pr_range *r);

/**
 * Points the writer at the first byte of the buffer `rs` (as it is now),
 * keeping its memory (see pr_reader_reset). Never allocates.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`w` or `rs`), PR_ERR_PANIC.
 */
pr_status pr_ranges_writer_reset(struct pr_writer *w, const struct pr_ranges *rs);

/**
 * Drops the writer's reference to its range or buffer (see
 * pr_reader_release). NULL is a no-op.
 */
void pr_writer_release(struct pr_writer *w);

/**
 * Advances the writer past `len` bytes without writing them.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`w`), PR_ERR_OUT_OF_RANGE (`len` exceeds
 * pr_writer_remaining; nothing moves), PR_ERR_PANIC.
 */
pr_status pr_writer_skip(struct pr_writer *w, size_t len);

/**
 * Writes the host `struct iovec`s of the next `len` bytes of the writer in
 * mapped guest memory (for `preadv` straight into guest pages) and
 * advances past the bytes they cover, with the outputs of
 * pr_reader_iovecs. Since the IO through them is invisible to the
 * library, a memory with dirty logging marks the pages they cover when
 * they are exported; an export the log cannot record fails with
 * PR_ERR_MEMORY (fault_code -2, `*iov_count` 0), marks nothing and leaves
 * the writer where it was.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`w`, `iov_count`, `covered`, or `iov` with
 * `iov_capacity > 0`), PR_ERR_INVALID_ARGUMENT (the writer's memory is not
 * mapped; `iov` misaligned or `iov_capacity` too large to be an array),
 * PR_ERR_OUT_OF_RANGE (`len` exceeds pr_writer_remaining; nothing
 * moves), PR_ERR_BUFFER_TOO_SMALL, PR_ERR_MEMORY, PR_ERR_INVALID_GPN,
 * PR_ERR_PANIC.
 */
pr_status pr_writer_iovecs(struct pr_writer *w, size_t len, struct iovec *iov, size_t iov_capacity, size_t *iov_count, size_t *covered);

/**
 * Installs the library's SIGSEGV and SIGBUS handler, so that a fault in
 * mapped guest memory (pr_memory_new_mapped) fails the transfer instead
 * of killing the process. Process-wide and idempotent; it cannot be
 * uninstalled.
 *
 * With it installed, a read, write or fill whose access to a mapped
 * region faults (the file behind the region was truncated: SIGBUS; the
 * pages were unmapped or protected: SIGSEGV) returns PR_ERR_MEMORY, with
 * pr_transfer.fault_gpa the guest address that faulted,
 * pr_transfer.fault_code PR_FAULT_SIGBUS or PR_FAULT_SIGSEGV, and
 * pr_transfer.done the bytes moved before the fault (a cursor advances by
 * exactly those). The next transfer works as usual. Without it, such a
 * fault kills the process, as it always did.
 *
 * Any other fault (outside the library's guest access routines), and
 * these signals when sent by kill or raise, go to the handler installed
 * before this call (called with or without SA_SIGINFO, as it asked), or
 * get the default action. Call this after installing handlers of your own
 * for these signals; a handler installed later must chain to this one.
 *
 * The handler is async-signal-safe (no lock, no allocation, no
 * thread-local state) and asks for SA_ONSTACK: threads with an alternate
 * signal stack (sigaltstack) run it there. Faults are synchronous: the
 * faulting thread handles its own. Only x86-64 Linux has recovery.
 *
 * Returns PR_OK, also when already installed.
 * Errors: PR_ERR_UNSUPPORTED (not x86-64 Linux, or sigaction refused),
 * PR_ERR_PANIC.
 */
pr_status pr_fault_recovery_install(void);

/**
 * Creates guest memory served by callbacks.
 *
 * `ops` is copied; `ops->read` and `ops->write` are required, `ops->fill`
 * may be NULL (fills then call `write` from a 4 KiB buffer of the value,
 * one call per 4 KiB piece). `ctx` (may be NULL) is passed as the first
 * argument of every callback and must stay valid until the memory and
 * every cursor using it are freed.
 *
 * Callbacks are called once per physically contiguous run of a transfer,
 * never with length 0, synchronously on the thread that called the
 * library, and concurrently when several threads use the memory. They
 * return 0 on success; any other value fails the run and is reported in
 * pr_transfer.fault_code. The host buffer they receive is valid for that
 * call only.
 *
 * On success `*out` receives a handle to free with pr_memory_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`ops`, `ops->read`, `ops->write` or `out`
 * is NULL), PR_ERR_PANIC.
 */
pr_status pr_memory_new_callbacks(const struct pr_memory_ops *ops, void *ctx, struct pr_memory **out);

/**
 * Creates guest memory from guest RAM mapped into this process: region
 * `i` maps guest addresses `regions[i].gpa .. gpa + size` at host address
 * `regions[i].host`. Reads and writes copy straight through host pointers,
 * with no callback.
 *
 * The array is copied and may be in any order. Every region must be
 * non-empty with a non-NULL host pointer, `gpa + size` and `host + size`
 * must not overflow, and no two regions may share a guest address. A run
 * that leaves the regions fails with PR_ERR_MEMORY and fault_code -1 at the
 * first unmapped address, before any byte of that run moves (earlier runs
 * of the transfer are done and counted in pr_transfer.done); no byte
 * outside a region is ever read or written. A run crossing into an
 * adjacent region works. With pr_fault_recovery_install, an access that
 * faults inside a region (the file behind it truncated, pages unmapped)
 * fails with fault_code PR_FAULT_SIGBUS or PR_FAULT_SIGSEGV instead of
 * killing the process.
 * The mappings must stay valid until the memory and every cursor using it
 * are freed; the guest may change them concurrently (bytes are copied,
 * never referenced).
 *
 * On success `*out` receives a handle to free with pr_memory_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`out`, or `regions` with `count > 0`),
 * PR_ERR_INVALID_ARGUMENT (a region is empty, overflows or overlaps
 * another; `regions` misaligned), PR_ERR_ALLOCATION, PR_ERR_PANIC.
 */
pr_status pr_memory_new_mapped(const struct pr_mapped_region *regions, size_t count, struct pr_memory **out);

/**
 * Wraps `mem` into a new memory that also records dirty pages in a
 * caller-owned bitmap, for live migration: bit `gpn % 64` of
 * `bitmap[gpn / 64]` stands for guest page `gpn`, for GPNs below
 * `page_count`. Bits are set with atomic OR, after each run was written:
 * a failed run is marked only for the bytes it moved before a recovered
 * fault, and runs after it are never marked. A run of a write or fill
 * touching a page at or beyond `page_count` fails with PR_ERR_MEMORY and
 * fault_code -2 before any byte of it moves (earlier runs are written and
 * marked). Reads mark
 * nothing. Exporting iovecs (pr_range_iovecs, pr_ranges_iovecs) marks the
 * pages they cover when they are exported, since the IO through them is
 * invisible to the library; an export covering a page at or beyond
 * `page_count` fails with PR_ERR_MEMORY (fault_code -2, `*iov_count` 0)
 * and marks nothing, so no page can be written without being logged.
 *
 * `mem` stays usable on its own (without logging); the new memory keeps it
 * alive. The bitmap must hold `ceil(page_count / 64)` 8-byte aligned words,
 * stay valid until the new memory and every cursor using it are freed, and
 * be read or cleared by the caller only with atomic operations meanwhile.
 *
 * On success `*out` receives a handle to free with pr_memory_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`mem`, `bitmap` or `out`),
 * PR_ERR_INVALID_ARGUMENT (`bitmap` misaligned or `page_count` too large),
 * PR_ERR_PANIC.
 */
pr_status pr_memory_with_dirty_bitmap(const struct pr_memory *mem, uint64_t *bitmap, uint64_t page_count, struct pr_memory **out);

/**
 * Wraps `mem` into a new memory that also reports writes to `dirty`:
 * after each run is written or filled successfully, `dirty(ctx, gpa, len)`
 * is called with its guest address and length (exactly the bytes written;
 * never for a failed run). Called synchronously on the writing thread,
 * concurrently when several threads write. Exported iovecs are reported
 * when exported, as for pr_memory_with_dirty_bitmap.
 *
 * `mem` stays usable on its own; the new memory keeps it alive. `ctx` must
 * stay valid until the new memory and every cursor using it are freed.
 *
 * On success `*out` receives a handle to free with pr_memory_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`mem`, `dirty` or `out`), PR_ERR_PANIC.
 */
pr_status pr_memory_with_dirty_callback(const struct pr_memory *mem, void (*dirty)(void *ctx, uint64_t gpa, size_t len), void *ctx, struct pr_memory **out);

/**
 * Reads `len` bytes at guest physical address `gpa` into `dst`, in one
 * access to `mem`: for structures a device reads by address (a virtqueue's
 * rings, say) rather than through a range. All or nothing: on failure no
 * byte counts as read (`t->done` is 0) and `t` names the fault. With mapped
 * memory, a read of 1, 2, 4 or 8 bytes at an address aligned to its size
 * is one load: a ring index the guest is updating is read whole.
 *
 * `dst` may be NULL when `len` is 0 (nothing is accessed). `t` may be
 * NULL; otherwise it is always written. Errors: PR_ERR_NULL_ARGUMENT
 * (`mem`, or `dst` with `len > 0`), PR_ERR_MEMORY (the bytes are not all
 * in guest memory, or the callback failed), PR_ERR_INVALID_ARGUMENT,
 * PR_ERR_PANIC.
 */
pr_status pr_memory_read(const struct pr_memory *mem, uint64_t gpa, void *dst, size_t len, struct pr_transfer *t);

/**
 * Writes `len` bytes from `src` at guest physical address `gpa`, in one
 * access to `mem` (dirty logs record it), all or nothing, as
 * pr_memory_read; with mapped memory, a write of 1, 2, 4 or 8 bytes at an
 * address aligned to its size is one store.
 *
 * `src` may be NULL when `len` is 0. `t` may be NULL; otherwise it is
 * always written. Errors: PR_ERR_NULL_ARGUMENT (`mem`, or `src` with
 * `len > 0`), PR_ERR_MEMORY (the bytes are not all in guest memory, a
 * dirty bitmap does not cover them, or the callback failed),
 * PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
 */
pr_status pr_memory_write(const struct pr_memory *mem, uint64_t gpa, const void *src, size_t len, struct pr_transfer *t);

/**
 * Releases a memory handle. Cursors created from it keep the memory alive
 * until they are freed too. NULL is a no-op.
 */
void pr_memory_free(struct pr_memory *mem);

/**
 * Creates a range: the window of `len` bytes starting `offset` bytes into
 * the flat byte space of the `gpn_count` pages listed in `gpns` (page `i`
 * holds bytes `i*PR_PAGE_SIZE .. (i+1)*PR_PAGE_SIZE`). Only the first and
 * last page of the window may be partial. `offset` may exceed one page;
 * the pages before it are not part of the window.
 *
 * The list is copied: the caller may free `gpns` afterwards. Every page the
 * window touches is checked to be addressable. `gpns` may be NULL when
 * `gpn_count` is 0 (with `offset == len == 0` this is the empty range).
 *
 * On success `*out` receives a handle to free with pr_range_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`out`, or `gpns` with `gpn_count > 0`),
 * PR_ERR_OUT_OF_RANGE (`offset + len` overflows or exceeds
 * `gpn_count * PR_PAGE_SIZE`), PR_ERR_INVALID_GPN (a page of the window is
 * above PR_MAX_GPN, or the window covers the last byte of PR_MAX_GPN),
 * PR_ERR_INVALID_ARGUMENT (`gpns` misaligned, or `gpn_count` too large to
 * be an array), PR_ERR_ALLOCATION, PR_ERR_PANIC.
 */
pr_status pr_range_new(const uint64_t *gpns, size_t gpn_count, size_t offset, size_t len, struct pr_range **out);

/**
 * Creates a new handle for the same window as `r` (sharing its GPN list).
 *
 * On success `*out` receives a handle to free with pr_range_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`r` or `out`), PR_ERR_PANIC.
 */
pr_status pr_range_clone(const struct pr_range *r, struct pr_range **out);

/**
 * Frees a range handle. Ranges derived from it and cursors over it stay
 * valid. NULL is a no-op.
 */
void pr_range_free(struct pr_range *r);

/**
 * Number of bytes in the window; 0 when `r` is NULL.
 */
size_t pr_range_len(const struct pr_range *r);

/**
 * Byte offset of the window's first byte within its first page (always
 * below PR_PAGE_SIZE); 0 when `r` is NULL.
 */
size_t pr_range_offset(const struct pr_range *r);

/**
 * The pages the window covers: the first holds the window's first byte,
 * the last its last byte. Stores their number in `*count` when `count` is
 * not NULL.
 *
 * The array belongs to the range's GPN list: it stays valid while any
 * handle sharing that list (this range, its clones, subranges, cursors)
 * lives. Returns NULL (and a count of 0) when `r` is NULL; may return NULL
 * for an empty window, whose count is 0.
 */
const uint64_t *pr_range_gpns(const struct pr_range *r, size_t *count);

/**
 * Creates a range for the `len` bytes starting `offset` bytes into `r`.
 *
 * On success `*out` receives a handle to free with pr_range_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`r` or `out`), PR_ERR_OUT_OF_RANGE
 * (`offset + len` overflows or exceeds the window), PR_ERR_PANIC.
 */
pr_status pr_range_subrange(const struct pr_range *r, size_t offset, size_t len, struct pr_range **out);

/**
 * Drops the first `len` bytes of the window, in place.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`r`), PR_ERR_OUT_OF_RANGE (`len` exceeds
 * the window; the range is unchanged), PR_ERR_PANIC.
 */
pr_status pr_range_skip(struct pr_range *r, size_t len);

/**
 * Shortens the window to its first `len` bytes, in place.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`r`), PR_ERR_OUT_OF_RANGE (`len` exceeds
 * the window; the range is unchanged), PR_ERR_PANIC.
 */
pr_status pr_range_truncate(struct pr_range *r, size_t len);

/**
 * Splits `r` at byte `offset` into two new ranges: `*front` gets bytes
 * `0 .. offset`, `*back` bytes `offset ..`. `r` is unchanged.
 *
 * On success both outputs receive handles to free with pr_range_free; on
 * error neither is written.
 * Errors: PR_ERR_NULL_ARGUMENT (`r`, `front` or `back`),
 * PR_ERR_OUT_OF_RANGE (`offset` exceeds the window), PR_ERR_PANIC.
 */
pr_status pr_range_split(const struct pr_range *r, size_t offset, struct pr_range **front, struct pr_range **back);

/**
 * Lists the window's runs of physically adjacent pages as guest address
 * ranges, in order (the first starts at the window's offset, the last ends
 * at its end).
 *
 * Writes up to `capacity` runs to `out` and the number of runs needed to
 * `*count`. `out` may be NULL when `capacity` is 0 (to query the count).
 * Errors: PR_ERR_NULL_ARGUMENT (`r`, `count`, or `out` with
 * `capacity > 0`), PR_ERR_BUFFER_TOO_SMALL (`capacity` is less than
 * `*count`; the first `capacity` runs were written), PR_ERR_PANIC.
 */
pr_status pr_range_address_ranges(const struct pr_range *r, struct pr_address_range *out, size_t capacity, size_t *count);

/**
 * Reads the first `len` bytes of the window into `dst` through `mem`, one
 * read callback per physically contiguous run.
 *
 * `dst` may be NULL when `len` is 0. `t` may be NULL; otherwise it is
 * always written (see pr_transfer). Errors: PR_ERR_NULL_ARGUMENT (`r`,
 * `mem`, or `dst` with `len > 0`), PR_ERR_OUT_OF_RANGE (`len` exceeds the
 * window; no callback is made), PR_ERR_MEMORY (a callback failed; earlier
 * runs were read), PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
 */
pr_status pr_range_read(const struct pr_range *r, const struct pr_memory *mem, void *dst, size_t len, struct pr_transfer *t);

/**
 * Writes `len` bytes from `src` over the first `len` bytes of the window
 * through `mem`, one write callback per physically contiguous run.
 *
 * `src` may be NULL when `len` is 0. `t` may be NULL; otherwise it is
 * always written. Errors: PR_ERR_NULL_ARGUMENT (`r`, `mem`, or `src` with
 * `len > 0`), PR_ERR_OUT_OF_RANGE (`len` exceeds the window; no callback is
 * made), PR_ERR_MEMORY (a callback failed; earlier runs were written),
 * PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
 */
pr_status pr_range_write(const struct pr_range *r, const struct pr_memory *mem, const void *src, size_t len, struct pr_transfer *t);

/**
 * Sets the first `len` bytes of the window to `value` through `mem`, one
 * fill callback per physically contiguous run (or write callbacks of up to
 * 4 KiB when the memory has no fill callback).
 *
 * `t` may be NULL; otherwise it is always written. Errors:
 * PR_ERR_NULL_ARGUMENT (`r` or `mem`), PR_ERR_OUT_OF_RANGE (`len` exceeds
 * the window; no callback is made), PR_ERR_MEMORY, PR_ERR_PANIC.
 */
pr_status pr_range_fill(const struct pr_range *r, const struct pr_memory *mem, uint8_t value, size_t len, struct pr_transfer *t);

/**
 * Writes the host `struct iovec`s covering the first `len` bytes of the
 * window in mapped guest memory, for `preadv`/`pwritev` straight into guest
 * pages. Pieces adjacent in host memory are merged into one entry (not only
 * pieces adjacent in guest addresses).
 *
 * Writes up to `iov_capacity` entries to `iov`, their number to
 * `*iov_count` and the bytes they cover (from the window's start) to
 * `*covered`. When the array is too short (callers are bounded by
 * IOV_MAX), the entries that fit are written, `*covered < len`, and the
 * status is PR_ERR_BUFFER_TOO_SMALL: issue that IO, skip `*covered` bytes
 * and call again. `iov` may be NULL when `iov_capacity` is 0.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`r`, `mem`, `iov_count`, `covered`, or
 * `iov` with `iov_capacity > 0`), PR_ERR_INVALID_ARGUMENT (`mem` is not a
 * mapped memory), PR_ERR_OUT_OF_RANGE (`len` exceeds the window),
 * PR_ERR_BUFFER_TOO_SMALL, PR_ERR_MEMORY (a run is not mapped: `*covered`
 * is the bytes before it and `*iov_count` is 0), PR_ERR_PANIC. Outputs are
 * written on PR_OK, PR_ERR_BUFFER_TOO_SMALL and PR_ERR_MEMORY only.
 */
pr_status pr_range_iovecs(const struct pr_range *r, const struct pr_memory *mem, size_t len, struct iovec *iov, size_t iov_capacity, size_t *iov_count, size_t *covered);

/**
 * Creates a buffer from `count` ranges, in order (byte 0 is the first byte
 * of `ranges[0]`). Each range's window and its pages are copied; the
 * caller keeps ownership of the pr_range handles. `ranges` may be NULL
 * when `count` is 0 (an empty buffer).
 *
 * On success `*out` receives a handle to free with pr_ranges_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`out`, `ranges` with `count > 0`, or a
 * NULL element), PR_ERR_INVALID_ARGUMENT (the total length overflows
 * size_t, `ranges` is misaligned, or `count` is too large to be an array),
 * PR_ERR_ALLOCATION, PR_ERR_PANIC.
 */
pr_status pr_ranges_new(const struct pr_range *const *ranges, size_t count, struct pr_ranges **out);

/**
 * Appends a copy of `r`'s window after the buffer's current end (after any
 * truncation).
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`rs` or `r`), PR_ERR_INVALID_ARGUMENT (the
 * total length would overflow size_t), PR_ERR_ALLOCATION, PR_ERR_PANIC. On
 * error the buffer describes the same bytes as before. Copies `r`'s pages:
 * O(1) amortized per page, except the first push after a skip or
 * truncate, which compacts the buffer, and a push to a buffer that
 * another handle (a cursor, a range from pr_ranges_get) shares, which
 * copies it first.
 */
pr_status pr_ranges_push(struct pr_ranges *rs, const struct pr_range *r);

/**
 * Frees a buffer handle. Ranges obtained from it and cursors over it stay
 * valid. NULL is a no-op.
 */
void pr_ranges_free(struct pr_ranges *rs);

/**
 * Number of bytes in the buffer (after skip/truncate); 0 when `rs` is NULL.
 */
size_t pr_ranges_len(const struct pr_ranges *rs);

/**
 * Number of non-empty windows the buffer is made of (after skip/truncate);
 * 0 when `rs` is NULL.
 */
size_t pr_ranges_count(const struct pr_ranges *rs);

/**
 * Creates a range for window `index` of the buffer (counting as
 * pr_ranges_count does: after skip/truncate, empty windows left out).
 *
 * On success `*out` receives a handle to free with pr_range_free.
 * Errors: PR_ERR_NULL_ARGUMENT (`rs` or `out`), PR_ERR_OUT_OF_RANGE
 * (`index >= pr_ranges_count(rs)`), PR_ERR_PANIC.
 */
pr_status pr_ranges_get(const struct pr_ranges *rs, size_t index, struct pr_range **out);

/**
 * Drops the first `len` bytes of the buffer, in place.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`rs`), PR_ERR_OUT_OF_RANGE (`len` exceeds
 * the buffer; it is unchanged), PR_ERR_PANIC.
 */
pr_status pr_ranges_skip(struct pr_ranges *rs, size_t len);

/**
 * Shortens the buffer to its first `len` bytes, in place.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`rs`), PR_ERR_OUT_OF_RANGE (`len` exceeds
 * the buffer; it is unchanged), PR_ERR_PANIC.
 */
pr_status pr_ranges_truncate(struct pr_ranges *rs, size_t len);

/**
 * Lists the guest address runs of the buffer, window by window (runs are
 * not merged across windows), with the same contract as
 * pr_range_address_ranges.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`rs`, `count`, or `out` with
 * `capacity > 0`), PR_ERR_BUFFER_TOO_SMALL (the first `capacity` runs were
 * written and `*count` says how many are needed), PR_ERR_PANIC.
 */
pr_status pr_ranges_address_ranges(const struct pr_ranges *rs, struct pr_address_range *out, size_t capacity, size_t *count);

/**
 * Reads the first `len` bytes of the buffer into `dst`, window by window,
 * one read callback per physically contiguous run (contract as
 * pr_range_read).
 *
 * `dst` may be NULL when `len` is 0. `t` may be NULL; otherwise it is
 * always written. Errors: PR_ERR_NULL_ARGUMENT (`rs`, `mem`, or `dst` with
 * `len > 0`), PR_ERR_OUT_OF_RANGE (`len` exceeds the buffer; no callback
 * is made), PR_ERR_MEMORY (a callback failed; earlier runs were read),
 * PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
 */
pr_status pr_ranges_read(const struct pr_ranges *rs, const struct pr_memory *mem, void *dst, size_t len, struct pr_transfer *t);

/**
 * Writes `len` bytes from `src` over the first `len` bytes of the buffer,
 * window by window (contract as pr_range_write).
 *
 * `src` may be NULL when `len` is 0. `t` may be NULL; otherwise it is
 * always written. Errors: PR_ERR_NULL_ARGUMENT (`rs`, `mem`, or `src` with
 * `len > 0`), PR_ERR_OUT_OF_RANGE (`len` exceeds the buffer; no callback
 * is made), PR_ERR_MEMORY (a callback failed; earlier runs were written),
 * PR_ERR_INVALID_ARGUMENT, PR_ERR_PANIC.
 */
pr_status pr_ranges_write(const struct pr_ranges *rs, const struct pr_memory *mem, const void *src, size_t len, struct pr_transfer *t);

/**
 * Sets the first `len` bytes of the buffer to `value`, window by window
 * (contract as pr_range_fill).
 *
 * `t` may be NULL; otherwise it is always written. Errors:
 * PR_ERR_NULL_ARGUMENT (`rs` or `mem`), PR_ERR_OUT_OF_RANGE (`len` exceeds
 * the buffer; no callback is made), PR_ERR_MEMORY, PR_ERR_PANIC.
 */
pr_status pr_ranges_fill(const struct pr_ranges *rs, const struct pr_memory *mem, uint8_t value, size_t len, struct pr_transfer *t);

/**
 * pr_range_iovecs for the whole buffer, window by window (pieces of
 * consecutive windows merge when they touch in host memory), with the same
 * outputs.
 *
 * Errors: PR_ERR_NULL_ARGUMENT (`rs`, `mem`, `iov_count`, `covered`, or
 * `iov` with `iov_capacity > 0`), PR_ERR_INVALID_ARGUMENT (`mem` is not a
 * mapped memory), PR_ERR_OUT_OF_RANGE (`len` exceeds the buffer),
 * PR_ERR_BUFFER_TOO_SMALL, PR_ERR_MEMORY, PR_ERR_PANIC.
 */
pr_status pr_ranges_iovecs(const struct pr_ranges *rs, const struct pr_memory *mem, size_t len, struct iovec *iov, size_t iov_capacity, size_t *iov_count, size_t *covered);

/**
 * Describes a status code.
 *
 * Returns a static, NUL-terminated English string for any value, including
 * values that are not PR_* codes ("unknown status"); never NULL. Thread-safe.
 */
const char *pr_status_str(pr_status s);

/**
 * The library version as a static string "MAJOR.MINOR.PATCH", matching the
 * PR_VERSION_* macros of the header it was built with. Never NULL.
 */
const char *pr_version(void);

/**
 * Parses `range_count` GPA ranges from `words` (the packed format of VMBus
 * packets: per range a header word `len | offset << 32`, i.e. the struct
 * `{ uint32_t len; uint32_t offset; }` on a little-endian host, followed
 * by the `ceil((offset + len) / 4096)` GPNs it touches; ranges back to
 * back) into a new buffer. Everything is validated: every offset is below
 * 4096, enough words follow each header, every page is addressable. The
 * words are copied. Empty ranges add no window.
 *
 * On success `*out` receives a handle to free with pr_ranges_free and
 * `*words_used` (when not NULL) the number of words the ranges took. On
 * PR_ERR_MALFORMED or PR_ERR_INVALID_GPN, `*error_word` (when not NULL)
 * receives the index of the word where the problem was found.
 * Errors: PR_ERR_NULL_ARGUMENT (`out`, or `words` with `word_count > 0`),
 * PR_ERR_MALFORMED (truncated list, offset >= 4096, or a nonzero offset
 * with a zero length), PR_ERR_INVALID_GPN,
 * PR_ERR_INVALID_ARGUMENT (`words` misaligned or `word_count` too large),
 * PR_ERR_ALLOCATION, PR_ERR_PANIC.
 */
pr_status pr_ranges_parse_gpa_ranges(const uint64_t *words, size_t word_count, size_t range_count, struct pr_ranges **out, size_t *words_used, size_t *error_word);

/**
 * Writes the buffer's windows (after skip/truncate) in the GPA-range
 * format to `words`.
 *
 * `*needed` always receives the number of words the encoding takes (when
 * the status is PR_OK or PR_ERR_BUFFER_TOO_SMALL). `words` may be NULL when
 * `capacity` is 0, to query the size. Nothing is written to `words` unless
 * all of it fits.
 * Errors: PR_ERR_NULL_ARGUMENT (`rs`, `needed`, or `words` with
 * `capacity > 0`), PR_ERR_BUFFER_TOO_SMALL, PR_ERR_OUT_OF_RANGE (a window
 * is longer than the 32-bit length field allows), PR_ERR_INVALID_ARGUMENT,
 * PR_ERR_PANIC.
 */
pr_status pr_ranges_write_gpa_ranges(const struct pr_ranges *rs, uint64_t *words, size_t capacity, size_t *needed);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* PAGEDRANGE_H */
