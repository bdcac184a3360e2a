/*
 * The pagefile (docs/paging.md): paged pool going out to disk and coming
 * back, the modified page writer's rules (an MDL lock keeps a page in, a
 * page dirtied during its write stays dirty), collided faults, the commit
 * limit. pagefile.* runs in the ordinary test boot, where each test makes
 * its own paging file on \Device\Harddisk1\DR0 and takes it away again,
 * and in a 64 MiB boot with `pagefile=Harddisk1` (the host test
 * paging.kernel_tests_with_a_pagefile). pagefile_inject.* need blkdebug on
 * that disk: only the host tests paging.*_error_* run them.
 */
#include "mm/tests/pagefile_test_util.h"

KTEST(pagefile, paged_pool_goes_out_and_comes_back)
{
    enum { PAGES = 20, BYTES = PAGES * PAGE_SIZE };
    PtBegin();
    PULONG64 p = ExAllocatePoolWithTag(PagedPool, BYTES, TAG_PF);
    KT_ASSERT(p != NULL);
    PtFill(p, BYTES, 0xFEED);
    ULONG64 written = MiMpwPagesWritten, clusters = MiMpwClusters, reads = MiInPageReads,
            hard = MiSystemFaults[MiFaultHard], prefetched = MiInPagePrefetched;

    /* Trimmed: modified. Written: standby, each frame with its slot in
     * OriginalPte, PTE still in transition. */
    MmTrimSystemWorkingSet(0);
    PFN_NUMBER pfn0 = MI_PTE_PFN(PtPte(p));
    KT_EQ(MI_PFN_ELEMENT(pfn0)->PageLocation, ModifiedPageList);
    KT_GE(MiFlushModifiedPages(), PAGES);
    MiWaitForPagingIdle();
    KT_GE(MiMpwPagesWritten, written + PAGES);
    KT_GT(MiMpwClusters, clusters);
    KT_LT(MiMpwClusters - clusters, MiMpwPagesWritten - written);   /* clustered: more pages than writes */
    for (int i = 0; i < PAGES; i++) {
        PVOID va = (PUCHAR)p + i * PAGE_SIZE;
        MMPTE t = { .u.Long = PtPte(va) };
        KT_EQ(t.u.Trans.Transition, 1);
        PMMPFN e = MI_PFN_ELEMENT(t.u.Trans.PageFrameNumber);
        KT_EQ(e->PageLocation, StandbyPageList);
        KT_ASSERT(MiIsPageFilePte(e->OriginalPte.u.Long));
        KT_ASSERT(MiPageFileSlotInUse(e->OriginalPte.u.Long));
    }
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));

    /* Repurposed: the PTE is the pagefile PTE (file, slot, protection). */
    MiPurgeStandbyList();
    for (int i = 0; i < PAGES; i++) {
        ULONG64 v = PtPte((PUCHAR)p + i * PAGE_SIZE);
        KT_ASSERT(MiIsPageFilePte(v));
        KT_EQ(((MMPTE *)&v)->u.Soft.Protection, MM_READWRITE);
        KT_ASSERT(MiPageFileSlotInUse(v));
    }
    ULONG64 slots = MiPageFileSlotsInUse;
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));

    /* Touched: hard faults (each read bringing its neighbours along to the
     * standby list: read clustering), the same bytes, slots given back. */
    KT_ASSERT(PtSame(p, BYTES, 0xFEED));
    KT_GT(MiInPageReads - reads, 0);
    KT_EQ((MiInPageReads - reads) + (MiInPagePrefetched - prefetched), PAGES);
    KT_EQ(MiSystemFaults[MiFaultHard] - hard, MiInPageReads - reads);
    KT_EQ(MiPageFileSlotsInUse, slots - PAGES);
    for (int i = 0; i < PAGES; i++)
        KT_ASSERT(MmIsAddressValid((PUCHAR)p + i * PAGE_SIZE));
    ExFreePoolWithTag(p, TAG_PF);
    PtEnd();
}

