/*
 * Paged pool is really pageable. Its valid pages form the system working
 * set; trimming takes a page out of it: the PTE becomes a transition PTE
 * (not present, but still naming the frame) and the frame goes to the
 * modified list. With a pagefile the modified page writer writes it out
 * and it waits on the standby list; once its frame is repurposed the PTE
 * is a pagefile PTE. A touch faults: a transition PTE is a soft fault (no
 * I/O), a pagefile PTE a hard fault that reads the page back
 * (mm/pagefault.c). Either may be taken only below DISPATCH_LEVEL.
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
    ULONG64 v = pte->u.Long;
    MiWritePteAndFlush(pte, 0);
    MI_PFN_ELEMENT(MiGetPteFrame(pte))->ShareCount--;   /* the page table's entry count */
    if (MiIsPageFilePte(v))
        MiReleasePageFileSpace(v, TRUE);   /* out in the pagefile: only the slot is left */
    else
        MiDeleteTransitionPage(((MMPTE *)&v)->u.Trans.PageFrameNumber);   /* a frame being read in too */
    MiReleasePfnLock(old);
}
