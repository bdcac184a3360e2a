/*
 * The modified page writer: the system thread that turns modified pages
 * (trimmed, dirty, the only copy of their contents) into standby pages
 * (clean, a copy in a pagefile slot, reusable at once), so that memory can
 * be given to someone else (docs/paging.md).
 *
 * It wakes when the modified list passes a threshold, when available
 * memory is low (the working-set manager and MiAllocatePfn wake it) or
 * when a frame is waited for, and then, one cluster at a time:
 *   1. under the PFN lock: takes up to 16 of the oldest modified pages and
 *      as many contiguous slots (NT clusters paging writes to 64 KiB, one
 *      request); each frame gets a reference for the write, WriteInProgress,
 *      Modified cleared and its slot in OriginalPte; its PTE stays in
 *      transition, so a touch meanwhile is an ordinary soft fault;
 *   2. without any lock: one MDL over the frames (MDL_PAGES_LOCKED: the
 *      reference is the lock), one paging write (IoSynchronousPageWrite:
 *      IRP_PAGING_IO | IRP_NOCACHE) down the disk stack, and waits for it;
 *      paging I/O is never sent under the PFN lock (the driver takes its
 *      own locks and allocates) nor under any process's address-space lock
 *      (so no fault can wait for this thread while holding what it needs);
 *   3. under the PFN lock again, per page: written and untouched -> the
 *      standby list with its slot; dirtied again (Modified set by a trim of
 *      a dirty PTE or a write unlock of an MDL), mapped again, still locked
 *      by an MDL, or the write failed -> the slot is given back and the page
 *      is the only copy again (the modified list, or resident).
 * A page locked by an MDL is never on the modified list (its reference
 * keeps it active), so a device writing it by DMA cannot race a write of
 * it unless it was locked after the write took it: then it is resident at
 * completion and loses the slot, and the unlock marks it modified.
 */
#include "mm/mi.h"
#include "io/io.h"

volatile ULONG64 MiPagesInFlight;
volatile ULONG64 MiMpwPagesWritten, MiMpwClusters, MiMpwWriteErrors, MiMpwRewrites, MiMpwRuns;
volatile ULONG64 MiMpwClusterSizes[MI_WRITE_CLUSTER_PAGES + 1];
void (*MiTestWriteHook)(PFN_NUMBER *pages, ULONG count);
/* Tests only (the mpw lab: KtBeginPaging): while set, the writer takes
 * nothing, so a test's own writer has the modified list to itself. */
static volatile BOOLEAN paused;

static KEVENT mpw_event;
static BOOLEAN mpw_ready;
/* One cluster at a time (the thread, or a test flushing): the MDL below is
 * the writer's own, in nonpaged memory, never allocated when memory is short. */
static KMUTEX write_mutex;
static struct {
    MDL Mdl;
    PFN_NUMBER Pages[MI_WRITE_CLUSTER_PAGES];
} cluster;

/* The list is worth writing out: past the threshold (a sixteenth of RAM,
 * at most 4 MiB), or memory is short. */
static BOOLEAN worth_writing(void)
{
    if (!MmNumberOfPagingFiles || !MmModifiedPageListHead.Total)
        return FALSE;
    ULONG64 threshold = MmNumberOfPhysicalPages / 16;
    if (threshold > 1024)
        threshold = 1024;
    return MmModifiedPageListHead.Total >= threshold || MmAvailablePages < MiLowMemoryPages;
}

void MiSignalModifiedPageWriter(void)
{
    if (mpw_ready && worth_writing() && !KeReadStateEvent(&mpw_event))
        KeSetEvent(&mpw_event, 0, FALSE);
}

void MiWakeModifiedPageWriter(void)
{
    KI_ASSERT_DISPATCHER_LOCK_NOT_HELD("signalling an event takes the dispatcher lock again");
    MI_ASSERT_PFN_LOCK_NOT_HELD("nothing may be signalled inside the PFN lock");
    if (mpw_ready && MmNumberOfPagingFiles && MmModifiedPageListHead.Total && !KeReadStateEvent(&mpw_event))
        KeSetEvent(&mpw_event, 0, FALSE);
}

