/*
 * test_builder.c - building a buffer from guest byte segments (a virtio
 * descriptor chain) with pr_ranges_builder_*.
 *
 * Covers pr_ranges_builder_new (NULL limits = the virtio defaults, custom
 * limits, limits of 0), pr_ranges_builder_push (the joining rules: a window
 * ending on a page boundary and a segment starting on one share a window;
 * segments exactly contiguous mid-page share a window; anything else starts
 * a new one; zero-length segments are ignored but counted), *error_index on
 * PR_ERR_LIMIT (windows, pages, bytes) and PR_ERR_OUT_OF_RANGE (gpa + len
 * overflows), nothing added on error, pr_ranges_builder_finish (count, len,
 * address ranges of the result; the builder goes on; results outlive the
 * builder), pr_ranges_builder_clear and reuse, NULL arguments.
 *
 * The random part builds many descriptor chains (fixed-seed PRNG) and checks
 * the result against a model written from the header's rules: the same
 * bytes in the same guest order, the expected windows, no two consecutive
 * windows that could have been merged, the page count, and that reading
 * (and writing) through the result equals reading (writing) the segments one
 * by one in the reference guest RAM; limits are checked against the model
 * too.
 */
#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define PAGES 64
#define SENT_RANGES ((pr_ranges *)tu_sentinel())
#define SENT_IDX ((size_t)0xC0FFEE)

static guest_ram g;
static pr_memory *mem;

struct seg {
    uint64_t gpa, len;
};

static pr_ranges_builder *new_builder(const pr_builder_limits *limits)
{
    pr_ranges_builder *b = NULL;
    pr_status st = pr_ranges_builder_new(limits, &b);
    if (st != PR_OK || b == NULL) {
        fprintf(stderr, "pr_ranges_builder_new failed: %s\n", pr_status_str(st));
        abort();
    }
    return b;
}

static pr_ranges *finish(const pr_ranges_builder *b)
{
    pr_ranges *rs = NULL;
    pr_status st = pr_ranges_builder_finish(b, &rs);
    CHECK_ST(st, PR_OK);
    if (st != PR_OK || rs == NULL) {
        fprintf(stderr, "pr_ranges_builder_finish failed: %s\n", pr_status_str(st));
        abort();
    }
    return rs;
}

/* First byte and one-past-last byte of window `i`, in guest addresses. */
static int window_bounds(const pr_ranges *rs, size_t i, uint64_t *start, uint64_t *end,
                         size_t *len, size_t *pages)
{
    pr_range *w = NULL;
    pr_address_range runs[64];
    size_t n = 0;
    if (pr_ranges_get(rs, i, &w) != PR_OK)
        return 0;
    if (pr_range_address_ranges(w, runs, 64, &n) != PR_OK || n == 0) {
        pr_range_free(w);
        return 0;
    }
    *start = runs[0].start;
    *end = runs[n - 1].end;
    *len = pr_range_len(w);
    pr_range_gpns(w, pages);
    pr_range_free(w);
    return 1;
}

/* Checks window i of rs: guest start, end, length and page count. */
static void check_window(const pr_ranges *rs, size_t i, uint64_t start, uint64_t end,
                         size_t len, size_t pages, int line)
{
    uint64_t s = 0, e = 0;
    size_t l = 0, p = 0;
    int ok = window_bounds(rs, i, &s, &e, &l, &p) && s == start && e == end && l == len &&
             p == pages;
    if (!ok)
        fprintf(stderr,
                "  check_window (line %d) window %zu: got [0x%" PRIx64 ",0x%" PRIx64
                ") len %zu pages %zu, want [0x%" PRIx64 ",0x%" PRIx64 ") len %zu pages %zu\n",
                line, i, s, e, l, p, start, end, len, pages);
    CHECK(ok);
}
#define CHECK_WINDOW(rs, i, s, e, l, p) check_window((rs), (i), (s), (e), (l), (p), __LINE__)

/* Checks every address run of rs against want (pairs start, end). */
static void check_runs(const pr_ranges *rs, const uint64_t *want, size_t n, int line)
{
    pr_address_range runs[64];
    size_t got = 0, i;
    int ok = pr_ranges_address_ranges(rs, runs, 64, &got) == PR_OK && got == n;
    for (i = 0; ok && i < n; i++)
        ok = runs[i].start == want[2 * i] && runs[i].end == want[2 * i + 1];
    if (!ok) {
        fprintf(stderr, "  check_runs (line %d): got %zu runs:", line, got);
        for (i = 0; i < got && i < 64; i++)
            fprintf(stderr, " [0x%" PRIx64 ",0x%" PRIx64 ")", runs[i].start, runs[i].end);
        fprintf(stderr, "\n");
    }
    CHECK(ok);
}
#define CHECK_RUNS(rs, want, n) check_runs((rs), (want), (n), __LINE__)

