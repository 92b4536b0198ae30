/*
 * control.c - the vhost-user back-end side: one validated message at a
 * time (vu_msg_parse has checked sizes, descriptor counts and field
 * ranges), applied to the device state. Runs on the main thread only.
 */
#define _GNU_SOURCE
#include "vhost_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const uint64_t PROTOCOL_FEATURES =
    (1ull << VU_PROTOCOL_F_MQ) | (1ull << VU_PROTOCOL_F_LOG_SHMFD) |
    (1ull << VU_PROTOCOL_F_REPLY_ACK) | (1ull << VU_PROTOCOL_F_CONFIG) |
    (1ull << VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS);

uint64_t vb_device_features(const struct dev *d) {
    uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
                 (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
                 (1ull << VHOST_F_LOG_ALL) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
                 (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
                 (1ull << VIRTIO_BLK_F_MQ);
    if (d->read_only)
        f |= 1ull << VIRTIO_BLK_F_RO;
    else
        f |= (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
    return f;
}

/* ---------------------------------------------------------------------------
 * Mappings and views.
 */
static void map_unref(struct mapping *m) {
    if (m == NULL || --m->refs > 0)
        return;
    vb_guard_remove(m->base);
    munmap(m->base, m->len);
    free(m);
}

static struct mapping *map_fd(int fd, uint64_t len, const char *what) {
    if (len == 0 || len > (uint64_t)SIZE_MAX) {
        vb_log("%s: cannot map 0x%" PRIx64 " bytes", what, len);
        return NULL;
    }
    /* Only files (memfd, tmpfs, hugetlbfs) that hold every byte mapped:
     * touching a page past the end of a file raises SIGBUS. (The front-end
     * may still shrink a file later: the library recovers from that fault
     * in guest memory, sigbus.c in the dirty log.) */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        vb_log("%s: fd is not a regular file (memfd, tmpfs or hugetlbfs)", what);
        return NULL;
    }
    if ((uint64_t)st.st_size < len) {
        vb_log("%s: file holds 0x%" PRIx64 " bytes, 0x%" PRIx64 " needed", what,
               (uint64_t)st.st_size, len);
        return NULL;
    }
    void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        vb_log("%s: mmap of 0x%" PRIx64 " bytes failed: %s", what, len, strerror(errno));
        return NULL;
    }
    struct mapping *m = calloc(1, sizeof *m);
    if (m == NULL) {
        munmap(p, (size_t)len);
        return NULL;
    }
    m->base = p;
    m->len = (size_t)len;
    m->refs = 1;
    return m;
}

static void view_free(struct view *v) {
    if (v == NULL)
        return;
    pr_memory_free(v->mem);
    for (unsigned i = 0; i < v->nmaps; i++)
        map_unref(v->maps[i]);
    free(v);
}

static bool logging(const struct dev *d) {
    return ((d->features >> VHOST_F_LOG_ALL) & 1) && d->log_map != NULL;
}

/* A view over `regions` (and the log when logging), or NULL with a log
 * line: the library refuses overlapping or overflowing regions. */
static struct view *view_build(struct dev *d, const struct region *regions, unsigned n) {
    struct view *v = calloc(1, sizeof *v);
    pr_mapped_region mr[VB_MAX_MEM_SLOTS];
    if (v == NULL)
        return NULL;
    for (unsigned i = 0; i < n; i++)
        mr[i] = (pr_mapped_region){regions[i].r.guest_phys_addr, regions[i].r.memory_size,
                                   regions[i].host};
    pr_memory *base = NULL;
    pr_status st = pr_memory_new_mapped(n ? mr : NULL, n, &base);
    if (st != PR_OK) {
        /* Name the culprit when it is an overlap (the usual case). */
        for (unsigned i = 0; i < n; i++)
            for (unsigned j = i + 1; j < n; j++) {
                const struct vu_region *a = &regions[i].r, *b = &regions[j].r;
                if (a->guest_phys_addr - b->guest_phys_addr < b->memory_size ||
                    b->guest_phys_addr - a->guest_phys_addr < a->memory_size)
                    vb_log("memory region gpa 0x%" PRIx64 " size 0x%" PRIx64
                           " overlaps region gpa 0x%" PRIx64 " size 0x%" PRIx64,
                           a->guest_phys_addr, a->memory_size, b->guest_phys_addr,
                           b->memory_size);
            }
        vb_log("memory table refused by pr_memory_new_mapped: %s", pr_status_str(st));
        free(v);
        return NULL;
    }
    v->mem = base;
    if (logging(d)) {
        pr_memory *logged = NULL;
        st = pr_memory_with_dirty_bitmap(base, d->log_bits, d->log_pages, &logged);
        if (st != PR_OK) {
            vb_log("dirty log refused by pr_memory_with_dirty_bitmap: %s", pr_status_str(st));
            pr_memory_free(base);
            free(v);
            return NULL;
        }
        pr_memory_free(base); /* `logged` keeps it */
        v->mem = logged;
        v->maps[v->nmaps++] = d->log_map;
        d->log_map->refs++;
    }
    for (unsigned i = 0; i < n; i++) {
        v->maps[v->nmaps++] = regions[i].map;
        regions[i].map->refs++;
    }
    return v;
}

/* Makes `v` the view every queue uses; frees the old one once no running
 * queue thread can still be using it. */
static void view_publish(struct dev *d, struct view *v) {
    pthread_mutex_lock(&d->mu);
    struct view *old = d->view;
    d->view = v;
    unsigned gen = atomic_load(&d->gen) + 1;
    atomic_store(&d->gen, gen);
    pthread_mutex_unlock(&d->mu);
    for (unsigned i = 0; i < d->nqueues; i++)
        if (d->vqs[i].running)
            vq_wake(&d->vqs[i]);
    pthread_mutex_lock(&d->mu);
    for (unsigned i = 0; i < d->nqueues; i++) {
        struct vq *q = &d->vqs[i];
        unsigned waited = 0;
        while (q->running && !vq_on_gen(q, gen)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 5;
            if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) == ETIMEDOUT)
                vb_log("queue %u: still busy with the old memory after %u s", i, waited += 5);
        }
    }
    pthread_mutex_unlock(&d->mu);
    view_free(old);
}

