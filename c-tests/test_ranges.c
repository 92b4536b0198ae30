/*
 * test_ranges.c - pr_ranges: several windows acting as one buffer.
 *
 * Covers pr_ranges_new, pr_ranges_push, pr_ranges_free, pr_ranges_len,
 * pr_ranges_count, pr_ranges_get, pr_ranges_skip, pr_ranges_truncate and
 * pr_ranges_address_ranges: multi-range buffers after skip and truncate
 * (members cut at non-aligned places: count, the window of every member,
 * runs listed member by member, reads of what is left), empty members not
 * counted, get out of range, ownership (members freed before the list).
 */
#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define SENT_RANGE ((pr_range *)tu_sentinel())
#define SENT_SIZE ((size_t)0xC0FFEE)

/* Members (one run unless noted):
 *   A: GPNs {3,4}, offset 0x10, 0x1800 bytes  -> 0x3010 .. 0x4810
 *   E: the empty range
 *   B: GPNs {10,12}, offset 0xF00, 0x200      -> 0xAF00 .. 0xB000, 0xC000 .. 0xC100
 *   C: GPNs {30}, offset 0x7, 0x80            -> 0x1E007 .. 0x1E087
 */
static const uint64_t A_GPNS[2] = {3, 4};
static const uint64_t B_GPNS[2] = {10, 12};
static const uint64_t C_GPNS[1] = {30};
#define A_LEN ((size_t)0x1800)
#define B_LEN ((size_t)0x200)
#define C_LEN ((size_t)0x80)
#define TOTAL (A_LEN + B_LEN + C_LEN)

static guest_ram g;
static pr_memory *mem;
static uint8_t expect[TOTAL]; /* logical contents of the A|B|C buffer */

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

/* Checks the i-th member window: len, in-page offset, GPNs. */
static void check_member(const pr_ranges *rs, size_t index, size_t len, size_t offset,
                         const uint64_t *gpns, size_t count, int line)
{
    pr_range *r = SENT_RANGE;
    pr_status st = pr_ranges_get(rs, index, &r);
    size_t n = SENT_SIZE, i;
    const uint64_t *got;
    int ok = st == PR_OK && r != NULL && r != SENT_RANGE;
    if (!ok) {
        fprintf(stderr, "  check_member (line %d): get(%zu) -> %s\n", line, index,
                pr_status_str(st));
        CHECK(ok);
        return;
    }
    got = pr_range_gpns(r, &n);
    ok = pr_range_len(r) == len && pr_range_offset(r) == offset && n == count;
    for (i = 0; ok && i < count; i++)
        ok = got[i] == gpns[i];
    if (!ok)
        fprintf(stderr,
                "  check_member (line %d): member %zu has len 0x%zx offset 0x%zx %zu gpns, "
                "want len 0x%zx offset 0x%zx %zu gpns\n",
                line, index, pr_range_len(r), pr_range_offset(r), n, len, offset, count);
    CHECK(ok);
    pr_range_free(r);
}
#define CHECK_MEMBER(rs, i, len, off, gpns, count) \
    check_member((rs), (i), (len), (off), (gpns), (count), __LINE__)

static void check_runs(const pr_ranges *rs, const uint64_t *want, size_t want_count, int line)
{
    pr_address_range out[16];
    size_t n = SENT_SIZE, i;
    pr_status st = pr_ranges_address_ranges(rs, out, 16, &n);
    int ok = st == PR_OK && n == want_count;
    for (i = 0; ok && i < want_count; i++)
        ok = out[i].start == want[2 * i] && out[i].end == want[2 * i + 1];
    if (!ok) {
        fprintf(stderr, "  check_runs (line %d): %s, got %zu runs:", line, pr_status_str(st), n);
        for (i = 0; st == PR_OK && i < n && i < 16; i++)
            fprintf(stderr, " [0x%" PRIx64 ",0x%" PRIx64 ")", out[i].start, out[i].end);
        fprintf(stderr, "; want %zu\n", want_count);
    }
    CHECK(ok);
}
#define CHECK_RUNS(rs, want, count) check_runs((rs), (want), (count), __LINE__)

/* Reads the whole buffer and compares it with expect[from .. from+len). */
static void check_contents(const pr_ranges *rs, size_t from, int line)
{
    size_t len = pr_ranges_len(rs);
    uint8_t *buf = (uint8_t *)malloc(len + 1);
    pr_transfer t;
    pr_status st = pr_ranges_read(rs, mem, buf, len, &t);
    int ok = st == PR_OK && t.done == len && memcmp(buf, expect + from, len) == 0;
    if (!ok)
        fprintf(stderr, "  check_contents (line %d): %s, done %zu of %zu\n", line,
                pr_status_str(st), t.done, len);
    CHECK(ok);
    free(buf);
}
#define CHECK_CONTENTS(rs, from) check_contents((rs), (from), __LINE__)

