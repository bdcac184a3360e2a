/*
 * user.commit.*: commit from ring 3 (docs/mm.md, "Commit"). Committing
 * promises a frame for every page, so it is refused up front with
 * STATUS_COMMITMENT_LIMIT when the promises would pass what can be made
 * available; what was promised is always there when touched; everything
 * charged comes back exactly. And walks over huge ranges cost what is
 * mapped, not the size of the range.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utest.h>

#define P PAGE_SIZE
#define SELF NtCurrentProcess()
/* PML4 slot 32 (16 TiB): nothing of the program's lives there, so every
 * page table a region here gets covers only that region. */
#define FAR_AWAY ((uint8_t *)0x100000000000ULL)

/* The stack grows (and charges a page) the first time it goes deeper:
 * grow it now, so no growth lands between two readings of the charge. */
static __attribute__((noinline)) void warm_stack(void)
{
    volatile char buf[48 * 1024];
    for (size_t i = 0; i < sizeof(buf); i += 512)
        buf[i] = 0;
}

static SYSTEM_MEMORY_T memory(void)
{
    SYSTEM_MEMORY_T m;
    size_t got = 0;
    memset(&m, 0, sizeof(m));
    UT_SUCCESS(NtQuerySystemInformation(SystemMemoryInformation, &m, sizeof(m), &got));
    UT_ASSERT_MSG(m.CommitLimitPages != 0, "SystemMemoryInformation reports no commit limit");
    return m;
}

static MEMORY_BASIC_INFORMATION_T query(const void *a)
{
    MEMORY_BASIC_INFORMATION_T mbi;
    size_t len = 0;
    NTSTATUS st = NtQueryVirtualMemory(SELF, a, MemoryBasicInformation, &mbi, sizeof(mbi), &len);
    UT_ASSERT_MSG(NT_SUCCESS(st), "NtQueryVirtualMemory(%p): %s", a, UtStatusText(st));
    return mbi;
}

static NTSTATUS allocate(void **base, size_t size, uint32_t type)
{
    size_t sz = size;
    return NtAllocateVirtualMemory(SELF, base, 0, &sz, type, PAGE_READWRITE);
}

static void release(void *base)
{
    size_t size = 0;
    UT_SUCCESS(NtFreeVirtualMemory(SELF, &base, &size, MEM_RELEASE));
}

/* Runs `child exit 7` while memory is committed to the limit: the child is
 * either refused up front (with a status) or runs and ends normally, never
 * killed by a fault that found no frame. Returns 1 if it ran. */
static int child_runs_or_is_refused(void)
{
    HANDLE h = 0;
    NTSTATUS st = NtCreateProcess("child", "child exit 7", &h);
    if (st == STATUS_COMMITMENT_LIMIT || st == STATUS_INSUFFICIENT_RESOURCES)
        return 0;
    UT_ASSERT_MSG(NT_SUCCESS(st), "NtCreateProcess(child) failed with %s: only a refusal for want of commit "
                  "or resources is acceptable", UtStatusText(st));
    int64_t timeout = -(int64_t)20000 * 10000;
    UT_EQ(NtWaitForSingleObject(h, 0, &timeout), STATUS_WAIT_0);
    NTSTATUS code = 0;
    UT_SUCCESS(ProcessExitStatus(h, &code));
    UT_ASSERT_MSG(code == 7, "a child started while memory was committed ended with %s, not its own 7",
                  UtStatusText(code));
    NtClose(h);
    return 1;
}

/* Item 2: a query over 127 TiB of reservation used to walk it page by page
 * (2^35 steps, and unkillable meanwhile). It must answer from what is
 * mapped; the test times out (hangs) without that. */
