/*
 * vu_msg.h - vhost-user messages as a backend receives them: the wire
 * layout (QEMU docs/interop/vhost-user.rst) and one pure validation
 * function, vu_msg_parse, that turns bytes and file descriptors into a
 * checked message or an error. No I/O, no global state: a fuzz target can
 * call it directly.
 */
#ifndef VU_MSG_H
#define VU_MSG_H

#include <stddef.h>
#include <stdint.h>

/* Front-end requests (the subset a block backend meets, and the rest by
 * number so that logs can name them). */
enum vu_request {
    VU_GET_FEATURES = 1,
    VU_SET_FEATURES = 2,
    VU_SET_OWNER = 3,
    VU_RESET_OWNER = 4,
    VU_SET_MEM_TABLE = 5,
    VU_SET_LOG_BASE = 6,
    VU_SET_LOG_FD = 7,
    VU_SET_VRING_NUM = 8,
    VU_SET_VRING_ADDR = 9,
    VU_SET_VRING_BASE = 10,
    VU_GET_VRING_BASE = 11,
    VU_SET_VRING_KICK = 12,
    VU_SET_VRING_CALL = 13,
    VU_SET_VRING_ERR = 14,
    VU_GET_PROTOCOL_FEATURES = 15,
    VU_SET_PROTOCOL_FEATURES = 16,
    VU_GET_QUEUE_NUM = 17,
    VU_SET_VRING_ENABLE = 18,
    VU_SEND_RARP = 19,
    VU_NET_SET_MTU = 20,
    VU_SET_BACKEND_REQ_FD = 21,
    VU_IOTLB_MSG = 22,
    VU_SET_VRING_ENDIAN = 23,
    VU_GET_CONFIG = 24,
    VU_SET_CONFIG = 25,
    VU_GET_INFLIGHT_FD = 31,
    VU_SET_INFLIGHT_FD = 32,
    VU_RESET_DEVICE = 34,
    VU_GET_MAX_MEM_SLOTS = 36,
    VU_ADD_MEM_REGION = 37,
    VU_REM_MEM_REGION = 38,
    VU_SET_STATUS = 39,
    VU_GET_STATUS = 40,
};

/* Header flags. */
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_VERSION 0x1u
#define VU_FLAG_REPLY 0x4u
#define VU_FLAG_NEED_REPLY 0x8u

/* Protocol feature bits. */
#define VU_PROTOCOL_F_MQ 0
#define VU_PROTOCOL_F_LOG_SHMFD 1
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_BACKEND_REQ 5
#define VU_PROTOCOL_F_CONFIG 9
#define VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15

/* Feature bit of the vhost-user layer itself. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VHOST_F_LOG_ALL 26

/* SET_VRING_KICK/CALL/ERR payload: index in bits 0-7, bit 8 "no fd". */
#define VU_VRING_IDX_MASK 0xffull
#define VU_VRING_NOFD_MASK 0x100ull
/* SET_VRING_ADDR flags: bit 0, log the used ring at log_guest_addr. */
#define VU_VRING_F_LOG 0x1u

#define VU_HDR_SIZE 12u
#define VU_MAX_FDS 8u            /* fds one message may carry */
#define VU_MAX_MEM_REGIONS 8u    /* regions in one SET_MEM_TABLE */
#define VU_CONFIG_SPACE_MAX 256u /* GET/SET_CONFIG payload bytes */
#define VU_MAX_PAYLOAD 4096u     /* larger size fields are a framing error */
#define VU_MAX_QUEUE_SIZE 32768u

struct vu_region {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t mmap_offset;
};

struct vu_vring_state {
    uint32_t index;
    uint32_t num;
};

struct vu_vring_addr {
    uint32_t index;
    uint32_t flags;
    uint64_t desc_user_addr;
    uint64_t used_user_addr;
    uint64_t avail_user_addr;
    uint64_t log_guest_addr;
};

struct vu_log {
    uint64_t mmap_size;
    uint64_t mmap_offset;
};

struct vu_config {
    uint32_t offset;
    uint32_t size;
    uint32_t flags;
    uint8_t region[VU_CONFIG_SPACE_MAX];
};

/* A validated message. Which payload member is valid follows `request`;
 * `fds` are the descriptors that came with it (exactly the number the
 * request takes), owned by the caller. */
struct vu_msg {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
    union {
        uint64_t u64;                /* SET_FEATURES, SET_PROTOCOL_FEATURES */
        struct vu_vring_state state; /* SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE */
        struct vu_vring_addr addr;   /* SET_VRING_ADDR */
        struct {                     /* SET_VRING_KICK/CALL/ERR */
            uint32_t index;
            uint32_t nofd;
        } file;
        struct {                     /* SET_MEM_TABLE */
            uint32_t nregions;
            struct vu_region regions[VU_MAX_MEM_REGIONS];
        } mem;
        struct vu_region region;     /* ADD_MEM_REGION, REM_MEM_REGION */
        struct vu_log log;           /* SET_LOG_BASE */
        struct vu_config config;     /* GET_CONFIG, SET_CONFIG */
    } p;
    int fds[VU_MAX_FDS];
    unsigned nfds;
};

/* Results of vu_msg_parse. */
enum vu_parse_result {
    VU_PARSE_OK = 0,
    /* The header itself is unusable (short, wrong version, reply flag,
     * size above VU_MAX_PAYLOAD, bytes not matching the size field): the
     * stream cannot be trusted any more; close the connection. */
    VU_PARSE_FRAMING = -1,
    /* A request this backend does not know or does not implement. */
    VU_PARSE_UNKNOWN = -2,
    /* A known request whose payload or descriptors are wrong (size,
     * descriptor count, field values): refuse it (a failed reply when one
     * is expected). */
    VU_PARSE_INVALID = -3,
};

struct vu_parse_limits {
    uint32_t queues; /* vring indexes must be below this */
};

/*
 * Validates one message: `bytes` holds the header and the payload
 * (`len` = 12 + header.size), `fds` the `nfds` descriptors received with
 * it (any number; more than the request takes is an error). On
 * VU_PARSE_OK `*out` is filled (fds copied, not duplicated); otherwise
 * `*out` still holds request, flags and size when the header could be
 * read (so the caller knows whether a reply is expected), and `why`
 * (when not NULL) receives a one-line reason. Never touches the fds.
 */
int vu_msg_parse(const uint8_t *bytes, size_t len, const int *fds, size_t nfds,
                 const struct vu_parse_limits *limits, struct vu_msg *out, char *why,
                 size_t why_len);

/* The request's name ("UNKNOWN" for other values). */
const char *vu_request_name(uint32_t request);

/* Whether the request has a reply of its own (GET_*), as opposed to the
 * REPLY_ACK acknowledgement. */
int vu_request_has_reply(uint32_t request);

#endif
