/* What the pagefile tests share: mm/tests/pagefile_test_util.h. */
#include "mm/tests/pagefile_test_util.h"

static BOOLEAN made_here;

/* A paging file for the test: the boot's, or one made now. */
void PtBegin(void)
{
    made_here = FALSE;
    if (MmNumberOfPagingFiles)
        return;
    ULONG64 limit = MiCommitLimit();
    KT_EQ(MiCreatePagingFile("\\Device\\Harddisk1\\DR0", 0, 0), STATUS_SUCCESS);
    made_here = TRUE;
    /* The limit grew by the file's slots (nothing else moved meanwhile
     * but a frame or two of pool for the file's own bitmap). */
    KT_GE(MiCommitLimit() + 8, limit + MiPageFileTotalSlots);
}

void PtEnd(void)
{
    MiWaitForPagingIdle();
    if (made_here)
        KT_EQ(MiDeletePagingFile(), STATUS_SUCCESS);
    made_here = FALSE;
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
}

void PtFill(PULONG64 p, SIZE_T bytes, ULONG64 seed)
{
    for (SIZE_T i = 0; i < bytes / 8; i++)
        p[i] = seed ^ (i * 0x9E3779B97F4A7C15ULL);
}

BOOLEAN PtSame(const ULONG64 *p, SIZE_T bytes, ULONG64 seed)
{
    for (SIZE_T i = 0; i < bytes / 8; i++)
        if (p[i] != (seed ^ (i * 0x9E3779B97F4A7C15ULL)))
            return FALSE;
    return TRUE;
}

ULONG64 PtPte(PVOID va)
{
    return MiGetPteAddress(va)->u.Long;
}

/* Trim paged pool, write what is modified, and purge the standby list:
 * every trimmed paged-pool page is then out, only in its slot. */
void PtPageOutPagedPool(void)
{
    MmTrimSystemWorkingSet(0);
    MiFlushModifiedPages();
    MiWaitForPagingIdle();
    MiPurgeStandbyList();
}

void PtSetHint(ULONG64 slot)
{
    KIRQL old = MiAcquirePfnLock();
    MmPagingFile[0]->Hint = slot;
    MiReleasePfnLock(old);
}
