/*
 * test_range.c - pr_range: creation, window arithmetic, GPN lists and the
 * guest address runs of a window.
 *
 * Covers pr_range_new, pr_range_clone, pr_range_free, pr_range_len,
 * pr_range_offset, pr_range_gpns, pr_range_subrange, pr_range_skip,
 * pr_range_truncate, pr_range_split and pr_range_address_ranges, with the
 * edge cases of the issue: the spec's picture, coalescing, short output
 * arrays, empty ranges, GPNs at and above 2^52, SIZE_MAX lengths and
 * offset+len overflow, and out-parameters left untouched on error.
 */
#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define MAXGPN UINT64_C(0xFFFFFFFFFFFFF) /* 2^52 - 1 */

#define SENT_RANGE ((pr_range *)tu_sentinel())
#define SENT_SIZE ((size_t)0xC0FFEE)

/* Checks the window's len, in-page offset and covered GPNs. */
static void check_window(const pr_range *r, size_t want_len, size_t want_offset,
                         const uint64_t *want_gpns, size_t want_count, int line)
{
    size_t n = SENT_SIZE;
    const uint64_t *g = pr_range_gpns(r, &n);
    int ok = pr_range_len(r) == want_len && pr_range_offset(r) == want_offset && n == want_count;
    size_t i;
    if (ok && want_count > 0)
        ok = g != NULL;
    for (i = 0; ok && i < want_count; i++)
        ok = g[i] == want_gpns[i];
    if (!ok) {
        fprintf(stderr,
                "  check_window (line %d): got len %zu offset %zu count %zu, want len %zu "
                "offset %zu count %zu; gpns:",
                line, pr_range_len(r), pr_range_offset(r), n, want_len, want_offset,
                want_count);
        for (i = 0; g && i < n && i < 16; i++)
            fprintf(stderr, " 0x%" PRIx64, g[i]);
        fprintf(stderr, "\n");
    }
    CHECK(ok);
}
#define CHECK_WINDOW(r, len, off, gpns, count) check_window((r), (len), (off), (gpns), (count), __LINE__)

/* Checks the address runs of a range against `want` (pairs start,end). */
static void check_runs(const pr_range *r, const uint64_t *want, size_t want_count, int line)
{
    pr_address_range out[16];
    size_t n = SENT_SIZE;
    size_t i;
    pr_status st = pr_range_address_ranges(r, out, 16, &n);
    int ok = st == PR_OK && n == want_count;
    for (i = 0; ok && i < want_count; i++)
        ok = out[i].start == want[2 * i] && out[i].end == want[2 * i + 1];
    if (!ok) {
        fprintf(stderr, "  check_runs (line %d): status %s, got %zu runs:", line,
                pr_status_str(st), n);
        for (i = 0; st == PR_OK && i < n && i < 16; i++)
            fprintf(stderr, " [0x%" PRIx64 ",0x%" PRIx64 ")", out[i].start, out[i].end);
        fprintf(stderr, "; want %zu:", want_count);
        for (i = 0; i < want_count; i++)
            fprintf(stderr, " [0x%" PRIx64 ",0x%" PRIx64 ")", want[2 * i], want[2 * i + 1]);
        fprintf(stderr, "\n");
    }
    CHECK(ok);
}
#define CHECK_RUNS(r, want, count) check_runs((r), (want), (count), __LINE__)

/* The spec's picture: the window starts inside GPN_0, covers GPN_1 and GPN_2
 * fully and ends inside GPN_3; none of the pages are adjacent, so there are
 * 4 runs. */
