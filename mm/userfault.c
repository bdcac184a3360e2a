/*
 * User address spaces: creating and destroying them, resolving their page
 * faults, and the working-set manager. The working-set lists themselves,
 * trimming and the transition (soft) fault are shared with the system
 * working set (mm/wslist.c).
 *
 * A user fault, followed with breakpoints (MiUserFault takes the address-
 * space lock, MiDispatchFault reads the PTE and picks the routine):
 *   - no VAD covers the address: access violation;
 *   - valid PTE: a write to a copy-on-write page gets a private copy
 *     (MiCopyOnWrite); a write to read-only or an execute of no-execute
 *     memory is an access violation;
 *   - transition PTE: the frame is still on the modified/standby list,
 *     take it back (a soft fault: MiResolveTransitionFault, mm/wslist.c);
 *   - pagefile PTE: the page is out in a pagefile slot, read it back (a
 *     hard fault: MiResolvePageFileFault, mm/pagefault.c);
 *   - demand-zero PTE, or an untouched page of a MemCommit region: a fresh
 *     zeroed frame (MiResolveDemandZeroFault); a guard page first grows the
 *     stack, or fires once elsewhere (MiCheckForUserStackOverflow);
 *   - zero or prototype-format PTE in an image VAD: the image's page,
 *     through its prototype PTE (MiResolveProtoPteFault, mm/image.c);
 *   - anything else: access violation (or stack overflow at the bottom).
 * A process a fault-lab test marked (Vm.LabFaults: docs/labs/fault.md) has
 * its demand-zero and copy-on-write faults resolved by mm/lab/fault.c.
 */
#include "kernel/ps/psp.h"
#include "kernel/hal/x86.h"

volatile ULONG64 MiSystemFaults[5];

void MiCountFault(PEPROCESS p, MI_FAULT_KIND kind)
{
    /* System-wide, counted under each process's own address-space lock: so atomically. */
    __atomic_add_fetch(&MiSystemFaults[kind], 1, __ATOMIC_RELAXED);
    ULONG64 *c = &p->Vm.Counters.DemandZeroFaults;   /* the counters are in MI_FAULT_KIND's order */
    c[kind]++;
}

void MiWriteUserPte(PMMPTE pte, ULONG64 value)
{
    ULONG64 old = pte->u.Long;
    if (!old && value)
        MI_PFN_ELEMENT(MiGetPteFrame(pte))->ShareCount++;
    else if (old && !value)
        MI_PFN_ELEMENT(MiGetPteFrame(pte))->ShareCount--;
    MiWritePteAndFlush(pte, value);
}

/* ---- trimming (the mechanism is mm/wslist.c's) ---- */

ULONG MmTrimProcessWorkingSet(PEPROCESS p)
{
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    ULONG n = MiTrimWorkingSet(&p->Vm, 0, MiTrimLastEntry);   /* all of it, last entry first */
    p->Vm.GrowFailed = FALSE;   /* an empty list may try to grow again */
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    return n;
}

/* ---- deleting pages ---- */

/* Returns 1 when the page was a private one (charged: valid, transition or
 * demand zero), 0 for a shared image page or nothing. */
static ULONG delete_page(PEPROCESS p, PVOID va)
{
    PMMPTE pte = MiGetPteAddress(va);
    ULONG64 v = pte->u.Long;
    ULONG charged = 1;
    if (!v)
        return 0;
    KIRQL old = MiAcquirePfnLock();
    if (v & MI_PTE_VALID) {
        PFN_NUMBER pfn = MI_PTE_PFN(v);
        MiRemoveWsle(&p->Vm, va);
        MiWriteUserPte(pte, 0);
        PMMPFN e = MI_PFN_ELEMENT(pfn);
        if (e->PrototypePte) {
            MiDecrementShareCount(pfn);   /* the image's frame: one mapper fewer */
            charged = 0;
        } else {
            e->ShareCount--;
            p->Vm.Counters.PrivatePages--;
            MiFreePfnLocked(pfn);   /* an MDL lock may keep the frame until its unlock */
        }
    } else if (MiIsPrototypeFormatPte(v)) {
        MiWriteUserPte(pte, 0);   /* only points at the image's prototype: nothing of ours to free */
        charged = 0;
    } else if (v & MI_PTE_TRANSITION) {
        MiWriteUserPte(pte, 0);
        p->Vm.Counters.PrivatePages--;
        MiDeleteTransitionPage(((MMPTE *)&v)->u.Trans.PageFrameNumber);
    } else if (MiIsPageFilePte(v)) {
        MiWriteUserPte(pte, 0);
        p->Vm.Counters.PrivatePages--;
        MiReleasePageFileSpace(v, FALSE);   /* out in the pagefile: only its slot to give back */
    } else {
        MiWriteUserPte(pte, 0);   /* committed, never touched: nothing to free */
        p->Vm.Counters.PrivatePages--;
    }
    MiReleasePfnLock(old);
    return charged;
}