static pr_ranges *make_aebc(void)
{
    pr_range *a = tu_range(A_GPNS, 2, 0x10, A_LEN);
    pr_range *e = tu_range(NULL, 0, 0, 0);
    pr_range *b = tu_range(B_GPNS, 2, 0xF00, B_LEN);
    pr_range *c = tu_range(C_GPNS, 1, 0x7, C_LEN);
    const pr_range *list[4];
    pr_ranges *rs = (pr_ranges *)tu_sentinel();
    list[0] = a;
    list[1] = e;
    list[2] = b;
    list[3] = c;
    CHECK_ST(pr_ranges_new(list, 4, &rs), PR_OK);
    CHECK(rs != NULL && rs != (pr_ranges *)tu_sentinel());
    /* the members go away first: the list holds what it needs */
    pr_range_free(a);
    pr_range_free(e);
    pr_range_free(b);
    pr_range_free(c);
    return rs;
}

static void test_whole(void)
{
    pr_ranges *rs = make_aebc();
    const uint64_t runs[8] = {0x3010, 0x4810, 0xAF00, 0xB000, 0xC000, 0xC100, 0x1E007, 0x1E087};

    CHECK_EQ(pr_ranges_len(rs), TOTAL);
    CHECK_EQ(pr_ranges_count(rs), 3); /* E is empty: not counted */
    CHECK_MEMBER(rs, 0, A_LEN, 0x10, A_GPNS, 2);
    CHECK_MEMBER(rs, 1, B_LEN, 0xF00, B_GPNS, 2);
    CHECK_MEMBER(rs, 2, C_LEN, 0x7, C_GPNS, 1);
    {
        pr_range *r = SENT_RANGE;
        CHECK_ST(pr_ranges_get(rs, 3, &r), PR_ERR_OUT_OF_RANGE);
        CHECK(r == SENT_RANGE);
        CHECK_ST(pr_ranges_get(rs, SIZE_MAX, &r), PR_ERR_OUT_OF_RANGE);
        CHECK(r == SENT_RANGE);
    }
    CHECK_RUNS(rs, runs, 4);

    /* short output array */
    {
        pr_address_range out[3];
        size_t n = SENT_SIZE;
        memset(out, 0xEE, sizeof out);
        CHECK_ST(pr_ranges_address_ranges(rs, out, 2, &n), PR_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(n, 4);
        CHECK_EQ(out[0].start, 0x3010);
        CHECK_EQ(out[1].end, 0xB000);
        CHECK_EQ(out[2].start, UINT64_C(0xEEEEEEEEEEEEEEEE));
        n = SENT_SIZE;
        CHECK_ST(pr_ranges_address_ranges(rs, NULL, 0, &n), PR_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(n, 4);
    }

    /* a member obtained with get is an independent range */
    {
        pr_range *b = NULL;
        pr_address_range out[2];
        size_t n = 0;
        CHECK_ST(pr_ranges_get(rs, 1, &b), PR_OK);
        CHECK_ST(pr_range_skip(b, 0x100), PR_OK);
        CHECK_ST(pr_range_address_ranges(b, out, 2, &n), PR_OK);
        CHECK_EQ(n, 1);
        CHECK_EQ(out[0].start, 0xC000);
        pr_range_free(b);
        CHECK_EQ(pr_ranges_len(rs), TOTAL);
        CHECK_MEMBER(rs, 1, B_LEN, 0xF00, B_GPNS, 2);
    }

    CHECK_CONTENTS(rs, 0);
    pr_ranges_free(rs);
}

static void test_skip(void)
{
    pr_ranges *rs = make_aebc();

    /* skip a page into A: A keeps its in-page offset, loses GPN 3 */
    CHECK_ST(pr_ranges_skip(rs, 0x1000), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), TOTAL - 0x1000);
    CHECK_EQ(pr_ranges_count(rs), 3);
    CHECK_MEMBER(rs, 0, A_LEN - 0x1000, 0x10, A_GPNS + 1, 1);
    CHECK_MEMBER(rs, 1, B_LEN, 0xF00, B_GPNS, 2);
    {
        const uint64_t runs[8] = {0x4010, 0x4810, 0xAF00, 0xB000, 0xC000, 0xC100, 0x1E007, 0x1E087};
        CHECK_RUNS(rs, runs, 4);
    }
    CHECK_CONTENTS(rs, 0x1000);

    /* skip the rest of A and 0x123 bytes of B: B now starts inside GPN 12 */
    CHECK_ST(pr_ranges_skip(rs, (A_LEN - 0x1000) + 0x123), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), B_LEN - 0x123 + C_LEN);
    CHECK_EQ(pr_ranges_count(rs), 2);
    CHECK_MEMBER(rs, 0, B_LEN - 0x123, 0x23, B_GPNS + 1, 1);
    CHECK_MEMBER(rs, 1, C_LEN, 0x7, C_GPNS, 1);
    {
        pr_range *r = SENT_RANGE;
        const uint64_t runs[4] = {0xC023, 0xC100, 0x1E007, 0x1E087};
        CHECK_ST(pr_ranges_get(rs, 2, &r), PR_ERR_OUT_OF_RANGE);
        CHECK(r == SENT_RANGE);
        CHECK_RUNS(rs, runs, 2);
    }
    CHECK_CONTENTS(rs, A_LEN + 0x123);

    /* skipping exactly to a member boundary: B disappears entirely */
    CHECK_ST(pr_ranges_skip(rs, B_LEN - 0x123), PR_OK);
    CHECK_EQ(pr_ranges_count(rs), 1);
    CHECK_MEMBER(rs, 0, C_LEN, 0x7, C_GPNS, 1);
    CHECK_CONTENTS(rs, A_LEN + B_LEN);

    /* too far: error, nothing moves */
    CHECK_ST(pr_ranges_skip(rs, C_LEN + 1), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_ranges_skip(rs, SIZE_MAX), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(pr_ranges_len(rs), C_LEN);
    CHECK_EQ(pr_ranges_count(rs), 1);

    /* skip everything: empty, no member, no run */
    CHECK_ST(pr_ranges_skip(rs, C_LEN), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), 0);
    CHECK_EQ(pr_ranges_count(rs), 0);
    {
        pr_range *r = SENT_RANGE;
        size_t n = SENT_SIZE;
        CHECK_ST(pr_ranges_get(rs, 0, &r), PR_ERR_OUT_OF_RANGE);
        CHECK(r == SENT_RANGE);
        CHECK_ST(pr_ranges_address_ranges(rs, NULL, 0, &n), PR_OK);
        CHECK_EQ(n, 0);
        CHECK_ST(pr_ranges_skip(rs, 0), PR_OK);
        CHECK_ST(pr_ranges_skip(rs, 1), PR_ERR_OUT_OF_RANGE);
    }
    pr_ranges_free(rs);
}

