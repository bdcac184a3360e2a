/*
 * Hard faults: a page that is out in a pagefile slot is read back in
 * (docs/paging.md). NT's MiResolvePageFileFault and its collided faults.
 *
 *   1. a frame (waited for, as any fault's frame: the page is charged);
 *   2. under the PFN lock, if the PTE still holds the same pagefile PTE:
 *      the frame becomes the page's, in TransitionPage with ReadInProgress,
 *      OriginalPte = the pagefile PTE; the PTE becomes a transition PTE
 *      naming it. From here a second fault on the page (another thread
 *      touching paged pool, a process page touched through the kernel)
 *      finds the transition PTE, sees ReadInProgress, and waits on the
 *      read's MI_INPAGE_BLOCK (a collided fault) instead of reading twice;
 *   3. without any spin lock: one MDL (MDL_PAGES_LOCKED | MDL_IO_PAGE_READ),
 *      one paging read (IoPageRead) down the disk stack, wait;
 *   4. under the PFN lock: the PTE valid, the slot given back (a resident
 *      page holds none: mm/commit.c), Modified (the page is the only copy
 *      again); or, on an error, the PTE back to the pagefile PTE and the
 *      frame freed: a process gets STATUS_IN_PAGE_ERROR (its thread ends
 *      with it), paged pool is KERNEL_DATA_INPAGE_ERROR (0x7A) with NT's
 *      parameters (PTE address, status, PTE contents, address).
 *
 * A process fault keeps its address-space lock over the read (its own
 * thread is the only one resolving faults in it, and nothing the read
 * needs takes that lock: the modified page writer never does, the
 * working-set manager only tries it); the frame wait before it was already
 * under that lock for demand-zero faults.
 *
 * Read clustering (MiReadClusterPages, 8; 1 turns it off): the PTEs after
 * the faulting one in its page table whose slots continue the faulting
 * page's slot run, upwards or downwards (the writer takes pages in the
 * order they were trimmed, which runs either way through a region), come
 * in with the same read, each into a frame of its own taken without
 * waiting; they go to the standby list with their slot (clean, in
 * transition), so touching them is a soft fault, and a fault on one while
 * the read is out collides with it. docs/paging.md §4 has the figures.
 */
#include "kernel/ps/psp.h"
#include "io/io.h"

volatile ULONG64 MiInPageReads, MiInPageErrors, MiCollidedFaults, MiInPagePrefetched;
ULONG MiReadClusterPages = MI_READ_CLUSTER_MAX;
void (*MiTestReadHook)(PVOID va);

/* NT's MMINPAGE_SUPPORT, from a fixed array (a fault must not need pool to
 * wait for another fault): the event colliders wait on, the read's MDL. */
#define MI_INPAGE_BLOCKS 32
typedef struct _MI_INPAGE_BLOCK {
    KEVENT Event;          /* set when the read is over (success or not) */
    NTSTATUS Status;
    ULONG Waiters;         /* the reader and each collided fault: PFN lock */
    BOOLEAN InUse;
    MDL Mdl;
    PFN_NUMBER Page[MI_READ_CLUSTER_MAX];
} MI_INPAGE_BLOCK;
static MI_INPAGE_BLOCK blocks[MI_INPAGE_BLOCKS];

/* PFN lock. A free block (NULL: all in use, retry). */
static MI_INPAGE_BLOCK *get_block(void)
{
    for (int i = 0; i < MI_INPAGE_BLOCKS; i++) {
        if (!blocks[i].InUse) {
            blocks[i].InUse = TRUE;
            blocks[i].Waiters = 1;
            blocks[i].Status = STATUS_PENDING;
            KeInitializeEvent(&blocks[i].Event, NotificationEvent, FALSE);
            return &blocks[i];
        }
    }
    return NULL;
}

static void put_block(MI_INPAGE_BLOCK *b)
{
    KIRQL old = MiAcquirePfnLock();
    if (--b->Waiters == 0)
        b->InUse = FALSE;
    MiReleasePfnLock(old);
}

NTSTATUS MiWaitForInPage(PFN_NUMBER pfn, KIRQL old)
{
    MI_ASSERT_PFN_LOCK_HELD();
    MI_INPAGE_BLOCK *b = (MI_INPAGE_BLOCK *)MI_PFN_ELEMENT(pfn)->Blink;
    b->Waiters++;
    MiCollidedFaults++;
    MiReleasePfnLock(old);
    KeWaitForSingleObject(&b->Event, Executive, KernelMode, FALSE, NULL);
    NTSTATUS s = b->Status;
    put_block(b);
    /* Retry the access: the PTE is valid now, or (the read failed) a
     * pagefile PTE again, which the retry reads once more. */
    return NT_SUCCESS(s) ? STATUS_SUCCESS : s;
}

static void sleep_ms(ULONG ms)
{
    LARGE_INTEGER d = { -KI_MS(ms) };
    KeDelayExecutionThread(KernelMode, FALSE, &d);
}

