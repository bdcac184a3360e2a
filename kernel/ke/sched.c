/*
 * The scheduler: 32 priorities, a ready queue each, round robin inside a
 * priority. A thread runs until it waits, yields, is preempted by a
 * higher-priority thread becoming ready, or uses up its quantum (counted
 * down by the clock). Every decision is made at DISPATCH_LEVEL with the
 * dispatcher lock held, as in NT; the switch itself happens as the IRQL
 * drops below DISPATCH_LEVEL (KiDispatchInterrupt).
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/x86.h"
#include "mm/mm.h"
#include "kernel/ps/psp.h"

#define THREAD_QUANTUM 3   /* clock ticks (10 ms each) */

static LIST_ENTRY ready_queue[32];
static ULONG ready_summary;           /* bit p set: queue p not empty */
KSPIN_LOCK KiDispatcherLock;
static KPRCB prcb0;
static KTHREAD boot_thread;
LIST_ENTRY KiThreadListHead;
_Static_assert(offsetof(KTHREAD, KernelStack) == 24, "kernel/ke/swap.asm hard-codes this offset");

void KiInitializePrcb(void)
{
    prcb0.Self = &prcb0;
    prcb0.Number = 0;
    InitializeListHead(&prcb0.DpcListHead);
    /* Kernel GS base: GS:0 is this CPU's PRCB. (With user mode, SWAPGS
     * will exchange it with the user's GS base on every entry and exit.) */
    wrmsr(0xC0000101, (ULONG64)&prcb0);
}

ULONG KeGetCurrentProcessorNumber(void) { return KeGetCurrentPrcb()->Number; }

KIRQL KiAcquireDispatcherLock(void)
{
    KIRQL old;
    KeAcquireSpinLock(&KiDispatcherLock, &old);
    return old;
}

/* A thread that ended could not free the stack it stood on; the next
 * thread to release the dispatcher lock does. The thread list is the
 * dispatcher lock's, so it is unlinked here; its stack and object go back
 * to the memory manager only after the lock is dropped: freeing takes the
 * pool and PFN locks, which must never nest inside the dispatcher lock. */
void KiReleaseDispatcherLock(KIRQL old)
{
    PKPRCB prcb = KeGetCurrentPrcb();
    PKTHREAD dead = prcb->DeadThread;
    if (dead) {
        prcb->DeadThread = NULL;
        RemoveEntryList(&dead->ThreadListEntry);
    }
    KeReleaseSpinLockFromDpcLevel(&KiDispatcherLock);
    if (dead)
        KiReapThread(dead);   /* still at DISPATCH_LEVEL: nothing can switch to the dead thread's memory */
    KeLowerIrql(old);
}

void KiReadyThread(PKTHREAD t)
{
    KI_ASSERT_DISPATCHER_LOCK_HELD();
    t->State = ThreadReady;
    t->Quantum = THREAD_QUANTUM;
    InsertTailList(&ready_queue[t->Priority], &t->ReadyListEntry);
    ready_summary |= 1u << t->Priority;
    PKPRCB prcb = KeGetCurrentPrcb();
    if (prcb->CurrentThread && t->Priority > prcb->CurrentThread->Priority)
        prcb->ReadyPending = TRUE;   /* preempt at the next drop below DISPATCH_LEVEL */
}

/* The highest-priority ready thread (removed from its queue), or the idle thread. */
static PKTHREAD select_next(void)
{
    PKPRCB prcb = KeGetCurrentPrcb();
    if (!ready_summary)
        return prcb->IdleThread;
    int p = 31 - __builtin_clz(ready_summary);
    PKTHREAD t = CONTAINING_RECORD(RemoveHeadList(&ready_queue[p]), KTHREAD, ReadyListEntry);
    if (IsListEmpty(&ready_queue[p]))
        ready_summary &= ~(1u << p);
    return t;
}

/* With the dispatcher lock held: leave the CPU to the next thread. The
 * current thread's state says why (Waiting, Terminated, or Ready). */
