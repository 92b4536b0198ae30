/*
 * icount.c - instruction counts (not seconds) of pagedrange's C ABI against
 * hand-written C doing the same work, measured with valgrind's callgrind.
 * Instruction counts are repeatable on a shared machine; times are not.
 *
 * Each measured loop runs inside its own `measure_<name>` function (noipa:
 * never inlined, cloned or renamed), and scripts/bench.sh --icount runs
 *
 *   valgrind --tool=callgrind --toggle-collect=measure_<name> icount run <name>
 *
 * once per measurement, so the `totals:` line of the callgrind output is
 * that function's inclusive cost: the loop, the calls, everything they
 * call (memcpy included). Each loop first runs uncollected as a warm-up
 * (lazy symbol binding, first-use initialisation). Nothing is subtracted:
 * the `overhead` measurement (the same loop calling an empty function)
 * says how much of each per-call figure is the loop itself.
 *
 * Modes:
 *   icount list              the measurement names, one a line
 *   icount run NAME          warm up, then run measure_NAME once
 *   icount check             check that each pagedrange call and its
 *                            hand-written reference produce the same result
 *   icount allocs            heap allocations per virtio request (only in
 *                            the build with -DICOUNT_COUNT_ALLOCS and the
 *                            --wrap linker flags below; prints key value)
 *   icount table FILE        the markdown table, from FILE's `key value`
 *                            lines (`NAME Ir-total` per measurement and the
 *                            `allocs` output)
 *
 * Build (as scripts/bench.sh does; no -march, so it runs under valgrind on
 * any x86-64):
 *   gcc -O2 -std=c11 -Wall -Wextra -Werror -Iinclude bench-c/icount.c \
 *       libpagedrange.a -lpthread -ldl -lm -o icount
 *   gcc ... -DICOUNT_COUNT_ALLOCS -Wl,--wrap=malloc,--wrap=calloc,\
 *       --wrap=realloc,--wrap=free,--wrap=posix_memalign,--wrap=aligned_alloc \
 *       ... -o icount-allocs
 */

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "pagedrange.h"

/* A measured or reference function: a real call, under its own name. */
#define NOIPA __attribute__((noipa))
/* The compiler must assume `p`'s memory is read: results are used. */
#define SINK(p) __asm__ volatile("" : : "r"(p) : "memory")

#define PAGE 4096u
#define RAM_SIZE (64u << 20) /* one mapping of 64 MiB at GPA 0 */
#define RAM_PAGES (RAM_SIZE / PAGE)
#define N_GPNS 256u /* scattered pages: the walk, and the 1 MiB stream */
#define STREAM_LEN (N_GPNS * PAGE)
#define CHUNK 512u

static uint8_t *ram;
static pr_memory *mem;
static uint64_t gpns[N_GPNS]; /* distinct even GPNs, shuffled: none adjacent */
static pr_range *range;       /* all of gpns[]: 1 MiB */
static uint8_t hostbuf[CHUNK] __attribute__((aligned(64)));

