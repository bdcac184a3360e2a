/*
 * The modified page writer lab (docs/labs/mpw.md): the student's writer.
 * The regions between the LAB markers are the solution; `scripts/lab.py
 * cut mpw` replaces each with the STUB comment after it.
 *
 * A modified page is the only copy of its data; the writer makes it a
 * standby page (a copy in a pagefile slot, the frame reusable at once).
 * While the write is out, the page belongs to nobody's list: the write's
 * reference keeps the frame from being reused, WriteInProgress says why
 * it is referenced, and its PTE stays in transition, so a touch is an
 * ordinary soft fault that maps the frame under the write. That is why
 * the completion must look again at every page: only one that nothing
 * touched, dirtied or deleted meanwhile may keep the copy just written.
 */
#include "mm/lab/mpw.h"

/* LAB mpw: BEGIN SOLUTION */
/* A paged-pool page's PTE is a kernel PTE: its slot is not charged commit
 * (mm/commit.c counts those apart). */
static BOOLEAN lab_system_page(PMMPFN e)
{
    return (ULONG64)e->PteAddress >= (ULONG64)MiGetPteAddress((void *)0xFFFF800000000000ULL);
}
/* LAB mpw: END SOLUTION */
/* LAB mpw: STUB
// Your helpers go here: is a frame's PTE a kernel (paged pool) PTE - its
// slot is then counted in MiPageFileSystemSlots as well.
 */

ULONG MiLabTakeCluster(MI_LAB_CLUSTER *Cluster, ULONG Max)
{
    Cluster->Count = 0;
    /* LAB mpw: BEGIN SOLUTION */
    if (Max > MI_WRITE_CLUSTER_PAGES)
        Max = MI_WRITE_CLUSTER_PAGES;
    KIRQL old = MiAcquirePfnLock();
    ULONG want = MmModifiedPageListHead.Total < Max ? (ULONG)MmModifiedPageListHead.Total : Max;
    ULONG file = 0, n = 0;
    ULONG64 first = 0;
    /* Slots first: a page taken off the list with nowhere to go would
     * have to be put back. Contiguous, so the cluster is one request. */
    ULONG got = want ? MiAllocatePageFileSpace(want, &file, &first) : 0;
    while (n < got && MmModifiedPageListHead.Flink != MI_PFN_LIST_END) {
        PFN_NUMBER pfn = MmModifiedPageListHead.Flink;   /* the head is the oldest */
        PMMPFN e = MI_PFN_ELEMENT(pfn);
        if (e->PrototypePte)
            break;   /* an image frame is never the only copy: the image file has it */
        MiUnlinkPfnFromList(pfn);
        e->ReferenceCount = 1;            /* the write's: the frame cannot be reused under the device */
        e->PageLocation = TransitionPage;
        e->WriteInProgress = 1;
        e->Modified = 0;                  /* whoever dirties it meanwhile sets it again */
        e->OriginalPte.u.Long = MiMakePageFilePte(file, first + n, 0);
        if (lab_system_page(e))
            MiPageFileSystemSlots++;
        Cluster->Pages[n++] = pfn;
        MiPagesInFlight++;
    }
    for (ULONG i = n; i < got; i++)
        MiReleasePageFileSpace(MiMakePageFilePte(file, first + i, 0), FALSE);
    MiReleasePfnLock(old);
    Cluster->File = file;
    Cluster->FirstSlot = first;
    Cluster->Count = n;
    return n;
    /* LAB mpw: END SOLUTION */
    /* LAB mpw: STUB
    (void)Max;
    KtLabNotImplemented("mpw", "MiLabTakeCluster (mm/lab/mpw.c): under the PFN lock, contiguous slots "
                               "(MiAllocatePageFileSpace) and the oldest modified frames, each set up for its write");
     */
}

void MiLabBuildClusterMdl(MI_LAB_CLUSTER *Cluster)
{
    /* LAB mpw: BEGIN SOLUTION */
    /* The MDL describes the frames; the driver goes by the PFN array (its
     * scatter/gather list), so the virtual address only has to be page
     * aligned, as NT's paging MDLs are. */
    MmInitializeMdl(&Cluster->Mdl, (PVOID)(Cluster->FirstSlot << PAGE_SHIFT), (SIZE_T)Cluster->Count * PAGE_SIZE);
    Cluster->Mdl.MdlFlags |= MDL_PAGES_LOCKED;
    PPFN_NUMBER pfn = MmGetMdlPfnArray(&Cluster->Mdl);
    for (ULONG i = 0; i < Cluster->Count; i++)
        pfn[i] = Cluster->Pages[i];
    /* LAB mpw: END SOLUTION */
    /* LAB mpw: STUB
    (void)Cluster;
    KtLabNotImplemented("mpw", "MiLabBuildClusterMdl (mm/lab/mpw.c): MmInitializeMdl at FirstSlot << PAGE_SHIFT, "
                               "MDL_PAGES_LOCKED, the PFN array");
     */
}

