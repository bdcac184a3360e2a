/*
 * Tests that go wrong on purpose, to prove the runner reports each kind of
 * failure as a failure that names the test (scripts/ktest.py, runner.*).
 * They are manual: only a pattern naming them exactly runs them.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

KTEST_MANUAL(selftest, fails_on_purpose)
{
    KT_EQ(1 + 1, 3);
}

KTEST_MANUAL(selftest, hangs_on_purpose)
{
    for (;;)
        cpu_pause();
}

/* Spins holding DISPATCH_LEVEL, as a loop over a corrupted list under a
 * spin lock would: no DPC and no thread switch can stop it, only the
 * clock interrupt (runner.test_limit_stops_a_test_spinning_at_dispatch). */
KTEST_MANUAL(selftest, hangs_at_dispatch_on_purpose)
{
    KIRQL old = KeRaiseIrqlToDpcLevel();
    for (;;)
        cpu_pause();
    KeLowerIrql(old);
}

KTEST_MANUAL(selftest, triple_faults_on_purpose)
{
    /* An empty IDT: the breakpoint cannot be delivered (#GP), nor can the
     * #GP (#DF), nor the #DF: the CPU shuts down - a triple fault. */
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr = { 0, 0 };
    __asm__ volatile("lidt %0\n\tint3" : : "m"(idtr));
}

KTEST_MANUAL(selftest, bugchecks_on_purpose)
{
    KeBugCheckEx(MANUALLY_INITIATED_CRASH, 1, 2, 3, 4);
}

#define KTEST_BUGCHECK_MANUAL(suite, name, code, p1, p2, p3, p4) \
    KTEST_DEFINE_(".ktests", suite, name, KTEST_F_BUGCHECK | KTEST_F_MANUAL, code, p1, p2, p3, p4)

KTEST_BUGCHECK_MANUAL(selftest, wrong_bugcheck_on_purpose, PAGE_FAULT_IN_NONPAGED_AREA, KT_ANY, KT_ANY, KT_ANY,
                      KT_ANY)
{
    KeBugCheckEx(MANUALLY_INITIATED_CRASH, 0, 0, 0, 0);
}

KTEST_BUGCHECK_MANUAL(selftest, no_bugcheck_on_purpose, MANUALLY_INITIATED_CRASH, 0, 0, 0, 0)
{
}

/* The two ways a bugcheck test can take its machine with it instead of
 * stopping: the runner's bugcheck worker must report each as a failure and
 * replace the machine for the next test (runner.bugcheck_worker_replaces_a_
 * machine_that_died). */
KTEST_BUGCHECK_MANUAL(selftest, triple_faults_instead_of_bugchecking_on_purpose, MANUALLY_INITIATED_CRASH, 0, 0, 0,
                      0)
{
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr = { 0, 0 };
    __asm__ volatile("lidt %0\n\tint3" : : "m"(idtr));
}

KTEST_BUGCHECK_MANUAL(selftest, hangs_instead_of_bugchecking_on_purpose, MANUALLY_INITIATED_CRASH, 0, 0, 0, 0)
{
    for (;;)
        cpu_pause();
}

/* A driver's classic leak: MmProbeAndLockPages, a system mapping, then
 * IoFreeMdl without MmUnlockPages, and the buffer freed. The MDL block goes
 * back to its lookaside list and the pool page counts as free pool, so only
 * the lock references and the system PTEs show it - and the leak check must
 * name both. (Boots without verifier=1, which would stop the free as
 * 0xC4/0xB8 first.) */
KTEST_MANUAL(selftest, leaks_a_locked_page_on_purpose)
{
    PVOID buf = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, POOL_TAG('L', 'e', 'a', 'k'));
    KT_ASSERT(buf != NULL);
    PMDL m = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmProbeAndLockPages(m, KernelMode, IoReadAccess);
    KT_ASSERT(MmGetSystemAddressForMdlSafe(m, NormalPagePriority) != NULL);
    IoFreeMdl(m);
    ExFreePoolWithTag(buf, POOL_TAG('L', 'e', 'a', 'k'));
}
