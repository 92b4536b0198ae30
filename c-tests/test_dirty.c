/*
 * test_dirty.c - dirty page logging for live migration:
 * pr_memory_with_dirty_bitmap and pr_memory_with_dirty_callback, over
 * callback memory and over mapped memory.
 *
 * Covers: writes and fills (ranges, buffers, cursors; random windows from a
 * fixed-seed PRNG) mark exactly the pages written (the bitmap is compared
 * with one computed here from the bytes' guest addresses); reads mark
 * nothing; the wrapped memory stays usable without logging; a callback
 * failing mid-transfer marks only the runs before it (never the failed run
 * or the tail), also for fills done through the write fallback; writes and
 * fills touching a page at or beyond page_count fail with PR_ERR_MEMORY and
 * fault_code -2 before any byte of that run moves (and mark nothing); the
 * bitmap is never written outside its ceil(page_count / 64) words; the
 * dirty callback gets exactly the runs written, after they were written, in
 * order; iovec export (pr_range_iovecs, pr_ranges_iovecs) marks the pages
 * exported (only those covered when the array is short, nothing on error);
 * stacked loggers both log; NULL, misaligned and too-large arguments.
 */
#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define PAGES 200      /* guest RAM of both backends */
#define TRACKED 150    /* page_count of the bitmap: 3 words, the last partial */
#define WORDS 3
#define HOLE_LO 100    /* mapped memory has no pages 100 .. 109 */
#define HOLE_HI 110

#define SENT_MEM ((pr_memory *)tu_sentinel())

static guest_ram g;        /* callback memory */
static uint8_t *host;      /* mapped memory: GPA x at host + x (outside the hole) */

/* The bitmap lives in the middle of guard words that must stay 0. */
static uint64_t store[WORDS + 4];
static uint64_t *const bitmap = &store[2];
static uint64_t expect[WORDS];
static size_t live_words = WORDS; /* words the memory under test may write */

static uint64_t load_word(const uint64_t *w)
{
    return __atomic_load_n(w, __ATOMIC_SEQ_CST);
}

static void clear_bitmap(void)
{
    size_t i;
    for (i = 0; i < WORDS; i++)
        __atomic_store_n(&bitmap[i], 0, __ATOMIC_SEQ_CST);
    memset(expect, 0, sizeof expect);
}

static void expect_page(uint64_t gpn)
{
    if (gpn < TRACKED)
        expect[gpn / 64] |= UINT64_C(1) << (gpn % 64);
}

/* Expects the pages of bytes 0 .. len-1 of the window to be marked. */
static void expect_window(const uint64_t *gpns, size_t offset, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        expect_page(tu_gpa_of(gpns, offset, i) / PS);
}

static void check_bitmap(int line)
{
    size_t i;
    int ok = 1;
    for (i = 0; i < WORDS + 4; i++) {
        uint64_t got = load_word(&store[i]);
        int inside = i >= 2 && i < 2 + live_words;
        uint64_t want = inside ? expect[i - 2] : 0;
        if (got != want) {
            fprintf(stderr,
                    "  check_bitmap (line %d): word %d is 0x%016" PRIx64 ", want 0x%016" PRIx64
                    "%s\n",
                    line, (int)i - 2, got, want,
                    inside ? "" : " (outside the bitmap)");
            ok = 0;
        }
    }
    CHECK(ok);
}
#define CHECK_BITMAP() check_bitmap(__LINE__)

/* A backend: its memory and where guest byte `gpa` lives in this process. */
struct backend {
    const char *name;
    pr_memory *mem;
    uint8_t *(*at)(uint64_t gpa);
};

static uint8_t *cb_at(uint64_t gpa)
{
    return g.bytes + gpa;
}

static uint8_t *mapped_at(uint64_t gpa)
{
    return host + gpa;
}

static pr_memory *new_mapped(void)
{
    pr_mapped_region r[2];
    pr_memory *m = NULL;
    r[0].gpa = 0;
    r[0].size = HOLE_LO * PS;
    r[0].host = host;
    r[1].gpa = HOLE_HI * PS;
    r[1].size = (PAGES - HOLE_HI) * PS;
    r[1].host = host + HOLE_HI * PS;
    if (pr_memory_new_mapped(r, 2, &m) != PR_OK)
        abort();
    return m;
}

