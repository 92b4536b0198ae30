/*
 * test_matrix.c - the bad-input matrix: every exported function against
 * NULL in each pointer argument, zero and SIZE_MAX lengths, offset+len
 * overflow, GPNs at 2^52-1, 2^52 and UINT64_MAX, and a callback that fails
 * or re-enters the library.
 *
 * The table below is the single source of truth: this program runs every
 * row and checks the result, and `test_matrix --markdown` prints the same
 * rows as the table in docs/bad-input-matrix.md (scripts/test.sh fails when
 * the committed document differs from that output).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "pagedrange.h"

#define PAGES 64
#define PS PR_PAGE_SIZE
#define GPN_TOP ((uint64_t)PR_MAX_GPN)      /* 2^52 - 1 */
#define GPN_PAST ((uint64_t)PR_MAX_GPN + 1) /* 2^52 */
#define NEUTRAL 0 /* rows for functions without a status "return" PR_OK */
#define WRONG 999 /* ... or this when the neutral value was not seen */

static uint8_t ram[PAGES * PS];
static uint8_t buf[4 * PS];
static uint64_t gpns[3] = {1, 2, 5};
static uint64_t words[8];
static uint64_t bitmap[1];
static struct iovec iov[4];
static pr_address_range runs[8];
static size_t n1, n2;
static int reentered;

static pr_memory *mem, *fail_mem, *reenter_mem, *mapped;
static pr_range *range, *out_range, *out_range2;
static pr_ranges *ranges, *out_ranges;
static pr_reader *reader, *out_reader;
static pr_writer *writer, *out_writer;
static pr_ranges_builder *builder, *out_builder;
static pr_memory *out_mem;
static pr_transfer t;
static pr_reader *mreader; /* over the range, in the mapped memory */
static pr_writer *mwriter;
static pr_ranges *ranges2;  /* an empty buffer, the walker's second output */
static pr_chain_walker *walker, *out_walker;
static pr_chain_error cerr;

#define TABLE 0x3000 /* a descriptor table in the guest RAM (GPN 3, outside the range) */
#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4

static int ram_span(uint64_t gpa, size_t len)
{
    return gpa <= sizeof ram && len <= sizeof ram - gpa;
}

static int cb_read(void *ctx, uint64_t gpa, void *dst, size_t len)
{
    (void)ctx;
    if (!ram_span(gpa, len))
        return -14;
    memcpy(dst, ram + gpa, len);
    return 0;
}

static int cb_write(void *ctx, uint64_t gpa, const void *src, size_t len)
{
    (void)ctx;
    if (!ram_span(gpa, len))
        return -14;
    memcpy(ram + gpa, src, len);
    return 0;
}

static int cb_fill(void *ctx, uint64_t gpa, uint8_t value, size_t len)
{
    (void)ctx;
    if (!ram_span(gpa, len))
        return -14;
    memset(ram + gpa, value, len);
    return 0;
}

static int fail_read(void *ctx, uint64_t gpa, void *dst, size_t len)
{
    (void)ctx, (void)gpa, (void)dst, (void)len;
    return -7;
}

static int fail_write(void *ctx, uint64_t gpa, const void *src, size_t len)
{
    (void)ctx, (void)gpa, (void)src, (void)len;
    return -7;
}

/* Re-entering callbacks: each calls the library (a getter, a status string
 * and a nested transfer on another memory) before doing its own work. */
static int reenter(void)
{
    uint8_t tmp[16];
    if (pr_range_len(range) == 0 || pr_status_str(PR_OK) == NULL)
        return -1;
    if (pr_range_read(range, mem, tmp, sizeof tmp, NULL) != PR_OK)
        return -2;
    reentered++;
    return 0;
}

static int re_read(void *ctx, uint64_t gpa, void *dst, size_t len)
{
    int rc = reenter();
    return rc ? rc : cb_read(ctx, gpa, dst, len);
}

static int re_write(void *ctx, uint64_t gpa, const void *src, size_t len)
{
    int rc = reenter();
    return rc ? rc : cb_write(ctx, gpa, src, len);
}

static void dirty_cb(void *ctx, uint64_t gpa, size_t len)
{
    (void)ctx, (void)gpa, (void)len;
}

static const pr_memory_ops ops = {cb_read, cb_write, cb_fill};
static const pr_memory_ops fail_ops = {fail_read, fail_write, NULL};
static const pr_memory_ops reenter_ops = {re_read, re_write, NULL};
static const pr_memory_ops half_ops = {cb_read, NULL, NULL};

/* Writes descriptor `i` of the table at TABLE (16 bytes, little endian). */
static void put_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *p = ram + TABLE + 16 * i;
    for (int k = 0; k < 8; k++)
        p[k] = (uint8_t)(addr >> (8 * k));
    for (int k = 0; k < 4; k++)
        p[8 + k] = (uint8_t)(len >> (8 * k));
    p[12] = (uint8_t)flags, p[13] = (uint8_t)(flags >> 8);
    p[14] = (uint8_t)next, p[15] = (uint8_t)(next >> 8);
}

static int setup(void)
{
    pr_mapped_region region = {0, sizeof ram, ram};
    const pr_range *members[1];
    int ok = 1;
    ok &= pr_memory_new_callbacks(&ops, NULL, &mem) == PR_OK;
    ok &= pr_memory_new_callbacks(&fail_ops, NULL, &fail_mem) == PR_OK;
    ok &= pr_memory_new_callbacks(&reenter_ops, NULL, &reenter_mem) == PR_OK;
    ok &= pr_memory_new_mapped(&region, 1, &mapped) == PR_OK;
    ok &= pr_range_new(gpns, 3, 100, 2 * PS, &range) == PR_OK;
    members[0] = range;
    ok &= pr_ranges_new(members, 1, &ranges) == PR_OK;
    ok &= pr_reader_new(range, mem, &reader) == PR_OK;
    ok &= pr_writer_new(range, mem, &writer) == PR_OK;
    ok &= pr_ranges_builder_new(NULL, &builder) == PR_OK;
    ok &= pr_reader_new(range, mapped, &mreader) == PR_OK;
    ok &= pr_writer_new(range, mapped, &mwriter) == PR_OK;
    ok &= pr_ranges_new(NULL, 0, &ranges2) == PR_OK;
    ok &= pr_chain_walker_new(NULL, &walker) == PR_OK;
    /* A valid chain: 16 readable bytes, then 512 writable ones. */
    put_desc(0, 0x6000, 16, D_NEXT, 1);
    put_desc(1, 0x7000, 512, D_WRITE, 0);
    memset(&t, 0, sizeof t);
    memset(&cerr, 0, sizeof cerr);
    reentered = 0;
    return ok;
}

static void teardown(void)
{
    pr_memory_free(mem), pr_memory_free(fail_mem), pr_memory_free(reenter_mem);
    pr_memory_free(mapped), pr_memory_free(out_mem);
    pr_range_free(range), pr_range_free(out_range), pr_range_free(out_range2);
    pr_ranges_free(ranges), pr_ranges_free(out_ranges);
    pr_reader_free(reader), pr_reader_free(out_reader);
    pr_writer_free(writer), pr_writer_free(out_writer);
    pr_ranges_builder_free(builder), pr_ranges_builder_free(out_builder);
    pr_reader_free(mreader), pr_writer_free(mwriter), pr_ranges_free(ranges2);
    pr_chain_walker_free(walker), pr_chain_walker_free(out_walker);
    mreader = NULL, mwriter = NULL, ranges2 = NULL, walker = out_walker = NULL;
    mem = fail_mem = reenter_mem = mapped = out_mem = NULL;
    range = out_range = out_range2 = NULL;
    ranges = out_ranges = NULL;
    reader = out_reader = NULL;
    writer = out_writer = NULL;
    builder = out_builder = NULL;
}

