/*
 * test_wire.c - the packed GPA-range format of VMBus packets:
 * pr_ranges_parse_gpa_ranges and pr_ranges_write_gpa_ranges.
 *
 * Per range: a header word `len | offset << 32` followed by the
 * ceil((offset + len) / 4096) GPNs the range touches; ranges back to back.
 *
 * Covers: hand-encoded lists parsed into the expected windows (count, len,
 * offsets, GPN lists, address runs), words_used (also when fewer ranges are
 * asked for than the words hold, and with trailing words), empty ranges;
 * errors with error_word: truncated lists (header or GPNs missing), offset
 * >= 4096, GPNs that cannot be addressed (above PR_MAX_GPN, or covering the
 * last byte of PR_MAX_GPN), NULL and misaligned arguments, outputs left
 * untouched on error; writing: exact words, size queries (words NULL,
 * capacity 0), PR_ERR_BUFFER_TOO_SMALL without touching the array, a window
 * longer than the 32-bit length field, windows after skip/truncate encoded
 * as the clipped windows; random round trips write -> parse -> write against
 * an encoder written here from the format description.
 */
#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define SENT_RANGES ((pr_ranges *)tu_sentinel())
#define SENT_SIZE ((size_t)0xC0FFEE)
#define W(len, off) ((uint64_t)(len) | (uint64_t)(off) << 32)
#define MAXGPN UINT64_C(0xFFFFFFFFFFFFF)

/* Encodes rs the way the format describes, from the public getters. Returns
 * the number of words (written to out when it fits in cap). */
static size_t encode_here(const pr_ranges *rs, uint64_t *out, size_t cap)
{
    size_t i, at = 0, count = pr_ranges_count(rs);
    for (i = 0; i < count; i++) {
        pr_range *w = NULL;
        size_t n = 0, k;
        const uint64_t *gpns;
        if (pr_ranges_get(rs, i, &w) != PR_OK)
            return 0;
        gpns = pr_range_gpns(w, &n);
        if (at < cap)
            out[at] = W(pr_range_len(w), pr_range_offset(w));
        at++;
        for (k = 0; k < n; k++, at++)
            if (at < cap)
                out[at] = gpns[k];
        pr_range_free(w);
    }
    return at;
}

/* Window i of rs has this length, in-page offset and GPN list. */
static void check_window(const pr_ranges *rs, size_t i, size_t len, size_t offset,
                         const uint64_t *gpns, size_t count, int line)
{
    pr_range *w = NULL;
    size_t n = 0, k;
    const uint64_t *got;
    int ok = pr_ranges_get(rs, i, &w) == PR_OK;
    if (ok) {
        got = pr_range_gpns(w, &n);
        ok = pr_range_len(w) == len && pr_range_offset(w) == offset && n == count;
        for (k = 0; ok && k < count; k++)
            ok = got[k] == gpns[k];
        if (!ok)
            fprintf(stderr, "  check_window (line %d) window %zu: len %zu offset %zu pages %zu\n",
                    line, i, pr_range_len(w), pr_range_offset(w), n);
    }
    pr_range_free(w);
    CHECK(ok);
}
#define CHECK_WINDOW(rs, i, len, off, gpns, n) check_window((rs), (i), (len), (off), (gpns), (n), __LINE__)

