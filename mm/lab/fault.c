/*
 * The demand-paging lab (docs/labs/fault.md): the student's demand-zero
 * and copy-on-write resolvers. The regions between the LAB markers are the
 * solution; `scripts/lab.py cut fault` replaces each with the STUB comment
 * after it. MiLabDispatchFault, at the end, is the course's and is not cut.
 *
 * Both run inside the page fault, with the process's address-space lock
 * held (a mutex: waiting for a frame is allowed) and at PASSIVE_LEVEL. A
 * PTE and the PFN entry of its frame change together, under the PFN lock:
 * the working-set manager, a trim or an MDL lock in another thread looks
 * at both under that lock. Nothing is allocated inside it (mm.md §6), so
 * a frame is taken first and the lock only held to map it.
 */
#include "mm/lab/fault.h"

/* LAB fault: BEGIN SOLUTION */
/* The whole page, through two hyperspace windows: neither frame need be
 * mapped anywhere the kernel can reach (the source is a user page, maybe
 * of another process; the copy is mapped nowhere yet). */
static void lab_copy_frame(PFN_NUMBER to, PFN_NUMBER from)
{
    KIRQL o1, o2;
    PVOID src = MiMapPageInHyperspace(from, &o1);
    PVOID dst = MiMapPageInHyperspace(to, &o2);
    memcpy(dst, src, PAGE_SIZE);
    MiUnmapPageInHyperspace(dst, o2);
    MiUnmapPageInHyperspace(src, o1);
}
/* LAB fault: END SOLUTION */
/* LAB fault: STUB
// Your helpers go here: copy one frame into another through hyperspace
// (MiMapPageInHyperspace / MiUnmapPageInHyperspace, both at once).
 */

NTSTATUS MiLabResolveDemandZeroFault(PEPROCESS Process, PMMVAD Vad, PVOID Page, PMMPTE Pte, ULONG64 PteValue,
                                     ULONG64 ErrorCode)
{
    /* LAB fault: BEGIN SOLUTION */
    ULONG mm;
    if (PteValue) {
        mm = ((MMPTE *)&PteValue)->u.Soft.Protection;
    } else {
        /* An untouched page of a region committed whole: its protection is
         * the region's, and its page tables (paid for at commit) are built
         * only now, at the first touch. */
        mm = Vad->CommitMm;
        if (!MiEnsureVadPageTables(Process, Vad, (ULONG64)Page >> PAGE_SHIFT))
            return STATUS_NO_MEMORY;
    }
    if (mm & MM_GUARD_PAGE) {
        NTSTATUS s = MiCheckForUserStackOverflow(Process, Vad, Page, Pte, mm);
        if (s != STATUS_SUCCESS)
            return s;   /* fired once (or the stack cannot grow): the access fails */
        mm &= ~MM_GUARD_PAGE;
    }
    /* The error code says what the access was: a write (bit 1) to a page
     * that is not writable, or a fetch (bit 4) from one that is not
     * executable, is refused before any frame is spent on it. */
    if (!MiProtectionAllows(mm, ErrorCode))
        return STATUS_ACCESS_VIOLATION;
    /* Zeroed: the frame held another process's data. Promised at commit,
     * so it is waited for, never refused. */
    PFN_NUMBER pfn = MiAllocatePfn(MiUsageUser, TRUE);
    if (!pfn)
        return STATUS_NO_MEMORY;
    KIRQL old = MiAcquirePfnLock();
    if (Pte->u.Long)
        MiWriteUserPte(Pte, 0);   /* MiMapPage maps over an empty PTE (and counts it in its table again) */
    MiMapPage(Page, pfn, MiUserPteFlags(mm) & ~MI_PTE_VALID);
    /* The only copy of the page is this frame: a trim must write it to
     * the pagefile before the frame can be reused. */
    MI_PFN_ELEMENT(pfn)->Modified = 1;
    MiReleasePfnLock(old);
    MiSignalLowMemory();   /* a frame fewer: the working-set manager may have work */
    MiInsertWsle(&Process->Vm, Page);
    MiCountFault(Process, MiFaultDemandZero);
    return STATUS_SUCCESS;
    /* LAB fault: END SOLUTION */
    /* LAB fault: STUB
    (void)Process;
    (void)Vad;
    (void)Page;
    (void)Pte;
    (void)PteValue;
    (void)ErrorCode;
    KtLabNotImplemented("fault", "MiLabResolveDemandZeroFault (mm/lab/fault.c): check the access against the "
                                 "page's protection, map a zeroed frame, add the page to the working set");
     */
}