static void test_truncate(void)
{
    pr_ranges *rs = make_aebc();

    /* cut inside B's first run: C goes, B keeps 0x40 bytes */
    CHECK_ST(pr_ranges_truncate(rs, A_LEN + 0x40), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), A_LEN + 0x40);
    CHECK_EQ(pr_ranges_count(rs), 2);
    CHECK_MEMBER(rs, 0, A_LEN, 0x10, A_GPNS, 2);
    CHECK_MEMBER(rs, 1, 0x40, 0xF00, B_GPNS, 1);
    {
        const uint64_t runs[4] = {0x3010, 0x4810, 0xAF00, 0xAF40};
        CHECK_RUNS(rs, runs, 2);
    }
    CHECK_CONTENTS(rs, 0);

    /* growing back is not possible */
    CHECK_ST(pr_ranges_truncate(rs, A_LEN + 0x41), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_ranges_truncate(rs, SIZE_MAX), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(pr_ranges_len(rs), A_LEN + 0x40);

    /* truncate exactly at the end of A: B is empty, not counted */
    CHECK_ST(pr_ranges_truncate(rs, A_LEN), PR_OK);
    CHECK_EQ(pr_ranges_count(rs), 1);
    {
        pr_range *r = SENT_RANGE;
        CHECK_ST(pr_ranges_get(rs, 1, &r), PR_ERR_OUT_OF_RANGE);
        CHECK(r == SENT_RANGE);
    }

    /* skip and truncate together: a window from inside A to inside A */
    CHECK_ST(pr_ranges_skip(rs, 0xFF0), PR_OK);
    CHECK_ST(pr_ranges_truncate(rs, 0x20), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), 0x20);
    CHECK_EQ(pr_ranges_count(rs), 1);
    CHECK_MEMBER(rs, 0, 0x20, 0x0, A_GPNS + 1, 1);
    {
        const uint64_t runs[2] = {0x4000, 0x4020};
        CHECK_RUNS(rs, runs, 1);
    }
    CHECK_CONTENTS(rs, 0xFF0);

    /* truncate to 0 */
    CHECK_ST(pr_ranges_truncate(rs, 0), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), 0);
    CHECK_EQ(pr_ranges_count(rs), 0);
    pr_ranges_free(rs);

    /* skip into B, truncate inside C: members B' and C' both partial */
    rs = make_aebc();
    CHECK_ST(pr_ranges_skip(rs, A_LEN + 0xFF), PR_OK);
    CHECK_ST(pr_ranges_truncate(rs, 0x101 + 0x11), PR_OK);
    CHECK_EQ(pr_ranges_count(rs), 2);
    CHECK_MEMBER(rs, 0, 0x101, 0xFFF, B_GPNS, 2);
    CHECK_MEMBER(rs, 1, 0x11, 0x7, C_GPNS, 1);
    {
        const uint64_t runs[6] = {0xAFFF, 0xB000, 0xC000, 0xC100, 0x1E007, 0x1E018};
        CHECK_RUNS(rs, runs, 3);
    }
    CHECK_CONTENTS(rs, A_LEN + 0xFF);
    pr_ranges_free(rs);
}