/* A range over one GPN: `len` bytes from the page's start. */
static pr_status one_gpn(uint64_t gpn, size_t len)
{
    static uint64_t list[1];
    list[0] = gpn;
    return pr_range_new(list, 1, 0, len, &out_range);
}

/* Status rows whose call must also have had a visible effect. */
static pr_status reentered_ok(pr_status s)
{
    return s == PR_OK && reentered > 0 ? PR_OK : WRONG;
}

static pr_status neutral(int ok)
{
    return ok ? NEUTRAL : WRONG;
}

static pr_status failed_run(pr_status s)
{
    return s == PR_ERR_MEMORY && t.fault_code == -7 && t.done == 0 ? s : WRONG;
}

/* Walks the chain at TABLE into `ranges` and `ranges2`. */
static pr_status walk(pr_chain_walker *w, const pr_memory *m, uint16_t queue_size, uint16_t head)
{
    memset(&cerr, 0, sizeof cerr);
    return pr_chain_walker_walk(w, m, TABLE, queue_size, head, ranges, ranges2, &cerr);
}

/* A refusal must name `rule` (and leave the outputs as they were). */
static pr_status refused(pr_status s, uint32_t rule)
{
    int unchanged = pr_ranges_len(ranges) == 2 * PS && pr_ranges_len(ranges2) == 0;
    return s != PR_OK && cerr.rule == rule && unchanged ? s : WRONG;
}

/* A walk through a memory whose callbacks fail: the fault is reported. */
static pr_status walk_fails(void)
{
    pr_status s = refused(walk(walker, fail_mem, 2, 0), PR_CHAIN_UNREADABLE);
    return cerr.fault_code == -7 && cerr.fault_gpa == TABLE && cerr.index == 0 ? s : WRONG;
}

/* A walk that must have made the parts of the valid chain. */
static pr_status walked(pr_status s)
{
    return s == PR_OK && pr_ranges_len(ranges) == 16 && pr_ranges_len(ranges2) == 512 ? s : WRONG;
}

static pr_status walk_limited(uint32_t indirect)
{
    pr_chain_limits l;
    memset(&l, 0, sizeof l);
    if (indirect) { /* everything allowed but indirect tables */
        l.readable = l.writable = (pr_builder_limits){1024, 1 << 20, UINT32_MAX};
        l.max_bytes = UINT32_MAX;
        put_desc(0, TABLE + 0x100, 32, D_INDIRECT, 0);
    }
    if (pr_chain_walker_new(&l, &out_walker) != PR_OK)
        return WRONG;
    return walk(out_walker, mapped, 2, 0);
}

/* finish_into while a reader shares the buffer: the buffer gets the new
 * windows, the reader keeps the old ones. */
static pr_status finish_into_shared(void)
{
    pr_status s;
    if (pr_ranges_reader_new(ranges, mem, &out_reader) != PR_OK ||
        pr_ranges_builder_push(builder, 0x6000, 100, NULL) != PR_OK)
        return WRONG;
    s = pr_ranges_builder_finish_into(builder, ranges);
    return pr_ranges_len(ranges) == 100 && pr_reader_remaining(out_reader) == 2 * PS ? s : WRONG;
}

/* A status that must also have left the cursor with `remaining` bytes. */
static pr_status rd_left(pr_status s, size_t remaining)
{
    return pr_reader_remaining(mreader) == remaining ? s : WRONG;
}

static pr_status wr_left(pr_status s, size_t remaining)
{
    return pr_writer_remaining(mwriter) == remaining ? s : WRONG;
}

/* An export through a writer whose dirty bitmap covers only GPNs 0 and 1
 * (the range's GPN 5 is beyond it): refused, nothing moved or marked. */
static pr_status export_untracked(void)
{
    pr_status s;
    bitmap[0] = 0;
    if (pr_memory_with_dirty_bitmap(mapped, bitmap, 2, &out_mem) != PR_OK ||
        pr_writer_new(range, out_mem, &out_writer) != PR_OK)
        return WRONG;
    n1 = n2 = 7;
    s = pr_writer_iovecs(out_writer, 2 * PS, iov, 4, &n1, &n2);
    return n1 == 0 && bitmap[0] == 0 && pr_writer_remaining(out_writer) == 2 * PS ? s : WRONG;
}

/*
 * X(function, input, expected status, what the table shows or NULL for the
 * status name, call)
 */
