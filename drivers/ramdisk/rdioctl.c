/*
 * The RAM disk's IOCTLs. All three are METHOD_BUFFERED: the I/O manager
 * gives one system buffer, Irp->AssociatedIrp.SystemBuffer, holding the
 * input and receiving the output, and copies OutputBufferLength's worth
 * (at most Information bytes) back to the caller at completion. A driver
 * answers in it, says how much it wrote in Information, and refuses an
 * output buffer too small for the answer with STATUS_BUFFER_TOO_SMALL
 * (Information 0: nothing to copy back).
 */
#include "drivers/ramdisk/ramdisk.h"

static NTSTATUS answer(PIRP irp, const void *data, ULONG size)
{
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    if (sl->Parameters.DeviceIoControl.OutputBufferLength < size)
        return RdComplete(irp, STATUS_BUFFER_TOO_SMALL, 0);
    memcpy(irp->AssociatedIrp.SystemBuffer, data, size);
    return RdComplete(irp, STATUS_SUCCESS, size);
}

NTSTATUS RdDeviceControl(PDEVICE_OBJECT dev, PIRP irp)
{
    RD_EXTENSION *x = dev->DeviceExtension;
    PIO_STACK_LOCATION sl = IoGetCurrentIrpStackLocation(irp);
    RdCount(x->Stats.Ioctls, 1);
    switch (sl->Parameters.DeviceIoControl.IoControlCode) {
    case IOCTL_DISK_GET_LENGTH_INFO: {
        GET_LENGTH_INFORMATION_T info = { (int64_t)x->Size };
        return answer(irp, &info, sizeof(info));
    }
    case IOCTL_DISK_GET_DRIVE_GEOMETRY_EX: {
        /* A made-up but consistent geometry, as virtual disks report:
         * 1 MiB cylinders of 32 heads x 64 sectors of 512 bytes. */
        DISK_GEOMETRY_EX_T g;
        memset(&g, 0, sizeof(g));
        g.Geometry.BytesPerSector = RD_SECTOR_SIZE;
        g.Geometry.SectorsPerTrack = 64;
        g.Geometry.TracksPerCylinder = 32;
        g.Geometry.Cylinders = (int64_t)(x->Size / (RD_SECTOR_SIZE * 64 * 32));
        g.Geometry.MediaType = 12;   /* FixedMedia */
        g.DiskSize = (int64_t)x->Size;
        /* NT accepts a buffer that holds at least the geometry and the
         * size (the partition/detection data after them is optional). */
        ULONG need = (ULONG)offsetof(DISK_GEOMETRY_EX_T, Data);
        if (sl->Parameters.DeviceIoControl.OutputBufferLength < need)
            return RdComplete(irp, STATUS_BUFFER_TOO_SMALL, 0);
        ULONG n = sl->Parameters.DeviceIoControl.OutputBufferLength < sizeof(g) ?
                  need : (ULONG)sizeof(g);
        memcpy(irp->AssociatedIrp.SystemBuffer, &g, n);
        return RdComplete(irp, STATUS_SUCCESS, n);
    }
    case IOCTL_RAMDISK_GET_STATS: {
        RAMDISK_STATS_T st;
        /* A snapshot; each field is read atomically, not the whole. */
        st.Reads = __atomic_load_n(&x->Stats.Reads, __ATOMIC_RELAXED);
        st.Writes = __atomic_load_n(&x->Stats.Writes, __ATOMIC_RELAXED);
        st.BytesRead = __atomic_load_n(&x->Stats.BytesRead, __ATOMIC_RELAXED);
        st.BytesWritten = __atomic_load_n(&x->Stats.BytesWritten, __ATOMIC_RELAXED);
        st.Flushes = __atomic_load_n(&x->Stats.Flushes, __ATOMIC_RELAXED);
        st.Ioctls = __atomic_load_n(&x->Stats.Ioctls, __ATOMIC_RELAXED);
        st.Refused = __atomic_load_n(&x->Stats.Refused, __ATOMIC_RELAXED);
        st.DiskSize = x->Size;
        return answer(irp, &st, sizeof(st));
    }
    default:
        return RdComplete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    }
}
