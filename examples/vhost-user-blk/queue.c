/*
 * queue.c - one virtqueue: its thread, the split ring (VIRTIO 1.2, 2.7)
 * and the virtio-blk requests (VIRTIO 1.2, 5.2.6).
 *
 * Every ring access (available index and entries, used entries and index,
 * the event index fields) is one pr_memory_read / pr_memory_write by guest
 * physical address through the current view's memory, so that a used-ring
 * write is dirty-logged like any other write into the guest. The ring
 * fields are naturally aligned (checked when the ring is set up), and the
 * library reads and writes an aligned 1, 2, 4 or 8-byte field of mapped
 * memory with one load or store, so a field the driver is changing (the
 * available index) is never read half old, half new. Ordering is made
 * explicit with C11 fences.
 *
 * A request: the chain walker turns the head's descriptor chain into two
 * reused buffers (device-readable, device-writable); the 16-byte header is
 * read through a reader re-armed on the readable buffer; the data moves
 * zero-copy between the disk and guest pages through the iovecs the reader
 * or writer exports (pwritev for OUT, preadv for IN); the status byte, the
 * last writable byte, is written through the writer. The cursors are then
 * released so that the next walk refills the buffers without allocating.
 *
 * Guest memory that vanishes (a front-end that truncates a region's file;
 * main.c installs the library's fault recovery): a library access that
 * faults returns PR_ERR_MEMORY with the faulting GPA and PR_FAULT_SIGBUS or
 * PR_FAULT_SIGSEGV, and a kernel copy (preadv/pwritev) fails with EFAULT;
 * either way the request gets VIRTIO_BLK_S_IOERR and a log line. When the
 * status byte itself cannot be written, or a ring access fails, the queue
 * cannot go on: the head is not completed, the queue stops taking heads
 * (until the ring or the memory is set up again) and the error eventfd
 * (VHOST_USER_SET_VRING_ERR) is written, the vhost-user form of "device
 * needs reset". The device itself goes on and serves the next front-end.
 *
 * Threads: worker 0 (the poller) waits on the kick eventfd, takes every
 * head the driver made available, keeps the first and queues the rest for
 * the helper workers (--io-threads - 1 of them), then serves queued heads
 * too until none is left. Completions (used ring, interrupt) are made
 * under the queue's mutex, so requests may complete out of order, as
 * virtio allows. At QD1 the poller serves the request itself: no hand-off.
 */
#define _GNU_SOURCE
#include "vhost_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* virtio-blk request types and status values. */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_WZ_UNMAP 1u

/* Split ring descriptor flags. */
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1

#define SECTOR 512u
#define NOTIFY_BATCH 8u /* requests between two notification checks */

struct blk_outhdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
};