static void die(const char *what, pr_status st) {
    fprintf(stderr, "icount: %s failed: %s\n", what, st ? pr_status_str(st) : "mismatch");
    exit(1);
}
#define CHECK(call)                                                                            \
    do {                                                                                       \
        pr_status st_ = (call);                                                                \
        if (__builtin_expect(st_ != PR_OK, 0))                                                 \
            die(#call, st_);                                                                   \
    } while (0)

/* --- heap allocation counting (icount-allocs build only) --------------- */

#ifdef ICOUNT_COUNT_ALLOCS
static uint64_t n_allocs, n_frees;
void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void __real_free(void *);
int __real_posix_memalign(void **, size_t, size_t);
void *__real_aligned_alloc(size_t, size_t);
void *__wrap_malloc(size_t n) { n_allocs++; return __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { n_allocs++; return __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { n_allocs++; return __real_realloc(p, n); }
void __wrap_free(void *p) { if (p) n_frees++; __real_free(p); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) { n_allocs++; return __real_posix_memalign(p, a, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { n_allocs++; return __real_aligned_alloc(a, n); }
#endif

/* --- setup --------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t rng_next(void) { /* xorshift64*, fixed seed */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Du;
}

static void setup(void) {
    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) {
        perror("icount: mmap");
        exit(1);
    }
    pr_mapped_region region = {.gpa = 0, .size = RAM_SIZE, .host = ram};
    CHECK(pr_memory_new_mapped(&region, 1, &mem));

    /* A fixed shuffle of the even pages; the first N_GPNS of it. */
    static uint64_t even[RAM_PAGES / 2];
    for (size_t i = 0; i < RAM_PAGES / 2; i++)
        even[i] = 2 * i;
    for (size_t i = RAM_PAGES / 2 - 1; i > 0; i--) {
        size_t j = (size_t)(rng_next() % (i + 1));
        uint64_t x = even[i];
        even[i] = even[j];
        even[j] = x;
    }
    memcpy(gpns, even, sizeof gpns);
    for (size_t i = 0; i < N_GPNS; i++) /* recognisable guest bytes */
        memset(ram + gpns[i] * PAGE, (int)(i + 1), PAGE);
    CHECK(pr_range_new(gpns, N_GPNS, 0, STREAM_LEN, &range));
}

/* --- loop overhead --------------------------------------------------------- */

/* An empty call with the shape of pr_range_read's. */
NOIPA pr_status empty_call(const void *a, const void *b, void *c, size_t d) {
    (void)a, (void)b, (void)c, (void)d;
    return PR_OK;
}

static NOIPA void loop_overhead(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        CHECK(empty_call(range, mem, hostbuf, CHUNK));
        SINK(hostbuf);
    }
}

/* --- address ranges of 256 scattered GPNs ------------------------------- */

static pr_address_range ar_out[N_GPNS];
static size_t ar_count;

static NOIPA void loop_pr_address_ranges(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        CHECK(pr_range_address_ranges(range, ar_out, N_GPNS, &ar_count));
        SINK(ar_out);
    }
}

/* The hand-written walk: the window `offset .. offset + len` of the pages in
 * `g`, as guest address runs; what a C hypervisor would write. Per page: the
 * GPN is addressable, the page's end does not overflow (unless the window
 * stops short of that last byte), the page extends the previous run when it
 * is adjacent, else a new `{start,end}` run is stored. The partial first and
 * last pages are trimmed after the loop. Same outputs and status contract as
 * pr_range_address_ranges (a full `out` is counted on, without storing, to
 * report the runs needed). */
NOIPA int hand_address_ranges(const uint64_t *g, size_t offset, size_t len, pr_address_range *out,
                              size_t cap, size_t *count) {
    size_t n = 0, i = 0, npages = 0, in_page = offset % PAGE;
    uint64_t cut = 0, start, end, prev_end = 1; /* no page starts at 1 */
    int st = PR_OK;
    const uint64_t *p = g + offset / PAGE;
    if (len > 0) {
        npages = (in_page + len + PAGE - 1) / PAGE;
        cut = (uint64_t)npages * PAGE - in_page - len; /* bytes of the last page after the window */
    }
    for (; i < npages; i++) {
        uint64_t gpn = p[i];
        if (gpn > PR_MAX_GPN)
            return PR_ERR_INVALID_GPN;
        if (__builtin_add_overflow(gpn * PAGE, PAGE, &end) && (i + 1 < npages || cut == 0))
            return PR_ERR_INVALID_GPN;
        start = gpn * PAGE;
        if (start == prev_end) {
            out[n - 1].end = end;
        } else {
            if (n == cap)
                goto full;
            out[n++] = (pr_address_range){start, end};
        }
        prev_end = end;
    }
    if (n > 0) {
        out[n - 1].end -= cut;
        out[0].start += in_page;
    }
    *count = n;
    return PR_OK;
full: /* count the runs needed, with the same checks, storing nothing */
    st = PR_ERR_BUFFER_TOO_SMALL;
    for (; i < npages; i++) {
        uint64_t gpn = p[i];
        if (gpn > PR_MAX_GPN)
            return PR_ERR_INVALID_GPN;
        if (__builtin_add_overflow(gpn * PAGE, PAGE, &end) && (i + 1 < npages || cut == 0))
            return PR_ERR_INVALID_GPN;
        n += gpn * PAGE != prev_end;
        prev_end = end;
    }
    if (cap > 0)
        out[0].start += in_page;
    *count = n;
    return st;
}

static NOIPA void loop_hand_address_ranges(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        CHECK(hand_address_ranges(gpns, 0, STREAM_LEN, ar_out, N_GPNS, &ar_count));
        SINK(ar_out);
    }
}

/* --- 512 B reads ------------------------------------------------------------ */

