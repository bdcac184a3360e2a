/*
 * The PFN database lab's tests (docs/labs/pfn.md): `make grade LAB=pfn`.
 * Each takes a few real frames from the kernel (KtTakeFrames), builds a
 * lab page-list set over them, drives the student's functions, and reads
 * the outcome back from the frames' own PFN entries through the test API
 * (KtFrameInfo: list, counts, Modified; KtFrameLinks; KtReadFrame for the
 * contents), never through the student's code. Where a test needs lists
 * that already exist it links them by hand (hand_link), so that each part
 * is graded on its own. Points beside each test.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "mm/lab/pfn.h"

#define END MI_PFN_LIST_END
#define UNDER_PFN_LOCK(stmt)                 \
    do {                                     \
        KIRQL o_ = MiAcquirePfnLock();       \
        stmt;                                \
        MiReleasePfnLock(o_);                \
    } while (0)
#define E(pfn) MI_PFN_ELEMENT(pfn)

static UCHAR page_buf[PAGE_SIZE];

static void lab_set(MI_LAB_PAGE_LISTS *l, PFN_NUMBER *f, ULONG n)
{
    KT_EQ(KtTakeFrames(n, f), STATUS_SUCCESS);
    MiLabInitializePageLists(l, f, n);
}

static void fill(PFN_NUMBER pfn, UCHAR v)
{
    memset(page_buf, v, PAGE_SIZE);
    KT_EQ(KtWriteFrame(pfn, 0, page_buf, PAGE_SIZE), STATUS_SUCCESS);
}

static BOOLEAN frame_all(PFN_NUMBER pfn, UCHAR v)
{
    KT_EQ(KtReadFrame(pfn, 0, page_buf, PAGE_SIZE), STATUS_SUCCESS);
    for (ULONG i = 0; i < PAGE_SIZE; i++)
        if (page_buf[i] != v)
            return FALSE;
    return TRUE;
}

/* LIST made of F[0..N) in that order, head to tail, as a correct
 * implementation would leave it: links, PageLocation, no reference,
 * Modified exactly on the modified list, zeros on the zeroed list. */
static void hand_link(MI_LAB_PAGE_LISTS *l, ULONG list, const PFN_NUMBER *f, ULONG n)
{
    for (ULONG i = 0; list == ZeroedPageList && i < n; i++)
        fill(f[i], 0);
    PMMPFNLIST h = MiLabListHead(l, list);
    UNDER_PFN_LOCK({
        for (ULONG i = 0; i < n; i++) {
            PMMPFN e = E(f[i]);
            e->Flink = i + 1 < n ? f[i + 1] : END;
            e->Blink = i ? f[i - 1] : END;
            e->PageLocation = (UCHAR)list;
            e->ReferenceCount = 0;
            e->ShareCount = 0;
            e->Modified = list == ModifiedPageList;
        }
        h->Flink = n ? f[0] : END;
        h->Blink = n ? f[n - 1] : END;
        h->Total = n;
    });
}

/* LIST holds exactly ORDER[0..N), head to tail, each frame saying so. */
static void expect_list(MI_LAB_PAGE_LISTS *l, ULONG list, const PFN_NUMBER *order, ULONG n)
{
    PMMPFNLIST h = MiLabListHead(l, list);
    KT_EQ(h->Total, n);
    KT_EQ(h->Flink, n ? order[0] : END);
    KT_EQ(h->Blink, n ? order[n - 1] : END);
    for (ULONG i = 0; i < n; i++) {
        ULONG64 fl, bl;
        KT_FRAME fr;
        KT_ASSERT(KtFrameLinks(order[i], &fl, &bl));
        KT_EQ(fl, i + 1 < n ? order[i + 1] : END);
        KT_EQ(bl, i ? order[i - 1] : END);
        KT_ASSERT(KtFrameInfo(order[i], &fr));
        KT_STREQ(KtFrameListName(fr.List), KtFrameListName(list));
        KT_EQ(fr.ReferenceCount, 0);
    }
}

