/*
 * Paging I/O: the memory manager's own reads and writes of pages (NT's
 * IoPageRead, IoSynchronousPageWrite). The MDL describes the frames
 * themselves, already locked by the memory manager; the I/O manager
 * neither unlocks nor frees it, and completion only records the status
 * and sets the event, at whatever IRQL the driver completes - the
 * waiting thread is often the one taking the page fault.
 */
#include "io/iop.h"

static NTSTATUS paging_request(PFILE_OBJECT fo, PMDL mdl, PLARGE_INTEGER offset, PKEVENT event,
                               PIO_STATUS_BLOCK iosb, BOOLEAN read)
{
    PDEVICE_OBJECT dev = IoGetRelatedDeviceObject(fo);
    PIRP irp = IoAllocateIrp(dev->StackSize, FALSE);
    if (!irp)
        return STATUS_INSUFFICIENT_RESOURCES;
    irp->MdlAddress = mdl;
    irp->UserBuffer = MmGetMdlVirtualAddress(mdl);
    irp->UserIosb = iosb;
    irp->UserEvent = event;
    irp->RequestorMode = KernelMode;
    irp->Flags = IRP_PAGING_IO | IRP_NOCACHE | IRP_SYNCHRONOUS_PAGING_IO | (read ? IRP_INPUT_OPERATION : 0);
    irp->Tail.Overlay.OriginalFileObject = fo;
    irp->Tail.Overlay.Thread = KeGetCurrentThread();
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->MajorFunction = read ? IRP_MJ_READ : IRP_MJ_WRITE;
    sl->Parameters.Read.Length = MmGetMdlByteCount(mdl);
    sl->Parameters.Read.ByteOffset = *offset;
    sl->FileObject = fo;
    return IoCallDriver(dev, irp);
}

NTSTATUS IoPageRead(PFILE_OBJECT fo, PMDL mdl, PLARGE_INTEGER offset, PKEVENT event, PIO_STATUS_BLOCK iosb)
{
    ASSERT(mdl->MdlFlags & MDL_PAGES_LOCKED);
    return paging_request(fo, mdl, offset, event, iosb, TRUE);
}

NTSTATUS IoSynchronousPageWrite(PFILE_OBJECT fo, PMDL mdl, PLARGE_INTEGER offset, PKEVENT event,
                                PIO_STATUS_BLOCK iosb)
{
    ASSERT(mdl->MdlFlags & MDL_PAGES_LOCKED);
    return paging_request(fo, mdl, offset, event, iosb, FALSE);
}