static NOIPA void loop_pr_range_read(uint64_t n) {
    pr_transfer t;
    for (uint64_t i = 0; i < n; i++) {
        CHECK(pr_range_read(range, mem, hostbuf, CHUNK, &t));
        SINK(hostbuf);
    }
}

/* The same loop with pr_fault_recovery_install done first (in the
 * uncollected warm-up): the copy routines are the same either way, so the
 * count should be too. */
static NOIPA void loop_pr_range_read_recovery(uint64_t n) {
    static int installed;
    if (!installed) {
        CHECK(pr_fault_recovery_install());
        installed = 1;
    }
    loop_pr_range_read(n);
}

/* glibc's memcpy through a pointer, as the library calls it (gcc would
 * otherwise inline a 512 B constant-size copy). */
static void *(*volatile libc_memcpy)(void *, const void *, size_t) = memcpy;

static NOIPA void loop_memcpy_512(uint64_t n) {
    const uint8_t *src = ram + gpns[0] * PAGE;
    for (uint64_t i = 0; i < n; i++) {
        libc_memcpy(hostbuf, src, CHUNK);
        SINK(hostbuf);
    }
}

/* Streaming: one reader over the 1 MiB range; each loop call reads it all
 * (2048 reads). The reader is made outside the measured function. */
static pr_reader *stream_rd;
#define STREAM_READS (STREAM_LEN / CHUNK)

static NOIPA void loop_pr_reader_read(uint64_t n) {
    pr_transfer t;
    for (uint64_t i = 0; i < n; i++) {
        CHECK(pr_reader_read(stream_rd, hostbuf, CHUNK, &t));
        SINK(hostbuf);
    }
}

/* --- virtio request lifecycle -------------------------------------------- */

/* A virtio-blk style request: 16 B header, 4 KiB of data starting mid-page
 * (2 guest pages), 1 B status; all three in guest RAM. */
struct desc {
    uint64_t gpa;
    uint32_t len;
};
#define HDR_LEN 16u
#define DATA_LEN 4096u
#define MAX_IOV 8
static const struct desc chain[3] = {
    {0x10040, HDR_LEN},   /* header */
    {0x20800, DATA_LEN},  /* data: 0x20800 .. 0x21800, pages 0x20 and 0x21 */
    {0x3007f, 1},         /* status */
};

/* What a request yields: the header bytes and the data part's iovecs
 * (handed to preadv/pwritev by a real device). */
struct req_out {
    uint8_t hdr[HDR_LEN];
    struct iovec iov[MAX_IOV];
    size_t niov;
};
static struct req_out req_out;

/*
 * pagedrange. Today's API allocates per request: finish makes a pr_ranges,
 * and each cursor is a new handle. The data part's iovecs come from
 * pr_ranges_skip(rs, 16) + pr_ranges_iovecs on the request's own buffer
 * (no copy: the buffer is ours), and the status byte from a writer made
 * after pr_ranges_skip(rs, data_len), so it starts at offset 16 + 4096.
 *
 * For the zero-allocation API, change only pr_vq_init/pr_vq_fini and
 * pr_request (ICOUNT_ALLOC_API builds the allocating version of before).
 */
struct pr_vq {
    pr_ranges_builder *b;
#ifndef ICOUNT_ALLOC_API
    pr_ranges *rs;
    pr_reader *rd;
    pr_writer *w;
#endif
};

static void pr_vq_init(struct pr_vq *q) {
    CHECK(pr_ranges_builder_new(NULL, &q->b));
#ifndef ICOUNT_ALLOC_API
    CHECK(pr_ranges_new(NULL, 0, &q->rs));
    CHECK(pr_ranges_reader_new(q->rs, mem, &q->rd));
    CHECK(pr_ranges_writer_new(q->rs, mem, &q->w));
#endif
}

static void pr_vq_fini(struct pr_vq *q) {
#ifndef ICOUNT_ALLOC_API
    pr_reader_free(q->rd);
    pr_writer_free(q->w);
    pr_ranges_free(q->rs);
#endif
    pr_ranges_builder_free(q->b);
}

#ifdef ICOUNT_ALLOC_API
/* For docs/bench/icount.md: what pr_request does. */
static const char pr_request_steps[] =
    "today's API: `pr_ranges_builder_clear`, 3 `pr_ranges_builder_push`, `pr_ranges_builder_finish`; "
    "`pr_ranges_reader_new` + `pr_reader_read` 16 B; `pr_ranges_skip` 16 + `pr_ranges_iovecs` of "
    "the data (`pr_ranges_len` - 17 bytes) on the request's buffer itself; `pr_ranges_skip` of the "
    "data + `pr_ranges_writer_new` + `pr_writer_write` of the status byte (offset 16 + 4096 of the "
    "request); free the reader, the writer and the buffer (the builder is reused)";

