/*
 * The RAM disk through the real stack, from kernel mode: \Device\RamDisk0
 * opened by name reaches the filter on top of it (drivers/filter), which
 * pends every read and serves it from its worker thread.
 */
#include "drivers/tests/drv_test_util.h"
#include "drivers/ramdisk/ramdisk_ioctl.h"
#include "drivers/filter/filter.h"
#include "drivers/ramdisk/ramdisk.h"
#include "kernel/ntsyscall.h"

static RAMDISK_STATS_T disk_stats(PDEVICE_OBJECT top)
{
    RAMDISK_STATS_T st;
    ULONG_PTR info;
    KT_ST(DrvtIoctl(top, NULL, IOCTL_RAMDISK_GET_STATS, NULL, 0, &st, sizeof(st), &info), STATUS_SUCCESS);
    KT_EQ(info, sizeof(st));
    return st;
}

static FILTER_STATS_T filter_stats(PDEVICE_OBJECT top)
{
    FILTER_STATS_T st;
    ULONG_PTR info;
    KT_ST(DrvtIoctl(top, NULL, IOCTL_FILTER_GET_STATS, NULL, 0, &st, sizeof(st), &info), STATUS_SUCCESS);
    KT_EQ(info, sizeof(st));
    return st;
}

KTEST(ramdisk, the_filter_sits_on_top_and_copies_the_disks_method)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    DrvtOpen("\\Device\\RamDisk0", &fo, &top);
    PDEVICE_OBJECT disk = DrvtNamedDevice("\\Device\\RamDisk0");
    KT_ASSERT(disk != NULL);
    KT_EQ(fo->DeviceObject, disk);
    KT_NE(top, disk);                                /* the filter */
    KT_EQ(disk->AttachedDevice, top);
    KT_EQ(top->DeviceObjectExtension->AttachedTo, disk);
    KT_EQ(top->StackSize, disk->StackSize + 1);
    KT_EQ(top->Flags & (DO_DIRECT_IO | DO_BUFFERED_IO), DO_DIRECT_IO);
    KT_EQ(top->DeviceType, FILE_DEVICE_DISK);
    KT_EQ(top->SectorSize, 512);
    KT_STREQ(ObGetObjectName(top), "");              /* unnamed */
    ObDereferenceObject(fo);
}