/* PFN was just taken off a list: in use, one reference, nothing left of its past. */
static void expect_taken(PFN_NUMBER pfn)
{
    KT_FRAME fr;
    ULONG64 fl, bl;
    KT_ASSERT(KtFrameInfo(pfn, &fr));
    KT_STREQ(KtFrameListName(fr.List), "Active");
    KT_EQ(fr.ReferenceCount, 1);
    KT_EQ(fr.ShareCount, 0);
    KT_EQ(fr.Modified, 0);
    KT_ASSERT(KtFrameLinks(pfn, &fl, &bl));
    KT_EQ(fl, END);
    KT_EQ(bl, END);
    KT_EQ(E(pfn)->PteAddress, NULL);
    KT_EQ(E(pfn)->OriginalPte.u.Long, 0);
}

static void insert(MI_LAB_PAGE_LISTS *l, ULONG list, PFN_NUMBER pfn)
{
    UNDER_PFN_LOCK(E(pfn)->ReferenceCount = 0);   /* as its last dereference leaves it */
    MiLabInsertPageInList(l, MiLabListHead(l, list), pfn);
}

/* ---- Part 1: the lists ---- */

KTEST_POINTS(pfnlab, insert__free_and_zeroed_lists_are_lifo, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[5];
    lab_set(&l, f, 5);
    for (ULONG i = 0; i < 3; i++)
        insert(&l, FreePageList, f[i]);
    PFN_NUMBER free_order[3] = { f[2], f[1], f[0] };   /* the last one freed is taken first */
    expect_list(&l, FreePageList, free_order, 3);
    insert(&l, ZeroedPageList, f[3]);
    insert(&l, ZeroedPageList, f[4]);
    PFN_NUMBER zeroed_order[2] = { f[4], f[3] };
    expect_list(&l, ZeroedPageList, zeroed_order, 2);
    expect_list(&l, FreePageList, free_order, 3);
    expect_list(&l, StandbyPageList, NULL, 0);
    KtReturnFrames();
}

KTEST_POINTS(pfnlab, insert__standby_and_modified_lists_are_fifo, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[5];
    lab_set(&l, f, 5);
    for (ULONG i = 0; i < 3; i++)
        insert(&l, StandbyPageList, f[i]);
    expect_list(&l, StandbyPageList, f, 3);           /* oldest at the head */
    UNDER_PFN_LOCK({
        E(f[3])->Modified = 1;
        E(f[4])->Modified = 1;
    });
    insert(&l, ModifiedPageList, f[3]);
    insert(&l, ModifiedPageList, f[4]);
    expect_list(&l, ModifiedPageList, f + 3, 2);
    expect_list(&l, StandbyPageList, f, 3);
    expect_list(&l, FreePageList, NULL, 0);
    KtReturnFrames();
}

KTEST_POINTS(pfnlab, unlink__from_the_middle_head_and_tail, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[5];
    lab_set(&l, f, 5);
    hand_link(&l, StandbyPageList, f, 5);
    MiLabUnlinkPageFromList(&l, f[2]);                  /* the middle: a soft fault's case */
    PFN_NUMBER a[4] = { f[0], f[1], f[3], f[4] };
    expect_list(&l, StandbyPageList, a, 4);
    ULONG64 fl, bl;
    KT_ASSERT(KtFrameLinks(f[2], &fl, &bl));
    KT_EQ(fl, END);
    KT_EQ(bl, END);
    MiLabUnlinkPageFromList(&l, f[0]);                  /* the head */
    expect_list(&l, StandbyPageList, a + 1, 3);
    MiLabUnlinkPageFromList(&l, f[4]);                  /* the tail */
    expect_list(&l, StandbyPageList, a + 1, 2);
    MiLabUnlinkPageFromList(&l, f[1]);
    MiLabUnlinkPageFromList(&l, f[3]);                  /* the last one: the head is empty again */
    expect_list(&l, StandbyPageList, NULL, 0);
    /* The same on a LIFO list: the list's name, not its order, is the frame's. */
    hand_link(&l, FreePageList, f, 3);
    MiLabUnlinkPageFromList(&l, f[1]);
    PFN_NUMBER b[2] = { f[0], f[2] };
    expect_list(&l, FreePageList, b, 2);
    KtReturnFrames();
}

