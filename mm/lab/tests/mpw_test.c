/*
 * The modified page writer lab's tests (docs/labs/mpw.md): `make grade
 * LAB=mpw`. Each test has a paging file and the kernel's own writer paused
 * (KtBeginPaging), gives a process made for it (KtCreateProcess) a few
 * pages with a pattern per page, trims them to the modified list, and runs
 * the student's writer on them. What is checked is the memory manager's
 * own view, never the student's: the modified list (KtModifiedPages), each
 * frame's PFN entry (KtFrameInfo, KtFramePaging), the process's PTEs
 * (KtPteOf: transition while the frame is kept, the pagefile PTE after the
 * standby list is purged), the slot bitmaps (KtPageFileSlotInUse,
 * KtPageFileSlotsInUse), the bytes on the pagefile disk (KtReadPageFile),
 * and the bytes the process reads back through the kernel's hard faults.
 * Points beside each test.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define LIST_STANDBY 2
#define LIST_MODIFIED 3
#define LIST_ACTIVE 6
#define LIST_TRANSITION 7
#define MAX_PAGES 40

static ULONG64 page_buf[PAGE_SIZE / 8], disk_buf[PAGE_SIZE / 8];

static void pattern(ULONG64 *buf, ULONG64 seed, ULONG page)
{
    for (ULONG k = 0; k < PAGE_SIZE / 8; k++)
        buf[k] = seed ^ ((ULONG64)page << 40) ^ (k * 0x9E3779B97F4A7C15ULL);
}

/* A paging file, the kernel's writer paused, and a process with PAGES
 * read/write pages at *VA, page I holding pattern (SEED, I), all trimmed:
 * dirty, so on the modified list, and nothing else is. *SLOTS: the slots
 * in use before. */
static void lab_pages(KT_PROCESS *p, ULONG pages, ULONG64 seed, ULONG64 *va, ULONG64 *slots)
{
    KT_EQ(KtCreateProcess("hello", p), STATUS_SUCCESS);
    KT_EQ(KtAllocateUser(p, (SIZE_T)pages * PAGE_SIZE, PAGE_READWRITE, va), STATUS_SUCCESS);
    /* KtAllocateUser passed its arguments in a page of the process: it is
     * dirty too. Trimmed now, the kernel's writer writes it out with
     * whatever else is modified before it pauses. */
    KtTrimProcess(p);
    KT_EQ(KtBeginPaging(), STATUS_SUCCESS);
    *slots = KtPageFileSlotsInUse();
    for (ULONG i = 0; i < pages; i++) {
        pattern(page_buf, seed, i);
        KT_EQ(KtWriteUser(p, *va + (ULONG64)i * PAGE_SIZE, page_buf, PAGE_SIZE), STATUS_SUCCESS);
    }
    KT_GE(KtTrimProcess(p), pages);
}

/* The frame a valid or transition PTE names (0: neither). */
static ULONG64 frame_of(KT_PROCESS *p, ULONG64 va)
{
    MMPTE t = { .u.Long = KtPteOf(p, va) };
    if (t.u.Long & MI_PTE_VALID)
        return MI_PTE_PFN(t.u.Long);
    if (t.u.Long & MI_PTE_TRANSITION)
        return t.u.Trans.PageFrameNumber;
    return 0;
}

/* Page I of the process holds frame PFN: which I. */
static ULONG page_of(KT_PROCESS *p, ULONG64 va, ULONG pages, ULONG64 pfn)
{
    for (ULONG i = 0; i < pages; i++)
        if (frame_of(p, va + (ULONG64)i * PAGE_SIZE) == pfn)
            return i;
    KtFail(__FILE__, __LINE__, "frame %#llx maps none of the test's pages", (unsigned long long)pfn);
}

static ULONG list_of(ULONG64 pfn)
{
    KT_FRAME f;
    KT_ASSERT(KtFrameInfo(pfn, &f));
    return f.List;
}

/* Every page reads back its pattern (hard faults where it is out). */
static void reads_back(KT_PROCESS *p, ULONG64 va, ULONG pages, ULONG64 seed)
{
    for (ULONG i = 0; i < pages; i++) {
        KT_EQ(KtReadUser(p, va + (ULONG64)i * PAGE_SIZE, disk_buf, PAGE_SIZE), STATUS_SUCCESS);
        pattern(page_buf, seed, i);
        KT_MEMEQ(disk_buf, page_buf, PAGE_SIZE);
    }
}

