/*
 * test_threads.c - handles shared between threads, and handles freed in
 * every order while the handles derived from them live on.
 *
 * Part 1: NT threads share one pr_range (read-only guest pages), one
 * pr_ranges (a read-only window plus one window per thread), one callback
 * memory and one mapped memory over the same guest RAM. Each thread derives
 * its own subranges, clones, splits, buffers (pr_ranges_get, a builder of
 * its own) and cursors from the shared handles, writes only the pages it
 * owns (so no guest byte is written by two threads and the callbacks need no
 * lock), reads the read-only pages, and checks every byte it reads or
 * writes; it also writes its pages through iovecs exported from the shared
 * mapped memory.
 *
 * Part 2: handles are freed in different orders - a range before its
 * cursors, the memory before the cursors, a parent range before its
 * subranges/clones/splits, a buffer before the ranges taken from it - and
 * the survivors keep working; the parents are freed by the main thread
 * while worker threads use the derived handles, and each worker frees its
 * handles in its own order.
 *
 * Deterministic: every thread uses its own fixed-seed PRNG; the outcome does
 * not depend on scheduling; no sleeps, no timing. Checks made in threads
 * are counted per thread and reported by the main thread.
 */
#define _DEFAULT_SOURCE

#include <pthread.h>
#include <sys/uio.h>

#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define NT 4          /* threads */
#define OWN 16        /* pages each thread owns */
#define RO 16         /* read-only pages */
#define PAGES (NT * OWN + RO)
#define RO_FIRST (NT * OWN)
#define ITERS 60

/* Guest RAM, GPA 0 .. PAGES * 4096, also mapped 1:1 for the mapped memory. */
static uint8_t *ram;
static uint8_t ro_pattern[RO * 4096];

/* Lock-free callbacks: no counters, only memcpy on disjoint or read-only
 * bytes. */
static int t_read(void *ctx, uint64_t gpa, void *dst, size_t len)
{
    (void)ctx;
    if (gpa > PAGES * PS || len > PAGES * PS - gpa)
        return -14;
    memcpy(dst, ram + gpa, len);
    return 0;
}

static int t_write(void *ctx, uint64_t gpa, const void *src, size_t len)
{
    (void)ctx;
    if (gpa > PAGES * PS || len > PAGES * PS - gpa)
        return -14;
    memcpy(ram + gpa, src, len);
    return 0;
}

static int t_fill(void *ctx, uint64_t gpa, uint8_t value, size_t len)
{
    (void)ctx;
    if (gpa > PAGES * PS || len > PAGES * PS - gpa)
        return -14;
    memset(ram + gpa, value, len);
    return 0;
}

/* Per-thread check counters. */
struct tctx {
    int id;
    unsigned checks, failures;
    /* part 1 */
    const pr_range *ro;      /* shared */
    const pr_ranges *rs;     /* shared */
    const pr_memory *mem;    /* shared */
    const pr_memory *mapped; /* shared */
    /* part 2: handles owned by this thread */
    pr_range *sub;
    pr_range *clone;
    pr_reader *rd;
    pr_writer *w;
    pr_ranges *buf;
};

