/*
 * user.vm.*: the virtual-memory system calls from ring 3, against NT's
 * documented semantics (NtAllocateVirtualMemory, NtFreeVirtualMemory,
 * NtProtectVirtualMemory, NtQueryVirtualMemory), demand-zero pages,
 * working-set trimming and stack growth. What must *kill* a process (a write
 * to a read-only page, ...) is in utest_fault.c, through a child process.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utest.h>

#define P PAGE_SIZE
#define SELF NtCurrentProcess()

/* ---- helpers: each asserts what every call of its kind must satisfy ---- */

static MEMORY_BASIC_INFORMATION_T query(const void *address)
{
    MEMORY_BASIC_INFORMATION_T mbi;
    size_t len = 0;
    memset(&mbi, 0xCC, sizeof(mbi));
    NTSTATUS st = NtQueryVirtualMemory(SELF, address, MemoryBasicInformation, &mbi, sizeof(mbi), &len);
    UT_ASSERT_MSG(NT_SUCCESS(st), "NtQueryVirtualMemory(%p) failed: %s", address, UtStatusText(st));
    UT_ASSERT_MSG(len == sizeof(mbi), "NtQueryVirtualMemory(%p): return length %zu, expected %zu", address, len,
                  sizeof(mbi));
    UT_ASSERT_MSG(mbi.BaseAddress == ((uintptr_t)address & ~(P - 1)),
                  "NtQueryVirtualMemory(%p): BaseAddress %#llx, expected the address rounded down to its page",
                  address, (unsigned long long)mbi.BaseAddress);
    UT_ASSERT_MSG(mbi.RegionSize && !(mbi.RegionSize & (P - 1)), "NtQueryVirtualMemory(%p): RegionSize %#llx",
                  address, (unsigned long long)mbi.RegionSize);
    return mbi;
}

/* Asserts the state of the region at ADDRESS (0 = do not check that field). */
#define EXPECT_REGION(address, state, protect, type, base, size)                                                  \
    do {                                                                                                           \
        MEMORY_BASIC_INFORMATION_T m_ = query((const void *)(address));                                           \
        UT_ASSERT_MSG(m_.State == (state), "region at %p: State %#x, expected %#x", (void *)(address), m_.State, \
                      (unsigned)(state));                                                                         \
        if (protect)                                                                                               \
            UT_ASSERT_MSG(m_.Protect == (uint32_t)(protect), "region at %p: Protect %#x, expected %#x",           \
                          (void *)(address), m_.Protect, (unsigned)(protect));                                    \
        if (type)                                                                                                  \
            UT_ASSERT_MSG(m_.Type == (uint32_t)(type), "region at %p: Type %#x, expected %#x", (void *)(address), \
                          m_.Type, (unsigned)(type));                                                             \
        if (base)                                                                                                  \
            UT_ASSERT_MSG(m_.AllocationBase == (uint64_t)(uintptr_t)(base),                                        \
                          "region at %p: AllocationBase %#llx, expected %p", (void *)(address),                   \
                          (unsigned long long)m_.AllocationBase, (void *)(base));                                 \
        if (size)                                                                                                  \
            UT_ASSERT_MSG(m_.RegionSize == (uint64_t)(size), "region at %p: RegionSize %#llx, expected %#llx",    \
                          (void *)(address), (unsigned long long)m_.RegionSize, (unsigned long long)(size));      \
    } while (0)

static uint8_t *alloc(void *want, size_t size, uint32_t type, uint32_t protect)
{
    void *base = want;
    size_t got = size;
    NTSTATUS st = NtAllocateVirtualMemory(SELF, &base, 0, &got, type, protect);
    UT_ASSERT_MSG(NT_SUCCESS(st), "NtAllocateVirtualMemory(base %p, size %#zx, type %#x, protect %#x) failed: %s",
                  want, size, type, protect, UtStatusText(st));
    UT_ASSERT_MSG(base != NULL && ((uintptr_t)base & (P - 1)) == 0, "NtAllocateVirtualMemory returned base %p",
                  base);
    UT_ASSERT_MSG(got >= size && (got & (P - 1)) == 0, "NtAllocateVirtualMemory(size %#zx) returned size %#zx",
                  size, got);
    return base;
}

static void release(void *base)
{
    void *b = base;
    size_t size = 0;
    NTSTATUS st = NtFreeVirtualMemory(SELF, &b, &size, MEM_RELEASE);
    UT_ASSERT_MSG(NT_SUCCESS(st), "NtFreeVirtualMemory(%p, 0, MEM_RELEASE) failed: %s", base, UtStatusText(st));
}

static uint32_t protect(void *address, size_t size, uint32_t new_protect)
{
    void *base = address;
    size_t sz = size;
    uint32_t old = 0xDEAD;
    NTSTATUS st = NtProtectVirtualMemory(SELF, &base, &sz, new_protect, &old);
    UT_ASSERT_MSG(NT_SUCCESS(st), "NtProtectVirtualMemory(%p, %#zx, %#x) failed: %s", address, size, new_protect,
                  UtStatusText(st));
    return old;
}