static BOOLEAN is_system_pte(PMMPFN e)
{
    return (ULONG64)e->PteAddress >= (ULONG64)MiGetPteAddress((void *)0xFFFF800000000000ULL);
}

/* PFN lock. The write of frame PFN is over with STATUS. */
static void complete_write(PFN_NUMBER pfn, NTSTATUS status)
{
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    e->WriteInProgress = 0;
    MiPagesInFlight--;
    if (e->PageLocation == TransitionPage)
        e->PageLocation = ActiveAndValid;   /* until the dereference below puts it on a list */
    BOOLEAN keep = NT_SUCCESS(status) && e->ReferenceCount == 1 && !e->Modified && !e->PteDeleted;
    if (!keep && !e->PteDeleted) {
        /* Resident again (a fault mapped it, an MDL locks it), dirtied, or
         * not written: the copy in the slot is not to be trusted, or not
         * to be kept for a resident page (mm/commit.c). */
        MiReleasePageFileSpace(e->OriginalPte.u.Long, is_system_pte(e));
        e->OriginalPte.u.Long = 0;
        e->Modified = 1;
        MiMpwRewrites++;
    }
    /* The write's reference: at 0 the frame goes to the standby list (kept),
     * the modified list (to be written again) or, if its PTE went meanwhile,
     * the free list, slot and all (MiInsertFreePage). */
    MiDecrementReferenceCount(pfn);
}

/* Write one cluster; how many pages it took (0: nothing to write). */
static ULONG write_cluster(void)
{
    KeWaitForSingleObject(&write_mutex, Executive, KernelMode, FALSE, NULL);
    if (paused) {
        KeReleaseMutex(&write_mutex, FALSE);
        return 0;
    }
    KIRQL old = MiAcquirePfnLock();
    ULONG want = MmModifiedPageListHead.Total < MI_WRITE_CLUSTER_PAGES ? (ULONG)MmModifiedPageListHead.Total
                                                                         : MI_WRITE_CLUSTER_PAGES;
    ULONG file = 0, n = 0;
    ULONG64 first = 0;
    ULONG got = want ? MiAllocatePageFileSpace(want, &file, &first) : 0;
    while (n < got && MmModifiedPageListHead.Flink != MI_PFN_LIST_END) {
        PFN_NUMBER pfn = MmModifiedPageListHead.Flink;
        PMMPFN e = MI_PFN_ELEMENT(pfn);
        if (e->PrototypePte)
            break;   /* an image frame is never modified (copy-on-write makes private copies): not ours */
        MiUnlinkPfnFromList(pfn);
        e->ReferenceCount = 1;   /* the write's: like an MDL lock */
        e->PageLocation = TransitionPage;
        e->WriteInProgress = 1;
        e->Modified = 0;         /* set again by whoever dirties it during the write */
        e->OriginalPte.u.Long = MiMakePageFilePte(file, first + n, 0);
        if (is_system_pte(e))
            MiPageFileSystemSlots++;
        cluster.Pages[n++] = pfn;
        MiPagesInFlight++;
    }
    for (ULONG i = n; i < got; i++)   /* slots the list did not fill */
        MiReleasePageFileSpace(MiMakePageFilePte(file, first + i, 0), FALSE);
    MiReleasePfnLock(old);
    if (!n) {
        KeReleaseMutex(&write_mutex, FALSE);
        return 0;
    }
    if (MiTestWriteHook)
        MiTestWriteHook(cluster.Pages, n);

    /* The MDL describes the frames themselves; its virtual address is only
     * a base for byte offsets (nobody maps it: the driver goes by the PFN
     * array through its scatter/gather list), page aligned as NT's are. */
    PMMPAGING_FILE f = MmPagingFile[file];
    MmInitializeMdl(&cluster.Mdl, (PVOID)(first << PAGE_SHIFT), (SIZE_T)n * PAGE_SIZE);
    cluster.Mdl.MdlFlags |= MDL_PAGES_LOCKED;
    for (ULONG i = 0; i < n; i++)
        MmGetMdlPfnArray(&cluster.Mdl)[i] = cluster.Pages[i];
    LARGE_INTEGER offset = { .QuadPart = (LONGLONG)(f->BaseOffset + first * PAGE_SIZE) };
    KEVENT done;
    IO_STATUS_BLOCK iosb = { 0 };
    KeInitializeEvent(&done, NotificationEvent, FALSE);
    PKTHREAD me = KeGetCurrentThread();
    me->MemoryMaker++;
    NTSTATUS s = IoSynchronousPageWrite(f->File, &cluster.Mdl, &offset, &done, &iosb);
    if (s == STATUS_PENDING || KeReadStateEvent(&done)) {
        KeWaitForSingleObject(&done, Executive, KernelMode, FALSE, NULL);
        s = iosb.Status;
    }
    me->MemoryMaker--;

    old = MiAcquirePfnLock();
    for (ULONG i = 0; i < n; i++)
        complete_write(cluster.Pages[i], s);
    MiMpwClusters++;
    MiMpwClusterSizes[n]++;
    if (NT_SUCCESS(s))
        MiMpwPagesWritten += n;
    else
        MiMpwWriteErrors++;
    MiReleasePfnLock(old);
    KeReleaseMutex(&write_mutex, FALSE);
    if (!NT_SUCCESS(s))
        kprintf("mm: paging write of %u pages at slot %llu of paging file %u failed: %#x\n", n,
                (unsigned long long)first, file, (unsigned)s);
    return NT_SUCCESS(s) ? n : 0;
}

