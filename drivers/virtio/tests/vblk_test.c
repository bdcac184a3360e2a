/*
 * The virtio-blk driver through the real stack, from kernel mode: requests
 * built with IoBuildSynchronousFsdRequest to \Device\Harddisk0\DR0 and
 * \Device\Harddisk1\DR0 (QEMU's build/disk0.img and disk1.img, opened with
 * snapshot=on by test boots: writes do not reach the files). Each test
 * writes what it reads back, in its own sectors, so no test depends on
 * another's leftovers.
 */
#include "drivers/tests/drv_test_util.h"
#include "drivers/virtio/vblk.h"
#include "kernel/ntsyscall.h"

static VB_DISK *disk(PCSTR name)
{
    PDEVICE_OBJECT d = DrvtNamedDevice(name);
    KT_ASSERT(d != NULL);
    return d->DeviceExtension;
}

/* The disk NAME's driver state, and NAME opened: a file object and the top
 * of its stack (drop the file with ObDereferenceObject). */
static VB_DISK *open_disk(PCSTR name, PFILE_OBJECT *fo, PDEVICE_OBJECT *top)
{
    VB_DISK *x = disk(name);
    DrvtOpen(name, fo, top);
    return x;
}

/* Every element of the driver's last request is the buffer's own memory:
 * walking BUF page piece by page piece, each piece's physical address is
 * where the elements say the device goes. */
static void check_zero_copy(VB_DISK *x, PUCHAR buf, ULONG len)
{
    KT_ASSERT(x->Last.Elements > 0 && x->Last.Elements <= VB_LAST_ELEMENTS);
    ULONG done = 0;
    for (ULONG e = 0; e < x->Last.Elements; e++) {
        for (ULONG k = 0; k < x->Last.Length[e];) {
            ULONG piece = PAGE_SIZE - (ULONG)(((ULONG_PTR)buf + done) & (PAGE_SIZE - 1));
            if (piece > x->Last.Length[e] - k)
                piece = x->Last.Length[e] - k;
            KT_EQ((ULONG64)MmGetPhysicalAddress(buf + done).QuadPart, x->Last.Address[e] + k);
            k += piece;
            done += piece;
        }
    }
    KT_EQ(done, len);
}

KTEST(vblk, two_disks_msix_capacity_and_geometry)
{
    KT_EQ(VblkDiskCount, 2);
    for (ULONG i = 0; i < 2; i++) {
        VB_DISK *x = VblkDisks[i];
        KT_ASSERT(x != NULL);
        KT_ASSERT(x->Msix);                               /* QEMU's virtio-blk-pci has MSI-X */
        KT_NE(x->Features & VIO_F_VERSION_1, 0);
        KT_NE(x->Features & VBLK_F_FLUSH, 0);
        KT_EQ(x->SectorSize, 512);
        KT_ASSERT(x->Capacity > 0);
        KT_ASSERT(x->QueueSize >= 4 && x->QueueSize <= VB_QUEUE_MAX);
        KT_EQ(x->Device->Flags & DO_DIRECT_IO, DO_DIRECT_IO);
        KT_EQ(x->Device->DeviceType, FILE_DEVICE_DISK);
        KT_EQ(x->Device->SectorSize, 512);
    }
    KT_EQ(disk("\\Device\\Harddisk0\\DR0"), VblkDisks[0]);
    KT_EQ(disk("\\Device\\Harddisk1\\DR0"), VblkDisks[1]);
    KT_EQ(VblkDisks[0]->Pci->Bus, 0);                     /* disk1 is behind the bridge */
    KT_NE(VblkDisks[1]->Pci->Bus, 0);

    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    DrvtOpen("\\Device\\Harddisk0\\DR0", &fo, &top);
    GET_LENGTH_INFORMATION_T li;
    ULONG_PTR info;
    KT_ST(DrvtIoctl(top, fo, IOCTL_DISK_GET_LENGTH_INFO, NULL, 0, &li, sizeof(li), &info), STATUS_SUCCESS);
    KT_EQ(info, sizeof(li));
    KT_EQ((ULONG64)li.Length, VblkDisks[0]->Capacity * 512);
    DISK_GEOMETRY_EX_T g;
    KT_ST(DrvtIoctl(top, fo, IOCTL_DISK_GET_DRIVE_GEOMETRY_EX, NULL, 0, &g, sizeof(g), &info), STATUS_SUCCESS);
    KT_EQ(g.Geometry.BytesPerSector, 512);
    KT_EQ((ULONG64)g.DiskSize, VblkDisks[0]->Capacity * 512);
    KT_ST(DrvtIoctl(top, fo, IOCTL_DISK_GET_LENGTH_INFO, NULL, 0, &li, 4, &info), STATUS_BUFFER_TOO_SMALL);
    ObDereferenceObject(fo);
}

