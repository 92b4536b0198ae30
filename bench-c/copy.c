/*
 * copy.c - which copy routine should the mapped-memory backend use, per
 * size? Standalone (does not link pagedrange).
 *
 * Measures, in one process, the time per copy of
 *   rep_movsb  x86-64 `rep movsb` as inline asm (rdi/rsi/rcx, "memory"
 *              clobber), inlined into the timing loop as a backend would
 *              inline it
 *   memmove    glibc memmove, called through a volatile function pointer
 *              (so gcc cannot inline or specialise it; what runs is the
 *              variant glibc's IFUNC resolver picked for this CPU)
 *   memcpy     glibc memcpy, called the same way
 * for sizes 16 B .. 1 MiB, in both directions (read: guest -> host,
 * write: host -> guest), for three alignments:
 *   aligned    guest and host buffers both page-aligned
 *   guest+100  guest side at page offset +100, host side at page offset +16
 *              (16-byte aligned, as from malloc, but not 32/64-aligned)
 *   host+16    guest side page-aligned, host side at page offset +16 (the
 *              common scatter/gather case: whole guest pages, malloc'd host
 *              buffer)
 * Sizes <= 256 KiB copy between the same two buffers every time (both hot
 * in L1/L2). 1 MiB copies rotate the guest side over a 64 MiB area (64
 * slots 1 MiB apart), as a device reading/writing many guest pages would;
 * the host buffer stays the same.
 *
 * Method: for each case every implementation is calibrated to run for at
 * least --trial-ms per trial; then --trials trials are run with the
 * implementations interleaved trial by trial (and the order rotated each
 * trial), so machine noise hits them alike. Reported per implementation:
 * best and median ns per copy. Ratios X/rep_movsb (> 1: rep movsb is
 * faster): of the best times, and the median of the per-trial ratios
 * (each trial of X divided by the rep_movsb trial next to it).
 * Time is per-thread CPU time (CLOCK_THREAD_CPUTIME_ID; --wall for
 * CLOCK_MONOTONIC).
 *
 * Reproduce:
 *   gcc -O2 -std=gnu11 -Wall -Wextra -Werror -o /tmp/copy bench-c/copy.c
 *   /tmp/copy            # full run: 15 trials of >= 20 ms, about 70 s
 *   /tmp/copy --quick    # 5 trials of >= 2 ms, a few seconds
 * Options: --trials N (<= 63), --trial-ms MS, --wall, --cpu N (pin to CPU N),
 *          --quick, --sizes N,N,... (bytes, each <= 1 MiB; default the list
 *          above; a 1 MiB size rotates over the 64 MiB area)
 */

#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096u
#define AREA (64u << 20) /* rotation area for 1 MiB copies */
#define ROTATE_FROM (1u << 20)
#define MAX_TRIALS 63
#define NIMPL 3

typedef void *(*copy_fn)(void *, const void *, size_t);

/* Volatile: gcc must load the pointer at each call, so it cannot inline
 * or specialise the glibc routines. */
static copy_fn volatile p_memmove = memmove;
static copy_fn volatile p_memcpy = memcpy;

