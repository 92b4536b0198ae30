/*
 * pagedrange-vhost-blk - a vhost-user-blk device backend on the pagedrange
 * C ABI.
 *
 *   pagedrange-vhost-blk --socket PATH --disk FILE [--queues N] [--read-only]
 *
 * Listens on PATH, serves one front-end (QEMU, libblkio, ...) at a time and
 * accepts the next when it disconnects; SIGTERM or SIGINT end it cleanly.
 * The disk is a regular file or a block device, used with buffered IO.
 * Log lines go to stderr.
 */
#define _GNU_SOURCE
#include "vhost_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_RECV_FDS 64 /* more than any request takes, so extras are seen */

void vb_log(const char *fmt, ...) {
    char line[512];
    int n = snprintf(line, sizeof line, VB_PROG ": ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len); /* one write: lines do not interleave */
    (void)w;
}

static void usage(FILE *f) {
    fprintf(f, "usage: " VB_PROG " --socket PATH --disk FILE [--queues N] [--read-only]\n"
               "       [--io-threads N]   threads serving each queue (default 2)\n"
               "       [--poll-us N]      busy-poll a queue up to this long before sleeping\n"
               "                          (adaptive; default 100, 0: never)\n");
}

/* ---------------------------------------------------------------------------
 * Receiving one message: the header (with any descriptors), then the
 * payload the size field announces, unless it is above VU_MAX_PAYLOAD
 * (vu_msg_parse then reports a framing error and the connection closes).
 */
enum { RX_MSG = 1, RX_EOF = 0, RX_ERR = -1, RX_SIGNAL = -2 };

static int wait_readable(int fd, int sigfd) {
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
    for (;;) {
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return RX_ERR;
        if (p[1].revents & POLLIN)
            return RX_SIGNAL;
        return RX_MSG;
    }
}

static int recv_bytes(int fd, int sigfd, uint8_t *buf, size_t len, int *fds, size_t *nfds) {
    size_t done = 0;
    while (done < len) {
        int w = wait_readable(fd, sigfd);
        if (w != RX_MSG)
            return w;
        struct iovec iov = {buf + done, len - done};
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(MAX_RECV_FDS * sizeof(int))];
        } ctl;
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                            .msg_controllen = sizeof ctl.buf};
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            vb_log("recvmsg: %s", strerror(errno));
            return RX_ERR;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int f;
                memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
                if (*nfds < MAX_RECV_FDS)
                    fds[(*nfds)++] = f;
                else
                    close(f);
            }
        }
        if (mh.msg_flags & MSG_CTRUNC) {
            /* The kernel dropped descriptors: make sure the parser refuses. */
            vb_log("message carried more than %d file descriptors", MAX_RECV_FDS);
            while (*nfds < MAX_RECV_FDS)
                fds[(*nfds)++] = dup(STDERR_FILENO);
        }
        if (n == 0)
            return done == 0 && *nfds == 0 ? RX_EOF : RX_ERR;
        done += (size_t)n;
    }
    return RX_MSG;
}