static void test_spec_picture(void)
{
    const uint64_t gpns[4] = {0x100, 0x80, 0x300, 0x42};
    const size_t offset = 0x234, tail = 0x567;
    const size_t len = (PS - offset) + 2 * PS + tail;
    const uint64_t runs[8] = {0x100234, 0x101000, 0x80000, 0x81000,
                              0x300000, 0x301000, 0x42000, 0x42567};
    pr_range *r = SENT_RANGE;

    CHECK_ST(pr_range_new(gpns, 4, offset, len, &r), PR_OK);
    CHECK(r != NULL && r != SENT_RANGE);
    CHECK_EQ(pr_range_len(r), len);
    CHECK_EQ(pr_range_offset(r), offset);
    CHECK_WINDOW(r, len, offset, gpns, 4);
    CHECK_RUNS(r, runs, 4);

    /* Short output array: the first `capacity` runs are written, *count says
     * how many are needed, the rest of the array is untouched. */
    {
        pr_address_range out[3];
        size_t n = SENT_SIZE;
        memset(out, 0xEE, sizeof out);
        CHECK_ST(pr_range_address_ranges(r, out, 2, &n), PR_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(n, 4);
        CHECK_EQ(out[0].start, runs[0]);
        CHECK_EQ(out[0].end, runs[1]);
        CHECK_EQ(out[1].start, runs[2]);
        CHECK_EQ(out[1].end, runs[3]);
        CHECK_EQ(out[2].start, UINT64_C(0xEEEEEEEEEEEEEEEE));
        CHECK_EQ(out[2].end, UINT64_C(0xEEEEEEEEEEEEEEEE));

        /* capacity 0 with out == NULL: a pure size query. */
        n = SENT_SIZE;
        CHECK_ST(pr_range_address_ranges(r, NULL, 0, &n), PR_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(n, 4);

        /* exactly enough room */
        {
            pr_address_range exact[4];
            n = SENT_SIZE;
            CHECK_ST(pr_range_address_ranges(r, exact, 4, &n), PR_OK);
            CHECK_EQ(n, 4);
            CHECK_EQ(exact[3].start, runs[6]);
            CHECK_EQ(exact[3].end, runs[7]);
        }
    }

    /* The GPN list is copied: changing the caller's array changes nothing. */
    {
        uint64_t mine[4] = {0x100, 0x80, 0x300, 0x42};
        pr_range *c = NULL;
        CHECK_ST(pr_range_new(mine, 4, offset, len, &c), PR_OK);
        mine[0] = mine[1] = mine[2] = mine[3] = 0x999;
        CHECK_WINDOW(c, len, offset, gpns, 4);
        CHECK_RUNS(c, runs, 4);
        pr_range_free(c);
    }

    pr_range_free(r);
}

/* GPNs {7,8,9,20,21,5}, offset 100, 5 pages long: exactly 3 runs. */
static void test_coalescing(void)
{
    const uint64_t gpns[6] = {7, 8, 9, 20, 21, 5};
    const uint64_t runs[6] = {7 * 4096 + 100, 10 * 4096, 20 * 4096, 22 * 4096,
                              5 * 4096, 5 * 4096 + 100};
    pr_range *r = tu_range(gpns, 6, 100, 5 * PS);

    CHECK_EQ(pr_range_len(r), 5 * PS);
    CHECK_EQ(pr_range_offset(r), 100);
    CHECK_WINDOW(r, 5 * PS, 100, gpns, 6);
    CHECK_RUNS(r, runs, 3);
    pr_range_free(r);

    /* Only numerically increasing neighbours coalesce: descending and
     * repeated GPNs are separate runs. */
    {
        const uint64_t down[3] = {9, 8, 8};
        const uint64_t down_runs[6] = {9 * 4096, 10 * 4096, 8 * 4096, 9 * 4096,
                                       8 * 4096, 8 * 4096 + 1};
        r = tu_range(down, 3, 0, 2 * PS + 1);
        CHECK_RUNS(r, down_runs, 3);
        pr_range_free(r);
    }

    /* A window inside one run of a long list: a single run. */
    {
        const uint64_t seq[5] = {40, 41, 42, 43, 44};
        const uint64_t one[2] = {40 * 4096 + 4095, 44 * 4096 + 1};
        r = tu_range(seq, 5, PS - 1, 3 * PS + 2);
        CHECK_RUNS(r, one, 1);
        pr_range_free(r);
    }
}

/* offset larger than a page: pages before it are not part of the window. */
static void test_offset_beyond_first_page(void)
{
    const uint64_t gpns[5] = {11, 12, 50, 51, 90};
    const uint64_t covered[3] = {12, 50, 51};
    const uint64_t runs[4] = {12 * 4096 + 904, 13 * 4096, 50 * 4096, 51 * 4096 + 10};
    pr_range *r = tu_range(gpns, 5, PS + 904, (PS - 904) + PS + 10);
    CHECK_WINDOW(r, (PS - 904) + PS + 10, 904, covered, 3);
    CHECK_RUNS(r, runs, 2);
    pr_range_free(r);

    /* A window ending exactly on a page boundary does not cover the next page. */
    r = tu_range(gpns, 5, 0, 2 * PS);
    CHECK_WINDOW(r, 2 * PS, 0, gpns, 2);
    pr_range_free(r);
}

static void test_clone(void)
{
    const uint64_t gpns[3] = {3, 4, 9};
    const uint64_t runs[4] = {3 * 4096 + 10, 5 * 4096, 9 * 4096, 9 * 4096 + 20};
    pr_range *r = tu_range(gpns, 3, 10, 2 * PS + 10);
    pr_range *c = SENT_RANGE;

    CHECK_ST(pr_range_clone(r, &c), PR_OK);
    CHECK(c != NULL && c != SENT_RANGE && c != r);
    /* The original goes away first: the clone owns (shares) the list. */
    pr_range_free(r);
    CHECK_WINDOW(c, 2 * PS + 10, 10, gpns, 3);
    CHECK_RUNS(c, runs, 2);

    /* The clone is independent: narrowing it leaves a second clone alone. */
    {
        pr_range *c2 = NULL;
        CHECK_ST(pr_range_clone(c, &c2), PR_OK);
        CHECK_ST(pr_range_skip(c, PS), PR_OK);
        CHECK_EQ(pr_range_len(c), PS + 10);
        CHECK_EQ(pr_range_len(c2), 2 * PS + 10);
        CHECK_WINDOW(c2, 2 * PS + 10, 10, gpns, 3);
        pr_range_free(c2);
    }
    pr_range_free(c);
}

static void test_subrange(void)
{
    const uint64_t gpns[4] = {0x100, 0x80, 0x300, 0x42};
    const size_t offset = 0x234;
    const size_t len = (PS - offset) + 2 * PS + 0x567;
    pr_range *r = tu_range(gpns, 4, offset, len);
    pr_range *s = SENT_RANGE;

    /* 100 bytes in, 5000 bytes long: starts in GPN_0, ends in GPN_1. */
    CHECK_ST(pr_range_subrange(r, 100, 5000, &s), PR_OK);
    {
        const uint64_t runs[4] = {0x100000 + 0x234 + 100, 0x101000, 0x80000,
                                  0x80000 + 5000 - (PS - 0x234 - 100)};
        CHECK_WINDOW(s, 5000, 0x234 + 100, gpns, 2);
        CHECK_RUNS(s, runs, 2);
    }
    /* Parent freed first: the subrange keeps the list alive. */
    pr_range_free(r);
    {
        pr_range *s2 = NULL;
        const uint64_t g1[1] = {0x80};
        const uint64_t runs[2] = {0x80000 + 1000, 0x80000 + 1010};
        /* a subrange of a subrange: 1000 bytes into GPN_1 */
        CHECK_ST(pr_range_subrange(s, (PS - 0x234 - 100) + 1000, 10, &s2), PR_OK);
        CHECK_WINDOW(s2, 10, 1000, g1, 1);
        CHECK_RUNS(s2, runs, 1);
        pr_range_free(s2);
    }

    /* Whole range and empty subranges at both ends. */
    {
        pr_range *w = NULL, *e = NULL;
        size_t n = SENT_SIZE;
        CHECK_ST(pr_range_subrange(s, 0, 5000, &w), PR_OK);
        CHECK_EQ(pr_range_len(w), 5000);
        pr_range_free(w);
        CHECK_ST(pr_range_subrange(s, 5000, 0, &e), PR_OK);
        CHECK_EQ(pr_range_len(e), 0);
        (void)pr_range_gpns(e, &n);
        CHECK_EQ(n, 0);
        n = SENT_SIZE;
        CHECK_ST(pr_range_address_ranges(e, NULL, 0, &n), PR_OK);
        CHECK_EQ(n, 0);
        pr_range_free(e);
    }

    /* Out of range and overflow: PR_ERR_OUT_OF_RANGE, *out untouched. */
    {
        pr_range *o = SENT_RANGE;
        CHECK_ST(pr_range_subrange(s, 5000, 1, &o), PR_ERR_OUT_OF_RANGE);
        CHECK(o == SENT_RANGE);
        CHECK_ST(pr_range_subrange(s, 0, 5001, &o), PR_ERR_OUT_OF_RANGE);
        CHECK(o == SENT_RANGE);
        CHECK_ST(pr_range_subrange(s, 5001, 0, &o), PR_ERR_OUT_OF_RANGE);
        CHECK(o == SENT_RANGE);
        CHECK_ST(pr_range_subrange(s, 0, SIZE_MAX, &o), PR_ERR_OUT_OF_RANGE);
        CHECK(o == SENT_RANGE);
        CHECK_ST(pr_range_subrange(s, SIZE_MAX, 0, &o), PR_ERR_OUT_OF_RANGE);
        CHECK(o == SENT_RANGE);
        /* offset + len wraps around to a small number */
        CHECK_ST(pr_range_subrange(s, 10, SIZE_MAX - 5, &o), PR_ERR_OUT_OF_RANGE);
        CHECK(o == SENT_RANGE);
        CHECK_ST(pr_range_subrange(s, SIZE_MAX, SIZE_MAX, &o), PR_ERR_OUT_OF_RANGE);
        CHECK(o == SENT_RANGE);
        /* s itself is unchanged */
        CHECK_EQ(pr_range_len(s), 5000);
        CHECK_EQ(pr_range_offset(s), 0x234 + 100);
    }
    pr_range_free(s);
}

static void test_skip_truncate(void)
{
    const uint64_t gpns[6] = {7, 8, 9, 20, 21, 5};
    pr_range *r = tu_range(gpns, 6, 100, 5 * PS);

    /* skip one page: same in-page offset, list starts one page later */
    CHECK_ST(pr_range_skip(r, PS), PR_OK);
    CHECK_WINDOW(r, 4 * PS, 100, gpns + 1, 5);
    {
        const uint64_t runs[6] = {8 * 4096 + 100, 10 * 4096, 20 * 4096, 22 * 4096,
                                  5 * 4096, 5 * 4096 + 100};
        CHECK_RUNS(r, runs, 3);
    }
    /* skip to the end of the first run */
    CHECK_ST(pr_range_skip(r, 2 * PS - 100), PR_OK);
    CHECK_WINDOW(r, 2 * PS + 100, 0, gpns + 3, 3);
    /* skip 0 is a no-op */
    CHECK_ST(pr_range_skip(r, 0), PR_OK);
    CHECK_EQ(pr_range_len(r), 2 * PS + 100);

    /* skip too far: error, nothing moves */
    CHECK_ST(pr_range_skip(r, 2 * PS + 101), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_range_skip(r, SIZE_MAX), PR_ERR_OUT_OF_RANGE);
    CHECK_WINDOW(r, 2 * PS + 100, 0, gpns + 3, 3);

    /* truncate: keep the first PS + 7 bytes */
    CHECK_ST(pr_range_truncate(r, PS + 7), PR_OK);
    CHECK_WINDOW(r, PS + 7, 0, gpns + 3, 2);
    {
        const uint64_t runs[2] = {20 * 4096, 21 * 4096 + 7};
        CHECK_RUNS(r, runs, 1);
    }
    CHECK_ST(pr_range_truncate(r, PS + 8), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_range_truncate(r, SIZE_MAX), PR_ERR_OUT_OF_RANGE);
    CHECK_WINDOW(r, PS + 7, 0, gpns + 3, 2);
    /* truncate to the current length is a no-op */
    CHECK_ST(pr_range_truncate(r, PS + 7), PR_OK);
    CHECK_EQ(pr_range_len(r), PS + 7);

    /* skip everything: empty, no GPNs, no runs */
    CHECK_ST(pr_range_skip(r, PS + 7), PR_OK);
    {
        size_t n = SENT_SIZE;
        CHECK_EQ(pr_range_len(r), 0);
        (void)pr_range_gpns(r, &n);
        CHECK_EQ(n, 0);
        n = SENT_SIZE;
        CHECK_ST(pr_range_address_ranges(r, NULL, 0, &n), PR_OK);
        CHECK_EQ(n, 0);
        CHECK_ST(pr_range_skip(r, 1), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_range_truncate(r, 1), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_range_truncate(r, 0), PR_OK);
    }
    pr_range_free(r);

    /* truncate to 0 from a non-empty window */
    r = tu_range(gpns, 6, 100, 5 * PS);
    CHECK_ST(pr_range_truncate(r, 0), PR_OK);
    CHECK_EQ(pr_range_len(r), 0);
    pr_range_free(r);
}

static void test_split(void)
{
    const uint64_t gpns[4] = {0x100, 0x80, 0x300, 0x42};
    const size_t offset = 0x234;
    const size_t len = (PS - offset) + 2 * PS + 0x567;
    pr_range *r = tu_range(gpns, 4, offset, len);
    pr_range *front = SENT_RANGE, *back = SENT_RANGE;

    /* split at the first page boundary */
    CHECK_ST(pr_range_split(r, PS - offset, &front, &back), PR_OK);
    CHECK(front != NULL && front != SENT_RANGE && back != NULL && back != SENT_RANGE);
    pr_range_free(r); /* both halves outlive the original */
    CHECK_WINDOW(front, PS - offset, offset, gpns, 1);
    CHECK_WINDOW(back, 2 * PS + 0x567, 0, gpns + 1, 3);
    {
        const uint64_t fr[2] = {0x100234, 0x101000};
        const uint64_t br[6] = {0x80000, 0x81000, 0x300000, 0x301000, 0x42000, 0x42567};
        CHECK_RUNS(front, fr, 1);
        CHECK_RUNS(back, br, 3);
    }

    /* split in the middle of a page, at 0 and at the end */
    {
        pr_range *a = NULL, *b = NULL;
        CHECK_ST(pr_range_split(back, PS + 10, &a, &b), PR_OK);
        CHECK_WINDOW(a, PS + 10, 0, gpns + 1, 2);
        CHECK_WINDOW(b, PS - 10 + 0x567, 10, gpns + 2, 2);
        pr_range_free(a);
        pr_range_free(b);

        a = b = NULL;
        CHECK_ST(pr_range_split(back, 0, &a, &b), PR_OK);
        CHECK_EQ(pr_range_len(a), 0);
        CHECK_EQ(pr_range_len(b), 2 * PS + 0x567);
        pr_range_free(a);
        pr_range_free(b);

        a = b = NULL;
        CHECK_ST(pr_range_split(back, 2 * PS + 0x567, &a, &b), PR_OK);
        CHECK_EQ(pr_range_len(a), 2 * PS + 0x567);
        CHECK_EQ(pr_range_len(b), 0);
        pr_range_free(a);
        pr_range_free(b);
    }

    /* beyond the end: error, both outs untouched */
    {
        pr_range *a = SENT_RANGE, *b = SENT_RANGE;
        CHECK_ST(pr_range_split(back, 2 * PS + 0x568, &a, &b), PR_ERR_OUT_OF_RANGE);
        CHECK(a == SENT_RANGE && b == SENT_RANGE);
        CHECK_ST(pr_range_split(back, SIZE_MAX, &a, &b), PR_ERR_OUT_OF_RANGE);
        CHECK(a == SENT_RANGE && b == SENT_RANGE);
    }
    pr_range_free(front);
    pr_range_free(back);
}

static void test_empty(void)
{
    pr_range *r = SENT_RANGE;
    size_t n = SENT_SIZE;
    const uint64_t *g;

    /* gpns NULL, count 0, len 0: the valid empty range */
    CHECK_ST(pr_range_new(NULL, 0, 0, 0, &r), PR_OK);
    CHECK(r != NULL && r != SENT_RANGE);
    CHECK_EQ(pr_range_len(r), 0);
    CHECK_EQ(pr_range_offset(r), 0);
    g = pr_range_gpns(r, &n);
    (void)g;
    CHECK_EQ(n, 0);
    n = SENT_SIZE;
    CHECK_ST(pr_range_address_ranges(r, NULL, 0, &n), PR_OK);
    CHECK_EQ(n, 0);
    {
        pr_address_range out[1];
        n = SENT_SIZE;
        CHECK_ST(pr_range_address_ranges(r, out, 1, &n), PR_OK);
        CHECK_EQ(n, 0);
    }
    CHECK_ST(pr_range_skip(r, 0), PR_OK);
    CHECK_ST(pr_range_truncate(r, 0), PR_OK);
    CHECK_ST(pr_range_skip(r, 1), PR_ERR_OUT_OF_RANGE);
    {
        pr_range *c = NULL, *s = NULL, *a = NULL, *b = NULL;
        CHECK_ST(pr_range_clone(r, &c), PR_OK);
        CHECK_EQ(pr_range_len(c), 0);
        CHECK_ST(pr_range_subrange(r, 0, 0, &s), PR_OK);
        CHECK_EQ(pr_range_len(s), 0);
        CHECK_ST(pr_range_split(r, 0, &a, &b), PR_OK);
        CHECK_EQ(pr_range_len(a), 0);
        CHECK_EQ(pr_range_len(b), 0);
        pr_range_free(c);
        pr_range_free(s);
        pr_range_free(a);
        pr_range_free(b);
    }
    pr_range_free(r);

    /* an empty list cannot hold a non-empty window or a nonzero offset */
    r = SENT_RANGE;
    CHECK_ST(pr_range_new(NULL, 0, 0, 1, &r), PR_ERR_OUT_OF_RANGE);
    CHECK(r == SENT_RANGE);
    CHECK_ST(pr_range_new(NULL, 0, 1, 0, &r), PR_ERR_OUT_OF_RANGE);
    CHECK(r == SENT_RANGE);

    /* an empty window over a non-empty list (at its start and its end) */
    {
        const uint64_t gpns[2] = {5, 6};
        r = NULL;
        CHECK_ST(pr_range_new(gpns, 2, 0, 0, &r), PR_OK);
        CHECK_EQ(pr_range_len(r), 0);
        n = SENT_SIZE;
        (void)pr_range_gpns(r, &n);
        CHECK_EQ(n, 0);
        pr_range_free(r);
        r = NULL;
        CHECK_ST(pr_range_new(gpns, 2, 2 * PS, 0, &r), PR_OK);
        CHECK_EQ(pr_range_len(r), 0);
        n = SENT_SIZE;
        CHECK_ST(pr_range_address_ranges(r, NULL, 0, &n), PR_OK);
        CHECK_EQ(n, 0);
        pr_range_free(r);
        r = SENT_RANGE;
        CHECK_ST(pr_range_new(gpns, 2, 2 * PS + 1, 0, &r), PR_ERR_OUT_OF_RANGE);
        CHECK(r == SENT_RANGE);
    }
}

/* GPNs at and above 2^52. */
static void test_gpn_limits(void)
{
    pr_range *r;

    /* 2^52-1 is addressable, but not its last byte. */
    {
        const uint64_t top[1] = {MAXGPN};
        CHECK_EQ(PR_MAX_GPN, MAXGPN);

        r = SENT_RANGE;
        CHECK_ST(pr_range_new(top, 1, 0, PS, &r), PR_ERR_INVALID_GPN);
        CHECK(r == SENT_RANGE);
        CHECK_ST(pr_range_new(top, 1, 1, PS - 1, &r), PR_ERR_INVALID_GPN);
        CHECK(r == SENT_RANGE);
        CHECK_ST(pr_range_new(top, 1, PS - 1, 1, &r), PR_ERR_INVALID_GPN);
        CHECK(r == SENT_RANGE);

        r = NULL;
        CHECK_ST(pr_range_new(top, 1, 0, PS - 1, &r), PR_OK);
        if (r) {
            const uint64_t runs[2] = {UINT64_C(0xFFFFFFFFFFFFF000), UINT64_C(0xFFFFFFFFFFFFFFFF)};
            CHECK_WINDOW(r, PS - 1, 0, top, 1);
            CHECK_RUNS(r, runs, 1);
            pr_range_free(r);
        }
        r = NULL;
        CHECK_ST(pr_range_new(top, 1, 10, PS - 11, &r), PR_OK);
        if (r) {
            const uint64_t runs[2] = {UINT64_C(0xFFFFFFFFFFFFF00A), UINT64_C(0xFFFFFFFFFFFFFFFF)};
            CHECK_RUNS(r, runs, 1);
            pr_range_free(r);
        }
    }

    /* two adjacent pages climbing to 2^52-1 form one run ending at 2^64-1 */
    {
        const uint64_t pair[2] = {MAXGPN - 1, MAXGPN};
        const uint64_t runs[2] = {UINT64_C(0xFFFFFFFFFFFFE000), UINT64_C(0xFFFFFFFFFFFFFFFF)};
        r = NULL;
        CHECK_ST(pr_range_new(pair, 2, 0, 2 * PS - 1, &r), PR_OK);
        if (r) {
            CHECK_RUNS(r, runs, 1);
            pr_range_free(r);
        }
        r = SENT_RANGE;
        CHECK_ST(pr_range_new(pair, 2, 0, 2 * PS, &r), PR_ERR_INVALID_GPN);
        CHECK(r == SENT_RANGE);
    }

    /* 2^52 and UINT64_MAX are never addressable, even for one byte */
    {
        const uint64_t bad[4] = {MAXGPN + 1, UINT64_MAX, UINT64_C(0x8000000000000000),
                                 UINT64_MAX - 1};
        size_t i;
        for (i = 0; i < 4; i++) {
            r = SENT_RANGE;
            CHECK_ST(pr_range_new(&bad[i], 1, 0, 1, &r), PR_ERR_INVALID_GPN);
            CHECK(r == SENT_RANGE);
            CHECK_ST(pr_range_new(&bad[i], 1, 100, 1, &r), PR_ERR_INVALID_GPN);
            CHECK(r == SENT_RANGE);
        }
    }

    /* an invalid GPN in the middle of the window */
    {
        const uint64_t mid[3] = {1, MAXGPN + 1, 3};
        r = SENT_RANGE;
        CHECK_ST(pr_range_new(mid, 3, 0, 3 * PS, &r), PR_ERR_INVALID_GPN);
        CHECK(r == SENT_RANGE);
        CHECK_ST(pr_range_new(mid, 3, PS - 1, 2, &r), PR_ERR_INVALID_GPN);
        CHECK(r == SENT_RANGE);
    }

    /* GPNs outside the window are not checked */
    {
        const uint64_t around[3] = {UINT64_MAX, 7, MAXGPN + 1};
        const uint64_t seven[1] = {7};
        const uint64_t runs[2] = {7 * 4096 + 1, 7 * 4096 + 11};
        r = NULL;
        CHECK_ST(pr_range_new(around, 3, PS + 1, 10, &r), PR_OK);
        if (r) {
            CHECK_WINDOW(r, 10, 1, seven, 1);
            CHECK_RUNS(r, runs, 1);
            pr_range_free(r);
        }
        /* a window ending exactly where the bad page starts */
        r = NULL;
        CHECK_ST(pr_range_new(around, 3, PS, PS, &r), PR_OK);
        pr_range_free(r);
        r = SENT_RANGE;
        CHECK_ST(pr_range_new(around, 3, PS, PS + 1, &r), PR_ERR_INVALID_GPN);
        CHECK(r == SENT_RANGE);
    }
}

/* SIZE_MAX lengths and offset + len overflow at creation. */
static void test_size_limits(void)
{
    const uint64_t gpns[2] = {1, 2};
    pr_range *r = SENT_RANGE;

    CHECK_ST(pr_range_new(gpns, 2, 0, SIZE_MAX, &r), PR_ERR_OUT_OF_RANGE);
    CHECK(r == SENT_RANGE);
    CHECK_ST(pr_range_new(gpns, 2, SIZE_MAX, 0, &r), PR_ERR_OUT_OF_RANGE);
    CHECK(r == SENT_RANGE);
    CHECK_ST(pr_range_new(gpns, 2, SIZE_MAX, 1, &r), PR_ERR_OUT_OF_RANGE);
    CHECK(r == SENT_RANGE);
    CHECK_ST(pr_range_new(gpns, 2, 1, SIZE_MAX, &r), PR_ERR_OUT_OF_RANGE);
    CHECK(r == SENT_RANGE);
    CHECK_ST(pr_range_new(gpns, 2, SIZE_MAX, SIZE_MAX, &r), PR_ERR_OUT_OF_RANGE);
    CHECK(r == SENT_RANGE);
    /* offset + len wraps to a value that would fit */
    CHECK_ST(pr_range_new(gpns, 2, 100, SIZE_MAX - 50, &r), PR_ERR_OUT_OF_RANGE);
    CHECK(r == SENT_RANGE);
    /* just one byte too long */
    CHECK_ST(pr_range_new(gpns, 2, 0, 2 * PS + 1, &r), PR_ERR_OUT_OF_RANGE);
    CHECK(r == SENT_RANGE);
    CHECK_ST(pr_range_new(gpns, 2, PS, PS + 1, &r), PR_ERR_OUT_OF_RANGE);
    CHECK(r == SENT_RANGE);
    /* exactly the whole list is fine */
    r = NULL;
    CHECK_ST(pr_range_new(gpns, 2, 0, 2 * PS, &r), PR_OK);
    CHECK_EQ(pr_range_len(r), 2 * PS);
    {
        pr_range *o = SENT_RANGE, *a = SENT_RANGE, *b = SENT_RANGE;
        /* SIZE_MAX through the derived operations, too */
        CHECK_ST(pr_range_subrange(r, SIZE_MAX, 1, &o), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_range_subrange(r, 1, SIZE_MAX, &o), PR_ERR_OUT_OF_RANGE);
        CHECK(o == SENT_RANGE);
        CHECK_ST(pr_range_split(r, SIZE_MAX, &a, &b), PR_ERR_OUT_OF_RANGE);
        CHECK(a == SENT_RANGE && b == SENT_RANGE);
        CHECK_ST(pr_range_skip(r, SIZE_MAX), PR_ERR_OUT_OF_RANGE);
        CHECK_ST(pr_range_truncate(r, SIZE_MAX), PR_ERR_OUT_OF_RANGE);
        CHECK_EQ(pr_range_len(r), 2 * PS);
    }
    pr_range_free(r);
}

/* A window over many pages: GPN list and runs against a C reference model. */
static void test_many_pages_model(void)
{
    enum { N = 300 };
    uint64_t gpns[N];
    pr_address_range *out;
    size_t i, n = 0, want_runs = 0;
    pr_range *r;
    const size_t offset = 3 * PS + 77, len = (N - 5) * PS + 123;

    /* runs of 1..4 adjacent pages separated by gaps */
    for (i = 0; i < N; i++)
        gpns[i] = (uint64_t)(i * 2 - (i % 4 == 0 ? 0 : 1) * (i % 4)) + 1000 * (i / 7);
    r = tu_range(gpns, N, offset, len);

    /* model: walk the window byte space page by page */
    {
        size_t first = offset / PS, last = (offset + len - 1) / PS, p;
        for (p = first; p <= last; p++)
            if (p == first || gpns[p] != gpns[p - 1] + 1)
                want_runs++;
        CHECK_EQ(pr_range_address_ranges(r, NULL, 0, &n), want_runs > 0 ? PR_ERR_BUFFER_TOO_SMALL : PR_OK);
        CHECK_EQ(n, want_runs);
        out = (pr_address_range *)calloc(want_runs, sizeof *out);
        CHECK_ST(pr_range_address_ranges(r, out, want_runs, &n), PR_OK);
        CHECK_EQ(n, want_runs);
        {
            /* every run: contiguous in both flat and guest space; together
             * they cover the window exactly */
            size_t flat = offset, k;
            for (k = 0; k < n; k++) {
                uint64_t start = gpns[flat / PS] * PS + flat % PS;
                uint64_t runlen = out[k].end - out[k].start;
                CHECK_EQ(out[k].start, start);
                CHECK(runlen > 0);
                flat += (size_t)runlen;
            }
            CHECK_EQ(flat, offset + len);
        }
        free(out);
        {
            size_t cnt = 0;
            const uint64_t *g = pr_range_gpns(r, &cnt);
            CHECK_EQ(cnt, last - first + 1);
            CHECK(g != NULL && memcmp(g, gpns + first, cnt * sizeof *g) == 0);
        }
    }
    pr_range_free(r);
}

int main(void)
{
    test_spec_picture();
    test_coalescing();
    test_offset_beyond_first_page();
    test_clone();
    test_subrange();
    test_skip_truncate();
    test_split();
    test_empty();
    test_gpn_limits();
    test_size_limits();
    test_many_pages_model();
    return TEST_SUMMARY();
}
