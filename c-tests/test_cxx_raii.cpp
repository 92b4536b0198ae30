// test_cxx_raii.cpp - the library used the way a C++17 program would:
//
// * every handle type (range, ranges, memory, reader, writer, builder) owned
//   by a std::unique_ptr with a deleter calling its _free function, handles
//   made by one helper that throws on a non-OK status;
// * guest memory served by lambdas: the C callbacks are captureless lambdas
//   that cast the context pointer back to an object holding std::functions,
//   and catch every exception (none may unwind into the library);
// * the dirty-page callback through a template trampoline for any callable;
// * reads, writes and fills (with and without a fill callback), reader and
//   writer cursors (skip, limit, exact advance), a builder with limits, a
//   callback that fails and one that throws.
//
// Exit status 0 when every check passed. Run under ctest, and under valgrind
// when the build has PR_VALGRIND=ON: every handle is freed by its owner.

#include "pagedrange.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

// --------------------------------------------------------------------------
// Checks
// --------------------------------------------------------------------------

unsigned checks = 0;
unsigned failures = 0;

void record(bool ok, const char *expr, int line)
{
    ++checks;
    if (!ok) {
        ++failures;
        std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, line, expr);
    }
}

void record_status(pr_status got, pr_status want, const char *expr, int line)
{
    ++checks;
    if (got != want) {
        ++failures;
        std::fprintf(stderr, "%s:%d: CHECK_ST failed: %s returned %u (%s), want %u (%s)\n",
                     __FILE__, line, expr, static_cast<unsigned>(got), pr_status_str(got),
                     static_cast<unsigned>(want), pr_status_str(want));
    }
}

#define CHECK(cond) record(static_cast<bool>(cond), #cond, __LINE__)
#define CHECK_ST(expr, want) record_status((expr), (want), #expr, __LINE__)

// --------------------------------------------------------------------------
// Owning handles
// --------------------------------------------------------------------------

template <typename T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *p) const noexcept { Free(p); }
};
template <typename T, void (*Free)(T *)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using Range = Owned<pr_range, pr_range_free>;
using Ranges = Owned<pr_ranges, pr_ranges_free>;
using Memory = Owned<pr_memory, pr_memory_free>;
using Reader = Owned<pr_reader, pr_reader_free>;
using Writer = Owned<pr_writer, pr_writer_free>;
using Builder = Owned<pr_ranges_builder, pr_ranges_builder_free>;

// A non-OK status from a constructor call.
struct Error : std::runtime_error {
    explicit Error(pr_status s) : std::runtime_error(pr_status_str(s)), status(s) {}
    pr_status status;
};

// Calls a function whose last parameter is the `T **out` of a new handle,
// with `args` before it, and returns the handle in its owner.
template <typename Handle, typename Fn, typename... Args>
Handle make(Fn fn, Args... args)
{
    typename Handle::pointer raw = nullptr;
    const pr_status st = fn(args..., &raw);
    if (st != PR_OK)
        throw Error(st);
    return Handle(raw);
}

// --------------------------------------------------------------------------
// Guest memory served by C++ callables
// --------------------------------------------------------------------------

// What a callback returns when its callable threw.
constexpr int kThrew = -1000;

// Runs `f` and turns any exception into kThrew: an exception must never
// unwind through the library's frames.
template <typename F>
int guarded(F &&f) noexcept
{
    try {
        return f();
    } catch (...) {
        return kThrew;
    }
}

// Memory callbacks as std::functions. The object must outlive the pr_memory
// made from it and every cursor using that memory (the library keeps `this`
// as the context pointer).
struct LambdaMemory {
    std::function<int(std::uint64_t gpa, void *dst, std::size_t len)> read;
    std::function<int(std::uint64_t gpa, const void *src, std::size_t len)> write;
    std::function<int(std::uint64_t gpa, std::uint8_t value, std::size_t len)> fill; // optional

    Memory create()
    {
        pr_memory_ops ops{};
        // Captureless lambdas convert to the C function pointer types.
        ops.read = [](void *ctx, std::uint64_t gpa, void *dst, std::size_t len) -> int {
            return guarded([&] { return static_cast<LambdaMemory *>(ctx)->read(gpa, dst, len); });
        };
        ops.write = [](void *ctx, std::uint64_t gpa, const void *src, std::size_t len) -> int {
            return guarded([&] { return static_cast<LambdaMemory *>(ctx)->write(gpa, src, len); });
        };
        if (fill) {
            ops.fill = [](void *ctx, std::uint64_t gpa, std::uint8_t value, std::size_t len) -> int {
                return guarded(
                    [&] { return static_cast<LambdaMemory *>(ctx)->fill(gpa, value, len); });
            };
        }
        return make<Memory>(pr_memory_new_callbacks, &ops, static_cast<void *>(this));
    }
};

