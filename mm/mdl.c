/*
 * The memory manager's side of MDLs: describing a buffer's frames
 * (MmBuildMdlForNonPagedPool), pinning them (MmProbeAndLockPages /
 * MmUnlockPages), mapping them (MmMapLockedPagesSpecifyCache /
 * MmUnmapLockedPages), and frames made for MDLs (MmAllocatePagesForMdlEx).
 *
 * Locking is a reference on each frame (MMPFN.ReferenceCount): while it is
 * held the frame cannot be trimmed to a list, repurposed or freed - if its
 * owner frees the memory, the frame lives on (PteDeleted) until the last
 * unlock. A kernel mapping takes system PTEs and changes no reference
 * counts: only locked frames may be mapped, and the unlock removes it. A
 * user view (a VAD in a process, which the unlock cannot reach) takes one
 * reference per frame of its own, dropped when the view goes.
 */
#include "mm/mdl.h"
#include "kernel/kd/kd.h"
#include "kernel/ex/ex.h"
#include "mm/pool.h"
#include "kernel/hal/x86.h"

#define TAG_MDL POOL_TAG('M', 'd', 'l', ' ')
#define MAX_LOCKS 0x7FFF   /* MAXUSHORT / 2 */

/* mdlos's own verifier sub-codes: NT's 0xC4 table has none for these rules. */
#define MI_MDL_USER_VIEW_STILL_MAPPED 0xBA
#define MI_MDL_FREED_WHILE_LOCKED     0xBB

volatile ULONG64 MiMdlLockedFrames, MiMdlViewFrames;

static BOOLEAN in_kernel_stack(ULONG_PTR va)
{
    /* NT's kernel stacks can be paged out while a thread waits: a stack
     * buffer is not "nonpaged pool" either. */
    return KdIsAddressOnStack(va);
}

static BOOLEAN is_pageable_va(ULONG_PTR va)
{
    return va < 0x0000800000000000ULL ||
           (va >= MI_PAGED_POOL_START && va < MI_PAGED_POOL_START + MI_PAGED_POOL_PAGES * PAGE_SIZE);
}

/* ---- MmBuildMdlForNonPagedPool ---- */

void MmBuildMdlForNonPagedPool(PMDL m)
{
    MI_VERIFY(!(m->MdlFlags & (MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL | MDL_PARTIAL)),
              0xB0, m, m->MdlFlags, 0,
              "MmBuildMdlForNonPagedPool needs a fresh MDL: this one is already locked, mapped, built or partial");
    ULONG_PTR va = (ULONG_PTR)MmGetMdlVirtualAddress(m);
    MI_VERIFY(!is_pageable_va(va) && !in_kernel_stack(va), 0x7F, m, va, 0,
              "MmBuildMdlForNonPagedPool describes memory that must already be resident, but this buffer is "
              "pageable (paged pool, user memory or a stack): probe and lock it instead");
    ASSERT(m->ByteCount != 0);
    ULONG pages = MI_MDL_PAGES(m);
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    CSHORT extra = 0;
    for (ULONG i = 0; i < pages; i++) {
        PVOID page = (PUCHAR)m->StartVa + (ULONG64)i * PAGE_SIZE;
        if (!MmIsAddressValid(page))
            KeBugCheckRule(MEMORY_MANAGEMENT, 0x1240, (ULONG_PTR)m, (ULONG_PTR)MiGetPteAddress(page), 0,
                           "MmBuildMdlForNonPagedPool was given %p, which is not resident", page);
        pfn[i] = MI_PTE_PFN(MiGetPteAddress(page)->u.Long);
        if (!MiIsPfnRam(pfn[i]))
            extra = MDL_IO_SPACE;   /* device memory: no PFN entry */
    }
    m->Process = NULL;
    m->MappedSystemVa = (PVOID)va;
    m->MdlFlags |= MDL_SOURCE_IS_NONPAGED_POOL | extra;
    if (MiVerifierEnabled)
        MiNoteMdlSite(m, MI_SITE_BUILD, (ULONG_PTR)__builtin_return_address(0));
}

/* ---- MmProbeAndLockPages ---- */

/* Touch pages FIRST..LAST-1 of M, in one window with EFLAGS.AC set for a
 * user buffer (SMAP lets ring 0 reach user pages only then): each access
 * makes its page resident - demand-zero, image, transition and copy-on-
 * write faults are all resolved by it (a write for a write lock, so a
 * copy-on-write page is copied first). A fault that cannot be resolved
 * raises; ExRaiseStatus clears AC on its way out (kernel/ex/except.c). */
