/*
 * The filter's reads: pended in dispatch, served from a worker thread.
 *
 * Dispatch runs in the caller's context - the only place where the
 * caller's buffer address means anything. So everything that needs that
 * context is done here, before the IRP is queued:
 *   - the buffer must be locked. Direct I/O (the disk's method, which the
 *     filter copied) already gives Irp->MdlAddress, locked by the I/O
 *     manager. A read built in the kernel with only Irp->UserBuffer - or
 *     a neither-style request - is locked here: IoAllocateMdl +
 *     MmProbeAndLockPages(RequestorMode, IoWriteAccess: the disk will
 *     write the pages), inside ExTry since the probe raises on a bad
 *     buffer. Once locked, the pages stay put and the worker (another
 *     thread, in the system process) can reach them through the MDL.
 *   - IoMarkIrpPending before the IRP is visible to anyone else: once it
 *     is queued the worker, or a cancel, may complete it at once.
 * Then it goes on the queue with a cancel routine (the race between a
 * cancel and the worker's dequeue is settled as in drivers/iotest: the
 * atomic IoSetCancelRoutine exchange), and dispatch returns STATUS_PENDING.
 *
 * The worker forwards it down from its own context: copy the stack
 * location for the disk, set a completion routine, IoCallDriver. The
 * completion routine undoes an MDL the filter built (the I/O manager
 * frees only what it made, and the filter's must be gone before the IRP
 * returns to its creator), propagates pending, and counts.
 */
#include "drivers/filter/filter.h"

/* While the filter owns the IRP (queued), its MDL, if it built one, is in
 * DriverContext[0]. Once the IRP is sent down the disk may use
 * DriverContext, so the MDL travels in the completion routine's context. */
#define BUILT_MDL(irp) ((irp)->Tail.Overlay.DriverContext[0])

static void undo_mdl(FLT_EXTENSION *x, PIRP irp, PMDL built)
{
    if (!built)
        return;
    MmUnlockPages(built);   /* also unmaps it, if the disk mapped it */
    IoFreeMdl(built);
    irp->MdlAddress = NULL;
    FltCount(x->Stats.MdlsFreed);
}

static void complete_cancelled(FLT_EXTENSION *x, PIRP irp)
{
    undo_mdl(x, irp, BUILT_MDL(irp));
    FltCount(x->Stats.ReadsCancelled);
    irp->IoStatus.Status = STATUS_CANCELLED;
    irp->IoStatus.Information = 0;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    FltLeave(x);
}

static void cancel_queued(PDEVICE_OBJECT dev, PIRP irp)
{
    FLT_EXTENSION *x = dev->DeviceExtension;
    IoReleaseCancelSpinLock(irp->CancelIrql);
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    RemoveEntryList(&irp->Tail.Overlay.ListEntry);
    x->Stats.Queued--;
    KeReleaseSpinLock(&x->Lock, old);
    complete_cancelled(x, irp);
}

/* MmProbeAndLockPages raises on a bad buffer: its status, or success. */
static NTSTATUS lock_pages(PMDL mdl, KPROCESSOR_MODE mode)
{
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        MmProbeAndLockPages(mdl, mode, IoWriteAccess);
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    return s;
}

