/*
 * Asynchronous procedure calls: run a routine in the context of a chosen
 * thread - its process's address space, its own stack, at a point where
 * it holds no kernel lock. NT's I/O manager finishes every request this
 * way: the status block, a buffered read's data and the event belong to
 * the requester's process, so completion (which may run in a DPC, in a
 * driver's worker thread, in any process) queues a special kernel APC to
 * the requesting thread, and that thread does the last step itself.
 *
 * mdlos has only NT's special kernel APCs: no user-mode APCs (nothing in
 * ring 3 can receive one) and no normal kernel APCs (a NormalRoutine run
 * at PASSIVE_LEVEL afterwards). KeInitializeApc bugchecks on anything else.
 *
 * An APC queued to a thread runs (KernelRoutine, at APC_LEVEL, no spin
 * lock held) at the thread's next delivery point where it may take one:
 *   - on every return to ring 3 (KiApcExitToUser, from KiExitToUser:
 *     after a system service, an interrupt - the clock preempting a user
 *     thread -, a resolved page fault, a new thread's first entry);
 *   - in every wait (kernel/ke/wait.c): on entry, and during it - queuing
 *     an APC to a waiting thread that may take it wakes it with
 *     STATUS_KERNEL_APC, it runs the APC and waits again with what is left
 *     of its timeout; the caller never sees STATUS_KERNEL_APC;
 *   - when the thread leaves its last guarded region, releases its last
 *     mutex, detaches from another process, or queues one to itself.
 * It may take one when its IRQL is PASSIVE_LEVEL, it is in its own
 * process (not attached: the routine touches the requester's user
 * memory), it owns no KMUTEX (the address-space mutex is held across
 * memory-manager work that a routine touching user memory must not
 * interrupt) and it is not in a guarded region. NT delivers them also
 * asynchronously, through the APC software interrupt, whenever the IRQL
 * drops below APC_LEVEL; mdlos only inside the calls above, so kernel
 * code is never interrupted by one at an arbitrary instruction. (A page
 * fault on pageable or user memory takes and releases the address-space
 * mutex: it is such a call.)
 *
 * The queue is the dispatcher lock's: inserting must look at whether the
 * thread waits and wake it in the same step, and a wait must check the
 * queue and go to sleep in one step, or a wake-up could fall between them.
 * Nothing is allocated or signalled under it; routines are called without it.
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/x86.h"

#define KI_APC_OBJECT 0x12   /* NT's ApcObject type */

/* APC_INDEX_MISMATCH (0x1) is NT's code for a thread whose APC state is
 * not what it must be (NT: returning to user mode attached or with APCs
 * disabled). mdlos's parameters: P1 the APC or the thread, P2 the
 * guarded-region depth, P3 the mutex count, P4 which rule. */
#define KI_APC_RULE_NOT_SPECIAL   1   /* NormalRoutine or UserMode: not a special kernel APC */
#define KI_APC_RULE_BAD_APC       2   /* no KernelRoutine, not initialized, attached environment */
#define KI_APC_RULE_ROUTINE_STATE 3   /* a KernelRoutine returned holding a mutex / in a guarded region / attached */
#define KI_APC_RULE_USER_RETURN   4   /* back to ring 3 with a mutex, in a guarded region or attached */
#define KI_APC_RULE_UNBALANCED    5   /* KeLeaveGuardedRegion without KeEnterGuardedRegion */

void KiInitializeThreadApcs(PKTHREAD t)
{
    InitializeListHead(&t->ApcListHead);
    t->KernelApcPending = FALSE;
    t->ApcQueueable = TRUE;
    t->SpecialApcDisable = 0;
    t->MutexCount = 0;
}

/* What holds a thread's APCs back, IRQL aside. */
static BOOLEAN apcs_blocked(PKTHREAD t)
{
    return t->SpecialApcDisable != 0 || t->MutexCount != 0 || t->ActiveProcess != t->Process;
}

BOOLEAN KiApcDeliverable(PKTHREAD t, KIRQL irql)
{
    return irql == PASSIVE_LEVEL && !apcs_blocked(t);
}

