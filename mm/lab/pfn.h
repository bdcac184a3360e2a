/*
 * The PFN database lab (docs/labs/pfn.md): NT's page lists, written by the
 * student, over a lab page-list set - four list heads of its own (zeroed,
 * free, standby, modified) holding a few real frames a test took from the
 * kernel. The frames' own PFN entries (MMPFN in mm/mi.h: Flink, Blink,
 * PageLocation, ReferenceCount, ShareCount, Modified, PteDeleted,
 * PteAddress, OriginalPte) are what the student's code changes and what
 * the tests read back through the course-staff API (KtFrameInfo,
 * KtFrameLinks, KtReadFrame).
 *
 * The kernel's own lists (mm/pfn.c) never hold these frames and never call
 * this code: only the lab's tests (mm/lab/tests/pfn_test.c) do, so a
 * kernel with the stubs boots and runs as before.
 *
 * One difference from NT, to keep every call one step a test can watch:
 * NT's list routines run with the PFN lock already held by their caller;
 * each function here takes the PFN lock itself (the lab's frames are in the
 * real database, which that lock guards), and calls only static helpers of
 * its own while it holds it.
 */
#pragma once
#include "mm/mi.h"
#include "kernel/ktest/ktest.h"   /* KtLabNotImplemented, in the stubs */

#define MI_LAB_PFN_MAX_FRAMES 32

typedef struct _MI_LAB_PAGE_LISTS {
    /* ListName is ZeroedPageList, FreePageList, StandbyPageList,
     * ModifiedPageList; Flink is the head, Blink the tail, Total the
     * frames on the list; MI_PFN_LIST_END ends a list. */
    MMPFNLIST Zeroed, Free, Standby, Modified;
    PFN_NUMBER Frames[MI_LAB_PFN_MAX_FRAMES];   /* every frame the lists may hold */
    ULONG FrameCount;
} MI_LAB_PAGE_LISTS;

/* ---- given (mm/lab/pfn.c, outside the solution) ---- */

/* Four empty lists over FRAMES (at most MI_LAB_PFN_MAX_FRAMES), which
 * stay as they are: frames taken from the kernel (KtTakeFrames) are in use,
 * ActiveAndValid with one reference. */
void MiLabInitializePageLists(MI_LAB_PAGE_LISTS *Lists, const PFN_NUMBER *Frames, ULONG Count);
/* The head of the list PageLocation LOCATION names (ZeroedPageList ...
 * ModifiedPageList), NULL for any other location. */
PMMPFNLIST MiLabListHead(MI_LAB_PAGE_LISTS *Lists, ULONG Location);
/* Is PFN one of the set's frames? (Compares numbers only: never touches
 * the PFN entry of a frame that is not.) */
BOOLEAN MiLabIsSetFrame(const MI_LAB_PAGE_LISTS *Lists, PFN_NUMBER Pfn);

/* ---- Part 1: the lists ---- */

/* Put unreferenced frame PFN on LISTHEAD: at the head (LIFO) of the zeroed
 * and free lists, at the tail (FIFO) of the standby and modified lists;
 * PageLocation becomes the list's name, Total grows. A frame with a
 * reference or a share is a caller's bug: PFN_LIST_CORRUPT (0x4E) P1 0x99,
 * P2 the frame, P3 its ReferenceCount. */
void MiLabInsertPageInList(MI_LAB_PAGE_LISTS *Lists, PMMPFNLIST ListHead, PFN_NUMBER Pfn);
/* Take PFN off the list its PageLocation names, wherever it is on it (head,
 * middle, tail); its Flink and Blink become MI_PFN_LIST_END, Total
 * shrinks, PageLocation is left for the caller to set. Before changing
 * anything, the neighbours must agree: the next frame's Blink (or, at the
 * tail, the head's Blink) and the previous frame's Flink (or, at the
 * head, the head's Flink) must name PFN. Otherwise PFN_LIST_CORRUPT:
 *   P1 0x01, P2 PFN, P3 its Flink, P4 its Blink   the links disagree
 *   P1 0x02, P2 PFN, P3 its PageLocation, P4 0    PageLocation names no lab list */
void MiLabUnlinkPageFromList(MI_LAB_PAGE_LISTS *Lists, PFN_NUMBER Pfn);

/* ---- Part 2: taking a frame ---- */

/* A frame for any use: the free list's head, else the zeroed list's head,
 * else the standby list's head, repurposed: if its PteAddress is set, that
 * PTE is given the frame's OriginalPte (the data is in the pagefile now;
 * a later touch is a hard fault). Never a modified frame (the only copy of
 * its data). The frame returned is in use: ActiveAndValid, ReferenceCount
 * 1, ShareCount 0, Modified and PteDeleted 0, PteAddress NULL, OriginalPte
 * 0, links MI_PFN_LIST_END. MI_PFN_LIST_END when all three lists are empty. */