NTSTATUS FltRead(PDEVICE_OBJECT dev, PIRP irp)
{
    FLT_EXTENSION *x = dev->DeviceExtension;
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    ULONG length = sl->Parameters.Read.Length;
    PMDL built = NULL;

    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    BOOLEAN unloading = x->Unloading;
    if (!unloading)
        FltEnter(x);   /* under the lock, so unload cannot miss it */
    KeReleaseSpinLock(&x->Lock, old);
    if (unloading)
        return FltPassThrough(dev, irp);   /* going away: no more queueing */

    if (length && !irp->MdlAddress) {
        NTSTATUS s = STATUS_SUCCESS;
        if (!irp->UserBuffer)
            s = STATUS_INVALID_PARAMETER;
        else if (!(built = IoAllocateMdl(irp->UserBuffer, length, FALSE, FALSE, NULL)))
            s = STATUS_INSUFFICIENT_RESOURCES;
        if (built) {
            NTSTATUS probe = lock_pages(built, irp->RequestorMode);
            if (!NT_SUCCESS(probe)) {
                IoFreeMdl(built);
                built = NULL;
                s = probe;
            }
        }
        if (!NT_SUCCESS(s)) {
            irp->IoStatus.Status = s;
            irp->IoStatus.Information = 0;
            IoCompleteRequest(irp, IO_NO_INCREMENT);
            FltLeave(x);
            return s;
        }
        irp->MdlAddress = built;
        FltCount(x->Stats.MdlsBuilt);
    }
    BUILT_MDL(irp) = built;
    x->Stats.LastDispatchThread = (uint64_t)(ULONG_PTR)KeGetCurrentThread();

    IoMarkIrpPending(irp);
    KeAcquireSpinLock(&x->Lock, &old);
    InsertTailList(&x->Queue, &irp->Tail.Overlay.ListEntry);
    x->Stats.Queued++;
    x->Stats.ReadsPended++;
    IoSetCancelRoutine(irp, cancel_queued);
    if (irp->Cancel && IoSetCancelRoutine(irp, NULL)) {
        /* Cancelled before it could be: the filter completes it. */
        RemoveEntryList(&irp->Tail.Overlay.ListEntry);
        x->Stats.Queued--;
        KeReleaseSpinLock(&x->Lock, old);
        complete_cancelled(x, irp);
        return STATUS_PENDING;
    }
    KeReleaseSpinLock(&x->Lock, old);
    KeSetEvent(&x->Work, 0, FALSE);
    return STATUS_PENDING;
}

/* The first queued read the filter can claim, NULL if none. One whose
 * cancel routine is already running is left to it. */
static PIRP dequeue(FLT_EXTENSION *x)
{
    PIRP claimed = NULL;
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    for (PLIST_ENTRY e = x->Queue.Flink; e != &x->Queue; e = e->Flink) {
        PIRP irp = CONTAINING_RECORD(e, IRP, Tail.Overlay.ListEntry);
        if (IoSetCancelRoutine(irp, NULL)) {
            RemoveEntryList(e);
            x->Stats.Queued--;
            claimed = irp;
            break;
        }
    }
    KeReleaseSpinLock(&x->Lock, old);
    return claimed;
}

void FltCancelQueued(FLT_EXTENSION *x)
{
    PIRP irp;
    while ((irp = dequeue(x)))
        complete_cancelled(x, irp);
}

static NTSTATUS read_done(PDEVICE_OBJECT dev, PIRP irp, PVOID context)
{
    FLT_EXTENSION *x = dev->DeviceExtension;
    undo_mdl(x, irp, context);
    /* The rule for every completion routine that does not stop completion:
     * the disk may have returned STATUS_PENDING to the worker; the filter's
     * own location must carry that up (here it is set already - the filter
     * always pends - but a filter must not depend on that). */
    if (irp->PendingReturned)
        IoMarkIrpPending(irp);
    PKTHREAD t = KeGetCurrentThread();
    x->Stats.LastCompletionThread = (uint64_t)(ULONG_PTR)t;
    if ((uint64_t)(ULONG_PTR)t == x->Stats.WorkerThread)
        FltCount(x->Stats.CompletedInWorker);
    FltCount(x->Stats.ReadsCompleted);
    FltLeave(x);
    return STATUS_SUCCESS;   /* go on up: NT's STATUS_CONTINUE_COMPLETION */
}

static void forward(FLT_EXTENSION *x, PIRP irp)
{
    PMDL built = BUILT_MDL(irp);
    IoCopyCurrentIrpStackLocationToNext(irp);
    IoSetCompletionRoutine(irp, read_done, built, TRUE, TRUE, TRUE);
    FltCount(x->Stats.ReadsForwarded);
    /* The status is the disk's business now: the IRP completes up through
     * read_done whatever it is. */
    (void)IoCallDriver(x->Lower, irp);
}

void FltWorker(PVOID context)
{
    FLT_EXTENSION *x = context;
    for (;;) {
        KeWaitForSingleObject(&x->Work, Executive, KernelMode, FALSE, NULL);
        PIRP irp;
        while ((irp = dequeue(x)))
            forward(x, irp);
        if (x->Stop)
            return;
    }
}