static pr_memory *with_bitmap(const pr_memory *inner, uint64_t pages)
{
    pr_memory *m = NULL;
    pr_status st = pr_memory_with_dirty_bitmap(inner, bitmap, pages, &m);
    CHECK_ST(st, PR_OK);
    if (st != PR_OK)
        abort();
    return m;
}

/* ------------------------------------------------------------------------ */
/* Dirty callback log                                                        */
/* ------------------------------------------------------------------------ */

#define DLOG_MAX 64

struct dlog {
    size_t n;
    uint64_t gpa[DLOG_MAX];
    size_t len[DLOG_MAX];
    int first_byte[DLOG_MAX]; /* guest byte at gpa when reported */
    uint8_t *(*at)(uint64_t gpa);
};

static void dirty_cb(void *ctx, uint64_t gpa, size_t len)
{
    struct dlog *d = (struct dlog *)ctx;
    if (d->n < DLOG_MAX) {
        d->gpa[d->n] = gpa;
        d->len[d->n] = len;
        d->first_byte[d->n] = d->at ? *d->at(gpa) : -1;
    }
    d->n++;
}

/* The log holds exactly the (gpa, len) pairs of `want`. */
static void check_dlog(const struct dlog *d, const uint64_t *want, size_t n, int line)
{
    size_t i;
    int ok = d->n == n;
    for (i = 0; ok && i < n; i++)
        ok = d->gpa[i] == want[2 * i] && d->len[i] == want[2 * i + 1];
    if (!ok) {
        fprintf(stderr, "  check_dlog (line %d): got %zu calls:", line, d->n);
        for (i = 0; i < d->n && i < DLOG_MAX; i++)
            fprintf(stderr, " (0x%" PRIx64 ",%zu)", d->gpa[i], d->len[i]);
        fprintf(stderr, "; want %zu\n", n);
    }
    CHECK(ok);
}
#define CHECK_DLOG(d, want, n) check_dlog((d), (want), (n), __LINE__)

/* ------------------------------------------------------------------------ */

/* Random writes, fills and reads on tracked, mapped pages. */
static void test_random_marking(const struct backend *be)
{
    tu_rng rng = {31337};
    pr_memory *dm = with_bitmap(be->mem, TRACKED);
    static uint8_t src[6 * 4096], dst[6 * 4096];
    unsigned iter, before = tu_state()->failures;

    clear_bitmap();
    for (iter = 0; iter < 300; iter++) {
        uint64_t gpns[6];
        size_t count = 1 + (size_t)tu_rand_below(&rng, 6), i, off, len;
        pr_range *r;
        pr_transfer t;
        unsigned op = (unsigned)tu_rand_below(&rng, 6);

        for (i = 0; i < count; i++)
            gpns[i] = (i && tu_rand_below(&rng, 2) && gpns[i - 1] + 1 < HOLE_LO)
                          ? gpns[i - 1] + 1
                          : tu_rand_below(&rng, HOLE_LO);
        off = (size_t)tu_rand_below(&rng, PS);
        len = (size_t)tu_rand_below(&rng, count * PS - off + 1);
        r = tu_range(gpns, count, off, len);
        tu_fill_pattern(src, len, iter);
        if (iter % 16 == 0)
            clear_bitmap();

        switch (op) {
        case 0:
            CHECK_ST(pr_range_write(r, dm, src, len, &t), PR_OK);
            expect_window(gpns, off, len);
            break;
        case 1:
            CHECK_ST(pr_range_fill(r, dm, (uint8_t)iter, len, &t), PR_OK);
            expect_window(gpns, off, len);
            break;
        case 2: { /* a writer: only the part written so far */
            pr_writer *w = NULL;
            size_t part = len ? (size_t)tu_rand_below(&rng, len + 1) : 0;
            CHECK_ST(pr_writer_new(r, dm, &w), PR_OK);
            CHECK_ST(pr_writer_write(w, src, part / 2, &t), PR_OK);
            CHECK_ST(pr_writer_fill(w, 0, part - part / 2, &t), PR_OK);
            expect_window(gpns, off, part);
            pr_writer_free(w);
            break;
        }
        case 3: { /* a buffer: the range's second half, then its first */
            size_t cut = len / 2;
            pr_range *front = NULL, *back = NULL;
            pr_ranges *rs = NULL;
            const pr_range *parts[2];
            CHECK_ST(pr_range_split(r, cut, &front, &back), PR_OK);
            parts[0] = back;
            parts[1] = front;
            CHECK_ST(pr_ranges_new(parts, 2, &rs), PR_OK);
            CHECK_ST(pr_ranges_write(rs, dm, src, len - cut / 2, &t), PR_OK);
            expect_window(gpns, off + cut, len - cut);
            expect_window(gpns, off, len - cut / 2 - (len - cut));
            pr_ranges_free(rs);
            pr_range_free(front);
            pr_range_free(back);
            break;
        }
        case 4: /* reads mark nothing */
            CHECK_ST(pr_range_read(r, dm, dst, len, &t), PR_OK);
            break;
        default: /* writes through the inner memory are not logged */
            CHECK_ST(pr_range_write(r, be->mem, src, len, &t), PR_OK);
            break;
        }
        CHECK_BITMAP();
        pr_range_free(r);
        if (tu_state()->failures != before) {
            fprintf(stderr, "  (%s: random iteration %u, op %u)\n", be->name, iter, op);
            break;
        }
    }
    pr_memory_free(dm);
}

