/*
 * vhost_blk.h - shared state of pagedrange-vhost-blk, a vhost-user-blk
 * device backend on the pagedrange C ABI.
 *
 * Threads: the main thread accepts one front-end at a time and handles its
 * messages (control.c); each started virtqueue has a thread of its own
 * (queue.c) that polls its kick eventfd and serves requests synchronously
 * with preadv/pwritev straight into and out of guest pages.
 *
 * Guest memory: the regions the front-end shares are mmapped (struct
 * mapping, refcounted by the control thread only) and described to the
 * library as one pr_memory, wrapped with the dirty log while the front-end
 * logs (VHOST_F_LOG_ALL). That memory and the mappings it needs form a
 * `struct view`. The control thread publishes a new view by swapping the
 * pointer under dev.mu and bumping dev.gen, wakes the queue threads, waits
 * until every running one has moved to the new view (each does so between
 * two requests, never in the middle of one), and only then frees the old
 * view and unmaps what nothing uses any more: an RCU-like grace period.
 */
#ifndef VHOST_BLK_H
#define VHOST_BLK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pagedrange.h"
#include "vu_msg.h"

#define VB_PROG "pagedrange-vhost-blk"
#define VB_MAX_MEM_SLOTS 64u /* answered to GET_MAX_MEM_SLOTS */
#define VB_SEG_MAX 126u      /* virtio-blk config seg_max */
#define VB_IOV_CAP 256u      /* iovecs per preadv/pwritev call */

/* VIRTIO feature bits. */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

void vb_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One mmap of a front-end file descriptor (a memory region or the log). */
struct mapping {
    void *base;
    size_t len;
    unsigned refs; /* touched by the control thread only */
};

struct region {
    struct vu_region r;
    struct mapping *map;
    uint8_t *host; /* host address of guest_phys_addr */
};

struct view {
    pr_memory *mem; /* what the queues use: mapped, dirty-logged when logging */
    struct mapping *maps[VB_MAX_MEM_SLOTS + 1];
    unsigned nmaps;
};

struct dev;
struct vq;

/* One thread serving requests of a queue, with its own reusable request
 * machinery. Worker 0 of a queue also polls the kick eventfd and takes
 * heads from the available ring; the others (helpers) take heads the
 * poller queued when more than one was available. */
struct vworker {
    struct vq *q;
    unsigned id;
    pthread_t thread;
    struct view *view; /* the memory this worker uses now */
    atomic_uint seen_gen;
    uint16_t head; /* the request being served, for log lines */
    pr_chain_walker *walker;
    pr_ranges *readable, *writable;
    pr_reader *reader;
    pr_writer *writer;
    struct iovec iov[VB_IOV_CAP];
};

struct vq {
    struct dev *dev;
    unsigned index;

    /* Ring configuration: written by the control thread while the queue
     * threads are not running, read by them. */
    uint32_t num;
    uint16_t next_avail; /* SET_VRING_BASE / GET_VRING_BASE */
    bool addr_set;
    struct vu_vring_addr addr;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    int kick_fd;
    bool enabled;
    bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated when started */

    /* Call and error eventfds: may be replaced while the threads run. */
    pthread_mutex_t call_mu;
    int call_fd;
    int err_fd; /* VHOST_USER_SET_VRING_ERR: written when the queue stops */

    /* Thread control. */
    bool running;      /* control thread's view */
    atomic_bool stop;  /* ask the poller to stop taking heads */
    int wake_fd;       /* eventfd: stop requested or a new view published */
    atomic_bool broken; /* stopped on an error until the ring or memory changes */
    atomic_ulong bad_requests; /* for rate-limited logging */
    unsigned nworkers;  /* --io-threads */
    unsigned nstarted;  /* threads running (poller first) */
    struct vworker *workers;

    /* Heads taken from the ring and not completed yet (under mu). */
    pthread_mutex_t mu;
    pthread_cond_t work_cv, idle_cv;
    uint16_t *pending; /* ring buffer of num entries */
    uint32_t pend_first, npending, inflight;
    bool helpers_exit;
    uint16_t used_idx, signalled_used;
    bool signalled_valid;
    unsigned since_notify;
};

struct dev {
    /* Options and disk. */
    const char *socket_path, *disk_path;
    int disk_fd;
    uint64_t capacity; /* 512-byte sectors */
    bool read_only;
    unsigned nqueues;
    unsigned io_threads; /* request-serving threads per queue */
    unsigned poll_us;    /* busy-polling before a queue sleeps */

    /* Connection state (control thread). */
    int conn_fd;
    uint64_t features, protocol_features;
    struct region regions[VB_MAX_MEM_SLOTS];
    unsigned nregions;
    struct mapping *log_map;
    uint64_t *log_bits;
    uint64_t log_pages;

    /* Published memory view. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct view *view;
    atomic_uint gen;

    struct vq *vqs;
};

/* control.c */
uint64_t vb_device_features(const struct dev *d);
int vb_dev_init(struct dev *d);            /* once: queues, empty view */
void vb_dev_destroy(struct dev *d);
void vb_conn_reset(struct dev *d);         /* frontend gone: stop, unmap, forget */
/* Handles one validated message; returns 0, or -1 to close the connection. */
int vb_handle(struct dev *d, struct vu_msg *m);
int vb_send_reply(struct dev *d, uint32_t request, const void *payload, uint32_t size);

/* sigbus.c: the dirty log's mapping survives a front-end that truncates
 * its file (guest memory is covered by pr_fault_recovery_install). */
int vb_guard_init(void);
void vb_guard_add(void *base, size_t len);
void vb_guard_remove(void *base);

/* queue.c */
int vq_init(struct vq *q, struct dev *d, unsigned index);
void vq_destroy(struct vq *q);
int vq_start(struct vq *q);  /* spawn the thread */
void vq_stop(struct vq *q);  /* finish the request in progress, join */
void vq_wake(struct vq *q);
bool vq_on_gen(struct vq *q, unsigned gen); /* every thread moved to view `gen` */

#endif
