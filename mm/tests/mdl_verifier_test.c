/*
 * Every MDL rule the verifier enforces (docs/mdl.md §5):
 * each test breaks one rule and must stop with
 * DRIVER_VERIFIER_DETECTED_VIOLATION (0xC4) and the rule's sub-code in
 * parameter 1. The spec names no other parameter, so P2..P4 are KT_ANY
 * (NT puts the IRQL or the MDL there depending on the sub-code). Then the
 * other MDL bugchecks: PFN_LIST_CORRUPT for a double unlock the flags
 * cannot see, TARGET_MDL_TOO_SMALL and INVALID_MDL_RANGE from
 * IoBuildPartialMdl, and a process that ends with pages still locked.
 *
 * Not tested: NO_MORE_SYSTEM_PTES (0x3F). It needs BugCheckOnFailure =
 * TRUE, which the verifier (verifier=1 in every test boot) stops first as
 * 0xC4/0x82 - tested below; io/tests/mdl_api_test.c checks the NULL
 * return without it. PROCESS_HAS_LOCKED_PAGES (0x76) likewise: with the
 * verifier on, locked-page tracking is on and the stop is 0xCB.
 */
#include "io/tests/mdl_test_util.h"
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define C4 DRIVER_VERIFIER_DETECTED_VIOLATION

static PUCHAR buffer(POOL_TYPE type, SIZE_T bytes)
{
    PUCHAR p = ExAllocatePoolWithTag(type, bytes, MDLT_TAG);
    KT_ASSERT(p != NULL);
    memset(p, 0x5A, bytes);
    return p;
}

/* An MDL over BYTES of a fresh nonpaged buffer, probed and locked. */
static PMDL locked_mdl(SIZE_T bytes)
{
    PUCHAR b = buffer(NonPagedPoolNx, bytes);
    PMDL m = IoAllocateMdl(b, (ULONG)bytes, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoReadAccess), 0);
    return m;
}

static PMDL built_mdl(SIZE_T bytes)
{
    PUCHAR b = buffer(NonPagedPoolNx, bytes);
    PMDL m = IoAllocateMdl(b, (ULONG)bytes, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmBuildMdlForNonPagedPool(m);
    return m;
}

/* ---- IRQL ---- */

KTEST_BUGCHECK(mdlverifier, probe_above_dispatch_level, C4, 0x70, KT_ANY, KT_ANY, KT_ANY)
{
    PUCHAR b = buffer(NonPagedPoolNx, 64);
    PMDL m = IoAllocateMdl(b, 64, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL + 1, &old);
    MmProbeAndLockPages(m, KernelMode, IoReadAccess);
}

KTEST_BUGCHECK(mdlverifier, unlock_above_dispatch_level, C4, 0x78, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = locked_mdl(64);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL + 1, &old);
    MmUnlockPages(m);
}

/* ---- unlocking ---- */

KTEST_BUGCHECK(mdlverifier, unlock_of_a_never_locked_mdl, C4, 0x7C, KT_ANY, KT_ANY, KT_ANY)
{
    PUCHAR b = buffer(NonPagedPoolNx, 64);
    PMDL m = IoAllocateMdl(b, 64, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmUnlockPages(m);
}

/* The spec: "A double unlock is PFN_LIST_CORRUPT (0x4E, parameter 1 = 7)"
 * - also when the verifier could see it, since the MDL was locked once
 * (0x7C is for an MDL never locked). P2 is the frame (NT: P3 its share
 * count, P4 0). */
KTEST_BUGCHECK(mdlverifier, double_unlock_is_pfn_list_corrupt, PFN_LIST_CORRUPT, 0x07, KT_ANY, KT_ANY, 0)
{
    PMDL m = locked_mdl(64);
    KtExpectParam(2, MmGetMdlPfnArray(m)[0]);
    MmUnlockPages(m);
    MmUnlockPages(m);
}

KTEST_BUGCHECK(mdlverifier, unlock_of_a_nonpaged_pool_mdl, C4, 0x7D, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = built_mdl(64);
    MmUnlockPages(m);
}

/* A partial MDL never has PAGES_LOCKED: the partial check must come first. */
KTEST_BUGCHECK(mdlverifier, unlock_of_a_partial_mdl, C4, 0xB4, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL src = locked_mdl(2 * PAGE_SIZE);
    PUCHAR va = (PUCHAR)MmGetMdlVirtualAddress(src) + PAGE_SIZE;
    PMDL t = IoAllocateMdl(va, 100, FALSE, FALSE, NULL);
    KT_ASSERT(t != NULL);
    IoBuildPartialMdl(src, t, va, 100);
    MmUnlockPages(t);
}

/* A double unlock the flags cannot see (a driver that saved and restored
 * MdlFlags): the PFN database catches the reference count going below 0.
 * The paged-pool page is trimmed in between, so the unlock took the last
 * reference: PFN_LIST_CORRUPT 0x07, P2 the frame, P3 its share count (0). */
KTEST_BUGCHECK(mdlverifier, double_unlock_behind_the_flags_back_is_pfn_list_corrupt, PFN_LIST_CORRUPT, 0x07, KT_ANY,
               0, 0)
{
    PUCHAR b = buffer(PagedPool, PAGE_SIZE);
    PMDL m = IoAllocateMdl(b, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoReadAccess), 0);
    PFN_NUMBER pfn = MmGetMdlPfnArray(m)[0];
    CSHORT saved = m->MdlFlags;
    MmUnlockPages(m);
    MmTrimSystemWorkingSet(0);
    KT_EQ(MdlTestRefs(pfn), 0);
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ModifiedPageList);
    KtExpectParam(2, pfn);
    m->MdlFlags = saved;
    MmUnlockPages(m);
}

