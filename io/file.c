/*
 * File objects: one per open of a device. The handle a program gets from
 * NtCreateFile names a file object; the file object names the device it
 * opened and carries what the open asked for (access, synchronous I/O,
 * the current byte offset). Three IRPs mark its life, as on NT:
 * IRP_MJ_CREATE when it is opened, IRP_MJ_CLEANUP when its last handle
 * closes (the driver drops the process's pending work), IRP_MJ_CLOSE
 * when the last reference goes (the driver frees its per-open state).
 */
#include "io/iop.h"

POBJECT_TYPE IoDeviceObjectType, IoDriverObjectType, IoFileObjectType;

PIRP IopAllocateFileIrp(PDEVICE_OBJECT dev, PFILE_OBJECT fo, UCHAR major, KPROCESSOR_MODE mode)
{
    PIRP irp = IoAllocateIrp(dev->StackSize, FALSE);
    if (!irp)
        return NULL;
    irp->RequestorMode = mode;
    irp->Tail.Overlay.OriginalFileObject = fo;
    ObReferenceObject(fo);   /* dropped by stage 2 of the completion */
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->MajorFunction = major;
    sl->FileObject = fo;
    return irp;
}

NTSTATUS IopKernelSynchronousCall(PDEVICE_OBJECT dev, PIRP irp)
{
    KEVENT done;
    IO_STATUS_BLOCK iosb = { { STATUS_PENDING }, 0 };
    KeInitializeEvent(&done, NotificationEvent, FALSE);
    irp->UserEvent = &done;
    irp->UserIosb = &iosb;
    irp->RequestorMode = KernelMode;
    irp->Flags |= IRP_SYNCHRONOUS_API | IRP_DEFER_IO_COMPLETION;
    IopQueueThreadIrp(irp);
    NTSTATUS s = IoCallDriver(dev, irp);
    if (s != STATUS_PENDING)
        return IopFinishRequest(irp, TRUE);
    /* Stage 2 comes as an APC to this thread; the wait lets it in. */
    KeWaitForSingleObject(&done, Executive, KernelMode, FALSE, NULL);
    return iosb.Status;
}

NTSTATUS IopAcquireFileLock(PFILE_OBJECT fo)
{
    NTSTATUS s = KeWaitForSingleObject(&fo->Lock, Executive, UserMode, FALSE, NULL);
    return s == STATUS_WAIT_0 ? STATUS_SUCCESS : s;
}

void IopReleaseFileLock(PFILE_OBJECT fo)
{
    KeSetEvent(&fo->Lock, 0, FALSE);
}

NTSTATUS IopUserServiceTail(PDEVICE_OBJECT dev, PIRP irp, PFILE_OBJECT fo)
{
    BOOLEAN sync = (fo->Flags & FO_SYNCHRONOUS_IO) != 0;
    irp->Flags |= IRP_DEFER_IO_COMPLETION;
    IopQueueThreadIrp(irp);
    KeClearEvent(&fo->Event);
    /* An asynchronous file with a completion port: every request that does
     * not fail at once ends as a packet there (io/completion.c). */
    if (!sync && __atomic_load_n(&fo->CompletionPort, __ATOMIC_ACQUIRE))
        irp->Flags |= IRP_COMPLETION_PORT;
    NTSTATUS s = IoCallDriver(dev, irp);
    if (s != STATUS_PENDING) {
        /* Finished in dispatch: stage 2 here, no APC needed - or, on a
         * port, a packet now, its status block written when it is removed
         * (NT: only a request that fails at once queues nothing). */
        if ((irp->Flags & IRP_COMPLETION_PORT) && !NT_ERROR(s))
            IopQueueCompletionIrp(irp);
        else
            s = IopFinishRequest(irp, TRUE);
    } else if (sync) {
        /* A synchronous file: the service waits, as NT does, for the
         * completion (it sets the file's event). A wait cut short by the
         * process ending leaves the IRP to process exit, which cancels
         * it and waits for it. */
        NTSTATUS w = KeWaitForSingleObject(&fo->Event, Executive, UserMode, FALSE, NULL);
        s = w == STATUS_WAIT_0 ? fo->FinalStatus : w;
    }
    if (sync)
        IopReleaseFileLock(fo);
    return s;
}