static void touch_range(PMDL m, ULONG first, ULONG last, BOOLEAN user, BOOLEAN write)
{
    if (user)
        __asm__ volatile("pushfq; orq $0x40000, (%%rsp); popfq" ::: "memory", "cc");   /* AC: SMAP permits */
    for (ULONG i = first; i < last; i++) {
        volatile UCHAR *p = i == 0 ? (PUCHAR)MmGetMdlVirtualAddress(m) : (PUCHAR)m->StartVa + (ULONG64)i * PAGE_SIZE;
        UCHAR v = *p;
        if (write && user)
            *p = v;
    }
    if (user)
        __asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" ::: "memory", "cc");
}

/* Does this PTE already allow the access the lock is for? Then the touch
 * would succeed without a fault, so it is not needed: a valid PTE, for a
 * user page one that ring 3 may use, and for a write lock of a user page a
 * writable one that is not copy-on-write (the write would give the process
 * a private copy first). What the touch would do to the PTE's A and D bits
 * does not matter: MmUnlockPages marks a written frame modified itself. */
static BOOLEAN pte_allows(ULONG64 v, BOOLEAN user, BOOLEAN write)
{
    if (!(v & MI_PTE_VALID))
        return FALSE;
    if (!user)
        return TRUE;
    if (!(v & MI_PTE_OWNER))
        return FALSE;
    return !write || ((v & MI_PTE_WRITE) && !(v & MI_PTE_COPY_ON_WRITE));
}

/* Drop the references taken on the first N frames of M. A lock for
 * writing first marks each frame modified: the device (or whoever wrote
 * through the MDL) changed it without its PTE's dirty bit, and a trimmed
 * clean frame goes to standby - reusable without being written out, so the
 * data would be lost. (NT: MmUnlockPages sets the PFN modified for an MDL
 * with MDL_WRITE_OPERATION.) One PFN lock hold and one update of the
 * counter for the whole MDL. */
static void unlock_frames(PMDL m, ULONG n, BOOLEAN written)
{
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    ULONG64 ram = 0;
    KIRQL old = MiAcquirePfnLock();
    for (ULONG i = 0; i < n; i++) {
        if (!MiIsPfnRam(pfn[i]))
            continue;   /* device memory: no PFN entry, no reference was taken */
        if (written)
            MiMarkPfnModified(pfn[i]);
        ram++;
        MiDecrementReferenceCount(pfn[i]);
    }
    MiReleasePfnLock(old);
    __atomic_sub_fetch(&MiMdlLockedFrames, ram, __ATOMIC_RELAXED);
}

/* Lock pages FROM.. of M that are resident with the access the lock needs,
 * under one hold of the PFN lock (at DISPATCH_LEVEL no trimming can take a
 * page away between the PTE check and the reference), and stop at the
 * first one that is not. Returns the index reached. */
static ULONG lock_resident(PMDL m, ULONG from, ULONG pages, BOOLEAN user, BOOLEAN write, CSHORT *extra)
{
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    ULONG i = from;
    ULONG64 ram = 0;
    KIRQL old = MiAcquirePfnLock();
    for (; i < pages; i++) {
        PUCHAR page = (PUCHAR)m->StartVa + (ULONG64)i * PAGE_SIZE;
        /* The upper levels once per page table, not per page. */
        if ((i == from || ((ULONG64)page & ((PAGE_SIZE << 9) - 1)) == 0) && !MiIsPteAccessible(page))
            break;
        ULONG64 v = MiGetPteAddress(page)->u.Long;
        if (!pte_allows(v, user, write))
            break;
        PFN_NUMBER f = MI_PTE_PFN(v);
        if (MiIsPfnRam(f)) {
            PMMPFN e = MI_PFN_ELEMENT(f);
            if (e->ReferenceCount >= MAX_LOCKS) {
                MiReleasePfnLock(old);
                __atomic_add_fetch(&MiMdlLockedFrames, ram, __ATOMIC_RELAXED);
                unlock_frames(m, i, FALSE);
                ExRaiseStatus(STATUS_WORKING_SET_QUOTA);
            }
            e->ReferenceCount++;
            ram++;
        } else {
            *extra = MDL_IO_SPACE;
        }
        pfn[i] = f;
    }
    MiReleasePfnLock(old);
    __atomic_add_fetch(&MiMdlLockedFrames, ram, __ATOMIC_RELAXED);   /* once per run of pages, not per page */
    return i;
}

/* NT's order: every page is made resident and gets a reference before the
 * call returns, or nothing stays locked and the fault's status is raised.
 * The fast path is the common case - a buffer already resident: one PFN
 * lock hold (one IRQL raise) for the whole MDL and a PTE check per page,
 * with no touch and no exception frame. Only when a page is not resident
 * (or not yet writable) are the pages from there on touched, in one
 * ExTry and one AC window, and the PTE walk resumes; a page trimmed again
 * in between is simply touched again. */