KTEST_BUGCHECK_POINTS(pfnlab, unlink__a_broken_neighbour_bugchecks, 5, PFN_LIST_CORRUPT, 0x01, KT_ANY, KT_ANY,
                      KT_ANY)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[3];
    lab_set(&l, f, 3);
    hand_link(&l, FreePageList, f, 3);
    UNDER_PFN_LOCK(E(f[2])->Blink = f[0]);              /* f[2] no longer points back at f[1] */
    KtExpectParam(2, f[1]);
    KtExpectParam(3, f[2]);                             /* its Flink */
    KtExpectParam(4, f[0]);                             /* its Blink */
    MiLabUnlinkPageFromList(&l, f[1]);
}

/* ---- Part 2: taking a frame ---- */

KTEST_POINTS(pfnlab, remove__any_page_takes_free_then_zeroed_then_standby, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[5];
    lab_set(&l, f, 5);
    hand_link(&l, FreePageList, f, 2);
    hand_link(&l, ZeroedPageList, f + 2, 1);
    hand_link(&l, StandbyPageList, f + 3, 1);
    hand_link(&l, ModifiedPageList, f + 4, 1);
    KT_EQ(MiLabRemoveAnyPage(&l), f[0]);                /* the free list's head: the hot end */
    expect_taken(f[0]);
    expect_list(&l, FreePageList, f + 1, 1);
    KT_EQ(MiLabRemoveAnyPage(&l), f[1]);
    KT_EQ(MiLabRemoveAnyPage(&l), f[2]);                /* then zeroed: a zeroed frame is not wasted first */
    expect_taken(f[2]);
    expect_list(&l, ZeroedPageList, NULL, 0);
    KT_EQ(MiLabRemoveAnyPage(&l), f[3]);                /* standby last: it still holds someone's data */
    expect_taken(f[3]);
    KT_EQ(MiLabRemoveAnyPage(&l), END);                 /* never the modified frame */
    expect_list(&l, ModifiedPageList, f + 4, 1);
    KtReturnFrames();
}

KTEST_POINTS(pfnlab, remove__zero_page_prefers_zeroed_and_zeroes_a_free_one, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[3];
    lab_set(&l, f, 3);
    hand_link(&l, ZeroedPageList, f, 1);
    hand_link(&l, FreePageList, f + 1, 2);
    fill(f[1], 0xA5);
    fill(f[2], 0x5A);
    KT_EQ(MiLabRemoveZeroPage(&l), f[0]);
    expect_taken(f[0]);
    expect_list(&l, FreePageList, f + 1, 2);            /* the free frames were not touched */
    KT_ASSERT(frame_all(f[2], 0x5A));
    KT_EQ(MiLabRemoveZeroPage(&l), f[1]);               /* from the free list: zeroed on the way */
    expect_taken(f[1]);
    KT_ASSERT(frame_all(f[1], 0));
    KT_EQ(MiLabRemoveAnyPage(&l), f[2]);                /* any page: no zeroing */
    KT_ASSERT(frame_all(f[2], 0x5A));
    KT_EQ(MiLabRemoveZeroPage(&l), END);
    KtReturnFrames();
}

