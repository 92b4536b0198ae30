/*
 * test_fault.c - guest memory that vanishes under the library
 * (pr_fault_recovery_install).
 *
 * Guest RAM is a memfd of 16 pages mapped shared at GPA 0x100000, the way
 * a vhost-user frontend shares it. The test truncates the file between
 * transfers and under a running transfer (another thread), unmaps a page
 * and protects one with PROT_NONE, and checks each time that the transfer
 * returns PR_ERR_MEMORY with the faulting GPA, PR_FAULT_SIGBUS or
 * PR_FAULT_SIGSEGV and the exact bytes done before the fault, that a
 * cursor advanced by those bytes, that the process lives on and that the
 * next transfer works.
 *
 * Signals: the test installs its own SIGSEGV and SIGBUS handler first (it
 * counts faults and jumps back with siglongjmp), then the library's. Its
 * own faults (touching a PROT_NONE page, or past the end of a truncated
 * file, outside the library) still reach its handler; guest faults inside
 * the library never do. Child processes check the rest: with recovery off
 * a guest fault kills the process by that signal as before, and with
 * recovery on, a foreign fault with no previous handler still kills.
 *
 * Not under valgrind: ctest's valgrind_ run of this program returns at
 * once. Valgrind 3.19 does not resume a client whose signal handler
 * rewrote the interrupted instruction pointer reliably (the second fault
 * of a recovered copy ends the process with the default action, and the
 * registers it hands the handler are not exact), and memcheck reports
 * accesses to unmapped and PROT_NONE pages before the signal. The plain
 * and ASan/UBSan runs cover this program.
 */
#define _GNU_SOURCE /* memfd_create, MAP_FIXED */

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#define PS ((size_t)PR_PAGE_SIZE)
#define PAGES 16
#define GPA 0x100000ull

static int fd = -1;
static uint8_t *host;
static pr_memory *mem;
static pr_range *all; /* every page, one run */

static void map_guest(void)
{
    fd = memfd_create("pagedrange-test-fault", 0);
    CHECK(fd >= 0);
    CHECK_EQ(ftruncate(fd, PAGES * PS), 0);
    host = mmap(NULL, PAGES * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(host != MAP_FAILED);
    pr_mapped_region r = {GPA, PAGES * PS, host};
    CHECK_ST(pr_memory_new_mapped(&r, 1, &mem), PR_OK);
    uint64_t gpns[PAGES];
    for (unsigned i = 0; i < PAGES; i++)
        gpns[i] = GPA / PS + i;
    CHECK_ST(pr_range_new(gpns, PAGES, 0, PAGES * PS, &all), PR_OK);
}

static void resize(size_t pages) { CHECK_EQ(ftruncate(fd, (off_t)(pages * PS)), 0); }

static uint8_t pattern(size_t i) { return (uint8_t)(i * 7 + 3); }

static void fill_pattern(void)
{
    static uint8_t buf[PAGES * PS];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = pattern(i);
    pr_transfer t;
    CHECK_ST(pr_range_write(all, mem, buf, sizeof buf, &t), PR_OK);
}

/* Expects PR_ERR_MEMORY with these fields. */
#define CHECK_FAULT(expr, t, want_done, want_gpa, want_code)        \
    do {                                                            \
        CHECK_ST(expr, PR_ERR_MEMORY);                              \
        CHECK_EQ((t).done, (want_done));                            \
        CHECK_EQ((t).fault_gpa, (want_gpa));                        \
        CHECK_EQ((uintmax_t)(intmax_t)(t).fault_code, (uintmax_t)(intmax_t)(want_code)); \
    } while (0)

/* ------------------------------------------------------------------ */
/* The test's own handler: counts its faults, jumps back.              */
/* ------------------------------------------------------------------ */

static sigjmp_buf own_jump;
static volatile sig_atomic_t own_armed, own_segv, own_bus;

static void own_handler(int sig)
{
    if (sig == SIGSEGV)
        own_segv++;
    else
        own_bus++;
    if (own_armed) {
        own_armed = 0;
        siglongjmp(own_jump, 1);
    }
    /* A fault we did not expect: die by it. */
    signal(sig, SIG_DFL);
}

/* Touches `p` (a read); returns 1 when the test's own handler caught it. */
static int own_touch(volatile uint8_t *p)
{
    if (sigsetjmp(own_jump, 1))
        return 1;
    own_armed = 1;
    (void)*p;
    own_armed = 0;
    return 0;
}

static void install_own_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_handler;
    sigemptyset(&sa.sa_mask);
    CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
    CHECK_EQ(sigaction(SIGBUS, &sa, NULL), 0);
}

