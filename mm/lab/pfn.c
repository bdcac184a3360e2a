/*
 * The PFN database lab (docs/labs/pfn.md): the student's page lists,
 * frame taking, reference transitions and invariant checker, over a lab
 * page-list set (mm/lab/pfn.h). The regions between the LAB markers are
 * the solution; `scripts/lab.py cut pfn` replaces each with the STUB
 * comment after it.
 *
 * Why the lists are ordered as they are: the zeroed and free lists are
 * LIFO because the frame freed last is the one most likely still in the
 * caches (and TLB-warm), so it is the best one to hand out next; the
 * zero-page thread works from the other, cold end. The standby and
 * modified lists are FIFO: a frame joins at the tail when it is trimmed
 * and is taken (repurposed, or written out) from the head, so the page
 * that has gone unused longest goes first - the lists age like a queue,
 * and a page touched again meanwhile is taken out of the middle (a soft
 * fault) and so escapes.
 */
#include "mm/lab/pfn.h"

void MiLabInitializePageLists(MI_LAB_PAGE_LISTS *Lists, const PFN_NUMBER *Frames, ULONG Count)
{
    memset(Lists, 0, sizeof(*Lists));
    MMPFNLIST *heads[4] = { &Lists->Zeroed, &Lists->Free, &Lists->Standby, &Lists->Modified };
    for (ULONG l = 0; l < 4; l++) {
        heads[l]->ListName = (MMLISTS)l;   /* ZeroedPageList = 0 ... ModifiedPageList = 3 */
        heads[l]->Flink = heads[l]->Blink = MI_PFN_LIST_END;
    }
    if (Count > MI_LAB_PFN_MAX_FRAMES)
        Count = MI_LAB_PFN_MAX_FRAMES;
    for (ULONG i = 0; i < Count; i++)
        Lists->Frames[i] = Frames[i];
    Lists->FrameCount = Count;
}

PMMPFNLIST MiLabListHead(MI_LAB_PAGE_LISTS *Lists, ULONG Location)
{
    switch (Location) {
    case ZeroedPageList: return &Lists->Zeroed;
    case FreePageList: return &Lists->Free;
    case StandbyPageList: return &Lists->Standby;
    case ModifiedPageList: return &Lists->Modified;
    default: return NULL;
    }
}

BOOLEAN MiLabIsSetFrame(const MI_LAB_PAGE_LISTS *Lists, PFN_NUMBER Pfn)
{
    for (ULONG i = 0; i < Lists->FrameCount; i++)
        if (Lists->Frames[i] == Pfn)
            return TRUE;
    return FALSE;
}

const char *MiLabPfnRuleName(MI_LAB_PFN_RULE Rule)
{
    static const char *const names[MiLabPfnRuleMax] = {
        "Ok", "ForeignFrame", "FrameTwice", "BackLink", "Location", "Referenced",
        "ModifiedBit", "NotZero", "Tail", "Count", "NotOnList", "Lost",
    };
    return (ULONG)Rule < MiLabPfnRuleMax ? names[Rule] : "?";
}

/* LAB pfn: BEGIN SOLUTION */
__attribute__((noreturn)) static void lab_corrupt(ULONG_PTR p1, PFN_NUMBER pfn, ULONG_PTR p3, ULONG_PTR p4,
                                                  const char *why)
{
    KeBugCheckRule(PFN_LIST_CORRUPT, p1, pfn, p3, p4, "lab page lists: %s (frame %#llx)", why,
                   (unsigned long long)pfn);
}

static void insert_locked(PMMPFNLIST head, PFN_NUMBER pfn)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    if (e->ReferenceCount || e->ShareCount)
        lab_corrupt(0x99, pfn, e->ReferenceCount, 0, "a frame with a reference or a share was put on a list");
    if (head->ListName <= FreePageList) {
        /* LIFO: the hot end is the head. */
        e->Blink = MI_PFN_LIST_END;
        e->Flink = head->Flink;
        if (head->Flink == MI_PFN_LIST_END)
            head->Blink = pfn;
        else
            MI_PFN_ELEMENT(head->Flink)->Blink = pfn;
        head->Flink = pfn;
    } else {
        /* FIFO: in at the tail, out at the head. */
        e->Flink = MI_PFN_LIST_END;
        e->Blink = head->Blink;
        if (head->Blink == MI_PFN_LIST_END)
            head->Flink = pfn;
        else
            MI_PFN_ELEMENT(head->Blink)->Flink = pfn;
        head->Blink = pfn;
    }
    head->Total++;
    e->PageLocation = head->ListName;
}

