/*
 * Reads and writes of a test device's store, at any byte offset and
 * length. Where the caller's bytes are depends on the device's method:
 *   buffered  Irp->AssociatedIrp.SystemBuffer, nonpaged, in any context;
 *             the I/O manager copies a read back to the caller later.
 *   direct    Irp->MdlAddress, the caller's pages locked; mapped into
 *             system space with MmGetSystemAddressForMdlSafe.
 *   neither   Irp->UserBuffer, the caller's own pointer, good only in the
 *             caller's context (this dispatch routine runs there: the top
 *             driver is called by the system service). For a UserMode
 *             requestor it is probed and copied inside ExTry, so a bad
 *             pointer becomes the request's status instead of a crash.
 * The transfer is always done here, in dispatch; pend mode only delays the
 * completion (IotFinish).
 */
#include "drivers/iotest/iotest.h"

/* Copy between the store and a neither-I/O buffer; the exception's status
 * if the caller's memory is bad. */
static NTSTATUS copy_neither(PIRP irp, PUCHAR store, ULONG n, BOOLEAN write)
{
    PVOID ubuf = irp->UserBuffer;
    if (irp->RequestorMode == KernelMode) {
        /* A kernel caller's pointer is trusted, as NT trusts it. */
        if (write)
            memcpy(store, ubuf, n);
        else
            memcpy(ubuf, store, n);
        return STATUS_SUCCESS;
    }
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        if (write) {
            ProbeForRead(ubuf, n, 1);
            ExCopyFromUser(store, ubuf, n);
        } else {
            ProbeForWrite(ubuf, n, 1);
            ExCopyToUser(ubuf, store, n);
        }
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    return s;
}

NTSTATUS IotReadWrite(PDEVICE_OBJECT dev, PIRP irp)
{
    IOT_EXTENSION *x = dev->DeviceExtension;
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    BOOLEAN write = sl->MajorFunction == IRP_MJ_WRITE;
    ULONG length = sl->Parameters.Read.Length;
    LONGLONG offset = sl->Parameters.Read.ByteOffset.QuadPart;
    IotRecordRequest(x, irp);
    if (length == 0)
        return IotFinish(dev, irp, STATUS_SUCCESS, 0);
    if (offset < 0)
        return IotFinish(dev, irp, STATUS_INVALID_PARAMETER, 0);
    if ((ULONG64)offset >= IOT_STORE_SIZE)
        return IotFinish(dev, irp, write ? STATUS_DISK_FULL : STATUS_END_OF_FILE, 0);
    ULONG n = length;
    if (n > IOT_STORE_SIZE - (ULONG)offset)
        n = IOT_STORE_SIZE - (ULONG)offset;   /* cut at the end, as a file is */
    PUCHAR store = x->Store + offset;
    NTSTATUS s = STATUS_SUCCESS;
    switch (x->Kind) {
    case IotBuffered:
        if (write)
            memcpy(store, irp->AssociatedIrp.SystemBuffer, n);
        else
            memcpy(irp->AssociatedIrp.SystemBuffer, store, n);
        break;
    case IotDirect: {
        PUCHAR buf = irp->MdlAddress ?
                     MmGetSystemAddressForMdlSafe(irp->MdlAddress, NormalPagePriority | MdlMappingNoExecute) : NULL;
        if (!irp->MdlAddress)
            s = STATUS_INVALID_PARAMETER;
        else if (!buf)
            s = STATUS_INSUFFICIENT_RESOURCES;
        else if (write)
            memcpy(store, buf, n);
        else
            memcpy(buf, store, n);
        break;
    }
    default:
        s = copy_neither(irp, store, n, write);
        break;
    }
    return IotFinish(dev, irp, s, NT_SUCCESS(s) ? n : 0);
}