/* Rebuilds the view from the current regions and log state. */
static int view_rebuild(struct dev *d) {
    struct view *v = view_build(d, d->regions, d->nregions);
    if (v == NULL)
        return -1;
    view_publish(d, v);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Rings.
 */

/* Front-end virtual address range -> guest physical address, within one
 * region. */
static int uva_to_gpa(const struct dev *d, uint64_t uva, uint64_t len, uint64_t *gpa) {
    for (unsigned i = 0; i < d->nregions; i++) {
        const struct vu_region *r = &d->regions[i].r;
        if (uva >= r->userspace_addr && uva - r->userspace_addr < r->memory_size &&
            len <= r->memory_size - (uva - r->userspace_addr)) {
            *gpa = r->guest_phys_addr + (uva - r->userspace_addr);
            return 0;
        }
    }
    return -1;
}

/* Translates the ring addresses for the current queue size; logs why not. */
static int vq_translate(struct dev *d, struct vq *q) {
    const struct vu_vring_addr *a = &q->addr;
    uint64_t n = q->num ? q->num : 1;
    if (a->desc_user_addr % 16 || a->avail_user_addr % 2 || a->used_user_addr % 4) {
        vb_log("queue %u: misaligned rings (desc 0x%" PRIx64 ", avail 0x%" PRIx64
               ", used 0x%" PRIx64 ")", q->index, a->desc_user_addr, a->avail_user_addr,
               a->used_user_addr);
        return -1;
    }
    if (uva_to_gpa(d, a->desc_user_addr, 16 * n, &q->desc_gpa) ||
        uva_to_gpa(d, a->avail_user_addr, 6 + 2 * n, &q->avail_gpa) ||
        uva_to_gpa(d, a->used_user_addr, 6 + 8 * n, &q->used_gpa)) {
        vb_log("queue %u: ring addresses (desc 0x%" PRIx64 ", avail 0x%" PRIx64
               ", used 0x%" PRIx64 ", %" PRIu64 " entries) outside the memory regions",
               q->index, a->desc_user_addr, a->avail_user_addr, a->used_user_addr, n);
        return -1;
    }
    return 0;
}

static bool vq_runnable(struct dev *d, struct vq *q) {
    bool enabled = q->enabled || !((d->features >> VHOST_USER_F_PROTOCOL_FEATURES) & 1);
    return q->kick_fd >= 0 && q->num > 0 && q->addr_set && enabled;
}

/* Starts or stops the queue's thread to match its state. */
static void vq_update(struct dev *d, struct vq *q) {
    if (vq_runnable(d, q)) {
        if (!q->running && vq_translate(d, q) == 0)
            vq_start(q);
    } else {
        vq_stop(q);
    }
}

static void close_fd(int *fd) {
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Forgets the ring (GET_VRING_BASE, RESET_OWNER, disconnect). */
static void vq_reset(struct vq *q, bool keep_base) {
    vq_stop(q);
    close_fd(&q->kick_fd);
    if (!keep_base) {
        pthread_mutex_lock(&q->call_mu);
        close_fd(&q->call_fd);
        close_fd(&q->err_fd);
        pthread_mutex_unlock(&q->call_mu);
        q->num = 0;
        q->next_avail = 0;
        q->addr_set = false;
        q->enabled = false;
    }
}

/* An eventfd for kick/call/error: refuse what poll/read would misuse. */
static int check_event_fd(int fd, const char *what, unsigned index) {
    struct stat st;
    if (fstat(fd, &st) != 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) ||
        S_ISBLK(st.st_mode)) {
        vb_log("queue %u: %s fd is not an eventfd-like descriptor", index, what);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        vb_log("queue %u: %s fd: fcntl: %s", index, what, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Memory regions.
 */
static void region_clear(struct region *r) {
    map_unref(r->map);
    r->map = NULL;
}

static void regions_clear(struct dev *d) {
    for (unsigned i = 0; i < d->nregions; i++)
        region_clear(&d->regions[i]);
    d->nregions = 0;
}

/* Maps a region's fd (closing the fd); the region is the front-end's. */
static int region_map(struct region *out, const struct vu_region *r, int fd) {
    memset(out, 0, sizeof *out);
    out->r = *r;
    char what[96];
    snprintf(what, sizeof what, "memory region gpa 0x%" PRIx64 " size 0x%" PRIx64,
             r->guest_phys_addr, r->memory_size);
    out->map = map_fd(fd, r->mmap_offset + r->memory_size, what); /* no overflow: vu_msg */
    close(fd);
    if (out->map == NULL)
        return -1;
    out->host = (uint8_t *)out->map->base + r->mmap_offset;
    return 0;
}

static int set_mem_table(struct dev *d, struct vu_msg *m) {
    struct region nr[VU_MAX_MEM_REGIONS];
    unsigned n = m->p.mem.nregions, ok = 0;
    memset(nr, 0, sizeof nr);
    int rc = 0;
    for (unsigned i = 0; i < n; i++) {
        if (region_map(&nr[i], &m->p.mem.regions[i], m->fds[i]) != 0) {
            rc = -1;
            for (unsigned j = i + 1; j < n; j++)
                close(m->fds[j]);
            break;
        }
        ok++;
    }
    struct view *v = rc == 0 ? view_build(d, nr, n) : NULL;
    if (v == NULL) {
        for (unsigned i = 0; i < ok; i++)
            region_clear(&nr[i]);
        return -1;
    }
    regions_clear(d);
    memcpy(d->regions, nr, n * sizeof nr[0]);
    d->nregions = n;
    view_publish(d, v);
    vb_log("memory table: %u region(s)", n);
    return 0;
}

static int add_mem_region(struct dev *d, struct vu_msg *m) {
    if (d->nregions >= VB_MAX_MEM_SLOTS) {
        close(m->fds[0]);
        vb_log("ADD_MEM_REGION: all %u slots in use", VB_MAX_MEM_SLOTS);
        return -1;
    }
    struct region *r = &d->regions[d->nregions];
    if (region_map(r, &m->p.region, m->fds[0]) != 0)
        return -1;
    struct view *v = view_build(d, d->regions, d->nregions + 1);
    if (v == NULL) {
        region_clear(r);
        return -1;
    }
    d->nregions++;
    view_publish(d, v);
    return 0;
}

static int rem_mem_region(struct dev *d, struct vu_msg *m) {
    const struct vu_region *want = &m->p.region;
    if (m->nfds)
        close(m->fds[0]);
    for (unsigned i = 0; i < d->nregions; i++) {
        struct vu_region *r = &d->regions[i].r;
        if (r->guest_phys_addr == want->guest_phys_addr && r->memory_size == want->memory_size &&
            (want->userspace_addr == 0 || r->userspace_addr == want->userspace_addr)) {
            struct region gone = d->regions[i];
            d->regions[i] = d->regions[--d->nregions];
            struct view *v = view_build(d, d->regions, d->nregions);
            if (v == NULL) { /* cannot happen: a subset of a valid table */
                d->regions[d->nregions++] = gone;
                return -1;
            }
            view_publish(d, v);
            region_clear(&gone);
            return 0;
        }
    }
    vb_log("REM_MEM_REGION: no region at gpa 0x%" PRIx64 " size 0x%" PRIx64,
           want->guest_phys_addr, want->memory_size);
    return -1;
}

static int set_log_base(struct dev *d, struct vu_msg *m) {
    uint64_t size = m->p.log.mmap_size, off = m->p.log.mmap_offset;
    struct mapping *map = map_fd(m->fds[0], off + size, "dirty log");
    close(m->fds[0]);
    if (map == NULL)
        return -1;
    vb_guard_add(map->base, map->len); /* the library's bitmap stores are not recovered */
    struct mapping *old = d->log_map;
    uint64_t *old_bits = d->log_bits, old_pages = d->log_pages;
    d->log_map = map;
    d->log_bits = (uint64_t *)((uint8_t *)map->base + off);
    d->log_pages = (size / 8) * 64; /* whole words only */
    if (view_rebuild(d) != 0) {
        d->log_map = old;
        d->log_bits = old_bits;
        d->log_pages = old_pages;
        map_unref(map);
        return -1;
    }
    map_unref(old);
    vb_log("dirty log: %" PRIu64 " bytes (%" PRIu64 " pages)%s", size, d->log_pages,
           logging(d) ? ", logging" : "");
    return 0;
}

static int set_features(struct dev *d, uint64_t f) {
    uint64_t offered = vb_device_features(d);
    if (f & ~offered) {
        vb_log("SET_FEATURES: 0x%" PRIx64 " not offered", f & ~offered);
        return -1;
    }
    uint64_t changed = d->features ^ f;
    if (changed & ~(1ull << VHOST_F_LOG_ALL)) {
        /* Ring behaviour may change (event index): restart running queues
         * (vq_update below starts them again). */
        for (unsigned i = 0; i < d->nqueues; i++)
            vq_stop(&d->vqs[i]);
    }
    d->features = f;
    if ((changed >> VHOST_F_LOG_ALL) & 1) {
        vb_log("dirty logging %s", logging(d) ? "on" : "off");
        if (view_rebuild(d) != 0)
            return -1;
    }
    for (unsigned i = 0; i < d->nqueues; i++)
        vq_update(d, &d->vqs[i]);
    return 0;
}

/* The virtio-blk configuration space (VIRTIO 1.2, 5.2.4), little-endian. */
static void blk_config(const struct dev *d, uint8_t cfg[VU_CONFIG_SPACE_MAX]) {
    memset(cfg, 0, VU_CONFIG_SPACE_MAX);
    uint32_t seg_max = VB_SEG_MAX, blk_size = 512, max_sectors = 1u << 22, one = 1;
    uint16_t nq = (uint16_t)d->nqueues;
    memcpy(cfg + 0, &d->capacity, 8);  /* capacity */
    memcpy(cfg + 12, &seg_max, 4);     /* seg_max */
    memcpy(cfg + 20, &blk_size, 4);    /* blk_size */
    memcpy(cfg + 34, &nq, 2);          /* num_queues */
    memcpy(cfg + 36, &max_sectors, 4); /* max_discard_sectors */
    memcpy(cfg + 40, &one, 4);         /* max_discard_seg */
    memcpy(cfg + 44, &one, 4);         /* discard_sector_alignment */
    memcpy(cfg + 48, &max_sectors, 4); /* max_write_zeroes_sectors */
    memcpy(cfg + 52, &one, 4);         /* max_write_zeroes_seg */
    cfg[56] = 1;                       /* write_zeroes_may_unmap */
}

/* ---------------------------------------------------------------------------
 * Dispatch.
 */
int vb_send_reply(struct dev *d, uint32_t request, const void *payload, uint32_t size) {
    uint8_t buf[VU_HDR_SIZE + VU_HDR_SIZE + VU_CONFIG_SPACE_MAX];
    uint32_t flags = VU_VERSION | VU_FLAG_REPLY;
    if (size > sizeof buf - VU_HDR_SIZE)
        return -1;
    memcpy(buf, &request, 4);
    memcpy(buf + 4, &flags, 4);
    memcpy(buf + 8, &size, 4);
    if (size)
        memcpy(buf + VU_HDR_SIZE, payload, size);
    size_t len = VU_HDR_SIZE + size, done = 0;
    while (done < len) {
        ssize_t n = send(d->conn_fd, buf + done, len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            vb_log("reply to %s: send: %s", vu_request_name(request),
                   n < 0 ? strerror(errno) : "closed");
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int reply_u64(struct dev *d, uint32_t request, uint64_t v) {
    return vb_send_reply(d, request, &v, sizeof v);
}

static void close_msg_fds(struct vu_msg *m) {
    for (unsigned i = 0; i < m->nfds; i++)
        close(m->fds[i]);
    m->nfds = 0;
}

int vb_handle(struct dev *d, struct vu_msg *m) {
    int rc = 0; /* 0 ok, -1 failed (acked as failure), -2 close */
    struct vq *q = NULL;
    switch (m->request) {
    case VU_GET_FEATURES:
        return reply_u64(d, m->request, vb_device_features(d));
    case VU_SET_FEATURES:
        rc = set_features(d, m->p.u64);
        break;
    case VU_GET_PROTOCOL_FEATURES:
        return reply_u64(d, m->request, PROTOCOL_FEATURES);
    case VU_SET_PROTOCOL_FEATURES:
        if (m->p.u64 & ~PROTOCOL_FEATURES) {
            vb_log("SET_PROTOCOL_FEATURES: 0x%" PRIx64 " not offered", m->p.u64 & ~PROTOCOL_FEATURES);
            rc = -1;
        } else {
            d->protocol_features = m->p.u64;
        }
        break;
    case VU_SET_OWNER:
        break;
    case VU_RESET_OWNER:
        for (unsigned i = 0; i < d->nqueues; i++)
            vq_reset(&d->vqs[i], false);
        d->features = 0;
        break;
    case VU_SET_MEM_TABLE:
        rc = set_mem_table(d, m);
        m->nfds = 0;
        break;
    case VU_ADD_MEM_REGION:
        rc = add_mem_region(d, m);
        m->nfds = 0;
        break;
    case VU_REM_MEM_REGION:
        rc = rem_mem_region(d, m);
        m->nfds = 0;
        break;
    case VU_GET_MAX_MEM_SLOTS:
        return reply_u64(d, m->request, VB_MAX_MEM_SLOTS);
    case VU_SET_LOG_BASE: {
        rc = set_log_base(d, m);
        m->nfds = 0;
        /* The front-end waits for this reply whether or not it asked. */
        if (reply_u64(d, m->request, rc == 0 ? 0 : 1) != 0)
            return -1;
        return 0;
    }
    case VU_GET_QUEUE_NUM:
        return reply_u64(d, m->request, d->nqueues);
    case VU_SET_VRING_NUM:
        q = &d->vqs[m->p.state.index];
        vq_stop(q);
        q->num = m->p.state.num;
        vq_update(d, q);
        break;
    case VU_SET_VRING_BASE:
        q = &d->vqs[m->p.state.index];
        vq_stop(q);
        q->next_avail = (uint16_t)m->p.state.num;
        vq_update(d, q);
        break;
    case VU_GET_VRING_BASE: {
        q = &d->vqs[m->p.state.index];
        vq_stop(q); /* finishes the request in progress */
        struct vu_vring_state s = {q->index, q->next_avail};
        vq_reset(q, true); /* stopped until the next SET_VRING_KICK */
        return vb_send_reply(d, m->request, &s, sizeof s);
    }
    case VU_SET_VRING_ADDR: {
        q = &d->vqs[m->p.addr.index];
        vq_stop(q);
        struct vu_vring_addr old = q->addr;
        bool old_set = q->addr_set;
        q->addr = m->p.addr;
        if (vq_translate(d, q) != 0) {
            q->addr = old;
            q->addr_set = old_set;
            rc = -1;
        } else {
            q->addr_set = true;
        }
        vq_update(d, q);
        break;
    }
    case VU_SET_VRING_KICK:
        q = &d->vqs[m->p.file.index];
        if (m->p.file.nofd) {
            vb_log("queue %u: SET_VRING_KICK without fd (polling) not supported", q->index);
            rc = -1;
            break;
        }
        if (check_event_fd(m->fds[0], "kick", q->index) != 0) {
            rc = -1;
            break;
        }
        vq_stop(q);
        close_fd(&q->kick_fd);
        q->kick_fd = m->fds[0];
        m->nfds = 0;
        vq_update(d, q);
        break;
    case VU_SET_VRING_CALL:
    case VU_SET_VRING_ERR: {
        q = &d->vqs[m->p.file.index];
        const bool call = m->request == VU_SET_VRING_CALL;
        if (!m->p.file.nofd &&
            check_event_fd(m->fds[0], call ? "call" : "error", q->index) != 0) {
            rc = -1;
            break;
        }
        int *fd = call ? &q->call_fd : &q->err_fd;
        pthread_mutex_lock(&q->call_mu);
        close_fd(fd);
        *fd = m->p.file.nofd ? -1 : m->fds[0];
        pthread_mutex_unlock(&q->call_mu);
        m->nfds = 0;
        break;
    }
    case VU_SET_VRING_ENABLE:
        q = &d->vqs[m->p.state.index];
        q->enabled = m->p.state.num != 0;
        vq_update(d, q);
        break;
    case VU_GET_CONFIG: {
        uint8_t cfg[VU_CONFIG_SPACE_MAX];
        struct vu_config out;
        blk_config(d, cfg);
        out.offset = m->p.config.offset;
        out.size = m->p.config.size;
        out.flags = 0;
        memcpy(out.region, cfg + out.offset, out.size); /* bounds: vu_msg */
        return vb_send_reply(d, m->request, &out, 12 + out.size);
    }
    case VU_SET_CONFIG:
        vb_log("SET_CONFIG refused: the configuration space is read-only");
        rc = -1;
        break;
    case VU_SET_BACKEND_REQ_FD:
        break; /* accepted, not used */
    default:
        vb_log("%s (%u) not handled", vu_request_name(m->request), m->request);
        rc = -1;
        break;
    }
    close_msg_fds(m);
    if (m->flags & VU_FLAG_NEED_REPLY)
        return reply_u64(d, m->request, rc == 0 ? 0 : 1);
    if (rc != 0)
        vb_log("%s failed (no reply requested)", vu_request_name(m->request));
    return 0;
}

/* ---------------------------------------------------------------------------
 * Device and connection life cycle.
 */
int vb_dev_init(struct dev *d) {
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    atomic_init(&d->gen, 1);
    d->conn_fd = -1;
    d->vqs = calloc(d->nqueues, sizeof *d->vqs);
    if (d->vqs == NULL)
        return -1;
    for (unsigned i = 0; i < d->nqueues; i++)
        if (vq_init(&d->vqs[i], d, i) != 0)
            return -1;
    d->view = view_build(d, NULL, 0);
    return d->view ? 0 : -1;
}

void vb_conn_reset(struct dev *d) {
    for (unsigned i = 0; i < d->nqueues; i++)
        vq_reset(&d->vqs[i], false);
    d->features = 0;
    d->protocol_features = 0;
    regions_clear(d);
    map_unref(d->log_map);
    d->log_map = NULL;
    d->log_bits = NULL;
    d->log_pages = 0;
    view_rebuild(d); /* empty; no queue runs, so the old view goes at once */
}

void vb_dev_destroy(struct dev *d) {
    vb_conn_reset(d);
    for (unsigned i = 0; i < d->nqueues; i++)
        vq_destroy(&d->vqs[i]);
    free(d->vqs);
    d->vqs = NULL;
    view_free(d->view);
    d->view = NULL;
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
}