/* The last handle closed: the driver's IRP_MJ_CLEANUP, in the closing
 * process (a driver cancels that process's queued requests here). */
static void close_file(struct _EPROCESS *p, PVOID object, ULONG handles_left)
{
    UNREFERENCED_PARAMETER(p);
    PFILE_OBJECT fo = object;
    if (handles_left || !(fo->Flags & FO_FILE_OPEN))
        return;
    PDEVICE_OBJECT dev = IoGetAttachedDeviceReference(fo->DeviceObject);
    PIRP irp = IopAllocateFileIrp(dev, fo, IRP_MJ_CLEANUP, KernelMode);
    if (irp)
        (void)IopKernelSynchronousCall(dev, irp);
    else
        kprintf("[io] no memory for IRP_MJ_CLEANUP of file %p: its driver is not told\n", fo);
    fo->Flags |= FO_CLEANUP_COMPLETE;
    ObDereferenceObject(dev);
}

/* The last reference gone: IRP_MJ_CLOSE, then the device lets go. */
static void delete_file(PVOID object)
{
    PFILE_OBJECT fo = object;
    PDEVICE_OBJECT dev = fo->DeviceObject;
    if (fo->Flags & FO_FILE_OPEN) {
        PDEVICE_OBJECT top = IoGetAttachedDeviceReference(dev);
        /* CLOSE cannot fail for want of memory in NT (a reserve IRP);
         * mdlos waits for one instead. */
        PIRP irp;
        while (!(irp = IoAllocateIrp(top->StackSize, FALSE))) {
            LARGE_INTEGER d = { -KI_MS(10) };
            KeDelayExecutionThread(KernelMode, FALSE, &d);
        }
        KEVENT done;
        IO_STATUS_BLOCK iosb;
        KeInitializeEvent(&done, NotificationEvent, FALSE);
        irp->UserEvent = &done;
        irp->UserIosb = &iosb;
        irp->RequestorMode = KernelMode;
        irp->Flags = IRP_CLOSE_OPERATION | IRP_SYNCHRONOUS_API;
        PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
        sl->MajorFunction = IRP_MJ_CLOSE;
        sl->FileObject = fo;
        if (IoCallDriver(top, irp) == STATUS_PENDING)
            KeWaitForSingleObject(&done, Executive, KernelMode, FALSE, NULL);
        IoFreeIrp(irp);
        ObDereferenceObject(top);
        IopDeviceFileClosed(dev);
    }
    IopReleaseCompletionPort(fo);
    if (dev)
        ObDereferenceObject(dev);
}

void IopCreateObjectTypes(void)
{
    OBJECT_TYPE_INITIALIZER init;
    memset(&init, 0, sizeof(init));
    init.GenericMapping = (GENERIC_MAPPING){ FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_GENERIC_EXECUTE,
                                             FILE_ALL_ACCESS };
    init.ValidAccessMask = FILE_ALL_ACCESS;
    /* Waiting on a file handle waits for a request on it to complete. */
    init.DispatcherHeaderOffset = offsetof(FILE_OBJECT, Event);
    init.CloseProcedure = close_file;
    init.DeleteProcedure = delete_file;
    NTSTATUS s = ObCreateObjectType("File", &init, &IoFileObjectType);
    ASSERT(NT_SUCCESS(s));
}

