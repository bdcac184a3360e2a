/*
 * A process's virtual address space: VADs (virtual address descriptors)
 * record what was reserved, with which protection and backing; PTEs record
 * which pages are committed. A committed page that was never touched has a
 * demand-zero PTE (not valid, "committed" bit, protection) and costs no
 * frame until the first touch. This file has the VAD list and the
 * NtAllocate/Free/Protect/QueryVirtualMemory services, with NT's rules and
 * status codes.
 */
#include "kernel/ps/psp.h"
#include "kernel/ex/ex.h"

#define TAG_VAD POOL_TAG('V', 'a', 'd', ' ')
#define ALLOCATION_GRANULARITY (64 * 1024)   /* NT reserves in 64 KiB steps */
#define LOWEST_USER_ADDRESS 0x10000ULL
#define HIGHEST_USER_VPN (0x00007FFFFFFEFFFFULL >> PAGE_SHIFT)

/* ---- protections ---- */

/* PAGE_* (the API) -> MM_* (kept in software PTEs); -1 when invalid. */
LONG MiMakeProtectionMask(ULONG protect)
{
    ULONG extra = protect & (PAGE_GUARD | PAGE_NOCACHE);
    ULONG base = protect & ~(PAGE_GUARD | PAGE_NOCACHE);
    LONG mm;
    switch (base) {
    case PAGE_NOACCESS: mm = MM_NOACCESS; break;
    case PAGE_READONLY: mm = MM_READONLY; break;
    case PAGE_EXECUTE: mm = MM_EXECUTE; break;
    case PAGE_EXECUTE_READ: mm = MM_EXECUTE_READ; break;
    case PAGE_READWRITE: mm = MM_READWRITE; break;
    case PAGE_WRITECOPY: mm = MM_WRITECOPY; break;
    case PAGE_EXECUTE_READWRITE: mm = MM_EXECUTE_READWRITE; break;
    case PAGE_EXECUTE_WRITECOPY: mm = MM_EXECUTE_WRITECOPY; break;
    default: return -1;
    }
    if (extra && base == PAGE_NOACCESS)
        return -1;   /* a guard or uncached no-access page means nothing */
    if (extra & PAGE_GUARD)
        mm |= MM_GUARD_PAGE;
    if (extra & PAGE_NOCACHE)
        mm |= MM_NOCACHE;
    return mm;
}

ULONG MiProtectionToPage(ULONG mm)
{
    static const ULONG page[8] = { PAGE_NOACCESS, PAGE_READONLY, PAGE_EXECUTE, PAGE_EXECUTE_READ,
                                   PAGE_READWRITE, PAGE_WRITECOPY, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY };
    ULONG p = page[mm & 7];
    if ((mm & MM_GUARD_PAGE) == MM_GUARD_PAGE && (mm & 0x18) != MM_WRITECOMBINE)
        p |= PAGE_GUARD;
    if (mm & MM_NOCACHE)
        p |= PAGE_NOCACHE;
    return p;
}

/* Hardware bits for a valid user PTE of MM protection MM. Write-copy
 * pages are mapped read-only with the software copy-on-write bit. */
ULONG64 MiUserPteFlags(ULONG mm)
{
    ULONG64 f = MI_PTE_VALID | MI_PTE_OWNER;
    switch (mm & 7) {
    case MM_READWRITE: f |= MI_PTE_WRITE | MI_PTE_NX; break;
    case MM_EXECUTE_READWRITE: f |= MI_PTE_WRITE; break;
    case MM_WRITECOPY: f |= MI_PTE_COPY_ON_WRITE | MI_PTE_NX; break;
    case MM_EXECUTE_WRITECOPY: f |= MI_PTE_COPY_ON_WRITE; break;
    case MM_EXECUTE:
    case MM_EXECUTE_READ: break;
    default: f |= MI_PTE_NX; break;
    }
    if (mm & MM_NOCACHE)
        f |= MI_PTE_PCD | MI_PTE_PWT;
    return f;
}