static void free_table(PEPROCESS p, PMMPTE entry);

/* Page numbers: bits 35..27 index the PML4, 26..18 the PDPT, 17..9 the PD. */
#define SPAN_PXE (1ULL << 27)
#define SPAN_PPE (1ULL << 18)
#define SPAN_PDE (1ULL << 9)

static BOOLEAN table_empty(PMMPTE entry)
{
    return MI_PFN_ELEMENT(MI_PTE_PFN(entry->u.Long))->ShareCount == 0;
}

/* Free the page tables over [FIRST, LAST] that hold no entry any more,
 * bottom up: a released region gives its tables (and their commit) back,
 * and later walks do not visit them. An empty table serves nobody, even
 * if it also covers pages outside the range: whoever commits there next
 * counts it as missing and is charged for it again. */
static void prune_tables(PEPROCESS p, ULONG64 first, ULONG64 last)
{
    for (ULONG64 vpn = first; vpn <= last;) {
        ULONG64 pxe_last = vpn | (SPAN_PXE - 1), stop = pxe_last < last ? pxe_last : last;
        PMMPTE pxe = MiGetPxeAddress((PVOID)(vpn << PAGE_SHIFT));
        if (pxe->u.Long & MI_PTE_VALID) {
            for (ULONG64 v2 = vpn; v2 <= stop;) {
                ULONG64 ppe_last = v2 | (SPAN_PPE - 1), stop2 = ppe_last < stop ? ppe_last : stop;
                PMMPTE ppe = MiGetPpeAddress((PVOID)(v2 << PAGE_SHIFT));
                if (ppe->u.Long & MI_PTE_VALID) {
                    for (ULONG64 v3 = v2; v3 <= stop2;) {
                        ULONG64 pde_last = v3 | (SPAN_PDE - 1);
                        PMMPTE pde = MiGetPdeAddress((PVOID)(v3 << PAGE_SHIFT));
                        if ((pde->u.Long & MI_PTE_VALID) && table_empty(pde))
                            free_table(p, pde);
                        if (pde_last >= stop2)
                            break;
                        v3 = pde_last + 1;
                    }
                    if (table_empty(ppe))
                        free_table(p, ppe);
                }
                if (ppe_last >= stop)
                    break;
                v2 = ppe_last + 1;
            }
            if (table_empty(pxe))
                free_table(p, pxe);
        }
        if (pxe_last >= last)
            break;
        vpn = pxe_last + 1;
    }
}

/* A MemCommit region loses PAGES pages, CHARGED of which had a PTE (their
 * commit is back already): give back the commit of the untouched rest and
 * of the tables never built, and the region is no longer MemCommit. */
static void forget_untouched(PEPROCESS p, PMMVAD v, ULONG64 pages, ULONG64 charged)
{
    ULONG64 rest = pages - charged;
    p->Vm.Counters.PrivatePages -= rest;
    MiReturnCommitment(p, rest + v->TableReserve);
    v->TableReserve = 0;
    v->MemCommit = 0;
}

/* A MemCommit region about to lose only some pages becomes an ordinary
 * one: each untouched page gets its demand-zero PTE (its tables come from
 * the region's reserve), so the pages decommitted can read as reserved.
 * As long as the region's pages, which were all charged. */
