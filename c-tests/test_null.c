/*
 * test_null.c - NULL for every pointer argument of every function, *_free(NULL),
 * pr_status_str for every status and unknown values, pr_version.
 *
 * Every call below must return PR_ERR_NULL_ARGUMENT (or, for getters, the
 * documented neutral value) and never crash; out-parameters stay untouched;
 * a pr_transfer given alongside a NULL argument reports nothing done.
 * Under valgrind/ASan this also shows that no handle leaks on these paths.
 */
#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define SENT(type) ((type *)tu_sentinel())

static guest_ram g;

static pr_transfer garbage_transfer(void)
{
    pr_transfer t;
    memset(&t, 0xA5, sizeof t);
    return t;
}

/* A pr_transfer is always written: nothing done, no fault. */
#define CHECK_T_EMPTY(t)             \
    do {                             \
        CHECK_EQ((t).done, 0);       \
        CHECK_EQ((t).fault_gpa, 0);  \
        CHECK_EQ((t).fault_code, 0); \
    } while (0)

static void test_memory(void)
{
    pr_memory_ops ops;
    pr_memory *m = SENT(pr_memory);

    memset(&ops, 0, sizeof ops);
    ops.read = gr_read_cb;
    ops.write = gr_write_cb;
    ops.fill = gr_fill_cb;

    CHECK_ST(pr_memory_new_callbacks(NULL, &g, &m), PR_ERR_NULL_ARGUMENT);
    CHECK(m == SENT(pr_memory));
    CHECK_ST(pr_memory_new_callbacks(&ops, &g, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_memory_new_callbacks(NULL, NULL, NULL), PR_ERR_NULL_ARGUMENT);

    ops.read = NULL;
    CHECK_ST(pr_memory_new_callbacks(&ops, &g, &m), PR_ERR_NULL_ARGUMENT);
    CHECK(m == SENT(pr_memory));
    ops.read = gr_read_cb;
    ops.write = NULL;
    CHECK_ST(pr_memory_new_callbacks(&ops, &g, &m), PR_ERR_NULL_ARGUMENT);
    CHECK(m == SENT(pr_memory));
    ops.read = NULL;
    CHECK_ST(pr_memory_new_callbacks(&ops, &g, &m), PR_ERR_NULL_ARGUMENT);
    CHECK(m == SENT(pr_memory));

    /* fill NULL and ctx NULL are allowed */
    ops.read = gr_read_cb;
    ops.write = gr_write_cb;
    ops.fill = NULL;
    m = NULL;
    CHECK_ST(pr_memory_new_callbacks(&ops, NULL, &m), PR_OK);
    CHECK(m != NULL);
    pr_memory_free(m);

    pr_memory_free(NULL);
}

static void test_range(const pr_range *r, pr_memory *mem)
{
    const uint64_t gpns[2] = {1, 2};
    pr_range *o = SENT(pr_range), *o2 = SENT(pr_range);
    pr_range *mut = NULL;
    pr_address_range out[4];
    size_t n;
    uint8_t buf[8];
    pr_transfer t;

    /* pr_range_new */
    CHECK_ST(pr_range_new(NULL, 1, 0, 1, &o), PR_ERR_NULL_ARGUMENT);
    CHECK(o == SENT(pr_range));
    CHECK_ST(pr_range_new(NULL, 2, 0, 0, &o), PR_ERR_NULL_ARGUMENT);
    CHECK(o == SENT(pr_range));
    CHECK_ST(pr_range_new(gpns, 2, 0, 10, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_new(NULL, 0, 0, 0, NULL), PR_ERR_NULL_ARGUMENT);

    /* clone */
    CHECK_ST(pr_range_clone(NULL, &o), PR_ERR_NULL_ARGUMENT);
    CHECK(o == SENT(pr_range));
    CHECK_ST(pr_range_clone(r, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_clone(NULL, NULL), PR_ERR_NULL_ARGUMENT);

    /* getters: neutral values */
    CHECK_EQ(pr_range_len(NULL), 0);
    CHECK_EQ(pr_range_offset(NULL), 0);
    n = 12345;
    CHECK(pr_range_gpns(NULL, &n) == NULL);
    CHECK_EQ(n, 0);
    CHECK(pr_range_gpns(NULL, NULL) == NULL);
    {
        const uint64_t *p = pr_range_gpns(r, NULL); /* count may be NULL */
        CHECK(p != NULL);
        if (p)
            CHECK_EQ(p[0], 1);
    }

    /* subrange / split */
    CHECK_ST(pr_range_subrange(NULL, 0, 0, &o), PR_ERR_NULL_ARGUMENT);
    CHECK(o == SENT(pr_range));
    CHECK_ST(pr_range_subrange(r, 0, 1, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_split(NULL, 0, &o, &o2), PR_ERR_NULL_ARGUMENT);
    CHECK(o == SENT(pr_range) && o2 == SENT(pr_range));
    CHECK_ST(pr_range_split(r, 1, NULL, &o2), PR_ERR_NULL_ARGUMENT);
    CHECK(o2 == SENT(pr_range));
    CHECK_ST(pr_range_split(r, 1, &o, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK(o == SENT(pr_range));
    CHECK_ST(pr_range_split(r, 1, NULL, NULL), PR_ERR_NULL_ARGUMENT);

    /* skip / truncate */
    CHECK_ST(pr_range_skip(NULL, 0), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_skip(NULL, 1), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_truncate(NULL, 0), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_truncate(NULL, SIZE_MAX), PR_ERR_NULL_ARGUMENT);

    /* address ranges */
    n = 777;
    CHECK_ST(pr_range_address_ranges(NULL, out, 4, &n), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_address_ranges(r, NULL, 4, &n), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_address_ranges(r, out, 4, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_address_ranges(r, NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_address_ranges(NULL, NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);

    /* read / write / fill: NULL range, NULL memory, NULL buffer with len > 0 */
    gr_reset_log(&g);
    t = garbage_transfer();
    CHECK_ST(pr_range_read(NULL, mem, buf, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_range_read(r, NULL, buf, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_range_read(r, mem, NULL, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    CHECK_ST(pr_range_read(NULL, NULL, NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_range_read(r, NULL, NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);
    t = garbage_transfer();
    CHECK_ST(pr_range_write(NULL, mem, buf, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_range_write(r, NULL, buf, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_range_write(r, mem, NULL, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    CHECK_ST(pr_range_write(NULL, NULL, NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);
    t = garbage_transfer();
    CHECK_ST(pr_range_fill(NULL, mem, 0, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_range_fill(r, NULL, 0, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    CHECK_ST(pr_range_fill(NULL, NULL, 0, 0, NULL), PR_ERR_NULL_ARGUMENT);
    /* NULL buffer with len 0 is fine */
    t = garbage_transfer();
    CHECK_ST(pr_range_read(r, mem, NULL, 0, &t), PR_OK);
    CHECK_T_EMPTY(t);
    CHECK_ST(pr_range_write(r, mem, NULL, 0, NULL), PR_OK);
    CHECK_EQ(g.nlog, 0);

    /* a mutable range still usable after all that */
    CHECK_ST(pr_range_clone(r, &mut), PR_OK);
    CHECK_EQ(pr_range_len(mut), pr_range_len(r));
    pr_range_free(mut);

    pr_range_free(NULL);
}

static void test_ranges(const pr_range *r, pr_memory *mem)
{
    pr_ranges *rs = NULL;
    pr_ranges *o = SENT(pr_ranges);
    pr_range *ro = SENT(pr_range);
    const pr_range *list[3];
    pr_address_range out[4];
    size_t n = 0;
    uint8_t buf[8];
    pr_transfer t;

    list[0] = r;
    list[1] = NULL;
    list[2] = r;

    CHECK_ST(pr_ranges_new(NULL, 1, &o), PR_ERR_NULL_ARGUMENT);
    CHECK(o == SENT(pr_ranges));
    CHECK_ST(pr_ranges_new(list, 3, &o), PR_ERR_NULL_ARGUMENT); /* NULL element */
    CHECK(o == SENT(pr_ranges));
    CHECK_ST(pr_ranges_new(list + 1, 1, &o), PR_ERR_NULL_ARGUMENT);
    CHECK(o == SENT(pr_ranges));
    CHECK_ST(pr_ranges_new(list, 1, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_new(NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);
    /* a valid list to use below; pushing NULL must not change it */
    CHECK_ST(pr_ranges_new(list, 1, &rs), PR_OK);
    CHECK_ST(pr_ranges_push(NULL, r), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_push(rs, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_push(NULL, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_EQ(pr_ranges_len(rs), pr_range_len(r));
    CHECK_EQ(pr_ranges_count(rs), 1);

    CHECK_EQ(pr_ranges_len(NULL), 0);
    CHECK_EQ(pr_ranges_count(NULL), 0);

    CHECK_ST(pr_ranges_get(NULL, 0, &ro), PR_ERR_NULL_ARGUMENT);
    CHECK(ro == SENT(pr_range));
    CHECK_ST(pr_ranges_get(rs, 0, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_get(NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);

    CHECK_ST(pr_ranges_skip(NULL, 0), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_truncate(NULL, 0), PR_ERR_NULL_ARGUMENT);

    CHECK_ST(pr_ranges_address_ranges(NULL, out, 4, &n), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_address_ranges(rs, NULL, 4, &n), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_address_ranges(rs, out, 4, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_address_ranges(NULL, NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);

    gr_reset_log(&g);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_read(NULL, mem, buf, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_read(rs, NULL, buf, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_read(rs, mem, NULL, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_write(NULL, mem, buf, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_write(rs, NULL, buf, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_write(rs, mem, NULL, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_fill(NULL, mem, 0, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_ranges_fill(rs, NULL, 0, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    CHECK_ST(pr_ranges_read(NULL, NULL, NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_write(NULL, NULL, NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_fill(NULL, NULL, 0, 0, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_read(rs, mem, NULL, 0, NULL), PR_OK);
    CHECK_ST(pr_ranges_write(rs, mem, NULL, 0, NULL), PR_OK);
    CHECK_EQ(g.nlog, 0);

    pr_ranges_free(rs);
    pr_ranges_free(NULL);
}

static void test_cursors(const pr_range *r, pr_memory *mem)
{
    pr_ranges *rs = NULL;
    pr_reader *rd = SENT(pr_reader), *rd_ok = NULL;
    pr_writer *w = SENT(pr_writer), *w_ok = NULL;
    const pr_range *list[1];
    uint8_t buf[8] = {0};
    pr_transfer t;

    list[0] = r;
    CHECK_ST(pr_ranges_new(list, 1, &rs), PR_OK);

    CHECK_ST(pr_reader_new(NULL, mem, &rd), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_reader_new(r, NULL, &rd), PR_ERR_NULL_ARGUMENT);
    CHECK(rd == SENT(pr_reader));
    CHECK_ST(pr_reader_new(r, mem, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_reader_new(NULL, mem, &rd), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_reader_new(rs, NULL, &rd), PR_ERR_NULL_ARGUMENT);
    CHECK(rd == SENT(pr_reader));
    CHECK_ST(pr_ranges_reader_new(rs, mem, NULL), PR_ERR_NULL_ARGUMENT);

    CHECK_ST(pr_writer_new(NULL, mem, &w), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_writer_new(r, NULL, &w), PR_ERR_NULL_ARGUMENT);
    CHECK(w == SENT(pr_writer));
    CHECK_ST(pr_writer_new(r, mem, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_writer_new(NULL, mem, &w), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_ranges_writer_new(rs, NULL, &w), PR_ERR_NULL_ARGUMENT);
    CHECK(w == SENT(pr_writer));
    CHECK_ST(pr_ranges_writer_new(rs, mem, NULL), PR_ERR_NULL_ARGUMENT);

    /* operations on NULL cursors */
    t = garbage_transfer();
    CHECK_ST(pr_reader_read(NULL, buf, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    CHECK_ST(pr_reader_read(NULL, NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_ST(pr_reader_skip(NULL, 0), PR_ERR_NULL_ARGUMENT);
    CHECK_EQ(pr_reader_remaining(NULL), 0);
    t = garbage_transfer();
    CHECK_ST(pr_writer_write(NULL, buf, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    CHECK_ST(pr_writer_write(NULL, NULL, 0, NULL), PR_ERR_NULL_ARGUMENT);
    t = garbage_transfer();
    CHECK_ST(pr_writer_fill(NULL, 0, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    CHECK_ST(pr_writer_fill(NULL, 0, 0, NULL), PR_ERR_NULL_ARGUMENT);
    CHECK_EQ(pr_writer_remaining(NULL), 0);

    /* NULL buffers on real cursors: refused for len > 0, cursor unmoved */
    CHECK_ST(pr_reader_new(r, mem, &rd_ok), PR_OK);
    CHECK_ST(pr_writer_new(r, mem, &w_ok), PR_OK);
    gr_reset_log(&g);
    t = garbage_transfer();
    CHECK_ST(pr_reader_read(rd_ok, NULL, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    t = garbage_transfer();
    CHECK_ST(pr_writer_write(w_ok, NULL, 1, &t), PR_ERR_NULL_ARGUMENT);
    CHECK_T_EMPTY(t);
    CHECK_ST(pr_reader_read(rd_ok, NULL, 0, NULL), PR_OK);
    CHECK_ST(pr_writer_write(w_ok, NULL, 0, NULL), PR_OK);
    CHECK_EQ(g.nlog, 0);
    CHECK_EQ(pr_reader_remaining(rd_ok), pr_range_len(r));
    CHECK_EQ(pr_writer_remaining(w_ok), pr_range_len(r));
    pr_reader_free(rd_ok);
    pr_writer_free(w_ok);

    pr_reader_free(NULL);
    pr_writer_free(NULL);
    pr_ranges_free(rs);
}

static void test_status_and_version(void)
{
    static const pr_status all[] = {PR_OK,
                                    PR_ERR_NULL_ARGUMENT,
                                    PR_ERR_OUT_OF_RANGE,
                                    PR_ERR_INVALID_GPN,
                                    PR_ERR_MEMORY,
                                    PR_ERR_BUFFER_TOO_SMALL,
                                    PR_ERR_INVALID_ARGUMENT,
                                    PR_ERR_ALLOCATION,
                                    PR_ERR_PANIC};
    const size_t n = sizeof all / sizeof all[0];
    const char *unknown = pr_status_str((pr_status)999);
    size_t i, j;

    /* the codes are the decided numbers */
    CHECK_EQ(PR_OK, 0);
    CHECK_EQ(PR_ERR_NULL_ARGUMENT, 1);
    CHECK_EQ(PR_ERR_OUT_OF_RANGE, 2);
    CHECK_EQ(PR_ERR_INVALID_GPN, 3);
    CHECK_EQ(PR_ERR_MEMORY, 4);
    CHECK_EQ(PR_ERR_BUFFER_TOO_SMALL, 5);
    CHECK_EQ(PR_ERR_INVALID_ARGUMENT, 6);
    CHECK_EQ(PR_ERR_ALLOCATION, 7);
    CHECK_EQ(PR_ERR_PANIC, 8);
    CHECK_EQ(sizeof(pr_status), 4);
    CHECK_EQ(PR_PAGE_SIZE, 4096);

    CHECK(unknown != NULL);
    CHECK(unknown != NULL && unknown[0] != '\0');
    CHECK(pr_status_str((pr_status)9) != NULL);
    CHECK(pr_status_str((pr_status)UINT32_MAX) != NULL);
    CHECK(pr_status_str((pr_status)0x80000000u) != NULL);
    for (i = 0; i < n; i++) {
        const char *s = pr_status_str(all[i]);
        CHECK(s != NULL);
        if (!s)
            continue;
        CHECK(s[0] != '\0');
        /* a known code has its own description, not the unknown one */
        CHECK(unknown == NULL || strcmp(s, unknown) != 0);
        for (j = 0; j < i; j++) {
            const char *o = pr_status_str(all[j]);
            CHECK(o == NULL || strcmp(s, o) != 0);
        }
        /* static: the same pointer every time */
        CHECK(pr_status_str(all[i]) == s);
    }

    {
        char want[64];
        const char *v = pr_version();
        snprintf(want, sizeof want, "%d.%d.%d", PR_VERSION_MAJOR, PR_VERSION_MINOR,
                 PR_VERSION_PATCH);
        CHECK(v != NULL);
        CHECK(v != NULL && strcmp(v, want) == 0);
        if (v && strcmp(v, want) != 0)
            fprintf(stderr, "  pr_version() = \"%s\", header says \"%s\"\n", v, want);
        CHECK_EQ(PR_VERSION_MAJOR, 0);
        CHECK_EQ(PR_VERSION_MINOR, 1);
        CHECK_EQ(PR_VERSION_PATCH, 0);
    }
}

int main(void)
{
    const uint64_t gpns[2] = {1, 2};
    pr_range *r;
    pr_memory *mem;

    gr_init(&g, 8);
    mem = gr_memory(&g, 1);
    r = tu_range(gpns, 2, 10, PS);

    test_memory();
    test_range(r, mem);
    test_ranges(r, mem);
    test_cursors(r, mem);
    test_status_and_version();

    pr_range_free(r);
    pr_memory_free(mem);
    gr_destroy(&g);
    return TEST_SUMMARY();
}