NOIPA pr_status pr_request(struct pr_vq *q, const struct desc *d, size_t nd, uint8_t status,
                           struct req_out *out) {
    pr_status st;
    pr_ranges *rs = NULL;
    pr_reader *rd = NULL;
    pr_writer *w = NULL;
    pr_transfer t;
    size_t covered;
    if ((st = pr_ranges_builder_clear(q->b)))
        return st;
    for (size_t i = 0; i < nd; i++)
        if ((st = pr_ranges_builder_push(q->b, d[i].gpa, d[i].len, NULL)))
            return st;
    if ((st = pr_ranges_builder_finish(q->b, &rs)))
        return st;
    size_t total = pr_ranges_len(rs);
    if (total < HDR_LEN + 1) {
        st = PR_ERR_OUT_OF_RANGE;
        goto out;
    }
    size_t data_len = total - HDR_LEN - 1;
    if ((st = pr_ranges_reader_new(rs, mem, &rd)) || (st = pr_reader_read(rd, out->hdr, HDR_LEN, &t)))
        goto out;
    if ((st = pr_ranges_skip(rs, HDR_LEN)) ||
        (st = pr_ranges_iovecs(rs, mem, data_len, out->iov, MAX_IOV, &out->niov, &covered)))
        goto out;
    if ((st = pr_ranges_skip(rs, data_len)) || (st = pr_ranges_writer_new(rs, mem, &w)) ||
        (st = pr_writer_write(w, &status, 1, &t)))
        goto out;
out:
    pr_writer_free(w);
    pr_reader_free(rd);
    pr_ranges_free(rs);
    return st;
}
#else
/* Sketch for the zero-allocation API (not yet in the library; checked only
 * against assumed prototypes): refill the request's buffer, re-arm both
 * cursors, export the data through the writer, drop the references. */
static const char pr_request_steps[] =
    "zero-allocation API: `pr_ranges_builder_clear`, 3 `pr_ranges_builder_push`, `pr_ranges_builder_finish_into` the "
    "request's reused buffer; `pr_ranges_reader_reset` + `pr_reader_read` 16 B; "
    "`pr_ranges_writer_reset` + `pr_writer_skip` 16 + `pr_writer_iovecs` of the data "
    "(`pr_ranges_len` - 17 bytes) + `pr_writer_write` of the status byte; `pr_reader_release`, "
    "`pr_writer_release` (builder, buffer and cursors are reused)";

NOIPA pr_status pr_request(struct pr_vq *q, const struct desc *d, size_t nd, uint8_t status,
                           struct req_out *out) {
    pr_status st;
    pr_transfer t;
    size_t covered;
    if ((st = pr_ranges_builder_clear(q->b)))
        return st;
    for (size_t i = 0; i < nd; i++)
        if ((st = pr_ranges_builder_push(q->b, d[i].gpa, d[i].len, NULL)))
            return st;
    if ((st = pr_ranges_builder_finish_into(q->b, q->rs)))
        return st;
    size_t total = pr_ranges_len(q->rs);
    if (total < HDR_LEN + 1)
        return PR_ERR_OUT_OF_RANGE;
    size_t data_len = total - HDR_LEN - 1;
    if ((st = pr_ranges_reader_reset(q->rd, q->rs)) || (st = pr_reader_read(q->rd, out->hdr, HDR_LEN, &t)))
        goto out;
    if ((st = pr_ranges_writer_reset(q->w, q->rs)) || (st = pr_writer_skip(q->w, HDR_LEN)) ||
        (st = pr_writer_iovecs(q->w, data_len, out->iov, MAX_IOV, &out->niov, &covered)) ||
        (st = pr_writer_write(q->w, &status, 1, &t)))
        goto out;
out:
    pr_reader_release(q->rd);
    pr_writer_release(q->w);
    return st;
}
#endif

static struct pr_vq pr_vq;

static NOIPA void loop_pr_virtio(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        CHECK(pr_request(&pr_vq, chain, 3, (uint8_t)i, &req_out));
        SINK(&req_out);
    }
}

/* Hand-written C: what a C device model does (descriptors mapped to host
 * iovecs, as QEMU's virtqueue_pop does, then copies through them). */
