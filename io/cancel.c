/*
 * Cancel, and the requesting thread's list of outstanding IRPs.
 *
 * A driver that holds an IRP for a while (queued, waiting for hardware)
 * sets a cancel routine; IoCancelIrp calls it. The race every driver
 * writer must get right: the driver dequeues the IRP to complete it at
 * the moment someone cancels it. Both sides settle it with one atomic
 * exchange on Irp->CancelRoutine (IoSetCancelRoutine): whoever gets the
 * non-NULL routine back owns the IRP. The cancel spin lock, held while a
 * cancel routine is called, lets a driver that keeps its own queue
 * under that lock see a consistent Cancel flag.
 *
 * Every IRP a system service sends is on its thread's IrpList until
 * stage 2 of completion takes it off. NtCancelIoFile and process exit
 * walk that list. The thread itself changes its list (its services and
 * its completion APCs run in it), and so does completion in a DPC for a
 * file with a completion port (the IRP leaves the list when it becomes the
 * port's packet, io/completion.c) or an I/O ring (the IRP is finished and
 * freed there, io/ioring.c); the lock below guards against those and
 * against completion reading Tail.Overlay.Thread while the exiting
 * thread disassociates a request that never finished. So a walk that
 * cancels an IRP from the list starts the cancel under that lock.
 */
#include "io/iop.h"

static KSPIN_LOCK cancel_lock;
static KSPIN_LOCK thread_irp_lock;

void IoAcquireCancelSpinLock(PKIRQL irql)
{
    KeAcquireSpinLock(&cancel_lock, irql);
}

void IoReleaseCancelSpinLock(KIRQL irql)
{
    KeReleaseSpinLock(&cancel_lock, irql);
}

PDRIVER_CANCEL IoSetCancelRoutine(PIRP irp, PDRIVER_CANCEL routine)
{
    return __atomic_exchange_n(&irp->CancelRoutine, routine, __ATOMIC_ACQ_REL);
}

/* The cancel of IRP, the cancel spin lock held (taken at IRQL): its routine
 * taken back, called, and the lock released. */
static BOOLEAN cancel_locked(PIRP irp, KIRQL irql, PDRIVER_CANCEL routine)
{
    if (!routine) {
        /* Not cancelable now: not yet queued (the driver checks
         * Irp->Cancel when it queues it) or already being completed. */
        IoReleaseCancelSpinLock(irql);
        return FALSE;
    }
    if (irp->CurrentLocation > irp->StackCount)
        KeBugCheckRule(CANCEL_STATE_IN_COMPLETED_IRP, (ULONG_PTR)irp, (ULONG_PTR)routine, 0, 0,
                       "IRP %p has a cancel routine (%p) but no driver holds it: a completed IRP must not "
                       "keep a cancel routine", irp, routine);
    irp->CancelIrql = irql;
    /* The routine releases the cancel spin lock (with Irp->CancelIrql). */
    routine(irp->Tail.Overlay.CurrentStackLocation->DeviceObject, irp);
    return TRUE;
}

BOOLEAN IoCancelIrp(PIRP irp)
{
    KIRQL irql;
    IoAcquireCancelSpinLock(&irql);
    irp->Cancel = TRUE;
    return cancel_locked(irp, irql, IoSetCancelRoutine(irp, NULL));
}

void IopQueueThreadIrp(PIRP irp)
{
    PKTHREAD t = KeGetCurrentThread();
    irp->Tail.Overlay.Thread = t;
    KIRQL old;
    KeAcquireSpinLock(&thread_irp_lock, &old);
    InsertTailList(&t->IrpList, &irp->ThreadListEntry);
    KeReleaseSpinLock(&thread_irp_lock, old);
}

void IopDequeueThreadIrp(PIRP irp)
{
    KIRQL old;
    KeAcquireSpinLock(&thread_irp_lock, &old);
    if (!IsListEmpty(&irp->ThreadListEntry)) {
        RemoveEntryList(&irp->ThreadListEntry);
        InitializeListHead(&irp->ThreadListEntry);
    }
    KeReleaseSpinLock(&thread_irp_lock, old);
}