// The dirty-page callback for any callable `void(uint64_t gpa, size_t len)`:
// the trampoline is instantiated per callable type and casts ctx back to it.
// It cannot report failure, so it is noexcept: a throwing callable ends the
// program instead of silently losing dirty pages.
template <typename F>
void dirty_trampoline(void *ctx, std::uint64_t gpa, std::size_t len) noexcept
{
    (*static_cast<F *>(ctx))(gpa, len);
}

template <typename F>
Memory with_dirty_callback(const Memory &mem, F &callable)
{
    return make<Memory>(pr_memory_with_dirty_callback, mem.get(), &dirty_trampoline<F>,
                        static_cast<void *>(&callable));
}

// --------------------------------------------------------------------------
// The simulated guest
// --------------------------------------------------------------------------

constexpr std::uint64_t kPage = PR_PAGE_SIZE;
constexpr int kFaultCode = 42;

struct Run {
    std::uint64_t gpa;
    std::size_t len;
    bool operator==(const Run &o) const { return gpa == o.gpa && len == o.len; }
};

struct Guest {
    std::vector<std::uint8_t> ram = std::vector<std::uint8_t>(8 * kPage);
    std::uint64_t fail_gpa = UINT64_MAX; // an access covering it returns kFaultCode
    bool throw_on_write = false;
    std::vector<Run> reads, writes, fills;

    int access(std::vector<Run> &log, std::uint64_t gpa, std::size_t len)
    {
        log.push_back(Run{gpa, len});
        if (gpa > ram.size() || len > ram.size() - gpa)
            return -14;
        if (fail_gpa >= gpa && fail_gpa - gpa < len)
            return kFaultCode;
        return 0;
    }

    void forget_calls()
    {
        reads.clear();
        writes.clear();
        fills.clear();
    }

    // Lambdas over this guest; `with_fill` false leaves the fill callback
    // out (the library then fills through write).
    LambdaMemory callbacks(bool with_fill)
    {
        LambdaMemory m;
        m.read = [this](std::uint64_t gpa, void *dst, std::size_t len) {
            const int rc = access(reads, gpa, len);
            if (rc == 0)
                std::memcpy(dst, ram.data() + gpa, len);
            return rc;
        };
        m.write = [this](std::uint64_t gpa, const void *src, std::size_t len) {
            if (throw_on_write)
                throw std::runtime_error("write refused");
            const int rc = access(writes, gpa, len);
            if (rc == 0)
                std::memcpy(ram.data() + gpa, src, len);
            return rc;
        };
        if (with_fill) {
            m.fill = [this](std::uint64_t gpa, std::uint8_t value, std::size_t len) {
                const int rc = access(fills, gpa, len);
                if (rc == 0)
                    std::memset(ram.data() + gpa, value, len);
                return rc;
            };
        }
        return m;
    }
};

std::uint8_t pattern(std::size_t i)
{
    return static_cast<std::uint8_t>(i * 31 + 7);
}

// Pages 5, 2, 3; the 4296 bytes from 4000 bytes into page 5 make two runs:
// GPA 5*4096+4000 .. 6*4096 (96 bytes) and 2*4096 .. 3*4096+104 (4200 bytes).
const std::uint64_t kGpns[3] = {5, 2, 3};
constexpr std::size_t kOffset = 4000;
constexpr std::size_t kLen = 96 + 4200;
const Run kRun1{5 * kPage + 4000, 96};
const Run kRun2{2 * kPage, 4200};

// Byte `i` of the window in the guest's RAM.
std::uint8_t &window_byte(Guest &g, std::size_t i)
{
    return i < kRun1.len ? g.ram[kRun1.gpa + i] : g.ram[kRun2.gpa + (i - kRun1.len)];
}

// --------------------------------------------------------------------------
// Tests
// --------------------------------------------------------------------------

