/*
 * A plugged batch (io/plug.c) on the virtio-blk driver: adjacent requests
 * of the batch go to the device as one request, each IRP still gets its
 * own bytes and its own status (drivers/virtio/vblk_queue.c, merge_behind).
 * Sectors 49152.. of disk 0 (24 MiB in): no other test writes there.
 */
#include "drivers/tests/drv_test_util.h"
#include "drivers/virtio/vblk.h"
#include "io/dmap.h"

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

/* A thread that waits inside its plug for a request it sent during the
 * batch - what a page fault in NtSubmitIoRing's loop does (probing an SQE's
 * buffer that is out in the pagefile: IoPageRead from the same thread) -
 * must not wait for the plug's end, which only it can reach: the batch so
 * far goes to the device when the thread blocks (Linux flushes a task's
 * plug when it sleeps). Four adjacent plugged reads, then a fifth waited
 * for in the plug: it completes, and the four went as one request. */
KTEST(vblk, a_wait_inside_a_plug_sends_the_batch_first)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk0(&fo, &top);
    const ULONG each = PAGE_SIZE;
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, 5 * each, DRVT_TAG);
    DRVT_ASYNC *a = ExAllocatePoolWithTag(NonPagedPoolNx, 5 * sizeof(DRVT_ASYNC), DRVT_TAG);
    KT_ASSERT(buf && a);
    BOOLEAN merges = x->Merge && x->Indirect;
    ULONG64 subs = x->Stats.SubRequests;
    IO_PLUG plug;
    IoStartPlug(&plug);
    for (ULONG i = 0; i < 4; i++)
        DrvtSend(&a[i], IRP_MJ_READ, top, fo, buf + i * each, each, merge_base + (LONGLONG)i * each);
    DrvtSend(&a[4], IRP_MJ_READ, top, fo, buf + 4 * each, each, merge_base + 8LL * each);
    /* The bound only turns a hang into a failure (DrvtWait's 10 s). */
    LARGE_INTEGER ten_s = { -KI_MS(10000) };
    NTSTATUS w = KeWaitForSingleObject(&a[4].Event, Executive, KernelMode, FALSE, &ten_s);
    IoFinishPlug(&plug);   /* before any assertion: the plug lives on this stack */
    if (w != STATUS_WAIT_0)
        KtFail(__FILE__, __LINE__, "a read waited for inside its own plug did not finish (wait %#x)", w);
    KT_ST(a[4].Iosb.Status, STATUS_SUCCESS);
    for (ULONG i = 0; i < 4; i++)
        KT_ST(DrvtWait(&a[i]), STATUS_SUCCESS);
    KT_EQ(x->Stats.SubRequests - subs, merges ? 2 : 5);
    ExFreePoolWithTag(a, DRVT_TAG);
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* The disk's adapter with a GetScatterGatherList that refuses its Nth call
 * from now (as an adapter out of pool for the list would). */
static PDMA_OPERATIONS real_ops;
static DMA_OPERATIONS refusing_ops;
static ULONG calls, refuse_at;

static NTSTATUS refuse_nth(PDMA_ADAPTER a, PDEVICE_OBJECT dev, PMDL mdl, PVOID va, ULONG len,
                           PDRIVER_LIST_CONTROL routine, PVOID ctx, BOOLEAN write)
{
    if (++calls == refuse_at)
        return STATUS_INSUFFICIENT_RESOURCES;
    return real_ops->GetScatterGatherList(a, dev, mdl, va, len, routine, ctx, write);
}

/* 4 adjacent plugged reads, one merged request, with the Nth list refused:
 * the members' lists are built first, then the head's (whose execution
 * routine writes the chain). */
