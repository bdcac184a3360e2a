/*
 * IRP semantics on a real three-device stack, with NT's rules as the
 * oracle: completion routines run bottom-up, each with its caller's
 * location current; STATUS_MORE_PROCESSING_REQUIRED stops completion and
 * gives the IRP back; SL_PENDING_RETURNED travels up; completion from a
 * DPC and from another thread; cancel before dispatch, while pended and
 * racing completion; IoReuseIrp; associated IRPs; IoSetCompletionRoutineEx;
 * IoBuildSynchronousFsdRequest finishing through the completion APC.
 *
 * The stack: bottom <- mid <- top, all of one test driver. mid and top
 * forward with a completion routine that records itself; bottom does
 * what the test asks (complete at once, pend and complete later from a
 * thread or a DPC, hold with a cancel routine).
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "io/tests/mdl_test_util.h"

typedef enum { B_COMPLETE, B_COMPLETE_ERROR, B_PEND_THREAD, B_PEND_DPC, B_HOLD } BOTTOM_MODE;

typedef struct {
    int Level;                     /* 0 bottom, 1 mid, 2 top */
    PDEVICE_OBJECT Lower;
    BOOLEAN Skip;                  /* pass down with IoSkipCurrentIrpStackLocation (no routine) */
    BOOLEAN MoreProcessing;        /* mid: the synchronous-forward idiom */
} EXT;

#define MAX_SEEN 8
static struct {
    int n;
    struct { int level; PDEVICE_OBJECT dev; BOOLEAN pending; CHAR location; NTSTATUS status; } seen[MAX_SEEN];
} rec;

static BOTTOM_MODE mode;
static PDEVICE_OBJECT dev_bottom, dev_mid, dev_top;
static PDRIVER_OBJECT drv;
static PIRP held;                  /* bottom's held IRP (B_HOLD) */
static KEVENT creator_done;
static KDPC pend_dpc;
static KTIMER pend_timer;

static void note(int level, PDEVICE_OBJECT dev, PIRP irp)
{
    if (rec.n < MAX_SEEN) {
        rec.seen[rec.n].level = level;
        rec.seen[rec.n].dev = dev;
        rec.seen[rec.n].pending = irp->PendingReturned;
        rec.seen[rec.n].location = irp->CurrentLocation;
        rec.seen[rec.n].status = irp->IoStatus.Status;
    }
    rec.n++;
}

static NTSTATUS filter_done(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
    note((int)(ULONG_PTR)ctx, dev, irp);
    if (irp->PendingReturned)
        IoMarkIrpPending(irp);
    return STATUS_CONTINUE_COMPLETION;
}

