/*
 * Pend mode: requests that return STATUS_PENDING and complete later, the
 * two ways a real driver's do.
 *
 * IOT_PEND_TIMER: as if a device interrupted after DelayMs - a timer's
 * DPC completes the IRP, at DISPATCH_LEVEL, in whatever thread happened
 * to be running. The I/O manager's stage 2 (status block, event,
 * buffered copy-back) then goes to the requester as an APC. The delay is
 * bounded, so these IRPs are not made cancelable (NT asks that of IRPs a
 * driver may hold for an unbounded time); unload waits for them.
 *
 * IOT_PEND_HOLD: held in a queue until IOCTL_IOTEST_RELEASE, a cancel,
 * or the file's IRP_MJ_CLEANUP. A held IRP must be cancelable, and the
 * queue must survive the race between a cancel and the driver taking the
 * IRP off the queue to complete it. The pattern (the one NT's
 * documentation gives for driver-managed queues):
 *   - queue: under the queue lock, insert the IRP, set the cancel
 *     routine, then look at Irp->Cancel. If it is set, the IRP was
 *     cancelled before the routine was in place (IoCancelIrp found none
 *     to call) - or IoCancelIrp is calling it right now. Clearing the
 *     routine settles which: a non-NULL result means no one else will
 *     complete it, so the driver does, with STATUS_CANCELLED; NULL means
 *     the cancel routine has it, and it will take the IRP off the queue.
 *   - dequeue: under the queue lock, IoSetCancelRoutine(Irp, NULL). NULL
 *     back: the cancel routine is running or about to (it waits for the
 *     queue lock); leave the IRP to it. Non-NULL: the driver owns the IRP.
 *   - the cancel routine: drop the cancel spin lock, take the queue lock,
 *     unlink the IRP, complete it STATUS_CANCELLED.
 * Whoever gets the cancel routine back from the atomic exchange completes
 * the IRP; the other side never touches it again.
 */
#include "drivers/iotest/iotest.h"

typedef struct {
    KTIMER Timer;
    KDPC Dpc;
    PIRP Irp;
    IOT_EXTENSION *Ext;
} IOT_TIMER;

static IOT_MODE *mode_of(PDEVICE_OBJECT dev, PFILE_OBJECT fo)
{
    IOT_EXTENSION *x = dev->DeviceExtension;
    if (fo && fo->FsContext)
        return &((IOT_FILE *)fo->FsContext)->Pend;
    return &x->DevicePend;
}

NTSTATUS IotSetPend(PDEVICE_OBJECT dev, PIRP irp)
{
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    IOT_PEND p;
    if (sl->Parameters.DeviceIoControl.InputBufferLength < sizeof(p))
        return IotComplete(irp, STATUS_INVALID_PARAMETER, 0);
    memcpy(&p, irp->AssociatedIrp.SystemBuffer, sizeof(p));
    if (p.Mode > IOT_PEND_HOLD || p.DelayMs > IOT_PEND_MAX_DELAY_MS)
        return IotComplete(irp, STATUS_INVALID_PARAMETER, 0);
    IOT_MODE *m = mode_of(dev, sl->FileObject);
    m->Mode = p.Mode;
    m->DelayMs = p.DelayMs;
    return IotComplete(irp, STATUS_SUCCESS, 0);
}

static void timer_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(dpc), UNREFERENCED_PARAMETER(a1), UNREFERENCED_PARAMETER(a2);
    IOT_TIMER *t = ctx;
    IOT_EXTENSION *x = t->Ext;
    PIRP irp = t->Irp;
    x->Stats.LastTimerIrql = KeGetCurrentIrql();
    IotCount(x->Stats.CompletedFromTimer, 1);
    /* The result was stored in IoStatus at dispatch. */
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    ExFreePoolWithTag(t, IOT_TAG_TIMER);
    /* Last: unload waits for this to reach 0 before freeing the device. */
    __atomic_sub_fetch(&x->Stats.TimersOutstanding, 1, __ATOMIC_RELEASE);
}

static void cancel_held(PDEVICE_OBJECT dev, PIRP irp)
{
    IOT_EXTENSION *x = dev->DeviceExtension;
    /* Called with the cancel spin lock held: let it go first - nothing
     * here needs it, and completing under it would hold every cancel in
     * the system up. */
    IoReleaseCancelSpinLock(irp->CancelIrql);
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    RemoveEntryList(&irp->Tail.Overlay.ListEntry);
    x->Stats.Held--;
    x->Stats.Cancelled++;
    KeReleaseSpinLock(&x->Lock, old);
    IotComplete(irp, STATUS_CANCELLED, 0);
}

