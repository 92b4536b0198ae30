/*
 * vu_msg.c - validation of vhost-user messages (see vu_msg.h).
 *
 * Everything here is a pure function of its arguments: bytes and
 * descriptor numbers in, a checked message or a reason out.
 */
#include "vu_msg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(int result, char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int result, char *why, size_t why_len, const char *fmt, ...) {
    if (why != NULL && why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return result;
}

const char *vu_request_name(uint32_t request) {
    switch (request) {
    case VU_GET_FEATURES: return "GET_FEATURES";
    case VU_SET_FEATURES: return "SET_FEATURES";
    case VU_SET_OWNER: return "SET_OWNER";
    case VU_RESET_OWNER: return "RESET_OWNER";
    case VU_SET_MEM_TABLE: return "SET_MEM_TABLE";
    case VU_SET_LOG_BASE: return "SET_LOG_BASE";
    case VU_SET_LOG_FD: return "SET_LOG_FD";
    case VU_SET_VRING_NUM: return "SET_VRING_NUM";
    case VU_SET_VRING_ADDR: return "SET_VRING_ADDR";
    case VU_SET_VRING_BASE: return "SET_VRING_BASE";
    case VU_GET_VRING_BASE: return "GET_VRING_BASE";
    case VU_SET_VRING_KICK: return "SET_VRING_KICK";
    case VU_SET_VRING_CALL: return "SET_VRING_CALL";
    case VU_SET_VRING_ERR: return "SET_VRING_ERR";
    case VU_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
    case VU_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
    case VU_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
    case VU_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
    case VU_SEND_RARP: return "SEND_RARP";
    case VU_NET_SET_MTU: return "NET_SET_MTU";
    case VU_SET_BACKEND_REQ_FD: return "SET_BACKEND_REQ_FD";
    case VU_IOTLB_MSG: return "IOTLB_MSG";
    case VU_SET_VRING_ENDIAN: return "SET_VRING_ENDIAN";
    case VU_GET_CONFIG: return "GET_CONFIG";
    case VU_SET_CONFIG: return "SET_CONFIG";
    case VU_GET_INFLIGHT_FD: return "GET_INFLIGHT_FD";
    case VU_SET_INFLIGHT_FD: return "SET_INFLIGHT_FD";
    case VU_RESET_DEVICE: return "RESET_DEVICE";
    case VU_GET_MAX_MEM_SLOTS: return "GET_MAX_MEM_SLOTS";
    case VU_ADD_MEM_REGION: return "ADD_MEM_REGION";
    case VU_REM_MEM_REGION: return "REM_MEM_REGION";
    case VU_SET_STATUS: return "SET_STATUS";
    case VU_GET_STATUS: return "GET_STATUS";
    default: return "UNKNOWN";
    }
}

int vu_request_has_reply(uint32_t request) {
    switch (request) {
    case VU_GET_FEATURES:
    case VU_GET_PROTOCOL_FEATURES:
    case VU_GET_VRING_BASE:
    case VU_GET_QUEUE_NUM:
    case VU_GET_CONFIG:
    case VU_GET_MAX_MEM_SLOTS:
        return 1;
    default:
        return 0;
    }
}

/* a + b without wrapping past 2^64. */
static int add_overflows(uint64_t a, uint64_t b) { return a + b < a; }

static int check_region(const struct vu_region *r, char *why, size_t why_len) {
    if (r->memory_size == 0)
        return fail(VU_PARSE_INVALID, why, why_len, "memory region of size 0");
    if (add_overflows(r->guest_phys_addr, r->memory_size - 1))
        return fail(VU_PARSE_INVALID, why, why_len,
                    "memory region guest_phys_addr 0x%llx + size 0x%llx overflows",
                    (unsigned long long)r->guest_phys_addr, (unsigned long long)r->memory_size);
    if (add_overflows(r->userspace_addr, r->memory_size - 1))
        return fail(VU_PARSE_INVALID, why, why_len,
                    "memory region userspace_addr 0x%llx + size 0x%llx overflows",
                    (unsigned long long)r->userspace_addr, (unsigned long long)r->memory_size);
    if (add_overflows(r->mmap_offset, r->memory_size))
        return fail(VU_PARSE_INVALID, why, why_len,
                    "memory region mmap_offset 0x%llx + size 0x%llx overflows",
                    (unsigned long long)r->mmap_offset, (unsigned long long)r->memory_size);
    return VU_PARSE_OK;
}

