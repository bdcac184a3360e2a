/*
 * Paged pool is really pageable. Its valid pages form the system working
 * set; trimming takes a page out of it: the PTE becomes a transition PTE
 * (not present, but still naming the frame) and the frame goes to the
 * modified list (nothing else holds its contents until the pagefile
 * exists). The next touch faults, and the fault handler finds the frame
 * still on its list and makes the PTE valid again: a soft fault, no I/O.
 * Such a fault may be taken only below DISPATCH_LEVEL.
 */
#include "mm/mi.h"
#include "mm/pool.h"

/* The system working set: one entry per valid paged-pool page. */
static PVOID ws_entries[MI_PAGED_POOL_PAGES];
static ULONG ws_count, ws_hand;

/* The list is changed by the pool (mapping and freeing pages), by
 * trimming and by soft faults: always under the PFN lock, which each of
 * them holds anyway to change the frame the entry stands for, so an entry
 * and its PTE's state change together. */
void MiSystemWorkingSetInsert(PVOID va)
{
    MI_ASSERT_PFN_LOCK_HELD();
    ASSERT(ws_count < MI_PAGED_POOL_PAGES);
    ws_entries[ws_count++] = va;
}

void MiSystemWorkingSetRemove(PVOID va)
{
    MI_ASSERT_PFN_LOCK_HELD();
    for (ULONG i = 0; i < ws_count; i++) {
        if (ws_entries[i] == va) {
            ws_entries[i] = ws_entries[--ws_count];
            break;
        }
    }
}

ULONG MiSystemWorkingSetSize(void)
{
    return ws_count;
}

/* Valid -> transition. The dirty bit the CPU kept says whether the page
 * changed; with no pagefile copy it goes to the modified list either way. */
static void trim_page(PVOID va)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPTE pte = MiGetPteAddress(va);
    ULONG64 v = pte->u.Long;
    PFN_NUMBER pfn = MI_PTE_PFN(v);
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    MMPTE t = { .u.Long = 0 };
    t.u.Trans.Transition = 1;
    t.u.Trans.Protection = MM_READWRITE;
    t.u.Trans.PageFrameNumber = pfn;
    if (v & MI_PTE_DIRTY)
        e->Modified = 1;
    e->OriginalPte.u.Long = 0;   /* no backing store yet: the page's only copy is this frame */
    MiWritePteAndFlush(pte, t.u.Long);
    e->ShareCount--;
    MiDecrementReferenceCount(pfn);   /* -> modified (or standby) list, unless an MDL holds it */
}

ULONG MmTrimSystemWorkingSet(ULONG count)
{
    KIRQL old = MiAcquirePfnLock();
    ULONG trimmed = 0;
    while (ws_count && (count == 0 || trimmed < count)) {
        /* A clock hand over the list, without access-bit aging yet: the
         * simple version of what NT's working-set manager does. */
        if (ws_hand >= ws_count)
            ws_hand = 0;
        PVOID va = ws_entries[ws_hand];
        ws_entries[ws_hand] = ws_entries[--ws_count];   /* the last entry fills the hole... */
        ws_hand++;                                      /* ...and the hand moves past it */
        trim_page(va);
        trimmed++;
    }
    MiReleasePfnLock(old);
    return trimmed;
}

/* The soft fault: transition -> valid with the same frame. */
NTSTATUS MiResolvePagedPoolFault(PVOID va)
{
    KI_ASSERT_IRQL_LE(APC_LEVEL);   /* MmAccessFault stops a fault at DISPATCH_LEVEL before it gets here */
    PMMPTE pte = MiGetPteAddress(va);
    MMPTE v = *pte;
    if (v.u.Hard.Valid)
        return STATUS_SUCCESS;      /* someone else already brought it back */
    if (!v.u.Trans.Transition)
        return STATUS_ACCESS_VIOLATION;
    KIRQL old = MiAcquirePfnLock();
    /* Read again under the lock: another thread may have faulted the page
     * back in (and counted its reference) since the read above. */
    v = *pte;
    if (v.u.Hard.Valid || !v.u.Trans.Transition) {
        MiReleasePfnLock(old);
        return v.u.Hard.Valid ? STATUS_SUCCESS : STATUS_ACCESS_VIOLATION;
    }
    PFN_NUMBER pfn = v.u.Trans.PageFrameNumber;
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    if (e->PageLocation == ModifiedPageList || e->PageLocation == StandbyPageList) {
        MiUnlinkPfnFromList(pfn);
        e->PageLocation = ActiveAndValid;
        e->ReferenceCount = 1;
    } else {
        e->ReferenceCount++;        /* still held by an MDL lock: just map it again */
    }
    e->ShareCount++;
    MiWritePteAndFlush(pte, (pfn << PAGE_SHIFT) | MI_PTE_VALID | MI_PROT_KERNEL_RW);
    MiSystemWorkingSetInsert(PAGE_ALIGN(va));
    MiReleasePfnLock(old);
    return STATUS_SUCCESS;
}

/* Free one paged-pool page, wherever it is now. Decided under the PFN
 * lock: a trim in between could otherwise take a page found valid out
 * before it is unmapped. */
void MiDeletePagedPoolPage(PVOID va)
{
    PMMPTE pte = MiGetPteAddress(va);
    KIRQL old = MiAcquirePfnLock();
    if (pte->u.Hard.Valid) {
        MiSystemWorkingSetRemove(va);
        MiFreePfnLocked(MiUnmapPage(va));
        MiReleasePfnLock(old);
        return;
    }
    PFN_NUMBER pfn = pte->u.Trans.PageFrameNumber;
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    MiWritePteAndFlush(pte, 0);
    MI_PFN_ELEMENT(MI_PTE_PFN(MiGetPteAddress(pte)->u.Long))->ShareCount--;   /* the page table's entry count */
    if (e->PageLocation == ModifiedPageList || e->PageLocation == StandbyPageList) {
        MiUnlinkPfnFromList(pfn);
        MiInsertFreePage(pfn);
    } else {
        e->PteDeleted = 1;           /* locked: freed at the last unlock */
    }
    MiReleasePfnLock(old);
}
