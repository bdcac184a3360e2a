/*
 * IRPs: allocation, IoCallDriver, and IoCompleteRequest's two stages.
 *
 * Stage 1 (IoCompleteRequest, any IRQL <= DISPATCH_LEVEL, any thread: a
 * DPC completes most disk requests) walks the stack locations upwards and
 * calls the completion routines, then unlocks the MDLs - the pages are
 * free to be paged again the moment the device is done with them.
 * Stage 2 (IopFinishRequest) must run in the requesting thread, because
 * it writes into the requester's address space: the copy-back of a
 * buffered read and the IO_STATUS_BLOCK. NT sends it there as a special
 * kernel APC (IopCompleteRequest); so does mdlos. When the requester is
 * itself the one completing, with IRP_DEFER_IO_COMPLETION and the driver
 * not having pended, the system service runs stage 2 inline instead and
 * saves the APC - NT's fast path for requests that finish in dispatch.
 * A request on a file with a completion port needs neither: the IRP
 * itself goes to the port, and stage 2 runs in the thread that removes
 * it (io/completion.c).
 */
#include "mm/mdl.h"
#include "io/iop.h"

volatile LONG IopIrpsInUse;

void IopVerifierStop(ULONG code, ULONG_PTR p2, ULONG_PTR p3, ULONG_PTR p4, const char *rule)
{
    KeBugCheckRule(DRIVER_VERIFIER_IOMANAGER_VIOLATION, code, p2, p3, p4, "%s", rule);
}

/* IRPs of up to this many stack locations come from a lookaside list,
 * as NT keeps per-processor lists of small and large IRPs: the I/O
 * manager allocates one per request, and the pool allocator's cost is a
 * large part of a small request's. Larger ones come from pool. */
#define IOP_LOOKASIDE_STACK 4
static NPAGED_LOOKASIDE_LIST irp_lookaside;

void IopInitializeIrps(void)
{
    ExInitializeNPagedLookasideList(&irp_lookaside, NULL, NULL, 0, IoSizeOfIrp(IOP_LOOKASIDE_STACK), TAG_IRP, 32);
}

void IoInitializeIrp(PIRP irp, USHORT size, CCHAR stack)
{
    memset(irp, 0, size);
    irp->Type = IO_TYPE_IRP;
    irp->Size = size;
    irp->StackCount = stack;
    /* One past the top: the creator owns the IRP and has no location of
     * its own; IoCallDriver steps down into the top driver's. */
    irp->CurrentLocation = (CHAR)(stack + 1);
    irp->Tail.Overlay.CurrentStackLocation = (PIO_STACK_LOCATION)(irp + 1) + stack;
    InitializeListHead(&irp->ThreadListEntry);
}

PIRP IoAllocateIrp(CCHAR stack, BOOLEAN charge_quota)
{
    UNREFERENCED_PARAMETER(charge_quota);
    if (stack < 1 || stack > 32)
        return NULL;
    USHORT size = IoSizeOfIrp(stack);
    BOOLEAN small = stack <= IOP_LOOKASIDE_STACK;
    PIRP irp = small ? ExAllocateFromNPagedLookasideList(&irp_lookaside)
                     : ExAllocatePoolWithTag(NonPagedPoolNx, size, TAG_IRP);
    if (!irp)
        return NULL;
    IoInitializeIrp(irp, size, stack);
    if (small)
        irp->AllocationFlags |= IRP_LOOKASIDE_ALLOCATION;
    __atomic_add_fetch(&IopIrpsInUse, 1, __ATOMIC_RELAXED);
    return irp;
}

void IoReuseIrp(PIRP irp, NTSTATUS status)
{
    UCHAR flags = irp->AllocationFlags;
    IoInitializeIrp(irp, irp->Size, irp->StackCount);
    irp->AllocationFlags = flags;
    irp->IoStatus.Status = status;
}

