/* The correctness the memory manager's fast paths risk (docs/performance.md,
 * "Memory-manager fast paths"): a translation left in the TLB after an
 * unmap, a stale one after a not-present PTE becomes present without a
 * flush, a frame on the zeroed list that is not all zeros, the free list's
 * order. The pool's kept page is tested in pool_test.c, the per-MDL probe
 * and lock by every mdllock.* test (each goes through the new path). */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define TAG_FAST POOL_TAG('F', 'a', 's', 't')

static void fill_frame(PFN_NUMBER pfn, UCHAR v)
{
    KIRQL old;
    PUCHAR p = MiMapPageInHyperspace(pfn, &old);
    memset(p, v, PAGE_SIZE);
    MiUnmapPageInHyperspace(p, old);
}

static BOOLEAN frame_is(PFN_NUMBER pfn, UCHAR v)
{
    KIRQL old;
    PUCHAR p = MiMapPageInHyperspace(pfn, &old);
    BOOLEAN same = TRUE;
    for (ULONG i = 0; i < PAGE_SIZE && same; i++)
        same = p[i] == v;
    MiUnmapPageInHyperspace(p, old);
    return same;
}

/* Map N system PTEs to frames A, read through each (so the TLB holds the
 * translation and the PTE's A bit is set), clear them with the flush
 * list, map the same PTEs to frames B - not present to present, so with
 * no flush of its own - and read again: every read must see B. A missing
 * invalidation would show A's bytes. N = 40 is past the flush list's
 * limit, which flushes the whole TLB instead. */
static void remap_reads_new_frames(ULONG n)
{
    enum { MAXN = 40 };
    PFN_NUMBER a[MAXN], b[MAXN];
    KT_ASSERT(n <= MAXN);
    PMMPTE pte = MiReserveSystemPtes(n);
    KT_ASSERT(pte != NULL);
    volatile UCHAR *va = MiGetVirtualAddressMappedByPte(pte);
    for (ULONG i = 0; i < n; i++) {
        a[i] = MiAllocatePfn(MiUsageTest, FALSE);
        b[i] = MiAllocatePfn(MiUsageTest, FALSE);
        KT_ASSERT(a[i] && b[i]);
        fill_frame(a[i], 0xA0);
        fill_frame(b[i], 0xB0);
    }
    ULONG64 singles = MiFlushListSingles, full = MiFlushListFull;
    for (ULONG i = 0; i < n; i++)
        MiWritePteAndFlush(pte + i, (a[i] << PAGE_SHIFT) | MI_PTE_VALID | MI_PROT_KERNEL_RW);
    for (ULONG i = 0; i < n; i++)
        KT_EQ(va[i * PAGE_SIZE], 0xA0);
    MiZeroPtesAndFlush(pte, n);
    if (n > MI_FLUSH_LIST_MAX) {
        KT_EQ(MiFlushListFull, full + 1);
    } else {
        KT_EQ(MiFlushListSingles, singles + n);   /* every page was used, so every page was flushed */
    }
    for (ULONG i = 0; i < n; i++)
        MiWritePteAndFlush(pte + i, (b[i] << PAGE_SHIFT) | MI_PTE_VALID | MI_PROT_KERNEL_RW);
    for (ULONG i = 0; i < n; i++)
        KT_EQ(va[i * PAGE_SIZE], 0xB0);
    /* A mapping nobody touched has its A bit clear: nothing to flush. */
    singles = MiFlushListSingles;
    MiZeroPtesAndFlush(pte, n);
    if (n <= MI_FLUSH_LIST_MAX)
        KT_EQ(MiFlushListSingles, singles + n);   /* B was read above: used */
    for (ULONG i = 0; i < n; i++)
        MiWritePteAndFlush(pte + i, (a[i] << PAGE_SHIFT) | MI_PTE_VALID | MI_PROT_KERNEL_RW);
    singles = MiFlushListSingles;
    full = MiFlushListFull;
    MiZeroPtesAndFlush(pte, n);
    KT_EQ(MiFlushListSingles, singles);
    KT_EQ(MiFlushListFull, full);
    MiReleaseSystemPtes(pte, n);
    for (ULONG i = 0; i < n; i++) {
        MiFreePfn(a[i]);
        MiFreePfn(b[i]);
    }
}

KTEST(tlb, remapped_system_ptes_read_the_new_frames_1_page) { remap_reads_new_frames(1); }
KTEST(tlb, remapped_system_ptes_read_the_new_frames_16_pages) { remap_reads_new_frames(16); }
KTEST(tlb, remapped_system_ptes_read_the_new_frames_past_the_flush_list) { remap_reads_new_frames(40); }

