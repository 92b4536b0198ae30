/*
 * sigbus.c - survive a front-end that shrinks a memory file it shared.
 *
 * Regions and the dirty log are mmapped from the front-end's files; their
 * size is checked when they are mapped, but the front-end may truncate the
 * file later, and touching a page past the new end raises SIGBUS. Kernel
 * copies (preadv/pwritev into or out of such a page) just fail with EFAULT
 * and the request gets IOERR; the library's own copies (ring fields,
 * request headers, status bytes) would take the signal. The handler below
 * checks that the address lies in one of the device's guest mappings and,
 * if so, puts a private zero page there, so the access completes (into a
 * page the front-end no longer has) and the device goes on. Any other
 * SIGBUS keeps its default action.
 */
#define _GNU_SOURCE
#include "vhost_blk.h"

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARD_SLOTS (2 * VB_MAX_MEM_SLOTS + 8)

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
    vb_log("no SIGBUS guard slot left for a mapping of %zu bytes", len);
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
    for (unsigned i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t base = atomic_load(&guard[i].base);
        size_t len = atomic_load(&guard[i].len);
        if (base != 0 && a - base < len) {
            void *page = (void *)(a & ~(page_size - 1));
            if (mmap(page, page_size, PROT_READ | PROT_WRITE,
                     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
                static const char msg[] = VB_PROG ": a guest memory page vanished (the front-end "
                                                  "shrank its memory file): zero page put in\n";
                ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
                (void)n;
                return; /* the access is retried and succeeds */
            }
            break;
        }
    }
    signal(sig, SIG_DFL); /* not ours: the retried access takes the default action */
}

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
