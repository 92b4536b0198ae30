/*
 * test_request.c - a device's request path without the heap: the virtqueue
 * chain walker (pr_chain_walker_*), buffers refilled in place
 * (pr_ranges_builder_finish_into), cursors re-armed and released
 * (pr_{ranges_,}{reader,writer}_reset, pr_reader_release,
 * pr_writer_release), pr_writer_skip and iovec export through cursors
 * (pr_reader_iovecs, pr_writer_iovecs).
 *
 * Guest RAM is mapped memory: two regions of one anonymous mapping,
 * surrounded by PROT_NONE guard pages, so a host access outside the
 * regions crashes the test instead of passing silently:
 *
 *   host page: 0   1 .. 64   65   66 .. 73   74
 *              G   [  A   ]  G    [  B   ]   G
 *
 *   A: GPN 0x100 .. 0x13F (descriptor tables, headers, data, status)
 *   B: GPN 0x400 .. 0x407 (more data)
 *
 * Covers: a virtio request lifecycle repeated with one walker, one pair of
 * part buffers, one reader and one writer (split descriptor table written
 * into guest RAM, direct and indirect chains, header read, data iovecs
 * exported and written with memcpy, short iovec arrays, status byte,
 * release), the same through one builder and one buffer; iovec export on
 * a dirty-logged memory (pages marked when exported, an export past the
 * bitmap refused without moving or marking; reads mark nothing); skip and
 * iovec errors; released cursors; finish_into while another handle shares
 * the buffer; every chain rule that can be provoked, with the rule, the
 * descriptor, the table kind and unchanged outputs; pr_chain_rule_str;
 * NULL arguments.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */

#include <sys/mman.h>
#include <sys/uio.h>

#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define HOST_PAGES 75

#define A_GPN 0x100u
#define A_PAGES 64u
#define A_HPAGE 1u
#define B_GPN 0x400u
#define B_PAGES 8u
#define B_HPAGE 66u

#define A_START ((uint64_t)A_GPN * PS)
#define A_END (A_START + (uint64_t)A_PAGES * PS) /* 0x140000, unmapped */

/* Descriptor flags (VIRTIO 1.2, 2.7.5). */
#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

#define QT A_START              /* the queue's descriptor table */
#define QSIZE 16                /* its size */
#define IT (A_START + 0x800)    /* an indirect table */
#define BAD_T (A_START + 0x400) /* the table of the refusal tests */

#define SENT_SIZE ((size_t)0xC0FFEE)

static uint8_t *host; /* the whole mapping, guards included */
static pr_memory *mem; /* regions A and B */

/* Host address of guest address `gpa`; aborts when it is not mapped. */
static uint8_t *hp(uint64_t gpa)
{
    if (gpa >= A_START && gpa < A_END)
        return host + A_HPAGE * PS + (gpa - A_START);
    if (gpa >= (uint64_t)B_GPN * PS && gpa < (uint64_t)(B_GPN + B_PAGES) * PS)
        return host + B_HPAGE * PS + (gpa - (uint64_t)B_GPN * PS);
    fprintf(stderr, "hp: GPA 0x%" PRIx64 " is not mapped\n", gpa);
    abort();
}

static void map_guest(void)
{
    host = (uint8_t *)mmap(NULL, HOST_PAGES * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (host == MAP_FAILED || mprotect(host + A_HPAGE * PS, A_PAGES * PS, PROT_READ | PROT_WRITE) ||
        mprotect(host + B_HPAGE * PS, B_PAGES * PS, PROT_READ | PROT_WRITE)) {
        perror("map_guest");
        abort();
    }
}

/* Writes descriptor `i` of the table at `table` as a driver does (16 bytes,
 * little endian). */
static void put_desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *p = hp(table + (uint64_t)i * 16);
    int k;
    for (k = 0; k < 8; k++)
        p[k] = (uint8_t)(addr >> (8 * k));
    for (k = 0; k < 4; k++)
        p[8 + k] = (uint8_t)(len >> (8 * k));
    p[12] = (uint8_t)flags;
    p[13] = (uint8_t)(flags >> 8);
    p[14] = (uint8_t)next;
    p[15] = (uint8_t)(next >> 8);
}

static void check_iov(const struct iovec *iov, uint64_t gpa, size_t len, int line)
{
    tu_record(iov->iov_base == (void *)hp(gpa), __FILE__, line, "iov_base == host of GPA");
    tu_record_eq(iov->iov_len, len, __FILE__, line, "iov_len", "len");
}
#define CHECK_IOV(iov, gpa, len) check_iov((iov), (gpa), (len), __LINE__)

/* What a buffer describes, to check that a failed call left it alone. */
struct snap {
    size_t len, count, nruns;
    pr_address_range runs[8];
};

static struct snap snap_of(const pr_ranges *rs)
{
    struct snap s;
    memset(&s, 0, sizeof s);
    s.len = pr_ranges_len(rs);
    s.count = pr_ranges_count(rs);
    if (pr_ranges_address_ranges(rs, s.runs, 8, &s.nruns) != PR_OK)
        s.nruns = SENT_SIZE;
    return s;
}

static void check_snap(const pr_ranges *rs, const struct snap *want, int line)
{
    struct snap got = snap_of(rs);
    tu_record_eq(got.len, want->len, __FILE__, line, "pr_ranges_len", "before");
    tu_record_eq(got.count, want->count, __FILE__, line, "pr_ranges_count", "before");
    tu_record_eq(got.nruns, want->nruns, __FILE__, line, "runs", "before");
    tu_record(memcmp(got.runs, want->runs, sizeof got.runs) == 0, __FILE__, line,
              "runs unchanged");
}
#define CHECK_SNAP(rs, want) check_snap((rs), (want), __LINE__)

static void check_runs(const pr_ranges *rs, const uint64_t *want, size_t n, int line)
{
    pr_address_range runs[8];
    size_t count = SENT_SIZE, i;
    tu_record_status(pr_ranges_address_ranges(rs, runs, 8, &count), PR_OK, __FILE__, line,
                     "pr_ranges_address_ranges");
    tu_record_eq(count, n, __FILE__, line, "run count", "n");
    for (i = 0; i < n && i < count && i < 8; i++) {
        tu_record_eq(runs[i].start, want[2 * i], __FILE__, line, "run start", "want");
        tu_record_eq(runs[i].end, want[2 * i + 1], __FILE__, line, "run end", "want");
    }
}
#define CHECK_RUNS(rs, want, n) check_runs((rs), (want), (n), __LINE__)

/* ------------------------------------------------------------------------ */
/* The request lifecycle                                                     */
/* ------------------------------------------------------------------------ */

#define NREQ 48
#define HDR_LEN 16

struct req {
    uint16_t head;      /* head index in the queue's table */
    int indirect;       /* the chain lives in an indirect table */
    uint64_t hdr;       /* 16 bytes, device-readable */
    uint64_t d1;        /* l1 bytes over pages of region A, device-writable */
    uint32_t l1;
    uint64_t d2;        /* l2 bytes from a page start in region B */
    uint32_t l2;
    uint64_t st;        /* the status byte */
};

static struct req make_req(unsigned i)
{
    struct req q;
    uint32_t off1 = (i * 0x1D0u) % 0x1000u;
    q.head = (uint16_t)((i * 5u) % QSIZE);
    q.indirect = i % 3 == 2;
    q.hdr = A_START + 0x1000 + (i * 0x130u) % 0xF00u;
    q.d1 = A_START + 0x2000 + off1;
    /* Every fifth request's first data part ends on a page boundary, so
     * it joins the second one in a window. */
    q.l1 = i % 5 == 0 ? 0x2000u - off1 : 0x1000u + (i * 0x97u) % 0x1000u + 1u;
    q.d2 = (uint64_t)(B_GPN + i % 4) * PS;
    q.l2 = 0x200u + 3u * i;
    q.st = A_START + 0x6007 + i;
    return q;
}

/* Writes the chain into guest RAM, directly in the queue's table
 * (descriptors head, head+3, head+7, head+11) or through an indirect
 * table (entries 0 -> 2 -> 1 -> 3). The last descriptor carries a stray
 * `next` that must be ignored without NEXT. */
