/*
 * demo.c - a virtio-blk-like request handled with libpagedrange.
 *
 * The story: a guest driver wants to read 16 sectors (8 KiB) starting at
 * sector 42 of a virtual disk. It puts a request in its own memory and hands
 * the device a chain of descriptors, each one a (guest physical address,
 * length, flags) triple:
 *
 *   desc 0: the 16-byte request header {type, reserved, sector}  (driver wrote it)
 *   desc 1: first piece of the data buffer                         (device writes)
 *   desc 2: second piece of the data buffer                        (device writes)
 *   desc 3: the 1-byte status                                      (device writes)
 *
 * The data buffer is scattered: its two pieces sit on non-adjacent guest
 * pages (a buffer that is not physically contiguous arrives as one
 * descriptor per contiguous piece). None of the addresses are page aligned,
 * and the header even straddles a page boundary.
 *
 * The device side (this program) describes each descriptor as a pr_range
 * (a list of guest page numbers plus the offset into the first page), joins
 * the device-writable ones into one pr_ranges buffer, and then:
 *   1. parses the header through a pr_reader,
 *   2. writes the "sector data" through a pr_writer over the writable buffer,
 *   3. writes the status byte with the same writer (it is the last byte),
 *   4. prints the guest physical address (GPA) runs of every buffer.
 *
 * Guest RAM is simulated by a C array; the library reaches it only through
 * the read/write callbacks below, exactly as it would reach real guest
 * memory in a hypervisor. Build (after `cargo build --release`):
 *
 *   cc -std=c11 -Wall -Wextra -Iinclude examples/demo.c \
 *      -Ltarget/release -lpagedrange -Wl,-rpath,$PWD/target/release -o demo
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pagedrange.h"

/* ---------------------------------------------------------------------- */
/* Guest RAM: 16 pages at GPA 0, reached only through callbacks            */
/* ---------------------------------------------------------------------- */

#define GUEST_PAGES 16
#define GUEST_SIZE (GUEST_PAGES * PR_PAGE_SIZE)

static uint8_t guest_ram[GUEST_SIZE];

struct guest {
    uint8_t *ram;
    uint64_t size;
    unsigned reads, writes, fills; /* how often the library called us */
};

static int guest_read(void *ctx, uint64_t gpa, void *dst, size_t len)
{
    struct guest *g = ctx;
    if (gpa > g->size || len > g->size - gpa)
        return -14; /* -EFAULT: not guest RAM */
    memcpy(dst, g->ram + gpa, len);
    g->reads++;
    return 0;
}

static int guest_write(void *ctx, uint64_t gpa, const void *src, size_t len)
{
    struct guest *g = ctx;
    if (gpa > g->size || len > g->size - gpa)
        return -14;
    memcpy(g->ram + gpa, src, len);
    g->writes++;
    return 0;
}