KTEST_POINTS(pfnlab, remove__standby_is_repurposed_oldest_first, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[3];
    MMPTE pte[2];
    lab_set(&l, f, 3);
    hand_link(&l, StandbyPageList, f, 2);
    hand_link(&l, ModifiedPageList, f + 2, 1);
    UNDER_PFN_LOCK({
        for (ULONG i = 0; i < 2; i++) {
            /* Each standby frame's PTE is in transition to it; its data is
             * also in pagefile slot 0x40 + i, which OriginalPte names. */
            pte[i].u.Long = MI_PTE_TRANSITION | (f[i] << PAGE_SHIFT);
            E(f[i])->PteAddress = &pte[i];
            E(f[i])->OriginalPte.u.Long = MiMakePageFilePte(0, 0x40 + i, MM_READWRITE);
        }
    });
    fill(f[1], 0x77);
    KT_EQ(MiLabRemoveAnyPage(&l), f[0]);                /* the head: trimmed longest ago */
    KT_EQ(pte[0].u.Long, MiMakePageFilePte(0, 0x40, MM_READWRITE));   /* its PTE now names the slot */
    KT_EQ(pte[1].u.Long, MI_PTE_TRANSITION | (f[1] << PAGE_SHIFT));  /* the other is untouched */
    expect_taken(f[0]);
    expect_list(&l, StandbyPageList, f + 1, 1);
    KT_EQ(MiLabRemoveZeroPage(&l), f[1]);               /* a zeroed request takes standby too... */
    KT_EQ(pte[1].u.Long, MiMakePageFilePte(0, 0x41, MM_READWRITE));
    KT_ASSERT(frame_all(f[1], 0));                      /* ...and zeroes it: the old data must not leak */
    expect_taken(f[1]);
    KT_EQ(MiLabRemoveAnyPage(&l), END);
    expect_list(&l, ModifiedPageList, f + 2, 1);
    KtReturnFrames();
}

KTEST_POINTS(pfnlab, zero__takes_the_cold_end_of_the_free_list, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[4];
    lab_set(&l, f, 4);
    hand_link(&l, FreePageList, f, 4);
    for (ULONG i = 0; i < 4; i++)
        fill(f[i], (UCHAR)(0x11 * (i + 1)));
    KT_EQ(MiLabZeroFreePages(&l, 2), 2);
    PFN_NUMBER zeroed[2] = { f[2], f[3] };              /* f[3] (the tail) first, then f[2] at the head */
    expect_list(&l, ZeroedPageList, zeroed, 2);
    expect_list(&l, FreePageList, f, 2);
    KT_ASSERT(frame_all(f[2], 0));
    KT_ASSERT(frame_all(f[3], 0));
    KT_ASSERT(frame_all(f[0], 0x11));                   /* the hot end is left for what needs no zeros */
    KT_ASSERT(frame_all(f[1], 0x22));
    KT_EQ(MiLabZeroFreePages(&l, 5), 2);                /* only two were left */
    expect_list(&l, ZeroedPageList, f, 4);
    expect_list(&l, FreePageList, NULL, 0);
    KT_EQ(MiLabZeroFreePages(&l, 1), 0);
    KtReturnFrames();
}

/* ---- Part 3: references ---- */

KTEST_POINTS(pfnlab, dereference__last_reference_chooses_the_list, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[4];
    lab_set(&l, f, 4);
    UNDER_PFN_LOCK({
        E(f[0])->Modified = 1;                          /* dirty: the only copy */
        E(f[2])->PteDeleted = 1;                        /* its owner freed it */
        E(f[2])->Modified = 1;
        E(f[2])->OriginalPte.u.Long = MiMakePageFilePte(0, 0x55, MM_READWRITE);
        E(f[3])->ReferenceCount = 2;                    /* mapped and locked */
    });
    MiLabDereferencePage(&l, f[0]);
    MiLabDereferencePage(&l, f[1]);
    MiLabDereferencePage(&l, f[2]);
    MiLabDereferencePage(&l, f[3]);
    expect_list(&l, ModifiedPageList, f, 1);
    expect_list(&l, StandbyPageList, f + 1, 1);
    expect_list(&l, FreePageList, f + 2, 1);
    KT_FRAME fr;
    KT_ASSERT(KtFrameInfo(f[0], &fr));
    KT_EQ(fr.Modified, 1);
    KT_ASSERT(KtFrameInfo(f[2], &fr));
    KT_EQ(fr.Modified, 0);                              /* a free frame has no past */
    KT_EQ(E(f[2])->PteDeleted, 0);
    KT_EQ(E(f[2])->OriginalPte.u.Long, 0);
    KT_ASSERT(KtFrameInfo(f[3], &fr));
    KT_STREQ(KtFrameListName(fr.List), "Active");       /* one reference is left */
    KT_EQ(fr.ReferenceCount, 1);
    MiLabDereferencePage(&l, f[3]);
    PFN_NUMBER standby[2] = { f[1], f[3] };             /* clean: at the standby list's tail */
    expect_list(&l, StandbyPageList, standby, 2);
    KtReturnFrames();
}

