/*
 * test_mapped.c - guest RAM mapped into this process (pr_memory_new_mapped)
 * and zero-copy export of guest pages as host iovecs (pr_range_iovecs,
 * pr_ranges_iovecs).
 *
 * Guest RAM is four regions of one anonymous mapping, each surrounded by
 * PROT_NONE guard pages, so a byte read or written outside the regions
 * crashes the test instead of passing silently:
 *
 *   host page: 0   1 .. 8   9   10 .. 17  18 19  20 .. 23  24 .. 27  28 ..
 *              G   [  A  ]  G   [  C   ]  G  G   [  B   ]  [  D   ]  G ...
 *
 *   A: GPN 0x20 .. 0x27   B: GPN 0x28 .. 0x2B (GPA-adjacent to A, host not)
 *   C: GPN 0x80 .. 0x87   D: GPN 0x100 .. 0x103 (host-adjacent to B, GPA not)
 *
 * Covers: region validation (overlap, gpa+size and host+size overflow, empty,
 * NULL host, misaligned array, NULL arguments, unordered and touching regions
 * accepted); reads, writes and fills through ranges, buffers and cursors
 * checked byte for byte against a reference copy of the host pages
 * (random ranges from a fixed-seed PRNG); a run crossing from A into B; runs
 * leaving the regions (PR_ERR_MEMORY, fault_gpa = first unmapped GPA,
 * fault_code -1, nothing moved, no byte outside touched); iovec export:
 * merging of host-adjacent pieces (also GPA-distant ones and pieces of
 * consecutive windows), short arrays (PR_ERR_BUFFER_TOO_SMALL with
 * *covered < len, then IO in pieces), real preadv/pwritev between a temp
 * file and guest pages, unmapped runs, len too large, callback memory
 * (PR_ERR_INVALID_ARGUMENT) and NULL arguments.
 */
#define _DEFAULT_SOURCE /* mmap flags, mkstemp, preadv/pwritev */

#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define HOST_PAGES 32

static uint8_t *host;                 /* the whole mapping, guards included */
static uint8_t ref[HOST_PAGES * 4096]; /* what the accessible pages should hold */

struct layout {
    uint64_t gpn;   /* first guest page */
    size_t pages;   /* size in pages */
    size_t hpage;   /* first host page */
    const char *name;
};

/* The regions, listed out of GPA order on purpose. */
static const struct layout REG[4] = {
    {0x100, 4, 24, "D"},
    {0x80, 8, 10, "C"},
    {0x28, 4, 20, "B"},
    {0x20, 8, 1, "A"},
};
#define NREG 4

static pr_memory *mem; /* over REG */

#define SENT_MEM ((pr_memory *)tu_sentinel())
#define SENT_SIZE ((size_t)0xC0FFEE)

/* Host offset of guest address `gpa` in the mapping, or -1 when unmapped. */
static long host_off(uint64_t gpa)
{
    int i;
    for (i = 0; i < NREG; i++) {
        uint64_t start = REG[i].gpn * PS, end = start + REG[i].pages * PS;
        if (gpa >= start && gpa < end)
            return (long)(REG[i].hpage * PS + (gpa - start));
    }
    return -1;
}

static uint8_t *host_at(uint64_t gpa)
{
    long off = host_off(gpa);
    if (off < 0) {
        fprintf(stderr, "host_at: GPA 0x%" PRIx64 " is not mapped\n", gpa);
        abort();
    }
    return host + off;
}

/* Every accessible host byte equals the reference. */
static void check_host(int line)
{
    int i, ok = 1;
    for (i = 0; i < NREG && ok; i++) {
        size_t off = REG[i].hpage * PS, n = REG[i].pages * PS, k;
        for (k = 0; k < n; k++) {
            if (host[off + k] != ref[off + k]) {
                fprintf(stderr,
                        "  check_host (line %d): region %s byte 0x%zx (GPA 0x%" PRIx64
                        ") is 0x%02x, want 0x%02x\n",
                        line, REG[i].name, k, REG[i].gpn * PS + k, host[off + k],
                        ref[off + k]);
                ok = 0;
                break;
            }
        }
    }
    CHECK(ok);
}
#define CHECK_HOST() check_host(__LINE__)

/* Sets the regions (and the reference) to a seeded pattern. */
static void scramble(unsigned seed)
{
    int i;
    for (i = 0; i < NREG; i++) {
        size_t off = REG[i].hpage * PS, n = REG[i].pages * PS;
        tu_fill_pattern(host + off, n, seed + (unsigned)i * 1000u);
        memcpy(ref + off, host + off, n);
    }
}

/* Reference model of writes and fills through a window. */
static void model_write(const uint64_t *gpns, size_t offset, const uint8_t *src, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        ref[host_off(tu_gpa_of(gpns, offset, i))] = src[i];
}

static void model_fill(const uint64_t *gpns, size_t offset, uint8_t v, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        ref[host_off(tu_gpa_of(gpns, offset, i))] = v;
}

static void model_read(const uint64_t *gpns, size_t offset, uint8_t *dst, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        dst[i] = ref[host_off(tu_gpa_of(gpns, offset, i))];
}

