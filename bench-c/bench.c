/*
 * bench.c - throughput of pagedrange's C ABI against what a C hypervisor
 * would write by hand, over one guest RAM and one set of GPN lists.
 *
 * Compared, per transfer size (512 B, 4 KiB, 64 KiB, 1 MiB) and GPN layout
 * (contiguous, scattered, pairs), for reads and writes:
 *   pr_mapped      pr_memory_new_mapped + pr_range_read / pr_range_write
 *   pr_cursor      pr_reader_new + pr_reader_read + pr_reader_free (and the
 *                  writer twin): a cursor made per request
 *   pr_callback    pr_memory_new_callbacks with memcpy callbacks + pr_range_*
 *   hand_c         a loop translating each GPN and memcpy-ing page by page
 *                  (gcc -O2 inlines those bounded copies as `rep movsq`)
 *   hand_c_libc    the same loop calling glibc's memcpy (through a pointer)
 *   memcpy         one memcpy of the same byte count (the physical limit)
 * plus range creation/free, address-range walks, pr_ranges walks over
 * 1..1024 members, and a 512 B streaming cursor read against direct 512 B
 * memcpys of the same guest bytes.
 *
 * Each case is calibrated to run for at least --trial-ms milliseconds, then
 * measured --trials times; the trials of the implementations compared in
 * one case are interleaved so that machine noise hits them alike. The best
 * trial is reported (and the median beside it).
 *
 * Usage: bench [--csv FILE] [--trials N] [--trial-ms MS] [--wall] [--quick]
 *              [--only transfer|read512|align|range|ranges]
 * The CSV has one row per measurement:
 *   group,layout,size,impl,op,ns_best,ns_median,gbps_best,iters
 * (`size` is bytes for transfers, GPN or member count for walks.)
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "pagedrange.h"

#define PAGE 4096u
#define RAM_SIZE (64u << 20) /* 64 MiB of guest RAM at GPA 0 */
#define RAM_PAGES (RAM_SIZE / PAGE)
#define MAX_LEN (1u << 20)
#define MAX_PAGES (MAX_LEN / PAGE)
#define MAX_TRIALS 31
#define MAX_IMPLS 8

/* Keep the compiler from dropping copies whose results nobody reads. */
#define CLOBBER(p) __asm__ volatile("" : : "r"(p) : "memory")

static uint8_t *ram;     /* guest RAM, host mapping */
static uint8_t *hostbuf; /* the host side of every transfer */
static pr_memory *mem_mapped;
static pr_memory *mem_cb;
static int trials = 7;
static double trial_ns = 25e6;
static FILE *csv;
static const char *only; /* --only GROUP: run just that group */
static unsigned long failures;

static void die(const char *what, pr_status st) {
    fprintf(stderr, "bench: %s failed: %s\n", what, pr_status_str(st));
    exit(1);
}

/* This thread's CPU time by default: on a shared machine, time spent
 * descheduled is not the code's cost. --wall switches to CLOCK_MONOTONIC. */