NTSTATUS MiLabCopyOnWrite(PEPROCESS Process, PMMPTE Pte)
{
    /* LAB fault: BEGIN SOLUTION */
    ULONG64 v = Pte->u.Long;
    PFN_NUMBER from = MI_PTE_PFN(v);
    /* Not zeroed: every byte is overwritten by the copy. Taken (and
     * filled) before the PFN lock, which nothing may allocate under. The
     * old frame cannot go meanwhile: this PTE still maps it, and every
     * other change of this PTE needs the address-space lock we hold. */
    PFN_NUMBER to = MiAllocatePfn(MiUsageUser, FALSE);
    if (!to)
        return STATUS_NO_MEMORY;
    lab_copy_frame(to, from);
    ULONG mm = (v & MI_PTE_NX) ? MM_READWRITE : MM_EXECUTE_READWRITE;
    KIRQL old = MiAcquirePfnLock();
    PMMPFN ne = MI_PFN_ELEMENT(to), oe = MI_PFN_ELEMENT(from);
    /* A private frame: its PFN entry names the one PTE that maps it. */
    ne->ShareCount = 1;
    ne->PteAddress = Pte;
    ne->PteFrame = MiGetPteFrame(Pte);
    ne->Modified = 1;   /* written, and nowhere else: the pagefile must get it before reuse */
    /* Dirty and accessed already: the write that faulted is about to
     * happen, and the CPU need not set them in a second step. */
    MiWritePteAndFlush(Pte, (to << PAGE_SHIFT) | MiUserPteFlags(mm) | MI_PTE_DIRTY | MI_PTE_ACCESSED);
    if (oe->PrototypePte) {
        /* A shared image frame: one mapper fewer (the last one sends it
         * to standby, clean: the image file has its bytes). The copy is a
         * private page now, paid for by the image's charge. */
        MiDecrementShareCount(from);
        Process->Vm.Counters.PrivatePages++;
    } else {
        /* A private write-copy frame: nobody else maps it, so it goes.
         * The page keeps its working-set entry, now the copy's. */
        ne->Flink = oe->Flink;
        oe->ShareCount--;
        MiFreePfnLocked(from);
    }
    MiReleasePfnLock(old);
    MiCountFault(Process, MiFaultCopyOnWrite);
    return STATUS_SUCCESS;
    /* LAB fault: END SOLUTION */
    /* LAB fault: STUB
    (void)Process;
    (void)Pte;
    KtLabNotImplemented("fault", "MiLabCopyOnWrite (mm/lab/fault.c): copy the frame into a new one, map the "
                                 "copy writable, take this mapping off the old frame");
     */
}

/* ---- the course's hook (not part of the lab) ---- */

typedef struct {
    PEPROCESS Process;
    PMMVAD Vad;
    PVOID Page;
    PMMPTE Pte;
    ULONG64 PteValue, ErrorCode;
} LAB_FAULT;

static NTSTATUS lab_resolve(void *context)
{
    LAB_FAULT *f = context;
    if (f->PteValue & MI_PTE_VALID)
        return MiLabCopyOnWrite(f->Process, f->Pte);
    return MiLabResolveDemandZeroFault(f->Process, f->Vad, f->Page, f->Pte, f->PteValue, f->ErrorCode);
}

/* MiDispatchFault's route for a lab process (Vm.LabFaults). The student's
 * function runs with the address-space lock held, which MiUserFault
 * releases after it: a stub must not end the test from here (the lock
 * would stay held, and the fault's trap frame would be left half done).
 * KtLabCallGuarded makes the stub return STATUS_NOT_IMPLEMENTED instead;
 * the access then fails like any unresolvable fault, the lock is released
 * on the normal way out, and the test fails with the stub's message. */
NTSTATUS MiLabDispatchFault(PEPROCESS p, PMMVAD vad, PVOID page, PMMPTE pte, ULONG64 v, ULONG64 error)
{
    LAB_FAULT f = { p, vad, page, pte, v, error };
    return KtLabCallGuarded(lab_resolve, &f);
}

/* A test's ring-3 program (KtRunProgram) is routed from its creation:
 * its thread takes its first fault (its stack's) before PsCreateProcess
 * returns to the test. Only the thread that asked, and only once. */
static struct _KTHREAD *volatile route_creator;

void MiLabRouteNextAddressSpace(struct _KTHREAD *creator)
{
    route_creator = creator;
}

BOOLEAN MiLabClaimNewAddressSpace(void)
{
    if (!route_creator || route_creator != KeGetCurrentThread())
        return FALSE;
    route_creator = NULL;
    return TRUE;
}
