/*
 * queue.c - one virtqueue: its thread, the split ring (VIRTIO 1.2, 2.7)
 * and the virtio-blk requests (VIRTIO 1.2, 5.2.6).
 *
 * Every ring access (available index and entries, used entries and index,
 * the event index fields) is one pr_memory_read / pr_memory_write by guest
 * physical address through the current view's memory, so that a used-ring
 * write is dirty-logged like any other write into the guest. The ring
 * fields are naturally aligned (checked when the ring is set up) and 2, 4 or
 * 8 bytes wide; the mapped backend copies them with memmove, which glibc
 * does with one load or store of that width on x86-64, so the driver never
 * sees a torn index. Ordering is made explicit with C11 fences.
 *
 * A request: the chain walker turns the head's descriptor chain into two
 * reused buffers (device-readable, device-writable); the 16-byte header is
 * read through a reader re-armed on the readable buffer; the data moves
 * zero-copy between the disk and guest pages through the iovecs the reader
 * or writer exports (pwritev for OUT, preadv for IN); the status byte, the
 * last writable byte, is written through the writer. The cursors are then
 * released so that the next walk refills the buffers without allocating.
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
#define NOTIFY_BATCH 16u /* requests between two notification checks */

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
    unsigned long n = ++q->bad_requests;
    return n <= 20 || n % 10000 == 0;
}

#define QLOG(q, ...)                                                                              \
    do {                                                                                          \
        if (bad_log_ok(q))                                                                        \
            vb_log(__VA_ARGS__);                                                                  \
    } while (0)

/* ---------------------------------------------------------------------------
 * Ring access through the library.
 */
static int rd16(struct vq *q, uint64_t gpa, uint16_t *v) {
    return pr_memory_read(q->view->mem, gpa, v, 2, NULL) == PR_OK ? 0 : -1;
}