static void test_parse_basic(void)
{
    /* range 0: 100 bytes at offset 4000 of GPN 5, then GPN 6
     * range 1: one whole page, GPN 9
     * range 2: empty (no GPN words)
     * range 3: the last byte of GPN 0x10
     * range 4: 3 pages + 1 byte from offset 0: 4 GPNs */
    const uint64_t words[] = {
        W(100, 4000), 5, 6,
        W(4096, 0), 9,
        W(0, 0),
        W(1, 4095), 0x10,
        W(3 * 4096 + 1, 0), 0x20, 0x21, 0x7, 0x8,
        0xDEAD, /* trailing word, not part of the list */
    };
    const size_t nwords = sizeof words / sizeof words[0];
    pr_ranges *rs = SENT_RANGES;
    size_t used = SENT_SIZE, err = SENT_SIZE;

    CHECK_ST(pr_ranges_parse_gpa_ranges(words, nwords, 5, &rs, &used, &err), PR_OK);
    CHECK(rs != NULL && rs != SENT_RANGES);
    CHECK_EQ(used, 13);
    CHECK_EQ(err, SENT_SIZE); /* untouched on success */
    CHECK_EQ(pr_ranges_count(rs), 4); /* the empty range adds no window */
    CHECK_EQ(pr_ranges_len(rs), 100 + 4096 + 1 + 3 * 4096 + 1);
    {
        const uint64_t g0[] = {5, 6}, g1[] = {9}, g3[] = {0x10}, g4[] = {0x20, 0x21, 7, 8};
        CHECK_WINDOW(rs, 0, 100, 4000, g0, 2);
        CHECK_WINDOW(rs, 1, 4096, 0, g1, 1);
        CHECK_WINDOW(rs, 2, 1, 4095, g3, 1);
        CHECK_WINDOW(rs, 3, 3 * 4096 + 1, 0, g4, 4);
    }
    {
        pr_address_range runs[8];
        size_t n = 0;
        CHECK_ST(pr_ranges_address_ranges(rs, runs, 8, &n), PR_OK);
        CHECK_EQ(n, 5);
        CHECK_EQ(runs[0].start, 5 * PS + 4000);
        CHECK_EQ(runs[0].end, 6 * PS + 4);
        CHECK_EQ(runs[1].start, 9 * PS);
        CHECK_EQ(runs[1].end, 10 * PS);
        CHECK_EQ(runs[2].start, 0x10 * PS + 4095);
        CHECK_EQ(runs[2].end, 0x11 * PS);
        CHECK_EQ(runs[3].start, 0x20 * PS);
        CHECK_EQ(runs[3].end, 0x22 * PS);
        CHECK_EQ(runs[4].start, 7 * PS);
        CHECK_EQ(runs[4].end, 8 * PS + 1);
    }
    /* writing gives back exactly the words, minus the trailing one */
    {
        uint64_t out[16];
        size_t needed = SENT_SIZE;
        memset(out, 0xAB, sizeof out);
        CHECK_ST(pr_ranges_write_gpa_ranges(rs, out, 16, &needed), PR_OK);
        /* the empty range is not a window, so it is not written back */
        CHECK_EQ(needed, 12);
        {
            const uint64_t want[] = {W(100, 4000), 5, 6, W(4096, 0), 9, W(1, 4095), 0x10,
                                     W(3 * 4096 + 1, 0), 0x20, 0x21, 0x7, 0x8};
            CHECK_MEM(out, want, sizeof want);
        }
        CHECK_EQ(out[12], UINT64_C(0xABABABABABABABAB));
    }
    pr_ranges_free(rs);

    /* fewer ranges than the words hold */
    rs = SENT_RANGES;
    CHECK_ST(pr_ranges_parse_gpa_ranges(words, nwords, 2, &rs, &used, NULL), PR_OK);
    CHECK_EQ(used, 5);
    CHECK_EQ(pr_ranges_count(rs), 2);
    CHECK_EQ(pr_ranges_len(rs), 4196);
    pr_ranges_free(rs);
    CHECK_ST(pr_ranges_parse_gpa_ranges(words, nwords, 3, &rs, NULL, NULL), PR_OK);
    CHECK_EQ(pr_ranges_count(rs), 2);
    pr_ranges_free(rs);

    /* no ranges at all: an empty buffer, 0 words used (words may be NULL) */
    used = SENT_SIZE;
    CHECK_ST(pr_ranges_parse_gpa_ranges(words, nwords, 0, &rs, &used, NULL), PR_OK);
    CHECK_EQ(used, 0);
    CHECK_EQ(pr_ranges_count(rs), 0);
    pr_ranges_free(rs);
    used = SENT_SIZE;
    CHECK_ST(pr_ranges_parse_gpa_ranges(NULL, 0, 0, &rs, &used, NULL), PR_OK);
    CHECK_EQ(used, 0);
    CHECK_EQ(pr_ranges_len(rs), 0);
    pr_ranges_free(rs);

    /* the words are copied: the caller's array can change afterwards */
    {
        uint64_t copy[3] = {W(10, 20), 0x30, 0};
        CHECK_ST(pr_ranges_parse_gpa_ranges(copy, 2, 1, &rs, NULL, NULL), PR_OK);
        copy[0] = W(4096, 0);
        copy[1] = 0x31;
        CHECK_EQ(pr_ranges_len(rs), 10);
        {
            const uint64_t g0[] = {0x30};
            CHECK_WINDOW(rs, 0, 10, 20, g0, 1);
        }
        pr_ranges_free(rs);
    }
}

