/*
 * The memory manager's side of MDLs: describing a buffer's frames
 * (MmBuildMdlForNonPagedPool), pinning them (MmProbeAndLockPages /
 * MmUnlockPages), mapping them (MmMapLockedPagesSpecifyCache /
 * MmUnmapLockedPages), and frames made for MDLs (MmAllocatePagesForMdlEx).
 *
 * Locking is a reference on each frame (MMPFN.ReferenceCount): while it is
 * held the frame cannot be trimmed to a list, repurposed or freed - if its
 * owner frees the memory, the frame lives on (PteDeleted) until the last
 * unlock. Mapping takes system PTEs (or a VAD in a process) and changes no
 * reference counts: only locked frames may be mapped.
 */
#include "mm/mdl.h"
#include "mm/pool.h"
#include "kernel/x86.h"

#define TAG_MDL POOL_TAG('M', 'd', 'l', ' ')
#define MAX_LOCKS 0x7FFF   /* MAXUSHORT / 2 */

static BOOLEAN in_kernel_stack(ULONG_PTR va)
{
    /* NT's kernel stacks can be paged out while a thread waits: a stack
     * buffer is not "nonpaged pool" either. */
    return KeIsAddressOnStack(va);
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
            KeBugCheckRule(0x1A, 0x1240, (ULONG_PTR)m, (ULONG_PTR)MiGetPteAddress(page), 0,
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

static void touch(volatile UCHAR *p, BOOLEAN user, BOOLEAN write)
{
    /* Touching makes the page resident: demand-zero, image, transition
     * and copy-on-write faults are all resolved by this one access (a
     * write for a write lock, so a copy-on-write page is copied first). */
    if (user)
        __asm__ volatile("pushfq; orq $0x40000, (%%rsp); popfq" ::: "memory", "cc");   /* AC: SMAP permits */
    UCHAR v = *p;
    if (write && user)
        *p = v;
    if (user)
        __asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" ::: "memory", "cc");
}

/* Drop the references taken on the first N frames of M. */
static void unlock_frames(PMDL m, ULONG n)
{
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    KIRQL old = MiAcquirePfnLock();
    for (ULONG i = 0; i < n; i++)
        if (MiIsPfnRam(pfn[i]))
            MiDecrementReferenceCount(pfn[i]);
    MiReleasePfnLock(old);
}

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
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    PKTHREAD thread = KeGetCurrentThread();
    struct _EPROCESS *process = user ? thread->ActiveProcess : NULL;
    ULONG locked = 0;
    CSHORT extra = 0;
    volatile NTSTATUS failed = STATUS_SUCCESS;

    for (ULONG i = 0; i < pages; i++) {
        PUCHAR page = (PUCHAR)m->StartVa + (ULONG64)i * PAGE_SIZE;
        volatile UCHAR *probe = i == 0 ? (PUCHAR)va : page;
        for (;;) {
            /* Fault the page in (a fault raises an exception: caught
             * here so what is already locked can be released first). */
            ExTry {
                touch(probe, user, write);
            } ExExcept(status) {
                failed = status;
            } ExEndTry;
            if (!NT_SUCCESS(failed)) {
                unlock_frames(m, locked);
                ExRaiseStatus(failed);
            }
            /* Then, at DISPATCH_LEVEL (no trimming can run), the frame
             * it maps gets its reference - unless it was taken away again
             * in between, in which case touch it once more. */
            KIRQL old = MiAcquirePfnLock();
            PMMPTE pte = MiGetPteAddress(page);
            if (!MiIsPteAccessible(page) || !(pte->u.Long & MI_PTE_VALID) ||
                (write && user && (pte->u.Long & MI_PTE_COPY_ON_WRITE))) {
                MiReleasePfnLock(old);
                continue;
            }
            pfn[i] = MI_PTE_PFN(pte->u.Long);
            if (MiIsPfnRam(pfn[i])) {
                PMMPFN e = MI_PFN_ELEMENT(pfn[i]);
                if (e->ReferenceCount >= MAX_LOCKS) {
                    MiReleasePfnLock(old);
                    unlock_frames(m, locked);
                    ExRaiseStatus(STATUS_WORKING_SET_QUOTA);
                }
                e->ReferenceCount++;
            } else {
                extra = MDL_IO_SPACE;
            }
            MiReleasePfnLock(old);
            locked++;
            break;
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
    if (m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA)
        MmUnmapLockedPages(m->MappedSystemVa, m);   /* unlocking unmaps */
    ULONG pages = MI_MDL_PAGES(m);
    unlock_frames(m, pages);
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
    /* 0x7B: mdlos's sub-code for this rule (MDL-SPEC.md names none). */
    MI_VERIFY(irql <= DISPATCH_LEVEL, 0x7B, m, irql, 0, "MmMapLockedPagesSpecifyCache was called above DISPATCH_LEVEL");
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
        MiWritePteAndFlush(pte + i, (pfn[i] << PAGE_SHIFT) | flags);
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
    MI_VERIFY(irql <= APC_LEVEL, 0x7B, m, irql, 0,
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
        if (((ULONG64)requested & (PAGE_SIZE - 1)) || (ULONG64)requested < 0x10000 ||
            (start + pages) > ((ULONG64)MM_HIGHEST_USER_ADDRESS >> PAGE_SHIFT))
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
    for (ULONG i = 0; i < pages; i++) {
        PVOID va = (PVOID)((start + i) << PAGE_SHIFT);
        if (!MiEnsurePageTables(va)) {
            MiDeleteVad(p, v);
            KeReleaseMutex(&p->AddressSpaceLock, FALSE);
            ExRaiseStatus(STATUS_INSUFFICIENT_RESOURCES);
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

void MmUnmapLockedPages(PVOID base, PMDL m)
{
    ULONG pages = MI_MDL_PAGES(m);
    ULONG64 va = (ULONG64)PAGE_ALIGN(base);
    if (va < 0x0000800000000000ULL) {
        PEPROCESS p = KeGetCurrentThread()->ActiveProcess;
        KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
        PMMVAD v = MiLocateVad(p, va);
        if (!v || v->Type != VadLockedView || v->Owner != m || v->StartVpn != (va >> PAGE_SHIFT))
            KeBugCheckRule(0xDA /* SYSTEM_PTE_MISUSE */, 0x200, (ULONG_PTR)base, (ULONG_PTR)m, (ULONG_PTR)p,
                           "MmUnmapLockedPages(%p) does not match a user mapping of this MDL in this process", base);
        MiDeleteVad(p, v);
        KeReleaseMutex(&p->AddressSpaceLock, FALSE);
        return;
    }
    /* Check before touching a PTE: unmapping twice, or an address that is
     * not this MDL's mapping, must not tear down someone else's. */
    if (!(m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) || (m->MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL) ||
        (ULONG64)PAGE_ALIGN(m->MappedSystemVa) != va) {
        MmDumpMdl(m);
        KeBugCheckRule(0xDA /* SYSTEM_PTE_MISUSE */, 0x101, (ULONG_PTR)base, (ULONG_PTR)m, m->MdlFlags,
                       "MmUnmapLockedPages(%p) does not match this MDL's system mapping (%s)", base,
                       (m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) ? "a different address" : "it is not mapped");
    }
    PMMPTE pte = MiGetPteAddress((PVOID)va);
    for (ULONG i = 0; i < pages; i++)
        MiWritePteAndFlush(pte + i, 0);
    MiReleaseSystemPtes(pte, pages);
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
        ULONG64 v = pte[i].u.Long;
        ULONG64 keep = v & (MI_PTE_PFN_MASK | MI_PTE_PWT | MI_PTE_PCD | MI_PTE_GLOBAL);
        if (!(v & MI_PTE_VALID))
            keep = (MmGetMdlPfnArray(m)[i] << PAGE_SHIFT) | MI_PTE_GLOBAL;   /* was no-access */
        MiWritePteAndFlush(&pte[i], flags ? keep | flags : (keep & MI_PTE_PFN_MASK) | MI_PTE_TRANSITION);
    }
    return STATUS_SUCCESS;
}

/* ---- frames made for an MDL ---- */

PMDL MmAllocatePagesForMdlEx(PHYSICAL_ADDRESS low, PHYSICAL_ADDRESS high, PHYSICAL_ADDRESS skip, SIZE_T total,
                             MEMORY_CACHING_TYPE cache, ULONG flags)
{
    UNREFERENCED_PARAMETER(skip);
    UNREFERENCED_PARAMETER(cache);
    ULONG pages = (ULONG)BYTES_TO_PAGES(total);
    if (!pages || MmSizeOfMdl(0, (SIZE_T)pages * PAGE_SIZE) > 0xFFFF)
        return NULL;
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
    if (m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA)
        MmUnmapLockedPages(m->MappedSystemVa, m);
    PPFN_NUMBER pfn = MmGetMdlPfnArray(m);
    for (ULONG i = 0; i < MI_MDL_PAGES(m); i++)
        MiFreePfn(pfn[i]);
    m->MdlFlags &= ~MDL_PAGES_LOCKED;
    if (MiVerifierEnabled)
        MiForgetMdl(m);
}
