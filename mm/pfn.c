/*
 * The PFN database: one MMPFN per physical frame of RAM, at
 * MI_PFN_DATABASE + PFN * sizeof(MMPFN), mapped only over RAM ranges.
 *
 * Every frame is either on exactly one list (zeroed, free, standby,
 * modified, bad) or in use (ActiveAndValid / TransitionPage, on no list).
 * ReferenceCount says why a frame cannot be reused (1 for being mapped or
 * owned, +1 for each MDL lock or I/O); ShareCount counts the valid PTEs
 * that map it. A frame returns to a list only when its reference count
 * reaches zero - this is what lets a driver's MDL keep a page alive after
 * its owner has let it go.
 */
#include "mm/mi.h"
#include "kernel/hal/x86.h"

PMMPFN MmPfnDatabase = (PMMPFN)MI_PFN_DATABASE;
KSPIN_LOCK MmPfnLock;   /* mm/mi.h says what it guards */
PFN_NUMBER MiUsageCount[MiUsageMax];   /* frames off the free lists, by owner */
PFN_NUMBER MmNumberOfPhysicalPages;
PFN_NUMBER MmAvailablePages;
volatile ULONG64 MiStandbyUserPages;   /* mm/mi.h */

MMPFNLIST MmZeroedPageListHead = { 0, ZeroedPageList, MI_PFN_LIST_END, MI_PFN_LIST_END };
MMPFNLIST MmFreePageListHead = { 0, FreePageList, MI_PFN_LIST_END, MI_PFN_LIST_END };
MMPFNLIST MmStandbyPageListHead = { 0, StandbyPageList, MI_PFN_LIST_END, MI_PFN_LIST_END };
MMPFNLIST MmModifiedPageListHead = { 0, ModifiedPageList, MI_PFN_LIST_END, MI_PFN_LIST_END };
MMPFNLIST MmBadPageListHead = { 0, BadPageList, MI_PFN_LIST_END, MI_PFN_LIST_END };
PMMPFNLIST MmPageLocationList[6] = {
    &MmZeroedPageListHead, &MmFreePageListHead, &MmStandbyPageListHead,
    &MmModifiedPageListHead, NULL, &MmBadPageListHead,
};

static const char *const usage_names[MiUsageMax] = {
    "free", "kernel image", "page table", "PFN database", "nonpaged pool", "paged pool",
    "kernel stack", "boot module", "driver", "test", "user", "image",
};
static const char *const list_names[8] = {
    "Zeroed", "Free", "Standby", "Modified", "ModifiedNoWrite", "Bad", "Active", "Transition",
};

const char *MiUsageName(UCHAR usage) { return usage < MiUsageMax ? usage_names[usage] : "?"; }
const char *MiListName(UCHAR location) { return location < 8 ? list_names[location] : "?"; }

__attribute__((noreturn)) static void pfn_corrupt(ULONG_PTR p1, PFN_NUMBER pfn, ULONG_PTR p3, const char *why)
{
    KeBugCheckRule(PFN_LIST_CORRUPT, p1, pfn, p3, 0, "%s (frame %#llx)", why, (unsigned long long)pfn);
}

static void update_available(void)
{
    MI_ASSERT_PFN_LOCK_HELD();
    MmAvailablePages = MmZeroedPageListHead.Total + MmFreePageListHead.Total + MmStandbyPageListHead.Total;
}

void MiInsertPageInList(PMMPFNLIST list, PFN_NUMBER pfn)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    if (list->ListName <= FreePageList) {
        /* LIFO for the zeroed and free lists: the frame freed last is the
         * one most likely still in the caches (and, under TCG, already
         * backed by host memory), so it is given out first; the cold end
         * is where the zero-page thread works (mm/zeropage.c). */
        e->Blink = MI_PFN_LIST_END;
        e->Flink = list->Flink;
        if (list->Flink == MI_PFN_LIST_END)
            list->Blink = pfn;
        else
            MI_PFN_ELEMENT(list->Flink)->Blink = pfn;
        list->Flink = pfn;
        list->Total++;
        e->PageLocation = list->ListName;
        update_available();
        return;
    }
    /* FIFO: new frames at the tail, taken from the head, so the standby
     * and modified lists age in order. */
    e->Flink = MI_PFN_LIST_END;
    e->Blink = list->Blink;
    if (list->Blink == MI_PFN_LIST_END)
        list->Flink = pfn;
    else
        MI_PFN_ELEMENT(list->Blink)->Flink = pfn;
    list->Blink = pfn;
    list->Total++;
    e->PageLocation = list->ListName;
    if (list->ListName == StandbyPageList && e->Usage == MiUsageUser)
        MiStandbyUserPages++;
    update_available();
}

void MiUnlinkPfnFromList(PFN_NUMBER pfn)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    if (e->PageLocation > BadPageList || !MmPageLocationList[e->PageLocation])
        pfn_corrupt(0x02, pfn, e->PageLocation, "a frame that is on no list was unlinked from one");
    PMMPFNLIST list = MmPageLocationList[e->PageLocation];
    /* Both neighbours must point back at us, or the list is damaged. */
    if ((e->Flink != MI_PFN_LIST_END && MI_PFN_ELEMENT(e->Flink)->Blink != pfn) ||
        (e->Blink != MI_PFN_LIST_END && MI_PFN_ELEMENT(e->Blink)->Flink != pfn) ||
        (e->Flink == MI_PFN_LIST_END && list->Blink != pfn) || (e->Blink == MI_PFN_LIST_END && list->Flink != pfn))
        pfn_corrupt(0x01, pfn, e->Flink, "a page list's links do not agree");
    if (e->Flink == MI_PFN_LIST_END)
        list->Blink = e->Blink;
    else
        MI_PFN_ELEMENT(e->Flink)->Blink = e->Blink;
    if (e->Blink == MI_PFN_LIST_END)
        list->Flink = e->Flink;
    else
        MI_PFN_ELEMENT(e->Blink)->Flink = e->Flink;
    list->Total--;
    e->Flink = e->Blink = MI_PFN_LIST_END;
    if (list->ListName == StandbyPageList && e->Usage == MiUsageUser)
        MiStandbyUserPages--;
    update_available();
}

/* What a private frame's transition PTE V becomes when the frame is taken
 * away: its pagefile PTE (OriginalPte: file and slot, written by the
 * modified page writer) with the protection the transition PTE has now
 * (NtProtectVirtualMemory may have changed it since the write). A private
 * frame reaches the standby list only with a slot (mm/mpw.c): anything
 * else would turn the page into zeros, so it is a corrupt database. */