struct region {
    uint64_t gpa, size;
    uint8_t *host;
};
static struct region regions[1]; /* the memory map: one region here */
static size_t n_regions = 1;

/* Appends the host iovecs of guest `gpa .. gpa + len`, split at region
 * boundaries, merged with the previous entry when host-adjacent. Every byte
 * must be inside a region. */
static int hand_map(uint64_t gpa, uint64_t len, struct iovec *iov, size_t *n, size_t cap) {
    while (len > 0) {
        const struct region *r = NULL;
        for (size_t k = 0; k < n_regions; k++)
            if (gpa - regions[k].gpa < regions[k].size) {
                r = &regions[k];
                break;
            }
        if (!r)
            return -1;
        uint64_t room = r->size - (gpa - r->gpa);
        size_t chunk = (size_t)(len < room ? len : room);
        uint8_t *host = r->host + (gpa - r->gpa);
        if (*n > 0 && (uint8_t *)iov[*n - 1].iov_base + iov[*n - 1].iov_len == host) {
            iov[*n - 1].iov_len += chunk;
        } else {
            if (*n == cap)
                return -1;
            iov[(*n)++] = (struct iovec){host, chunk};
        }
        gpa += chunk;
        len -= chunk;
    }
    return 0;
}

/* Copies between `buf` and bytes `off .. off + len` of the iovecs. */
static int hand_iov_copy(const struct iovec *iov, size_t n, size_t off, void *buf, size_t len, int to_iov) {
    uint8_t *p = buf;
    for (size_t k = 0; k < n && len > 0; k++) {
        if (off >= iov[k].iov_len) {
            off -= iov[k].iov_len;
            continue;
        }
        size_t chunk = iov[k].iov_len - off < len ? iov[k].iov_len - off : len;
        uint8_t *g = (uint8_t *)iov[k].iov_base + off;
        if (to_iov)
            memcpy(g, p, chunk);
        else
            memcpy(p, g, chunk);
        p += chunk;
        len -= chunk;
        off = 0;
    }
    return len == 0 ? 0 : -1;
}

/* The iovecs of bytes `off .. off + len` of `iov`. */
static int hand_iov_slice(const struct iovec *iov, size_t n, size_t off, size_t len, struct iovec *out,
                          size_t cap, size_t *nout) {
    size_t m = 0;
    for (size_t k = 0; k < n && len > 0; k++) {
        if (off >= iov[k].iov_len) {
            off -= iov[k].iov_len;
            continue;
        }
        size_t chunk = iov[k].iov_len - off < len ? iov[k].iov_len - off : len;
        if (m == cap)
            return -1;
        out[m++] = (struct iovec){(uint8_t *)iov[k].iov_base + off, chunk};
        len -= chunk;
        off = 0;
    }
    *nout = m;
    return len == 0 ? 0 : -1;
}

/* Each descriptor: len > 0, gpa + len does not overflow, all of it inside
 * guest RAM; the chain at most 2^32 - 1 bytes (the builder's default
 * limit). Then the header is read, the data iovecs exported, the status
 * byte written. */
NOIPA int hand_request(const struct desc *d, size_t nd, uint8_t status, struct req_out *out) {
    struct iovec iov[MAX_IOV];
    size_t n = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < nd; i++) {
        if (d[i].len == 0 || d[i].gpa + d[i].len < d[i].gpa)
            return -1;
        if (hand_map(d[i].gpa, d[i].len, iov, &n, MAX_IOV))
            return -1;
        total += d[i].len;
        if (total > UINT32_MAX)
            return -1;
    }
    if (total < HDR_LEN + 1)
        return -1;
    size_t data_len = (size_t)total - HDR_LEN - 1;
    if (hand_iov_copy(iov, n, 0, out->hdr, HDR_LEN, 0) ||
        hand_iov_slice(iov, n, HDR_LEN, data_len, out->iov, MAX_IOV, &out->niov) ||
        hand_iov_copy(iov, n, HDR_LEN + data_len, &status, 1, 1))
        return -1;
    return 0;
}

static NOIPA void loop_hand_virtio(uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        if (hand_request(chain, 3, (uint8_t)i, &req_out))
            die("hand_request", 0);
        SINK(&req_out);
    }
}

/* --- the measurements ------------------------------------------------------ */

