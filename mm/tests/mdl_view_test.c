/*
 * UserMode views of an MDL (MmMapLockedPagesSpecifyCache(UserMode)) and
 * the frames under them. A view's PTEs hold references of their own, so
 * whatever order a driver's unlock, unmap, MDL free and the process's end
 * come in, ring 3 never keeps a translation to a frame on a free list, and
 * each frame is released exactly once (a second release is PFN_LIST_CORRUPT).
 * Also: where a view may be placed (never in the top 64 KiB).
 *
 * The verifier stops the wrong orders (mdlverifier.*_with_a_user_view_*);
 * the tests here switch it off around the driver's mistake to show what
 * mdlos does without it.
 */
#include "io/tests/mdl_test_util.h"
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

static PUCHAR page_buffer(UCHAR fill)
{
    PUCHAR b = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, MDLT_TAG);
    KT_ASSERT(b != NULL);
    KT_EQ(BYTE_OFFSET(b), 0);
    memset(b, fill, PAGE_SIZE);
    return b;
}

static BOOLEAN on_a_free_list(PFN_NUMBER pfn)
{
    UCHAR l = MI_PFN_ELEMENT(pfn)->PageLocation;
    return l == FreePageList || l == ZeroedPageList;
}

/* The driver unlocks, frees the MDL and frees the pool page while the view
 * is still in the process: the frame must stay off every list (the view's
 * reference) and ring 3 still reaches that same frame, not a reused one;
 * the process's end then frees it, once. */
KTEST(mdlview, view_keeps_its_frame_after_unlock_free_and_pool_free)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    PUCHAR buf = page_buffer(0x33);
    PMDL m = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoWriteAccess), 0);
    PFN_NUMBER pfn = MmGetMdlPfnArray(m)[0];
    USHORT locked = MdlTestRefs(pfn);                   /* the pool's and the lock's */
    ULONG64 views = MiMdlViewFrames;

    BOOLEAN verifier = MiVerifierEnabled;
    MiVerifierEnabled = FALSE;                          /* the driver's bugs below are not stopped */
    MdlTestAttach(p);
    PVOID va = NULL;
    NTSTATUS map = MdlTestMap(m, UserMode, MmCached, NULL, NormalPagePriority, &va);
    MdlTestDetach();
    if (!NT_SUCCESS(map)) {
        MiVerifierEnabled = verifier;
        KT_EQ((ULONG)map, 0);
    }
    USHORT mapped = MdlTestRefs(pfn);
    ULONG64 views_mapped = MiMdlViewFrames;
    MmUnlockPages(m);
    IoFreeMdl(m);
    ExFreePoolWithTag(buf, MDLT_TAG);
    MiVerifierEnabled = verifier;

    PMMPFN e = MI_PFN_ELEMENT(pfn);
    USHORT refs_after = e->ReferenceCount;
    UCHAR where_after = e->PageLocation;
    UCHAR deleted_after = e->PteDeleted;
    MdlTestAttach(p);
    ULONG64 pte = MdlTestPteOf(va);
    UCHAR b = 0, w = 0x44;
    NTSTATUS rd = MdlTestReadUser(&b, (ULONG64)va + 7, 1);
    NTSTATUS wr = MdlTestWriteUser((ULONG64)va + 8, &w, 1);
    MdlTestDetach();

    NTSTATUS ended = MdlTestStopTarget(p);             /* the exit tears the view down */
    KT_EQ(where_after, ActiveAndValid);                 /* the frame ring 3 maps is on no free list ... */
    KT_EQ(refs_after, 1);                               /* ... held by the view's own reference */
    KT_EQ(mapped, locked + 1);
    KT_EQ(views_mapped, views + 1);
    KT_EQ(deleted_after, 1);                            /* its owner gave it up */
    KT_ASSERT(pte & MI_PTE_VALID);
    KT_EQ(MI_PTE_PFN(pte), pfn);                        /* ring 3 sees that frame, which nobody else has */
    KT_EQ((ULONG)rd, 0);
    KT_EQ(b, 0x33);
    KT_EQ((ULONG)wr, 0);
    KT_EQ((ULONG)ended, 0);
    KT_EQ(e->ReferenceCount, 0);                        /* released once, at the view's end */
    KT_ASSERT(on_a_free_list(pfn));
    KT_EQ(MiMdlViewFrames, views);
}

/* The process ends first, the driver unlocks after: the exit removed the
 * view (and the verifier's count of it), so the unlock is legal and the
 * frame goes back to its owner with the counts it started with. */