static ULONG64 private_backing_pte(PMMPFN e, PFN_NUMBER pfn, ULONG64 v)
{
    if (!MiIsPageFilePte(e->OriginalPte.u.Long) || !(v & MI_PTE_TRANSITION) || (v & MI_PTE_VALID) ||
        MI_PTE_PFN(v) != pfn)
        pfn_corrupt(0x99, pfn, e->OriginalPte.u.Long,
                    "a standby private frame has no pagefile slot, or its PTE is not in transition to it");
    MMPTE out = e->OriginalPte;
    out.u.Soft.Protection = ((MMPTE *)&v)->u.Trans.Protection;
    return out.u.Long;
}

/* Take a standby frame away from the PTE that still refers to it: the PTE
 * goes back to what it was before (OriginalPte), so a later touch finds the
 * data in backing store instead: the image file for a shared image frame,
 * the pagefile slot for a private or paged-pool frame (a hard fault). No
 * TLB flush: the PTE was not valid before and is not after. */
static void repurpose_standby(PFN_NUMBER pfn)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    if (!e->PteAddress)
        return;
    if (e->PrototypePte) {
        /* A shared image frame: no process PTE names it (they point at the
         * prototype, or are 0), so only the prototype PTE changes, back to
         * "in the image file"; every process re-reads it at its next fault. */
        PMMPTE proto = e->PteAddress;
        if (!(proto->u.Long & MI_PTE_TRANSITION) || (proto->u.Long & MI_PTE_VALID) ||
            proto->u.Trans.PageFrameNumber != pfn)
            pfn_corrupt(0x99, pfn, (ULONG_PTR)proto, "a standby image frame's prototype PTE is not in transition to it");
        proto->u.Long = e->OriginalPte.u.Long;
        return;
    }
    if ((ULONG64)e->PteAddress >= (ULONG64)MiGetPteAddress((void *)0xFFFF800000000000ULL)) {
        /* A kernel PTE (paged pool): the same in every address space. */
        if (MiIsPteAccessible(MiGetVirtualAddressMappedByPte(e->PteAddress)))
            e->PteAddress->u.Long = private_backing_pte(e, pfn, e->PteAddress->u.Long);
        e->OriginalPte.u.Long = 0;   /* the slot now belongs to the PTE */
        return;
    }
    /* A user PTE's self-map address names a PTE in *some* process: reach
     * the right one through the page table frame that holds it. */
    KIRQL old;
    PMMPTE table = MiMapPageInHyperspace(e->PteFrame, &old);
    PMMPTE pte = &table[((ULONG64)e->PteAddress & (PAGE_SIZE - 1)) / sizeof(MMPTE)];
    pte->u.Long = private_backing_pte(e, pfn, pte->u.Long);
    MiUnmapPageInHyperspace(table, old);
    e->OriginalPte.u.Long = 0;
}

/* NT's MemoryPurgeStandbyList (NtSetSystemInformation SystemMemoryListInformation):
 * every standby frame is repurposed at once - its PTE goes back to the
 * pagefile or the image file - and freed. For tests and the shell: the next
 * touch of each of those pages is a hard fault (or an image fault). */
ULONG64 MiPurgeStandbyList(void)
{
    ULONG64 n = 0;
    KIRQL old = MiAcquirePfnLock();
    while (MmStandbyPageListHead.Flink != MI_PFN_LIST_END) {
        PFN_NUMBER pfn = MmStandbyPageListHead.Flink;
        repurpose_standby(pfn);
        MiUnlinkPfnFromList(pfn);
        PMMPFN e = MI_PFN_ELEMENT(pfn);
        e->PteDeleted = 1;
        e->PrototypePte = 0;
        MiInsertFreePage(pfn);
        n++;
    }
    MiReleasePfnLock(old);
    return n;
}

/* A frame just taken off a list becomes in use, by USAGE, with one reference. */
static void take_frame(PFN_NUMBER pfn, MI_PFN_USAGE usage, BOOLEAN zero, BOOLEAN was_zero)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    if (e->ReferenceCount || e->ShareCount)
        pfn_corrupt(0x99, pfn, e->ReferenceCount, "a frame on a free list still had references");
    if (e->Usage != MiUsageFree)
        MiUsageCount[e->Usage]--;   /* a repurposed standby frame changes owner */
    memset(e, 0, sizeof(*e));
    e->Flink = e->Blink = MI_PFN_LIST_END;
    e->PageLocation = ActiveAndValid;
    e->ReferenceCount = 1;
    e->Usage = usage;
    MiUsageCount[usage]++;
    if (zero && !was_zero)
        MiZeroPhysicalPage(pfn);
}

/* Who may have a frame when (the commit rules, mm/commit.c):
 *  - charged users (private and image pages, page tables) were promised
 *    their frame when they committed, so they are never refused: when
 *    there is none right now they wait for one (below DISPATCH_LEVEL);
 *  - uncharged users (pools, kernel stacks, driver pages) get a frame only
 *    if that leaves enough for every promise; otherwise they fail and
 *    their caller returns a status;
 *  - tests take frames as they are (they exhaust memory on purpose). */
typedef enum { ALLOC_CHARGED, ALLOC_UNCHARGED, ALLOC_RAW } ALLOC_CLASS;

/* May the current allocation take one of the last MiMinimumAvailablePages?
 * Only with no pagefile (nothing can free memory then anyway: the old
 * rules apply unchanged) or for a memory maker: the threads that write
 * modified pages out and read pages in need a few frames (pool for the
 * IRP, the driver's request, the scatter/gather list) to give many back. */
static BOOLEAN may_take_last_frames(ALLOC_CLASS c)
{
    if (c == ALLOC_RAW || !MmNumberOfPagingFiles || MmAvailablePages > MiMinimumAvailablePages)
        return TRUE;
    PKTHREAD t = KiSchedulerReady ? KeGetCurrentThread() : NULL;
    return t && t->MemoryMaker > 0;
}

static ALLOC_CLASS alloc_class(MI_PFN_USAGE usage)
{
    switch (usage) {
    case MiUsageUser:
    case MiUsageImage:
    case MiUsagePageTable: return ALLOC_CHARGED;
    case MiUsageTest: return ALLOC_RAW;
    default: return ALLOC_UNCHARGED;
    }
}