struct measurement {
    const char *name;
    void (*loop)(uint64_t n);
    void (*measure)(uint64_t n);
    uint64_t iters; /* calls (requests) measured */
    uint64_t per;   /* units per call: 256 GPNs for the walks, else 1 */
};

/* measure_NAME is the function callgrind collects (--toggle-collect). */
#define MEASURE(name)                                                                          \
    NOIPA void measure_##name(uint64_t n) {                                                    \
        loop_##name(n);                                                                        \
        __asm__ volatile("" ::: "memory"); /* a real call, not a tail jump */                  \
    }
MEASURE(overhead)
MEASURE(pr_address_ranges)
MEASURE(hand_address_ranges)
MEASURE(pr_range_read)
MEASURE(pr_range_read_recovery)
MEASURE(memcpy_512)
MEASURE(pr_virtio)
MEASURE(hand_virtio)

/* The stream reader: one full pass per measure call, each from a new
 * reader made outside measure_pr_reader_read. */
NOIPA void measure_pr_reader_read(uint64_t n) {
    loop_pr_reader_read(n);
    __asm__ volatile("" ::: "memory");
}
static void stream_passes(void (*f)(uint64_t), uint64_t passes) {
    for (uint64_t p = 0; p < passes; p++) {
        pr_reader_free(stream_rd);
        CHECK(pr_reader_new(range, mem, &stream_rd));
        f(STREAM_READS);
        if (pr_reader_remaining(stream_rd) != 0)
            die("stream pass", 0);
    }
}
static void loop_stream(uint64_t n) { stream_passes(loop_pr_reader_read, n / STREAM_READS); }
static void measure_stream(uint64_t n) { stream_passes(measure_pr_reader_read, n / STREAM_READS); }

#define M(name, iters, per) {#name, loop_##name, measure_##name, iters, per}
static const struct measurement measurements[] = {
    M(overhead, 10000, 1),
    M(pr_address_ranges, 2000, N_GPNS),
    M(hand_address_ranges, 2000, N_GPNS),
    M(pr_range_read, 10000, 1),
    M(pr_range_read_recovery, 10000, 1),
    M(memcpy_512, 10000, 1),
    {"pr_reader_read", loop_stream, measure_stream, 4 * STREAM_READS, 1},
    M(pr_virtio, 5000, 1),
    M(hand_virtio, 5000, 1),
};
#define N_MEASUREMENTS (sizeof measurements / sizeof measurements[0])

static const struct measurement *find(const char *name) {
    for (size_t i = 0; i < N_MEASUREMENTS; i++)
        if (!strcmp(measurements[i].name, name))
            return &measurements[i];
    fprintf(stderr, "icount: no measurement %s\n", name);
    exit(2);
}

static void run(const struct measurement *m) {
    uint64_t warm = m->iters / 10 > STREAM_READS ? m->iters / 10 : STREAM_READS;
    m->loop(warm);
    m->measure(m->iters);
    printf("%s: %llu calls measured\n", m->name, (unsigned long long)m->iters);
}

/* --- check: each call agrees with its reference --------------------------- */