void MmProbeAndLockPages(PMDL m, KPROCESSOR_MODE mode, LOCK_OPERATION op)
{
    ULONG_PTR va = (ULONG_PTR)MmGetMdlVirtualAddress(m);
    KIRQL irql = KeGetCurrentIrql();
    MI_VERIFY(irql <= DISPATCH_LEVEL, 0x70, m, irql, 0,
              "MmProbeAndLockPages was called above DISPATCH_LEVEL; it may touch (and fault in) memory");
    MI_VERIFY(!(m->MdlFlags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL | MDL_MAPPED_TO_SYSTEM_VA |
                               MDL_PARTIAL | MDL_IO_SPACE)),
              0xB0, m, m->MdlFlags, 0,
              "MmProbeAndLockPages was called on an MDL that is already locked or was built by "
              "MmBuildMdlForNonPagedPool (or is mapped or partial); an MDL is either built or probed, once");
    ASSERT(m->ByteCount != 0);
    BOOLEAN user = va < 0x0000800000000000ULL;
    BOOLEAN write = op != IoReadAccess;
    if (mode == UserMode) {
        ULONG_PTR end = va + m->ByteCount;
        if (end < va || end > MmUserProbeAddress)
            ExRaiseStatus(STATUS_ACCESS_VIOLATION);   /* nothing locked yet */
    }
    MI_VERIFY(!(is_pageable_va(va) && irql > APC_LEVEL), 0x70, m, irql, va,
              "MmProbeAndLockPages was called at DISPATCH_LEVEL for pageable memory, which may need a page fault");
    ULONG pages = MI_MDL_PAGES(m);
    PKTHREAD thread = KeGetCurrentThread();
    struct _EPROCESS *process = user ? thread->ActiveProcess : NULL;
    CSHORT extra = 0;
    volatile NTSTATUS failed = STATUS_SUCCESS;

    for (ULONG i = 0;;) {
        i = lock_resident(m, i, pages, user, write, &extra);
        if (i == pages)
            break;
        /* Page I is not resident with the access needed: fault it (and
         * the rest) in. A fault raises an exception, caught here so what
         * is already locked can be released first. */
        ExTry {
            touch_range(m, i, pages, user, write);
        } ExExcept(status) {
            failed = status;
        } ExEndTry;
        if (!NT_SUCCESS(failed)) {
            unlock_frames(m, i, FALSE);
            ExRaiseStatus(failed);
        }
    }
    m->Process = process;
    if (process)
        __atomic_add_fetch(&process->LockedPages, pages, __ATOMIC_RELAXED);
    m->MdlFlags |= MDL_PAGES_LOCKED | extra;
    if (write)
        m->MdlFlags |= MDL_WRITE_OPERATION;
    else
        m->MdlFlags &= ~MDL_WRITE_OPERATION;
    if (MiVerifierEnabled)
        MiNoteMdlSite(m, MI_SITE_LOCK, (ULONG_PTR)__builtin_return_address(0));
}

/* ---- MmUnlockPages ---- */

void MmUnlockPages(PMDL m)
{
    KIRQL irql = KeGetCurrentIrql();
    MI_VERIFY(irql <= DISPATCH_LEVEL, 0x78, m, irql, 0, "MmUnlockPages was called above DISPATCH_LEVEL");
    MI_VERIFY(!(m->MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL), 0x7D, m, m->MdlFlags, 0,
              "MmUnlockPages was called on an MDL built by MmBuildMdlForNonPagedPool: nothing was locked, so "
              "there is nothing to unlock (just IoFreeMdl it)");
    MI_VERIFY(!(m->MdlFlags & MDL_PARTIAL), 0xB4, m, m->MdlFlags, 0,
              "MmUnlockPages was called on a partial MDL; its frames belong to the source MDL, which is the one "
              "to unlock");
    if (!(m->MdlFlags & MDL_PAGES_LOCKED)) {
        MI_MDL_TRACK *t = MiVerifierEnabled ? MiTrackMdl(m, FALSE) : NULL;
        if (t && t->EverLocked) {
            PFN_NUMBER first = MmGetMdlPfnArray(m)[0];
            KeBugCheckRule(PFN_LIST_CORRUPT, 0x07, first,
                           MiIsPfnRam(first) ? MI_PFN_ELEMENT(first)->ReferenceCount : 0, 0,
                           "MDL %p was unlocked twice: each MmProbeAndLockPages gets exactly one MmUnlockPages", m);
        }
        MI_VERIFY(FALSE, 0x7C, m, m->MdlFlags, 0,
                  "MmUnlockPages was called on an MDL whose pages were never locked");
    }
    /* The system mapping is the unlock's to remove; a user view is not
     * (it lives in some process, which may not be the current one): it
     * must be gone first. Without the verifier the view keeps its own
     * references, so its frames cannot be reused while ring 3 sees them. */
    MI_VERIFY(!MiMdlUserViews(m), MI_MDL_USER_VIEW_STILL_MAPPED, m, m->MdlFlags, MiMdlUserViews(m),
              "MmUnlockPages was called while a UserMode mapping of the MDL is still in a process; call "
              "MmUnmapLockedPages on that view (in its process) first (mdlos's sub-code: NT has none)");
    if (m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA)
        MmUnmapLockedPages(m->MappedSystemVa, m);   /* unlocking unmaps */
    ULONG pages = MI_MDL_PAGES(m);
    unlock_frames(m, pages, (m->MdlFlags & MDL_WRITE_OPERATION) != 0);
    if (m->Process) {
        __atomic_sub_fetch(&m->Process->LockedPages, pages, __ATOMIC_RELAXED);
    }
    m->MdlFlags &= ~(MDL_PAGES_LOCKED | MDL_IO_SPACE | MDL_WRITE_OPERATION);
}