KTEST(ramdisk, write_then_read_back_through_the_filter_from_its_worker)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    DrvtOpen("\\Device\\RamDisk0", &fo, &top);
    const ULONG len = 3 * PAGE_SIZE;
    /* A buffer that does not start on a page: the MDL has a byte offset. */
    PUCHAR raw = ExAllocatePoolWithTag(NonPagedPoolNx, len + PAGE_SIZE, DRVT_TAG);
    PUCHAR back = ExAllocatePoolWithTag(NonPagedPoolNx, len + PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(raw && back);
    PUCHAR buf = raw + 100, in = back + 200;
    DrvtFill(buf, len, 7);
    memset(in, 0, len);
    RAMDISK_STATS_T d0 = disk_stats(top);
    FILTER_STATS_T f0 = filter_stats(top);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, len, 64 * 512, &info), STATUS_SUCCESS);
    KT_EQ(info, len);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, in, len, 64 * 512, &info), STATUS_SUCCESS);
    KT_EQ(info, len);
    KT_ASSERT(DrvtCheck(in, len, 7));
    RAMDISK_STATS_T d1 = disk_stats(top);
    FILTER_STATS_T f1 = filter_stats(top);
    KT_EQ(d1.Writes - d0.Writes, 1);
    KT_EQ(d1.Reads - d0.Reads, 1);
    KT_EQ(d1.BytesRead - d0.BytesRead, len);
    KT_EQ(d1.BytesWritten - d0.BytesWritten, len);
    /* The read was pended, sent down by the worker, and its completion
     * routine ran there - not in this thread, which dispatched it. */
    KT_EQ(f1.ReadsPended - f0.ReadsPended, 1);
    KT_EQ(f1.ReadsForwarded - f0.ReadsForwarded, 1);
    KT_EQ(f1.ReadsCompleted - f0.ReadsCompleted, 1);
    KT_EQ(f1.CompletedInWorker - f0.CompletedInWorker, 1);
    KT_EQ(f1.LastDispatchThread, (uint64_t)KeGetCurrentThread());
    KT_EQ(f1.LastCompletionThread, f1.WorkerThread);
    KT_NE(f1.WorkerThread, (uint64_t)KeGetCurrentThread());
    KT_EQ(f1.MdlsBuilt - f0.MdlsBuilt, 0);          /* direct I/O gave it the MDL */
    KT_EQ(f1.Queued, 0);
    KT_GE(f1.PassedThrough - f0.PassedThrough, 1);  /* the write (and the stats IOCTLs' disk half) */
    ExFreePoolWithTag(raw, DRVT_TAG);
    ExFreePoolWithTag(back, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* rdstore.c zeroes a page at its first write, not at the start: until then
 * the frame under it holds whatever it held before the pool gave it out.
 * Here that is made visible on purpose (the page's bytes are set to 0xAB
 * under the disk, as a frame some other component dirtied would be): a
 * read must still see zeros, a first write of one sector in the middle
 * must leave the page's other sectors zero, and what was written must read
 * back - through the filter, from its worker. With the bitmap check in
 * RdStorageRead removed the first read sees 0xAB; with the zeroing in
 * RdStorageWrite removed the sectors around the written one do. */
KTEST(ramdisk, an_unwritten_sector_reads_as_zeros_and_a_written_one_survives)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    DrvtOpen("\\Device\\RamDisk0", &fo, &top);
    RD_EXTENSION *x = DrvtNamedDevice("\\Device\\RamDisk0")->DeviceExtension;
    RD_STORAGE *st = x->Storage;
    ULONG64 page = st->Size / PAGE_SIZE;
    while (page-- > 0 && RdStoragePageWritten(st, page))
        ;
    KT_ASSERT(page < st->Size / PAGE_SIZE);   /* some page never written by the tests before */
    memset(st->Bytes + page * PAGE_SIZE, 0xAB, PAGE_SIZE);
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(buf != NULL);
    LONGLONG at = (LONGLONG)(page * PAGE_SIZE);
    ULONG_PTR info;
    memset(buf, 0x5A, PAGE_SIZE);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, PAGE_SIZE, at, &info), STATUS_SUCCESS);
    KT_EQ(info, PAGE_SIZE);
    for (ULONG i = 0; i < PAGE_SIZE; i++)
        KT_EQ(buf[i], 0);
    ULONG64 written0 = st->PagesWritten;
    DrvtFill(buf, 512, 11);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, 512, at + 3 * 512, &info), STATUS_SUCCESS);
    KT_ASSERT(RdStoragePageWritten(st, page));
    KT_EQ(st->PagesWritten, written0 + 1);
    memset(buf, 0x5A, PAGE_SIZE);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, PAGE_SIZE, at, &info), STATUS_SUCCESS);
    KT_ASSERT(DrvtCheck(buf + 3 * 512, 512, 11));
    for (ULONG i = 0; i < PAGE_SIZE; i++)
        if (i < 3 * 512 || i >= 4 * 512)
            KT_EQ(buf[i], 0);
    /* A second write to the page takes the page as it is. */
    DrvtFill(buf, 512, 12);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, 512, at, &info), STATUS_SUCCESS);
    KT_EQ(st->PagesWritten, written0 + 1);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, PAGE_SIZE, at, &info), STATUS_SUCCESS);
    KT_ASSERT(DrvtCheck(buf, 512, 12));
    KT_ASSERT(DrvtCheck(buf + 3 * 512, 512, 11));
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
}

KTEST(ramdisk, misaligned_or_past_the_end_is_invalid_parameter)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    DrvtOpen("\\Device\\RamDisk0", &fo, &top);
    RAMDISK_STATS_T d0 = disk_stats(top);
    LONGLONG size = (LONGLONG)d0.DiskSize;
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, 2048, DRVT_TAG);
    KT_ASSERT(buf != NULL);
    ULONG_PTR info;
    static const struct { LONGLONG off; ULONG len; } bad[] = {
        { 100, 512 }, { 512, 100 }, { 511, 1024 }, { 0, 513 }, { 1, 0 },
    };
    for (ULONG i = 0; i < ARRAYSIZE(bad); i++) {
        KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, bad[i].len, bad[i].off, &info),
              STATUS_INVALID_PARAMETER);
        KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, bad[i].len, bad[i].off, &info),
              STATUS_INVALID_PARAMETER);
        KT_EQ(info, 0);
    }
    /* Past the end: a transfer that does not fit, one that starts at the end. */
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, 1024, size - 512, &info), STATUS_INVALID_PARAMETER);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, 512, size, &info), STATUS_INVALID_PARAMETER);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, 512, size + (1LL << 40), &info), STATUS_INVALID_PARAMETER);
    /* The last sector is fine; so is a length of 0. */
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, 512, size - 512, &info), STATUS_SUCCESS);
    KT_EQ(info, 512);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, 0, 0, &info), STATUS_SUCCESS);
    KT_EQ(info, 0);
    RAMDISK_STATS_T d1 = disk_stats(top);
    KT_EQ(d1.Refused - d0.Refused, 2 * ARRAYSIZE(bad) + 3);
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* The defaults shrink with the RAM (rdsize.c), never to nothing, and the
 * machines the tests boot get: 16 MiB 1 + 1, 32 MiB 3 + 1, 64 and 256 MiB
 * 4 + 2 (page counts above 1 MiB). */
