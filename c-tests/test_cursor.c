/*
 * test_cursor.c - sequential readers and writers.
 *
 * Covers pr_reader_new, pr_ranges_reader_new, pr_reader_read,
 * pr_reader_skip, pr_reader_remaining, pr_reader_free, pr_writer_new,
 * pr_ranges_writer_new, pr_writer_write, pr_writer_fill,
 * pr_writer_remaining and pr_writer_free: chunked transfers across page,
 * run and member boundaries; a failure in the middle (the cursor advances by
 * exactly t.done, and a retry after repairing the fake RAM resumes at the
 * failed run); and freeing the range/ranges/memory handles before the cursor
 * while still using the cursor.
 */
#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define PAGES 64

static guest_ram g;
static uint8_t ref[PAGES * 4096];

/* Range R: GPNs {7,8,9,20,21,5}, offset 100, 5 pages; 3 runs. */
static const uint64_t GPNS[6] = {7, 8, 9, 20, 21, 5};
#define OFF 100
#define LEN (5 * PS)
#define RUN0 (7 * 4096 + 100)
#define RUN0_LEN (3 * PS - 100)
#define RUN1 (20 * 4096)
#define RUN1_LEN (2 * PS)
#define RUN2 (5 * 4096)

/* Buffer S = A|B|C (see test_ranges.c): 4 runs over 3 members. */
static const uint64_t A_GPNS[2] = {3, 4};
static const uint64_t B_GPNS[2] = {10, 12};
static const uint64_t C_GPNS[1] = {30};
#define A_LEN ((size_t)0x1800)
#define B_LEN ((size_t)0x200)
#define C_LEN ((size_t)0x80)
#define S_LEN (A_LEN + B_LEN + C_LEN)

static uint64_t s_gpa(size_t i)
{
    if (i < A_LEN)
        return tu_gpa_of(A_GPNS, 0x10, i);
    i -= A_LEN;
    if (i < B_LEN)
        return tu_gpa_of(B_GPNS, 0xF00, i);
    i -= B_LEN;
    return tu_gpa_of(C_GPNS, 0x7, i);
}

static uint64_t r_gpa(size_t i)
{
    return tu_gpa_of(GPNS, OFF, i);
}

static pr_ranges *make_s(void)
{
    pr_range *a = tu_range(A_GPNS, 2, 0x10, A_LEN);
    pr_range *b = tu_range(B_GPNS, 2, 0xF00, B_LEN);
    pr_range *c = tu_range(C_GPNS, 1, 0x7, C_LEN);
    const pr_range *list[3];
    pr_ranges *rs = NULL;
    list[0] = a;
    list[1] = b;
    list[2] = c;
    if (pr_ranges_new(list, 3, &rs) != PR_OK || !rs)
        abort();
    pr_range_free(a);
    pr_range_free(b);
    pr_range_free(c);
    return rs;
}

static void scramble(unsigned seed)
{
    tu_fill_pattern(g.bytes, g.size, seed);
    memcpy(ref, g.bytes, sizeof ref);
}

#define CHECK_RAM() CHECK_MEM(g.bytes, ref, sizeof ref)

static pr_transfer garbage_transfer(void)
{
    pr_transfer t;
    memset(&t, 0xA5, sizeof t);
    return t;
}

/* Reads R in chunks of `chunk` bytes and compares with guest RAM. */
static void read_range_in_chunks(pr_memory *mem, size_t chunk)
{
    pr_range *r = tu_range(GPNS, 6, OFF, LEN);
    pr_reader *rd = (pr_reader *)tu_sentinel();
    static uint8_t dst[5 * 4096];
    size_t pos = 0, i;
    int ok = 1;

    CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
    CHECK(rd != NULL && rd != (pr_reader *)tu_sentinel());
    CHECK_EQ(pr_reader_remaining(rd), LEN);
    memset(dst, 0, sizeof dst);
    while (pos < LEN) {
        size_t n = LEN - pos < chunk ? LEN - pos : chunk;
        pr_transfer t = garbage_transfer();
        CHECK_ST(pr_reader_read(rd, dst + pos, n, &t), PR_OK);
        CHECK_EQ(t.done, n);
        pos += n;
        CHECK_EQ(pr_reader_remaining(rd), LEN - pos);
    }
    for (i = 0; i < LEN; i++)
        ok &= dst[i] == ref[r_gpa(i)];
    CHECK(ok);

    /* at the end: 0 bytes is fine, 1 byte is out of range */
    {
        uint8_t b = 0;
        pr_transfer t = garbage_transfer();
        CHECK_ST(pr_reader_read(rd, &b, 0, &t), PR_OK);
        CHECK_EQ(t.done, 0);
        t = garbage_transfer();
        CHECK_ST(pr_reader_read(rd, &b, 1, &t), PR_ERR_OUT_OF_RANGE);
        CHECK_EQ(t.done, 0);
        CHECK_ST(pr_reader_skip(rd, 1), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_reader_skip(rd, 0), PR_OK);
        CHECK_EQ(pr_reader_remaining(rd), 0);
    }
    pr_reader_free(rd);
    pr_range_free(r);
}