static void write_chain(const struct req *q)
{
    if (q->indirect) {
        put_desc(QT, q->head, IT, 4 * 16, F_INDIRECT, 0);
        put_desc(IT, 0, q->hdr, HDR_LEN, F_NEXT, 2);
        put_desc(IT, 2, q->d1, q->l1, F_NEXT | F_WRITE, 1);
        put_desc(IT, 1, q->d2, q->l2, F_NEXT | F_WRITE, 3);
        put_desc(IT, 3, q->st, 1, F_WRITE, 0xBEEF);
    } else {
        uint16_t a = (uint16_t)((q->head + 3) % QSIZE), b = (uint16_t)((q->head + 7) % QSIZE);
        uint16_t c = (uint16_t)((q->head + 11) % QSIZE);
        put_desc(QT, q->head, q->hdr, HDR_LEN, F_NEXT, a);
        put_desc(QT, a, q->d1, q->l1, F_NEXT | F_WRITE, b);
        put_desc(QT, b, q->d2, q->l2, F_NEXT | F_WRITE, c);
        put_desc(QT, c, q->st, 1, F_WRITE, 0xBEEF);
    }
}

/* Serves one request: the header is the first 16 bytes of `rbuf`, the
 * data and the status byte the bytes of `wbuf` after its first `wskip`.
 * With `short_iov` the data's iovecs are exported one entry at a time. */
static void serve(pr_reader *rd, pr_writer *w, const pr_ranges *rbuf, const pr_ranges *wbuf,
                  size_t wskip, const struct req *q, unsigned seed, int short_iov)
{
    static uint8_t data[0x3000 + 0x400];
    uint8_t hdr[HDR_LEN], got[HDR_LEN], status = (uint8_t)(0xA0 + seed);
    size_t rtotal = pr_ranges_len(rbuf), wtotal = pr_ranges_len(wbuf);
    size_t dlen = (size_t)q->l1 + q->l2, n = SENT_SIZE, covered = SENT_SIZE;
    struct iovec iov[4];
    pr_transfer t;

    tu_fill_pattern(hdr, sizeof hdr, seed);
    memcpy(hp(q->hdr), hdr, sizeof hdr);
    tu_fill_pattern(data, dlen, seed + 1000);
    /* Bytes just around the data must stay as they are. */
    *hp(q->d1 - 1) = 0xEE;
    *hp(q->d1 + q->l1) = 0xEE;
    *hp(q->d2 + q->l2) = 0xEE;
    *hp(q->st) = 0;

    /* The header. */
    CHECK_ST(pr_ranges_reader_reset(rd, rbuf), PR_OK);
    CHECK_EQ(pr_reader_remaining(rd), rtotal);
    memset(&t, 0xAB, sizeof t);
    CHECK_ST(pr_reader_read(rd, got, HDR_LEN, &t), PR_OK);
    CHECK_EQ(t.done, HDR_LEN);
    CHECK_MEM(got, hdr, HDR_LEN);
    CHECK_EQ(pr_reader_remaining(rd), rtotal - HDR_LEN);

    /* The data, through iovecs. */
    CHECK_ST(pr_ranges_writer_reset(w, wbuf), PR_OK);
    CHECK_EQ(pr_writer_remaining(w), wtotal);
    if (wskip) {
        CHECK_ST(pr_writer_skip(w, wskip), PR_OK);
        CHECK_EQ(pr_writer_remaining(w), wtotal - wskip);
    }
    memset(iov, 0, sizeof iov);
    if (short_iov) {
        CHECK_ST(pr_writer_iovecs(w, dlen, iov, 1, &n, &covered), PR_ERR_BUFFER_TOO_SMALL);
        CHECK_EQ(n, 1);
        CHECK_EQ(covered, q->l1);
        CHECK_IOV(&iov[0], q->d1, q->l1);
        CHECK_EQ(pr_writer_remaining(w), wtotal - wskip - q->l1);
        n = covered = SENT_SIZE;
        CHECK_ST(pr_writer_iovecs(w, dlen - q->l1, iov + 1, 1, &n, &covered), PR_OK);
        CHECK_EQ(n, 1);
        CHECK_EQ(covered, q->l2);
    } else {
        CHECK_ST(pr_writer_iovecs(w, dlen, iov, 4, &n, &covered), PR_OK);
        CHECK_EQ(n, 2);
        CHECK_EQ(covered, dlen);
        CHECK_IOV(&iov[0], q->d1, q->l1);
    }
    CHECK_IOV(&iov[1], q->d2, q->l2);
    CHECK_EQ(pr_writer_remaining(w), 1);
    if (iov[0].iov_len == q->l1 && iov[1].iov_len == q->l2) {
        memcpy(iov[0].iov_base, data, q->l1);
        memcpy(iov[1].iov_base, data + q->l1, q->l2);
    }
    CHECK_MEM(hp(q->d1), data, q->l1);
    CHECK_MEM(hp(q->d2), data + q->l1, q->l2);
    CHECK_EQ(*hp(q->d1 - 1), 0xEE);
    CHECK_EQ(*hp(q->d1 + q->l1), 0xEE);
    CHECK_EQ(*hp(q->d2 + q->l2), 0xEE);

    /* The status byte. */
    memset(&t, 0xAB, sizeof t);
    CHECK_ST(pr_writer_write(w, &status, 1, &t), PR_OK);
    CHECK_EQ(t.done, 1);
    CHECK_EQ(t.fault_gpa, 0);
    CHECK_EQ(t.fault_code, 0);
    CHECK_EQ(*hp(q->st), status);
    CHECK_EQ(pr_writer_remaining(w), 0);

    pr_reader_release(rd);
    pr_writer_release(w);
    CHECK_EQ(pr_reader_remaining(rd), 0);
    CHECK_EQ(pr_writer_remaining(w), 0);
}

static void test_lifecycle(void)
{
    pr_chain_walker *cw = NULL;
    pr_ranges *readable = NULL, *writable = NULL, *req = NULL;
    pr_ranges_builder *b = NULL;
    pr_reader *rd = NULL;
    pr_writer *w = NULL;
    unsigned i;

    CHECK_ST(pr_chain_walker_new(NULL, &cw), PR_OK);
    CHECK_ST(pr_ranges_new(NULL, 0, &readable), PR_OK);
    CHECK_ST(pr_ranges_new(NULL, 0, &writable), PR_OK);
    CHECK_ST(pr_ranges_new(NULL, 0, &req), PR_OK);
    CHECK_ST(pr_ranges_builder_new(NULL, &b), PR_OK);
    CHECK_ST(pr_ranges_reader_new(readable, mem, &rd), PR_OK);
    CHECK_ST(pr_ranges_writer_new(writable, mem, &w), PR_OK);
    if (!cw || !readable || !writable || !req || !b || !rd || !w)
        abort();
    CHECK_EQ(pr_ranges_len(readable), 0);
    CHECK_EQ(pr_reader_remaining(rd), 0);
    CHECK_EQ(pr_writer_remaining(w), 0);
    pr_reader_release(rd);
    pr_writer_release(w);

    for (i = 0; i < NREQ; i++) {
        struct req q = make_req(i);
        int joined = (q.d1 + q.l1) % PS == 0;
        uint64_t hdr_run[2] = {q.hdr, q.hdr + HDR_LEN};
        uint64_t data_runs[6] = {q.d1, q.d1 + q.l1, q.d2, q.d2 + q.l2, q.st, q.st + 1};
        uint64_t all_runs[8] = {q.hdr, q.hdr + HDR_LEN, q.d1, q.d1 + q.l1,
                                q.d2,  q.d2 + q.l2,     q.st, q.st + 1};
        size_t err_index = SENT_SIZE;
        pr_chain_error err;

        /* The walker: the chain into a readable and a writable part. */
        write_chain(&q);
        memset(&err, 0xAB, sizeof err);
        CHECK_ST(pr_chain_walker_walk(cw, mem, QT, QSIZE, q.head, readable, writable, &err),
                 PR_OK);
        CHECK_EQ(err.rule, 0xABABABABu); /* written on failure only */
        CHECK_EQ(pr_ranges_len(readable), HDR_LEN);
        CHECK_EQ(pr_ranges_count(readable), 1);
        CHECK_RUNS(readable, hdr_run, 1);
        CHECK_EQ(pr_ranges_len(writable), (size_t)q.l1 + q.l2 + 1);
        CHECK_EQ(pr_ranges_count(writable), joined ? 2 : 3);
        CHECK_RUNS(writable, data_runs, 3);
        serve(rd, w, readable, writable, 0, &q, i, i % 2);

        /* The builder: the same segments into one buffer. */
        CHECK_ST(pr_ranges_builder_clear(b), PR_OK);
        CHECK_ST(pr_ranges_builder_push(b, q.hdr, HDR_LEN, &err_index), PR_OK);
        CHECK_ST(pr_ranges_builder_push(b, q.d1, q.l1, &err_index), PR_OK);
        CHECK_ST(pr_ranges_builder_push(b, q.d2, q.l2, &err_index), PR_OK);
        CHECK_ST(pr_ranges_builder_push(b, q.st, 1, &err_index), PR_OK);
        CHECK_EQ(err_index, SENT_SIZE);
        CHECK_ST(pr_ranges_builder_finish_into(b, req), PR_OK);
        CHECK_EQ(pr_ranges_len(req), HDR_LEN + (size_t)q.l1 + q.l2 + 1);
        CHECK_EQ(pr_ranges_count(req), joined ? 3 : 4);
        CHECK_RUNS(req, all_runs, 4);
        serve(rd, w, req, req, HDR_LEN, &q, i + 500, (i + 1) % 2);
    }

    pr_reader_free(rd);
    pr_writer_free(w);
    pr_ranges_builder_free(b);
    pr_ranges_free(readable);
    pr_ranges_free(writable);
    pr_ranges_free(req);
    pr_chain_walker_free(cw);
}