static int check_index(uint32_t index, const struct vu_parse_limits *limits, char *why,
                       size_t why_len) {
    if (index >= limits->queues)
        return fail(VU_PARSE_INVALID, why, why_len, "vring index %u, device has %u queue(s)",
                    index, limits->queues);
    return VU_PARSE_OK;
}

int vu_msg_parse(const uint8_t *bytes, size_t len, const int *fds, size_t nfds,
                 const struct vu_parse_limits *limits, struct vu_msg *out, char *why,
                 size_t why_len) {
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (out == NULL || limits == NULL)
        return fail(VU_PARSE_FRAMING, why, why_len, "internal: NULL argument");
    memset(out, 0, sizeof *out);
    out->nfds = 0;
    if (bytes == NULL || len < VU_HDR_SIZE)
        return fail(VU_PARSE_FRAMING, why, why_len, "message of %zu bytes, shorter than a header",
                    len);
    memcpy(&out->request, bytes, 4);
    memcpy(&out->flags, bytes + 4, 4);
    memcpy(&out->size, bytes + 8, 4);
    const uint32_t req = out->request, size = out->size;
    if ((out->flags & VU_FLAG_VERSION_MASK) != VU_VERSION)
        return fail(VU_PARSE_FRAMING, why, why_len, "%s: protocol version %u, expected %u",
                    vu_request_name(req), out->flags & VU_FLAG_VERSION_MASK, VU_VERSION);
    if (out->flags & VU_FLAG_REPLY)
        return fail(VU_PARSE_FRAMING, why, why_len, "%s: a reply sent to the backend",
                    vu_request_name(req));
    if (size > VU_MAX_PAYLOAD)
        return fail(VU_PARSE_FRAMING, why, why_len, "%s: size field %u above the limit %u",
                    vu_request_name(req), size, VU_MAX_PAYLOAD);
    if (len != VU_HDR_SIZE + (size_t)size)
        return fail(VU_PARSE_FRAMING, why, why_len, "%s: size field %u but %zu payload bytes",
                    vu_request_name(req), size, len - VU_HDR_SIZE);
    if (nfds > 0 && fds == NULL)
        return fail(VU_PARSE_FRAMING, why, why_len, "internal: fds NULL");
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] < 0)
            return fail(VU_PARSE_FRAMING, why, why_len, "internal: negative fd");

    const uint8_t *payload = bytes + VU_HDR_SIZE;
    size_t want_size = 0; /* exact payload size; SIZE_MAX = checked below */
    unsigned want_fds = 0;
    int rc;

    switch (req) {
    case VU_GET_FEATURES:
    case VU_GET_PROTOCOL_FEATURES:
    case VU_SET_OWNER:
    case VU_RESET_OWNER:
    case VU_GET_QUEUE_NUM:
    case VU_GET_MAX_MEM_SLOTS:
        want_size = 0;
        break;
    case VU_SET_FEATURES:
    case VU_SET_PROTOCOL_FEATURES:
        want_size = 8;
        break;
    case VU_SET_VRING_NUM:
    case VU_SET_VRING_BASE:
    case VU_GET_VRING_BASE:
    case VU_SET_VRING_ENABLE:
        want_size = sizeof(struct vu_vring_state);
        break;
    case VU_SET_VRING_ADDR:
        want_size = sizeof(struct vu_vring_addr);
        break;
    case VU_SET_VRING_KICK:
    case VU_SET_VRING_CALL:
    case VU_SET_VRING_ERR:
        want_size = 8;
        break;
    case VU_SET_MEM_TABLE:
        want_size = SIZE_MAX;
        break;
    case VU_SET_LOG_BASE:
        want_size = sizeof(struct vu_log);
        want_fds = 1;
        break;
    case VU_GET_CONFIG:
    case VU_SET_CONFIG:
        want_size = SIZE_MAX;
        break;
    case VU_ADD_MEM_REGION:
        want_size = 8 + sizeof(struct vu_region);
        want_fds = 1;
        break;
    case VU_REM_MEM_REGION:
        want_size = 8 + sizeof(struct vu_region);
        want_fds = nfds <= 1 ? (unsigned)nfds : 1; /* QEMU sends the fd, others may not */
        break;
    case VU_SET_BACKEND_REQ_FD:
        want_size = 0;
        want_fds = 1;
        break;
    default:
        return fail(VU_PARSE_UNKNOWN, why, why_len, "unsupported request %s (%u)",
                    vu_request_name(req), req);
    }

    if (want_size != SIZE_MAX && size != want_size)
        return fail(VU_PARSE_INVALID, why, why_len, "%s: payload of %u bytes, expected %zu",
                    vu_request_name(req), size, want_size);

    switch (req) {
    case VU_SET_FEATURES:
    case VU_SET_PROTOCOL_FEATURES:
        memcpy(&out->p.u64, payload, 8);
        break;
    case VU_SET_VRING_NUM:
    case VU_SET_VRING_BASE:
    case VU_GET_VRING_BASE:
    case VU_SET_VRING_ENABLE:
        memcpy(&out->p.state, payload, sizeof out->p.state);
        if ((rc = check_index(out->p.state.index, limits, why, why_len)) != VU_PARSE_OK)
            return rc;
        if (req == VU_SET_VRING_NUM) {
            uint32_t n = out->p.state.num;
            if (n == 0 || n > VU_MAX_QUEUE_SIZE || (n & (n - 1)) != 0)
                return fail(VU_PARSE_INVALID, why, why_len,
                            "SET_VRING_NUM: queue size %u is not a power of 2 in 1..%u", n,
                            VU_MAX_QUEUE_SIZE);
        } else if (req == VU_SET_VRING_BASE && out->p.state.num > 0xffff) {
            return fail(VU_PARSE_INVALID, why, why_len,
                        "SET_VRING_BASE: index %u does not fit a split ring's 16 bits",
                        out->p.state.num);
        } else if (req == VU_SET_VRING_ENABLE && out->p.state.num > 1) {
            return fail(VU_PARSE_INVALID, why, why_len, "SET_VRING_ENABLE: value %u, expected 0 or 1",
                        out->p.state.num);
        }
        break;
    case VU_SET_VRING_ADDR:
        memcpy(&out->p.addr, payload, sizeof out->p.addr);
        if ((rc = check_index(out->p.addr.index, limits, why, why_len)) != VU_PARSE_OK)
            return rc;
        if (out->p.addr.flags & ~VU_VRING_F_LOG)
            return fail(VU_PARSE_INVALID, why, why_len, "SET_VRING_ADDR: unknown flags 0x%x",
                        out->p.addr.flags);
        break;
    case VU_SET_VRING_KICK:
    case VU_SET_VRING_CALL:
    case VU_SET_VRING_ERR: {
        uint64_t v;
        memcpy(&v, payload, 8);
        if (v & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD_MASK))
            return fail(VU_PARSE_INVALID, why, why_len, "%s: unknown bits in 0x%llx",
                        vu_request_name(req), (unsigned long long)v);
        out->p.file.index = (uint32_t)(v & VU_VRING_IDX_MASK);
        out->p.file.nofd = (v & VU_VRING_NOFD_MASK) != 0;
        if ((rc = check_index(out->p.file.index, limits, why, why_len)) != VU_PARSE_OK)
            return rc;
        want_fds = out->p.file.nofd ? 0 : 1;
        break;
    }
    case VU_SET_MEM_TABLE: {
        if (size < 8)
            return fail(VU_PARSE_INVALID, why, why_len, "SET_MEM_TABLE: payload of %u bytes", size);
        uint32_t n;
        memcpy(&n, payload, 4);
        if (n == 0 || n > VU_MAX_MEM_REGIONS)
            return fail(VU_PARSE_INVALID, why, why_len, "SET_MEM_TABLE: %u regions, expected 1..%u",
                        n, VU_MAX_MEM_REGIONS);
        /* QEMU sends only the regions in use; accept the full array too. */
        size_t need = 8 + (size_t)n * sizeof(struct vu_region);
        size_t full = 8 + (size_t)VU_MAX_MEM_REGIONS * sizeof(struct vu_region);
        if (size != need && size != full)
            return fail(VU_PARSE_INVALID, why, why_len,
                        "SET_MEM_TABLE: %u regions in a payload of %u bytes", n, size);
        out->p.mem.nregions = n;
        memcpy(out->p.mem.regions, payload + 8, (size_t)n * sizeof(struct vu_region));
        for (uint32_t i = 0; i < n; i++)
            if ((rc = check_region(&out->p.mem.regions[i], why, why_len)) != VU_PARSE_OK)
                return rc;
        want_fds = n;
        break;
    }
    case VU_SET_LOG_BASE:
        memcpy(&out->p.log, payload, sizeof out->p.log);
        if (out->p.log.mmap_size == 0 || add_overflows(out->p.log.mmap_offset, out->p.log.mmap_size))
            return fail(VU_PARSE_INVALID, why, why_len, "SET_LOG_BASE: size 0x%llx offset 0x%llx",
                        (unsigned long long)out->p.log.mmap_size,
                        (unsigned long long)out->p.log.mmap_offset);
        if (out->p.log.mmap_offset % 8 != 0)
            return fail(VU_PARSE_INVALID, why, why_len,
                        "SET_LOG_BASE: offset 0x%llx not 8-byte aligned",
                        (unsigned long long)out->p.log.mmap_offset);
        break;
    case VU_GET_CONFIG:
    case VU_SET_CONFIG: {
        if (size < 12)
            return fail(VU_PARSE_INVALID, why, why_len, "%s: payload of %u bytes",
                        vu_request_name(req), size);
        memcpy(&out->p.config, payload, 12);
        uint32_t off = out->p.config.offset, sz = out->p.config.size;
        if (sz > VU_CONFIG_SPACE_MAX || off > VU_CONFIG_SPACE_MAX - sz)
            return fail(VU_PARSE_INVALID, why, why_len, "%s: offset %u size %u beyond %u bytes",
                        vu_request_name(req), off, sz, VU_CONFIG_SPACE_MAX);
        if (size != 12 + sz)
            return fail(VU_PARSE_INVALID, why, why_len, "%s: config size %u in a payload of %u",
                        vu_request_name(req), sz, size);
        memcpy(out->p.config.region, payload + 12, sz);
        break;
    }
    case VU_ADD_MEM_REGION:
    case VU_REM_MEM_REGION:
        memcpy(&out->p.region, payload + 8, sizeof out->p.region);
        if (req == VU_ADD_MEM_REGION &&
            (rc = check_region(&out->p.region, why, why_len)) != VU_PARSE_OK)
            return rc;
        break;
    default:
        break;
    }

    if (nfds != want_fds)
        return fail(VU_PARSE_INVALID, why, why_len, "%s: %zu file descriptor(s), expected %u",
                    vu_request_name(req), nfds, want_fds);
    for (size_t i = 0; i < nfds; i++)
        out->fds[i] = fds[i];
    out->nfds = (unsigned)nfds;
    return VU_PARSE_OK;
}