void test_range_transfers()
{
    Guest g;
    LambdaMemory lm = g.callbacks(true);
    Memory mem = lm.create();
    Range range = make<Range>(pr_range_new, kGpns, std::size_t{3}, kOffset, kLen);
    CHECK(pr_range_len(range.get()) == kLen);
    CHECK(pr_range_offset(range.get()) == kOffset % kPage);

    std::vector<std::uint8_t> src(kLen), dst(kLen);
    for (std::size_t i = 0; i < kLen; ++i)
        src[i] = pattern(i);
    pr_transfer t{};
    CHECK_ST(pr_range_write(range.get(), mem.get(), src.data(), src.size(), &t), PR_OK);
    CHECK(t.done == kLen);
    CHECK((g.writes == std::vector<Run>{kRun1, kRun2}));
    bool same = true;
    for (std::size_t i = 0; i < kLen; ++i)
        same = same && window_byte(g, i) == src[i];
    CHECK(same);

    CHECK_ST(pr_range_read(range.get(), mem.get(), dst.data(), dst.size(), &t), PR_OK);
    CHECK(t.done == kLen && t.fault_code == 0);
    CHECK((g.reads == std::vector<Run>{kRun1, kRun2}));
    CHECK(dst == src);

    // Fill the first 200 bytes: 96 in run 1, 104 at the start of run 2.
    CHECK_ST(pr_range_fill(range.get(), mem.get(), 0x5A, 200, &t), PR_OK);
    CHECK(t.done == 200);
    CHECK((g.fills == std::vector<Run>{kRun1, Run{2 * kPage, 104}}));
    CHECK(window_byte(g, 0) == 0x5A && window_byte(g, 199) == 0x5A);
    CHECK(window_byte(g, 200) == pattern(200));

    // A constructor error comes out as an Error with its status, and no
    // handle is made.
    try {
        Range too_long = make<Range>(pr_range_new, kGpns, std::size_t{3}, kOffset, 3 * kPage);
        CHECK(!"pr_range_new accepted a window past its pages");
    } catch (const Error &e) {
        CHECK_ST(e.status, PR_ERR_OUT_OF_RANGE);
    }

    // Split into two owned ranges, then rejoin them as a pr_ranges.
    pr_range *front_raw = nullptr;
    pr_range *back_raw = nullptr;
    CHECK_ST(pr_range_split(range.get(), 1000, &front_raw, &back_raw), PR_OK);
    std::vector<Range> parts;
    parts.emplace_back(front_raw);
    parts.emplace_back(back_raw);
    CHECK(pr_range_len(parts[0].get()) == 1000 && pr_range_len(parts[1].get()) == kLen - 1000);
    range.reset(); // the parts share its GPN list and stay valid
    std::vector<const pr_range *> raw_parts;
    for (const Range &p : parts)
        raw_parts.push_back(p.get());
    Ranges joined = make<Ranges>(pr_ranges_new, raw_parts.data(), raw_parts.size());
    parts.clear();
    CHECK(pr_ranges_len(joined.get()) == kLen);
    std::vector<std::uint8_t> again(kLen);
    CHECK_ST(pr_ranges_read(joined.get(), mem.get(), again.data(), again.size(), &t), PR_OK);
    bool joined_same = true;
    for (std::size_t i = 0; i < kLen; ++i)
        joined_same = joined_same && again[i] == window_byte(g, i);
    CHECK(joined_same);
}

void test_fill_without_fill_callback()
{
    Guest g;
    LambdaMemory lm = g.callbacks(false);
    CHECK(!lm.fill);
    Memory mem = lm.create();
    Range range = make<Range>(pr_range_new, kGpns, std::size_t{3}, kOffset, kLen);
    pr_transfer t{};
    CHECK_ST(pr_range_fill(range.get(), mem.get(), 0xC3, kLen, &t), PR_OK);
    CHECK(t.done == kLen);
    CHECK(g.fills.empty());
    // Through write, at most 4 KiB per call: run 1 in one, run 2 in two.
    CHECK((g.writes ==
           std::vector<Run>{kRun1, Run{2 * kPage, 4096}, Run{3 * kPage, 104}}));
    bool filled = true;
    for (std::size_t i = 0; i < kLen; ++i)
        filled = filled && window_byte(g, i) == 0xC3;
    CHECK(filled);
}