#define ROWS(X)                                                                                    \
    X("pr_status_str", "any value, e.g. 12345", NEUTRAL, "static \"unknown status\"",              \
      neutral(strcmp(pr_status_str(12345), "unknown status") == 0))                                \
    X("pr_version", "-", NEUTRAL, "static \"MAJOR.MINOR.PATCH\"", neutral(pr_version() != NULL))    \
    X("pr_memory_new_callbacks", "ops NULL", PR_ERR_NULL_ARGUMENT, NULL,                           \
      pr_memory_new_callbacks(NULL, NULL, &out_mem))                                               \
    X("pr_memory_new_callbacks", "ops->write NULL", PR_ERR_NULL_ARGUMENT, NULL,                    \
      pr_memory_new_callbacks(&half_ops, NULL, &out_mem))                                          \
    X("pr_memory_new_callbacks", "out NULL", PR_ERR_NULL_ARGUMENT, NULL,                           \
      pr_memory_new_callbacks(&ops, NULL, NULL))                                                   \
    X("pr_memory_new_callbacks", "ctx NULL, fill NULL", PR_OK, NULL,                               \
      pr_memory_new_callbacks(&fail_ops, NULL, &out_mem))                                          \
    X("pr_memory_new_mapped", "regions NULL, count 1", PR_ERR_NULL_ARGUMENT, NULL,                 \
      pr_memory_new_mapped(NULL, 1, &out_mem))                                                     \
    X("pr_memory_new_mapped", "regions NULL, count 0", PR_OK, NULL,                                \
      pr_memory_new_mapped(NULL, 0, &out_mem))                                                     \
    X("pr_memory_new_mapped", "out NULL", PR_ERR_NULL_ARGUMENT, NULL,                              \
      pr_memory_new_mapped(NULL, 0, NULL))                                                         \
    X("pr_memory_new_mapped", "size 0", PR_ERR_INVALID_ARGUMENT, NULL,                             \
      pr_memory_new_mapped(&(pr_mapped_region){0, 0, ram}, 1, &out_mem))                           \
    X("pr_memory_new_mapped", "host NULL", PR_ERR_INVALID_ARGUMENT, NULL,                          \
      pr_memory_new_mapped(&(pr_mapped_region){0, PS, NULL}, 1, &out_mem))                         \
    X("pr_memory_new_mapped", "gpa + size overflows", PR_ERR_INVALID_ARGUMENT, NULL,               \
      pr_memory_new_mapped(&(pr_mapped_region){UINT64_MAX - 10, PS, ram}, 1, &out_mem))            \
    X("pr_memory_new_mapped", "count SIZE_MAX", PR_ERR_INVALID_ARGUMENT, NULL,                     \
      pr_memory_new_mapped(&(pr_mapped_region){0, PS, ram}, SIZE_MAX, &out_mem))                   \
    X("pr_memory_with_dirty_bitmap", "mem NULL", PR_ERR_NULL_ARGUMENT, NULL,                       \
      pr_memory_with_dirty_bitmap(NULL, bitmap, 64, &out_mem))                                     \
    X("pr_memory_with_dirty_bitmap", "bitmap NULL", PR_ERR_NULL_ARGUMENT, NULL,                    \
      pr_memory_with_dirty_bitmap(mem, NULL, 64, &out_mem))                                        \
    X("pr_memory_with_dirty_bitmap", "out NULL", PR_ERR_NULL_ARGUMENT, NULL,                       \
      pr_memory_with_dirty_bitmap(mem, bitmap, 64, NULL))                                          \
    X("pr_memory_with_dirty_bitmap", "page_count 0", PR_OK, NULL,                                  \
      pr_memory_with_dirty_bitmap(mem, bitmap, 0, &out_mem))                                       \
    X("pr_memory_with_dirty_bitmap", "page_count UINT64_MAX", PR_ERR_INVALID_ARGUMENT, NULL,       \
      pr_memory_with_dirty_bitmap(mem, bitmap, UINT64_MAX, &out_mem))                              \
    X("pr_memory_with_dirty_callback", "mem NULL", PR_ERR_NULL_ARGUMENT, NULL,                     \
      pr_memory_with_dirty_callback(NULL, dirty_cb, NULL, &out_mem))                               \
    X("pr_memory_with_dirty_callback", "dirty NULL", PR_ERR_NULL_ARGUMENT, NULL,                   \
      pr_memory_with_dirty_callback(mem, NULL, NULL, &out_mem))                                    \
    X("pr_memory_with_dirty_callback", "out NULL", PR_ERR_NULL_ARGUMENT, NULL,                     \
      pr_memory_with_dirty_callback(mem, dirty_cb, NULL, NULL))                                    \
    X("pr_memory_free", "mem NULL", NEUTRAL, "no-op", (pr_memory_free(NULL), NEUTRAL))             \
    X("pr_range_new", "gpns NULL, gpn_count 1", PR_ERR_NULL_ARGUMENT, NULL,                        \
      pr_range_new(NULL, 1, 0, 0, &out_range))                                                     \
    X("pr_range_new", "gpns NULL, gpn_count 0, len 0", PR_OK, NULL,                                \
      pr_range_new(NULL, 0, 0, 0, &out_range))                                                     \
    X("pr_range_new", "out NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_range_new(gpns, 3, 0, 1, NULL))   \
    X("pr_range_new", "len 0", PR_OK, NULL, pr_range_new(gpns, 3, 5, 0, &out_range))               \
    X("pr_range_new", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                   \
      pr_range_new(gpns, 3, 0, SIZE_MAX, &out_range))                                              \
    X("pr_range_new", "offset + len overflows", PR_ERR_OUT_OF_RANGE, NULL,                         \
      pr_range_new(gpns, 3, SIZE_MAX, 2, &out_range))                                              \
    X("pr_range_new", "offset + len past the pages", PR_ERR_OUT_OF_RANGE, NULL,                    \
      pr_range_new(gpns, 3, 1, 3 * PS, &out_range))                                                \
    X("pr_range_new", "gpn_count SIZE_MAX", PR_ERR_INVALID_ARGUMENT, NULL,                         \
      pr_range_new(gpns, SIZE_MAX, 0, 0, &out_range))                                              \
    X("pr_range_new", "GPN 2^52-1, whole page", PR_ERR_INVALID_GPN, NULL, one_gpn(GPN_TOP, PS))    \
    X("pr_range_new", "GPN 2^52-1, all but the last byte", PR_OK, NULL,                            \
      one_gpn(GPN_TOP, PS - 1))                                                                    \
    X("pr_range_new", "GPN 2^52", PR_ERR_INVALID_GPN, NULL, one_gpn(GPN_PAST, 1))                  \
    X("pr_range_new", "GPN UINT64_MAX", PR_ERR_INVALID_GPN, NULL, one_gpn(UINT64_MAX, 1))          \
    X("pr_range_new", "GPN 2^52 outside the window", PR_OK, NULL, one_gpn(GPN_PAST, 0))            \
    X("pr_range_clone", "r NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_range_clone(NULL, &out_range))    \
    X("pr_range_clone", "out NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_range_clone(range, NULL))       \
    X("pr_range_free", "r NULL", NEUTRAL, "no-op", (pr_range_free(NULL), NEUTRAL))                 \
    X("pr_range_len", "r NULL", NEUTRAL, "0", neutral(pr_range_len(NULL) == 0))                    \
    X("pr_range_offset", "r NULL", NEUTRAL, "0", neutral(pr_range_offset(NULL) == 0))              \
    X("pr_range_gpns", "r NULL", NEUTRAL, "NULL, *count = 0",                                      \
      neutral((n1 = 7, pr_range_gpns(NULL, &n1) == NULL && n1 == 0)))                              \
    X("pr_range_gpns", "count NULL", NEUTRAL, "the GPNs", neutral(pr_range_gpns(range, NULL) != NULL)) \
    X("pr_range_subrange", "r NULL", PR_ERR_NULL_ARGUMENT, NULL,                                   \
      pr_range_subrange(NULL, 0, 0, &out_range))                                                   \
    X("pr_range_subrange", "out NULL", PR_ERR_NULL_ARGUMENT, NULL,                                 \
      pr_range_subrange(range, 0, 0, NULL))                                                        \
    X("pr_range_subrange", "len 0", PR_OK, NULL, pr_range_subrange(range, 0, 0, &out_range))       \
    X("pr_range_subrange", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                              \
      pr_range_subrange(range, 0, SIZE_MAX, &out_range))                                           \
    X("pr_range_subrange", "offset + len overflows", PR_ERR_OUT_OF_RANGE, NULL,                    \
      pr_range_subrange(range, 2, SIZE_MAX - 1, &out_range))                                       \
    X("pr_range_skip", "r NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_range_skip(NULL, 0))               \
    X("pr_range_skip", "len 0", PR_OK, NULL, pr_range_skip(range, 0))                              \
    X("pr_range_skip", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL, pr_range_skip(range, SIZE_MAX))  \
    X("pr_range_truncate", "r NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_range_truncate(NULL, 0))       \
    X("pr_range_truncate", "len 0", PR_OK, NULL, pr_range_truncate(range, 0))                      \
    X("pr_range_truncate", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                              \
      pr_range_truncate(range, SIZE_MAX))                                                          \
    X("pr_range_split", "r NULL", PR_ERR_NULL_ARGUMENT, NULL,                                      \
      pr_range_split(NULL, 0, &out_range, &out_range2))                                            \
    X("pr_range_split", "front NULL", PR_ERR_NULL_ARGUMENT, NULL,                                  \
      pr_range_split(range, 0, NULL, &out_range2))                                                 \
    X("pr_range_split", "back NULL", PR_ERR_NULL_ARGUMENT, NULL,                                   \
      pr_range_split(range, 0, &out_range, NULL))                                                  \
    X("pr_range_split", "offset 0", PR_OK, NULL, pr_range_split(range, 0, &out_range, &out_range2)) \
    X("pr_range_split", "offset SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                              \
      pr_range_split(range, SIZE_MAX, &out_range, &out_range2))                                    \
    X("pr_range_address_ranges", "r NULL", PR_ERR_NULL_ARGUMENT, NULL,                             \
      pr_range_address_ranges(NULL, runs, 8, &n1))                                                 \
    X("pr_range_address_ranges", "count NULL", PR_ERR_NULL_ARGUMENT, NULL,                         \
      pr_range_address_ranges(range, runs, 8, NULL))                                               \
    X("pr_range_address_ranges", "out NULL, capacity 8", PR_ERR_NULL_ARGUMENT, NULL,               \
      pr_range_address_ranges(range, NULL, 8, &n1))                                                \
    X("pr_range_address_ranges", "out NULL, capacity 0", PR_ERR_BUFFER_TOO_SMALL, NULL,            \
      pr_range_address_ranges(range, NULL, 0, &n1))                                                \
    X("pr_range_address_ranges", "capacity SIZE_MAX", PR_OK, NULL,                                 \
      pr_range_address_ranges(range, runs, SIZE_MAX, &n1))                                         \
    X("pr_range_read", "r NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_range_read(NULL, mem, buf, 1, &t)) \
    X("pr_range_read", "mem NULL", PR_ERR_NULL_ARGUMENT, NULL,                                     \
      pr_range_read(range, NULL, buf, 1, &t))                                                      \
    X("pr_range_read", "dst NULL, len 1", PR_ERR_NULL_ARGUMENT, NULL,                              \
      pr_range_read(range, mem, NULL, 1, &t))                                                      \
    X("pr_range_read", "dst NULL, len 0", PR_OK, NULL, pr_range_read(range, mem, NULL, 0, &t))     \
    X("pr_range_read", "t NULL", PR_OK, NULL, pr_range_read(range, mem, buf, 10, NULL))            \
    X("pr_range_read", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                  \
      pr_range_read(range, mem, buf, SIZE_MAX, &t))                                                \
    X("pr_range_read", "callback fails", PR_ERR_MEMORY, NULL,                                      \
      failed_run(pr_range_read(range, fail_mem, buf, 10, &t)))                                     \
    X("pr_range_read", "callback re-enters the library", PR_OK, NULL,                              \
      reentered_ok(pr_range_read(range, reenter_mem, buf, 2 * PS, &t)))                            \
    X("pr_range_write", "r NULL", PR_ERR_NULL_ARGUMENT, NULL,                                      \
      pr_range_write(NULL, mem, buf, 1, &t))                                                       \
    X("pr_range_write", "mem NULL", PR_ERR_NULL_ARGUMENT, NULL,                                    \
      pr_range_write(range, NULL, buf, 1, &t))                                                     \
    X("pr_range_write", "src NULL, len 1", PR_ERR_NULL_ARGUMENT, NULL,                             \
      pr_range_write(range, mem, NULL, 1, &t))                                                     \
    X("pr_range_write", "len 0", PR_OK, NULL, pr_range_write(range, mem, NULL, 0, &t))             \
    X("pr_range_write", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                 \
      pr_range_write(range, mem, buf, SIZE_MAX, &t))                                               \
    X("pr_range_write", "callback fails", PR_ERR_MEMORY, NULL,                                     \
      failed_run(pr_range_write(range, fail_mem, buf, 10, &t)))                                    \
    X("pr_range_write", "callback re-enters the library", PR_OK, NULL,                             \
      reentered_ok(pr_range_write(range, reenter_mem, buf, 2 * PS, &t)))                           \
    X("pr_range_fill", "r NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_range_fill(NULL, mem, 0, 1, &t))   \
    X("pr_range_fill", "mem NULL", PR_ERR_NULL_ARGUMENT, NULL,                                     \
      pr_range_fill(range, NULL, 0, 1, &t))                                                        \
    X("pr_range_fill", "len 0", PR_OK, NULL, pr_range_fill(range, mem, 0, 0, &t))                  \
    X("pr_range_fill", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                  \
      pr_range_fill(range, mem, 0, SIZE_MAX, &t))                                                  \
    X("pr_range_fill", "callback fails (fill NULL: write used)", PR_ERR_MEMORY, NULL,              \
      failed_run(pr_range_fill(range, fail_mem, 0, 10, &t)))                                       \
    X("pr_range_fill", "callback re-enters the library", PR_OK, NULL,                              \
      reentered_ok(pr_range_fill(range, reenter_mem, 1, 2 * PS, &t)))                              \
    X("pr_range_iovecs", "r NULL", PR_ERR_NULL_ARGUMENT, NULL,                                     \
      pr_range_iovecs(NULL, mapped, 1, iov, 4, &n1, &n2))                                          \
    X("pr_range_iovecs", "mem NULL", PR_ERR_NULL_ARGUMENT, NULL,                                   \
      pr_range_iovecs(range, NULL, 1, iov, 4, &n1, &n2))                                           \
    X("pr_range_iovecs", "iov NULL, capacity 4", PR_ERR_NULL_ARGUMENT, NULL,                       \
      pr_range_iovecs(range, mapped, 1, NULL, 4, &n1, &n2))                                        \
    X("pr_range_iovecs", "iov_count NULL", PR_ERR_NULL_ARGUMENT, NULL,                             \
      pr_range_iovecs(range, mapped, 1, iov, 4, NULL, &n2))                                        \
    X("pr_range_iovecs", "covered NULL", PR_ERR_NULL_ARGUMENT, NULL,                               \
      pr_range_iovecs(range, mapped, 1, iov, 4, &n1, NULL))                                        \
    X("pr_range_iovecs", "callback memory", PR_ERR_INVALID_ARGUMENT, NULL,                         \
      pr_range_iovecs(range, mem, 1, iov, 4, &n1, &n2))                                            \
    X("pr_range_iovecs", "len 0", PR_OK, NULL, pr_range_iovecs(range, mapped, 0, iov, 4, &n1, &n2)) \
    X("pr_range_iovecs", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                \
      pr_range_iovecs(range, mapped, SIZE_MAX, iov, 4, &n1, &n2))                                  \
    X("pr_range_iovecs", "capacity 0", PR_ERR_BUFFER_TOO_SMALL, NULL,                              \
      pr_range_iovecs(range, mapped, 1, NULL, 0, &n1, &n2))                                        \
    X("pr_ranges_new", "ranges NULL, count 1", PR_ERR_NULL_ARGUMENT, NULL,                         \
      pr_ranges_new(NULL, 1, &out_ranges))                                                         \
    X("pr_ranges_new", "ranges NULL, count 0", PR_OK, NULL, pr_ranges_new(NULL, 0, &out_ranges))   \
    X("pr_ranges_new", "an element NULL", PR_ERR_NULL_ARGUMENT, NULL,                              \
      pr_ranges_new((const pr_range *[]){NULL}, 1, &out_ranges))                                   \
    X("pr_ranges_new", "out NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_ranges_new(NULL, 0, NULL))       \
    X("pr_ranges_new", "count SIZE_MAX", PR_ERR_INVALID_ARGUMENT, NULL,                            \
      pr_ranges_new((const pr_range *[]){range}, SIZE_MAX, &out_ranges))                           \
    X("pr_ranges_push", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_ranges_push(NULL, range))        \
    X("pr_ranges_push", "r NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_ranges_push(ranges, NULL))        \
    X("pr_ranges_free", "rs NULL", NEUTRAL, "no-op", (pr_ranges_free(NULL), NEUTRAL))              \
    X("pr_ranges_len", "rs NULL", NEUTRAL, "0", neutral(pr_ranges_len(NULL) == 0))                 \
    X("pr_ranges_count", "rs NULL", NEUTRAL, "0", neutral(pr_ranges_count(NULL) == 0))             \
    X("pr_ranges_get", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_ranges_get(NULL, 0, &out_range))  \
    X("pr_ranges_get", "out NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_ranges_get(ranges, 0, NULL))     \
    X("pr_ranges_get", "index SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                \
      pr_ranges_get(ranges, SIZE_MAX, &out_range))                                                 \
    X("pr_ranges_skip", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_ranges_skip(NULL, 0))            \
    X("pr_ranges_skip", "len 0", PR_OK, NULL, pr_ranges_skip(ranges, 0))                           \
    X("pr_ranges_skip", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL, pr_ranges_skip(ranges, SIZE_MAX)) \
    X("pr_ranges_truncate", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_ranges_truncate(NULL, 0))    \
    X("pr_ranges_truncate", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                             \
      pr_ranges_truncate(ranges, SIZE_MAX))                                                        \
    X("pr_ranges_address_ranges", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL,                           \
      pr_ranges_address_ranges(NULL, runs, 8, &n1))                                                \
    X("pr_ranges_address_ranges", "count NULL", PR_ERR_NULL_ARGUMENT, NULL,                        \
      pr_ranges_address_ranges(ranges, runs, 8, NULL))                                             \
    X("pr_ranges_address_ranges", "out NULL, capacity 8", PR_ERR_NULL_ARGUMENT, NULL,              \
      pr_ranges_address_ranges(ranges, NULL, 8, &n1))                                              \
    X("pr_ranges_read", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL,                                     \
      pr_ranges_read(NULL, mem, buf, 1, &t))                                                       \
    X("pr_ranges_read", "mem NULL", PR_ERR_NULL_ARGUMENT, NULL,                                    \
      pr_ranges_read(ranges, NULL, buf, 1, &t))                                                    \
    X("pr_ranges_read", "dst NULL, len 1", PR_ERR_NULL_ARGUMENT, NULL,                             \
      pr_ranges_read(ranges, mem, NULL, 1, &t))                                                    \
    X("pr_ranges_read", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                 \
      pr_ranges_read(ranges, mem, buf, SIZE_MAX, &t))                                              \
    X("pr_ranges_read", "callback fails", PR_ERR_MEMORY, NULL,                                     \
      failed_run(pr_ranges_read(ranges, fail_mem, buf, 10, &t)))                                   \
    X("pr_ranges_read", "callback re-enters the library", PR_OK, NULL,                             \
      reentered_ok(pr_ranges_read(ranges, reenter_mem, buf, 2 * PS, &t)))                          \
    X("pr_ranges_write", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL,                                    \
      pr_ranges_write(NULL, mem, buf, 1, &t))                                                      \
    X("pr_ranges_write", "src NULL, len 1", PR_ERR_NULL_ARGUMENT, NULL,                            \
      pr_ranges_write(ranges, mem, NULL, 1, &t))                                                   \
    X("pr_ranges_write", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                \
      pr_ranges_write(ranges, mem, buf, SIZE_MAX, &t))                                             \
    X("pr_ranges_write", "callback fails", PR_ERR_MEMORY, NULL,                                    \
      failed_run(pr_ranges_write(ranges, fail_mem, buf, 10, &t)))                                  \
    X("pr_ranges_fill", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL,                                     \
      pr_ranges_fill(NULL, mem, 0, 1, &t))                                                         \
    X("pr_ranges_fill", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                 \
      pr_ranges_fill(ranges, mem, 0, SIZE_MAX, &t))                                                \
    X("pr_ranges_fill", "callback fails", PR_ERR_MEMORY, NULL,                                     \
      failed_run(pr_ranges_fill(ranges, fail_mem, 0, 10, &t)))                                     \
    X("pr_ranges_iovecs", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL,                                   \
      pr_ranges_iovecs(NULL, mapped, 1, iov, 4, &n1, &n2))                                         \
    X("pr_ranges_iovecs", "callback memory", PR_ERR_INVALID_ARGUMENT, NULL,                        \
      pr_ranges_iovecs(ranges, mem, 1, iov, 4, &n1, &n2))                                          \
    X("pr_ranges_iovecs", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                               \
      pr_ranges_iovecs(ranges, mapped, SIZE_MAX, iov, 4, &n1, &n2))                                \
    X("pr_reader_new", "r NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_reader_new(NULL, mem, &out_reader)) \
    X("pr_reader_new", "mem NULL", PR_ERR_NULL_ARGUMENT, NULL,                                     \
      pr_reader_new(range, NULL, &out_reader))                                                     \
    X("pr_reader_new", "out NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_reader_new(range, mem, NULL))    \
    X("pr_ranges_reader_new", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL,                               \
      pr_ranges_reader_new(NULL, mem, &out_reader))                                                \
    X("pr_ranges_reader_new", "mem NULL", PR_ERR_NULL_ARGUMENT, NULL,                              \
      pr_ranges_reader_new(ranges, NULL, &out_reader))                                             \
    X("pr_reader_read", "rd NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_reader_read(NULL, buf, 1, &t))   \
    X("pr_reader_read", "dst NULL, len 1", PR_ERR_NULL_ARGUMENT, NULL,                             \
      pr_reader_read(reader, NULL, 1, &t))                                                         \
    X("pr_reader_read", "len 0", PR_OK, NULL, pr_reader_read(reader, NULL, 0, &t))                 \
    X("pr_reader_read", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                 \
      pr_reader_read(reader, buf, SIZE_MAX, &t))                                                   \
    X("pr_reader_limit", "rd NULL", PR_ERR_NULL_ARGUMENT, NULL,                                    \
      pr_reader_limit(NULL, 0, &out_reader))                                                       \
    X("pr_reader_limit", "out NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_reader_limit(reader, 0, NULL)) \
    X("pr_reader_limit", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                \
      pr_reader_limit(reader, SIZE_MAX, &out_reader))                                              \
    X("pr_reader_skip", "rd NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_reader_skip(NULL, 0))            \
    X("pr_reader_skip", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                 \
      pr_reader_skip(reader, SIZE_MAX))                                                            \
    X("pr_reader_remaining", "rd NULL", NEUTRAL, "0", neutral(pr_reader_remaining(NULL) == 0))     \
    X("pr_reader_free", "rd NULL", NEUTRAL, "no-op", (pr_reader_free(NULL), NEUTRAL))              \
    X("pr_writer_new", "r NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_writer_new(NULL, mem, &out_writer)) \
    X("pr_writer_new", "mem NULL", PR_ERR_NULL_ARGUMENT, NULL,                                     \
      pr_writer_new(range, NULL, &out_writer))                                                     \
    X("pr_writer_new", "out NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_writer_new(range, mem, NULL))    \
    X("pr_ranges_writer_new", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL,                               \
      pr_ranges_writer_new(NULL, mem, &out_writer))                                                \
    X("pr_ranges_writer_new", "out NULL", PR_ERR_NULL_ARGUMENT, NULL,                              \
      pr_ranges_writer_new(ranges, mem, NULL))                                                     \
    X("pr_writer_write", "w NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_writer_write(NULL, buf, 1, &t))  \
    X("pr_writer_write", "src NULL, len 1", PR_ERR_NULL_ARGUMENT, NULL,                            \
      pr_writer_write(writer, NULL, 1, &t))                                                        \
    X("pr_writer_write", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                \
      pr_writer_write(writer, buf, SIZE_MAX, &t))                                                  \
    X("pr_writer_fill", "w NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_writer_fill(NULL, 0, 1, &t))      \
    X("pr_writer_fill", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                 \
      pr_writer_fill(writer, 0, SIZE_MAX, &t))                                                     \
    X("pr_writer_limit", "w NULL", PR_ERR_NULL_ARGUMENT, NULL,                                     \
      pr_writer_limit(NULL, 0, &out_writer))                                                       \
    X("pr_writer_limit", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                \
      pr_writer_limit(writer, SIZE_MAX, &out_writer))                                              \
    X("pr_writer_remaining", "w NULL", NEUTRAL, "0", neutral(pr_writer_remaining(NULL) == 0))      \
    X("pr_writer_free", "w NULL", NEUTRAL, "no-op", (pr_writer_free(NULL), NEUTRAL))               \
    X("pr_reader_reset", "rd NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_reader_reset(NULL, range))      \
    X("pr_reader_reset", "r NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_reader_reset(mreader, NULL))     \
    X("pr_reader_reset", "empty range", PR_OK, NULL,                                               \
      (one_gpn(GPN_PAST, 0), rd_left(pr_reader_reset(mreader, out_range), 0)))                     \
    X("pr_reader_reset", "after release", PR_OK, NULL,                                             \
      (pr_reader_release(mreader), rd_left(pr_reader_reset(mreader, range), 2 * PS)))              \
    X("pr_ranges_reader_reset", "rd NULL", PR_ERR_NULL_ARGUMENT, NULL,                             \
      pr_ranges_reader_reset(NULL, ranges))                                                        \
    X("pr_ranges_reader_reset", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL,                             \
      pr_ranges_reader_reset(mreader, NULL))                                                       \
    X("pr_ranges_reader_reset", "empty buffer", PR_OK, NULL,                                       \
      rd_left(pr_ranges_reader_reset(mreader, ranges2), 0))                                        \
    X("pr_reader_release", "rd NULL", NEUTRAL, "no-op", (pr_reader_release(NULL), NEUTRAL))        \
    X("pr_reader_release", "released twice", NEUTRAL, "remaining 0",                               \
      (pr_reader_release(mreader), pr_reader_release(mreader), rd_left(NEUTRAL, 0)))               \
    X("pr_reader_iovecs", "rd NULL", PR_ERR_NULL_ARGUMENT, NULL,                                   \
      pr_reader_iovecs(NULL, 1, iov, 4, &n1, &n2))                                                 \
    X("pr_reader_iovecs", "iov_count NULL", PR_ERR_NULL_ARGUMENT, NULL,                            \
      pr_reader_iovecs(mreader, 1, iov, 4, NULL, &n2))                                             \
    X("pr_reader_iovecs", "covered NULL", PR_ERR_NULL_ARGUMENT, NULL,                              \
      pr_reader_iovecs(mreader, 1, iov, 4, &n1, NULL))                                             \
    X("pr_reader_iovecs", "iov NULL, capacity 4", PR_ERR_NULL_ARGUMENT, NULL,                      \
      pr_reader_iovecs(mreader, 1, NULL, 4, &n1, &n2))                                             \
    X("pr_reader_iovecs", "callback memory", PR_ERR_INVALID_ARGUMENT, NULL,                        \
      pr_reader_iovecs(reader, 1, iov, 4, &n1, &n2))                                               \
    X("pr_reader_iovecs", "len 0", PR_OK, NULL,                                                    \
      rd_left(pr_reader_iovecs(mreader, 0, iov, 4, &n1, &n2), 2 * PS))                             \
    X("pr_reader_iovecs", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                               \
      rd_left(pr_reader_iovecs(mreader, SIZE_MAX, iov, 4, &n1, &n2), 2 * PS))                      \
    X("pr_reader_iovecs", "iov NULL, capacity 0", PR_ERR_BUFFER_TOO_SMALL, NULL,                   \
      rd_left(pr_reader_iovecs(mreader, 1, NULL, 0, &n1, &n2), 2 * PS))                            \
    X("pr_reader_iovecs", "capacity SIZE_MAX", PR_ERR_INVALID_ARGUMENT, NULL,                      \
      rd_left(pr_reader_iovecs(mreader, 1, iov, SIZE_MAX, &n1, &n2), 2 * PS))                      \
    X("pr_reader_iovecs", "released, len 0", PR_OK, NULL,                                          \
      (pr_reader_release(mreader), pr_reader_iovecs(mreader, 0, iov, 4, &n1, &n2)))                \
    X("pr_reader_iovecs", "released, len 1", PR_ERR_OUT_OF_RANGE, NULL,                            \
      (pr_reader_release(mreader), pr_reader_iovecs(mreader, 1, iov, 4, &n1, &n2)))                \
    X("pr_writer_reset", "w NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_writer_reset(NULL, range))       \
    X("pr_writer_reset", "r NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_writer_reset(mwriter, NULL))     \
    X("pr_writer_reset", "empty range", PR_OK, NULL,                                               \
      (one_gpn(GPN_PAST, 0), wr_left(pr_writer_reset(mwriter, out_range), 0)))                     \
    X("pr_writer_reset", "after release", PR_OK, NULL,                                             \
      (pr_writer_release(mwriter), wr_left(pr_writer_reset(mwriter, range), 2 * PS)))              \
    X("pr_ranges_writer_reset", "w NULL", PR_ERR_NULL_ARGUMENT, NULL,                              \
      pr_ranges_writer_reset(NULL, ranges))                                                        \
    X("pr_ranges_writer_reset", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL,                             \
      pr_ranges_writer_reset(mwriter, NULL))                                                       \
    X("pr_ranges_writer_reset", "empty buffer", PR_OK, NULL,                                       \
      wr_left(pr_ranges_writer_reset(mwriter, ranges2), 0))                                        \
    X("pr_writer_release", "w NULL", NEUTRAL, "no-op", (pr_writer_release(NULL), NEUTRAL))         \
    X("pr_writer_release", "released twice", NEUTRAL, "remaining 0",                               \
      (pr_writer_release(mwriter), pr_writer_release(mwriter), wr_left(NEUTRAL, 0)))               \
    X("pr_writer_skip", "w NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_writer_skip(NULL, 0))             \
    X("pr_writer_skip", "len 0", PR_OK, NULL, wr_left(pr_writer_skip(mwriter, 0), 2 * PS))         \
    X("pr_writer_skip", "len == remaining", PR_OK, NULL,                                           \
      wr_left(pr_writer_skip(mwriter, 2 * PS), 0))                                                 \
    X("pr_writer_skip", "len remaining + 1", PR_ERR_OUT_OF_RANGE, NULL,                            \
      wr_left(pr_writer_skip(mwriter, 2 * PS + 1), 2 * PS))                                        \
    X("pr_writer_skip", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                                 \
      wr_left(pr_writer_skip(mwriter, SIZE_MAX), 2 * PS))                                          \
    X("pr_writer_skip", "released, len 0", PR_OK, NULL,                                            \
      (pr_writer_release(mwriter), pr_writer_skip(mwriter, 0)))                                    \
    X("pr_writer_skip", "released, len 1", PR_ERR_OUT_OF_RANGE, NULL,                              \
      (pr_writer_release(mwriter), pr_writer_skip(mwriter, 1)))                                    \
    X("pr_writer_iovecs", "w NULL", PR_ERR_NULL_ARGUMENT, NULL,                                    \
      pr_writer_iovecs(NULL, 1, iov, 4, &n1, &n2))                                                 \
    X("pr_writer_iovecs", "iov_count NULL", PR_ERR_NULL_ARGUMENT, NULL,                            \
      pr_writer_iovecs(mwriter, 1, iov, 4, NULL, &n2))                                             \
    X("pr_writer_iovecs", "covered NULL", PR_ERR_NULL_ARGUMENT, NULL,                              \
      pr_writer_iovecs(mwriter, 1, iov, 4, &n1, NULL))                                             \
    X("pr_writer_iovecs", "iov NULL, capacity 4", PR_ERR_NULL_ARGUMENT, NULL,                      \
      pr_writer_iovecs(mwriter, 1, NULL, 4, &n1, &n2))                                             \
    X("pr_writer_iovecs", "callback memory", PR_ERR_INVALID_ARGUMENT, NULL,                        \
      pr_writer_iovecs(writer, 1, iov, 4, &n1, &n2))                                               \
    X("pr_writer_iovecs", "len 0", PR_OK, NULL,                                                    \
      wr_left(pr_writer_iovecs(mwriter, 0, iov, 4, &n1, &n2), 2 * PS))                             \
    X("pr_writer_iovecs", "len SIZE_MAX", PR_ERR_OUT_OF_RANGE, NULL,                               \
      wr_left(pr_writer_iovecs(mwriter, SIZE_MAX, iov, 4, &n1, &n2), 2 * PS))                      \
    X("pr_writer_iovecs", "iov NULL, capacity 0", PR_ERR_BUFFER_TOO_SMALL, NULL,                   \
      wr_left(pr_writer_iovecs(mwriter, 1, NULL, 0, &n1, &n2), 2 * PS))                            \
    X("pr_writer_iovecs", "capacity SIZE_MAX", PR_ERR_INVALID_ARGUMENT, NULL,                      \
      wr_left(pr_writer_iovecs(mwriter, 1, iov, SIZE_MAX, &n1, &n2), 2 * PS))                      \
    X("pr_writer_iovecs", "released, len 0", PR_OK, NULL,                                          \
      (pr_writer_release(mwriter), pr_writer_iovecs(mwriter, 0, iov, 4, &n1, &n2)))                \
    X("pr_writer_iovecs", "released, len 1", PR_ERR_OUT_OF_RANGE, NULL,                            \
      (pr_writer_release(mwriter), pr_writer_iovecs(mwriter, 1, iov, 4, &n1, &n2)))                \
    X("pr_writer_iovecs", "a page beyond the dirty bitmap", PR_ERR_MEMORY, NULL,                   \
      export_untracked())                                                                          \
    X("pr_ranges_builder_new", "limits NULL", PR_OK, NULL, pr_ranges_builder_new(NULL, &out_builder)) \
    X("pr_ranges_builder_new", "out NULL", PR_ERR_NULL_ARGUMENT, NULL,                             \
      pr_ranges_builder_new(NULL, NULL))                                                           \
    X("pr_ranges_builder_push", "b NULL", PR_ERR_NULL_ARGUMENT, NULL,                              \
      pr_ranges_builder_push(NULL, 0, 1, NULL))                                                    \
    X("pr_ranges_builder_push", "len 0", PR_OK, NULL, pr_ranges_builder_push(builder, 0, 0, NULL)) \
    X("pr_ranges_builder_push", "gpa + len overflows", PR_ERR_OUT_OF_RANGE, NULL,                  \
      pr_ranges_builder_push(builder, UINT64_MAX, 2, &n1))                                         \
    X("pr_ranges_builder_push", "len UINT64_MAX", PR_ERR_LIMIT, NULL,                              \
      pr_ranges_builder_push(builder, 0, UINT64_MAX, &n1))                                         \
    X("pr_ranges_builder_push", "last page 2^52-1, up to 2^64-1", PR_OK, NULL,                     \
      pr_ranges_builder_push(builder, GPN_TOP * PS, PS - 1, NULL))                                 \
    X("pr_ranges_builder_finish", "b NULL", PR_ERR_NULL_ARGUMENT, NULL,                            \
      pr_ranges_builder_finish(NULL, &out_ranges))                                                 \
    X("pr_ranges_builder_finish", "out NULL", PR_ERR_NULL_ARGUMENT, NULL,                          \
      pr_ranges_builder_finish(builder, NULL))                                                     \
    X("pr_ranges_builder_finish_into", "b NULL", PR_ERR_NULL_ARGUMENT, NULL,                       \
      pr_ranges_builder_finish_into(NULL, ranges))                                                 \
    X("pr_ranges_builder_finish_into", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL,                      \
      pr_ranges_builder_finish_into(builder, NULL))                                                \
    X("pr_ranges_builder_finish_into", "empty builder", PR_OK, NULL,                               \
      pr_ranges_builder_finish_into(builder, ranges) == PR_OK && pr_ranges_len(ranges) == 0        \
          ? PR_OK                                                                                  \
          : WRONG)                                                                                 \
    X("pr_ranges_builder_finish_into", "rs shared by a reader", PR_OK, NULL, finish_into_shared()) \
    X("pr_ranges_builder_clear", "b NULL", PR_ERR_NULL_ARGUMENT, NULL, pr_ranges_builder_clear(NULL)) \
    X("pr_ranges_builder_free", "b NULL", NEUTRAL, "no-op", (pr_ranges_builder_free(NULL), NEUTRAL)) \
    X("pr_chain_walker_new", "limits NULL", PR_OK, NULL, pr_chain_walker_new(NULL, &out_walker))   \
    X("pr_chain_walker_new", "out NULL", PR_ERR_NULL_ARGUMENT, NULL,                               \
      pr_chain_walker_new(NULL, NULL))                                                             \
    X("pr_chain_walker_walk", "w NULL", PR_ERR_NULL_ARGUMENT, NULL, walk(NULL, mapped, 2, 0))      \
    X("pr_chain_walker_walk", "mem NULL", PR_ERR_NULL_ARGUMENT, NULL, walk(walker, NULL, 2, 0))    \
    X("pr_chain_walker_walk", "readable NULL", PR_ERR_NULL_ARGUMENT, NULL,                         \
      pr_chain_walker_walk(walker, mapped, TABLE, 2, 0, NULL, ranges2, &cerr))                     \
    X("pr_chain_walker_walk", "writable NULL", PR_ERR_NULL_ARGUMENT, NULL,                         \
      pr_chain_walker_walk(walker, mapped, TABLE, 2, 0, ranges, NULL, &cerr))                      \
    X("pr_chain_walker_walk", "readable == writable", PR_ERR_INVALID_ARGUMENT, NULL,               \
      pr_chain_walker_walk(walker, mapped, TABLE, 2, 0, ranges2, ranges2, &cerr))                  \
    X("pr_chain_walker_walk", "err NULL", PR_OK, NULL,                                             \
      walked(pr_chain_walker_walk(walker, mapped, TABLE, 2, 0, ranges, ranges2, NULL)))            \
    X("pr_chain_walker_walk", "queue_size 0", PR_ERR_MALFORMED, NULL,                              \
      refused(walk(walker, mapped, 0, 0), PR_CHAIN_QUEUE_SIZE))                                    \
    X("pr_chain_walker_walk", "queue_size 32769", PR_ERR_MALFORMED, NULL,                          \
      refused(walk(walker, mapped, 32769, 0), PR_CHAIN_QUEUE_SIZE))                                \
    X("pr_chain_walker_walk", "queue_size 32768 (the largest)", PR_OK, NULL,                       \
      walked(walk(walker, mapped, 32768, 0)))                                                      \
    X("pr_chain_walker_walk", "head == queue_size", PR_ERR_MALFORMED, NULL,                        \
      refused(walk(walker, mapped, 2, 2), PR_CHAIN_HEAD_OUT_OF_RANGE))                             \
    X("pr_chain_walker_walk", "head UINT16_MAX", PR_ERR_MALFORMED, NULL,                           \
      refused(walk(walker, mapped, 2, UINT16_MAX), PR_CHAIN_HEAD_OUT_OF_RANGE))                    \
    X("pr_chain_walker_walk", "next UINT16_MAX", PR_ERR_MALFORMED, NULL,                           \
      (put_desc(0, 0x6000, 16, D_NEXT, UINT16_MAX),                                                \
       refused(walk(walker, mapped, 2, 0), PR_CHAIN_NEXT_OUT_OF_RANGE)))                           \
    X("pr_chain_walker_walk", "next == own index (a loop)", PR_ERR_MALFORMED, NULL,                \
      (put_desc(0, 0x6000, 16, D_NEXT, 0),                                                         \
       refused(walk(walker, mapped, 2, 0), PR_CHAIN_TOO_LONG)))                                    \
    X("pr_chain_walker_walk", "addr + len past 2^64", PR_ERR_MALFORMED, NULL,                      \
      (put_desc(1, UINT64_MAX - 4, 8, D_WRITE, 0),                                                 \
       refused(walk(walker, mapped, 2, 0), PR_CHAIN_OVERFLOW)))                                    \
    X("pr_chain_walker_walk", "len UINT32_MAX twice (max 2^32-1 in all)", PR_ERR_LIMIT, NULL,      \
      (put_desc(0, 0, UINT32_MAX, D_NEXT, 1), put_desc(1, 0, UINT32_MAX, D_WRITE, 0),              \
       refused(walk(walker, mapped, 2, 0), PR_CHAIN_LIMIT)))                                       \
    X("pr_chain_walker_walk", "indirect len 20", PR_ERR_MALFORMED, NULL,                           \
      (put_desc(0, TABLE + 0x100, 20, D_INDIRECT, 0),                                              \
       refused(walk(walker, mapped, 2, 0), PR_CHAIN_INDIRECT_LENGTH)))                             \
    X("pr_chain_walker_walk", "indirect with NEXT", PR_ERR_MALFORMED, NULL,                        \
      (put_desc(0, TABLE + 0x100, 32, D_INDIRECT | D_NEXT, 1),                                     \
       refused(walk(walker, mapped, 2, 0), PR_CHAIN_INDIRECT_WITH_NEXT)))                          \
    X("pr_chain_walker_walk", "limits.indirect 0, an indirect descriptor", PR_ERR_MALFORMED, NULL, \
      refused(walk_limited(1), PR_CHAIN_INDIRECT_NOT_ALLOWED))                                     \
    X("pr_chain_walker_walk", "limits all 0", PR_ERR_LIMIT, NULL,                                  \
      refused(walk_limited(0), PR_CHAIN_LIMIT))                                                    \
    X("pr_chain_walker_walk", "table_gpa UINT64_MAX", PR_ERR_MEMORY, NULL,                         \
      refused(pr_chain_walker_walk(walker, mapped, UINT64_MAX, 2, 0, ranges, ranges2, &cerr),      \
              PR_CHAIN_UNREADABLE))                                                                \
    X("pr_chain_walker_walk", "table_gpa + 16 * head past 2^64", PR_ERR_MEMORY, NULL,              \
      refused(pr_chain_walker_walk(walker, mapped, UINT64_MAX - 15, 2, 1, ranges, ranges2, &cerr), \
              PR_CHAIN_UNREADABLE))                                                                \
    X("pr_chain_walker_walk", "callback fails", PR_ERR_MEMORY, NULL,                               \
      walk_fails())                                                                                \
    X("pr_chain_walker_walk", "callback re-enters the library", PR_OK, NULL,                       \
      reentered_ok(walked(walk(walker, reenter_mem, 2, 0))))                                       \
    X("pr_chain_walker_free", "w NULL", NEUTRAL, "no-op", (pr_chain_walker_free(NULL), NEUTRAL))   \
    X("pr_chain_rule_str", "any non-code, e.g. 0 or 14", NEUTRAL, "static \"unknown rule\"",       \
      neutral(strcmp(pr_chain_rule_str(0), "unknown rule") == 0 &&                                 \
              strcmp(pr_chain_rule_str(14), "unknown rule") == 0))                                 \
    X("pr_ranges_parse_gpa_ranges", "words NULL, word_count 1", PR_ERR_NULL_ARGUMENT, NULL,        \
      pr_ranges_parse_gpa_ranges(NULL, 1, 1, &out_ranges, NULL, NULL))                             \
    X("pr_ranges_parse_gpa_ranges", "out NULL", PR_ERR_NULL_ARGUMENT, NULL,                        \
      pr_ranges_parse_gpa_ranges(words, 8, 0, NULL, NULL, NULL))                                   \
    X("pr_ranges_parse_gpa_ranges", "range_count SIZE_MAX", PR_ERR_MALFORMED, NULL,                \
      pr_ranges_parse_gpa_ranges(words, 8, SIZE_MAX, &out_ranges, &n1, &n2))                       \
    X("pr_ranges_parse_gpa_ranges", "word_count SIZE_MAX", PR_ERR_INVALID_ARGUMENT, NULL,          \
      pr_ranges_parse_gpa_ranges(words, SIZE_MAX, 1, &out_ranges, &n1, &n2))                       \
    X("pr_ranges_parse_gpa_ranges", "GPN 2^52", PR_ERR_INVALID_GPN, NULL,                          \
      (words[0] = 1, words[1] = GPN_PAST,                                                          \
       pr_ranges_parse_gpa_ranges(words, 2, 1, &out_ranges, &n1, &n2)))                            \
    X("pr_ranges_write_gpa_ranges", "rs NULL", PR_ERR_NULL_ARGUMENT, NULL,                         \
      pr_ranges_write_gpa_ranges(NULL, words, 8, &n1))                                             \
    X("pr_ranges_write_gpa_ranges", "needed NULL", PR_ERR_NULL_ARGUMENT, NULL,                     \
      pr_ranges_write_gpa_ranges(ranges, words, 8, NULL))                                          \
    X("pr_ranges_write_gpa_ranges", "words NULL, capacity 0", PR_ERR_BUFFER_TOO_SMALL, NULL,       \
      pr_ranges_write_gpa_ranges(ranges, NULL, 0, &n1))                                            \
    X("pr_ranges_write_gpa_ranges", "words NULL, capacity 8", PR_ERR_NULL_ARGUMENT, NULL,          \
      pr_ranges_write_gpa_ranges(ranges, NULL, 8, &n1))