static void lab_end(KT_PROCESS *p, ULONG64 va)
{
    KT_EQ(KtFreeUser(p, va), STATUS_SUCCESS);
    KtDeleteProcess(p);
    KT_ASSERT(KtEndPaging());
}

KTEST_POINTS(mpwlab, take__oldest_pages_and_contiguous_slots, 10)
{
    KT_PROCESS p;
    ULONG64 va, mod[8];
    ULONG64 slots;
    lab_pages(&p, 5, 0xA1, &va, &slots);
    KT_EQ(KtModifiedPages(mod, 8), 5);   /* only the test's pages: the kernel's writer is paused */
    ULONG64 flight = MiPagesInFlight;
    MI_LAB_CLUSTER c;
    memset(&c, 0, sizeof(c));
    KT_EQ(MiLabTakeCluster(&c, MI_WRITE_CLUSTER_PAGES), 5);
    KT_EQ(c.Count, 5);
    KT_ASSERT(MmPagingFile[c.File] != NULL);
    KT_GT(c.FirstSlot, 0);                                     /* slot 0 is never used */
    for (ULONG i = 0; i < 5; i++) {
        KT_EQ(c.Pages[i], mod[i]);                             /* the oldest first: the list's order */
        KT_FRAME f;
        KT_FRAME_PAGING g;
        KT_ASSERT(KtFrameInfo(c.Pages[i], &f) && KtFramePaging(c.Pages[i], &g));
        KT_EQ(f.ReferenceCount, 1);                            /* the write's reference */
        KT_EQ(f.List, LIST_TRANSITION);                        /* on no list */
        KT_EQ(f.Modified, 0);
        KT_EQ(g.WriteInProgress, 1);
        KT_ASSERT(g.InPageFile);                               /* OriginalPte names its slot */
        KT_EQ(g.File, c.File);
        KT_EQ(g.Slot, c.FirstSlot + i);                        /* contiguous: one request */
        KT_ASSERT(KtPageFileSlotInUse(c.File, c.FirstSlot + i));
        ULONG k = page_of(&p, va, 5, c.Pages[i]);
        KT_EQ(KtPteOf(&p, va + k * PAGE_SIZE) & (MI_PTE_VALID | MI_PTE_TRANSITION), MI_PTE_TRANSITION);
    }
    KT_EQ(KtModifiedPages(mod, 8), 0);
    KT_EQ(KtPageFileSlotsInUse(), slots + 5);
    KT_EQ(MiPagesInFlight, flight + 5);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));                     /* the kernel's checker agrees */
    KT_EQ(MiLabWriteCluster(&c), STATUS_SUCCESS);
    KT_EQ(MiLabCompleteCluster(&c, c.Status), 5);
    KT_EQ(MiPagesInFlight, flight);
    lab_end(&p, va);
}

KTEST_POINTS(mpwlab, take__at_most_max_and_nothing_from_an_empty_list, 5)
{
    KT_PROCESS p;
    ULONG64 va, mod[8], left[8];
    ULONG64 slots;
    lab_pages(&p, 5, 0xA2, &va, &slots);
    KT_EQ(KtModifiedPages(mod, 8), 5);
    MI_LAB_CLUSTER a, b, z;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&z, 0, sizeof(z));
    KT_EQ(MiLabTakeCluster(&z, 0), 0);
    KT_EQ(KtPageFileSlotsInUse(), slots);
    KT_EQ(MiLabTakeCluster(&a, 3), 3);
    KT_EQ(KtPageFileSlotsInUse(), slots + 3);
    KT_EQ(KtModifiedPages(left, 8), 2);                        /* the two newest are still there */
    KT_EQ(left[0], mod[3]);
    KT_EQ(left[1], mod[4]);
    KT_EQ(MiLabTakeCluster(&b, MI_WRITE_CLUSTER_PAGES), 2);    /* the list is shorter than the cluster */
    KT_EQ(b.Pages[0], mod[3]);
    KT_EQ(KtPageFileSlotsInUse(), slots + 5);                  /* and no slot more than pages */
    KT_EQ(MiLabTakeCluster(&z, MI_WRITE_CLUSTER_PAGES), 0);    /* empty: nothing, no slot held */
    KT_EQ(z.Count, 0);
    KT_EQ(KtPageFileSlotsInUse(), slots + 5);
    KT_EQ(MiLabWriteCluster(&a), STATUS_SUCCESS);
    KT_EQ(MiLabCompleteCluster(&a, a.Status), 3);
    KT_EQ(MiLabWriteCluster(&b), STATUS_SUCCESS);
    KT_EQ(MiLabCompleteCluster(&b, b.Status), 2);
    lab_end(&p, va);
}