static clockid_t clock_id = CLOCK_THREAD_CPUTIME_ID;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(clock_id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: the same generator (and seed) as benches/transfer.rs, so the
 * Rust and C benchmarks use identical GPN lists. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng_next(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Du;
}

/* --- GPN layouts --------------------------------------------------------- */

enum layout { CONTIGUOUS, SCATTERED, PAIRS, N_LAYOUTS };
static const char *layout_name[N_LAYOUTS] = {"contiguous", "scattered", "pairs"};

static int contains(const uint64_t *v, size_t n, uint64_t x) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

/* Fills `out` with `n` GPNs in the given layout (same algorithm as the Rust
 * bench's `make_gpns`). Scattered pages are distinct and never adjacent to
 * the page before them; pairs are two adjacent pages at a random even GPN,
 * distinct pairs never adjacent to the previous pair. */
static void make_gpns(enum layout l, uint64_t *out, size_t n) {
    rng_state = 0x9E3779B97F4A7C15u ^ ((uint64_t)l << 32) ^ n;
    switch (l) {
    case CONTIGUOUS:
        for (size_t i = 0; i < n; i++)
            out[i] = 1024 + i;
        break;
    case SCATTERED:
        for (size_t i = 0; i < n;) {
            uint64_t g = rng_next() % RAM_PAGES;
            if (contains(out, i, g) || (i > 0 && g == out[i - 1] + 1))
                continue;
            out[i++] = g;
        }
        break;
    case PAIRS:
        for (size_t i = 0; i < n;) {
            uint64_t g = (rng_next() % (RAM_PAGES / 2)) * 2;
            if (contains(out, i, g) || (i > 0 && g == out[i - 1] + 1))
                continue;
            out[i++] = g;
            if (i < n)
                out[i++] = g + 1;
        }
        break;
    default:
        abort();
    }
}

/* --- callback backend: what a C user plugs in -------------------------- */

struct cb_ctx {
    uint8_t *ram;
    uint64_t size;
};

static int cb_read(void *ctx, uint64_t gpa, void *dst, size_t len) {
    const struct cb_ctx *c = ctx;
    if (gpa > c->size || len > c->size - gpa)
        return -1;
    memcpy(dst, c->ram + gpa, len);
    return 0;
}

static int cb_write(void *ctx, uint64_t gpa, const void *src, size_t len) {
    const struct cb_ctx *c = ctx;
    if (gpa > c->size || len > c->size - gpa)
        return -1;
    memcpy(c->ram + gpa, src, len);
    return 0;
}

static int cb_fill(void *ctx, uint64_t gpa, uint8_t value, size_t len) {
    const struct cb_ctx *c = ctx;
    if (gpa > c->size || len > c->size - gpa)
        return -1;
    memset(c->ram + gpa, value, len);
    return 0;
}

/* --- the hand-written loop ---------------------------------------------- */

/* Translates each GPN (checked against guest RAM, as a hypervisor must for
 * guest-supplied page numbers) and copies page by page. */
static int hand_read(const uint64_t *gpns, size_t offset, uint8_t *dst, size_t len) {
    size_t pos = 0;
    for (size_t i = 0; pos < len; i++) {
        size_t chunk = PAGE - offset;
        if (chunk > len - pos)
            chunk = len - pos;
        if (gpns[i] >= RAM_PAGES)
            return -1;
        memcpy(dst + pos, ram + gpns[i] * PAGE + offset, chunk);
        pos += chunk;
        offset = 0;
    }
    return 0;
}

static int hand_write(const uint64_t *gpns, size_t offset, const uint8_t *src, size_t len) {
    size_t pos = 0;
    for (size_t i = 0; pos < len; i++) {
        size_t chunk = PAGE - offset;
        if (chunk > len - pos)
            chunk = len - pos;
        if (gpns[i] >= RAM_PAGES)
            return -1;
        memcpy(ram + gpns[i] * PAGE + offset, src + pos, chunk);
        pos += chunk;
        offset = 0;
    }
    return 0;
}

/* The same loop with memcpy called through a pointer, so it runs glibc's
 * memcpy like the library does. (For hand_read/hand_write, gcc -O2 knows
 * each chunk is at most 4 KiB and inlines the copy as `rep movsq`.) */
static void *(*volatile libc_memcpy)(void *, const void *, size_t) = memcpy;

static int hand_read_libc(const uint64_t *gpns, size_t offset, uint8_t *dst, size_t len) {
    void *(*copy)(void *, const void *, size_t) = libc_memcpy;
    size_t pos = 0;
    for (size_t i = 0; pos < len; i++) {
        size_t chunk = PAGE - offset;
        if (chunk > len - pos)
            chunk = len - pos;
        if (gpns[i] >= RAM_PAGES)
            return -1;
        copy(dst + pos, ram + gpns[i] * PAGE + offset, chunk);
        pos += chunk;
        offset = 0;
    }
    return 0;
}

static int hand_write_libc(const uint64_t *gpns, size_t offset, const uint8_t *src, size_t len) {
    void *(*copy)(void *, const void *, size_t) = libc_memcpy;
    size_t pos = 0;
    for (size_t i = 0; pos < len; i++) {
        size_t chunk = PAGE - offset;
        if (chunk > len - pos)
            chunk = len - pos;
        if (gpns[i] >= RAM_PAGES)
            return -1;
        copy(ram + gpns[i] * PAGE + offset, src + pos, chunk);
        pos += chunk;
        offset = 0;
    }
    return 0;
}

/* --- measurement --------------------------------------------------------- */

/* One benchmarked operation: `run(c, iters)` performs it `iters` times. */
struct impl {
    const char *name;
    void (*run)(const void *c, uint64_t iters);
};

struct result {
    double best, median;
    uint64_t iters;
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Calibrates each implementation to about `trial_ns` per trial, then runs
 * `trials` interleaved trials; returns ns per operation. */
static void measure(const void *c, const struct impl *impls, size_t n, struct result *out) {
    double samples[MAX_IMPLS][MAX_TRIALS];
    uint64_t iters[MAX_IMPLS];
    for (size_t k = 0; k < n; k++) {
        uint64_t it = 1;
        impls[k].run(c, 1); /* warm up: page tables, caches, lazy binding */
        for (;;) {
            uint64_t t0 = now_ns();
            impls[k].run(c, it);
            uint64_t dt = now_ns() - t0;
            if ((double)dt >= trial_ns / 4 || it > (1ull << 40)) {
                double per = (double)dt / (double)it;
                uint64_t want = (uint64_t)(trial_ns / (per > 0.1 ? per : 0.1));
                iters[k] = want > it ? want : it;
                break;
            }
            it *= 2;
        }
    }
    for (int t = 0; t < trials; t++) {
        for (size_t k = 0; k < n; k++) {
            uint64_t t0 = now_ns();
            impls[k].run(c, iters[k]);
            uint64_t dt = now_ns() - t0;
            samples[k][t] = (double)dt / (double)iters[k];
        }
    }
    for (size_t k = 0; k < n; k++) {
        qsort(samples[k], (size_t)trials, sizeof(double), cmp_double);
        out[k].best = samples[k][0];
        out[k].median = samples[k][trials / 2];
        out[k].iters = iters[k];
    }
}

static void report(const char *group, const char *layout, size_t size, const char *impl,
                   const char *op, const struct result *r, size_t bytes) {
    double gbps = bytes ? (double)bytes / r->best : 0.0; /* bytes/ns == GB/s */
    if (bytes)
        printf("  %-10s %-11s %8zu %-12s %-6s %11.1f ns %11.1f ns(med) %7.2f GB/s\n", group,
               layout, size, impl, op, r->best, r->median, gbps);
    else
        printf("  %-10s %-11s %8zu %-12s %-6s %11.1f ns %11.1f ns(med)\n", group, layout, size,
               impl, op, r->best, r->median);
    if (csv)
        fprintf(csv, "%s,%s,%zu,%s,%s,%.3f,%.3f,%.4f,%llu\n", group, layout, size, impl, op,
                r->best, r->median, gbps, (unsigned long long)r->iters);
}

/* --- transfer cases ------------------------------------------------------ */

struct xfer {
    const uint64_t *gpns;
    size_t len;
    pr_range *range;
    uint8_t *buf; /* host side: hostbuf, page-aligned unless said otherwise */
};

#define CHECK(st)                                                                                 \
    do {                                                                                          \
        if ((st) != PR_OK)                                                                        \
            failures++;                                                                           \
    } while (0)

static void run_pr_mapped_read(const void *p, uint64_t n) {
    const struct xfer *x = p;
    pr_transfer t;
    for (uint64_t i = 0; i < n; i++) {
        CHECK(pr_range_read(x->range, mem_mapped, x->buf, x->len, &t));
        CLOBBER(x->buf);
    }
}
static void run_pr_mapped_write(const void *p, uint64_t n) {
    const struct xfer *x = p;
    pr_transfer t;
    for (uint64_t i = 0; i < n; i++) {
        CHECK(pr_range_write(x->range, mem_mapped, x->buf, x->len, &t));
        CLOBBER(ram);
    }
}
static void run_pr_cursor_read(const void *p, uint64_t n) {
    const struct xfer *x = p;
    pr_transfer t;
    for (uint64_t i = 0; i < n; i++) {
        pr_reader *rd;
        CHECK(pr_reader_new(x->range, mem_mapped, &rd));
        CHECK(pr_reader_read(rd, x->buf, x->len, &t));
        pr_reader_free(rd);
        CLOBBER(x->buf);
    }
}
static void run_pr_cursor_write(const void *p, uint64_t n) {
    const struct xfer *x = p;
    pr_transfer t;
    for (uint64_t i = 0; i < n; i++) {
        pr_writer *w;
        CHECK(pr_writer_new(x->range, mem_mapped, &w));
        CHECK(pr_writer_write(w, x->buf, x->len, &t));
        pr_writer_free(w);
        CLOBBER(ram);
    }
}
static void run_pr_callback_read(const void *p, uint64_t n) {
    const struct xfer *x = p;
    pr_transfer t;
    for (uint64_t i = 0; i < n; i++) {
        CHECK(pr_range_read(x->range, mem_cb, x->buf, x->len, &t));
        CLOBBER(x->buf);
    }
}
static void run_pr_callback_write(const void *p, uint64_t n) {
    const struct xfer *x = p;
    pr_transfer t;
    for (uint64_t i = 0; i < n; i++) {
        CHECK(pr_range_write(x->range, mem_cb, x->buf, x->len, &t));
        CLOBBER(ram);
    }
}
static void run_hand_read(const void *p, uint64_t n) {
    const struct xfer *x = p;
    for (uint64_t i = 0; i < n; i++) {
        if (hand_read(x->gpns, 0, x->buf, x->len))
            failures++;
        CLOBBER(x->buf);
    }
}
static void run_hand_write(const void *p, uint64_t n) {
    const struct xfer *x = p;
    for (uint64_t i = 0; i < n; i++) {
        if (hand_write(x->gpns, 0, x->buf, x->len))
            failures++;
        CLOBBER(ram);
    }
}
static void run_hand_libc_read(const void *p, uint64_t n) {
    const struct xfer *x = p;
    for (uint64_t i = 0; i < n; i++) {
        if (hand_read_libc(x->gpns, 0, x->buf, x->len))
            failures++;
        CLOBBER(x->buf);
    }
}
static void run_hand_libc_write(const void *p, uint64_t n) {
    const struct xfer *x = p;
    for (uint64_t i = 0; i < n; i++) {
        if (hand_write_libc(x->gpns, 0, x->buf, x->len))
            failures++;
        CLOBBER(ram);
    }
}
/* One memcpy of the same byte count, from/to the first GPN's page onwards
 * (contiguous host memory). */
static void run_memcpy_read(const void *p, uint64_t n) {
    const struct xfer *x = p;
    const uint8_t *src = ram + x->gpns[0] * PAGE;
    for (uint64_t i = 0; i < n; i++) {
        memcpy(x->buf, src, x->len);
        CLOBBER(x->buf);
    }
}
static void run_memcpy_write(const void *p, uint64_t n) {
    const struct xfer *x = p;
    uint8_t *dst = ram + x->gpns[0] * PAGE;
    for (uint64_t i = 0; i < n; i++) {
        memcpy(dst, x->buf, x->len);
        CLOBBER(dst);
    }
}

/* Checks once, outside timing, that every implementation moves the right
 * bytes: a benchmark of a wrong copy measures nothing. */
static void verify_xfer(const struct xfer *x) {
    static uint8_t a[MAX_LEN], b[MAX_LEN];
    for (size_t i = 0; i < x->len; i++)
        a[i] = (uint8_t)rng_next();
    pr_transfer t;
    if (pr_range_write(x->range, mem_mapped, a, x->len, &t) != PR_OK || t.done != x->len)
        die("verify pr_range_write", PR_ERR_MEMORY);
    memset(b, 0, x->len);
    if (hand_read(x->gpns, 0, b, x->len) || memcmp(a, b, x->len))
        die("verify hand_read after pr_range_write", PR_ERR_MEMORY);
    for (size_t i = 0; i < x->len; i++)
        a[i] ^= 0x5A;
    if (hand_write(x->gpns, 0, a, x->len))
        die("verify hand_write", PR_ERR_MEMORY);
    memset(b, 0, x->len);
    if (pr_range_read(x->range, mem_cb, b, x->len, &t) != PR_OK || memcmp(a, b, x->len))
        die("verify callback pr_range_read", PR_ERR_MEMORY);
    memset(b, 0, x->len);
    pr_reader *rd;
    if (pr_reader_new(x->range, mem_mapped, &rd) != PR_OK ||
        pr_reader_read(rd, b, x->len, &t) != PR_OK || memcmp(a, b, x->len))
        die("verify pr_reader_read", PR_ERR_MEMORY);
    pr_reader_free(rd);
}

static const size_t sizes[] = {512, 4096, 65536, 1u << 20};

static void bench_transfers(void) {
    static uint64_t gpns[MAX_PAGES];
    printf("Transfers (best of %d trials, ns per transfer)\n", trials);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t len = sizes[s], npages = (len + PAGE - 1) / PAGE;
        for (int l = 0; l < N_LAYOUTS; l++) {
            make_gpns((enum layout)l, gpns, npages);
            struct xfer x = {gpns, len, NULL, hostbuf};
            pr_status st = pr_range_new(gpns, npages, 0, len, &x.range);
            if (st != PR_OK)
                die("pr_range_new", st);
            verify_xfer(&x);
            struct impl reads[] = {
                {"pr_mapped", run_pr_mapped_read},   {"pr_cursor", run_pr_cursor_read},
                {"pr_callback", run_pr_callback_read}, {"hand_c", run_hand_read},
                {"hand_c_libc", run_hand_libc_read}, {"memcpy", run_memcpy_read},
            };
            struct impl writes[] = {
                {"pr_mapped", run_pr_mapped_write},   {"pr_cursor", run_pr_cursor_write},
                {"pr_callback", run_pr_callback_write}, {"hand_c", run_hand_write},
                {"hand_c_libc", run_hand_libc_write}, {"memcpy", run_memcpy_write},
            };
            size_t n = sizeof reads / sizeof reads[0];
            struct result r[MAX_IMPLS];
            /* The memcpy baseline is contiguous by nature: measure it once
             * per size, with the contiguous layout. */
            size_t nimpl = l == CONTIGUOUS ? n : n - 1;
            measure(&x, reads, nimpl, r);
            for (size_t k = 0; k < nimpl; k++)
                report("transfer", reads[k].name[0] == 'm' ? "any" : layout_name[l], len,
                       reads[k].name, "read", &r[k], len);
            measure(&x, writes, nimpl, r);
            for (size_t k = 0; k < nimpl; k++)
                report("transfer", writes[k].name[0] == 'm' ? "any" : layout_name[l], len,
                       writes[k].name, "write", &r[k], len);
            pr_range_free(x.range);
        }
    }
}

/* glibc 2.36's memcpy on AMD Zen takes a slow `rep movsb` path for copies
 * of >= 4 KiB whose destination is 16 bytes past a 64-byte boundary (where
 * malloc puts its blocks). This shows that it hits the library and the hand
 * loop alike: it is the host buffer's alignment, not the copy loop. */
static void bench_alignment(void) {
    static uint64_t gpns[16];
    make_gpns(SCATTERED, gpns, 16);
    struct xfer x = {gpns, 65536, NULL, hostbuf};
    pr_status st = pr_range_new(gpns, 16, 0, 65536, &x.range);
    if (st != PR_OK)
        die("pr_range_new", st);
    struct impl impls[] = {{"pr_mapped", run_pr_mapped_read},
                           {"hand_c", run_hand_read},
                           {"hand_c_libc", run_hand_libc_read}};
    struct result r[3];
    printf("Host buffer alignment, 64 KiB scattered reads (ns per transfer)\n");
    static const size_t offs[] = {0, 16, 64};
    for (size_t o = 0; o < 3; o++) {
        char name[32];
        snprintf(name, sizeof name, "dst+%zu", offs[o]);
        x.buf = hostbuf + offs[o];
        measure(&x, impls, 3, r);
        for (size_t k = 0; k < 3; k++)
            report("align", name, 65536, impls[k].name, "read", &r[k], 65536);
    }
    pr_range_free(x.range);
}

/* --- 512 B streaming cursor read ---------------------------------------- */

#define CHUNK 512u
#define STREAM_LEN (1u << 20)

struct stream {
    const uint64_t *gpns;
    pr_range *range;
};

/* One reader over a 1 MiB scattered range, read 512 B at a time; a new
 * reader every 1 MiB (creation included, amortized over 2048 reads). */
static void run_cursor_512(const void *p, uint64_t n) {
    const struct stream *s = p;
    pr_reader *rd = NULL;
    pr_transfer t;
    for (uint64_t i = 0; i < n; i++) {
        if (i % (STREAM_LEN / CHUNK) == 0) {
            pr_reader_free(rd);
            CHECK(pr_reader_new(s->range, mem_mapped, &rd));
        }
        CHECK(pr_reader_read(rd, hostbuf, CHUNK, &t));
        CLOBBER(hostbuf);
    }
    pr_reader_free(rd);
}
/* The same guest bytes, one direct 512 B memcpy each, addresses translated
 * from the GPN list by hand (no bounds check). */
static void run_direct_512(const void *p, uint64_t n) {
    const struct stream *s = p;
    const size_t per_page = PAGE / CHUNK, per_stream = STREAM_LEN / CHUNK;
    for (uint64_t i = 0; i < n; i++) {
        size_t k = (size_t)(i % per_stream);
        memcpy(hostbuf, ram + s->gpns[k / per_page] * PAGE + (k % per_page) * CHUNK, CHUNK);
        CLOBBER(hostbuf);
    }
}
/* pr_range_read of a one-page 512 B range (no cursor). */
static void run_range_512(const void *p, uint64_t n) {
    const struct stream *s = p;
    pr_transfer t;
    for (uint64_t i = 0; i < n; i++) {
        CHECK(pr_range_read(s->range, mem_mapped, hostbuf, CHUNK, &t));
        CLOBBER(hostbuf);
    }
}

static void bench_cursor_512(void) {
    static uint64_t gpns[STREAM_LEN / PAGE];
    make_gpns(SCATTERED, gpns, STREAM_LEN / PAGE);
    struct stream s = {gpns, NULL};
    pr_status st = pr_range_new(gpns, STREAM_LEN / PAGE, 0, STREAM_LEN, &s.range);
    if (st != PR_OK)
        die("pr_range_new", st);
    struct impl impls[] = {
        {"pr_cursor", run_cursor_512},
        {"pr_range_read", run_range_512},
        {"direct_memcpy", run_direct_512},
    };
    struct result r[3];
    printf("512 B reads (ns per read)\n");
    measure(&s, impls, 3, r);
    for (size_t k = 0; k < 3; k++)
        report("read512", "scattered", CHUNK, impls[k].name, "read", &r[k], CHUNK);
    pr_range_free(s.range);
}

/* --- range creation and address-range walks ------------------------------ */

struct walk {
    const uint64_t *gpns;
    size_t n;
    pr_range *range;
};

static void run_range_new_free(const void *p, uint64_t n) {
    const struct walk *w = p;
    for (uint64_t i = 0; i < n; i++) {
        pr_range *r;
        CHECK(pr_range_new(w->gpns, w->n, 0, w->n * PAGE, &r));
        pr_range_free(r);
    }
}
static void run_address_ranges(const void *p, uint64_t n) {
    const struct walk *w = p;
    static pr_address_range out[1024];
    for (uint64_t i = 0; i < n; i++) {
        size_t count;
        CHECK(pr_range_address_ranges(w->range, out, 1024, &count));
        CLOBBER(out);
    }
}
/* The same walk by hand: merge adjacent GPNs into address ranges. */
static void run_hand_address_ranges(const void *p, uint64_t n) {
    const struct walk *w = p;
    static pr_address_range out[1024];
    for (uint64_t i = 0; i < n; i++) {
        size_t count = 0;
        for (size_t k = 0; k < w->n; k++) {
            uint64_t gpa = w->gpns[k] * PAGE;
            if (count > 0 && out[count - 1].end == gpa)
                out[count - 1].end += PAGE;
            else
                out[count++] = (pr_address_range){gpa, gpa + PAGE};
        }
        CLOBBER(out);
    }
}

static void bench_walks(void) {
    static uint64_t gpns[256];
    static const size_t counts[] = {1, 32, 256};
    printf("Range creation and address-range walks (ns per call)\n");
    for (int l = 0; l < N_LAYOUTS; l++) {
        for (size_t c = 0; c < 3; c++) {
            make_gpns((enum layout)l, gpns, counts[c]);
            struct walk w = {gpns, counts[c], NULL};
            pr_status st = pr_range_new(gpns, w.n, 0, w.n * PAGE, &w.range);
            if (st != PR_OK)
                die("pr_range_new", st);
            struct impl impls[] = {
                {"pr_range_new_free", run_range_new_free},
                {"pr_address_ranges", run_address_ranges},
                {"hand_c_address_ranges", run_hand_address_ranges},
            };
            struct result r[3];
            measure(&w, impls, 3, r);
            for (size_t k = 0; k < 3; k++)
                report("range", layout_name[l], w.n, impls[k].name, "walk", &r[k], 0);
            pr_range_free(w.range);
        }
    }
}

/* --- pr_ranges walks ---------------------------------------------------- */

#define MAX_MEMBERS 1024
#define MEMBER_LEN 512u

struct members {
    pr_range *ranges[MAX_MEMBERS];
    size_t n;
    pr_ranges *rs;
};

static void run_ranges_get(const void *p, uint64_t n) {
    const struct members *m = p;
    for (uint64_t i = 0; i < n; i++) {
        size_t count = pr_ranges_count(m->rs);
        for (size_t k = 0; k < count; k++) {
            pr_range *r;
            CHECK(pr_ranges_get(m->rs, k, &r));
            CLOBBER(r);
            pr_range_free(r);
        }
    }
}
static void run_ranges_address_ranges(const void *p, uint64_t n) {
    const struct members *m = p;
    static pr_address_range out[MAX_MEMBERS];
    for (uint64_t i = 0; i < n; i++) {
        size_t count;
        CHECK(pr_ranges_address_ranges(m->rs, out, MAX_MEMBERS, &count));
        CLOBBER(out);
    }
}
static void run_ranges_read(const void *p, uint64_t n) {
    const struct members *m = p;
    pr_transfer t;
    for (uint64_t i = 0; i < n; i++) {
        CHECK(pr_ranges_read(m->rs, mem_mapped, hostbuf, pr_ranges_len(m->rs), &t));
        CLOBBER(hostbuf);
    }
}
static void run_ranges_new_free(const void *p, uint64_t n) {
    const struct members *m = p;
    for (uint64_t i = 0; i < n; i++) {
        pr_ranges *rs;
        CHECK(pr_ranges_new((const pr_range *const *)m->ranges, m->n, &rs));
        pr_ranges_free(rs);
    }
}

static void bench_ranges(void) {
    static uint64_t gpns[MAX_MEMBERS];
    static const size_t counts[] = {1, 4, 16, 64, 256, 1024};
    static struct members m;
    printf("pr_ranges walks over N members of %u B (ns per walk of all members)\n", MEMBER_LEN);
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        m.n = counts[c];
        make_gpns(SCATTERED, gpns, m.n);
        for (size_t k = 0; k < m.n; k++) {
            /* A 512 B descriptor somewhere inside each scattered page. */
            pr_status st = pr_range_new(&gpns[k], 1, (k % 8) * MEMBER_LEN, MEMBER_LEN,
                                        &m.ranges[k]);
            if (st != PR_OK)
                die("pr_range_new", st);
        }
        pr_status st = pr_ranges_new((const pr_range *const *)m.ranges, m.n, &m.rs);
        if (st != PR_OK)
            die("pr_ranges_new", st);
        if (pr_ranges_count(m.rs) != m.n || pr_ranges_len(m.rs) != m.n * MEMBER_LEN)
            die("pr_ranges_count/len", PR_ERR_PANIC);
        struct impl impls[] = {
            {"pr_ranges_new_free", run_ranges_new_free},
            {"pr_ranges_get_all", run_ranges_get},
            {"pr_ranges_address_ranges", run_ranges_address_ranges},
            {"pr_ranges_read", run_ranges_read},
        };
        struct result r[4];
        measure(&m, impls, 4, r);
        for (size_t k = 0; k < 4; k++)
            report("ranges", "scattered", m.n, impls[k].name, "walk", &r[k],
                   k == 3 ? m.n * MEMBER_LEN : 0);
        pr_ranges_free(m.rs);
        for (size_t k = 0; k < m.n; k++)
            pr_range_free(m.ranges[k]);
    }
}