NTSTATUS MiMaterializeMemCommit(PEPROCESS p, PMMVAD v, BOOLEAN abortable)
{
    for (ULONG64 vpn = v->StartVpn; vpn <= v->EndVpn; vpn++) {
        ULONG64 same;
        if (abortable && PsTerminationPending())
            return STATUS_PROCESS_IS_TERMINATING;   /* still MemCommit, still consistent */
        if (MiReadUserPte(vpn, &same))
            continue;
        if (!MiEnsureVadPageTables(p, v, vpn))
            return STATUS_NO_MEMORY;
        MiWriteUserPte(MiGetPteAddress((PVOID)(vpn << PAGE_SHIFT)), MiDemandZeroPte(v->CommitMm));
    }
    MiReturnCommitment(p, v->TableReserve);   /* tables another region built meanwhile */
    v->TableReserve = 0;
    v->MemCommit = 0;
    return STATUS_SUCCESS;
}

ULONG64 MiDeleteUserRange(PEPROCESS p, ULONG64 start, ULONG64 end)
{
    ULONG64 charged = 0, first = start >> PAGE_SHIFT, last = (end >> PAGE_SHIFT) - 1;
    if (end <= start)
        return 0;
    /* Private and stack pages were charged one by one, and go back the
     * same way; an image's private copies are part of the image's one
     * charge, given back at the process's end. */
    PMMVAD vad = MiLocateVad(p, start);
    BOOLEAN per_page = !vad || vad->Type != VadImage;
    /* Part of a MemCommit region: its untouched pages need PTEs first, so
     * that the pages deleted can read as reserved afterwards. */
    BOOLEAN whole = vad && first == vad->StartVpn && last == vad->EndVpn;
    if (vad && vad->MemCommit && !whole)
        MiMaterializeMemCommit(p, vad, FALSE);
    /* Absent tables are stepped over whole, so this costs what is mapped
     * however large the range (a 127 TiB reservation is a few steps). */
    for (ULONG64 vpn = first; vpn <= last;) {
        ULONG64 same;
        if (MiReadUserPte(vpn, &same))
            charged += delete_page(p, (PVOID)(vpn << PAGE_SHIFT));
        if (same >= last)
            break;
        vpn = same + 1;
    }
    prune_tables(p, first, last);
    if (per_page && charged)
        MiReturnCommitment(p, charged);
    if (vad && vad->MemCommit && whole)
        forget_untouched(p, vad, last - first + 1, charged);   /* the untouched rest, and unbuilt tables */
    return charged;
}

BOOLEAN MiEnsureVadPageTables(PEPROCESS p, PMMVAD v, ULONG64 vpn)
{
    ULONG64 pages, tables;
    MiCountUncommitted(vpn, vpn, &pages, &tables);
    if (v && v->MemCommit) {
        /* Charged when the region was committed: move the promise to the
         * process, where MiUserPageTableCreated spends it. */
        ULONG64 n = tables < v->TableReserve ? tables : v->TableReserve;
        v->TableReserve -= n;
        p->TableReserve += n;
    }
    return MiEnsurePageTables((PVOID)(vpn << PAGE_SHIFT));
}

void MiSetUserPageProtection(PEPROCESS p, PVOID va, ULONG mm)
{
    PMMPTE pte = MiGetPteAddress(va);
    ULONG64 v = pte->u.Long;
    if (v & MI_PTE_VALID) {
        if (mm == MM_NOACCESS || (mm & MM_GUARD_PAGE)) {
            /* Not accessible any more: keep the frame in transition with
             * the new protection; a touch faults and is checked. */
            KIRQL old = MiAcquirePfnLock();
            MiRemoveWsle(&p->Vm, va);
            MiEliminateWorkingSetEntry(&p->Vm, va);
            MiReleasePfnLock(old);
            pte->u.Trans.Protection = mm;
            return;
        }
        ULONG64 keep = v & (MI_PTE_PFN_MASK | MI_PTE_ACCESSED | MI_PTE_DIRTY);
        MiWritePteAndFlush(pte, keep | MiUserPteFlags(mm));
    } else if (v & MI_PTE_TRANSITION) {
        pte->u.Trans.Protection = mm;
    } else if (MiIsPageFilePte(v)) {
        pte->u.Soft.Protection = mm;   /* still out: the slot stays, the protection changes */
    } else {
        MiWritePteAndFlush(pte, MiDemandZeroPte(mm));
    }
}

/* ---- faults ---- */