/* ---- mapping ---- */

static ULONG64 kernel_map_flags(MEMORY_CACHING_TYPE cache, ULONG priority)
{
    ULONG64 f = MI_PTE_VALID | MI_PTE_NX | MI_PTE_GLOBAL | MiCacheFlags(cache);   /* W^X: data, never code */
    if (!(priority & MdlMappingNoWrite))
        f |= MI_PTE_WRITE;
    return f;
}

static void check_frames(PMDL m)
{
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    for (ULONG i = 0; i < MI_MDL_PAGES(m); i++)
        MI_VERIFY(MiIsPfnRam(pfn[i]) || (m->MdlFlags & MDL_IO_SPACE), 0x89, m, pfn[i], i,
                  "the MDL names a frame that is not RAM (device memory) but does not say MDL_IO_SPACE");
}

static PVOID map_user(PMDL m, MEMORY_CACHING_TYPE cache, PVOID requested, ULONG priority);

PVOID MmMapLockedPagesSpecifyCache(PMDL m, KPROCESSOR_MODE mode, MEMORY_CACHING_TYPE cache, PVOID requested,
                                   ULONG bugcheck_on_failure, ULONG priority)
{
    if (mode == UserMode)
        return map_user(m, cache, requested, priority);
    KIRQL irql = KeGetCurrentIrql();
    /* NT's 0x76 (P2 here is the MDL, as for every MDL stop; P3 the IRQL). */
    MI_VERIFY(irql <= DISPATCH_LEVEL, 0x76, m, irql, KernelMode,
              "MmMapLockedPagesSpecifyCache (KernelMode) was called above DISPATCH_LEVEL");
    MI_VERIFY(!(m->MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL | MDL_PARTIAL_HAS_BEEN_MAPPED)),
              0xB2, m, m->MdlFlags, 0,
              "the MDL is already mapped to system space (or is nonpaged pool, mapped from the start); use "
              "MmGetSystemAddressForMdlSafe, which returns the existing mapping");
    MI_VERIFY(m->MdlFlags & (MDL_PAGES_LOCKED | MDL_PARTIAL), 0xB3, m, m->MdlFlags, 0,
              "MmMapLockedPagesSpecifyCache was called on an MDL whose pages are not locked: an unlocked frame "
              "may belong to someone else by the time the mapping is used");
    MI_VERIFY(!bugcheck_on_failure, 0x82, m, bugcheck_on_failure, 0,
              "MmMapLockedPagesSpecifyCache was called with BugCheckOnFailure = TRUE; pass FALSE and handle NULL");
    check_frames(m);
    ULONG pages = MI_MDL_PAGES(m);
    PMMPTE pte = MiReserveSystemPtes(pages);
    if (!pte) {
        if ((m->MdlFlags & MDL_MAPPING_CAN_FAIL) || !bugcheck_on_failure)
            return NULL;
        KeBugCheckRule(NO_MORE_SYSTEM_PTES, 0, pages, MiSystemPtesTotal(), MiSystemPtesInUse(),
                       "no system PTEs left to map an MDL of %u pages (and the caller asked for a bugcheck)", pages);
    }
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    ULONG64 flags = kernel_map_flags(cache, priority);
    for (ULONG i = 0; i < pages; i++)
        MiWriteFreshPte(pte + i, (pfn[i] << PAGE_SHIFT) | flags);
    PUCHAR base = MiGetVirtualAddressMappedByPte(pte);
    m->MappedSystemVa = base + m->ByteOffset;
    m->MdlFlags |= MDL_MAPPED_TO_SYSTEM_VA;
    if (m->MdlFlags & MDL_PARTIAL)
        m->MdlFlags |= MDL_PARTIAL_HAS_BEEN_MAPPED;
    if (MiVerifierEnabled)
        MiNoteMdlSite(m, MI_SITE_MAP, (ULONG_PTR)__builtin_return_address(0));
    return m->MappedSystemVa;
}

