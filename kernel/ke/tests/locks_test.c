/*
 * Lock discipline: which locks may be held when a routine is called, and
 * the paths that used to take a spin lock twice.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "mm/tests/frames_test_util.h"


/* Issue 8 item 6: NtQuerySystemInformation(SystemProcessList) allocated its
 * snapshot from pool while holding the dispatcher lock. With memory low,
 * the allocator wakes the working-set manager (KeSetEvent), which takes
 * the dispatcher lock again: SPIN_LOCK_ALREADY_OWNED. Here memory is held
 * under the low mark while the service's own code runs. */
KTEST(locks, process_list_query_while_memory_is_low)
{
    SYSTEM_PROCESS_T *none = NULL;
    NTSTATUS (*svc)(ULONG64, ULONG64, ULONG64, ULONG64, ULONG64, ULONG64) =
        KiLookupService(SYS_NtQuerySystemInformation);
    KT_ASSERT(svc != NULL);
    MT_HELD_FRAMES held = { 0 };
    MtHoldFramesWhileAvailable(&held, MiLowMemoryPages - 64);
    KT_LT(MmAvailablePages, MiLowMemoryPages);
    /* The working-set manager has run and is waiting again: the next
     * allocation really signals its event. */
    KT_EQ(KeReadStateEvent(&MiWorkingSetManagerEvent), 0);
    ULONG64 runs = MiWorkingSetManagerRuns;
    NTSTATUS s = svc(SystemProcessList, (ULONG64)none, 0, 0, 0, 0);
    ULONG64 runs_after = MiWorkingSetManagerRuns;
    MtReleaseFrames(&held);
    KT_ASSERT(s == STATUS_SUCCESS || s == STATUS_INFO_LENGTH_MISMATCH);   /* no room given: a size, or nothing to list */
    KT_GT(runs_after, runs);                        /* the low-memory signal was sent during the call */
}

/* The rule behind item 6, checked on every call rather than only when
 * memory happens to be low: no pool under the dispatcher lock. */
KTEST_BUGCHECK(locks, pool_allocation_under_the_dispatcher_lock_bugchecks, 0xF /* SPIN_LOCK_ALREADY_OWNED */,
               KT_ANY, 1, KT_ANY, 0)
{
    KtExpectParam(1, (ULONG64)&KiDispatcherLock);
    KIRQL old = KiAcquireDispatcherLock();
    PVOID p = ExAllocatePoolWithTag(NonPagedPoolNx, 32, POOL_TAG('T', 'e', 's', 't'));
    ExFreePoolWithTag(p, POOL_TAG('T', 'e', 's', 't'));
    KiReleaseDispatcherLock(old);
}

/* Signalling under the dispatcher lock is the same mistake. */
KTEST_BUGCHECK(locks, low_memory_signal_under_the_dispatcher_lock_bugchecks, 0xF, KT_ANY, 1, KT_ANY, 0)
{
    KtExpectParam(1, (ULONG64)&KiDispatcherLock);
    KIRQL old = KiAcquireDispatcherLock();
    MiSignalLowMemory();
    KiReleaseDispatcherLock(old);
}

/* The PFN lock, asserted: MiDecrementReferenceCount changes a frame's
 * reference count and may move it between lists, so it needs the PFN lock.
 * Called without it (as the PFN test did before the lock existed), it
 * stops at once, naming itself and the lock - on one CPU the old code
 * "worked", on two it would corrupt the lists. */
static PFN_NUMBER unlocked_pfn;
KTEST_BUGCHECK(locks, pfn_routine_without_the_pfn_lock_bugchecks, 0x10 /* SPIN_LOCK_NOT_OWNED */, KT_ANY, 1, KT_ANY,
               0)
{
    KtExpectParam(1, (ULONG64)&MmPfnLock);
    unlocked_pfn = MiAllocatePfn(MiUsageTest, FALSE);
    PMMPFN e = MI_PFN_ELEMENT(unlocked_pfn);
    e->ReferenceCount++;                     /* as an MDL lock would */
    KIRQL old = KeRaiseIrqlToDpcLevel();     /* DISPATCH_LEVEL is not the lock */
    MiDecrementReferenceCount(unlocked_pfn);
    KeLowerIrql(old);
}

/* And the other way round: MiAllocatePfn takes the PFN lock itself, so
 * calling it with the lock held is caught as the recursion it is. */
KTEST_BUGCHECK(locks, frame_allocation_under_the_pfn_lock_bugchecks, 0xF /* SPIN_LOCK_ALREADY_OWNED */, KT_ANY, 0,
               0, 0)
{
    KtExpectParam(1, (ULONG64)&MmPfnLock);
    KIRQL old = MiAcquirePfnLock();
    PFN_NUMBER pfn = MiAllocatePfn(MiUsageTest, FALSE);
    MiReleasePfnLock(old);
    MiFreePfn(pfn);
}

/* KeAcquireSpinLockAtDpcLevel trusts its caller to be at DISPATCH_LEVEL;
 * at PASSIVE_LEVEL the holder could be preempted while holding the lock. */
KTEST_BUGCHECK(locks, spin_lock_at_dpc_level_from_passive_bugchecks, IRQL_NOT_GREATER_OR_EQUAL, PASSIVE_LEVEL,
               DISPATCH_LEVEL, 0, KT_ANY)
{
    static KSPIN_LOCK lock;
    KeInitializeSpinLock(&lock);
    KeAcquireSpinLockAtDpcLevel(&lock);
    KeReleaseSpinLockFromDpcLevel(&lock);
}
