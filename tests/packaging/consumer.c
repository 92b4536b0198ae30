/*
 * consumer.c - a program using an *installed* libpagedrange, built out of
 * tree by scripts/test-packaging.sh (through find_package and through
 * pkg-config, shared and static). It checks that the installed header, the
 * library and the package metadata agree, and that a few calls work through
 * a callback memory. Exit status 0 on success, 1 on any failure.
 *
 * PR_EXPECTED_VERSION (a string) is the version the build system found
 * (pagedrange_VERSION or `pkg-config --modversion pagedrange`).
 */
#include <pagedrange.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifndef PR_EXPECTED_VERSION
#error "build with -DPR_EXPECTED_VERSION=\"X.Y.Z\""
#endif

#define GUEST_PAGES 4
#define FAULT_CODE 77

/* Guest RAM for the callbacks: GPA 0 .. GUEST_PAGES * 4096. */
struct guest {
    uint8_t ram[GUEST_PAGES * PR_PAGE_SIZE];
    uint64_t fail_gpa; /* an access covering this GPA fails (UINT64_MAX: none) */
    unsigned calls;
};

static int guest_check(struct guest *g, uint64_t gpa, size_t len)
{
    g->calls++;
    if (gpa > sizeof g->ram || len > sizeof g->ram - gpa)
        return -14;
    if (g->fail_gpa >= gpa && g->fail_gpa - gpa < len)
        return FAULT_CODE;
    return 0;
}

static int guest_read(void *ctx, uint64_t gpa, void *dst, size_t len)
{
    struct guest *g = ctx;
    int rc = guest_check(g, gpa, len);
    if (rc == 0)
        memcpy(dst, g->ram + gpa, len);
    return rc;
}

static int guest_write(void *ctx, uint64_t gpa, const void *src, size_t len)
{
    struct guest *g = ctx;
    int rc = guest_check(g, gpa, len);
    if (rc == 0)
        memcpy(g->ram + gpa, src, len);
    return rc;
}

static int failures;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            failures++;                                                         \
            fprintf(stderr, "consumer.c:%d: check failed: %s\n", __LINE__, #cond); \
        }                                                                       \
    } while (0)

static struct guest g;

int main(void)
{
    char header_version[32];
    pr_memory_ops ops;
    pr_memory *mem = NULL;
    pr_range *range = NULL;
    pr_ranges_builder *b = NULL;
    pr_ranges *rs = NULL;
    pr_writer *w = NULL;
    pr_transfer t;
    uint8_t src[300], dst[300];
    /* Pages 3 and 1: the 300 bytes from 4000 bytes into page 3 are two
     * runs, GPA 3*4096+4000 .. 4*4096 and 1*4096 .. 1*4096+204. */
    const uint64_t gpns[2] = {3, 1};
    size_t i;

    /* The installed header, library and package metadata agree. */
    snprintf(header_version, sizeof header_version, "%d.%d.%d", PR_VERSION_MAJOR,
             PR_VERSION_MINOR, PR_VERSION_PATCH);
    CHECK(strcmp(header_version, PR_EXPECTED_VERSION) == 0);
    CHECK(strcmp(pr_version(), PR_EXPECTED_VERSION) == 0);

    g.fail_gpa = UINT64_MAX;
    memset(&ops, 0, sizeof ops);
    ops.read = guest_read;
    ops.write = guest_write; /* no fill: the library fills through write */
    CHECK(pr_memory_new_callbacks(&ops, &g, &mem) == PR_OK);
    CHECK(pr_range_new(gpns, 2, 4000, sizeof src, &range) == PR_OK);
    if (!mem || !range) {
        fprintf(stderr, "consumer: setup failed\n");
        return 1;
    }
    CHECK(pr_range_len(range) == sizeof src);

    /* Write then read back, one callback per run. */
    for (i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 13 + 5);
    CHECK(pr_range_write(range, mem, src, sizeof src, &t) == PR_OK && t.done == sizeof src);
    CHECK(memcmp(g.ram + 3 * PR_PAGE_SIZE + 4000, src, 96) == 0);
    CHECK(memcmp(g.ram + 1 * PR_PAGE_SIZE, src + 96, 204) == 0);
    g.calls = 0;
    CHECK(pr_range_read(range, mem, dst, sizeof dst, &t) == PR_OK && t.done == sizeof dst);
    CHECK(g.calls == 2);
    CHECK(memcmp(src, dst, sizeof src) == 0);

    /* A failing callback: the status, the fault address and code. */
    g.fail_gpa = 1 * PR_PAGE_SIZE + 10;
    CHECK(pr_range_read(range, mem, dst, sizeof dst, &t) == PR_ERR_MEMORY);
    CHECK(t.done == 96 && t.fault_gpa == 1 * PR_PAGE_SIZE && t.fault_code == FAULT_CODE);
    g.fail_gpa = UINT64_MAX;

    /* A descriptor chain through the builder, filled through a cursor. */
    CHECK(pr_ranges_builder_new(NULL, &b) == PR_OK);
    CHECK(pr_ranges_builder_push(b, 2 * PR_PAGE_SIZE + 100, 50, NULL) == PR_OK);
    CHECK(pr_ranges_builder_push(b, 0, 30, NULL) == PR_OK);
    CHECK(pr_ranges_builder_finish(b, &rs) == PR_OK);
    CHECK(pr_ranges_len(rs) == 80 && pr_ranges_count(rs) == 2);
    CHECK(pr_ranges_writer_new(rs, mem, &w) == PR_OK);
    CHECK(pr_writer_fill(w, 0xAB, 60, &t) == PR_OK && t.done == 60);
    CHECK(pr_writer_remaining(w) == 20);
    CHECK(g.ram[2 * PR_PAGE_SIZE + 149] == 0xAB && g.ram[9] == 0xAB && g.ram[10] == 0);

    CHECK(strcmp(pr_status_str(PR_OK), pr_status_str(PR_ERR_MEMORY)) != 0);

    pr_writer_free(w);
    pr_ranges_free(rs);
    pr_ranges_builder_free(b);
    pr_range_free(range);
    pr_memory_free(mem);

    printf("consumer: pagedrange %s, %d failed -> %s\n", pr_version(), failures,
           failures ? "FAIL" : "OK");
    return failures ? 1 : 0;
}