/* The MM protection a PTE now grants. */
ULONG MiPteProtection(ULONG64 v)
{
    if (v & MI_PTE_VALID) {
        BOOLEAN x = !(v & MI_PTE_NX);
        ULONG nocache = (v & MI_PTE_PCD) ? MM_NOCACHE : 0;
        if (v & MI_PTE_COPY_ON_WRITE)
            return (x ? MM_EXECUTE_WRITECOPY : MM_WRITECOPY) | nocache;
        if (v & MI_PTE_WRITE)
            return (x ? MM_EXECUTE_READWRITE : MM_READWRITE) | nocache;
        return (x ? MM_EXECUTE_READ : MM_READONLY) | nocache;
    }
    MMPTE p = { .u.Long = v };
    return p.u.Soft.Protection;
}

ULONG64 MiDemandZeroPte(ULONG mm)
{
    MMPTE p = { .u.Long = MI_PTE_COMMITTED };
    p.u.Soft.Protection = mm;
    return p.u.Long;
}

/* ---- the VAD list ---- */

PMMVAD MiLocateVad(PEPROCESS p, ULONG64 va)
{
    ULONG64 vpn = va >> PAGE_SHIFT;
    for (PLIST_ENTRY e = p->VadListHead.Flink; e != &p->VadListHead; e = e->Flink) {
        PMMVAD v = CONTAINING_RECORD(e, MMVAD, Links);
        if (vpn < v->StartVpn)
            return NULL;
        if (vpn <= v->EndVpn)
            return v;
    }
    return NULL;
}

BOOLEAN MiRangeIsFree(PEPROCESS p, ULONG64 start, ULONG64 end)
{
    for (PLIST_ENTRY e = p->VadListHead.Flink; e != &p->VadListHead; e = e->Flink) {
        PMMVAD v = CONTAINING_RECORD(e, MMVAD, Links);
        if (v->StartVpn <= end && start <= v->EndVpn)
            return FALSE;
    }
    return TRUE;
}

/* First fit above the lowest user address, in allocation-granularity steps. */
ULONG64 MiFindFreeRange(PEPROCESS p, ULONG64 pages)
{
    ULONG64 gran = ALLOCATION_GRANULARITY >> PAGE_SHIFT;
    ULONG64 cand = LOWEST_USER_ADDRESS >> PAGE_SHIFT;
    for (PLIST_ENTRY e = p->VadListHead.Flink;; e = e->Flink) {
        /* Nothing above MM_HIGHEST_VAD_ADDRESS: NT keeps the top 64 KiB out of every VAD. */
        ULONG64 limit = e == &p->VadListHead ? ((ULONG64)MM_HIGHEST_VAD_ADDRESS >> PAGE_SHIFT) + 1
                                             : CONTAINING_RECORD(e, MMVAD, Links)->StartVpn;
        if (cand + pages <= limit)
            return cand;
        if (e == &p->VadListHead)
            return 0;
        cand = (CONTAINING_RECORD(e, MMVAD, Links)->EndVpn + gran) & ~(gran - 1);
    }
}

PMMVAD MiInsertVad(PEPROCESS p, ULONG64 start_vpn, ULONG64 end_vpn, ULONG protect, UCHAR type)
{
    PMMVAD v = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*v), TAG_VAD);
    if (!v)
        return NULL;
    memset(v, 0, sizeof(*v));
    v->StartVpn = start_vpn;
    v->EndVpn = end_vpn;
    v->Protection = protect;
    v->Type = type;
    PLIST_ENTRY e = p->VadListHead.Flink;
    while (e != &p->VadListHead && CONTAINING_RECORD(e, MMVAD, Links)->StartVpn < start_vpn)
        e = e->Flink;
    InsertTailList(e, &v->Links);   /* before e: sorted */
    return v;
}