static pr_transfer garbage_transfer(void)
{
    pr_transfer t;
    memset(&t, 0xA5, sizeof t);
    return t;
}

static void map_guest(void)
{
    int i;
    void *p = mmap(NULL, HOST_PAGES * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        abort();
    }
    host = (uint8_t *)p;
    for (i = 0; i < NREG; i++) {
        if (mprotect(host + REG[i].hpage * PS, REG[i].pages * PS, PROT_READ | PROT_WRITE)) {
            perror("mprotect");
            abort();
        }
    }
}

static void fill_regions(pr_mapped_region *out)
{
    int i;
    for (i = 0; i < NREG; i++) {
        out[i].gpa = REG[i].gpn * PS;
        out[i].size = REG[i].pages * PS;
        out[i].host = host + REG[i].hpage * PS;
    }
}

/* ------------------------------------------------------------------------ */

static void test_validation(void)
{
    pr_mapped_region r[4];
    pr_memory *m;
    uint8_t buf[64];
    uint64_t aligned[8];
    pr_transfer t;

    /* The layout above: unordered, A and B touch in guest addresses. */
    fill_regions(r);
    m = SENT_MEM;
    CHECK_ST(pr_memory_new_mapped(r, NREG, &m), PR_OK);
    CHECK(m != NULL && m != SENT_MEM);
    pr_memory_free(m);

    /* Overlaps, in either order, by one byte or entirely. */
    r[0].gpa = 0x1000;
    r[0].size = 0x2000;
    r[0].host = buf;
    r[1].gpa = 0x2FFF;
    r[1].size = 1;
    r[1].host = buf + 1;
    m = SENT_MEM;
    CHECK_ST(pr_memory_new_mapped(r, 2, &m), PR_ERR_INVALID_ARGUMENT);
    CHECK(m == SENT_MEM);
    {
        pr_mapped_region swapped[2];
        swapped[0] = r[1];
        swapped[1] = r[0];
        CHECK_ST(pr_memory_new_mapped(swapped, 2, &m), PR_ERR_INVALID_ARGUMENT);
        CHECK(m == SENT_MEM);
    }
    r[1].gpa = 0x1000; /* same start */
    CHECK_ST(pr_memory_new_mapped(r, 2, &m), PR_ERR_INVALID_ARGUMENT);
    r[1].gpa = 0x800; /* starts before, ends inside */
    r[1].size = 0x900;
    CHECK_ST(pr_memory_new_mapped(r, 2, &m), PR_ERR_INVALID_ARGUMENT);
    r[1].gpa = 0x0; /* contains the other */
    r[1].size = 0x10000;
    CHECK_ST(pr_memory_new_mapped(r, 2, &m), PR_ERR_INVALID_ARGUMENT);
    /* three regions: the overlap is between the first and the last */
    r[1].gpa = 0x8000;
    r[1].size = 0x10;
    r[2].gpa = 0x2000;
    r[2].size = 0x10;
    r[2].host = buf + 2;
    CHECK_ST(pr_memory_new_mapped(r, 3, &m), PR_ERR_INVALID_ARGUMENT);
    CHECK(m == SENT_MEM);
    /* touching at both ends is fine */
    r[1].gpa = 0x3000;
    r[2].gpa = 0x0FF0;
    CHECK_ST(pr_memory_new_mapped(r, 3, &m), PR_OK);
    pr_memory_free(m);

    /* gpa + size overflows, or is exactly 2^64 */
    m = SENT_MEM;
    r[0].gpa = UINT64_MAX - 100;
    r[0].size = 4096;
    r[0].host = buf;
    CHECK_ST(pr_memory_new_mapped(r, 1, &m), PR_ERR_INVALID_ARGUMENT);
    r[0].gpa = UINT64_MAX - 4095;
    CHECK_ST(pr_memory_new_mapped(r, 1, &m), PR_ERR_INVALID_ARGUMENT);
    r[0].gpa = 0;
    r[0].size = UINT64_MAX;
    r[0].host = (void *)(uintptr_t)4096;
    CHECK_ST(pr_memory_new_mapped(r, 1, &m), PR_ERR_INVALID_ARGUMENT);
    /* host + size overflows */
    r[0].gpa = 0x1000;
    r[0].size = 0x1000;
    r[0].host = (void *)(UINTPTR_MAX - 0x10);
    CHECK_ST(pr_memory_new_mapped(r, 1, &m), PR_ERR_INVALID_ARGUMENT);
    CHECK(m == SENT_MEM);

    /* empty region, NULL host: also when another region is fine */
    r[0].gpa = 0x1000;
    r[0].size = 0x1000;
    r[0].host = host + 1 * PS;
    r[1].gpa = 0x5000;
    r[1].size = 0;
    r[1].host = buf;
    CHECK_ST(pr_memory_new_mapped(r, 2, &m), PR_ERR_INVALID_ARGUMENT);
    r[1].size = 16;
    r[1].host = NULL;
    CHECK_ST(pr_memory_new_mapped(r, 2, &m), PR_ERR_INVALID_ARGUMENT);
    CHECK(m == SENT_MEM);

    /* NULL arguments; a NULL array with count 0 is an empty memory */
    CHECK_ST(pr_memory_new_mapped(NULL, 1, &m), PR_ERR_NULL_ARGUMENT);
    CHECK(m == SENT_MEM);
    CHECK_ST(pr_memory_new_mapped(r, 1, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_memory_new_mapped(NULL, 0, &m), PR_OK);
    CHECK(m != NULL && m != SENT_MEM);
    {
        const uint64_t gpns[1] = {0x20};
        pr_range *rg = tu_range(gpns, 1, 8, 8);
        uint8_t dst[8];
        memset(dst, 0x5A, sizeof dst);
        t = garbage_transfer();
        CHECK_ST(pr_range_read(rg, m, dst, 8, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, 0);
        CHECK_EQ(t.fault_gpa, 0x20008);
        CHECK_EQ(t.fault_code, -1);
        CHECK_EQ(dst[0], 0x5A);
        pr_range_free(rg);
    }
    pr_memory_free(m);

    /* A misaligned array is refused. */
    {
        pr_mapped_region one;
        one.gpa = 0x1000;
        one.size = 0x10;
        one.host = buf;
        memcpy((uint8_t *)aligned + 4, &one, sizeof one);
        m = SENT_MEM;
        CHECK_ST(pr_memory_new_mapped((const pr_mapped_region *)(const void *)((uint8_t *)aligned + 4),
                                      1, &m),
                 PR_ERR_INVALID_ARGUMENT);
        CHECK(m == SENT_MEM);
    }

    /* The array is copied: changing it afterwards changes nothing. */
    fill_regions(r);
    CHECK_ST(pr_memory_new_mapped(r, NREG, &m), PR_OK);
    memset(r, 0, sizeof r);
    {
        const uint64_t gpns[1] = {0x81};
        pr_range *rg = tu_range(gpns, 1, 0, 16);
        uint8_t dst[16];
        scramble(3);
        CHECK_ST(pr_range_read(rg, m, dst, 16, NULL), PR_OK);
        CHECK_MEM(dst, host_at(0x81000), 16);
        pr_range_free(rg);
    }
    pr_memory_free(m);
}

/* ------------------------------------------------------------------------ */

/* Every mapped GPN, for random ranges. */
static uint64_t mapped_gpns[24];
static size_t n_mapped;

static void collect_gpns(void)
{
    int i;
    size_t k;
    n_mapped = 0;
    for (i = 0; i < NREG; i++)
        for (k = 0; k < REG[i].pages; k++)
            mapped_gpns[n_mapped++] = REG[i].gpn + k;
}

/* Random windows over mapped pages; writes, reads and fills through ranges,
 * buffers and cursors, all compared against the reference. Runs are often
 * longer than one page (neighbouring GPNs are picked on purpose), also
 * across the A/B boundary. */
static void test_random_transfers(void)
{
    tu_rng rng = {42};
    static uint8_t src[8 * 4096], dst[8 * 4096], want[8 * 4096];
    unsigned iter;
    int failed_before = (int)tu_state()->failures;

    scramble(7);
    for (iter = 0; iter < 400; iter++) {
        uint64_t gpns[8];
        size_t count = 1 + (size_t)tu_rand_below(&rng, 6), i, offset, len;
        pr_range *r;
        pr_transfer t;
        unsigned op = (unsigned)tu_rand_below(&rng, 4);

        for (i = 0; i < count; i++) {
            if (i > 0 && tu_rand_below(&rng, 2)) {
                /* the next guest page, when mapped: long runs */
                uint64_t next = gpns[i - 1] + 1;
                gpns[i] = host_off(next * PS) >= 0 ? next : mapped_gpns[0];
            } else {
                gpns[i] = mapped_gpns[tu_rand_below(&rng, n_mapped)];
            }
        }
        offset = (size_t)tu_rand_below(&rng, PS);
        len = (size_t)tu_rand_below(&rng, count * PS - offset + 1);
        r = tu_range(gpns, count, offset, len);
        tu_fill_pattern(src, len, iter);

        t = garbage_transfer();
        switch (op) {
        case 0: /* range write, then read back */
            CHECK_ST(pr_range_write(r, mem, src, len, &t), PR_OK);
            CHECK_EQ(t.done, len);
            model_write(gpns, offset, src, len);
            CHECK_ST(pr_range_read(r, mem, dst, len, &t), PR_OK);
            CHECK_EQ(t.done, len);
            /* a page listed twice holds what was written last: compare
             * with the model, not with src */
            model_read(gpns, offset, want, len);
            CHECK_MEM(dst, want, len);
            break;
        case 1: /* range fill */
            CHECK_ST(pr_range_fill(r, mem, (uint8_t)iter, len, &t), PR_OK);
            CHECK_EQ(t.done, len);
            CHECK_EQ(t.fault_code, 0);
            model_fill(gpns, offset, (uint8_t)iter, len);
            break;
        case 2: { /* writer in random pieces, then reader in random pieces */
            pr_writer *w = NULL;
            pr_reader *rd = NULL;
            size_t pos = 0;
            CHECK_ST(pr_writer_new(r, mem, &w), PR_OK);
            while (pos < len) {
                size_t n = 1 + (size_t)tu_rand_below(&rng, len - pos);
                if (tu_rand_below(&rng, 3) == 0) {
                    CHECK_ST(pr_writer_fill(w, 0xEE, n, &t), PR_OK);
                    memset(src + pos, 0xEE, n);
                } else {
                    CHECK_ST(pr_writer_write(w, src + pos, n, &t), PR_OK);
                }
                CHECK_EQ(t.done, n);
                pos += n;
            }
            CHECK_EQ(pr_writer_remaining(w), 0);
            model_write(gpns, offset, src, len);
            CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
            pos = 0;
            while (pos < len) {
                size_t n = 1 + (size_t)tu_rand_below(&rng, len - pos);
                CHECK_ST(pr_reader_read(rd, dst + pos, n, &t), PR_OK);
                pos += n;
            }
            model_read(gpns, offset, want, len);
            CHECK_MEM(dst, want, len);
            pr_writer_free(w);
            pr_reader_free(rd);
            break;
        }
        default: { /* a buffer of two halves */
            size_t cut = len ? (size_t)tu_rand_below(&rng, len + 1) : 0;
            pr_range *front = NULL, *back = NULL;
            pr_ranges *rs = NULL;
            const pr_range *parts[2];
            CHECK_ST(pr_range_split(r, cut, &front, &back), PR_OK);
            parts[0] = back; /* swapped: the buffer is back then front */
            parts[1] = front;
            CHECK_ST(pr_ranges_new(parts, 2, &rs), PR_OK);
            CHECK_ST(pr_ranges_write(rs, mem, src, len, &t), PR_OK);
            CHECK_EQ(t.done, len);
            model_write(gpns, offset + cut, src, len - cut);
            model_write(gpns, offset, src + (len - cut), cut);
            CHECK_ST(pr_ranges_read(rs, mem, dst, len, &t), PR_OK);
            model_read(gpns, offset + cut, want, len - cut);
            model_read(gpns, offset, want + (len - cut), cut);
            CHECK_MEM(dst, want, len);
            pr_ranges_free(rs);
            pr_range_free(front);
            pr_range_free(back);
            break;
        }
        }
        /* an independent read of the window against the model */
        model_read(gpns, offset, want, len);
        CHECK_ST(pr_range_read(r, mem, dst, len, NULL), PR_OK);
        CHECK_MEM(dst, want, len);
        pr_range_free(r);
        if ((int)tu_state()->failures != failed_before) {
            fprintf(stderr, "  (random transfer iteration %u, op %u)\n", iter, op);
            break;
        }
    }
    CHECK_HOST();
}

/* One run crossing from region A into region B (GPA-adjacent, host not). */
static void test_cross_region_run(void)
{
    const uint64_t gpns[4] = {0x26, 0x27, 0x28, 0x29};
    static uint8_t src[4 * 4096], dst[4 * 4096];
    pr_range *r = tu_range(gpns, 4, 100, 4 * PS - 200);
    size_t len = 4 * PS - 200, n = 0;
    pr_address_range runs[4];
    pr_transfer t = garbage_transfer();

    scramble(11);
    CHECK_ST(pr_range_address_ranges(r, runs, 4, &n), PR_OK);
    CHECK_EQ(n, 1); /* one guest run ... */
    tu_fill_pattern(src, len, 12);
    CHECK_ST(pr_range_write(r, mem, src, len, &t), PR_OK);
    CHECK_EQ(t.done, len);
    model_write(gpns, 100, src, len);
    CHECK_HOST(); /* ... split between two host pieces */
    CHECK_MEM(host_at(0x26000 + 100), src, 2 * PS - 100);
    CHECK_MEM(host_at(0x28000), src + 2 * PS - 100, 2 * PS - 100);
    CHECK_ST(pr_range_read(r, mem, dst, len, &t), PR_OK);
    CHECK_MEM(dst, src, len);
    CHECK_ST(pr_range_fill(r, mem, 0x77, len, &t), PR_OK);
    CHECK_EQ(t.done, len);
    model_fill(gpns, 100, 0x77, len);
    CHECK_HOST();
    pr_range_free(r);
}

/* A transfer whose run leaves the regions. */
struct leave_case {
    uint64_t gpns[6];
    size_t count, offset, len;
    size_t done;        /* bytes of the runs before the failing one */
    uint64_t fault_gpa; /* first unmapped guest address of the failing run */
};

static void test_leaving_runs(void)
{
    static const struct leave_case cases[] = {
        /* B's last page then the unmapped page after it; the host page after
         * B belongs to D, so a stray write would show up there */
        {{0x2B, 0x2C}, 2, 0, 2 * 4096, 0, 0x2C000},
        /* A's last page, all of B, then beyond B: the run crosses a region
         * boundary before it leaves */
        {{0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C}, 6, 10, 6 * 4096 - 10, 0, 0x2C000},
        /* C's last page then beyond (host guard page after C) */
        {{0x87, 0x88}, 2, 4000, 200, 0, 0x88000},
        /* a run starting below A (host guard page before A) */
        {{0x1F, 0x20}, 2, 4000, 200, 0, 0x1FFA0},
        /* a good run (A), then a failing one (D's end), then a good one */
        {{0x21, 0x103, 0x104, 0x80}, 4, 96, 4 * 4096 - 96, 4096 - 96, 0x104000},
        /* nothing mapped at all */
        {{0x50}, 1, 1, 10, 0, 0x50001},
    };
    static uint8_t src[6 * 4096], dst[6 * 4096];
    size_t c;

    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct leave_case *k = &cases[c];
        pr_range *r = tu_range(k->gpns, k->count, k->offset, k->len);
        pr_transfer t;
        pr_writer *w = NULL;
        pr_reader *rd = NULL;
        unsigned before = tu_state()->failures;

        scramble(20 + (unsigned)c);
        tu_fill_pattern(src, k->len, 99);

        t = garbage_transfer();
        CHECK_ST(pr_range_write(r, mem, src, k->len, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, k->done);
        CHECK_EQ(t.fault_gpa, k->fault_gpa);
        CHECK_EQ(t.fault_code, -1);
        model_write(k->gpns, k->offset, src, k->done);
        CHECK_HOST();

        t = garbage_transfer();
        CHECK_ST(pr_range_fill(r, mem, 0x3C, k->len, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, k->done);
        CHECK_EQ(t.fault_gpa, k->fault_gpa);
        CHECK_EQ(t.fault_code, -1);
        model_fill(k->gpns, k->offset, 0x3C, k->done);
        CHECK_HOST();

        memset(dst, 0xD5, sizeof dst);
        t = garbage_transfer();
        CHECK_ST(pr_range_read(r, mem, dst, k->len, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, k->done);
        CHECK_EQ(t.fault_gpa, k->fault_gpa);
        CHECK_EQ(t.fault_code, -1);
        {
            static uint8_t want[6 * 4096];
            model_read(k->gpns, k->offset, want, k->done);
            CHECK_MEM(dst, want, k->done);
            /* the failing run's part of dst is untouched */
            CHECK_EQ(dst[k->done], 0xD5);
            CHECK_EQ(dst[k->len - 1], 0xD5);
        }

        /* cursors stop at the start of the failing run */
        CHECK_ST(pr_writer_new(r, mem, &w), PR_OK);
        t = garbage_transfer();
        CHECK_ST(pr_writer_write(w, src, k->len, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, k->done);
        CHECK_EQ(t.fault_gpa, k->fault_gpa);
        CHECK_EQ(pr_writer_remaining(w), k->len - k->done);
        model_write(k->gpns, k->offset, src, k->done);
        CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
        t = garbage_transfer();
        CHECK_ST(pr_reader_read(rd, dst, k->len, &t), PR_ERR_MEMORY);
        CHECK_EQ(t.done, k->done);
        CHECK_EQ(pr_reader_remaining(rd), k->len - k->done);
        CHECK_HOST();

        pr_writer_free(w);
        pr_reader_free(rd);
        pr_range_free(r);
        if (tu_state()->failures != before)
            fprintf(stderr, "  (leaving-run case %zu)\n", c);
    }
}

/* ------------------------------------------------------------------------ */
/* iovec export                                                              */
/* ------------------------------------------------------------------------ */

static void check_iov(const struct iovec *iov, uint64_t gpa, size_t len, int line)
{
    int ok = iov->iov_base == (void *)host_at(gpa) && iov->iov_len == len;
    if (!ok)
        fprintf(stderr,
                "  check_iov (line %d): got {host+0x%tx, %zu}, want {host+0x%lx (GPA 0x%" PRIx64
                "), %zu}\n",
                line, (uint8_t *)iov->iov_base - host, iov->iov_len, host_off(gpa), gpa, len);
    CHECK(ok);
}
#define CHECK_IOV(iov, gpa, len) check_iov((iov), (gpa), (len), __LINE__)

static void test_iovecs_merge(void)
{
    struct iovec iov[8];
    size_t n = SENT_SIZE, covered = SENT_SIZE;

    /* GPA-distant pages that are host-adjacent (B's last, D's first two)
     * merge into one entry. */
    {
        const uint64_t gpns[3] = {0x2B, 0x100, 0x101};
        pr_range *r = tu_range(gpns, 3, 50, 3 * PS - 100);
        CHECK_ST(pr_range_iovecs(r, mem, 3 * PS - 100, iov, 8, &n, &covered), PR_OK);
        CHECK_EQ(n, 1);
        CHECK_EQ(covered, 3 * PS - 100);
        CHECK_IOV(&iov[0], 0x2B000 + 50, 3 * PS - 100);
        pr_range_free(r);
    }
    /* Host-adjacent GPA runs of A merge (0x21, 0x22); C and A alternate;
     * 0x27 then 0x28 is one guest run split by the A/B host boundary, so it
     * gives two entries. */
    {
        const uint64_t gpns[6] = {0x21, 0x22, 0x80, 0x23, 0x27, 0x28};
        const size_t len = 6 * PS - 20;
        pr_range *r = tu_range(gpns, 6, 10, len);
        CHECK_ST(pr_range_iovecs(r, mem, len, iov, 8, &n, &covered), PR_OK);
        CHECK_EQ(n, 5);
        CHECK_EQ(covered, len);
        if (n == 5) {
            CHECK_IOV(&iov[0], 0x21000 + 10, 2 * PS - 10);
            CHECK_IOV(&iov[1], 0x80000, PS);
            CHECK_IOV(&iov[2], 0x23000, PS);
            CHECK_IOV(&iov[3], 0x27000, PS);
            CHECK_IOV(&iov[4], 0x28000, PS - 10);
        }
        pr_range_free(r);
    }
    /* Only the first `len` bytes are exported. */
    {
        const uint64_t gpns[3] = {0x21, 0x80, 0x22};
        pr_range *r = tu_range(gpns, 3, 0, 3 * PS);
        CHECK_ST(pr_range_iovecs(r, mem, PS + 5, iov, 8, &n, &covered), PR_OK);
        CHECK_EQ(n, 2);
        CHECK_EQ(covered, PS + 5);
        CHECK_IOV(&iov[0], 0x21000, PS);
        CHECK_IOV(&iov[1], 0x80000, 5);
        /* len 0: nothing to export */
        n = covered = SENT_SIZE;
        CHECK_ST(pr_range_iovecs(r, mem, 0, iov, 8, &n, &covered), PR_OK);
        CHECK_EQ(n, 0);
        CHECK_EQ(covered, 0);
        n = covered = SENT_SIZE;
        CHECK_ST(pr_range_iovecs(r, mem, 0, NULL, 0, &n, &covered), PR_OK);
        CHECK_EQ(n, 0);
        CHECK_EQ(covered, 0);
        pr_range_free(r);
    }
}

static void test_iovecs_short_and_errors(void)
{
    const uint64_t gpns[5] = {0x21, 0x80, 0x2B, 0x100, 0x22};
    const size_t len = 5 * PS - 300;
    pr_range *r = tu_range(gpns, 5, 100, len);
    struct iovec iov[4];
    size_t n, covered;
    pr_memory *cbmem;
    guest_ram g;

    /* Entries: A:0x21 (PS-100), C:0x80 (PS), B+D (2 PS), A:0x22 (PS-200). */
    n = covered = SENT_SIZE;
    CHECK_ST(pr_range_iovecs(r, mem, len, iov, 4, &n, &covered), PR_OK);
    CHECK_EQ(n, 4);
    CHECK_EQ(covered, len);

    /* Too short: the entries that fit, covered < len. */
    memset(iov, 0, sizeof iov);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_range_iovecs(r, mem, len, iov, 2, &n, &covered), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 2);
    CHECK_EQ(covered, 2 * PS - 100);
    CHECK(covered < len);
    CHECK_IOV(&iov[0], 0x21000 + 100, PS - 100);
    CHECK_IOV(&iov[1], 0x80000, PS);
    CHECK(iov[2].iov_base == NULL && iov[2].iov_len == 0); /* not written */
    n = covered = SENT_SIZE;
    CHECK_ST(pr_range_iovecs(r, mem, len, iov, 3, &n, &covered), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 3);
    CHECK_EQ(covered, 4 * PS - 100);
    /* Capacity 0 (iov may be NULL): nothing covered. */
    n = covered = SENT_SIZE;
    CHECK_ST(pr_range_iovecs(r, mem, len, NULL, 0, &n, &covered), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 0);
    CHECK_EQ(covered, 0);

    /* len larger than the window: nothing written. */
    n = covered = SENT_SIZE;
    CHECK_ST(pr_range_iovecs(r, mem, len + 1, iov, 4, &n, &covered), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(n, SENT_SIZE);
    CHECK_EQ(covered, SENT_SIZE);
    CHECK_ST(pr_range_iovecs(r, mem, SIZE_MAX, iov, 4, &n, &covered), PR_ERR_OUT_OF_RANGE);

    /* An unmapped run: *covered is the bytes before it, *iov_count 0. */
    {
        const uint64_t bad[4] = {0x21, 0x80, 0x87, 0x88};
        pr_range *rb = tu_range(bad, 4, 0, 4 * PS);
        n = covered = SENT_SIZE;
        CHECK_ST(pr_range_iovecs(rb, mem, 4 * PS, iov, 4, &n, &covered), PR_ERR_MEMORY);
        CHECK_EQ(n, 0);
        CHECK_EQ(covered, 2 * PS);
        /* the part before the unmapped run exports fine */
        CHECK_ST(pr_range_iovecs(rb, mem, 3 * PS, iov, 4, &n, &covered), PR_OK);
        CHECK_EQ(n, 3); /* 0x21 | 0x80 | 0x87: no two host-adjacent */
        CHECK_EQ(covered, 3 * PS);
        pr_range_free(rb);
    }

    /* NULL arguments: nothing written. */
    n = covered = SENT_SIZE;
    CHECK_ST(pr_range_iovecs(NULL, mem, 1, iov, 4, &n, &covered), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_iovecs(r, NULL, 1, iov, 4, &n, &covered), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_iovecs(r, mem, 1, iov, 4, NULL, &covered), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_iovecs(r, mem, 1, iov, 4, &n, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_iovecs(r, mem, 1, NULL, 4, &n, &covered), PR_ERR_NULL_ARGUMENT);
    CHECK_EQ(n, SENT_SIZE);
    CHECK_EQ(covered, SENT_SIZE);

    /* Callback memory cannot export host pointers. */
    gr_init(&g, 0x110);
    cbmem = gr_memory(&g, 1);
    CHECK_ST(pr_range_iovecs(r, cbmem, len, iov, 4, &n, &covered), PR_ERR_INVALID_ARGUMENT);
    CHECK_EQ(n, SENT_SIZE);
    CHECK_EQ(covered, SENT_SIZE);
    CHECK_EQ(g.reads + g.writes + g.fills, 0);
    {
        pr_ranges *rs = NULL;
        const pr_range *one[1];
        one[0] = r;
        CHECK_ST(pr_ranges_new(one, 1, &rs), PR_OK);
        CHECK_ST(pr_ranges_iovecs(rs, cbmem, len, iov, 4, &n, &covered), PR_ERR_INVALID_ARGUMENT);
        CHECK_EQ(n, SENT_SIZE);
        CHECK_ST(pr_ranges_iovecs(NULL, mem, 1, iov, 4, &n, &covered), PR_ERR_NULL_ARGUMENT);
        CHECK_ST(pr_ranges_iovecs(rs, NULL, 1, iov, 4, &n, &covered), PR_ERR_NULL_ARGUMENT);
        CHECK_ST(pr_ranges_iovecs(rs, mem, 1, iov, 4, NULL, &covered), PR_ERR_NULL_ARGUMENT);
        CHECK_ST(pr_ranges_iovecs(rs, mem, 1, iov, 4, &n, NULL), PR_ERR_NULL_ARGUMENT);
        CHECK_ST(pr_ranges_iovecs(rs, mem, 1, NULL, 4, &n, &covered), PR_ERR_NULL_ARGUMENT);
        CHECK_ST(pr_ranges_iovecs(rs, mem, len + 1, iov, 4, &n, &covered), PR_ERR_OUT_OF_RANGE);
        CHECK_EQ(n, SENT_SIZE);
        CHECK_EQ(covered, SENT_SIZE);
        pr_ranges_free(rs);
    }
    pr_memory_free(cbmem);
    gr_destroy(&g);
    pr_range_free(r);
}

/* Windows of a buffer merge in the iovec list when they touch in host
 * memory: two windows splitting one page, a window ending at B's end and
 * one starting at D's start. */
static void test_ranges_iovecs_merge(void)
{
    const uint64_t p21[2] = {0x21, 0x22};
    const uint64_t p2b[1] = {0x2B};
    const uint64_t p100[1] = {0x100};
    const uint64_t p80[1] = {0x80};
    pr_range *parts[5];
    pr_ranges *rs = NULL;
    struct iovec iov[8];
    size_t n = SENT_SIZE, covered = SENT_SIZE;

    parts[0] = tu_range(p21, 2, 0, 100);
    parts[1] = tu_range(p21, 2, 100, 2 * PS - 100);
    parts[2] = tu_range(p2b, 1, 0, PS);
    parts[3] = tu_range(p100, 1, 0, 300);
    parts[4] = tu_range(p80, 1, 8, 8);
    CHECK_ST(pr_ranges_new((const pr_range *const *)parts, 5, &rs), PR_OK);
    CHECK_ST(pr_ranges_iovecs(rs, mem, pr_ranges_len(rs), iov, 8, &n, &covered), PR_OK);
    CHECK_EQ(n, 3);
    CHECK_EQ(covered, 3 * PS + 308);
    CHECK_IOV(&iov[0], 0x21000, 2 * PS);
    CHECK_IOV(&iov[1], 0x2B000, PS + 300);
    CHECK_IOV(&iov[2], 0x80008, 8);

    /* short array, continued after pr_ranges_skip */
    CHECK_ST(pr_ranges_iovecs(rs, mem, pr_ranges_len(rs), iov, 1, &n, &covered),
             PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 1);
    CHECK_EQ(covered, 2 * PS);
    CHECK_ST(pr_ranges_skip(rs, covered), PR_OK);
    CHECK_ST(pr_ranges_iovecs(rs, mem, pr_ranges_len(rs), iov, 1, &n, &covered),
             PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 1);
    CHECK_EQ(covered, PS + 300);
    CHECK_IOV(&iov[0], 0x2B000, PS + 300);
    CHECK_ST(pr_ranges_skip(rs, covered), PR_OK);
    CHECK_ST(pr_ranges_iovecs(rs, mem, pr_ranges_len(rs), iov, 1, &n, &covered), PR_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(covered, 8);
    CHECK_IOV(&iov[0], 0x80008, 8);

    pr_ranges_free(rs);
    for (n = 0; n < 5; n++)
        pr_range_free(parts[n]);
}

/* ------------------------------------------------------------------------ */
/* Real IO through exported iovecs                                           */
/* ------------------------------------------------------------------------ */

/* Exports `len` bytes of `r` in pieces of at most `cap` iovecs and runs
 * preadv (write_file == 0) or pwritev (write_file != 0) on each piece, at
 * file offset `file_off`. Returns the bytes moved. */
static size_t io_in_pieces(int fd, const pr_range *r, size_t len, size_t cap, off_t file_off,
                           int write_file, unsigned *pieces)
{
    size_t done = 0;
    *pieces = 0;
    while (done < len) {
        struct iovec iov[8];
        size_t n = 0, covered = 0;
        pr_range *rest = NULL;
        pr_status st;
        ssize_t io;

        if (pr_range_subrange(r, done, len - done, &rest) != PR_OK)
            break;
        st = pr_range_iovecs(rest, mem, len - done, iov, cap, &n, &covered);
        pr_range_free(rest);
        CHECK(st == PR_OK || st == PR_ERR_BUFFER_TOO_SMALL);
        CHECK(st == PR_OK ? covered == len - done : covered < len - done);
        if ((st != PR_OK && st != PR_ERR_BUFFER_TOO_SMALL) || covered == 0 || n == 0)
            break;
        if (write_file)
            io = pwritev(fd, iov, (int)n, file_off + (off_t)done);
        else
            io = preadv(fd, iov, (int)n, file_off + (off_t)done);
        CHECK_EQ(io, covered);
        if (io != (ssize_t)covered)
            break;
        done += covered;
        (*pieces)++;
    }
    return done;
}

static void test_real_io(void)
{
    char path[] = "/tmp/pagedrange-test-mapped-XXXXXX";
    int fd = mkstemp(path);
    /* A, C, B+D (host-adjacent), C, A: 5 iovec entries in all */
    const uint64_t gpns[7] = {0x22, 0x81, 0x2B, 0x100, 0x101, 0x83, 0x23};
    const size_t offset = 300, len = 7 * PS - 300 - 77;
    static uint8_t file[16 * 4096], want[8 * 4096], back[8 * 4096];
    pr_range *r = tu_range(gpns, 7, offset, len);
    unsigned pieces = 0;
    size_t n;

    CHECK(fd >= 0);
    if (fd < 0) {
        pr_range_free(r);
        return;
    }
    unlink(path); /* the file goes away when closed */
    tu_fill_pattern(file, sizeof file, 555);
    CHECK_EQ(pwrite(fd, file, sizeof file, 0), sizeof file);
    scramble(31);

    /* file -> guest, 2 iovecs at a time, from file offset 1000 */
    n = io_in_pieces(fd, r, len, 2, 1000, 0, &pieces);
    CHECK_EQ(n, len);
    CHECK_EQ(pieces, 3);
    model_write(gpns, offset, file + 1000, len);
    CHECK_HOST();
    CHECK_ST(pr_range_read(r, mem, back, len, NULL), PR_OK);
    CHECK_MEM(back, file + 1000, len);

    /* guest -> file, in one go, at file offset 3 */
    tu_fill_pattern(want, len, 556);
    CHECK_ST(pr_range_write(r, mem, want, len, NULL), PR_OK);
    model_write(gpns, offset, want, len);
    n = io_in_pieces(fd, r, len, 8, 3, 1, &pieces);
    CHECK_EQ(n, len);
    CHECK_EQ(pieces, 1);
    memset(back, 0, sizeof back);
    CHECK_EQ(pread(fd, back, len, 3), len);
    CHECK_MEM(back, want, len);
    /* the bytes around it in the file were left alone */
    CHECK_EQ(pread(fd, back, 3, 0), 3);
    CHECK_MEM(back, file, 3);
    CHECK_EQ(pread(fd, back, 100, (off_t)(3 + len)), 100);
    CHECK_MEM(back, file + 3 + len, 100);

    /* guest -> file one iovec at a time, through a buffer and skip */
    {
        pr_ranges *rs = NULL;
        const pr_range *one[1];
        size_t done = 0;
        unsigned calls = 0;
        one[0] = r;
        CHECK_ST(pr_ranges_new(one, 1, &rs), PR_OK);
        while (pr_ranges_len(rs) > 0 && calls < 16) {
            struct iovec iov[1];
            size_t cnt = 0, covered = 0;
            pr_status st = pr_ranges_iovecs(rs, mem, pr_ranges_len(rs), iov, 1, &cnt, &covered);
            calls++;
            CHECK(st == PR_OK || st == PR_ERR_BUFFER_TOO_SMALL);
            if (cnt != 1)
                break;
            CHECK_EQ(pwritev(fd, iov, 1, (off_t)(20000 + done)), covered);
            CHECK_ST(pr_ranges_skip(rs, covered), PR_OK);
            done += covered;
        }
        CHECK_EQ(calls, 5);
        CHECK_EQ(done, len);
        CHECK_EQ(pread(fd, back, len, 20000), len);
        CHECK_MEM(back, want, len);
        pr_ranges_free(rs);
    }
    CHECK_HOST();
    close(fd);
    pr_range_free(r);
}

int main(void)
{
    pr_mapped_region regions[4];

    map_guest();
    collect_gpns();
    fill_regions(regions);
    if (pr_memory_new_mapped(regions, NREG, &mem) != PR_OK) {
        fprintf(stderr, "pr_memory_new_mapped failed\n");
        return EXIT_FAILURE;
    }

    test_validation();
    test_random_transfers();
    test_cross_region_run();
    test_leaving_runs();
    test_iovecs_merge();
    test_iovecs_short_and_errors();
    test_ranges_iovecs_merge();
    test_real_io();

    pr_memory_free(mem);
    munmap(host, HOST_PAGES * PS);
    return TEST_SUMMARY();
}
