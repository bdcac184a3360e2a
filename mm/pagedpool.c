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

/* Trimming and the soft fault are the working-set mechanism's, the same
 * for the system working set as for a process's (mm/wslist.c): the page's
 * PTE goes to transition, its frame to the modified list, and a touch
 * below DISPATCH_LEVEL makes it valid again (MmAccessFault ->
 * MiResolveTransitionFault). */
ULONG MmTrimSystemWorkingSet(ULONG count)
{
    return MiTrimWorkingSet(&MmSystemCacheWs, count, MiTrimAtNextSlot);
}

/* Free one paged-pool page, wherever it is now. Decided under the PFN
 * lock: a trim in between could otherwise take a page found valid out
 * before it is unmapped. */
void MiDeletePagedPoolPage(PVOID va)
{
    PMMPTE pte = MiGetPteAddress(va);
    KIRQL old = MiAcquirePfnLock();
    if (pte->u.Hard.Valid) {
        MiRemoveWsle(&MmSystemCacheWs, va);
        MiFreePfnLocked(MiUnmapPage(va));
        MiReleasePfnLock(old);
        return;
    }
    PFN_NUMBER pfn = pte->u.Trans.PageFrameNumber;
    MiWritePteAndFlush(pte, 0);
    MI_PFN_ELEMENT(MiGetPteFrame(pte))->ShareCount--;   /* the page table's entry count */
    MiDeleteTransitionPage(pfn);
    MiReleasePfnLock(old);
}