/* The first frame in [LOW, HIGH] on the free or zeroed list, or 0. For
 * callers with a physical window (DMA limits, MmAllocatePagesForMdlEx). */
PFN_NUMBER MiAllocatePfnInRange(MI_PFN_USAGE usage, BOOLEAN zero, PFN_NUMBER low, PFN_NUMBER high)
{
    KI_ASSERT_DISPATCHER_LOCK_NOT_HELD("allocating a frame may signal the working-set manager");
    KIRQL old = MiAcquirePfnLock();
    PFN_NUMBER found = MI_PFN_LIST_END;
    PMMPFNLIST lists[2] = { zero ? &MmZeroedPageListHead : &MmFreePageListHead,
                            zero ? &MmFreePageListHead : &MmZeroedPageListHead };
    if (alloc_class(usage) != ALLOC_UNCHARGED || MiUnchargedFrameAllowed())
        for (int l = 0; l < 2 && found == MI_PFN_LIST_END; l++)
            for (PFN_NUMBER pfn = lists[l]->Flink; pfn != MI_PFN_LIST_END; pfn = MI_PFN_ELEMENT(pfn)->Flink)
                if (pfn >= low && pfn <= high) {
                    found = pfn;
                    break;
                }
    if (found == MI_PFN_LIST_END) {
        MiReleasePfnLock(old);
        return 0;
    }
    BOOLEAN was_zero = MI_PFN_ELEMENT(found)->PageLocation == ZeroedPageList;
    MiUnlinkPfnFromList(found);
    take_frame(found, usage, zero, was_zero);
    MiReleasePfnLock(old);
    MiSignalLowMemory();
    return found;
}

/* Is PFN a frame nobody owns, on list LOCATION (the free or the zeroed
 * list)? Usage too: a frame on the kernel's free lists has no owner, while
 * a test's frames on a lab's lists (docs/labs/pfn.md) say Free as their
 * location but are the test's. */
static BOOLEAN frame_is_on(PFN_NUMBER pfn, UCHAR location)
{
    if (pfn < MmLowestPhysicalPage || pfn > MmHighestPhysicalPage || !MiIsPfnRam(pfn))
        return FALSE;
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    return e->Usage == MiUsageFree && e->PageLocation == location;
}

/* COUNT physically consecutive frames inside [LOW, HIGH], none of them
 * straddling a multiple of BOUNDARY pages (0: no boundary): the first
 * PFN, or 0. For devices that need one block of bus addresses (a DMA
 * ring, AllocateCommonBuffer). The scan goes down from HIGH, as NT's
 * MiFindContiguousPages prefers the top of the window and so leaves the
 * lowest frames to devices that can reach nothing else. It looks at every
 * frame of the window under the PFN lock: for setting devices up, not
 * for every request. */
PFN_NUMBER MiAllocateContiguousPfns(MI_PFN_USAGE usage, BOOLEAN zero, PFN_NUMBER count, PFN_NUMBER low,
                                    PFN_NUMBER high, PFN_NUMBER boundary)
{
    KI_ASSERT_DISPATCHER_LOCK_NOT_HELD("allocating a frame may signal the working-set manager");
    if (count == 0)
        return 0;
    if (low < MmLowestPhysicalPage)
        low = MmLowestPhysicalPage;
    if (high > MmHighestPhysicalPage)
        high = MmHighestPhysicalPage;
    KIRQL old = MiAcquirePfnLock();
    PFN_NUMBER found = 0, run = 0;
    if (alloc_class(usage) != ALLOC_UNCHARGED || MiUnchargedFrameAllowed()) {
        for (PFN_NUMBER pfn = high; pfn >= low && pfn != 0; pfn--) {
            BOOLEAN free = frame_is_on(pfn, FreePageList) || frame_is_on(pfn, ZeroedPageList);
            run = free ? run + 1 : 0;
            if (run >= count && (!boundary || pfn / boundary == (pfn + count - 1) / boundary)) {
                found = pfn;
                break;
            }
        }
    }
    for (PFN_NUMBER i = 0; found && i < count; i++) {
        BOOLEAN was_zero = MI_PFN_ELEMENT(found + i)->PageLocation == ZeroedPageList;
        MiUnlinkPfnFromList(found + i);
        take_frame(found + i, usage, zero, was_zero);
    }
    MiReleasePfnLock(old);
    if (found)
        MiSignalLowMemory();
    return found;
}

static PFN_NUMBER try_allocate(MI_PFN_USAGE usage, BOOLEAN zero, ALLOC_CLASS cls)
{
    /* The low-memory signal below takes the dispatcher lock. */
    KI_ASSERT_DISPATCHER_LOCK_NOT_HELD("allocating a frame may signal the working-set manager");
    KIRQL old = MiAcquirePfnLock();   /* at DISPATCH_LEVEL, as on NT */
    PFN_NUMBER pfn = MI_PFN_LIST_END;
    BOOLEAN is_zero = FALSE;
    /* A memory maker's pool (its IRP, the driver's request) is not refused
     * for the commit headroom either: it is given back within the write. */
    BOOLEAN maker = MmNumberOfPagingFiles && KiSchedulerReady && KeGetCurrentThread() &&
                    KeGetCurrentThread()->MemoryMaker > 0;
    if (cls == ALLOC_UNCHARGED && !maker && !MiUnchargedFrameAllowed()) {
        /* the frames left are promised to committed memory */
    } else if (!may_take_last_frames(cls)) {
        /* the last frames are the memory makers' (the pagefile writer's, the in-page reads') */
    } else if (zero && MmZeroedPageListHead.Total) {
        pfn = MmZeroedPageListHead.Flink;
        is_zero = TRUE;
    } else if (MmFreePageListHead.Total) {
        pfn = MmFreePageListHead.Flink;
    } else if (MmZeroedPageListHead.Total) {
        pfn = MmZeroedPageListHead.Flink;
        is_zero = TRUE;
    } else if (MmStandbyPageListHead.Total) {
        pfn = MmStandbyPageListHead.Flink;
        repurpose_standby(pfn);
    }
    if (pfn == MI_PFN_LIST_END) {
        MiReleasePfnLock(old);
        return 0;
    }
    MiUnlinkPfnFromList(pfn);
    take_frame(pfn, usage, zero, is_zero);
    MiReleasePfnLock(old);
    MiSignalLowMemory();   /* wake the working-set manager when memory runs short */
    MiSignalZeroPageThread();   /* and the zero-page thread when the zeroed list runs low */
    return pfn;
}