KTEST(pagefile, freeing_paged_pool_that_is_out_gives_its_slot_back)
{
    PtBegin();
    ULONG64 slots = MiPageFileSlotsInUse;
    PUCHAR p = ExAllocatePoolWithTag(PagedPool, 8 * PAGE_SIZE, TAG_PF);
    memset(p, 0x5A, 8 * PAGE_SIZE);
    PtPageOutPagedPool();
    KT_ASSERT(MiIsPageFilePte(PtPte(p)));
    KT_GE(MiPageFileSlotsInUse, slots + 8);
    ExFreePoolWithTag(p, TAG_PF);   /* a big block: freed without touching it */
    KT_EQ(PtPte(p), 0);
    PtEnd();
}

/* A page locked by an MDL is never written while locked (a device may be
 * changing it by DMA): its reference keeps it off the modified list. Once
 * unlocked after a write lock it is modified, written, and what the
 * "device" wrote comes back from the pagefile. */
KTEST(pagefile, mdl_lock_keeps_page_resident_while_the_writer_runs)
{
    PtBegin();
    PULONG64 p = ExAllocatePoolWithTag(PagedPool, PAGE_SIZE, TAG_PF);
    PtFill(p, PAGE_SIZE, 1);
    PMDL m = IoAllocateMdl(p, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmProbeAndLockPages(m, KernelMode, IoWriteAccess);
    PFN_NUMBER pfn = MmGetMdlPfnArray(m)[0];
    MmTrimSystemWorkingSet(0);
    KT_ASSERT(!MmIsAddressValid(p));
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ActiveAndValid);   /* the lock holds it */
    MiFlushModifiedPages();
    MiWaitForPagingIdle();
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ActiveAndValid);
    KT_ASSERT(!MiIsPageFilePte(MI_PFN_ELEMENT(pfn)->OriginalPte.u.Long));   /* never written: no slot */
    MiPurgeStandbyList();
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ActiveAndValid);   /* nor repurposed */
    /* The "device" writes through the MDL's own mapping, not p's PTE. */
    PULONG64 sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(sys != NULL);
    PtFill(sys, PAGE_SIZE, 2);
    MmUnlockPages(m);   /* a write unlock: modified */
    IoFreeMdl(m);
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ModifiedPageList);
    PtPageOutPagedPool();
    KT_ASSERT(MiIsPageFilePte(PtPte(p)));
    KT_ASSERT(PtSame(p, PAGE_SIZE, 2));
    ExFreePoolWithTag(p, TAG_PF);
    PtEnd();
}

/* Dirtied while its write is in flight: the write hook (the cluster is
 * taken, the IRP not sent yet) touches the page - a soft fault maps the
 * frame under the write - changes it and trims it again (D set: Modified).
 * The completion must not put it on the standby list with the old slot:
 * it goes back to modified, slot released, and is written again. */
static PULONG64 dirty_target;
static ULONG dirty_hits;
static void dirty_during_write(PFN_NUMBER *pages, ULONG count)
{
    PFN_NUMBER mine = MI_PTE_PFN(PtPte(dirty_target));
    for (ULONG i = 0; i < count; i++) {
        if (pages[i] != mine || dirty_hits)
            continue;
        dirty_hits++;
        KT_EQ(MI_PFN_ELEMENT(mine)->WriteInProgress, 1);
        PtFill(dirty_target, PAGE_SIZE, 0xD1D1);   /* soft fault on a frame being written */
        KT_EQ(MI_PFN_ELEMENT(mine)->PageLocation, ActiveAndValid);
        MmTrimSystemWorkingSet(0);               /* the D bit becomes Modified */
        KT_EQ(MI_PFN_ELEMENT(mine)->Modified, 1);
    }
}

