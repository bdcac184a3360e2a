/*
 * A plugged batch (io/plug.c) on the virtio-blk driver: adjacent requests
 * of the batch go to the device as one request, each IRP still gets its
 * own bytes and its own status (drivers/virtio/vblk_queue.c, merge_behind).
 * Sectors 49152.. of disk 0 (24 MiB in): no other test writes there.
 */
#include "drivers/tests/drv_test_util.h"
#include "drivers/virtio/vblk.h"

#define NMERGE 32
static const LONGLONG merge_base = 49152LL * 512;

static VB_DISK *open_disk0(PFILE_OBJECT *fo, PDEVICE_OBJECT *top)
{
    PDEVICE_OBJECT d = DrvtNamedDevice("\\Device\\Harddisk0\\DR0");
    KT_ASSERT(d != NULL);
    DrvtOpen("\\Device\\Harddisk0\\DR0", fo, top);
    return d->DeviceExtension;
}

/* NMERGE requests of EACH bytes, request i at merge_base + OFFSET(i),
 * sent inside one plug; returns how many device requests they took. */
static ULONG64 plugged_batch(VB_DISK *x, PDEVICE_OBJECT top, PFILE_OBJECT fo, UCHAR major, PUCHAR buf, ULONG each,
                             ULONG stride, DRVT_ASYNC *a)
{
    ULONG64 subs = x->Stats.SubRequests;
    IO_PLUG plug;
    IoStartPlug(&plug);
    for (ULONG i = 0; i < NMERGE; i++)
        DrvtSend(&a[i], major, top, fo, buf + i * each, each, merge_base + (LONGLONG)i * stride);
    /* Nothing has gone to the device yet: the batch waits for its end. */
    KT_EQ(x->Stats.SubRequests - subs, x->Merge ? 0 : NMERGE);
    IoFinishPlug(&plug);
    for (ULONG i = 0; i < NMERGE; i++) {
        KT_ST(DrvtWait(&a[i]), STATUS_SUCCESS);
        KT_EQ(a[i].Iosb.Information, each);
    }
    return x->Stats.SubRequests - subs;
}

/* 32 adjacent 4 KiB writes in one plug are one device request (when the
 * driver merges: indirect descriptors and no vblk.nomerge); 32 adjacent
 * reads of them likewise; each read gets exactly its own 4 KiB, and one
 * unplugged read of the whole range finds every write where it belongs. */
KTEST(vblk, a_plugged_batch_of_adjacent_requests_goes_as_one)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk0(&fo, &top);
    const ULONG each = PAGE_SIZE;
    PUCHAR src = ExAllocatePoolWithTag(NonPagedPoolNx, NMERGE * each, DRVT_TAG);
    PUCHAR dst = ExAllocatePoolWithTag(NonPagedPoolNx, NMERGE * each, DRVT_TAG);
    DRVT_ASYNC *a = ExAllocatePoolWithTag(NonPagedPoolNx, NMERGE * sizeof(DRVT_ASYNC), DRVT_TAG);
    KT_ASSERT(src && dst && a);
    for (ULONG i = 0; i < NMERGE; i++)
        DrvtFill(src + i * each, each, 300 + i);
    BOOLEAN merges = x->Merge && x->Indirect;
    ULONG64 merged = x->Stats.Merged;
    KT_EQ(plugged_batch(x, top, fo, IRP_MJ_WRITE, src, each, each, a), merges ? 1 : NMERGE);
    memset(dst, 0, NMERGE * each);
    KT_EQ(plugged_batch(x, top, fo, IRP_MJ_READ, dst, each, each, a), merges ? 1 : NMERGE);
    KT_EQ(x->Stats.Merged - merged, merges ? 2 * (NMERGE - 1) : 0);
    for (ULONG i = 0; i < NMERGE; i++)
        if (!DrvtCheck(dst + i * each, each, 300 + i))
            KtFail(__FILE__, __LINE__, "plugged read %u did not get the bytes of write %u", i, i);
    memset(dst, 0, NMERGE * each);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, dst, NMERGE * each, merge_base, &info), STATUS_SUCCESS);
    for (ULONG i = 0; i < NMERGE; i++)
        if (!DrvtCheck(dst + i * each, each, 300 + i))
            KtFail(__FILE__, __LINE__, "plugged write %u is not at its own sector", i);
    ExFreePoolWithTag(a, DRVT_TAG);
    ExFreePoolWithTag(dst, DRVT_TAG);
    ExFreePoolWithTag(src, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* Requests that are not adjacent (a gap of a page between each) are not
 * merged: one device request each, plugged or not. */
KTEST(vblk, a_plugged_batch_with_gaps_goes_request_by_request)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk0(&fo, &top);
    const ULONG each = PAGE_SIZE;
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, NMERGE * each, DRVT_TAG);
    DRVT_ASYNC *a = ExAllocatePoolWithTag(NonPagedPoolNx, NMERGE * sizeof(DRVT_ASYNC), DRVT_TAG);
    KT_ASSERT(buf && a);
    ULONG64 merged = x->Stats.Merged;
    KT_EQ(plugged_batch(x, top, fo, IRP_MJ_READ, buf, each, 2 * each, a), NMERGE);
    KT_EQ(x->Stats.Merged - merged, 0);
    ExFreePoolWithTag(a, DRVT_TAG);
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
}
