/*
 * The virtio-blk driver's dispatch routines: \Device\Harddisk0\DR0 and
 * \Device\Harddisk1\DR0 on QEMU's virtio-blk-pci functions (modern
 * transport, 1af4:1042). Bring-up and unload are in vblk_init.c, the ring
 * in vblk_queue.c; docs/io.md §10 tells the whole story.
 *
 * Reads and writes are checked here (sector-aligned offset and length,
 * inside the disk: the RAM disk's rules) and queued; flushes become
 * VIRTIO_BLK_T_FLUSH when the device has a write cache; the IOCTLs answer
 * from what the device reported.
 */
#include "drivers/virtio/vblk.h"
#include "kernel/ntsyscall.h"

VB_DISK *VblkDisks[VB_MAX_DISKS];
ULONG VblkDiskCount;

static NTSTATUS vb_read_write(PDEVICE_OBJECT dev, PIRP irp)
{
    VB_DISK *x = dev->DeviceExtension;
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    ULONG length = sl->Parameters.Read.Length;
    LONGLONG offset = sl->Parameters.Read.ByteOffset.QuadPart;
    ULONG64 size = x->Capacity * 512;
    if (offset < 0 || (offset & (x->SectorSize - 1)) || (length & (x->SectorSize - 1)) ||
        (ULONG64)offset > size || length > size - (ULONG64)offset ||
        (length && (!irp->MdlAddress || MmGetMdlByteCount(irp->MdlAddress) < length))) {
        __atomic_add_fetch(&x->Stats.Refused, 1, __ATOMIC_RELAXED);
        return VbComplete(irp, STATUS_INVALID_PARAMETER, 0);
    }
    if (length == 0)
        return VbComplete(irp, STATUS_SUCCESS, 0);
    return VbQueue(x, irp, sl->MajorFunction == IRP_MJ_WRITE ? VBLK_T_OUT : VBLK_T_IN, offset, length);
}

static NTSTATUS vb_flush(PDEVICE_OBJECT dev, PIRP irp)
{
    VB_DISK *x = dev->DeviceExtension;
    /* Without FLUSH the device has no volatile write cache to empty. */
    if (!(x->Features & VBLK_F_FLUSH))
        return VbComplete(irp, STATUS_SUCCESS, 0);
    return VbQueue(x, irp, VBLK_T_FLUSH, 0, 0);
}

static NTSTATUS vb_succeed(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    return VbComplete(irp, STATUS_SUCCESS, 0);
}

static NTSTATUS answer(PIRP irp, const void *data, ULONG need, ULONG size)
{
    ULONG out = IoGetCurrentIrpStackLocation(irp)->Parameters.DeviceIoControl.OutputBufferLength;
    if (out < need)
        return VbComplete(irp, STATUS_BUFFER_TOO_SMALL, 0);
    ULONG n = out < size ? need : size;
    memcpy(irp->AssociatedIrp.SystemBuffer, data, n);
    return VbComplete(irp, STATUS_SUCCESS, n);
}

static void last_request(VB_DISK *x, VBLK_LAST_T *l)
{
    memset(l, 0, sizeof(*l));
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    l->Chunk = x->Last.Chunk;
    l->Elements = x->Last.Elements;
    l->MdlByteOffset = x->Last.MdlByteOffset;
    l->MdlPages = x->Last.MdlPages;
    for (ULONG i = 0; i < VB_LAST_ELEMENTS; i++) {
        l->MdlPfn[i] = x->Last.MdlPfn[i];
        l->Address[i] = x->Last.Address[i];
        l->Length[i] = x->Last.Length[i];
    }
    l->Indirect = x->Last.Indirect;
    l->RingDescriptors = x->Last.RingDescriptors;
    l->MaxInFlight = x->Stats.MaxInFlight;
    l->InFlight = x->Stats.InFlight;
    l->Errors = x->Stats.Errors;
    l->Notifies = x->Stats.Notifies;
    l->NotifiesSuppressed = x->Stats.NotifiesSuppressed;
    l->NotifiesDeferred = x->Stats.NotifiesDeferred;
    l->Timed = x->Stats.Timed;
    l->CyclesToNotify = x->Stats.CyclesToNotify;
    l->CyclesNotify = x->Stats.CyclesNotify;
    l->CyclesDevice = x->Stats.CyclesDevice;
    l->CyclesIsrToDpc = x->Stats.CyclesIsrToDpc;
    l->CyclesDpc = x->Stats.CyclesDpc;
    for (ULONG i = 0; i < 6; i++)
        l->LastT[i] = x->Stats.LastT[i];
    KeReleaseSpinLock(&x->Lock, old);
    l->Interrupts = x->Stats.Interrupts;
    l->SubRequests = x->Stats.SubRequests;
    l->Merged = x->Stats.Merged;
    l->Requests = x->Stats.Requests;
    l->Dpcs = x->Stats.Dpcs;
    l->CompletedCancelled = x->Stats.CompletedCancelled;
    l->Outstanding = (uint32_t)VblkReqsOutstanding;
    l->Msix = x->Msix;
    l->IndirectNegotiated = x->Indirect;
}