/* A parse that must fail with `want` at word `word`, leaving outputs alone. */
static void parse_fails(const uint64_t *words, size_t nwords, size_t nranges, pr_status want,
                        size_t word, int line)
{
    pr_ranges *rs = SENT_RANGES;
    size_t used = SENT_SIZE, err = SENT_SIZE;
    pr_status st = pr_ranges_parse_gpa_ranges(words, nwords, nranges, &rs, &used, &err);
    int ok = st == want && rs == SENT_RANGES && used == SENT_SIZE && err == word;
    if (!ok)
        fprintf(stderr,
                "  parse_fails (line %d): status %u (%s), error_word %zu, out %s, used %zu; "
                "want status %u (%s), error_word %zu\n",
                line, (unsigned)st, pr_status_str(st), err,
                rs == SENT_RANGES ? "untouched" : "WRITTEN", used, (unsigned)want,
                pr_status_str(want), word);
    CHECK(ok);
    if (st == PR_OK && rs != SENT_RANGES)
        pr_ranges_free(rs);
    /* error_word may be NULL */
    rs = SENT_RANGES;
    CHECK_ST(pr_ranges_parse_gpa_ranges(words, nwords, nranges, &rs, NULL, NULL), want);
    if (rs != SENT_RANGES)
        pr_ranges_free(rs);
}
#define PARSE_FAILS(w, nw, nr, want, word) parse_fails((w), (nw), (nr), (want), (word), __LINE__)

static void test_parse_errors(void)
{
    /* Truncated: the list ends where the problem is found (word_count). */
    {
        const uint64_t w[] = {W(100, 4000), 5, 6, W(8192, 1), 7, 8};
        PARSE_FAILS(w, 3, 2, PR_ERR_MALFORMED, 3);       /* second header missing */
        PARSE_FAILS(w, 6, 2, PR_ERR_MALFORMED, 6);       /* 3 GPNs needed, 2 given */
        PARSE_FAILS(w, 2, 1, PR_ERR_MALFORMED, 2);       /* one GPN of two */
        PARSE_FAILS(w, 1, 1, PR_ERR_MALFORMED, 1);       /* header only */
        PARSE_FAILS(w, 0, 1, PR_ERR_MALFORMED, 0);       /* nothing at all */
        PARSE_FAILS(NULL, 0, 1, PR_ERR_MALFORMED, 0);
        PARSE_FAILS(w, 6, 3, PR_ERR_MALFORMED, 6);
    }
    /* a huge length with no GPNs */
    {
        const uint64_t w[] = {W(0xFFFFFFFF, 4095), 1, 2};
        PARSE_FAILS(w, 3, 1, PR_ERR_MALFORMED, 3);
    }
    /* offset >= 4096 */
    {
        const uint64_t w[] = {W(4, 0), 1, W(10, 4096), 2, W(1, 0xFFFFFFFF), 3};
        PARSE_FAILS(w, 4, 2, PR_ERR_MALFORMED, 2);
        {
            uint64_t w2[] = {W(1, 4095), 1, W(1, 0xFFFFFFFF), 3};
            PARSE_FAILS(w2, 4, 2, PR_ERR_MALFORMED, 2);
        }
        /* also for an empty range */
        {
            const uint64_t w3[] = {W(0, 4096)};
            PARSE_FAILS(w3, 1, 1, PR_ERR_MALFORMED, 0);
        }
    }
    /* GPNs that cannot be addressed */
    {
        const uint64_t big = MAXGPN + 1;
        const uint64_t w[] = {W(3 * 4096, 0), 7, 8, big};
        PARSE_FAILS(w, 4, 1, PR_ERR_INVALID_GPN, 3);
        {
            const uint64_t w2[] = {W(10, 0), 4, W(2, 4095), 9, UINT64_MAX};
            PARSE_FAILS(w2, 5, 2, PR_ERR_INVALID_GPN, 4);
        }
        {
            const uint64_t w3[] = {W(4096, 0), MAXGPN}; /* covers its last byte */
            PARSE_FAILS(w3, 2, 1, PR_ERR_INVALID_GPN, 1);
        }
        {
            const uint64_t w4[] = {W(4097, 4095), 1, MAXGPN}; /* all of MAXGPN */
            PARSE_FAILS(w4, 3, 1, PR_ERR_INVALID_GPN, 2);
        }
        {
            /* everything but the last byte of PR_MAX_GPN is fine */
            const uint64_t ok[] = {W(4095, 0), MAXGPN};
            pr_ranges *rs = NULL;
            pr_address_range run;
            size_t n = 0;
            CHECK_ST(pr_ranges_parse_gpa_ranges(ok, 2, 1, &rs, NULL, NULL), PR_OK);
            CHECK_ST(pr_ranges_address_ranges(rs, &run, 1, &n), PR_OK);
            CHECK_EQ(run.start, MAXGPN * PS);
            CHECK_EQ(run.end, UINT64_MAX);
            pr_ranges_free(rs);
        }
    }
    /* NULL and misaligned arguments */
    {
        const uint64_t w[] = {W(4, 0), 1};
        uint64_t store[4];
        uint64_t *misaligned = (uint64_t *)(void *)((uint8_t *)store + 4);
        pr_ranges *rs = SENT_RANGES;
        size_t used = SENT_SIZE, err = SENT_SIZE;
        CHECK_ST(pr_ranges_parse_gpa_ranges(w, 2, 1, NULL, &used, &err), PR_ERR_NULL_ARGUMENT);
        CHECK_ST(pr_ranges_parse_gpa_ranges(NULL, 2, 1, &rs, &used, &err), PR_ERR_NULL_ARGUMENT);
        CHECK_ST(pr_ranges_parse_gpa_ranges(NULL, 2, 0, &rs, &used, &err), PR_ERR_NULL_ARGUMENT);
        memcpy((uint8_t *)store + 4, w, sizeof w);
        CHECK_ST(pr_ranges_parse_gpa_ranges(misaligned, 2, 1, &rs, &used, &err),
                 PR_ERR_INVALID_ARGUMENT);
        CHECK_ST(pr_ranges_parse_gpa_ranges(w, SIZE_MAX, 1, &rs, &used, &err),
                 PR_ERR_INVALID_ARGUMENT);
        CHECK(rs == SENT_RANGES);
        CHECK_EQ(used, SENT_SIZE);
        CHECK_EQ(err, SENT_SIZE);
    }
}

