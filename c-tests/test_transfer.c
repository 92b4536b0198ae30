/*
 * test_transfer.c - moving bytes through ranges into a C array standing in
 * for guest RAM.
 *
 * Covers pr_memory_new_callbacks, pr_memory_free, pr_range_read,
 * pr_range_write, pr_range_fill, pr_ranges_read, pr_ranges_write and
 * pr_ranges_fill: every byte against a reference computed in C, one callback
 * per contiguous run, the write fallback when `fill` is NULL, a callback
 * failing in the middle of a multi-run transfer (status, t.done,
 * t.fault_gpa, t.fault_code), len larger than the range (nothing called) and
 * t == NULL.
 */
#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define PAGES 64

static guest_ram g;
static uint8_t ref[PAGES * 4096]; /* what guest RAM should contain */

/* The coalescing example: GPNs {7,8,9,20,21,5}, offset 100, 5 pages long;
 * runs [7*4096+100, 10*4096), [20*4096, 22*4096), [5*4096, 5*4096+100). */
static const uint64_t GPNS[6] = {7, 8, 9, 20, 21, 5};
#define OFF 100
#define LEN (5 * PS)
#define RUN0 (7 * 4096 + 100)
#define RUN0_LEN (3 * PS - 100)
#define RUN1 (20 * 4096)
#define RUN1_LEN (2 * PS)
#define RUN2 (5 * 4096)
#define RUN2_LEN ((size_t)100)

static void model_write(const uint64_t *gpns, size_t offset, const uint8_t *src, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        ref[tu_gpa_of(gpns, offset, i)] = src[i];
}

static void model_fill(const uint64_t *gpns, size_t offset, uint8_t v, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        ref[tu_gpa_of(gpns, offset, i)] = v;
}

/* Guest RAM and the reference agree byte for byte. */
#define CHECK_RAM() CHECK_MEM(g.bytes, ref, sizeof ref)

/* Sets guest RAM and the reference to the same random-looking contents. */
static void scramble(unsigned seed)
{
    tu_fill_pattern(g.bytes, g.size, seed);
    memcpy(ref, g.bytes, sizeof ref);
}

static pr_transfer garbage_transfer(void)
{
    pr_transfer t;
    memset(&t, 0xA5, sizeof t);
    return t;
}