/* The same answers as the RAM disk's (drivers/ramdisk/rdioctl.c). */
static NTSTATUS vb_ioctl(PDEVICE_OBJECT dev, PIRP irp)
{
    VB_DISK *x = dev->DeviceExtension;
    ULONG64 size = x->Capacity * 512;
    switch (IoGetCurrentIrpStackLocation(irp)->Parameters.DeviceIoControl.IoControlCode) {
    case IOCTL_DISK_GET_LENGTH_INFO: {
        GET_LENGTH_INFORMATION_T info = { (int64_t)size };
        return answer(irp, &info, sizeof(info), sizeof(info));
    }
    case IOCTL_DISK_GET_DRIVE_GEOMETRY_EX: {
        /* Made up and consistent: 32 heads x 64 sectors per track. */
        DISK_GEOMETRY_EX_T g;
        memset(&g, 0, sizeof(g));
        g.Geometry.BytesPerSector = x->SectorSize;
        g.Geometry.SectorsPerTrack = 64;
        g.Geometry.TracksPerCylinder = 32;
        g.Geometry.Cylinders = (int64_t)(size / ((ULONG64)x->SectorSize * 64 * 32));
        g.Geometry.MediaType = 12;   /* FixedMedia */
        g.DiskSize = (int64_t)size;
        return answer(irp, &g, (ULONG)offsetof(DISK_GEOMETRY_EX_T, Data), sizeof(g));
    }
    case IOCTL_VBLK_LAST_REQUEST: {
        VBLK_LAST_T l;
        last_request(x, &l);
        return answer(irp, &l, sizeof(l), sizeof(l));
    }
    default:
        return VbComplete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    }
}

/* Internal device control: only other kernel components (and tests) send
 * it; NtDeviceIoControlFile builds IRP_MJ_DEVICE_CONTROL only. */
static NTSTATUS vb_internal_ioctl(PDEVICE_OBJECT dev, PIRP irp)
{
    VB_DISK *x = dev->DeviceExtension;
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    if (sl->Parameters.DeviceIoControl.IoControlCode != IOCTL_VBLK_INTERNAL_RAW_TYPE)
        return VbComplete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    if (sl->Parameters.DeviceIoControl.InputBufferLength < sizeof(ULONG))
        return VbComplete(irp, STATUS_INVALID_PARAMETER, 0);
    ULONG type = *(ULONG *)irp->AssociatedIrp.SystemBuffer;
    /* Only types that carry no data: a header and a status byte. */
    if (type == VBLK_T_IN || type == VBLK_T_OUT)
        return VbComplete(irp, STATUS_INVALID_PARAMETER, 0);
    return VbQueue(x, irp, type, 0, 0);
}

void VbInstallDispatch(PDRIVER_OBJECT drv)
{
    drv->MajorFunction[IRP_MJ_CREATE] = vb_succeed;
    drv->MajorFunction[IRP_MJ_CLOSE] = vb_succeed;
    drv->MajorFunction[IRP_MJ_CLEANUP] = vb_succeed;
    drv->MajorFunction[IRP_MJ_READ] = vb_read_write;
    drv->MajorFunction[IRP_MJ_WRITE] = vb_read_write;
    drv->MajorFunction[IRP_MJ_FLUSH_BUFFERS] = vb_flush;
    drv->MajorFunction[IRP_MJ_DEVICE_CONTROL] = vb_ioctl;
    drv->MajorFunction[IRP_MJ_INTERNAL_DEVICE_CONTROL] = vb_internal_ioctl;
    drv->DriverUnload = VblkDriverUnload;
}