PVOID MmMapLockedPages(PMDL m, KPROCESSOR_MODE mode)
{
    MI_VERIFY(FALSE, 0x81, m, mode, 0,
              "MmMapLockedPages is obsolete: it bugchecks when out of PTEs; use MmMapLockedPagesSpecifyCache "
              "with BugCheckOnFailure = FALSE (or MmGetSystemAddressForMdlSafe)");
    return MmMapLockedPagesSpecifyCache(m, mode, MmCached, NULL, TRUE, NormalPagePriority);
}

/* A user view: a VAD in the current process, removable only by
 * MmUnmapLockedPages there; never executable. Errors are raised, as NT does. */
static PVOID map_user(PMDL m, MEMORY_CACHING_TYPE cache, PVOID requested, ULONG priority)
{
    KIRQL irql = KeGetCurrentIrql();
    MI_VERIFY(irql <= APC_LEVEL, 0x77, m, irql, UserMode,   /* NT's 0x77 */
              "a UserMode MmMapLockedPagesSpecifyCache was called above APC_LEVEL");
    MI_VERIFY(m->MdlFlags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL | MDL_PARTIAL), 0xB3, m, m->MdlFlags, 0,
              "MmMapLockedPagesSpecifyCache was called on an MDL whose pages are not locked");
    check_frames(m);
    PEPROCESS p = KeGetCurrentThread()->ActiveProcess;
    if (p == &PsInitialSystemProcess)
        ExRaiseStatus(STATUS_INVALID_ADDRESS);   /* there is no user space here */
    ULONG pages = MI_MDL_PAGES(m);
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    NTSTATUS s = STATUS_SUCCESS;
    ULONG64 start;
    if (requested) {
        start = (ULONG64)requested >> PAGE_SHIFT;
        /* Whole pages, above the first 64 KiB and below the top 64 KiB,
         * which NT keeps out of every VAD (MM_HIGHEST_VAD_ADDRESS). */
        if (((ULONG64)requested & (PAGE_SIZE - 1)) || (ULONG64)requested < 0x10000 ||
            start + pages - 1 > ((ULONG64)MM_HIGHEST_VAD_ADDRESS >> PAGE_SHIFT))
            s = STATUS_INVALID_ADDRESS;
        else if (!MiRangeIsFree(p, start, start + pages - 1))
            s = STATUS_CONFLICTING_ADDRESSES;
    } else {
        start = MiFindFreeRange(p, pages);
        if (!start)
            s = STATUS_CONFLICTING_ADDRESSES;
    }
    PMMVAD v = NULL;
    if (NT_SUCCESS(s)) {
        v = MiInsertVad(p, start, start + pages - 1, (priority & MdlMappingNoWrite) ? PAGE_READONLY : PAGE_READWRITE,
                        VadLockedView);
        if (!v)
            s = STATUS_INSUFFICIENT_RESOURCES;
    }
    if (!NT_SUCCESS(s)) {
        KeReleaseMutex(&p->AddressSpaceLock, FALSE);
        ExRaiseStatus(s);
    }
    v->NoFree = TRUE;
    v->Owner = m;
    ULONG mm = (priority & MdlMappingNoWrite) ? MM_READONLY : MM_READWRITE;   /* never executable */
    if (cache == MmNonCached)
        mm |= MM_NOCACHE;
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    if (MiVerifierEnabled)
        MiNoteMdlUserView(m, +1);   /* counted down by MiDeleteLockedView, even on failure below */
    for (ULONG i = 0; i < pages; i++) {
        PVOID va = (PVOID)((start + i) << PAGE_SHIFT);
        if (!MiEnsurePageTables(va))
            s = STATUS_INSUFFICIENT_RESOURCES;
        /* Each valid PTE of the view holds a reference of its own on a RAM
         * frame: whatever the driver then does wrong (unlock, free the pool,
         * free the MDL) or in whatever order it and the process's end come,
         * the frame cannot reach a free list while ring 3 can still write
         * it; MiDeleteLockedView drops the reference after the PTE is gone. */
        KIRQL old = MiAcquirePfnLock();
        if (NT_SUCCESS(s) && MiIsPfnRam(pfn[i])) {
            PMMPFN e = MI_PFN_ELEMENT(pfn[i]);
            if (e->ReferenceCount >= MAX_LOCKS) {
                s = STATUS_INSUFFICIENT_RESOURCES;
            } else {
                e->ReferenceCount++;
                __atomic_add_fetch(&MiMdlViewFrames, 1, __ATOMIC_RELAXED);
            }
        }
        MiReleasePfnLock(old);
        if (!NT_SUCCESS(s)) {
            MiDeleteVad(p, v);   /* undoes the pages mapped so far, and the count */
            KeReleaseMutex(&p->AddressSpaceLock, FALSE);
            ExRaiseStatus(s);
        }
        ULONG64 flags = MiUserPteFlags(mm);
        if (cache == MmWriteCombined)
            flags |= MI_PTE_PWT;
        MiWriteUserPte(MiGetPteAddress(va), (pfn[i] << PAGE_SHIFT) | flags);
    }
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    if (MiVerifierEnabled)
        MiNoteMdlSite(m, MI_SITE_MAP, (ULONG_PTR)__builtin_return_address(0));
    return (PUCHAR)(start << PAGE_SHIFT) + m->ByteOffset;
}