static PROCESS_FAULT_COUNTERS_T counters(void)
{
    PROCESS_FAULT_COUNTERS_T c;
    size_t len = 0;
    memset(&c, 0, sizeof(c));
    NTSTATUS st = NtQueryInformationProcess(SELF, ProcessFaultCounters, &c, sizeof(c), &len);
    UT_ASSERT_MSG(NT_SUCCESS(st), "NtQueryInformationProcess(ProcessFaultCounters) failed: %s", UtStatusText(st));
    return c;
}

/* A 64 KiB-aligned address with at least SIZE bytes of free address space,
 * found by asking the kernel (above 4 GiB, away from the image and heap). */
static uint8_t *find_free(size_t size)
{
    uint64_t a = 0x100000000ULL;
    for (int i = 0; i < 1000 && a < 0x7F0000000000ULL; i++) {
        MEMORY_BASIC_INFORMATION_T m = query((void *)a);
        if (m.State == MEM_FREE && m.BaseAddress + m.RegionSize >= a + size)
            return (uint8_t *)a;
        a = (m.BaseAddress + m.RegionSize + ALLOCATION_GRANULARITY - 1) & ~(ALLOCATION_GRANULARITY - 1);
    }
    UT_FAIL("no free %#zx bytes of address space found above 4 GiB", size);
}

static uint64_t pattern(uint64_t page, uint64_t word, uint64_t seed)
{
    return (page * 0x9E3779B97F4A7C15ULL) ^ (word * 0xC2B2AE3D27D4EB4FULL) ^ seed;
}

static void fill(uint8_t *p, size_t pages, uint64_t seed)
{
    for (size_t i = 0; i < pages; i++) {
        uint64_t *q = (uint64_t *)(p + i * P);
        for (size_t w = 0; w < P / 8; w++)
            q[w] = pattern(i, w, seed);
    }
}

static void check(const uint8_t *p, size_t pages, uint64_t seed, const char *when)
{
    for (size_t i = 0; i < pages; i++) {
        const volatile uint64_t *q = (const volatile uint64_t *)(p + i * P);
        for (size_t w = 0; w < P / 8; w++)
            if (q[w] != pattern(i, w, seed))
                UT_FAIL("%s: page %zu (%p) word %zu holds %#llx, expected %#llx", when, i, (void *)q, w,
                        (unsigned long long)q[w], (unsigned long long)pattern(i, w, seed));
    }
}

static void check_zero(const uint8_t *p, size_t pages, const char *what)
{
    for (size_t i = 0; i < pages; i++) {
        const volatile uint64_t *q = (const volatile uint64_t *)(p + i * P);
        for (size_t w = 0; w < P / 8; w++)
            if (q[w] != 0)
                UT_FAIL("%s: page %zu (%p) word %zu is %#llx, not zero", what, i, (void *)q, w,
                        (unsigned long long)q[w]);
    }
}

/* ---- (a) allocation, query, decommit, release, protect ---- */

UTEST(vm, demand_zero_pages_read_zero)
{
    enum { N = 16 };
    PROCESS_FAULT_COUNTERS_T before = counters();
    uint8_t *p = alloc(NULL, N * P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    MEMORY_BASIC_INFORMATION_T m = query(p);
    UT_EQ(m.BaseAddress, (uintptr_t)p);
    UT_EQ(m.AllocationBase, (uintptr_t)p);
    UT_EQ(m.AllocationProtect, PAGE_READWRITE);
    UT_EQ(m.RegionSize, N * P);
    UT_EQ(m.State, MEM_COMMIT);
    UT_EQ(m.Protect, PAGE_READWRITE);
    UT_EQ(m.Type, MEM_PRIVATE);
    check_zero(p, N, "a fresh committed page");
    PROCESS_FAULT_COUNTERS_T after_read = counters();
    UT_ASSERT_MSG(after_read.DemandZeroFaults - before.DemandZeroFaults >= N,
                  "reading %d fresh pages took %llu demand-zero faults, expected at least %d", N,
                  (unsigned long long)(after_read.DemandZeroFaults - before.DemandZeroFaults), N);
    fill(p, N, 1);
    check(p, N, 1, "after writing");
    PROCESS_FAULT_COUNTERS_T after_write = counters();
    UT_ASSERT_MSG(after_write.WorkingSetSize >= N, "working set %llu pages after touching %d",
                  (unsigned long long)after_write.WorkingSetSize, N);
    UT_LE(after_write.WorkingSetSize, after_write.PeakWorkingSetSize);
    release(p);
}

UTEST(vm, allocation_granularity_and_rounding)
{
    /* NT: a new region starts on a 64 KiB boundary; sizes round up to pages. */
    void *base = NULL;
    size_t size = 1;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
    UT_EQ(size, P);
    UT_EQ((uintptr_t)base & (ALLOCATION_GRANULARITY - 1), 0);
    release(base);

    /* An explicit unaligned base is rounded down to 64 KiB, the end up to a
     * page: [A + 0x1234, A + 0x3234) reserves [A, A + 0x4000). */
    uint8_t *a = find_free(0x40000);
    base = a + 0x1234;
    size = 0x2000;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_RESERVE, PAGE_READWRITE));
    UT_EQ(base, a);
    UT_EQ(size, 0x4000);
    EXPECT_REGION(a, MEM_RESERVE, 0, MEM_PRIVATE, a, 0x4000);
    /* Committing [A + 0x1100, A + 0x1200) commits the page A + 0x1000. */
    base = a + 0x1100;
    size = 0x100;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT, PAGE_READWRITE));
    UT_EQ(base, a + 0x1000);
    UT_EQ(size, P);
    EXPECT_REGION(a + 0x1000, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, a, P);
    release(a);
    EXPECT_REGION(a, MEM_FREE, 0, 0, 0, 0);
}