/* Runs are listed member by member: physically adjacent members are not
 * merged into one run. */
static void test_member_by_member(void)
{
    const uint64_t a_gpns[1] = {4};
    pr_range *a = tu_range(a_gpns, 1, 0x100, 0x10); /* 0x4100 .. 0x4110 */
    pr_range *b = tu_range(a_gpns, 1, 0x110, 0x10); /* 0x4110 .. 0x4120 */
    const pr_range *list[2];
    pr_ranges *rs = NULL;
    const uint64_t runs[4] = {0x4100, 0x4110, 0x4110, 0x4120};
    list[0] = a;
    list[1] = b;
    CHECK_ST(pr_ranges_new(list, 2, &rs), PR_OK);
    CHECK_EQ(pr_ranges_count(rs), 2);
    CHECK_RUNS(rs, runs, 2);
    pr_ranges_free(rs);
    pr_range_free(a);
    pr_range_free(b);
}

static void test_push(void)
{
    pr_ranges *rs = (pr_ranges *)tu_sentinel();
    pr_range *a = tu_range(A_GPNS, 2, 0x10, A_LEN);
    pr_range *b = tu_range(B_GPNS, 2, 0xF00, B_LEN);
    pr_range *c = tu_range(C_GPNS, 1, 0x7, C_LEN);
    pr_range *e = tu_range(NULL, 0, 0, 0);

    /* the empty list */
    CHECK_ST(pr_ranges_new(NULL, 0, &rs), PR_OK);
    CHECK(rs != NULL && rs != (pr_ranges *)tu_sentinel());
    CHECK_EQ(pr_ranges_len(rs), 0);
    CHECK_EQ(pr_ranges_count(rs), 0);
    {
        size_t n = SENT_SIZE;
        pr_range *r = SENT_RANGE;
        CHECK_ST(pr_ranges_address_ranges(rs, NULL, 0, &n), PR_OK);
        CHECK_EQ(n, 0);
        CHECK_ST(pr_ranges_get(rs, 0, &r), PR_ERR_OUT_OF_RANGE);
        CHECK(r == SENT_RANGE);
        CHECK_ST(pr_ranges_truncate(rs, 0), PR_OK);
        CHECK_ST(pr_ranges_skip(rs, 1), PR_ERR_OUT_OF_RANGE);
    }

    /* push A, E, B, C one by one: same buffer as make_aebc */
    CHECK_ST(pr_ranges_push(rs, a), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), A_LEN);
    CHECK_EQ(pr_ranges_count(rs), 1);
    CHECK_ST(pr_ranges_push(rs, e), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), A_LEN);
    CHECK_EQ(pr_ranges_count(rs), 1);
    CHECK_ST(pr_ranges_push(rs, b), PR_OK);
    CHECK_ST(pr_ranges_push(rs, c), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), TOTAL);
    CHECK_EQ(pr_ranges_count(rs), 3);
    CHECK_MEMBER(rs, 2, C_LEN, 0x7, C_GPNS, 1);
    CHECK_CONTENTS(rs, 0);

    /* the pushed ranges can go: the list copied the windows. Narrowing the
     * original after the push does not change the member either. */
    CHECK_ST(pr_range_truncate(b, 1), PR_OK);
    CHECK_MEMBER(rs, 1, B_LEN, 0xF00, B_GPNS, 2);
    pr_range_free(b);
    b = NULL;

    /* push after truncate: appended after the current (truncated) end */
    CHECK_ST(pr_ranges_truncate(rs, A_LEN + 0x10), PR_OK);
    CHECK_ST(pr_ranges_push(rs, c), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), A_LEN + 0x10 + C_LEN);
    CHECK_EQ(pr_ranges_count(rs), 3);
    CHECK_MEMBER(rs, 1, 0x10, 0xF00, B_GPNS, 1);
    CHECK_MEMBER(rs, 2, C_LEN, 0x7, C_GPNS, 1);
    {
        const uint64_t runs[6] = {0x3010, 0x4810, 0xAF00, 0xAF10, 0x1E007, 0x1E087};
        CHECK_RUNS(rs, runs, 3);
    }

    /* push after skip: the skipped bytes stay skipped */
    CHECK_ST(pr_ranges_skip(rs, A_LEN + 0x8), PR_OK);
    CHECK_ST(pr_ranges_push(rs, a), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), 0x8 + C_LEN + A_LEN);
    CHECK_EQ(pr_ranges_count(rs), 3);
    CHECK_MEMBER(rs, 0, 0x8, 0xF08, B_GPNS, 1);
    CHECK_MEMBER(rs, 1, C_LEN, 0x7, C_GPNS, 1);
    CHECK_MEMBER(rs, 2, A_LEN, 0x10, A_GPNS, 2);
    {
        /* contents: B[8..16) | C | A */
        uint8_t want[0x8 + C_LEN + A_LEN], got[0x8 + C_LEN + A_LEN];
        pr_transfer t;
        memcpy(want, expect + A_LEN + 0x8, 0x8);
        memcpy(want + 0x8, expect + A_LEN + B_LEN, C_LEN);
        memcpy(want + 0x8 + C_LEN, expect, A_LEN);
        CHECK_ST(pr_ranges_read(rs, mem, got, sizeof got, &t), PR_OK);
        CHECK_EQ(t.done, sizeof got);
        CHECK_MEM(got, want, sizeof got);
    }

    /* push onto a list that was skipped to empty */
    CHECK_ST(pr_ranges_skip(rs, pr_ranges_len(rs)), PR_OK);
    CHECK_EQ(pr_ranges_count(rs), 0);
    CHECK_ST(pr_ranges_push(rs, c), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), C_LEN);
    CHECK_EQ(pr_ranges_count(rs), 1);
    CHECK_MEMBER(rs, 0, C_LEN, 0x7, C_GPNS, 1);
    CHECK_CONTENTS(rs, A_LEN + B_LEN);

    pr_range_free(a);
    pr_range_free(c);
    pr_range_free(e);
    pr_ranges_free(rs);
}

