/*
 * The I/O test devices: one per transfer method, so that a test can send
 * the same request through each and watch what the I/O manager hands the
 * driver - \Device\IoTestBuffered (DO_BUFFERED_IO: a system buffer),
 * \Device\IoTestDirect (DO_DIRECT_IO: the caller's pages locked in an
 * MDL), \Device\IoTestNeither (no flag: the caller's raw pointer). Each
 * device has a small store that reads and writes reach at any byte offset
 * (iotest_rw.c), one IOCTL per method (iotest_ioctl.c), a record of the
 * last request (iotest_last.c) and a pend mode that completes requests
 * later, from a timer DPC or when released or cancelled (iotest_pend.c).
 */
#include "drivers/iotest/iotest.h"

static const struct {
    PCSTR Name;
    ULONG Flags;
} devices[IotKinds] = {
    [IotBuffered] = { "\\Device\\IoTestBuffered", DO_BUFFERED_IO },
    [IotDirect] = { "\\Device\\IoTestDirect", DO_DIRECT_IO },
    [IotNeither] = { "\\Device\\IoTestNeither", 0 },
};

static NTSTATUS iot_create(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    PFILE_OBJECT fo = IoGetCurrentIrpStackLocation(irp)->FileObject;
    /* Per-open state lives in the file object's FsContext, from CREATE
     * to CLOSE (NT's rule: CLOSE is the last IRP a file object sees). */
    IOT_FILE *f = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*f), IOT_TAG_FILE);
    if (!f)
        return IotComplete(irp, STATUS_INSUFFICIENT_RESOURCES, 0);
    memset(f, 0, sizeof(*f));
    fo->FsContext = f;
    return IotComplete(irp, STATUS_SUCCESS, 0);
}

static NTSTATUS iot_close(PDEVICE_OBJECT dev, PIRP irp)
{
    PFILE_OBJECT fo = IoGetCurrentIrpStackLocation(irp)->FileObject;
    /* A file opened from the kernel without a handle never sees
     * IRP_MJ_CLEANUP: whatever it still has held goes now, before the
     * file object (which those IRPs name) does. */
    (void)IotReleaseHeld(dev, fo, FALSE, TRUE);
    if (fo->FsContext)
        ExFreePoolWithTag(fo->FsContext, IOT_TAG_FILE);
    fo->FsContext = NULL;
    return IotComplete(irp, STATUS_SUCCESS, 0);
}

/* The last handle of a file is closed: its held requests are abandoned,
 * and a driver completes them now (NT's rule for IRP_MJ_CLEANUP). */
static NTSTATUS iot_cleanup(PDEVICE_OBJECT dev, PIRP irp)
{
    (void)IotReleaseHeld(dev, IoGetCurrentIrpStackLocation(irp)->FileObject, FALSE, TRUE);
    return IotComplete(irp, STATUS_SUCCESS, 0);
}

static void iot_unload(PDRIVER_OBJECT drv)
{
    while (drv->DeviceObject) {
        PDEVICE_OBJECT dev = drv->DeviceObject;
        IOT_EXTENSION *x = dev->DeviceExtension;
        (void)IotReleaseHeld(dev, NULL, TRUE, TRUE);
        IotDrainTimers(x);
        ExFreePoolWithTag(x->Store, IOT_TAG);
        x->Store = NULL;
        IoDeleteDevice(dev);
    }
}

static NTSTATUS create_one(PDRIVER_OBJECT drv, IOT_KIND kind)
{
    ANSI_STRING name;
    RtlInitAnsiString(&name, devices[kind].Name);
    PDEVICE_OBJECT dev;
    NTSTATUS s = IoCreateDevice(drv, sizeof(IOT_EXTENSION), &name, FILE_DEVICE_UNKNOWN, 0, FALSE, &dev);
    if (!NT_SUCCESS(s))
        return s;
    IOT_EXTENSION *x = dev->DeviceExtension;
    x->Kind = kind;
    KeInitializeSpinLock(&x->Lock);
    InitializeListHead(&x->Held);
    x->Store = ExAllocatePoolWithTag(NonPagedPoolNx, IOT_STORE_SIZE, IOT_TAG);
    if (!x->Store) {
        IoDeleteDevice(dev);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    memset(x->Store, 0, IOT_STORE_SIZE);
    dev->Flags |= devices[kind].Flags;
    dev->Flags &= ~DO_DEVICE_INITIALIZING;
    return STATUS_SUCCESS;
}

NTSTATUS IotDriverEntry(PDRIVER_OBJECT drv, PANSI_STRING registry_path)
{
    UNREFERENCED_PARAMETER(registry_path);
    for (int k = 0; k < IotKinds; k++) {
        NTSTATUS s = create_one(drv, (IOT_KIND)k);
        if (!NT_SUCCESS(s)) {
            iot_unload(drv);   /* a failed DriverEntry leaves nothing behind */
            return s;
        }
    }
    drv->MajorFunction[IRP_MJ_CREATE] = iot_create;
    drv->MajorFunction[IRP_MJ_CLOSE] = iot_close;
    drv->MajorFunction[IRP_MJ_CLEANUP] = iot_cleanup;
    drv->MajorFunction[IRP_MJ_READ] = IotReadWrite;
    drv->MajorFunction[IRP_MJ_WRITE] = IotReadWrite;
    drv->MajorFunction[IRP_MJ_DEVICE_CONTROL] = IotDeviceControl;
    drv->DriverUnload = iot_unload;
    return STATUS_SUCCESS;
}
