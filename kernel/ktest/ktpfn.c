/*
 * KtPfnReferenceCount: a frame's reference count for test drivers
 * (drivers/iotest), which, like every driver, include only
 * kernel/mdlos.h and so cannot read the PFN database themselves. A test
 * device reports it for the frames of a request's MDL, so that a test -
 * in the kernel or in ring 3 - can see the I/O manager's lock (one
 * reference per MmProbeAndLockPages) while the request is in the driver,
 * and its release after completion.
 */
#include "kernel/ktest/kt_internal.h"

ULONG KtPfnReferenceCount(ULONG64 Pfn)
{
    if (Pfn > MmHighestPhysicalPage || !MiIsPfnRam(Pfn))
        return 0xFFFFFFFFu;
    /* A read without the PFN lock: a snapshot, which is what a test wants. */
    return __atomic_load_n(&MI_PFN_ELEMENT(Pfn)->ReferenceCount, __ATOMIC_RELAXED);
}