BOOLEAN MiProtectionAllows(ULONG mm, ULONG64 error)
{
    ULONG base = mm & 7;
    if (base == MM_NOACCESS)
        return FALSE;
    if ((error & 2) && !(base == MM_READWRITE || base == MM_EXECUTE_READWRITE || base == MM_WRITECOPY ||
                         base == MM_EXECUTE_WRITECOPY))
        return FALSE;
    if ((error & 0x10) && !(base == MM_EXECUTE || base == MM_EXECUTE_READ || base == MM_EXECUTE_READWRITE ||
                            base == MM_EXECUTE_WRITECOPY))
        return FALSE;
    return TRUE;
}

/* Copy FROM into a new private frame; NULL-equivalent 0 when out of memory. */
PFN_NUMBER MiCopyPage(PFN_NUMBER from)
{
    PFN_NUMBER to = MiAllocatePfn(MiUsageUser, FALSE);
    if (!to)
        return 0;
    KIRQL o1, o2;
    PVOID src = MiMapPageInHyperspace(from, &o1);
    PVOID dst = MiMapPageInHyperspace(to, &o2);
    memcpy(dst, src, PAGE_SIZE);
    MiUnmapPageInHyperspace(dst, o2);
    MiUnmapPageInHyperspace(src, o1);
    return to;
}

/* Copy-on-write: a write to a valid page whose PTE has the software COW
 * bit (a writable image page, mapped shared and read-only) gets a private
 * copy, mapped read/write. NT's MiCopyOnWrite. */
static NTSTATUS MiCopyOnWrite(PEPROCESS p, PMMPTE pte)
{
    ULONG64 v = pte->u.Long;
    PFN_NUMBER old_pfn = MI_PTE_PFN(v);
    PFN_NUMBER n = MiCopyPage(old_pfn);
    if (!n)
        return STATUS_NO_MEMORY;
    ULONG mm = MiPteProtection(v) == MM_EXECUTE_WRITECOPY ? MM_EXECUTE_READWRITE : MM_READWRITE;
    KIRQL old = MiAcquirePfnLock();
    /* The copy is private: its PFN entry names this process's PTE. */
    MMPFN *ne = MI_PFN_ELEMENT(n);
    PMMPFN oe = MI_PFN_ELEMENT(old_pfn);
    ne->ShareCount = 1;
    ne->PteAddress = pte;
    ne->PteFrame = MiGetPteFrame(pte);
    ne->Modified = 1;
    MiWritePteAndFlush(pte, (n << PAGE_SHIFT) | MiUserPteFlags(mm) | MI_PTE_DIRTY | MI_PTE_ACCESSED);
    if (oe->PrototypePte) {
        MiDecrementShareCount(old_pfn);   /* the shared frame: one mapper fewer (maybe to standby) */
        p->Vm.Counters.PrivatePages++;    /* a private copy of an image page */
    } else {
        ne->Flink = oe->Flink;   /* the same page, the same working-set entry */
        oe->ShareCount--;
        MiFreePfnLocked(old_pfn);
    }
    MiReleasePfnLock(old);
    MiCountFault(p, MiFaultCopyOnWrite);
    return STATUS_SUCCESS;
}

/* A guard page was touched: a demand-zero PTE, or an untouched page of a
 * MemCommit region, with MM_GUARD_PAGE. In the stack VAD the stack grows:
 * this page becomes ordinary and the one below becomes the guard, unless
 * that is the last page of the reservation, which is never committed.
 * Elsewhere the guard fires once, as on NT: it is removed and the fault
 * reports STATUS_GUARD_PAGE_VIOLATION. STATUS_SUCCESS: go on and give the
 * page its frame. NT's MiCheckForUserStackOverflow. */