void test_reader_cursor_and_failure()
{
    Guest g;
    for (std::size_t i = 0; i < kLen; ++i)
        window_byte(g, i) = pattern(i);
    LambdaMemory lm = g.callbacks(true);
    Memory mem = lm.create();
    Range range = make<Range>(pr_range_new, kGpns, std::size_t{3}, kOffset, kLen);
    Reader rd = make<Reader>(pr_reader_new, range.get(), mem.get());
    Reader second = make<Reader>(pr_reader_new, range.get(), mem.get());
    // The readers keep the GPN list and the memory alive.
    range.reset();
    mem.reset();
    CHECK(pr_reader_remaining(rd.get()) == kLen);

    std::uint8_t buf[64];
    pr_transfer t{};
    CHECK_ST(pr_reader_read(rd.get(), buf, 10, &t), PR_OK);
    CHECK(t.done == 10 && buf[0] == pattern(0) && buf[9] == pattern(9));
    CHECK_ST(pr_reader_skip(rd.get(), 100), PR_OK);
    Reader part = make<Reader>(pr_reader_limit, rd.get(), std::size_t{50});
    CHECK(pr_reader_remaining(part.get()) == 50);
    CHECK(pr_reader_remaining(rd.get()) == kLen - 160);
    CHECK_ST(pr_reader_read(part.get(), buf, 50, &t), PR_OK);
    CHECK(buf[0] == pattern(110) && buf[49] == pattern(159));
    CHECK(pr_reader_remaining(part.get()) == 0);
    CHECK_ST(pr_reader_read(part.get(), buf, 1, &t), PR_ERR_OUT_OF_RANGE);
    CHECK_ST(pr_reader_read(rd.get(), buf, 1, &t), PR_OK);
    CHECK(buf[0] == pattern(160));
    // Past the end: refused, nothing moves.
    CHECK_ST(pr_reader_skip(rd.get(), kLen), PR_ERR_OUT_OF_RANGE);
    CHECK(pr_reader_remaining(rd.get()) == kLen - 161);

    // A callback failure in run 2: run 1 was read, the cursor stands at the
    // start of the failed run, and a retry resumes there.
    std::vector<std::uint8_t> all(kLen);
    g.fail_gpa = 2 * kPage + 500;
    CHECK_ST(pr_reader_read(second.get(), all.data(), kLen, &t), PR_ERR_MEMORY);
    CHECK(t.done == kRun1.len);
    CHECK(t.fault_gpa == kRun2.gpa);
    CHECK(t.fault_code == kFaultCode);
    CHECK(pr_reader_remaining(second.get()) == kLen - kRun1.len);
    g.fail_gpa = UINT64_MAX;
    CHECK_ST(pr_reader_read(second.get(), all.data() + t.done, kLen - t.done, &t), PR_OK);
    CHECK(t.done == kLen - kRun1.len && pr_reader_remaining(second.get()) == 0);
    bool same = true;
    for (std::size_t i = 0; i < kLen; ++i)
        same = same && all[i] == pattern(i);
    CHECK(same);
}

