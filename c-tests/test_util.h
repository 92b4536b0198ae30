/*
 * test_util.h - tiny helpers shared by the C tests of libpagedrange.
 *
 * 1. Assertions: CHECK(cond) and friends print "file:line: ..." for every
 *    failed check and count failures; TEST_SUMMARY() prints one summary line
 *    per program and yields the exit status (0 when every check passed).
 *
 * 2. A "guest RAM" simulator: a plain C byte array standing for the guest
 *    physical pages 0 .. pages-1 (GPA 0 .. pages*4096), with pr_memory_ops
 *    callbacks that memcpy/memset into it. Every callback call is counted and
 *    logged as (op, gpa, len, rc), so tests can assert "one call per
 *    contiguous run". An access outside the array returns GR_EFAULT (-14). A
 *    failure can be injected: any call whose bytes include `fail_gpa` (and
 *    whose op is in `fail_ops`) returns `fail_code` without touching memory.
 *
 * Everything here is `static inline` so that a test using only part of it
 * still compiles with -Wall -Wextra -Werror.
 */
#ifndef PAGEDRANGE_TEST_UTIL_H
#define PAGEDRANGE_TEST_UTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagedrange.h"

/* ------------------------------------------------------------------------ */
/* Assertions                                                                */
/* ------------------------------------------------------------------------ */

struct tu_state {
    unsigned checks;
    unsigned failures;
};

static inline struct tu_state *tu_state(void)
{
    static struct tu_state state;
    return &state;
}

static inline void tu_record(int ok, const char *file, int line, const char *expr)
{
    struct tu_state *s = tu_state();
    s->checks++;
    if (!ok) {
        s->failures++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
    }
}

static inline void tu_record_eq(uintmax_t got, uintmax_t want, const char *file, int line,
                                const char *got_expr, const char *want_expr)
{
    struct tu_state *s = tu_state();
    s->checks++;
    if (got != want) {
        s->failures++;
        fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (got %ju = 0x%jx, want %ju = 0x%jx)\n",
                file, line, got_expr, want_expr, got, got, want, want);
    }
}

static inline void tu_record_status(pr_status got, pr_status want, const char *file, int line,
                                    const char *expr)
{
    struct tu_state *s = tu_state();
    s->checks++;
    if (got != want) {
        s->failures++;
        fprintf(stderr, "%s:%d: CHECK_ST failed: %s returned %u (%s), want %u (%s)\n", file,
                line, expr, (unsigned)got, pr_status_str(got), (unsigned)want,
                pr_status_str(want));
    }
}

/* Checks that `cond` is true. */
#define CHECK(cond) tu_record(!!(cond), __FILE__, __LINE__, #cond)

/* Checks that two integers (any integer type up to 64 bits) are equal, and
 * prints both values when they are not. */
