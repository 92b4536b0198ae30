/*
 * sigbus.c - survive a front-end that shrinks the dirty log file it shared.
 *
 * Guest memory is covered by the library: main.c calls
 * pr_fault_recovery_install, so a library copy that touches a page past the
 * new end of a region's file fails with PR_ERR_MEMORY (PR_FAULT_SIGBUS)
 * and the request gets VIRTIO_BLK_S_IOERR (queue.c); a kernel copy
 * (preadv/pwritev into or out of such a page) fails with EFAULT, also
 * IOERR. The dirty log is not guest memory: the library sets its bits with
 * plain atomic ORs, outside its recoverable routines, so a SIGBUS there is
 * not one of the library's and goes to the handler installed before it,
 * this one. If the address lies in a log mapping, it puts a private zero
 * page there: the store completes (into a page the front-end no longer
 * has) and the device goes on. Any other SIGBUS gets its default action.
 */
#define _GNU_SOURCE
#include "vhost_blk.h"

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARD_SLOTS 8 /* log mappings alive at once: the current one and old views' */

static struct {
    _Atomic(uintptr_t) base;
    _Atomic(size_t) len;
} guard[GUARD_SLOTS];
static uintptr_t page_size = 4096;

void vb_guard_add(void *base, size_t len) {
    for (unsigned i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t expect = 0;
        if (atomic_compare_exchange_strong(&guard[i].base, &expect, (uintptr_t)base)) {
            atomic_store(&guard[i].len, len);
            return;
        }
    }
    vb_log("no SIGBUS guard slot left for a log mapping of %zu bytes", len);
}

void vb_guard_remove(void *base) {
    for (unsigned i = 0; i < GUARD_SLOTS; i++)
        if (atomic_load(&guard[i].base) == (uintptr_t)base) {
            atomic_store(&guard[i].len, 0);
            atomic_store(&guard[i].base, 0);
            return;
        }
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    uintptr_t a = (uintptr_t)si->si_addr;
    for (unsigned i = 0; si->si_code > 0 && i < GUARD_SLOTS; i++) { /* a fault, not kill() */
        uintptr_t base = atomic_load(&guard[i].base);
        size_t len = atomic_load(&guard[i].len);
        if (base != 0 && a - base < len) {
            void *page = (void *)(a & ~(page_size - 1));
            if (mmap(page, page_size, PROT_READ | PROT_WRITE,
                     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
                static const char msg[] = VB_PROG ": a dirty log page vanished (the front-end "
                                                  "shrank its log file): zero page put in\n";
                ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
                (void)n;
                return; /* the access is retried and succeeds */
            }
            break;
        }
    }
    /* Not ours: the retried access takes the default action; a signal
     * that was sent is sent again. */
    signal(sig, SIG_DFL);
    if (si->si_code <= 0)
        raise(sig);
}

/* Installed before pr_fault_recovery_install, which chains to it. */
int vb_guard_init(void) {
    long ps = sysconf(_SC_PAGESIZE);
    if (ps > 0)
        page_size = (uintptr_t)ps;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, NULL);
}