/* Cursors re-armed on single ranges (pr_reader_reset, pr_writer_reset). */
static void test_range_reset(void)
{
    static const uint64_t g1[] = {0x110, 0x112}, g2[] = {0x115};
    pr_range *r1 = tu_range(g1, 2, 100, PS), *r2 = tu_range(g2, 1, 7, 20);
    pr_reader *rd = NULL;
    pr_writer *w = NULL;
    uint8_t src[PS], got[PS];
    pr_transfer t;

    CHECK_ST(pr_reader_new(r2, mem, &rd), PR_OK);
    CHECK_ST(pr_writer_new(r2, mem, &w), PR_OK);
    if (!rd || !w)
        abort();
    CHECK_ST(pr_reader_skip(rd, 5), PR_OK);
    CHECK_ST(pr_writer_skip(w, 5), PR_OK);

    /* Mid-way through r2, the cursors move to r1's first byte. */
    CHECK_ST(pr_writer_reset(w, r1), PR_OK);
    CHECK_EQ(pr_writer_remaining(w), PS);
    tu_fill_pattern(src, PS, 77);
    CHECK_ST(pr_writer_write(w, src, PS, &t), PR_OK);
    CHECK_EQ(t.done, PS);
    CHECK_EQ(pr_writer_remaining(w), 0);
    CHECK_MEM(hp(0x110000 + 100), src, PS - 100);
    CHECK_MEM(hp(0x112000), src + PS - 100, 100);
    CHECK_ST(pr_reader_reset(rd, r1), PR_OK);
    pr_range_free(r1); /* the reader keeps the GPN list */
    r1 = NULL;
    CHECK_EQ(pr_reader_remaining(rd), PS);
    memset(got, 0, sizeof got);
    CHECK_ST(pr_reader_read(rd, got, PS, &t), PR_OK);
    CHECK_MEM(got, src, PS);
    CHECK_EQ(pr_reader_remaining(rd), 0);

    /* A failed reset leaves the cursor where it was. */
    CHECK_ST(pr_writer_reset(w, r2), PR_OK);
    CHECK_ST(pr_writer_skip(w, 3), PR_OK);
    CHECK_ST(pr_writer_reset(w, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_writer_reset(w, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_EQ(pr_writer_remaining(w), 17);
    CHECK_ST(pr_reader_reset(rd, r2), PR_OK);
    CHECK_ST(pr_reader_reset(rd, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_reader_reset(rd, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_EQ(pr_reader_remaining(rd), 20);
    CHECK_ST(pr_reader_reset(NULL, r2), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_writer_reset(NULL, r2), PR_ERR_NULL_ARGUMENT);

    pr_reader_free(rd);
    pr_writer_free(w);
    pr_range_free(r2);
}

/* ------------------------------------------------------------------------ */
/* Iovec export through cursors on a dirty-logged memory                     */
/* ------------------------------------------------------------------------ */

static void check_bitmap(const uint64_t *bitmap, size_t words, const unsigned *gpns, size_t n,
                         int line)
{
    uint64_t want[64];
    size_t i;
    memset(want, 0, sizeof want);
    for (i = 0; i < n; i++)
        want[gpns[i] / 64] |= UINT64_C(1) << (gpns[i] % 64);
    for (i = 0; i < words; i++)
        tu_record_eq(__atomic_load_n(&bitmap[i], __ATOMIC_SEQ_CST), want[i], __FILE__, line,
                     "bitmap word", "want");
}
#define CHECK_BITMAP(bm, words, gpns, n) check_bitmap((bm), (words), (gpns), (n), __LINE__)

static void test_dirty_export(void)
{
    static const uint64_t g[] = {0x105, 0x106, 0x110};
    static const uint64_t past[] = {0x11E, 0x120};
    static const unsigned m56[] = {0x105, 0x106}, m5610[] = {0x105, 0x106, 0x110};
    static const unsigned m11e[] = {0x11E};
    uint64_t bitmap[5]; /* GPNs 0 .. 0x11F (page_count 0x120) */
    pr_memory *dm = NULL;
    pr_range *r = tu_range(g, 3, 0x800, 2 * PS), *rp = tu_range(past, 2, 0, 2 * PS);
    pr_writer *w = NULL;
    pr_reader *rd = NULL;
    struct iovec iov[4];
    size_t n, covered;

    memset(bitmap, 0, sizeof bitmap);
    CHECK_ST(pr_memory_with_dirty_bitmap(mem, bitmap, 0x120, &dm), PR_OK);
    if (!dm)
        abort();

    /* One entry at a time: each export marks the pages it covers, only. */
    CHECK_ST(pr_writer_new(r, dm, &w), PR_OK);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(w, 2 * PS, iov, 1, &n, &covered), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 1);
    CHECK_EQ(covered, 0x1800);
    CHECK_IOV(&iov[0], 0x105800, 0x1800);
    CHECK_EQ(pr_writer_remaining(w), 0x800);
    CHECK_BITMAP(bitmap, 5, m56, 2);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(w, 0x800, iov, 1, &n, &covered), PR_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(covered, 0x800);
    CHECK_IOV(&iov[0], 0x110000, 0x800);
    CHECK_EQ(pr_writer_remaining(w), 0);
    CHECK_BITMAP(bitmap, 5, m5610, 3);

    /* The whole window at once, after a reset. */
    memset(bitmap, 0, sizeof bitmap);
    CHECK_ST(pr_writer_reset(w, r), PR_OK);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(w, 2 * PS, iov, 4, &n, &covered), PR_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(covered, 2 * PS);
    CHECK_IOV(&iov[0], 0x105800, 0x1800);
    CHECK_IOV(&iov[1], 0x110000, 0x800);
    CHECK_BITMAP(bitmap, 5, m5610, 3);

    /* A reader's export marks nothing; a short array advances it by
     * *covered and the next call continues. */
    memset(bitmap, 0, sizeof bitmap);
    CHECK_ST(pr_reader_new(r, dm, &rd), PR_OK);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_reader_iovecs(rd, 2 * PS, iov, 1, &n, &covered), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 1);
    CHECK_EQ(covered, 0x1800);
    CHECK_IOV(&iov[0], 0x105800, 0x1800);
    CHECK_EQ(pr_reader_remaining(rd), 0x800);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_reader_iovecs(rd, 0x800, iov, 1, &n, &covered), PR_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(covered, 0x800);
    CHECK_IOV(&iov[0], 0x110000, 0x800);
    CHECK_EQ(pr_reader_remaining(rd), 0);
    CHECK_ST(pr_reader_reset(rd, r), PR_OK);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_reader_iovecs(rd, 2 * PS, iov, 4, &n, &covered), PR_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(covered, 2 * PS);
    CHECK_IOV(&iov[0], 0x105800, 0x1800);
    CHECK_IOV(&iov[1], 0x110000, 0x800);
    CHECK_EQ(pr_reader_remaining(rd), 0);
    CHECK_BITMAP(bitmap, 5, NULL, 0);

    /* Past the bitmap: refused, nothing moves, nothing is marked (not even
     * GPN 0x11E, which the bitmap covers). */
    CHECK_ST(pr_writer_reset(w, rp), PR_OK);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(w, 2 * PS, iov, 4, &n, &covered), PR_ERR_MEMORY);
    CHECK_EQ(n, 0);
    CHECK_EQ(covered, 0); /* the writer advanced by *covered: not at all */
    CHECK_EQ(pr_writer_remaining(w), 2 * PS);
    CHECK_BITMAP(bitmap, 5, NULL, 0);
    /* A short array covering only the tracked page is fine. */
    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(w, 2 * PS, iov, 1, &n, &covered), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 1);
    CHECK_EQ(covered, PS);
    CHECK_IOV(&iov[0], 0x11E000, PS);
    CHECK_EQ(pr_writer_remaining(w), PS);
    CHECK_BITMAP(bitmap, 5, m11e, 1);
    /* The rest is refused, again without moving. */
    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(w, PS, iov, 4, &n, &covered), PR_ERR_MEMORY);
    CHECK_EQ(n, 0);
    CHECK_EQ(covered, 0);
    CHECK_EQ(pr_writer_remaining(w), PS);
    CHECK_BITMAP(bitmap, 5, m11e, 1);
    /* A reader exports the same pages, marking nothing. */
    memset(bitmap, 0, sizeof bitmap);
    CHECK_ST(pr_reader_reset(rd, rp), PR_OK);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_reader_iovecs(rd, 2 * PS, iov, 4, &n, &covered), PR_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(covered, 2 * PS);
    CHECK_BITMAP(bitmap, 5, NULL, 0);

    pr_reader_free(rd);
    pr_writer_free(w);
    pr_memory_free(dm);
    pr_range_free(r);
    pr_range_free(rp);
}

/* A run outside the mapped regions: the cursor advances by *covered, the
 * bytes before the unmapped run (pr_reader_iovecs; pr_writer_iovecs has
 * the same outputs), with or without a dirty log. */
static void test_unmapped_export(void)
{
    static const uint64_t g[] = {0x13E, 0x140}; /* 0x140: just past region A */
    uint64_t bitmap[64];
    pr_memory *dm = NULL;
    pr_range *r = tu_range(g, 2, 0, 2 * PS);
    pr_reader *rd = NULL;
    pr_writer *w = NULL, *dw = NULL;
    struct iovec iov[4];
    size_t n, covered;

    memset(bitmap, 0, sizeof bitmap);
    CHECK_ST(pr_memory_with_dirty_bitmap(mem, bitmap, 0x1000, &dm), PR_OK);
    CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
    CHECK_ST(pr_writer_new(r, mem, &w), PR_OK);
    CHECK_ST(pr_writer_new(r, dm, &dw), PR_OK);

    n = covered = SENT_SIZE;
    CHECK_ST(pr_reader_iovecs(rd, 2 * PS, iov, 4, &n, &covered), PR_ERR_MEMORY);
    CHECK_EQ(n, 0);
    CHECK_EQ(covered, PS);
    CHECK_EQ(pr_reader_remaining(rd), 2 * PS); /* nothing exported: it stays */

    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(w, 2 * PS, iov, 4, &n, &covered), PR_ERR_MEMORY);
    CHECK_EQ(n, 0);
    CHECK_EQ(covered, PS);
    CHECK_EQ(pr_writer_remaining(w), 2 * PS);

    /* Through a dirty log: the same outputs, the writer stays, nothing is
     * marked. */
    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(dw, 2 * PS, iov, 4, &n, &covered), PR_ERR_MEMORY);
    CHECK_EQ(n, 0);
    CHECK_EQ(covered, PS);
    CHECK_EQ(pr_writer_remaining(dw), 2 * PS);

    pr_reader_free(rd);
    pr_writer_free(w);
    pr_writer_free(dw);
    pr_memory_free(dm);
    pr_range_free(r);
}

