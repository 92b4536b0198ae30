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
 * The data buffer is scattered over non-adjacent guest pages, the header
 * straddles a page boundary, and the status byte sits in the middle of a
 * page of its own.
 *
 * The device side (this program):
 *   1. feeds the descriptors to a pr_ranges_builder, which turns them into
 *      the fewest windows over guest pages: one pr_ranges buffer for the
 *      whole request, bytes  header (16) | data (8192) | status (1);
 *   2. parses the header through a pr_reader over that buffer;
 *   3. opens a pr_writer over the buffer, steps over the header, and hands
 *      the data part to a limited writer (pr_writer_limit), as a device
 *      would hand it to its disk backend; the parent writer is left
 *      standing at the status byte;
 *   4. the "backend" writes the sectors through the limited writer; the
 *      device then writes the status byte through the parent;
 *   5. prints where every byte went (guest physical address runs).
 *
 * Guest RAM is simulated by a C array; the library reaches it only through
 * the read/write/fill callbacks below, exactly as it would reach real guest
 * memory in a hypervisor. Build (after `cargo build --release`):
 *
 *   cc -std=c11 -Wall -Wextra -Iinclude examples/demo.c \
 *      -Ltarget/release -lpagedrange -Wl,-rpath,$PWD/target/release -o demo
 *
 * (the shared library's SONAME is libpagedrange.so.0: give it that name
 * too, e.g. `ln -s libpagedrange.so target/release/libpagedrange.so.0`, or
 * link target/release/libpagedrange.a with -lpthread -ldl -lm instead).
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
#define HEADER_SIZE 16u
#define STATUS_SIZE 1u

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

/* Piece 1 of the data ends exactly on a page boundary (0x7000) and piece 2
 * starts on one (0xC000): the builder joins them into one window, since
 * whole pages just follow each other in a window's page list. The other
 * descriptors start new windows. */