UTEST(vm, reserve_then_commit)
{
    enum { N = 16 };
    uint8_t *p = alloc(NULL, N * P, MEM_RESERVE, PAGE_READWRITE);
    MEMORY_BASIC_INFORMATION_T m = query(p);
    UT_EQ(m.State, MEM_RESERVE);
    UT_EQ(m.Type, MEM_PRIVATE);
    UT_EQ(m.AllocationBase, (uintptr_t)p);
    UT_EQ(m.AllocationProtect, PAGE_READWRITE);
    UT_EQ(m.RegionSize, N * P);
    UT_EQ(m.Protect, 0);   /* NT: no protection for reserved pages */

    /* Commit pages 4..7: three regions appear. */
    void *base = p + 4 * P;
    size_t size = 4 * P;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT, PAGE_READWRITE));
    UT_EQ(base, p + 4 * P);
    UT_EQ(size, 4 * P);
    EXPECT_REGION(p, MEM_RESERVE, 0, MEM_PRIVATE, p, 4 * P);
    EXPECT_REGION(p + 4 * P, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, p, 4 * P);
    EXPECT_REGION(p + 6 * P + 123, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, p, 2 * P);
    EXPECT_REGION(p + 8 * P, MEM_RESERVE, 0, MEM_PRIVATE, p, 8 * P);
    check_zero(p + 4 * P, 4, "a page committed into a reservation");
    fill(p + 4 * P, 4, 2);

    /* Committing again what is committed succeeds and keeps the data. */
    base = p + 3 * P;
    size = 3 * P;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT, PAGE_READWRITE));
    check(p + 4 * P, 4, 2, "after committing committed pages again");
    check_zero(p + 3 * P, 1, "page 3, committed after its neighbours");
    EXPECT_REGION(p + 3 * P, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, p, 5 * P);

    /* A commit cannot reach past the reservation. */
    base = p + 14 * P;
    size = 4 * P;
    UT_FAILS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT, PAGE_READWRITE));
    EXPECT_REGION(p + 14 * P, MEM_RESERVE, 0, MEM_PRIVATE, p, 2 * P);
    release(p);
}

UTEST(vm, commit_without_reservation_fails)
{
    uint8_t *a = find_free(0x20000);
    void *base = a;
    size_t size = 2 * P;
    UT_FAILS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT, PAGE_READWRITE));
    EXPECT_REGION(a, MEM_FREE, 0, 0, 0, 0);
}

UTEST(vm, overlapping_reservation_fails)
{
    uint8_t *a = find_free(0x60000);
    uint8_t *p = alloc(a + 0x10000, 0x20000, MEM_RESERVE, PAGE_READWRITE);
    UT_EQ(p, a + 0x10000);
    void *base = a + 0x10000 + 3 * P;
    size_t size = P;
    UT_STATUS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_RESERVE, PAGE_READWRITE),
              STATUS_CONFLICTING_ADDRESSES);
    base = a;
    size = 0x20000;   /* overlaps the first half */
    UT_STATUS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE),
              STATUS_CONFLICTING_ADDRESSES);
    EXPECT_REGION(a, MEM_FREE, 0, 0, 0, 0);
    /* Just below it is fine. */
    uint8_t *q = alloc(a, 0x10000, MEM_RESERVE, PAGE_READWRITE);
    UT_EQ(q, a);
    EXPECT_REGION(a, MEM_RESERVE, 0, MEM_PRIVATE, a, 0x10000);
    EXPECT_REGION(a + 0x10000, MEM_RESERVE, 0, MEM_PRIVATE, a + 0x10000, 0x20000);
    release(q);
    release(p);
}