PKTHREAD IopIrpThread(PIRP irp)
{
    KIRQL old;
    KeAcquireSpinLock(&thread_irp_lock, &old);
    PKTHREAD t = irp->Tail.Overlay.Thread;
    KeReleaseSpinLock(&thread_irp_lock, old);
    return t;
}

/* Which of a thread's IRPs a cancel is for: those of FILE, or those that
 * complete to RING (an I/O ring's requests span files), or all of them
 * when both are NULL. */
static BOOLEAN matches(PIRP irp, PFILE_OBJECT file, PVOID ring)
{
    if (ring)
        return IopIrpRing(irp) == ring;
    return !file || irp->Tail.Overlay.OriginalFileObject == file;
}

/* Cancel this thread's IRPs that match FILE or RING (see matches). */
static ULONG cancel_matching(PKTHREAD t, PFILE_OBJECT file, PVOID ring)
{
    ULONG n = 0;
    /* IoCancelIrp calls driver code, which may complete the IRP - and
     * stage 2 takes it off this list - so restart the walk after each. A
     * cancelled IRP stays on the list until it finishes; Cancel marks it
     * so it is not cancelled twice. The walk is bounded by the list. */
    for (;;) {
        PIRP victim = NULL;
        KIRQL old;
        KeAcquireSpinLock(&thread_irp_lock, &old);
        for (PLIST_ENTRY e = t->IrpList.Flink; e != &t->IrpList; e = e->Flink) {
            PIRP irp = CONTAINING_RECORD(e, IRP, ThreadListEntry);
            if (!irp->Cancel && matches(irp, file, ring)) {
                victim = irp;
                break;
            }
        }
        if (!victim) {
            KeReleaseSpinLock(&thread_irp_lock, old);
            return n;
        }
        /* The cancel starts while the IRP is still on the list, so still
         * there: an IRP that completes to an I/O ring (or a port) is
         * finished and freed in the driver's DPC, which may run the moment
         * this lock goes. Once the routine is taken back the IRP is the
         * cancel's (the driver cannot complete it without the routine);
         * without a routine it is not touched again. */
        KeAcquireSpinLockAtDpcLevel(&cancel_lock);
        victim->Cancel = TRUE;
        PDRIVER_CANCEL routine = IoSetCancelRoutine(victim, NULL);
        KeReleaseSpinLockFromDpcLevel(&thread_irp_lock);
        cancel_locked(victim, old, routine);
        n++;
    }
}

static BOOLEAN any_left(PKTHREAD t, PFILE_OBJECT file, PVOID ring)
{
    BOOLEAN left = FALSE;
    KIRQL old;
    KeAcquireSpinLock(&thread_irp_lock, &old);
    for (PLIST_ENTRY e = t->IrpList.Flink; e != &t->IrpList && !left; e = e->Flink)
        left = matches(CONTAINING_RECORD(e, IRP, ThreadListEntry), file, ring);
    KeReleaseSpinLock(&thread_irp_lock, old);
    return left;
}

/* How long the I/O manager waits for cancelled requests to finish. NT
 * waits five minutes at process exit, then gives up on the driver; a
 * teaching kernel's tests cannot, so five seconds unless the boot says
 * otherwise (io.cancel_wait_ms=; the test boots make it short), and never
 * more than NT's five minutes. */
#define IOP_CANCEL_WAIT_DEFAULT_MS 5000
#define IOP_CANCEL_WAIT_MOST_MS (5 * 60 * 1000)
#define IOP_CANCEL_POLL_MS 10

ULONG IopCancelWaitMs = IOP_CANCEL_WAIT_DEFAULT_MS;
ULONG64 IopIrpsDisassociated;

