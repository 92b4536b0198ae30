/*
 * test_limit.c - splitting a cursor with pr_reader_limit / pr_writer_limit.
 *
 * A virtio-like request is laid out as  header (16) | data | status (1).
 * The device reads the header, hands "the data part" to a limited cursor
 * (the backend), and the parent cursor continues at the status byte.
 *
 * Covers, for cursors over a single range (pr_reader_new / pr_writer_new)
 * and over a buffer (pr_ranges_reader_new / pr_ranges_writer_new): the
 * request flow above with every byte checked (the data crossing pages and
 * windows), limits of 0 and of everything left, limits of limited cursors,
 * a limited cursor refusing to go past its end, len too big
 * (PR_ERR_OUT_OF_RANGE with nothing moved: same remaining, same bytes read
 * next), NULL arguments (nothing moved either), a callback failing inside
 * the data part (only the limited cursor advances), and limited cursors
 * outliving the parent cursor, the range/buffer, the builder and the memory
 * handle they came from.
 */
#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define PAGES 32
#define SENT_READER ((pr_reader *)tu_sentinel())
#define SENT_WRITER ((pr_writer *)tu_sentinel())

static guest_ram g;
static uint8_t ref[PAGES * 4096];

/* The request: one range over GPNs {3, 10, 11, 4}, starting 4000 bytes into
 * GPN 3, so the header straddles GPN 3 -> 10 and the data spans 10, 11 and
 * a bit of 4, where the status byte also lives. */
static const uint64_t REQ_GPNS[4] = {3, 10, 11, 4};
#define REQ_OFF 4000
#define HDR 16
#define DATA 9000
#define REQ_LEN (HDR + DATA + 1)

static uint64_t req_gpa(size_t i)
{
    return tu_gpa_of(REQ_GPNS, REQ_OFF, i);
}

#define CHECK_RAM() CHECK_MEM(g.bytes, ref, sizeof ref)

static void scramble(unsigned seed)
{
    tu_fill_pattern(g.bytes, g.size, seed);
    memcpy(ref, g.bytes, sizeof ref);
}

/* ------------------------------------------------------------------------ */

/* The device reads a write request: header, data (through a limited
 * reader), then the status byte through the parent. */