static NTSTATUS sync_forward_done(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
    note(1, dev, irp);
    KeSetEvent(ctx, 0, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static void complete_later(PVOID ctx)
{
    PIRP irp = ctx;
    LARGE_INTEGER d = { -KI_MS(5) };
    KeDelayExecutionThread(KernelMode, FALSE, &d);
    irp->IoStatus.Status = STATUS_SUCCESS;
    irp->IoStatus.Information = 42;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
}

static void complete_from_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(dpc), UNREFERENCED_PARAMETER(a1), UNREFERENCED_PARAMETER(a2);
    PIRP irp = ctx;
    KT_ASSERT(KeGetCurrentIrql() == DISPATCH_LEVEL);
    irp->IoStatus.Status = STATUS_SUCCESS;
    irp->IoStatus.Information = 43;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
}

static void bottom_cancel(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    __atomic_store_n(&held, NULL, __ATOMIC_RELEASE);
    IoReleaseCancelSpinLock(irp->CancelIrql);
    irp->IoStatus.Status = STATUS_CANCELLED;
    irp->IoStatus.Information = 0;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
}

static PKTHREAD completer;

static NTSTATUS dispatch(PDEVICE_OBJECT dev, PIRP irp)
{
    EXT *x = dev->DeviceExtension;
    if (x->Level > 0) {
        if (x->Skip) {
            IoSkipCurrentIrpStackLocation(irp);
            return IoCallDriver(x->Lower, irp);
        }
        IoCopyCurrentIrpStackLocationToNext(irp);
        if (x->MoreProcessing) {
            KEVENT ev;
            KeInitializeEvent(&ev, NotificationEvent, FALSE);
            IoSetCompletionRoutine(irp, sync_forward_done, &ev, TRUE, TRUE, TRUE);
            if (IoCallDriver(x->Lower, irp) == STATUS_PENDING)
                KeWaitForSingleObject(&ev, Executive, KernelMode, FALSE, NULL);
            /* The IRP is ours again: the levels above have not seen it. */
            note(-1, dev, irp);
            NTSTATUS s = irp->IoStatus.Status;
            IoCompleteRequest(irp, IO_NO_INCREMENT);
            return s;
        }
        IoSetCompletionRoutine(irp, filter_done, (PVOID)(ULONG_PTR)x->Level, TRUE, TRUE, TRUE);
        return IoCallDriver(x->Lower, irp);
    }
    switch (mode) {
    case B_COMPLETE:
    case B_COMPLETE_ERROR:
        irp->IoStatus.Status = mode == B_COMPLETE ? STATUS_SUCCESS : STATUS_DEVICE_DATA_ERROR;
        irp->IoStatus.Information = 7;
        IoCompleteRequest(irp, IO_NO_INCREMENT);
        return mode == B_COMPLETE ? STATUS_SUCCESS : STATUS_DEVICE_DATA_ERROR;
    case B_PEND_THREAD:
        IoMarkIrpPending(irp);
        completer = KeCreateSystemThread(complete_later, irp, KI_DEFAULT_PRIORITY, "irpdone");
        KT_ASSERT(completer != NULL);
        return STATUS_PENDING;
    case B_PEND_DPC: {
        IoMarkIrpPending(irp);
        KeInitializeDpc(&pend_dpc, complete_from_dpc, irp);
        KeInitializeTimer(&pend_timer);
        LARGE_INTEGER due = { -KI_MS(2) };
        KeSetTimer(&pend_timer, due, &pend_dpc);
        return STATUS_PENDING;
    }
    case B_HOLD:
    default: {
        /* The standard cancel-safe pattern: mark pending, set the cancel
         * routine, then look at Cancel - a cancel that came first has
         * found no routine, and we must complete it ourselves. */
        IoMarkIrpPending(irp);
        __atomic_store_n(&held, irp, __ATOMIC_RELEASE);
        IoSetCancelRoutine(irp, bottom_cancel);
        if (irp->Cancel && IoSetCancelRoutine(irp, NULL)) {
            __atomic_store_n(&held, NULL, __ATOMIC_RELEASE);
            irp->IoStatus.Status = STATUS_CANCELLED;
            IoCompleteRequest(irp, IO_NO_INCREMENT);
        }
        return STATUS_PENDING;
    }
    }
}

/* Release the held IRP as the driver's own completion path would:
 * FALSE if the cancel routine got it first. */
static BOOLEAN complete_held(NTSTATUS status)
{
    PIRP irp = __atomic_load_n(&held, __ATOMIC_ACQUIRE);
    if (!irp || !IoSetCancelRoutine(irp, NULL))
        return FALSE;   /* the cancel routine owns it */
    __atomic_store_n(&held, NULL, __ATOMIC_RELEASE);
    irp->IoStatus.Status = status;
    irp->IoStatus.Information = 1;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return TRUE;
}

static void unload(PDRIVER_OBJECT d)
{
    UNREFERENCED_PARAMETER(d);
    IoDetachDevice(dev_mid);
    IoDetachDevice(dev_bottom);
    IoDeleteDevice(dev_top);
    IoDeleteDevice(dev_mid);
    IoDeleteDevice(dev_bottom);
}

static NTSTATUS entry(PDRIVER_OBJECT d, PANSI_STRING reg)
{
    UNREFERENCED_PARAMETER(reg);
    for (int i = 0; i <= IRP_MJ_MAXIMUM_FUNCTION; i++)
        d->MajorFunction[i] = dispatch;
    d->DriverUnload = unload;
    NTSTATUS s;
    if (!NT_SUCCESS(s = IoCreateDevice(d, sizeof(EXT), NULL, FILE_DEVICE_UNKNOWN, 0, FALSE, &dev_bottom)) ||
        !NT_SUCCESS(s = IoCreateDevice(d, sizeof(EXT), NULL, FILE_DEVICE_UNKNOWN, 0, FALSE, &dev_mid)) ||
        !NT_SUCCESS(s = IoCreateDevice(d, sizeof(EXT), NULL, FILE_DEVICE_UNKNOWN, 0, FALSE, &dev_top)))
        return s;
    ((EXT *)dev_bottom->DeviceExtension)->Level = 0;
    ((EXT *)dev_mid->DeviceExtension)->Level = 1;
    ((EXT *)dev_top->DeviceExtension)->Level = 2;
    ((EXT *)dev_mid->DeviceExtension)->Lower = IoAttachDeviceToDeviceStack(dev_mid, dev_bottom);
    ((EXT *)dev_top->DeviceExtension)->Lower = IoAttachDeviceToDeviceStack(dev_top, dev_bottom);
    return STATUS_SUCCESS;
}

static void start(BOTTOM_MODE m)
{
    memset(&rec, 0, sizeof(rec));
    mode = m;
    held = NULL;
    completer = NULL;
    /* A name of its own each time: a failed test leaves its driver. */
    static int serial;
    char buf[32];
    ksnprintf(buf, sizeof(buf), "\\Driver\\IrpTest%d", serial++);
    ANSI_STRING name;
    RtlInitAnsiString(&name, buf);
    KT_EQ(IoCreateDriver(&name, entry, &drv), STATUS_SUCCESS);
    KT_EQ(dev_top->StackSize, 3);
    KT_EQ(((EXT *)dev_top->DeviceExtension)->Lower, dev_mid);
    KT_EQ(IoGetAttachedDevice(dev_bottom), dev_top);
    KeInitializeEvent(&creator_done, NotificationEvent, FALSE);
}

static void stop(void)
{
    if (completer) {
        KT_EQ(KeWaitForSingleObject(completer, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
        KeDereferenceThread(completer);
        completer = NULL;
    }
    KT_EQ(IoUnloadDriver(drv), STATUS_SUCCESS);
}

/* The creator's routine: it owns the IRP again (MORE_PROCESSING). */
static NTSTATUS creator_routine(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    note(3, dev, irp);
    KeSetEvent(&creator_done, 0, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

static PIRP new_irp(void)
{
    PIRP irp = IoAllocateIrp(dev_top->StackSize, FALSE);
    KT_ASSERT(irp != NULL);
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->MajorFunction = IRP_MJ_READ;
    sl->Parameters.Read.Length = 512;
    IoSetCompletionRoutine(irp, creator_routine, NULL, TRUE, TRUE, TRUE);
    return irp;
}

static void wait_creator(void)
{
    LARGE_INTEGER five_s = { -KI_MS(5000) };
    KT_EQ(KeWaitForSingleObject(&creator_done, Executive, KernelMode, FALSE, &five_s), STATUS_WAIT_0);
}

KTEST(irp, completion_routines_run_bottom_up_with_the_callers_location_current)
{
    start(B_COMPLETE);
    PIRP irp = new_irp();
    KT_EQ(irp->CurrentLocation, 4);
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_SUCCESS);
    KT_EQ(rec.n, 3);
    /* Bottom's location holds the routine mid set: it runs first, with
     * mid's location current and mid's device; then the one top set in
     * mid's location (top's device); last the creator's, set in top's
     * location, with no device (the creator has no location). */
    KT_EQ(rec.seen[0].level, 1);
    KT_EQ(rec.seen[0].dev, dev_mid);
    KT_EQ(rec.seen[0].location, 2);
    KT_EQ(rec.seen[1].level, 2);
    KT_EQ(rec.seen[1].dev, dev_top);
    KT_EQ(rec.seen[1].location, 3);
    KT_EQ(rec.seen[2].level, 3);
    KT_EQ(rec.seen[2].dev, NULL);
    KT_EQ(rec.seen[2].location, 4);
    KT_EQ(rec.seen[2].status, STATUS_SUCCESS);
    KT_ASSERT(!rec.seen[2].pending);
    KT_EQ(irp->IoStatus.Information, 7);
    IoFreeIrp(irp);
    stop();
}

KTEST(irp, routines_not_asked_for_errors_do_not_run_on_an_error)
{
    start(B_COMPLETE_ERROR);
    PIRP irp = IoAllocateIrp(dev_top->StackSize, FALSE);
    KT_ASSERT(irp != NULL);
    IoGetNextIrpStackLocation(irp)->MajorFunction = IRP_MJ_READ;
    IoSetCompletionRoutine(irp, creator_routine, NULL, TRUE, FALSE, FALSE);   /* success only */
    /* With no routine to take it back, a creator-less IRP would reach
     * stage 2: give it a thread and an event so the I/O manager finishes it. */
    KEVENT ev;
    IO_STATUS_BLOCK iosb;
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    irp->UserEvent = &ev;
    irp->UserIosb = &iosb;
    irp->Tail.Overlay.Thread = KeGetCurrentThread();
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_DEVICE_DATA_ERROR);
    KT_EQ(KeWaitForSingleObject(&ev, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
    KT_EQ(iosb.Status, STATUS_DEVICE_DATA_ERROR);
    KT_EQ(rec.n, 2);   /* mid's and top's (on error too); not the creator's (success only) */
    KT_EQ(rec.seen[0].level, 1);
    KT_EQ(rec.seen[1].level, 2);
    stop();
}

KTEST(irp, more_processing_required_stops_completion_until_the_owner_completes_again)
{
    start(B_PEND_THREAD);
    ((EXT *)dev_mid->DeviceExtension)->MoreProcessing = TRUE;
    PIRP irp = new_irp();
    /* mid forwards synchronously: it waits, gets the IRP back, then
     * completes it itself; only then do top's and the creator's run. */
    NTSTATUS s = IoCallDriver(dev_top, irp);
    KT_EQ(s, STATUS_SUCCESS);
    wait_creator();
    KT_EQ(rec.n, 4);
    KT_EQ(rec.seen[0].level, 1);    /* mid's own routine, MORE_PROCESSING */
    KT_EQ(rec.seen[1].level, -1);   /* mid's dispatch, owning the IRP again */
    KT_EQ(rec.seen[2].level, 2);
    KT_EQ(rec.seen[3].level, 3);
    KT_EQ(irp->IoStatus.Information, 42);
    IoFreeIrp(irp);
    stop();
}

KTEST(irp, pending_travels_up_and_completion_comes_from_another_thread)
{
    start(B_PEND_THREAD);
    PIRP irp = new_irp();
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_PENDING);
    wait_creator();
    KT_EQ(rec.n, 3);
    for (int i = 0; i < 3; i++)
        KT_ASSERT(rec.seen[i].pending);   /* every level saw PendingReturned */
    KT_EQ(irp->IoStatus.Information, 42);
    IoFreeIrp(irp);
    stop();
}

KTEST(irp, pending_travels_through_a_location_without_a_routine)
{
    start(B_PEND_DPC);
    ((EXT *)dev_mid->DeviceExtension)->Skip = TRUE;   /* mid sets no routine */
    PIRP irp = new_irp();
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_PENDING);
    wait_creator();
    /* top's routine (set for mid's location, which bottom used after
     * mid skipped) and the creator's: both saw the pending mark. */
    KT_EQ(rec.n, 2);
    KT_ASSERT(rec.seen[0].pending);
    KT_ASSERT(rec.seen[1].pending);
    KT_EQ(irp->IoStatus.Information, 43);   /* completed from the DPC */
    IoFreeIrp(irp);
    stop();
}

KTEST(irp, cancel_while_pended_runs_the_cancel_routine)
{
    start(B_HOLD);
    PIRP irp = new_irp();
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_PENDING);
    KT_ASSERT(held == irp);
    KT_ASSERT(IoCancelIrp(irp));
    wait_creator();
    KT_EQ(irp->IoStatus.Status, STATUS_CANCELLED);
    KT_ASSERT(irp->Cancel);
    KT_EQ(held, NULL);
    KT_ASSERT(!IoCancelIrp(irp));   /* completed: no routine left to call */
    IoFreeIrp(irp);
    stop();
}

KTEST(irp, cancel_before_dispatch_is_seen_by_the_driver)
{
    start(B_HOLD);
    PIRP irp = new_irp();
    KT_ASSERT(!IoCancelIrp(irp));   /* no cancel routine yet: just marked */
    KT_ASSERT(irp->Cancel);
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_PENDING);
    wait_creator();
    KT_EQ(irp->IoStatus.Status, STATUS_CANCELLED);
    KT_EQ(held, NULL);
    IoFreeIrp(irp);
    stop();
}

/* Cancel racing completion, from a DPC against this thread: exactly one
 * side completes each IRP (a double completion is a bugcheck). */
static KDPC race_dpc;
static volatile LONG race_completed;
static void race_complete(PKDPC d, PVOID c, PVOID a, PVOID b)
{
    UNREFERENCED_PARAMETER(d), UNREFERENCED_PARAMETER(c), UNREFERENCED_PARAMETER(a), UNREFERENCED_PARAMETER(b);
    if (complete_held(STATUS_SUCCESS))
        race_completed++;
}

KTEST(irp, cancel_racing_completion_completes_each_irp_once)
{
    start(B_HOLD);
    ULONG cancelled = 0, completed = 0;
    KeInitializeDpc(&race_dpc, race_complete, NULL);
    race_completed = 0;
    for (int i = 0; i < 300; i++) {
        KeInitializeEvent(&creator_done, NotificationEvent, FALSE);
        PIRP irp = new_irp();
        KT_EQ(IoCallDriver(dev_top, irp), STATUS_PENDING);
        /* Alternate who goes first; with the DPC queued at DISPATCH_LEVEL
         * and the cancel issued before lowering, both orders happen. */
        KIRQL old;
        KeRaiseIrql(DISPATCH_LEVEL, &old);
        KeInsertQueueDpc(&race_dpc, NULL, NULL);
        if (i & 1) {
            KeLowerIrql(old);
            IoCancelIrp(irp);
        } else {
            IoCancelIrp(irp);
            KeLowerIrql(old);
        }
        wait_creator();
        if (irp->IoStatus.Status == STATUS_CANCELLED)
            cancelled++;
        else {
            KT_EQ(irp->IoStatus.Status, STATUS_SUCCESS);
            completed++;
        }
        IoFreeIrp(irp);
    }
    KT_EQ(cancelled + completed, 300);
    KT_EQ(completed, (ULONG)race_completed);
    KT_ASSERT(cancelled > 0 && completed > 0);   /* both orders really happened */
    stop();
}

KTEST(irp, reuse_sends_the_same_irp_again)
{
    start(B_COMPLETE);
    PIRP irp = new_irp();
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_SUCCESS);
    KT_EQ(rec.n, 3);
    IoReuseIrp(irp, STATUS_NOT_SUPPORTED);
    KT_EQ(irp->CurrentLocation, 4);
    KT_EQ(irp->IoStatus.Status, STATUS_NOT_SUPPORTED);
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->MajorFunction = IRP_MJ_WRITE;
    IoSetCompletionRoutine(irp, creator_routine, NULL, TRUE, TRUE, TRUE);
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_SUCCESS);
    KT_EQ(rec.n, 6);
    IoFreeIrp(irp);
    stop();
}