KTEST(ramdisk, default_sizes_follow_the_ram)
{
    static const struct { PFN_NUMBER pages; ULONG64 disk, bench; } want[] = {
        { 1024, 1, 1 }, { 3840, 1, 1 }, { 7936, 3, 1 }, { 16128, 4, 2 }, { 65248, 4, 2 }, { 1179392, 4, 2 },
    };
    for (ULONG i = 0; i < ARRAYSIZE(want); i++) {
        KT_EQ(RdDefaultDiskMib(want[i].pages), want[i].disk);
        KT_EQ(RdBenchDiskMib(want[i].pages), want[i].bench);
        /* from 16 MiB on, together at most a quarter of the RAM */
        if (want[i].pages >= 3840)
            KT_LE((RdDefaultDiskMib(want[i].pages) + RdBenchDiskMib(want[i].pages)) << 8, want[i].pages / 4);
    }
}

KTEST(ramdisk, length_and_geometry_ioctls)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    DrvtOpen("\\Device\\RamDisk0", &fo, &top);
    ULONG64 size = disk_stats(top).DiskSize;
    if (!KeGetOption("ramdisk")) {
        KT_EQ(size, RdDefaultDiskMib(MmNumberOfPhysicalPages) << 20);   /* the default */
        if (MmNumberOfPhysicalPages >= 16000)
            KT_EQ(size, 4u << 20);   /* on 64 MiB and more, what it always was */
    }
    GET_LENGTH_INFORMATION_T len;
    ULONG_PTR info;
    KT_ST(DrvtIoctl(top, fo, IOCTL_DISK_GET_LENGTH_INFO, NULL, 0, &len, sizeof(len), &info), STATUS_SUCCESS);
    KT_EQ(info, sizeof(len));
    KT_EQ(len.Length, size);
    KT_ST(DrvtIoctl(top, fo, IOCTL_DISK_GET_LENGTH_INFO, NULL, 0, &len, sizeof(len) - 1, &info),
          STATUS_BUFFER_TOO_SMALL);
    KT_EQ(info, 0);
    DISK_GEOMETRY_EX_T g;
    memset(&g, 0xEE, sizeof(g));
    KT_ST(DrvtIoctl(top, fo, IOCTL_DISK_GET_DRIVE_GEOMETRY_EX, NULL, 0, &g, sizeof(g), &info),
          STATUS_SUCCESS);
    KT_EQ(info, sizeof(g));
    KT_EQ(g.Geometry.BytesPerSector, 512);
    KT_EQ(g.DiskSize, size);
    KT_EQ(g.Geometry.MediaType, 12);
    KT_EQ((ULONG64)g.Geometry.Cylinders * g.Geometry.TracksPerCylinder * g.Geometry.SectorsPerTrack * 512, size);
    /* Room for the geometry and the size only: accepted, the rest optional. */
    KT_ST(DrvtIoctl(top, fo, IOCTL_DISK_GET_DRIVE_GEOMETRY_EX, NULL, 0, &g,
                           offsetof(DISK_GEOMETRY_EX_T, Data), &info),
          STATUS_SUCCESS);
    KT_EQ(info, offsetof(DISK_GEOMETRY_EX_T, Data));
    KT_ST(DrvtIoctl(top, fo, IOCTL_DISK_GET_DRIVE_GEOMETRY_EX, NULL, 0, &g, sizeof(DISK_GEOMETRY_T), &info),
          STATUS_BUFFER_TOO_SMALL);
    KT_ST(DrvtFlush(top, fo), STATUS_SUCCESS);
    KT_ST(DrvtIoctl(top, fo, CTL_CODE(FILE_DEVICE_DISK_T, 0x7FF, METHOD_BUFFERED, FILE_ANY_ACCESS), NULL, 0,
                           NULL, 0, &info),
          STATUS_INVALID_DEVICE_REQUEST);
    ObDereferenceObject(fo);
}