UTEST(vm, decommit_keeps_reservation)
{
    enum { N = 8 };
    uint8_t *p = alloc(NULL, N * P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    fill(p, N, 3);
    PROCESS_FAULT_COUNTERS_T before = counters();
    void *base = p + 2 * P + 5;   /* rounded to pages 2..3 */
    size_t size = 2 * P - 10;
    UT_SUCCESS(NtFreeVirtualMemory(SELF, &base, &size, MEM_DECOMMIT));
    UT_EQ(base, p + 2 * P);
    UT_EQ(size, 2 * P);
    PROCESS_FAULT_COUNTERS_T after = counters();
    UT_ASSERT_MSG(after.PrivatePages + 2 <= before.PrivatePages,
                  "PrivatePages went from %llu to %llu after decommitting 2 pages",
                  (unsigned long long)before.PrivatePages, (unsigned long long)after.PrivatePages);
    EXPECT_REGION(p, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, p, 2 * P);
    EXPECT_REGION(p + 2 * P, MEM_RESERVE, 0, MEM_PRIVATE, p, 2 * P);
    EXPECT_REGION(p + 4 * P, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, p, 4 * P);
    /* The other pages keep their data. */
    check(p, 2, 3, "pages below the decommitted ones");
    for (size_t i = 4; i < N; i++) {
        const uint64_t *q = (const uint64_t *)(p + i * P);
        UT_EQ(q[0], pattern(i, 0, 3));
        UT_EQ(q[P / 8 - 1], pattern(i, P / 8 - 1, 3));
    }
    /* Recommitted pages come back zero: the old contents are gone. */
    base = p + 2 * P;
    size = 2 * P;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT, PAGE_READWRITE));
    check_zero(p + 2 * P, 2, "a decommitted then recommitted page");
    EXPECT_REGION(p, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, p, N * P);
    /* Decommitting reserved pages is allowed (NT); decommitting free ones is not. */
    base = p + 2 * P;
    size = 2 * P;
    UT_SUCCESS(NtFreeVirtualMemory(SELF, &base, &size, MEM_DECOMMIT));
    base = p + 2 * P;
    size = 2 * P;
    UT_SUCCESS(NtFreeVirtualMemory(SELF, &base, &size, MEM_DECOMMIT));
    release(p);
    base = p;
    size = P;
    UT_FAILS(NtFreeVirtualMemory(SELF, &base, &size, MEM_DECOMMIT));
}

UTEST(vm, release_frees_the_whole_region)
{
    enum { N = 8 };
    uint8_t *p = alloc(NULL, N * P, MEM_RESERVE, PAGE_READWRITE);
    void *base = p + 2 * P;
    size_t size = 2 * P;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT, PAGE_READWRITE));
    fill(p + 2 * P, 2, 4);
    /* MEM_RELEASE must name the allocation base, with size 0. */
    base = p + P;
    size = 0;
    UT_STATUS(NtFreeVirtualMemory(SELF, &base, &size, MEM_RELEASE), STATUS_FREE_VM_NOT_AT_BASE);
    EXPECT_REGION(p, MEM_RESERVE, 0, MEM_PRIVATE, p, 2 * P);
    base = p;
    size = 0;
    UT_SUCCESS(NtFreeVirtualMemory(SELF, &base, &size, MEM_RELEASE));
    UT_EQ(base, p);
    UT_EQ(size, N * P);   /* NT returns what was released */
    EXPECT_REGION(p, MEM_FREE, 0, 0, 0, 0);
    EXPECT_REGION(p + 3 * P, MEM_FREE, 0, 0, 0, 0);
    /* Twice is an error. */
    base = p;
    size = 0;
    UT_FAILS(NtFreeVirtualMemory(SELF, &base, &size, MEM_RELEASE));
    /* The space can be reserved again. */
    uint8_t *q = alloc(p, N * P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    UT_EQ(q, p);
    check_zero(q + 2 * P, 2, "a page of a new region where a released one was");
    release(q);
}

UTEST(vm, commit_charge_counts_private_pages)
{
    PROCESS_FAULT_COUNTERS_T c0 = counters();
    uint8_t *p = alloc(NULL, 64 * P, MEM_RESERVE, PAGE_READWRITE);
    PROCESS_FAULT_COUNTERS_T c1 = counters();
    UT_ASSERT_MSG(c1.PrivatePages < c0.PrivatePages + 32,
                  "reserving 64 pages raised PrivatePages from %llu to %llu: reserving must not commit",
                  (unsigned long long)c0.PrivatePages, (unsigned long long)c1.PrivatePages);
    void *base = p;
    size_t size = 32 * P;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT, PAGE_READWRITE));
    PROCESS_FAULT_COUNTERS_T c2 = counters();
    UT_ASSERT_MSG(c2.PrivatePages >= c1.PrivatePages + 32,
                  "committing 32 pages moved PrivatePages from %llu to %llu (untouched pages count too)",
                  (unsigned long long)c1.PrivatePages, (unsigned long long)c2.PrivatePages);
    release(p);
    PROCESS_FAULT_COUNTERS_T c3 = counters();
    UT_ASSERT_MSG(c3.PrivatePages + 32 <= c2.PrivatePages, "releasing 32 committed pages moved PrivatePages from %llu to %llu",
                  (unsigned long long)c2.PrivatePages, (unsigned long long)c3.PrivatePages);
}