static void unlink_locked(MI_LAB_PAGE_LISTS *l, PFN_NUMBER pfn)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    PMMPFNLIST head = MiLabListHead(l, e->PageLocation);
    if (!head)
        lab_corrupt(0x02, pfn, e->PageLocation, 0, "a frame that is on no list was unlinked from one");
    /* Check both neighbours before writing anything: following a damaged
     * link would spread the damage to a frame that was fine. */
    BOOLEAN next_ok = e->Flink == MI_PFN_LIST_END ? head->Blink == pfn
                                                  : MiLabIsSetFrame(l, e->Flink) && MI_PFN_ELEMENT(e->Flink)->Blink == pfn;
    BOOLEAN prev_ok = e->Blink == MI_PFN_LIST_END ? head->Flink == pfn
                                                  : MiLabIsSetFrame(l, e->Blink) && MI_PFN_ELEMENT(e->Blink)->Flink == pfn;
    if (!next_ok || !prev_ok)
        lab_corrupt(0x01, pfn, e->Flink, e->Blink, "a page list's links do not agree");
    if (e->Flink == MI_PFN_LIST_END)
        head->Blink = e->Blink;
    else
        MI_PFN_ELEMENT(e->Flink)->Blink = e->Blink;
    if (e->Blink == MI_PFN_LIST_END)
        head->Flink = e->Flink;
    else
        MI_PFN_ELEMENT(e->Blink)->Flink = e->Flink;
    head->Total--;
    e->Flink = e->Blink = MI_PFN_LIST_END;
}

/* Off its list and in use by the taker, with nothing of its past life:
 * its old PTE (if any) was already pointed at the backing copy. */
static PFN_NUMBER take_locked(MI_LAB_PAGE_LISTS *l, PMMPFNLIST head, BOOLEAN zero)
{
    MI_ASSERT_PFN_LOCK_HELD();
    PFN_NUMBER pfn = head->Flink;
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    BOOLEAN was_zero = head->ListName == ZeroedPageList;
    if (head->ListName == StandbyPageList && e->PteAddress)
        *e->PteAddress = e->OriginalPte;   /* repurposed: the PTE now names the pagefile copy */
    unlink_locked(l, pfn);
    e->PageLocation = ActiveAndValid;
    e->ReferenceCount = 1;
    e->ShareCount = 0;
    e->Modified = 0;
    e->PteDeleted = 0;
    e->PteAddress = NULL;
    e->OriginalPte.u.Long = 0;
    if (zero && !was_zero)
        MiZeroPhysicalPage(pfn);   /* hyperspace: allowed under the PFN lock */
    return pfn;
}

static PFN_NUMBER remove_page(MI_LAB_PAGE_LISTS *l, BOOLEAN zero)
{
    PMMPFNLIST order[3] = { zero ? &l->Zeroed : &l->Free, zero ? &l->Free : &l->Zeroed, &l->Standby };
    KIRQL old = MiAcquirePfnLock();
    PFN_NUMBER pfn = MI_PFN_LIST_END;
    for (int i = 0; i < 3 && pfn == MI_PFN_LIST_END; i++)
        if (order[i]->Flink != MI_PFN_LIST_END)
            pfn = take_locked(l, order[i], zero);
    MiReleasePfnLock(old);
    return pfn;
}

static BOOLEAN frame_is_zero(PFN_NUMBER pfn)
{
    KIRQL old;
    const ULONG64 *p = MiMapPageInHyperspace(pfn, &old);
    ULONG64 any = 0;
    for (ULONG i = 0; i < PAGE_SIZE / 8; i++)
        any |= p[i];
    MiUnmapPageInHyperspace((PVOID)p, old);
    return any == 0;
}

static MI_LAB_PFN_RULE problem(MI_LAB_PFN_PROBLEM *p, MI_LAB_PFN_RULE rule, PFN_NUMBER pfn, ULONG list)
{
    p->Rule = rule;
    p->Pfn = pfn;
    p->List = list;
    return rule;
}

static int set_index(const MI_LAB_PAGE_LISTS *l, PFN_NUMBER pfn)
{
    for (ULONG i = 0; i < l->FrameCount; i++)
        if (l->Frames[i] == pfn)
            return (int)i;
    return -1;
}
/* LAB pfn: END SOLUTION */
/* LAB pfn: STUB
// Your helpers go here. Every public function below takes the PFN lock
// (MiAcquirePfnLock / MiReleasePfnLock) once; write the work itself as
// static helpers that assert it is held (MI_ASSERT_PFN_LOCK_HELD()), so
// that one function can call another's work: insert, unlink, take a frame
// off a list.
 */