static inline void rep_movsb(void *dst, const void *src, size_t n)
{
    __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

static const char *const impl_name[NIMPL] = {"rep_movsb", "memmove", "memcpy"};

#define MAX_SIZES 64
static size_t sizes[MAX_SIZES] = {16,   64,   128,   256,   512,    1024,   2048,
                                  4096, 8192, 16384, 65536, 262144, 1048576};
static size_t nsizes = 13;

struct align_case {
    const char *name;
    size_t guest_off, host_off;
};
static const struct align_case aligns[] = {
    {"aligned", 0, 0},
    {"guest+100", 100, 16},
    {"host+16", 0, 16}, /* extra: page-aligned guest page, malloc'd host buffer */
};
#define NALIGNS (sizeof aligns / sizeof aligns[0])

static clockid_t clk = CLOCK_THREAD_CPUTIME_ID;
static int trials = 15;
static double trial_ns = 20e6;

static uint8_t *guest; /* AREA + 2 pages */
static uint8_t *host;  /* 1 MiB + 2 pages */

/* One case: copy `len` bytes `iters` times from src to dst. If `nslots`
 * > 1, the guest side moves by `stride` each copy, wrapping after
 * `nslots`; `guest_is_dst` says which side that is. */
struct job {
    uint8_t *dst, *src;
    size_t len, stride, nslots;
    int guest_is_dst;
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The loops are written out per implementation so that the rep movsb one
 * really inlines the instruction and nothing else differs. */
#define LOOP_FIXED(COPY)                                                        \
    do {                                                                        \
        for (uint64_t i = 0; i < iters; i++)                                    \
            COPY(j->dst, j->src, j->len);                                       \
    } while (0)

#define LOOP_ROTATE(COPY)                                                       \
    do {                                                                        \
        uint8_t *d = j->dst, *s = j->src;                                       \
        uint8_t **g = j->guest_is_dst ? &d : &s;                                \
        uint8_t *g0 = *g, *gend = g0 + j->stride * j->nslots;                   \
        for (uint64_t i = 0; i < iters; i++) {                                  \
            COPY(d, s, j->len);                                                 \
            *g += j->stride;                                                    \
            if (*g == gend)                                                     \
                *g = g0;                                                        \
        }                                                                       \
    } while (0)

#define CALL_MEMMOVE(d, s, n) p_memmove((d), (s), (n))
#define CALL_MEMCPY(d, s, n) p_memcpy((d), (s), (n))

static double run(int impl, const struct job *j, uint64_t iters)
{
    double t0 = now_ns();
    if (j->nslots > 1) {
        switch (impl) {
        case 0: LOOP_ROTATE(rep_movsb); break;
        case 1: LOOP_ROTATE(CALL_MEMMOVE); break;
        default: LOOP_ROTATE(CALL_MEMCPY); break;
        }
    } else {
        switch (impl) {
        case 0: LOOP_FIXED(rep_movsb); break;
        case 1: LOOP_FIXED(CALL_MEMMOVE); break;
        default: LOOP_FIXED(CALL_MEMCPY); break;
        }
    }
    return now_ns() - t0;
}

/* Iterations for one trial of at least trial_ns. */
static uint64_t calibrate(int impl, const struct job *j)
{
    uint64_t n = 1;
    for (;;) {
        double t = run(impl, j, n);
        if (t >= trial_ns / 8) {
            double want = (double)n * trial_ns / t * 1.05;
            return want < 1 ? 1 : (uint64_t)want;
        }
        n *= t < trial_ns / 1000 ? 16 : 2;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[MAX_TRIALS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double minimum(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] < m)
            m = v[i];
    return m;
}

static void fmt_ns(char *buf, size_t cap, double ns)
{
    snprintf(buf, cap, ns < 100 ? "%.2f" : ns < 10000 ? "%.1f" : "%.0f", ns);
}

static void fmt_size(char *buf, size_t cap, size_t n)
{
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        snprintf(buf, cap, "%zu MiB", n >> 20);
    else if (n >= 1024 && n % 1024 == 0)
        snprintf(buf, cap, "%zu KiB", n >> 10);
    else
        snprintf(buf, cap, "%zu B", n);
}

static void *map(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                   -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    memset(p, 0x5a, len); /* fault in, and no shared zero page */
    return p;
}

static void print_machine(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192], model[256] = "?";
    int erms = 0, fsrm = 0, fzrm = 0, have_flags = 0;
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "model name", 10) && model[0] == '?') {
                char *c = strchr(line, ':');
                if (c) {
                    snprintf(model, sizeof model, "%s", c + 2);
                    model[strcspn(model, "\n")] = 0;
                }
            } else if (!strncmp(line, "flags", 5) && !have_flags && strchr(line, ':')) {
                have_flags = 1;
                for (char *save, *t = strtok_r(strchr(line, ':'), " :\n", &save); t;
                     t = strtok_r(NULL, " \n", &save)) {
                    erms |= !strcmp(t, "erms");
                    fsrm |= !strcmp(t, "fsrm");
                    fzrm |= !strcmp(t, "fzrm");
                }
            }
        }
        fclose(f);
    }
    struct timespec res;
    clock_getres(clk, &res);
    printf("CPU: %s\n", model);
    printf("cpuinfo flags: erms=%s fsrm=%s fzrm=%s\n", erms ? "yes" : "no", fsrm ? "yes" : "no",
           fzrm ? "yes" : "no");
    printf("clock: %s (resolution %ld ns); %d trials of >= %.0f ms per implementation and case\n\n",
           clk == CLOCK_MONOTONIC ? "CLOCK_MONOTONIC" : "CLOCK_THREAD_CPUTIME_ID", res.tv_nsec,
           trials, trial_ns / 1e6);
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--quick] [--trials N] [--trial-ms MS] [--wall] [--cpu N]"
            " [--sizes N,N,...]\n",
            argv0);
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            trials = 5;
            trial_ns = 2e6;
        } else if (!strcmp(argv[i], "--trials") && i + 1 < argc) {
            trials = atoi(argv[++i]);
            if (trials < 1 || trials > MAX_TRIALS)
                usage(argv[0]);
        } else if (!strcmp(argv[i], "--trial-ms") && i + 1 < argc) {
            trial_ns = atof(argv[++i]) * 1e6;
            if (!(trial_ns > 0))
                usage(argv[0]);
        } else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            char *p = argv[++i];
            nsizes = 0;
            while (*p) {
                char *end;
                unsigned long long v = strtoull(p, &end, 10);
                if (end == p || v == 0 || v > ROTATE_FROM || nsizes == MAX_SIZES ||
                    (*end && *end != ','))
                    usage(argv[0]);
                sizes[nsizes++] = (size_t)v;
                p = *end ? end + 1 : end;
            }
            if (!nsizes)
                usage(argv[0]);
        } else if (!strcmp(argv[i], "--wall")) {
            clk = CLOCK_MONOTONIC;
        } else if (!strcmp(argv[i], "--cpu") && i + 1 < argc) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(atoi(argv[++i]), &set);
            if (sched_setaffinity(0, sizeof set, &set)) {
                perror("sched_setaffinity");
                return 1;
            }
        } else {
            usage(argv[0]);
        }
    }

    print_machine();
    guest = map(AREA + 2 * PAGE);
    host = map(ROTATE_FROM + 2 * PAGE);

    /* The three routines must agree (and rep movsb must really copy). */
    for (size_t k = 0; k < 4096; k++)
        host[k] = (uint8_t)(k * 7 + 3);
    for (int impl = 0; impl < NIMPL; impl++) {
        memset(guest, 0, 8192);
        struct job j = {guest + 100, host + 16, 3000, 0, 1, 1};
        run(impl, &j, 1);
        if (memcmp(guest + 100, host + 16, 3000) || guest[99] || guest[3100]) {
            fprintf(stderr, "%s copied wrongly\n", impl_name[impl]);
            return 1;
        }
    }

    printf("| size | alignment | dir | rep_movsb best ns | rep_movsb median ns "
           "| memmove best ns | memmove median ns | memcpy best ns | memcpy median ns "
           "| memmove/rep_movsb (best) | memmove/rep_movsb (median of per-trial) "
           "| memcpy/rep_movsb (best) | memcpy/rep_movsb (median of per-trial) |\n");
    printf("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    fflush(stdout);

    for (size_t a = 0; a < NALIGNS; a++) {
        for (int write = 0; write < 2; write++) {
            for (size_t si = 0; si < nsizes; si++) {
                size_t len = sizes[si];
                uint8_t *g = guest + aligns[a].guest_off;
                uint8_t *h = host + aligns[a].host_off;
                struct job j = {
                    .dst = write ? g : h,
                    .src = write ? h : g,
                    .len = len,
                    .stride = ROTATE_FROM,
                    .nslots = len >= ROTATE_FROM ? AREA / ROTATE_FROM : 1,
                    .guest_is_dst = write,
                };
                uint64_t iters[NIMPL];
                double t[NIMPL][MAX_TRIALS];
                for (int impl = 0; impl < NIMPL; impl++)
                    iters[impl] = calibrate(impl, &j);
                for (int tr = 0; tr < trials; tr++)
                    for (int k = 0; k < NIMPL; k++) {
                        int impl = (tr + k) % NIMPL;
                        t[impl][tr] = run(impl, &j, iters[impl]) / (double)iters[impl];
                    }

                double best[NIMPL], med[NIMPL], pr[NIMPL][MAX_TRIALS];
                for (int impl = 0; impl < NIMPL; impl++) {
                    best[impl] = minimum(t[impl], trials);
                    med[impl] = median(t[impl], trials);
                    for (int tr = 0; tr < trials; tr++)
                        pr[impl][tr] = t[impl][tr] / t[0][tr];
                }
                char sz[32], c[NIMPL][2][32];
                fmt_size(sz, sizeof sz, len);
                for (int impl = 0; impl < NIMPL; impl++) {
                    fmt_ns(c[impl][0], sizeof c[impl][0], best[impl]);
                    fmt_ns(c[impl][1], sizeof c[impl][1], med[impl]);
                }
                printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2fx | %.2fx | %.2fx | "
                       "%.2fx |\n",
                       sz, aligns[a].name, write ? "write" : "read", c[0][0], c[0][1], c[1][0],
                       c[1][1], c[2][0], c[2][1], best[1] / best[0], median(pr[1], trials),
                       best[2] / best[0], median(pr[2], trials));
                fflush(stdout);
            }
        }
    }
    return 0;
}