struct blk_seg { /* discard / write zeroes segment */
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

struct vdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* ---------------------------------------------------------------------------
 * Logging, rate-limited per queue: a hostile guest must not flood stderr.
 */
static bool bad_log_ok(struct vq *q) {
    unsigned long n = atomic_fetch_add(&q->bad_requests, 1) + 1;
    return n <= 20 || n % 10000 == 0;
}

#define QLOG(q, ...)                                                                              \
    do {                                                                                          \
        if (bad_log_ok(q))                                                                        \
            vb_log(__VA_ARGS__);                                                                  \
    } while (0)

/* What a failed guest memory access ran into (pr_transfer.fault_code). */
static const char *fault_reason(int code) {
    switch (code) {
    case PR_FAULT_SIGBUS: return "SIGBUS (past the end of the front-end's memory file)";
    case PR_FAULT_SIGSEGV: return "SIGSEGV (unmapped or protected)";
    case PR_FAULT_UNMAPPED: return "outside guest memory";
    case PR_FAULT_UNTRACKED: return "beyond the dirty log";
    default: return "refused";
    }
}

/* Logs a failed access of the request being served: rate-limited unless
 * `always`. */
static void log_access(struct vworker *w, const char *what, pr_status st, const pr_transfer *t,
                       bool always) {
    struct vq *q = w->q;
    if (!always && !bad_log_ok(q))
        return;
    if (st == PR_ERR_MEMORY)
        vb_log("queue %u: head %u: %s: GPA 0x%" PRIx64 " %s, %zu bytes done", q->index, w->head,
               what, t->fault_gpa, fault_reason(t->fault_code), t->done);
    else
        vb_log("queue %u: head %u: %s: %s", q->index, w->head, what, pr_status_str(st));
}

/* The queue cannot go on: it stops taking heads until the ring or the
 * memory is set up again. Returns true the first time: the caller then logs
 * why and calls vq_halt_tell. */
static bool vq_halt(struct vq *q) { return !atomic_exchange(&q->broken, true); }

/* Tells the front-end that the queue stopped: writes the error eventfd. */
static void vq_halt_tell(struct vq *q) {
    pthread_mutex_lock(&q->call_mu);
    if (q->err_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(q->err_fd, &one, sizeof one);
        (void)n; /* a full error eventfd has been told already */
    }
    pthread_mutex_unlock(&q->call_mu);
}

/* ---------------------------------------------------------------------------
 * Ring access through the library, by guest physical address. A ring the
 * device cannot read or write halts the queue (logged once per halt).
 */
static int ring_failed(struct vq *q, uint64_t gpa, pr_status st, const pr_transfer *t) {
    if (vq_halt(q)) {
        if (st == PR_ERR_MEMORY)
            vb_log("queue %u: ring at GPA 0x%" PRIx64 ": %s", q->index, t->fault_gpa,
                   fault_reason(t->fault_code));
        else
            vb_log("queue %u: ring at GPA 0x%" PRIx64 ": %s", q->index, gpa, pr_status_str(st));
        vq_halt_tell(q);
    }
    return -1;
}

static int ring_read(struct vq *q, const pr_memory *mem, uint64_t gpa, void *v, size_t len) {
    pr_transfer t;
    pr_status st = pr_memory_read(mem, gpa, v, len, &t);
    return st == PR_OK ? 0 : ring_failed(q, gpa, st, &t);
}

static int ring_write(struct vq *q, const pr_memory *mem, uint64_t gpa, const void *v, size_t len) {
    pr_transfer t;
    pr_status st = pr_memory_write(mem, gpa, v, len, &t);
    return st == PR_OK ? 0 : ring_failed(q, gpa, st, &t);
}

static int rd16(struct vq *q, const pr_memory *mem, uint64_t gpa, uint16_t *v) {
    return ring_read(q, mem, gpa, v, 2);
}

static int wr16(struct vq *q, const pr_memory *mem, uint64_t gpa, uint16_t v) {
    return ring_write(q, mem, gpa, &v, 2);
}

static uint64_t avail_idx_gpa(const struct vq *q) { return q->avail_gpa + 2; }
static uint64_t avail_ring_gpa(const struct vq *q, uint16_t i) {
    return q->avail_gpa + 4 + 2 * (uint64_t)(i & (q->num - 1));
}
static uint64_t used_event_gpa(const struct vq *q) { return q->avail_gpa + 4 + 2 * (uint64_t)q->num; }
static uint64_t used_idx_gpa(const struct vq *q) { return q->used_gpa + 2; }
static uint64_t used_ring_gpa(const struct vq *q, uint16_t i) {
    return q->used_gpa + 4 + 8 * (uint64_t)(i & (q->num - 1));
}
static uint64_t avail_event_gpa(const struct vq *q) { return q->used_gpa + 4 + 8 * (uint64_t)q->num; }

/* ---------------------------------------------------------------------------
 * Memory view: move to the newest one published by the control thread.
 * Cursors hold the memory they were created with, so they are made anew.
 */
static int refresh_view(struct vworker *w) {
    struct dev *d = w->q->dev;
    pthread_mutex_lock(&d->mu);
    unsigned gen = atomic_load(&d->gen);
    struct view *v = d->view;
    pr_reader_free(w->reader);
    pr_writer_free(w->writer);
    w->reader = NULL;
    w->writer = NULL;
    w->view = v;
    int rc = 0;
    if (pr_ranges_reader_new(w->readable, v->mem, &w->reader) != PR_OK ||
        pr_ranges_writer_new(w->writable, v->mem, &w->writer) != PR_OK) {
        vb_log("queue %u: cannot create cursors", w->q->index);
        rc = -1;
    }
    /* The new cursors must not share the buffers the walker refills. */
    pr_reader_release(w->reader);
    pr_writer_release(w->writer);
    atomic_store(&w->seen_gen, gen);
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static bool view_stale(const struct vworker *w) {
    return atomic_load_explicit(&w->q->dev->gen, memory_order_acquire) !=
           atomic_load_explicit(&w->seen_gen, memory_order_relaxed);
}

/* ---------------------------------------------------------------------------
 * Disk IO: whole transfers (short counts are continued), straight between
 * the file and guest pages.
 */
static int disk_rw(int fd, struct iovec *iov, size_t cnt, uint64_t off, bool write) {
    while (cnt > 0) {
        ssize_t n = write ? pwritev(fd, iov, (int)cnt, (off_t)off)
                          : preadv(fd, iov, (int)cnt, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO; /* end of file: the disk shrank under us */
        off += (uint64_t)n;
        size_t left = (size_t)n;
        while (cnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

/* Sector range check without overflow: [sector, sector + nsec) on the disk. */
static bool in_disk(const struct dev *d, uint64_t sector, uint64_t nsec) {
    return sector <= d->capacity && nsec <= d->capacity - sector;
}

/* ---------------------------------------------------------------------------
 * Requests. Each returns the status; `*written` counts the data bytes put
 * into the guest (the used length is that plus the status byte).
 */
/*
 * IN (`to_disk` false: disk -> guest, through the writer's iovecs) or OUT
 * (true: guest -> disk, through the reader's): `data` bytes at the header's
 * sector, in as many preadv/pwritev calls as the iovec array needs.
 * `*moved` counts the bytes done (for IN, the data put into the guest).
 */
static uint8_t req_rw(struct vworker *w, const struct blk_outhdr *h, size_t data, bool to_disk,
                      size_t *moved) {
    struct vq *q = w->q;
    struct dev *d = q->dev;
    const char *what = to_disk ? "OUT" : "IN";
    if (to_disk && d->read_only)
        return VIRTIO_BLK_S_IOERR;
    if (data % SECTOR != 0) {
        QLOG(q, "queue %u: %s of %zu bytes, not a multiple of %u", q->index, what, data, SECTOR);
        return VIRTIO_BLK_S_IOERR;
    }
    if (!in_disk(d, h->sector, data / SECTOR)) {
        QLOG(q, "queue %u: %s sector %" PRIu64 " + %zu bytes past the disk end (%" PRIu64
                " sectors)", q->index, what, h->sector, data, d->capacity);
        return VIRTIO_BLK_S_IOERR;
    }
    uint64_t off = h->sector * SECTOR;
    while (data > 0) {
        size_t cnt = 0, covered = 0;
        pr_status st = to_disk ? pr_reader_iovecs(w->reader, data, w->iov, VB_IOV_CAP, &cnt, &covered)
                               : pr_writer_iovecs(w->writer, data, w->iov, VB_IOV_CAP, &cnt, &covered);
        if (st != PR_OK && st != PR_ERR_BUFFER_TOO_SMALL) {
            /* For OUT, earlier pieces were written, inside the request's range. */
            QLOG(q, "queue %u: head %u: %s buffer not in guest memory: %s", q->index, w->head,
                 what, pr_status_str(st));
            return VIRTIO_BLK_S_IOERR;
        }
        int rc = disk_rw(d->disk_fd, w->iov, cnt, off, to_disk);
        if (rc == -EFAULT) /* the front-end shrank or unmapped guest memory under the buffer */
            QLOG(q, "queue %u: head %u: %s at %" PRIu64 ": guest buffer unreachable (EFAULT)",
                 q->index, w->head, to_disk ? "pwritev" : "preadv", off);
        else if (rc < 0)
            vb_log("queue %u: %s at %" PRIu64 ": %s", q->index, to_disk ? "pwritev" : "preadv", off,
                   strerror(-rc));
        if (rc < 0)
            return VIRTIO_BLK_S_IOERR;
        off += covered;
        data -= covered;
        *moved += covered;
    }
    return VIRTIO_BLK_S_OK;
}

static uint8_t req_get_id(struct vworker *w, size_t room, size_t *written) {
    static const char id[VIRTIO_BLK_ID_BYTES] = {'p', 'a', 'g', 'e', 'd', 'r', 'a',
                                                 'n', 'g', 'e', '-', 'v', 'h', 'o',
                                                 's', 't', '-', 'b', 'l', 'k'}; /* no NUL */
    size_t n = room < sizeof id ? room : sizeof id;
    pr_transfer t;
    pr_status st = pr_writer_write(w->writer, id, n, &t);
    if (st != PR_OK) {
        log_access(w, "GET_ID buffer", st, &t, false);
        *written += t.done;
        return VIRTIO_BLK_S_IOERR;
    }
    *written += n;
    return VIRTIO_BLK_S_OK;
}

/* Writes `len` zero bytes at `off`, through disk_rw's loop. */
static int zero_fill(int fd, uint64_t off, uint64_t len) {
    static uint8_t zeros[65536]; /* never written */
    while (len > 0) {
        size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;
        struct iovec v = {.iov_base = zeros, .iov_len = n};
        int rc = disk_rw(fd, &v, 1, off, true);
        if (rc < 0)
            return rc;
        off += n;
        len -= n;
    }
    return 0;
}

static uint8_t req_discard_wz(struct vworker *w, const struct blk_outhdr *h, size_t payload) {
    struct vq *q = w->q;
    struct dev *d = q->dev;
    const bool wz = h->type == VIRTIO_BLK_T_WRITE_ZEROES;
    const char *what = wz ? "WRITE_ZEROES" : "DISCARD";
    if (d->read_only)
        return VIRTIO_BLK_S_IOERR;
    if (payload == 0 || payload % sizeof(struct blk_seg) != 0 ||
        payload / sizeof(struct blk_seg) > 1) {
        QLOG(q, "queue %u: %s with %zu payload bytes (one 16-byte segment allowed)", q->index,
             what, payload);
        return VIRTIO_BLK_S_UNSUPP;
    }
    struct blk_seg s;
    pr_transfer t;
    pr_status st = pr_reader_read(w->reader, &s, sizeof s, &t);
    if (st != PR_OK) {
        log_access(w, "segment", st, &t, false);
        return VIRTIO_BLK_S_IOERR;
    }
    if ((!wz && s.flags != 0) || (wz && (s.flags & ~VIRTIO_BLK_WZ_UNMAP) != 0)) {
        QLOG(q, "queue %u: %s flags 0x%x unsupported", q->index, what, s.flags);
        return VIRTIO_BLK_S_UNSUPP;
    }
    if (!in_disk(d, s.sector, s.num_sectors)) {
        QLOG(q, "queue %u: %s sector %" PRIu64 " + %u past the disk end", q->index, what,
             s.sector, s.num_sectors);
        return VIRTIO_BLK_S_IOERR;
    }
    uint64_t off = s.sector * SECTOR, len = (uint64_t)s.num_sectors * SECTOR;
    if (len == 0)
        return VIRTIO_BLK_S_OK;
    int mode = FALLOC_FL_KEEP_SIZE;
    mode |= (!wz || (s.flags & VIRTIO_BLK_WZ_UNMAP)) ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;
    if (fallocate(d->disk_fd, mode, (off_t)off, (off_t)len) == 0)
        return VIRTIO_BLK_S_OK;
    int err = errno;
    if (err == EOPNOTSUPP || err == ENOSYS || err == EINVAL || err == ENODEV) {
        if (!wz)
            return VIRTIO_BLK_S_OK; /* a discard is a hint */
        int rc = zero_fill(d->disk_fd, off, len);
        if (rc == 0)
            return VIRTIO_BLK_S_OK;
        err = -rc;
    }
    vb_log("queue %u: %s at %" PRIu64 " (+%" PRIu64 "): %s", q->index, what, off, len,
           strerror(err));
    return VIRTIO_BLK_S_IOERR;
}

/*
 * A chain the walker refused: find its last descriptor by hand (bounded
 * walk, every descriptor read through guest memory) and write IOERR into
 * its last byte when it is device-writable. Returns the bytes written (0 or
 * 1).
 */
static uint32_t fail_malformed(struct vworker *w, uint16_t head) {
    const struct vq *q = w->q;
    const pr_memory *mem = w->view->mem;
    uint64_t table = q->desc_gpa;
    uint32_t size = q->num, idx = head;
    bool indirect = false;
    struct vdesc dsc;
    if (idx >= size)
        return 0;
    for (uint32_t steps = 0;; steps++) {
        if (steps >= size)
            return 0; /* loop */
        if (pr_memory_read(mem, table + 16 * (uint64_t)idx, &dsc, sizeof dsc, NULL) != PR_OK)
            return 0;
        if (dsc.flags & VRING_DESC_F_INDIRECT) {
            if (indirect || (dsc.flags & VRING_DESC_F_NEXT) || dsc.len == 0 || dsc.len % 16 != 0)
                return 0;
            indirect = true;
            table = dsc.addr;
            size = dsc.len / 16;
            idx = 0;
            steps = 0;
            continue;
        }
        if (!(dsc.flags & VRING_DESC_F_NEXT))
            break;
        if (dsc.next >= size)
            return 0;
        idx = dsc.next;
    }
    if (!(dsc.flags & VRING_DESC_F_WRITE) || dsc.len == 0 || dsc.addr + dsc.len < dsc.addr)
        return 0;
    const uint8_t status = VIRTIO_BLK_S_IOERR;
    return pr_memory_write(mem, dsc.addr + dsc.len - 1, &status, 1, NULL) == PR_OK ? 1 : 0;
}

/* Serves the chain at `head`. Returns true with the used length in `*used`,
 * or false when the request cannot be completed (its status byte cannot be
 * written: the queue is halted). */
static bool handle_request(struct vworker *w, uint16_t head, uint32_t *used) {
    struct vq *q = w->q;
    w->head = head;
    pr_chain_error ce;
    memset(&ce, 0, sizeof ce);
    pr_status st = pr_chain_walker_walk(w->walker, w->view->mem, q->desc_gpa, (uint16_t)q->num,
                                        head, w->readable, w->writable, &ce);
    if (st != PR_OK) {
        *used = fail_malformed(w, head);
        char where[96] = "";
        if (ce.rule == PR_CHAIN_UNREADABLE)
            snprintf(where, sizeof where, " at GPA 0x%" PRIx64 ", %s", ce.fault_gpa,
                     fault_reason(ce.fault_code));
        QLOG(q, "queue %u: head %u refused: %sdescriptor %u: %s%s (%s)%s", q->index, head,
             ce.indirect ? "indirect " : "", ce.index, pr_chain_rule_str(ce.rule), where,
             pr_status_str(st), *used ? "; IOERR written" : "; returned with length 0");
        return true;
    }
    const size_t rlen = pr_ranges_len(w->readable), wlen = pr_ranges_len(w->writable);
    *used = 0;
    if (wlen == 0) {
        QLOG(q, "queue %u: head %u has no device-writable byte for the status; returned with "
                "length 0", q->index, head);
        return true;
    }
    size_t written = 0;
    uint8_t status = VIRTIO_BLK_S_IOERR;
    struct blk_outhdr h;
    pr_transfer t;
    if (pr_ranges_writer_reset(w->writer, w->writable) != PR_OK ||
        pr_ranges_reader_reset(w->reader, w->readable) != PR_OK) {
        vb_log("queue %u: cursor reset failed", q->index);
        goto status;
    }
    if (rlen < sizeof h) {
        QLOG(q, "queue %u: head %u: %zu readable bytes, less than the 16-byte header", q->index,
             head, rlen);
        goto status;
    }
    st = pr_reader_read(w->reader, &h, sizeof h, &t);
    if (st != PR_OK) {
        log_access(w, "request header", st, &t, false);
        goto status;
    }
    switch (h.type) {
    case VIRTIO_BLK_T_IN:
        status = req_rw(w, &h, wlen - 1, false, &written);
        break;
    case VIRTIO_BLK_T_OUT: {
        size_t from_guest = 0;
        status = req_rw(w, &h, rlen - sizeof h, true, &from_guest);
        break;
    }
    case VIRTIO_BLK_T_FLUSH:
        status = VIRTIO_BLK_S_OK;
        if (!q->dev->read_only && fdatasync(q->dev->disk_fd) != 0) {
            vb_log("queue %u: fdatasync: %s", q->index, strerror(errno));
            status = VIRTIO_BLK_S_IOERR;
        }
        break;
    case VIRTIO_BLK_T_GET_ID:
        status = req_get_id(w, wlen - 1, &written);
        break;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        status = req_discard_wz(w, &h, rlen - sizeof h);
        break;
    default:
        QLOG(q, "queue %u: head %u: request type %u unsupported", q->index, head, h.type);
        status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
status: {
    /* The status is the last writable byte, whatever the data part did. */
    size_t left = pr_writer_remaining(w->writer);
    memset(&t, 0, sizeof t);
    st = left == 0 ? PR_ERR_INVALID_ARGUMENT : pr_writer_skip(w->writer, left - 1);
    if (st == PR_OK)
        st = pr_writer_write(w->writer, &status, 1, &t);
    pr_reader_release(w->reader);
    pr_writer_release(w->writer);
    if (st == PR_OK) {
        *used = (uint32_t)written + 1;
        return true;
    }
    /* Without its status the driver cannot learn how the request ended:
     * the request is not completed and the queue needs a reset. */
    if (vq_halt(q)) {
        log_access(w, "status byte", st, &t, true); /* once per halt */
        vb_log("queue %u: head %u cannot be completed: queue stopped, needs a reset", q->index,
               head);
        vq_halt_tell(q);
    }
    return false;
}
}

/* ---------------------------------------------------------------------------
 * Completion: used ring and interrupts, under q->mu.
 */
static void notify(struct vq *q) {
    pthread_mutex_lock(&q->call_mu);
    if (q->call_fd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(q->call_fd, &one, sizeof one);
        (void)n; /* a full or odd call fd only loses an interrupt */
    }
    pthread_mutex_unlock(&q->call_mu);
}

/* Interrupt suppression (VIRTIO 1.2, 2.7.7 and 2.7.10): whether the
 * driver wants an interrupt for what was completed so far. Under q->mu. */
static int need_notify(struct vq *q, const pr_memory *mem, bool *need) {
    atomic_thread_fence(memory_order_seq_cst); /* used idx visible before reading the flags */
    q->since_notify = 0;
    if (q->event_idx) {
        uint16_t event, new_idx = q->used_idx, old = q->signalled_used;
        if (rd16(q, mem, used_event_gpa(q), &event))
            return -1;
        *need = !q->signalled_valid || (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
        q->signalled_used = new_idx;
        q->signalled_valid = true;
    } else {
        uint16_t flags;
        if (rd16(q, mem, q->avail_gpa, &flags))
            return -1;
        *need = !(flags & VRING_AVAIL_F_NO_INTERRUPT);
    }
    return 0;
}

/* Puts `head` in the used ring with `len` (unless `done` is false: the head
 * is dropped) and ends its time in flight. */
static void complete(struct vworker *w, uint16_t head, uint32_t len, bool done) {
    struct vq *q = w->q;
    const pr_memory *mem = w->view->mem;
    uint32_t elem[2] = {head, len};
    bool need = false;
    pthread_mutex_lock(&q->mu);
    if (done && ring_write(q, mem, used_ring_gpa(q, q->used_idx), elem, sizeof elem) == 0) {
        atomic_thread_fence(memory_order_release); /* the entry before the index */
        q->used_idx++;
        if (wr16(q, mem, used_idx_gpa(q), q->used_idx) == 0 &&
            (++q->since_notify >= NOTIFY_BATCH || q->npending == 0))
            need_notify(q, mem, &need);
    }
    if (--q->inflight == 0)
        pthread_cond_broadcast(&q->idle_cv);
    pthread_mutex_unlock(&q->mu);
    if (need)
        notify(q);
}

static void serve(struct vworker *w, uint16_t head) {
    if (view_stale(w))
        refresh_view(w);
    uint32_t len = 0;
    bool done = handle_request(w, head, &len);
    complete(w, head, len, done);
}

/* A queued head, or false when none. */
static bool pop_pending(struct vq *q, uint16_t *head) {
    if (q->npending == 0)
        return false;
    *head = q->pending[q->pend_first];
    q->pend_first = (q->pend_first + 1) & (q->num - 1);
    q->npending--;
    return true;
}

/* ---------------------------------------------------------------------------
 * The poller: takes what the driver made available.
 */

/* Serves the available heads. Returns 0, or -1 when the queue is halted:
 * the ring itself is unusable (not in guest memory, an impossible index),
 * or a request could not be completed. */
static int process_ring(struct vworker *w) {
    struct vq *q = w->q;
    for (;;) {
        if (atomic_load(&q->broken))
            return -1;
        const pr_memory *mem = w->view->mem;
        uint16_t avail;
        if (rd16(q, mem, avail_idx_gpa(q), &avail))
            return -1;
        uint16_t n = (uint16_t)(avail - q->next_avail);
        if (n > q->num) {
            if (vq_halt(q)) {
                vb_log("queue %u: available index %u is %u entries ahead of %u (queue size %u)",
                       q->index, avail, n, q->next_avail, q->num);
                vq_halt_tell(q);
            }
            return -1;
        }
        if (n == 0) {
            if (!q->event_idx)
                return 0;
            /* Ask for a kick after the last entry seen, then look again. */
            if (wr16(q, mem, avail_event_gpa(q), q->next_avail))
                return -1;
            atomic_thread_fence(memory_order_seq_cst);
            if (rd16(q, mem, avail_idx_gpa(q), &avail))
                return -1;
            if (avail == q->next_avail)
                return 0;
            continue;
        }
        atomic_thread_fence(memory_order_acquire); /* entries after the index */
        uint16_t first;
        if (rd16(q, mem, avail_ring_gpa(q, q->next_avail), &first))
            return -1;
        q->next_avail++;
        pthread_mutex_lock(&q->mu);
        q->inflight++;
        for (uint16_t i = 1; i < n && q->nworkers > 1; i++) {
            uint16_t h;
            if (rd16(q, mem, avail_ring_gpa(q, q->next_avail), &h))
                break;
            q->next_avail++;
            q->pending[(q->pend_first + q->npending) & (q->num - 1)] = h;
            q->npending++;
            q->inflight++;
        }
        if (q->npending > 0)
            pthread_cond_broadcast(&q->work_cv);
        pthread_mutex_unlock(&q->mu);
        serve(w, first);
        for (;;) {
            uint16_t h;
            pthread_mutex_lock(&q->mu);
            bool got = pop_pending(q, &h);
            pthread_mutex_unlock(&q->mu);
            if (!got)
                break;
            serve(w, h);
        }
        if (atomic_load_explicit(&q->stop, memory_order_relaxed))
            return 0;
        if (view_stale(w) && refresh_view(w))
            return -1;
    }
}

static void drain(int fd) {
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof v);
    (void)n;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Before sleeping, watch the available index for up to `*window` ns: a
 * request arriving meanwhile is served without the cost of a wake-up (tens
 * of microseconds on an idle virtual CPU). Returns true when there is
 * something to do. */
static bool busy_poll(struct vworker *w, uint64_t window) {
    struct vq *q = w->q;
    if (window == 0)
        return false;
    const uint64_t end = now_ns() + window;
    for (unsigned spins = 0;; spins++) {
        uint16_t avail;
        if (atomic_load_explicit(&q->stop, memory_order_relaxed) || view_stale(w))
            return true;
        if (rd16(q, w->view->mem, avail_idx_gpa(q), &avail) || avail != q->next_avail)
            return true;
        if ((spins & 15) == 15 && now_ns() >= end)
            return false;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

/* Adaptive polling window, in the manner of QEMU's: after a sleep that a
 * longer window would have avoided (shorter than the maximum), grow it;
 * after a long sleep, shrink it, so an idle queue soon stops spinning. */
static uint64_t adapt_window(uint64_t window, uint64_t max, uint64_t slept) {
    if (slept > max)
        return window / 2 < 2000 ? 0 : window / 2;
    if (slept > window)
        return window == 0 ? (max < 4000 ? max : 4000) : (window * 2 > max ? max : window * 2);
    return window;
}

static void *poller_thread(void *arg) {
    struct vworker *w = arg;
    struct vq *q = w->q;
    bool broken = refresh_view(w) != 0;
    if (!broken && rd16(q, w->view->mem, used_idx_gpa(q), &q->used_idx))
        broken = true;
    q->signalled_valid = false;
    const uint64_t max_window = (uint64_t)q->dev->poll_us * 1000u;
    uint64_t window = max_window;
    while (!atomic_load(&q->stop)) {
        if (view_stale(w)) {
            if (refresh_view(w)) {
                broken = true;
            } else if (broken && rd16(q, w->view->mem, used_idx_gpa(q), &q->used_idx) == 0) {
                broken = false; /* the memory changed: try the ring again */
                atomic_store(&q->broken, false);
            }
        }
        if (!broken && process_ring(w) != 0) {
            vb_log("queue %u: stopped serving until the ring or the memory is set up again",
                   q->index);
            broken = true;
        }
        if (atomic_load(&q->stop))
            break;
        if (!broken && busy_poll(w, window))
            continue; /* the driver made more available: no sleep, no wake-up */
        struct pollfd pfd[2] = {{.fd = q->wake_fd, .events = POLLIN},
                                {.fd = broken ? -1 : q->kick_fd, .events = POLLIN}};
        uint64_t t0 = max_window ? now_ns() : 0;
        int n = poll(pfd, 2, -1);
        if (max_window)
            window = adapt_window(window, max_window, now_ns() - t0);
        if (n < 0 && errno != EINTR) {
            vb_log("queue %u: poll: %s", q->index, strerror(errno));
            break;
        }
        if (pfd[0].revents & POLLIN)
            drain(q->wake_fd);
        if (pfd[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            vb_log("queue %u: kick fd unusable (revents 0x%x)", q->index, pfd[1].revents);
            broken = true;
        } else if (pfd[1].revents & POLLIN) {
            drain(q->kick_fd);
        }
    }
    /* Finish what was taken from the ring before stopping. */
    pthread_mutex_lock(&q->mu);
    for (;;) {
        uint16_t h;
        if (pop_pending(q, &h)) {
            pthread_mutex_unlock(&q->mu);
            serve(w, h);
            pthread_mutex_lock(&q->mu);
        } else if (q->inflight > 0) {
            pthread_cond_wait(&q->idle_cv, &q->mu);
        } else {
            break;
        }
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void *helper_thread(void *arg) {
    struct vworker *w = arg;
    struct vq *q = w->q;
    refresh_view(w);
    pthread_mutex_lock(&q->mu);
    for (;;) {
        uint16_t h;
        if (view_stale(w)) {
            pthread_mutex_unlock(&q->mu);
            refresh_view(w);
            pthread_mutex_lock(&q->mu);
        } else if (pop_pending(q, &h)) {
            pthread_mutex_unlock(&q->mu);
            serve(w, h);
            pthread_mutex_lock(&q->mu);
        } else if (q->helpers_exit) {
            break;
        } else {
            pthread_cond_wait(&q->work_cv, &q->mu);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* ---------------------------------------------------------------------------
 * Life cycle (control thread).
 */
int vq_init(struct vq *q, struct dev *d, unsigned index) {
    memset(q, 0, sizeof *q);
    q->dev = d;
    q->index = index;
    q->kick_fd = q->call_fd = q->err_fd = -1;
    q->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->wake_fd < 0)
        return -1;
    pthread_mutex_init(&q->call_mu, NULL);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work_cv, NULL);
    pthread_cond_init(&q->idle_cv, NULL);
    atomic_init(&q->stop, false);
    atomic_init(&q->broken, false);
    atomic_init(&q->bad_requests, 0);
    q->nworkers = d->io_threads ? d->io_threads : 1;
    q->workers = calloc(q->nworkers, sizeof *q->workers);
    q->pending = calloc(VU_MAX_QUEUE_SIZE, sizeof *q->pending);
    if (q->workers == NULL || q->pending == NULL)
        return -1;
    for (unsigned i = 0; i < q->nworkers; i++) {
        struct vworker *w = &q->workers[i];
        w->q = q;
        w->id = i;
        atomic_init(&w->seen_gen, 0);
        if (pr_chain_walker_new(NULL, &w->walker) != PR_OK ||
            pr_ranges_new(NULL, 0, &w->readable) != PR_OK ||
            pr_ranges_new(NULL, 0, &w->writable) != PR_OK)
            return -1;
    }
    return 0;
}

static void worker_drop_view(struct vworker *w) {
    /* The cursors keep the old memory alive: drop them with the view. */
    pr_reader_free(w->reader);
    pr_writer_free(w->writer);
    w->reader = NULL;
    w->writer = NULL;
    w->view = NULL;
}

void vq_destroy(struct vq *q) {
    for (unsigned i = 0; q->workers && i < q->nworkers; i++) {
        struct vworker *w = &q->workers[i];
        worker_drop_view(w);
        pr_ranges_free(w->readable);
        pr_ranges_free(w->writable);
        pr_chain_walker_free(w->walker);
    }
    free(q->workers);
    free(q->pending);
    q->workers = NULL;
    q->pending = NULL;
    if (q->wake_fd >= 0)
        close(q->wake_fd);
    q->wake_fd = -1;
    pthread_cond_destroy(&q->work_cv);
    pthread_cond_destroy(&q->idle_cv);
    pthread_mutex_destroy(&q->mu);
    pthread_mutex_destroy(&q->call_mu);
}

/* Wakes every thread of the queue (stop requested, or a new view). */
void vq_wake(struct vq *q) {
    uint64_t one = 1;
    ssize_t n = write(q->wake_fd, &one, sizeof one);
    (void)n;
    pthread_mutex_lock(&q->mu);
    pthread_cond_broadcast(&q->work_cv);
    pthread_mutex_unlock(&q->mu);
}

/* Whether every thread of the queue uses view generation `gen`. */
bool vq_on_gen(struct vq *q, unsigned gen) {
    for (unsigned i = 0; i < q->nstarted; i++)
        if (atomic_load(&q->workers[i].seen_gen) != gen)
            return false;
    return true;
}

int vq_start(struct vq *q) {
    if (q->running)
        return 0;
    atomic_store(&q->stop, false);
    atomic_store(&q->broken, false);
    q->event_idx = (q->dev->features >> VIRTIO_RING_F_EVENT_IDX) & 1;
    q->pend_first = q->npending = q->inflight = 0;
    q->helpers_exit = false;
    q->since_notify = 0;
    unsigned stale = atomic_load(&q->dev->gen) - 1; /* pick the view up at once */
    for (unsigned i = 0; i < q->nworkers; i++)
        atomic_store(&q->workers[i].seen_gen, stale);
    q->nstarted = 0;
    for (unsigned i = 0; i < q->nworkers; i++) {
        struct vworker *w = &q->workers[i];
        int rc = pthread_create(&w->thread, NULL, i == 0 ? poller_thread : helper_thread, w);
        if (rc != 0) {
            /* The poller serves queued heads itself: fewer helpers is fine. */
            vb_log("queue %u: pthread_create: %s", q->index, strerror(rc));
            break;
        }
        q->nstarted++;
    }
    if (q->nstarted == 0)
        return -1;
    /* Threads that did not start never look at a view. */
    for (unsigned i = q->nstarted; i < q->nworkers; i++)
        atomic_store(&q->workers[i].seen_gen, 0);
    q->running = true;
    return 0;
}

void vq_stop(struct vq *q) {
    if (!q->running)
        return;
    atomic_store(&q->stop, true);
    vq_wake(q);
    pthread_join(q->workers[0].thread, NULL); /* drains what it took */
    pthread_mutex_lock(&q->mu);
    q->helpers_exit = true;
    pthread_cond_broadcast(&q->work_cv);
    pthread_mutex_unlock(&q->mu);
    for (unsigned i = 1; i < q->nstarted; i++)
        pthread_join(q->workers[i].thread, NULL);
    for (unsigned i = 0; i < q->nworkers; i++)
        worker_drop_view(&q->workers[i]);
    q->nstarted = 0;
    q->running = false;
}