NTSTATUS MiCheckForUserStackOverflow(PEPROCESS p, PMMVAD vad, PVOID page, PMMPTE pte, ULONG mm)
{
    if (vad->Type != VadStack) {
        MiWriteUserPte(pte, MiDemandZeroPte(mm & ~MM_GUARD_PAGE));   /* one-shot, as on NT */
        return STATUS_GUARD_PAGE_VIOLATION;
    }
    ULONG64 same, below = (ULONG64)page - PAGE_SIZE;
    if ((below >> PAGE_SHIFT) > vad->StartVpn && MiReadUserPte(below >> PAGE_SHIFT, &same) == 0) {
        /* Growing commits one more page: a request that can be refused (NT
         * fails stack growth at the commit limit too). */
        if (!MiChargeCommitment(p, 1))
            return STATUS_COMMITMENT_LIMIT;   /* the guard stays armed */
        if (!MiEnsurePageTables((PVOID)below)) {   /* the stack's table exists (process creation); */
            MiReturnCommitment(p, 1);               /* one could only be missing at DISPATCH_LEVEL */
            return STATUS_NO_MEMORY;
        }
        MiWriteUserPte(MiGetPteAddress((PVOID)below), MiDemandZeroPte(mm | MM_GUARD_PAGE));
        p->Vm.Counters.PrivatePages++;
    }
    return STATUS_SUCCESS;
}

/* The frame of the virtual page before the one PTE maps, when that page
 * is resident and its PTE in the same page table (0 otherwise): the frame
 * a demand-zero fault would like to continue (mm/pfn.c). The page before
 * in another table would need its PDE checked first; a buffer's run just
 * restarts at a 2 MiB line. Read under the PFN lock, so the frame cannot
 * be freed between the look and the choice. */
static PFN_NUMBER MiFrameBefore(const MMPTE *pte)
{
    if (((ULONG64)pte & (PAGE_SIZE - 1)) == 0)
        return 0;
    ULONG64 before = pte[-1].u.Long;
    return (before & MI_PTE_VALID) ? MI_PTE_PFN(before) : 0;
}

/* Demand zero: a committed page never touched, whose PTE is demand zero
 * (V = its value), or 0 in a MemCommit region. It gets a zeroed frame,
 * which was promised at commit: it is waited for, never refused
 * (mm/pfn.c). NT's MiResolveDemandZeroFault. */
static NTSTATUS MiResolveDemandZeroFault(PEPROCESS p, PMMVAD vad, PVOID page, PMMPTE pte, ULONG64 v, ULONG64 error)
{
    ULONG mm;
    if (v) {
        mm = ((MMPTE *)&v)->u.Soft.Protection;
    } else {
        /* Committed with the region, never touched: its page tables are
         * built now, at the first touch (charged at commit). */
        mm = vad->CommitMm;
        if (!MiEnsureVadPageTables(p, vad, (ULONG64)page >> PAGE_SHIFT))
            return STATUS_NO_MEMORY;
    }
    if (mm & MM_GUARD_PAGE) {
        NTSTATUS s = MiCheckForUserStackOverflow(p, vad, page, pte, mm);
        if (s != STATUS_SUCCESS)
            return s;
        mm &= ~MM_GUARD_PAGE;
    }
    if (!MiProtectionAllows(mm, error))
        return STATUS_ACCESS_VIOLATION;
    /* One PFN lock hold for the frame and its mapping (h14m: fast path;
     * MiAllocatePfn, which may wait, only when both lists are empty). */
    KIRQL old = MiAcquirePfnLock();
    PFN_NUMBER pfn = MiAllocateZeroedPfnLocked(MiUsageUser, MiFrameBefore(pte));
    if (!pfn) {
        MiReleasePfnLock(old);
        pfn = MiAllocatePfn(MiUsageUser, TRUE);
        if (!pfn)
            return STATUS_NO_MEMORY;   /* only at DISPATCH_LEVEL, which a fault here never is */
        old = MiAcquirePfnLock();
    }
    if (pte->u.Long) {
        MiWritePteAndFlush(pte, 0);   /* MiMapPage maps over an empty PTE */
        MI_PFN_ELEMENT(MiGetPteFrame(pte))->ShareCount--;
    }
    MiMapPage(page, pfn, MiUserPteFlags(mm) & ~MI_PTE_VALID);
    MI_PFN_ELEMENT(pfn)->Modified = 1;   /* no copy anywhere else */
    MiReleasePfnLock(old);
    MiSignalLowMemory();
    MiSignalZeroPageThread();
    MiInsertWsle(&p->Vm, page);
    MiCountFault(p, MiFaultDemandZero);
    return STATUS_SUCCESS;
}