static void check(void) {
    pr_address_range a[N_GPNS], b[N_GPNS];
    size_t na, nb;
    CHECK(pr_range_address_ranges(range, a, N_GPNS, &na));
    if (hand_address_ranges(gpns, 0, STREAM_LEN, b, N_GPNS, &nb) || na != nb || na != N_GPNS ||
        memcmp(a, b, na * sizeof a[0]))
        die("check: address ranges", 0);

    /* Edge cases: partial pages, adjacent pages, short output arrays, the
     * highest GPN (its last byte is not addressable). */
    static const uint64_t edge[] = {7, 8, 9, 20, 4, 5, 6, 100, PR_MAX_GPN - 1, PR_MAX_GPN};
    const size_t ne = sizeof edge / sizeof edge[0];
    size_t n_edge[3] = {0, 0, 0};
    for (size_t off = 0; off < 3 * PAGE; off += 1000)
        for (size_t k = 0; k < 28; k++) {
            /* lengths 0, 1777, ..., and the ends 0..2 bytes short of the last byte */
            size_t len = k < 25 ? k * 1777 : ne * PAGE - off - (k - 25);
            if (off + len > ne * PAGE)
                continue;
            for (size_t cap = 0; cap < 8; cap++) {
                pr_range *r;
                pr_status want = pr_range_new(edge, ne, off, len, &r), got;
                if (want == PR_OK) {
                    memset(a, 0xEE, sizeof a);
                    memset(b, 0xEE, sizeof b);
                    na = nb = 12345;
                    want = pr_range_address_ranges(r, a, cap, &na);
                    pr_range_free(r);
                }
                got = (pr_status)hand_address_ranges(edge, off, len, b, cap, &nb);
                n_edge[want == PR_OK ? 0 : want == PR_ERR_INVALID_GPN ? 1 : 2]++;
                if (got != want || (want != PR_ERR_INVALID_GPN &&
                                    (na != nb || memcmp(a, b, (na < cap ? na : cap) * sizeof a[0])))) {
                    fprintf(stderr, "off %zu len %zu cap %zu: %u/%u %zu/%zu\n", off, len, cap, want, got, na, nb);
                    die("check: hand_address_ranges edge cases", 0);
                }
            }
        }

    if (!n_edge[0] || !n_edge[1] || !n_edge[2])
        die("check: edge cases not all reached", 0);

    uint8_t x[CHUNK];
    pr_transfer t;
    CHECK(pr_range_read(range, mem, x, CHUNK, &t));
    if (t.done != CHUNK || memcmp(x, ram + gpns[0] * PAGE, CHUNK))
        die("check: pr_range_read", 0);
    stream_passes(loop_pr_reader_read, 1); /* also checks remaining == 0 */
    if (memcmp(hostbuf, ram + gpns[N_GPNS - 1] * PAGE + PAGE - CHUNK, CHUNK))
        die("check: pr_reader_read", 0);

    struct req_out p, h;
    memset(&p, 0, sizeof p);
    memset(&h, 0, sizeof h);
    for (size_t i = 0; i < HDR_LEN; i++)
        ram[chain[0].gpa + i] = (uint8_t)(0xA0 + i);
    CHECK(pr_request(&pr_vq, chain, 3, 0x5A, &p));
    if (ram[chain[2].gpa] != 0x5A)
        die("check: pr status byte", 0);
    if (hand_request(chain, 3, 0xA5, &h) || ram[chain[2].gpa] != 0xA5)
        die("check: hand status byte", 0);
    if (memcmp(p.hdr, h.hdr, HDR_LEN) || memcmp(p.hdr, ram + chain[0].gpa, HDR_LEN))
        die("check: header", 0);
    if (p.niov != 1 || h.niov != 1 || p.iov[0].iov_base != h.iov[0].iov_base ||
        p.iov[0].iov_len != DATA_LEN || h.iov[0].iov_len != DATA_LEN ||
        p.iov[0].iov_base != ram + chain[1].gpa)
        die("check: data iovecs", 0);
    printf("check: pagedrange and the hand-written references agree\n");
}

/* --- allocations per request ----------------------------------------------- */

static void allocs(void) {
#ifdef ICOUNT_COUNT_ALLOCS
    const uint64_t n = 1000;
    loop_pr_virtio(10);
    uint64_t a0 = n_allocs, f0 = n_frees;
    loop_pr_virtio(n);
    printf("allocs_pr_virtio %.2f\nfrees_pr_virtio %.2f\n", (double)(n_allocs - a0) / n,
           (double)(n_frees - f0) / n);
    a0 = n_allocs, f0 = n_frees;
    loop_hand_virtio(n);
    printf("allocs_hand_virtio %.2f\nfrees_hand_virtio %.2f\n", (double)(n_allocs - a0) / n,
           (double)(n_frees - f0) / n);
#else
    fprintf(stderr, "icount: allocs needs the -DICOUNT_COUNT_ALLOCS build\n");
    exit(2);
#endif
}

/* --- the table ---------------------------------------------------------------- */

struct kv {
    char key[64];
    double value;
};
static struct kv kvs[64];
static size_t n_kvs;

static double get(const char *key) {
    for (size_t i = 0; i < n_kvs; i++)
        if (!strcmp(kvs[i].key, key))
            return kvs[i].value;
    fprintf(stderr, "icount: table: no value for %s\n", key);
    exit(1);
}

/* Instructions per unit (call, or GPN for the walks). */
static double per(const char *name) {
    const struct measurement *m = find(name);
    return get(name) / (double)(m->iters * m->per);
}

static const char *met(int ok) { return ok ? "yes" : "**no**"; }