NTSTATUS IopOpenDevice(PCSTRING name, ACCESS_MASK access, ULONG share, ULONG disposition, ULONG options,
                       KPROCESSOR_MODE mode, PFILE_OBJECT *out)
{
    *out = NULL;
    if (disposition > FILE_OVERWRITE_IF)
        return STATUS_INVALID_PARAMETER;
    if (options & ~FILE_VALID_OPTION_FLAGS)
        return STATUS_INVALID_PARAMETER;
    BOOLEAN sync = (options & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT)) != 0;
    /* NT's rules: one synchronous mode, and a synchronous file needs
     * SYNCHRONIZE (the I/O manager waits on the file for the caller). */
    if ((options & FILE_SYNCHRONOUS_IO_ALERT) && (options & FILE_SYNCHRONOUS_IO_NONALERT))
        return STATUS_INVALID_PARAMETER;
    if (sync && !(access & SYNCHRONIZE))
        return STATUS_INVALID_PARAMETER;
    if ((options & FILE_DIRECTORY_FILE) && (options & FILE_NON_DIRECTORY_FILE))
        return STATUS_INVALID_PARAMETER;
    if (share & ~(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE))
        return STATUS_INVALID_PARAMETER;

    PVOID obj;
    NTSTATUS s = ObReferenceObjectByName(name, NULL, &obj);
    if (!NT_SUCCESS(s))
        return s;
    if (ObGetObjectType(obj) != IoDeviceObjectType) {
        ObDereferenceObject(obj);
        return STATUS_OBJECT_TYPE_MISMATCH;   /* an event's name, a directory's: not a device */
    }
    PDEVICE_OBJECT dev = obj;
    if (dev->DeviceObjectExtension->ExtensionFlags & DOE_DELETE_PENDING) {
        ObDereferenceObject(dev);
        return STATUS_DELETE_PENDING;
    }
    if ((dev->Flags & DO_EXCLUSIVE) && dev->ReferenceCount) {
        ObDereferenceObject(dev);
        return STATUS_ACCESS_DENIED;   /* an exclusive device has one open at a time */
    }
    PVOID fobj;
    if (!NT_SUCCESS(s = ObCreateObject(IoFileObjectType, NULL, sizeof(FILE_OBJECT), &fobj))) {
        ObDereferenceObject(dev);
        return s;
    }
    PFILE_OBJECT fo = fobj;
    fo->Type = IO_TYPE_FILE;
    fo->Size = sizeof(*fo);
    fo->DeviceObject = dev;   /* the name lookup's reference becomes the file's */
    fo->Flags = sync ? FO_SYNCHRONOUS_IO : 0;
    if (options & FILE_SYNCHRONOUS_IO_ALERT)
        fo->Flags |= FO_ALERTABLE_IO;
    if (options & FILE_NO_INTERMEDIATE_BUFFERING)
        fo->Flags |= FO_NO_INTERMEDIATE_BUFFERING;
    fo->ReadAccess = (access & (FILE_READ_DATA | FILE_EXECUTE)) != 0;
    fo->WriteAccess = (access & (FILE_WRITE_DATA | FILE_APPEND_DATA)) != 0;
    fo->DeleteAccess = (access & DELETE) != 0;
    fo->SharedRead = (share & FILE_SHARE_READ) != 0;
    fo->SharedWrite = (share & FILE_SHARE_WRITE) != 0;
    fo->SharedDelete = (share & FILE_SHARE_DELETE) != 0;
    fo->FileName.Buffer = "";
    KeInitializeEvent(&fo->Lock, SynchronizationEvent, TRUE);
    KeInitializeEvent(&fo->Event, NotificationEvent, FALSE);

    PDEVICE_OBJECT top = IoGetAttachedDeviceReference(dev);
    PIRP irp = IopAllocateFileIrp(top, fo, IRP_MJ_CREATE, mode);
    if (!irp) {
        ObDereferenceObject(top);
        ObDereferenceObject(fo);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    irp->Flags |= IRP_CREATE_OPERATION;
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->Parameters.Create.Options = (disposition << 24) | options;
    sl->Parameters.Create.ShareAccess = (USHORT)share;
    __atomic_add_fetch(&dev->ReferenceCount, 1, __ATOMIC_ACQ_REL);
    s = IopKernelSynchronousCall(top, irp);
    ObDereferenceObject(top);
    if (!NT_SUCCESS(s)) {
        IopDeviceFileClosed(dev);
        ObDereferenceObject(fo);   /* not FO_FILE_OPEN: no CLOSE for a failed open */
        return s;
    }
    fo->Flags |= FO_FILE_OPEN;
    *out = fo;
    return STATUS_SUCCESS;
}
