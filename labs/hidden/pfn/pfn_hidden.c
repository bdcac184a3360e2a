/*
 * Hidden tests of the PFN database lab (course staff's; never in a student
 * tree). Frames from KtTakeFrames, results read through KtFrameInfo,
 * KtFrameLinks and KtReadFrame; the PFN entry fields a test sets on
 * purpose (a flag, a wrong byte) are the lab's own data (mm/lab/pfn.h).
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "mm/lab/pfn.h"

#define END MI_PFN_LIST_END
#define LOCKED(stmt)                         \
    do {                                     \
        KIRQL o_ = MiAcquirePfnLock();       \
        stmt;                                \
        MiReleasePfnLock(o_);                \
    } while (0)

static UCHAR hbuf[PAGE_SIZE];

static void hfill(PFN_NUMBER pfn, UCHAR v)
{
    memset(hbuf, v, PAGE_SIZE);
    KT_EQ(KtWriteFrame(pfn, 0, hbuf, PAGE_SIZE), STATUS_SUCCESS);
}

static BOOLEAN hzero(PFN_NUMBER pfn)
{
    KT_EQ(KtReadFrame(pfn, 0, hbuf, PAGE_SIZE), STATUS_SUCCESS);
    for (ULONG i = 0; i < PAGE_SIZE; i++)
        if (hbuf[i])
            return FALSE;
    return TRUE;
}

static void hlink(MI_LAB_PAGE_LISTS *l, ULONG list, const PFN_NUMBER *f, ULONG n)
{
    for (ULONG i = 0; list == ZeroedPageList && i < n; i++)
        hfill(f[i], 0);
    PMMPFNLIST h = MiLabListHead(l, list);
    LOCKED({
        for (ULONG i = 0; i < n; i++) {
            PMMPFN e = MI_PFN_ELEMENT(f[i]);
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

static ULONG hlist(PFN_NUMBER pfn)
{
    KT_FRAME fr;
    KT_ASSERT(KtFrameInfo(pfn, &fr));
    return fr.List;
}

static void hrule(MI_LAB_PAGE_LISTS *l, MI_LAB_PFN_RULE rule, PFN_NUMBER pfn, ULONG list)
{
    MI_LAB_PFN_PROBLEM p;
    KT_STREQ(MiLabPfnRuleName(MiLabCheckPageLists(l, &p)), MiLabPfnRuleName(rule));
    KT_EQ(p.Pfn, pfn);
    KT_EQ(p.List, list);
}

/* The two content rules: Modified exactly on the modified list, zeros on the zeroed list. */
KTEST_POINTS(pfnlab_hidden, check__modified_bits_and_zeroed_contents, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[6];
    KT_EQ(KtTakeFrames(6, f), STATUS_SUCCESS);
    MiLabInitializePageLists(&l, f, 6);
    hlink(&l, ZeroedPageList, f, 2);
    hlink(&l, StandbyPageList, f + 2, 2);
    hlink(&l, ModifiedPageList, f + 4, 2);
    hrule(&l, MiLabPfnOk, END, 0);
    LOCKED(MI_PFN_ELEMENT(f[3])->Modified = 1);         /* dirty, yet on the standby list: would be lost */
    hrule(&l, MiLabPfnModifiedBit, f[3], StandbyPageList);
    LOCKED(MI_PFN_ELEMENT(f[3])->Modified = 0);
    LOCKED(MI_PFN_ELEMENT(f[5])->Modified = 0);
    hrule(&l, MiLabPfnModifiedBit, f[5], ModifiedPageList);
    LOCKED(MI_PFN_ELEMENT(f[5])->Modified = 1);
    UCHAR one = 1;
    KT_EQ(KtWriteFrame(f[1], PAGE_SIZE - 1, &one, 1), STATUS_SUCCESS);   /* the last byte of the page */
    hrule(&l, MiLabPfnNotZero, f[1], ZeroedPageList);
    KtReturnFrames();
}

/* With only standby and modified frames: a zeroed request repurposes and
 * zeroes, then nothing is left for either kind of request. */
KTEST_POINTS(pfnlab_hidden, remove__only_standby_and_modified_left, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[2];
    MMPTE pte;
    KT_EQ(KtTakeFrames(2, f), STATUS_SUCCESS);
    MiLabInitializePageLists(&l, f, 2);
    hlink(&l, StandbyPageList, f, 1);
    hlink(&l, ModifiedPageList, f + 1, 1);
    hfill(f[0], 0xEE);
    ULONG64 slot = MiMakePageFilePte(0, 0x123, MM_READONLY);
    LOCKED({
        pte.u.Long = MI_PTE_TRANSITION | (f[0] << PAGE_SHIFT);
        MI_PFN_ELEMENT(f[0])->PteAddress = &pte;
        MI_PFN_ELEMENT(f[0])->OriginalPte.u.Long = slot;
    });
    KT_EQ(MiLabRemoveZeroPage(&l), f[0]);
    KT_EQ(pte.u.Long, slot);
    KT_ASSERT(hzero(f[0]));
    KT_EQ(KtPfnReferenceCount(f[0]), 1);
    KT_EQ(MiLabRemoveZeroPage(&l), END);
    KT_EQ(MiLabRemoveAnyPage(&l), END);
    KT_STREQ(KtFrameListName(hlist(f[1])), "Modified");
    KtReturnFrames();
}

/* One frame through its whole life, the checker content at every step. */
KTEST_POINTS(pfnlab_hidden, lists__one_frame_through_every_list, 5)
{
    MI_LAB_PAGE_LISTS l;
    PFN_NUMBER f[1];
    KT_EQ(KtTakeFrames(1, f), STATUS_SUCCESS);
    MiLabInitializePageLists(&l, f, 1);
    PFN_NUMBER x = f[0];
    hrule(&l, MiLabPfnOk, END, 0);                      /* in use, one reference */
    LOCKED(MI_PFN_ELEMENT(x)->Modified = 1);            /* written through its PTE */
    MiLabDereferencePage(&l, x);                        /* trimmed */
    KT_STREQ(KtFrameListName(hlist(x)), "Modified");
    hrule(&l, MiLabPfnOk, END, 0);
    MiLabReferencePage(&l, x);                          /* the modified page writer takes it */
    KT_STREQ(KtFrameListName(hlist(x)), "Active");
    LOCKED(MI_PFN_ELEMENT(x)->Modified = 0);            /* written out */
    MiLabDereferencePage(&l, x);
    KT_STREQ(KtFrameListName(hlist(x)), "Standby");
    hrule(&l, MiLabPfnOk, END, 0);
    KT_EQ(MiLabRemoveAnyPage(&l), x);                   /* repurposed */
    hrule(&l, MiLabPfnOk, END, 0);
    LOCKED(MI_PFN_ELEMENT(x)->PteDeleted = 1);          /* its new owner frees it */
    MiLabDereferencePage(&l, x);
    KT_STREQ(KtFrameListName(hlist(x)), "Free");
    hrule(&l, MiLabPfnOk, END, 0);
    hfill(x, 0x42);
    KT_EQ(MiLabZeroFreePages(&l, 4), 1);
    KT_STREQ(KtFrameListName(hlist(x)), "Zeroed");
    hrule(&l, MiLabPfnOk, END, 0);
    KT_EQ(MiLabRemoveZeroPage(&l), x);
    KT_ASSERT(hzero(x));
    hrule(&l, MiLabPfnOk, END, 0);
    KtReturnFrames();
}