/* How far back a fault with no neighbour to follow looks for the start of
 * the free run it lands in: a 256 KiB run, a bounded walk of PFN entries. */
#define MI_RUN_LOOKBACK 63

ULONG64 MiContiguousFollows;   /* demand-zero frames that continued their neighbour's (under the PFN lock) */

/* A zeroed frame for a charged user under the PFN lock the caller already
 * holds (a demand-zero fault takes it once to allocate and map): from the
 * zeroed list, or a free frame zeroed here; 0 when neither list has one,
 * and the caller falls back to MiAllocatePfn, which may wait. The caller
 * calls MiSignalLowMemory and MiSignalZeroPageThread after releasing the
 * lock (nothing is signalled inside it).
 *
 * Which frame: FOLLOW is the frame of the virtual page before the one
 * being filled (0: none). If FOLLOW + 1 is free it is taken - unlinked
 * from the middle of its doubly linked list in O(1) - so a buffer touched
 * in order gets physically contiguous frames, and a DMA of it needs one
 * scatter/gather element (one virtio descriptor, one mapping in the
 * device model) per run instead of one per page. Only a frame that costs
 * no extra zeroing is followed: a zeroed one, or a free one when the
 * zeroed list is empty anyway. Failing that, the head of the list - but
 * the lowest frame of the free run below it (at most MI_RUN_LOOKBACK
 * back), so that the pages after this one find their successors free:
 * both lists are LIFO and, as the zero-page thread fills the zeroed list,
 * run downwards (each frame is the one below the last), the wrong way for
 * an ascending buffer.
 *
 * NT does something else here: page colouring. MiRemoveAnyPage takes the
 * frame from the free list of the page's colour (its slot in a physically
 * indexed cache), so consecutive virtual pages spread over the cache. For
 * this kernel contiguity is the better choice: consecutive frames have
 * consecutive colours, so it gives colouring's spread too; what it adds
 * is what a teaching kernel about DMA should show - the device sees few,
 * long segments (what Linux's buddy allocator hands an O_DIRECT buffer),
 * and the cost of a transfer follows its runs, not its pages. It is only a
 * preference: any frame is correct, and a fragmented free list just gives
 * shorter runs. */
PFN_NUMBER MiAllocateZeroedPfnLocked(MI_PFN_USAGE usage, PFN_NUMBER follow)
{
    MI_ASSERT_PFN_LOCK_HELD();
    ASSERT(alloc_class(usage) == ALLOC_CHARGED);   /* never refused: no commit check needed */
    /* The last frames stay the memory makers' here too (the pagefile
     * writer's IRP and SG list); the caller's MiAllocatePfn fallback waits. */
    if (!may_take_last_frames(ALLOC_CHARGED))
        return 0;
    PFN_NUMBER pfn;
    BOOLEAN is_zero = MmZeroedPageListHead.Total != 0;
    UCHAR location = is_zero ? ZeroedPageList : FreePageList;
    if (is_zero)
        pfn = MmZeroedPageListHead.Flink;
    else if (MmFreePageListHead.Total)
        pfn = MmFreePageListHead.Flink;
    else
        return 0;
    if (follow && frame_is_on(follow + 1, location)) {
        pfn = follow + 1;
        MiContiguousFollows++;
    } else {
        for (ULONG i = 0; i < MI_RUN_LOOKBACK && frame_is_on(pfn - 1, location); i++)
            pfn--;
    }
    MiUnlinkPfnFromList(pfn);
    take_frame(pfn, usage, TRUE, is_zero);
    return pfn;
}

static PFN_NUMBER wait_for_frame(MI_PFN_USAGE usage, BOOLEAN zero, ALLOC_CLASS cls);

/* How long a charged allocation waits for a frame before the kernel calls
 * it what it is: an accounting bug (every promise is covered by a frame
 * that can be made available, so one must come). */
ULONG MiFrameWaitLimitMs = 5000;
volatile ULONG64 MiFrameWaits;   /* how often a charged allocation had to wait */

PFN_NUMBER MiAllocatePfn(MI_PFN_USAGE usage, BOOLEAN zero)
{
    ALLOC_CLASS cls = alloc_class(usage);
    PFN_NUMBER pfn = try_allocate(usage, zero, cls);
    if (pfn || cls != ALLOC_CHARGED || KeGetCurrentIrql() >= DISPATCH_LEVEL)
        return pfn;
    return wait_for_frame(usage, zero, cls);
}

/* A page-in's frame. A paged-pool page coming back is uncharged, but its
 * slot is given back as it comes in, so it takes nothing from the commit
 * headroom (mm/commit.c): it waits like a charged frame, since a fault
 * has nobody to refuse. */
PFN_NUMBER MiAllocatePfnForPageIn(MI_PFN_USAGE usage)
{
    PFN_NUMBER pfn = try_allocate(usage, FALSE, ALLOC_CHARGED);
    return pfn ? pfn : wait_for_frame(usage, FALSE, ALLOC_CHARGED);
}

PFN_NUMBER MiAllocatePfnNoWait(MI_PFN_USAGE usage)
{
    return try_allocate(usage, FALSE, ALLOC_CHARGED);
}

static PFN_NUMBER wait_for_frame(MI_PFN_USAGE usage, BOOLEAN zero, ALLOC_CLASS cls)
{
    PFN_NUMBER pfn;
    /* A fault on committed memory never fails for want of a frame (NT's
     * MiEnsureAvailablePageOrWait): wait while others give frames back and
     * the working-set manager and the modified page writer run. The limit
     * counts only time in which the writer made no progress: paging to a
     * slow disk may take long, but never forever. */
    MiFrameWaits++;
    ULONG64 progress = MiMpwPagesWritten + MiInPageReads;
    for (ULONG waited = 0; waited < MiFrameWaitLimitMs; waited += 10) {
        MiSignalLowMemory();
        MiWakeModifiedPageWriter();
        LARGE_INTEGER ten = { -KI_MS(10) };
        KeDelayExecutionThread(KernelMode, FALSE, &ten);
        if ((pfn = try_allocate(usage, zero, cls)) != 0)
            return pfn;
        if (MiMpwPagesWritten + MiInPageReads != progress) {
            progress = MiMpwPagesWritten + MiInPageReads;
            waited = 0;
        }
    }
    KeBugCheckRule(NO_PAGES_AVAILABLE, MmModifiedPageListHead.Total, MmAvailablePages, MmTotalCommittedPages,
                   MiCommitLimit(),
                   "a %s frame was waited for %u ms and none came: every committed page must be backed by a "
                   "frame that can be made available (commit charge %llu, limit %llu, %llu modified pages "
                   "that cannot be written out without a pagefile)", MiUsageName(usage), MiFrameWaitLimitMs,
                   (unsigned long long)MmTotalCommittedPages, (unsigned long long)MiCommitLimit(),
                   (unsigned long long)MmModifiedPageListHead.Total);
}