void MiDeleteLockedView(PEPROCESS p, PMMVAD v)
{
    UNREFERENCED_PARAMETER(p);
    for (ULONG64 vpn = v->StartVpn; vpn <= v->EndVpn; vpn++) {
        PVOID va = (PVOID)(vpn << PAGE_SHIFT);
        if (!MiIsPteAccessible(va))
            continue;
        PMMPTE pte = MiGetPteAddress(va);
        ULONG64 old = pte->u.Long;
        if (!old)
            continue;   /* a view whose map failed part way */
        /* PTE first (and the TLB flush with it), reference after: once the
         * frame can be freed, no translation to it is left. */
        MiWriteUserPte(pte, 0);
        PFN_NUMBER pfn = MI_PTE_PFN(old);
        if (MiIsPfnRam(pfn)) {
            KIRQL irql = MiAcquirePfnLock();
            __atomic_sub_fetch(&MiMdlViewFrames, 1, __ATOMIC_RELAXED);
            MiDecrementReferenceCount(pfn);   /* the last one frees a frame its owner already gave up */
            MiReleasePfnLock(irql);
        }
    }
    /* Counted down whether or not the verifier is on now (a test may have
     * switched it off since the map): a stale count would stop a later MDL. */
    MiNoteMdlUserView((PMDL)v->Owner, -1);
}