KTEST(pagefile, page_dirtied_during_its_write_stays_dirty)
{
    PtBegin();
    dirty_target = ExAllocatePoolWithTag(PagedPool, PAGE_SIZE, TAG_PF);
    PtFill(dirty_target, PAGE_SIZE, 0xC1C1);
    MmTrimSystemWorkingSet(0);
    PFN_NUMBER pfn = MI_PTE_PFN(PtPte(dirty_target));
    ULONG64 rewrites = MiMpwRewrites;
    dirty_hits = 0;
    MiTestWriteHook = dirty_during_write;
    /* One cluster: the hook runs before it is sent. */
    KIRQL old = MiAcquirePfnLock();
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ModifiedPageList);
    MiReleasePfnLock(old);
    while (MI_PFN_ELEMENT(pfn)->PageLocation == ModifiedPageList && !dirty_hits && MiFlushModifiedPages())
        ;
    MiTestWriteHook = NULL;
    KT_EQ(dirty_hits, 1);
    KT_GT(MiMpwRewrites, rewrites);
    /* Back on the modified list (or written again by the flush's next
     * round, which then saw the new bytes): never standby with the old copy. */
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    KT_ASSERT(e->PageLocation == ModifiedPageList ||
              (e->PageLocation == StandbyPageList && MiIsPageFilePte(e->OriginalPte.u.Long)));
    PtPageOutPagedPool();
    KT_ASSERT(PtSame(dirty_target, PAGE_SIZE, 0xD1D1));   /* the new bytes, read back from the pagefile */
    ExFreePoolWithTag(dirty_target, TAG_PF);
    PtEnd();
}

/* Two threads fault on one page that is out: one reads, the other waits
 * for that read (a collided fault); one read in all. The read hook holds
 * the first read back until the second thread has collided. */
static PULONG64 collide_page;
static KEVENT collide_reading, collide_done;
static ULONG64 collide_seen;
static ULONG64 collide_base;
static void hold_read(PVOID va)
{
    if (va != PAGE_ALIGN(collide_page))
        return;
    KeSetEvent(&collide_reading, 0, FALSE);
    for (int i = 0; i < 2000 && MiCollidedFaults == collide_base; i++) {
        LARGE_INTEGER ms = { -KI_MS(1) };
        KeDelayExecutionThread(KernelMode, FALSE, &ms);
    }
}

static void second_faulter(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    KeWaitForSingleObject(&collide_reading, Executive, KernelMode, FALSE, NULL);
    collide_seen = ((volatile ULONG64 *)collide_page)[7];   /* collides with the read in flight */
    KeSetEvent(&collide_done, 0, FALSE);
    PsTerminateSystemThread(STATUS_SUCCESS);
}

KTEST(pagefile, collided_faults_share_one_read)
{
    PtBegin();
    collide_page = ExAllocatePoolWithTag(PagedPool, PAGE_SIZE, TAG_PF);
    PtFill(collide_page, PAGE_SIZE, 0xC011);
    PtPageOutPagedPool();
    KT_ASSERT(MiIsPageFilePte(PtPte(collide_page)));
    KeInitializeEvent(&collide_reading, NotificationEvent, FALSE);
    KeInitializeEvent(&collide_done, NotificationEvent, FALSE);
    collide_base = MiCollidedFaults;
    ULONG64 reads = MiInPageReads;
    collide_seen = 0;
    PKTHREAD t = KeCreateSystemThread(second_faulter, NULL, 8, "collider");
    KT_ASSERT(t != NULL);
    MiTestReadHook = hold_read;
    __asm__ volatile("" ::: "memory");   /* the hook is in place before the touch */
    ULONG64 mine = ((volatile ULONG64 *)collide_page)[3];   /* the first fault: reads */
    __asm__ volatile("" ::: "memory");
    MiTestReadHook = NULL;
    LARGE_INTEGER five = { -KI_MS(5000) };
    KT_EQ(KeWaitForSingleObject(&collide_done, Executive, KernelMode, FALSE, &five), STATUS_WAIT_0);
    KeWaitForSingleObject(t, Executive, KernelMode, FALSE, &five);
    KeDereferenceThread(t);
    KT_EQ(mine, 0xC011 ^ (3 * 0x9E3779B97F4A7C15ULL));
    KT_EQ(collide_seen, 0xC011 ^ (7 * 0x9E3779B97F4A7C15ULL));
    KT_EQ(MiCollidedFaults - collide_base, 1);
    KT_EQ(MiInPageReads - reads, 1);
    ExFreePoolWithTag(collide_page, TAG_PF);
    PtEnd();
}

/* Commit: the paging file raised the limit by its size; a charge past it
 * is refused up front and changes nothing. */