static void close_fds(int *fds, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* Serves one connection until it closes (0) or a signal arrives (1). */
static int serve(struct dev *d, int sigfd) {
    static uint8_t buf[VU_HDR_SIZE + VU_MAX_PAYLOAD];
    const struct vu_parse_limits limits = {.queues = d->nqueues};
    for (;;) {
        int fds[MAX_RECV_FDS];
        size_t nfds = 0;
        int r = recv_bytes(d->conn_fd, sigfd, buf, VU_HDR_SIZE, fds, &nfds);
        if (r == RX_MSG) {
            uint32_t size;
            memcpy(&size, buf + 8, 4);
            if (size > 0 && size <= VU_MAX_PAYLOAD)
                r = recv_bytes(d->conn_fd, sigfd, buf + VU_HDR_SIZE, size, fds, &nfds);
            if (r == RX_MSG && size > VU_MAX_PAYLOAD)
                size = 0; /* header only: the parser reports the bad size */
            if (r == RX_MSG) {
                struct vu_msg m;
                char why[256];
                int pr = vu_msg_parse(buf, VU_HDR_SIZE + size, fds, nfds, &limits, &m, why,
                                      sizeof why);
                if (pr == VU_PARSE_OK) {
                    if (vb_handle(d, &m) != 0) {
                        vb_log("closing the connection: reply to %s failed",
                               vu_request_name(m.request));
                        return 0;
                    }
                    continue;
                }
                close_fds(fds, nfds);
                if (pr == VU_PARSE_FRAMING) {
                    vb_log("closing the connection: malformed message: %s", why);
                    return 0;
                }
                bool need = m.flags & VU_FLAG_NEED_REPLY;
                if (vu_request_has_reply(m.request)) {
                    vb_log("closing the connection: %s", why);
                    return 0;
                }
                vb_log("refused: %s%s", why, need ? " (failure replied)" : "");
                if (need) {
                    uint64_t fail = 1;
                    if (vb_send_reply(d, m.request, &fail, sizeof fail) != 0)
                        return 0;
                }
                continue;
            }
        }
        close_fds(fds, nfds);
        if (r == RX_SIGNAL)
            return 1;
        if (r == RX_ERR)
            vb_log("closing the connection: truncated message");
        return 0;
    }
}

/* ---------------------------------------------------------------------------
 * Setup.
 */
static int open_disk(struct dev *d) {
    d->disk_fd = open(d->disk_path, (d->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (d->disk_fd < 0) {
        vb_log("cannot open %s: %s", d->disk_path, strerror(errno));
        return -1;
    }
    struct stat st;
    uint64_t bytes = 0;
    if (fstat(d->disk_fd, &st) != 0) {
        vb_log("fstat %s: %s", d->disk_path, strerror(errno));
        return -1;
    }
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(d->disk_fd, BLKGETSIZE64, &bytes) != 0) {
            vb_log("BLKGETSIZE64 %s: %s", d->disk_path, strerror(errno));
            return -1;
        }
    } else if (S_ISREG(st.st_mode)) {
        bytes = (uint64_t)st.st_size;
    } else {
        vb_log("%s is neither a regular file nor a block device", d->disk_path);
        return -1;
    }
    d->capacity = bytes / 512;
    return 0;
}

static int listen_on(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        vb_log("socket path too long: %s", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 1) != 0) {
        vb_log("cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv) {
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'}, {"disk", required_argument, NULL, 'd'},
        {"queues", required_argument, NULL, 'q'}, {"read-only", no_argument, NULL, 'r'},
        {"io-threads", required_argument, NULL, 't'}, {"poll-us", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    struct dev d;
    memset(&d, 0, sizeof d);
    d.nqueues = 1;
    d.io_threads = 2;
    d.poll_us = 100;
    d.disk_fd = -1;
    int c;
    while ((c = getopt_long(argc, argv, "s:d:q:t:p:rh", opts, NULL)) != -1) {
        switch (c) {
        case 's': d.socket_path = optarg; break;
        case 'd': d.disk_path = optarg; break;
        case 'q': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || n < 1 || n > 64) {
                fprintf(stderr, VB_PROG ": --queues takes 1..64\n");
                return 2;
            }
            d.nqueues = (unsigned)n;
            break;
        }
        case 't': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || n < 1 || n > 16) {
                fprintf(stderr, VB_PROG ": --io-threads takes 1..16\n");
                return 2;
            }
            d.io_threads = (unsigned)n;
            break;
        }
        case 'p': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || n > 1000000) {
                fprintf(stderr, VB_PROG ": --poll-us takes 0..1000000\n");
                return 2;
            }
            d.poll_us = (unsigned)n;
            break;
        }
        case 'r': d.read_only = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!d.socket_path || !d.disk_path || optind != argc) {
        usage(stderr);
        return 2;
    }

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    /* Blocked in every thread (inherited), read through the signalfd. */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0) {
        vb_log("signalfd: %s", strerror(errno));
        return 1;
    }

    if (open_disk(&d) != 0 || vb_guard_init() != 0)
        return 1;
    /* After our own SIGBUS handler, which it chains to: a fault in guest
     * memory (a front-end that truncates a region's file) now fails the
     * access with PR_ERR_MEMORY instead of killing the device. */
    pr_status fr = pr_fault_recovery_install();
    if (fr != PR_OK)
        vb_log("fault recovery unavailable (%s): a front-end that shrinks its guest memory "
               "file can kill the device", pr_status_str(fr));
    if (vb_dev_init(&d) != 0) {
        vb_log("cannot initialise the device");
        return 1;
    }
    int lfd = listen_on(d.socket_path);
    if (lfd < 0)
        return 1;
    vb_log("listening on %s: disk %s, %" PRIu64 " sectors, %u queue(s) x %u thread(s), "
           "poll %u us%s, pagedrange %s", d.socket_path, d.disk_path, d.capacity, d.nqueues,
           d.io_threads, d.poll_us, d.read_only ? ", read-only" : "", pr_version());

    int status = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            vb_log("poll: %s", strerror(errno));
            status = 1;
            break;
        }
        if (p[1].revents & POLLIN)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        d.conn_fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (d.conn_fd < 0) {
            vb_log("accept: %s", strerror(errno));
            continue;
        }
        vb_log("front-end connected");
        int sig = serve(&d, sigfd);
        close(d.conn_fd);
        d.conn_fd = -1;
        vb_conn_reset(&d);
        if (sig)
            break;
        vb_log("front-end disconnected; waiting for the next one");
    }
    struct signalfd_siginfo si;
    if (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        vb_log("signal %u: exiting", si.ssi_signo);
    vb_dev_destroy(&d);
    close(lfd);
    unlink(d.socket_path);
    close(sigfd);
    close(d.disk_fd);
    return status;
}