ULONG64 MiFlushModifiedPages(void)
{
    ULONG64 total = 0;
    for (;;) {
        ULONG n = write_cluster();
        if (!n)
            return total;
        total += n;
    }
}

void MiWaitForPagingIdle(void)
{
    /* The writer's mutex is held over its whole cluster; reads are counted
     * in flight too and take a few milliseconds. */
    for (int i = 0; i < 1000; i++) {
        KeWaitForSingleObject(&write_mutex, Executive, KernelMode, FALSE, NULL);
        KeReleaseMutex(&write_mutex, FALSE);
        if (!MiPagesInFlight)
            return;
        LARGE_INTEGER ms = { -KI_MS(1) };
        KeDelayExecutionThread(KernelMode, FALSE, &ms);
    }
}

void MiPauseModifiedPageWriter(BOOLEAN pause)
{
    paused = pause;
    /* A cluster already taken is finished before the pause counts: the
     * flag is read under the mutex that cluster holds. */
    KeWaitForSingleObject(&write_mutex, Executive, KernelMode, FALSE, NULL);
    KeReleaseMutex(&write_mutex, FALSE);
}

static void modified_page_writer(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    for (;;) {
        LARGE_INTEGER second = { -KI_MS(1000) };
        KeWaitForSingleObject(&mpw_event, Executive, KernelMode, FALSE, &second);
        if (!worth_writing())
            continue;
        MiMpwRuns++;
        /* Until the list is below its threshold and memory is not short;
         * a failing write stops the run (the next wake-up retries). */
        while (worth_writing() && write_cluster())
            ;
    }
}

void MiStartModifiedPageWriter(void)
{
    KeInitializeEvent(&mpw_event, SynchronizationEvent, FALSE);
    KeInitializeMutex(&write_mutex, 0);
    /* Above the working-set manager (LOW_REALTIME_PRIORITY), so that the
     * pages it trims get written as soon as it has trimmed them. */
    PKTHREAD t = KeCreateSystemThread(modified_page_writer, NULL, LOW_REALTIME_PRIORITY + 1, "mpw");
    ASSERT(t);
    t->MemoryMaker = 1;   /* its own pool (IRPs, requests) may take the frames kept back */
    mpw_ready = TRUE;
}