static void test_range_write_read(pr_memory *mem)
{
    pr_range *r = tu_range(GPNS, 6, OFF, LEN);
    static uint8_t src[5 * 4096], dst[5 * 4096];
    pr_transfer t = garbage_transfer();

    scramble(1);
    tu_fill_pattern(src, sizeof src, 2);

    /* whole window: 3 write calls, one per run */
    gr_reset_log(&g);
    CHECK_ST(pr_range_write(r, mem, src, LEN, &t), PR_OK);
    CHECK_EQ(t.done, LEN);
    CHECK_EQ(t.fault_gpa, 0);
    CHECK_EQ(t.fault_code, 0);
    {
        const uint64_t calls[6] = {RUN0, RUN0_LEN, RUN1, RUN1_LEN, RUN2, RUN2_LEN};
        CHECK_LOG(&g, GR_WRITE, calls, 3);
    }
    model_write(GPNS, OFF, src, LEN);
    CHECK_RAM();

    /* read it all back: 3 read calls */
    gr_reset_log(&g);
    memset(dst, 0, sizeof dst);
    t = garbage_transfer();
    CHECK_ST(pr_range_read(r, mem, dst, LEN, &t), PR_OK);
    CHECK_EQ(t.done, LEN);
    CHECK_EQ(t.fault_gpa, 0);
    CHECK_EQ(t.fault_code, 0);
    CHECK_MEM(dst, src, LEN);
    {
        const uint64_t calls[6] = {RUN0, RUN0_LEN, RUN1, RUN1_LEN, RUN2, RUN2_LEN};
        CHECK_LOG(&g, GR_READ, calls, 3);
    }
    CHECK_RAM();

    /* a prefix: read/write act on the first len bytes only */
    gr_reset_log(&g);
    memset(dst, 0, sizeof dst);
    CHECK_ST(pr_range_read(r, mem, dst, 5000, &t), PR_OK);
    CHECK_EQ(t.done, 5000);
    CHECK_MEM(dst, src, 5000);
    CHECK_EQ(dst[5000], 0);
    {
        const uint64_t calls[2] = {RUN0, 5000};
        CHECK_LOG(&g, GR_READ, calls, 1);
    }
    gr_reset_log(&g);
    tu_fill_pattern(src, sizeof src, 3);
    CHECK_ST(pr_range_write(r, mem, src, RUN0_LEN + 1, &t), PR_OK);
    CHECK_EQ(t.done, RUN0_LEN + 1);
    {
        const uint64_t calls[4] = {RUN0, RUN0_LEN, RUN1, 1};
        CHECK_LOG(&g, GR_WRITE, calls, 2);
    }
    model_write(GPNS, OFF, src, RUN0_LEN + 1);
    CHECK_RAM();

    /* len 0: OK, nothing called, NULL buffers allowed */
    gr_reset_log(&g);
    t = garbage_transfer();
    CHECK_ST(pr_range_read(r, mem, NULL, 0, &t), PR_OK);
    CHECK_EQ(t.done, 0);
    CHECK_EQ(t.fault_gpa, 0);
    CHECK_EQ(t.fault_code, 0);
    CHECK_ST(pr_range_write(r, mem, NULL, 0, &t), PR_OK);
    CHECK_EQ(t.done, 0);
    CHECK_ST(pr_range_fill(r, mem, 0x11, 0, &t), PR_OK);
    CHECK_EQ(t.done, 0);
    CHECK_EQ(g.nlog, 0);

    /* t == NULL is accepted */
    gr_reset_log(&g);
    tu_fill_pattern(src, sizeof src, 4);
    CHECK_ST(pr_range_write(r, mem, src, LEN, NULL), PR_OK);
    model_write(GPNS, OFF, src, LEN);
    CHECK_RAM();
    memset(dst, 0, sizeof dst);
    CHECK_ST(pr_range_read(r, mem, dst, LEN, NULL), PR_OK);
    CHECK_MEM(dst, src, LEN);
    CHECK_ST(pr_range_fill(r, mem, 0x5A, 10, NULL), PR_OK);
    model_fill(GPNS, OFF, 0x5A, 10);
    CHECK_RAM();
    CHECK_EQ(g.nlog, 7);

    /* a window starting further into the list reads the right bytes */
    {
        pr_range *s = NULL;
        CHECK_ST(pr_range_subrange(r, RUN0_LEN - 3, 7, &s), PR_OK);
        gr_reset_log(&g);
        memset(dst, 0, sizeof dst);
        CHECK_ST(pr_range_read(s, mem, dst, 7, &t), PR_OK);
        CHECK_EQ(t.done, 7);
        CHECK_MEM(dst, src + RUN0_LEN - 3, 7);
        {
            const uint64_t calls[4] = {10 * 4096 - 3, 3, RUN1, 4};
            CHECK_LOG(&g, GR_READ, calls, 2);
        }
        pr_range_free(s);
    }
    pr_range_free(r);
}

static void test_range_fill(pr_memory *mem_fill, pr_memory *mem_nofill)
{
    pr_range *r = tu_range(GPNS, 6, OFF, LEN);
    pr_transfer t = garbage_transfer();

    scramble(5);

    /* with a fill callback: one fill call per run */
    gr_reset_log(&g);
    CHECK_ST(pr_range_fill(r, mem_fill, 0xAB, RUN0_LEN + 812, &t), PR_OK);
    CHECK_EQ(t.done, RUN0_LEN + 812);
    CHECK_EQ(t.fault_gpa, 0);
    CHECK_EQ(t.fault_code, 0);
    {
        const uint64_t calls[4] = {RUN0, RUN0_LEN, RUN1, 812};
        CHECK_LOG(&g, GR_FILL, calls, 2);
    }
    CHECK_EQ(g.writes, 0);
    model_fill(GPNS, OFF, 0xAB, RUN0_LEN + 812);
    CHECK_RAM();

    /* fill == NULL: the library writes the value with `write`, in pieces
     * of at most 4 KiB per call, never crossing a run */
    gr_reset_log(&g);
    t = garbage_transfer();
    CHECK_ST(pr_range_fill(r, mem_nofill, 0xCD, LEN, &t), PR_OK);
    CHECK_EQ(t.done, LEN);
    CHECK_EQ(g.fills, 0);
    {
        const uint64_t calls[12] = {RUN0,        4096, RUN0 + 4096, 4096, RUN0 + 8192,
                                    RUN0_LEN - 8192, RUN1, 4096, RUN1 + 4096, 4096,
                                    RUN2,        RUN2_LEN};
        CHECK_LOG(&g, GR_WRITE, calls, 6);
    }
    model_fill(GPNS, OFF, 0xCD, LEN);
    CHECK_RAM();

    /* a one-page window through the fallback: one write */
    {
        const uint64_t one[1] = {33};
        pr_range *p = tu_range(one, 1, 0, PS);
        gr_reset_log(&g);
        CHECK_ST(pr_range_fill(p, mem_nofill, 0x00, PS, &t), PR_OK);
        {
            const uint64_t calls[2] = {33 * 4096, 4096};
            CHECK_LOG(&g, GR_WRITE, calls, 1);
        }
        model_fill(one, 0, 0x00, PS);
        CHECK_RAM();
        pr_range_free(p);
    }
    pr_range_free(r);
}