/* ---- MmBuildMdlForNonPagedPool on memory that is not nonpaged ---- */

KTEST_BUGCHECK(mdlverifier, build_for_nonpaged_pool_on_paged_pool, C4, 0x7F, KT_ANY, KT_ANY, KT_ANY)
{
    PUCHAR b = buffer(PagedPool, 2 * PAGE_SIZE);
    PMDL m = IoAllocateMdl(b + 8, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmBuildMdlForNonPagedPool(m);
}

/* Kernel stacks can be traded unless probed and locked (seed 003). */
KTEST_BUGCHECK(mdlverifier, build_for_nonpaged_pool_on_a_stack_buffer, C4, 0x7F, KT_ANY, KT_ANY, KT_ANY)
{
    volatile UCHAR local[256];
    local[0] = 1;
    PMDL m = IoAllocateMdl((PVOID)local, sizeof(local), FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmBuildMdlForNonPagedPool(m);
    local[1] = local[0];
}

static void build_on_own_stack(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    volatile UCHAR local[256];
    local[0] = 1;
    PMDL m = IoAllocateMdl((PVOID)local, sizeof(local), FALSE, FALSE, NULL);
    if (m)
        MmBuildMdlForNonPagedPool(m);
    local[1] = local[0];
}

/* The same on a system thread's own stack (system PTEs, like MmMapIoSpace
 * mappings, which MmBuildMdlForNonPagedPool must accept). */
KTEST_BUGCHECK(mdlverifier, build_for_nonpaged_pool_on_a_thread_stack, C4, 0x7F, KT_ANY, KT_ANY, KT_ANY)
{
    PKTHREAD t = KeCreateSystemThread(build_on_own_stack, NULL, KI_DEFAULT_PRIORITY, "stackmdl");
    KT_ASSERT(t != NULL);
    KeWaitForSingleObject(t, Executive, KernelMode, FALSE, NULL);
}

/* ---- probing ---- */

KTEST_BUGCHECK(mdlverifier, probe_of_an_already_locked_mdl, C4, 0xB0, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = locked_mdl(64);
    MmProbeAndLockPages(m, KernelMode, IoReadAccess);
}

KTEST_BUGCHECK(mdlverifier, probe_of_an_mdl_built_for_nonpaged_pool, C4, 0xB0, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = built_mdl(64);
    ExTry {
        MmProbeAndLockPages(m, KernelMode, IoWriteAccess);
    } ExExcept(status) {
        kprintf("probe raised %#x\n", (unsigned)status);
    } ExEndTry;
}

/* ---- mapping ---- */

KTEST_BUGCHECK(mdlverifier, map_locked_pages_the_old_call, C4, 0x81, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = locked_mdl(64);
    MmMapLockedPages(m, KernelMode);
}

KTEST_BUGCHECK(mdlverifier, map_with_bugcheck_on_failure, C4, 0x82, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = locked_mdl(64);
    MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, TRUE, NormalPagePriority);
}

/* An MDL built by hand over a device frame (the local APIC), marked
 * locked but not MDL_IO_SPACE. */
KTEST_BUGCHECK(mdlverifier, map_of_non_ram_frames_without_io_space, C4, 0x89, KT_ANY, KT_ANY, KT_ANY)
{
    PFN_NUMBER apic = (rdmsr(0x1B) & 0xFFFFFF000ULL) >> PAGE_SHIFT;
    KT_ASSERT(!MiIsPfnRam(apic));
    PMDL m = ExAllocatePoolWithTag(NonPagedPoolNx, MmSizeOfMdl(NULL, PAGE_SIZE), MDLT_TAG);
    KT_ASSERT(m != NULL);
    MmInitializeMdl(m, NULL, PAGE_SIZE);
    m->Process = NULL;
    m->MappedSystemVa = NULL;
    MmGetMdlPfnArray(m)[0] = apic;
    m->MdlFlags |= MDL_PAGES_LOCKED;
    MmMapLockedPagesSpecifyCache(m, KernelMode, MmNonCached, NULL, FALSE, NormalPagePriority);
}

KTEST_BUGCHECK(mdlverifier, kernel_map_of_a_mapped_mdl, C4, 0xB2, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = locked_mdl(64);
    PVOID a = MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
    KT_ASSERT(a != NULL);
    MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
}

KTEST_BUGCHECK(mdlverifier, kernel_map_of_an_unlocked_mdl, C4, 0xB3, KT_ANY, KT_ANY, KT_ANY)
{
    PUCHAR b = buffer(PagedPool, 64);
    PMDL m = IoAllocateMdl(b, 64, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
}

/* ---- freeing ---- */

KTEST_BUGCHECK(mdlverifier, free_of_a_mapped_mdl, C4, 0xB8, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = locked_mdl(2 * PAGE_SIZE);
    PVOID a = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(a != NULL);
    IoFreeMdl(m);
}

/* ---- IoBuildPartialMdl ---- */

KTEST_BUGCHECK(mdlverifier, partial_mdl_target_too_small, TARGET_MDL_TOO_SMALL, KT_ANY, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL src = built_mdl(4 * PAGE_SIZE);
    PUCHAR va = MmGetMdlVirtualAddress(src);
    PMDL t = IoAllocateMdl(va, PAGE_SIZE, FALSE, FALSE, NULL);   /* room for one PFN */
    KT_ASSERT(t != NULL);
    IoBuildPartialMdl(src, t, va, 3 * PAGE_SIZE);
}

KTEST_BUGCHECK(mdlverifier, partial_mdl_before_the_source, INVALID_MDL_RANGE, KT_ANY, KT_ANY, KT_ANY, KT_ANY)
{
    PUCHAR b = buffer(NonPagedPoolNx, 3 * PAGE_SIZE);
    PMDL src = IoAllocateMdl(b + PAGE_SIZE, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(src != NULL);
    MmBuildMdlForNonPagedPool(src);
    PMDL t = IoAllocateMdl(b, 2 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(t != NULL);
    IoBuildPartialMdl(src, t, b + 0x10, 0x100);
}

KTEST_BUGCHECK(mdlverifier, partial_mdl_past_the_source_end, INVALID_MDL_RANGE, KT_ANY, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL src = locked_mdl(2 * PAGE_SIZE);
    PUCHAR va = MmGetMdlVirtualAddress(src);
    PMDL t = IoAllocateMdl(va, 3 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(t != NULL);
    IoBuildPartialMdl(src, t, va + PAGE_SIZE, 2 * PAGE_SIZE);   /* one page too far */
}

/* ---- a process that ends with pages still locked ---- */

/* With the verifier's tracking, the stop names the MDL: NT's
 * DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS has P3 = the MDL, P4 = the number
 * of locked pages. */
KTEST_BUGCHECK(mdlverifier, process_exit_with_locked_pages, DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS, KT_ANY, KT_ANY,
               KT_ANY, KT_ANY)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    PMDL m = IoAllocateMdl((PVOID)(MT_RW_BASE + 0x100), 2 * PAGE_SIZE, FALSE, FALSE, NULL);   /* spans 3 */
    KT_ASSERT(m != NULL);
    MdlTestAttach(p);
    MT_EQ(MdlTestProbe(m, UserMode, IoWriteAccess), 0);
    MdlTestDetach();
    KT_EQ(p->LockedPages, 3);
    KtExpectParam(3, (ULONG64)m);
    KtExpectParam(4, 3);
    PsTerminateProcess(p, STATUS_SUCCESS);
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    kprintf("the process ended with its pages locked and nothing stopped\n");
}

/* ---- user views and freeing (mdlos's own sub-codes 0xBA and 0xBB: NT's
 * table has none for these rules) ---- */

/* Map BYTES of M into a fresh mdltarget at a place the system picks. */
static PVOID user_view(PMDL m, PEPROCESS *out)
{
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(out, &c), 0);
    MdlTestAttach(*out);
    PVOID va = NULL;
    MT_EQ(MdlTestMap(m, UserMode, MmCached, NULL, NormalPagePriority, &va), 0);
    MdlTestDetach();
    return va;
}

KTEST_BUGCHECK(mdlverifier, unlock_with_a_user_view_mapped, C4, 0xBA, KT_ANY, KT_ANY, 1)
{
    PMDL m = locked_mdl(PAGE_SIZE);
    PEPROCESS p;
    user_view(m, &p);
    KtExpectParam(2, (ULONG64)m);
    MmUnlockPages(m);   /* the view still names the frames */
}

KTEST_BUGCHECK(mdlverifier, free_with_a_user_view_mapped, C4, 0xBA, KT_ANY, KT_ANY, 1)
{
    PMDL m = built_mdl(PAGE_SIZE);   /* nothing to unlock: the free is the only check */
    PEPROCESS p;
    user_view(m, &p);
    KtExpectParam(2, (ULONG64)m);
    IoFreeMdl(m);
}

KTEST_BUGCHECK(mdlverifier, free_of_a_locked_mdl, C4, 0xBB, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = locked_mdl(PAGE_SIZE);
    KtExpectParam(2, (ULONG64)m);
    IoFreeMdl(m);   /* no MmUnlockPages: the lock could never be undone */
}

/* NT's 0xB9: a user view unmapped from a process it is not in. */
KTEST_BUGCHECK(mdlverifier, user_unmap_in_another_process, C4, 0xB9, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = built_mdl(PAGE_SIZE);
    PEPROCESS p;
    PVOID va = user_view(m, &p);
    KtExpectParam(2, (ULONG64)m);
    KtExpectParam(3, (ULONG64)va);
    MmUnmapLockedPages(va, m);   /* in the system process, where no such view exists */
}

/* ---- IRQL of a user map and of unmaps (NT's 0x77, 0x79, 0x7A) ---- */

KTEST_BUGCHECK(mdlverifier, user_map_above_apc_level, C4, 0x77, KT_ANY, DISPATCH_LEVEL, 1)
{
    PMDL m = built_mdl(PAGE_SIZE);
    KtExpectParam(2, (ULONG64)m);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    PVOID va;
    MdlTestMap(m, UserMode, MmCached, NULL, NormalPagePriority, &va);   /* a user map may wait */
}

KTEST_BUGCHECK(mdlverifier, kernel_unmap_above_dispatch_level, C4, 0x79, KT_ANY, DISPATCH_LEVEL + 1, KT_ANY)
{
    PMDL m = locked_mdl(PAGE_SIZE);
    PVOID p = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(p != NULL);
    KtExpectParam(2, (ULONG64)m);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL + 1, &old);
    MmUnmapLockedPages(p, m);
}

KTEST_BUGCHECK(mdlverifier, user_unmap_above_apc_level, C4, 0x7A, KT_ANY, DISPATCH_LEVEL, KT_ANY)
{
    PMDL m = built_mdl(PAGE_SIZE);
    PEPROCESS p;
    PVOID va = user_view(m, &p);
    MdlTestAttach(p);
    KtExpectParam(2, (ULONG64)m);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    MmUnmapLockedPages(va, m);   /* the address space lock is a wait */
}

/* NT's 0xB6: the second unmap of a system mapping (the mapping is gone). */
KTEST_BUGCHECK(mdlverifier, unmap_twice, C4, 0xB6, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = locked_mdl(PAGE_SIZE);
    PVOID va = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(va != NULL);
    MmUnmapLockedPages(va, m);
    KtExpectParam(2, (ULONG64)m);
    KtExpectParam(4, (ULONG64)va);
    MmUnmapLockedPages(va, m);
}

/* ... and an unmap of an MDL built for nonpaged pool, which has no mapping
 * of its own to give back. */
KTEST_BUGCHECK(mdlverifier, unmap_of_a_nonpaged_pool_mdl, C4, 0xB6, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL m = built_mdl(PAGE_SIZE);
    KtExpectParam(2, (ULONG64)m);
    MmUnmapLockedPages(MmGetSystemAddressForMdlSafe(m, NormalPagePriority), m);
}

/* NT's 0xB5: a partial MDL of a mapped source carries the source's
 * MDL_MAPPED_TO_SYSTEM_VA, but not PTEs of its own to release. */
KTEST_BUGCHECK(mdlverifier, unmap_of_a_partial_mdl_with_the_source_mapping, C4, 0xB5, KT_ANY, KT_ANY, KT_ANY)
{
    PMDL src = locked_mdl(2 * PAGE_SIZE);
    PUCHAR sys = MmGetSystemAddressForMdlSafe(src, NormalPagePriority);
    KT_ASSERT(sys != NULL);
    PMDL part = IoAllocateMdl(MmGetMdlVirtualAddress(src), 2 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(part != NULL);
    IoBuildPartialMdl(src, part, MmGetMdlVirtualAddress(src), 0);
    KT_ASSERT(part->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA);
    KtExpectParam(2, (ULONG64)part);
    MmUnmapLockedPages(part->MappedSystemVa, part);   /* would tear down the source's mapping */
}