#define CHECK_EQ(got, want) \
    tu_record_eq((uintmax_t)(got), (uintmax_t)(want), __FILE__, __LINE__, #got, #want)

/* Checks that a call returns the expected pr_status, naming both. */
#define CHECK_ST(expr, want) tu_record_status((expr), (want), __FILE__, __LINE__, #expr)

/* Checks that `n` bytes at `a` and `b` are equal; prints the first difference. */
#define CHECK_MEM(a, b, n) tu_record_mem((a), (b), (n), __FILE__, __LINE__, #a, #b)

static inline void tu_record_mem(const void *a, const void *b, size_t n, const char *file,
                                 int line, const char *a_expr, const char *b_expr)
{
    struct tu_state *s = tu_state();
    const uint8_t *pa = (const uint8_t *)a;
    const uint8_t *pb = (const uint8_t *)b;
    size_t i;
    s->checks++;
    if (n == 0 || memcmp(pa, pb, n) == 0) /* fast path; the loop finds the byte */
        return;
    for (i = 0; i < n; i++) {
        if (pa[i] != pb[i]) {
            s->failures++;
            fprintf(stderr,
                    "%s:%d: CHECK_MEM failed: %s vs %s differ at byte %zu of %zu "
                    "(0x%02x vs 0x%02x)\n",
                    file, line, a_expr, b_expr, i, n, pa[i], pb[i]);
            return;
        }
    }
}

/* Prints "name: N checks, M failed" and returns the exit status. */
static inline int tu_summary(const char *name)
{
    struct tu_state *s = tu_state();
    printf("%s: %u checks, %u failed -> %s\n", name, s->checks, s->failures,
           s->failures ? "FAIL" : "OK");
    fflush(stdout);
    return s->failures ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define TEST_SUMMARY() tu_summary(__FILE__)

/* A recognizable non-NULL pointer value, never dereferenced: out-parameters
 * are preset to it to check that a failing call leaves them untouched. */
static inline void *tu_sentinel(void)
{
    static char sentinel;
    return &sentinel;
}

/* ------------------------------------------------------------------------ */
/* Guest RAM simulator                                                       */
/* ------------------------------------------------------------------------ */

#define GR_EFAULT (-14) /* returned for an access outside the simulated RAM */
#define GR_LOG_MAX 256  /* calls remembered in the log (counters keep counting) */

enum gr_op { GR_READ = 1, GR_WRITE = 2, GR_FILL = 4, GR_ALL = 7 };

struct gr_call {
    int op;        /* GR_READ, GR_WRITE or GR_FILL */
    uint64_t gpa;  /* guest physical address passed to the callback */
    size_t len;    /* length passed to the callback */
    int rc;        /* what the callback returned */
};

typedef struct guest_ram {
    uint8_t *bytes; /* the guest's physical memory, GPA 0 .. size */
    size_t size;

    /* Failure injection: a call of an op in `fail_ops` whose bytes include
     * `fail_gpa` returns `fail_code` (must be nonzero) and touches nothing. */
    int fail_ops; /* 0 = disabled */
    uint64_t fail_gpa;
    int fail_code;

    unsigned reads, writes, fills; /* calls per callback (including failed) */
    size_t nlog;                   /* calls logged (at most GR_LOG_MAX kept) */
    struct gr_call log[GR_LOG_MAX];
} guest_ram;

/* Sets up `pages` zeroed guest pages at GPA 0. Aborts on allocation failure. */
static inline void gr_init(guest_ram *g, size_t pages)
{
    memset(g, 0, sizeof *g);
    g->size = pages * PR_PAGE_SIZE;
    g->bytes = (uint8_t *)calloc(pages ? pages : 1, PR_PAGE_SIZE);
    if (!g->bytes) {
        fprintf(stderr, "gr_init: out of memory\n");
        abort();
    }
}

static inline void gr_destroy(guest_ram *g)
{
    free(g->bytes);
    g->bytes = NULL;
    g->size = 0;
}

/* Forgets the call counters and log (not the memory contents). */
static inline void gr_reset_log(guest_ram *g)
{
    g->reads = g->writes = g->fills = 0;
    g->nlog = 0;
}

static inline void gr_fail_at(guest_ram *g, int ops, uint64_t gpa, int code)
{
    g->fail_ops = ops;
    g->fail_gpa = gpa;
    g->fail_code = code;
}

static inline void gr_no_fail(guest_ram *g)
{
    g->fail_ops = 0;
}

/* Pointer to guest byte `gpa` of the simulator, for setting up and checking
 * contents directly (the test's own view of guest RAM). */
static inline uint8_t *gr_at(guest_ram *g, uint64_t gpa)
{
    if (gpa >= g->size) {
        fprintf(stderr, "gr_at: GPA 0x%" PRIx64 " outside the simulated RAM\n", gpa);
        abort();
    }
    return g->bytes + gpa;
}

/* Common part of every callback: logs the call, applies injected failures and
 * bounds checks. Returns 0 when the access may proceed. */
static inline int gr_enter(guest_ram *g, int op, uint64_t gpa, size_t len)
{
    int rc = 0;
    struct gr_call *c = NULL;

    if (op == GR_READ)
        g->reads++;
    else if (op == GR_WRITE)
        g->writes++;
    else
        g->fills++;
    if (g->nlog < GR_LOG_MAX)
        c = &g->log[g->nlog];
    g->nlog++;

    if (len == 0) {
        /* The library promises never to call with len 0; make it visible. */
        fprintf(stderr, "guest_ram: callback called with len 0 at GPA 0x%" PRIx64 "\n", gpa);
        rc = -22;
    } else if ((g->fail_ops & op) && gpa <= g->fail_gpa && g->fail_gpa - gpa < len) {
        rc = g->fail_code;
    } else if (gpa > g->size || len > g->size - gpa) {
        rc = GR_EFAULT;
    }
    if (c) {
        c->op = op;
        c->gpa = gpa;
        c->len = len;
        c->rc = rc;
    }
    return rc;
}

static inline int gr_read_cb(void *ctx, uint64_t gpa, void *dst, size_t len)
{
    guest_ram *g = (guest_ram *)ctx;
    int rc = gr_enter(g, GR_READ, gpa, len);
    if (rc == 0)
        memcpy(dst, g->bytes + gpa, len);
    return rc;
}

static inline int gr_write_cb(void *ctx, uint64_t gpa, const void *src, size_t len)
{
    guest_ram *g = (guest_ram *)ctx;
    int rc = gr_enter(g, GR_WRITE, gpa, len);
    if (rc == 0)
        memcpy(g->bytes + gpa, src, len);
    return rc;
}

static inline int gr_fill_cb(void *ctx, uint64_t gpa, uint8_t value, size_t len)
{
    guest_ram *g = (guest_ram *)ctx;
    int rc = gr_enter(g, GR_FILL, gpa, len);
    if (rc == 0)
        memset(g->bytes + gpa, value, len);
    return rc;
}

/* Creates a pr_memory over the simulator; `with_fill` = 0 leaves the fill
 * callback NULL (the library then fills through `write`). Aborts on error. */
static inline pr_memory *gr_memory(guest_ram *g, int with_fill)
{
    pr_memory_ops ops;
    pr_memory *mem = NULL;
    pr_status st;
    memset(&ops, 0, sizeof ops);
    ops.read = gr_read_cb;
    ops.write = gr_write_cb;
    ops.fill = with_fill ? gr_fill_cb : NULL;
    st = pr_memory_new_callbacks(&ops, g, &mem);
    if (st != PR_OK || mem == NULL) {
        fprintf(stderr, "gr_memory: pr_memory_new_callbacks failed: %s\n", pr_status_str(st));
        abort();
    }
    return mem;
}

/* Checks that the log holds exactly `n` calls of `op` with the given
 * (gpa, len) pairs, in order. `expect` is an array of 2*n uint64_t values. */
#define CHECK_LOG(g, op, expect, n) tu_check_log((g), (op), (expect), (n), __FILE__, __LINE__)

static inline void tu_check_log(const guest_ram *g, int op, const uint64_t *expect, size_t n,
                                const char *file, int line)
{
    struct tu_state *s = tu_state();
    size_t i;
    int ok = g->nlog == n;
    for (i = 0; ok && i < n; i++) {
        const struct gr_call *c = &g->log[i];
        ok = c->op == op && c->gpa == expect[2 * i] && c->len == expect[2 * i + 1];
    }
    s->checks++;
    if (ok)
        return;
    s->failures++;
    fprintf(stderr, "%s:%d: CHECK_LOG failed: want %zu calls of op %d:", file, line, n, op);
    for (i = 0; i < n; i++)
        fprintf(stderr, " (0x%" PRIx64 ",%" PRIu64 ")", expect[2 * i], expect[2 * i + 1]);
    fprintf(stderr, "\n    got %zu calls:", g->nlog);
    for (i = 0; i < g->nlog && i < GR_LOG_MAX; i++)
        fprintf(stderr, " op%d(0x%" PRIx64 ",%zu)->%d", g->log[i].op, g->log[i].gpa,
                g->log[i].len, g->log[i].rc);
    fprintf(stderr, "\n");
}

/* Deterministic test pattern: byte i of a buffer seeded with `seed`. */
static inline uint8_t tu_pattern(size_t i, unsigned seed)
{
    uint32_t x = (uint32_t)i * 2654435761u + seed * 40503u + 17u;
    return (uint8_t)(x >> 13 ^ x >> 5);
}

static inline void tu_fill_pattern(uint8_t *buf, size_t n, unsigned seed)
{
    size_t i;
    for (i = 0; i < n; i++)
        buf[i] = tu_pattern(i, seed);
}

/* Reference model: the guest address of logical byte `i` of the window
 * `offset .. offset+len` over `gpns` (the spec's flat byte space). */
static inline uint64_t tu_gpa_of(const uint64_t *gpns, size_t offset, size_t i)
{
    size_t flat = offset + i;
    return gpns[flat / PR_PAGE_SIZE] * PR_PAGE_SIZE + flat % PR_PAGE_SIZE;
}

/* Makes a range or aborts (for setting up tests; the API itself is checked
 * with CHECK_ST elsewhere). */
static inline pr_range *tu_range(const uint64_t *gpns, size_t count, size_t offset, size_t len)
{
    pr_range *r = NULL;
    pr_status st = pr_range_new(gpns, count, offset, len, &r);
    if (st != PR_OK || r == NULL) {
        fprintf(stderr, "tu_range: pr_range_new(count %zu, offset %zu, len %zu) failed: %s\n",
                count, offset, len, pr_status_str(st));
        abort();
    }
    return r;
}

/* ------------------------------------------------------------------------ */
/* Deterministic pseudo-random numbers (splitmix64)                          */
/* ------------------------------------------------------------------------ */

/* A tiny PRNG with explicit state, so every test run (and every thread of a
 * threaded test) sees the same sequence for the same seed. */
typedef struct tu_rng {
    uint64_t s;
} tu_rng;

static inline uint64_t tu_rand(tu_rng *r)
{
    uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* A number in 0 .. n-1 (n > 0); the slight modulo bias does not matter here. */
static inline uint64_t tu_rand_below(tu_rng *r, uint64_t n)
{
    return tu_rand(r) % n;
}

#endif /* PAGEDRANGE_TEST_UTIL_H */
