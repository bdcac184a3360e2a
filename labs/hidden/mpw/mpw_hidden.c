/*
 * Hidden tests of the modified page writer lab (course staff's; never in a
 * student tree). Written against the course-staff API (docs/testing.md).
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

/* A process with PAGES written pages (resident, dirty), a paging file,
 * and the kernel's writer paused after it wrote out the page
 * KtAllocateUser passed its arguments in. */
static void h_pages(KT_PROCESS *p, ULONG pages, ULONG64 *va)
{
    KT_EQ(KtCreateProcess("hello", p), STATUS_SUCCESS);
    KT_EQ(KtAllocateUser(p, (SIZE_T)pages * PAGE_SIZE, PAGE_READWRITE, va), STATUS_SUCCESS);
    KtTrimProcess(p);
    KT_EQ(KtBeginPaging(), STATUS_SUCCESS);
    for (ULONG i = 0; i < pages; i++) {
        ULONG64 x = 0x4D5057ULL + i;
        KT_EQ(KtWriteUser(p, *va + (ULONG64)i * PAGE_SIZE, &x, 8), STATUS_SUCCESS);
    }
}

/* The process frees its memory while the write is out: every PTE is
 * gone, so each frame must be freed - slot and all, by the last
 * dereference (MiInsertFreePage) - not put on a list with a slot nobody
 * will ever read. Giving the slot back by hand as well is a double free
 * of the slot (PFN_LIST_CORRUPT 0x9A). */
KTEST_POINTS(mpw_hidden, complete__pages_freed_during_their_write_are_freed, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    h_pages(&p, 4, &va);
    ULONG64 slots = KtPageFileSlotsInUse();
    KT_GE(KtTrimProcess(&p), 4);
    MI_LAB_CLUSTER c;
    memset(&c, 0, sizeof(c));
    KT_EQ(MiLabTakeCluster(&c, 16), 4);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    for (ULONG i = 0; i < 4; i++) {
        KT_FRAME_PAGING g;
        KT_ASSERT(KtFramePaging(c.Pages[i], &g));
        KT_EQ(g.PteDeleted, 1);
        KT_EQ(KtPfnReferenceCount(c.Pages[i]), 1);   /* only the write holds it now */
    }
    KT_EQ(MiLabWriteCluster(&c), STATUS_SUCCESS);
    KT_EQ(MiLabCompleteCluster(&c, c.Status), 0);
    for (ULONG i = 0; i < 4; i++) {
        KT_FRAME f;
        KT_ASSERT(KtFrameInfo(c.Pages[i], &f));
        KT_ASSERT(f.List == 0 || f.List == 1);      /* zeroed or free */
        KT_EQ(f.ReferenceCount, 0);
        KT_ASSERT(!KtPageFileSlotInUse(c.File, c.FirstSlot + i));
    }
    /* (KtFreeUser itself brought back the page it passes its arguments in,
     * which had a slot: at most as many as before.) */
    KT_LE(KtPageFileSlotsInUse(), slots);
    KtDeleteProcess(&p);
    KT_ASSERT(KtEndPaging());
}

/* A page locked by an MDL is never on the modified list (its reference
 * keeps it active through a trim), so the writer cannot take a page a
 * device may be changing; the write unlock makes it modified, and then
 * it is written. */
KTEST_POINTS(mpw_hidden, take__a_locked_page_waits_for_its_unlock, 5)
{
    KT_PROCESS p;
    ULONG64 va, mod[4];
    h_pages(&p, 2, &va);
    PMDL m = IoAllocateMdl((PVOID)va, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KtAttach(&p);
    MmProbeAndLockPages(m, UserMode, IoWriteAccess);
    KtDetach(&p);
    ULONG64 locked = MmGetMdlPfnArray(m)[0];
    KT_GE(KtTrimProcess(&p), 2);
    KT_EQ(KtModifiedPages(mod, 4), 1);               /* only the unlocked page */
    KT_NE(mod[0], locked);
    MI_LAB_CLUSTER c;
    memset(&c, 0, sizeof(c));
    KT_EQ(MiLabTakeCluster(&c, 16), 1);
    KT_EQ(c.Pages[0], mod[0]);
    KT_EQ(MiLabWriteCluster(&c), STATUS_SUCCESS);
    KT_EQ(MiLabCompleteCluster(&c, c.Status), 1);
    MmUnlockPages(m);                                /* a write lock: the device changed it */
    IoFreeMdl(m);
    KT_EQ(KtModifiedPages(mod, 4), 1);
    KT_EQ(mod[0], locked);
    KT_EQ(MiLabWriteModifiedPages(), 1);
    KT_EQ(KtModifiedPages(NULL, 0), 0);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
    KT_ASSERT(KtEndPaging());
}