void MiInsertFreePage(PFN_NUMBER pfn)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    MiUsageCount[e->Usage]--;
    /* A private or paged-pool frame that still holds a pagefile slot (its
     * PTE went while it was on standby or being written): the slot goes
     * with it. (A shared image frame's OriginalPte names the image.) */
    if (!e->PrototypePte && MiIsPageFilePte(e->OriginalPte.u.Long))
        MiReleasePageFileSpace(e->OriginalPte.u.Long, (ULONG64)e->PteAddress >= (ULONG64)MiGetPteAddress((void *)0xFFFF800000000000ULL));
    e->OriginalPte.u.Long = 0;
    e->Usage = MiUsageFree;
    e->PteAddress = NULL;
    e->PteDeleted = 0;
    e->Modified = 0;
    MiInsertPageInList(&MmFreePageListHead, pfn);
}

void MiDecrementReferenceCount(PFN_NUMBER pfn)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    if (e->ReferenceCount == 0)
        pfn_corrupt(0x07, pfn, e->ShareCount, "a frame was dereferenced (unlocked or freed) more often than referenced");
    if (--e->ReferenceCount)
        return;
    if (e->ShareCount)
        pfn_corrupt(0x99, pfn, e->ShareCount, "a frame's last reference went while PTEs still map it");
    if (e->PteDeleted || !e->PteAddress)
        MiInsertFreePage(pfn);                                     /* nobody will want it back */
    else if (e->Modified)
        MiInsertPageInList(&MmModifiedPageListHead, pfn);     /* must be written out first */
    else
        MiInsertPageInList(&MmStandbyPageListHead, pfn);      /* clean: reusable, still findable */
}

void MiMakeTransitionPageActive(PFN_NUMBER pfn)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    if (e->ReadInProgress)
        pfn_corrupt(0x99, pfn, e->ReferenceCount, "a frame still being read in was mapped (collided faults wait)");
    if (e->PageLocation == ModifiedPageList || e->PageLocation == StandbyPageList) {
        MiUnlinkPfnFromList(pfn);
        e->PageLocation = ActiveAndValid;
        e->ReferenceCount = 1;
        /* A resident page holds no pagefile slot (mm/commit.c counts on
         * it): the copy in the file is given up, and the page is the only
         * copy again - written out anew if it is trimmed. (NT keeps the
         * slot of a clean page; mdlos trades that write for exact commit
         * accounting, docs/paging.md.) */
        if (!e->PrototypePte && MiIsPageFilePte(e->OriginalPte.u.Long)) {
            MiReleasePageFileSpace(e->OriginalPte.u.Long,
                                   (ULONG64)e->PteAddress >= (ULONG64)MiGetPteAddress((void *)0xFFFF800000000000ULL));
            e->OriginalPte.u.Long = 0;
            e->Modified = 1;
        }
    } else {
        /* Held by an MDL lock, or by the modified page writer's write in
         * flight (its completion decides about the slot): mapped again. */
        if (e->PageLocation == TransitionPage)
            e->PageLocation = ActiveAndValid;
        e->ReferenceCount++;
    }
    e->ShareCount++;
}

void MiDeleteTransitionPage(PFN_NUMBER pfn)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    if (e->PageLocation == ModifiedPageList || e->PageLocation == StandbyPageList) {
        MiUnlinkPfnFromList(pfn);
        MiInsertFreePage(pfn);
    } else {
        e->PteDeleted = 1;   /* locked: freed at the last unlock */
    }
}

void MiMarkPfnModified(PFN_NUMBER pfn)
{
    /* NT's MI_SET_MODIFIED. The PTE's dirty bit cannot say it: the CPU
     * sets D only for writes through that PTE, and DMA (or a write through
     * another mapping, such as an MDL's system PTEs) goes around it. */
    MI_ASSERT_PFN_LOCK_HELD();
    MI_PFN_ELEMENT(pfn)->Modified = 1;
}

void MiFreePfnLocked(PFN_NUMBER pfn)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    if (e->PageLocation != ActiveAndValid || e->ShareCount)
        pfn_corrupt(0x99, pfn, e->PageLocation, "a frame was freed while still mapped or already on a list");
    e->PteDeleted = 1;   /* the owner is done; an MDL lock may keep it alive a while */
    MiDecrementReferenceCount(pfn);
}

void MiFreePfn(PFN_NUMBER pfn)
{
    KIRQL old = MiAcquirePfnLock();
    MiFreePfnLocked(pfn);
    MiReleasePfnLock(old);
}

/* ---- building the database at boot ---- */

static MI_PFN_USAGE usage_for_va(ULONG64 va)
{
    if (va >= MI_KERNEL_IMAGE_BASE)
        return MiUsageKernelImage;
    if (va >= MI_PFN_DATABASE && va < MI_NONPAGED_POOL_START)
        return MiUsagePfnDatabase;
    return MiUsageKernelImage;
}

static void account_table(PFN_NUMBER pfn, PMMPTE mapping_entry, const MMPTE *table)
{
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    ULONG used = 0;
    for (int i = 0; i < 512; i++)
        used += table[i].u.Long != 0;
    e->PageLocation = ActiveAndValid;
    e->ReferenceCount = 1;
    e->ShareCount = used;
    e->PteAddress = mapping_entry;
    e->Usage = MiUsagePageTable;
}

static void account_leaf(PFN_NUMBER pfn, PMMPTE pte)
{
    if (!MiIsPfnRam(pfn))
        return;  /* device memory is not in the database */
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    e->PageLocation = ActiveAndValid;
    e->ReferenceCount = 1;
    e->ShareCount++;
    e->PteAddress = pte;
    e->Usage = usage_for_va((ULONG64)MiGetVirtualAddressMappedByPte(pte));
}

/* Frames [FIRST, END), none in use, onto the free list: the list
 * MiInsertPageInList would have built inserting them one by one in
 * ascending order (LIFO: END - 1 first out, FIRST linked to the old head),
 * with the head, the total and MmAvailablePages written once. */
