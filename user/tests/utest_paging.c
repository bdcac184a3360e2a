/*
 * user.paging.*: more memory than the machine has (docs/paging.md). A
 * program writes a checksummed pattern over twice the RAM, reads it back
 * sequentially and in a random order (rewriting as it goes) and must find
 * every byte; several do it at once; none may be killed. With no paging
 * file (the ordinary test boot) the same request is refused up front with
 * STATUS_COMMITMENT_LIMIT, and nothing is lost. The host tests
 * paging.* (scripts/ktest.py) boot a 64 MiB machine with `pagefile=` for
 * the real thing.
 *
 * `utest_paging worker MIB SEED [MODE [GATE]]` is one worker, run as a
 * child: exit status 0 when every byte came back, else where the first one
 * differed. With GATE it first waits for the named event of that name.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utest.h>

#define SELF NtCurrentProcess()

static SYSTEM_MEMORY_T memory(void)
{
    SYSTEM_MEMORY_T m;
    memset(&m, 0, sizeof(m));
    UT_SUCCESS(NtQuerySystemInformation(SystemMemoryInformation, &m, sizeof(m), NULL));
    return m;
}

/* The word at index I of a region filled with SEED, in pass PASS. */
static inline uint64_t pattern(uint64_t seed, uint64_t i, uint64_t pass)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ULL ^ seed ^ (pass << 56);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    return x ^ (x >> 32);
}

/* Exit statuses of a worker (positive: never an NTSTATUS a crash gives). */
#define WORKER_NO_COMMIT   0x0D000001
#define WORKER_NO_GATE     0x0D000002
#define WORKER_BAD_SEQ     0x0E000000   /* | page number (low 24 bits) */
#define WORKER_BAD_RANDOM  0x0F000000

/* MODE: "all" (every pass below), "seq" (1 and 2), "rand" (1 and 3): the
 * last two for make bench (paging.twice_available_ram). */
static int worker(uint64_t mib, uint64_t seed, const char *mode)
{
    int seq = strcmp(mode, "rand") != 0, rnd = strcmp(mode, "seq") != 0;
    size_t size = (size_t)(mib << 20);
    void *base = NULL;
    if (!NT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE)))
        return WORKER_NO_COMMIT;
    uint64_t *w = base, words = size / 8, pages = size / PAGE_SIZE;
    /* 1. write everything, in order: the first pages go out as the last come in */
    for (uint64_t i = 0; i < words; i++)
        w[i] = pattern(seed, i, 0);
    /* 2. read it all back in order */
    for (uint64_t i = 0; seq && i < words; i++)
        if (w[i] != pattern(seed, i, 0)) {
            printf("worker %llu: word %llu (page %llu) is %#llx, not %#llx\n", (unsigned long long)seed,
                   (unsigned long long)i, (unsigned long long)(i / 512), (unsigned long long)w[i],
                   (unsigned long long)pattern(seed, i, 0));
            return WORKER_BAD_SEQ | (int)((i / 512) & 0xFFFFFF);
        }
    /* 3. visit every page once in a random order (a full-period LCG over a
     * power of two, keeping those below PAGES): check it and rewrite it */
    uint64_t span = 1;
    while (span < pages)
        span <<= 1;
    uint64_t x = seed & (span - 1);
    for (uint64_t k = 0; rnd && k < span; k++) {
        x = (x * 5 + 1) & (span - 1);
        if (x >= pages)
            continue;
        uint64_t *p = w + x * 512;
        for (uint64_t j = 0; j < 512; j++) {
            if (p[j] != pattern(seed, x * 512 + j, 0)) {
                printf("worker %llu: random pass: page %llu word %llu wrong\n", (unsigned long long)seed,
                       (unsigned long long)x, (unsigned long long)j);
                return WORKER_BAD_RANDOM | (int)(x & 0xFFFFFF);
            }
            p[j] = pattern(seed, x * 512 + j, 1);
        }
    }
    /* 4. and the rewritten pattern, in order */
    for (uint64_t i = 0; seq && rnd && i < words; i++)
        if (w[i] != pattern(seed, i, 1))
            return WORKER_BAD_SEQ | (int)((i / 512) & 0xFFFFFF);
    size = 0;
    NtFreeVirtualMemory(SELF, &base, &size, MEM_RELEASE);
    return 0;
}

#define GATE_NAME "\\BaseNamedObjects\\utest_paging_go"