UTEST(vm, protect_returns_old_protection)
{
    enum { N = 4 };
    uint8_t *p = alloc(NULL, N * P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    fill(p, N, 5);
    UT_EQ(protect(p + P, P, PAGE_READONLY), PAGE_READWRITE);
    EXPECT_REGION(p, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, p, P);
    EXPECT_REGION(p + P, MEM_COMMIT, PAGE_READONLY, MEM_PRIVATE, p, P);
    EXPECT_REGION(p + 2 * P, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, p, 2 * P);
    MEMORY_BASIC_INFORMATION_T m = query(p + P);
    UT_EQ(m.AllocationProtect, PAGE_READWRITE);   /* the protection at allocation never changes */
    check(p, N, 5, "after making page 1 read-only");   /* still readable, same data */
    UT_EQ(protect(p + P, P, PAGE_READWRITE), PAGE_READONLY);
    p[P] = 0x42;   /* writable again */
    UT_EQ(p[P], 0x42);
    /* Over a mixed range the old protection is the first page's. */
    protect(p + 2 * P, P, PAGE_NOACCESS);
    /* [p + P + 17, p + 3P) rounds out to pages 1..2. */
    UT_EQ(protect(p + P + 17, 2 * P - 17, PAGE_READONLY), PAGE_READWRITE);
    EXPECT_REGION(p + P, MEM_COMMIT, PAGE_READONLY, MEM_PRIVATE, p, 2 * P);
    UT_EQ(protect(p + 2 * P, 2 * P, PAGE_READWRITE), PAGE_READONLY);
    EXPECT_REGION(p + 2 * P, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, p, 2 * P);
    UT_EQ(p[3 * P], pattern(3, 0, 5) & 0xFF);
    release(p);
}

UTEST(vm, protect_rejects_bad_requests)
{
    uint8_t *p = alloc(NULL, 8 * P, MEM_RESERVE, PAGE_READWRITE);
    void *base = p;
    size_t size = 2 * P;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT, PAGE_READWRITE));
    uint32_t old = 0;
    /* Reserved pages have no protection to change (NT: STATUS_NOT_COMMITTED). */
    base = p + 4 * P;
    size = P;
    UT_FAILS(NtProtectVirtualMemory(SELF, &base, &size, PAGE_READONLY, &old));
    /* A range that runs from committed into reserved pages. */
    base = p + P;
    size = 2 * P;
    UT_FAILS(NtProtectVirtualMemory(SELF, &base, &size, PAGE_READONLY, &old));
    EXPECT_REGION(p, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, p, 2 * P);
    /* Not protections: 0, two at once, unknown bits. */
    static const uint32_t bad[] = { 0, PAGE_READONLY | PAGE_READWRITE, 0x3, 0x800000, PAGE_GUARD };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        base = p;
        size = P;
        NTSTATUS st = NtProtectVirtualMemory(SELF, &base, &size, bad[i], &old);
        UT_ASSERT_MSG(!NT_SUCCESS(st), "NtProtectVirtualMemory(protect %#x) returned %s; expected a failure",
                      bad[i], UtStatusText(st));
    }
    EXPECT_REGION(p, MEM_COMMIT, PAGE_READWRITE, MEM_PRIVATE, p, 2 * P);
    /* Free address space. */
    release(p);
    base = p;
    size = P;
    UT_FAILS(NtProtectVirtualMemory(SELF, &base, &size, PAGE_READONLY, &old));
}