void MmUnmapLockedPages(PVOID base, PMDL m)
{
    ULONG pages = MI_MDL_PAGES(m);
    ULONG64 va = (ULONG64)PAGE_ALIGN(base);
    /* NT's 0x79 and 0x7A: system PTEs are released at DISPATCH_LEVEL at
     * most; a user view needs the address space lock (a wait). */
    KIRQL irql = KeGetCurrentIrql();
    if (va < 0x0000800000000000ULL)
        MI_VERIFY(irql <= APC_LEVEL, 0x7A, m, irql, base, "MmUnmapLockedPages of a user view was called above APC_LEVEL");
    else
        MI_VERIFY(irql <= DISPATCH_LEVEL, 0x79, m, irql, base,
                  "MmUnmapLockedPages of a system mapping was called above DISPATCH_LEVEL");
    if (va < 0x0000800000000000ULL) {
        PEPROCESS p = KeGetCurrentThread()->ActiveProcess;
        /* The system process has no user space: no VAD list, no address
         * space lock to take - nothing of it can be a view. */
        BOOLEAN user_space = p != &PsInitialSystemProcess;
        PMMVAD v = NULL;
        if (user_space) {
            KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
            v = MiLocateVad(p, va);
        }
        BOOLEAN ours = v && v->Type == VadLockedView && v->Owner == m && v->StartVpn == (va >> PAGE_SHIFT);
        if (!ours && user_space)
            KeReleaseMutex(&p->AddressSpaceLock, FALSE);
        /* NT's 0xB9: a user address that is not a view of this MDL here
         * (often: unmapping from another process than the one mapped in). */
        MI_VERIFY(ours, 0xB9, m, base, p,
                  "MmUnmapLockedPages was given a user address that is not a UserMode mapping of this MDL in the "
                  "current process; unmap a user view in the process it was mapped in (attach to it first)");
        if (!ours)
            KeBugCheckRule(SYSTEM_PTE_MISUSE, 0x200, (ULONG_PTR)base, (ULONG_PTR)m, (ULONG_PTR)p,
                           "MmUnmapLockedPages(%p) does not match a user mapping of this MDL in this process", base);
        MiDeleteVad(p, v);
        KeReleaseMutex(&p->AddressSpaceLock, FALSE);
        return;
    }
    /* Check before touching a PTE: unmapping twice, or an address that is
     * not this MDL's mapping, must not tear down someone else's. */
    /* NT's 0xB6: a system address, but the MDL has no system mapping of its
     * own (never mapped, unmapped already, or built for nonpaged pool, whose
     * MappedSystemVa is the pool's). */
    MI_VERIFY(m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA, 0xB6, m, m->MdlFlags, base,
              "MmUnmapLockedPages was called for a system address on an MDL that is not mapped to system space "
              "(unmapped twice, never mapped, or built by MmBuildMdlForNonPagedPool)");
    /* NT's 0xB5: a partial MDL built from a mapped source has
     * MDL_MAPPED_TO_SYSTEM_VA, but the PTEs are the source's; only a mapping
     * of its own (MDL_PARTIAL_HAS_BEEN_MAPPED) is its to release. */
    BOOLEAN borrowed = (m->MdlFlags & (MDL_PARTIAL | MDL_PARTIAL_HAS_BEEN_MAPPED)) == MDL_PARTIAL;
    MI_VERIFY(!borrowed, 0xB5, m, m->MdlFlags, base,
              "MmUnmapLockedPages was called on a partial MDL whose system address is its source MDL's mapping; "
              "the source's unmap (or unlock) releases it");
    if (!(m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) || (m->MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL) || borrowed ||
        (ULONG64)PAGE_ALIGN(m->MappedSystemVa) != va) {
        MmDumpMdl(m);
        KeBugCheckRule(SYSTEM_PTE_MISUSE, 0x101, (ULONG_PTR)base, (ULONG_PTR)m, m->MdlFlags,
                       "MmUnmapLockedPages(%p) does not match this MDL's system mapping (%s)", base,
                       borrowed ? "the mapping is the source MDL's"
                       : (m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) ? "a different address" : "it is not mapped");
    }
    PMMPTE pte = MiGetPteAddress((PVOID)va);
    MiUnmapSystemPtes(pte, pages);   /* one flush list for the whole mapping (mm/sysptes.c) */
    m->MdlFlags &= ~(MDL_MAPPED_TO_SYSTEM_VA | MDL_PARTIAL_HAS_BEEN_MAPPED | MDL_FREE_EXTRA_PTES);
}

PVOID MmGetSystemAddressForMdlSafe(PMDL m, ULONG priority)
{
    if (m->MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL))
        return m->MappedSystemVa;
    return MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, priority);
}

void MmPrepareMdlForReuse(PMDL m)
{
    /* A partial MDL that got a mapping of its own frees it here; a full
     * MDL's mapping belongs to its unlock. */
    if ((m->MdlFlags & (MDL_PARTIAL | MDL_PARTIAL_HAS_BEEN_MAPPED)) == (MDL_PARTIAL | MDL_PARTIAL_HAS_BEEN_MAPPED))
        MmUnmapLockedPages(m->MappedSystemVa, m);
}

NTSTATUS MmProtectMdlSystemAddress(PMDL m, ULONG protect)
{
    if (!(m->MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL)))
        return STATUS_NOT_MAPPED_VIEW;
    ULONG64 flags;
    switch (protect & ~(ULONG)(PAGE_NOCACHE)) {
    case PAGE_NOACCESS: flags = 0; break;
    case PAGE_READONLY: flags = MI_PTE_VALID | MI_PTE_NX; break;
    case PAGE_READWRITE: flags = MI_PTE_VALID | MI_PTE_WRITE | MI_PTE_NX; break;
    case PAGE_EXECUTE_READ: flags = MI_PTE_VALID; break;
    default: return STATUS_INVALID_PAGE_PROTECTION;   /* W^X: nothing both writable and executable */
    }
    if (m->MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL)
        return STATUS_NOT_MAPPED_VIEW;   /* the pool's own mapping is not the MDL's to change */
    PMMPTE pte = MiGetPteAddress(PAGE_ALIGN(m->MappedSystemVa));
    for (ULONG i = 0; i < MI_MDL_PAGES(m); i++) {
        /* What a protection change must not touch: the frame, the memory
         * type the mapping was made with (PWT, PCD and the PAT bit, bit 7 of
         * a 4 KiB PTE: Intel SDM vol. 3 11.12.3) - an uncached device page
         * must not turn write-back - and G. A no-access PTE is not present,
         * and the CPU ignores every other bit of a not-present entry, so it
         * keeps all of these where they were (in the transition form, whose
         * protection field this PTE does not use), and a later change back
         * finds them there. */
        ULONG64 keep = pte[i].u.Long & (MI_PTE_PFN_MASK | MI_PTE_PWT | MI_PTE_PCD | MI_PTE_LARGE | MI_PTE_GLOBAL);
        MiWritePteAndFlush(&pte[i], flags ? keep | flags : keep | MI_PTE_TRANSITION);
    }
    return STATUS_SUCCESS;
}