PFN_NUMBER MiLabRemoveAnyPage(MI_LAB_PAGE_LISTS *Lists);
/* The same for a frame that must read as zeros: the zeroed list's head,
 * else the free list's head zeroed here, else a standby frame repurposed
 * and zeroed. */
PFN_NUMBER MiLabRemoveZeroPage(MI_LAB_PAGE_LISTS *Lists);
/* The zero-page thread's step, COUNT times at most: zero the free list's
 * tail frame (its cold end) and move it to the zeroed list. Returns how
 * many frames moved (fewer when the free list runs out). */
ULONG MiLabZeroFreePages(MI_LAB_PAGE_LISTS *Lists, ULONG Count);

/* ---- Part 3: references ---- */

/* One more reference on PFN. A frame on the standby or modified list (a
 * soft fault, or an MDL lock, finds it there) comes off the list and is in
 * use again with ReferenceCount 1, its Modified, PteAddress and
 * OriginalPte kept; a frame in use gets ReferenceCount + 1. A frame on the
 * free or zeroed list belongs to nobody: PFN_LIST_CORRUPT P1 0x99, P2 PFN,
 * P3 its PageLocation. */
void MiLabReferencePage(MI_LAB_PAGE_LISTS *Lists, PFN_NUMBER Pfn);
/* One reference less (NT's MiDecrementReferenceCount). At the last one the
 * frame goes to a list: PteDeleted (its owner let it go) -> the free list,
 * with Modified, PteDeleted, PteAddress and OriginalPte cleared; else
 * Modified (the only copy of its data) -> the modified list; else (clean:
 * its backing copy is good) -> the standby list. PFN_LIST_CORRUPT:
 *   P1 0x07, P2 PFN, P3 its ShareCount, P4 0   no reference to drop
 *   P1 0x99, P2 PFN, P3 its ShareCount, P4 0   the last reference went while PTEs map it */
void MiLabDereferencePage(MI_LAB_PAGE_LISTS *Lists, PFN_NUMBER Pfn);

/* ---- Part 4: the invariant checker ---- */

/* The rules, in the order they are checked. The lists are walked in the
 * order zeroed, free, standby, modified, each from its head along Flink;
 * at each frame reached, in this order: */
typedef enum _MI_LAB_PFN_RULE {
    MiLabPfnOk = 0,
    MiLabPfnForeignFrame,    /* a link names a frame not in the set (the walk must not follow it) */
    MiLabPfnFrameTwice,      /* a frame reached a second time: a cycle, or on two lists */
    MiLabPfnBackLink,        /* its Blink is not the frame before it (MI_PFN_LIST_END for the first) */
    MiLabPfnLocation,        /* its PageLocation is not this list's name */
    MiLabPfnReferenced,      /* ReferenceCount or ShareCount is not 0 on a list */
    MiLabPfnModifiedBit,     /* Modified is set off the modified list, or clear on it */
    MiLabPfnNotZero,         /* a frame on the zeroed list holds a byte that is not 0 */
    /* at the end of each list's walk: */
    MiLabPfnTail,            /* the head's Blink is not the last frame reached */
    MiLabPfnCount,           /* the head's Total is not the number of frames reached */
    /* then for each frame of the set no walk reached, in set order: */
    MiLabPfnNotOnList,       /* its PageLocation names a list (Zeroed..Modified) */
    MiLabPfnLost,            /* in use with ReferenceCount 0: nobody can ever reuse it */
    MiLabPfnRuleMax
} MI_LAB_PFN_RULE;

typedef struct _MI_LAB_PFN_PROBLEM {
    MI_LAB_PFN_RULE Rule;
    PFN_NUMBER Pfn;          /* the frame at which it broke; for ForeignFrame the number the link
                                held; for Tail and Count MI_PFN_LIST_END */
    ULONG List;              /* the list being walked (for NotOnList and Lost: the frame's PageLocation) */
} MI_LAB_PFN_PROBLEM;

/* Check the set against every rule above and return the first one broken
 * (MiLabPfnOk if none), with where, in *PROBLEM (Rule MiLabPfnOk, Pfn
 * MI_PFN_LIST_END and List 0 when all hold). Changes nothing. */
MI_LAB_PFN_RULE MiLabCheckPageLists(MI_LAB_PAGE_LISTS *Lists, MI_LAB_PFN_PROBLEM *Problem);
/* The rule's name, "Ok" ... "Lost" (given). */
const char *MiLabPfnRuleName(MI_LAB_PFN_RULE Rule);
