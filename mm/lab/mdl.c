/*
 * The MDL lab (docs/labs/mdl.md): the student's probe, lock, unlock and
 * map. The regions between the LAB markers are the solution; `scripts/
 * lab.py cut mdl` replaces each with the STUB comment after it.
 *
 * A lock is one reference on each frame (MMPFN.ReferenceCount), taken
 * under the PFN lock right after the PTE was seen valid: at DISPATCH_LEVEL
 * nothing can trim the page between the check and the reference, and once
 * the reference is held the frame cannot go to a list, be repurposed or be
 * freed. A page that is not resident is faulted in by touching it - with
 * the PFN lock NOT held (the fault handler takes it, may allocate a frame
 * and may wait) and inside ExTry, so an address that cannot be resolved
 * comes back as a status instead of a bugcheck.
 */
#include "mm/lab/mdl.h"

/* LAB mdl: BEGIN SOLUTION */
#define LAB_USER_TOP 0x0000800000000000ULL

/* The PTE already allows the access: no fault needed. A user page must be
 * ring-3 accessible; a write lock of it needs a writable PTE that is not
 * copy-on-write (the write must give the process its private copy first,
 * or the device would write the shared frame). */
static BOOLEAN lab_pte_allows(ULONG64 v, BOOLEAN user, BOOLEAN write)
{
    if (!(v & MI_PTE_VALID))
        return FALSE;
    if (!user)
        return TRUE;
    if (!(v & MI_PTE_OWNER))
        return FALSE;
    return !write || ((v & MI_PTE_WRITE) && !(v & MI_PTE_COPY_ON_WRITE));
}

/* Touch P the way the lock's access will use it. SMAP stops ring 0 at
 * user pages unless EFLAGS.AC (bit 18) is set - set through the pushed
 * flags, since STAC itself is #UD on a CPU without SMAP; ExRaiseStatus clears AC when a fault
 * unwinds to the ExExcept. */
static void lab_touch(volatile UCHAR *p, BOOLEAN user, BOOLEAN write)
{
    if (user)
        __asm__ volatile("pushfq; orq $0x40000, (%%rsp); popfq" ::: "memory", "cc");
    UCHAR v = *p;
    if (write)
        *p = v;
    if (user)
        __asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" ::: "memory", "cc");
}

/* Fault P in: a fault the handler cannot resolve (no VAD, a protection
 * the access breaks) unwinds to the ExExcept with its status. Its own
 * function, so no local of the caller lives across the longjmp. */
static NTSTATUS lab_fault_in(PUCHAR p, BOOLEAN user, BOOLEAN write)
{
    volatile NTSTATUS failed = STATUS_SUCCESS;
    ExTry {
        lab_touch(p, user, write);
    } ExExcept(status) {
        failed = status;
    } ExEndTry;
    return failed;
}

static void lab_release(PMDL m, ULONG n, BOOLEAN written)
{
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    ULONG64 ram = 0;
    KIRQL old = MiAcquirePfnLock();
    for (ULONG i = 0; i < n; i++) {
        if (!MiIsPfnRam(pfn[i]))
            continue;
        if (written)
            MiMarkPfnModified(pfn[i]);
        MiDecrementReferenceCount(pfn[i]);
        ram++;
    }
    MiReleasePfnLock(old);
    __atomic_sub_fetch(&MiMdlLockedFrames, ram, __ATOMIC_RELAXED);
}
/* LAB mdl: END SOLUTION */
/* LAB mdl: STUB
// Your helpers go here: does a PTE already allow the access, touch a page
// (with EFLAGS.AC set for a user page, as mm/mdl.c does), fault a page in
// within ExTry, drop the first N references.
 */

NTSTATUS MiLabProbeAndLockPages(PMDL Mdl, KPROCESSOR_MODE AccessMode, LOCK_OPERATION Operation)
{
    /* LAB mdl: BEGIN SOLUTION */
    ULONG_PTR va = (ULONG_PTR)MmGetMdlVirtualAddress(Mdl);
    if ((Mdl->MdlFlags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL)) || Mdl->ByteCount == 0)
        return STATUS_INVALID_PARAMETER;
    if (AccessMode == UserMode) {
        ULONG_PTR end = va + Mdl->ByteCount;
        if (end < va || end > MmUserProbeAddress)
            return STATUS_ACCESS_VIOLATION;
    }
    BOOLEAN user = va < LAB_USER_TOP;
    BOOLEAN write = Operation != IoReadAccess;
    ULONG pages = MI_MDL_PAGES(Mdl);
    PPFN_NUMBER pfn = MmGetMdlPfnArray(Mdl);
    for (ULONG i = 0; i < pages; i++) {
        PUCHAR page = (PUCHAR)Mdl->StartVa + (ULONG64)i * PAGE_SIZE;
        /* A page can be trimmed again between the touch and the lock; a few
         * rounds always suffice on an idle system, and a bound keeps a
         * starved probe from spinning forever. */
        for (ULONG round = 0;; round++) {
            KIRQL old = MiAcquirePfnLock();
            if (MiIsPteAccessible(page)) {
                ULONG64 v = MiGetPteAddress(page)->u.Long;
                if (lab_pte_allows(v, user, write)) {
                    PFN_NUMBER f = MI_PTE_PFN(v);
                    if (MiIsPfnRam(f)) {
                        MI_PFN_ELEMENT(f)->ReferenceCount++;
                        __atomic_add_fetch(&MiMdlLockedFrames, 1, __ATOMIC_RELAXED);
                    }
                    pfn[i] = f;
                    MiReleasePfnLock(old);
                    break;
                }
            }
            MiReleasePfnLock(old);
            NTSTATUS failed = round < 16 ? lab_fault_in(i == 0 ? (PUCHAR)va : page, user, write)
                                         : STATUS_WORKING_SET_QUOTA;
            if (!NT_SUCCESS(failed)) {
                lab_release(Mdl, i, FALSE);
                return failed;
            }
        }
    }
    Mdl->Process = user ? KeGetCurrentThread()->ActiveProcess : NULL;
    if (Mdl->Process)
        __atomic_add_fetch(&Mdl->Process->LockedPages, pages, __ATOMIC_RELAXED);
    Mdl->MdlFlags |= MDL_PAGES_LOCKED;
    if (write)
        Mdl->MdlFlags |= MDL_WRITE_OPERATION;
    else
        Mdl->MdlFlags &= ~MDL_WRITE_OPERATION;
    return STATUS_SUCCESS;
    /* LAB mdl: END SOLUTION */
    /* LAB mdl: STUB
    (void)Mdl;
    (void)AccessMode;
    (void)Operation;
    KtLabNotImplemented("mdl", "MiLabProbeAndLockPages (mm/lab/mdl.c): for each page, under the PFN lock check "
                               "its PTE and take a frame reference, else fault it in within ExTry");
    return STATUS_NOT_IMPLEMENTED;
     */
}