/* ------------------------------------------------------------------------ */

static void test_joining_rules(void)
{
    pr_ranges_builder *b = new_builder(NULL);
    pr_ranges *rs;
    size_t idx = SENT_IDX;

    /* window ends on a page boundary, segment starts on one: same window */
    CHECK_ST(pr_ranges_builder_push(b, 0x1F00, 0x100, &idx), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, 0x5000, 0x2000, &idx), PR_OK);
    /* window ends at 0x7000 (boundary), 0x9000 is aligned: joins */
    CHECK_ST(pr_ranges_builder_push(b, 0x9000, 0x10, &idx), PR_OK);
    /* exactly contiguous mid-page: joins */
    CHECK_ST(pr_ranges_builder_push(b, 0x9010, 0x30, &idx), PR_OK);
    /* zero length: ignored, even when it would break a rule */
    CHECK_ST(pr_ranges_builder_push(b, 0x42, 0, &idx), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, UINT64_MAX, 0, NULL), PR_OK);
    /* a gap mid-page: new window */
    CHECK_ST(pr_ranges_builder_push(b, 0x9100, 0x10, &idx), PR_OK);
    /* window ends mid-page (0x9110), segment is aligned: new window */
    CHECK_ST(pr_ranges_builder_push(b, 0xA000, 0x1000, NULL), PR_OK);
    /* window ends on a boundary, segment starts mid-page: new window */
    CHECK_ST(pr_ranges_builder_push(b, 0xC800, 0x800, NULL), PR_OK);
    /* contiguous across a page boundary mid-page start: joins */
    CHECK_ST(pr_ranges_builder_push(b, 0xD000, 0x1000, NULL), PR_OK);
    /* window ends on a boundary (0xE000), going backwards to an aligned
     * segment: joins (any page order) */
    CHECK_ST(pr_ranges_builder_push(b, 0x3000, 0x800, NULL), PR_OK);
    CHECK_EQ(idx, SENT_IDX); /* untouched on success */

    rs = finish(b);
    CHECK_EQ(pr_ranges_count(rs), 4);
    CHECK_EQ(pr_ranges_len(rs), 0x100 + 0x2000 + 0x40 + 0x10 + 0x1000 + 0x800 + 0x1000 + 0x800);
    CHECK_WINDOW(rs, 0, 0x1F00, 0x9040, 0x2140, 4); /* GPNs 1, 5, 6, 9 */
    CHECK_WINDOW(rs, 1, 0x9100, 0x9110, 0x10, 1);
    CHECK_WINDOW(rs, 2, 0xA000, 0xB000, 0x1000, 1);
    CHECK_WINDOW(rs, 3, 0xC800, 0x3800, 0x2000, 3); /* GPNs C, D, 3 */
    {
        const uint64_t want[] = {0x1F00, 0x2000, 0x5000, 0x7000, 0x9000, 0x9040,
                                 0x9100, 0x9110, 0xA000, 0xB000, 0xC800, 0xE000,
                                 0x3000, 0x3800};
        CHECK_RUNS(rs, want, 7);
    }
    pr_ranges_free(rs);
    pr_ranges_builder_free(b);

    /* exactly contiguous where the window ends on a boundary: joins, the
     * page is not listed twice */
    b = new_builder(NULL);
    CHECK_ST(pr_ranges_builder_push(b, 0x1800, 0x800, NULL), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, 0x2000, 0x10, NULL), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, 0x2010, 0x10, NULL), PR_OK);
    rs = finish(b);
    CHECK_EQ(pr_ranges_count(rs), 1);
    CHECK_WINDOW(rs, 0, 0x1800, 0x2020, 0x820, 2);
    pr_ranges_free(rs);
    pr_ranges_builder_free(b);

    /* same GPA twice (not contiguous): two windows */
    b = new_builder(NULL);
    CHECK_ST(pr_ranges_builder_push(b, 0x1010, 0x10, NULL), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, 0x1010, 0x10, NULL), PR_OK);
    rs = finish(b);
    CHECK_EQ(pr_ranges_count(rs), 2);
    CHECK_EQ(pr_ranges_len(rs), 0x20);
    pr_ranges_free(rs);
    pr_ranges_builder_free(b);
}