static NTSTATUS hold(PDEVICE_OBJECT dev, PIRP irp)
{
    IOT_EXTENSION *x = dev->DeviceExtension;
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    InsertTailList(&x->Held, &irp->Tail.Overlay.ListEntry);
    x->Stats.Held++;
    x->Stats.Pended++;
    IoSetCancelRoutine(irp, cancel_held);
    if (irp->Cancel && IoSetCancelRoutine(irp, NULL)) {
        /* Cancelled before it was cancelable: ours to complete. */
        RemoveEntryList(&irp->Tail.Overlay.ListEntry);
        x->Stats.Held--;
        x->Stats.Cancelled++;
        KeReleaseSpinLock(&x->Lock, old);
        IotComplete(irp, STATUS_CANCELLED, 0);
        return STATUS_PENDING;   /* it was marked pending: that is what dispatch returns */
    }
    KeReleaseSpinLock(&x->Lock, old);
    return STATUS_PENDING;
}

NTSTATUS IotFinish(PDEVICE_OBJECT dev, PIRP irp, NTSTATUS status, ULONG_PTR info)
{
    IOT_EXTENSION *x = dev->DeviceExtension;
    IOT_MODE m = *mode_of(dev, IoGetCurrentIrpStackLocation(irp)->FileObject);
    if (m.Mode == IOT_PEND_NONE)
        return IotComplete(irp, status, info);
    irp->IoStatus.Status = status;
    irp->IoStatus.Information = info;
    /* Marked pending before anyone else can complete it: once the DPC or
     * a cancel may run, the IRP is no longer this routine's to touch. */
    IoMarkIrpPending(irp);
    if (m.Mode == IOT_PEND_HOLD)
        return hold(dev, irp);
    IOT_TIMER *t = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*t), IOT_TAG_TIMER);
    if (!t) {
        /* Cannot pend it: complete now; pending was promised, so the
         * dispatch still returns STATUS_PENDING (allowed: the IRP is
         * marked pending and completed). */
        IoCompleteRequest(irp, IO_NO_INCREMENT);
        return STATUS_PENDING;
    }
    t->Irp = irp;
    t->Ext = x;
    KeInitializeTimer(&t->Timer);
    KeInitializeDpc(&t->Dpc, timer_dpc, t);
    IotCount(x->Stats.TimersOutstanding, 1);
    IotCount(x->Stats.Pended, 1);
    LARGE_INTEGER due = { -KI_MS(m.DelayMs) };
    KeSetTimer(&t->Timer, due, &t->Dpc);
    return STATUS_PENDING;
}

ULONG IotReleaseHeld(PDEVICE_OBJECT dev, PFILE_OBJECT fo, BOOLEAN all, BOOLEAN cancel)
{
    IOT_EXTENSION *x = dev->DeviceExtension;
    LIST_ENTRY mine;
    InitializeListHead(&mine);
    ULONG n = 0;
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    for (PLIST_ENTRY e = x->Held.Flink, next; e != &x->Held; e = next) {
        next = e->Flink;
        PIRP irp = CONTAINING_RECORD(e, IRP, Tail.Overlay.ListEntry);
        if (!all && IoGetCurrentIrpStackLocation(irp)->FileObject != fo)
            continue;
        if (!IoSetCancelRoutine(irp, NULL))
            continue;   /* being cancelled: its cancel routine unlinks and completes it */
        RemoveEntryList(e);
        InsertTailList(&mine, e);
        x->Stats.Held--;
        if (cancel)
            x->Stats.CleanedUp++;
        else
            x->Stats.Released++;
        n++;
    }
    KeReleaseSpinLock(&x->Lock, old);
    /* Completed outside the lock: completion runs other drivers' routines. */
    while (!IsListEmpty(&mine)) {
        PIRP irp = CONTAINING_RECORD(RemoveHeadList(&mine), IRP, Tail.Overlay.ListEntry);
        if (cancel)
            IotComplete(irp, STATUS_CANCELLED, 0);
        else
            IoCompleteRequest(irp, IO_NO_INCREMENT);
    }
    return n;
}

void IotDrainTimers(IOT_EXTENSION *x)
{
    /* Bounded: a timer is at most IOT_PEND_MAX_DELAY_MS away. */
    for (ULONG ms = 0; __atomic_load_n(&x->Stats.TimersOutstanding, __ATOMIC_ACQUIRE) &&
                       ms < 2 * IOT_PEND_MAX_DELAY_MS + 1000; ms += 10) {
        LARGE_INTEGER d = { -KI_MS(10) };
        KeDelayExecutionThread(KernelMode, FALSE, &d);
    }
}