void IoFreeIrp(PIRP irp)
{
    if (!irp || irp->Type != IO_TYPE_IRP)
        IopVerifierStop(IOV_FREE_NOT_IRP, (ULONG_PTR)irp, 0, 0,
                        "IoFreeIrp was given something that is not an IRP (Type is not IO_TYPE_IRP)");
    if (!IsListEmpty(&irp->ThreadListEntry))
        IopVerifierStop(IOV_FREE_IRP_WITH_THREAD, (ULONG_PTR)irp, 0, 0,
                        "IoFreeIrp of an IRP still queued to its requesting thread: the I/O manager "
                        "finishes and frees the IRPs it sent");
    if (irp->CurrentLocation <= irp->StackCount)
        IopVerifierStop(IOV_FREE_IRP_IN_USE, (ULONG_PTR)irp, (ULONG_PTR)irp->CurrentLocation, irp->StackCount,
                        "IoFreeIrp of an IRP a driver still holds (it was sent with IoCallDriver and has "
                        "not been completed back to its creator)");
    irp->Type = 0;   /* a second free, or a use after free, is caught above */
    if (irp->AllocationFlags & IRP_LOOKASIDE_ALLOCATION)
        ExFreeToNPagedLookasideList(&irp_lookaside, irp);
    else
        ExFreePoolWithTag(irp, TAG_IRP);
    __atomic_sub_fetch(&IopIrpsInUse, 1, __ATOMIC_RELAXED);
}

PIRP IoMakeAssociatedIrp(PIRP master, CCHAR stack)
{
    PIRP irp = IoAllocateIrp(stack, FALSE);
    if (!irp)
        return NULL;
    irp->Flags = IRP_ASSOCIATED_IRP;
    irp->AssociatedIrp.MasterIrp = master;
    irp->RequestorMode = KernelMode;
    irp->Tail.Overlay.Thread = master->Tail.Overlay.Thread;
    /* The caller sets the master's IrpCount to the number it makes. */
    return irp;
}

NTSTATUS IoCallDriver(PDEVICE_OBJECT dev, PIRP irp)
{
    KIRQL irql = KeGetCurrentIrql();
    if (irql > DISPATCH_LEVEL)
        IopVerifierStop(IOV_CALL_ABOVE_DISPATCH, irql, (ULONG_PTR)irp, 0,
                        "IoCallDriver was called above DISPATCH_LEVEL");
    if (!irp || irp->Type != IO_TYPE_IRP)
        IopVerifierStop(IOV_CALL_NOT_IRP, (ULONG_PTR)irp, 0, 0, "IoCallDriver was given something that is not an IRP");
    if (!dev || dev->Type != IO_TYPE_DEVICE || !dev->DriverObject)
        IopVerifierStop(IOV_CALL_BAD_DEVICE, (ULONG_PTR)dev, 0, 0,
                        "IoCallDriver was given something that is not a device object");
    /* The next location down becomes the current one: it is the one the
     * caller filled in with IoGetNextIrpStackLocation. */
    if (--irp->CurrentLocation <= 0)
        KeBugCheckRule(NO_MORE_IRP_STACK_LOCATIONS, (ULONG_PTR)irp, 0, 0, 0,
                       "IRP %p was sent to device %p with no stack location left for it: the IRP was "
                       "allocated with fewer locations than the device stack below needs (StackSize %d)",
                       irp, dev, dev->StackSize);
    PIO_STACK_LOCATION sl = --irp->Tail.Overlay.CurrentStackLocation;
    sl->DeviceObject = dev;
    PDRIVER_DISPATCH fn = sl->MajorFunction <= IRP_MJ_MAXIMUM_FUNCTION ?
                          dev->DriverObject->MajorFunction[sl->MajorFunction] : IopInvalidDeviceRequest;
    /* After the call the IRP may be gone (completed and freed): only the
     * returned status is the caller's. */
    NTSTATUS s = fn(dev, irp);
    if (KeGetCurrentIrql() != irql)
        IopVerifierStop(IOV_IRQL_CHANGED_IN_DISPATCH, (ULONG_PTR)dev, irql, KeGetCurrentIrql(),
                        "a dispatch routine returned at a different IRQL than it was called at");
    return s;
}

