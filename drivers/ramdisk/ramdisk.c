/*
 * \Device\RamDisk0: a disk whose sectors are nonpaged memory. It is what
 * a storage driver looks like with the hardware taken away: DO_DIRECT_IO
 * (the I/O manager locks the caller's pages into an MDL, nothing is
 * copied on the way in), transfers in whole 512-byte sectors, and the
 * disk IOCTLs a raw disk answers. rdrw.c moves the bytes, rdioctl.c
 * answers the IOCTLs.
 *
 * Its size is the `ramdisk=MiB` boot option (1..32, default 4, less on a
 * machine of 32 MiB or under: rdsize.c). Two more devices serve make
 * bench: \Device\RamDisk1 (2 MiB, or less likewise; direct I/O, no filter
 * above it) and \Device\RamDisk1Buffered (the same bytes, DO_BUFFERED_IO),
 * so that the two transfer methods are compared with nothing else different.
 */
#include "drivers/ramdisk/ramdisk.h"

static ULONG64 disk_mib(void)
{
    const char *v = KeGetOption("ramdisk");
    ULONG64 mib, def = RdDefaultDiskMib(MmNumberOfPhysicalPages);
    if (!v)
        return def;
    if (!RtlParseUlong64(v, &mib) || mib < 1 || mib > RD_MAX_MIB) {
        kprintf("ramdisk: ramdisk=%s is not 1..%u MiB: using %llu MiB\n", v, RD_MAX_MIB, (unsigned long long)def);
        return def;
    }
    return mib;
}

static NTSTATUS rd_succeed(PDEVICE_OBJECT dev, PIRP irp)
{
    RD_EXTENSION *x = dev->DeviceExtension;
    if (IoGetCurrentIrpStackLocation(irp)->MajorFunction == IRP_MJ_FLUSH_BUFFERS)
        RdCount(x->Stats.Flushes, 1);   /* nothing is cached: the bytes are already "on the disk" */
    return RdComplete(irp, STATUS_SUCCESS, 0);
}

static void rd_unload(PDRIVER_OBJECT drv)
{
    while (drv->DeviceObject) {
        PDEVICE_OBJECT dev = drv->DeviceObject;
        RD_EXTENSION *x = dev->DeviceExtension;
        /* The storage goes now: the device is unnamed at once, and the
         * dispatch routines stay reachable only through files still open
         * on it - which the I/O manager refuses to send to after unload
         * in NT; mdlos's tests close theirs first. */
        if (x->OwnsStorage)
            RdStorageFree(x->Storage);
        x->Storage = NULL;
        x->Size = 0;
        IoDeleteDevice(dev);
    }
}

/* One disk device named NAME: with its own storage of SIZE bytes, or a
 * second view of SHARE's. */
static NTSTATUS rd_create(PDRIVER_OBJECT drv, PCSTR devname, ULONG64 size, PDEVICE_OBJECT share, ULONG method,
                          PDEVICE_OBJECT *out)
{
    ANSI_STRING name;
    RtlInitAnsiString(&name, devname);
    PDEVICE_OBJECT dev;
    NTSTATUS s = IoCreateDevice(drv, sizeof(RD_EXTENSION), &name, FILE_DEVICE_DISK, 0, FALSE, &dev);
    if (!NT_SUCCESS(s))
        return s;
    RD_EXTENSION *x = dev->DeviceExtension;
    if (share) {
        RD_EXTENSION *o = share->DeviceExtension;
        x->Storage = o->Storage;
        x->Size = o->Size;
    } else {
        x->Size = size;
        /* Nonpaged: a request may be served at DISPATCH_LEVEL (from a DPC or
         * a filter's completion path), where nothing may fault. Not zeroed
         * here: rdstore.c zeroes a page when it is first written. */
        s = RdStorageCreate(x->Size, &x->Storage);
        if (!NT_SUCCESS(s)) {
            IoDeleteDevice(dev);
            return s;
        }
        x->OwnsStorage = TRUE;
    }
    x->Stats.DiskSize = x->Size;
    /* DO_DIRECT_IO: Irp->MdlAddress describes the caller's locked pages;
     * DO_BUFFERED_IO (the bench twin): a system buffer holds a copy. */
    dev->Flags |= method;
    dev->SectorSize = RD_SECTOR_SIZE;
    /* The buffer may lie anywhere: the disk is reached through a mapping,
     * not by a DMA engine with alignment rules. */
    dev->AlignmentRequirement = FILE_BYTE_ALIGNMENT;
    *out = dev;
    return STATUS_SUCCESS;
}

NTSTATUS RamDiskDriverEntry(PDRIVER_OBJECT drv, PANSI_STRING registry_path)
{
    UNREFERENCED_PARAMETER(registry_path);
    PDEVICE_OBJECT disk0, bench, twin;
    NTSTATUS s = rd_create(drv, "\\Device\\RamDisk0", disk_mib() << 20, NULL, DO_DIRECT_IO, &disk0);
    if (!NT_SUCCESS(s))
        return s;
    if (!NT_SUCCESS(s = rd_create(drv, "\\Device\\RamDisk1", RdBenchDiskMib(MmNumberOfPhysicalPages) << 20, NULL, DO_DIRECT_IO, &bench)) ||
        !NT_SUCCESS(s = rd_create(drv, "\\Device\\RamDisk1Buffered", 0, bench, DO_BUFFERED_IO, &twin))) {
        rd_unload(drv);
        return s;
    }
    drv->MajorFunction[IRP_MJ_CREATE] = rd_succeed;
    drv->MajorFunction[IRP_MJ_CLOSE] = rd_succeed;
    drv->MajorFunction[IRP_MJ_CLEANUP] = rd_succeed;
    drv->MajorFunction[IRP_MJ_FLUSH_BUFFERS] = rd_succeed;
    drv->MajorFunction[IRP_MJ_READ] = RdReadWrite;
    drv->MajorFunction[IRP_MJ_WRITE] = RdReadWrite;
    drv->MajorFunction[IRP_MJ_DEVICE_CONTROL] = RdDeviceControl;
    drv->DriverUnload = rd_unload;
    return STATUS_SUCCESS;
}
