/*
 * Working sets: one mechanism for the system working set and every
 * process's, as NT has one MMSUPPORT type for both.
 *
 *   working set   MMSUPPORT         entries                  list lock
 *   system        MmSystemCacheWs   valid paged-pool pages   the PFN lock
 *   process P     P->Vm             valid user pages         P->AddressSpaceLock
 *
 * A page enters its working set when its PTE becomes valid (the pool maps
 * it, or a fault resolves it: MiInsertWsle), leaves it when the page is
 * deleted (MiRemoveWsle), and is trimmed out of it (MiTrimWorkingSet ->
 * MiEliminateWorkingSetEntry): its PTE goes to transition (or, for a shared
 * image page, back to prototype format) and the frame to the modified list
 * (or loses a share). The next touch is a soft fault: MiResolveTransitionFault,
 * the same for paged pool and for a process page.
 *
 * The system list is the PFN lock's because its entries change together
 * with their PTEs and frames, which that lock guards anyway. A process's
 * list is its address-space lock's: it grows from nonpaged pool, which must
 * never be allocated inside the PFN lock. The system list never grows: it
 * has room for every paged-pool page from the start.
 */
#include "kernel/ps/psp.h"

#define TAG_WSL POOL_TAG('W', 's', 'l', 'e')

static PVOID MiSystemWsList[MI_PAGED_POOL_PAGES];
MMSUPPORT MmSystemCacheWs = { .List = MiSystemWsList, .Capacity = MI_PAGED_POOL_PAGES };

static BOOLEAN is_system(PMMSUPPORT ws)
{
    return ws == &MmSystemCacheWs;
}

ULONG MiSystemWorkingSetSize(void)
{
    return MmSystemCacheWs.Count;
}

/* A frame remembers where its page sits in the working-set list, in its
 * PFN entry's Flink (unused while the frame is on no list: NT keeps its
 * WsIndex in the same union), so removing a page costs one step, not a
 * search of the list - releasing N touched pages is then N steps, not N^2.
 * Only a frame that this one entry maps keeps an index (a private user
 * page, a paged-pool page); a shared image frame is in many lists at once. */
static PMMPFN indexed_frame_of(PVOID va)
{
    /* VA is an entry (or about to be one): its PTE is valid, so the tables
     * above it exist and the PTE is read directly (a walk of the upper
     * levels here made every trim and insert slower). */
    ULONG64 v = MiGetPteAddress(va)->u.Long;
    if (!(v & MI_PTE_VALID))
        return NULL;
    PMMPFN e = MI_PFN_ELEMENT(MI_PTE_PFN(v));
    return !e->PrototypePte && e->PageLocation == ActiveAndValid ? e : NULL;
}

static void set_index(PVOID va, ULONG index)
{
    PMMPFN e = indexed_frame_of(va);
    if (e)
        e->Flink = index;
}

static void assert_list_lock(PMMSUPPORT ws)
{
    if (is_system(ws))
        MI_ASSERT_PFN_LOCK_HELD();   /* a process list: its address-space lock, which the caller holds */
}

/* A process list doubles from 64 entries. Pool is refused when the frames
 * left are promised (mm/commit.c); a refused growth is not retried at
 * every fault (each try would take and give back pages), only once an
 * entry has left. */
static BOOLEAN grow(PMMSUPPORT ws)
{
    ASSERT(!is_system(ws));   /* the system list holds every paged-pool page: it is never full */
    ULONG cap = ws->Capacity ? ws->Capacity * 2 : 64;
    PVOID *n = ws->GrowFailed ? NULL : ExAllocatePoolWithTag(NonPagedPoolNx, cap * sizeof(PVOID), TAG_WSL);
    if (!n) {
        ws->GrowFailed = TRUE;
        return FALSE;
    }
    if (ws->List) {
        memcpy(n, ws->List, ws->Count * sizeof(PVOID));
        ExFreePoolWithTag(ws->List, TAG_WSL);
    }
    ws->List = n;
    ws->Capacity = cap;
    return TRUE;
}