KTEST(irp, associated_irps_complete_their_master_when_the_last_one_does)
{
    start(B_PEND_DPC);
    PIRP master = new_irp();
    master->Tail.Overlay.Thread = KeGetCurrentThread();
    /* The master is owned by a driver of its own (a location), as when
     * a disk driver splits a request; here it is sent nowhere: fake the
     * one location it would be in. */
    master->CurrentLocation--;
    master->Tail.Overlay.CurrentStackLocation--;
    master->AssociatedIrp.IrpCount = 3;
    PIRP a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = IoMakeAssociatedIrp(master, dev_bottom->StackSize);
        KT_ASSERT(a[i] != NULL);
        IoGetNextIrpStackLocation(a[i])->MajorFunction = IRP_MJ_READ;
    }
    ULONG irps = (ULONG)IopIrpsInUse;
    for (int i = 0; i < 3; i++) {
        KeInitializeEvent(&creator_done, NotificationEvent, FALSE);
        mode = i == 2 ? B_COMPLETE : B_COMPLETE_ERROR;
        IoCallDriver(dev_bottom, a[i]);
        KT_EQ(KeReadStateEvent(&creator_done), i == 2);   /* the master completes with the last */
    }
    KT_EQ((ULONG)IopIrpsInUse, irps - 3);   /* associated IRPs free themselves */
    KT_EQ(master->IoStatus.Status, STATUS_DEVICE_DATA_ERROR);
    IoFreeIrp(master);
    stop();
}