#define TCHECK(c, cond)                                                               \
    do {                                                                              \
        (c)->checks++;                                                                \
        if (!(cond)) {                                                                \
            (c)->failures++;                                                          \
            fprintf(stderr, "%s:%d: thread %d: TCHECK failed: %s\n", __FILE__, __LINE__, \
                    (c)->id, #cond);                                                  \
        }                                                                             \
    } while (0)

/* GPNs thread `id` owns, in a scrambled order (a fixed permutation). */
static uint64_t own_gpn(int id, size_t k)
{
    return (uint64_t)id * OWN + (k * 5 + 3) % OWN;
}

/* The guest address of byte i of the read-only window (GPNs RO_FIRST.. in
 * reverse order, offset 7, so runs are single pages). */
static uint64_t ro_gpns[RO];
#define RO_OFF 7
#define RO_LEN (RO * 4096 - 20)

/* ------------------------------------------------------------------------ */
/* Part 1                                                                    */
/* ------------------------------------------------------------------------ */

static void check_ro_bytes(struct tctx *c, const uint8_t *got, size_t from, size_t n)
{
    size_t i;
    int ok = 1;
    for (i = 0; i < n && ok; i++)
        ok = got[i] == ram[tu_gpa_of(ro_gpns, RO_OFF, from + i)];
    TCHECK(c, ok);
}

static void *worker(void *arg)
{
    struct tctx *c = (struct tctx *)arg;
    tu_rng rng;
    static uint8_t bufs[NT][3][OWN * 4096];
    uint8_t *src = bufs[c->id][0], *dst = bufs[c->id][1], *tmp = bufs[c->id][2];
    pr_range *mine = NULL;
    uint64_t gpns[OWN];
    size_t own_len, own_off, k;
    unsigned iter;
    pr_ranges_builder *b = NULL;

    rng.s = 1000u + (unsigned)c->id;
    for (k = 0; k < OWN; k++)
        gpns[k] = own_gpn(c->id, k);

    /* my window of the shared buffer */
    TCHECK(c, pr_ranges_get(c->rs, 1 + (size_t)c->id, &mine) == PR_OK);
    if (!mine)
        return NULL;
    own_len = pr_range_len(mine);
    own_off = pr_range_offset(mine);
    TCHECK(c, own_len == OWN * PS - 100);
    TCHECK(c, pr_ranges_builder_new(NULL, &b) == PR_OK);

    for (iter = 0; iter < ITERS; iter++) {
        size_t off = (size_t)tu_rand_below(&rng, own_len);
        size_t len = (size_t)tu_rand_below(&rng, own_len - off + 1);
        pr_range *sub = NULL, *cl = NULL, *front = NULL, *back = NULL;
        pr_transfer t;
        unsigned op = iter % 5;

        /* read-only part: a subrange of the shared range, read fully */
        {
            size_t ro_off = (size_t)tu_rand_below(&rng, RO_LEN);
            size_t ro_len = (size_t)tu_rand_below(&rng, RO_LEN - ro_off + 1);
            pr_range *ros = NULL;
            pr_reader *rd = NULL;
            TCHECK(c, pr_range_subrange(c->ro, ro_off, ro_len, &ros) == PR_OK);
            TCHECK(c, pr_range_read(ros, iter % 2 ? c->mem : c->mapped, tmp, ro_len, &t) == PR_OK);
            check_ro_bytes(c, tmp, ro_off, ro_len);
            TCHECK(c, pr_reader_new(c->ro, c->mem, &rd) == PR_OK);
            TCHECK(c, pr_reader_skip(rd, ro_off) == PR_OK);
            TCHECK(c, pr_reader_read(rd, tmp, ro_len, &t) == PR_OK);
            check_ro_bytes(c, tmp, ro_off, ro_len);
            pr_reader_free(rd);
            pr_range_free(ros);
        }

        /* own part: derive, write, read back */
        tu_fill_pattern(src, len, (unsigned)(c->id * 100000 + (int)iter));
        TCHECK(c, pr_range_subrange(mine, off, len, &sub) == PR_OK);
        TCHECK(c, pr_range_clone(sub, &cl) == PR_OK);
        switch (op) {
        case 0: /* range write through the callback memory */
            TCHECK(c, pr_range_write(sub, c->mem, src, len, &t) == PR_OK);
            break;
        case 1: { /* writer in pieces through the mapped memory */
            pr_writer *w = NULL;
            size_t pos = 0;
            TCHECK(c, pr_writer_new(cl, c->mapped, &w) == PR_OK);
            while (pos < len) {
                size_t n = 1 + (size_t)tu_rand_below(&rng, len - pos);
                TCHECK(c, pr_writer_write(w, src + pos, n, &t) == PR_OK);
                pos += n;
            }
            pr_writer_free(w);
            break;
        }
        case 2: { /* a split, as a buffer in the original order */
            size_t cut = len ? (size_t)tu_rand_below(&rng, len + 1) : 0;
            pr_ranges *two = NULL;
            const pr_range *parts[2];
            TCHECK(c, pr_range_split(sub, cut, &front, &back) == PR_OK);
            parts[0] = front;
            parts[1] = back;
            TCHECK(c, pr_ranges_new(parts, 2, &two) == PR_OK);
            TCHECK(c, pr_ranges_write(two, c->mapped, src, len, &t) == PR_OK);
            pr_ranges_free(two);
            break;
        }
        case 3: { /* rebuilt with a builder from the subrange's runs */
            pr_address_range runs[OWN + 1];
            size_t n = 0, i;
            pr_ranges *built = NULL;
            TCHECK(c, pr_ranges_builder_clear(b) == PR_OK);
            TCHECK(c, pr_range_address_ranges(sub, runs, OWN + 1, &n) == PR_OK);
            for (i = 0; i < n; i++)
                TCHECK(c, pr_ranges_builder_push(b, runs[i].start, runs[i].end - runs[i].start,
                                                 NULL) == PR_OK);
            TCHECK(c, pr_ranges_builder_finish(b, &built) == PR_OK);
            TCHECK(c, pr_ranges_len(built) == len);
            {
                pr_writer *w = NULL;
                TCHECK(c, pr_ranges_writer_new(built, c->mem, &w) == PR_OK);
                TCHECK(c, pr_writer_write(w, src, len, &t) == PR_OK);
                pr_writer_free(w);
            }
            pr_ranges_free(built);
            break;
        }
        default: { /* straight into guest pages through exported iovecs */
            struct iovec iov[OWN + 1];
            size_t n = 0, covered = 0, i, pos = 0;
            TCHECK(c, pr_range_iovecs(sub, c->mapped, len, iov, OWN + 1, &n, &covered) == PR_OK);
            TCHECK(c, covered == len);
            for (i = 0; i < n && pos + iov[i].iov_len <= len; i++) {
                memcpy(iov[i].iov_base, src + pos, iov[i].iov_len);
                pos += iov[i].iov_len;
            }
            TCHECK(c, pos == len);
            break;
        }
        }
        /* read back through the clone, the other memory, and check the
         * guest bytes directly */
        memset(dst, 0, len);
        TCHECK(c, pr_range_read(cl, op % 2 ? c->mem : c->mapped, dst, len, &t) == PR_OK);
        TCHECK(c, memcmp(dst, src, len) == 0);
        {
            int ok = 1;
            size_t i;
            for (i = 0; i < len && ok; i++)
                ok = ram[tu_gpa_of(gpns, own_off, off + i)] == src[i];
            TCHECK(c, ok);
        }
        /* fill and check through a buffer made of my window of the shared
         * buffer */
        if (iter % 7 == 0) {
            pr_writer *w = NULL;
            TCHECK(c, pr_ranges_writer_new(c->rs, c->mem, &w) == PR_OK);
            /* skip the read-only window and the windows of threads before me */
            {
                size_t skip = RO_LEN + (size_t)c->id * own_len, i;
                pr_writer *mine_w = NULL, *head = NULL;
                TCHECK(c, pr_writer_limit(w, skip, &head) == PR_OK);
                TCHECK(c, pr_writer_limit(w, own_len, &mine_w) == PR_OK);
                TCHECK(c, pr_writer_fill(mine_w, (uint8_t)(c->id + 1), own_len, &t) == PR_OK);
                for (i = 0; i < own_len; i++)
                    if (ram[tu_gpa_of(gpns, own_off, i)] != (uint8_t)(c->id + 1))
                        break;
                TCHECK(c, i == own_len);
                pr_writer_free(mine_w);
                pr_writer_free(head);
            }
            pr_writer_free(w);
        }
        pr_range_free(front);
        pr_range_free(back);
        pr_range_free(cl);
        pr_range_free(sub);
    }
    pr_ranges_builder_free(b);
    pr_range_free(mine);
    return NULL;
}

static void part1(pr_memory *mem, pr_memory *mapped)
{
    pthread_t th[NT];
    struct tctx c[NT];
    pr_range *ro = NULL;
    pr_range *own[NT];
    const pr_range *list[NT + 1];
    pr_ranges *rs = NULL;
    size_t k;
    int i;

    for (k = 0; k < RO; k++)
        ro_gpns[k] = RO_FIRST + (RO - 1 - k);
    ro = tu_range(ro_gpns, RO, RO_OFF, RO_LEN);
    list[0] = ro;
    for (i = 0; i < NT; i++) {
        uint64_t g[OWN];
        for (k = 0; k < OWN; k++)
            g[k] = own_gpn(i, k);
        own[i] = tu_range(g, OWN, 60, OWN * PS - 100);
        list[1 + i] = own[i];
    }
    CHECK_ST(pr_ranges_new(list, NT + 1, &rs), PR_OK);
    /* the shared buffer holds its own references */
    for (i = 0; i < NT; i++)
        pr_range_free(own[i]);

    memset(c, 0, sizeof c);
    for (i = 0; i < NT; i++) {
        c[i].id = i;
        c[i].ro = ro;
        c[i].rs = rs;
        c[i].mem = mem;
        c[i].mapped = mapped;
        CHECK_EQ(pthread_create(&th[i], NULL, worker, &c[i]), 0);
    }
    for (i = 0; i < NT; i++) {
        CHECK_EQ(pthread_join(th[i], NULL), 0);
        CHECK_EQ(c[i].failures, 0);
        CHECK(c[i].checks > 1000);
    }
    printf("part 1: %d threads, %u checks in threads\n", NT,
           c[0].checks + c[1].checks + c[2].checks + c[3].checks);
    /* the read-only pages were never written */
    CHECK_MEM(ram + RO_FIRST * PS, ro_pattern, RO * PS);
    pr_ranges_free(rs);
    pr_range_free(ro);
}

/* ------------------------------------------------------------------------ */
/* Part 2                                                                    */
/* ------------------------------------------------------------------------ */

static const pr_memory_ops OPS = {t_read, t_write, t_fill};

/* Free orders on one thread. */
static void part2_single(void)
{
    uint64_t g[4] = {RO_FIRST + 3, RO_FIRST + 1, RO_FIRST + 2, RO_FIRST};
    uint8_t buf[4 * 4096];
    pr_memory *mem = NULL;
    pr_range *r, *sub = NULL, *cl = NULL, *front = NULL, *back = NULL, *got = NULL;
    pr_reader *rd = NULL;
    pr_writer *w = NULL;
    pr_ranges *rs = NULL;
    const uint64_t *gp;
    size_t n = 0, i;

    CHECK_ST(pr_memory_new_callbacks(&OPS, NULL, &mem), PR_OK);
    r = tu_range(g, 4, 10, 4 * PS - 20);

    /* range before cursor; memory before cursor */
    CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
    CHECK_ST(pr_range_subrange(r, 100, 2 * PS, &sub), PR_OK);
    CHECK_ST(pr_range_clone(r, &cl), PR_OK);
    CHECK_ST(pr_range_split(r, PS, &front, &back), PR_OK);
    {
        const pr_range *one[1];
        one[0] = r;
        CHECK_ST(pr_ranges_new(one, 1, &rs), PR_OK);
    }
    CHECK_ST(pr_ranges_writer_new(rs, mem, &w), PR_OK);
    CHECK_ST(pr_ranges_get(rs, 0, &got), PR_OK);

    pr_range_free(r);    /* parent before derived ranges and cursors */
    pr_memory_free(mem); /* memory before cursors */
    pr_ranges_free(rs);  /* buffer before the range taken from it and its cursor */

    /* the survivors work; the GPN arrays stay valid */
    gp = pr_range_gpns(sub, &n);
    CHECK_EQ(n, 3);
    CHECK(gp && gp[0] == RO_FIRST + 3 && gp[2] == RO_FIRST + 2);
    CHECK_ST(pr_reader_read(rd, buf, 4 * PS - 20, NULL), PR_OK);
    for (i = 0; i < 4 * PS - 20; i++)
        if (buf[i] != ram[tu_gpa_of(g, 10, i)])
            break;
    CHECK_EQ(i, 4 * PS - 20);
    CHECK_EQ(pr_range_len(cl), 4 * PS - 20);
    CHECK_EQ(pr_range_len(front) + pr_range_len(back), 4 * PS - 20);
    CHECK_EQ(pr_range_len(got), 4 * PS - 20);
    /* write the same bytes back through the writer (the pages are the
     * read-only ones of part 1: their contents must not change) */
    CHECK_ST(pr_writer_write(w, buf, 4 * PS - 20, NULL), PR_OK);
    CHECK_MEM(ram + RO_FIRST * PS, ro_pattern, RO * PS);

    /* cursors freed before the derived ranges, then those in any order */
    pr_reader_free(rd);
    pr_writer_free(w);
    pr_range_free(back);
    pr_range_free(got);
    pr_range_free(sub);
    pr_range_free(front);
    pr_range_free(cl);
}

/* Workers get derived handles; the main thread frees the parents while
 * they run. */
static void *part2_worker(void *arg)
{
    struct tctx *c = (struct tctx *)arg;
    uint8_t src[2 * 4096], dst[2 * 4096];
    size_t len = pr_range_len(c->sub), i;
    unsigned round;

    for (round = 0; round < 50; round++) {
        pr_range *again = NULL;
        tu_fill_pattern(src, len, (unsigned)(c->id * 1000 + (int)round));
        TCHECK(c, pr_range_clone(c->clone, &again) == PR_OK);
        TCHECK(c, pr_range_write(again, c->mem, src, len, NULL) == PR_OK);
        TCHECK(c, pr_range_read(c->sub, c->mem, dst, len, NULL) == PR_OK);
        TCHECK(c, memcmp(src, dst, len) == 0);
        pr_range_free(again);
    }
    /* the cursors made by main over the whole own window */
    TCHECK(c, pr_writer_fill(c->w, (uint8_t)(0xA0 + c->id), pr_writer_remaining(c->w), NULL) ==
                  PR_OK);
    TCHECK(c, pr_reader_read(c->rd, dst, len, NULL) == PR_OK);
    for (i = 0; i < len; i++)
        if (dst[i] != (uint8_t)(0xA0 + c->id))
            break;
    TCHECK(c, i == len);
    TCHECK(c, pr_ranges_len(c->buf) == len);

    /* each worker frees in its own order */
    switch (c->id % 4) {
    case 0:
        pr_range_free(c->sub);
        pr_range_free(c->clone);
        pr_reader_free(c->rd);
        pr_writer_free(c->w);
        pr_ranges_free(c->buf);
        break;
    case 1:
        pr_writer_free(c->w);
        pr_reader_free(c->rd);
        pr_ranges_free(c->buf);
        pr_range_free(c->clone);
        pr_range_free(c->sub);
        break;
    case 2:
        pr_ranges_free(c->buf);
        pr_range_free(c->clone);
        pr_writer_free(c->w);
        pr_range_free(c->sub);
        pr_reader_free(c->rd);
        break;
    default:
        pr_reader_free(c->rd);
        pr_range_free(c->sub);
        pr_ranges_free(c->buf);
        pr_writer_free(c->w);
        pr_range_free(c->clone);
        break;
    }
    return NULL;
}

static void part2_threads(void)
{
    pthread_t th[NT];
    struct tctx c[NT];
    pr_memory *mem = NULL;
    pr_range *parent;
    uint64_t g[NT * 2];
    int i;

    /* one parent over two pages of each thread's area */
    for (i = 0; i < NT; i++) {
        g[2 * i] = (uint64_t)i * OWN + 9;
        g[2 * i + 1] = (uint64_t)i * OWN + 2;
    }
    CHECK_ST(pr_memory_new_callbacks(&OPS, NULL, &mem), PR_OK);
    parent = tu_range(g, NT * 2, 0, NT * 2 * PS);
    memset(c, 0, sizeof c);
    for (i = 0; i < NT; i++) {
        pr_range *win = NULL;
        const pr_range *one[1];
        c[i].id = i;
        c[i].mem = mem;
        CHECK_ST(pr_range_subrange(parent, (size_t)i * 2 * PS + 5, 2 * PS - 10, &c[i].sub), PR_OK);
        CHECK_ST(pr_range_clone(c[i].sub, &c[i].clone), PR_OK);
        CHECK_ST(pr_range_subrange(parent, (size_t)i * 2 * PS + 5, 2 * PS - 10, &win), PR_OK);
        CHECK_ST(pr_reader_new(win, mem, &c[i].rd), PR_OK);
        CHECK_ST(pr_writer_new(win, mem, &c[i].w), PR_OK);
        one[0] = win;
        CHECK_ST(pr_ranges_new(one, 1, &c[i].buf), PR_OK);
        pr_range_free(win);
    }
    for (i = 0; i < NT; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, part2_worker, &c[i]), 0);
    /* the parent goes while the workers use what was derived from it (the
     * workers also pass `mem` itself to pr_range_write, so the memory is
     * freed after the join; part2_memory_goes_first frees it early) */
    pr_range_free(parent);
    for (i = 0; i < NT; i++) {
        CHECK_EQ(pthread_join(th[i], NULL), 0);
        CHECK_EQ(c[i].failures, 0);
    }
    pr_memory_free(mem);
}