NTSTATUS MiLabWriteCluster(MI_LAB_CLUSTER *Cluster)
{
    /* LAB mpw: BEGIN SOLUTION */
    MiLabBuildClusterMdl(Cluster);
    PMMPAGING_FILE f = MmPagingFile[Cluster->File];
    LARGE_INTEGER offset = { .QuadPart = (LONGLONG)(f->BaseOffset + Cluster->FirstSlot * PAGE_SIZE) };
    KEVENT done;
    IO_STATUS_BLOCK iosb = { 0 };
    KeInitializeEvent(&done, NotificationEvent, FALSE);
    /* The IRP and the driver's request come from pool: a memory maker may
     * take the last frames kept back, or freeing memory could wait for
     * memory (docs/paging.md §7). */
    PKTHREAD me = KeGetCurrentThread();
    me->MemoryMaker++;
    NTSTATUS s = IoSynchronousPageWrite(f->File, &Cluster->Mdl, &offset, &done, &iosb);
    if (s == STATUS_PENDING || KeReadStateEvent(&done)) {
        KeWaitForSingleObject(&done, Executive, KernelMode, FALSE, NULL);
        s = iosb.Status;
    }
    me->MemoryMaker--;
    Cluster->Status = s;
    return s;
    /* LAB mpw: END SOLUTION */
    /* LAB mpw: STUB
    (void)Cluster;
    KtLabNotImplemented("mpw", "MiLabWriteCluster (mm/lab/mpw.c): the MDL, IoSynchronousPageWrite at the "
                               "first slot's byte offset, wait for the event");
    return STATUS_NOT_IMPLEMENTED;
     */
}

ULONG MiLabCompleteCluster(MI_LAB_CLUSTER *Cluster, NTSTATUS Status)
{
    /* LAB mpw: BEGIN SOLUTION */
    ULONG kept = 0;
    KIRQL old = MiAcquirePfnLock();
    for (ULONG i = 0; i < Cluster->Count; i++) {
        PMMPFN e = MI_PFN_ELEMENT(Cluster->Pages[i]);
        e->WriteInProgress = 0;
        MiPagesInFlight--;
        if (e->PageLocation == TransitionPage)
            e->PageLocation = ActiveAndValid;   /* until the dereference puts it on a list */
        BOOLEAN keep = NT_SUCCESS(Status) && e->ReferenceCount == 1 && !e->Modified && !e->PteDeleted;
        if (!keep && !e->PteDeleted) {
            /* Mapped again, locked, dirtied, or not written: the slot's copy
             * is stale or missing, and a resident page keeps no slot. */
            MiReleasePageFileSpace(e->OriginalPte.u.Long, lab_system_page(e));
            e->OriginalPte.u.Long = 0;
            e->Modified = 1;
        }
        kept += keep;
        /* At 0: standby (clean, slot kept), modified (to be written again)
         * or, its PTE gone, free with its slot (MiInsertFreePage). */
        MiDecrementReferenceCount(Cluster->Pages[i]);
    }
    MiReleasePfnLock(old);
    return kept;
    /* LAB mpw: END SOLUTION */
    /* LAB mpw: STUB
    (void)Cluster;
    (void)Status;
    KtLabNotImplemented("mpw", "MiLabCompleteCluster (mm/lab/mpw.c): per page, keep the slot (standby) or give "
                               "it back (modified again), then drop the write's reference");
    return 0;
     */
}

ULONG64 MiLabWriteModifiedPages(void)
{
    /* LAB mpw: BEGIN SOLUTION */
    ULONG64 total = 0;
    MI_LAB_CLUSTER c;
    while (MiLabTakeCluster(&c, MI_WRITE_CLUSTER_PAGES)) {
        NTSTATUS s = MiLabWriteCluster(&c);
        MiLabCompleteCluster(&c, s);
        if (!NT_SUCCESS(s))
            break;   /* the pages are modified again: a retry now would fail the same way */
        total += c.Count;
    }
    return total;
    /* LAB mpw: END SOLUTION */
    /* LAB mpw: STUB
    KtLabNotImplemented("mpw", "MiLabWriteModifiedPages (mm/lab/mpw.c): take, write and complete clusters "
                               "until the list is empty or a write fails");
    return 0;
     */
}
