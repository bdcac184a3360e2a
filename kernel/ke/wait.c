/*
 * Dispatcher objects and waits. Every waitable object starts with a
 * DISPATCHER_HEADER: a signal state and a list of the threads waiting on
 * it. Waiting links the thread's wait block into that list and switches
 * away; signaling walks the list, satisfies as many waits as the object
 * allows (all for a notification event, one for a synchronization event,
 * one per count for a semaphore, one owner for a mutex) and readies them.
 * All of it under the dispatcher lock, at DISPATCH_LEVEL.
 */
#include "kernel/ke/ki.h"
#include "kernel/ex/ex.h"

static void init_header(DISPATCHER_HEADER *h, UCHAR type, LONG state)
{
    h->Type = type;
    h->SignalState = state;
    InitializeListHead(&h->WaitListHead);
}

static BOOLEAN is_signaled(DISPATCHER_HEADER *h, PKTHREAD t)
{
    if (h->Type == KeMutexObject)
        return h->SignalState > 0 || ((PKMUTEX)h)->OwnerThread == t;   /* owners may re-acquire */
    return h->SignalState > 0;
}

/* The side effect of a satisfied wait. */
static void satisfy(DISPATCHER_HEADER *h, PKTHREAD t)
{
    switch (h->Type) {
    case KeEventObject:
        if (((PKEVENT)h)->EventType == SynchronizationEvent)
            h->SignalState = 0;   /* auto-reset: one waiter gets it */
        break;
    case KeSemaphoreObject:
        h->SignalState--;
        break;
    case KeMutexObject:
        h->SignalState--;
        ((PKMUTEX)h)->OwnerThread = t;
        if (t)
            t->MutexCount++;   /* an owner gets no APCs until it releases (kernel/ke/apc.c) */
        break;
    default:
        break;                    /* timers, threads: stay signaled */
    }
}

void KiUnwaitThread(PKTHREAD t, NTSTATUS status)
{
    KI_ASSERT_DISPATCHER_LOCK_HELD();
    if (t->State != ThreadWaiting)
        return;
    if (t->WaitBlock.Object) {
        RemoveEntryList(&t->WaitBlock.WaitListEntry);
        t->WaitBlock.Object = NULL;
    }
    KiCancelTimerLocked(&t->WaitTimer);
    t->WaitStatus = status;
    KiReadyThread(t);
}

void KiWaitTest(DISPATCHER_HEADER *h)
{
    KI_ASSERT_DISPATCHER_LOCK_HELD();
    PLIST_ENTRY e = h->WaitListHead.Flink;
    while (e != &h->WaitListHead) {
        KWAIT_BLOCK *wb = CONTAINING_RECORD(e, KWAIT_BLOCK, WaitListEntry);
        e = e->Flink;
        if (!is_signaled(h, wb->Thread))
            break;
        satisfy(h, wb->Thread);
        KiUnwaitThread(wb->Thread, STATUS_WAIT_0);
    }
}

static void check_wait_irql(PVOID object, PLARGE_INTEGER timeout)
{
    KIRQL irql = KeGetCurrentIrql();
    if (irql > APC_LEVEL && !(timeout && timeout->QuadPart == 0))
        KeBugCheckRule(IRQL_NOT_LESS_OR_EQUAL, (ULONG_PTR)object, irql, 0, 0,
                       "a thread tried to wait (for %p) at IRQL %u; waiting switches threads, which is impossible at "
                       "DISPATCH_LEVEL or above - only a zero timeout is allowed there", object, irql);
}

/* The absolute interrupt time a wait ends at: a wait interrupted by an
 * APC waits again for what is left, not for the whole timeout again. */
static LARGE_INTEGER wait_deadline(PLARGE_INTEGER timeout)
{
    LARGE_INTEGER d = *timeout;
    if (d.QuadPart < 0)
        d.QuadPart = (LONGLONG)KeQueryInterruptTime() - d.QuadPart;
    return d;
}

/* Every wait is a loop around this: APCs the thread may take run first
 * (a wait is a delivery point, kernel/ke/apc.c), then the wait proper.
 * OBJECT NULL is a plain delay. Returns the wait's status, or
 * STATUS_KERNEL_APC when an APC woke it (the caller loops). */
static NTSTATUS wait_once(DISPATCHER_HEADER *h, KPROCESSOR_MODE mode, PLARGE_INTEGER deadline, BOOLEAN poll)
{
    PKTHREAD t = KeGetCurrentThread();
    KIRQL old = KiAcquireDispatcherLock();
    if (t && t->KernelApcPending && KiApcDeliverable(t, old)) {   /* (no thread yet: a mutex taken during boot) */
        KiReleaseDispatcherLock(old);
        KiDeliverApc();
        return STATUS_KERNEL_APC;
    }
    if (mode == UserMode && t->AbortUserWait) {
        KiReleaseDispatcherLock(old);
        return STATUS_PROCESS_IS_TERMINATING;
    }
    if (h && is_signaled(h, t)) {
        satisfy(h, t);
        KiReleaseDispatcherLock(old);
        return STATUS_WAIT_0;
    }
    if (poll || (deadline && (ULONG64)deadline->QuadPart <= KeQueryInterruptTime())) {
        KiReleaseDispatcherLock(old);
        return STATUS_TIMEOUT;
    }
    if (t && t->IoPlug) {
        /* Blocking with a plugged batch in hand (io/plug.c): what it waits
         * for may be in the batch, which only this thread would start. It
         * goes to its devices first (not under the dispatcher lock: a
         * driver's start completes IRPs, which sets events), then look
         * again: the batch may have finished it already. */
        KiReleaseDispatcherLock(old);
        IoFlushThreadPlug(t);
        return STATUS_KERNEL_APC;
    }
    t->WaitBlock.Thread = t;
    t->WaitBlock.Object = h;
    if (h)
        InsertTailList(&h->WaitListHead, &t->WaitBlock.WaitListEntry);
    if (deadline)
        KiSetTimerLocked(&t->WaitTimer, *deadline, 0, NULL);
    t->State = ThreadWaiting;
    t->UserWait = mode == UserMode;
    t->WaitIrql = old;   /* KeInsertQueueApc wakes the wait only at PASSIVE_LEVEL */
    KiSwapThread();
    t->UserWait = FALSE;
    NTSTATUS status = t->WaitStatus;
    KiReleaseDispatcherLock(old);
    return status;
}