void MiLabInsertPageInList(MI_LAB_PAGE_LISTS *Lists, PMMPFNLIST ListHead, PFN_NUMBER Pfn)
{
    /* LAB pfn: BEGIN SOLUTION */
    (void)Lists;
    KIRQL old = MiAcquirePfnLock();
    insert_locked(ListHead, Pfn);
    MiReleasePfnLock(old);
    /* LAB pfn: END SOLUTION */
    /* LAB pfn: STUB
    (void)Lists;
    (void)ListHead;
    (void)Pfn;
    KtLabNotImplemented("pfn", "MiLabInsertPageInList (mm/lab/pfn.c): link the frame in at the head of the "
                               "zeroed and free lists, at the tail of standby and modified");
     */
}

void MiLabUnlinkPageFromList(MI_LAB_PAGE_LISTS *Lists, PFN_NUMBER Pfn)
{
    /* LAB pfn: BEGIN SOLUTION */
    KIRQL old = MiAcquirePfnLock();
    unlink_locked(Lists, Pfn);
    MiReleasePfnLock(old);
    /* LAB pfn: END SOLUTION */
    /* LAB pfn: STUB
    (void)Lists;
    (void)Pfn;
    KtLabNotImplemented("pfn", "MiLabUnlinkPageFromList (mm/lab/pfn.c): check both neighbours' links, then "
                               "take the frame out of its list");
     */
}

PFN_NUMBER MiLabRemoveAnyPage(MI_LAB_PAGE_LISTS *Lists)
{
    /* LAB pfn: BEGIN SOLUTION */
    return remove_page(Lists, FALSE);
    /* LAB pfn: END SOLUTION */
    /* LAB pfn: STUB
    (void)Lists;
    KtLabNotImplemented("pfn", "MiLabRemoveAnyPage (mm/lab/pfn.c): take the head of free, else zeroed, else "
                               "standby (repurposed)");
     */
}

PFN_NUMBER MiLabRemoveZeroPage(MI_LAB_PAGE_LISTS *Lists)
{
    /* LAB pfn: BEGIN SOLUTION */
    return remove_page(Lists, TRUE);
    /* LAB pfn: END SOLUTION */
    /* LAB pfn: STUB
    (void)Lists;
    KtLabNotImplemented("pfn", "MiLabRemoveZeroPage (mm/lab/pfn.c): take the head of zeroed, else free or "
                               "standby and zero it");
     */
}

ULONG MiLabZeroFreePages(MI_LAB_PAGE_LISTS *Lists, ULONG Count)
{
    /* LAB pfn: BEGIN SOLUTION */
    ULONG done = 0;
    /* One frame per hold of the PFN lock, as the kernel's zero-page
     * thread does: a CPU waiting for the lock gets it between pages. The
     * frame stays on the free list while it is zeroed, so it is on some
     * list at every moment anyone else can look. */
    while (done < Count) {
        KIRQL old = MiAcquirePfnLock();
        PFN_NUMBER pfn = Lists->Free.Blink;   /* the cold end */
        if (pfn == MI_PFN_LIST_END) {
            MiReleasePfnLock(old);
            break;
        }
        MiZeroPhysicalPage(pfn);
        unlink_locked(Lists, pfn);
        insert_locked(&Lists->Zeroed, pfn);
        MiReleasePfnLock(old);
        done++;
    }
    return done;
    /* LAB pfn: END SOLUTION */
    /* LAB pfn: STUB
    (void)Lists;
    (void)Count;
    KtLabNotImplemented("pfn", "MiLabZeroFreePages (mm/lab/pfn.c): zero the free list's tail frame and move it "
                               "to the zeroed list, COUNT times");
     */
}

void MiLabReferencePage(MI_LAB_PAGE_LISTS *Lists, PFN_NUMBER Pfn)
{
    /* LAB pfn: BEGIN SOLUTION */
    KIRQL old = MiAcquirePfnLock();
    PMMPFN e = MI_PFN_ELEMENT(Pfn);
    if (e->PageLocation == StandbyPageList || e->PageLocation == ModifiedPageList) {
        unlink_locked(Lists, Pfn);   /* from the middle, most often */
        e->PageLocation = ActiveAndValid;
        e->ReferenceCount = 1;
    } else if (e->PageLocation == ZeroedPageList || e->PageLocation == FreePageList) {
        lab_corrupt(0x99, Pfn, e->PageLocation, 0, "a frame on the free or zeroed list was referenced");
    } else {
        e->ReferenceCount++;
    }
    MiReleasePfnLock(old);
    /* LAB pfn: END SOLUTION */
    /* LAB pfn: STUB
    (void)Lists;
    (void)Pfn;
    KtLabNotImplemented("pfn", "MiLabReferencePage (mm/lab/pfn.c): take a standby or modified frame back into "
                               "use, or add a reference");
     */
}