/* --- main ----------------------------------------------------------------- */

int main(int argc, char **argv) {
    const char *csv_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--csv") && i + 1 < argc)
            csv_path = argv[++i];
        else if (!strcmp(argv[i], "--trials") && i + 1 < argc)
            trials = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--trial-ms") && i + 1 < argc)
            trial_ns = atof(argv[++i]) * 1e6;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--wall"))
            clock_id = CLOCK_MONOTONIC;
        else if (!strcmp(argv[i], "--quick"))
            trials = 3, trial_ns = 5e6;
        else {
            fprintf(stderr,
                    "usage: %s [--csv FILE] [--trials N] [--trial-ms MS] [--wall] [--quick]\n"
                    "       [--only transfer|read512|align|range|ranges]\n",
                    argv[0]);
            return 2;
        }
    }
    if (trials < 1 || trials > MAX_TRIALS || trial_ns <= 0) {
        fprintf(stderr, "bench: --trials must be 1..%d and --trial-ms positive\n", MAX_TRIALS);
        return 2;
    }

    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
               -1, 0);
    if (ram == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memset(ram, 0xA5, RAM_SIZE); /* fault every page in before timing */
    hostbuf = aligned_alloc(PAGE, MAX_LEN + PAGE); /* + room for offsets */
    if (!hostbuf)
        return 1;
    memset(hostbuf, 0x3C, MAX_LEN + PAGE);

    pr_mapped_region region = {0, RAM_SIZE, ram};
    pr_status st = pr_memory_new_mapped(&region, 1, &mem_mapped);
    if (st != PR_OK)
        die("pr_memory_new_mapped", st);
    static struct cb_ctx ctx;
    ctx.ram = ram;
    ctx.size = RAM_SIZE;
    pr_memory_ops ops = {cb_read, cb_write, cb_fill};
    st = pr_memory_new_callbacks(&ops, &ctx, &mem_cb);
    if (st != PR_OK)
        die("pr_memory_new_callbacks", st);

    if (csv_path) {
        csv = fopen(csv_path, "w");
        if (!csv) {
            fprintf(stderr, "bench: %s: %s\n", csv_path, strerror(errno));
            return 1;
        }
        fprintf(csv, "group,layout,size,impl,op,ns_best,ns_median,gbps_best,iters\n");
    }
    printf("pagedrange %s C benchmark: guest RAM %u MiB, %d trials of >= %.0f ms each\n",
           pr_version(), RAM_SIZE >> 20, trials, trial_ns / 1e6);

    if (!only || !strcmp(only, "transfer"))
        bench_transfers();
    if (!only || !strcmp(only, "read512"))
        bench_cursor_512();
    if (!only || !strcmp(only, "align"))
        bench_alignment();
    if (!only || !strcmp(only, "range"))
        bench_walks();
    if (!only || !strcmp(only, "ranges"))
        bench_ranges();

    pr_memory_free(mem_cb);
    pr_memory_free(mem_mapped);
    free(hostbuf);
    munmap(ram, RAM_SIZE);
    if (csv && fclose(csv) != 0) {
        perror("fclose");
        return 1;
    }
    if (failures) {
        fprintf(stderr, "bench: %lu calls failed during timing\n", failures);
        return 1;
    }
    return 0;
}