UTEST_T(commit, huge_reservation_query_protect_decommit_release, 30)
{
    void *base = NULL;
    size_t size = 0x7F0000000000ULL;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_RESERVE, PAGE_READWRITE));
    uint8_t *p = base;
    MEMORY_BASIC_INFORMATION_T m = query(p);
    UT_EQ(m.State, MEM_RESERVE);
    UT_EQ(m.RegionSize, size);
    /* A committed page in the middle splits it in three, and the last part
     * is found without walking to it. */
    uint8_t *mid = (uint8_t *)(((uintptr_t)p + size / 2) & ~(uintptr_t)(P - 1));
    void *b = mid;
    UT_SUCCESS(allocate(&b, P, MEM_COMMIT));
    mid[5] = 5;
    m = query(p);
    UT_EQ(m.State, MEM_RESERVE);
    UT_EQ(m.RegionSize, (uint64_t)(mid - p));
    m = query(mid);
    UT_EQ(m.State, MEM_COMMIT);
    UT_EQ(m.RegionSize, P);
    m = query(mid + P);
    UT_EQ(m.State, MEM_RESERVE);
    UT_EQ(m.BaseAddress + m.RegionSize, (uintptr_t)p + size);
    /* Protect over all of it: not committed, found at the first page. */
    void *pb = p;
    size_t psz = size;
    uint32_t old;
    UT_STATUS(NtProtectVirtualMemory(SELF, &pb, &psz, PAGE_READONLY, &old), (NTSTATUS)0xC000002D);
    /* Decommit all of it, then release: both cost what is mapped. */
    void *db = p;
    size_t dsz = size;
    UT_SUCCESS(NtFreeVirtualMemory(SELF, &db, &dsz, MEM_DECOMMIT));
    m = query(p);
    UT_EQ(m.State, MEM_RESERVE);
    UT_EQ(m.RegionSize, size);
    release(p);
    m = query(p);
    UT_EQ(m.State, MEM_FREE);
}

/* Item 3: 64 GiB (and 200 GiB) on a 256 MiB machine used to be committed,
 * building 32,832 page tables (23 s in the kernel for 200 GiB, the tables
 * kept after a failure). Past the limit nothing may be charged or built. */
UTEST(commit, commit_past_the_limit_is_refused_and_builds_nothing)
{
    static const uint64_t gib[] = { 64, 200 };
    warm_stack();
    for (int i = 0; i < 2; i++) {
        SYSTEM_MEMORY_T m0 = memory();
        void *base = NULL;
        UT_STATUS(allocate(&base, gib[i] << 30, MEM_RESERVE | MEM_COMMIT), STATUS_COMMITMENT_LIMIT);
        /* Into a reservation, too. */
        base = NULL;
        UT_SUCCESS(allocate(&base, gib[i] << 30, MEM_RESERVE));
        void *c = base;
        UT_STATUS(allocate(&c, gib[i] << 30, MEM_COMMIT), STATUS_COMMITMENT_LIMIT);
        MEMORY_BASIC_INFORMATION_T q = query(base);
        UT_EQ(q.State, MEM_RESERVE);
        UT_EQ(q.RegionSize, gib[i] << 30);   /* nothing was committed */
        release(base);
        SYSTEM_MEMORY_T m1 = memory();
        UT_ASSERT_MSG(m1.CommittedPages == m0.CommittedPages,
                      "a refused %llu GiB commit moved the commit charge from %llu to %llu pages",
                      (unsigned long long)gib[i], (unsigned long long)m0.CommittedPages,
                      (unsigned long long)m1.CommittedPages);
        UT_ASSERT_MSG(m1.AvailablePages + 16 >= m0.AvailablePages,
                      "a refused %llu GiB commit kept %llu frames (page tables?)", (unsigned long long)gib[i],
                      (unsigned long long)(m0.AvailablePages - m1.AvailablePages));
    }
}

/* Items 3 and 4: commit up to the limit (one page more is refused), touch
 * every page (each fault finds its frame), start a child meanwhile (it runs
 * or is refused, it is not killed), give it all back exactly. */
