// test_cxx.cpp - the header compiles as C++17 and the library links and
// works from C++: handles in std::unique_ptr with custom deleters, and one
// read through a callback that is a plain static function (no lambda).

#include "pagedrange.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <type_traits>

namespace {

struct RangeDeleter {
    void operator()(pr_range *r) const noexcept { pr_range_free(r); }
};
struct MemoryDeleter {
    void operator()(pr_memory *m) const noexcept { pr_memory_free(m); }
};
using RangePtr = std::unique_ptr<pr_range, RangeDeleter>;
using MemoryPtr = std::unique_ptr<pr_memory, MemoryDeleter>;

// Four pages of "guest RAM" at GPA 0.
unsigned char guest[4 * 4096];
int read_calls = 0;

int guest_read(void *ctx, std::uint64_t gpa, void *dst, std::size_t len)
{
    if (ctx != guest || gpa > sizeof guest || len > sizeof guest - gpa)
        return -14;
    ++read_calls;
    std::memcpy(dst, guest + gpa, len);
    return 0;
}

int guest_write(void *ctx, std::uint64_t gpa, const void *src, std::size_t len)
{
    if (ctx != guest || gpa > sizeof guest || len > sizeof guest - gpa)
        return -14;
    std::memcpy(guest + gpa, src, len);
    return 0;
}

int failures = 0;

void check(bool ok, const char *what, int line)
{
    if (!ok) {
        ++failures;
        std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, line, what);
    }
}
#define CHECK(cond) check((cond), #cond, __LINE__)

} // namespace

static_assert(std::is_same<pr_status, std::uint32_t>::value, "pr_status is a uint32_t");
static_assert(sizeof(pr_address_range) == 16, "pr_address_range is two uint64_t");
static_assert(PR_PAGE_SIZE == 4096, "4 KiB pages");

int main()
{
    for (std::size_t i = 0; i < sizeof guest; ++i)
        guest[i] = static_cast<unsigned char>(i * 7 + 3);

    pr_memory_ops ops{};
    ops.read = guest_read;
    ops.write = guest_write;
    ops.fill = nullptr;

    pr_memory *raw_mem = nullptr;
    CHECK(pr_memory_new_callbacks(&ops, guest, &raw_mem) == PR_OK);
    MemoryPtr mem(raw_mem);

    // Pages 3 and 1, 10 bytes starting 4090 bytes into page 3: two runs.
    const std::uint64_t gpns[2] = {3, 1};
    pr_range *raw_range = nullptr;
    CHECK(pr_range_new(gpns, 2, 4090, 10, &raw_range) == PR_OK);
    RangePtr range(raw_range);
    CHECK(pr_range_len(range.get()) == 10);

    unsigned char buf[10] = {};
    pr_transfer t{};
    CHECK(pr_range_read(range.get(), mem.get(), buf, sizeof buf, &t) == PR_OK);
    CHECK(t.done == 10);
    CHECK(read_calls == 2);
    CHECK(std::memcmp(buf, guest + 3 * 4096 + 4090, 6) == 0);
    CHECK(std::memcmp(buf + 6, guest + 1 * 4096, 4) == 0);

    // A clone in its own unique_ptr outlives the original.
    pr_range *raw_clone = nullptr;
    CHECK(pr_range_clone(range.get(), &raw_clone) == PR_OK);
    RangePtr clone(raw_clone);
    range.reset();
    CHECK(pr_range_len(clone.get()) == 10);

    std::printf("%s: pagedrange %s, %d failed -> %s\n", __FILE__, pr_version(), failures,
                failures ? "FAIL" : "OK");
    return failures ? 1 : 0;
}