static void insert_free_run(PFN_NUMBER first, PFN_NUMBER end)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFNLIST list = &MmFreePageListHead;
    PFN_NUMBER old_head = list->Flink;
    for (PFN_NUMBER pfn = first; pfn < end; pfn++) {
        PMMPFN e = MI_PFN_ELEMENT(pfn);
        e->Flink = pfn == first ? old_head : pfn - 1;
        e->Blink = pfn + 1 == end ? MI_PFN_LIST_END : pfn + 1;
        e->PageLocation = FreePageList;
        e->Usage = MiUsageFree;
    }
    if (old_head == MI_PFN_LIST_END)
        list->Blink = first;
    else
        MI_PFN_ELEMENT(old_head)->Blink = first;
    list->Flink = end - 1;
    list->Total += end - first;
    update_available();
}

/* Everything the boot code mapped is found by walking the new page tables
 * through the self-map; every other RAM frame is free. */
void MiInitializePfnDatabase(void)
{
    KeMarkBootPhase("mm.physical_memory_and_page_tables");
    PMMPTE pxe = (PMMPTE)PXE_BASE;
    PFN_NUMBER pml4 = read_cr3() >> PAGE_SHIFT;
    account_table(pml4, &pxe[MI_SELFMAP_INDEX], pxe);
    MmPfnDatabase[pml4].ShareCount = 0;
    for (int i = 0; i < 512; i++)
        MmPfnDatabase[pml4].ShareCount += pxe[i].u.Long != 0;

    for (ULONG64 i = 256; i < 512; i++) {
        if (i == MI_SELFMAP_INDEX || !(pxe[i].u.Long & MI_PTE_VALID))
            continue;
        PMMPTE ppe = (PMMPTE)(PPE_BASE + i * PAGE_SIZE);
        account_table(MI_PTE_PFN(pxe[i].u.Long), &pxe[i], ppe);
        for (ULONG64 j = 0; j < 512; j++) {
            if (!(ppe[j].u.Long & MI_PTE_VALID))
                continue;
            PMMPTE pde = (PMMPTE)(PDE_BASE + (i * 512 + j) * PAGE_SIZE);
            account_table(MI_PTE_PFN(ppe[j].u.Long), &ppe[j], pde);
            for (ULONG64 k = 0; k < 512; k++) {
                if (!(pde[k].u.Long & MI_PTE_VALID))
                    continue;
                PMMPTE pte = (PMMPTE)(PTE_BASE + ((i * 512 + j) * 512 + k) * PAGE_SIZE);
                account_table(MI_PTE_PFN(pde[k].u.Long), &pde[k], pte);
                for (int l = 0; l < 512; l++)
                    if (pte[l].u.Long & MI_PTE_VALID)
                        account_leaf(MI_PTE_PFN(pte[l].u.Long), &pte[l]);
            }
        }
    }

    MmNumberOfPhysicalPages = 0;
    KIRQL old = MiAcquirePfnLock();   /* nobody else runs yet, but the list routines assert it */
    /* The boot modules first, each by its own range (a GRUB or -initrd
     * module: kept for its loader), so that the pass over all RAM below
     * asks one question per frame instead of one per module. */
    for (uint32_t m = 0; m < KiBootInfo.module_count; m++) {
        PFN_NUMBER s = KiBootInfo.modules[m].start >> PAGE_SHIFT;
        PFN_NUMBER end = (KiBootInfo.modules[m].end + PAGE_SIZE - 1) >> PAGE_SHIFT;
        for (PFN_NUMBER pfn = s; pfn < end; pfn++) {
            if (!MiIsPfnRam(pfn) || MI_PFN_ELEMENT(pfn)->ReferenceCount)
                continue;   /* found in the page tables */
            PMMPFN e = MI_PFN_ELEMENT(pfn);
            e->Flink = e->Blink = MI_PFN_LIST_END;
            e->PageLocation = ActiveAndValid;
            e->ReferenceCount = 1;
            e->Usage = MiUsageBootModule;
        }
    }
    /* Every other frame is free, and goes on the free list by runs, as NT
     * builds its lists from the loader's memory descriptors: a run of
     * free frames is linked in one pass, the list head touched once. */
    for (ULONG r = 0; r < MiRamRangeCount; r++) {
        PFN_NUMBER pfn = MiRamRanges[r].start, end = MiRamRanges[r].end;
        MmNumberOfPhysicalPages += end - pfn;
        while (pfn < end) {
            if (MI_PFN_ELEMENT(pfn)->ReferenceCount) {
                pfn++;                          /* in use: a table, the image, a module */
                continue;
            }
            PFN_NUMBER run = pfn;
            while (pfn < end && !MI_PFN_ELEMENT(pfn)->ReferenceCount)
                pfn++;
            insert_free_run(run, pfn);
        }
    }
    MiCountPfnsByUsageAll(MiUsageCount);
    MiReleasePfnLock(old);
    KeMarkBootPhase("mm.pfn_database");
}

/* ---- invariants ---- */

PFN_NUMBER MiCommittedPages(void)
{
    return MmNumberOfPhysicalPages - MmZeroedPageListHead.Total - MmFreePageListHead.Total - MmBadPageListHead.Total;
}

/* Every usage's count in one pass over the database, the slow way, to
 * set or check MiUsageCount (one pass per usage cost the boot about a
 * dozen scans of every frame: tens of milliseconds under TCG). */
void MiCountPfnsByUsageAll(PFN_NUMBER counts[MiUsageMax])
{
    for (int u = 0; u < MiUsageMax; u++)
        counts[u] = 0;
    for (ULONG r = 0; r < MiRamRangeCount; r++)
        for (PFN_NUMBER pfn = MiRamRanges[r].start; pfn < MiRamRanges[r].end; pfn++) {
            PMMPFN e = &MmPfnDatabase[pfn];
            if (e->PageLocation != FreePageList && e->PageLocation != ZeroedPageList &&
                e->PageLocation != BadPageList && e->Usage < MiUsageMax)
                counts[e->Usage]++;
        }
}

/* Counted the slow way, to check MiUsageCount. */
ULONG MiCountPfnsByUsage(MI_PFN_USAGE usage)
{
    ULONG n = 0;
    for (ULONG r = 0; r < MiRamRangeCount; r++)
        for (PFN_NUMBER pfn = MiRamRanges[r].start; pfn < MiRamRanges[r].end; pfn++)
            n += MmPfnDatabase[pfn].Usage == usage && MmPfnDatabase[pfn].PageLocation != FreePageList &&
                 MmPfnDatabase[pfn].PageLocation != ZeroedPageList && MmPfnDatabase[pfn].PageLocation != BadPageList;
    return n;
}