KTEST_POINTS(pfnlab, reference__takes_a_frame_back_from_standby_or_modified, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[5];
    lab_set(&l, f, 5);
    hand_link(&l, StandbyPageList, f, 3);
    hand_link(&l, ModifiedPageList, f + 3, 1);
    ULONG64 orig = MiMakePageFilePte(0, 0x66, MM_READWRITE);
    UNDER_PFN_LOCK(E(f[1])->OriginalPte.u.Long = orig);
    MiLabReferencePage(&l, f[1]);                       /* a soft fault from the middle */
    KT_FRAME fr;
    KT_ASSERT(KtFrameInfo(f[1], &fr));
    KT_STREQ(KtFrameListName(fr.List), "Active");
    KT_EQ(fr.ReferenceCount, 1);
    KT_EQ(fr.Modified, 0);
    KT_EQ(E(f[1])->OriginalPte.u.Long, orig);          /* still clean, its copy still good */
    PFN_NUMBER rest[2] = { f[0], f[2] };
    expect_list(&l, StandbyPageList, rest, 2);
    MiLabReferencePage(&l, f[3]);
    KT_ASSERT(KtFrameInfo(f[3], &fr));
    KT_STREQ(KtFrameListName(fr.List), "Active");
    KT_EQ(fr.ReferenceCount, 1);
    KT_EQ(fr.Modified, 1);                              /* still the only copy */
    expect_list(&l, ModifiedPageList, NULL, 0);
    MiLabReferencePage(&l, f[1]);                       /* in use: one more */
    MiLabReferencePage(&l, f[4]);
    KT_EQ(KtPfnReferenceCount(f[1]), 2);
    KT_EQ(KtPfnReferenceCount(f[4]), 2);
    KtReturnFrames();
}

KTEST_BUGCHECK_POINTS(pfnlab, dereference__one_too_many_bugchecks, 5, PFN_LIST_CORRUPT, 0x07, KT_ANY, 0, 0)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[2];
    lab_set(&l, f, 2);
    hand_link(&l, StandbyPageList, f, 2);
    KtExpectParam(2, f[1]);
    MiLabDereferencePage(&l, f[1]);                     /* on a list: no reference to drop */
}

/* ---- Part 4: the invariant checker ---- */

/* Ten frames: zeroed z0 z1, free f0 f1 f2, standby s0 s1, modified m0 m1,
 * and a0 in use (one reference). */
enum { Z0, Z1, F0, F1, F2, S0, S1, M0, M1, A0, NSET };

static void sound_set(MI_LAB_PAGE_LISTS *l, PFN_NUMBER *f)
{
    lab_set(l, f, NSET);
    hand_link(l, ZeroedPageList, f + Z0, 2);
    hand_link(l, FreePageList, f + F0, 3);
    hand_link(l, StandbyPageList, f + S0, 2);
    hand_link(l, ModifiedPageList, f + M0, 2);
}

static void expect_rule(MI_LAB_PAGE_LISTS *l, MI_LAB_PFN_RULE rule, PFN_NUMBER pfn, ULONG list)
{
    MI_LAB_PFN_PROBLEM p;
    memset(&p, 0xCC, sizeof(p));
    MI_LAB_PFN_RULE r = MiLabCheckPageLists(l, &p);
    KT_STREQ(MiLabPfnRuleName(r), MiLabPfnRuleName(rule));
    KT_STREQ(MiLabPfnRuleName(p.Rule), MiLabPfnRuleName(rule));
    KT_EQ(p.Pfn, pfn);
    KT_EQ(p.List, list);
}