void IopInitializeCancel(void)
{
    const char *opt = KeGetOption("io.cancel_wait_ms");
    ULONG64 ms;
    if (!opt || !RtlParseUlong64(opt, &ms))
        return;   /* checked as a number at boot */
    if (ms > IOP_CANCEL_WAIT_MOST_MS) {
        kprintf("cmdline: io.cancel_wait_ms=%llu is more than NT's %u: %u used\n", (unsigned long long)ms,
                IOP_CANCEL_WAIT_MOST_MS, IOP_CANCEL_WAIT_MOST_MS);
        ms = IOP_CANCEL_WAIT_MOST_MS;
    }
    IopCancelWaitMs = (ULONG)ms;
}

/* Cancel and wait, delivering the completion APCs (each short wait lets
 * them run: APCs interrupt waits). TRUE when all finished. The limit is
 * interrupt time, not a count of polls: a 10 ms delay lasts until the
 * clock's next tick after 10 ms, so counting polls waited far longer than
 * the limit said (500 "10 ms" polls took 8.8 s). */
static BOOLEAN cancel_and_wait(PKTHREAD t, PFILE_OBJECT file, PVOID ring)
{
    cancel_matching(t, file, ring);
    const ULONG64 poll = (ULONG64)KI_MS(IOP_CANCEL_POLL_MS);
    ULONG64 deadline = KeQueryInterruptTime() + (ULONG64)KI_MS(IopCancelWaitMs);
    for (;;) {
        if (!any_left(t, file, ring))
            return TRUE;
        ULONG64 now = KeQueryInterruptTime();
        if (now >= deadline)
            return FALSE;
        LARGE_INTEGER d = { -(LONGLONG)(deadline - now < poll ? deadline - now : poll) };
        KeDelayExecutionThread(KernelMode, FALSE, &d);
    }
}

NTSTATUS IopCancelFileIo(PFILE_OBJECT file)
{
    return cancel_and_wait(KeGetCurrentThread(), file, NULL) ? STATUS_SUCCESS : STATUS_IO_TIMEOUT;
}

BOOLEAN IopCancelRingIo(PVOID ring)
{
    return cancel_and_wait(KeGetCurrentThread(), NULL, ring);
}

void IoCancelThreadIo(PKTHREAD t)
{
    ASSERT(t == KeGetCurrentThread());
    if (cancel_and_wait(t, NULL, NULL))
        return;
    /* A driver that does not complete a cancelled IRP: NT logs it and
     * disassociates the IRP from the thread, so the thread can go. The
     * IRP then completes (if ever) without touching the dead requester's
     * memory. If it still holds the process's pages locked, the process
     * teardown stops the system: PROCESS_HAS_LOCKED_PAGES, as on NT. */
    KIRQL old;
    KeAcquireSpinLock(&thread_irp_lock, &old);
    for (PLIST_ENTRY e = t->IrpList.Flink; e != &t->IrpList;) {
        PIRP irp = CONTAINING_RECORD(e, IRP, ThreadListEntry);
        e = e->Flink;
        /* Only an IRP a driver still holds. One whose completion has
         * walked to the top is about to get (or has) its APC, which
         * overlays Tail.Overlay.Thread: leave it, the APC comes to this
         * thread (a later wait delivers it, thread exit runs it down).
         * Completion reads Thread under this lock after its walk, so a
         * walk that finishes after this sees NULL and finishes without
         * the requester. */
        if (irp->CurrentLocation > irp->StackCount)
            continue;
        RemoveEntryList(&irp->ThreadListEntry);
        InitializeListHead(&irp->ThreadListEntry);
        irp->Tail.Overlay.Thread = NULL;
        PIO_STACK_LOCATION sl = irp->Tail.Overlay.CurrentStackLocation;
        IopIrpsDisassociated++;   /* under thread_irp_lock */
        kprintf("[io] IRP %p was cancelled %u ms ago and its driver (%s) has not completed it: disassociated "
                "from thread %llu\n", irp, IopCancelWaitMs,
                sl->DeviceObject ? sl->DeviceObject->DriverObject->DriverName.Buffer : "?",
                (unsigned long long)t->Id);
    }
    KeReleaseSpinLock(&thread_irp_lock, old);
}