/* The PTE that frame E's PteAddress names, read where it lives: a
 * prototype PTE directly (nonpaged pool), a kernel PTE through the
 * self-map (the same in every address space), a user PTE in the page
 * table PteFrame through hyperspace - its self-map address means
 * something only in its own process, which need not be the current one.
 * FALSE when there is nothing to read. At DISPATCH_LEVEL. */
static BOOLEAN read_named_pte(PMMPFN e, ULONG64 *out)
{
    PMMPTE pte = e->PteAddress;
    if (!pte)
        return FALSE;
    if (e->PrototypePte) {
        *out = pte->u.Long;
        return TRUE;
    }
    if ((ULONG64)pte >= (ULONG64)MiGetPteAddress((void *)0xFFFF800000000000ULL)) {
        if (!MiIsPteAccessible(MiGetVirtualAddressMappedByPte(pte)))
            return FALSE;
        *out = pte->u.Long;
        return TRUE;
    }
    if (!e->PteFrame || !MiIsPfnRam(e->PteFrame))
        return FALSE;
    KIRQL old;
    PMMPTE table = MiMapPageInHyperspace(e->PteFrame, &old);
    *out = table[((ULONG64)pte & (PAGE_SIZE - 1)) / sizeof(MMPTE)].u.Long;
    MiUnmapPageInHyperspace(table, old);
    return TRUE;
}

#define VERIFY(cond, p1, pfn, ...)                                             \
    do {                                                                       \
        if (!(cond)) {                                                         \
            if (fatal)                                                         \
                KeBugCheckRule(PFN_LIST_CORRUPT, (p1), (pfn), 0, 0, __VA_ARGS__); \
            kprintf("mm: PFN check failed: ");                                 \
            kprintf(__VA_ARGS__);                                              \
            kprintf("\n");                                                     \
            return FALSE;                                                      \
        }                                                                      \
    } while (0)

