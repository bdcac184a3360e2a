/*
 * Kernel threads: creation, start-up, termination and reaping. Each
 * thread has its own kernel stack in system PTEs with a guard page below
 * it (MmCreateKernelStack), so an overflow faults at once.
 */
#include "kernel/ke/ki.h"
#include "kernel/ex/ex.h"
#include "kernel/hal/x86.h"
#include "mm/mm.h"

#define TAG_THREAD POOL_TAG('T', 'h', 'r', 'd')
#define KI_STACK_PAGES 4

static volatile ULONG64 next_thread_id = 1;

#include "kernel/ps/psp.h"

PKTHREAD KeCreateSystemThread(PKSTART_ROUTINE start, PVOID ctx, KPRIORITY priority, const char *name)
{
    return KiCreateThread(start, ctx, priority, name, &PsInitialSystemProcess);
}

PKTHREAD KiCreateThread(PKSTART_ROUTINE start, PVOID ctx, KPRIORITY priority, const char *name, PEPROCESS process)
{
    PKTHREAD t = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*t), TAG_THREAD);
    if (!t)
        return NULL;
    memset(t, 0, sizeof(*t));
    PVOID limit;
    PULONG64 top = MmCreateKernelStack(KI_STACK_PAGES, &limit);
    if (!top) {
        ExFreePoolWithTag(t, TAG_THREAD);
        return NULL;
    }
    t->Header.Type = KeThreadObject;
    InitializeListHead(&t->Header.WaitListHead);
    InitializeListHead(&t->IrpList);
    t->StackBase = top;
    t->StackLimit = limit;
    t->StackPages = KI_STACK_PAGES;
    t->Priority = priority;
    t->RefCount = 2;                 /* the creator's reference and the thread's own */
    t->StartRoutine = start;
    t->StartContext = ctx;
    t->Process = t->ActiveProcess = process;
    t->Id = __atomic_fetch_add(&next_thread_id, 1, __ATOMIC_RELAXED);
    KeInitializeTimer(&t->WaitTimer);
    t->WaitTimer.WaitThread = t;
    KiInitializeThreadApcs(t);
    strlcpy(t->Name, name ? name : "thread", sizeof(t->Name));

    /* The frame KiSwapContext pops the first time it switches to us:
     * r15 r14 r13 r12 rbx rbp rflags, then the "return" into
     * KiThreadStartup with the start routine in rbx and context in r12. */
    PULONG64 sp = top;
    *--sp = 0;                        /* keeps KiThreadStartup's stack aligned */
    *--sp = (ULONG64)KiThreadStartup;
    *--sp = 0x2;                      /* RFLAGS: interrupts off until we are settled */
    *--sp = 0;                        /* rbp */
    *--sp = (ULONG64)start;           /* rbx */
    *--sp = (ULONG64)ctx;             /* r12 */
    *--sp = 0;                        /* r13 */
    *--sp = 0;                        /* r14 */
    *--sp = 0;                        /* r15 */
    t->KernelStack = (ULONG64)sp;

    KIRQL old = KiAcquireDispatcherLock();
    InsertTailList(&KiThreadListHead, &t->ThreadListEntry);
    KiReadyThread(t);
    KiReleaseDispatcherLock(old);
    return t;
}

/* Free an ended thread's stack and drop its own reference. Already off
 * the thread list (KiReleaseDispatcherLock), and called without the
 * dispatcher lock: this frees memory. */
void KiReapThread(PKTHREAD t)
{
    KI_ASSERT_DISPATCHER_LOCK_NOT_HELD("reaping frees the stack and the thread object");
    if (!t->BootStack)
        MmDeleteKernelStack(t->StackBase, t->StackPages);
    t->StackBase = NULL;
    KeDereferenceThread(t);           /* the thread's own reference */
}

/* Where every new thread begins (from KiThreadStartup), still inside the
 * switch that chose it: at DISPATCH_LEVEL with the dispatcher lock held. */
void KiThreadStart(PKSTART_ROUTINE start, PVOID ctx)
{
    KiReleaseDispatcherLock(PASSIVE_LEVEL);   /* and reaps a thread that ended just before us */
    sti();
    start(ctx);
    KeTerminateThread(STATUS_SUCCESS);
}

void KeTerminateThread(NTSTATUS status)
{
    PKTHREAD t = KeGetCurrentThread();
    if (t->ExceptionList)
        KeBugCheckRule(KMODE_EXCEPTION_NOT_HANDLED, (ULONG)STATUS_UNSUCCESSFUL, 0, 0, 0,
                       "thread '%s' ended inside an ExTry block", t->Name);
    /* APCs still queued go back to their owners (RundownRoutine) while
     * the thread can still call them, and none can be queued after. */
    KiRundownApcs(t);
    KiAcquireDispatcherLock();
    t->ExitStatus = status;
    t->State = ThreadTerminated;
    t->Header.SignalState = 1;
    KiWaitTest(&t->Header);           /* wake whoever joins us */
    /* We cannot free the stack we are standing on: the next thread will. */
    KeGetCurrentPrcb()->DeadThread = t;
    KiSwapThread();
    KeBugCheckRule(MEMORY_MANAGEMENT, 0, 0, 0, 0, "a terminated thread was scheduled again");
}

void KeDereferenceThread(PKTHREAD t)
{
    LONG left = __atomic_sub_fetch(&t->RefCount, 1, __ATOMIC_ACQ_REL);
    ASSERT(left >= 0);
    if (left == 0 && !t->BootStack) {
        ASSERT(t->State == ThreadTerminated && t->StackBase == NULL);
        ExFreePoolWithTag(t, TAG_THREAD);
    }
}