void MiDeleteVad(PEPROCESS p, PMMVAD v)
{
    if (v->Type == VadLockedView) {
        MiDeleteLockedView(p, v);   /* an MDL's user view: its PTEs and their references */
    } else {
        MiDeleteUserRange(p, v->StartVpn << PAGE_SHIFT, (v->EndVpn + 1) << PAGE_SHIFT);
    }
    RemoveEntryList(&v->Links);
    ExFreePoolWithTag(v, TAG_VAD);
}

/* ---- the services ---- */

/* The process handle, checked for ACCESS as NT does (PROCESS_VM_OPERATION
 * to change an address space, PROCESS_QUERY_INFORMATION to query one).
 * Only the caller's own address space for now: a handle to another
 * process is STATUS_INVALID_HANDLE here. The reference is dropped at once:
 * the caller's own process cannot go while its thread is in a service. */
static NTSTATUS reference_process(HANDLE_T h, ACCESS_MASK access, PEPROCESS *out)
{
    PEPROCESS p;
    NTSTATUS s = ObReferenceObjectByHandle(h, access, PsProcessType, UserMode, (PVOID *)&p, NULL);
    if (!NT_SUCCESS(s))
        return s;
    BOOLEAN mine = p == PsGetCurrentThreadProcess();
    ObDereferenceObject(p);
    if (!mine)
        return STATUS_INVALID_HANDLE;
    *out = PsGetCurrentProcess();
    return STATUS_SUCCESS;
}

/* The start and end every range service shares: the process, and the
 * in-out base and size (checked writable before anything changes), then
 * the rounded base and size handed back. */
static NTSTATUS capture_range(HANDLE_T ph, PVOID *ubase, PSIZE_T usize, PEPROCESS *p, ULONG64 *base, ULONG64 *size)
{
    NTSTATUS s = reference_process(ph, PROCESS_VM_OPERATION, p);
    if (NT_SUCCESS(s))
        s = ExCaptureUserInOut(base, ubase, 8, 8);
    if (NT_SUCCESS(s))
        s = ExCaptureUserInOut(size, usize, 8, 8);
    return s;
}

static NTSTATUS return_range(PVOID *ubase, PSIZE_T usize, ULONG64 base, ULONG64 size)
{
    NTSTATUS s = ExReturnToUser(ubase, &base, 8, 8);
    return NT_SUCCESS(s) ? ExReturnToUser(usize, &size, 8, 8) : s;
}