UTEST(vm, allocate_rejects_bad_arguments)
{
    struct {
        uint64_t base, size;
        uint32_t type, protect;
        const char *why;
    } cases[] = {
        { 0, P, 0, PAGE_READWRITE, "no allocation type" },
        { 0, P, MEM_DECOMMIT, PAGE_READWRITE, "MEM_DECOMMIT is a free type" },
        { 0, P, MEM_RELEASE | MEM_COMMIT, PAGE_READWRITE, "MEM_RELEASE is a free type" },
        { 0, P, MEM_RESERVE | 0x40000000, PAGE_READWRITE, "an unknown type bit" },
        { 0, P, MEM_RESERVE | MEM_COMMIT, 0, "protection 0" },
        { 0, P, MEM_RESERVE | MEM_COMMIT, PAGE_READONLY | PAGE_READWRITE, "two protections" },
        { 0, 0, MEM_RESERVE, PAGE_READWRITE, "size 0" },
        { 0, 1ULL << 47, MEM_RESERVE, PAGE_READWRITE, "more than the whole user address space" },
        { 0xFFFFF80000000000ULL, P, MEM_RESERVE, PAGE_READWRITE, "a kernel-space base" },
        { 0x00007FFFFFF00000ULL, 0x200000, MEM_RESERVE, PAGE_READWRITE, "a range past the highest user address" },
        { 0x0000800000000000ULL, P, MEM_RESERVE, PAGE_READWRITE, "a non-canonical base" },
        { 0x1000, P, MEM_RESERVE, PAGE_READWRITE, "the NULL guard (below 64 KiB)" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        void *base = (void *)cases[i].base;
        size_t size = cases[i].size;
        NTSTATUS st = NtAllocateVirtualMemory(SELF, &base, 0, &size, cases[i].type, cases[i].protect);
        UT_ASSERT_MSG(!NT_SUCCESS(st), "NtAllocateVirtualMemory with %s (base %#llx size %#llx type %#x protect %#x) "
                      "returned %s and base %p; expected a failure", cases[i].why,
                      (unsigned long long)cases[i].base, (unsigned long long)cases[i].size, cases[i].type,
                      cases[i].protect, UtStatusText(st), base);
    }
}

UTEST(vm, query_free_and_reserved_regions)
{
    uint8_t *a = find_free(0x100000);
    /* A free region: the address is rounded down to its page; RegionSize runs to
     * the next allocation (here at least 1 MiB). */
    MEMORY_BASIC_INFORMATION_T m = query(a + 0x123);
    UT_EQ(m.BaseAddress, (uintptr_t)a);
    UT_EQ(m.State, MEM_FREE);
    UT_GE(m.RegionSize, 0x100000);
    /* Reserve in the middle: the free region before it now ends at it. */
    uint8_t *p = alloc(a + 0x40000, 0x20000, MEM_RESERVE, PAGE_EXECUTE_READWRITE);
    m = query(a);
    UT_EQ(m.State, MEM_FREE);
    UT_EQ(m.RegionSize, 0x40000);
    EXPECT_REGION(p + 0x1000, MEM_RESERVE, 0, MEM_PRIVATE, p, 0x1F000);
    m = query(p);
    UT_EQ(m.AllocationProtect, PAGE_EXECUTE_READWRITE);
    m = query(p + 0x20000);
    UT_EQ(m.State, MEM_FREE);
    UT_EQ(m.BaseAddress, (uintptr_t)(p + 0x20000));
    release(p);
    m = query(a);
    UT_EQ(m.State, MEM_FREE);
    UT_GE(m.RegionSize, 0x100000);
}

static const char rodata_string[] = "a string in the image's .rodata";
static volatile uint64_t data_value = 0x1234;
static volatile uint64_t bss_value;

UTEST(vm, query_image_sections)
{
    MEMORY_BASIC_INFORMATION_T m = query((const void *)(uintptr_t)&utest_main);
    UT_EQ(m.State, MEM_COMMIT);
    UT_ASSERT_MSG(m.Type == MEM_IMAGE, "the program's code: Type %#x, expected MEM_IMAGE (0x1000000)", m.Type);
    UT_ASSERT_MSG(m.Protect == PAGE_EXECUTE_READ, "the program's code: Protect %#x, expected PAGE_EXECUTE_READ",
                  m.Protect);
    UT_EQ(m.AllocationBase, 0x400000);   /* the image base (user/user.ld) */
    m = query(rodata_string);
    UT_EQ(m.State, MEM_COMMIT);
    UT_EQ(m.Type, MEM_IMAGE);
    UT_ASSERT_MSG(m.Protect == PAGE_READONLY, "the program's .rodata: Protect %#x, expected PAGE_READONLY",
                  m.Protect);
    UT_EQ(m.AllocationBase, 0x400000);
    m = query((const void *)&data_value);
    UT_EQ(m.State, MEM_COMMIT);
    UT_EQ(m.Type, MEM_IMAGE);
    UT_ASSERT_MSG(m.Protect == PAGE_READWRITE || m.Protect == PAGE_WRITECOPY,
                  "the program's .data: Protect %#x, expected PAGE_READWRITE or PAGE_WRITECOPY", m.Protect);
    UT_EQ(data_value, 0x1234);
    m = query((const void *)&bss_value);
    UT_EQ(m.State, MEM_COMMIT);
    UT_ASSERT_MSG(m.Protect == PAGE_READWRITE || m.Protect == PAGE_WRITECOPY,
                  "the program's .bss: Protect %#x, expected PAGE_READWRITE or PAGE_WRITECOPY", m.Protect);
    UT_EQ(bss_value, 0);
    bss_value = 7;
    data_value = 8;
    UT_EQ(bss_value + data_value, 15);
}

UTEST(vm, query_stack)
{
    volatile int local = 1;
    MEMORY_BASIC_INFORMATION_T m = query((const void *)&local);
    UT_EQ(m.State, MEM_COMMIT);
    UT_EQ(m.Protect, PAGE_READWRITE);
    UT_EQ(m.Type, MEM_PRIVATE);
    UT_LE(m.AllocationBase, m.BaseAddress);
    UT_EQ(local, 1);
}

/* Walks the whole user address space region by region, as VirtualQuery loops do. */
UTEST(vm, query_walks_whole_address_space)
{
    uint64_t a = MM_LOWEST_USER_ADDRESS, prev_state = 0;
    volatile int local = 0;
    int regions = 0, saw_image = 0, saw_stack = 0;
    while (a < MM_USER_PROBE_ADDRESS) {
        UT_ASSERT_MSG(++regions < 10000, "more than 10000 regions: RegionSize not advancing? (at %#llx)",
                      (unsigned long long)a);
        MEMORY_BASIC_INFORMATION_T m = query((void *)a);
        UT_ASSERT_MSG(m.State == MEM_FREE || m.State == MEM_RESERVE || m.State == MEM_COMMIT,
                      "region at %#llx: State %#x", (unsigned long long)a, m.State);
        UT_ASSERT_MSG(!(m.State == MEM_FREE && prev_state == MEM_FREE),
                      "two free regions in a row at %#llx: a free region runs up to the next allocation",
                      (unsigned long long)a);
        UT_ASSERT_MSG(m.BaseAddress + m.RegionSize <= MM_USER_PROBE_ADDRESS,
                      "region at %#llx size %#llx runs past the user address space", (unsigned long long)a,
                      (unsigned long long)m.RegionSize);
        if (m.BaseAddress == 0x400000 && m.Type == MEM_IMAGE)
            saw_image = 1;
        if ((uintptr_t)&local >= m.BaseAddress && (uintptr_t)&local < m.BaseAddress + m.RegionSize)
            saw_stack = m.State == MEM_COMMIT;
        prev_state = m.State;
        a = m.BaseAddress + m.RegionSize;
    }
    UT_EQ(a, MM_USER_PROBE_ADDRESS);   /* the last region ends where user space ends */
    UT_ASSERT_MSG(saw_image, "the walk never met the image at 0x400000 (MEM_IMAGE)");
    UT_ASSERT_MSG(saw_stack, "the walk never met the committed stack page holding %p", (void *)&local);
    MEMORY_BASIC_INFORMATION_T m;
    size_t len;
    UT_FAILS(NtQueryVirtualMemory(SELF, (void *)MM_USER_PROBE_ADDRESS, MemoryBasicInformation, &m, sizeof(m), &len));
}

UTEST(vm, reserve_more_than_physical_memory)
{
    /* Reserving is address space only: 1 GiB works with 256 MiB of RAM. */
    size_t size = 1UL << 30;
    uint8_t *p = alloc(NULL, size, MEM_RESERVE, PAGE_READWRITE);
    EXPECT_REGION(p, MEM_RESERVE, 0, MEM_PRIVATE, p, size);
    uint8_t *mid = p + size / 2;
    void *base = mid;
    size_t sz = 4 * P;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &sz, MEM_COMMIT, PAGE_READWRITE));
    check_zero(mid, 4, "a page committed in the middle of 1 GiB");
    fill(mid, 4, 6);
    check(mid, 4, 6, "a page committed in the middle of 1 GiB");
    EXPECT_REGION(p, MEM_RESERVE, 0, MEM_PRIVATE, p, size / 2);
    EXPECT_REGION(mid + 4 * P, MEM_RESERVE, 0, MEM_PRIVATE, p, size / 2 - 4 * P);
    release(p);
}