/* ------------------------------------------------------------------------ */
/* pr_writer_skip, pr_reader_iovecs, pr_writer_iovecs errors                 */
/* ------------------------------------------------------------------------ */

static void test_skip_and_iovec_errors(void)
{
    static const uint64_t g[] = {0x108, 0x109, 0x10C};
    const size_t len = 2 * PS;
    pr_range *r = tu_range(g, 3, 10, len);
    pr_reader *rd = NULL, *crd = NULL;
    pr_writer *w = NULL, *cw = NULL;
    pr_memory *cmem;
    guest_ram gr;
    struct iovec iov[4];
    size_t n, covered;
    uint8_t byte = 0x5A, got[8];
    pr_transfer t;

    gr_init(&gr, 1);
    cmem = gr_memory(&gr, 1);
    CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
    CHECK_ST(pr_writer_new(r, mem, &w), PR_OK);
    CHECK_ST(pr_reader_new(r, cmem, &crd), PR_OK);
    CHECK_ST(pr_writer_new(r, cmem, &cw), PR_OK);
    if (!rd || !w || !crd || !cw)
        abort();

    /* pr_writer_skip. */
    CHECK_ST(pr_writer_skip(w, SIZE_MAX), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_writer_skip(w, len + 1), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(pr_writer_remaining(w), len);
    CHECK_ST(pr_writer_skip(w, 0), PR_OK);
    CHECK_EQ(pr_writer_remaining(w), len);
    *hp(tu_gpa_of(g, 10, 99)) = 0x11;
    *hp(tu_gpa_of(g, 10, 100)) = 0x11;
    CHECK_ST(pr_writer_skip(w, 100), PR_OK);
    CHECK_EQ(pr_writer_remaining(w), len - 100);
    CHECK_ST(pr_writer_write(w, &byte, 1, &t), PR_OK);
    CHECK_EQ(*hp(tu_gpa_of(g, 10, 100)), 0x5A); /* written after the skipped bytes */
    CHECK_EQ(*hp(tu_gpa_of(g, 10, 99)), 0x11);  /* skipped bytes untouched */
    CHECK_ST(pr_writer_skip(w, len - 102), PR_OK);
    CHECK_EQ(pr_writer_remaining(w), 1);
    CHECK_ST(pr_writer_skip(w, 2), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(pr_writer_remaining(w), 1);
    CHECK_ST(pr_writer_skip(w, 1), PR_OK);
    CHECK_EQ(pr_writer_remaining(w), 0);
    CHECK_ST(pr_writer_skip(w, 1), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_writer_skip(NULL, 0), PR_ERR_NULL_ARGUMENT);
    /* Skipping touches no memory: fine on callback memory. */
    CHECK_ST(pr_writer_skip(cw, 10), PR_OK);
    CHECK_EQ(pr_writer_remaining(cw), len - 10);
    CHECK_EQ(gr.reads + gr.writes + gr.fills, 0);

    /* Iovecs: len past the remaining bytes. Nothing moves, nothing is
     * written. */
    CHECK_ST(pr_writer_reset(w, r), PR_OK);
    CHECK_ST(pr_writer_skip(w, 50), PR_OK);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(w, len - 49, iov, 4, &n, &covered), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_writer_iovecs(w, SIZE_MAX, iov, 4, &n, &covered), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(n, SENT_SIZE);
    CHECK_EQ(covered, SENT_SIZE);
    CHECK_EQ(pr_writer_remaining(w), len - 50);
    CHECK_ST(pr_reader_iovecs(rd, len + 1, iov, 4, &n, &covered), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_reader_iovecs(rd, SIZE_MAX, iov, 4, &n, &covered), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(n, SENT_SIZE);
    CHECK_EQ(covered, SENT_SIZE);
    CHECK_EQ(pr_reader_remaining(rd), len);

    /* Callback memory has no host addresses. */
    CHECK_ST(pr_reader_iovecs(crd, 1, iov, 4, &n, &covered), PR_ERR_INVALID_ARGUMENT);
    CHECK_ST(pr_writer_iovecs(cw, 1, iov, 4, &n, &covered), PR_ERR_INVALID_ARGUMENT);
    CHECK_ST(pr_reader_iovecs(crd, 0, iov, 4, &n, &covered), PR_ERR_INVALID_ARGUMENT);
    CHECK_EQ(n, SENT_SIZE);
    CHECK_EQ(covered, SENT_SIZE);
    CHECK_EQ(pr_reader_remaining(crd), len);
    CHECK_EQ(pr_writer_remaining(cw), len - 10);
    CHECK_EQ(gr.reads + gr.writes + gr.fills, 0);

    /* NULL arguments. */
    CHECK_ST(pr_reader_iovecs(NULL, 1, iov, 4, &n, &covered), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_reader_iovecs(rd, 1, iov, 4, NULL, &covered), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_reader_iovecs(rd, 1, iov, 4, &n, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_reader_iovecs(rd, 1, NULL, 4, &n, &covered), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_writer_iovecs(NULL, 1, iov, 4, &n, &covered), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_writer_iovecs(w, 1, iov, 4, NULL, &covered), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_writer_iovecs(w, 1, iov, 4, &n, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_writer_iovecs(w, 1, NULL, 4, &n, &covered), PR_ERR_NULL_ARGUMENT);
    CHECK_EQ(n, SENT_SIZE);
    CHECK_EQ(covered, SENT_SIZE);
    CHECK_EQ(pr_reader_remaining(rd), len);
    CHECK_EQ(pr_writer_remaining(w), len - 50);

    /* No array: nothing fits, nothing moves. */
    CHECK_ST(pr_reader_iovecs(rd, 1, NULL, 0, &n, &covered), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 0);
    CHECK_EQ(covered, 0);
    CHECK_EQ(pr_reader_remaining(rd), len);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(w, 1, NULL, 0, &n, &covered), PR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(n, 0);
    CHECK_EQ(covered, 0);
    CHECK_EQ(pr_writer_remaining(w), len - 50);

    /* len 0. */
    n = covered = SENT_SIZE;
    CHECK_ST(pr_reader_iovecs(rd, 0, iov, 4, &n, &covered), PR_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(covered, 0);
    CHECK_EQ(pr_reader_remaining(rd), len);

    /* The reader moves past what it exported: 100 bytes, then the rest
     * (merged: GPNs 0x108 and 0x109 are adjacent in host memory). */
    n = covered = SENT_SIZE;
    CHECK_ST(pr_reader_iovecs(rd, 100, iov, 4, &n, &covered), PR_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(covered, 100);
    CHECK_IOV(&iov[0], 0x108000 + 10, 100);
    CHECK_EQ(pr_reader_remaining(rd), len - 100);
    CHECK_ST(pr_reader_read(rd, got, 8, &t), PR_OK);
    CHECK_MEM(got, hp(0x108000 + 110), 8);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_reader_iovecs(rd, len - 108, iov, 4, &n, &covered), PR_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(covered, len - 108);
    CHECK_IOV(&iov[0], 0x108000 + 118, 2 * PS - 118);
    CHECK_IOV(&iov[1], 0x10C000, 10);
    CHECK_EQ(pr_reader_remaining(rd), 0);

    pr_reader_free(rd);
    pr_writer_free(w);
    pr_reader_free(crd);
    pr_writer_free(cw);
    pr_memory_free(cmem);
    pr_range_free(r);
    gr_destroy(&gr);
}

/* ------------------------------------------------------------------------ */
/* Released cursors                                                          */
/* ------------------------------------------------------------------------ */

static void test_released(void)
{
    static const uint64_t g[] = {0x120, 0x122};
    pr_range *r = tu_range(g, 2, 300, 5000);
    pr_ranges *rs = NULL;
    pr_reader *rd = NULL, *sub = NULL;
    pr_writer *w = NULL, *wsub = NULL;
    uint8_t buf[5000], got[5000];
    struct iovec iov[4];
    size_t n, covered;
    pr_transfer t;

    CHECK_ST(pr_ranges_new((const pr_range *[]){r}, 1, &rs), PR_OK);
    CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
    CHECK_ST(pr_writer_new(r, mem, &w), PR_OK);
    if (!rs || !rd || !w)
        abort();
    CHECK_ST(pr_reader_skip(rd, 10), PR_OK);
    CHECK_ST(pr_writer_skip(w, 10), PR_OK);

    pr_reader_release(rd);
    pr_writer_release(w);
    CHECK_EQ(pr_reader_remaining(rd), 0);
    CHECK_EQ(pr_writer_remaining(w), 0);
    pr_reader_release(rd); /* twice: still nothing */
    pr_writer_release(w);
    pr_reader_release(NULL);
    pr_writer_release(NULL);
    CHECK_EQ(pr_reader_remaining(rd), 0);
    CHECK_EQ(pr_writer_remaining(w), 0);

    /* The reader: 0 bytes are fine, 1 is out of range. */
    memset(&t, 0xAB, sizeof t);
    CHECK_ST(pr_reader_read(rd, got, 0, &t), PR_OK);
    CHECK_EQ(t.done, 0);
    CHECK_ST(pr_reader_read(rd, NULL, 0, NULL), PR_OK);
    memset(&t, 0xAB, sizeof t);
    CHECK_ST(pr_reader_read(rd, got, 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    CHECK_ST(pr_reader_skip(rd, 0), PR_OK);
    CHECK_ST(pr_reader_skip(rd, 1), PR_ERR_OUT_OF_RANGE);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_reader_iovecs(rd, 0, iov, 4, &n, &covered), PR_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(covered, 0);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_reader_iovecs(rd, 1, iov, 4, &n, &covered), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(n, SENT_SIZE);
    CHECK_EQ(covered, SENT_SIZE);
    CHECK_ST(pr_reader_limit(rd, 1, &sub), PR_ERR_OUT_OF_RANGE);
    CHECK(sub == NULL);
    CHECK_ST(pr_reader_limit(rd, 0, &sub), PR_OK);
    CHECK_EQ(pr_reader_remaining(sub), 0);
    pr_reader_free(sub);
    CHECK_EQ(pr_reader_remaining(rd), 0);

    /* The writer. */
    memset(&t, 0xAB, sizeof t);
    CHECK_ST(pr_writer_write(w, buf, 0, &t), PR_OK);
    CHECK_EQ(t.done, 0);
    memset(&t, 0xAB, sizeof t);
    CHECK_ST(pr_writer_write(w, buf, 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    CHECK_ST(pr_writer_fill(w, 0, 0, NULL), PR_OK);
    CHECK_ST(pr_writer_fill(w, 0, 1, NULL), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_writer_skip(w, 0), PR_OK);
    CHECK_ST(pr_writer_skip(w, 1), PR_ERR_OUT_OF_RANGE);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(w, 0, iov, 4, &n, &covered), PR_OK);
    CHECK_EQ(n, 0);
    CHECK_EQ(covered, 0);
    n = covered = SENT_SIZE;
    CHECK_ST(pr_writer_iovecs(w, 1, iov, 4, &n, &covered), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(n, SENT_SIZE);
    CHECK_EQ(covered, SENT_SIZE);
    CHECK_ST(pr_writer_limit(w, 1, &wsub), PR_ERR_OUT_OF_RANGE);
    CHECK(wsub == NULL);
    CHECK_ST(pr_writer_limit(w, 0, &wsub), PR_OK);
    CHECK_EQ(pr_writer_remaining(wsub), 0);
    pr_writer_free(wsub);
    CHECK_EQ(pr_writer_remaining(w), 0);

    /* Reset works again after release, on a range or a buffer. */
    CHECK_ST(pr_writer_reset(w, r), PR_OK);
    CHECK_EQ(pr_writer_remaining(w), 5000);
    tu_fill_pattern(buf, sizeof buf, 9);
    CHECK_ST(pr_writer_write(w, buf, sizeof buf, &t), PR_OK);
    CHECK_EQ(t.done, 5000);
    CHECK_EQ(pr_writer_remaining(w), 0);
    CHECK_ST(pr_ranges_reader_reset(rd, rs), PR_OK);
    CHECK_EQ(pr_reader_remaining(rd), 5000);
    memset(got, 0, sizeof got);
    CHECK_ST(pr_reader_read(rd, got, sizeof got, &t), PR_OK);
    CHECK_MEM(got, buf, sizeof buf);
    pr_reader_release(rd);
    CHECK_ST(pr_reader_reset(rd, r), PR_OK);
    CHECK_EQ(pr_reader_remaining(rd), 5000);
    pr_writer_release(w);
    CHECK_ST(pr_ranges_writer_reset(w, rs), PR_OK);
    CHECK_EQ(pr_writer_remaining(w), 5000);

    pr_reader_free(rd);
    pr_writer_free(w);
    pr_ranges_free(rs);
    pr_range_free(r);
}

/* ------------------------------------------------------------------------ */
/* pr_ranges_builder_finish_into                                             */
/* ------------------------------------------------------------------------ */

static void test_finish_into(void)
{
    static const uint64_t old_runs[] = {0x10A005, 0x10A131, 0x10B100, 0x10B132};
    static const uint64_t new_runs[] = {0x10C000, 0x10C000 + 5000};
    pr_ranges_builder *b = NULL;
    pr_ranges *rs = NULL;
    pr_reader *rd = NULL;
    pr_range *r0 = NULL;
    const uint64_t *gpns;
    uint8_t want[350], got[350];
    size_t count = SENT_SIZE;
    struct snap before;
    pr_transfer t;

    CHECK_ST(pr_ranges_builder_new(NULL, &b), PR_OK);
    CHECK_ST(pr_ranges_new(NULL, 0, &rs), PR_OK);
    if (!b || !rs)
        abort();

    /* Two windows: 300 bytes, then 50 that do not meet them. */
    CHECK_ST(pr_ranges_builder_push(b, 0x10A005, 300, NULL), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, 0x10B100, 50, NULL), PR_OK);
    CHECK_ST(pr_ranges_builder_finish_into(b, rs), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), 350);
    CHECK_EQ(pr_ranges_count(rs), 2);
    CHECK_RUNS(rs, old_runs, 2);
    tu_fill_pattern(want, sizeof want, 31);
    memcpy(hp(0x10A005), want, 300);
    memcpy(hp(0x10B100), want + 300, 50);

    /* A reader and a range share the buffer's windows. */
    CHECK_ST(pr_ranges_reader_new(rs, mem, &rd), PR_OK);
    CHECK_ST(pr_ranges_get(rs, 0, &r0), PR_OK);
    CHECK_ST(pr_ranges_skip(rs, 10), PR_OK);
    CHECK_ST(pr_ranges_truncate(rs, 20), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), 20);

    /* The refill replaces the windows (and the skip and truncate); the
     * handles sharing the old ones keep them. */
    CHECK_ST(pr_ranges_builder_clear(b), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b, 0x10C000, 5000, NULL), PR_OK);
    CHECK_ST(pr_ranges_builder_finish_into(b, rs), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), 5000);
    CHECK_EQ(pr_ranges_count(rs), 1);
    CHECK_RUNS(rs, new_runs, 1);
    CHECK_EQ(pr_reader_remaining(rd), 350);
    memset(got, 0, sizeof got);
    CHECK_ST(pr_reader_read(rd, got, sizeof got, &t), PR_OK);
    CHECK_MEM(got, want, sizeof want);
    CHECK_EQ(pr_range_len(r0), 300);
    CHECK_EQ(pr_range_offset(r0), 5);
    gpns = pr_range_gpns(r0, &count);
    CHECK_EQ(count, 1);
    CHECK(gpns != NULL && gpns[0] == 0x10A);

    /* The builder is left as it was: it goes on. */
    CHECK_ST(pr_ranges_builder_push(b, 0x10C000 + 5000, 96, NULL), PR_OK);
    pr_reader_release(rd);
    CHECK_ST(pr_ranges_builder_finish_into(b, rs), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), 5096);
    CHECK_EQ(pr_ranges_count(rs), 1);

    /* An empty builder empties the buffer. */
    CHECK_ST(pr_ranges_builder_clear(b), PR_OK);
    CHECK_ST(pr_ranges_builder_finish_into(b, rs), PR_OK);
    CHECK_EQ(pr_ranges_len(rs), 0);
    CHECK_EQ(pr_ranges_count(rs), 0);

    /* NULL arguments leave the buffer alone. */
    CHECK_ST(pr_ranges_builder_push(b, 0x10D000, 8, NULL), PR_OK);
    CHECK_ST(pr_ranges_builder_finish_into(b, rs), PR_OK);
    before = snap_of(rs);
    CHECK_ST(pr_ranges_builder_finish_into(NULL, rs), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_builder_finish_into(b, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_SNAP(rs, &before);

    pr_range_free(r0);
    pr_reader_free(rd);
    pr_ranges_free(rs);
    pr_ranges_builder_free(b);
}

/* ------------------------------------------------------------------------ */
/* The chain walker's refusals                                               */
/* ------------------------------------------------------------------------ */

static pr_ranges *part_r, *part_w; /* the walker's outputs, kept from a good walk */
static struct snap snap_r, snap_w;

/* Clears the refusal tests' table. */
static void clear_bad_table(void)
{
    memset(hp(BAD_T), 0, 16 * 16);
    memset(hp(IT), 0, 16 * 16);
}

static void expect_refusal(pr_chain_walker *cw, const pr_memory *m, uint64_t table, uint16_t qs,
                           uint16_t head, pr_status st, uint32_t rule, uint16_t index,
                           uint8_t indirect, int line)
{
    pr_chain_error err;
    memset(&err, 0xAB, sizeof err);
    tu_record_status(pr_chain_walker_walk(cw, m, table, qs, head, part_r, part_w, &err), st,
                     __FILE__, line, "pr_chain_walker_walk");
    tu_record_eq(err.rule, rule, __FILE__, line, "err.rule", "rule");
    tu_record_eq(err.index, index, __FILE__, line, "err.index", "index");
    tu_record_eq(err.indirect, indirect, __FILE__, line, "err.indirect", "indirect");
    tu_record_eq(err.reserved, 0, __FILE__, line, "err.reserved", "0");
    if (err.rule != rule)
        fprintf(stderr, "    (rule %u: %s)\n", (unsigned)err.rule, pr_chain_rule_str(err.rule));
    check_snap(part_r, &snap_r, line);
    check_snap(part_w, &snap_w, line);
    /* Without an error report the status is the same. */
    tu_record_status(pr_chain_walker_walk(cw, m, table, qs, head, part_r, part_w, NULL), st,
                     __FILE__, line, "pr_chain_walker_walk, err NULL");
}
#define EXPECT_REFUSAL(cw, table, qs, head, st, rule, index, ind) \
    expect_refusal((cw), mem, (table), (qs), (head), (st), (rule), (index), (ind), __LINE__)

/* The fault report of a PR_CHAIN_UNREADABLE refusal. */
static void expect_fault(pr_chain_walker *cw, const pr_memory *m, uint64_t table, uint16_t qs,
                         uint16_t head, uint16_t index, uint8_t indirect, uint64_t gpa, int code,
                         int line)
{
    pr_chain_error err;
    expect_refusal(cw, m, table, qs, head, PR_ERR_MEMORY, PR_CHAIN_UNREADABLE, index, indirect,
                   line);
    memset(&err, 0xAB, sizeof err);
    (void)pr_chain_walker_walk(cw, m, table, qs, head, part_r, part_w, &err);
    tu_record_eq(err.fault_gpa, gpa, __FILE__, line, "err.fault_gpa", "gpa");
    tu_record_eq((uint32_t)err.fault_code, (uint32_t)code, __FILE__, line, "err.fault_code",
                 "code");
}
#define EXPECT_FAULT(cw, m, table, qs, head, index, ind, gpa, code) \
    expect_fault((cw), (m), (table), (qs), (head), (index), (ind), (gpa), (code), __LINE__)

static void test_chain_refusals(void)
{
    static const uint64_t good_r[] = {0x10D000, 0x10D010};
    static const uint64_t good_w[] = {0x10D100, 0x10D300};
    pr_chain_walker *cw = NULL, *no_ind = NULL, *tight = NULL;
    pr_chain_limits lim;
    pr_memory *cmem;
    guest_ram gr;

    CHECK_ST(pr_chain_walker_new(NULL, &cw), PR_OK);
    memset(&lim, 0, sizeof lim);
    lim.readable.max_windows = lim.writable.max_windows = 64;
    lim.readable.max_pages = lim.writable.max_pages = 64;
    lim.readable.max_bytes = lim.writable.max_bytes = 1 << 20;
    lim.max_bytes = 1 << 20;
    lim.indirect = 0;
    CHECK_ST(pr_chain_walker_new(&lim, &no_ind), PR_OK);
    lim.readable.max_windows = 1;
    lim.writable.max_bytes = 100;
    lim.max_bytes = 200;
    lim.indirect = 1;
    CHECK_ST(pr_chain_walker_new(&lim, &tight), PR_OK);
    CHECK_ST(pr_ranges_new(NULL, 0, &part_r), PR_OK);
    CHECK_ST(pr_ranges_new(NULL, 0, &part_w), PR_OK);
    if (!cw || !no_ind || !tight || !part_r || !part_w)
        abort();

    /* A good chain fills the outputs; every refusal must leave them so. */
    clear_bad_table();
    put_desc(BAD_T, 0, 0x10D000, 16, F_NEXT, 1);
    put_desc(BAD_T, 1, 0x10D100, 0x200, F_WRITE, 0);
    CHECK_ST(pr_chain_walker_walk(cw, mem, BAD_T, 2, 0, part_r, part_w, NULL), PR_OK);
    CHECK_RUNS(part_r, good_r, 1);
    CHECK_RUNS(part_w, good_w, 1);
    snap_r = snap_of(part_r);
    snap_w = snap_of(part_w);

    /* Queue size 0 or above 32768; head not below the queue size. */
    EXPECT_REFUSAL(cw, BAD_T, 0, 0, PR_ERR_MALFORMED, PR_CHAIN_QUEUE_SIZE, 0, 0);
    EXPECT_REFUSAL(cw, BAD_T, 32769, 1, PR_ERR_MALFORMED, PR_CHAIN_QUEUE_SIZE, 1, 0);
    EXPECT_REFUSAL(cw, BAD_T, 2, 2, PR_ERR_MALFORMED, PR_CHAIN_HEAD_OUT_OF_RANGE, 2, 0);
    EXPECT_REFUSAL(cw, BAD_T, 2, 0xFFFF, PR_ERR_MALFORMED, PR_CHAIN_HEAD_OUT_OF_RANGE, 0xFFFF, 0);
    EXPECT_REFUSAL(cw, BAD_T, 32768, 40000, PR_ERR_MALFORMED, PR_CHAIN_HEAD_OUT_OF_RANGE, 40000, 0);

    /* A loop: 0 -> 1 -> 0; the third visit of a 2-entry table is refused. */
    clear_bad_table();
    put_desc(BAD_T, 0, 0x10D000, 8, F_NEXT, 1);
    put_desc(BAD_T, 1, 0x10D100, 8, F_NEXT, 0);
    EXPECT_REFUSAL(cw, BAD_T, 2, 0, PR_ERR_MALFORMED, PR_CHAIN_TOO_LONG, 0, 0);
    /* 3 -> 5 -> 9 -> 5 -> ...: the 17th descriptor of a 16-entry table is 9. */
    clear_bad_table();
    put_desc(BAD_T, 3, 0x10D000, 8, F_NEXT, 5);
    put_desc(BAD_T, 5, 0x10D100, 8, F_NEXT, 9);
    put_desc(BAD_T, 9, 0x10D200, 8, F_NEXT, 5);
    EXPECT_REFUSAL(cw, BAD_T, 16, 3, PR_ERR_MALFORMED, PR_CHAIN_TOO_LONG, 9, 0);

    /* next out of range (15 is the last valid index). */
    clear_bad_table();
    put_desc(BAD_T, 0, 0x10D000, 8, F_NEXT, 15);
    put_desc(BAD_T, 15, 0x10D100, 8, F_NEXT, 16);
    EXPECT_REFUSAL(cw, BAD_T, 16, 0, PR_ERR_MALFORMED, PR_CHAIN_NEXT_OUT_OF_RANGE, 15, 0);

    /* Readable after writable. */
    clear_bad_table();
    put_desc(BAD_T, 0, 0x10D000, 8, F_NEXT, 1);
    put_desc(BAD_T, 1, 0x10D100, 8, F_NEXT | F_WRITE, 2);
    put_desc(BAD_T, 2, 0x10D200, 8, 0, 0);
    EXPECT_REFUSAL(cw, BAD_T, 3, 0, PR_ERR_MALFORMED, PR_CHAIN_READABLE_AFTER_WRITABLE, 2, 0);

    /* Indirect tables: length 20, length 0, with NEXT, nested, not
     * allowed. */
    clear_bad_table();
    put_desc(BAD_T, 0, IT, 20, F_INDIRECT, 0);
    EXPECT_REFUSAL(cw, BAD_T, 1, 0, PR_ERR_MALFORMED, PR_CHAIN_INDIRECT_LENGTH, 0, 0);
    put_desc(BAD_T, 0, IT, 0, F_INDIRECT, 0);
    EXPECT_REFUSAL(cw, BAD_T, 1, 0, PR_ERR_MALFORMED, PR_CHAIN_INDIRECT_LENGTH, 0, 0);
    put_desc(BAD_T, 0, IT, 32, F_INDIRECT | F_NEXT, 1);
    put_desc(BAD_T, 1, 0x10D000, 8, 0, 0);
    EXPECT_REFUSAL(cw, BAD_T, 2, 0, PR_ERR_MALFORMED, PR_CHAIN_INDIRECT_WITH_NEXT, 0, 0);
    put_desc(BAD_T, 0, 0x10D000, 8, F_NEXT, 1);
    put_desc(BAD_T, 1, IT, 32, F_INDIRECT, 0);
    put_desc(IT, 0, 0x10D100, 8, F_NEXT, 1);
    put_desc(IT, 1, IT, 16, F_INDIRECT, 0);
    EXPECT_REFUSAL(cw, BAD_T, 2, 0, PR_ERR_MALFORMED, PR_CHAIN_NESTED_INDIRECT, 1, 1);
    EXPECT_REFUSAL(no_ind, BAD_T, 2, 0, PR_ERR_MALFORMED, PR_CHAIN_INDIRECT_NOT_ALLOWED, 1, 0);
    /* Inside an indirect table: next out of range, a loop, readable after
     * writable. */
    put_desc(IT, 1, 0x10D200, 8, F_NEXT, 2);
    EXPECT_REFUSAL(cw, BAD_T, 2, 0, PR_ERR_MALFORMED, PR_CHAIN_NEXT_OUT_OF_RANGE, 1, 1);
    put_desc(IT, 1, 0x10D200, 8, F_NEXT, 0);
    EXPECT_REFUSAL(cw, BAD_T, 2, 0, PR_ERR_MALFORMED, PR_CHAIN_TOO_LONG, 0, 1);
    put_desc(BAD_T, 0, 0x10D000, 8, F_NEXT | F_WRITE, 1);
    put_desc(IT, 1, 0x10D200, 8, 0, 0);
    EXPECT_REFUSAL(cw, BAD_T, 2, 0, PR_ERR_MALFORMED, PR_CHAIN_READABLE_AFTER_WRITABLE, 0, 1);

    /* Buffers past 2^64. */
    clear_bad_table();
    put_desc(BAD_T, 0, 0x10D000, 8, F_NEXT, 1);
    put_desc(BAD_T, 1, UINT64_MAX - 4, 8, 0, 0);
    EXPECT_REFUSAL(cw, BAD_T, 2, 0, PR_ERR_MALFORMED, PR_CHAIN_OVERFLOW, 1, 0);
    put_desc(BAD_T, 1, UINT64_MAX - 15, 32, F_INDIRECT, 0);
    EXPECT_REFUSAL(cw, BAD_T, 2, 0, PR_ERR_MALFORMED, PR_CHAIN_OVERFLOW, 1, 0);

    /* Limits: the default 2^32 - 1 bytes per chain; one readable window;
     * 100 writable bytes; 200 bytes in all. */
    clear_bad_table();
    put_desc(BAD_T, 0, 0x10D000, 0x80000000u, F_NEXT, 1);
    put_desc(BAD_T, 1, 0x10D000, 0x80000000u, 0, 0);
    EXPECT_REFUSAL(cw, BAD_T, 2, 0, PR_ERR_LIMIT, PR_CHAIN_LIMIT, 1, 0);
    put_desc(BAD_T, 0, 0x10D000, 8, F_NEXT, 1);
    put_desc(BAD_T, 1, 0x10D100, 8, 0, 0);
    EXPECT_REFUSAL(tight, BAD_T, 2, 0, PR_ERR_LIMIT, PR_CHAIN_LIMIT, 1, 0);
    put_desc(BAD_T, 1, 0x10D100, 101, F_WRITE, 0);
    EXPECT_REFUSAL(tight, BAD_T, 2, 0, PR_ERR_LIMIT, PR_CHAIN_LIMIT, 1, 0);
    put_desc(BAD_T, 0, 0x10D000, 150, F_NEXT, 1);
    put_desc(BAD_T, 1, 0x10D100, 51, F_WRITE, 0);
    EXPECT_REFUSAL(tight, BAD_T, 2, 0, PR_ERR_LIMIT, PR_CHAIN_LIMIT, 1, 0);
    put_desc(BAD_T, 1, 0x10D100, 50, F_WRITE, 0); /* 200 bytes: accepted */
    CHECK_ST(pr_chain_walker_walk(tight, mem, BAD_T, 2, 0, part_r, part_w, NULL), PR_OK);
    CHECK_EQ(pr_ranges_len(part_r), 150);
    CHECK_EQ(pr_ranges_len(part_w), 50);
    CHECK_ST(pr_chain_walker_walk(cw, mem, BAD_T, 2, 0, part_r, part_w, NULL), PR_OK);
    /* Back to the good chain for the snapshots. */
    put_desc(BAD_T, 0, 0x10D000, 16, F_NEXT, 1);
    put_desc(BAD_T, 1, 0x10D100, 0x200, F_WRITE, 0);
    CHECK_ST(pr_chain_walker_walk(cw, mem, BAD_T, 2, 0, part_r, part_w, NULL), PR_OK);
    CHECK_SNAP(part_r, &snap_r);
    CHECK_SNAP(part_w, &snap_w);

    /* Descriptors outside guest memory: a fault report, never a host
     * access. GPA 0 is not mapped; region A ends at 0x140000. */
    EXPECT_FAULT(cw, mem, 0, 4, 2, 2, 0, 0x20, -1);
    EXPECT_FAULT(cw, mem, A_END - 8, 4, 0, 0, 0, A_END, -1); /* straddles the end */
    put_desc(A_END - 32, 0, 0x10D000, 8, F_NEXT, 2);
    EXPECT_FAULT(cw, mem, A_END - 32, 4, 0, 2, 0, A_END, -1); /* next is past it */
    clear_bad_table();
    put_desc(BAD_T, 0, 0x200000, 32, F_INDIRECT, 0); /* the indirect table unmapped */
    EXPECT_FAULT(cw, mem, BAD_T, 1, 0, 0, 1, 0x200000, -1);
    /* The table's address plus the index passes 2^64. */
    EXPECT_REFUSAL(cw, UINT64_MAX - 15, 4, 1, PR_ERR_MEMORY, PR_CHAIN_UNREADABLE, 1, 0);
    /* Through callbacks: the callback's code and the descriptor's address. */
    gr_init(&gr, 4);
    cmem = gr_memory(&gr, 1);
    EXPECT_FAULT(cw, cmem, 0x8000, 8, 3, 3, 0, 0x8030, GR_EFAULT);
    pr_memory_free(cmem);
    gr_destroy(&gr);

    /* A refusal does not spoil the walker. */
    put_desc(BAD_T, 0, 0x10D000, 16, F_NEXT, 1);
    put_desc(BAD_T, 1, 0x10D100, 0x200, F_WRITE, 0);
    CHECK_ST(pr_chain_walker_walk(cw, mem, BAD_T, 2, 0, part_r, part_w, NULL), PR_OK);
    CHECK_SNAP(part_r, &snap_r);
    CHECK_SNAP(part_w, &snap_w);

    pr_chain_walker_free(cw);
    pr_chain_walker_free(no_ind);
    pr_chain_walker_free(tight);
    pr_ranges_free(part_r);
    pr_ranges_free(part_w);
    part_r = part_w = NULL;
}

static void test_chain_args(void)
{
    pr_chain_walker *cw = NULL;
    pr_ranges *a = NULL, *b = NULL;
    struct snap sa, sb;

    CHECK_ST(pr_chain_walker_new(NULL, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_chain_walker_new(NULL, &cw), PR_OK);
    CHECK(cw != NULL);
    CHECK_ST(pr_ranges_new(NULL, 0, &a), PR_OK);
    CHECK_ST(pr_ranges_new(NULL, 0, &b), PR_OK);
    if (!cw || !a || !b)
        abort();
    clear_bad_table();
    put_desc(BAD_T, 0, 0x10D000, 16, F_NEXT, 1);
    put_desc(BAD_T, 1, 0x10D100, 0x200, F_WRITE, 0);
    CHECK_ST(pr_chain_walker_walk(cw, mem, BAD_T, 2, 0, a, b, NULL), PR_OK);
    sa = snap_of(a);
    sb = snap_of(b);

    CHECK_ST(pr_chain_walker_walk(NULL, mem, BAD_T, 2, 0, a, b, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_chain_walker_walk(cw, NULL, BAD_T, 2, 0, a, b, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_chain_walker_walk(cw, mem, BAD_T, 2, 0, NULL, b, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_chain_walker_walk(cw, mem, BAD_T, 2, 0, a, NULL, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_chain_walker_walk(cw, mem, BAD_T, 2, 0, NULL, NULL, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_chain_walker_walk(cw, mem, BAD_T, 2, 0, a, a, NULL), PR_ERR_INVALID_ARGUMENT);
    CHECK_ST(pr_chain_walker_walk(cw, mem, BAD_T, 2, 0, b, b, NULL), PR_ERR_INVALID_ARGUMENT);
    CHECK_SNAP(a, &sa);
    CHECK_SNAP(b, &sb);
    /* The parts the other way round. */
    CHECK_ST(pr_chain_walker_walk(cw, mem, BAD_T, 2, 0, b, a, NULL), PR_OK);
    CHECK_SNAP(a, &sb);
    CHECK_SNAP(b, &sa);

    pr_chain_walker_free(NULL);
    pr_chain_walker_free(cw);
    pr_ranges_free(a);
    pr_ranges_free(b);
}

static void test_rule_str(void)
{
    const char *s[14];
    uint32_t i, j;
    for (i = 1; i <= 13; i++) {
        s[i] = pr_chain_rule_str(i);
        CHECK(s[i] != NULL);
        if (!s[i])
            continue;
        CHECK(strlen(s[i]) > 0);
        CHECK(strcmp(s[i], "unknown rule") != 0);
        CHECK(pr_chain_rule_str(i) == s[i]); /* static */
        for (j = 1; j < i; j++)
            CHECK(s[j] == NULL || strcmp(s[i], s[j]) != 0);
    }
    CHECK(PR_CHAIN_QUEUE_SIZE == 1 && PR_CHAIN_ALLOCATION == 13);
    CHECK(strcmp(pr_chain_rule_str(0), "unknown rule") == 0);
    CHECK(strcmp(pr_chain_rule_str(14), "unknown rule") == 0);
    CHECK(strcmp(pr_chain_rule_str(UINT32_MAX), "unknown rule") == 0);
}

int main(void)
{
    pr_mapped_region regions[2] = {
        {(uint64_t)B_GPN * PS, (uint64_t)B_PAGES * PS, NULL},
        {A_START, (uint64_t)A_PAGES * PS, NULL},
    };

    map_guest();
    regions[0].host = host + B_HPAGE * PS;
    regions[1].host = host + A_HPAGE * PS;
    if (pr_memory_new_mapped(regions, 2, &mem) != PR_OK) {
        fprintf(stderr, "pr_memory_new_mapped failed\n");
        return EXIT_FAILURE;
    }

    test_lifecycle();
    test_range_reset();
    test_dirty_export();
    test_unmapped_export();
    test_skip_and_iovec_errors();
    test_released();
    test_finish_into();
    test_chain_refusals();
    test_chain_args();
    test_rule_str();

    pr_memory_free(mem);
    munmap(host, HOST_PAGES * PS);
    return TEST_SUMMARY();
}