static void test_reader(pr_memory *mem)
{
    static const size_t chunks[] = {1, 7, 1000, 4096, 4097, 12188, 5 * 4096};
    size_t k;

    scramble(1);
    for (k = 0; k < sizeof chunks / sizeof chunks[0]; k++)
        read_range_in_chunks(mem, chunks[k]);

    /* a chunk crossing the run 0 / run 1 boundary: 2 calls */
    {
        pr_range *r = tu_range(GPNS, 6, OFF, LEN);
        pr_reader *rd = NULL;
        uint8_t buf[64];
        pr_transfer t;
        size_t i;
        int ok = 1;
        CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
        CHECK_ST(pr_reader_skip(rd, RUN0_LEN - 10), PR_OK);
        CHECK_EQ(pr_reader_remaining(rd), LEN - RUN0_LEN + 10);
        gr_reset_log(&g);
        CHECK_ST(pr_reader_read(rd, buf, 30, &t), PR_OK);
        CHECK_EQ(t.done, 30);
        {
            const uint64_t calls[4] = {10 * 4096 - 10, 10, RUN1, 20};
            CHECK_LOG(&g, GR_READ, calls, 2);
        }
        for (i = 0; i < 30; i++)
            ok &= buf[i] == ref[r_gpa(RUN0_LEN - 10 + i)];
        CHECK(ok);

        /* skip beyond what remains: error, nothing moves */
        CHECK_ST(pr_reader_skip(rd, LEN), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_reader_skip(rd, SIZE_MAX), PR_ERR_OUT_OF_RANGE);
        CHECK_EQ(pr_reader_remaining(rd), LEN - RUN0_LEN - 20);
        /* read beyond what remains: error, no callback, nothing moves */
        gr_reset_log(&g);
        {
            static uint8_t big[5 * 4096];
            t = garbage_transfer();
            CHECK_ST(pr_reader_read(rd, big, LEN - RUN0_LEN - 19, &t), PR_ERR_OUT_OF_RANGE);
            CHECK_EQ(t.done, 0);
            CHECK_EQ(t.fault_gpa, 0);
            CHECK_EQ(t.fault_code, 0);
            CHECK_ST(pr_reader_read(rd, big, SIZE_MAX, NULL), PR_ERR_OUT_OF_RANGE);
        }
        CHECK_EQ(g.nlog, 0);
        CHECK_EQ(pr_reader_remaining(rd), LEN - RUN0_LEN - 20);
        /* skip lands exactly on the last run */
        CHECK_ST(pr_reader_skip(rd, RUN1_LEN - 20), PR_OK);
        gr_reset_log(&g);
        CHECK_ST(pr_reader_read(rd, buf, 1, NULL), PR_OK);
        CHECK_EQ(buf[0], ref[RUN2]);
        {
            const uint64_t calls[2] = {RUN2, 1};
            CHECK_LOG(&g, GR_READ, calls, 1);
        }
        CHECK_EQ(pr_reader_remaining(rd), 99);
        pr_reader_free(rd);
        pr_range_free(r);
    }

    /* a reader over pr_ranges, chunks crossing member boundaries */
    {
        static const size_t rs_chunks[] = {1, 0x123, 0x1000, S_LEN};
        for (k = 0; k < sizeof rs_chunks / sizeof rs_chunks[0]; k++) {
            pr_ranges *rs = make_s();
            pr_reader *rd = (pr_reader *)tu_sentinel();
            static uint8_t dst[S_LEN];
            size_t pos = 0, i;
            int ok = 1;
            CHECK_ST(pr_ranges_reader_new(rs, mem, &rd), PR_OK);
            CHECK(rd != NULL && rd != (pr_reader *)tu_sentinel());
            CHECK_EQ(pr_reader_remaining(rd), S_LEN);
            while (pos < S_LEN) {
                size_t n = S_LEN - pos < rs_chunks[k] ? S_LEN - pos : rs_chunks[k];
                pr_transfer t;
                CHECK_ST(pr_reader_read(rd, dst + pos, n, &t), PR_OK);
                CHECK_EQ(t.done, n);
                pos += n;
                CHECK_EQ(pr_reader_remaining(rd), S_LEN - pos);
            }
            for (i = 0; i < S_LEN; i++)
                ok &= dst[i] == ref[s_gpa(i)];
            CHECK(ok);
            pr_reader_free(rd);
            pr_ranges_free(rs);
        }
    }

    /* a ranges reader starts at the list's current window (after skip and
     * truncate), and skip crosses members */
    {
        pr_ranges *rs = make_s();
        pr_reader *rd = NULL;
        uint8_t buf[0x40];
        size_t i;
        int ok = 1;
        CHECK_ST(pr_ranges_skip(rs, A_LEN - 0x10), PR_OK);
        CHECK_ST(pr_ranges_truncate(rs, 0x10 + B_LEN + 0x20), PR_OK);
        CHECK_ST(pr_ranges_reader_new(rs, mem, &rd), PR_OK);
        CHECK_EQ(pr_reader_remaining(rd), 0x10 + B_LEN + 0x20);
        CHECK_ST(pr_reader_skip(rd, 0x18), PR_OK);
        CHECK_ST(pr_reader_read(rd, buf, 0x10, NULL), PR_OK);
        for (i = 0; i < 0x10; i++)
            ok &= buf[i] == ref[s_gpa(A_LEN + 0x8 + i)];
        CHECK_ST(pr_reader_skip(rd, B_LEN - 0x18), PR_OK);
        CHECK_EQ(pr_reader_remaining(rd), 0x20);
        CHECK_ST(pr_reader_read(rd, buf, 0x20, NULL), PR_OK);
        for (i = 0; i < 0x20; i++)
            ok &= buf[i] == ref[s_gpa(A_LEN + B_LEN + i)];
        CHECK(ok);
        CHECK_EQ(pr_reader_remaining(rd), 0);
        CHECK_ST(pr_reader_read(rd, buf, 1, NULL), PR_ERR_OUT_OF_RANGE);
        pr_reader_free(rd);
        pr_ranges_free(rs);
    }
}

