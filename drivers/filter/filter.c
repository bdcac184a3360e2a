/*
 * A filter above \Device\RamDisk0 - the first seed's scenario on the real
 * device stack. An unnamed device attached with IoAttachDeviceToDeviceStack
 * sits on top of the disk: every request for the disk now reaches the
 * filter first (the I/O manager sends to the top of the stack), and the
 * filter decides what to do with it.
 *
 * Reads are pended and served later from a worker thread (fltread.c).
 * Everything else passes through with IoSkipCurrentIrpStackLocation: the
 * disk sees the filter's own stack location as its own, and the filter
 * needs no completion routine. The filter's statistics IOCTL is answered
 * here and never reaches the disk.
 *
 * A filter must look like the device it sits on, or the I/O manager and
 * the drivers above would treat requests differently with it than
 * without: so it copies the disk's transfer method (DO_DIRECT_IO /
 * DO_BUFFERED_IO), its DeviceType and Characteristics.
 */
#include "drivers/filter/filter.h"

BOOLEAN FltEnter(FLT_EXTENSION *x)
{
    __atomic_add_fetch(&x->InFlight, 1, __ATOMIC_ACQ_REL);
    return TRUE;
}

void FltLeave(FLT_EXTENSION *x)
{
    __atomic_sub_fetch(&x->InFlight, 1, __ATOMIC_ACQ_REL);
}

NTSTATUS FltPassThrough(PDEVICE_OBJECT dev, PIRP irp)
{
    FLT_EXTENSION *x = dev->DeviceExtension;
    FltEnter(x);
    FltCount(x->Stats.PassedThrough);
    IoSkipCurrentIrpStackLocation(irp);
    NTSTATUS s = IoCallDriver(x->Lower, irp);
    /* The disk has the IRP (or finished it): the filter is done with it. */
    FltLeave(x);
    return s;
}

static NTSTATUS flt_device_control(PDEVICE_OBJECT dev, PIRP irp)
{
    FLT_EXTENSION *x = dev->DeviceExtension;
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    if (sl->Parameters.DeviceIoControl.IoControlCode != IOCTL_FILTER_GET_STATS)
        return FltPassThrough(dev, irp);
    NTSTATUS s = STATUS_BUFFER_TOO_SMALL;
    ULONG_PTR info = 0;
    if (sl->Parameters.DeviceIoControl.OutputBufferLength >= sizeof(FILTER_STATS_T)) {
        FILTER_STATS_T st;
        KIRQL old;
        KeAcquireSpinLock(&x->Lock, &old);
        st = x->Stats;
        KeReleaseSpinLock(&x->Lock, old);
        memcpy(irp->AssociatedIrp.SystemBuffer, &st, sizeof(st));   /* METHOD_BUFFERED */
        s = STATUS_SUCCESS;
        info = sizeof(st);
    }
    irp->IoStatus.Status = s;
    irp->IoStatus.Information = info;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return s;
}

/* Unload: stop taking reads, cancel the queued ones, stop the worker,
 * wait for the requests still inside the filter, then leave the stack.
 * Only then is the disk alone again, and the filter's device can go. */
static void flt_unload(PDRIVER_OBJECT drv)
{
    while (drv->DeviceObject) {
        PDEVICE_OBJECT dev = drv->DeviceObject;
        FLT_EXTENSION *x = dev->DeviceExtension;
        KIRQL old;
        KeAcquireSpinLock(&x->Lock, &old);
        x->Unloading = TRUE;   /* reads from now on pass straight through */
        KeReleaseSpinLock(&x->Lock, old);
        FltCancelQueued(x);
        x->Stop = TRUE;
        KeSetEvent(&x->Work, 0, FALSE);
        KeWaitForSingleObject(x->Worker, Executive, KernelMode, FALSE, NULL);
        KeDereferenceThread(x->Worker);
        x->Worker = NULL;
        /* Bounded: the disk completes at once; 10 s covers any test. */
        for (int ms = 0; __atomic_load_n(&x->InFlight, __ATOMIC_ACQUIRE) && ms < 10000; ms += 10) {
            LARGE_INTEGER d = { -KI_MS(10) };
            KeDelayExecutionThread(KernelMode, FALSE, &d);
        }
        IoDetachDevice(x->Lower);
        x->Lower = NULL;
        IoDeleteDevice(dev);
    }
}

NTSTATUS FilterDriverEntry(PDRIVER_OBJECT drv, PANSI_STRING registry_path)
{
    UNREFERENCED_PARAMETER(registry_path);
    ANSI_STRING disk_name;
    RtlInitAnsiString(&disk_name, "\\Device\\RamDisk0");
    PFILE_OBJECT disk_file;
    PDEVICE_OBJECT disk;
    NTSTATUS s = IoGetDeviceObjectPointer(&disk_name, FILE_READ_DATA, &disk_file, &disk);
    if (!NT_SUCCESS(s))
        return s;
    PDEVICE_OBJECT dev;
    /* Unnamed: a filter is reached through the disk's name, never its own. */
    s = IoCreateDevice(drv, sizeof(FLT_EXTENSION), NULL, disk->DeviceType, disk->Characteristics, FALSE, &dev);
    if (!NT_SUCCESS(s)) {
        ObDereferenceObject(disk_file);
        return s;
    }
    FLT_EXTENSION *x = dev->DeviceExtension;
    x->Self = dev;
    KeInitializeSpinLock(&x->Lock);
    InitializeListHead(&x->Queue);
    KeInitializeEvent(&x->Work, SynchronizationEvent, FALSE);
    x->Worker = KeCreateSystemThread(FltWorker, x, KI_DEFAULT_PRIORITY, "fltworker");
    if (!x->Worker) {
        IoDeleteDevice(dev);
        ObDereferenceObject(disk_file);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    x->Stats.WorkerThread = (uint64_t)(ULONG_PTR)x->Worker;
    dev->Flags |= disk->Flags & (DO_DIRECT_IO | DO_BUFFERED_IO | DO_POWER_PAGABLE);
    for (int i = 0; i <= IRP_MJ_MAXIMUM_FUNCTION; i++)
        drv->MajorFunction[i] = FltPassThrough;
    drv->MajorFunction[IRP_MJ_READ] = FltRead;
    drv->MajorFunction[IRP_MJ_DEVICE_CONTROL] = flt_device_control;
    drv->DriverUnload = flt_unload;
    /* The device it lands on (the top of the disk's stack) is where the
     * filter sends requests: it holds a reference on it until detached. */
    x->Lower = IoAttachDeviceToDeviceStack(dev, disk);
    /* The disk's file was only for finding it: the attachment keeps the
     * disk referenced now. */
    ObDereferenceObject(disk_file);
    if (!x->Lower) {
        x->Stop = TRUE;
        KeSetEvent(&x->Work, 0, FALSE);
        KeWaitForSingleObject(x->Worker, Executive, KernelMode, FALSE, NULL);
        KeDereferenceThread(x->Worker);
        IoDeleteDevice(dev);
        return STATUS_NO_SUCH_DEVICE;
    }
    dev->Flags &= ~DO_DEVICE_INITIALIZING;
    return STATUS_SUCCESS;
}
