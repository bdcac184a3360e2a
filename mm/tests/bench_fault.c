/* Where a demand-zero fault's time goes, for make bench: the primitives
 * it is built of (each timed alone, in a loop), and the fault itself as
 * the kernel takes it (ExCopyToUser to committed, untouched pages of a
 * process it is attached to), once with the zeroed list filled by the
 * zero-page thread and once with it emptied, so that each frame is zeroed
 * in the fault. Nothing is asserted. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "mm/tests/bench_stats.h"
#include "mm/tests/bench_target.h"

#define REGION 0x61000000ULL

static uint64_t per(uint64_t t0, uint64_t t1, uint64_t n) { return (t1 - t0) / n; }

KBENCH(mm, primitives)
{
    enum { N = 2000 };
    KIRQL old;
    uint64_t t0 = rdtsc();
    for (int i = 0; i < N; i++) {
        KeRaiseIrql(DISPATCH_LEVEL, &old);
        KeLowerIrql(old);
    }
    uint64_t t1 = rdtsc();
    KtBenchReport("irql_raise_lower_cycles", per(t0, t1, N), "cycles");

    t0 = rdtsc();
    for (int i = 0; i < N; i++)
        MiReleasePfnLock(MiAcquirePfnLock());
    t1 = rdtsc();
    KtBenchReport("pfn_lock_acquire_release_cycles", per(t0, t1, N), "cycles");

    static KMUTEX mutex;
    KeInitializeMutex(&mutex, 0);
    t0 = rdtsc();
    for (int i = 0; i < N; i++) {
        KeWaitForSingleObject(&mutex, Executive, KernelMode, FALSE, NULL);
        KeReleaseMutex(&mutex, FALSE);
    }
    t1 = rdtsc();
    KtBenchReport("mutex_acquire_release_cycles", per(t0, t1, N), "cycles");

    PMMPTE pte = MiReserveSystemPtes(1);
    PVOID va = MiGetVirtualAddressMappedByPte(pte);
    PFN_NUMBER pfn = MiAllocatePfn(MiUsageTest, FALSE);
    MiMapPage(va, pfn, MI_PROT_KERNEL_RW);
    t0 = rdtsc();
    for (int i = 0; i < N; i++)
        invlpg(va);
    t1 = rdtsc();
    KtBenchReport("invlpg_cycles", per(t0, t1, N), "cycles");

    /* Zeroing one page, three ways (the page stays in the cache). */
    enum { Z = 200 };
    t0 = rdtsc();
    for (int i = 0; i < Z; i++)
        memset(va, 0, PAGE_SIZE);   /* the kernel's memset: REP STOSB */
    t1 = rdtsc();
    KtBenchReport("zero_page_rep_stosb_cycles", per(t0, t1, Z), "cycles");
    t0 = rdtsc();
    for (int i = 0; i < Z; i++) {
        PVOID d = va;
        SIZE_T c = PAGE_SIZE / 8;
        __asm__ volatile("rep stosq" : "+D"(d), "+c"(c) : "a"(0UL) : "memory");
    }
    t1 = rdtsc();
    KtBenchReport("zero_page_rep_stosq_cycles", per(t0, t1, Z), "cycles");
    t0 = rdtsc();
    for (int i = 0; i < Z; i++)
        MiZeroPage(va);
    t1 = rdtsc();
    KtBenchReport("zero_page_64bit_stores_cycles", per(t0, t1, Z), "cycles");
    t0 = rdtsc();
    for (int i = 0; i < Z; i++)
        MiZeroPageNonTemporal(va);
    t1 = rdtsc();
    KtBenchReport("zero_page_movnti_cycles", per(t0, t1, Z), "cycles");
    MiFreePfn(MiUnmapPage(va));
    MiReleaseSystemPtes(pte, 1);

    ULONG64 cr3 = read_cr3();
    t0 = rdtsc();
    for (int i = 0; i < Z; i++)
        write_cr3(cr3);
    t1 = rdtsc();
    KtBenchReport("cr3_reload_cycles", per(t0, t1, Z), "cycles");
    t0 = rdtsc();
    for (int i = 0; i < Z; i++)
        MiFlushEntireTb();
    t1 = rdtsc();
    KtBenchReport("full_tb_flush_cycles", per(t0, t1, Z), "cycles");
}

/* A process (not yet running) with PAGES committed, untouched pages at REGION. */
static PEPROCESS make_target(ULONG pages, PEPROCESS *saved)
{
    return bench_make_target(REGION, pages, saved);
}

static void drop_target(PEPROCESS p, PEPROCESS *saved)
{
    KeUnstackDetachProcess(saved);
    PsTerminateProcess(p, 0);
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    PsDereferenceProcess(p);
}

/* Fault pages FIRST.. in BENCH_BATCHES batches of PER pages; report NAME. */
static void fault_pages(const char *name, ULONG first, ULONG per)
{
    UCHAR one = 1;
    uint64_t batch[BENCH_BATCHES];
    for (int b = 0; b < BENCH_BATCHES; b++) {
        uint64_t t0 = rdtsc();
        for (ULONG i = 0; i < per; i++)
            ExCopyToUser((PVOID)(REGION + (ULONG64)(first + b * per + i) * PAGE_SIZE), &one, 1);
        batch[b] = rdtsc() - t0;
    }
    if (name)
        bench_report_batches(name, batch, per);
}

KBENCH(mm, demand_zero_fault_in_kernel)
{
    enum { PAGES = 256 };
    /* Give the zero-page thread the idle time a running system has
     * (before the target exists: its thread must not get to run). */
    for (int i = 0; i < 50 && MmZeroedPageListHead.Total < MiZeroedPageTarget; i++) {
        LARGE_INTEGER ms = { -KI_MS(10) };
        KeDelayExecutionThread(KernelMode, FALSE, &ms);
    }
    PEPROCESS saved;
    PEPROCESS p = make_target(2 * PAGES, &saved);
    if (!p) {
        KtBenchReport("no_target_process", 0, "error");
        return;
    }
    KtBenchReport("zeroed_list_before", MmZeroedPageListHead.Total, "pages");
    /* Page 0 is the warm-up (the fault path's code translated and cached);
     * pages 1..248 the figure, in 31 batches of 8. */
    UCHAR one = 1;
    ExCopyToUser((PVOID)REGION, &one, 1);
    fault_pages("from_zeroed_list_cycles", 1, 8);
    /* Now with an empty zeroed list: each fault zeroes its frame. */
    PFN_NUMBER taken[64];
    ULONG n = 0;
    while (MmZeroedPageListHead.Total && n < ARRAYSIZE(taken))
        taken[n++] = MiAllocatePfn(MiUsageTest, TRUE);   /* zero=TRUE takes the zeroed list first */
    ULONG64 target = MiZeroedPageTarget;
    MiZeroedPageTarget = 0;   /* and the thread must not refill it meanwhile */
    for (ULONG i = 0; i < n; i++)
        MiFreePfn(taken[i]);
    KIRQL old = MiAcquirePfnLock();
    while (MmZeroedPageListHead.Total) {   /* what is left: back to the free list, unzeroed is fine */
        PFN_NUMBER f = MmZeroedPageListHead.Flink;
        MiUnlinkPfnFromList(f);
        MiInsertPageInList(&MmFreePageListHead, f);
    }
    MiReleasePfnLock(old);
    fault_pages("zeroed_in_fault_cycles", PAGES, 8);
    MiZeroedPageTarget = target;
    MiSignalZeroPageThread();
    drop_target(p, &saved);
}