KTEST_POINTS(mpwlab, write__mdl_describes_the_frames, 5)
{
    KT_PROCESS p;
    ULONG64 va;
    ULONG64 slots;
    lab_pages(&p, 4, 0xB1, &va, &slots);
    MI_LAB_CLUSTER c;
    memset(&c, 0, sizeof(c));
    KT_EQ(MiLabTakeCluster(&c, MI_WRITE_CLUSTER_PAGES), 4);
    c.MdlPfns[4] = 0xDEAD;   /* past the cluster: must stay untouched */
    ULONG64 locked = KtLockedPages();
    MiLabBuildClusterMdl(&c);
    KT_ASSERT(c.Mdl.MdlFlags & MDL_PAGES_LOCKED);              /* the write's references are the lock */
    KT_EQ((ULONG64)c.Mdl.StartVa, c.FirstSlot << PAGE_SHIFT);
    KT_EQ(c.Mdl.ByteOffset, 0);
    KT_EQ(c.Mdl.ByteCount, 4 * PAGE_SIZE);
    KT_EQ(MmGetMdlPfnArray(&c.Mdl), c.MdlPfns);                /* the array right after the MDL */
    for (ULONG i = 0; i < 4; i++) {
        KT_EQ(c.MdlPfns[i], c.Pages[i]);
        KT_EQ(KtPfnReferenceCount(c.Pages[i]), 1);             /* no reference of the MDL's own */
    }
    KT_EQ(c.MdlPfns[4], 0xDEAD);
    KT_EQ(KtLockedPages(), locked);                            /* not an MmProbeAndLockPages lock */
    KT_EQ(MiLabWriteCluster(&c), STATUS_SUCCESS);
    KT_EQ(MiLabCompleteCluster(&c, c.Status), 4);
    lab_end(&p, va);
}

KTEST_POINTS(mpwlab, write__bytes_land_in_the_slots, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    ULONG64 slots;
    lab_pages(&p, 6, 0xB2, &va, &slots);
    MI_LAB_CLUSTER c;
    memset(&c, 0, sizeof(c));
    KT_EQ(MiLabTakeCluster(&c, MI_WRITE_CLUSTER_PAGES), 6);
    KT_EQ(MiLabWriteCluster(&c), STATUS_SUCCESS);
    KT_EQ(c.Status, STATUS_SUCCESS);
    for (ULONG i = 0; i < 6; i++) {
        /* Slot FirstSlot + i of the disk holds the page of frame Pages[i]. */
        ULONG k = page_of(&p, va, 6, c.Pages[i]);
        KT_EQ(KtReadPageFile(c.File, c.FirstSlot + i, disk_buf), STATUS_SUCCESS);
        pattern(page_buf, 0xB2, k);
        KT_MEMEQ(disk_buf, page_buf, PAGE_SIZE);
    }
    KT_EQ(MiLabCompleteCluster(&c, c.Status), 6);
    lab_end(&p, va);
}

KTEST_POINTS(mpwlab, complete__written_pages_go_to_standby_with_their_slot, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    ULONG64 slots, flight = MiPagesInFlight;
    lab_pages(&p, 8, 0xC1, &va, &slots);
    MI_LAB_CLUSTER c;
    memset(&c, 0, sizeof(c));
    KT_EQ(MiLabTakeCluster(&c, MI_WRITE_CLUSTER_PAGES), 8);
    KT_EQ(MiLabWriteCluster(&c), STATUS_SUCCESS);
    KT_EQ(MiLabCompleteCluster(&c, c.Status), 8);
    KT_EQ(MiPagesInFlight, flight);
    ULONG64 slot_of_page[8];
    for (ULONG i = 0; i < 8; i++) {
        KT_FRAME f;
        KT_FRAME_PAGING g;
        KT_ASSERT(KtFrameInfo(c.Pages[i], &f) && KtFramePaging(c.Pages[i], &g));
        KT_EQ(f.List, LIST_STANDBY);                           /* clean: reusable at once */
        KT_EQ(f.ReferenceCount, 0);
        KT_EQ(f.Modified, 0);
        KT_EQ(g.WriteInProgress, 0);
        KT_ASSERT(g.InPageFile);
        KT_EQ(g.Slot, c.FirstSlot + i);                        /* the copy is in its slot */
        KT_ASSERT(KtPageFileSlotInUse(c.File, g.Slot));
        ULONG k = page_of(&p, va, 8, c.Pages[i]);              /* its PTE still names the frame */
        slot_of_page[k] = g.Slot;
    }
    KT_EQ(KtPageFileSlotsInUse(), slots + 8);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    /* The frames go to someone else: each PTE becomes the pagefile PTE of
     * its slot (NT's MMPTE_SOFTWARE), protection kept. */
    KT_GE(KtPurgeStandbyList(), 8);
    for (ULONG k = 0; k < 8; k++) {
        MMPTE t = { .u.Long = KtPteOf(&p, va + k * PAGE_SIZE) };
        KT_ASSERT(MiIsPageFilePte(t.u.Long));
        KT_EQ(t.u.Soft.PageFileLow, c.File);
        KT_EQ(t.u.Soft.PageFileHigh, slot_of_page[k]);
        KT_EQ(t.u.Soft.Protection, MM_READWRITE);
    }
    reads_back(&p, va, 8, 0xC1);                               /* hard faults read the student's slots */
    KT_EQ(KtPageFileSlotsInUse(), slots);                      /* a resident page keeps no slot */
    lab_end(&p, va);
}