/* An MDL mapping that was used and then unmapped must fault when touched
 * again: the flush list invalidated its translations. */
KTEST_BUGCHECK(tlb, touching_an_unmapped_mdl_mapping_bugchecks, PAGE_FAULT_IN_NONPAGED_AREA, KT_ANY, 0, KT_ANY, 2)
{
    PVOID buf = ExAllocatePoolWithTag(NonPagedPoolNx, 3 * PAGE_SIZE, TAG_FAST);
    PMDL l = IoAllocateMdl(buf, 3 * PAGE_SIZE, FALSE, FALSE, NULL);
    MmProbeAndLockPages(l, KernelMode, IoReadAccess);
    volatile UCHAR *va = MmMapLockedPagesSpecifyCache(l, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
    UCHAR sum = 0;
    for (int i = 0; i < 3; i++)
        sum += va[i * PAGE_SIZE];   /* used: translations cached */
    MmUnmapLockedPages((PVOID)va, l);
    KtExpectParam(1, (ULONG64)(va + 2 * PAGE_SIZE));
    sum += va[2 * PAGE_SIZE];
    kprintf("not reached %u\n", sum);
}

/* Frames zeroed by the zero-page thread's routine are zeros, sit on the
 * zeroed list, and are what a zeroed allocation gets. The frames are
 * dirtied first and put where the thread works (the cold end of the free
 * list), so the routine must really zero them. */
KTEST(zeropage, dirty_free_frames_are_zeroed_and_given_out_as_zeros)
{
    enum { N = 8 };
    PFN_NUMBER f[N];
    for (int i = 0; i < N; i++) {
        f[i] = MiAllocatePfn(MiUsageTest, FALSE);
        KT_ASSERT(f[i]);
        fill_frame(f[i], 0x5A);
    }
    PFN_NUMBER target = MiZeroedPageTarget;
    KIRQL old = MiAcquirePfnLock();
    for (int i = 0; i < N; i++) {
        /* Freed, then moved from the hot end (LIFO) to the cold end by hand. */
        MiFreePfnLocked(f[i]);
        KT_EQ(MmFreePageListHead.Flink, f[i]);
        MiUnlinkPfnFromList(f[i]);
        PMMPFN e = MI_PFN_ELEMENT(f[i]);
        e->Flink = MI_PFN_LIST_END;
        e->Blink = MmFreePageListHead.Blink;
        MI_PFN_ELEMENT(MmFreePageListHead.Blink)->Flink = f[i];
        MmFreePageListHead.Blink = f[i];
        MmFreePageListHead.Total++;
        e->PageLocation = FreePageList;
        MmAvailablePages++;
    }
    MiZeroedPageTarget = MmZeroedPageListHead.Total + N;   /* exactly N more to do */
    MiReleasePfnLock(old);
    for (int i = N - 1; i >= 0; i--)
        KT_ASSERT(MiZeroOneFreePage());   /* the tail first: f[N-1] */
    KT_ASSERT(!MiZeroOneFreePage());       /* target reached */
    MiZeroedPageTarget = target;
    for (int i = 0; i < N; i++) {
        KT_EQ(MI_PFN_ELEMENT(f[i])->PageLocation, ZeroedPageList);
        KT_ASSERT(frame_is(f[i], 0));
    }
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    /* The zeroed list is LIFO too: a zeroed allocation gets the frame
     * zeroed last (f[0]), and it reads as zeros. */
    PFN_NUMBER g = MiAllocatePfn(MiUsageTest, TRUE);
    KT_EQ(g, f[0]);
    KT_ASSERT(frame_is(g, 0));
    MiFreePfn(g);
    /* And what a demand-zero fault takes, under the PFN lock it maps with:
     * the next zeroed frame (f[1]), zeros. (user.vm.demand_zero_pages_read_zero
     * checks the same from ring 3, on whatever frames a process gets.) */
    old = MiAcquirePfnLock();
    PFN_NUMBER h = MiAllocateZeroedPfnLocked(MiUsageUser, f[1] - 1);   /* as if f[1] - 1 mapped the page before */
    MiReleasePfnLock(old);
    KT_EQ(h, f[1]);
    KT_ASSERT(frame_is(h, 0));
    KT_EQ(MI_PFN_ELEMENT(h)->Usage, MiUsageUser);
    old = MiAcquirePfnLock();
    MI_PFN_ELEMENT(h)->ShareCount = 0;
    MiFreePfnLocked(h);
    MiReleasePfnLock(old);
}

/* A test frame back on the zeroed list as zeros, at its head (LIFO). */
static void put_back_zeroed(PFN_NUMBER pfn)
{
    fill_frame(pfn, 0);
    KIRQL old = MiAcquirePfnLock();
    MiFreePfnLocked(pfn);
    MiUnlinkPfnFromList(pfn);
    MiInsertPageInList(&MmZeroedPageListHead, pfn);
    MiReleasePfnLock(old);
}

static void free_user_frame(PFN_NUMBER pfn)
{
    KIRQL old = MiAcquirePfnLock();
    MI_PFN_ELEMENT(pfn)->ShareCount = 0;
    MiFreePfnLocked(pfn);
    MiReleasePfnLock(old);
}

/* The demand-zero frame choice (mm/pfn.c, MiAllocateZeroedPfnLocked):
 * five consecutive frames C..C+4, C kept as a wall, C+1..C+4 put on the
 * zeroed list in ascending order, so its head is C+4 and the list runs
 * downwards, as the zero-page thread leaves it. With no neighbour to
 * follow, a fault takes the bottom of that run (C+1), not the head, so
 * that the next pages can go upwards; the page after it, following C+1,
 * gets C+2 though the head is still C+4; a neighbour whose successor is
 * taken (C) falls back to the run below the head again: C+3. A free but
 * dirty successor is not followed while zeroed frames exist: the fault
 * would have to zero it. Whatever is taken reads as zeros. */
KTEST(pfn, demand_zero_frame_continues_its_neighbour_and_starts_runs_low)
{
    PFN_NUMBER c = MiAllocateContiguousPfns(MiUsageTest, FALSE, 5, 0, MmHighestPhysicalPage, 0);
    KT_ASSERT(c);
    for (int i = 1; i <= 4; i++)
        put_back_zeroed(c + i);
    KT_EQ(MmZeroedPageListHead.Flink, c + 4);
    KIRQL old = MiAcquirePfnLock();
    ULONG64 follows = MiContiguousFollows;
    PFN_NUMBER h1 = MiAllocateZeroedPfnLocked(MiUsageUser, 0);
    PFN_NUMBER h2 = MiAllocateZeroedPfnLocked(MiUsageUser, h1);
    PFN_NUMBER h3 = MiAllocateZeroedPfnLocked(MiUsageUser, c);
    ULONG64 followed = MiContiguousFollows - follows;
    MiReleasePfnLock(old);
    KT_EQ(h1, c + 1);
    KT_EQ(h2, c + 2);
    KT_EQ(h3, c + 3);
    KT_EQ(followed, 1);
    KT_ASSERT(frame_is(h1, 0) && frame_is(h2, 0) && frame_is(h3, 0));

    /* C+4 dirty on the free list, a zeroed frame elsewhere: not followed. */
    KIRQL o2 = MiAcquirePfnLock();
    MiUnlinkPfnFromList(c + 4);
    fill_frame(c + 4, 0x5A);   /* off every list meanwhile, under the lock */
    MiInsertPageInList(&MmFreePageListHead, c + 4);
    PFN_NUMBER h4 = MmZeroedPageListHead.Total ? MiAllocateZeroedPfnLocked(MiUsageUser, h3) : 0;
    MiReleasePfnLock(o2);
    if (h4) {
        KT_ASSERT(h4 != c + 4);
        KT_ASSERT(frame_is(h4, 0));
        free_user_frame(h4);
    }
    KT_EQ(MI_PFN_ELEMENT(c + 4)->PageLocation, FreePageList);
    free_user_frame(h1);
    free_user_frame(h2);
    free_user_frame(h3);
    MiFreePfn(c);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
}

KTEST(pfn, free_list_gives_the_frame_freed_last_first)
{
    PFN_NUMBER a = MiAllocatePfn(MiUsageTest, FALSE), b = MiAllocatePfn(MiUsageTest, FALSE);
    KT_ASSERT(a && b);
    MiFreePfn(a);
    MiFreePfn(b);
    PFN_NUMBER c = MiAllocatePfn(MiUsageTest, FALSE), d = MiAllocatePfn(MiUsageTest, FALSE);
    KT_EQ(c, b);
    KT_EQ(d, a);
    MiFreePfn(c);
    MiFreePfn(d);
}