/* Write an unaligned three-page pattern, read it back, on disk N: the
 * device's descriptors pointed at the buffer's own frames both ways, and
 * the completions came by interrupt. */
static void write_read_back(PCSTR name, ULONG seed, LONGLONG offset)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk(name, &fo, &top);
    const ULONG len = 3 * PAGE_SIZE;
    PUCHAR raw = ExAllocatePoolWithTag(NonPagedPoolNx, len + PAGE_SIZE, DRVT_TAG);
    PUCHAR back = ExAllocatePoolWithTag(NonPagedPoolNx, len + PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(raw && back);
    PUCHAR out = raw + 0x230, in = back + 0x610;
    DrvtFill(out, len, seed);
    memset(in, 0, len);
    ULONG64 irqs = x->Stats.Interrupts, subs = x->Stats.SubRequests;
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, out, len, offset, &info), STATUS_SUCCESS);
    KT_EQ(info, len);
    check_zero_copy(x, out, len);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, in, len, offset, &info), STATUS_SUCCESS);
    KT_EQ(info, len);
    check_zero_copy(x, in, len);
    KT_ASSERT(DrvtCheck(in, len, seed));
    KT_EQ(x->Stats.SubRequests - subs, 2);
    KT_ASSERT(x->Stats.Interrupts > irqs);
    KT_ST(DrvtFlush(top, fo), STATUS_SUCCESS);
    ExFreePoolWithTag(raw, DRVT_TAG);
    ExFreePoolWithTag(back, DRVT_TAG);
    ObDereferenceObject(fo);
}

KTEST(vblk, write_read_back_zero_copy_by_interrupt_disk0)
{
    write_read_back("\\Device\\Harddisk0\\DR0", 11, 1024 * 512);
}

KTEST(vblk, write_read_back_zero_copy_by_interrupt_disk1_behind_the_bridge)
{
    write_read_back("\\Device\\Harddisk1\\DR0", 12, 2048 * 512);
}

KTEST(vblk, misaligned_and_past_the_end_refused)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk0\\DR0", &fo, &top);
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, 2 * PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(buf);
    ULONG_PTR info;
    ULONG64 refused = x->Stats.Refused, subs = x->Stats.SubRequests;
    LONGLONG size = (LONGLONG)x->Capacity * 512;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, 512, 100, &info), STATUS_INVALID_PARAMETER);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, 100, 512, &info), STATUS_INVALID_PARAMETER);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, 1024, size - 512, &info), STATUS_INVALID_PARAMETER);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, 512, size + 512, &info), STATUS_INVALID_PARAMETER);
    KT_EQ(x->Stats.Refused - refused, 4);
    /* The last sector and a zero length are fine. */
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, 512, size - 512, &info), STATUS_SUCCESS);
    KT_EQ(info, 512);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, 0, 0, &info), STATUS_SUCCESS);
    KT_EQ(x->Stats.SubRequests - subs, 1);
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
}