/* A callback fails in the middle of a multi-run transfer. */
static void test_range_failure(pr_memory *mem_fill, pr_memory *mem_nofill)
{
    pr_range *r = tu_range(GPNS, 6, OFF, LEN);
    static uint8_t src[5 * 4096], dst[5 * 4096];
    pr_transfer t;

    scramble(6);
    tu_fill_pattern(src, sizeof src, 7);

    /* write: the second run fails (somewhere inside it) */
    gr_fail_at(&g, GR_WRITE, RUN1 + 5000, -5);
    gr_reset_log(&g);
    t = garbage_transfer();
    CHECK_ST(pr_range_write(r, mem_fill, src, LEN, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.done, RUN0_LEN);
    CHECK_EQ(t.fault_gpa, RUN1);
    CHECK_EQ(t.fault_code, -5);
    {
        /* the first run was written, the failing one attempted, the third
         * never called */
        const uint64_t calls[4] = {RUN0, RUN0_LEN, RUN1, RUN1_LEN};
        CHECK_LOG(&g, GR_WRITE, calls, 2);
    }
    model_write(GPNS, OFF, src, RUN0_LEN);
    CHECK_RAM();

    /* same with t == NULL: still PR_ERR_MEMORY */
    CHECK_ST(pr_range_write(r, mem_fill, src, LEN, NULL), PR_ERR_MEMORY);

    /* read: the third run fails; the first two runs arrived in dst */
    gr_fail_at(&g, GR_READ, RUN2 + 99, 42);
    gr_reset_log(&g);
    memset(dst, 0, sizeof dst);
    t = garbage_transfer();
    CHECK_ST(pr_range_read(r, mem_fill, dst, LEN, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.done, RUN0_LEN + RUN1_LEN);
    CHECK_EQ(t.fault_gpa, RUN2);
    CHECK_EQ(t.fault_code, 42);
    CHECK_EQ(g.reads, 3);
    {
        size_t i;
        int ok = 1;
        for (i = 0; i < RUN0_LEN + RUN1_LEN; i++)
            ok &= dst[i] == ref[tu_gpa_of(GPNS, OFF, i)];
        CHECK(ok);
    }

    /* the very first run fails: nothing done */
    gr_fail_at(&g, GR_READ, RUN0, -1);
    t = garbage_transfer();
    CHECK_ST(pr_range_read(r, mem_fill, dst, LEN, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.done, 0);
    CHECK_EQ(t.fault_gpa, RUN0);
    CHECK_EQ(t.fault_code, -1);

    /* fill callback failing on the second run */
    gr_fail_at(&g, GR_FILL, RUN1, 7);
    gr_reset_log(&g);
    t = garbage_transfer();
    CHECK_ST(pr_range_fill(r, mem_fill, 0x77, LEN, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.done, RUN0_LEN);
    CHECK_EQ(t.fault_gpa, RUN1);
    CHECK_EQ(t.fault_code, 7);
    CHECK_EQ(g.fills, 2);
    model_fill(GPNS, OFF, 0x77, RUN0_LEN);
    CHECK_RAM();

    /* fill through the write fallback, failing in the second 4 KiB piece of
     * the second run: the bytes of that run do not count as done, and the
     * fault names the run: the lead's decisions say fault_gpa is "the failing
     * run's start GPA", and the header says "the guest address of the run
     * whose callback failed" (not the address of the 4 KiB piece). */
    gr_fail_at(&g, GR_WRITE, RUN1 + 4096 + 1, 9);
    gr_reset_log(&g);
    t = garbage_transfer();
    CHECK_ST(pr_range_fill(r, mem_nofill, 0x88, LEN, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.done, RUN0_LEN);
    CHECK_EQ(t.fault_code, 9);
    CHECK_EQ(t.fault_gpa, RUN1);
    gr_no_fail(&g);
    scramble(6);

    /* a GPN outside the simulated RAM: the callback's own -14 comes back */
    {
        const uint64_t far[3] = {2, 3, 1000};
        pr_range *f = tu_range(far, 3, 0, 3 * PS);
        gr_reset_log(&g);
        t = garbage_transfer();
        CHECK_ST(pr_range_read(f, mem_fill, dst, 3 * PS, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, 2 * PS);
        CHECK_EQ(t.fault_gpa, 1000 * 4096);
        CHECK_EQ(t.fault_code, GR_EFAULT);
        pr_range_free(f);
    }
    pr_range_free(r);
}

/* len larger than the range: PR_ERR_OUT_OF_RANGE, done 0, no callback. */
static void test_range_too_long(pr_memory *mem)
{
    pr_range *r = tu_range(GPNS, 6, OFF, LEN);
    static uint8_t buf[5 * 4096 + 1];
    pr_transfer t;

    scramble(8);
    gr_reset_log(&g);

    t = garbage_transfer();
    CHECK_ST(pr_range_read(r, mem, buf, LEN + 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    CHECK_EQ(t.fault_gpa, 0);
    CHECK_EQ(t.fault_code, 0);
    t = garbage_transfer();
    CHECK_ST(pr_range_write(r, mem, buf, LEN + 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    t = garbage_transfer();
    CHECK_ST(pr_range_fill(r, mem, 0xFF, LEN + 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    CHECK_EQ(t.fault_gpa, 0);
    CHECK_EQ(t.fault_code, 0);
    /* SIZE_MAX: must be rejected before touching the (small) buffer */
    t = garbage_transfer();
    CHECK_ST(pr_range_read(r, mem, buf, SIZE_MAX, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    t = garbage_transfer();
    CHECK_ST(pr_range_write(r, mem, buf, SIZE_MAX, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    t = garbage_transfer();
    CHECK_ST(pr_range_fill(r, mem, 0, SIZE_MAX, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    CHECK_ST(pr_range_read(r, mem, buf, LEN + 1, NULL), PR_ERR_OUT_OF_RANGE);

    CHECK_EQ(g.nlog, 0);
    CHECK_RAM();

    /* the empty range: any nonzero length is too long */
    {
        pr_range *e = tu_range(NULL, 0, 0, 0);
        CHECK_ST(pr_range_read(e, mem, buf, 1, &t), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_range_read(e, mem, buf, 0, &t), PR_OK);
        CHECK_ST(pr_range_fill(e, mem, 0, 0, &t), PR_OK);
        CHECK_EQ(g.nlog, 0);
        pr_range_free(e);
    }
    pr_range_free(r);
}

/* pr_ranges transfers: members at non-aligned offsets, runs listed member by
 * member. */
static const uint64_t A_GPNS[2] = {3, 4};     /* A: 0x3010 .. 0x4810 (one run) */
static const uint64_t B_GPNS[2] = {10, 12};   /* B: 0xAF00 .. 0xB000, 0xC000 .. 0xC100 */
static const uint64_t C_GPNS[1] = {30};       /* C: 0x1E007 .. 0x1E087 */
#define A_LEN ((size_t)0x1800)
#define B_LEN ((size_t)0x200)
#define C_LEN ((size_t)0x80)
#define RS_LEN (A_LEN + B_LEN + C_LEN)

static pr_ranges *make_abc(void)
{
    pr_range *a = tu_range(A_GPNS, 2, 0x10, A_LEN);
    pr_range *b = tu_range(B_GPNS, 2, 0xF00, B_LEN);
    pr_range *c = tu_range(C_GPNS, 1, 0x7, C_LEN);
    const pr_range *list[3];
    pr_ranges *rs = NULL;
    list[0] = a;
    list[1] = b;
    list[2] = c;
    CHECK_ST(pr_ranges_new(list, 3, &rs), PR_OK);
    pr_range_free(a);
    pr_range_free(b);
    pr_range_free(c);
    if (!rs)
        abort();
    return rs;
}

/* reference for logical byte i of the A|B|C buffer */
static uint64_t abc_gpa(size_t i)
{
    if (i < A_LEN)
        return tu_gpa_of(A_GPNS, 0x10, i);
    i -= A_LEN;
    if (i < B_LEN)
        return tu_gpa_of(B_GPNS, 0xF00, i);
    i -= B_LEN;
    return tu_gpa_of(C_GPNS, 0x7, i);
}

static void test_ranges_transfers(pr_memory *mem_fill, pr_memory *mem_nofill)
{
    pr_ranges *rs = make_abc();
    static uint8_t src[RS_LEN], dst[RS_LEN + 1];
    pr_transfer t;
    size_t i;

    CHECK_EQ(pr_ranges_len(rs), RS_LEN);
    scramble(9);
    tu_fill_pattern(src, sizeof src, 10);

    /* write everything: one call per run, member by member */
    gr_reset_log(&g);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_write(rs, mem_fill, src, RS_LEN, &t), PR_OK);
    CHECK_EQ(t.done, RS_LEN);
    CHECK_EQ(t.fault_gpa, 0);
    CHECK_EQ(t.fault_code, 0);
    {
        const uint64_t calls[8] = {0x3010, 0x1800, 0xAF00, 0x100, 0xC000, 0x100, 0x1E007, 0x80};
        CHECK_LOG(&g, GR_WRITE, calls, 4);
    }
    for (i = 0; i < RS_LEN; i++)
        ref[abc_gpa(i)] = src[i];
    CHECK_RAM();

    /* read it back */
    gr_reset_log(&g);
    memset(dst, 0, sizeof dst);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_read(rs, mem_fill, dst, RS_LEN, &t), PR_OK);
    CHECK_EQ(t.done, RS_LEN);
    CHECK_MEM(dst, src, RS_LEN);
    CHECK_EQ(g.reads, 4);

    /* a prefix ending inside B's second run */
    gr_reset_log(&g);
    memset(dst, 0, sizeof dst);
    CHECK_ST(pr_ranges_read(rs, mem_fill, dst, A_LEN + 0x150, &t), PR_OK);
    CHECK_EQ(t.done, A_LEN + 0x150);
    CHECK_MEM(dst, src, A_LEN + 0x150);
    {
        const uint64_t calls[6] = {0x3010, 0x1800, 0xAF00, 0x100, 0xC000, 0x50};
        CHECK_LOG(&g, GR_READ, calls, 3);
    }

    /* fill with and without a fill callback */
    gr_reset_log(&g);
    CHECK_ST(pr_ranges_fill(rs, mem_fill, 0x3C, RS_LEN, &t), PR_OK);
    CHECK_EQ(t.done, RS_LEN);
    {
        const uint64_t calls[8] = {0x3010, 0x1800, 0xAF00, 0x100, 0xC000, 0x100, 0x1E007, 0x80};
        CHECK_LOG(&g, GR_FILL, calls, 4);
    }
    for (i = 0; i < RS_LEN; i++)
        ref[abc_gpa(i)] = 0x3C;
    CHECK_RAM();
    gr_reset_log(&g);
    CHECK_ST(pr_ranges_fill(rs, mem_nofill, 0x4D, A_LEN + 1, &t), PR_OK);
    CHECK_EQ(t.done, A_LEN + 1);
    CHECK_EQ(g.fills, 0);
    {
        const uint64_t calls[6] = {0x3010, 0x1000, 0x4010, 0x800, 0xAF00, 1};
        CHECK_LOG(&g, GR_WRITE, calls, 3);
    }
    for (i = 0; i < A_LEN + 1; i++)
        ref[abc_gpa(i)] = 0x4D;
    CHECK_RAM();

    /* failure in the middle: B's second run refuses writes */
    gr_fail_at(&g, GR_WRITE, 0xC0FF, -77);
    gr_reset_log(&g);
    t = garbage_transfer();
    tu_fill_pattern(src, sizeof src, 11);
    CHECK_ST(pr_ranges_write(rs, mem_fill, src, RS_LEN, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.done, A_LEN + 0x100);
    CHECK_EQ(t.fault_gpa, 0xC000);
    CHECK_EQ(t.fault_code, -77);
    CHECK_EQ(g.writes, 3);
    for (i = 0; i < A_LEN + 0x100; i++)
        ref[abc_gpa(i)] = src[i];
    CHECK_RAM();
    /* reads of the same place fail the same way when so configured */
    gr_fail_at(&g, GR_READ, 0x1E007, 3);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_read(rs, mem_fill, dst, RS_LEN, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.done, A_LEN + B_LEN);
    CHECK_EQ(t.fault_gpa, 0x1E007);
    CHECK_EQ(t.fault_code, 3);
    gr_fail_at(&g, GR_FILL, 0x3010, 1);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_fill(rs, mem_fill, 0, RS_LEN, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.done, 0);
    CHECK_EQ(t.fault_gpa, 0x3010);
    CHECK_EQ(t.fault_code, 1);
    CHECK_ST(pr_ranges_fill(rs, mem_fill, 0, RS_LEN, NULL), PR_ERR_MEMORY);
    gr_no_fail(&g);
    CHECK_RAM();

    /* too long: nothing called, done 0 */
    gr_reset_log(&g);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_read(rs, mem_fill, dst, RS_LEN + 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    CHECK_EQ(t.fault_gpa, 0);
    CHECK_EQ(t.fault_code, 0);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_write(rs, mem_fill, src, SIZE_MAX, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_fill(rs, mem_fill, 1, RS_LEN + 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    CHECK_ST(pr_ranges_fill(rs, mem_fill, 1, SIZE_MAX, NULL), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(g.nlog, 0);
    CHECK_RAM();

    /* len 0 and t == NULL */
    CHECK_ST(pr_ranges_read(rs, mem_fill, NULL, 0, NULL), PR_OK);
    CHECK_ST(pr_ranges_write(rs, mem_fill, NULL, 0, NULL), PR_OK);
    CHECK_ST(pr_ranges_fill(rs, mem_fill, 9, 0, NULL), PR_OK);
    CHECK_EQ(g.nlog, 0);
    CHECK_ST(pr_ranges_write(rs, mem_fill, src, RS_LEN, NULL), PR_OK);
    for (i = 0; i < RS_LEN; i++)
        ref[abc_gpa(i)] = src[i];
    CHECK_RAM();

    pr_ranges_free(rs);
}

/* The memory handle copies the ops table and keeps working with ctx. */
static void test_memory_handle(void)
{
    pr_memory_ops ops;
    pr_memory *mem = NULL;
    pr_range *r = tu_range(GPNS, 6, OFF, LEN);
    uint8_t byte = 0;

    memset(&ops, 0, sizeof ops);
    ops.read = gr_read_cb;
    ops.write = gr_write_cb;
    ops.fill = gr_fill_cb;
    CHECK_ST(pr_memory_new_callbacks(&ops, &g, &mem), PR_OK);
    CHECK(mem != NULL);
    /* clobber the caller's table: the library has its own copy */
    ops.read = NULL;
    ops.write = NULL;
    ops.fill = NULL;
    scramble(12);
    gr_reset_log(&g);
    CHECK_ST(pr_range_read(r, mem, &byte, 1, NULL), PR_OK);
    CHECK_EQ(byte, ref[RUN0]);
    CHECK_EQ(g.reads, 1);
    pr_memory_free(mem);
    pr_range_free(r);

    /* ops without read or write are refused, *out untouched */
    {
        pr_memory *m = (pr_memory *)tu_sentinel();
        memset(&ops, 0, sizeof ops);
        ops.write = gr_write_cb;
        CHECK_ST(pr_memory_new_callbacks(&ops, &g, &m), PR_ERR_NULL_ARGUMENT);
        CHECK(m == (pr_memory *)tu_sentinel());
        ops.read = gr_read_cb;
        ops.write = NULL;
        CHECK_ST(pr_memory_new_callbacks(&ops, &g, &m), PR_ERR_NULL_ARGUMENT);
        CHECK(m == (pr_memory *)tu_sentinel());
    }
}

int main(void)
{
    pr_memory *mem_fill, *mem_nofill;

    gr_init(&g, PAGES);
    mem_fill = gr_memory(&g, 1);
    mem_nofill = gr_memory(&g, 0);

    test_range_write_read(mem_fill);
    test_range_write_read(mem_nofill); /* read/write do not care about fill */
    test_range_fill(mem_fill, mem_nofill);
    test_range_failure(mem_fill, mem_nofill);
    test_range_too_long(mem_fill);
    test_ranges_transfers(mem_fill, mem_nofill);
    test_memory_handle();

    pr_memory_free(mem_fill);
    pr_memory_free(mem_nofill);
    gr_destroy(&g);
    return TEST_SUMMARY();
}