KTEST(mdlview, process_exit_before_the_unlock_removes_the_view)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    PUCHAR buf = page_buffer(0x55);
    PFN_NUMBER pfn = MdlTestPfnOf(buf);
    USHORT owner = MdlTestRefs(pfn);
    PMDL m = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoReadAccess), 0);
    MdlTestAttach(p);
    PVOID va = NULL;
    MT_EQ(MdlTestMap(m, UserMode, MmCached, NULL, NormalPagePriority, &va), 0);
    MdlTestDetach();
    KT_EQ(MdlTestRefs(pfn), owner + 2);                 /* the lock and the view */
    KT_EQ(MiMdlUserViews(m), MiVerifierEnabled ? 1 : 0);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
    KT_EQ(MdlTestRefs(pfn), owner + 1);                 /* the view went with the process */
    KT_EQ(MiMdlUserViews(m), 0);
    MmUnlockPages(m);                                   /* no 0xC4/0xBA: no view is left */
    KT_EQ(MdlTestRefs(pfn), owner);
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ActiveAndValid);
    IoFreeMdl(m);
    ExFreePoolWithTag(buf, MDLT_TAG);
}

/* NT keeps the top 64 KiB below MM_HIGHEST_USER_ADDRESS out of every VAD:
 * a view may end at MM_HIGHEST_VAD_ADDRESS, not one page further. */
KTEST(mdlview, user_map_stays_below_the_top_64k)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, 2 * PAGE_SIZE, MDLT_TAG);
    KT_ASSERT(buf != NULL);
    PMDL m = IoAllocateMdl(buf, 2 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmBuildMdlForNonPagedPool(m);
    ULONG64 top = (ULONG64)MM_HIGHEST_VAD_ADDRESS + 1;   /* 0x7FFFFFFE0000 */
    static const ULONG64 refused[] = {
        0x7FFFFFFE0000ULL - PAGE_SIZE,                     /* its second page is the first one kept out */
        0x7FFFFFFE0000ULL,
        0x7FFFFFFEE000ULL,                                 /* ends at MM_HIGHEST_USER_ADDRESS itself */
    };
    MdlTestAttach(p);
    PVOID va = NULL;
    for (ULONG i = 0; i < ARRAYSIZE(refused); i++) {
        MT_EQ((ULONG)MdlTestMap(m, UserMode, MmCached, (PVOID)refused[i], NormalPagePriority, &va),
              (ULONG)STATUS_INVALID_ADDRESS);
        MT_EQ(MiLocateVad(p, refused[i]), NULL);
    }
    MT_EQ(MdlTestMap(m, UserMode, MmCached, (PVOID)(top - 2 * PAGE_SIZE), NormalPagePriority, &va), 0);
    MT_EQ((ULONG64)va, top - 2 * PAGE_SIZE);             /* the highest place it fits */
    MmUnmapLockedPages(va, m);
    MdlTestDetach();
    KT_EQ(top, 0x7FFFFFFE0000ULL);
    IoFreeMdl(m);
    ExFreePoolWithTag(buf, MDLT_TAG);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
}

/* A view of a partial MDL: the source is unlocked and freed, and the pool
 * page with it, while the partial MDL's view is in the process (the verifier
 * cannot see this one: the view is the partial MDL's, the unlock the
 * source's). The view's own reference still keeps the frame off the lists. */
KTEST(mdlview, view_of_a_partial_mdl_outlives_its_source)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    PUCHAR buf = page_buffer(0x77);
    PMDL src = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    PMDL part = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(src && part);
    KT_EQ(MdlTestProbe(src, KernelMode, IoWriteAccess), 0);
    IoBuildPartialMdl(src, part, buf + 0x200, 0x100);
    PFN_NUMBER pfn = MmGetMdlPfnArray(part)[0];
    MdlTestAttach(p);
    PVOID va = NULL;
    MT_EQ(MdlTestMap(part, UserMode, MmCached, NULL, NormalPagePriority, &va), 0);
    MdlTestDetach();
    MmUnlockPages(src);
    IoFreeMdl(src);
    ExFreePoolWithTag(buf, MDLT_TAG);
    UCHAR where = MI_PFN_ELEMENT(pfn)->PageLocation;
    USHORT refs = MdlTestRefs(pfn);
    MdlTestAttach(p);
    UCHAR b = 0;
    NTSTATUS rd = MdlTestReadUser(&b, (ULONG64)va, 1);   /* va is buf + 0x200 in the view */
    MdlTestDetach();
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
    KT_EQ(where, ActiveAndValid);
    KT_EQ(refs, 1);
    KT_EQ((ULONG)rd, 0);
    KT_EQ(b, 0x77);
    KT_ASSERT(on_a_free_list(pfn));                     /* the process's end released it */
    IoFreeMdl(part);                                    /* its view is gone: no 0xC4/0xBA */
}