/* ---- the seed's question: a kernel buffer with only Irp->UserBuffer ---- */

typedef struct {
    KEVENT Done;
    PMDL MdlAtCompletion;
    ULONG Calls;
} OWN_IRP;

static NTSTATUS own_irp_done(PDEVICE_OBJECT dev, PIRP irp, PVOID ctx)
{
    UNREFERENCED_PARAMETER(dev);
    OWN_IRP *o = ctx;
    o->MdlAtCompletion = irp->MdlAddress;
    o->Calls++;
    KeSetEvent(&o->Done, 0, FALSE);
    /* The IRP is ours (IoAllocateIrp): take it back, free it ourselves. */
    return STATUS_MORE_PROCESSING_REQUIRED;
}

KTEST(ramdisk, a_pool_buffer_sent_with_only_user_buffer_is_locked_by_the_filter)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    DrvtOpen("\\Device\\RamDisk0", &fo, &top);
    const ULONG len = 2 * PAGE_SIZE;
    PUCHAR raw = ExAllocatePoolWithTag(NonPagedPoolNx, len + PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(raw != NULL);
    PUCHAR buf = raw + 512;   /* spans three pages */
    DrvtFill(buf, len, 99);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, len, 8 * 512, &info), STATUS_SUCCESS);
    memset(buf, 0, len);
    FILTER_STATS_T f0 = filter_stats(top);
    ULONG64 locked0 = MiMdlLockedFrames;

    /* A read as a driver might build it by hand: no MDL, the buffer's
     * kernel address in UserBuffer (neither-style). */
    PIRP irp = IoAllocateIrp(top->StackSize, FALSE);
    KT_ASSERT(irp != NULL);
    irp->RequestorMode = KernelMode;
    irp->UserBuffer = buf;
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->MajorFunction = IRP_MJ_READ;
    sl->FileObject = fo;
    sl->Parameters.Read.Length = len;
    sl->Parameters.Read.ByteOffset.QuadPart = 8 * 512;
    OWN_IRP o;
    KeInitializeEvent(&o.Done, NotificationEvent, FALSE);
    o.MdlAtCompletion = (PMDL)1;
    o.Calls = 0;
    IoSetCompletionRoutine(irp, own_irp_done, &o, TRUE, TRUE, TRUE);
    KT_ST(IoCallDriver(top, irp), STATUS_PENDING);
    KT_EQ(KeWaitForSingleObject(&o.Done, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
    KT_EQ(o.Calls, 1);
    KT_ST(irp->IoStatus.Status, STATUS_SUCCESS);
    KT_EQ(irp->IoStatus.Information, len);
    KT_EQ(o.MdlAtCompletion, NULL);          /* the filter's MDL was gone before it reached us */
    KT_ASSERT(DrvtCheck(buf, len, 99));     /* the disk wrote through it */
    KT_EQ(MiMdlLockedFrames, locked0);       /* and unlocked */
    FILTER_STATS_T f1 = filter_stats(top);
    KT_EQ(f1.MdlsBuilt - f0.MdlsBuilt, 1);
    KT_EQ(f1.MdlsFreed - f0.MdlsFreed, 1);
    KT_EQ(f1.CompletedInWorker - f0.CompletedInWorker, 1);
    IoFreeIrp(irp);
    ExFreePoolWithTag(raw, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* ---- unloading the filter with reads queued ---- */

static PDRIVER_OBJECT filter_driver(void)
{
    ANSI_STRING n;
    RtlInitAnsiString(&n, "\\Driver\\Filter");
    PVOID obj;
    if (!NT_SUCCESS(ObReferenceObjectByName(&n, IoDriverObjectType, &obj)))
        return NULL;
    ObDereferenceObject(obj);
    return obj;   /* a permanent object while loaded */
}

KTEST(ramdisk, keeps_working_after_the_filter_is_unloaded_with_reads_queued)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    DrvtOpen("\\Device\\RamDisk0", &fo, &top);
    PDEVICE_OBJECT disk = fo->DeviceObject;
    PDRIVER_OBJECT flt = filter_driver();
    KT_ASSERT(flt != NULL);
    KT_NE(top, disk);
    enum { N = 6 };
    const ULONG len = 1024;
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, N * len, DRVT_TAG);
    KT_ASSERT(buf != NULL);
    DrvtFill(buf, len, 5);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, len, 0, &info), STATUS_SUCCESS);
    memset(buf, 0, N * len);
    ULONG64 locked0 = MiMdlLockedFrames;

    /* Above the worker's priority, on the one CPU: the reads stay queued
     * until this thread waits - and it unloads the filter first. */
    PKTHREAD me = KeGetCurrentThread();
    KPRIORITY was = KeSetPriorityThread(me, LOW_REALTIME_PRIORITY + 4);
    static DRVT_ASYNC a[N];
    for (int i = 0; i < N; i++) {
        DrvtSendRead(&a[i], top, fo, buf + i * len, len, 0);
        KT_ST(a[i].Returned, STATUS_PENDING);
    }
    KT_GT(MiMdlLockedFrames, locked0);   /* each read's buffer is locked while queued */
    /* Keep the filter's device (and so its extension, with the counters)
     * readable after the unload has deleted it. */
    ObReferenceObject(top);
    FLT_EXTENSION *x = top->DeviceExtension;
    KT_EQ(x->Stats.Queued, N);
    ULONG64 cancelled0 = x->Stats.ReadsCancelled, forwarded0 = x->Stats.ReadsForwarded;
    KT_EQ(IoUnloadDriver(flt), STATUS_SUCCESS);
    KeSetPriorityThread(me, was);
    KT_EQ(x->Stats.ReadsCancelled - cancelled0, N);
    KT_EQ(x->Stats.ReadsForwarded - forwarded0, 0);
    KT_EQ(x->Stats.Queued, 0);
    KT_EQ(x->InFlight, 0);
    KT_EQ(x->Worker, NULL);   /* stopped and joined */
    KT_ASSERT(top->DeviceObjectExtension->ExtensionFlags & DOE_DELETE_PENDING);
    ObDereferenceObject(top);
    for (int i = 0; i < N; i++) {
        KT_ST(DrvtWait(&a[i]), STATUS_CANCELLED);
        KT_EQ(a[i].Iosb.Information, 0);
    }
    KT_EQ(MiMdlLockedFrames, locked0);   /* every lock undone */

    /* The disk alone again, and working. */
    KT_EQ(disk->AttachedDevice, NULL);
    PDEVICE_OBJECT now = IoGetRelatedDeviceObject(fo);
    KT_EQ(now, disk);
    KT_ST(DrvtReadWrite(now, fo, IRP_MJ_READ, buf, len, 0, &info), STATUS_SUCCESS);
    KT_EQ(info, len);
    KT_ASSERT(DrvtCheck(buf, len, 5));

    /* Put the filter back for the tests after this one. */
    ANSI_STRING n;
    RtlInitAnsiString(&n, "\\Driver\\Filter");
    KT_ST(IoCreateDriver(&n, FilterDriverEntry, NULL), STATUS_SUCCESS);
    KT_NE(IoGetRelatedDeviceObject(fo), disk);
    KT_ST(DrvtReadWrite(IoGetRelatedDeviceObject(fo), fo, IRP_MJ_READ, buf, len, 0, &info), STATUS_SUCCESS);
    KT_ASSERT(DrvtCheck(buf, len, 5));
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
    DrvtSleep(20);   /* the old worker's stack is reaped before the leak check */
}