void MiInsertWsle(PMMSUPPORT ws, PVOID va)
{
    assert_list_lock(ws);
    if (ws->Count == ws->Capacity && !grow(ws))
        return;   /* untracked: the page just cannot be trimmed */
    set_index(va, ws->Count);
    ws->List[ws->Count++] = PAGE_ALIGN(va);
    if (ws->Count > ws->Peak)
        ws->Peak = ws->Count;
    ws->Counters.WorkingSetSize = ws->Count;
    ws->Counters.PeakWorkingSetSize = ws->Peak;
}

void MiDeleteWorkingSetList(PMMSUPPORT ws)
{
    ASSERT(!is_system(ws));
    if (ws->List)
        ExFreePoolWithTag(ws->List, TAG_WSL);
    ws->List = NULL;
    ws->Count = ws->Capacity = 0;
}

/* Take entry I out of the list: the last entry moves into its place, and
 * its frame learns its new index unless the caller empties the list anyway
 * (a trim of everything: the moved entry goes in the same call). */
static void remove_index(PMMSUPPORT ws, ULONG i, BOOLEAN reindex)
{
    ws->GrowFailed = FALSE;
    ws->List[i] = ws->List[--ws->Count];
    if (reindex && i < ws->Count)
        set_index(ws->List[i], i);
    ws->Counters.WorkingSetSize = ws->Count;
}

void MiRemoveWsle(PMMSUPPORT ws, PVOID va)
{
    assert_list_lock(ws);
    PMMPFN e = indexed_frame_of(va);
    if (e && e->Flink < ws->Count && ws->List[e->Flink] == va) {
        remove_index(ws, (ULONG)e->Flink, TRUE);
        e->Flink = MI_PFN_LIST_END;
        return;
    }
    for (ULONG i = 0; i < ws->Count; i++) {   /* an image page (or a frame replaced by copy-on-write) */
        if (ws->List[i] == va) {
            remove_index(ws, i, TRUE);
            return;
        }
    }
}

/* Inlined into the trim loop, which runs it for every page. */
static inline void eliminate(PMMSUPPORT ws, PVOID va)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPTE pte = MiGetPteAddress(va);
    ULONG64 v = pte->u.Long;
    PFN_NUMBER pfn = MI_PTE_PFN(v);
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    if (e->PrototypePte) {
        /* A shared image page: this PTE points at the image's prototype PTE
         * again; only the last share puts the prototype in transition and
         * the frame on the standby list (mm/image.c). */
        MiWritePteAndFlush(pte, MiMakePrototypeFormatPte(e->PteAddress, MiPteProtection(v)));
        MiDecrementShareCount(pfn);
        return;
    }
    /* The PTE keeps the frame and the protection (paged pool is always
     * MM_READWRITE, what its valid PTE says). The D bit the CPU kept says
     * whether the page changed since the frame was known clean. A frame
     * that holds the only copy of its page (paged pool, private pages) is
     * Modified from birth, so it goes to the modified list and waits there
     * for the modified page writer (mm/mpw.c) or a touch (or stays active
     * while an MDL holds it); only a frame whose contents are in a pagefile
     * slot (OriginalPte, set by the writer) reaches the standby list. A
     * frame the writer is writing keeps that slot here: the write's
     * completion decides about it. */
    MMPTE t = { .u.Long = 0 };
    t.u.Trans.Transition = 1;
    t.u.Trans.Protection = is_system(ws) ? MM_READWRITE : MiPteProtection(v);   /* paged pool: always */
    t.u.Trans.PageFrameNumber = pfn;
    if (v & MI_PTE_DIRTY)
        e->Modified = 1;
    MiWritePteAndFlush(pte, t.u.Long);
    e->ShareCount--;
    MiDecrementReferenceCount(pfn);
}

void MiEliminateWorkingSetEntry(PMMSUPPORT ws, PVOID va)
{
    eliminate(ws, va);
}