static int wr16(struct vq *q, uint64_t gpa, uint16_t v) {
    return pr_memory_write(q->view->mem, gpa, &v, 2, NULL) == PR_OK ? 0 : -1;
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
static int refresh_view(struct vq *q) {
    struct dev *d = q->dev;
    pthread_mutex_lock(&d->mu);
    unsigned gen = atomic_load(&d->gen);
    struct view *v = d->view;
    pr_reader_free(q->reader);
    pr_writer_free(q->writer);
    q->reader = NULL;
    q->writer = NULL;
    q->view = v;
    int rc = 0;
    if (pr_ranges_reader_new(q->readable, v->mem, &q->reader) != PR_OK ||
        pr_ranges_writer_new(q->writable, v->mem, &q->writer) != PR_OK) {
        vb_log("queue %u: cannot create cursors", q->index);
        rc = -1;
    }
    /* The new cursors must not share the buffers the walker refills. */
    pr_reader_release(q->reader);
    pr_writer_release(q->writer);
    atomic_store(&q->seen_gen, gen);
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static bool view_stale(const struct vq *q) {
    return atomic_load_explicit(&q->dev->gen, memory_order_acquire) !=
           atomic_load_explicit(&q->seen_gen, memory_order_relaxed);
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
static uint8_t req_in(struct vq *q, const struct blk_outhdr *h, size_t data, size_t *written) {
    struct dev *d = q->dev;
    if (data % SECTOR != 0) {
        QLOG(q, "queue %u: IN of %zu bytes, not a multiple of %u", q->index, data, SECTOR);
        return VIRTIO_BLK_S_IOERR;
    }
    if (!in_disk(d, h->sector, data / SECTOR)) {
        QLOG(q, "queue %u: IN sector %" PRIu64 " + %zu bytes past the disk end (%" PRIu64
                " sectors)", q->index, h->sector, data, d->capacity);
        return VIRTIO_BLK_S_IOERR;
    }
    uint64_t off = h->sector * SECTOR;
    while (data > 0) {
        size_t cnt = 0, covered = 0;
        pr_status st = pr_writer_iovecs(q->writer, data, q->iov, VB_IOV_CAP, &cnt, &covered);
        if (st != PR_OK && st != PR_ERR_BUFFER_TOO_SMALL) {
            QLOG(q, "queue %u: IN buffer not in guest memory: %s", q->index, pr_status_str(st));
            return VIRTIO_BLK_S_IOERR;
        }
        int rc = disk_rw(d->disk_fd, q->iov, cnt, off, false);
        if (rc < 0) {
            vb_log("queue %u: preadv at %" PRIu64 ": %s", q->index, off, strerror(-rc));
            return VIRTIO_BLK_S_IOERR;
        }
        off += covered;
        data -= covered;
        *written += covered;
    }
    return VIRTIO_BLK_S_OK;
}

static uint8_t req_out(struct vq *q, const struct blk_outhdr *h, size_t data) {
    struct dev *d = q->dev;
    if (d->read_only)
        return VIRTIO_BLK_S_IOERR;
    if (data % SECTOR != 0) {
        QLOG(q, "queue %u: OUT of %zu bytes, not a multiple of %u", q->index, data, SECTOR);
        return VIRTIO_BLK_S_IOERR;
    }
    if (!in_disk(d, h->sector, data / SECTOR)) {
        QLOG(q, "queue %u: OUT sector %" PRIu64 " + %zu bytes past the disk end (%" PRIu64
                " sectors)", q->index, h->sector, data, d->capacity);
        return VIRTIO_BLK_S_IOERR;
    }
    uint64_t off = h->sector * SECTOR;
    while (data > 0) {
        size_t cnt = 0, covered = 0;
        pr_status st = pr_reader_iovecs(q->reader, data, q->iov, VB_IOV_CAP, &cnt, &covered);
        if (st != PR_OK && st != PR_ERR_BUFFER_TOO_SMALL) {
            /* Nothing of this piece was written; earlier pieces were, which
             * stays inside the request's own range. */
            QLOG(q, "queue %u: OUT buffer not in guest memory: %s", q->index, pr_status_str(st));
            return VIRTIO_BLK_S_IOERR;
        }
        int rc = disk_rw(d->disk_fd, q->iov, cnt, off, true);
        if (rc < 0) {
            vb_log("queue %u: pwritev at %" PRIu64 ": %s", q->index, off, strerror(-rc));
            return VIRTIO_BLK_S_IOERR;
        }
        off += covered;
        data -= covered;
    }
    return VIRTIO_BLK_S_OK;
}

static uint8_t req_get_id(struct vq *q, size_t room, size_t *written) {
    static const char id[VIRTIO_BLK_ID_BYTES] = {'p', 'a', 'g', 'e', 'd', 'r', 'a',
                                                 'n', 'g', 'e', '-', 'v', 'h', 'o',
                                                 's', 't', '-', 'b', 'l', 'k'}; /* no NUL */
    size_t n = room < sizeof id ? room : sizeof id;
    pr_transfer t;
    if (pr_writer_write(q->writer, id, n, &t) != PR_OK) {
        *written += t.done;
        return VIRTIO_BLK_S_IOERR;
    }
    *written += n;
    return VIRTIO_BLK_S_OK;
}

static int zero_fill(int fd, uint64_t off, uint64_t len) {
    static const uint8_t zeros[65536];
    while (len > 0) {
        size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        off += (uint64_t)w;
        len -= (uint64_t)w;
    }
    return 0;
}

static uint8_t req_discard_wz(struct vq *q, const struct blk_outhdr *h, size_t payload) {
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
    if (pr_reader_read(q->reader, &s, sizeof s, &t) != PR_OK)
        return VIRTIO_BLK_S_IOERR;
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
static uint32_t fail_malformed(struct vq *q, uint16_t head) {
    const pr_memory *mem = q->view->mem;
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
            if (indirect || (dsc.flags & VRING_DESC_F_NEXT) || dsc.len == 0 || dsc.len % 16 != 0 ||
                dsc.len / 16 > 65536)
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

/* Serves the chain at `head`; returns the used length. */
static uint32_t handle_request(struct vq *q, uint16_t head) {
    pr_chain_error ce;
    memset(&ce, 0, sizeof ce);
    pr_status st = pr_chain_walker_walk(q->walker, q->view->mem, q->desc_gpa, (uint16_t)q->num,
                                        head, q->readable, q->writable, &ce);
    if (st != PR_OK) {
        uint32_t len = fail_malformed(q, head);
        QLOG(q, "queue %u: head %u refused: %sdescriptor %u: %s (%s)%s", q->index, head,
             ce.indirect ? "indirect " : "", ce.index, pr_chain_rule_str(ce.rule),
             pr_status_str(st), len ? "; IOERR written" : "; returned with length 0");
        return len;
    }
    const size_t rlen = pr_ranges_len(q->readable), wlen = pr_ranges_len(q->writable);
    if (wlen == 0) {
        QLOG(q, "queue %u: head %u has no device-writable byte for the status; returned with "
                "length 0", q->index, head);
        return 0;
    }
    size_t written = 0;
    uint8_t status = VIRTIO_BLK_S_IOERR;
    struct blk_outhdr h;
    if (pr_ranges_writer_reset(q->writer, q->writable) != PR_OK ||
        pr_ranges_reader_reset(q->reader, q->readable) != PR_OK) {
        vb_log("queue %u: cursor reset failed", q->index);
        goto status;
    }
    if (rlen < sizeof h) {
        QLOG(q, "queue %u: head %u: %zu readable bytes, less than the 16-byte header", q->index,
             head, rlen);
        goto status;
    }
    if (pr_reader_read(q->reader, &h, sizeof h, NULL) != PR_OK)
        goto status;
    switch (h.type) {
    case VIRTIO_BLK_T_IN:
        status = req_in(q, &h, wlen - 1, &written);
        break;
    case VIRTIO_BLK_T_OUT:
        status = req_out(q, &h, rlen - sizeof h);
        break;
    case VIRTIO_BLK_T_FLUSH:
        status = VIRTIO_BLK_S_OK;
        if (!q->dev->read_only && fdatasync(q->dev->disk_fd) != 0) {
            vb_log("queue %u: fdatasync: %s", q->index, strerror(errno));
            status = VIRTIO_BLK_S_IOERR;
        }
        break;
    case VIRTIO_BLK_T_GET_ID:
        status = req_get_id(q, wlen - 1, &written);
        break;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        status = req_discard_wz(q, &h, rlen - sizeof h);
        break;
    default:
        QLOG(q, "queue %u: head %u: request type %u unsupported", q->index, head, h.type);
        status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
status: {
    /* The status is the last writable byte, whatever the data part did. */
    size_t left = pr_writer_remaining(q->writer);
    pr_transfer t;
    if (left == 0 || pr_writer_skip(q->writer, left - 1) != PR_OK ||
        pr_writer_write(q->writer, &status, 1, &t) != PR_OK) {
        /* The writer may be unarmed (reset failed): write by address. */
        QLOG(q, "queue %u: head %u: status byte not writable", q->index, head);
        pr_reader_release(q->reader);
        pr_writer_release(q->writer);
        return (uint32_t)written;
    }
}
    pr_reader_release(q->reader);
    pr_writer_release(q->writer);
    return (uint32_t)(written + 1);
}

/* ---------------------------------------------------------------------------
 * The ring.
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

/* Interrupt suppression (VIRTIO 1.2, 2.7.7 and 2.7.10). */
static int maybe_notify(struct vq *q) {
    atomic_thread_fence(memory_order_seq_cst); /* used idx visible before reading the flags */
    bool need;
    if (q->event_idx) {
        uint16_t event, new_idx = q->used_idx, old = q->signalled_used;
        if (rd16(q, used_event_gpa(q), &event))
            return -1;
        need = !q->signalled_valid || (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
        q->signalled_used = new_idx;
        q->signalled_valid = true;
    } else {
        uint16_t flags;
        if (rd16(q, q->avail_gpa, &flags))
            return -1;
        need = !(flags & VRING_AVAIL_F_NO_INTERRUPT);
    }
    if (need)
        notify(q);
    return 0;
}

static int push_used(struct vq *q, uint16_t head, uint32_t len) {
    uint32_t elem[2] = {head, len};
    if (pr_memory_write(q->view->mem, used_ring_gpa(q, q->used_idx), elem, sizeof elem, NULL) !=
        PR_OK)
        return -1;
    atomic_thread_fence(memory_order_release); /* the entry before the index */
    q->used_idx++;
    return wr16(q, used_idx_gpa(q), q->used_idx);
}

/* Serves what the driver made available. Returns 0, or -1 when the ring
 * itself is unusable (not in guest memory, an impossible index). */
static int process_ring(struct vq *q) {
    unsigned since_notify = 0;
    for (;;) {
        uint16_t avail;
        if (rd16(q, avail_idx_gpa(q), &avail)) {
            vb_log("queue %u: available ring at 0x%" PRIx64 " not in guest memory", q->index,
                   q->avail_gpa);
            return -1;
        }
        if ((uint16_t)(avail - q->next_avail) > q->num) {
            vb_log("queue %u: available index %u is %u entries ahead of %u (queue size %u)",
                   q->index, avail, (uint16_t)(avail - q->next_avail), q->next_avail, q->num);
            return -1;
        }
        if (avail == q->next_avail) {
            if (since_notify > 0 && maybe_notify(q))
                return -1;
            since_notify = 0;
            if (!q->event_idx)
                return 0;
            /* Ask for a kick after the last entry seen, then look again. */
            if (wr16(q, avail_event_gpa(q), q->next_avail))
                return -1;
            atomic_thread_fence(memory_order_seq_cst);
            if (rd16(q, avail_idx_gpa(q), &avail))
                return -1;
            if (avail == q->next_avail)
                return 0;
            continue;
        }
        atomic_thread_fence(memory_order_acquire); /* entries after the index */
        while (q->next_avail != avail) {
            if (atomic_load_explicit(&q->stop, memory_order_relaxed))
                goto out;
            if (view_stale(q) && refresh_view(q))
                return -1;
            uint16_t head;
            if (rd16(q, avail_ring_gpa(q, q->next_avail), &head))
                return -1;
            uint32_t len = handle_request(q, head);
            q->next_avail++;
            if (push_used(q, head, len)) {
                vb_log("queue %u: used ring at 0x%" PRIx64 " not writable", q->index,
                       q->used_gpa);
                return -1;
            }
            if (++since_notify >= NOTIFY_BATCH) {
                if (maybe_notify(q))
                    return -1;
                since_notify = 0;
            }
        }
    }
out:
    if (since_notify > 0 && maybe_notify(q))
        return -1;
    return 0;
}

static void drain(int fd) {
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof v);
    (void)n;
}

static void *queue_thread(void *arg) {
    struct vq *q = arg;
    bool broken = refresh_view(q) != 0;
    if (!broken && rd16(q, used_idx_gpa(q), &q->used_idx)) {
        vb_log("queue %u: used ring at 0x%" PRIx64 " not in guest memory", q->index, q->used_gpa);
        broken = true;
    }
    q->signalled_valid = false;
    while (!atomic_load(&q->stop)) {
        if (view_stale(q)) {
            if (refresh_view(q))
                broken = true;
            else if (broken && rd16(q, used_idx_gpa(q), &q->used_idx) == 0)
                broken = false; /* the memory changed: try the ring again */
        }
        if (!broken && process_ring(q) != 0) {
            vb_log("queue %u: stopped serving until the ring or the memory is set up again",
                   q->index);
            broken = true;
        }
        if (atomic_load(&q->stop))
            break;
        struct pollfd pfd[2] = {{.fd = q->wake_fd, .events = POLLIN},
                                {.fd = broken ? -1 : q->kick_fd, .events = POLLIN}};
        int n = poll(pfd, 2, -1);
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
    atomic_init(&q->stop, false);
    atomic_init(&q->seen_gen, 0);
    if (pr_chain_walker_new(NULL, &q->walker) != PR_OK ||
        pr_ranges_new(NULL, 0, &q->readable) != PR_OK ||
        pr_ranges_new(NULL, 0, &q->writable) != PR_OK)
        return -1;
    return 0;
}

void vq_destroy(struct vq *q) {
    pr_reader_free(q->reader);
    pr_writer_free(q->writer);
    pr_ranges_free(q->readable);
    pr_ranges_free(q->writable);
    pr_chain_walker_free(q->walker);
    q->reader = NULL;
    q->writer = NULL;
    q->readable = q->writable = NULL;
    q->walker = NULL;
    if (q->wake_fd >= 0)
        close(q->wake_fd);
    q->wake_fd = -1;
    pthread_mutex_destroy(&q->call_mu);
}

void vq_wake(struct vq *q) {
    uint64_t one = 1;
    ssize_t n = write(q->wake_fd, &one, sizeof one);
    (void)n;
}

int vq_start(struct vq *q) {
    if (q->running)
        return 0;
    atomic_store(&q->stop, false);
    q->event_idx = (q->dev->features >> VIRTIO_RING_F_EVENT_IDX) & 1;
    atomic_store(&q->seen_gen, atomic_load(&q->dev->gen) - 1); /* pick the view up at once */
    int rc = pthread_create(&q->thread, NULL, queue_thread, q);
    if (rc != 0) {
        vb_log("queue %u: pthread_create: %s", q->index, strerror(rc));
        return -1;
    }
    q->running = true;
    return 0;
}

void vq_stop(struct vq *q) {
    if (!q->running)
        return;
    atomic_store(&q->stop, true);
    vq_wake(q);
    pthread_join(q->thread, NULL);
    q->running = false;
    /* The cursors keep the old memory alive: drop them with the view. */
    pr_reader_free(q->reader);
    pr_writer_free(q->writer);
    q->reader = NULL;
    q->writer = NULL;
    q->view = NULL;
}