KTEST(pagefile, commit_limit_includes_the_pagefile)
{
    PtBegin();
    ULONG64 limit = MiCommitLimit(), charge = MmTotalCommittedPages;
    KT_GT(limit, MmAvailablePages);   /* more than RAM could back */
    KT_ASSERT(!MiChargeCommitment(NULL, limit - charge + 1));
    KT_EQ(MmTotalCommittedPages, charge);
    KT_ASSERT(MiChargeCommitment(NULL, 16));
    MiReturnCommitment(NULL, 16);
    PtEnd();
}

/* A process whose pages are out in the pagefile ends: every one of its
 * slots is given back, exactly (nothing else pages in a test boot). */
KTEST(pagefile, process_exit_releases_every_slot)
{
    PtBegin();
    MiWaitForPagingIdle();
    ULONG64 slots = MiPageFileSlotsInUse;
    PEPROCESS p;
    KT_EQ(PsCreateProcess("utest_paging", "utest_paging hold 8", NULL, &p), STATUS_SUCCESS);
    for (int i = 0; i < 500 && p->Vm.Count < 2048; i++) {   /* it writes 8 MiB, then sleeps */
        LARGE_INTEGER ms = { -KI_MS(10) };
        KeDelayExecutionThread(KernelMode, FALSE, &ms);
    }
    KT_GE(p->Vm.Count, 2048);
    /* The working set reaches 2048 pages a few pages before the program
     * has written its last ones (its image and stack count too): on a
     * loaded host it was still writing when trimmed, and 5 pages stayed
     * resident. Trim again until all 8 MiB are out (bounded). */
    for (int i = 0; i < 200; i++) {
        PEPROCESS saved;
        KeStackAttachProcess(p, &saved);
        MmTrimProcessWorkingSet(p);
        KeUnstackDetachProcess(&saved);
        MiFlushModifiedPages();
        MiWaitForPagingIdle();
        MiPurgeStandbyList();
        if (MiPageFileSlotsInUse >= slots + 2048)
            break;
        LARGE_INTEGER ms = { -KI_MS(10) };
        KeDelayExecutionThread(KernelMode, FALSE, &ms);
    }
    KT_GE(MiPageFileSlotsInUse, slots + 2048);   /* out, only in the pagefile */
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    KT_EQ(PsTerminateProcess(p, 0x55), STATUS_SUCCESS);
    LARGE_INTEGER ten = { -KI_MS(10000) };
    KT_EQ(KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &ten), STATUS_WAIT_0);
    PsDereferenceProcess(p);
    MiWaitForPagingIdle();
    KT_EQ(MiPageFileSlotsInUse, slots);
    PtEnd();
}


/* A hard fault inside a plugged batch (io/plug.c): NtSubmitIoRing locks
 * each entry's buffer inside its plug, and a page of it that is out comes
 * back by a paging read on the pagefile's disk, sent and waited for by
 * that same thread. The read must not wait for the plug's end, which only
 * the waiting thread can reach: a thread that blocks sends its batch
 * first. (Before, this fault waited forever: the pagefile disk was idle
 * and nothing else would start the read.) */
KTEST(pagefile, a_hard_fault_inside_a_plug_reads_its_page)
{
    enum { PAGES = 4, BYTES = PAGES * PAGE_SIZE };
    PtBegin();
    PULONG64 p = ExAllocatePoolWithTag(PagedPool, BYTES, TAG_PF);
    KT_ASSERT(p != NULL);
    PtFill(p, BYTES, 0x9106);
    PtPageOutPagedPool();
    KT_ASSERT(MiIsPageFilePte(PtPte(p)));
    ULONG64 reads = MiInPageReads;
    IO_PLUG plug;
    IoStartPlug(&plug);
    BOOLEAN same = PtSame(p, BYTES, 0x9106);   /* the faults, in the batch */
    IoFinishPlug(&plug);   /* before any assertion: the plug lives on this stack */
    KT_ASSERT(same);
    KT_GT(MiInPageReads - reads, 0);
    ExFreePoolWithTag(p, TAG_PF);
    PtEnd();
}