#define NASYNC 32
KTEST(vblk, thirty_two_reads_in_flight_at_once)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk0\\DR0", &fo, &top);
    const ULONG each = 2 * PAGE_SIZE;
    const LONGLONG base = 4096 * 512;
    PUCHAR src = ExAllocatePoolWithTag(NonPagedPoolNx, NASYNC * each, DRVT_TAG);
    PUCHAR dst = ExAllocatePoolWithTag(NonPagedPoolNx, NASYNC * each, DRVT_TAG);
    DRVT_ASYNC *a = ExAllocatePoolWithTag(NonPagedPoolNx, NASYNC * sizeof(DRVT_ASYNC), DRVT_TAG);
    KT_ASSERT(src && dst && a);
    for (ULONG i = 0; i < NASYNC; i++)
        DrvtFill(src + i * each, each, 100 + i);
    memset(dst, 0, NASYNC * each);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, src, NASYNC * each, base, &info), STATUS_SUCCESS);
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    x->Stats.MaxInFlight = x->Stats.InFlight;
    KeReleaseSpinLock(&x->Lock, old);
    /* Sent in reverse order, all before the first wait, and at
     * DISPATCH_LEVEL: the completion DPC cannot run until the IRQL drops,
     * so however fast the device is, all of them are on the ring at once
     * (4 descriptors each: 128 of 256). At PASSIVE_LEVEL the count
     * depended on the host's timing (a fresh clone once saw 1). */
    ULONG64 notifies = x->Stats.Notifies, deferred = x->Stats.NotifiesDeferred,
            suppressed = x->Stats.NotifiesSuppressed;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    for (ULONG i = 0; i < NASYNC; i++) {
        ULONG j = NASYNC - 1 - i;
        DrvtSendRead(&a[j], top, fo, dst + j * each, each, base + (LONGLONG)j * each);
    }
    KeLowerIrql(old);
    for (ULONG i = 0; i < NASYNC; i++) {
        KT_ST(DrvtWait(&a[i]), STATUS_SUCCESS);
        KT_EQ(a[i].Iosb.Information, each);
        KT_ASSERT(DrvtCheck(dst + i * each, each, 100 + i));
    }
    kprintf("vblk: %u reads, at most %u on the device at once, %llu notifies\n", NASYNC, x->Stats.MaxInFlight,
            (unsigned long long)(x->Stats.Notifies - notifies));
    KT_EQ(x->Stats.MaxInFlight, NASYNC);
    /* The first read found the device idle and was notified at once; the
     * 31 after it found it busy and left their notify to the DPC, which
     * gave it for all of them (vb_start). */
    KT_EQ(x->Stats.NotifiesDeferred - deferred, x->DeferNotify ? NASYNC - 1 : 0);
    if (x->DeferNotify)
        KT_LT(x->Stats.Notifies - notifies, NASYNC / 2);
    else
        KT_EQ(x->Stats.Notifies - notifies + x->Stats.NotifiesSuppressed - suppressed, (ULONG64)NASYNC);
    ExFreePoolWithTag(a, DRVT_TAG);
    ExFreePoolWithTag(src, DRVT_TAG);
    ExFreePoolWithTag(dst, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* PAGES frames in strictly descending order, mapped in system space: no
 * frame continues the one before it, so each page is a scatter/gather
 * element of its own (what the driver's splitting by elements must
 * bound). Free with free_scattered. */
typedef struct {
    PMDL Mdl;
    PUCHAR Va;
} SCATTERED;

static SCATTERED scattered(ULONG pages)
{
    PHYSICAL_ADDRESS lo = { 0 }, hi = { -1 }, skip = { 0 };
    SCATTERED b;
    b.Mdl = MmAllocatePagesForMdlEx(lo, hi, skip, (SIZE_T)pages * PAGE_SIZE, MmCached, MM_ALLOCATE_FULLY_REQUIRED);
    KT_ASSERT(b.Mdl != NULL);
    PPFN_NUMBER f = MmGetMdlPfnArray(b.Mdl);
    for (ULONG i = 1; i < pages; i++)   /* insertion sort, descending */
        for (ULONG j = i; j > 0 && f[j - 1] < f[j]; j--) {
            PFN_NUMBER t = f[j];
            f[j] = f[j - 1];
            f[j - 1] = t;
        }
    b.Va = MmMapLockedPagesSpecifyCache(b.Mdl, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
    KT_ASSERT(b.Va != NULL);
    return b;
}

static void free_scattered(SCATTERED *b)
{
    MmUnmapLockedPages(b->Va, b->Mdl);
    MmFreePagesFromMdl(b->Mdl);
    ExFreePool(b->Mdl);
}

KTEST(vblk, request_past_the_segment_limit_split_and_correct)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk1\\DR0", &fo, &top);
    const ULONG len = 16 * PAGE_SIZE;
    SCATTERED raw = scattered(17), back = scattered(17);
    PUCHAR out = raw.Va + 0x200, in = back.Va + 0xE00;
    DrvtFill(out, len, 77);
    memset(in, 0, len);
    /* As if the device said seg_max 3: at most three elements per
     * sub-request. Nothing is in flight on disk1 while it changes. */
    ULONG saved = x->SegLimit;
    x->SegLimit = 3;
    ULONG64 subs = x->Stats.SubRequests, splits = x->Stats.Splits;
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, out, len, 8192 * 512, &info), STATUS_SUCCESS);
    KT_EQ(info, len);
    ULONG64 wsubs = x->Stats.SubRequests - subs;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, in, len, 8192 * 512, &info), STATUS_SUCCESS);
    ULONG64 rsubs = x->Stats.SubRequests - subs - wsubs;
    x->SegLimit = saved;
    KT_EQ(info, len);
    KT_ASSERT(DrvtCheck(in, len, 77));
    KT_EQ(x->Stats.Splits - splits, 2);
    /* 64 KiB from offset 0x200 (or 0xE00) spans 17 scattered pages, one
     * element each: 3 per sub-request, 6 sub-requests each way. */
    KT_EQ(wsubs, 6);
    KT_EQ(rsubs, 6);
    KT_ASSERT(x->Last.Elements <= 3);
    kprintf("vblk: 64 KiB in %llu sub-requests each way\n", (unsigned long long)wsubs);
    free_scattered(&raw);
    free_scattered(&back);
    ObDereferenceObject(fo);
}