static int guest_fill(void *ctx, uint64_t gpa, uint8_t value, size_t len)
{
    struct guest *g = ctx;
    if (gpa > g->size || len > g->size - gpa)
        return -14;
    memset(g->ram + gpa, value, len);
    g->fills++;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* The virtio-blk-like request                                             */
/* ---------------------------------------------------------------------- */

#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u /* the device writes this buffer */

#define VIRTIO_BLK_T_IN 0u /* read from the disk into guest memory */
#define VIRTIO_BLK_S_OK 0u
#define SECTOR_SIZE 512u

struct desc {
    uint64_t gpa;
    uint32_t len;
    uint16_t flags;
    const char *what;
};

/* The request header as the guest lays it out (little-endian). */
struct blk_req_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static const struct desc chain[] = {
    {0x1FF8, 16, VIRTQ_DESC_F_NEXT, "request header"},
    {0x5A00, 0x1500, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, "data, piece 1"},
    {0xC180, 0x0B00, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, "data, piece 2"},
    {0x9C03, 1, VIRTQ_DESC_F_WRITE, "status"},
};
#define CHAIN_LEN (sizeof chain / sizeof chain[0])

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

static int failed;

/* Reports a failed call; returns nonzero when `st` is not PR_OK. */
static int bad(pr_status st, const char *what)
{
    if (st == PR_OK)
        return 0;
    fprintf(stderr, "demo: %s failed: %s\n", what, pr_status_str(st));
    failed = 1;
    return 1;
}

/* A pr_range for one descriptor: the guest page numbers it touches and the
 * offset of its first byte within the first page. */
static pr_range *range_from_desc(const struct desc *d)
{
    uint64_t gpns[8];
    uint64_t first = d->gpa / PR_PAGE_SIZE;
    uint64_t last = (d->gpa + d->len - 1) / PR_PAGE_SIZE;
    size_t count = (size_t)(last - first + 1), i;
    pr_range *r = NULL;

    if (count > sizeof gpns / sizeof gpns[0]) {
        fprintf(stderr, "demo: descriptor too long for this demo\n");
        failed = 1;
        return NULL;
    }
    for (i = 0; i < count; i++)
        gpns[i] = first + i;
    if (bad(pr_range_new(gpns, count, (size_t)(d->gpa % PR_PAGE_SIZE), d->len, &r),
            "pr_range_new"))
        return NULL;
    return r; /* the library copied gpns[]; the array can go */
}

static void print_runs(const char *name, const pr_ranges *rs)
{
    pr_address_range runs[16];
    size_t n = 0, i;

    if (bad(pr_ranges_address_ranges(rs, runs, 16, &n), "pr_ranges_address_ranges"))
        return;
    printf("  %-13s %5zu byte%s in %zu run%s:", name, pr_ranges_len(rs),
           pr_ranges_len(rs) == 1 ? " " : "s", n, n == 1 ? " " : "s");
    for (i = 0; i < n; i++)
        printf(" [0x%05" PRIx64 "..0x%05" PRIx64 ")", runs[i].start, runs[i].end);
    printf("\n");
}

/* A pr_ranges holding a single range, to print it like the others. */
static pr_ranges *single(const pr_range *r)
{
    pr_ranges *rs = NULL;
    const pr_range *list[1];
    list[0] = r;
    bad(pr_ranges_new(list, 1, &rs), "pr_ranges_new");
    return rs;
}

/* The contents the "disk" returns for byte i of the request. */
static uint8_t disk_byte(uint64_t sector, size_t i)
{
    static char line[64];
    uint64_t s = sector + i / SECTOR_SIZE;
    int n = snprintf(line, sizeof line, "sector %" PRIu64 " ", s);
    return (uint8_t)line[(i % SECTOR_SIZE) % (size_t)n];
}

int main(void)
{
    struct guest g = {guest_ram, GUEST_SIZE, 0, 0, 0};
    pr_memory_ops ops = {.read = guest_read, .write = guest_write, .fill = guest_fill};
    pr_memory *mem = NULL;
    pr_range *ranges[CHAIN_LEN] = {NULL};
    pr_ranges *writable = NULL, *data = NULL, *header = NULL, *status = NULL;
    pr_reader *rd = NULL;
    pr_writer *w = NULL;
    struct blk_req_header hdr;
    uint8_t raw[16];
    size_t i, data_len = 0;
    pr_transfer t;

    printf("pagedrange %s: a virtio-blk-like read request\n\n", pr_version());

    /* --- the guest driver prepares its request ---------------------- */
    memset(guest_ram, 0xCC, sizeof guest_ram); /* stale contents */
    {
        const struct blk_req_header h = {VIRTIO_BLK_T_IN, 0, 42};
        memcpy(guest_ram + chain[0].gpa, &h, sizeof h); /* little-endian host */
    }
    printf("descriptor chain (GPA, length, flags):\n");
    for (i = 0; i < CHAIN_LEN; i++)
        printf("  desc %zu: GPA 0x%05" PRIx64 " len %4" PRIu32 " %-13s %s\n", i, chain[i].gpa,
               chain[i].len, chain[i].flags & VIRTQ_DESC_F_WRITE ? "device-writes" : "driver-wrote",
               chain[i].what);
    printf("\n");

    /* --- the device: one pr_memory for guest RAM, one pr_range per
     *     descriptor ------------------------------------------------------ */
    if (bad(pr_memory_new_callbacks(&ops, &g, &mem), "pr_memory_new_callbacks"))
        goto out;
    printf("as pr_range handles (guest page numbers + offset into the first page):\n");
    for (i = 0; i < CHAIN_LEN; i++) {
        size_t count = 0, k;
        const uint64_t *gpns;
        ranges[i] = range_from_desc(&chain[i]);
        if (!ranges[i])
            goto out;
        gpns = pr_range_gpns(ranges[i], &count);
        printf("  desc %zu: GPNs {", i);
        for (k = 0; k < count; k++)
            printf("%s0x%" PRIx64, k ? ", " : "", gpns[k]);
        printf("}, offset 0x%03zx, %zu byte%s\n", pr_range_offset(ranges[i]),
               pr_range_len(ranges[i]), pr_range_len(ranges[i]) == 1 ? "" : "s");
    }
    printf("\n");

    /* the device-writable descriptors, joined into one logical buffer:
     * bytes 0 .. 8191 are the data, byte 8192 is the status */
    if (bad(pr_ranges_new(NULL, 0, &writable), "pr_ranges_new") ||
        bad(pr_ranges_new(NULL, 0, &data), "pr_ranges_new"))
        goto out;
    for (i = 0; i < CHAIN_LEN; i++) {
        if (!(chain[i].flags & VIRTQ_DESC_F_WRITE))
            continue;
        if (bad(pr_ranges_push(writable, ranges[i]), "pr_ranges_push"))
            goto out;
        if (i != CHAIN_LEN - 1) {
            if (bad(pr_ranges_push(data, ranges[i]), "pr_ranges_push"))
                goto out;
            data_len += chain[i].len;
        }
    }

    /* --- 1. parse the header through a reader ------------------------- */
    if (bad(pr_reader_new(ranges[0], mem, &rd), "pr_reader_new") ||
        bad(pr_reader_read(rd, raw, sizeof raw, &t), "pr_reader_read"))
        goto out;
    memcpy(&hdr, raw, sizeof hdr);
    printf("header: type %" PRIu32 " (%s), sector %" PRIu64 "; %zu bytes read\n", hdr.type,
           hdr.type == VIRTIO_BLK_T_IN ? "IN = read from disk" : "?", hdr.sector, t.done);
    if (hdr.type != VIRTIO_BLK_T_IN) {
        fprintf(stderr, "demo: unexpected request type\n");
        failed = 1;
        goto out;
    }

    /* --- 2. write the sector data, one sector at a time ---------------- */
    if (bad(pr_ranges_writer_new(writable, mem, &w), "pr_ranges_writer_new"))
        goto out;
    printf("writable buffer: %zu bytes (%zu data + 1 status) in %zu descriptors\n",
           pr_ranges_len(writable), data_len, pr_ranges_count(writable));
    g.reads = g.writes = g.fills = 0;
    for (i = 0; i < data_len / SECTOR_SIZE; i++) {
        uint8_t sector[SECTOR_SIZE];
        size_t j;
        for (j = 0; j < SECTOR_SIZE; j++)
            sector[j] = disk_byte(hdr.sector, i * SECTOR_SIZE + j);
        if (bad(pr_writer_write(w, sector, sizeof sector, &t), "pr_writer_write")) {
            fprintf(stderr, "demo: sector %zu: %zu bytes done, fault at GPA 0x%" PRIx64
                            " code %d\n", i, t.done, t.fault_gpa, t.fault_code);
            goto out;
        }
    }
    printf("data: %zu sectors written with %u write callbacks (a sector split between\n"
           "      two descriptors takes two; crossing into an adjacent page takes one)\n",
           data_len / SECTOR_SIZE, g.writes);

    /* --- 3. the status byte is what the writer has left ---------------- */
    printf("writer has %zu byte left: the status\n", pr_writer_remaining(w));
    {
        const uint8_t st = VIRTIO_BLK_S_OK;
        if (bad(pr_writer_write(w, &st, 1, &t), "pr_writer_write (status)"))
            goto out;
    }

    /* --- 4. where did everything go? ----------------------------------- */
    header = single(ranges[0]);
    status = single(ranges[CHAIN_LEN - 1]);
    if (!header || !status)
        goto out;
    printf("\nguest physical address runs (one memory callback per run):\n");
    print_runs("header", header);
    print_runs("data", data);
    print_runs("status", status);
    print_runs("all writable", writable);

    /* --- check from the guest's point of view -------------------------- */
    {
        size_t pos = 0, bad_bytes = 0;
        for (i = 1; i < CHAIN_LEN - 1; i++) {
            size_t j;
            for (j = 0; j < chain[i].len; j++, pos++)
                if (guest_ram[chain[i].gpa + j] != disk_byte(42, pos))
                    bad_bytes++;
        }
        if (bad_bytes || guest_ram[chain[CHAIN_LEN - 1].gpa] != VIRTIO_BLK_S_OK ||
            guest_ram[chain[1].gpa - 1] != 0xCC ||
            guest_ram[chain[1].gpa + chain[1].len] != 0xCC) {
            fprintf(stderr, "demo: guest memory check failed (%zu bad bytes)\n", bad_bytes);
            failed = 1;
            goto out;
        }
        printf("\nguest sees: \"%.24s...\" at GPA 0x%05" PRIx64 ", status byte %u (OK)\n",
               (const char *)guest_ram + chain[1].gpa, chain[1].gpa,
               guest_ram[chain[CHAIN_LEN - 1].gpa]);
    }
    printf("summary: sectors %" PRIu64 "..%" PRIu64 " read: %zu data bytes and 1 status byte "
           "written to %zu scattered descriptors in %u callback calls; OK\n",
           hdr.sector, hdr.sector + data_len / SECTOR_SIZE - 1, data_len, (size_t)CHAIN_LEN - 1,
           g.reads + g.writes + g.fills);

out:
    /* handles can be freed in any order */
    pr_reader_free(rd);
    pr_writer_free(w);
    pr_ranges_free(header);
    pr_ranges_free(status);
    pr_ranges_free(data);
    pr_ranges_free(writable);
    for (i = 0; i < CHAIN_LEN; i++)
        pr_range_free(ranges[i]);
    pr_memory_free(mem);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