static void check_special(PRKAPC apc, const char *routine)
{
    if (apc->NormalRoutine || apc->ApcMode != KernelMode)
        KeBugCheckRule(APC_INDEX_MISMATCH, (ULONG_PTR)apc, (ULONG_PTR)apc->NormalRoutine, (ULONG_PTR)apc->ApcMode,
                       KI_APC_RULE_NOT_SPECIAL,
                       "%s: APC %p has NormalRoutine %p and mode %d; mdlos has only special kernel APCs "
                       "(NormalRoutine NULL, KernelMode) - no user-mode or normal kernel APCs", routine, apc,
                       (void *)apc->NormalRoutine, apc->ApcMode);
    if (!apc->KernelRoutine || apc->Type != KI_APC_OBJECT || !apc->Thread)
        KeBugCheckRule(APC_INDEX_MISMATCH, (ULONG_PTR)apc, 0, 0, KI_APC_RULE_BAD_APC,
                       "%s: APC %p is not an initialized APC with a KernelRoutine and a thread", routine, apc);
}

void KeInitializeApc(PRKAPC apc, PKTHREAD thread, KAPC_ENVIRONMENT env, PKKERNEL_ROUTINE kernel_routine,
                     PKRUNDOWN_ROUTINE rundown, PKNORMAL_ROUTINE normal, KPROCESSOR_MODE mode, PVOID normal_ctx)
{
    /* One environment: the thread's own process. An APC for the process a
     * thread is attached to (NT's AttachedApcEnvironment) has no meaning
     * here, since an attached thread gets no APCs; CurrentApcEnvironment
     * names the original one unless the thread is attached right now. */
    if (env == AttachedApcEnvironment || (env == CurrentApcEnvironment && thread &&
                                          thread->ActiveProcess != thread->Process))
        KeBugCheckRule(APC_INDEX_MISMATCH, (ULONG_PTR)apc, (ULONG_PTR)thread, env, KI_APC_RULE_BAD_APC,
                       "KeInitializeApc: APC %p for the attached environment; mdlos delivers APCs only in the "
                       "thread's own process (OriginalApcEnvironment)", apc);
    memset(apc, 0, sizeof(*apc));
    apc->Type = KI_APC_OBJECT;
    apc->Size = sizeof(*apc);
    apc->Thread = thread;
    apc->KernelRoutine = kernel_routine;
    apc->RundownRoutine = rundown;
    apc->NormalRoutine = normal;
    apc->NormalContext = normal_ctx;
    apc->ApcStateIndex = OriginalApcEnvironment;
    apc->ApcMode = mode;
    apc->Inserted = FALSE;
    check_special(apc, "KeInitializeApc");
}

BOOLEAN KeInsertQueueApc(PRKAPC apc, PVOID arg1, PVOID arg2, KPRIORITY increment)
{
    UNREFERENCED_PARAMETER(increment);   /* no priority boosts in mdlos */
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    check_special(apc, "KeInsertQueueApc");
    PKTHREAD t = apc->Thread;
    KIRQL old = KiAcquireDispatcherLock();
    if (apc->Inserted || !t->ApcQueueable) {
        KiReleaseDispatcherLock(old);
        return FALSE;
    }
    apc->SystemArgument1 = arg1;
    apc->SystemArgument2 = arg2;
    apc->Inserted = TRUE;
    InsertTailList(&t->ApcListHead, &apc->ApcListEntry);
    t->KernelApcPending = TRUE;
    BOOLEAN self = t == KeGetCurrentThread();
    /* A thread asleep where it could take the APC is woken to take it; the
     * wait restarts itself afterwards. One that cannot (a mutex, a guarded
     * region, attached, waiting at APC_LEVEL) gets it at a later point. */
    if (!self && t->State == ThreadWaiting && KiApcDeliverable(t, t->WaitIrql))
        KiUnwaitThread(t, STATUS_KERNEL_APC);
    KiReleaseDispatcherLock(old);
    if (self)
        KiCheckForApcDelivery();   /* at PASSIVE_LEVEL it runs now, as NT's APC interrupt would */
    return TRUE;
}

BOOLEAN KeRemoveQueueApc(PRKAPC apc)
{
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    PKTHREAD t = apc->Thread;
    KIRQL old = KiAcquireDispatcherLock();
    BOOLEAN was = apc->Inserted;
    if (was) {
        RemoveEntryList(&apc->ApcListEntry);
        apc->Inserted = FALSE;
        if (IsListEmpty(&t->ApcListHead))
            t->KernelApcPending = FALSE;
    }
    KiReleaseDispatcherLock(old);
    return was;
}