/* ------------------------------------------------------------------ */

static void truncate_between_transfers(void)
{
    static uint8_t buf[PAGES * PS];
    pr_transfer t;
    fill_pattern();
    resize(9); /* pages 9.. are gone: SIGBUS */
    const uint64_t cut = GPA + 9 * PS;

    /* A range starting 100 bytes into page 0: done = bytes before the cut. */
    pr_range *r = NULL;
    CHECK_ST(pr_range_subrange(all, 100, PAGES * PS - 100, &r), PR_OK);
    size_t sizes[] = {PAGES * PS - 100, 9 * PS - 100 + 1, 9 * PS - 100 + 4096};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        memset(buf, 0, sizeof buf);
        CHECK_FAULT(pr_range_read(r, mem, buf, sizes[i], &t), t, 9 * PS - 100, cut, PR_FAULT_SIGBUS);
        int same = 1;
        for (size_t j = 0; j < t.done; j++)
            same &= buf[j] == pattern(j + 100);
        CHECK(same);
    }
    CHECK_FAULT(pr_range_write(r, mem, buf, PAGES * PS - 100, &t), t, 9 * PS - 100, cut,
                PR_FAULT_SIGBUS);
    CHECK_FAULT(pr_range_fill(r, mem, 0xee, PAGES * PS - 100, &t), t, 9 * PS - 100, cut,
                PR_FAULT_SIGBUS);

    /* A cursor advances by exactly the bytes done, then keeps failing at the cut. */
    pr_reader *rd = NULL;
    CHECK_ST(pr_reader_new(r, mem, &rd), PR_OK);
    CHECK_FAULT(pr_reader_read(rd, buf, PAGES * PS - 100, &t), t, 9 * PS - 100, cut, PR_FAULT_SIGBUS);
    CHECK_EQ(pr_reader_remaining(rd), 7 * PS);
    CHECK_FAULT(pr_reader_read(rd, buf, 8, &t), t, 0, cut, PR_FAULT_SIGBUS);

    /* Small accesses straddling the cut (a ring field, a status byte):
     * the 3 bytes before it move, then the fault. */
    for (size_t len = 4; len <= 16; len++) {
        pr_transfer tt;
        CHECK_FAULT(pr_memory_read(mem, cut - 3, buf, len, &tt), tt, 3, cut, PR_FAULT_SIGBUS);
    }
    for (size_t len = 1; len <= 3; len++) {
        CHECK_ST(pr_memory_read(mem, cut - 3, buf, len, &t), PR_OK);
        CHECK_EQ(t.done, len);
    }

    /* The pages before the cut still work. */
    CHECK_ST(pr_range_read(r, mem, buf, 9 * PS - 100, &t), PR_OK);
    CHECK_EQ(t.done, 9 * PS - 100);
    CHECK_EQ(buf[0], 0xee); /* the failed fill moved its bytes before the cut */

    /* Grown back: everything works again (zeros past the old end). */
    resize(PAGES);
    CHECK_ST(pr_reader_read(rd, buf, 7 * PS, &t), PR_OK);
    CHECK_EQ(buf[0], 0);
    pr_reader_free(rd);
    pr_range_free(r);
}

/* A thread cuts the file while this one copies in a loop. */
struct cutter {
    atomic_int started;
};