/* Working-set replacement (NT's MiDoReplacement, simplified): memory is
 * short and a pagefile could take pages, so the faulting process gives up
 * some of its own working set before it takes a frame. Without this a
 * process that holds most of memory waits for a frame under its own
 * address-space lock, which the working-set manager then cannot take to
 * trim it (it only tries the lock): nothing would reach the modified page
 * writer, and no frame would ever come (0x4D). Done before the PTE is
 * read, so the fault sees what the trim left. Only while the modified
 * list is short of what the writer needs to keep frames coming. */
#define MI_REPLACEMENT_PAGES 64
static void MiReplaceWorkingSetEntries(PEPROCESS p)
{
    if (!MmNumberOfPagingFiles || MmAvailablePages >= MiLowMemoryPages ||
        MmModifiedPageListHead.Total >= MiLowMemoryPages / 2 || p->Vm.Count <= MI_REPLACEMENT_PAGES)
        return;
    MiTrimWorkingSet(&p->Vm, MI_REPLACEMENT_PAGES, MiTrimFirstEntry);
    MiWakeModifiedPageWriter();
}

/* The PTE (and the VAD) say which kind of fault this is; each kind has its
 * routine. NT's MiDispatchFault, with MmAccessFault's user-space part. */
static NTSTATUS MiDispatchFault(PEPROCESS p, ULONG64 va, ULONG64 error)
{
    PVOID page = (PVOID)(va & ~(ULONG64)(PAGE_SIZE - 1));
    PMMVAD vad = MiLocateVad(p, va);
    if (!vad)
        return STATUS_ACCESS_VIOLATION;
    /* No page table is built here for a page that has none: committed
     * private pages got theirs (charged) when they were committed, and a
     * touch of a reserved page must not cost a frame. */
    ULONG64 same;
    PMMPTE pte = MiGetPteAddress(page);
    ULONG64 v = MiReadUserPte((ULONG64)page >> PAGE_SHIFT, &same);

    if (v & MI_PTE_VALID) {
        if ((error & 2) && (v & MI_PTE_COPY_ON_WRITE))
            return p->Vm.LabFaults ? MiLabDispatchFault(p, vad, page, pte, v, error) : MiCopyOnWrite(p, pte);
        if (((error & 2) && !(v & MI_PTE_WRITE)) || ((error & 0x10) && (v & MI_PTE_NX)))
            return STATUS_ACCESS_VIOLATION;
        return STATUS_SUCCESS;   /* resolved meanwhile (or a stale TLB entry) */
    }
    if (v & MI_PTE_TRANSITION)
        return MiResolveTransitionFault(page, pte, p, error);
    if (MiIsPageFilePte(v))
        return MiResolvePageFileFault(page, pte, p, error);   /* a hard fault (mm/pagefault.c) */
    if ((v & MI_PTE_COMMITTED) || (v == 0 && vad->Type == VadPrivate && vad->MemCommit))
        return p->Vm.LabFaults ? MiLabDispatchFault(p, vad, page, pte, v, error)
                               : MiResolveDemandZeroFault(p, vad, page, pte, v, error);
    if ((v == 0 || MiIsPrototypeFormatPte(v)) && vad->Type == VadImage)
        return MiResolveProtoPteFault(p, vad, page, error);
    if (v == 0 && vad->Type == VadStack && ((ULONG64)page >> PAGE_SHIFT) == vad->StartVpn)
        return STATUS_STACK_OVERFLOW;
    return STATUS_ACCESS_VIOLATION;   /* reserved but not committed */
}

NTSTATUS MiUserFault(PEPROCESS p, ULONG64 va, ULONG64 error, BOOLEAN user_mode)
{
    UNREFERENCED_PARAMETER(user_mode);
    if (!p || p == &PsInitialSystemProcess)
        return STATUS_ACCESS_VIOLATION;
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    MiReplaceWorkingSetEntries(p);
    NTSTATUS s = MiDispatchFault(p, va, error);
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    return s;
}

/* ---- address spaces ---- */