void test_builder_writer_and_throwing_callback()
{
    Guest g;
    LambdaMemory lm = g.callbacks(true);
    Memory mem = lm.create();

    // At most two windows: the fourth segment would need a third.
    pr_builder_limits limits{2, 16, 1 << 20};
    Builder b = make<Builder>(pr_ranges_builder_new, static_cast<const pr_builder_limits *>(&limits));
    std::size_t bad = SIZE_MAX;
    CHECK_ST(pr_ranges_builder_push(b.get(), 5 * kPage + 100, 50, &bad), PR_OK);
    CHECK_ST(pr_ranges_builder_push(b.get(), 5 * kPage + 150, 30, &bad), PR_OK); // joins
    CHECK_ST(pr_ranges_builder_push(b.get(), 0, kPage, &bad), PR_OK);             // window 2
    CHECK_ST(pr_ranges_builder_push(b.get(), 3 * kPage + 8, 8, &bad), PR_ERR_LIMIT);
    CHECK(bad == 3);
    Ranges rs = make<Ranges>(pr_ranges_builder_finish, static_cast<const pr_ranges_builder *>(b.get()));
    b.reset(); // the buffer outlives its builder
    CHECK(pr_ranges_count(rs.get()) == 2);
    CHECK(pr_ranges_len(rs.get()) == 80 + kPage);

    // Header, filler, trailer through one writer; a sub-writer for the filler.
    const std::uint8_t header[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    const std::uint8_t trailer[4] = {0xDE, 0xAD, 0xBE, 0xEF};
    Writer w = make<Writer>(pr_ranges_writer_new, rs.get(), mem.get());
    rs.reset();
    pr_transfer t{};
    CHECK_ST(pr_writer_write(w.get(), header, sizeof header, &t), PR_OK);
    const std::size_t filler = 80 + kPage - sizeof header - sizeof trailer;
    Writer body = make<Writer>(pr_writer_limit, w.get(), filler);
    CHECK(pr_writer_remaining(w.get()) == sizeof trailer);
    CHECK_ST(pr_writer_fill(body.get(), 0xEE, filler, &t), PR_OK);
    CHECK(t.done == filler);
    CHECK((g.fills == std::vector<Run>{Run{5 * kPage + 116, 64}, Run{0, kPage - 4}}));
    CHECK_ST(pr_writer_write(w.get(), trailer, sizeof trailer, &t), PR_OK);
    CHECK(pr_writer_remaining(w.get()) == 0);
    CHECK(std::memcmp(&g.ram[5 * kPage + 100], header, sizeof header) == 0);
    CHECK(g.ram[5 * kPage + 116] == 0xEE && g.ram[5 * kPage + 179] == 0xEE);
    CHECK(g.ram[5 * kPage + 180] == 0);
    CHECK(g.ram[0] == 0xEE && g.ram[kPage - 5] == 0xEE);
    CHECK(std::memcmp(&g.ram[kPage - 4], trailer, sizeof trailer) == 0);

    // A callable that throws: the trampoline catches it, and the library
    // reports a memory fault with the trampoline's code; nothing moves.
    Range range = make<Range>(pr_range_new, kGpns, std::size_t{3}, kOffset, kLen);
    Writer w2 = make<Writer>(pr_writer_new, range.get(), mem.get());
    g.throw_on_write = true;
    g.forget_calls();
    CHECK_ST(pr_writer_write(w2.get(), header, sizeof header, &t), PR_ERR_MEMORY);
    CHECK(t.done == 0 && t.fault_code == kThrew && t.fault_gpa == kRun1.gpa);
    CHECK(pr_writer_remaining(w2.get()) == kLen);
    CHECK(g.writes.empty());
    g.throw_on_write = false;
    CHECK_ST(pr_writer_write(w2.get(), header, sizeof header, &t), PR_OK);
    CHECK(t.done == sizeof header && window_byte(g, 15) == 16);
}

void test_dirty_callback_lambda()
{
    Guest g;
    LambdaMemory lm = g.callbacks(true);
    Memory mem = lm.create();
    std::vector<Run> dirty;
    auto on_dirty = [&dirty](std::uint64_t gpa, std::size_t len) { dirty.push_back(Run{gpa, len}); };
    Memory logged = with_dirty_callback(mem, on_dirty);
    mem.reset(); // the logging memory keeps the inner one alive

    Range range = make<Range>(pr_range_new, kGpns, std::size_t{3}, kOffset, kLen);
    pr_transfer t{};
    CHECK_ST(pr_range_fill(range.get(), logged.get(), 0x11, kLen, &t), PR_OK);
    CHECK((dirty == std::vector<Run>{kRun1, kRun2}));

    // A failed run is not reported.
    dirty.clear();
    g.fail_gpa = kRun2.gpa + 1;
    std::vector<std::uint8_t> src(kLen, 0x22);
    CHECK_ST(pr_range_write(range.get(), logged.get(), src.data(), src.size(), &t), PR_ERR_MEMORY);
    CHECK((dirty == std::vector<Run>{kRun1}));

    // Reads mark nothing.
    dirty.clear();
    g.fail_gpa = UINT64_MAX;
    CHECK_ST(pr_range_read(range.get(), logged.get(), src.data(), src.size(), &t), PR_OK);
    CHECK(dirty.empty());
}

} // namespace

int main()
{
    const std::pair<const char *, void (*)()> tests[] = {
        {"range transfers", test_range_transfers},
        {"fill without fill callback", test_fill_without_fill_callback},
        {"reader cursor and failure", test_reader_cursor_and_failure},
        {"builder, writer, throwing callback", test_builder_writer_and_throwing_callback},
        {"dirty callback lambda", test_dirty_callback_lambda},
    };
    for (const auto &test : tests) {
        try {
            test.second();
        } catch (const std::exception &e) {
            ++failures;
            std::fprintf(stderr, "%s: %s: unexpected exception: %s\n", __FILE__, test.first,
                         e.what());
        }
    }
    std::printf("%s: pagedrange %s, %u checks, %u failed -> %s\n", __FILE__, pr_version(), checks,
                failures, failures ? "FAIL" : "OK");
    return failures ? 1 : 0;
}
