/*
 * The one-device test driver of io/tests/io_test_util.h.
 */
#include "io/tests/io_test_util.h"
#include "kernel/ktest/kt_internal.h"

static PDRIVER_DISPATCH pending_dispatch;
static ULONG pending_flags;
static PDEVICE_OBJECT created;

static void unload(PDRIVER_OBJECT d)
{
    while (d->DeviceObject)
        IoDeleteDevice(d->DeviceObject);
}

static NTSTATUS entry(PDRIVER_OBJECT d, PANSI_STRING reg)
{
    UNREFERENCED_PARAMETER(reg);
    for (int i = 0; i <= IRP_MJ_MAXIMUM_FUNCTION; i++)
        d->MajorFunction[i] = pending_dispatch;
    d->DriverUnload = unload;
    NTSTATUS s = IoCreateDevice(d, 0, NULL, FILE_DEVICE_UNKNOWN, 0, FALSE, &created);
    if (NT_SUCCESS(s))
        created->Flags |= pending_flags;
    return s;
}

PDEVICE_OBJECT IotCreateDevice(PDRIVER_DISPATCH dispatch, ULONG flags)
{
    static int serial;
    char buf[40];
    ksnprintf(buf, sizeof(buf), "\\Driver\\IoTestUtil%d", serial++);
    ANSI_STRING name;
    RtlInitAnsiString(&name, buf);
    pending_dispatch = dispatch;
    pending_flags = flags;
    created = NULL;
    PDRIVER_OBJECT d;
    return NT_SUCCESS(IoCreateDriver(&name, entry, &d)) ? created : NULL;
}

void IotDeleteDevice(PDEVICE_OBJECT dev)
{
    IoUnloadDriver(dev->DriverObject);
}

NTSTATUS IotCompleteAtOnce(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    irp->IoStatus.Status = STATUS_SUCCESS;
    irp->IoStatus.Information = sl->MajorFunction == IRP_MJ_READ || sl->MajorFunction == IRP_MJ_WRITE ?
                                sl->Parameters.Read.Length : 0;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return STATUS_SUCCESS;
}