NTSTATUS NtAllocateVirtualMemory(HANDLE_T ph, PVOID *ubase, ULONG_PTR zero_bits, PSIZE_T usize, ULONG type,
                                 ULONG protect)
{
    PEPROCESS p;
    ULONG64 base, size;
    NTSTATUS s = capture_range(ph, ubase, usize, &p, &base, &size);
    if (!NT_SUCCESS(s))
        return s;
    /* NT names the argument: _3 ZeroBits, _5 AllocationType, _2 *BaseAddress,
     * _4 *RegionSize (zero, or running past the top of user space). */
    if (zero_bits > 21)
        return STATUS_INVALID_PARAMETER_3;
    if (!(type & (MEM_COMMIT | MEM_RESERVE)) || (type & ~(MEM_COMMIT | MEM_RESERVE)))
        return STATUS_INVALID_PARAMETER_5;
    LONG mm = MiMakeProtectionMask(protect);
    if (mm < 0)
        return STATUS_INVALID_PAGE_PROTECTION;
    /* NT keeps the 64 KiB below MM_HIGHEST_USER_ADDRESS out of every VAD
     * (MM_HIGHEST_VAD_ADDRESS): no region may start or end in them. */
    if (base > (ULONG64)MM_HIGHEST_VAD_ADDRESS || (base && base < LOWEST_USER_ADDRESS))
        return STATUS_INVALID_PARAMETER_2;
    if (size == 0 || size > (ULONG64)MM_HIGHEST_VAD_ADDRESS + 1 - (base ? base : LOWEST_USER_ADDRESS))
        return STATUS_INVALID_PARAMETER_4;

    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    ULONG64 start, end;   /* page numbers, inclusive */
    if (type & MEM_RESERVE) {
        if (base) {
            start = (base & ~(ULONG64)(ALLOCATION_GRANULARITY - 1)) >> PAGE_SHIFT;
            end = (base + size - 1) >> PAGE_SHIFT;
            if (!MiRangeIsFree(p, start, end)) {
                s = STATUS_CONFLICTING_ADDRESSES;
                goto out;
            }
        } else {
            ULONG64 pages = BYTES_TO_PAGES(size);
            start = MiFindFreeRange(p, pages);
            if (!start) {
                s = STATUS_NO_MEMORY;
                goto out;
            }
            end = start + pages - 1;
        }
        PMMVAD v = MiInsertVad(p, start, end, protect, VadPrivate);
        if (!v) {
            s = STATUS_INSUFFICIENT_RESOURCES;
            goto out;
        }
        if (type & MEM_COMMIT) {
            /* Reserved and committed at once: NT's MemCommit region. The
             * pages and the tables they will need are charged now, exactly
             * and at the cost of what is mapped; no PTE and no page table is
             * built until a page is touched. */
            ULONG64 new_pages, tables;
            MiCountUncommitted(start, end, &new_pages, &tables);
            if (!MiChargeCommitment(p, (end - start + 1) + tables)) {
                s = STATUS_COMMITMENT_LIMIT;
                MiDeleteVad(p, v);   /* a failed call leaves nothing behind */
                goto out;
            }
            v->MemCommit = 1;
            v->CommitMm = (UCHAR)mm;
            v->TableReserve = tables;
            p->Vm.Counters.PrivatePages += end - start + 1;
            type &= ~MEM_COMMIT;   /* done */
        }
    } else {
        if (!base) {
            s = STATUS_INVALID_PARAMETER;
            goto out;
        }
        start = base >> PAGE_SHIFT;
        end = (base + size - 1) >> PAGE_SHIFT;
        PMMVAD v = MiLocateVad(p, base);
        /* Commit only inside one reserved private region. */
        if (!v || end > v->EndVpn || v->Type != VadPrivate) {
            s = STATUS_CONFLICTING_ADDRESSES;
            goto out;
        }
        if (v->MemCommit)
            type &= ~MEM_COMMIT;   /* every page of it is committed already (and keeps its protection) */
    }
    if (type & MEM_COMMIT) {
        /* Charge first, build after: the pages not committed yet and the
         * page tables they lack, counted exactly at the cost of what is
         * mapped. Past the commit limit nothing is built at all. */
        ULONG64 new_pages, tables, done = 0;
        MiCountUncommitted(start, end, &new_pages, &tables);
        if (!MiChargeCommitment(p, new_pages + tables)) {
            s = STATUS_COMMITMENT_LIMIT;
            if (type & MEM_RESERVE)   /* a failed call leaves nothing behind */
                MiDeleteVad(p, MiLocateVad(p, start << PAGE_SHIFT));
            goto out;
        }
        p->TableReserve += tables;   /* used up as MiEnsurePageTables builds them */
        /* Each step writes a charged page or passes a committed one, so
         * this loop is as long as the commit limit allows, no longer. */
        for (ULONG64 vpn = start; vpn <= end; vpn++) {
            PVOID va = (PVOID)(vpn << PAGE_SHIFT);
            if (PsTerminationPending() || !MiEnsurePageTables(va)) {
                s = PsTerminationPending() ? STATUS_PROCESS_IS_TERMINATING : STATUS_NO_MEMORY;
                MiReturnCommitment(p, new_pages - done);   /* the pages not written */
                if (type & MEM_RESERVE)
                    MiDeleteVad(p, MiLocateVad(p, start << PAGE_SHIFT));
                goto out;
            }
            PMMPTE pte = MiGetPteAddress(va);
            if (pte->u.Long == 0) {
                MiWriteUserPte(pte, MiDemandZeroPte(mm));
                p->Vm.Counters.PrivatePages++;
                done++;
            }
        }
    }
    base = start << PAGE_SHIFT;
    size = (end - start + 1) << PAGE_SHIFT;
    s = STATUS_SUCCESS;
out:
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    if (NT_SUCCESS(s)) {
        NTSTATUS w = return_range(ubase, usize, base, size);
        if (!NT_SUCCESS(w))
            return w;
    }
    return s;
}

