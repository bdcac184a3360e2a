/* MDL costs for make bench: probe-and-lock and unlock per page of
 * resident user memory, kernel map and unmap, MDL allocation. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "mm/tests/bench_stats.h"
#include "mm/tests/bench_target.h"

#define TAG_BENCH POOL_TAG('B', 'n', 'c', 'h')
#define REGION 0x60000000ULL

/* A process (not yet running) with PAGES resident private pages at REGION. */
static PEPROCESS make_target(ULONG pages, PEPROCESS *saved)
{
    PEPROCESS p = bench_make_target(REGION, pages, saved);
    if (!p)
        return NULL;
    UCHAR one = 1;
    for (ULONG i = 0; i < pages; i++)
        ExCopyToUser((PVOID)(REGION + (ULONG64)i * PAGE_SIZE), &one, 1);   /* resident now */
    return p;
}

static BOOLEAN lock_once(PMDL m)
{
    volatile BOOLEAN ok = TRUE;
    ExTry {
        MmProbeAndLockPages(m, UserMode, IoWriteAccess);
    } ExExcept(status) {
        kprintf("bench: probe failed %#x\n", (unsigned)status);
        ok = FALSE;
    } ExEndTry;
    return ok;
}

static void drop_target(PEPROCESS p, PEPROCESS *saved)
{
    KeUnstackDetachProcess(saved);
    PsTerminateProcess(p, 0);
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    PsDereferenceProcess(p);
}

KBENCH(mdl, probe_lock_unlock_user_pages)
{
    static const ULONG sizes[] = { 1, 16, 256 };
    char what[64];
    PEPROCESS saved;
    PEPROCESS p = make_target(256, &saved);
    if (!p) {
        KtBenchReport("no_target_process", 0, "error");
        return;
    }
    for (ULONG s = 0; s < ARRAYSIZE(sizes); s++) {
        PMDL m = IoAllocateMdl((PVOID)REGION, sizes[s] * PAGE_SIZE, FALSE, FALSE, NULL);
        ULONG n = 256 / sizes[s] + 1;   /* a batch locks about 256 pages */
        uint64_t batch[BENCH_BATCHES];
        for (int i = 0; i < 4; i++)     /* warm-up: the code translated and cached */
            if (lock_once(m))
                MmUnlockPages(m);
        for (int b = 0; b < BENCH_BATCHES; b++) {
            uint64_t t0 = rdtsc();
            for (ULONG i = 0; i < n; i++)
                if (lock_once(m))
                    MmUnlockPages(m);
            batch[b] = rdtsc() - t0;
        }
        IoFreeMdl(m);
        ksnprintf(what, sizeof(what), "%u_pages_cycles_per_page", sizes[s]);
        bench_report_batches(what, batch, (uint64_t)n * sizes[s]);
    }
    drop_target(p, &saved);
}

KBENCH(mdl, kernel_map_unmap)
{
    enum { PAGES = 16, N = 200 };
    PVOID buf = ExAllocatePoolWithTag(NonPagedPoolNx, PAGES * PAGE_SIZE, TAG_BENCH);
    PMDL m = IoAllocateMdl(buf, PAGES * PAGE_SIZE, FALSE, FALSE, NULL);
    MmProbeAndLockPages(m, KernelMode, IoReadAccess);
    uint64_t batch[BENCH_BATCHES], touched[BENCH_BATCHES];
    enum { PER_BATCH = 8 };
    for (int b = -1; b < BENCH_BATCHES; b++) {   /* batch -1: warm-up */
        uint64_t t0 = rdtsc();
        for (int i = 0; i < PER_BATCH; i++) {
            PVOID va = MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
            MmUnmapLockedPages(va, m);
        }
        uint64_t t1 = rdtsc();
        /* The same with one read of each page through the mapping, as a
         * driver that maps a buffer to use it does: now every page has a
         * translation to flush at the unmap. */
        for (int i = 0; i < PER_BATCH; i++) {
            volatile UCHAR *va = MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
            for (int p = 0; p < PAGES; p++)
                (void)va[p * PAGE_SIZE];
            MmUnmapLockedPages((PVOID)va, m);
        }
        uint64_t t2 = rdtsc();
        if (b >= 0) {
            batch[b] = t1 - t0;
            touched[b] = t2 - t1;
        }
    }
    (void)N;
    MmUnlockPages(m);
    IoFreeMdl(m);
    ExFreePoolWithTag(buf, TAG_BENCH);
    bench_report_batches("cycles_per_page", batch, (uint64_t)PER_BATCH * PAGES);
    bench_report_batches("touched_cycles_per_page", touched, (uint64_t)PER_BATCH * PAGES);
}

KBENCH(mdl, allocate_free)
{
    enum { N = 1000 };
    PVOID small = (PVOID)0xFFFFF8A000000000ULL;   /* only the span matters to IoAllocateMdl */
    uint64_t t0 = rdtsc();
    for (int i = 0; i < N; i++)
        IoFreeMdl(IoAllocateMdl(small, 4 * PAGE_SIZE, FALSE, FALSE, NULL));   /* lookaside */
    uint64_t t1 = rdtsc();
    for (int i = 0; i < N; i++)
        IoFreeMdl(IoAllocateMdl(small, 64 * PAGE_SIZE, FALSE, FALSE, NULL));  /* pool */
    uint64_t t2 = rdtsc();
    KtBenchReport("lookaside_cycles", (t1 - t0) / N, "cycles");
    KtBenchReport("pool_cycles", (t2 - t1) / N, "cycles");
}