static void test_writer(pr_memory *mem_fill, pr_memory *mem_nofill)
{
    static uint8_t src[5 * 4096];
    size_t k;

    scramble(2);
    tu_fill_pattern(src, sizeof src, 3);

    /* write R in chunks of 777 bytes, then check every byte */
    {
        pr_range *r = tu_range(GPNS, 6, OFF, LEN);
        pr_writer *w = (pr_writer *)tu_sentinel();
        size_t pos = 0;
        CHECK_ST(pr_writer_new(r, mem_fill, &w), PR_OK);
        CHECK(w != NULL && w != (pr_writer *)tu_sentinel());
        CHECK_EQ(pr_writer_remaining(w), LEN);
        while (pos < LEN) {
            size_t n = LEN - pos < 777 ? LEN - pos : 777;
            pr_transfer t = garbage_transfer();
            CHECK_ST(pr_writer_write(w, src + pos, n, &t), PR_OK);
            CHECK_EQ(t.done, n);
            CHECK_EQ(t.fault_gpa, 0);
            CHECK_EQ(t.fault_code, 0);
            pos += n;
            CHECK_EQ(pr_writer_remaining(w), LEN - pos);
        }
        for (k = 0; k < LEN; k++)
            ref[r_gpa(k)] = src[k];
        CHECK_RAM();
        CHECK_ST(pr_writer_write(w, src, 1, NULL), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_writer_fill(w, 0, 1, NULL), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_writer_write(w, NULL, 0, NULL), PR_OK);
        CHECK_ST(pr_writer_fill(w, 0, 0, NULL), PR_OK);
        pr_writer_free(w);
        pr_range_free(r);
    }

    /* interleave write and fill; fill crossing a run boundary with and
     * without a fill callback */
    for (k = 0; k < 2; k++) {
        pr_memory *mem = k == 0 ? mem_fill : mem_nofill;
        pr_range *r = tu_range(GPNS, 6, OFF, LEN);
        pr_writer *w = NULL;
        pr_transfer t;
        size_t i;
        CHECK_ST(pr_writer_new(r, mem, &w), PR_OK);
        CHECK_ST(pr_writer_write(w, src, 10, &t), PR_OK);
        gr_reset_log(&g);
        t = garbage_transfer();
        CHECK_ST(pr_writer_fill(w, (uint8_t)(0xE0 + k), RUN0_LEN - 10 + 5, &t), PR_OK);
        CHECK_EQ(t.done, RUN0_LEN - 10 + 5);
        if (k == 0) {
            const uint64_t calls[4] = {RUN0 + 10, RUN0_LEN - 10, RUN1, 5};
            CHECK_LOG(&g, GR_FILL, calls, 2);
        } else {
            CHECK_EQ(g.fills, 0);
            CHECK(g.writes >= 2);
        }
        CHECK_EQ(pr_writer_remaining(w), LEN - RUN0_LEN - 5);
        CHECK_ST(pr_writer_write(w, src, 3, NULL), PR_OK);
        CHECK_EQ(pr_writer_remaining(w), LEN - RUN0_LEN - 8);
        for (i = 0; i < 10; i++)
            ref[r_gpa(i)] = src[i];
        for (; i < RUN0_LEN + 5; i++)
            ref[r_gpa(i)] = (uint8_t)(0xE0 + k);
        for (; i < RUN0_LEN + 8; i++)
            ref[r_gpa(i)] = src[i - RUN0_LEN - 5];
        CHECK_RAM();
        /* too long: nothing called, nothing moves */
        gr_reset_log(&g);
        t = garbage_transfer();
        CHECK_ST(pr_writer_fill(w, 1, LEN, &t), PR_ERR_OUT_OF_RANGE);
        CHECK_EQ(t.done, 0);
        t = garbage_transfer();
        CHECK_ST(pr_writer_write(w, src, LEN - RUN0_LEN - 7, &t), PR_ERR_OUT_OF_RANGE);
        CHECK_EQ(t.done, 0);
        CHECK_ST(pr_writer_fill(w, 1, SIZE_MAX, NULL), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_writer_write(w, src, SIZE_MAX, NULL), PR_ERR_OUT_OF_RANGE);
        CHECK_EQ(g.nlog, 0);
        CHECK_EQ(pr_writer_remaining(w), LEN - RUN0_LEN - 8);
        CHECK_RAM();
        pr_writer_free(w);
        pr_range_free(r);
    }

    /* a writer over pr_ranges, chunks crossing members */
    {
        pr_ranges *rs = make_s();
        pr_writer *w = (pr_writer *)tu_sentinel();
        size_t pos = 0;
        CHECK_ST(pr_ranges_writer_new(rs, mem_fill, &w), PR_OK);
        CHECK(w != NULL && w != (pr_writer *)tu_sentinel());
        CHECK_EQ(pr_writer_remaining(w), S_LEN);
        gr_reset_log(&g);
        while (pos < S_LEN) {
            size_t n = S_LEN - pos < 0x301 ? S_LEN - pos : 0x301;
            pr_transfer t;
            CHECK_ST(pr_writer_write(w, src + pos, n, &t), PR_OK);
            CHECK_EQ(t.done, n);
            pos += n;
            CHECK_EQ(pr_writer_remaining(w), S_LEN - pos);
        }
        for (k = 0; k < S_LEN; k++)
            ref[s_gpa(k)] = src[k];
        CHECK_RAM();
        pr_writer_free(w);

        /* fill the whole buffer through a fresh writer: one fill per run */
        w = NULL;
        CHECK_ST(pr_ranges_writer_new(rs, mem_fill, &w), PR_OK);
        gr_reset_log(&g);
        CHECK_ST(pr_writer_fill(w, 0x99, S_LEN, NULL), PR_OK);
        {
            const uint64_t calls[8] = {0x3010, 0x1800, 0xAF00, 0x100, 0xC000, 0x100, 0x1E007, 0x80};
            CHECK_LOG(&g, GR_FILL, calls, 4);
        }
        for (k = 0; k < S_LEN; k++)
            ref[s_gpa(k)] = 0x99;
        CHECK_RAM();
        CHECK_EQ(pr_writer_remaining(w), 0);
        pr_writer_free(w);
        pr_ranges_free(rs);
    }
}