struct row {
    const char *function;
    const char *input;
    pr_status expect;
    const char *shows;
    pr_status (*run)(void);
};

/* Runs row `index`: the rows expand inside one function, so no row needs
 * a name of its own. */
static pr_status run_row(size_t index)
{
    size_t i = 0;
#define AS_CASE(f, in, e, s, call)                                                                 \
    if (i++ == index)                                                                              \
        return (call);
    ROWS(AS_CASE)
#undef AS_CASE
    return WRONG;
}

static const struct row rows[] = {
#define AS_ROW(f, in, e, s, call) {f, in, e, s, NULL},
    ROWS(AS_ROW)
#undef AS_ROW
};

#define ROW_COUNT (sizeof rows / sizeof rows[0])

static const char *status_name(pr_status s)
{
    static const char *names[] = {"PR_OK", "PR_ERR_NULL_ARGUMENT", "PR_ERR_OUT_OF_RANGE",
                                  "PR_ERR_INVALID_GPN", "PR_ERR_MEMORY",
                                  "PR_ERR_BUFFER_TOO_SMALL", "PR_ERR_INVALID_ARGUMENT",
                                  "PR_ERR_ALLOCATION", "PR_ERR_PANIC", "PR_ERR_LIMIT",
                                  "PR_ERR_MALFORMED"};
    return s < sizeof names / sizeof names[0] ? names[s] : "(unexpected)";
}