NTSTATUS NtFreeVirtualMemory(HANDLE_T ph, PVOID *ubase, PSIZE_T usize, ULONG type)
{
    PEPROCESS p;
    ULONG64 base, size;
    NTSTATUS s = capture_range(ph, ubase, usize, &p, &base, &size);
    if (!NT_SUCCESS(s))
        return s;
    /* NT: _4 FreeType, _2 *BaseAddress above user space, _3 *RegionSize past its top. */
    if (type != MEM_RELEASE && type != MEM_DECOMMIT)
        return STATUS_INVALID_PARAMETER_4;
    if (base > (ULONG64)MM_HIGHEST_USER_ADDRESS)
        return STATUS_INVALID_PARAMETER_2;
    if (size > (ULONG64)MM_HIGHEST_USER_ADDRESS + 1 - base)
        return STATUS_INVALID_PARAMETER_3;
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    PMMVAD v = MiLocateVad(p, base);
    if (!v) {
        s = STATUS_MEMORY_NOT_ALLOCATED;
    } else if (v->NoFree || v->Type == VadImage) {
        s = STATUS_UNABLE_TO_FREE_VM;   /* an image, or a view only its creator may remove */
    } else if (type == MEM_RELEASE) {
        if (size != 0 && ((base + size - 1) >> PAGE_SHIFT) != v->EndVpn) {
            s = STATUS_UNABLE_TO_FREE_VM;   /* release frees whole regions */
        } else if ((base >> PAGE_SHIFT) != v->StartVpn) {
            s = STATUS_FREE_VM_NOT_AT_BASE;
        } else {
            base = v->StartVpn << PAGE_SHIFT;
            size = (v->EndVpn - v->StartVpn + 1) << PAGE_SHIFT;
            MiDeleteVad(p, v);
        }
    } else {
        ULONG64 start = base >> PAGE_SHIFT;
        ULONG64 end = size ? (base + size - 1) >> PAGE_SHIFT : v->EndVpn;
        if (end > v->EndVpn) {
            s = STATUS_UNABLE_TO_FREE_VM;
        } else if (v->MemCommit && (start != v->StartVpn || end != v->EndVpn) &&
                   !NT_SUCCESS(s = MiMaterializeMemCommit(p, v, TRUE))) {
            /* part of a MemCommit region: its untouched pages got their PTEs first, unless the
             * process is being ended meanwhile (s says so) */
        } else {
            MiDeleteUserRange(p, start << PAGE_SHIFT, (end + 1) << PAGE_SHIFT);
            base = start << PAGE_SHIFT;
            size = (end - start + 1) << PAGE_SHIFT;
        }
    }
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    if (NT_SUCCESS(s))
        s = return_range(ubase, usize, base, size);
    return s;
}