NTSTATUS MmCreateAddressSpace(PEPROCESS p)
{
    /* The PML4 is the process's first page table: charged like the others,
     * and refused up front when the commit limit is reached. */
    if (!MiChargeCommitment(p, 1))
        return STATUS_COMMITMENT_LIMIT;
    PFN_NUMBER pml4 = MiAllocatePfn(MiUsagePageTable, TRUE);
    if (!pml4) {
        MiReturnCommitment(p, 1);
        return STATUS_NO_MEMORY;
    }
    __atomic_add_fetch(&MiUserPageTables, 1, __ATOMIC_RELAXED);
    /* The kernel half is the same in every address space: copy its PML4
     * slots (their lower tables are shared, created once at boot). The
     * self-map slot points at this PML4 itself. */
    KIRQL old;
    PULONG64 t = MiMapPageInHyperspace(pml4, &old);
    PULONG64 current = (PULONG64)PXE_BASE;
    ULONG used = 0;
    for (int i = 256; i < 512; i++) {
        t[i] = current[i];
        used += t[i] != 0;
    }
    t[MI_SELFMAP_INDEX] = (pml4 << PAGE_SHIFT) | MI_PTE_VALID | MI_PTE_WRITE | MI_PTE_NX;
    MiUnmapPageInHyperspace(t, old);
    PMMPFN e = MI_PFN_ELEMENT(pml4);
    e->ShareCount = used;
    e->PteAddress = (PMMPTE)(PXE_BASE + MI_SELFMAP_INDEX * 8);
    e->PteFrame = pml4;
    p->Pml4Pfn = pml4;
    p->DirectoryTableBase = pml4 << PAGE_SHIFT;
    InitializeListHead(&p->VadListHead);
    KeInitializeMutex(&p->AddressSpaceLock, 0);
    p->Vm.LabFaults = MiLabClaimNewAddressSpace();   /* FALSE unless a fault-lab test asked (mm/lab/fault.c) */
    return STATUS_SUCCESS;
}

static void free_table(PEPROCESS p, PMMPTE entry)
{
    PFN_NUMBER pfn = MI_PTE_PFN(entry->u.Long);
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    e->ShareCount = 0;
    MiWriteUserPte(entry, 0);
    MiFreePfn(pfn);
    MiUserPageTableFreed(p);
}

/* Called in P's own address space as its last thread ends. */
void MmDeleteAddressSpace(PEPROCESS p)
{
    while (!IsListEmpty(&p->VadListHead))
        MiDeleteVad(p, CONTAINING_RECORD(p->VadListHead.Flink, MMVAD, Links));
    /* Now every user page table is empty: free them, bottom up. */
    PMMPTE pxe = (PMMPTE)PXE_BASE;
    for (ULONG64 i = 0; i < 256; i++) {
        if (!(pxe[i].u.Long & MI_PTE_VALID))
            continue;
        PMMPTE ppe = (PMMPTE)(PPE_BASE + i * PAGE_SIZE);
        for (ULONG64 j = 0; j < 512; j++) {
            if (!(ppe[j].u.Long & MI_PTE_VALID))
                continue;
            PMMPTE pde = (PMMPTE)(PDE_BASE + (i * 512 + j) * PAGE_SIZE);
            for (ULONG64 k = 0; k < 512; k++)
                if (pde[k].u.Long & MI_PTE_VALID)
                    free_table(p, &pde[k]);
            free_table(p, &ppe[j]);
        }
        free_table(p, &pxe[i]);
    }
    MiReturnProcessCommitment(p);   /* what is left: unused table reserve, the image's writable pages */
    MiDeleteWorkingSetList(&p->Vm);
}

void MmFreeAddressSpaceRoot(PEPROCESS p)
{
    /* Not in P's address space any more: its PML4 is just a frame. */
    PMMPFN e = MI_PFN_ELEMENT(p->Pml4Pfn);
    e->ShareCount = 0;
    MiFreePfn(p->Pml4Pfn);
    p->Pml4Pfn = 0;
    __atomic_sub_fetch(&MiUserPageTables, 1, __ATOMIC_RELAXED);
    MiReturnCommitment(p, 1);
    /* Everything charged to the process has been given back by now: pages
     * by their deletion, tables as they were freed, the rest at exit. */
    if (p->CommitCharge)
        KeBugCheckRule(MEMORY_MANAGEMENT, 0x41702, (ULONG_PTR)p, p->CommitCharge, 0,
                       "process %s (pid %llu) ended with %llu pages of commit still charged; every charge must be "
                       "given back exactly", p->ImageName, (unsigned long long)p->UniqueProcessId,
                       (unsigned long long)p->CommitCharge);
}

