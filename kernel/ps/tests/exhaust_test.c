/*
 * exhaust.processes_*: create processes until the system refuses. The
 * refusal must be a status from PsCreateProcess, with memory left for the
 * processes already running (none of them may die of it); then every one
 * is ended and given back (the runner's leak check) and programs still
 * run. (Pool exhaustion: mm/tests/exhaust_pool_test.c.)
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "mm/tests/frames_test_util.h"

#define TAG_EXHAUST POOL_TAG('E', 'x', 'h', 'p')
#define MAX_PROCESSES 20000
/* Frames left to the processes: a few hundred of them fit, so memory
 * (not system PTEs for kernel stacks, which run out first at 256 MiB)
 * is what runs out, whatever the RAM size. */
#define LEAVE_PAGES (4096 + 6000)

KTEST(exhaust, processes_until_refused_then_all_back)
{
    PEPROCESS *all = ExAllocatePoolWithTag(NonPagedPoolNx, MAX_PROCESSES * sizeof(PEPROCESS), TAG_EXHAUST);
    KT_ASSERT(all != NULL);
    /* Take the memory above LEAVE_PAGES away first. */
    MT_HELD_FRAMES held = { 0 };
    MtHoldFramesWhileAvailable(&held, LEAVE_PAGES + 1);
    ULONG n = 0;
    NTSTATUS s = STATUS_SUCCESS;
    while (n < MAX_PROCESSES && NT_SUCCESS(s = PsCreateProcess("child", "child sleep 600000", NULL, &all[n]))) {
        n++;
        KeYieldExecution();   /* let it run to its sleep, so its pages are in before the next one */
    }
    ULONG64 left = MmAvailablePages;
    kprintf("exhaust: %u processes, then %#x; %llu pages available\n", n, (unsigned)s, (unsigned long long)left);
    BOOLEAN refused = n < MAX_PROCESSES;
    /* None died: each is still waiting in its sleep. */
    ULONG dead = 0;
    for (ULONG i = 0; i < n; i++)
        if (all[i]->ExitStatus != STATUS_PENDING)
            dead++;
    for (ULONG i = 0; i < n; i++)
        PsTerminateProcess(all[i], 0x1234);
    ULONG wrong = 0;
    for (ULONG i = 0; i < n; i++) {
        KeWaitForSingleObject(all[i], Executive, KernelMode, FALSE, NULL);
        if (all[i]->ExitStatus != 0x1234)
            wrong++;
        PsDereferenceProcess(all[i]);
    }
    ExFreePoolWithTag(all, TAG_EXHAUST);
    MtReleaseFrames(&held);
    KT_ASSERT(refused);
    KT_ASSERT(s == STATUS_INSUFFICIENT_RESOURCES || s == STATUS_NO_MEMORY || s == STATUS_COMMITMENT_LIMIT);
    /* Refused while memory was left for the running processes' next faults
     * and the kernel's own allocations: at least the working-set manager's
     * low-memory line (2048 pages). Refused only when the last frame is
     * gone, a process's next fault or the kernel's next allocation fails
     * (at 128 MiB the boot hung that way). */
    KT_GE(left, 2048);
    KT_EQ(dead, 0);
    KT_EQ(wrong, 0);
    PEPROCESS p;
    KT_EQ((ULONG)PsCreateProcess("hello", "hello after-exhaustion", NULL, &p), (ULONG)STATUS_SUCCESS);
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    s = p->ExitStatus;
    PsDereferenceProcess(p);
    KT_EQ((ULONG)s, 0);
}