void MiLabDereferencePage(MI_LAB_PAGE_LISTS *Lists, PFN_NUMBER Pfn)
{
    /* LAB pfn: BEGIN SOLUTION */
    KIRQL old = MiAcquirePfnLock();
    PMMPFN e = MI_PFN_ELEMENT(Pfn);
    if (e->ReferenceCount == 0)
        lab_corrupt(0x07, Pfn, e->ShareCount, 0, "a frame was dereferenced more often than referenced");
    if (--e->ReferenceCount == 0) {
        if (e->ShareCount)
            lab_corrupt(0x99, Pfn, e->ShareCount, 0, "a frame's last reference went while PTEs still map it");
        if (e->PteDeleted) {
            e->Modified = 0;
            e->PteDeleted = 0;
            e->PteAddress = NULL;
            e->OriginalPte.u.Long = 0;
            insert_locked(&Lists->Free, Pfn);       /* nobody will ask for it back */
        } else if (e->Modified) {
            insert_locked(&Lists->Modified, Pfn);   /* the only copy: write it before reuse */
        } else {
            insert_locked(&Lists->Standby, Pfn);    /* clean: reusable, and still findable */
        }
    }
    MiReleasePfnLock(old);
    /* LAB pfn: END SOLUTION */
    /* LAB pfn: STUB
    (void)Lists;
    (void)Pfn;
    KtLabNotImplemented("pfn", "MiLabDereferencePage (mm/lab/pfn.c): drop a reference; at the last one put the "
                               "frame on the free, modified or standby list");
     */
}

MI_LAB_PFN_RULE MiLabCheckPageLists(MI_LAB_PAGE_LISTS *Lists, MI_LAB_PFN_PROBLEM *Problem)
{
    /* LAB pfn: BEGIN SOLUTION */
    BOOLEAN seen[MI_LAB_PFN_MAX_FRAMES] = { 0 };
    MI_LAB_PFN_RULE rule = MiLabPfnOk;
    problem(Problem, MiLabPfnOk, MI_PFN_LIST_END, 0);
    KIRQL old = MiAcquirePfnLock();
    for (ULONG l = ZeroedPageList; l <= ModifiedPageList && !rule; l++) {
        PMMPFNLIST head = MiLabListHead(Lists, l);
        PFN_NUMBER prev = MI_PFN_LIST_END, n = 0;
        for (PFN_NUMBER pfn = head->Flink; pfn != MI_PFN_LIST_END && !rule; pfn = MI_PFN_ELEMENT(pfn)->Flink) {
            int i = set_index(Lists, pfn);
            /* Never touch an entry the set does not own: a wild link may
             * name any number, even one past the end of the database. */
            if (i < 0) {
                rule = problem(Problem, MiLabPfnForeignFrame, pfn, l);
                break;
            }
            PMMPFN e = MI_PFN_ELEMENT(pfn);
            if (seen[i])
                rule = problem(Problem, MiLabPfnFrameTwice, pfn, l);   /* also what ends a cycle */
            else if (e->Blink != prev)
                rule = problem(Problem, MiLabPfnBackLink, pfn, l);
            else if (e->PageLocation != l)
                rule = problem(Problem, MiLabPfnLocation, pfn, l);
            else if (e->ReferenceCount || e->ShareCount)
                rule = problem(Problem, MiLabPfnReferenced, pfn, l);
            else if (e->Modified != (l == ModifiedPageList))
                rule = problem(Problem, MiLabPfnModifiedBit, pfn, l);
            else if (l == ZeroedPageList && !frame_is_zero(pfn))
                rule = problem(Problem, MiLabPfnNotZero, pfn, l);
            seen[i] = TRUE;
            prev = pfn;
            n++;
        }
        if (rule)
            break;
        if (head->Blink != prev)
            rule = problem(Problem, MiLabPfnTail, MI_PFN_LIST_END, l);
        else if (head->Total != n)
            rule = problem(Problem, MiLabPfnCount, MI_PFN_LIST_END, l);
    }
    for (ULONG i = 0; i < Lists->FrameCount && !rule; i++) {
        if (seen[i])
            continue;
        PMMPFN e = MI_PFN_ELEMENT(Lists->Frames[i]);
        if (e->PageLocation <= ModifiedPageList)
            rule = problem(Problem, MiLabPfnNotOnList, Lists->Frames[i], e->PageLocation);
        else if (e->ReferenceCount == 0)
            rule = problem(Problem, MiLabPfnLost, Lists->Frames[i], e->PageLocation);
    }
    MiReleasePfnLock(old);
    return rule;
    /* LAB pfn: END SOLUTION */
    /* LAB pfn: STUB
    (void)Lists;
    (void)Problem;
    KtLabNotImplemented("pfn", "MiLabCheckPageLists (mm/lab/pfn.c): walk each list checking every rule in "
                               "order, then the frames no walk reached");
     */
}