static void refused_batch(VB_DISK *x, PDEVICE_OBJECT top, PFILE_OBJECT fo, PUCHAR buf, DRVT_ASYNC *a, ULONG nth)
{
    LONG lists = IopDmaListsOutstanding;
    USHORT unreserved = x->Unreserved;
    ULONG64 subs = x->Stats.SubRequests;
    real_ops = x->Dma->DmaOperations;
    refusing_ops = *real_ops;
    refusing_ops.GetScatterGatherList = refuse_nth;
    calls = 0;
    refuse_at = nth;
    x->Dma->DmaOperations = &refusing_ops;
    IO_PLUG plug;
    IoStartPlug(&plug);
    for (ULONG i = 0; i < 4; i++)
        DrvtSend(&a[i], IRP_MJ_READ, top, fo, buf + i * PAGE_SIZE, PAGE_SIZE, merge_base + (LONGLONG)i * PAGE_SIZE);
    IoFinishPlug(&plug);
    x->Dma->DmaOperations = real_ops;
    KT_EQ(calls, nth);   /* none after the refused one */
    for (ULONG i = 0; i < 4; i++) {
        KT_ST(DrvtWait(&a[i]), STATUS_INSUFFICIENT_RESOURCES);
        KT_EQ(a[i].Iosb.Information, 0);
    }
    KT_EQ(x->Stats.SubRequests, subs);   /* nothing reached the device */
    KT_EQ(IopDmaListsOutstanding, lists);   /* the lists built were put back */
    KT_EQ(x->Unreserved, unreserved);
    KT_EQ(VblkReqsOutstanding, 0);
}

/* A merged request whose list is refused - the head's, after its members'
 * lists were built, or a member's - fails every IRP in it with that status,
 * puts back every list that was built and gives the ring back; the next
 * batch merges and succeeds. */
KTEST(vblk, a_merged_request_whose_list_is_refused_fails_every_member)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk0(&fo, &top);
    if (!(x->Merge && x->Indirect)) {
        ObDereferenceObject(fo);
        return;   /* nothing merges (vblk.nomerge, vblk.noindirect) */
    }
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, 4 * PAGE_SIZE, DRVT_TAG);
    DRVT_ASYNC *a = ExAllocatePoolWithTag(NonPagedPoolNx, 4 * sizeof(DRVT_ASYNC), DRVT_TAG);
    KT_ASSERT(buf && a);
    refused_batch(x, top, fo, buf, a, 4);   /* the head's, the three members' built */
    refused_batch(x, top, fo, buf, a, 2);   /* the second member's */
    ULONG64 subs = x->Stats.SubRequests;
    IO_PLUG plug;
    IoStartPlug(&plug);
    for (ULONG i = 0; i < 4; i++)
        DrvtSend(&a[i], IRP_MJ_READ, top, fo, buf + i * PAGE_SIZE, PAGE_SIZE, merge_base + (LONGLONG)i * PAGE_SIZE);
    IoFinishPlug(&plug);
    for (ULONG i = 0; i < 4; i++)
        KT_ST(DrvtWait(&a[i]), STATUS_SUCCESS);
    KT_EQ(x->Stats.SubRequests - subs, 1);
    ExFreePoolWithTag(a, DRVT_TAG);
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* A plugged batch of 4 adjacent reads, the second cancelled before the
 * batch ends: it completes STATUS_CANCELLED with nothing read into its
 * buffer, the first goes alone (what followed it is gone: no merge across
 * the hole) and the last two as one request, each with its own bytes. */