static void *cut_soon(void *arg)
{
    struct cutter *c = arg;
    while (atomic_load(&c->started) < 3) /* a few whole transfers first */
        ;
    resize(5);
    return NULL;
}

static void truncate_under_a_running_transfer(void)
{
    static uint8_t buf[PAGES * PS];
    struct cutter c;
    atomic_init(&c.started, 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, cut_soon, &c), 0);
    pr_transfer t;
    pr_status s;
    unsigned rounds = 0;
    do {
        atomic_fetch_add(&c.started, 1);
        s = pr_range_read(all, mem, buf, sizeof buf, &t);
        rounds++;
    } while (s == PR_OK);
    CHECK_EQ(pthread_join(th, NULL), 0);
    /* Once the file is cut, the read stops at the first page past the new
     * end that it touches (the cut may have happened mid-transfer). */
    CHECK_ST(s, PR_ERR_MEMORY);
    CHECK_EQ((uintmax_t)(intmax_t)t.fault_code, (uintmax_t)(intmax_t)PR_FAULT_SIGBUS);
    /* (Not always at a page start: the cut may land while that page is
     * being copied.) */
    CHECK(t.fault_gpa >= GPA + 5 * PS && t.fault_gpa < GPA + PAGES * PS);
    CHECK_EQ(t.done, t.fault_gpa - GPA);
    CHECK(rounds >= 3);
    printf("cut under a running transfer after %u rounds: fault at GPA 0x%" PRIx64 "\n", rounds,
           t.fault_gpa);
    /* The next transfer works on what is left, and on everything once grown. */
    CHECK_ST(pr_range_read(all, mem, buf, 5 * PS, &t), PR_OK);
    resize(PAGES);
    CHECK_ST(pr_range_read(all, mem, buf, sizeof buf, &t), PR_OK);
}

static void unmapped_and_protected_pages(void)
{
    static uint8_t buf[PAGES * PS];
    pr_transfer t;
    const uint64_t p7 = GPA + 7 * PS;

    CHECK_EQ(mprotect(host + 7 * PS, PS, PROT_NONE), 0);
    CHECK_FAULT(pr_range_read(all, mem, buf, sizeof buf, &t), t, 7 * PS, p7, PR_FAULT_SIGSEGV);
    CHECK_FAULT(pr_range_fill(all, mem, 1, sizeof buf, &t), t, 7 * PS, p7, PR_FAULT_SIGSEGV);
    /* Read-only: reads work, writes stop at the page. */
    CHECK_EQ(mprotect(host + 7 * PS, PS, PROT_READ), 0);
    CHECK_ST(pr_range_read(all, mem, buf, sizeof buf, &t), PR_OK);
    CHECK_FAULT(pr_range_write(all, mem, buf, sizeof buf, &t), t, 7 * PS, p7, PR_FAULT_SIGSEGV);
    CHECK_EQ(mprotect(host + 7 * PS, PS, PROT_READ | PROT_WRITE), 0);

    /* Unmapped (ballooned): every size class of the copy routine. */
    CHECK_EQ(munmap(host + 7 * PS, PS), 0);
    size_t lens[] = {2, 4, 8, 13, 16, 17, 64, 100, 4095, 4096, 5000};
    for (unsigned i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        pr_transfer tt;
        CHECK_FAULT(pr_memory_write(mem, p7 - 1, buf, lens[i], &tt), tt, 1, p7, PR_FAULT_SIGSEGV);
        CHECK_FAULT(pr_memory_read(mem, p7, buf, lens[i], &tt), tt, 0, p7, PR_FAULT_SIGSEGV);
    }
    CHECK_FAULT(pr_range_read(all, mem, buf, sizeof buf, &t), t, 7 * PS, p7, PR_FAULT_SIGSEGV);
    void *back = mmap(host + 7 * PS, PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                      (off_t)(7 * PS));
    CHECK(back == host + 7 * PS);
    CHECK_ST(pr_range_read(all, mem, buf, sizeof buf, &t), PR_OK);
}