/* Elements, not pages, bound a sub-request: a physically contiguous 1 MiB
 * buffer is one element, and goes to the device as one request (two of
 * 512 KiB when the driver split by pages). */
KTEST(vblk, contiguous_megabyte_goes_as_one_device_request)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk1\\DR0", &fo, &top);
    const ULONG len = 1024 * 1024;
    PHYSICAL_ADDRESS lo = { 0 }, hi = { -1 }, any = { 0 };
    PUCHAR out = MmAllocateContiguousMemorySpecifyCache(len, lo, hi, any, MmCached);
    PUCHAR in = MmAllocateContiguousMemorySpecifyCache(len, lo, hi, any, MmCached);
    KT_ASSERT(out && in);
    DrvtFill(out, len, 91);
    memset(in, 0, len);
    ULONG64 subs = x->Stats.SubRequests, splits = x->Stats.Splits;
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, out, len, 16384 * 512, &info), STATUS_SUCCESS);
    KT_EQ(info, len);
    KT_EQ(x->Stats.SubRequests - subs, 1);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, in, len, 16384 * 512, &info), STATUS_SUCCESS);
    KT_EQ(info, len);
    KT_EQ(x->Stats.SubRequests - subs, 2);
    KT_EQ(x->Stats.Splits - splits, 0);
    KT_EQ(x->Last.Chunk, len);
    KT_EQ(x->Last.Elements, 1);
    check_zero_copy(x, in, len);
    KT_ASSERT(DrvtCheck(in, len, 91));
    MmFreeContiguousMemorySpecifyCache(out, len, MmCached);
    MmFreeContiguousMemorySpecifyCache(in, len, MmCached);
    ObDereferenceObject(fo);
}

/* The same megabyte in 256 scattered frames: 256 elements, more than one
 * request may carry (SegLimit: seg_max, at most VB_SEG_CAP), so it goes
 * in as few pieces as that allows, each within the limit, and every byte
 * lands where it belongs. */
KTEST(vblk, scattered_megabyte_split_at_the_element_limit_and_correct)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk1\\DR0", &fo, &top);
    const ULONG pages = 256, len = pages * PAGE_SIZE;
    SCATTERED out = scattered(pages), in = scattered(pages);
    DrvtFill(out.Va, len, 93);
    memset(in.Va, 0, len);
    KT_ASSERT(x->SegLimit >= 2 && x->SegLimit < pages);
    ULONG expect = (pages + x->SegLimit - 1) / x->SegLimit;
    ULONG64 subs = x->Stats.SubRequests, splits = x->Stats.Splits;
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, out.Va, len, 20480 * 512, &info), STATUS_SUCCESS);
    KT_EQ(info, len);
    KT_EQ(x->Stats.SubRequests - subs, expect);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, in.Va, len, 20480 * 512, &info), STATUS_SUCCESS);
    KT_EQ(info, len);
    KT_EQ(x->Stats.SubRequests - subs, 2 * expect);
    KT_EQ(x->Stats.Splits - splits, 2);
    /* The last piece: what the others left, one element a page. */
    KT_EQ(x->Last.Elements, pages - (expect - 1) * x->SegLimit);
    KT_EQ(x->Last.Chunk, x->Last.Elements * PAGE_SIZE);
    KT_ASSERT(DrvtCheck(in.Va, len, 93));
    kprintf("vblk: a scattered 1 MiB in %u sub-requests (%u elements at most each)\n", expect, x->SegLimit);
    free_scattered(&out);
    free_scattered(&in);
    ObDereferenceObject(fo);
}