KTEST(vblk, a_cancelled_irp_in_a_plugged_batch_is_not_merged_across)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk0(&fo, &top);
    const ULONG each = PAGE_SIZE;
    PUCHAR src = ExAllocatePoolWithTag(NonPagedPoolNx, 4 * each, DRVT_TAG);
    PUCHAR dst = ExAllocatePoolWithTag(NonPagedPoolNx, 4 * each, DRVT_TAG);
    DRVT_ASYNC *a = ExAllocatePoolWithTag(NonPagedPoolNx, 4 * sizeof(DRVT_ASYNC), DRVT_TAG);
    KT_ASSERT(src && dst && a);
    for (ULONG i = 0; i < 4; i++)
        DrvtFill(src + i * each, each, 700 + i);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, src, 4 * each, merge_base, &info), STATUS_SUCCESS);
    memset(dst, 0, 4 * each);
    ULONG64 subs = x->Stats.SubRequests;
    IO_PLUG plug;
    IoStartPlug(&plug);
    DrvtSend(&a[0], IRP_MJ_READ, top, fo, dst, each, merge_base);
    /* the second by hand, to cancel it */
    KeInitializeEvent(&a[1].Event, NotificationEvent, FALSE);
    a[1].Iosb.Status = -1;
    a[1].Iosb.Information = 0;
    LARGE_INTEGER o = { merge_base + each };
    PIRP victim = IoBuildSynchronousFsdRequest(IRP_MJ_READ, top, dst + each, each, &o, &a[1].Event, &a[1].Iosb);
    KT_ASSERT(victim != NULL);
    IoGetNextIrpStackLocation(victim)->FileObject = fo;
    a[1].Returned = IoCallDriver(top, victim);
    for (ULONG i = 2; i < 4; i++)
        DrvtSend(&a[i], IRP_MJ_READ, top, fo, dst + i * each, each, merge_base + (LONGLONG)i * each);
    BOOLEAN cancelled = IoCancelIrp(victim);   /* still queued: its cancel routine runs now */
    IoFinishPlug(&plug);
    KT_ASSERT(cancelled);
    KT_ST(DrvtWait(&a[1]), STATUS_CANCELLED);
    KT_EQ(a[1].Iosb.Information, 0);
    for (ULONG i = 0; i < 4; i++) {
        if (i == 1)
            continue;
        KT_ST(DrvtWait(&a[i]), STATUS_SUCCESS);
        if (!DrvtCheck(dst + i * each, each, 700 + i))
            KtFail(__FILE__, __LINE__, "read %u did not get its own bytes", i);
    }
    for (ULONG k = 0; k < each; k++)
        if (dst[each + k])
            KtFail(__FILE__, __LINE__, "the cancelled read's buffer was written (byte %u)", k);
    BOOLEAN merges = x->Merge && x->Indirect;
    KT_EQ(x->Stats.SubRequests - subs, merges ? 2 : 3);
    ExFreePoolWithTag(a, DRVT_TAG);
    ExFreePoolWithTag(dst, DRVT_TAG);
    ExFreePoolWithTag(src, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* A DPC that sends a request while the thread it interrupted has a plug
 * (a timer's routine, or a completion's that sends the next request) is
 * not part of that thread's batch: its request goes to the device at once
 * (io/plug.c, KeIsExecutingDpc). */
static DRVT_ASYNC dpc_read;
static PDEVICE_OBJECT dpc_top;
static PFILE_OBJECT dpc_fo;
static PUCHAR dpc_buf;
static void send_from_dpc(PKDPC d, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(d), UNREFERENCED_PARAMETER(ctx), UNREFERENCED_PARAMETER(a1), UNREFERENCED_PARAMETER(a2);
    DrvtSend(&dpc_read, IRP_MJ_READ, dpc_top, dpc_fo, dpc_buf, PAGE_SIZE, merge_base);
}

KTEST(vblk, a_request_a_dpc_sends_is_not_held_by_the_plug_it_interrupts)
{
    VB_DISK *x = open_disk0(&dpc_fo, &dpc_top);
    dpc_buf = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(dpc_buf);
    static KDPC dpc;
    KeInitializeDpc(&dpc, send_from_dpc, NULL);
    ULONG64 subs = x->Stats.SubRequests;
    IO_PLUG plug;
    IoStartPlug(&plug);
    KeInsertQueueDpc(&dpc, NULL, NULL);   /* at PASSIVE_LEVEL: it runs here, now, on this thread */
    ULONG64 during = x->Stats.SubRequests - subs;
    IoFinishPlug(&plug);
    KT_ST(DrvtWait(&dpc_read), STATUS_SUCCESS);
    KT_EQ(during, 1);   /* on the device before the plug ended */
    ExFreePoolWithTag(dpc_buf, DRVT_TAG);
    ObDereferenceObject(dpc_fo);
}
