/*
 * The checks NT makes whether or not the verifier runs. Each test switches
 * the verifier off for its own boot (the test runner always boots with
 * verifier=1), so it is NT's plain bugcheck that must catch the bug.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "io/tests/mdl_test_util.h"

KTEST_BUGCHECK(mdlnt, process_exit_with_locked_pages, PROCESS_HAS_LOCKED_PAGES, 0, KT_ANY, 3, KT_ANY)
{
    MiVerifierEnabled = FALSE;   /* no lock tracking: the less informative 0x76, P2 the process, P3 the pages */
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    PMDL m = IoAllocateMdl((PVOID)(MT_RW_BASE + 0x100), 2 * PAGE_SIZE, FALSE, FALSE, NULL);   /* spans 3 */
    KT_ASSERT(m != NULL);
    MdlTestAttach(p);
    MT_EQ(MdlTestProbe(m, UserMode, IoWriteAccess), 0);
    MdlTestDetach();
    KtExpectParam(2, (ULONG64)p);
    PsTerminateProcess(p, STATUS_SUCCESS);
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    kprintf("the process ended with its pages locked and nothing stopped\n");
}

KTEST_BUGCHECK(mdlnt, no_more_system_ptes_when_a_map_may_not_fail, NO_MORE_SYSTEM_PTES, KT_ANY, KT_ANY, KT_ANY,
               KT_ANY)
{
    MiVerifierEnabled = FALSE;   /* BugCheckOnFailure = TRUE is itself a verifier violation (0x82) */
    PVOID buf = ExAllocatePoolWithTag(NonPagedPoolNx, 4 * PAGE_SIZE, POOL_TAG('T', 'e', 's', 't'));
    PMDL m = IoAllocateMdl(buf, 4 * PAGE_SIZE, FALSE, FALSE, NULL);
    MmProbeAndLockPages(m, KernelMode, IoReadAccess);
    while (MiReserveSystemPtes(1))   /* use up every system PTE */
        ;
    MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, TRUE, NormalPagePriority);
    kprintf("a map that may not fail returned without PTEs\n");
}

/* Unmapping twice must stop before a PTE is touched: by then the run may
 * belong to another mapping. */
KTEST_BUGCHECK(mdlnt, unmap_twice_stops_before_touching_ptes, 0xDA, 0x101, KT_ANY, KT_ANY, KT_ANY)
{
    MiVerifierEnabled = FALSE;   /* with it, the second unmap is 0xC4/0xB6 (mdlverifier.unmap_twice) */
    PVOID buf = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, POOL_TAG('T', 'e', 's', 't'));
    PMDL m = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    MmProbeAndLockPages(m, KernelMode, IoReadAccess);
    PVOID va = MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
    MmUnmapLockedPages(va, m);
    /* Someone else gets the same run of system PTEs... */
    PHYSICAL_ADDRESS vga = { 0xB8000 };
    volatile USHORT *other = MmMapIoSpace(vga, PAGE_SIZE, MmNonCached);
    KtExpectParam(2, (ULONG64)va);
    KtExpectParam(3, (ULONG64)m);
    MmUnmapLockedPages(va, m);   /* ...and the stale unmap must not tear it down */
    kprintf("unmapped twice; other mapping %p\n", (void *)other);
}

/* Mapping above DISPATCH_LEVEL: system PTEs are handed out at DISPATCH_LEVEL.
 * NT's sub-code 0x76 (KernelMode map; 0x77 is the UserMode one). */
KTEST_BUGCHECK(mdlnt, kernel_map_above_dispatch_is_a_verifier_violation, DRIVER_VERIFIER_DETECTED_VIOLATION, 0x76,
               KT_ANY, 3, 0)
{
    PVOID buf = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, POOL_TAG('T', 'e', 's', 't'));
    PMDL m = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    MmProbeAndLockPages(m, KernelMode, IoReadAccess);
    KtExpectParam(2, (ULONG64)m);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL + 1, &old);
    MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
}