UTEST_T(commit, commit_to_the_limit_touch_all_give_back, 120)
{
    warm_stack();
    SYSTEM_MEMORY_T m0 = memory();
    uint64_t room = m0.CommitLimitPages - m0.CommittedPages;
    UT_ASSERT_MSG(room > 4096 && room < m0.PhysicalPages, "commit room %llu pages of %llu physical",
                  (unsigned long long)room, (unsigned long long)m0.PhysicalPages);
    void *base = FAR_AWAY;
    size_t reserve = (room + 4096) * P;
    UT_SUCCESS(allocate(&base, reserve, MEM_RESERVE));
    /* The room less the tables the commit needs (1 per 512 pages and a
     * few above) and a margin for what the system does meanwhile. */
    uint64_t pages = room - room / 500 - 64;
    void *c = base;
    UT_STATUS(allocate(&c, (room + 1) * P, MEM_COMMIT), STATUS_COMMITMENT_LIMIT);
    c = base;
    UT_SUCCESS(allocate(&c, pages * P, MEM_COMMIT));
    SYSTEM_MEMORY_T m1 = memory();
    UT_ASSERT_MSG(m1.CommittedPages >= m0.CommittedPages + pages, "committing %llu pages charged only %llu",
                  (unsigned long long)pages, (unsigned long long)(m1.CommittedPages - m0.CommittedPages));
    /* Whatever is left is less than 1 MiB: a further 1 MiB is refused. */
    void *more = NULL;
    UT_STATUS(allocate(&more, 1 << 20, MEM_RESERVE | MEM_COMMIT), STATUS_COMMITMENT_LIMIT);
    /* Touch them all: more than half of RAM, every fault must be served. */
    uint8_t *p = base;
    for (uint64_t i = 0; i < pages; i++)
        p[i * P + (i & 0xFF8)] = (uint8_t)i;
    for (uint64_t i = 0; i < pages; i += 97)
        UT_EQ(p[i * P + (i & 0xFF8)], (uint8_t)i);
    child_runs_or_is_refused();
    release(base);
    SYSTEM_MEMORY_T m2 = memory();
    UT_ASSERT_MSG(m2.CommittedPages == m0.CommittedPages,
                  "after releasing, the commit charge is %llu pages, it was %llu before",
                  (unsigned long long)m2.CommittedPages, (unsigned long long)m0.CommittedPages);
    /* The working-set list grew to hold every page touched (8 bytes each,
     * in pool) and keeps its size; nothing else may stay. */
    UT_ASSERT_MSG(m2.AvailablePages + pages / 256 + 16 >= m0.AvailablePages,
                  "after releasing, %llu frames are available, %llu were before",
                  (unsigned long long)m2.AvailablePages, (unsigned long long)m0.AvailablePages);
    UT_EQ(child_runs_or_is_refused(), 1);   /* and the system still runs programs */
}

/* Page tables run out the same way: one page every 2 MiB costs a page
 * table each, until the limit refuses the next; all of them can be
 * touched; releasing gives every table and page back. */
UTEST_T(commit, page_tables_run_out_cleanly, 120)
{
    warm_stack();
    SYSTEM_MEMORY_T m0 = memory();
    uint64_t room = m0.CommitLimitPages - m0.CommittedPages;
    size_t span = (room / 2 + 1024) * (2ULL << 20);   /* more 2 MiB steps than can be charged */
    void *base = FAR_AWAY;
    UT_SUCCESS(allocate(&base, span, MEM_RESERVE));
    uint8_t *p = base;
    uint64_t n = 0;
    NTSTATUS st;
    for (;;) {
        void *c = p + n * (2ULL << 20);
        UT_ASSERT_MSG(n * (2ULL << 20) < span, "%llu commits of one page each, past the reservation",
                      (unsigned long long)n);
        st = allocate(&c, P, MEM_COMMIT);
        if (!NT_SUCCESS(st))
            break;
        n++;
    }
    UT_ASSERT_MSG(st == STATUS_COMMITMENT_LIMIT, "commit number %llu failed with %s, not STATUS_COMMITMENT_LIMIT",
                  (unsigned long long)n + 1, UtStatusText(st));
    /* Each took a page and a page table (and one page directory per GiB). */
    UT_ASSERT_MSG(n >= room / 2 - room / 256 - 64 && n <= room / 2, "%llu one-page commits fit in %llu pages of room",
                  (unsigned long long)n, (unsigned long long)room);
    for (uint64_t i = 0; i < n; i += 16)   /* a sample: the test above touches everything */
        p[i * (2ULL << 20)] = 1;
    child_runs_or_is_refused();
    release(base);
    SYSTEM_MEMORY_T m1 = memory();
    UT_ASSERT_MSG(m1.CommittedPages == m0.CommittedPages,
                  "after releasing, the commit charge is %llu pages, it was %llu before (page tables kept?)",
                  (unsigned long long)m1.CommittedPages, (unsigned long long)m0.CommittedPages);
    UT_ASSERT_MSG(m1.AvailablePages + 16 >= m0.AvailablePages,
                  "after releasing, %llu frames are available, %llu were before",
                  (unsigned long long)m1.AvailablePages, (unsigned long long)m0.AvailablePages);
    UT_EQ(child_runs_or_is_refused(), 1);
}