KTEST_POINTS(mpwlab, complete__page_dirtied_during_its_write_stays_modified, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    ULONG64 slots;
    lab_pages(&p, 4, 0xC2, &va, &slots);
    MI_LAB_CLUSTER c;
    memset(&c, 0, sizeof(c));
    KT_EQ(MiLabTakeCluster(&c, MI_WRITE_CLUSTER_PAGES), 4);
    /* Page 1 is written while its write is out: a soft fault maps the
     * frame under the write, and a trim turns the dirty bit into Modified. */
    ULONG64 dirty = frame_of(&p, va + PAGE_SIZE);
    ULONG j = 0;
    while (c.Pages[j] != dirty)
        j++;
    pattern(page_buf, 0xD2, 1);
    KT_EQ(KtWriteUser(&p, va + PAGE_SIZE, page_buf, PAGE_SIZE), STATUS_SUCCESS);
    KT_EQ(frame_of(&p, va + PAGE_SIZE), dirty);                /* the same frame, valid again */
    KtTrimProcess(&p);
    KT_FRAME f;
    KT_ASSERT(KtFrameInfo(dirty, &f));
    KT_EQ(f.Modified, 1);
    KT_EQ(MiLabWriteCluster(&c), STATUS_SUCCESS);
    KT_EQ(MiLabCompleteCluster(&c, c.Status), 3);
    /* The copy in its slot is the old bytes: never standby with it. */
    KT_FRAME_PAGING g;
    KT_ASSERT(KtFramePaging(dirty, &g));
    KT_EQ(list_of(dirty), LIST_MODIFIED);
    KT_ASSERT(!g.InPageFile);
    KT_ASSERT(!KtPageFileSlotInUse(c.File, c.FirstSlot + j));
    for (ULONG i = 0; i < 4; i++)
        if (i != j)
            KT_EQ(list_of(c.Pages[i]), LIST_STANDBY);
    KT_EQ(KtPageFileSlotsInUse(), slots + 3);
    /* Written again, with the new bytes. */
    KT_EQ(MiLabWriteModifiedPages(), 1);
    KT_ASSERT(KtFramePaging(dirty, &g));
    KT_EQ(list_of(dirty), LIST_STANDBY);
    KT_ASSERT(g.InPageFile);
    KT_EQ(KtReadPageFile(g.File, g.Slot, disk_buf), STATUS_SUCCESS);
    KT_MEMEQ(disk_buf, page_buf, PAGE_SIZE);
    KtPurgeStandbyList();
    KT_EQ(KtReadUser(&p, va + PAGE_SIZE, disk_buf, PAGE_SIZE), STATUS_SUCCESS);
    KT_MEMEQ(disk_buf, page_buf, PAGE_SIZE);
    static const ULONG old_pages[] = { 0, 2, 3 };              /* the old bytes */
    for (ULONG n = 0; n < 3; n++) {
        ULONG k = old_pages[n];
        KT_EQ(KtReadUser(&p, va + k * PAGE_SIZE, disk_buf, PAGE_SIZE), STATUS_SUCCESS);
        pattern(page_buf, 0xC2, k);
        KT_MEMEQ(disk_buf, page_buf, PAGE_SIZE);
    }
    lab_end(&p, va);
}