/* Run the current thread's queue, one APC at a time, at APC_LEVEL: NT's
 * level for special kernel APCs, so a routine may wait, take paged pool
 * and page-fault on user memory (all allowed at APC_LEVEL), but nothing
 * that needs PASSIVE_LEVEL; KeGetCurrentIrql says APC_LEVEL inside it.
 * CR8 = 1 masks priority class 1, vectors 16-31: those are exception
 * vectors, never delivered as interrupts (the APIC refuses vectors below
 * 16 and mdlos routes none below 0x20), so the value blocks no interrupt
 * and serves, as on x64 NT, as the thread's IRQL; every path that raises
 * above it comes back to it, and a switch at APC_LEVEL is fine since each
 * thread lowers to the IRQL saved on its own stack when it resumes.
 * Called at PASSIVE_LEVEL with no lock held. */
void KiDeliverApc(void)
{
    PKTHREAD t = KeGetCurrentThread();
    KIRQL passive;
    KeRaiseIrql(APC_LEVEL, &passive);
    ASSERT(passive == PASSIVE_LEVEL);
    for (;;) {
        KIRQL apc_level = KiAcquireDispatcherLock();
        if (IsListEmpty(&t->ApcListHead) || apcs_blocked(t)) {
            if (IsListEmpty(&t->ApcListHead))
                t->KernelApcPending = FALSE;
            KiReleaseDispatcherLock(apc_level);
            break;
        }
        PKAPC apc = CONTAINING_RECORD(RemoveHeadList(&t->ApcListHead), KAPC, ApcListEntry);
        if (IsListEmpty(&t->ApcListHead))
            t->KernelApcPending = FALSE;
        apc->Inserted = FALSE;   /* from here the routine owns it (and may free it, or queue it again) */
        PKKERNEL_ROUTINE routine = apc->KernelRoutine;
        PKNORMAL_ROUTINE normal = apc->NormalRoutine;
        PVOID ctx = apc->NormalContext, a1 = apc->SystemArgument1, a2 = apc->SystemArgument2;
        KiReleaseDispatcherLock(apc_level);

        LONG disable = t->SpecialApcDisable, mutexes = t->MutexCount;
        /* The routine starts with no ExTry frame of its own: an exception
         * it does not catch must not unwind into the code it interrupted
         * (a wait inside someone's ExTry), which knows nothing of it. It
         * is a bugcheck, as an unhandled kernel exception is. */
        EX_FRAME *frames = t->ExceptionList;
        t->ExceptionList = NULL;
        routine(apc, &normal, &ctx, &a1, &a2);
        t->ExceptionList = frames;
        KIRQL now = KeGetCurrentIrql();
        if (now != APC_LEVEL)
            KeBugCheckRule(IRQL_UNEXPECTED_VALUE, ((ULONG_PTR)now << 16) | ((ULONG_PTR)APC_LEVEL << 8),
                           (ULONG_PTR)routine, (ULONG_PTR)apc, 0,
                           "APC routine %p returned at IRQL %u; it was called at APC_LEVEL and must return there",
                           (void *)routine, now);
        if (t->SpecialApcDisable != disable || t->MutexCount != mutexes || t->ActiveProcess != t->Process)
            KeBugCheckRule(APC_INDEX_MISMATCH, (ULONG_PTR)routine, (ULONG_PTR)t->SpecialApcDisable,
                           (ULONG_PTR)t->MutexCount, KI_APC_RULE_ROUTINE_STATE,
                           "APC routine %p returned with a guarded region, a mutex or an attach it did not undo "
                           "(guarded depth %ld -> %ld, mutexes %ld -> %ld)", (void *)routine, (long)disable,
                           (long)t->SpecialApcDisable, (long)mutexes, (long)t->MutexCount);
        if (normal)
            KeBugCheckRule(APC_INDEX_MISMATCH, (ULONG_PTR)routine, (ULONG_PTR)normal, 0, KI_APC_RULE_NOT_SPECIAL,
                           "APC routine %p asked for normal routine %p; mdlos has no normal kernel APCs",
                           (void *)routine, (void *)normal);
    }
    KeLowerIrql(PASSIVE_LEVEL);
}