KTEST(irp, completion_routine_ex_keeps_the_device_referenced_until_it_ran)
{
    start(B_PEND_THREAD);
    PIRP irp = IoAllocateIrp(dev_top->StackSize, FALSE);
    KT_ASSERT(irp != NULL);
    IoGetNextIrpStackLocation(irp)->MajorFunction = IRP_MJ_READ;
    LONG refs = ObGetObjectPointerCount(dev_top);
    KT_EQ(IoSetCompletionRoutineEx(dev_top, irp, creator_routine, NULL, TRUE, TRUE, TRUE), STATUS_SUCCESS);
    KT_EQ(ObGetObjectPointerCount(dev_top), refs + 1);
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_PENDING);
    wait_creator();
    KT_EQ(ObGetObjectPointerCount(dev_top), refs);
    IoFreeIrp(irp);
    stop();
}

KTEST(irp, synchronous_fsd_request_is_finished_by_the_completion_apc)
{
    start(B_PEND_DPC);
    static UCHAR buf[512];
    KEVENT ev;
    IO_STATUS_BLOCK iosb = { { STATUS_PENDING }, 0 };
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    ULONG irps = (ULONG)IopIrpsInUse;
    LARGE_INTEGER off = { 0 };
    PIRP irp = IoBuildSynchronousFsdRequest(IRP_MJ_READ, dev_top, buf, sizeof(buf), &off, &ev, &iosb);
    KT_ASSERT(irp != NULL);
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_PENDING);
    /* Stage 2 runs as an APC to this thread, during this wait. */
    KT_EQ(KeWaitForSingleObject(&ev, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
    KT_EQ(iosb.Status, STATUS_SUCCESS);
    KT_EQ(iosb.Information, 43);
    KT_EQ((ULONG)IopIrpsInUse, irps);   /* freed by the I/O manager */
    KT_ASSERT(IsListEmpty(&KeGetCurrentThread()->IrpList));
    stop();
}

/* The requester is attached to another process when its IRP completes:
 * the completion APC is for its own process and waits for the detach
 * (it touches the requester's memory, which is not what is mapped while
 * attached). */
KTEST(irp, completion_while_the_requester_is_attached_comes_after_the_detach)
{
    start(B_PEND_THREAD);
    PEPROCESS other;
    MT_CONTROL ctl;
    KT_EQ(MdlTestStartTarget(&other, &ctl), 0);
    static UCHAR buf[512];
    KEVENT ev;
    IO_STATUS_BLOCK iosb = { { STATUS_PENDING }, 0 };
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    PIRP irp = IoBuildSynchronousFsdRequest(IRP_MJ_READ, dev_top, buf, sizeof(buf), NULL, &ev, &iosb);
    KT_ASSERT(irp != NULL);
    MdlTestAttach(other);
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_PENDING);
    /* The completer finishes stage 1 within ~5 ms; attached, this thread
     * takes no APC, so stage 2 has not run after 50 ms. */
    LARGE_INTEGER d = { -KI_MS(50) };
    KeDelayExecutionThread(KernelMode, FALSE, &d);
    BOOLEAN early = KeReadStateEvent(&ev) != 0;
    MdlTestDetach();   /* the APC runs here */
    KT_ASSERT(!early);
    KT_EQ(KeReadStateEvent(&ev), 1);
    KT_EQ(iosb.Status, STATUS_SUCCESS);
    KT_EQ(iosb.Information, 42);
    KT_EQ((ULONG)MdlTestStopTarget(other), 0);
    stop();
}

KTEST_BUGCHECK(irp, freeing_an_irp_a_driver_holds_is_caught, DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x1011, KT_ANY,
               KT_ANY, KT_ANY)
{
    start(B_HOLD);
    PIRP irp = new_irp();
    KT_EQ(IoCallDriver(dev_top, irp), STATUS_PENDING);
    KtExpectParam(2, (uint64_t)irp);
    IoFreeIrp(irp);   /* bottom still holds it */
}