void KiSwapThread(void)
{
    KI_ASSERT_DISPATCHER_LOCK_HELD();
    PKPRCB prcb = KeGetCurrentPrcb();
    PKTHREAD old = prcb->CurrentThread;
    PKTHREAD next = select_next();
    prcb->ReadyPending = FALSE;
    prcb->QuantumEnd = FALSE;
    if (next == old) {
        old->State = ThreadRunning;
        return;
    }
    next->State = ThreadRunning;
    next->ContextSwitches++;
    prcb->ContextSwitches++;
    prcb->CurrentThread = next;
    /* The new thread's address space, and its stack for entries from
     * ring 3 (interrupts through TSS.RSP0, SYSCALL through the PRCB).
     * The idle thread keeps the address space it finds: it, and the
     * interrupts and DPCs that run on its stack, touch only the kernel
     * half, which is the same in every address space (MmCreateAddressSpace
     * copies it). Switching to the System process's page tables for it,
     * and back when the waiting thread wakes up, cost two CR3 loads per
     * wait - each a full TLB flush, and under QEMU's TCG also an emptied
     * translated-block jump cache, which made every block after it a hash
     * look-up - on each completed I/O request whose requester was
     * waiting (Linux's idle task borrows the last address space the same
     * way: lazy TLB mode). The address space it borrows cannot go away
     * under it: a process's page tables are freed by its last thread,
     * which first loads the System process's (PsExitCurrentProcess), or
     * by another thread, which has loaded its own to run at all. */
    ULONG64 cr3 = next->ActiveProcess ? next->ActiveProcess->DirectoryTableBase : 0;
    if (cr3 && next != prcb->IdleThread && cr3 != read_cr3())
        write_cr3(cr3);
    prcb->KernelRsp = (ULONG64)next->StackBase;
    KiSetTssRsp0((ULONG64)next->StackBase);
    KiSwapContext(old, next);
    /* We are back on OLD's stack, with OLD running again. A thread that
     * died just before us is reaped when we release the dispatcher lock. */
}

BOOLEAN KiSoftwareWorkPending(void)
{
    return KiWorkPendingInline();   /* the body is in ki.h, where KiLowerIrqlInline needs it */
}

void KiDispatchInterrupt(void)
{
    KI_ASSERT_IRQL_GE(DISPATCH_LEVEL);   /* DPCs run, and the switch is decided, at DISPATCH_LEVEL */
    PKPRCB prcb = KeGetCurrentPrcb();
    KiRetireDpcList(prcb);
    if (!prcb->ReadyPending && !prcb->QuantumEnd)
        return;
    KIRQL old = KiAcquireDispatcherLock();
    PKTHREAD cur = prcb->CurrentThread;
    /* Round robin: a thread whose quantum ended goes behind its equals;
     * a preempted one goes back in front of them. */
    if (cur != prcb->IdleThread && cur->State == ThreadRunning) {
        BOOLEAN others = ready_summary >> cur->Priority;
        if (prcb->QuantumEnd && !others && !prcb->ReadyPending) {
            prcb->QuantumEnd = FALSE;
            cur->Quantum = THREAD_QUANTUM;   /* nobody else to run: keep going */
            KiReleaseDispatcherLock(old);
            return;
        }
        KiReadyThread(cur);
    }
    KiSwapThread();
    KiReleaseDispatcherLock(old);
}

void KeYieldExecution(void)
{
    KIRQL old = KiAcquireDispatcherLock();
    PKTHREAD cur = KeGetCurrentThread();
    KiReadyThread(cur);
    KiSwapThread();
    KiReleaseDispatcherLock(old);
}