/* Reserved and committed in one call (NT's MemCommit region): charged at
 * once, pages and the tables they will need, but no page table is built
 * until a page is touched - a commit costs no frame. */
UTEST(commit, page_tables_are_built_at_fault_time)
{
    warm_stack();
    enum { PAGES = 16384 };   /* 64 MiB: 32 page tables, a directory, a PDPT */
    SYSTEM_MEMORY_T m0 = memory();
    void *base = FAR_AWAY;
    UT_SUCCESS(allocate(&base, PAGES * P, MEM_RESERVE | MEM_COMMIT));
    SYSTEM_MEMORY_T m1 = memory();
    UT_EQ(m1.CommittedPages - m0.CommittedPages, PAGES + 32 + 1 + 1);
    UT_ASSERT_MSG(m1.AvailablePages + 8 >= m0.AvailablePages,
                  "committing 64 MiB took %llu frames: page tables were built before any touch",
                  (unsigned long long)(m0.AvailablePages - m1.AvailablePages));
    MEMORY_BASIC_INFORMATION_T q = query(base);
    UT_EQ(q.State, MEM_COMMIT);
    UT_EQ(q.Protect, PAGE_READWRITE);
    UT_EQ(q.RegionSize, (uint64_t)PAGES * P);
    uint8_t *p = base;
    p[100 * P] = 42;   /* one page: its frame and its three tables */
    UT_EQ(p[100 * P], 42);
    UT_EQ(p[5000 * P], 0);
    SYSTEM_MEMORY_T m2 = memory();
    UT_EQ(m2.CommittedPages, m1.CommittedPages);   /* all of it was charged at commit */
    q = query(base);
    UT_EQ(q.State, MEM_COMMIT);
    UT_EQ(q.RegionSize, (uint64_t)PAGES * P);   /* touched or not, one committed region */
    release(base);
    UT_EQ(memory().CommittedPages, m0.CommittedPages);
}

/* Decommit gives back exactly what it removes, touched or not. */
UTEST(commit, decommit_and_release_return_the_charge_exactly)
{
    warm_stack();
    SYSTEM_MEMORY_T m0 = memory();
    void *base = FAR_AWAY;
    UT_SUCCESS(allocate(&base, 64 * P, MEM_RESERVE | MEM_COMMIT));
    SYSTEM_MEMORY_T m1 = memory();
    /* 64 pages and their page table, directory and PDPT: nothing else here. */
    UT_EQ(m1.CommittedPages - m0.CommittedPages, 64 + 3);
    uint8_t *p = base;
    for (int i = 0; i < 32; i++)
        p[i * P] = 1;   /* half touched, half not */
    void *d = p + 16 * P;
    size_t dsz = 32 * P;
    UT_SUCCESS(NtFreeVirtualMemory(SELF, &d, &dsz, MEM_DECOMMIT));
    SYSTEM_MEMORY_T m2 = memory();
    UT_EQ(m1.CommittedPages - m2.CommittedPages, 32);
    d = p + 16 * P;
    dsz = 32 * P;
    UT_SUCCESS(NtFreeVirtualMemory(SELF, &d, &dsz, MEM_DECOMMIT));   /* again: nothing more to give */
    UT_EQ(memory().CommittedPages, m2.CommittedPages);
    d = p + 8 * P;
    UT_SUCCESS(allocate(&d, 16 * P, MEM_COMMIT));   /* 8 committed already, 8 not */
    UT_EQ(memory().CommittedPages - m2.CommittedPages, 8);
    release(base);
    UT_EQ(memory().CommittedPages, m0.CommittedPages);
}

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}