static pr_ranges *ranges_of(pr_range **parts, size_t n)
{
    pr_ranges *rs = NULL;
    if (pr_ranges_new((const pr_range *const *)parts, n, &rs) != PR_OK)
        abort();
    return rs;
}

static void test_write(void)
{
    const uint64_t ga[] = {1, 2, 3}, gb[] = {0x40, 0x10};
    pr_range *parts[3];
    pr_ranges *rs;
    uint64_t out[16];
    size_t needed = SENT_SIZE, i;

    parts[0] = tu_range(ga, 3, 100, 3 * PS - 200); /* GPNs 1,2,3 */
    parts[1] = tu_range(NULL, 0, 0, 0);            /* empty */
    parts[2] = tu_range(gb, 2, 4095, 2);           /* GPNs 0x40,0x10 */
    rs = ranges_of(parts, 3);

    /* size query: words NULL, capacity 0 */
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, NULL, 0, &needed), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(needed, 7);
    needed = SENT_SIZE;
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, out, 0, &needed), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(needed, 7);
    /* one word short: nothing written */
    for (i = 0; i < 16; i++)
        out[i] = 0x5555;
    needed = SENT_SIZE;
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, out, 6, &needed), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(needed, 7);
    for (i = 0; i < 16; i++)
        CHECK_EQ(out[i], 0x5555);
    /* exact fit; room to spare */
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, out, 7, &needed), PR_OK);
    {
        const uint64_t want[] = {W(3 * 4096 - 200, 100), 1, 2, 3, W(2, 4095), 0x40, 0x10};
        CHECK_MEM(out, want, sizeof want);
        CHECK_EQ(out[7], 0x5555);
        memset(out, 0, sizeof out);
        CHECK_ST(pr_ranges_write_gpa_ranges(rs, out, 16, &needed), PR_OK);
        CHECK_EQ(needed, 7);
        CHECK_MEM(out, want, sizeof want);
        CHECK_EQ(out[7], 0);
    }
    /* NULL and misaligned arguments: nothing written */
    {
        uint64_t store[9];
        uint64_t *misaligned = (uint64_t *)(void *)((uint8_t *)store + 4);
        needed = SENT_SIZE;
        CHECK_ST(pr_ranges_write_gpa_ranges(NULL, out, 16, &needed), PR_ERR_NULL_ARGUMENT);
        CHECK_EQ(needed, SENT_SIZE);
        CHECK_ST(pr_ranges_write_gpa_ranges(rs, out, 16, NULL), PR_ERR_NULL_ARGUMENT);
        CHECK_ST(pr_ranges_write_gpa_ranges(rs, NULL, 16, &needed), PR_ERR_NULL_ARGUMENT);
        CHECK_EQ(needed, SENT_SIZE); /* outputs only on PR_OK / BUFFER_TOO_SMALL */
        memset(store, 0x77, sizeof store);
        CHECK_ST(pr_ranges_write_gpa_ranges(rs, misaligned, 8, &needed), PR_ERR_INVALID_ARGUMENT);
        CHECK_EQ(needed, SENT_SIZE);
        for (i = 0; i < 9; i++)
            CHECK_EQ(store[i], UINT64_C(0x7777777777777777));
    }
    pr_ranges_free(rs);

    /* the empty buffer takes 0 words */
    rs = ranges_of(NULL, 0);
    needed = SENT_SIZE;
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, NULL, 0, &needed), PR_OK);
    CHECK_EQ(needed, 0);
    pr_ranges_free(rs);
    for (i = 0; i < 3; i++)
        pr_range_free(parts[i]);
}