NTSTATUS NtProtectVirtualMemory(HANDLE_T ph, PVOID *ubase, PSIZE_T usize, ULONG protect, PULONG uold)
{
    PEPROCESS p;
    ULONG64 base, size;
    NTSTATUS s = capture_range(ph, ubase, usize, &p, &base, &size);
    if (!NT_SUCCESS(s))
        return s;
    LONG mm = MiMakeProtectionMask(protect);
    if (mm < 0)
        return STATUS_INVALID_PAGE_PROTECTION;
    /* NT: _2 *BaseAddress above user space, _3 *RegionSize past its top. */
    if (base > (ULONG64)MM_HIGHEST_USER_ADDRESS)
        return STATUS_INVALID_PARAMETER_2;
    if (size == 0 || size > (ULONG64)MM_HIGHEST_USER_ADDRESS + 1 - base)
        return STATUS_INVALID_PARAMETER_3;
    ULONG old = 0;
    if (!NT_SUCCESS(s = ExCaptureUserInOut(&old, uold, 4, 4)))   /* OldProtect is required, and must be writable */
        return s;
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    ULONG64 start = base >> PAGE_SHIFT, end = (base + size - 1) >> PAGE_SHIFT;
    PMMVAD v = MiLocateVad(p, base);
    if (!v || end > v->EndVpn || v->Type != VadPrivate) {
        s = v ? STATUS_CONFLICTING_ADDRESSES : STATUS_MEMORY_NOT_ALLOCATED;
        goto out;
    }
    /* All committed, or nothing changes. The first uncommitted page ends
     * the check, so it is as long as the committed pages, however large
     * the range. */
    for (ULONG64 vpn = start; vpn <= end && !v->MemCommit; vpn++) {   /* a MemCommit region: all committed */
        ULONG64 same;
        if (PsTerminationPending()) {
            s = STATUS_PROCESS_IS_TERMINATING;
            goto out;
        }
        if (MiReadUserPte(vpn, &same) == 0) {
            s = (NTSTATUS)0xC000002DL;   /* STATUS_NOT_COMMITTED */
            goto out;
        }
    }
    ULONG64 same, first_pte = MiReadUserPte(start, &same);
    old = MiProtectionToPage(first_pte ? MiPteProtection(first_pte) : v->CommitMm);
    for (ULONG64 vpn = start; vpn <= end; vpn++) {
        if (PsTerminationPending()) {
            s = STATUS_PROCESS_IS_TERMINATING;   /* the pages so far have the new protection */
            goto out;
        }
        if (v->MemCommit && MiReadUserPte(vpn, &same) == 0) {
            /* An untouched page of a MemCommit region: it needs a PTE to
             * hold its own protection (tables from the region's reserve). */
            if (!MiEnsureVadPageTables(p, v, vpn)) {
                s = STATUS_NO_MEMORY;
                goto out;
            }
            MiWriteUserPte(MiGetPteAddress((PVOID)(vpn << PAGE_SHIFT)), MiDemandZeroPte(mm));
            continue;
        }
        MiSetUserPageProtection(p, (PVOID)(vpn << PAGE_SHIFT), mm);
    }
    base = start << PAGE_SHIFT;
    size = (end - start + 1) << PAGE_SHIFT;
    s = STATUS_SUCCESS;
out:
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    if (NT_SUCCESS(s)) {
        NTSTATUS w;
        if (!NT_SUCCESS(w = return_range(ubase, usize, base, size)) || !NT_SUCCESS(w = ExReturnToUser(uold, &old, 4, 4)))
            return w;
    }
    return s;
}

/* The state, protection and type of the page VPN, for queries; *LAST is
 * the last page sure to read the same (the end of an absent page table's
 * span), so a query steps over what is not mapped instead of walking it. */
static void page_info(PEPROCESS p, PMMVAD v, ULONG64 vpn, ULONG *state, ULONG *prot, ULONG64 *last)
{
    ULONG64 pte = MiReadUserPte(vpn, last);
    UNREFERENCED_PARAMETER(p);
    if (pte) {
        *state = MEM_COMMIT;
        *prot = MiProtectionToPage(MiPteProtection(pte));
    } else if (v->Type == VadImage) {
        *state = MEM_COMMIT;   /* image pages are committed from the start: the file backs them */
        *prot = v->Protection;
    } else if (v->MemCommit) {
        *state = MEM_COMMIT;   /* committed with the region, not touched yet */
        *prot = MiProtectionToPage(v->CommitMm);
    } else {
        *state = MEM_RESERVE;
        *prot = 0;
    }
}