/* page_count: the last tracked page is fine, the next one fails with -2
 * before any byte of its run moves. */
static void test_untracked(const struct backend *be)
{
    pr_memory *dm = with_bitmap(be->mem, TRACKED);
    uint8_t src[3 * 4096], before[3 * 4096];
    pr_transfer t;

    clear_bitmap();
    tu_fill_pattern(src, sizeof src, 1);

    /* one run over pages 149 and 150 */
    {
        const uint64_t gpns[2] = {TRACKED - 1, TRACKED};
        pr_range *r = tu_range(gpns, 2, 4000, 200);
        memcpy(before, be->at((TRACKED - 1) * PS), 2 * PS);
        memset(&t, 0xA5, sizeof t);
        CHECK_ST(pr_range_write(r, dm, src, 200, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, 0);
        CHECK_EQ(t.fault_code, -2);
        CHECK_EQ(t.fault_gpa, (TRACKED - 1) * PS + 4000);
        memset(&t, 0xA5, sizeof t);
        CHECK_ST(pr_range_fill(r, dm, 0xEE, 200, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, 0);
        CHECK_EQ(t.fault_code, -2);
        CHECK_MEM(be->at((TRACKED - 1) * PS), before, 2 * PS);
        CHECK_BITMAP();
        /* 96 bytes stay within page 149: fine */
        CHECK_ST(pr_range_write(r, dm, src, 96, &t), PR_OK);
        expect_page(TRACKED - 1);
        CHECK_BITMAP();
        /* reads of untracked pages work */
        CHECK_ST(pr_range_read(r, dm, before, 200, &t), PR_OK);
        CHECK_EQ(t.done, 200);
        pr_range_free(r);
    }
    /* a good run, then an untracked one, then a good one: the first is
     * written and marked, the rest not */
    {
        const uint64_t gpns[3] = {3, 190, 5};
        pr_range *r = tu_range(gpns, 3, 10, 3 * PS - 20);
        pr_writer *w = NULL;
        uint8_t page5[4096];
        memcpy(before, be->at(190 * PS), PS);
        memcpy(page5, be->at(5 * PS), PS);
        clear_bitmap();
        CHECK_ST(pr_range_write(r, dm, src, 3 * PS - 20, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, PS - 10);
        CHECK_EQ(t.fault_code, -2);
        CHECK_EQ(t.fault_gpa, 190 * PS);
        CHECK_MEM(be->at(3 * PS + 10), src, PS - 10);
        CHECK_MEM(be->at(190 * PS), before, PS);
        CHECK_MEM(be->at(5 * PS), page5, PS);
        expect_page(3);
        CHECK_BITMAP();
        /* a writer stops at the untracked run */
        clear_bitmap();
        CHECK_ST(pr_writer_new(r, dm, &w), PR_OK);
        CHECK_ST(pr_writer_fill(w, 0x12, 3 * PS - 20, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, PS - 10);
        CHECK_EQ(t.fault_code, -2);
        CHECK_EQ(pr_writer_remaining(w), 2 * PS - 10);
        expect_page(3);
        CHECK_BITMAP();
        pr_writer_free(w);
        pr_range_free(r);
    }
    pr_memory_free(dm);

    /* page_count 0: nothing is tracked, every write fails */
    {
        const uint64_t gpns[1] = {0};
        pr_range *r = tu_range(gpns, 1, 0, 16);
        pr_memory *none = with_bitmap(be->mem, 0);
        clear_bitmap();
        CHECK_ST(pr_range_write(r, none, src, 16, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.fault_code, -2);
        CHECK_EQ(t.done, 0);
        CHECK_BITMAP();
        pr_memory_free(none);
        pr_range_free(r);
    }
}

/* A callback failing mid-transfer (callback memory only): runs before it
 * are marked, the failed run and the tail are not. */
static void test_callback_failure(pr_memory *cbmem, pr_memory *cbmem_nofill)
{
    const uint64_t gpns[6] = {10, 11, 40, 64, 65, 7};
    const size_t off = 100, len = 6 * PS - 200;
    pr_range *r = tu_range(gpns, 6, off, len);
    pr_memory *dm = with_bitmap(cbmem, TRACKED);
    pr_memory *dm2 = with_bitmap(cbmem_nofill, TRACKED);
    static uint8_t src[6 * 4096];
    pr_transfer t;

    tu_fill_pattern(src, len, 2);
    /* runs: [10,11] [40] [64,65] [7]; fail in run 3 (page 65) */
    clear_bitmap();
    gr_fail_at(&g, GR_WRITE | GR_FILL, 65 * PS + 5, -77);
    CHECK_ST(pr_range_write(r, dm, src, len, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.done, 3 * PS - 100);
    CHECK_EQ(t.fault_gpa, 64 * PS);
    CHECK_EQ(t.fault_code, -77);
    expect_page(10);
    expect_page(11);
    expect_page(40);
    CHECK_BITMAP();

    clear_bitmap();
    CHECK_ST(pr_range_fill(r, dm, 9, len, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.done, 3 * PS - 100);
    CHECK_EQ(t.fault_code, -77);
    expect_page(10);
    expect_page(11);
    expect_page(40);
    CHECK_BITMAP();

    /* fill through the write fallback: the failing 4 KiB piece is the
     * second of run [64, 65]; its first piece was written, but the run
     * failed and is not marked */
    clear_bitmap();
    CHECK_ST(pr_range_fill(r, dm2, 9, len, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.fault_code, -77);
    CHECK_EQ(t.done, 3 * PS - 100);
    expect_page(10);
    expect_page(11);
    expect_page(40);
    CHECK_BITMAP();

    /* failure in the first run: nothing marked */
    clear_bitmap();
    gr_fail_at(&g, GR_WRITE, 10 * PS + 100, -1);
    CHECK_ST(pr_range_write(r, dm, src, len, &t), PR_ERR_MEMORY);
    CHECK_EQ(t.done, 0);
    CHECK_BITMAP();
    gr_no_fail(&g);

    pr_memory_free(dm);
    pr_memory_free(dm2);
    pr_range_free(r);
}

/* The dirty callback gets exactly the runs written, after they were
 * written, and nothing for reads or failed runs. */
static void test_dirty_callback(const struct backend *be, int can_fail)
{
    const uint64_t gpns[5] = {20, 21, 90, 3, 180};
    const size_t off = 50, len = 5 * PS - 100;
    pr_range *r = tu_range(gpns, 5, off, len);
    struct dlog d;
    pr_memory *dm = SENT_MEM;
    static uint8_t src[5 * 4096], dst[5 * 4096];
    pr_transfer t;

    memset(&d, 0, sizeof d);
    d.at = be->at;
    CHECK_ST(pr_memory_with_dirty_callback(be->mem, dirty_cb, &d, &dm), PR_OK);
    CHECK(dm != NULL && dm != SENT_MEM);

    tu_fill_pattern(src, len, 3);
    src[0] = 0x5A;          /* first byte of run 0 */
    src[2 * PS - 50] = 0xA5; /* first byte of run 1 (GPN 90) */
    CHECK_ST(pr_range_write(r, dm, src, len, &t), PR_OK);
    {
        const uint64_t want[] = {20 * PS + 50, 2 * PS - 50, 90 * PS, PS,
                                 3 * PS, PS, 180 * PS, PS - 50};
        CHECK_DLOG(&d, want, 4);
        /* reported after the bytes were written */
        CHECK_EQ(d.first_byte[0], 0x5A);
        CHECK_EQ(d.first_byte[1], 0xA5);
    }
    d.n = 0;
    CHECK_ST(pr_range_read(r, dm, dst, len, &t), PR_OK);
    CHECK_EQ(d.n, 0);
    /* a fill: one report per run too; no page limit with a callback */
    CHECK_ST(pr_range_fill(r, dm, 0x33, 2 * PS, &t), PR_OK);
    {
        const uint64_t want[] = {20 * PS + 50, 2 * PS - 50, 90 * PS, 50};
        CHECK_DLOG(&d, want, 2);
        CHECK_EQ(d.first_byte[0], 0x33);
    }
    /* a cursor */
    d.n = 0;
    {
        pr_writer *w = NULL;
        CHECK_ST(pr_writer_new(r, dm, &w), PR_OK);
        CHECK_ST(pr_writer_write(w, src, 10, &t), PR_OK);
        CHECK_ST(pr_writer_fill(w, 1, 2 * PS - 60 + 4, &t), PR_OK);
        {
            const uint64_t want[] = {20 * PS + 50, 10, 20 * PS + 60, 2 * PS - 60, 90 * PS, 4};
            CHECK_DLOG(&d, want, 3);
        }
        pr_writer_free(w);
    }
    if (can_fail) {
        d.n = 0;
        gr_fail_at(&g, GR_WRITE, 3 * PS + 7, -9);
        CHECK_ST(pr_range_write(r, dm, src, len, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.fault_gpa, 3 * PS);
        {
            const uint64_t want[] = {20 * PS + 50, 2 * PS - 50, 90 * PS, PS};
            CHECK_DLOG(&d, want, 2);
        }
        gr_no_fail(&g);
    }
    pr_memory_free(dm);
    pr_range_free(r);
}

/* Exporting iovecs marks the exported pages (mapped memory). */
static void test_iovec_marking(pr_memory *mapped, pr_memory *cbmem)
{
    const uint64_t gpns[6] = {3, 4, 70, 71, 130, 8};
    const size_t off = 10, len = 6 * PS - 20;
    pr_range *r = tu_range(gpns, 6, off, len);
    pr_memory *dm = with_bitmap(mapped, TRACKED);
    struct iovec iov[8];
    size_t n = 0, covered = 0;

    /* everything: host pieces 3-4 | 70-71 | 130 | 8 */
    clear_bitmap();
    CHECK_ST(pr_range_iovecs(r, dm, len, iov, 8, &n, &covered), PR_OK);
    CHECK_EQ(n, 4);
    CHECK_EQ(covered, len);
    expect_window(gpns, off, len);
    CHECK_BITMAP();
    if (n == 4)
        CHECK(iov[0].iov_base == (void *)(host + 3 * PS + 10) && iov[3].iov_len == PS - 10);

    /* only the first len bytes */
    clear_bitmap();
    CHECK_ST(pr_range_iovecs(r, dm, PS, iov, 8, &n, &covered), PR_OK);
    CHECK_EQ(covered, PS);
    expect_page(3);
    expect_page(4);
    CHECK_BITMAP();

    /* a short array: only what was covered */
    clear_bitmap();
    CHECK_ST(pr_range_iovecs(r, dm, len, iov, 2, &n, &covered), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 2);
    CHECK_EQ(covered, 4 * PS - 10);
    expect_window(gpns, off, covered);
    CHECK_BITMAP();
    CHECK(!(load_word(&bitmap[130 / 64]) & (UINT64_C(1) << (130 % 64))));

    /* an unmapped run: nothing exported, nothing marked */
    {
        const uint64_t bad[3] = {5, 105, 6};
        pr_range *rb = tu_range(bad, 3, 0, 3 * PS);
        clear_bitmap();
        CHECK_ST(pr_range_iovecs(rb, dm, 3 * PS, iov, 8, &n, &covered), PR_ERR_MEMORY);
        CHECK_EQ(n, 0);
        CHECK_EQ(covered, PS);
        CHECK_BITMAP();
        pr_range_free(rb);
    }

    /* pr_ranges_iovecs, after a skip */
    {
        pr_ranges *rs = NULL;
        const pr_range *one[1];
        one[0] = r;
        CHECK_ST(pr_ranges_new(one, 1, &rs), PR_OK);
        CHECK_ST(pr_ranges_skip(rs, 2 * PS), PR_OK); /* now from GPN 70 + 10 */
        clear_bitmap();
        CHECK_ST(pr_ranges_iovecs(rs, dm, PS, iov, 8, &n, &covered), PR_OK);
        CHECK_EQ(n, 1);
        expect_page(70);
        expect_page(71);
        CHECK_BITMAP();
        pr_ranges_free(rs);
    }

    /* the plain mapped memory exports without logging */
    clear_bitmap();
    CHECK_ST(pr_range_iovecs(r, mapped, len, iov, 8, &n, &covered), PR_OK);
    CHECK_BITMAP();

    /* dirty logging over callback memory cannot export */
    {
        pr_memory *dcb = with_bitmap(cbmem, TRACKED);
        n = covered = 12345;
        CHECK_ST(pr_range_iovecs(r, dcb, len, iov, 8, &n, &covered), PR_ERR_INVALID_ARGUMENT);
        CHECK_EQ(n, 12345);
        CHECK_BITMAP();
        pr_memory_free(dcb);
    }

    /* the callback variant reports the exported guest runs */
    {
        struct dlog d;
        pr_memory *dc = NULL;
        memset(&d, 0, sizeof d);
        CHECK_ST(pr_memory_with_dirty_callback(mapped, dirty_cb, &d, &dc), PR_OK);
        CHECK_ST(pr_range_iovecs(r, dc, 3 * PS, iov, 8, &n, &covered), PR_OK);
        {
            const uint64_t want[] = {3 * PS + 10, 2 * PS - 10, 70 * PS, PS + 10};
            CHECK_DLOG(&d, want, 2);
        }
        /* stacked: a bitmap over the callback logger; both log */
        {
            pr_memory *both = with_bitmap(dc, TRACKED);
            d.n = 0;
            clear_bitmap();
            CHECK_ST(pr_range_iovecs(r, both, PS - 10, iov, 8, &n, &covered), PR_OK);
            {
                const uint64_t want[] = {3 * PS + 10, PS - 10};
                CHECK_DLOG(&d, want, 1);
            }
            expect_page(3);
            CHECK_BITMAP();
            /* and writes through the stack log in both */
            d.n = 0;
            CHECK_ST(pr_range_fill(r, both, 0, 2 * PS, NULL), PR_OK);
            {
                const uint64_t want[] = {3 * PS + 10, 2 * PS - 10, 70 * PS, 10};
                CHECK_DLOG(&d, want, 2);
            }
            expect_page(4);
            expect_page(70);
            CHECK_BITMAP();
            pr_memory_free(both);
        }
        pr_memory_free(dc);
    }
    pr_memory_free(dm);
    pr_range_free(r);
}

/* Exported pages outside the bitmap never write outside it. */
static void test_iovec_outside_bitmap(pr_memory *mapped)
{
    struct iovec iov[4];
    size_t n = 0, covered = 0;
    pr_status st;

    /* page_count 0: the bitmap has no word at all */
    {
        const uint64_t gpns[3] = {0, 1, 2};
        pr_range *r = tu_range(gpns, 3, 0, 3 * PS);
        pr_memory *none = with_bitmap(mapped, 0);
        clear_bitmap();
        live_words = 0;
        n = covered = 99;
        st = pr_range_iovecs(r, none, 3 * PS, iov, 4, &n, &covered);
        /* An export the log could not record is refused, like a write. */
        CHECK_ST(st, PR_ERR_MEMORY);
        CHECK_EQ(n, 0);
        CHECK_EQ(covered, 0);
        CHECK_BITMAP(); /* nothing may be set: the bitmap has 0 words */
        live_words = WORDS;
        pr_memory_free(none);
        pr_range_free(r);
    }
    /* pages at and beyond page_count */
    {
        const uint64_t gpns[3] = {TRACKED - 1, TRACKED, 190};
        pr_range *r = tu_range(gpns, 3, 0, 3 * PS);
        pr_memory *dm = with_bitmap(mapped, TRACKED);
        clear_bitmap();
        st = pr_range_iovecs(r, dm, 3 * PS, iov, 4, &n, &covered);
        /* Refused as a whole: not even the tracked page 149 is marked. */
        CHECK_ST(st, PR_ERR_MEMORY);
        CHECK_EQ(n, 0);
        CHECK_BITMAP();
        pr_memory_free(dm);
        pr_range_free(r);
    }
}

static void test_arguments(pr_memory *cbmem)
{
    pr_memory *out = SENT_MEM;
    uint64_t *misaligned = (uint64_t *)(void *)((uint8_t *)store + 4);
    struct dlog d;

    CHECK_ST(pr_memory_with_dirty_bitmap(NULL, bitmap, 10, &out), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_memory_with_dirty_bitmap(cbmem, NULL, 10, &out), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_memory_with_dirty_bitmap(cbmem, bitmap, 10, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_memory_with_dirty_bitmap(cbmem, misaligned, 10, &out), PR_ERR_INVALID_ARGUMENT);
    CHECK_ST(pr_memory_with_dirty_bitmap(cbmem, bitmap, UINT64_MAX, &out),
             PR_ERR_INVALID_ARGUMENT);
    CHECK_ST(pr_memory_with_dirty_bitmap(cbmem, bitmap, (UINT64_C(1) << 52) + 1, &out),
             PR_ERR_INVALID_ARGUMENT);
    CHECK(out == SENT_MEM);
    CHECK_ST(pr_memory_with_dirty_callback(NULL, dirty_cb, &d, &out), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_memory_with_dirty_callback(cbmem, NULL, &d, &out), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_memory_with_dirty_callback(cbmem, dirty_cb, &d, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK(out == SENT_MEM);
    /* ctx may be NULL */
    CHECK_ST(pr_memory_with_dirty_callback(cbmem, dirty_cb, NULL, &out), PR_OK);
    CHECK(out != SENT_MEM && out != NULL);
    pr_memory_free(out);
    clear_bitmap();
    CHECK_BITMAP();
}

/* The wrapper keeps the inner memory alive. */
static void test_lifetime(void)
{
    pr_memory *inner = gr_memory(&g, 1);
    pr_memory *dm = with_bitmap(inner, TRACKED);
    const uint64_t gpns[1] = {12};
    pr_range *r = tu_range(gpns, 1, 0, 64);
    uint8_t src[64];

    pr_memory_free(inner);
    clear_bitmap();
    tu_fill_pattern(src, 64, 4);
    CHECK_ST(pr_range_write(r, dm, src, 64, NULL), PR_OK);
    CHECK_MEM(g.bytes + 12 * PS, src, 64);
    expect_page(12);
    CHECK_BITMAP();
    pr_memory_free(dm);
    pr_range_free(r);
}

int main(void)
{
    pr_memory *cbmem, *cbmem_nofill, *mapped;
    struct backend cb, mp;

    gr_init(&g, PAGES);
    host = (uint8_t *)calloc(PAGES, PS);
    if (!host)
        abort();
    cbmem = gr_memory(&g, 1);
    cbmem_nofill = gr_memory(&g, 0);
    mapped = new_mapped();
    cb.name = "callback memory";
    cb.mem = cbmem;
    cb.at = cb_at;
    mp.name = "mapped memory";
    mp.mem = mapped;
    mp.at = mapped_at;

    test_arguments(cbmem);
    test_random_marking(&cb);
    test_random_marking(&mp);
    test_untracked(&cb);
    test_untracked(&mp);
    test_callback_failure(cbmem, cbmem_nofill);
    test_dirty_callback(&cb, 1);
    test_dirty_callback(&mp, 0);
    test_iovec_marking(mapped, cbmem);
    test_iovec_outside_bitmap(mapped);
    test_lifetime();

    pr_memory_free(cbmem);
    pr_memory_free(cbmem_nofill);
    pr_memory_free(mapped);
    free(host);
    gr_destroy(&g);
    return TEST_SUMMARY();
}