BOOLEAN MiVerifyPfnDatabase(BOOLEAN fatal)
{
    PFN_NUMBER per_location[8] = { 0 };
    ULONG64 in_flight = 0;
    KIRQL old = MiAcquirePfnLock();
    BOOLEAN ok = FALSE;

    /* 1. Each list: links agree both ways, every member says it is on it,
     *    nobody holds a reference, and the walk ends after Total frames. */
    for (int l = 0; l <= BadPageList; l++) {
        PMMPFNLIST list = MmPageLocationList[l];
        if (!list)
            continue;
        PFN_NUMBER prev = MI_PFN_LIST_END, n = 0;
        for (PFN_NUMBER pfn = list->Flink; pfn != MI_PFN_LIST_END; pfn = MI_PFN_ELEMENT(pfn)->Flink) {
            PMMPFN e = MI_PFN_ELEMENT(pfn);
            if (!MiIsPfnRam(pfn) || n > MmNumberOfPhysicalPages || e->PageLocation != l || e->Blink != prev ||
                e->ReferenceCount || e->ShareCount) {
                MiReleasePfnLock(old);
                VERIFY(FALSE, 0x8F, pfn, "%s list: frame %#llx (location %s, refs %u, shares %u) is inconsistent",
                       MiListName(l), (unsigned long long)pfn, MiListName(e->PageLocation), e->ReferenceCount,
                       e->ShareCount);
            }
            if (l == ModifiedPageList && !e->PrototypePte && MiIsPageFilePte(e->OriginalPte.u.Long)) {
                /* A modified page is the only copy: any slot it had was given back. */
                MiReleasePfnLock(old);
                VERIFY(FALSE, 0x99, pfn, "modified frame %#llx still holds pagefile slot %#llx",
                       (unsigned long long)pfn, (unsigned long long)e->OriginalPte.u.Long);
            }
            if (l == StandbyPageList || l == ModifiedPageList) {
                /* A transition frame is still named by its PTE (a shared
                 * image frame by its prototype PTE, in nonpaged pool). */
                MMPTE pte;
                BOOLEAN readable = read_named_pte(e, &pte.u.Long);
                if (!e->PteAddress || (readable && (!(pte.u.Long & MI_PTE_TRANSITION) ||
                                                    (pte.u.Long & MI_PTE_VALID) ||
                                                    pte.u.Trans.PageFrameNumber != pfn))) {
                    MiReleasePfnLock(old);
                    VERIFY(FALSE, 0x99, pfn, "frame %#llx is on the %s list but its PTE does not point at it",
                           (unsigned long long)pfn, MiListName(l));
                }
            }
            prev = pfn;
            n++;
        }
        if (n != list->Total || list->Blink != prev) {
            MiReleasePfnLock(old);
            VERIFY(FALSE, 0x8F, 0, "%s list holds %llu frames but says %llu", MiListName(l), (unsigned long long)n,
                   (unsigned long long)list->Total);
        }
    }

    /* 2. Every RAM frame is somewhere, and the counts add up. */
    PFN_NUMBER total = 0;
    for (ULONG r = 0; r < MiRamRangeCount; r++) {
        for (PFN_NUMBER pfn = MiRamRanges[r].start; pfn < MiRamRanges[r].end; pfn++) {
            PMMPFN e = MI_PFN_ELEMENT(pfn);
            total++;
            if (e->PageLocation > TransitionPage) {
                MiReleasePfnLock(old);
                VERIFY(FALSE, 0x99, pfn, "frame %#llx has location %u", (unsigned long long)pfn, e->PageLocation);
            }
            per_location[e->PageLocation]++;
            /* Paging I/O: a frame being read in is in TransitionPage (on no
             * list, referenced by the read) and only there; one being
             * written is referenced by the write, in TransitionPage or, if
             * a fault mapped it meanwhile, active; each counts in
             * MiPagesInFlight. A private frame on the standby list has its
             * contents in a pagefile slot, and that slot is in use. */
            in_flight += e->ReadInProgress + e->WriteInProgress;
            if ((e->PageLocation == TransitionPage && !e->ReadInProgress && !e->WriteInProgress) ||
                (e->ReadInProgress && (e->PageLocation != TransitionPage || e->WriteInProgress)) ||
                ((e->ReadInProgress || e->WriteInProgress) && e->ReferenceCount == 0)) {
                MiReleasePfnLock(old);
                VERIFY(FALSE, 0x99, pfn, "frame %#llx: location %s, read %u, write %u, refs %u: not a paging-I/O state",
                       (unsigned long long)pfn, MiListName(e->PageLocation), e->ReadInProgress, e->WriteInProgress,
                       e->ReferenceCount);
            }
            if (e->PageLocation == StandbyPageList && !e->PrototypePte &&
                (!MiIsPageFilePte(e->OriginalPte.u.Long) || !MiPageFileSlotInUse(e->OriginalPte.u.Long))) {
                MiReleasePfnLock(old);
                VERIFY(FALSE, 0x99, pfn, "private standby frame %#llx has no pagefile slot in use (OriginalPte %#llx)",
                       (unsigned long long)pfn, (unsigned long long)e->OriginalPte.u.Long);
            }
            if (e->PageLocation == TransitionPage && !e->PteDeleted && !e->ShareCount) {
                ULONG64 v;
                if (read_named_pte(e, &v) && (!(v & MI_PTE_TRANSITION) || (v & MI_PTE_VALID) || MI_PTE_PFN(v) != pfn)) {
                    MiReleasePfnLock(old);
                    VERIFY(FALSE, 0x99, pfn, "frame %#llx is in paging I/O but its PTE %p holds %#llx",
                           (unsigned long long)pfn, e->PteAddress, (unsigned long long)v);
                }
            }
            if (e->PageLocation == ActiveAndValid && e->ReferenceCount == 0) {
                MiReleasePfnLock(old);
                VERIFY(FALSE, 0x99, pfn, "frame %#llx is in use (%s) with no reference", (unsigned long long)pfn,
                       MiUsageName(e->Usage));
            }
            /* A shared image frame in use: its prototype PTE is valid and
             * names it while process PTEs map it, in transition otherwise
             * (only an MDL lock keeps it active then). */
            if (e->PageLocation == ActiveAndValid && e->PrototypePte) {
                ULONG64 v = e->PteAddress ? e->PteAddress->u.Long : 0;
                ULONG64 want = e->ShareCount ? MI_PTE_VALID : MI_PTE_TRANSITION;
                if ((v & (MI_PTE_VALID | MI_PTE_TRANSITION)) != want || MI_PTE_PFN(v) != pfn) {
                    MiReleasePfnLock(old);
                    VERIFY(FALSE, 0x99, pfn, "shared image frame %#llx (%u shares) has prototype PTE %p = %#llx",
                           (unsigned long long)pfn, e->ShareCount, e->PteAddress, (unsigned long long)v);
                }
                continue;
            }
            /* A mapped frame is mapped by the PTE its entry names: a
             * kernel PTE through the self-map, a user PTE in its own
             * process's page table (PteFrame). */
            ULONG64 v;
            if (e->PageLocation == ActiveAndValid && e->ShareCount && e->Usage != MiUsagePageTable &&
                e->PteAddress && read_named_pte(e, &v)) {
                if (!(v & MI_PTE_VALID) || MI_PTE_PFN(v) != pfn) {
                    MiReleasePfnLock(old);
                    VERIFY(FALSE, 0x99, pfn, "frame %#llx (%s) is shared by %u PTEs but its PTE %p holds %#llx",
                           (unsigned long long)pfn, MiUsageName(e->Usage), e->ShareCount, e->PteAddress,
                           (unsigned long long)v);
                }
            }
        }
    }
    if (total != MmNumberOfPhysicalPages) {
        MiReleasePfnLock(old);
        VERIFY(FALSE, 0x99, 0, "%llu RAM frames, but MmNumberOfPhysicalPages says %llu", (unsigned long long)total,
               (unsigned long long)MmNumberOfPhysicalPages);
    }
    for (int l = 0; l <= BadPageList; l++) {
        if (MmPageLocationList[l] && per_location[l] != MmPageLocationList[l]->Total) {
            MiReleasePfnLock(old);
            VERIFY(FALSE, 0x8F, 0, "%llu frames say they are on the %s list, which holds %llu",
                   (unsigned long long)per_location[l], MiListName(l),
                   (unsigned long long)MmPageLocationList[l]->Total);
        }
    }
    PFN_NUMBER counted[MiUsageMax];
    MiCountPfnsByUsageAll(counted);
    for (int u = 1; u < MiUsageMax; u++) {
        if (MiUsageCount[u] != counted[u]) {
            MiReleasePfnLock(old);
            VERIFY(FALSE, 0x99, 0, "the %s frame count says %llu but %llu frames belong to it", MiUsageName(u),
                   (unsigned long long)MiUsageCount[u], (unsigned long long)counted[u]);
        }
    }
    if (in_flight != MiPagesInFlight) {
        MiReleasePfnLock(old);
        VERIFY(FALSE, 0x99, 0, "%llu frames are in paging I/O but MiPagesInFlight says %llu",
               (unsigned long long)in_flight, (unsigned long long)MiPagesInFlight);
    }
    if (MiCountPageFileBitsInUse() != MiPageFileSlotsInUse) {
        MiReleasePfnLock(old);
        VERIFY(FALSE, 0x99, 0, "the pagefile bitmaps hold %llu slots in use but MiPageFileSlotsInUse says %llu",
               (unsigned long long)MiCountPageFileBitsInUse(), (unsigned long long)MiPageFileSlotsInUse);
    }
    ULONG64 standby_user = 0;
    for (PFN_NUMBER pfn = MmStandbyPageListHead.Flink; pfn != MI_PFN_LIST_END; pfn = MI_PFN_ELEMENT(pfn)->Flink)
        standby_user += MI_PFN_ELEMENT(pfn)->Usage == MiUsageUser;
    if (standby_user != MiStandbyUserPages) {
        MiReleasePfnLock(old);
        VERIFY(FALSE, 0x99, 0, "%llu user frames on the standby list but MiStandbyUserPages says %llu",
               (unsigned long long)standby_user, (unsigned long long)MiStandbyUserPages);
    }
    if (MmAvailablePages != MmZeroedPageListHead.Total + MmFreePageListHead.Total + MmStandbyPageListHead.Total) {
        MiReleasePfnLock(old);
        VERIFY(FALSE, 0x99, 0, "MmAvailablePages %llu is not zeroed + free + standby",
               (unsigned long long)MmAvailablePages);
    }
    ok = TRUE;
    MiReleasePfnLock(old);
    return ok;
}