KTEST_POINTS(pfnlab, check__counts_and_tails, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[NSET];
    sound_set(&l, f);
    expect_rule(&l, MiLabPfnOk, END, 0);
    l.Free.Total = 4;
    expect_rule(&l, MiLabPfnCount, END, FreePageList);
    l.Free.Total = 3;
    l.Standby.Blink = f[S0];
    expect_rule(&l, MiLabPfnTail, END, StandbyPageList);
    l.Standby.Blink = f[S1];
    l.Modified.Total = 0;
    expect_rule(&l, MiLabPfnCount, END, ModifiedPageList);
    l.Modified.Total = 2;
    expect_rule(&l, MiLabPfnOk, END, 0);
    KtReturnFrames();
}

KTEST_POINTS(pfnlab, check__back_links_and_locations, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[NSET];
    sound_set(&l, f);
    UNDER_PFN_LOCK(E(f[F1])->Blink = f[F2]);
    expect_rule(&l, MiLabPfnBackLink, f[F1], FreePageList);
    UNDER_PFN_LOCK(E(f[F1])->Blink = f[F0]);
    UNDER_PFN_LOCK(E(f[Z0])->Blink = f[M1]);            /* a head frame points back at something */
    expect_rule(&l, MiLabPfnBackLink, f[Z0], ZeroedPageList);
    UNDER_PFN_LOCK(E(f[Z0])->Blink = END);
    UNDER_PFN_LOCK(E(f[S1])->PageLocation = ModifiedPageList);
    expect_rule(&l, MiLabPfnLocation, f[S1], StandbyPageList);
    UNDER_PFN_LOCK(E(f[S1])->PageLocation = StandbyPageList);
    expect_rule(&l, MiLabPfnOk, END, 0);
    KtReturnFrames();
}

KTEST_POINTS(pfnlab, check__referenced_and_lost_frames, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[NSET];
    sound_set(&l, f);
    UNDER_PFN_LOCK(E(f[F2])->ReferenceCount = 1);
    expect_rule(&l, MiLabPfnReferenced, f[F2], FreePageList);
    UNDER_PFN_LOCK(E(f[F2])->ReferenceCount = 0);
    UNDER_PFN_LOCK(E(f[M0])->ShareCount = 1);
    expect_rule(&l, MiLabPfnReferenced, f[M0], ModifiedPageList);
    UNDER_PFN_LOCK(E(f[M0])->ShareCount = 0);
    UNDER_PFN_LOCK(E(f[A0])->ReferenceCount = 0);       /* in use by nobody */
    expect_rule(&l, MiLabPfnLost, f[A0], ActiveAndValid);
    UNDER_PFN_LOCK(E(f[A0])->ReferenceCount = 1);
    /* F1 taken out of the free list by links alone: it still says Free. */
    UNDER_PFN_LOCK({
        E(f[F0])->Flink = f[F2];
        E(f[F2])->Blink = f[F0];
    });
    l.Free.Total = 2;
    expect_rule(&l, MiLabPfnNotOnList, f[F1], FreePageList);
    KtReturnFrames();
}

KTEST_POINTS(pfnlab, check__wild_links_and_cycles, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[NSET];
    sound_set(&l, f);
    /* A number past the end of the database: reading its entry would fault. */
    PFN_NUMBER wild = MmHighestPhysicalPage + 0x1000;
    UNDER_PFN_LOCK(E(f[S1])->Flink = wild);
    expect_rule(&l, MiLabPfnForeignFrame, wild, StandbyPageList);
    UNDER_PFN_LOCK(E(f[S1])->Flink = END);
    UNDER_PFN_LOCK(E(f[F2])->Flink = f[F0]);            /* a cycle */
    expect_rule(&l, MiLabPfnFrameTwice, f[F0], FreePageList);
    UNDER_PFN_LOCK(E(f[F2])->Flink = END);
    UNDER_PFN_LOCK(E(f[M1])->Flink = f[S0]);            /* the modified list runs into the standby list */
    expect_rule(&l, MiLabPfnFrameTwice, f[S0], ModifiedPageList);
    UNDER_PFN_LOCK(E(f[M1])->Flink = END);
    expect_rule(&l, MiLabPfnOk, END, 0);
    KtReturnFrames();
}