static void own_faults_reach_own_handler(void)
{
    /* A page of the test's own, outside guest memory. */
    uint8_t *own = mmap(NULL, PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(own != MAP_FAILED);
    int before = own_segv;
    CHECK(own_touch(own));
    CHECK_EQ(own_segv, before + 1);
    munmap(own, PS);

    /* Its own SIGBUS: past the end of a truncated file it mapped itself. */
    int ofd = memfd_create("pagedrange-test-own", 0);
    CHECK(ofd >= 0);
    CHECK_EQ(ftruncate(ofd, PS), 0);
    uint8_t *m = mmap(NULL, 2 * PS, PROT_READ, MAP_SHARED, ofd, 0);
    CHECK(m != MAP_FAILED);
    before = own_bus;
    CHECK(own_touch(m + PS));
    CHECK_EQ(own_bus, before + 1);
    munmap(m, 2 * PS);
    close(ofd);

    /* Guest faults never reach it. */
    int segv = own_segv, bus = own_bus;
    pr_transfer t;
    uint8_t buf[64];
    resize(3);
    CHECK_FAULT(pr_memory_read(mem, GPA + 3 * PS, buf, sizeof buf, &t), t, 0, GPA + 3 * PS,
                PR_FAULT_SIGBUS);
    resize(PAGES);
    CHECK_EQ(own_segv, segv);
    CHECK_EQ(own_bus, bus);
}

/* Runs this program again as `mode` (a fresh process: no handler of its
 * own, none of the library's unless the mode installs it); returns the
 * signal that ended it, or 0. */
static int run_mode(const char *mode)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "test_fault", mode, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status);
}

/* The child modes. Each ends by a signal when it behaves. */
static int child(const char *mode)
{
    uint8_t buf[64];
    pr_transfer t;
    map_guest();
    if (strcmp(mode, "guest-fault-without-recovery") == 0) {
        /* Recovery off: a guest fault kills the process, as always. */
        resize(3);
        pr_memory_read(mem, GPA + 3 * PS, buf, sizeof buf, &t);
    } else if (strcmp(mode, "foreign-fault-with-recovery") == 0) {
        /* Recovery on, no handler before it: a fault outside the library
         * gets the default action. */
        if (pr_fault_recovery_install() != PR_OK)
            return 2;
        volatile uint8_t *p = mmap(NULL, PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        (void)*p;
    }
    return 3; /* still alive: wrong */
}

int main(int argc, char **argv)
{
    if (argc > 1)
        return child(argv[1]);
    const char *preload = getenv("LD_PRELOAD");
    if (preload != NULL && strstr(preload, "vgpreload") != NULL) {
        printf("test_fault: skipped under valgrind (see the comment at the top)\n");
        return 0;
    }
    install_own_handler();
    map_guest();
    CHECK_ST(pr_fault_recovery_install(), PR_OK);
    CHECK_ST(pr_fault_recovery_install(), PR_OK); /* idempotent */

    truncate_between_transfers();
    truncate_under_a_running_transfer();
    own_faults_reach_own_handler();
    unmapped_and_protected_pages();
#ifdef __SANITIZE_ADDRESS__
    /* ASan's handler was there first: it gets both faults, reports them
     * and exits with status 1 (run_mode gives -1). */
    CHECK_EQ(run_mode("guest-fault-without-recovery"), -1);
    CHECK_EQ(run_mode("foreign-fault-with-recovery"), -1);
#else
    CHECK_EQ(run_mode("guest-fault-without-recovery"), SIGBUS);
    CHECK_EQ(run_mode("foreign-fault-with-recovery"), SIGSEGV);
#endif
    resize(PAGES);

    pr_range_free(all);
    pr_memory_free(mem);
    munmap(host, PAGES * PS);
    close(fd);
    return TEST_SUMMARY();
}