/* Memory freed by main while worker cursors (which hold it) run. */
static void *part2_cursor_worker(void *arg)
{
    struct tctx *c = (struct tctx *)arg;
    uint8_t src[4096], dst[4096];
    tu_fill_pattern(src, 4096, (unsigned)c->id + 7);
    TCHECK(c, pr_writer_write(c->w, src, 4096, NULL) == PR_OK);
    TCHECK(c, pr_reader_read(c->rd, dst, 4096, NULL) == PR_OK);
    TCHECK(c, memcmp(src, dst, 4096) == 0);
    if (c->id % 2) {
        pr_writer_free(c->w);
        pr_reader_free(c->rd);
    } else {
        pr_reader_free(c->rd);
        pr_writer_free(c->w);
    }
    return NULL;
}

static void part2_memory_goes_first(void)
{
    pthread_t th[NT];
    struct tctx c[NT];
    pr_memory *mem = NULL;
    int i;

    CHECK_ST(pr_memory_new_callbacks(&OPS, NULL, &mem), PR_OK);
    memset(c, 0, sizeof c);
    for (i = 0; i < NT; i++) {
        const uint64_t g[1] = {(uint64_t)i * OWN + 11};
        pr_range *r = tu_range(g, 1, 0, PS);
        c[i].id = i;
        CHECK_ST(pr_writer_new(r, mem, &c[i].w), PR_OK);
        CHECK_ST(pr_reader_new(r, mem, &c[i].rd), PR_OK);
        pr_range_free(r);
    }
    for (i = 0; i < NT; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, part2_cursor_worker, &c[i]), 0);
    pr_memory_free(mem); /* while the workers run */
    for (i = 0; i < NT; i++) {
        CHECK_EQ(pthread_join(th[i], NULL), 0);
        CHECK_EQ(c[i].failures, 0);
    }
}

int main(void)
{
    pr_memory *mem = NULL, *mapped = NULL;
    pr_mapped_region region;

    ram = (uint8_t *)calloc(PAGES, PS);
    if (!ram)
        abort();
    tu_fill_pattern(ram, PAGES * PS, 1);
    memcpy(ro_pattern, ram + RO_FIRST * PS, sizeof ro_pattern);

    CHECK_ST(pr_memory_new_callbacks(&OPS, NULL, &mem), PR_OK);
    region.gpa = 0;
    region.size = PAGES * PS;
    region.host = ram;
    CHECK_ST(pr_memory_new_mapped(&region, 1, &mapped), PR_OK);

    part1(mem, mapped);
    pr_memory_free(mem);
    pr_memory_free(mapped);

    part2_single();
    part2_threads();
    part2_memory_goes_first();

    free(ram);
    return TEST_SUMMARY();
}