void MiLabUnlockPages(PMDL Mdl)
{
    /* LAB mdl: BEGIN SOLUTION */
    if (!(Mdl->MdlFlags & MDL_PAGES_LOCKED))
        KeBugCheckRule(DRIVER_VERIFIER_DETECTED_VIOLATION, 0x7C, (ULONG_PTR)Mdl, Mdl->MdlFlags, 0,
                       "MiLabUnlockPages was called on an MDL whose pages are not locked");
    if (Mdl->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA)
        MiLabUnmapLockedPages(Mdl);   /* unlocking unmaps, as in NT */
    ULONG pages = MI_MDL_PAGES(Mdl);
    lab_release(Mdl, pages, (Mdl->MdlFlags & MDL_WRITE_OPERATION) != 0);
    if (Mdl->Process)
        __atomic_sub_fetch(&Mdl->Process->LockedPages, pages, __ATOMIC_RELAXED);
    Mdl->MdlFlags &= ~(MDL_PAGES_LOCKED | MDL_WRITE_OPERATION);
    /* LAB mdl: END SOLUTION */
    /* LAB mdl: STUB
    (void)Mdl;
    KtLabNotImplemented("mdl", "MiLabUnlockPages (mm/lab/mdl.c): unmap if mapped, mark written frames "
                               "modified, drop each frame reference");
     */
}

PVOID MiLabMapLockedPages(PMDL Mdl)
{
    /* LAB mdl: BEGIN SOLUTION */
    if (!(Mdl->MdlFlags & MDL_PAGES_LOCKED) || (Mdl->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA))
        return NULL;
    ULONG pages = MI_MDL_PAGES(Mdl);
    PMMPTE pte = MiReserveSystemPtes(pages);
    if (!pte)
        return NULL;
    PPFN_NUMBER pfn = MmGetMdlPfnArray(Mdl);
    /* Data, never code (NX); global: every address space shares system space. */
    ULONG64 flags = MI_PTE_VALID | MI_PTE_WRITE | MI_PTE_NX | MI_PTE_GLOBAL | MiCacheFlags(MmCached);
    for (ULONG i = 0; i < pages; i++)
        MiWritePteAndFlush(pte + i, (pfn[i] << PAGE_SHIFT) | flags);
    Mdl->MappedSystemVa = (PUCHAR)MiGetVirtualAddressMappedByPte(pte) + Mdl->ByteOffset;
    Mdl->MdlFlags |= MDL_MAPPED_TO_SYSTEM_VA;
    return Mdl->MappedSystemVa;
    /* LAB mdl: END SOLUTION */
    /* LAB mdl: STUB
    (void)Mdl;
    KtLabNotImplemented("mdl", "MiLabMapLockedPages (mm/lab/mdl.c): reserve system PTEs and point them "
                               "at the PFN array's frames");
    return NULL;
     */
}

void MiLabUnmapLockedPages(PMDL Mdl)
{
    /* LAB mdl: BEGIN SOLUTION */
    if (!(Mdl->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA))
        KeBugCheckRule(DRIVER_VERIFIER_DETECTED_VIOLATION, 0xB6, (ULONG_PTR)Mdl, Mdl->MdlFlags, 0,
                       "MiLabUnmapLockedPages was called on an MDL that is not mapped to system space");
    PMMPTE pte = MiGetPteAddress(PAGE_ALIGN(Mdl->MappedSystemVa));
    ULONG pages = MI_MDL_PAGES(Mdl);
    MiZeroPtesAndFlush(pte, pages);   /* no CPU may keep a stale translation */
    MiReleaseSystemPtes(pte, pages);
    Mdl->MappedSystemVa = NULL;
    Mdl->MdlFlags &= ~MDL_MAPPED_TO_SYSTEM_VA;
    /* LAB mdl: END SOLUTION */
    /* LAB mdl: STUB
    (void)Mdl;
    KtLabNotImplemented("mdl", "MiLabUnmapLockedPages (mm/lab/mdl.c): clear the system PTEs and release them");
     */
}