static void gate_attributes(STRING_T *n, OBJECT_ATTRIBUTES_T *oa)
{
    RtlInitString(n, GATE_NAME);
    InitializeObjectAttributes(oa, n, OBJ_CASE_INSENSITIVE);
}

/* A worker started behind the gate waits until all of them exist (a
 * minute at most: a parent that failed before opening it must not leave
 * workers behind for ever). */
static int wait_at_gate(void)
{
    STRING_T n;
    OBJECT_ATTRIBUTES_T oa;
    gate_attributes(&n, &oa);
    HANDLE h = 0;
    if (!NT_SUCCESS(NtOpenEvent(&h, SYNCHRONIZE, &oa)))
        return WORKER_NO_GATE;
    NTSTATUS st = WaitHandle(h, 60000);
    NtClose(h);
    return st == STATUS_WAIT_0 ? 0 : WORKER_NO_GATE;
}

/* Run N workers of MIB each at once, all must come back with 0. The
 * first runs MODE (see worker), the others OTHERS (NULL: MODE too).
 * They start together, behind a gate the parent opens once all exist:
 * a new process is refused while fewer than the kernel's reserve of pages
 * are available (half the RAM on a 16 MiB machine, mm/thresholds.c), and
 * a worker that got the CPU between two creations would take that much
 * in a few milliseconds. */
static void run_workers(int n, uint64_t mib, const char *mode, const char *others)
{
    HANDLE h[8], gate = 0;
    char args[96];
    STRING_T name;
    OBJECT_ATTRIBUTES_T oa;
    gate_attributes(&name, &oa);
    UT_SUCCESS(NtCreateEvent(&gate, EVENT_ALL_ACCESS, &oa, 0, 0));   /* notification, not signalled */
    for (int i = 0; i < n; i++) {
        snprintf(args, sizeof(args), "utest_paging worker %llu %d %s gate", (unsigned long long)mib, 1000 + i,
                 i == 0 || !others ? mode : others);
        UT_SUCCESS(NtCreateProcess("utest_paging", args, &h[i]));
    }
    UT_SUCCESS(NtSetEvent(gate, NULL));
    for (int i = 0; i < n; i++) {
        UT_EQ(WaitHandle(h[i], 0), STATUS_WAIT_0);
        NTSTATUS code = 1;
        UT_SUCCESS(ProcessExitStatus(h[i], &code));
        UT_ASSERT_MSG(code == 0, "worker %d of %d (%llu MiB) ended with %#x (%s)", i, n, (unsigned long long)mib,
                      (unsigned)code, NtStatusName(code) ? NtStatusName(code) : "a worker's own status");
        NtClose(h[i]);
    }
    NtClose(gate);
}

static uint64_t ram_mib(void)
{
    return memory().PhysicalPages / 256;
}

/* The done-when of the pagefile issue: 2x RAM, every byte back, nobody killed. */
UTEST_T(paging, twice_ram_checksummed_comes_back_exact, 600)
{
    SYSTEM_MEMORY_T before = memory();
    uint64_t mib = 2 * ((ram_mib() + 15) & ~15ULL);   /* a 64 MiB machine: 128 MiB */
    if (!before.PagingFilePages) {
        /* No pagefile: refused up front, with a status, and nothing lost. */
        void *base = NULL;
        size_t size = (size_t)(mib << 20);
        UT_STATUS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE),
                  STATUS_COMMITMENT_LIMIT);
        UT_EQ(memory().CommittedPages, before.CommittedPages);
        return;
    }
    run_workers(1, mib, "seq", NULL);   /* write it all, read it all back in order */
    SYSTEM_MEMORY_T after = memory();
    UT_GT(after.PagesWritten, before.PagesWritten + (mib << 8) / 4);   /* it really paged */
    UT_GT(after.InPageReads, before.InPageReads);
    printf("  %llu MiB on %llu MiB: %llu pages written in %llu clusters, %llu in-page reads\n",
           (unsigned long long)mib, (unsigned long long)ram_mib(),
           (unsigned long long)(after.PagesWritten - before.PagesWritten),
           (unsigned long long)(after.WriteClusters - before.WriteClusters),
           (unsigned long long)(after.InPageReads - before.InPageReads));
}

