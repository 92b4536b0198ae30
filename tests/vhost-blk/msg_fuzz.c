/*
 * msg_fuzz.c - random and mutated vhost-user messages into vu_msg_parse
 * (examples/vhost-user-blk/vu_msg.c), built with ASan/UBSan by
 * tests/vhost-blk/msg-fuzz.sh. Checks, besides "no crash, no out-of-bounds
 * access": a message is accepted only with the descriptor count its request
 * takes (never more than VU_MAX_FDS), the size field equals the payload,
 * vring indexes are below the queue count, and accepted regions do not
 * overflow. Deterministic (xorshift seed from argv).
 *
 *   msg_fuzz [iterations] [seed]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vu_msg.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* A plausible message of a random request, to mutate. */
static size_t seed_msg(uint8_t *buf, size_t cap, size_t *nfds) {
    static const uint32_t reqs[] = {1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                                    18, 21, 24, 25, 36, 37, 38, 99, 0, 40};
    uint32_t req = reqs[next() % (sizeof reqs / sizeof reqs[0])];
    uint32_t size = 0;
    memset(buf, 0, cap);
    *nfds = 0;
    switch (req) {
    case 2: case 16: size = 8; put64(buf + 12, next()); break;
    case 8: case 10: case 11: case 18:
        size = 8; put32(buf + 12, (uint32_t)(next() % 4)); put32(buf + 16, 1u << (next() % 17));
        break;
    case 9: size = 40; put32(buf + 12, (uint32_t)(next() % 3)); break;
    case 12: case 13: case 14: size = 8; put64(buf + 12, next() % 0x200); *nfds = next() % 2; break;
    case 5: {
        uint32_t n = (uint32_t)(next() % 10);
        size = 8 + 32 * n;
        put32(buf + 12, n);
        for (uint32_t i = 0; i < n && 20 + 32 * i + 32 <= cap; i++) {
            put64(buf + 20 + 32 * i, next() & 0xffffffffff000ull);
            put64(buf + 28 + 32 * i, next() % 0x100000000ull);
            put64(buf + 36 + 32 * i, next());
            put64(buf + 44 + 32 * i, next() % 3 ? 0 : next());
        }
        *nfds = n;
        break;
    }
    case 6: size = 16; put64(buf + 12, next() % 0x10000); put64(buf + 20, next() % 64); *nfds = 1; break;
    case 24: case 25: {
        uint32_t sz = (uint32_t)(next() % 300);
        size = 12 + sz;
        put32(buf + 12, (uint32_t)(next() % 300));
        put32(buf + 16, sz);
        break;
    }
    case 37: case 38:
        size = 40;
        put64(buf + 20, next());
        put64(buf + 28, next() % 0x100000);
        put64(buf + 36, next());
        put64(buf + 44, next() % 2 ? 0 : next());
        *nfds = 1;
        break;
    case 21: *nfds = 1; break;
    default: break;
    }
    if (size + 12 > cap)
        size = (uint32_t)(cap - 12);
    put32(buf, req);
    put32(buf + 4, 1u | (next() % 2 ? 8u : 0u));
    put32(buf + 8, size);
    return 12 + size;
}

int main(int argc, char **argv) {
    unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    if (argc > 2)
        rng = strtoull(argv[2], NULL, 0) | 1;
    static uint8_t buf[VU_HDR_SIZE + VU_MAX_PAYLOAD + 64];
    int fds[64];
    for (int i = 0; i < 64; i++)
        fds[i] = 100 + i;
    const struct vu_parse_limits lim = {.queues = 2};
    unsigned long ok = 0, counts[4] = {0};
    for (unsigned long it = 0; it < iters; it++) {
        size_t nfds = 0;
        size_t len = seed_msg(buf, sizeof buf - 64, &nfds);
        /* Mutations: flip bytes, change the length, the fd count. */
        unsigned muts = (unsigned)(next() % 4);
        for (unsigned m = 0; m < muts; m++) {
            switch (next() % 5) {
            case 0: buf[next() % (len ? len : 1)] ^= (uint8_t)(1u << (next() % 8)); break;
            case 1: buf[next() % (len ? len : 1)] = (uint8_t)next(); break;
            case 2: len = next() % (sizeof buf - 64); break;
            case 3: nfds = next() % 40; break;
            case 4: put32(buf + 8, (uint32_t)(len >= 12 ? len - 12 : 0) + (uint32_t)(next() % 3) - 1);
                break;
            }
        }
        /* The parser must only read `len` bytes: copy to an exact-size heap
         * block so ASan catches an overread. */
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        struct vu_msg m;
        char why[128];
        int r = vu_msg_parse(exact, len, fds, nfds, &lim, &m, why, sizeof why);
        counts[-r]++;
        if (r == VU_PARSE_OK) {
            ok++;
            uint32_t size;
            memcpy(&size, exact + 8, 4);
            if (m.nfds != nfds || nfds > VU_MAX_FDS || len != 12u + size) {
                fprintf(stderr, "msg_fuzz: accepted %s with %zu fds, len %zu size %u\n",
                        vu_request_name(m.request), nfds, len, size);
                return 1;
            }
            for (unsigned i = 0; i < m.nfds; i++)
                if (m.fds[i] != fds[i])
                    return 1;
            uint32_t idx = UINT32_MAX;
            switch (m.request) {
            case VU_SET_VRING_NUM: case VU_SET_VRING_BASE: case VU_GET_VRING_BASE:
            case VU_SET_VRING_ENABLE: idx = m.p.state.index; break;
            case VU_SET_VRING_ADDR: idx = m.p.addr.index; break;
            case VU_SET_VRING_KICK: case VU_SET_VRING_CALL: case VU_SET_VRING_ERR:
                idx = m.p.file.index; break;
            case VU_ADD_MEM_REGION:
                if (m.p.region.memory_size == 0 ||
                    m.p.region.guest_phys_addr + (m.p.region.memory_size - 1) <
                        m.p.region.guest_phys_addr ||
                    m.p.region.mmap_offset + m.p.region.memory_size < m.p.region.mmap_offset) {
                    fprintf(stderr, "msg_fuzz: accepted an overflowing region\n");
                    return 1;
                }
                break;
            case VU_GET_CONFIG: case VU_SET_CONFIG:
                if (m.p.config.offset + m.p.config.size > VU_CONFIG_SPACE_MAX) {
                    fprintf(stderr, "msg_fuzz: accepted config beyond its space\n");
                    return 1;
                }
                break;
            default: break;
            }
            if (idx != UINT32_MAX && idx >= lim.queues) {
                fprintf(stderr, "msg_fuzz: accepted vring index %u\n", idx);
                return 1;
            }
        } else if (why[0] == '\0') {
            fprintf(stderr, "msg_fuzz: refused without a reason\n");
            return 1;
        }
        free(exact);
    }
    printf("msg_fuzz: %lu messages: %lu accepted, %lu framing errors, %lu unknown, %lu invalid\n",
           iters, ok, counts[1], counts[2], counts[3]);
    return 0;
}