static BOOLEAN should_call(PIO_STACK_LOCATION sl, PIRP irp)
{
    if (!sl->CompletionRoutine)
        return FALSE;
    NTSTATUS s = irp->IoStatus.Status;
    return (NT_SUCCESS(s) && (sl->Control & SL_INVOKE_ON_SUCCESS)) ||
           (!NT_SUCCESS(s) && (sl->Control & SL_INVOKE_ON_ERROR)) ||
           (irp->Cancel && (sl->Control & SL_INVOKE_ON_CANCEL));
}

static void unlock_mdls(PIRP irp)
{
    for (PMDL m = irp->MdlAddress; m; m = m->Next)
        if (m->MdlFlags & MDL_PAGES_LOCKED)
            MmUnlockPages(m);
}

static void free_mdls(PIRP irp)
{
    PMDL m = irp->MdlAddress;
    while (m) {
        PMDL next = m->Next;
        if (m->MdlFlags & MDL_PAGES_LOCKED)
            MmUnlockPages(m);
        IoFreeMdl(m);
        m = next;
    }
    irp->MdlAddress = NULL;
}

/* Tail.Apc overlays Tail.Overlay: initializing and queueing the APC
 * overwrites Overlay.Thread and Overlay.OriginalFileObject. As NT does,
 * the file object travels in the APC's SystemArgument2 and is put back
 * before stage 2 reads it. */
static PIRP irp_of_apc(PKAPC apc)
{
    PIRP irp = CONTAINING_RECORD(apc, IRP, Tail.Apc);
    irp->Tail.Overlay.OriginalFileObject = apc->SystemArgument2;
    return irp;
}

static void complete_apc(PKAPC apc, PKNORMAL_ROUTINE *normal, PVOID *ctx, PVOID *a1, PVOID *a2)
{
    UNREFERENCED_PARAMETER(normal), UNREFERENCED_PARAMETER(ctx), UNREFERENCED_PARAMETER(a1);
    UNREFERENCED_PARAMETER(a2);
    (void)IopFinishRequest(irp_of_apc(apc), TRUE);
}

/* The requester ended before the APC ran: finish without its memory. */
static void complete_rundown(PKAPC apc)
{
    (void)IopFinishRequest(irp_of_apc(apc), FALSE);
}