UTEST_T(paging, three_at_once_over_twice_ram, 600)
{
    SYSTEM_MEMORY_T before = memory();
    if (!before.PagingFilePages)
        return;   /* the refusal is the test above's */
    /* Three processes paging at once over twice the RAM. The first checks
     * and rewrites every page in a random order (faults that defeat the
     * read clustering, pages read back dirtied and written out again), the
     * other two write and read back in order: their paging is the pressure
     * the first works under. (All three in random order cost 3-5 s more of
     * CPU under TCG for no path the first does not take.) */
    run_workers(3, 2 * ram_mib() / 3 + 1, "rand", "seq");
    UT_GT(memory().InPageReads, before.InPageReads);
}

/* A process that exits with pages out gives every slot back. */
UTEST_T(paging, exit_releases_every_slot, 300)
{
    SYSTEM_MEMORY_T before = memory();
    if (!before.PagingFilePages)
        return;
    HANDLE h;
    char args[64];
    snprintf(args, sizeof(args), "utest_paging hold %llu", (unsigned long long)(ram_mib() * 5 / 4));
    UT_SUCCESS(NtCreateProcess("utest_paging", args, &h));
    /* it writes 1.25x RAM and sleeps: much of it is out */
    uint64_t used = 0;
    /* Until more than the quarter asserted below is out: the writer pages
     * out in clusters of 16, so the count can land on the quarter itself
     * (7936 pages / 4 = 1984 = 124 x 16), and stopping there failed. */
    for (int i = 0; i < 6000 && used <= (ram_mib() << 8) / 4; i++) {
        SleepMs(10);
        used = memory().PagingFileInUse;
    }
    UT_GE(used, (ram_mib() << 8) / 4);   /* the loop stops at the threshold itself */
    UT_SUCCESS(NtTerminateProcess(h, 0x55));
    UT_EQ(WaitHandle(h, 0), STATUS_WAIT_0);
    NtClose(h);
    /* Its thousands of slots went with it; what is left is what the other
     * processes (init, this test) had paged out meanwhile: a few pages.
     * (The exact count is pagefile.process_exit_releases_every_slot's.) */
    for (int i = 0; i < 500 && memory().PagingFileInUse > before.PagingFileInUse + 64; i++)
        SleepMs(10);
    UT_ASSERT_MSG(memory().PagingFileInUse <= before.PagingFileInUse + 64,
                  "%llu slots in use after the exit of a process that had %llu out, %llu before",
                  (unsigned long long)memory().PagingFileInUse, (unsigned long long)used,
                  (unsigned long long)before.PagingFileInUse);
}

/* Past RAM plus the pagefile: refused up front, nothing lost. */
UTEST(paging, past_the_pagefile_is_refused_up_front)
{
    SYSTEM_MEMORY_T m = memory();
    void *base = NULL;
    size_t size = (size_t)((m.CommitLimitPages - m.CommittedPages + 16) * PAGE_SIZE);
    UT_STATUS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE),
              STATUS_COMMITMENT_LIMIT);
    UT_EQ(memory().CommittedPages, m.CommittedPages);
    if (m.PagingFilePages)
        UT_GT(m.CommitLimitPages, m.PhysicalPages);   /* the pagefile raised it past RAM */
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "worker") == 0) {
        int gated = argc >= 6 && strcmp(argv[5], "gate") == 0 ? wait_at_gate() : 0;
        if (gated)
            return gated;
        return worker(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0), argc >= 5 ? argv[4] : "all");
    }
    if (argc >= 3 && strcmp(argv[1], "hold") == 0) {
        size_t size = (size_t)(strtoull(argv[2], NULL, 0) << 20);
        void *base = NULL;
        if (!NT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE)))
            return WORKER_NO_COMMIT;
        for (size_t i = 0; i < size; i += PAGE_SIZE)
            ((volatile uint64_t *)base)[i / 8] = i;
        SleepMs(600000);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "touch") == 0) {
        /* For pagefile_inject.read_error_ends_the_process: 16 pages written,
         * then a second in which the kernel test pages them out, then read. */
        size_t size = 16 * PAGE_SIZE;
        void *base = NULL;
        if (!NT_SUCCESS(NtAllocateVirtualMemory(SELF, &base, 0, &size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE)))
            return WORKER_NO_COMMIT;
        volatile uint64_t *w = base;
        for (size_t i = 0; i < size / 8; i++)
            w[i] = pattern(5, i, 0);
        SleepMs(1000);
        for (size_t i = 0; i < size / 8; i++)
            if (w[i] != pattern(5, i, 0))
                return WORKER_BAD_SEQ;
        return 0;
    }
    return utest_main(argc, argv);
}