/* Deliver now if the current thread has APCs and may take them here.
 * Not with interrupts off (a page fault taken with IF clear releases the
 * address-space mutex too): a routine may wait, and the caller chose to
 * keep interrupts out. */
void KiCheckForApcDelivery(void)
{
    PKTHREAD t = KeGetCurrentThread();
    if (t && t->KernelApcPending && KiApcDeliverable(t, KeGetCurrentIrql()) && (read_rflags() & (1 << 9)))
        KiDeliverApc();
}

/* On the way back to ring 3, interrupts off (KiExitToUser). A thread
 * going back to user mode holding a mutex, in a guarded region or
 * attached is a kernel bug (NT checks the same at its system-service
 * exit, with this code). */
void KiApcExitToUser(PKTRAP_FRAME f)
{
    UNREFERENCED_PARAMETER(f);
    PKTHREAD t = KeGetCurrentThread();
    if (apcs_blocked(t))
        KeBugCheckRule(APC_INDEX_MISMATCH, (ULONG_PTR)t, (ULONG_PTR)t->SpecialApcDisable, (ULONG_PTR)t->MutexCount,
                       KI_APC_RULE_USER_RETURN,
                       "thread '%s' returned to ring 3 in a guarded region (depth %ld), owning %ld mutexes or "
                       "attached to another process", t->Name, (long)t->SpecialApcDisable, (long)t->MutexCount);
    while (t->KernelApcPending && KeGetCurrentIrql() == PASSIVE_LEVEL) {
        __asm__ volatile("sti" ::: "memory");
        KiDeliverApc();
        __asm__ volatile("cli" ::: "memory");
    }
}

/* At thread exit (KeTerminateThread), at PASSIVE_LEVEL: nothing may be
 * queued any more, and what is still queued is given back to its owner's
 * RundownRoutine (the IRP it belongs to is freed there, say). An APC with
 * no RundownRoutine is just taken off: NT frees such an APC itself
 * (ExFreePool) as it assumes pool; mdlos does not, since a KAPC may live
 * anywhere (inside an IRP, on a stack, in a static). Routines are called
 * without the lock; the thread object lives until after this returns. */
void KiRundownApcs(PKTHREAD t)
{
    LIST_ENTRY taken;
    InitializeListHead(&taken);
    KIRQL old = KiAcquireDispatcherLock();
    t->ApcQueueable = FALSE;
    while (!IsListEmpty(&t->ApcListHead)) {
        PKAPC apc = CONTAINING_RECORD(RemoveHeadList(&t->ApcListHead), KAPC, ApcListEntry);
        apc->Inserted = FALSE;   /* KeRemoveQueueApc says FALSE from now: the rundown owns it */
        InsertTailList(&taken, &apc->ApcListEntry);
    }
    t->KernelApcPending = FALSE;
    KiReleaseDispatcherLock(old);
    while (!IsListEmpty(&taken)) {
        PKAPC apc = CONTAINING_RECORD(RemoveHeadList(&taken), KAPC, ApcListEntry);
        if (apc->RundownRoutine)
            apc->RundownRoutine(apc);
    }
}

/* ---- guarded regions ---- */
void KeEnterGuardedRegion(void)
{
    KI_ASSERT_IRQL_LE(APC_LEVEL);
    PKTHREAD t = KeGetCurrentThread();
    t->SpecialApcDisable++;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void KeLeaveGuardedRegion(void)
{
    KI_ASSERT_IRQL_LE(APC_LEVEL);
    PKTHREAD t = KeGetCurrentThread();
    if (t->SpecialApcDisable <= 0)
        KeBugCheckRule(APC_INDEX_MISMATCH, (ULONG_PTR)t, (ULONG_PTR)t->SpecialApcDisable, 0, KI_APC_RULE_UNBALANCED,
                       "KeLeaveGuardedRegion without a matching KeEnterGuardedRegion in thread '%s'", t->Name);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (--t->SpecialApcDisable == 0)
        KiCheckForApcDelivery();
}

/* TRUE when no APC could be delivered to the current thread right now:
 * IRQL APC_LEVEL or above, a guarded region, a mutex owned, or attached
 * (NT's counts the first two only; in mdlos all four hold APCs back). */
BOOLEAN KeAreAllApcsDisabled(void)
{
    PKTHREAD t = KeGetCurrentThread();
    return KeGetCurrentIrql() >= APC_LEVEL || apcs_blocked(t);
}