/* pr_ranges_new with only empty members, and with one member many times. */
static void test_new_variants(void)
{
    pr_range *e = tu_range(NULL, 0, 0, 0);
    pr_range *c = tu_range(C_GPNS, 1, 0x7, C_LEN);
    const pr_range *list[5];
    pr_ranges *rs = NULL;

    list[0] = e;
    list[1] = e;
    CHECK_ST(pr_ranges_new(list, 2, &rs), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), 0);
    CHECK_EQ(pr_ranges_count(rs), 0);
    pr_ranges_free(rs);

    list[0] = c;
    list[1] = e;
    list[2] = c;
    list[3] = c;
    list[4] = e;
    rs = NULL;
    CHECK_ST(pr_ranges_new(list, 5, &rs), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), 3 * C_LEN);
    CHECK_EQ(pr_ranges_count(rs), 3);
    {
        const uint64_t runs[6] = {0x1E007, 0x1E087, 0x1E007, 0x1E087, 0x1E007, 0x1E087};
        CHECK_RUNS(rs, runs, 3);
    }
    /* skip into the middle copy */
    CHECK_ST(pr_ranges_skip(rs, C_LEN + 1), PR_OK);
    CHECK_EQ(pr_ranges_count(rs), 2);
    CHECK_MEMBER(rs, 0, C_LEN - 1, 0x8, C_GPNS, 1);
    pr_ranges_free(rs);
    pr_range_free(c);
    pr_range_free(e);
}

int main(void)
{
    size_t i;

    gr_init(&g, 64);
    mem = gr_memory(&g, 1);
    tu_fill_pattern(g.bytes, g.size, 77);
    for (i = 0; i < TOTAL; i++)
        expect[i] = g.bytes[abc_gpa(i)];

    test_whole();
    test_skip();
    test_truncate();
    test_member_by_member();
    test_push();
    test_new_variants();

    pr_memory_free(mem);
    gr_destroy(&g);
    return TEST_SUMMARY();
}
