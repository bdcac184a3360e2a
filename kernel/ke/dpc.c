/*
 * Deferred procedure calls. An interrupt service routine runs at device
 * IRQL and must be short; it queues a DPC for the rest of the work, which
 * runs at DISPATCH_LEVEL as soon as the CPU's IRQL drops below it - after
 * every ISR has finished, before any thread runs again.
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/x86.h"

void KeInitializeDpc(PRKDPC dpc, PKDEFERRED_ROUTINE routine, PVOID context)
{
    memset(dpc, 0, sizeof(*dpc));
    dpc->DeferredRoutine = routine;
    dpc->DeferredContext = context;
}

/* The DPC queue is shared with ISRs, so it is touched with interrupts off
 * (and its spin lock, for the other CPUs). */
static ULONG64 lock_queue(PKPRCB prcb)
{
    ULONG64 flags = read_rflags();
    cli();
    KeAcquireSpinLockAtDpcLevel(&prcb->DpcLock);
    return flags;
}

static void unlock_queue(PKPRCB prcb, ULONG64 flags)
{
    KeReleaseSpinLockFromDpcLevel(&prcb->DpcLock);
    if (flags & (1 << 9))
        sti();
}

BOOLEAN KeInsertQueueDpc(PRKDPC dpc, PVOID a1, PVOID a2)
{
    PKPRCB prcb = KeGetCurrentPrcb();
    ULONG64 flags = lock_queue(prcb);
    BOOLEAN queued = !dpc->Inserted;
    if (queued) {
        dpc->SystemArgument1 = a1;
        dpc->SystemArgument2 = a2;
        dpc->Inserted = TRUE;
        InsertTailList(&prcb->DpcListHead, &dpc->DpcListEntry);
        prcb->DpcQueueDepth++;
    }
    unlock_queue(prcb, flags);
    /* Below DISPATCH_LEVEL the "dispatch interrupt" is taken at once. */
    if (queued && KeGetCurrentIrql() < DISPATCH_LEVEL) {
        KIRQL old;
        KeRaiseIrql(DISPATCH_LEVEL, &old);
        KeLowerIrql(old);
    }
    return queued;
}

BOOLEAN KeRemoveQueueDpc(PRKDPC dpc)
{
    PKPRCB prcb = KeGetCurrentPrcb();
    ULONG64 flags = lock_queue(prcb);
    BOOLEAN was = dpc->Inserted;
    if (was) {
        RemoveEntryList(&dpc->DpcListEntry);
        dpc->Inserted = FALSE;
        prcb->DpcQueueDepth--;
    }
    unlock_queue(prcb, flags);
    return was;
}

/* At DISPATCH_LEVEL: run every queued DPC, oldest first. */
void KiRetireDpcList(PKPRCB prcb)
{
    for (;;) {
        ULONG64 flags = lock_queue(prcb);
        if (IsListEmpty(&prcb->DpcListHead)) {
            unlock_queue(prcb, flags);
            return;
        }
        PKDPC dpc = CONTAINING_RECORD(RemoveHeadList(&prcb->DpcListHead), KDPC, DpcListEntry);
        PVOID a1 = dpc->SystemArgument1, a2 = dpc->SystemArgument2;
        dpc->Inserted = FALSE;   /* it may queue itself again */
        prcb->DpcQueueDepth--;
        prcb->DpcCount++;
        unlock_queue(prcb, flags);
        prcb->DpcRoutineActive = TRUE;
        dpc->DeferredRoutine(dpc, dpc->DeferredContext, a1, a2);
        prcb->DpcRoutineActive = FALSE;
        ASSERT(KeGetCurrentIrql() == DISPATCH_LEVEL);
    }
}

/* NT's KeIsExecutingDpc: is this a DPC's routine (and not the thread it
 * happened to interrupt)? A DPC runs on whatever thread's stack was there;
 * what that thread has set up for itself (io/plug.c's plug) is not the
 * DPC's. DPCs do not nest on one processor, so one flag is enough. */
BOOLEAN KeIsExecutingDpc(void)
{
    return KeGetCurrentPrcb()->DpcRoutineActive;
}