static NTSTATUS wait_loop(DISPATCHER_HEADER *h, KPROCESSOR_MODE mode, PLARGE_INTEGER timeout)
{
    BOOLEAN poll = timeout && timeout->QuadPart == 0;
    LARGE_INTEGER deadline;
    if (timeout && !poll)
        deadline = wait_deadline(timeout);
    NTSTATUS status;
    while ((status = wait_once(h, mode, timeout && !poll ? &deadline : NULL, poll)) == STATUS_KERNEL_APC)
        ;
    /* Woken for good (signaled, timed out, or the process is ending, a
     * user-mode wait's end): APCs queued meanwhile run before the caller
     * goes on. An I/O completion for this thread is among them when its
     * process is being torn down. */
    KiCheckForApcDelivery();
    return status;
}

NTSTATUS KeWaitForSingleObject(PVOID object, KWAIT_REASON reason, KPROCESSOR_MODE mode, BOOLEAN alertable,
                               PLARGE_INTEGER timeout)
{
    UNREFERENCED_PARAMETER(reason);
    UNREFERENCED_PARAMETER(alertable);
    check_wait_irql(object, timeout);
    return wait_loop(object, mode, timeout);
}

NTSTATUS KeDelayExecutionThread(KPROCESSOR_MODE mode, BOOLEAN alertable, PLARGE_INTEGER interval)
{
    UNREFERENCED_PARAMETER(alertable);
    check_wait_irql(NULL, interval);
    if (interval->QuadPart == 0) {
        KiCheckForApcDelivery();
        KeYieldExecution();
        return STATUS_SUCCESS;
    }
    NTSTATUS status = wait_loop(NULL, mode, interval);
    return status == STATUS_TIMEOUT ? STATUS_SUCCESS : status;
}

/* ---- events ---- */
void KeInitializeEvent(PRKEVENT e, EVENT_TYPE type, BOOLEAN state)
{
    init_header(&e->Header, KeEventObject, state ? 1 : 0);
    e->EventType = (UCHAR)type;
}

LONG KeSetEvent(PRKEVENT e, KPRIORITY increment, BOOLEAN wait)
{
    UNREFERENCED_PARAMETER(increment);
    UNREFERENCED_PARAMETER(wait);
    KIRQL old = KiAcquireDispatcherLock();
    LONG was = e->Header.SignalState;
    e->Header.SignalState = 1;
    KiWaitTest(&e->Header);
    KiReleaseDispatcherLock(old);
    return was;
}

LONG KeResetEvent(PRKEVENT e)
{
    KIRQL old = KiAcquireDispatcherLock();
    LONG was = e->Header.SignalState;
    e->Header.SignalState = 0;
    KiReleaseDispatcherLock(old);
    return was;
}

void KeClearEvent(PRKEVENT e) { e->Header.SignalState = 0; }
LONG KeReadStateEvent(PRKEVENT e) { return e->Header.SignalState; }

/* ---- semaphores ---- */
void KeInitializeSemaphore(PRKSEMAPHORE s, LONG count, LONG limit)
{
    init_header(&s->Header, KeSemaphoreObject, count);
    s->Limit = limit;
}

LONG KeReleaseSemaphore(PRKSEMAPHORE s, KPRIORITY increment, LONG adjustment, BOOLEAN wait)
{
    UNREFERENCED_PARAMETER(increment);
    UNREFERENCED_PARAMETER(wait);
    KIRQL old = KiAcquireDispatcherLock();
    LONG was = s->Header.SignalState;
    if (adjustment <= 0 || was + adjustment > s->Limit) {
        KiReleaseDispatcherLock(old);
        ExRaiseStatus(STATUS_SEMAPHORE_LIMIT_EXCEEDED);   /* as NT does */
    }
    s->Header.SignalState += adjustment;
    KiWaitTest(&s->Header);
    KiReleaseDispatcherLock(old);
    return was;
}

/* ---- mutexes ---- */
void KeInitializeMutex(PRKMUTEX m, ULONG level)
{
    UNREFERENCED_PARAMETER(level);
    init_header(&m->Header, KeMutexObject, 1);
    m->OwnerThread = NULL;
}

LONG KeReleaseMutex(PRKMUTEX m, BOOLEAN wait)
{
    UNREFERENCED_PARAMETER(wait);
    KIRQL old = KiAcquireDispatcherLock();
    if (m->OwnerThread != KeGetCurrentThread())
        KeBugCheckRule(THREAD_NOT_MUTEX_OWNER, (ULONG_PTR)m, (ULONG_PTR)m->OwnerThread, 0, 0,
                       "mutex %p was released by a thread that does not own it", m);
    LONG was = m->Header.SignalState;
    PKTHREAD t = KeGetCurrentThread();
    if (t)
        t->MutexCount--;
    if (++m->Header.SignalState == 1) {
        m->OwnerThread = NULL;   /* the last recursive acquisition released */
        KiWaitTest(&m->Header);
    }
    KiReleaseDispatcherLock(old);
    if (t && t->MutexCount == 0)
        KiCheckForApcDelivery();   /* its last mutex: APCs held off meanwhile run now */
    return was;
}