ULONG MiTrimWorkingSet(PMMSUPPORT ws, ULONG count, MI_TRIM_ORDER order)
{
    /* The system list is the PFN lock's: held over the whole trim. A
     * process list is its address-space lock's (the caller's); the PFN lock
     * is then taken page by page, so a long trim does not keep the CPU at
     * DISPATCH_LEVEL. */
    BOOLEAN system = is_system(ws);
    KIRQL old = system ? MiAcquirePfnLock() : PASSIVE_LEVEL;
    BOOLEAN all = count == 0 || count >= ws->Count;   /* nobody looks entries up meanwhile: both locks held */
    ULONG trimmed = 0;
    while (ws->Count && (count == 0 || trimmed < count)) {
        ULONG i;
        if (order == MiTrimAtNextSlot) {
            /* A clock hand over the list, without access-bit aging yet: the
             * simple version of what NT's working-set manager does. The
             * last entry fills the hole, and the hand moves past it. */
            if (ws->NextSlot >= ws->Count)
                ws->NextSlot = 0;
            i = ws->NextSlot++;
        } else {
            i = order == MiTrimFirstEntry ? 0 : ws->Count - 1;
        }
        PVOID va = ws->List[i];
        if (!system)
            old = MiAcquirePfnLock();
        remove_index(ws, i, !all);
        eliminate(ws, va);
        if (!system)
            MiReleasePfnLock(old);
        trimmed++;
    }
    if (system)
        MiReleasePfnLock(old);
    return trimmed;
}

NTSTATUS MiResolveTransitionFault(PVOID va, PMMPTE pte, PEPROCESS process, ULONG64 error)
{
    KI_ASSERT_IRQL_LE(APC_LEVEL);   /* MmAccessFault stops a fault at DISPATCH_LEVEL before it gets here */
    PVOID page = PAGE_ALIGN(va);
    ULONG64 bits = MI_PTE_VALID | MI_PROT_KERNEL_RW;   /* paged pool */
    if (process) {
        /* A process page keeps its protection in the transition PTE
         * (NtProtectVirtualMemory may have changed it meanwhile). */
        ULONG mm = pte->u.Trans.Protection;
        if ((mm & MM_GUARD_PAGE) == MM_GUARD_PAGE && (mm & 0x18) != MM_WRITECOMBINE) {
            /* A guard page fires once, then is an ordinary page (NT). */
            pte->u.Trans.Protection = mm & ~MM_GUARD_PAGE;
            return STATUS_GUARD_PAGE_VIOLATION;
        }
        if (!MiProtectionAllows(mm, error))
            return STATUS_ACCESS_VIOLATION;
        bits = MiUserPteFlags(mm);
    }
    KIRQL old = MiAcquirePfnLock();
    /* Read under the lock: another thread may have faulted a paged-pool
     * page back in (and counted its reference) since the caller's read. A
     * process PTE cannot change meanwhile: its address-space lock is held. */
    MMPTE v = *pte;
    if (v.u.Hard.Valid || !v.u.Trans.Transition) {
        MiReleasePfnLock(old);
        return v.u.Hard.Valid ? STATUS_SUCCESS : STATUS_ACCESS_VIOLATION;
    }
    PFN_NUMBER pfn = v.u.Trans.PageFrameNumber;
    if (MI_PFN_ELEMENT(pfn)->ReadInProgress)
        return MiWaitForInPage(pfn, old);   /* a collided fault: another fault is reading it in (mm/pagefault.c) */
    MiMakeTransitionPageActive(pfn);
    MiWritePteAndFlush(pte, (pfn << PAGE_SHIFT) | bits);
    if (!process) {
        MiInsertWsle(&MmSystemCacheWs, page);   /* the system list changes with the PTE, under the PFN lock */
        MiReleasePfnLock(old);
        return STATUS_SUCCESS;
    }
    MiReleasePfnLock(old);
    MiInsertWsle(&process->Vm, page);   /* may grow the list from pool: outside the PFN lock */
    MiCountFault(process, MiFaultSoft);
    return STATUS_SUCCESS;
}