UTEST(vm, execute_only_when_allowed)
{
    static const uint8_t code[] = { 0xB8, 42, 0, 0, 0, 0xC3 };   /* mov eax, 42; ret */
    uint8_t *p = alloc(NULL, P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    memcpy(p, code, sizeof(code));
    UT_EQ(protect(p, P, PAGE_EXECUTE_READ), PAGE_READWRITE);
    EXPECT_REGION(p, MEM_COMMIT, PAGE_EXECUTE_READ, MEM_PRIVATE, p, P);
    int (*fn)(void) = (int (*)(void))(uintptr_t)p;
    UT_EQ(fn(), 42);
    release(p);
}

UTEST(vm, noaccess_pages_can_be_committed)
{
    uint8_t *p = alloc(NULL, 2 * P, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS);
    EXPECT_REGION(p, MEM_COMMIT, PAGE_NOACCESS, MEM_PRIVATE, p, 2 * P);
    UT_EQ(protect(p, P, PAGE_READWRITE), PAGE_NOACCESS);
    check_zero(p, 1, "a PAGE_NOACCESS page made read-write");
    release(p);
}

/* ---- (e) working-set trimming ---- */

UTEST(vm, trimmed_pages_come_back_intact)
{
    enum { N = 64 };
    uint8_t *p = alloc(NULL, (N + 2) * P, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    fill(p, N, 7);
    check_zero(p + N * P, 1, "a page only read");   /* page N: read (zero page), page N + 1: never touched */
    PROCESS_FAULT_COUNTERS_T c1 = counters();
    UT_ASSERT_MSG(c1.WorkingSetSize >= N, "working set %llu pages after writing %d",
                  (unsigned long long)c1.WorkingSetSize, N);
    UT_SUCCESS(NtSetInformationProcess(SELF, ProcessTrimWorkingSet, NULL, 0));
    PROCESS_FAULT_COUNTERS_T c2 = counters();
    UT_ASSERT_MSG(c2.WorkingSetSize + N <= c1.WorkingSetSize,
                  "trimming the working set took it from %llu to %llu pages; the %d written pages should have left it",
                  (unsigned long long)c1.WorkingSetSize, (unsigned long long)c2.WorkingSetSize, N);
    check(p, N, 7, "a written page after the working set was trimmed");
    check_zero(p + N * P, 2, "a zero page after the working set was trimmed");
    PROCESS_FAULT_COUNTERS_T c3 = counters();
    UT_ASSERT_MSG(c3.SoftFaults > c2.SoftFaults, "SoftFaults stayed at %llu while trimmed pages came back",
                  (unsigned long long)c2.SoftFaults);
    uint64_t back = (c3.SoftFaults + c3.HardFaults) - (c2.SoftFaults + c2.HardFaults);
    UT_ASSERT_MSG(back >= N, "only %llu soft+hard faults brought back %d trimmed pages", (unsigned long long)back, N);
    UT_GE(c3.WorkingSetSize, N);

    /* Modify half of them, trim again: the new data must survive too. */
    fill(p, N / 2, 8);
    UT_SUCCESS(NtSetInformationProcess(SELF, ProcessTrimWorkingSet, NULL, 0));
    check(p, N / 2, 8, "a page rewritten after a trim, after a second trim");
    for (size_t i = N / 2; i < N; i++)
        UT_EQ(((uint64_t *)(p + i * P))[9], pattern(i, 9, 7));
    release(p);
}

/* Three pages of .rodata of this image, page aligned so that nothing else
 * shares them: image pages, which every process running utest_vm would
 * share through the image's prototype PTEs. */
static const uint64_t image_table[3 * P / 8] __attribute__((aligned(4096))) = {
    [0] = 0x1111, [P / 8] = 0x2222, [2 * P / 8] = 0x3333,
};

UTEST(vm, trimmed_image_pages_come_back_from_standby)
{
    volatile const uint64_t *t = image_table;
    UT_EQ(t[0] + t[P / 8] + t[2 * P / 8], 0x6666);   /* all three in the working set */
    UT_SUCCESS(NtSetInformationProcess(SELF, ProcessTrimWorkingSet, NULL, 0));
    /* Nobody else maps them: their frames went to the standby list, and
     * the prototype PTEs (not ours) point there. Touching them again is a
     * soft fault each, with the image's bytes, not a new read of the image. */
    PROCESS_FAULT_COUNTERS_T c1 = counters();
    uint64_t a = t[0], b = t[P / 8], c = t[2 * P / 8];
    PROCESS_FAULT_COUNTERS_T c2 = counters();
    UT_EQ(a, 0x1111);
    UT_EQ(b, 0x2222);
    UT_EQ(c, 0x3333);
    UT_ASSERT_MSG(c2.ImageFaults == c1.ImageFaults,
                  "%llu image faults brought back 3 trimmed image pages whose frames were still in memory",
                  (unsigned long long)(c2.ImageFaults - c1.ImageFaults));
    UT_ASSERT_MSG(c2.SoftFaults == c1.SoftFaults + 3, "%llu soft faults brought back 3 trimmed image pages",
                  (unsigned long long)(c2.SoftFaults - c1.SoftFaults));
}

UTEST(vm, trim_rejects_bad_arguments)
{
    UT_FAILS(NtSetInformationProcess(SELF, 0x7777, NULL, 0));   /* no such class */
    UT_FAILS(NtSetInformationProcess(0x1234, ProcessTrimWorkingSet, NULL, 0));   /* no such handle */
}

/* ---- (f) stack growth ---- */

static __attribute__((noinline)) uint64_t deep(int depth, int max)
{
    volatile uint8_t frame[4000];
    frame[sizeof(frame) - 1] = (uint8_t)depth;   /* the top first: pages are touched in order */
    for (size_t i = 0; i < sizeof(frame); i += 512)
        frame[sizeof(frame) - 1 - i] = (uint8_t)(depth + i);
    frame[0] = (uint8_t)depth;
    uint64_t sum = depth < max ? deep(depth + 1, max) : (uint64_t)(uintptr_t)frame;
    for (size_t i = 0; i < sizeof(frame); i += 512)
        if (frame[sizeof(frame) - 1 - i] != (uint8_t)(depth + i))
            UT_FAIL("stack frame at depth %d changed under us", depth);
    return sum;
}

UTEST(vm, stack_grows_to_200_kib)
{
    volatile int top = 0;
    uint64_t lowest = deep(0, 55);   /* 56 frames of ~4 KiB: about 220 KiB */
    uint64_t used = (uint64_t)(uintptr_t)&top - lowest;
    UT_ASSERT_MSG(used >= 200 * 1024, "the recursion used only %llu bytes of stack", (unsigned long long)used);
    MEMORY_BASIC_INFORMATION_T m = query((void *)lowest);
    UT_EQ(m.State, MEM_COMMIT);
    UT_EQ(m.Protect, PAGE_READWRITE);
    /* Grown pages stay committed (NT never shrinks a stack), and the stack is
     * one reservation. */
    MEMORY_BASIC_INFORMATION_T t = query((const void *)&top);
    UT_EQ(m.AllocationBase, t.AllocationBase);
    UT_EQ(deep(0, 55), lowest);   /* the same again, no new growth needed */
}

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}