/* A window longer than the 32-bit length field: 2^32 bytes over 2^20 + 1
 * pages (2^32 - 1 bytes still fit). */
static void test_too_long(void)
{
    const size_t pages = ((size_t)1 << 20) + 1;
    uint64_t *gpns = (uint64_t *)malloc(pages * sizeof *gpns);
    pr_range *r;
    pr_ranges *rs;
    size_t needed = SENT_SIZE, i;

    if (!gpns)
        abort();
    for (i = 0; i < pages; i++)
        gpns[i] = 0x100000 + i;
    r = tu_range(gpns, pages, 1, UINT64_C(0x100000000));
    rs = ranges_of(&r, 1);
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, NULL, 0, &needed), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(needed, SENT_SIZE);
    CHECK_ST(pr_ranges_truncate(rs, UINT64_C(0xFFFFFFFF)), PR_OK);
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, NULL, 0, &needed), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(needed, 1 + (pages - 1)); /* offset 1 + 2^32 - 1 bytes: 2^20 pages */
    pr_ranges_free(rs);
    pr_range_free(r);
    free(gpns);
}

/* Windows after skip/truncate are written as the clipped windows. */
static void test_clipped(void)
{
    const uint64_t ga[] = {1, 2, 3}, gb[] = {9, 8}, gc[] = {0x77};
    pr_range *parts[3];
    pr_ranges *rs, *back;
    uint64_t out[16];
    size_t needed = 0, used = 0;

    parts[0] = tu_range(ga, 3, 100, 3 * PS - 200); /* 12088 bytes */
    parts[1] = tu_range(gb, 2, 0, 2 * PS);
    parts[2] = tu_range(gc, 1, 10, 20);
    rs = ranges_of(parts, 3);

    /* skip 4000: window 0 now starts at byte 4100 = GPN 2, offset 4 */
    CHECK_ST(pr_ranges_skip(rs, 4000), PR_OK);
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, out, 16, &needed), PR_OK);
    {
        const uint64_t want[] = {W(3 * 4096 - 4200, 4), 2, 3, W(8192, 0), 9, 8, W(20, 10), 0x77};
        CHECK_EQ(needed, 8);
        CHECK_MEM(out, want, sizeof want);
    }
    /* truncate into window 1, 5 bytes into its second page */
    CHECK_ST(pr_ranges_truncate(rs, (3 * 4096 - 4200) + 4096 + 5), PR_OK);
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, out, 16, &needed), PR_OK);
    {
        const uint64_t want[] = {W(3 * 4096 - 4200, 4), 2, 3, W(4101, 0), 9, 8};
        CHECK_EQ(needed, 6);
        CHECK_MEM(out, want, sizeof want);
    }
    /* truncate to the end of a page: the next page is not listed */
    CHECK_ST(pr_ranges_truncate(rs, (3 * 4096 - 4200) + 4096), PR_OK);
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, out, 16, &needed), PR_OK);
    {
        const uint64_t want[] = {W(3 * 4096 - 4200, 4), 2, 3, W(4096, 0), 9};
        CHECK_EQ(needed, 5);
        CHECK_MEM(out, want, sizeof want);
    }
    /* skip all of window 0 and part of window 1 */
    CHECK_ST(pr_ranges_skip(rs, (3 * 4096 - 4200) + 4000), PR_OK);
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, out, 16, &needed), PR_OK);
    {
        const uint64_t want[] = {W(96, 4000), 9};
        CHECK_EQ(needed, 2);
        CHECK_MEM(out, want, sizeof want);
        /* and it parses back to the same window */
        CHECK_ST(pr_ranges_parse_gpa_ranges(out, needed, 1, &back, &used, NULL), PR_OK);
        CHECK_EQ(used, 2);
        CHECK_EQ(pr_ranges_len(back), 96);
        CHECK_WINDOW(back, 0, 96, 4000, gb, 1);
        pr_ranges_free(back);
    }
    /* truncate to nothing */
    CHECK_ST(pr_ranges_truncate(rs, 0), PR_OK);
    CHECK_ST(pr_ranges_write_gpa_ranges(rs, NULL, 0, &needed), PR_OK);
    CHECK_EQ(needed, 0);
    pr_ranges_free(rs);
    for (needed = 0; needed < 3; needed++)
        pr_range_free(parts[needed]);
}