NTSTATUS MiResolvePageFileFault(PVOID va, PMMPTE pte, PEPROCESS process, ULONG64 error)
{
    KI_ASSERT_IRQL_LE(APC_LEVEL);
    PVOID page = PAGE_ALIGN(va);
    MMPTE v = *pte;
    if (!MiIsPageFilePte(v.u.Long))
        return STATUS_SUCCESS;   /* resolved meanwhile: retry */
    ULONG mm = v.u.Soft.Protection;
    ULONG64 bits = MI_PTE_VALID | MI_PROT_KERNEL_RW;
    if (process) {
        if ((mm & MM_GUARD_PAGE) == MM_GUARD_PAGE && (mm & 0x18) != MM_WRITECOMBINE) {
            pte->u.Soft.Protection = mm & ~MM_GUARD_PAGE;   /* fires once (NT), the page stays out */
            return STATUS_GUARD_PAGE_VIOLATION;
        }
        if (!MiProtectionAllows(mm, error))
            return STATUS_ACCESS_VIOLATION;
        bits = MiUserPteFlags(mm);
    }
    MI_PFN_USAGE usage = process ? MiUsageUser : MiUsagePagedPool;
    PFN_NUMBER pfn = MiAllocatePfnForPageIn(usage);
    /* Frames for the neighbours, only while memory is not short. */
    PFN_NUMBER extra[MI_READ_CLUSTER_MAX];
    ULONG extras = 0;
    while (extras + 1 < MiReadClusterPages && extras + 1 < MI_READ_CLUSTER_MAX &&
           MmAvailablePages > MiLowMemoryPages / 4 && (extra[extras] = MiAllocatePfnNoWait(usage)) != 0)
        extras++;
    MI_INPAGE_BLOCK *b;
    KIRQL old;
    for (;;) {
        old = MiAcquirePfnLock();
        if (pte->u.Long != v.u.Long) {
            /* Another thread got there first (paged pool): its fault, or
             * its read we can wait for. */
            ULONG64 now = pte->u.Long;
            MiFreePfnLocked(pfn);
            while (extras)
                MiFreePfnLocked(extra[--extras]);
            if ((now & MI_PTE_TRANSITION) && !(now & MI_PTE_VALID) && MI_PFN_ELEMENT(MI_PTE_PFN(now))->ReadInProgress)
                return MiWaitForInPage(MI_PTE_PFN(now), old);
            MiReleasePfnLock(old);
            return STATUS_SUCCESS;
        }
        if ((b = get_block()) != NULL)
            break;
        MiReleasePfnLock(old);
        sleep_ms(1);   /* 32 reads in flight: wait for one to finish */
    }
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    e->PteAddress = pte;
    e->PteFrame = MiGetPteFrame(pte);
    e->OriginalPte = v;
    e->PageLocation = TransitionPage;
    e->ReadInProgress = 1;
    e->Blink = (PFN_NUMBER)b;
    MMPTE t = { .u.Long = 0 };
    t.u.Trans.Transition = 1;
    t.u.Trans.Protection = mm;
    t.u.Trans.PageFrameNumber = pfn;
    pte->u.Long = t.u.Long;   /* not valid before or after: no flush */
    MiPagesInFlight++;
    /* The cluster: PTE k after this one (same page table) holding slot
     * S + k*dir of the same file. */
    ULONG64 slot = v.u.Soft.PageFileHigh;
    PMMPTE npte[MI_READ_CLUSTER_MAX];
    PFN_NUMBER npfn[MI_READ_CLUSTER_MAX];
    MMPTE nv[MI_READ_CLUSTER_MAX];
    ULONG n = 0;
    LONG dir = 0;
    for (ULONG k = 1; k <= extras; k++) {
        PMMPTE q = pte + k;
        if (((ULONG64)q & ~(PAGE_SIZE - 1)) != ((ULONG64)pte & ~(PAGE_SIZE - 1)))
            break;   /* the next page table: maybe not there at all */
        MMPTE w = *q;
        if (!MiIsPageFilePte(w.u.Long) || w.u.Soft.PageFileLow != v.u.Soft.PageFileLow)
            break;
        if (!dir)
            dir = w.u.Soft.PageFileHigh == slot + 1 ? 1 : w.u.Soft.PageFileHigh + 1 == slot ? -1 : 0;
        if (!dir || w.u.Soft.PageFileHigh != slot + (LONG64)dir * k)
            break;
        PFN_NUMBER f2 = extra[n];
        PMMPFN e2 = MI_PFN_ELEMENT(f2);
        e2->PteAddress = q;
        e2->PteFrame = e->PteFrame;
        e2->OriginalPte = w;
        e2->PageLocation = TransitionPage;
        e2->ReadInProgress = 1;
        e2->Blink = (PFN_NUMBER)b;
        MMPTE t2 = { .u.Long = 0 };
        t2.u.Trans.Transition = 1;
        t2.u.Trans.Protection = w.u.Soft.Protection;
        t2.u.Trans.PageFrameNumber = f2;
        q->u.Long = t2.u.Long;
        MiPagesInFlight++;
        npte[n] = q;
        npfn[n] = f2;
        nv[n] = w;
        n++;
    }
    for (ULONG k = n; k < extras; k++)
        MiFreePfnLocked(extra[k]);
    MiReleasePfnLock(old);

    if (MiTestReadHook)
        MiTestReadHook(page);
    PMMPAGING_FILE f = MmPagingFile[v.u.Soft.PageFileLow];
    ULONG64 first = dir < 0 ? slot - n : slot;   /* the MDL is in slot order */
    LARGE_INTEGER offset = { .QuadPart = (LONGLONG)(f->BaseOffset + first * PAGE_SIZE) };
    NTSTATUS s;
    for (int attempt = 0;; attempt++) {
        MmInitializeMdl(&b->Mdl, page, (SIZE_T)(n + 1) * PAGE_SIZE);
        b->Mdl.MdlFlags |= MDL_PAGES_LOCKED | MDL_IO_PAGE_READ;
        PPFN_NUMBER pa = MmGetMdlPfnArray(&b->Mdl);
        pa[dir < 0 ? n : 0] = pfn;
        for (ULONG k = 0; k < n; k++)
            pa[dir < 0 ? n - 1 - k : k + 1] = npfn[k];
        KEVENT done;
        IO_STATUS_BLOCK iosb = { 0 };
        KeInitializeEvent(&done, NotificationEvent, FALSE);
        PKTHREAD me = KeGetCurrentThread();
        me->MemoryMaker++;   /* the IRP and the driver's request may take the frames kept back */
        s = IoPageRead(f->File, &b->Mdl, &offset, &done, &iosb);
        if (s == STATUS_PENDING || KeReadStateEvent(&done)) {
            KeWaitForSingleObject(&done, Executive, KernelMode, FALSE, NULL);
            s = iosb.Status;
        }
        me->MemoryMaker--;
        /* No IRP (pool short for a moment): not the disk's verdict, retry. */
        if (s != STATUS_INSUFFICIENT_RESOURCES || attempt >= 100)
            break;
        sleep_ms(10);
    }

    old = MiAcquirePfnLock();
    /* The neighbours: clean copies of their slots, on the standby list
     * (a touch is a soft fault); on an error their PTEs name the slots again. */
    for (ULONG k = 0; k < n; k++) {
        PMMPFN e2 = MI_PFN_ELEMENT(npfn[k]);
        e2->ReadInProgress = 0;
        e2->Blink = MI_PFN_LIST_END;
        e2->PageLocation = ActiveAndValid;
        MiPagesInFlight--;
        if (!e2->PteDeleted && !NT_SUCCESS(s)) {
            npte[k]->u.Long = nv[k].u.Long;
            e2->OriginalPte.u.Long = 0;
            e2->PteDeleted = 1;
        }
        if (!e2->PteDeleted)
            e2->Modified = 0;
        MiDecrementReferenceCount(npfn[k]);   /* standby (slot kept), or freed */
    }
    if (NT_SUCCESS(s))
        MiInPagePrefetched += n;
    e->ReadInProgress = 0;
    e->Blink = MI_PFN_LIST_END;
    MiPagesInFlight--;
    MiInPageReads++;
    b->Status = s;
    BOOLEAN mapped = FALSE;
    if (e->PteDeleted) {
        MiDecrementReferenceCount(pfn);   /* the page went meanwhile: free, slot and all */
    } else if (NT_SUCCESS(s)) {
        /* Resident: the slot goes, the frame is the only copy again. */
        MiReleasePageFileSpace(v.u.Long, process == NULL);
        e->OriginalPte.u.Long = 0;
        e->Modified = 1;
        e->PageLocation = ActiveAndValid;
        e->ShareCount = 1;
        MiWritePteAndFlush(pte, (pfn << PAGE_SHIFT) | bits);
        if (!process)
            MiInsertWsle(&MmSystemCacheWs, page);
        mapped = TRUE;
    } else {
        /* The PTE names the slot again; the frame is freed without it. */
        pte->u.Long = v.u.Long;
        e->OriginalPte.u.Long = 0;
        e->PteDeleted = 1;
        MiDecrementReferenceCount(pfn);
        MiInPageErrors++;
    }
    MiReleasePfnLock(old);
    KeSetEvent(&b->Event, 0, FALSE);
    put_block(b);
    if (mapped && process) {
        MiInsertWsle(&process->Vm, page);   /* its list grows from pool: outside the PFN lock */
        MiCountFault(process, MiFaultHard);
    } else if (mapped) {
        __atomic_add_fetch(&MiSystemFaults[MiFaultHard], 1, __ATOMIC_RELAXED);
    }
    if (NT_SUCCESS(s))
        return STATUS_SUCCESS;
    kprintf("mm: in-page read of %p (slot %llu of paging file %u) failed: %#x\n", page, (unsigned long long)slot,
            v.u.Soft.PageFileLow, (unsigned)s);
    if (!process)
        KeBugCheckRule(KERNEL_DATA_INPAGE_ERROR, (ULONG_PTR)pte, (ULONG_PTR)(LONG_PTR)s, v.u.Long, (ULONG_PTR)va,
                       "paged pool at %p could not be read back from the paging file (status %#x): kernel data "
                       "that is lost cannot be recovered", va, (unsigned)s);
    return STATUS_IN_PAGE_ERROR;
}