KTEST(ramdisk, a_read_queued_in_the_filter_is_cancelled_by_its_cancel_routine)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    DrvtOpen("\\Device\\RamDisk0", &fo, &top);
    FILTER_STATS_T f0 = filter_stats(top);
    ULONG64 locked0 = MiMdlLockedFrames;
    UCHAR buf[1024];
    /* Above the worker: the read stays queued until this thread waits. */
    PKTHREAD me = KeGetCurrentThread();
    KPRIORITY was = KeSetPriorityThread(me, LOW_REALTIME_PRIORITY + 4);
    KEVENT ev;
    IO_STATUS_BLOCK iosb;
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    LARGE_INTEGER off = { 0 };
    PIRP irp = IoBuildSynchronousFsdRequest(IRP_MJ_READ, top, buf, sizeof(buf), &off, &ev, &iosb);
    KT_ASSERT(irp != NULL);
    KT_ST(IoCallDriver(top, irp), STATUS_PENDING);
    KT_ASSERT(irp->CancelRoutine != NULL);
    KT_EQ(IoCancelIrp(irp), TRUE);      /* completed by the filter's cancel routine, here */
    KeSetPriorityThread(me, was);
    KT_EQ(KeWaitForSingleObject(&ev, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
    KT_ST(iosb.Status, STATUS_CANCELLED);
    FILTER_STATS_T f1 = filter_stats(top);
    KT_EQ(f1.ReadsCancelled - f0.ReadsCancelled, 1);
    KT_EQ(f1.ReadsForwarded - f0.ReadsForwarded, 0);
    KT_EQ(f1.Queued, 0);
    KT_EQ(MiMdlLockedFrames, locked0);

    /* Cancelled before it reached the filter: seen when it is queued. */
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    irp = IoBuildSynchronousFsdRequest(IRP_MJ_READ, top, buf, sizeof(buf), &off, &ev, &iosb);
    KT_ASSERT(irp != NULL);
    KT_EQ(IoCancelIrp(irp), FALSE);
    KT_ST(IoCallDriver(top, irp), STATUS_PENDING);
    KT_EQ(KeWaitForSingleObject(&ev, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
    KT_ST(iosb.Status, STATUS_CANCELLED);
    FILTER_STATS_T f2 = filter_stats(top);
    KT_EQ(f2.ReadsCancelled - f1.ReadsCancelled, 1);
    KT_EQ(f2.ReadsForwarded - f1.ReadsForwarded, 0);
    ObDereferenceObject(fo);
}

static PDRIVER_OBJECT driver_named(PCSTR name)
{
    ANSI_STRING n;
    RtlInitAnsiString(&n, name);
    PVOID obj;
    if (!NT_SUCCESS(ObReferenceObjectByName(&n, IoDriverObjectType, &obj)))
        return NULL;
    ObDereferenceObject(obj);
    return obj;
}

KTEST(ramdisk, unload_deletes_the_device_and_gives_its_memory_back)
{
    /* The filter first: a disk is not taken from under the device on it. */
    PDRIVER_OBJECT flt = driver_named("\\Driver\\Filter"), rd = driver_named("\\Driver\\RamDisk");
    KT_ASSERT(flt && rd);
    PDEVICE_OBJECT disk = DrvtNamedDevice("\\Device\\RamDisk0");
    KT_ASSERT(disk != NULL);
    ULONG64 size;
    {
        PFILE_OBJECT fo;
        PDEVICE_OBJECT top;
        DrvtOpen("\\Device\\RamDisk0", &fo, &top);
        size = disk_stats(top).DiskSize;
        ObDereferenceObject(fo);
    }
    ULONG64 avail0 = MmAvailablePages;
    KT_ST(IoUnloadDriver(flt), STATUS_SUCCESS);
    KT_ST(IoUnloadDriver(rd), STATUS_SUCCESS);
    KT_EQ(DrvtNamedDevice("\\Device\\RamDisk0"), NULL);   /* the name went with IoDeleteDevice */
    ANSI_STRING n;
    RtlInitAnsiString(&n, "\\Device\\RamDisk0");
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    KT_ST(IoGetDeviceObjectPointer(&n, FILE_READ_DATA, &fo, &top), STATUS_OBJECT_NAME_NOT_FOUND);
    KT_GE(MmAvailablePages, avail0 + size / PAGE_SIZE / 2);   /* the storage's frames are free again */

    /* Back as they were, disk then filter. */
    RtlInitAnsiString(&n, "\\Driver\\RamDisk");
    KT_ST(IoCreateDriver(&n, RamDiskDriverEntry, NULL), STATUS_SUCCESS);
    RtlInitAnsiString(&n, "\\Driver\\Filter");
    KT_ST(IoCreateDriver(&n, FilterDriverEntry, NULL), STATUS_SUCCESS);
    DrvtOpen("\\Device\\RamDisk0", &fo, &top);
    KT_NE(top, fo->DeviceObject);
    KT_EQ(disk_stats(top).DiskSize, size);
    ObDereferenceObject(fo);
    DrvtSleep(20);   /* the old worker's stack is reaped before the leak check */
}