static void test_empty_and_null(void)
{
    pr_ranges_builder *b = NULL;
    pr_ranges *rs = SENT_RANGES;
    pr_builder_limits lim;

    CHECK_ST(pr_ranges_builder_new(NULL, NULL), PR_ERR_NULL_ARGUMENT);
    lim.max_windows = 1;
    lim.max_pages = 1;
    lim.max_bytes = 1;
    CHECK_ST(pr_ranges_builder_new(&lim, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_builder_push(NULL, 0x1000, 1, NULL), PR_ERR_NULL_ARGUMENT);
    {
        size_t idx = SENT_IDX;
        CHECK_ST(pr_ranges_builder_push(NULL, 0x1000, 1, &idx), PR_ERR_NULL_ARGUMENT);
        CHECK_EQ(idx, SENT_IDX);
    }
    CHECK_ST(pr_ranges_builder_finish(NULL, &rs), PR_ERR_NULL_ARGUMENT);
    CHECK(rs == SENT_RANGES);
    CHECK_ST(pr_ranges_builder_clear(NULL), PR_ERR_NULL_ARGUMENT);
    pr_ranges_builder_free(NULL);

    b = new_builder(NULL);
    CHECK_ST(pr_ranges_builder_finish(b, NULL), PR_ERR_NULL_ARGUMENT);
    /* an empty builder gives an empty buffer */
    rs = finish(b);
    CHECK_EQ(pr_ranges_count(rs), 0);
    CHECK_EQ(pr_ranges_len(rs), 0);
    pr_ranges_free(rs);
    /* only zero-length segments: still empty */
    CHECK_ST(pr_ranges_builder_push(b, 0x1000, 0, NULL), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, 0x2001, 0, NULL), PR_OK);
    rs = finish(b);
    CHECK_EQ(pr_ranges_count(rs), 0);
    CHECK_EQ(pr_ranges_len(rs), 0);
    pr_ranges_free(rs);
    pr_ranges_builder_free(b);
}

/* The virtio defaults: 1024 windows, 2^32 - 1 bytes. */
static void test_default_limits(void)
{
    pr_ranges_builder *b = new_builder(NULL);
    pr_ranges *rs;
    size_t i, idx = SENT_IDX;
    int ok = 1;

    /* 1024 windows of 2 bytes, none joinable (gaps mid-page) */
    for (i = 0; i < 1024; i++)
        ok &= pr_ranges_builder_push(b, 0x10 + 0x40 * (uint64_t)i, 2, &idx) == PR_OK;
    CHECK(ok);
    CHECK_ST(pr_ranges_builder_push(b, 0x100000, 2, &idx), PR_ERR_LIMIT);
    CHECK_EQ(idx, 1024);
    /* a joinable segment still fits (exactly contiguous with the last) */
    CHECK_ST(pr_ranges_builder_push(b, 0x10 + 0x40 * 1023 + 2, 2, &idx), PR_OK);
    rs = finish(b);
    CHECK_EQ(pr_ranges_count(rs), 1024);
    CHECK_EQ(pr_ranges_len(rs), 2050);
    pr_ranges_free(rs);

    /* 2^32 - 1 bytes in all */
    CHECK_ST(pr_ranges_builder_clear(b), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, 0, UINT64_C(0xFFFFFFFE), &idx), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, UINT64_C(0x100000000), 2, &idx), PR_ERR_LIMIT);
    CHECK_EQ(idx, 1);
    CHECK_ST(pr_ranges_builder_push(b, UINT64_C(0x100000000), 1, &idx), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, UINT64_C(0x200000000), 1, &idx), PR_ERR_LIMIT);
    CHECK_EQ(idx, 3);
    rs = finish(b);
    CHECK_EQ(pr_ranges_len(rs), UINT64_C(0xFFFFFFFF));
    CHECK_EQ(pr_ranges_count(rs), 2); /* 0xFFFFFFFE ends mid-page: no join */
    pr_ranges_free(rs);
    pr_ranges_builder_free(b);
}