/* Failure mid-transfer: the cursor advances by exactly t.done, and a retry
 * after repairing the fake RAM resumes at the failed run. */
static void test_failure_and_retry(pr_memory *mem)
{
    static uint8_t src[5 * 4096], dst[5 * 4096];
    size_t i;
    int ok;

    scramble(4);
    tu_fill_pattern(src, sizeof src, 5);

    /* reader over R: run 1 fails */
    {
        pr_range *r = tu_range(GPNS, 6, OFF, LEN);
        pr_reader *rd = NULL;
        pr_transfer t = garbage_transfer();
        CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
        CHECK_ST(pr_reader_skip(rd, 50), PR_OK);
        gr_fail_at(&g, GR_READ, RUN1 + 4096, -3);
        memset(dst, 0, sizeof dst);
        CHECK_ST(pr_reader_read(rd, dst, LEN - 50, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, RUN0_LEN - 50);
        CHECK_EQ(t.fault_gpa, RUN1);
        CHECK_EQ(t.fault_code, -3);
        CHECK_EQ(pr_reader_remaining(rd), LEN - RUN0_LEN);
        /* repair, retry the rest: the first call is at the failed run */
        gr_no_fail(&g);
        gr_reset_log(&g);
        t = garbage_transfer();
        CHECK_ST(pr_reader_read(rd, dst + (RUN0_LEN - 50), LEN - RUN0_LEN, &t), PR_OK);
        CHECK_EQ(t.done, LEN - RUN0_LEN);
        CHECK_EQ(t.fault_gpa, 0);
        CHECK_EQ(t.fault_code, 0);
        {
            const uint64_t calls[4] = {RUN1, RUN1_LEN, RUN2, 100};
            CHECK_LOG(&g, GR_READ, calls, 2);
        }
        CHECK_EQ(pr_reader_remaining(rd), 0);
        ok = 1;
        for (i = 0; i < LEN - 50; i++)
            ok &= dst[i] == ref[r_gpa(50 + i)];
        CHECK(ok);
        pr_reader_free(rd);
        pr_range_free(r);
    }

    /* writer over R: the last run fails twice, then works */
    {
        pr_range *r = tu_range(GPNS, 6, OFF, LEN);
        pr_writer *w = NULL;
        pr_transfer t = garbage_transfer();
        CHECK_ST(pr_writer_new(r, mem, &w), PR_OK);
        gr_fail_at(&g, GR_WRITE, RUN2, 1234);
        CHECK_ST(pr_writer_write(w, src, LEN, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, RUN0_LEN + RUN1_LEN);
        CHECK_EQ(t.fault_gpa, RUN2);
        CHECK_EQ(t.fault_code, 1234);
        CHECK_EQ(pr_writer_remaining(w), 100);
        for (i = 0; i < RUN0_LEN + RUN1_LEN; i++)
            ref[r_gpa(i)] = src[i];
        CHECK_RAM();
        /* still broken: a second attempt fails at once, nothing moves */
        t = garbage_transfer();
        CHECK_ST(pr_writer_write(w, src + RUN0_LEN + RUN1_LEN, 100, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, 0);
        CHECK_EQ(t.fault_gpa, RUN2);
        CHECK_EQ(pr_writer_remaining(w), 100);
        /* t == NULL on failure: still PR_ERR_MEMORY, still no move */
        CHECK_ST(pr_writer_write(w, src + RUN0_LEN + RUN1_LEN, 100, NULL), PR_ERR_MEMORY);
        CHECK_EQ(pr_writer_remaining(w), 100);
        gr_no_fail(&g);
        gr_reset_log(&g);
        CHECK_ST(pr_writer_write(w, src + RUN0_LEN + RUN1_LEN, 100, &t), PR_OK);
        CHECK_EQ(t.done, 100);
        {
            const uint64_t calls[2] = {RUN2, 100};
            CHECK_LOG(&g, GR_WRITE, calls, 1);
        }
        for (i = 0; i < LEN; i++)
            ref[r_gpa(i)] = src[i];
        CHECK_RAM();
        CHECK_EQ(pr_writer_remaining(w), 0);
        pr_writer_free(w);
        pr_range_free(r);
    }

    /* writer fill failing on run 1 */
    {
        pr_range *r = tu_range(GPNS, 6, OFF, LEN);
        pr_writer *w = NULL;
        pr_transfer t = garbage_transfer();
        CHECK_ST(pr_writer_new(r, mem, &w), PR_OK);
        CHECK_ST(pr_writer_write(w, src, 3, NULL), PR_OK);
        gr_fail_at(&g, GR_FILL, RUN1 + RUN1_LEN - 1, -99);
        CHECK_ST(pr_writer_fill(w, 0x42, LEN - 3, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, RUN0_LEN - 3);
        CHECK_EQ(t.fault_gpa, RUN1);
        CHECK_EQ(t.fault_code, -99);
        CHECK_EQ(pr_writer_remaining(w), LEN - RUN0_LEN);
        gr_no_fail(&g);
        CHECK_ST(pr_writer_fill(w, 0x43, LEN - RUN0_LEN, &t), PR_OK);
        CHECK_EQ(t.done, LEN - RUN0_LEN);
        for (i = 0; i < 3; i++)
            ref[r_gpa(i)] = src[i];
        for (; i < RUN0_LEN; i++)
            ref[r_gpa(i)] = 0x42;
        for (; i < LEN; i++)
            ref[r_gpa(i)] = 0x43;
        CHECK_RAM();
        pr_writer_free(w);
        pr_range_free(r);
    }

    /* ranges reader and writer: failure in member B's second run */
    {
        pr_ranges *rs = make_s();
        pr_writer *w = NULL;
        pr_reader *rd = NULL;
        pr_transfer t = garbage_transfer();
        CHECK_ST(pr_ranges_writer_new(rs, mem, &w), PR_OK);
        CHECK_ST(pr_ranges_reader_new(rs, mem, &rd), PR_OK);
        gr_fail_at(&g, GR_WRITE | GR_READ, 0xC000, 5);
        CHECK_ST(pr_writer_write(w, src, S_LEN, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, A_LEN + 0x100);
        CHECK_EQ(t.fault_gpa, 0xC000);
        CHECK_EQ(t.fault_code, 5);
        CHECK_EQ(pr_writer_remaining(w), S_LEN - A_LEN - 0x100);
        t = garbage_transfer();
        CHECK_ST(pr_reader_read(rd, dst, S_LEN, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, A_LEN + 0x100);
        CHECK_EQ(t.fault_gpa, 0xC000);
        CHECK_EQ(t.fault_code, 5);
        CHECK_EQ(pr_reader_remaining(rd), S_LEN - A_LEN - 0x100);
        gr_no_fail(&g);
        gr_reset_log(&g);
        CHECK_ST(pr_writer_write(w, src + A_LEN + 0x100, S_LEN - A_LEN - 0x100, &t), PR_OK);
        {
            const uint64_t calls[4] = {0xC000, 0x100, 0x1E007, 0x80};
            CHECK_LOG(&g, GR_WRITE, calls, 2);
        }
        CHECK_ST(pr_reader_read(rd, dst + A_LEN + 0x100, S_LEN - A_LEN - 0x100, &t), PR_OK);
        CHECK_EQ(pr_writer_remaining(w), 0);
        CHECK_EQ(pr_reader_remaining(rd), 0);
        for (i = 0; i < S_LEN; i++)
            ref[s_gpa(i)] = src[i];
        CHECK_RAM();
        /* the reader read the old bytes of A and B's first run before the
         * writer's retry, then the new bytes: check the part after the fault */
        CHECK_MEM(dst + A_LEN + 0x100, src + A_LEN + 0x100, S_LEN - A_LEN - 0x100);
        pr_writer_free(w);
        pr_reader_free(rd);
        pr_ranges_free(rs);
    }
}

/* Handles own what they need: free the range/ranges/memory before the
 * cursor, then keep using the cursor. */
static void test_ownership(void)
{
    static uint8_t src[5 * 4096], dst[5 * 4096];
    size_t i;
    int ok;

    scramble(6);
    tu_fill_pattern(src, sizeof src, 7);

    /* reader and writer over a range; range and memory freed first */
    {
        uint64_t *gpns = (uint64_t *)malloc(sizeof GPNS);
        pr_range *r;
        pr_memory *mem = gr_memory(&g, 1);
        pr_reader *rd = NULL;
        pr_writer *w = NULL;
        memcpy(gpns, GPNS, sizeof GPNS);
        r = tu_range(gpns, 6, OFF, LEN);
        free(gpns); /* the caller's list can go right away */
        CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
        CHECK_ST(pr_writer_new(r, mem, &w), PR_OK);
        pr_range_free(r);
        pr_memory_free(mem);

        CHECK_ST(pr_writer_write(w, src, 5000, NULL), PR_OK);
        CHECK_ST(pr_writer_fill(w, 0x61, LEN - 5000, NULL), PR_OK);
        CHECK_EQ(pr_writer_remaining(w), 0);
        pr_writer_free(w);
        for (i = 0; i < LEN; i++)
            ref[r_gpa(i)] = i < 5000 ? src[i] : 0x61;
        CHECK_RAM();

        CHECK_EQ(pr_reader_remaining(rd), LEN);
        CHECK_ST(pr_reader_read(rd, dst, LEN, NULL), PR_OK);
        ok = 1;
        for (i = 0; i < LEN; i++)
            ok &= dst[i] == ref[r_gpa(i)];
        CHECK(ok);
        pr_reader_free(rd);
    }

    /* cursors over a ranges whose members, list and memory are all freed */
    {
        pr_ranges *rs = make_s(); /* members already freed inside */
        pr_memory *mem = gr_memory(&g, 0);
        pr_reader *rd = NULL;
        pr_writer *w = NULL;
        CHECK_ST(pr_ranges_skip(rs, 0x10), PR_OK);
        CHECK_ST(pr_ranges_writer_new(rs, mem, &w), PR_OK);
        CHECK_ST(pr_ranges_reader_new(rs, mem, &rd), PR_OK);
        pr_memory_free(mem);
        pr_ranges_free(rs);

        CHECK_EQ(pr_writer_remaining(w), S_LEN - 0x10);
        CHECK_ST(pr_writer_write(w, src, S_LEN - 0x10, NULL), PR_OK);
        pr_writer_free(w);
        for (i = 0; i < S_LEN - 0x10; i++)
            ref[s_gpa(0x10 + i)] = src[i];
        CHECK_RAM();
        CHECK_ST(pr_reader_read(rd, dst, S_LEN - 0x10, NULL), PR_OK);
        CHECK_MEM(dst, src, S_LEN - 0x10);
        pr_reader_free(rd);
    }

    /* a cursor freed while unfinished, range still in use afterwards */
    {
        pr_range *r = tu_range(GPNS, 6, OFF, LEN);
        pr_memory *mem = gr_memory(&g, 1);
        pr_reader *rd = NULL;
        CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
        CHECK_ST(pr_reader_skip(rd, 100), PR_OK);
        pr_reader_free(rd);
        CHECK_EQ(pr_range_len(r), LEN);
        CHECK_ST(pr_range_read(r, mem, dst, LEN, NULL), PR_OK);
        pr_memory_free(mem);
        pr_range_free(r);
    }

    /* cursors over empty buffers */
    {
        pr_range *e = tu_range(NULL, 0, 0, 0);
        pr_ranges *rs = NULL;
        pr_memory *mem = gr_memory(&g, 1);
        pr_reader *rd = NULL;
        pr_writer *w = NULL;
        CHECK_ST(pr_ranges_new(NULL, 0, &rs), PR_OK);
        CHECK_ST(pr_reader_new(e, mem, &rd), PR_OK);
        CHECK_ST(pr_ranges_writer_new(rs, mem, &w), PR_OK);
        CHECK_EQ(pr_reader_remaining(rd), 0);
        CHECK_EQ(pr_writer_remaining(w), 0);
        CHECK_ST(pr_reader_read(rd, dst, 1, NULL), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_writer_write(w, src, 1, NULL), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_reader_read(rd, NULL, 0, NULL), PR_OK);
        CHECK_ST(pr_writer_fill(w, 0, 0, NULL), PR_OK);
        pr_reader_free(rd);
        pr_writer_free(w);
        pr_ranges_free(rs);
        pr_range_free(e);
        pr_memory_free(mem);
    }
}

int main(void)
{
    pr_memory *mem_fill, *mem_nofill;

    gr_init(&g, PAGES);
    mem_fill = gr_memory(&g, 1);
    mem_nofill = gr_memory(&g, 0);

    test_reader(mem_fill);
    test_writer(mem_fill, mem_nofill);
    test_failure_and_retry(mem_fill);
    test_ownership();

    pr_memory_free(mem_fill);
    pr_memory_free(mem_nofill);
    gr_destroy(&g);
    return TEST_SUMMARY();
}