NTSTATUS NtQueryVirtualMemory(HANDLE_T ph, PVOID address, ULONG cls, PVOID ubuf, SIZE_T length, PSIZE_T uret)
{
    PEPROCESS p;
    NTSTATUS s = reference_process(ph, PROCESS_QUERY_INFORMATION, &p);
    if (!NT_SUCCESS(s))
        return s;
    if (cls != MemoryBasicInformation)
        return STATUS_INVALID_INFO_CLASS;
    if (length < sizeof(MEMORY_BASIC_INFORMATION_T))
        return STATUS_INFO_LENGTH_MISMATCH;
    /* Both outputs checked before anything is looked at or written (NT
     * probes the whole buffer, aligned for its ULONG_PTR fields). */
    if (!NT_SUCCESS(s = ExProbeUserOutput(ubuf, length, sizeof(MEMORY_BASIC_INFORMATION_T), 8)) ||
        (uret && !NT_SUCCESS(s = ExProbeUserOutput(uret, sizeof(SIZE_T), sizeof(SIZE_T), 8))))
        return s;
    ULONG64 va = (ULONG64)address;
    if (va > (ULONG64)MM_HIGHEST_USER_ADDRESS)
        return STATUS_INVALID_PARAMETER;
    MEMORY_BASIC_INFORMATION_T mbi;
    memset(&mbi, 0, sizeof(mbi));
    ULONG64 vpn = va >> PAGE_SHIFT;
    mbi.BaseAddress = vpn << PAGE_SHIFT;
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    PMMVAD v = MiLocateVad(p, va);
    if (!v) {
        /* A free region runs to the next VAD (or the top of user space). */
        ULONG64 next = HIGHEST_USER_VPN + 1;
        for (PLIST_ENTRY e = p->VadListHead.Flink; e != &p->VadListHead; e = e->Flink) {
            PMMVAD n = CONTAINING_RECORD(e, MMVAD, Links);
            if (n->StartVpn > vpn) {
                next = n->StartVpn;
                break;
            }
        }
        mbi.State = MEM_FREE;
        mbi.Protect = PAGE_NOACCESS;
        mbi.RegionSize = (next - vpn) << PAGE_SHIFT;
    } else {
        ULONG state, prot;
        ULONG64 end, same;
        page_info(p, v, vpn, &state, &prot, &same);
        end = same < v->EndVpn ? same : v->EndVpn;
        while (end < v->EndVpn) {   /* extend while the next pages look the same */
            ULONG s2, p2;
            if (PsTerminationPending()) {
                KeReleaseMutex(&p->AddressSpaceLock, FALSE);
                return STATUS_PROCESS_IS_TERMINATING;
            }
            page_info(p, v, end + 1, &s2, &p2, &same);
            if (s2 != state || p2 != prot)
                break;
            end = same < v->EndVpn ? same : v->EndVpn;
        }
        /* All of an image's sections share one allocation: the image base. */
        mbi.AllocationBase = (v->Type == VadImage ? v->Image->BaseVpn : v->StartVpn) << PAGE_SHIFT;
        mbi.AllocationProtect = v->Protection;
        mbi.RegionSize = (end - vpn + 1) << PAGE_SHIFT;
        mbi.State = state;
        mbi.Protect = prot;
        mbi.Type = v->Type == VadImage ? MEM_IMAGE : v->Type == VadLockedView ? MEM_MAPPED : MEM_PRIVATE;
    }
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    if (!NT_SUCCESS(s = ExReturnToUser(ubuf, &mbi, sizeof(mbi), 8)))
        return s;
    if (uret) {
        SIZE_T r = sizeof(mbi);
        if (!NT_SUCCESS(s = ExReturnToUser(uret, &r, sizeof(r), 8)))
            return s;
    }
    return STATUS_SUCCESS;
}