static void table(const char *file) {
    FILE *f = fopen(file, "r");
    if (!f) {
        perror(file);
        exit(1);
    }
    while (n_kvs < 64 && fscanf(f, "%63s %lf", kvs[n_kvs].key, &kvs[n_kvs].value) == 2)
        n_kvs++;
    fclose(f);

    double ov = per("overhead");
    double ar = per("pr_address_ranges"), ar_h = per("hand_address_ranges");
    double rr = per("pr_range_read"), mc = per("memcpy_512");
    double rd = per("pr_reader_read"), rr_rec = per("pr_range_read_recovery");
    double vq = per("pr_virtio"), vq_h = per("hand_virtio");
    printf("Virtio request (the last row): pagedrange (`pr_request`), %s. Hand-written C "
           "(`hand_request`): per descriptor len > 0, no `gpa + len` overflow, every byte inside a "
           "memory region (a region table; one region here), the chain at most 2^32 - 1 bytes (the "
           "builder's default limit); the descriptors mapped to host iovecs (merged when "
           "host-adjacent); the header copied out with memcpy, the data's iovecs sliced out (1 entry: "
           "host-contiguous), the status byte copied in. Both derive the data length from the chain's "
           "total.\n\n",
           pr_request_steps);
    printf("| call | pagedrange | reference | target | met |\n|---|---|---|---|---|\n");
    printf("| `pr_range_address_ranges`, %u non-adjacent GPNs | %.1f instructions per GPN | a "
           "hand-written C loop (per GPN: `gpn <= PR_MAX_GPN`, end-overflow check, merge with the "
           "previous run when adjacent, store `{start,end}`): %.1f per GPN | <= 30 per GPN and <= 2x "
           "the hand loop (%.2fx) | %s |\n",
           N_GPNS, ar, ar_h, ar / ar_h, met(ar <= 30 && ar <= 2 * ar_h));
    printf("| `pr_range_read`, %u B, mapped memory (`pr_memory_new_mapped`) | %.0f instructions per "
           "call, memcpy included | a bare %u B glibc `memcpy`: %.0f | <= 200 | %s |\n",
           CHUNK, rr, CHUNK, mc, met(rr <= 200));
    printf("| `pr_range_read`, %u B, mapped memory, after `pr_fault_recovery_install` | %.0f "
           "instructions per call | the same call without it: %.0f | the same (no cost without a "
           "fault) | %s |\n",
           CHUNK, rr_rec, rr, met(rr_rec < rr + 0.5));
    printf("| `pr_reader_read`, %u B at a time, streaming through a 1 MiB range over %u scattered "
           "(non-adjacent) GPNs, mapped memory | %.0f per call | `pr_range_read` %u B: %.0f | <= 1.2x "
           "`pr_range_read` (%.2fx) | %s |\n",
           CHUNK, N_GPNS, rd, CHUNK, rr, rd / rr, met(rd <= 1.2 * rr));
    printf("| virtio request lifecycle (3 descriptors: 16 B header, 4 KiB data over 2 pages, 1 B "
           "status) | %.0f per request, %g heap allocations (%g frees) per request | hand-written C, "
           "same work and checks: %.0f, %g allocations | report ratio: %.1fx | - |\n",
           vq, get("allocs_pr_virtio"), get("frees_pr_virtio"), vq_h, get("allocs_hand_virtio"),
           vq / vq_h);
    printf("\nEvery figure includes its measuring loop and the call into the function; that "
           "overhead (the same loop calling an empty function) is %.1f instructions per call, and "
           "is not subtracted.\n",
           ov);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "list") && argc == 2) {
        for (size_t i = 0; i < N_MEASUREMENTS; i++)
            printf("%s\n", measurements[i].name);
        return 0;
    }
    if (!strcmp(mode, "table") && argc == 3) {
        table(argv[2]);
        return 0;
    }
    if (strcmp(mode, "run") && strcmp(mode, "check") && strcmp(mode, "allocs")) {
        fprintf(stderr, "usage: icount list | run NAME | check | allocs | table FILE\n");
        return 2;
    }
    setup();
    regions[0] = (struct region){0, RAM_SIZE, ram};
    pr_vq_init(&pr_vq);
    if (!strcmp(mode, "run") && argc == 3)
        run(find(argv[2]));
    else if (!strcmp(mode, "check"))
        check();
    else if (!strcmp(mode, "allocs"))
        allocs();
    else {
        fprintf(stderr, "usage: icount run NAME\n");
        return 2;
    }
    pr_vq_fini(&pr_vq);
    pr_reader_free(stream_rd);
    pr_range_free(range);
    pr_memory_free(mem);
    munmap(ram, RAM_SIZE);
    return 0;
}
