/*
 * The RAM disk's reads and writes. The caller's buffer arrives as
 * Irp->MdlAddress: its pages were locked by the I/O manager (direct I/O),
 * for writing when this is a read. A device that does programmed I/O -
 * the CPU moves the bytes - needs a kernel address for those pages, and
 * MmGetSystemAddressForMdlSafe gives one: it maps the MDL's frames into
 * system PTEs (once; the I/O manager's MmUnlockPages at completion
 * unmaps them). A DMA device would instead hand the MDL's PFN array to
 * the hardware and never map it.
 *
 * A raw disk moves whole sectors: an offset or a length that is not a
 * multiple of 512 is STATUS_INVALID_PARAMETER, and so is a transfer that
 * does not fit on the disk (the disk class driver's answer for a request
 * past the end of the partition). Length 0 succeeds and moves nothing.
 */
#include "drivers/ramdisk/ramdisk.h"

NTSTATUS RdReadWrite(PDEVICE_OBJECT dev, PIRP irp)
{
    RD_EXTENSION *x = dev->DeviceExtension;
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    BOOLEAN write = sl->MajorFunction == IRP_MJ_WRITE;
    /* Read and Write have the same layout. */
    ULONG length = sl->Parameters.Read.Length;
    LONGLONG offset = sl->Parameters.Read.ByteOffset.QuadPart;

    if (offset < 0 || (offset & (RD_SECTOR_SIZE - 1)) || (length & (RD_SECTOR_SIZE - 1))) {
        RdCount(x->Stats.Refused, 1);
        return RdComplete(irp, STATUS_INVALID_PARAMETER, 0);
    }
    if (length == 0) {
        if (write)
            RdCount(x->Stats.Writes, 1);
        else
            RdCount(x->Stats.Reads, 1);
        return RdComplete(irp, STATUS_SUCCESS, 0);
    }
    if ((ULONG64)offset > x->Size || length > x->Size - (ULONG64)offset) {
        RdCount(x->Stats.Refused, 1);
        return RdComplete(irp, STATUS_INVALID_PARAMETER, 0);
    }
    PUCHAR buf;
    if (dev->Flags & DO_BUFFERED_IO) {
        /* The bench twin: the I/O manager's system buffer, a copy. */
        buf = irp->AssociatedIrp.SystemBuffer;
    } else {
        /* Direct I/O gives an MDL for every transfer with a length; a driver
         * above that built the IRP by hand without one broke the contract. */
        if (!irp->MdlAddress || MmGetMdlByteCount(irp->MdlAddress) < length) {
            RdCount(x->Stats.Refused, 1);
            return RdComplete(irp, STATUS_INVALID_PARAMETER, 0);
        }
        /* No execute: this mapping only carries data. */
        buf = MmGetSystemAddressForMdlSafe(irp->MdlAddress, NormalPagePriority | MdlMappingNoExecute);
    }
    if (!buf) {
        /* Out of system PTEs: a PIO driver can only fail the request (or
         * retry it later); the caller's pages are untouched. */
        RdCount(x->Stats.Refused, 1);
        return RdComplete(irp, STATUS_INSUFFICIENT_RESOURCES, 0);
    }
    if (write) {
        RdStorageWrite(x->Storage, (ULONG64)offset, buf, length);
        RdCount(x->Stats.Writes, 1);
        RdCount(x->Stats.BytesWritten, length);
    } else {
        RdStorageRead(x->Storage, (ULONG64)offset, buf, length);
        RdCount(x->Stats.Reads, 1);
        RdCount(x->Stats.BytesRead, length);
    }
    return RdComplete(irp, STATUS_SUCCESS, length);
}