/* ---- the working-set manager ----
 * A system thread that keeps free memory from running out: every second,
 * or as soon as MiAllocatePfn sees available pages fall under the low
 * mark, it visits each process (attaching to its address space) and trims
 * its working set (half of it, from the front of its list). Trimmed
 * private pages go to the modified list; with a pagefile the modified page
 * writer (mm/mpw.c) writes them out and they become available (standby),
 * without one they stay there. A touch meanwhile is a soft fault. */
KEVENT MiWorkingSetManagerEvent;
static volatile BOOLEAN wsm_ready;
ULONG64 MiWorkingSetManagerRuns, MiWorkingSetManagerTrimmed;

void MiSignalLowMemory(void)
{
    /* KeSetEvent takes the dispatcher lock: never signal while holding it,
     * nor inside the PFN lock (nothing nests inside that one). */
    KI_ASSERT_DISPATCHER_LOCK_NOT_HELD("signalling an event takes the dispatcher lock again");
    MI_ASSERT_PFN_LOCK_NOT_HELD("nothing may be signalled inside the PFN lock");
    if (wsm_ready && MmAvailablePages < MiLowMemoryPages && !KeReadStateEvent(&MiWorkingSetManagerEvent))
        KeSetEvent(&MiWorkingSetManagerEvent, 0, FALSE);
    MiSignalModifiedPageWriter();
}

static ULONG trim_some(PEPROCESS p, ULONG want)
{
    /* Only tried, as NT's working-set manager tries the working-set lock:
     * the process may be waiting, under its lock, for a frame (or a read)
     * that this very trim is to make possible - skip it this time. */
    LARGE_INTEGER now = { 0 };
    if (KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, &now) != STATUS_WAIT_0)
        return 0;
    /* From the front of the list, each hole filled by the last entry: a
     * cheap clock, not a strict oldest-first order. */
    ULONG n = MiTrimWorkingSet(&p->Vm, want, MiTrimFirstEntry);
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    return n;
}

static void working_set_manager(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    for (;;) {
        LARGE_INTEGER second = { -KI_MS(1000) };
        KeWaitForSingleObject(&MiWorkingSetManagerEvent, Executive, KernelMode, FALSE, &second);
        if (MmAvailablePages >= MiLowMemoryPages)
            continue;
        /* With a pagefile, trimmed pages become available once written:
         * while the modified list already holds what is missing, let the
         * writer work instead of trimming more (and faulting it back). */
        MiWakeModifiedPageWriter();
        if (MmNumberOfPagingFiles && MmModifiedPageListHead.Total >= MiLowMemoryPages)
            continue;
        MiWorkingSetManagerRuns++;
        /* Visit the processes one at a time; the list may change while we
         * sleep, so pick by id and look it up again each time. */
        ULONG64 last = 0;
        for (;;) {
            PEPROCESS victim = NULL;
            KIRQL old = PsAcquireProcessListLock();
            for (PLIST_ENTRY e = PsActiveProcessHead.Flink; e != &PsActiveProcessHead; e = e->Flink) {
                PEPROCESS p = CONTAINING_RECORD(e, EPROCESS, ProcessListEntry);
                if (p->UniqueProcessId > last && !p->Exiting &&
                    (!victim || p->UniqueProcessId < victim->UniqueProcessId))
                    victim = p;
            }
            if (victim)
                ObReferenceObject(victim);   /* an atomic add: fine under the spin lock */
            PsReleaseProcessListLock(old);
            if (!victim)
                break;
            last = victim->UniqueProcessId;
            PEPROCESS saved;
            KeStackAttachProcess(victim, &saved);
            if (!victim->Exiting)
                MiWorkingSetManagerTrimmed += trim_some(victim, victim->Vm.Count / 2 + 1);
            KeUnstackDetachProcess(&saved);
            PsDereferenceProcess(victim);
        }
        MiWakeModifiedPageWriter();
    }
}

void MiStartWorkingSetManager(void)
{
    KeInitializeEvent(&MiWorkingSetManagerEvent, SynchronizationEvent, FALSE);
    PKTHREAD t = KeCreateSystemThread(working_set_manager, NULL, LOW_REALTIME_PRIORITY, "wsmanager");
    ASSERT(t);
    wsm_ready = TRUE;
    MiStartModifiedPageWriter();
}