static void test_range_reader_flow(pr_memory *mem)
{
    pr_range *r = tu_range(REQ_GPNS, 4, REQ_OFF, REQ_LEN);
    pr_reader *rd = NULL, *data = SENT_READER, *data2 = NULL, *empty = NULL;
    uint8_t hdr[HDR], status = 0, buf[DATA], want[DATA];
    size_t i;
    pr_transfer t;

    scramble(1);
    for (i = 0; i < DATA; i++)
        want[i] = g.bytes[req_gpa(HDR + i)];

    CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
    CHECK_ST(pr_reader_read(rd, hdr, HDR, &t), PR_OK);
    for (i = 0; i < HDR; i++)
        CHECK_EQ(hdr[i], g.bytes[req_gpa(i)]);

    /* too long: nothing moves */
    CHECK_ST(pr_reader_limit(rd, DATA + 2, &data), PR_ERR_OUT_OF_RANGE);
    CHECK(data == SENT_READER);
    CHECK_ST(pr_reader_limit(rd, SIZE_MAX, &data), PR_ERR_OUT_OF_RANGE);
    CHECK(data == SENT_READER);
    CHECK_EQ(pr_reader_remaining(rd), DATA + 1);
    /* NULL arguments: nothing moves either */
    CHECK_ST(pr_reader_limit(NULL, 1, &data), PR_ERR_NULL_ARGUMENT);
    CHECK(data == SENT_READER);
    CHECK_ST(pr_reader_limit(rd, DATA, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_EQ(pr_reader_remaining(rd), DATA + 1);

    /* the data part goes to the backend; the parent is at the status */
    CHECK_ST(pr_reader_limit(rd, DATA, &data), PR_OK);
    CHECK(data != NULL && data != SENT_READER);
    CHECK_EQ(pr_reader_remaining(data), DATA);
    CHECK_EQ(pr_reader_remaining(rd), 1);
    CHECK_ST(pr_reader_read(rd, &status, 1, &t), PR_OK);
    CHECK_EQ(status, g.bytes[req_gpa(HDR + DATA)]);
    CHECK_EQ(pr_reader_remaining(rd), 0);

    /* a limit of 0 at the end of the parent: an empty reader */
    CHECK_ST(pr_reader_limit(rd, 0, &empty), PR_OK);
    CHECK_EQ(pr_reader_remaining(empty), 0);
    CHECK_ST(pr_reader_read(empty, buf, 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    pr_reader_free(empty);

    /* the limited reader stops at its end */
    CHECK_ST(pr_reader_read(data, buf, DATA + 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    CHECK_EQ(pr_reader_remaining(data), DATA);
    /* limit of a limited reader: the first 5000 bytes, then the rest */
    CHECK_ST(pr_reader_limit(data, 5000, &data2), PR_OK);
    CHECK_EQ(pr_reader_remaining(data), DATA - 5000);
    CHECK_ST(pr_reader_read(data, buf + 5000, DATA - 5000, &t), PR_OK);
    CHECK_EQ(t.done, DATA - 5000);
    CHECK_ST(pr_reader_read(data2, buf, 100, &t), PR_OK);
    CHECK_ST(pr_reader_skip(data2, 1), PR_OK);
    buf[100] = g.bytes[req_gpa(HDR + 100)];
    CHECK_ST(pr_reader_read(data2, buf + 101, 5000 - 101, &t), PR_OK);
    CHECK_EQ(pr_reader_remaining(data2), 0);
    CHECK_MEM(buf, want, DATA);

    pr_reader_free(data2);
    pr_reader_free(data);
    pr_reader_free(rd);
    pr_range_free(r);
}

/* The device serves a read request: the data part is written through a
 * limited writer, the status byte through the parent (before the data:
 * order does not matter). */
static void test_range_writer_flow(pr_memory *mem)
{
    pr_range *r = tu_range(REQ_GPNS, 4, REQ_OFF, REQ_LEN);
    pr_writer *w = NULL, *hdr = NULL, *data = SENT_WRITER, *zero = NULL;
    uint8_t src[DATA];
    const uint8_t ok = 0;
    size_t i;
    pr_transfer t;

    scramble(2);
    tu_fill_pattern(src, DATA, 3);
    CHECK_ST(pr_writer_new(r, mem, &w), PR_OK);

    /* the header is the driver's: split it off and leave it alone */
    CHECK_ST(pr_writer_limit(w, HDR, &hdr), PR_OK);
    pr_writer_free(hdr);
    CHECK_EQ(pr_writer_remaining(w), DATA + 1);

    CHECK_ST(pr_writer_limit(w, DATA + 2, &data), PR_ERR_OUT_OF_RANGE);
    CHECK(data == SENT_WRITER);
    CHECK_ST(pr_writer_limit(w, SIZE_MAX, &data), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_writer_limit(NULL, 1, &data), PR_ERR_NULL_ARGUMENT);
    CHECK(data == SENT_WRITER);
    CHECK_ST(pr_writer_limit(w, DATA, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_EQ(pr_writer_remaining(w), DATA + 1);

    /* a limit of 0 moves nothing */
    CHECK_ST(pr_writer_limit(w, 0, &zero), PR_OK);
    CHECK_EQ(pr_writer_remaining(zero), 0);
    CHECK_EQ(pr_writer_remaining(w), DATA + 1);
    CHECK_ST(pr_writer_fill(zero, 0xEE, 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    pr_writer_free(zero);

    CHECK_ST(pr_writer_limit(w, DATA, &data), PR_OK);
    CHECK_EQ(pr_writer_remaining(w), 1);
    CHECK_EQ(pr_writer_remaining(data), DATA);

    /* status first */
    CHECK_ST(pr_writer_write(w, &ok, 1, &t), PR_OK);
    ref[req_gpa(HDR + DATA)] = ok;
    CHECK_EQ(pr_writer_remaining(w), 0);
    CHECK_ST(pr_writer_write(w, &ok, 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_RAM();

    /* the data writer cannot run over the status */
    CHECK_ST(pr_writer_write(data, src, DATA + 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_EQ(t.done, 0);
    CHECK_ST(pr_writer_fill(data, 0, DATA + 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_RAM();
    /* data in two writes and a fill */
    CHECK_ST(pr_writer_write(data, src, 4000, &t), PR_OK);
    CHECK_ST(pr_writer_fill(data, 0x11, 1000, &t), PR_OK);
    memset(src + 4000, 0x11, 1000);
    CHECK_ST(pr_writer_write(data, src + 5000, DATA - 5000, &t), PR_OK);
    CHECK_EQ(pr_writer_remaining(data), 0);
    for (i = 0; i < DATA; i++)
        ref[req_gpa(HDR + i)] = src[i];
    CHECK_RAM(); /* header untouched, status kept, data in place */

    pr_writer_free(data);
    pr_writer_free(w);
    pr_range_free(r);
}

/* ------------------------------------------------------------------------ */

/* The same request as descriptors: header, data in two pieces on scattered
 * pages, status on a page of its own; a buffer via pr_ranges_new. */
static const uint64_t D_HDR[2] = {7, 8};   /* header straddles 7 -> 8 */
static const uint64_t D_A[2] = {20, 21};   /* data piece A */
static const uint64_t D_B[3] = {2, 5, 6};  /* data piece B */
static const uint64_t D_ST[1] = {30};      /* status */
#define A_OFF 100
#define A_LEN (2 * 4096 - 100)
#define B_OFF 2000
#define B_LEN (3 * 4096 - 2000 - 10)
#define D_DATA (A_LEN + B_LEN)

static pr_ranges *descriptor_buffer(pr_range **parts)
{
    pr_ranges *rs = NULL;
    parts[0] = tu_range(D_HDR, 2, 4088, HDR);
    parts[1] = tu_range(D_A, 2, A_OFF, A_LEN);
    parts[2] = tu_range(D_B, 3, B_OFF, B_LEN);
    parts[3] = tu_range(D_ST, 1, 77, 1);
    CHECK_ST(pr_ranges_new((const pr_range *const *)parts, 4, &rs), PR_OK);
    return rs;
}

static uint64_t data_gpa(size_t i)
{
    return i < A_LEN ? tu_gpa_of(D_A, A_OFF, i) : tu_gpa_of(D_B, B_OFF, i - A_LEN);
}

static void test_ranges_flow(pr_memory *mem)
{
    pr_range *parts[4];
    pr_ranges *rs = descriptor_buffer(parts);
    pr_reader *rd = NULL, *rdata = SENT_READER;
    pr_writer *w = NULL, *wdata = SENT_WRITER, *piece = NULL;
    static uint8_t buf[D_DATA], want[D_DATA], src[D_DATA];
    uint8_t hdr[HDR], status;
    size_t i;
    pr_transfer t;

    scramble(4);
    for (i = 0; i < D_DATA; i++)
        want[i] = g.bytes[data_gpa(i)];

    /* reading: header, limited data reader, status via the parent */
    CHECK_ST(pr_ranges_reader_new(rs, mem, &rd), PR_OK);
    CHECK_ST(pr_reader_read(rd, hdr, HDR, &t), PR_OK);
    CHECK_MEM(hdr, g.bytes + 7 * PS + 4088, 8);
    CHECK_MEM(hdr + 8, g.bytes + 8 * PS, 8);
    CHECK_ST(pr_reader_limit(rd, D_DATA + 2, &rdata), PR_ERR_OUT_OF_RANGE);
    CHECK(rdata == SENT_READER);
    CHECK_EQ(pr_reader_remaining(rd), D_DATA + 1);
    CHECK_ST(pr_reader_limit(rd, D_DATA, &rdata), PR_OK);
    CHECK_ST(pr_reader_read(rd, &status, 1, &t), PR_OK);
    CHECK_EQ(status, g.bytes[30 * PS + 77]);
    /* the data reader covers both pieces and nothing more */
    CHECK_EQ(pr_reader_remaining(rdata), D_DATA);
    CHECK_ST(pr_reader_read(rdata, buf, D_DATA + 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_reader_read(rdata, buf, A_LEN - 5, &t), PR_OK);
    CHECK_ST(pr_reader_read(rdata, buf + A_LEN - 5, D_DATA - (A_LEN - 5), &t), PR_OK);
    CHECK_MEM(buf, want, D_DATA);
    pr_reader_free(rdata);
    pr_reader_free(rd);

    /* writing: the data writer is split again at the piece boundary - 5 */
    tu_fill_pattern(src, D_DATA, 5);
    CHECK_ST(pr_ranges_writer_new(rs, mem, &w), PR_OK);
    CHECK_ST(pr_writer_limit(w, HDR, &piece), PR_OK); /* header: skip */
    pr_writer_free(piece);
    piece = NULL;
    CHECK_ST(pr_writer_limit(w, D_DATA + 2, &wdata), PR_ERR_OUT_OF_RANGE);
    CHECK(wdata == SENT_WRITER);
    CHECK_EQ(pr_writer_remaining(w), D_DATA + 1);
    CHECK_ST(pr_writer_limit(w, D_DATA, &wdata), PR_OK);
    CHECK_ST(pr_writer_limit(wdata, A_LEN - 5, &piece), PR_OK);
    CHECK_EQ(pr_writer_remaining(wdata), B_LEN + 5);
    CHECK_ST(pr_writer_write(wdata, src + A_LEN - 5, B_LEN + 5, &t), PR_OK);
    CHECK_ST(pr_writer_write(piece, src, A_LEN - 5, &t), PR_OK);
    {
        const uint8_t st = 0x42;
        CHECK_ST(pr_writer_write(w, &st, 1, &t), PR_OK);
        ref[30 * PS + 77] = st;
    }
    for (i = 0; i < D_DATA; i++)
        ref[data_gpa(i)] = src[i];
    CHECK_RAM();
    pr_writer_free(piece);
    pr_writer_free(wdata);
    pr_writer_free(w);

    pr_ranges_free(rs);
    for (i = 0; i < 4; i++)
        pr_range_free(parts[i]);
}

/* A callback failing inside the data part: only the limited cursor moves
 * (by what was done), the parent stays at the status. */
static void test_failure_in_data(pr_memory *mem)
{
    pr_range *parts[4];
    pr_ranges *rs = descriptor_buffer(parts);
    pr_writer *w = NULL, *hdr = NULL, *data = NULL;
    static uint8_t src[D_DATA];
    pr_transfer t;
    size_t i;

    scramble(6);
    tu_fill_pattern(src, D_DATA, 7);
    CHECK_ST(pr_ranges_writer_new(rs, mem, &w), PR_OK);
    CHECK_ST(pr_writer_limit(w, HDR, &hdr), PR_OK);
    CHECK_ST(pr_writer_limit(w, D_DATA, &data), PR_OK);
    gr_fail_at(&g, GR_WRITE, 5 * PS + 1, -5); /* in piece B's run 5, 6 */
    CHECK_ST(pr_writer_write(data, src, D_DATA, &t), PR_ERR_MEMORY);
    /* runs before it: A (20, 21) and B's first page (2) */
    CHECK_EQ(t.done, A_LEN + (4096 - B_OFF));
    CHECK_EQ(t.fault_gpa, 5 * PS);
    CHECK_EQ(t.fault_code, -5);
    CHECK_EQ(pr_writer_remaining(data), D_DATA - t.done);
    CHECK_EQ(pr_writer_remaining(w), 1);
    for (i = 0; i < t.done; i++)
        ref[data_gpa(i)] = src[i];
    CHECK_RAM();
    gr_no_fail(&g);
    /* retry resumes at the failed run */
    {
        size_t done = t.done;
        CHECK_ST(pr_writer_write(data, src + done, D_DATA - done, &t), PR_OK);
        for (i = done; i < D_DATA; i++)
            ref[data_gpa(i)] = src[i];
    }
    CHECK_RAM();
    pr_writer_free(hdr);
    pr_writer_free(data);
    pr_writer_free(w);
    pr_ranges_free(rs);
    for (i = 0; i < 4; i++)
        pr_range_free(parts[i]);
}

/* Limited cursors outlive every other handle. */
static void test_outliving(void)
{
    pr_memory *mem = gr_memory(&g, 0);
    pr_range *r = tu_range(REQ_GPNS, 4, REQ_OFF, REQ_LEN);
    pr_reader *rd = NULL, *rdata = NULL;
    pr_writer *w = NULL, *wdata = NULL, *hdr = NULL;
    static uint8_t buf[DATA], want[DATA];
    size_t i;

    scramble(8);
    CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
    CHECK_ST(pr_reader_skip(rd, HDR), PR_OK);
    CHECK_ST(pr_reader_limit(rd, DATA, &rdata), PR_OK);
    CHECK_ST(pr_writer_new(r, mem, &w), PR_OK);
    CHECK_ST(pr_writer_limit(w, HDR, &hdr), PR_OK);
    CHECK_ST(pr_writer_limit(w, DATA, &wdata), PR_OK);
    /* everything but the limited cursors goes */
    pr_reader_free(rd);
    pr_writer_free(w);
    pr_writer_free(hdr);
    pr_range_free(r);
    pr_memory_free(mem);

    for (i = 0; i < DATA; i++)
        want[i] = g.bytes[req_gpa(HDR + i)];
    CHECK_ST(pr_reader_read(rdata, buf, DATA, NULL), PR_OK);
    CHECK_MEM(buf, want, DATA);
    pr_reader_free(rdata);
    tu_fill_pattern(buf, DATA, 9);
    CHECK_ST(pr_writer_write(wdata, buf, DATA, NULL), PR_OK);
    for (i = 0; i < DATA; i++)
        ref[req_gpa(HDR + i)] = buf[i];
    CHECK_RAM();
    pr_writer_free(wdata);

    /* the same for buffer cursors made by a builder */
    {
        pr_ranges_builder *b = NULL;
        pr_ranges *rs = NULL;
        pr_reader *brd = NULL, *bdata = NULL;
        pr_writer *bw = NULL, *bwdata = NULL, *bh = NULL;
        const uint64_t segs[4][2] = {
            {7 * 4096 + 4088, HDR}, {20 * 4096 + 100, 5000}, {2 * 4096 + 2000, 3000}, {30 * 4096 + 77, 1}};
        uint8_t got[8000], exp[8000];

        mem = gr_memory(&g, 1);
        CHECK_ST(pr_ranges_builder_new(NULL, &b), PR_OK);
        for (i = 0; i < 4; i++)
            CHECK_ST(pr_ranges_builder_push(b, segs[i][0], segs[i][1], NULL), PR_OK);
        CHECK_ST(pr_ranges_builder_finish(b, &rs), PR_OK);
        CHECK_ST(pr_ranges_reader_new(rs, mem, &brd), PR_OK);
        CHECK_ST(pr_reader_skip(brd, HDR), PR_OK);
        CHECK_ST(pr_reader_limit(brd, 8000, &bdata), PR_OK);
        CHECK_ST(pr_ranges_writer_new(rs, mem, &bw), PR_OK);
        CHECK_ST(pr_writer_limit(bw, HDR, &bh), PR_OK);
        CHECK_ST(pr_writer_limit(bw, 8000, &bwdata), PR_OK);
        pr_ranges_builder_free(b);
        pr_reader_free(brd);
        pr_writer_free(bw);
        pr_writer_free(bh);
        pr_ranges_free(rs);
        pr_memory_free(mem);

        memcpy(exp, g.bytes + segs[1][0], 5000);
        memcpy(exp + 5000, g.bytes + segs[2][0], 3000);
        CHECK_ST(pr_reader_read(bdata, got, 8000, NULL), PR_OK);
        CHECK_MEM(got, exp, 8000);
        CHECK_ST(pr_writer_fill(bwdata, 0x99, 8000, NULL), PR_OK);
        memset(ref + segs[1][0], 0x99, 5000);
        memset(ref + segs[2][0], 0x99, 3000);
        CHECK_RAM();
        pr_reader_free(bdata);
        pr_writer_free(bwdata);
    }
}

int main(void)
{
    pr_memory *mem;

    gr_init(&g, PAGES);
    mem = gr_memory(&g, 1);
    test_range_reader_flow(mem);
    test_range_writer_flow(mem);
    test_ranges_flow(mem);
    test_failure_in_data(mem);
    pr_memory_free(mem);
    test_outliving();
    gr_destroy(&g);
    return TEST_SUMMARY();
}