/* The byte at disk offset P as the host test vblk.host_and_guest_see_each_others_bytes
 * (scripts/ktest.py) writes or expects it; SALT tells the two directions apart. */
static UCHAR host_pattern(ULONG64 p, UCHAR salt)
{
    return (UCHAR)(p * 131 + (p >> 9) * 7 + salt);
}

/* Booted alone with fresh images by the host test: disk0 holds the host's
 * pattern at 32 KiB (4 KiB of it); the guest reads and checks it, then
 * writes its own at 128 KiB (8 KiB) and flushes, for the host to find. */
KTEST_MANUAL(vblk, host_image_read_and_written)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    DrvtOpen("\\Device\\Harddisk0\\DR0", &fo, &top);
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, 2 * PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(buf);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, PAGE_SIZE, 32768, &info), STATUS_SUCCESS);
    for (ULONG i = 0; i < PAGE_SIZE; i++)
        if (buf[i] != host_pattern(32768 + i, 0x5A))
            KT_EQ(buf[i], host_pattern(32768 + i, 0x5A));
    kprintf("vblk: the host's 4096 bytes at 32768 read back exactly\n");
    for (ULONG i = 0; i < 2 * PAGE_SIZE; i++)
        buf[i] = host_pattern(131072 + i, 0xA5);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, 2 * PAGE_SIZE, 131072, &info), STATUS_SUCCESS);
    KT_ST(DrvtFlush(top, fo), STATUS_SUCCESS);
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* Booted alone with `vblk=intx` by the host test vblk.intx_when_msix_is_skipped:
 * both disks on the shared INTx line, completions still by interrupt. */
KTEST_MANUAL(vblk, intx_completes_requests)
{
    for (ULONG i = 0; i < VblkDiskCount; i++) {
        KT_ASSERT(!VblkDisks[i]->Msix);
        KT_NE(VblkDisks[i]->Interrupt->Gsi, KINTERRUPT_MESSAGE_SIGNALED);
    }
    write_read_back("\\Device\\Harddisk0\\DR0", 21, 1024 * 512);
    write_read_back("\\Device\\Harddisk1\\DR0", 22, 1024 * 512);
    kprintf("vblk: INTx interrupts %llu and %llu\n", (unsigned long long)VblkDisks[0]->Stats.Interrupts,
            (unsigned long long)VblkDisks[1]->Stats.Interrupts);
}

/* Booted alone by the host test vblk.blkdebug_errors_reach_the_caller, with
 * QEMU's blkdebug under disk0 failing reads of sector 1000 and writes of
 * sector 2000 (EIO): the device's IOERR reaches the caller as
 * STATUS_DEVICE_DATA_ERROR, the leak check sees the MDL unlocked and
 * everything given back, and the requests next to them work. */