KTEST_POINTS(mpwlab, complete__page_touched_during_its_write_stays_resident, 5)
{
    KT_PROCESS p;
    ULONG64 va;
    ULONG64 slots;
    lab_pages(&p, 3, 0xC3, &va, &slots);
    MI_LAB_CLUSTER c;
    memset(&c, 0, sizeof(c));
    KT_EQ(MiLabTakeCluster(&c, MI_WRITE_CLUSTER_PAGES), 3);
    ULONG64 x;
    KT_EQ(KtReadUser(&p, va, &x, 8), STATUS_SUCCESS);          /* page 0 is mapped again (a read) */
    ULONG64 touched = frame_of(&p, va);
    KT_EQ(MiLabWriteCluster(&c), STATUS_SUCCESS);
    KT_EQ(MiLabCompleteCluster(&c, c.Status), 2);
    KT_FRAME f;
    KT_FRAME_PAGING g;
    KT_ASSERT(KtFrameInfo(touched, &f) && KtFramePaging(touched, &g));
    KT_EQ(f.List, LIST_ACTIVE);                                /* in use, not on a list */
    KT_EQ(f.ReferenceCount, 1);                                /* the mapping's alone */
    KT_EQ(f.Modified, 1);                                      /* the only copy again */
    KT_ASSERT(!g.InPageFile);
    KT_ASSERT(KtPteOf(&p, va) & MI_PTE_VALID);
    KT_EQ(KtPageFileSlotsInUse(), slots + 2);                  /* a resident page holds no slot */
    reads_back(&p, va, 3, 0xC3);
    lab_end(&p, va);
}

KTEST_POINTS(mpwlab, complete__failed_write_keeps_every_page, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    ULONG64 slots, flight = MiPagesInFlight;
    lab_pages(&p, 5, 0xC4, &va, &slots);
    MI_LAB_CLUSTER c;
    memset(&c, 0, sizeof(c));
    KT_EQ(MiLabTakeCluster(&c, MI_WRITE_CLUSTER_PAGES), 5);
    KtBreakPagingFile(TRUE);                                   /* the disk refuses the write */
    NTSTATUS s = MiLabWriteCluster(&c);
    KtBreakPagingFile(FALSE);
    KT_ASSERT(!NT_SUCCESS(s));
    KT_EQ(c.Status, s);
    KT_EQ(MiLabCompleteCluster(&c, s), 0);
    for (ULONG i = 0; i < 5; i++) {
        KT_FRAME f;
        KT_FRAME_PAGING g;
        KT_ASSERT(KtFrameInfo(c.Pages[i], &f) && KtFramePaging(c.Pages[i], &g));
        KT_EQ(f.List, LIST_MODIFIED);                          /* still the only copy: to be written */
        KT_EQ(f.Modified, 1);
        KT_EQ(f.ReferenceCount, 0);
        KT_EQ(g.WriteInProgress, 0);
        KT_ASSERT(!g.InPageFile);
        KT_ASSERT(!KtPageFileSlotInUse(c.File, c.FirstSlot + i));
    }
    KT_EQ(KtPageFileSlotsInUse(), slots);
    KT_EQ(MiPagesInFlight, flight);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    KT_EQ(MiLabWriteModifiedPages(), 5);                       /* the disk works again */
    KtPurgeStandbyList();
    reads_back(&p, va, 5, 0xC4);
    lab_end(&p, va);
}

KTEST_POINTS(mpwlab, writer__writes_the_whole_list_in_clusters, 10)
{
    KT_PROCESS p;
    ULONG64 va, mod[MAX_PAGES];
    ULONG64 slots;
    lab_pages(&p, MAX_PAGES, 0xE1, &va, &slots);
    KT_EQ(KtModifiedPages(mod, MAX_PAGES), MAX_PAGES);
    KT_EQ(MiLabWriteModifiedPages(), MAX_PAGES);
    KT_EQ(KtModifiedPages(NULL, 0), 0);
    KT_EQ(KtPageFileSlotsInUse(), slots + MAX_PAGES);
    ULONG64 prev = 0;
    for (ULONG i = 0; i < MAX_PAGES; i++) {
        KT_FRAME_PAGING g;
        KT_ASSERT(KtFramePaging(mod[i], &g));
        KT_EQ(list_of(mod[i]), LIST_STANDBY);
        KT_ASSERT(g.InPageFile);
        if (i % MI_WRITE_CLUSTER_PAGES)
            KT_EQ(g.Slot, prev + 1);                           /* clusters of 16, in the list's order */
        prev = g.Slot;
    }
    KtPurgeStandbyList();
    reads_back(&p, va, MAX_PAGES, 0xE1);
    KT_EQ(KtPageFileSlotsInUse(), slots);
    lab_end(&p, va);
}
