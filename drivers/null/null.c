/*
 * \Device\Null: the device that takes everything and gives nothing, as
 * NT's null driver does. It asks for no transfer method (neither
 * DO_BUFFERED_IO nor DO_DIRECT_IO), so the I/O manager builds no system
 * buffer and locks no pages: a request to it costs only what the I/O
 * manager itself costs (handle, IRP, dispatch, completion) - the fixed
 * price `make bench` measures. It never touches Irp->UserBuffer, so it
 * need not probe it.
 *
 *   create, close, cleanup, flush   succeed
 *   read                            STATUS_END_OF_FILE, 0 bytes (NT's answer)
 *   write                           succeeds, Information = Length (all "written")
 *   anything else                   STATUS_INVALID_DEVICE_REQUEST (the I/O
 *                                   manager's default dispatch entry)
 *
 * \DosDevices\NUL names it too, the link through which Win32's "NUL" reaches it.
 */
#include "drivers/drivers.h"

#define NULL_DEVICE_NAME "\\Device\\Null"
#define NULL_LINK_NAME   "\\DosDevices\\NUL"

static NTSTATUS null_complete(PIRP irp, NTSTATUS status, ULONG_PTR information)
{
    irp->IoStatus.Status = status;
    irp->IoStatus.Information = information;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return status;
}

static NTSTATUS null_succeed(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    return null_complete(irp, STATUS_SUCCESS, 0);
}

static NTSTATUS null_read(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    /* Always at the end: NT's null device returns end-of-file, not success
     * with 0 bytes, so a copy loop reading it stops at once. */
    return null_complete(irp, STATUS_END_OF_FILE, 0);
}

static NTSTATUS null_write(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    return null_complete(irp, STATUS_SUCCESS, IoGetCurrentIrpStackLocation(irp)->Parameters.Write.Length);
}

static void null_unload(PDRIVER_OBJECT drv)
{
    ANSI_STRING link;
    RtlInitAnsiString(&link, NULL_LINK_NAME);
    (void)IoDeleteSymbolicLink(&link);
    while (drv->DeviceObject)
        IoDeleteDevice(drv->DeviceObject);
}

NTSTATUS NullDriverEntry(PDRIVER_OBJECT drv, PANSI_STRING registry_path)
{
    UNREFERENCED_PARAMETER(registry_path);
    ANSI_STRING name, link;
    RtlInitAnsiString(&name, NULL_DEVICE_NAME);
    RtlInitAnsiString(&link, NULL_LINK_NAME);
    PDEVICE_OBJECT dev;
    /* FILE_DEVICE_SECURE_OPEN: opening "\Device\Null\anything" is checked
     * against the device's own security, as NT's null device asks. */
    NTSTATUS s = IoCreateDevice(drv, 0, &name, FILE_DEVICE_NULL, FILE_DEVICE_SECURE_OPEN, FALSE, &dev);
    if (!NT_SUCCESS(s))
        return s;
    s = IoCreateSymbolicLink(&link, &name);
    if (!NT_SUCCESS(s)) {
        IoDeleteDevice(dev);
        return s;
    }
    /* No DO_BUFFERED_IO / DO_DIRECT_IO: neither I/O. */
    drv->MajorFunction[IRP_MJ_CREATE] = null_succeed;
    drv->MajorFunction[IRP_MJ_CLOSE] = null_succeed;
    drv->MajorFunction[IRP_MJ_CLEANUP] = null_succeed;
    drv->MajorFunction[IRP_MJ_FLUSH_BUFFERS] = null_succeed;
    drv->MajorFunction[IRP_MJ_READ] = null_read;
    drv->MajorFunction[IRP_MJ_WRITE] = null_write;
    drv->DriverUnload = null_unload;
    return STATUS_SUCCESS;
}