void IoCompleteRequest(PIRP irp, CCHAR boost)
{
    KIRQL irql = KeGetCurrentIrql();
    if (irql > DISPATCH_LEVEL)
        IopVerifierStop(IOV_COMPLETE_ABOVE_DISPATCH, irql, (ULONG_PTR)irp, 0,
                        "IoCompleteRequest was called above DISPATCH_LEVEL");
    if (!irp || irp->Type != IO_TYPE_IRP || irp->CurrentLocation > irp->StackCount)
        KeBugCheckRule(MULTIPLE_IRP_COMPLETE_REQUESTS, (ULONG_PTR)irp, 0, 0, 0,
                       "IRP %p was completed when no driver owned it: completed twice, or completed by its "
                       "creator without sending it (a completion routine that returned "
                       "STATUS_MORE_PROCESSING_REQUIRED owns the IRP again and must free or re-send it)", irp);
    if (irp->IoStatus.Status == STATUS_PENDING || irp->IoStatus.Status == -1)
        IopVerifierStop(IOV_COMPLETE_PENDING, (ULONG_PTR)irp->IoStatus.Status, (ULONG_PTR)irp, 0,
                        "IoCompleteRequest with IoStatus.Status STATUS_PENDING: a completed IRP needs its final "
                        "status");
    if (irp->CancelRoutine)
        IopVerifierStop(IOV_COMPLETE_WITH_CANCEL, (ULONG_PTR)irp->CancelRoutine, (ULONG_PTR)irp, 0,
                        "IoCompleteRequest of an IRP whose cancel routine is still set: clear it with "
                        "IoSetCancelRoutine(Irp, NULL) first, or a cancel could run on a freed IRP");

    /* Walk up. Each location's completion routine was set by the driver
     * above it, and runs with that driver's location current. */
    do {
        PIO_STACK_LOCATION sl = irp->Tail.Overlay.CurrentStackLocation;
        irp->CurrentLocation++;
        irp->Tail.Overlay.CurrentStackLocation++;
        irp->PendingReturned = (sl->Control & SL_PENDING_RETURNED) != 0;
        if (!NT_SUCCESS(irp->IoStatus.Status))
            sl->Control |= SL_ERROR_RETURNED;
        if (should_call(sl, irp)) {
            PIO_COMPLETION_ROUTINE routine = sl->CompletionRoutine;
            PVOID context = sl->Context;
            /* The creator's routine (on the top location) has no device. */
            PDEVICE_OBJECT dev = irp->CurrentLocation <= irp->StackCount ?
                                 irp->Tail.Overlay.CurrentStackLocation->DeviceObject : NULL;
            sl->CompletionRoutine = NULL;
            sl->Context = NULL;
            if (routine(dev, irp, context) == STATUS_MORE_PROCESSING_REQUIRED)
                return;   /* the routine owns the IRP again */
        } else if (irp->PendingReturned && irp->CurrentLocation <= irp->StackCount) {
            /* No routine to do it: pending travels up by itself, so the
             * driver above (who returned STATUS_PENDING on its behalf)
             * sees PendingReturned in turn. */
            IoMarkIrpPending(irp);
        }
    } while (irp->CurrentLocation <= irp->StackCount);

    if (irp->Flags & IRP_ASSOCIATED_IRP) {
        PIRP master = irp->AssociatedIrp.MasterIrp;
        if (!NT_SUCCESS(irp->IoStatus.Status))
            master->IoStatus = irp->IoStatus;   /* the first error wins, as NT's partial-transfer rule */
        free_mdls(irp);
        IoFreeIrp(irp);
        if (__atomic_sub_fetch(&master->AssociatedIrp.IrpCount, 1, __ATOMIC_ACQ_REL) == 0)
            IoCompleteRequest(master, boost);
        return;
    }

    if (irp->Flags & IRP_CLOSE_OPERATION) {
        /* IRP_MJ_CLOSE, sent while the file object is being deleted:
         * there is no file reference to drop and nothing in user memory.
         * The sender waits for the event and frees the IRP itself. */
        *irp->UserIosb = irp->IoStatus;
        KeSetEvent(irp->UserEvent, boost, FALSE);
        return;
    }

    if (irp->Flags & IRP_PAGING_IO) {
        /* The memory manager's request: its MDL stays locked and its own
         * (the pages are in transition, it decides what happens to
         * them). Status and event are all it needs, and they are in
         * nonpaged memory: done here, at any IRQL. */
        if (irp->UserIosb)
            *irp->UserIosb = irp->IoStatus;
        irp->MdlAddress = NULL;
        PKEVENT ev = irp->UserEvent;
        IoFreeIrp(irp);
        if (ev)
            KeSetEvent(ev, boost, FALSE);
        return;
    }

    /* The device is done with the buffer: its pages may move again. */
    unlock_mdls(irp);

    if ((irp->Flags & IRP_DEFER_IO_COMPLETION) && !irp->PendingReturned)
        return;   /* the dispatch returned its status to the I/O manager, which finishes inline */

    if (irp->Flags & IRP_COMPLETION_RING) {
        /* The CQE goes through the ring's system mapping: no process
         * context, so no APC and no wake-up per request. */
        IopRingCompleteIrp(irp);
        return;
    }

    if (irp->Flags & IRP_COMPLETION_PORT) {
        /* The IRP is the port's packet: stage 2 runs in whichever thread
         * removes it, so no APC and no wake-up of the requester. */
        IopQueueCompletionIrp(irp);
        return;
    }

    PKTHREAD t = IopIrpThread(irp);
    if (!t) {
        (void)IopFinishRequest(irp, FALSE);
        return;
    }
    PFILE_OBJECT fo = irp->Tail.Overlay.OriginalFileObject;
    /* The requester's own process (OriginalApcEnvironment), not whatever it
     * is attached to at this moment: an attached thread takes the APC
     * once it detaches. */
    KeInitializeApc(&irp->Tail.Apc, t, OriginalApcEnvironment, complete_apc, complete_rundown, NULL, KernelMode,
                    NULL);
    if (!KeInsertQueueApc(&irp->Tail.Apc, NULL, fo, boost)) {
        irp->Tail.Overlay.OriginalFileObject = fo;
        (void)IopFinishRequest(irp, FALSE);   /* the thread is gone */
    }
}