/* write -> parse -> write over random buffers, against encode_here. */
static void test_random_round_trips(void)
{
    tu_rng rng = {0xFEED};
    unsigned iter, before = tu_state()->failures;
    static uint64_t a[512], b[512], c[512];

    for (iter = 0; iter < 500; iter++) {
        pr_range *parts[6];
        size_t nparts = (size_t)tu_rand_below(&rng, 7), i, need = 0, need2 = 0, used = 0;
        pr_ranges *rs, *back = NULL;

        for (i = 0; i < nparts; i++) {
            uint64_t gpns[8];
            size_t count = 1 + (size_t)tu_rand_below(&rng, 8), k, off, len;
            for (k = 0; k < count; k++) {
                uint64_t pick = tu_rand_below(&rng, 4);
                gpns[k] = pick == 0   ? tu_rand_below(&rng, MAXGPN) /* anywhere */
                          : pick == 1 ? (k ? gpns[k - 1] + 1 : 0) /* next page */
                                      : tu_rand_below(&rng, 64);
                if (gpns[k] >= MAXGPN)
                    gpns[k] = 0;
            }
            off = (size_t)tu_rand_below(&rng, count * PS);
            len = (size_t)tu_rand_below(&rng, count * PS - off + 1);
            parts[i] = tu_range(gpns, count, off, len);
        }
        rs = ranges_of(parts, nparts);
        if (pr_ranges_len(rs) > 0 && tu_rand_below(&rng, 2)) {
            size_t l = pr_ranges_len(rs);
            CHECK_ST(pr_ranges_skip(rs, (size_t)tu_rand_below(&rng, l)), PR_OK);
            CHECK_ST(pr_ranges_truncate(rs, (size_t)tu_rand_below(&rng, pr_ranges_len(rs) + 1)),
                     PR_OK);
        }

        need = encode_here(rs, a, 512);
        CHECK_ST(pr_ranges_write_gpa_ranges(rs, b, 512, &need2), PR_OK);
        CHECK_EQ(need2, need);
        CHECK_MEM(b, a, need * sizeof(uint64_t));
        CHECK_ST(pr_ranges_parse_gpa_ranges(b, need, pr_ranges_count(rs), &back, &used, NULL),
                 PR_OK);
        CHECK_EQ(used, need);
        CHECK_EQ(pr_ranges_len(back), pr_ranges_len(rs));
        CHECK_EQ(pr_ranges_count(back), pr_ranges_count(rs));
        CHECK_ST(pr_ranges_write_gpa_ranges(back, c, 512, &need2), PR_OK);
        CHECK_EQ(need2, need);
        CHECK_MEM(c, a, need * sizeof(uint64_t));
        {
            pr_address_range r1[64], r2[64];
            size_t n1 = 0, n2 = 0;
            CHECK_ST(pr_ranges_address_ranges(rs, r1, 64, &n1), PR_OK);
            CHECK_ST(pr_ranges_address_ranges(back, r2, 64, &n2), PR_OK);
            CHECK_EQ(n1, n2);
            CHECK_MEM(r1, r2, (n1 < n2 ? n1 : n2) * sizeof r1[0]);
        }
        pr_ranges_free(back);
        pr_ranges_free(rs);
        for (i = 0; i < nparts; i++)
            pr_range_free(parts[i]);
        if (tu_state()->failures != before) {
            fprintf(stderr, "  (round trip %u)\n", iter);
            break;
        }
    }
}

int main(void)
{
    test_parse_basic();
    test_parse_errors();
    test_write();
    test_too_long();
    test_clipped();
    test_random_round_trips();
    return TEST_SUMMARY();
}