KPRIORITY KeSetPriorityThread(PKTHREAD t, KPRIORITY p)
{
    ASSERT(p >= 1 && p <= 31);
    KIRQL old = KiAcquireDispatcherLock();
    KPRIORITY was = t->Priority;
    if (t->State == ThreadReady) {
        RemoveEntryList(&t->ReadyListEntry);
        if (IsListEmpty(&ready_queue[was]))
            ready_summary &= ~(1u << was);
        t->Priority = p;
        KiReadyThread(t);
    } else {
        t->Priority = p;
        if (t == KeGetCurrentThread() && (ready_summary >> (p + 1)))
            KeGetCurrentPrcb()->ReadyPending = TRUE;   /* lowered below a ready thread */
    }
    KiReleaseDispatcherLock(old);
    return was;
}

ULONG64 KeQueryIdleCycles(void)
{
    return KeGetCurrentPrcb()->IdleCycles;   /* one CPU: its own */
}

static void idle_loop(PVOID unused)
{
    UNREFERENCED_PARAMETER(unused);
    for (;;) {
        /* STI;HLT back to back: an interrupt cannot slip in between and be
         * missed (STI takes effect after the next instruction). */
        /* The halt's start, for the interrupt that ends it to count
         * (KiInterruptDispatch: the idle thread may be switched out from
         * inside that interrupt and come back here much later). Under
         * QEMU's -icount the TSC counts instructions, so elapsed - idle is
         * what the guest executed (user/ubench.c's busy figures). */
        cli();
        KeGetCurrentPrcb()->HaltTsc = rdtsc();
        __asm__ volatile("sti; hlt" ::: "memory");
        KeGetCurrentPrcb()->HaltTsc = 0;   /* woken by something that was no interrupt (an NMI): not counted */
        if (KiSoftwareWorkPending()) {
            KIRQL old;
            KeRaiseIrql(DISPATCH_LEVEL, &old);
            KeGetCurrentPrcb()->ReadyPending = TRUE;   /* look for work */
            KeLowerIrql(old);
        }
    }
}

void KiInitializeScheduler(void)
{
    for (int i = 0; i < 32; i++)
        InitializeListHead(&ready_queue[i]);
    InitializeListHead(&KiThreadListHead);
    KeInitializeSpinLock(&KiDispatcherLock);

    /* kmain's flow of control becomes the first thread, on the boot stack. */
    PKTHREAD t = &boot_thread;
    memset(t, 0, sizeof(*t));
    t->Header.Type = KeThreadObject;
    InitializeListHead(&t->Header.WaitListHead);
    InitializeListHead(&t->IrpList);
    t->StackBase = boot_stack_top;
    t->StackLimit = boot_stack;
    t->BootStack = TRUE;
    t->Priority = KI_DEFAULT_PRIORITY;
    t->State = ThreadRunning;
    t->Quantum = THREAD_QUANTUM;
    t->RefCount = 1;
    t->Process = t->ActiveProcess = &PsInitialSystemProcess;
    PsInitialSystemProcess.DirectoryTableBase = read_cr3();
    KeGetCurrentPrcb()->KernelRsp = (ULONG64)boot_stack_top;
    KeInitializeTimer(&t->WaitTimer);
    t->WaitTimer.WaitThread = t;
    KiInitializeThreadApcs(t);
    strlcpy(t->Name, "boot", sizeof(t->Name));
    InsertTailList(&KiThreadListHead, &t->ThreadListEntry);
    KeGetCurrentPrcb()->CurrentThread = t;

    PKTHREAD idle = KeCreateSystemThread(idle_loop, NULL, KI_DEFAULT_PRIORITY, "idle");
    ASSERT(idle);
    /* The idle thread is never in a ready queue: select_next falls back to it. */
    KIRQL old = KiAcquireDispatcherLock();
    RemoveEntryList(&idle->ReadyListEntry);
    if (IsListEmpty(&ready_queue[idle->Priority]))
        ready_summary &= ~(1u << idle->Priority);
    idle->Priority = 0;
    idle->State = ThreadReady;
    KeGetCurrentPrcb()->IdleThread = idle;
    KeGetCurrentPrcb()->ReadyPending = FALSE;
    KiReleaseDispatcherLock(old);
}
