/*
 * make bench: what paging costs (ns and cycles; nothing asserted). Each
 * benchmark makes its own paging file if the boot has none.
 */
#include "mm/tests/pagefile_test_util.h"
#include "mm/tests/frames_test_util.h"

/* ---- make bench: what paging costs (ns and cycles; nothing asserted) ---- */

/* Paging 256 paged-pool pages back in, each touched once in order: the
 * cost per page with one page per read, and with read clustering (up to 8
 * pages a read, the rest soft faults off the standby list). */
static uint64_t page_in(PUCHAR p, ULONG pages, ULONG cluster, ULONG64 *reads)
{
    for (ULONG i = 0; i < pages; i++)
        p[i * PAGE_SIZE] = (UCHAR)i;   /* in, dirty: written out again */
    PtPageOutPagedPool();
    ULONG saved = MiReadClusterPages;
    MiReadClusterPages = cluster;
    ULONG64 r = MiInPageReads;
    uint64_t t0 = rdtsc();
    for (ULONG i = 0; i < pages; i++)
        (void)((volatile UCHAR *)p)[i * PAGE_SIZE];
    uint64_t t1 = rdtsc();
    MiReadClusterPages = saved;
    *reads = MiInPageReads - r;
    return (t1 - t0) / pages;
}

KBENCH(paging, hard_fault)
{
    enum { PAGES = 256 };
    PtBegin();
    PUCHAR p = ExAllocatePoolWithTag(PagedPool, PAGES * PAGE_SIZE, TAG_PF);
    ULONG64 r1, r8;
    uint64_t one = page_in(p, PAGES, 1, &r1), eight = page_in(p, PAGES, MI_READ_CLUSTER_MAX, &r8);
    ExFreePoolWithTag(p, TAG_PF);
    PtEnd();
    KtBenchReport("cycles_per_page_unclustered", one, "cycles");
    KtBenchReport("cycles_per_page_clustered", eight, "cycles");
    KtBenchReport("reads_per_256_pages_clustered", r8, "reads");
    (void)r1;
}

/* The modified page writer's throughput: 4 MiB of trimmed paged pool
 * written in 64 KiB clusters. */
KBENCH(paging, modified_page_writer)
{
    enum { PAGES = 1024 };
    PtBegin();
    PUCHAR p = ExAllocatePoolWithTag(PagedPool, PAGES * PAGE_SIZE, TAG_PF);
    for (int i = 0; i < PAGES; i++)
        p[i * PAGE_SIZE] = (UCHAR)i;
    PtPageOutPagedPool();   /* everything else first */
    for (int i = 0; i < PAGES; i++)
        p[i * PAGE_SIZE] = (UCHAR)(i + 1);   /* in again, dirty */
    MmTrimSystemWorkingSet(0);
    ULONG64 written = MiMpwPagesWritten, clusters = MiMpwClusters;
    uint64_t t0 = rdtsc();
    MiFlushModifiedPages();
    uint64_t t1 = rdtsc();
    ULONG64 n = MiMpwPagesWritten - written, c = MiMpwClusters - clusters;
    ExFreePoolWithTag(p, TAG_PF);
    PtEnd();
    KtBenchReport("mpw_write_per_kib", (t1 - t0) / (n ? n * 4 : 1), "cycles");
    KtBenchReport("pages_per_cluster", c ? n / c : 0, "pages");
}

/* A process touching twice the memory left to it: frames are taken away
 * until 24 MiB are available, and `utest_paging worker 48 SEED MODE`
 * writes 48 MiB and reads it back in order (seq) or visits every page in
 * a random order (rand). Whole run, and hard faults per second. */
static void workload(const char *mode, const char *label)
{
    char cmd[64];
    ksnprintf(cmd, sizeof(cmd), "utest_paging worker 48 77 %s", mode);
    MT_HELD_FRAMES h = { 0 };
    MtHoldFramesWhileAvailable(&h, 6144);
    ULONG64 hard = MiSystemFaults[MiFaultHard], freq = HalTscPerMs();
    PEPROCESS p;
    uint64_t t0 = rdtsc();
    if (!NT_SUCCESS(PsCreateProcess("utest_paging", cmd, NULL, &p))) {
        MtReleaseFrames(&h);
        KtBenchReport("no_process", 0, "error");
        return;
    }
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    uint64_t t1 = rdtsc();
    NTSTATUS st = p->ExitStatus;
    PsDereferenceProcess(p);
    MtReleaseFrames(&h);
    ULONG64 faults = MiSystemFaults[MiFaultHard] - hard, ms = (t1 - t0) / (freq ? freq : 1);
    char what[48];
    ksnprintf(what, sizeof(what), "%s_48mib_on_24mib_ms", label);
    KtBenchReport(what, st == 0 ? ms : 0, st == 0 ? "ms" : "error");
    ksnprintf(what, sizeof(what), "%s_hard_faults_per_s", label);
    KtBenchReport(what, ms ? faults * 1000 / ms : 0, "faults/s");
}

KBENCH(paging, twice_available_ram)
{
    PtBegin();
    /* Each workload with and without read clustering, alternating, so that
     * a change of load on the host hits both. */
    ULONG saved = MiReadClusterPages;
    for (int round = 0; round < 2; round++) {
        MiReadClusterPages = saved;
        workload("seq", "seq");
        MiReadClusterPages = 1;
        workload("seq", "seq_unclustered");
        MiReadClusterPages = saved;
        workload("rand", "rand");
        MiReadClusterPages = 1;
        workload("rand", "rand_unclustered");
    }
    MiReadClusterPages = saved;
    MiWaitForPagingIdle();
    PtEnd();
}