static void print_markdown(void)
{
    printf("# Bad-input matrix\n\n"
           "Generated by `c-tests/test_matrix.c --markdown`, which also runs every row\n"
           "as a test (ctest `test_matrix`); scripts/test.sh fails when this file\n"
           "differs from the program's output. Fixtures: a range of 2 pages over GPNs\n"
           "{1, 2, 5} at offset 100, a buffer holding it, cursors over it, callback\n"
           "memories that succeed, fail with -7, or re-enter the library (calling\n"
           "pr_range_len, pr_status_str and a nested pr_range_read), a mapped\n"
           "memory (64 pages at GPA 0, the same bytes the callbacks use) with a\n"
           "reader and a writer over the range in it (used by the rows of\n"
           "`pr_reader_iovecs`, `pr_writer_iovecs`, `pr_writer_skip` and the reset\n"
           "and release functions, except the \"callback memory\" ones), an empty\n"
           "second buffer, and a chain walker with the default limits over a\n"
           "descriptor table at GPA 0x3000 holding a valid chain (descriptor 0: 16\n"
           "readable bytes, NEXT 1; descriptor 1: 512 writable bytes), walked into\n"
           "the buffer (readable) and the second buffer (writable); a refusal must\n"
           "name the rule and leave both as they were. Rows not listed for a\n"
           "function behave as its header comment says.\n\n"
           "| function | input | result |\n|---|---|---|\n");
    for (size_t i = 0; i < ROW_COUNT; i++) {
        const struct row *r = &rows[i];
        printf("| `%s` | %s | %s |\n", r->function, r->input,
               r->shows ? r->shows : status_name(r->expect));
    }
}

int main(int argc, char **argv)
{
    size_t failures = 0;
    if (argc > 1 && strcmp(argv[1], "--markdown") == 0) {
        print_markdown();
        return 0;
    }
    for (size_t i = 0; i < ROW_COUNT; i++) {
        pr_status got;
        if (!setup()) {
            fprintf(stderr, "fixture setup failed\n");
            return 1;
        }
        got = run_row(i);
        if (got != rows[i].expect) {
            fprintf(stderr, "FAIL %s (%s): got %u (%s), want %u (%s)\n", rows[i].function,
                    rows[i].input, (unsigned)got, status_name(got), (unsigned)rows[i].expect,
                    status_name(rows[i].expect));
            failures++;
        }
        teardown();
    }
    printf("test_matrix: %zu rows, %zu failed -> %s\n", ROW_COUNT, failures,
           failures ? "FAIL" : "OK");
    return failures ? 1 : 0;
}