NTSTATUS IopFinishRequest(PIRP irp, BOOLEAN user_context)
{
    PFILE_OBJECT fo = irp->Tail.Overlay.OriginalFileObject;
    BOOLEAN user = irp->RequestorMode == UserMode;
    NTSTATUS status = irp->IoStatus.Status;

    if (irp->Flags & IRP_BUFFERED_IO) {
        /* A read into a system buffer: the caller's bytes are copied now,
         * in its own address space. At most what the driver says it
         * transferred; a fault while copying becomes the request's status. */
        if ((irp->Flags & IRP_INPUT_OPERATION) && !NT_ERROR(status) && user_context && irp->UserBuffer &&
            irp->IoStatus.Information) {
            if (user) {
                NTSTATUS s = ExReturnToUser(irp->UserBuffer, irp->AssociatedIrp.SystemBuffer,
                                            irp->IoStatus.Information, 1);
                if (!NT_SUCCESS(s))
                    irp->IoStatus.Status = status = s;
            } else {
                memcpy(irp->UserBuffer, irp->AssociatedIrp.SystemBuffer, irp->IoStatus.Information);
            }
        }
        if (irp->Flags & IRP_DEALLOCATE_BUFFER)
            ExFreePoolWithTag(irp->AssociatedIrp.SystemBuffer, TAG_IOBUF);
        irp->AssociatedIrp.SystemBuffer = NULL;
    }
    free_mdls(irp);

    if (fo && (fo->Flags & FO_SYNCHRONOUS_IO) && (irp->Flags & (IRP_READ_OPERATION | IRP_WRITE_OPERATION)) &&
        !NT_ERROR(status))
        fo->CurrentByteOffset.QuadPart += irp->IoStatus.Information;

    /* The status block: NT ignores a fault writing it (the caller freed
     * its own memory), and so does mdlos. */
    if (irp->UserIosb && user_context) {
        if (user)
            (void)ExReturnToUser(irp->UserIosb, &irp->IoStatus, sizeof(IO_STATUS_BLOCK), 8);
        else
            *irp->UserIosb = irp->IoStatus;
    }
    if (fo) {
        fo->FinalStatus = status;
        KeSetEvent(&fo->Event, 0, FALSE);
    }
    if (irp->UserEvent) {
        KeSetEvent(irp->UserEvent, 0, FALSE);
        /* An event from the caller's handle was referenced for the IRP;
         * the I/O manager's own (IRP_SYNCHRONOUS_API) was not. */
        if (fo && !(irp->Flags & IRP_SYNCHRONOUS_API))
            ObDereferenceObject(irp->UserEvent);
    }
    IopDequeueThreadIrp(irp);
    irp->CurrentLocation = (CHAR)(irp->StackCount + 1);
    IoFreeIrp(irp);
    if (fo)
        ObDereferenceObject(fo);
    return status;
}

/* IoSetCompletionRoutineEx: the routine runs through this one, which
 * drops the device reference afterwards. */
typedef struct {
    PDEVICE_OBJECT Device;
    PIO_COMPLETION_ROUTINE Routine;
    PVOID Context;
} COMPLETION_EX;

static NTSTATUS completion_ex(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
    COMPLETION_EX c = *(COMPLETION_EX *)ctx;
    ExFreePoolWithTag(ctx, TAG_IOCTX);
    NTSTATUS s = c.Routine(dev, irp, c.Context);
    ObDereferenceObject(c.Device);
    return s;
}

NTSTATUS IoSetCompletionRoutineEx(PDEVICE_OBJECT dev, PIRP irp, PIO_COMPLETION_ROUTINE routine, PVOID context,
                                  BOOLEAN on_success, BOOLEAN on_error, BOOLEAN on_cancel)
{
    COMPLETION_EX *c = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*c), TAG_IOCTX);
    if (!c)
        return STATUS_INSUFFICIENT_RESOURCES;
    c->Device = dev;
    c->Routine = routine;
    c->Context = context;
    ObReferenceObject(dev);
    IoSetCompletionRoutine(irp, completion_ex, c, on_success, on_error, on_cancel);
    return STATUS_SUCCESS;
}