static void test_custom_limits_and_errors(void)
{
    pr_builder_limits lim;
    pr_ranges_builder *b;
    pr_ranges *rs;
    size_t idx;

    /* limits of 0 allow nothing (but zero-length segments) */
    lim.max_windows = 0;
    lim.max_pages = 100;
    lim.max_bytes = 100000;
    b = new_builder(&lim);
    CHECK_ST(pr_ranges_builder_push(b, 0x1000, 0, NULL), PR_OK);
    idx = SENT_IDX;
    CHECK_ST(pr_ranges_builder_push(b, 0x1000, 1, &idx), PR_ERR_LIMIT);
    CHECK_EQ(idx, 1);
    pr_ranges_builder_free(b);
    lim.max_windows = 100;
    lim.max_pages = 0;
    b = new_builder(&lim);
    CHECK_ST(pr_ranges_builder_push(b, 0x1000, 1, &idx), PR_ERR_LIMIT);
    CHECK_EQ(idx, 0);
    pr_ranges_builder_free(b);
    lim.max_pages = 100;
    lim.max_bytes = 0;
    b = new_builder(&lim);
    CHECK_ST(pr_ranges_builder_push(b, 0x1000, 1, &idx), PR_ERR_LIMIT);
    CHECK_EQ(idx, 0);
    rs = finish(b);
    CHECK_EQ(pr_ranges_count(rs), 0);
    pr_ranges_free(rs);
    pr_ranges_builder_free(b);

    /* windows: 2; joined segments do not count */
    lim.max_windows = 2;
    lim.max_pages = 100;
    lim.max_bytes = 1000000;
    b = new_builder(&lim);
    CHECK_ST(pr_ranges_builder_push(b, 0x1100, 0xF00, &idx), PR_OK);  /* w0, ends 0x2000 */
    CHECK_ST(pr_ranges_builder_push(b, 0x8000, 0x1000, &idx), PR_OK); /* joins */
    CHECK_ST(pr_ranges_builder_push(b, 0x4000, 0x10, &idx), PR_OK);   /* joins */
    CHECK_ST(pr_ranges_builder_push(b, 0x4010, 0x10, &idx), PR_OK);   /* joins */
    CHECK_ST(pr_ranges_builder_push(b, 0x4030, 0x10, &idx), PR_OK);   /* w1 */
    CHECK_ST(pr_ranges_builder_push(b, 0x4040, 0x10, &idx), PR_OK);   /* joins */
    idx = SENT_IDX;
    CHECK_ST(pr_ranges_builder_push(b, 0x4060, 0x10, &idx), PR_ERR_LIMIT); /* w2 */
    CHECK_EQ(idx, 6);
    CHECK_ST(pr_ranges_builder_push(b, 0x4060, 0x10, NULL), PR_ERR_LIMIT);
    CHECK_ST(pr_ranges_builder_push(b, 0x4050, 0, &idx), PR_OK);
    idx = SENT_IDX;
    CHECK_ST(pr_ranges_builder_push(b, 0x6000, 0x10, &idx), PR_ERR_LIMIT);
    CHECK_EQ(idx, 9); /* failed and zero-length segments are counted */
    CHECK_ST(pr_ranges_builder_push(b, 0x4050, 0x10, &idx), PR_OK); /* still joins */
    rs = finish(b);
    CHECK_EQ(pr_ranges_count(rs), 2);
    CHECK_EQ(pr_ranges_len(rs), 0xF00 + 0x1000 + 0x20 + 0x30);
    CHECK_WINDOW(rs, 0, 0x1100, 0x4020, 0xF00 + 0x1000 + 0x20, 3);
    CHECK_WINDOW(rs, 1, 0x4030, 0x4060, 0x30, 1);
    pr_ranges_free(rs);
    pr_ranges_builder_free(b);

    /* pages: 3 */
    lim.max_windows = 100;
    lim.max_pages = 3;
    lim.max_bytes = 1000000;
    b = new_builder(&lim);
    CHECK_ST(pr_ranges_builder_push(b, 0x1FF0, 0x20, &idx), PR_OK);  /* pages 1, 2 */
    CHECK_ST(pr_ranges_builder_push(b, 0x2010, 0x10, &idx), PR_OK);  /* shares page 2 */
    CHECK_ST(pr_ranges_builder_push(b, 0x5000, 0x1000, &idx), PR_OK); /* new window, page 5 */
    idx = SENT_IDX;
    CHECK_ST(pr_ranges_builder_push(b, 0x6000, 1, &idx), PR_ERR_LIMIT); /* page 6: 4th */
    CHECK_EQ(idx, 3);
    idx = SENT_IDX;
    CHECK_ST(pr_ranges_builder_push(b, 0x5FFF, 2, &idx), PR_ERR_LIMIT); /* new window, 2 pages */
    CHECK_EQ(idx, 4);
    rs = finish(b);
    CHECK_EQ(pr_ranges_count(rs), 2);
    CHECK_EQ(pr_ranges_len(rs), 0x30 + 0x1000);
    {
        const uint64_t want[] = {0x1FF0, 0x2020, 0x5000, 0x6000};
        CHECK_RUNS(rs, want, 2);
    }
    pr_ranges_free(rs);
    pr_ranges_builder_free(b);

    /* bytes: 100 */
    lim.max_windows = 100;
    lim.max_pages = 100;
    lim.max_bytes = 100;
    b = new_builder(&lim);
    CHECK_ST(pr_ranges_builder_push(b, 0x1000, 60, &idx), PR_OK);
    idx = SENT_IDX;
    CHECK_ST(pr_ranges_builder_push(b, 0x3000, 41, &idx), PR_ERR_LIMIT);
    CHECK_EQ(idx, 1);
    CHECK_ST(pr_ranges_builder_push(b, 0x3000, 40, &idx), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, 0x3028, 1, &idx), PR_ERR_LIMIT);
    CHECK_EQ(idx, 3);
    rs = finish(b);
    CHECK_EQ(pr_ranges_len(rs), 100);
    pr_ranges_free(rs);

    /* gpa + len overflows 64 bits (or reaches 2^64 exactly) */
    CHECK_ST(pr_ranges_builder_clear(b), PR_OK);
    idx = SENT_IDX;
    CHECK_ST(pr_ranges_builder_push(b, UINT64_MAX, 2, &idx), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(idx, 0);
    idx = SENT_IDX;
    CHECK_ST(pr_ranges_builder_push(b, UINT64_MAX - 9, 10, &idx), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(idx, 1);
    CHECK_ST(pr_ranges_builder_push(b, 0x1000, UINT64_MAX, &idx), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(idx, 2);
    /* the last addressable bytes are fine */
    CHECK_ST(pr_ranges_builder_push(b, UINT64_MAX - 9, 9, &idx), PR_OK);
    rs = finish(b);
    CHECK_EQ(pr_ranges_count(rs), 1);
    {
        const uint64_t want[] = {UINT64_MAX - 9, UINT64_MAX};
        CHECK_RUNS(rs, want, 1);
    }
    pr_ranges_free(rs);

    /* clear keeps the limits and restarts the segment count */
    CHECK_ST(pr_ranges_builder_clear(b), PR_OK);
    rs = finish(b);
    CHECK_EQ(pr_ranges_count(rs), 0);
    pr_ranges_free(rs);
    idx = SENT_IDX;
    CHECK_ST(pr_ranges_builder_push(b, 0x1000, 101, &idx), PR_ERR_LIMIT);
    CHECK_EQ(idx, 0);
    CHECK_ST(pr_ranges_builder_push(b, 0x1000, 100, &idx), PR_OK);
    pr_ranges_builder_free(b);
}

/* finish leaves the builder as it is; results outlive the builder. */
static void test_finish_and_reuse(void)
{
    pr_ranges_builder *b = new_builder(NULL);
    pr_ranges *first, *second, *third;
    uint8_t buf[0x3000], want[0x3000];

    tu_fill_pattern(g.bytes, g.size, 5);
    CHECK_ST(pr_ranges_builder_push(b, 0x2F00, 0x100, NULL), PR_OK);
    first = finish(b);
    CHECK_ST(pr_ranges_builder_push(b, 0x7000, 0x1000, NULL), PR_OK); /* joins */
    CHECK_ST(pr_ranges_builder_push(b, 0x10008, 8, NULL), PR_OK);     /* new window */
    second = finish(b);
    CHECK_ST(pr_ranges_builder_clear(b), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, 0x20000, 0x20, NULL), PR_OK);
    third = finish(b);
    pr_ranges_builder_free(b); /* results stay valid */

    CHECK_EQ(pr_ranges_count(first), 1);
    CHECK_EQ(pr_ranges_len(first), 0x100);
    CHECK_EQ(pr_ranges_count(second), 2);
    CHECK_EQ(pr_ranges_len(second), 0x1108);
    CHECK_EQ(pr_ranges_count(third), 1);
    CHECK_EQ(pr_ranges_len(third), 0x20);

    CHECK_ST(pr_ranges_read(second, mem, buf, 0x1108, NULL), PR_OK);
    memcpy(want, g.bytes + 0x2F00, 0x100);
    memcpy(want + 0x100, g.bytes + 0x7000, 0x1000);
    memcpy(want + 0x1100, g.bytes + 0x10008, 8);
    CHECK_MEM(buf, want, 0x1108);
    CHECK_ST(pr_ranges_read(first, mem, buf, 0x100, NULL), PR_OK);
    CHECK_MEM(buf, g.bytes + 0x2F00, 0x100);
    CHECK_ST(pr_ranges_read(third, mem, buf, 0x20, NULL), PR_OK);
    CHECK_MEM(buf, g.bytes + 0x20000, 0x20);
    pr_ranges_free(first);
    pr_ranges_free(second);
    pr_ranges_free(third);
}

/* ------------------------------------------------------------------------ */
/* Random descriptor chains against a model                                  */
/* ------------------------------------------------------------------------ */

#define MAX_SEGS 48

struct mwin {
    uint64_t start, end; /* guest address of the first byte, after the last */
    uint64_t len;
};

struct model {
    struct mwin w[MAX_SEGS];
    size_t nw;
    uint64_t bytes, pages;
    size_t pushed;
};

/* Pages a window lists: its bytes laid out from its first byte's offset. */
static uint64_t window_pages(const struct mwin *w)
{
    return (w->start % PS + w->len + PS - 1) / PS;
}

/* How often each rule fired in the random tests (to show they are covered). */
static unsigned n_joined, n_new, n_limit, n_empty;

/* The header's rules. Returns the expected status. */
static pr_status model_push(struct model *m, const pr_builder_limits *lim, uint64_t gpa,
                            uint64_t len)
{
    struct mwin *last = m->nw ? &m->w[m->nw - 1] : NULL;
    int join;
    uint64_t pages;
    m->pushed++;
    if (len == 0) {
        n_empty++;
        return PR_OK;
    }
    if (gpa > UINT64_MAX - len) /* gpa + len overflows (or is 2^64) */
        return PR_ERR_OUT_OF_RANGE;
    join = last && (last->end == gpa || (last->end % PS == 0 && gpa % PS == 0));
    if (join) {
        struct mwin grown = *last;
        grown.len += len;
        grown.end = gpa + len;
        pages = m->pages - window_pages(last) + window_pages(&grown);
        if (m->bytes + len > lim->max_bytes || pages > lim->max_pages) {
            n_limit++;
            return PR_ERR_LIMIT;
        }
        *last = grown;
        n_joined++;
    } else {
        struct mwin fresh;
        fresh.start = gpa;
        fresh.end = gpa + len;
        fresh.len = len;
        pages = m->pages + window_pages(&fresh);
        if (m->bytes + len > lim->max_bytes || pages > lim->max_pages ||
            m->nw + 1 > lim->max_windows) {
            n_limit++;
            return PR_ERR_LIMIT;
        }
        m->w[m->nw++] = fresh;
        n_new++;
    }
    m->pages = pages;
    m->bytes += len;
    return PR_OK;
}

/* A random segment that exercises the joining rules. */
static struct seg random_seg(tu_rng *rng, const struct model *m)
{
    struct seg s;
    uint64_t kind = tu_rand_below(rng, 8);
    const struct mwin *last = m->nw ? &m->w[m->nw - 1] : NULL;
    uint64_t max_gpa = (uint64_t)PAGES * PS;

    s.len = 1 + tu_rand_below(rng, 3 * PS);
    if (tu_rand_below(rng, 4) == 0)
        s.len = PS * (1 + tu_rand_below(rng, 2)); /* whole pages */
    if (kind == 0 && last && last->end + s.len <= max_gpa) {
        s.gpa = last->end; /* exactly contiguous */
    } else if (kind <= 2) {
        s.gpa = PS * tu_rand_below(rng, PAGES - 3); /* page aligned */
    } else if (kind == 3) {
        s.gpa = tu_rand_below(rng, max_gpa - 3 * PS);
        s.len = 0;
    } else {
        s.gpa = tu_rand_below(rng, max_gpa - 3 * PS);
        if (tu_rand_below(rng, 2)) /* often end on a page boundary */
            s.len = PS - s.gpa % PS + PS * tu_rand_below(rng, 2);
    }
    return s;
}

/* Merges touching intervals (a.end == b.start) in place; returns the count. */
static size_t normalize(uint64_t *iv, size_t n)
{
    size_t i, out = 0;
    for (i = 0; i < n; i++) {
        if (iv[2 * i] == iv[2 * i + 1])
            continue;
        if (out > 0 && iv[2 * (out - 1) + 1] == iv[2 * i]) {
            iv[2 * (out - 1) + 1] = iv[2 * i + 1];
        } else {
            iv[2 * out] = iv[2 * i];
            iv[2 * out + 1] = iv[2 * i + 1];
            out++;
        }
    }
    return out;
}

/* Checks one finished buffer against the segments and the model. */
static void check_result(const pr_ranges *rs, const struct seg *segs, size_t nsegs,
                         const struct model *m, tu_rng *rng)
{
    static uint64_t want_iv[2 * MAX_SEGS], got_iv[2 * 4 * MAX_SEGS];
    static uint8_t want[MAX_SEGS * 3 * 4096], got[MAX_SEGS * 3 * 4096], ram_ref[PAGES * 4096];
    pr_address_range runs[4 * MAX_SEGS];
    size_t i, nw = 0, ng = 0, pos, nruns = 0, total_pages = 0;

    CHECK_EQ(pr_ranges_count(rs), m->nw);
    CHECK_EQ(pr_ranges_len(rs), m->bytes);

    /* the same guest bytes, in the same order */
    for (i = 0; i < nsegs; i++) {
        want_iv[2 * nw] = segs[i].gpa;
        want_iv[2 * nw + 1] = segs[i].gpa + segs[i].len;
        nw++;
    }
    nw = normalize(want_iv, nw);
    CHECK_ST(pr_ranges_address_ranges(rs, runs, 4 * MAX_SEGS, &nruns), PR_OK);
    for (i = 0; i < nruns; i++) {
        got_iv[2 * i] = runs[i].start;
        got_iv[2 * i + 1] = runs[i].end;
    }
    ng = normalize(got_iv, nruns);
    CHECK_EQ(ng, nw);
    CHECK_MEM(got_iv, want_iv, (ng < nw ? ng : nw) * 2 * sizeof(uint64_t));

    /* the expected windows; no two consecutive ones joinable */
    for (i = 0; i < m->nw; i++) {
        uint64_t s = 0, e = 0;
        size_t l = 0, p = 0;
        CHECK(window_bounds(rs, i, &s, &e, &l, &p));
        CHECK_EQ(s, m->w[i].start);
        CHECK_EQ(e, m->w[i].end);
        CHECK_EQ(l, m->w[i].len);
        CHECK_EQ(p, window_pages(&m->w[i]));
        total_pages += p;
        if (i > 0) {
            uint64_t prev_start = 0, prev_end = 0;
            size_t prev_len = 0, prev_pages = 0;
            CHECK(window_bounds(rs, i - 1, &prev_start, &prev_end, &prev_len, &prev_pages));
            CHECK(!(prev_end == s || (prev_end % PS == 0 && s % PS == 0)));
        }
    }
    CHECK_EQ(total_pages, m->pages);

    /* reading through the buffer == reading every segment's bytes */
    pos = 0;
    for (i = 0; i < nsegs; i++) {
        memcpy(want + pos, g.bytes + segs[i].gpa, segs[i].len);
        pos += segs[i].len;
    }
    CHECK_EQ(pos, m->bytes);
    memset(got, 0, pos);
    CHECK_ST(pr_ranges_read(rs, mem, got, pos, NULL), PR_OK);
    CHECK_MEM(got, want, pos);

    /* ... also through a reader, in random pieces */
    {
        pr_reader *rd = NULL;
        size_t at = 0;
        CHECK_ST(pr_ranges_reader_new(rs, mem, &rd), PR_OK);
        memset(got, 0, pos);
        while (at < pos) {
            size_t n = 1 + (size_t)tu_rand_below(rng, pos - at);
            if (pr_reader_read(rd, got + at, n, NULL) != PR_OK)
                break;
            at += n;
        }
        CHECK_EQ(at, pos);
        CHECK_MEM(got, want, pos);
        pr_reader_free(rd);
    }

    /* writing through the buffer == writing the segments one by one */
    tu_fill_pattern(want, pos, (unsigned)tu_rand(rng));
    memcpy(ram_ref, g.bytes, g.size);
    {
        size_t at = 0;
        for (i = 0; i < nsegs; i++) {
            memcpy(ram_ref + segs[i].gpa, want + at, segs[i].len);
            at += segs[i].len;
        }
    }
    CHECK_ST(pr_ranges_write(rs, mem, want, pos, NULL), PR_OK);
    CHECK_MEM(g.bytes, ram_ref, g.size);
}

static void test_random_chains(void)
{
    tu_rng rng = {2024};
    pr_ranges_builder *b = new_builder(NULL);
    pr_builder_limits defaults;
    unsigned iter;
    unsigned before = tu_state()->failures;

    defaults.max_windows = 1024;
    defaults.max_pages = SIZE_MAX;
    defaults.max_bytes = UINT64_C(0xFFFFFFFF);
    tu_fill_pattern(g.bytes, g.size, 77);
    for (iter = 0; iter < 200; iter++) {
        struct seg segs[MAX_SEGS];
        struct model m;
        size_t n = 1 + (size_t)tu_rand_below(&rng, MAX_SEGS), i, nseg = 0;
        pr_ranges *rs;

        memset(&m, 0, sizeof m);
        CHECK_ST(pr_ranges_builder_clear(b), PR_OK); /* reuse one builder */
        for (i = 0; i < n; i++) {
            struct seg s = random_seg(&rng, &m);
            pr_status want = model_push(&m, &defaults, s.gpa, s.len);
            CHECK_ST(pr_ranges_builder_push(b, s.gpa, s.len, NULL), want);
            segs[nseg++] = s;
        }
        rs = finish(b);
        check_result(rs, segs, nseg, &m, &rng);
        pr_ranges_free(rs);
        if (tu_state()->failures != before) {
            fprintf(stderr, "  (random chain %u)\n", iter);
            break;
        }
    }
    pr_ranges_builder_free(b);
}

/* Random chains under small limits: the status and error index of every
 * push match the model, and refused segments leave no trace. */
static void test_random_limits(void)
{
    tu_rng rng = {99};
    unsigned iter;
    unsigned before = tu_state()->failures;

    tu_fill_pattern(g.bytes, g.size, 78);
    for (iter = 0; iter < 200; iter++) {
        pr_builder_limits lim;
        pr_ranges_builder *b;
        struct seg segs[MAX_SEGS];
        struct model m;
        size_t n = 1 + (size_t)tu_rand_below(&rng, MAX_SEGS), i, nseg = 0;
        pr_ranges *rs;

        lim.max_windows = (size_t)tu_rand_below(&rng, 8);
        lim.max_pages = (size_t)tu_rand_below(&rng, 24);
        lim.max_bytes = tu_rand_below(&rng, 12 * PS);
        b = new_builder(&lim);
        memset(&m, 0, sizeof m);
        for (i = 0; i < n; i++) {
            struct seg s = random_seg(&rng, &m);
            size_t idx = SENT_IDX;
            pr_status want = model_push(&m, &lim, s.gpa, s.len);
            CHECK_ST(pr_ranges_builder_push(b, s.gpa, s.len, &idx), want);
            CHECK_EQ(idx, want == PR_OK ? SENT_IDX : i);
            if (want == PR_OK)
                segs[nseg++] = s;
        }
        rs = finish(b);
        check_result(rs, segs, nseg, &m, &rng);
        pr_ranges_free(rs);
        pr_ranges_builder_free(b);
        if (tu_state()->failures != before) {
            fprintf(stderr, "  (random limits %u: windows %zu pages %zu bytes %" PRIu64 ")\n",
                    iter, lim.max_windows, lim.max_pages, lim.max_bytes);
            break;
        }
    }
}

int main(void)
{
    gr_init(&g, PAGES);
    mem = gr_memory(&g, 1);

    test_joining_rules();
    test_empty_and_null();
    test_default_limits();
    test_custom_limits_and_errors();
    test_finish_and_reuse();
    test_random_chains();
    test_random_limits();
    printf("random chains: %u segments joined a window, %u started one, %u were empty, "
           "%u hit a limit\n", n_joined, n_new, n_empty, n_limit);
    CHECK(n_joined > 100 && n_new > 100 && n_empty > 100 && n_limit > 100);

    pr_memory_free(mem);
    gr_destroy(&g);
    return TEST_SUMMARY();
}
