/* Frames held by tests: mm/tests/frames_test_util.h. */
#include "mm/tests/frames_test_util.h"

PFN_NUMBER MtHoldFrame(MT_HELD_FRAMES *h)
{
    PFN_NUMBER pfn = MiAllocatePfn(MiUsageTest, FALSE);
    if (!pfn)
        return 0;
    MI_PFN_ELEMENT(pfn)->OriginalPte.u.Long = h->Head;
    h->Head = pfn;
    h->Count++;
    return pfn;
}

void MtHoldFramesWhileAvailable(MT_HELD_FRAMES *h, PFN_NUMBER at_least)
{
    while (MmAvailablePages >= at_least && MtHoldFrame(h))
        ;
}

BOOLEAN MtReleaseFrame(MT_HELD_FRAMES *h)
{
    PFN_NUMBER pfn = h->Head;
    if (!pfn)
        return FALSE;
    h->Head = MI_PFN_ELEMENT(pfn)->OriginalPte.u.Long;
    h->Count--;
    MiFreePfn(pfn);
    return TRUE;
}

void MtReleaseFrames(MT_HELD_FRAMES *h)
{
    while (MtReleaseFrame(h))
        ;
}