/* ---- frames made for an MDL ---- */

PMDL MmAllocatePagesForMdlEx(PHYSICAL_ADDRESS low, PHYSICAL_ADDRESS high, PHYSICAL_ADDRESS skip, SIZE_T total,
                             MEMORY_CACHING_TYPE cache, ULONG flags)
{
    UNREFERENCED_PARAMETER(skip);
    UNREFERENCED_PARAMETER(cache);
    /* One MDL describes at most MI_MDL_MAX_PAGES: its Size is 16 bits (the
     * limit IoAllocateMdl has too), far below what ByteCount, a ULONG, could
     * say. A larger request gets that many pages at most, as on NT, which
     * gives as much as it can and leaves the caller to read
     * MmGetMdlByteCount - unless it asked for all or nothing. (Rounded up
     * without overflow: TOTAL comes straight from the caller.) */
    SIZE_T want = (total >> PAGE_SHIFT) + ((total & (PAGE_SIZE - 1)) != 0);
    if (!want)
        return NULL;
    if (want > MI_MDL_MAX_PAGES) {
        if (flags & MM_ALLOCATE_FULLY_REQUIRED)
            return NULL;
        want = MI_MDL_MAX_PAGES;
    }
    ULONG pages = (ULONG)want;
    PMDL m = ExAllocatePoolWithTag(NonPagedPoolNx, MmSizeOfMdl(0, (SIZE_T)pages * PAGE_SIZE), TAG_MDL);
    if (!m)
        return NULL;
    MmInitializeMdl(m, NULL, (SIZE_T)pages * PAGE_SIZE);
    m->Process = NULL;
    m->MappedSystemVa = NULL;
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    PFN_NUMBER lo = (ULONG64)low.QuadPart >> PAGE_SHIFT, hi = (ULONG64)high.QuadPart >> PAGE_SHIFT;
    ULONG got = 0;
    while (got < pages) {
        /* Only frames inside the caller's physical window (a device's DMA reach). */
        PFN_NUMBER f = MiAllocatePfnInRange(MiUsageDriver, !(flags & MM_DONT_ZERO_ALLOCATION), lo, hi);
        if (!f)
            break;
        pfn[got++] = f;   /* its reference (1) is the MDL's lock */
    }
    if (got < pages && ((flags & MM_ALLOCATE_FULLY_REQUIRED) || got == 0)) {
        for (ULONG i = 0; i < got; i++)
            MiFreePfn(pfn[i]);
        ExFreePoolWithTag(m, TAG_MDL);
        return NULL;
    }
    m->ByteCount = got * PAGE_SIZE;   /* may be fewer than asked */
    m->Size = (CSHORT)MmSizeOfMdl(0, m->ByteCount);
    m->MdlFlags = MDL_PAGES_LOCKED;
    if (MiVerifierEnabled)
        MiNoteMdlSite(m, MI_SITE_ALLOC, (ULONG_PTR)__builtin_return_address(0));
    return m;
}

void MmFreePagesFromMdl(PMDL m)
{
    MI_VERIFY(!MiMdlUserViews(m), MI_MDL_USER_VIEW_STILL_MAPPED, m, m->MdlFlags, MiMdlUserViews(m),
              "MmFreePagesFromMdl was called while a UserMode mapping of the MDL is still in a process; call "
              "MmUnmapLockedPages on that view first (mdlos's sub-code: NT has none)");
    if (m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA)
        MmUnmapLockedPages(m->MappedSystemVa, m);
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    for (ULONG i = 0; i < MI_MDL_PAGES(m); i++)
        MiFreePfn(pfn[i]);
    m->MdlFlags &= ~MDL_PAGES_LOCKED;
    if (MiVerifierEnabled)
        MiForgetMdl(m);
}

/* An MDL header for [base, base+length) in caller storage (NT's macro, a
 * routine here so the verifier can forget the storage's old MDL). */
void MmInitializeMdl(PMDL m, PVOID base, SIZE_T length)
{
    if (MiVerifierEnabled)
        MiForgetMdl(m);   /* a new MDL in old storage starts with a clean record */
    m->Next = NULL;
    m->Size = (CSHORT)MmSizeOfMdl(base, length);
    m->MdlFlags = 0;
    m->StartVa = PAGE_ALIGN(base);
    m->ByteOffset = BYTE_OFFSET(base);
    m->ByteCount = (ULONG)length;
}
