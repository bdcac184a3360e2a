/* The PFN database: invariants, exhaustion, zeroing, reference counting. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "mm/tests/frames_test_util.h"

KTEST(pfn, database_consistent_at_boot)
{
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    KT_GT(MmNumberOfPhysicalPages, 1000);
    PFN_NUMBER listed = MmZeroedPageListHead.Total + MmFreePageListHead.Total + MmStandbyPageListHead.Total +
                        MmModifiedPageListHead.Total + MmBadPageListHead.Total;
    KT_EQ(listed + MiCommittedPages() - MmStandbyPageListHead.Total - MmModifiedPageListHead.Total,
          MmNumberOfPhysicalPages);
    KT_GT(MiUsageCount[MiUsageKernelImage], 10);
    KT_GT(MiUsageCount[MiUsagePageTable], 4);
    KT_GT(MiUsageCount[MiUsagePfnDatabase], 0);
    /* 48 bytes per frame: the database's own frames match the RAM it describes. */
    KT_GE(MiUsageCount[MiUsagePfnDatabase] * PAGE_SIZE, MmNumberOfPhysicalPages * sizeof(MMPFN));
}

/* Take every frame there is, check the database while memory is
 * exhausted, then give them all back. */
KTEST(pfn, allocate_all_memory_and_free_it)
{
    PFN_NUMBER avail = MmAvailablePages;
    MT_HELD_FRAMES held = { 0 };
    MtHoldFramesWhileAvailable(&held, 0);
    PFN_NUMBER n = held.Count;
    KT_EQ(n, avail);
    KT_EQ(MmAvailablePages, 0);
    KT_EQ(MmFreePageListHead.Total + MmZeroedPageListHead.Total, 0);
    KT_EQ(MiUsageCount[MiUsageTest], n);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    /* With no frames, allocations fail cleanly. */
    KT_EQ(MiAllocatePfn(MiUsageTest, TRUE), 0);
    KT_ASSERT(ExAllocatePoolWithTag(NonPagedPoolNx, 3 * PAGE_SIZE, POOL_TAG('T', 'e', 's', 't')) == NULL);
    MtReleaseFrames(&held);
    KT_EQ(MmAvailablePages, avail);
    KT_EQ(MiUsageCount[MiUsageTest], 0);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
}

static bool page_is(PFN_NUMBER pfn, UCHAR value)
{
    KIRQL old;
    PUCHAR p = MiMapPageInHyperspace(pfn, &old);
    bool ok = true;
    for (int i = 0; i < PAGE_SIZE && ok; i++)
        ok = p[i] == value;
    MiUnmapPageInHyperspace(p, old);
    return ok;
}

static void fill_page(PFN_NUMBER pfn, UCHAR value)
{
    KIRQL old;
    PUCHAR p = MiMapPageInHyperspace(pfn, &old);
    memset(p, value, PAGE_SIZE);
    MiUnmapPageInHyperspace(p, old);
}

KTEST(pfn, zeroed_pages_are_really_zero)
{
    enum { N = 32 };
    static PFN_NUMBER pfns[N];
    /* Dirty N frames and free them: they go to the free list, not the zeroed one. */
    for (int i = 0; i < N; i++) {
        pfns[i] = MiAllocatePfn(MiUsageTest, FALSE);
        KT_NE(pfns[i], 0);
        fill_page(pfns[i], 0xA5);
    }
    for (int i = 0; i < N; i++) {
        MiFreePfn(pfns[i]);
        KT_EQ(MI_PFN_ELEMENT(pfns[i])->PageLocation, FreePageList);
    }
    /* Zeroed allocations must come back zero, whichever frames they are. */
    for (int i = 0; i < N; i++) {
        pfns[i] = MiAllocatePfn(MiUsageTest, TRUE);
        KT_ASSERT(page_is(pfns[i], 0));
    }
    for (int i = 0; i < N; i++)
        MiFreePfn(pfns[i]);
}

KTEST(pfn, reference_keeps_frame_until_last_dereference)
{
    PFN_NUMBER pfn = MiAllocatePfn(MiUsageTest, FALSE);
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    KT_EQ(e->ReferenceCount, 1);
    e->ReferenceCount++;                 /* what an MDL lock does */
    MiFreePfn(pfn);                      /* the owner lets go */
    KT_EQ(e->PageLocation, ActiveAndValid);
    KT_EQ(e->ReferenceCount, 1);
    KT_EQ(e->PteDeleted, 1);
    KIRQL old = MiAcquirePfnLock();
    MiDecrementReferenceCount(pfn);      /* the unlock: now it is free */
    MiReleasePfnLock(old);
    KT_EQ(e->PageLocation, FreePageList);
    KT_EQ(e->ReferenceCount, 0);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
}

static PFN_NUMBER twice_pfn;
KTEST_BUGCHECK(pfn, dereference_twice_bugchecks, PFN_LIST_CORRUPT, 0x07, KT_ANY, 0, 0)
{
    twice_pfn = MiAllocatePfn(MiUsageTest, FALSE);
    KtExpectParam(2, twice_pfn);
    MiFreePfn(twice_pfn);
    MiAcquirePfnLock();
    MiDecrementReferenceCount(twice_pfn);   /* one unlock too many */
}

KTEST_FINAL(pfn, database_consistent_after_all_tests)
{
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    KT_EQ(MiHyperspaceSlotsInUse(), 0);
    KT_EQ(MiUsageCount[MiUsageTest], 0);
}

KBENCH(pfn, allocate_free)
{
    enum { N = 2000 };
    uint64_t t0 = rdtsc();
    for (int i = 0; i < N; i++)
        MiFreePfn(MiAllocatePfn(MiUsageTest, FALSE));
    uint64_t t1 = rdtsc();
    for (int i = 0; i < N / 10; i++)
        MiFreePfn(MiAllocatePfn(MiUsageTest, TRUE));   /* free-list frames: zeroed through hyperspace */
    uint64_t t2 = rdtsc();
    KtBenchReport("cycles_per_page", (t1 - t0) / N, "cycles");
    KtBenchReport("cycles_per_zeroed_page", (t2 - t1) / (N / 10), "cycles");
}