KTEST_MANUAL(vblk, blkdebug_errors_reach_the_caller)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk0\\DR0", &fo, &top);
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, 2 * PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(buf);
    ULONG_PTR info;
    ULONG64 errors = x->Stats.Errors;
    DrvtFill(buf, 2 * PAGE_SIZE, 5);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, 2 * PAGE_SIZE, 996 * 512, &info), STATUS_DEVICE_DATA_ERROR);
    KT_EQ(info, 0);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, 512, 2000 * 512, &info), STATUS_DEVICE_DATA_ERROR);
    KT_EQ(x->Stats.Errors - errors, 2);
    /* Next door: fine, and a write then read back. */
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, 2 * PAGE_SIZE, 3000 * 512, &info), STATUS_SUCCESS);
    memset(buf, 0, 2 * PAGE_SIZE);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, 2 * PAGE_SIZE, 3000 * 512, &info), STATUS_SUCCESS);
    KT_ASSERT(DrvtCheck(buf, 2 * PAGE_SIZE, 5));
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, 512, 1001 * 512, &info), STATUS_SUCCESS);
    /* A plugged batch of four adjacent 4 KiB reads over sector 1000 is one
     * device request (when the driver merges): the device's one IOERR
     * reaches every IRP of it, each with nothing transferred. */
    PUCHAR four = ExAllocatePoolWithTag(NonPagedPoolNx, 4 * PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(four);
    static DRVT_ASYNC a[4];
    ULONG64 subs = x->Stats.SubRequests, merged = x->Stats.Merged;
    errors = x->Stats.Errors;
    IO_PLUG plug;
    IoStartPlug(&plug);
    for (ULONG i = 0; i < 4; i++)
        DrvtSend(&a[i], IRP_MJ_READ, top, fo, four + i * PAGE_SIZE, PAGE_SIZE, (984 + 8 * i) * 512);
    IoFinishPlug(&plug);
    BOOLEAN merges = x->Merge && x->Indirect;
    for (ULONG i = 0; i < 4; i++) {
        BOOLEAN fails = merges || i == 2;   /* alone, only the read of sectors 1000-1007 fails */
        KT_ST(DrvtWait(&a[i]), fails ? STATUS_DEVICE_DATA_ERROR : STATUS_SUCCESS);
        KT_EQ(a[i].Iosb.Information, fails ? 0 : PAGE_SIZE);
    }
    KT_EQ(x->Stats.SubRequests - subs, merges ? 1 : 4);
    KT_EQ(x->Stats.Merged - merged, merges ? 3 : 0);
    KT_EQ(x->Stats.Errors - errors, 1);   /* one device request failed, merged or not */
    ExFreePoolWithTag(four, DRVT_TAG);
    kprintf("vblk: blkdebug's EIO became STATUS_DEVICE_DATA_ERROR, for every IRP of a merged request too; the next "
            "requests worked\n");
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* An IRP waiting for descriptors is cancelable: the ring is made to look
 * full (no unreserved descriptors), a read waits in the driver, IoCancelIrp
 * completes it with STATUS_CANCELLED; a second waiting read starts once the
 * descriptors are back and the next request kicks the queue. */
KTEST(vblk, irp_waiting_for_descriptors_is_cancelable)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk1\\DR0", &fo, &top);
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, 3 * PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(buf);
    ULONG_PTR info;
    DrvtFill(buf + 2 * PAGE_SIZE, PAGE_SIZE, 9);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf + 2 * PAGE_SIZE, PAGE_SIZE, 5000 * 512, &info), STATUS_SUCCESS);
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    KT_EQ(x->Stats.InFlight, 0);
    USHORT saved = x->Unreserved;
    x->Unreserved = 0;
    KeReleaseSpinLock(&x->Lock, old);
    ULONG64 waited = x->Stats.Waited, cancelled = x->Stats.Cancelled;

    KEVENT ev;
    IO_STATUS_BLOCK iosb;
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    LARGE_INTEGER o = { 5000 * 512 };
    PIRP irp = IoBuildSynchronousFsdRequest(IRP_MJ_READ, top, buf, PAGE_SIZE, &o, &ev, &iosb);
    KT_ASSERT(irp);
    IoGetNextIrpStackLocation(irp)->FileObject = fo;
    KT_ST(IoCallDriver(top, irp), STATUS_PENDING);
    DRVT_ASYNC second;
    DrvtSendRead(&second, top, fo, buf + PAGE_SIZE, PAGE_SIZE, 5000 * 512);
    KT_ST(second.Returned, STATUS_PENDING);
    KT_EQ(x->Stats.Waited - waited, 2);
    KT_ASSERT(IoCancelIrp(irp));
    LARGE_INTEGER five_s = { -KI_MS(5000) };
    KT_EQ(KeWaitForSingleObject(&ev, Executive, KernelMode, FALSE, &five_s), STATUS_WAIT_0);
    KT_ST(iosb.Status, STATUS_CANCELLED);
    KT_EQ(x->Stats.Cancelled - cancelled, 1);

    KeAcquireSpinLock(&x->Lock, &old);
    x->Unreserved = saved;
    KeReleaseSpinLock(&x->Lock, old);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, PAGE_SIZE, 5000 * 512, &info), STATUS_SUCCESS);
    KT_ST(DrvtWait(&second), STATUS_SUCCESS);
    KT_ASSERT(DrvtCheck(buf + PAGE_SIZE, PAGE_SIZE, 9));
    KT_ASSERT(DrvtCheck(buf, PAGE_SIZE, 9));
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
}