static const struct desc chain[] = {
    {0x1FF8, HEADER_SIZE, VIRTQ_DESC_F_NEXT, "request header"},
    {0x5A00, 0x1600, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, "data, piece 1"},
    {0xC000, 0x0A00, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, "data, piece 2"},
    {0x9C03, STATUS_SIZE, VIRTQ_DESC_F_WRITE, "status"},
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

/* Prints the guest physical address runs of a range on one line. */
static void print_range_runs(const pr_range *r)
{
    pr_address_range runs[8];
    size_t n = 0, i;

    if (bad(pr_range_address_ranges(r, runs, 8, &n), "pr_range_address_ranges"))
        return;
    for (i = 0; i < n; i++)
        printf(" [0x%05" PRIx64 "..0x%05" PRIx64 ")", runs[i].start, runs[i].end);
    printf("\n");
}

/* Prints every window of the request: which request bytes it holds, its
 * guest page numbers and its guest physical address runs. */
static void print_windows(const pr_ranges *req)
{
    size_t i, count = pr_ranges_count(req), at = 0;

    for (i = 0; i < count; i++) {
        pr_range *w = NULL;
        const uint64_t *gpns;
        size_t npages = 0, k;

        if (bad(pr_ranges_get(req, i, &w), "pr_ranges_get"))
            return;
        gpns = pr_range_gpns(w, &npages);
        printf("  window %zu: request bytes %4zu..%4zu, GPNs {", i, at,
               at + pr_range_len(w) - 1);
        for (k = 0; k < npages; k++)
            printf("%s0x%" PRIx64, k ? ", " : "", gpns[k]);
        printf("} from offset 0x%03zx\n             runs:", pr_range_offset(w));
        print_range_runs(w);
        at += pr_range_len(w);
        pr_range_free(w);
    }
}

/* The contents the "disk" returns for byte i of the request. */
static uint8_t disk_byte(uint64_t sector, size_t i)
{
    static char line[64];
    uint64_t s = sector + i / SECTOR_SIZE;
    int n = snprintf(line, sizeof line, "sector %" PRIu64 " ", s);
    return (uint8_t)line[(i % SECTOR_SIZE) % (size_t)n];
}

/* The disk backend: fills the data part of a request, one sector at a time,
 * through the writer it was handed. It knows nothing about headers, status
 * bytes or descriptors: it just writes until its writer is full. */
static int backend_read_sectors(pr_writer *data, uint64_t first_sector)
{
    size_t i, sectors = pr_writer_remaining(data) / SECTOR_SIZE;
    pr_transfer t;

    for (i = 0; i < sectors; i++) {
        uint8_t sector[SECTOR_SIZE];
        size_t j;
        for (j = 0; j < SECTOR_SIZE; j++)
            sector[j] = disk_byte(first_sector, i * SECTOR_SIZE + j);
        if (bad(pr_writer_write(data, sector, sizeof sector, &t), "pr_writer_write (data)")) {
            fprintf(stderr, "demo: sector %zu: %zu bytes done, fault at GPA 0x%" PRIx64
                            " code %d\n", i, t.done, t.fault_gpa, t.fault_code);
            return -1;
        }
    }
    /* a limited writer cannot run past the data part into the status byte */
    {
        const uint8_t extra = 0xEE;
        if (pr_writer_write(data, &extra, 1, &t) != PR_ERR_OUT_OF_RANGE) {
            fprintf(stderr, "demo: the data writer went past the data part\n");
            failed = 1;
            return -1;
        }
    }
    return 0;
}

int main(void)
{
    struct guest g = {guest_ram, GUEST_SIZE, 0, 0, 0};
    pr_memory_ops ops = {.read = guest_read, .write = guest_write, .fill = guest_fill};
    pr_memory *mem = NULL;
    pr_ranges_builder *builder = NULL;
    pr_ranges *req = NULL;
    pr_reader *rd = NULL;
    pr_writer *w = NULL, *header_part = NULL, *data_part = NULL;
    struct blk_req_header hdr;
    uint8_t raw[HEADER_SIZE];
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

    /* --- the device checks the chain's shape: a read-only header, then
     *     only device-writable descriptors ----------------------------- */
    for (i = 0; i < CHAIN_LEN; i++) {
        int writable = (chain[i].flags & VIRTQ_DESC_F_WRITE) != 0;
        if (writable != (i > 0)) {
            fprintf(stderr, "demo: descriptor %zu has the wrong direction\n", i);
            return EXIT_FAILURE;
        }
    }

    /* --- 1. the whole request as one buffer, built from the chain ------ */
    if (bad(pr_memory_new_callbacks(&ops, &g, &mem), "pr_memory_new_callbacks") ||
        bad(pr_ranges_builder_new(NULL, &builder), "pr_ranges_builder_new"))
        goto out;
    for (i = 0; i < CHAIN_LEN; i++) {
        size_t bad_desc = 0;
        pr_status st = pr_ranges_builder_push(builder, chain[i].gpa, chain[i].len, &bad_desc);
        if (st != PR_OK) {
            /* a hostile chain (too long, address overflow) is refused here,
             * naming the descriptor that broke the rule */
            fprintf(stderr, "demo: descriptor %zu refused: %s\n", bad_desc, pr_status_str(st));
            failed = 1;
            goto out;
        }
    }
    if (bad(pr_ranges_builder_finish(builder, &req), "pr_ranges_builder_finish"))
        goto out;
    printf("the builder made %zu descriptors into %zu windows (%zu bytes):\n", (size_t)CHAIN_LEN,
           pr_ranges_count(req), pr_ranges_len(req));
    print_windows(req);
    printf("\n");

    if (pr_ranges_len(req) < HEADER_SIZE + STATUS_SIZE) {
        fprintf(stderr, "demo: request too short\n");
        failed = 1;
        goto out;
    }
    data_len = pr_ranges_len(req) - HEADER_SIZE - STATUS_SIZE;
    if (data_len % SECTOR_SIZE != 0) {
        fprintf(stderr, "demo: data part of %zu bytes is not whole sectors\n", data_len);
        failed = 1;
        goto out;
    }

    /* --- 2. parse the header through a reader ------------------------- */
    if (bad(pr_ranges_reader_new(req, mem, &rd), "pr_ranges_reader_new") ||
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

    /* --- 3. split a writer: header (skipped) | data (to the backend) |
     *        status (stays with the device) ----------------------------- */
    if (bad(pr_ranges_writer_new(req, mem, &w), "pr_ranges_writer_new") ||
        bad(pr_writer_limit(w, HEADER_SIZE, &header_part), "pr_writer_limit (header)") ||
        bad(pr_writer_limit(w, data_len, &data_part), "pr_writer_limit (data)"))
        goto out;
    pr_writer_free(header_part); /* the device does not write the header */
    header_part = NULL;
    printf("writer split: data part %zu bytes for the backend, %zu byte left for the status\n",
           pr_writer_remaining(data_part), pr_writer_remaining(w));

    /* --- 4. the backend writes the sectors; then the status ----------- */
    g.reads = g.writes = g.fills = 0;
    if (backend_read_sectors(data_part, hdr.sector) != 0)
        goto out;
    printf("data: %zu sectors written by the backend with %u write callbacks (a sector\n"
           "      split between two guest runs would take two)\n",
           data_len / SECTOR_SIZE, g.writes);
    {
        const uint8_t st = VIRTIO_BLK_S_OK;
        if (bad(pr_writer_write(w, &st, 1, &t), "pr_writer_write (status)"))
            goto out;
    }
    printf("status: written through the parent writer (%zu bytes left)\n",
           pr_writer_remaining(w));

    /* --- 5. where did everything go? ----------------------------------- */
    {
        pr_address_range runs[8];
        size_t n = 0;
        if (bad(pr_ranges_address_ranges(req, runs, 8, &n), "pr_ranges_address_ranges"))
            goto out;
        printf("\nguest physical address runs of the whole request (a transfer makes one\n"
               "memory callback per run it touches):");
        for (i = 0; i < n; i++)
            printf("%s[0x%05" PRIx64 "..0x%05" PRIx64 ")", i % 3 ? " " : "\n  ", runs[i].start,
                   runs[i].end);
        printf("\n");
    }

    /* --- check from the guest's point of view -------------------------- */
    {
        size_t pos = 0, bad_bytes = 0;
        for (i = 1; i < CHAIN_LEN - 1; i++) {
            size_t j;
            for (j = 0; j < chain[i].len; j++, pos++)
                if (guest_ram[chain[i].gpa + j] != disk_byte(hdr.sector, pos))
                    bad_bytes++;
        }
        if (bad_bytes || pos != data_len ||
            guest_ram[chain[CHAIN_LEN - 1].gpa] != VIRTIO_BLK_S_OK ||
            guest_ram[chain[CHAIN_LEN - 1].gpa - 1] != 0xCC ||
            guest_ram[chain[CHAIN_LEN - 1].gpa + 1] != 0xCC ||
            guest_ram[chain[1].gpa - 1] != 0xCC ||
            guest_ram[chain[2].gpa + chain[2].len] != 0xCC) {
            fprintf(stderr, "demo: guest memory check failed (%zu bad bytes)\n", bad_bytes);
            failed = 1;
            goto out;
        }
        printf("\nguest sees: \"%.24s...\" at GPA 0x%05" PRIx64 ", status byte %u (OK)\n",
               (const char *)guest_ram + chain[1].gpa, chain[1].gpa,
               guest_ram[chain[CHAIN_LEN - 1].gpa]);
    }
    printf("summary: sectors %" PRIu64 "..%" PRIu64 " read: %zu data bytes and 1 status byte "
           "written to %zu scattered descriptors; OK\n",
           hdr.sector, hdr.sector + data_len / SECTOR_SIZE - 1, data_len, (size_t)CHAIN_LEN - 1);

out:
    /* handles can be freed in any order: cursors keep what they use alive */
    pr_ranges_builder_free(builder);
    pr_ranges_free(req);
    pr_reader_free(rd);
    pr_writer_free(header_part);
    pr_writer_free(data_part);
    pr_writer_free(w);
    pr_memory_free(mem);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
