/*
 * The virtio-blk driver's ring, from kernel mode: indirect descriptors (or,
 * booted with vblk.noindirect by the host test
 * vblk.direct_chains_when_indirect_is_off, direct chains: these tests check
 * whichever the boot chose), how many requests the 256-entry ring holds, and
 * a request type the device does not implement. The disks are the build's
 * images with snapshot=on (writes vanish with the boot).
 */
#include "drivers/tests/drv_test_util.h"
#include "drivers/virtio/vblk.h"
#include "kernel/hal/x86.h"

static VB_DISK *open_disk(PCSTR name, PFILE_OBJECT *fo, PDEVICE_OBJECT *top)
{
    PDEVICE_OBJECT d = DrvtNamedDevice(name);
    KT_ASSERT(d != NULL);
    DrvtOpen(name, fo, top);
    return d->DeviceExtension;
}

/* The boot chose indirect descriptors unless told not to, and QEMU offers them. */
static void check_mode(VB_DISK *x)
{
    KT_EQ(x->Indirect, !KeOptionEnabled("vblk.noindirect"));
    KT_EQ((x->Features & VIO_F_INDIRECT_DESC) != 0, x->Indirect);
    KT_EQ(x->Features & VIO_F_EVENT_IDX, 0);
}

/* A 40-page read from an unaligned buffer, caught on the ring: sent at
 * DISPATCH_LEVEL, so the DPC cannot complete it while the test reads the
 * descriptors the device is using. Indirect: the available ring names one
 * descriptor flagged INDIRECT, pointing at the head's table, which holds
 * header, every element of the list (the buffer's own frames) and the
 * status byte. Direct: the chain of 2 + elements descriptors in the ring
 * itself. Then the data is checked. */
KTEST(vblk, long_request_caught_on_the_ring_indirect_or_direct)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk1\\DR0", &fo, &top);
    check_mode(x);
    const ULONG len = 40 * PAGE_SIZE;
    const LONGLONG off = 12288 * 512;
    PUCHAR raw = ExAllocatePoolWithTag(NonPagedPoolNx, len + PAGE_SIZE, DRVT_TAG);
    PUCHAR back = ExAllocatePoolWithTag(NonPagedPoolNx, len + PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(raw && back);
    PUCHAR out = raw + 0x180, in = back + 0x940;
    DrvtFill(out, len, 41);
    memset(in, 0, len);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, out, len, off, &info), STATUS_SUCCESS);
    KT_EQ(x->Last.Chunk, len);   /* one sub-request: 41 pages is under the limit */

    ULONG64 indirect0 = x->Stats.Indirect;
    DRVT_ASYNC a;
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    DrvtSendRead(&a, top, fo, in, len, off);
    KeAcquireSpinLockAtDpcLevel(&x->Lock);
    USHORT head = x->Last.Head;
    ULONG n = x->Last.Elements;
    KT_EQ(x->Avail[2 + (USHORT)(x->AvailIdx - 1) % x->QueueSize], head);
    KT_ASSERT(x->Subs[head].OnDevice && x->Subs[head].Req != NULL);
    KT_EQ(x->Subs[head].Req->Irp, x->Last.Irp);
    ULONG64 hdr = x->SlotsPa + (ULONG64)head * sizeof(VB_SLOT);
    KT_EQ(x->Slots[head].Type, VBLK_T_IN);
    KT_EQ(x->Slots[head].Sector, (ULONG64)off / 512);
    KT_ASSERT(n >= 1 && n <= 41);
    if (x->Indirect) {
        KT_EQ(x->Last.Indirect, TRUE);
        KT_EQ(x->Last.RingDescriptors, 1);
        KT_EQ(x->Desc[head].Flags, VQ_DESC_F_INDIRECT);
        KT_EQ(x->Desc[head].Len, (n + 2) * sizeof(VQ_DESC));
        KT_EQ(x->Desc[head].Addr, (ULONG64)x->IndPa.QuadPart + (ULONG64)head * VB_IND_ENTRIES * sizeof(VQ_DESC));
        VQ_DESC *t = x->Ind + (ULONG)head * VB_IND_ENTRIES;
        KT_EQ(t[0].Addr, hdr);
        KT_EQ(t[0].Len, 16);
        KT_EQ(t[0].Flags, VQ_DESC_F_NEXT);
        ULONG total = 0;
        for (ULONG i = 0; i < n; i++) {
            KT_EQ(t[i + 1].Flags, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE);
            KT_EQ(t[i + 1].Next, i + 2);
            if (i < VB_LAST_ELEMENTS)
                KT_EQ(t[i + 1].Addr, x->Last.Address[i]);
            total += t[i + 1].Len;
        }
        KT_EQ(total, len);
        KT_EQ((ULONG64)MmGetPhysicalAddress(in).QuadPart, t[1].Addr);   /* the buffer itself: zero copy */
        KT_EQ(t[n + 1].Addr, hdr + offsetof(VB_SLOT, Status));
        KT_EQ(t[n + 1].Len, 1);
        KT_EQ(t[n + 1].Flags, VQ_DESC_F_WRITE);
    } else {
        KT_EQ(x->Last.Indirect, FALSE);
        KT_EQ(x->Last.RingDescriptors, n + 2);
        USHORT d = head;
        KT_EQ(x->Desc[d].Addr, hdr);
        KT_EQ(x->Desc[d].Flags, VQ_DESC_F_NEXT);
        ULONG total = 0;
        for (ULONG i = 0; i < n; i++) {
            d = x->Desc[d].Next;
            KT_EQ(x->Desc[d].Flags, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE);
            total += x->Desc[d].Len;
            if (i == 0)
                KT_EQ((ULONG64)MmGetPhysicalAddress(in).QuadPart, x->Desc[d].Addr);
        }
        KT_EQ(total, len);
        d = x->Desc[d].Next;
        KT_EQ(x->Desc[d].Addr, hdr + offsetof(VB_SLOT, Status));
        KT_EQ(x->Desc[d].Flags, VQ_DESC_F_WRITE);
    }
    KeReleaseSpinLockFromDpcLevel(&x->Lock);
    KeLowerIrql(old);
    KT_ST(DrvtWait(&a), STATUS_SUCCESS);
    KT_EQ(a.Iosb.Information, len);
    KT_ASSERT(DrvtCheck(in, len, 41));
    KT_EQ(x->Stats.Indirect - indirect0, x->Indirect ? 1 : 0);
    ExFreePoolWithTag(raw, DRVT_TAG);
    ExFreePoolWithTag(back, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* How many 16-page requests the 256-entry ring holds at once. With
 * indirect tables each takes one ring descriptor: all 128 go. With direct
 * chains each takes 2 + its list's elements, and the driver reserves just
 * that before the list exists (it counts the elements the way the adapter
 * merges frames): floor(256 / (elements + 2)) go, the rest wait in the
 * driver for descriptors. Sent at DISPATCH_LEVEL, so none completes before
 * the last is on the ring. */
#define NLONG 128
KTEST(vblk, ring_holds_128_long_requests_with_indirect_tables)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk0\\DR0", &fo, &top);
    check_mode(x);
    const ULONG each = 16 * PAGE_SIZE;
    const LONGLONG base = 32768 * 512;
    PUCHAR raw = ExAllocatePoolWithTag(NonPagedPoolNx, each + PAGE_SIZE, DRVT_TAG);
    DRVT_ASYNC *a = ExAllocatePoolWithTag(NonPagedPoolNx, NLONG * sizeof(DRVT_ASYNC), DRVT_TAG);
    KT_ASSERT(raw && a);
    PUCHAR buf = (PUCHAR)(((ULONG_PTR)raw + PAGE_SIZE - 1) & ~(ULONG_PTR)(PAGE_SIZE - 1));
    DrvtFill(buf, each, 7);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, each, base, &info), STATUS_SUCCESS);
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    KT_EQ(x->Stats.InFlight, 0);
    x->Stats.MaxInFlight = 0;
    KeReleaseSpinLock(&x->Lock, old);
    ULONG64 waited = x->Stats.Waited;
    /* Every read the same 64 KiB into the same buffer: the ring's
     * capacity is the point, not the data (checked once at the end). */
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    for (ULONG i = 0; i < NLONG; i++)
        DrvtSendRead(&a[i], top, fo, buf, each, base);
    KeLowerIrql(old);
    for (ULONG i = 0; i < NLONG; i++) {
        KT_ST(DrvtWait(&a[i]), STATUS_SUCCESS);
        KT_EQ(a[i].Iosb.Information, each);
    }
    KT_ASSERT(DrvtCheck(buf, each, 7));
    ULONG direct = x->QueueSize / (x->Last.Elements + 2);
    KT_ASSERT(direct < NLONG);   /* so the test tells the layouts apart */
    ULONG want = x->Indirect ? NLONG : direct;
    kprintf("vblk: %u requests of 16 pages, at most %u on a %u-entry ring at once (%s)\n", NLONG,
            x->Stats.MaxInFlight, x->QueueSize, x->Indirect ? "indirect" : "direct chains");
    KT_EQ(x->Stats.MaxInFlight, want);
    if (x->Indirect)
        KT_EQ(x->Stats.Waited - waited, 0);
    else
        KT_GE(x->Stats.Waited - waited, NLONG - want);
    KT_EQ(x->Last.Chunk, each);
    ExFreePoolWithTag(a, DRVT_TAG);
    ExFreePoolWithTag(raw, DRVT_TAG);
    ObDereferenceObject(fo);
}

static NTSTATUS raw_type(PDEVICE_OBJECT top, PFILE_OBJECT fo, ULONG type)
{
    KEVENT ev;
    IO_STATUS_BLOCK iosb;
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    PIRP irp = IoBuildDeviceIoControlRequest(IOCTL_VBLK_INTERNAL_RAW_TYPE, top, &type, sizeof(type), NULL, 0, TRUE,
                                             &ev, &iosb);
    KT_ASSERT(irp != NULL);
    IoGetNextIrpStackLocation(irp)->FileObject = fo;
    NTSTATUS s = IoCallDriver(top, irp);
    if (s == STATUS_PENDING) {
        LARGE_INTEGER five_s = { -KI_MS(5000) };
        KT_EQ(KeWaitForSingleObject(&ev, Executive, KernelMode, FALSE, &five_s), STATUS_WAIT_0);
        s = iosb.Status;
    }
    return s;
}

/* A request of type 6, which virtio 1.x leaves unassigned: QEMU's
 * virtio-blk answers VIRTIO_BLK_S_UNSUPP, the driver STATUS_NOT_SUPPORTED;
 * the status byte the device wrote is in the request's slot. A flush
 * through the same path is fine, and the disk goes on working. */
KTEST(vblk, unsupported_request_type_is_status_not_supported)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk1\\DR0", &fo, &top);
    ULONG64 errors = x->Stats.Errors, subs = x->Stats.SubRequests;
    KT_ST(raw_type(top, fo, 6), STATUS_NOT_SUPPORTED);
    KT_EQ(x->Stats.Errors - errors, 1);
    KT_EQ(x->Stats.SubRequests - subs, 1);
    /* The head the driver used is the one after... whichever: find the
     * slot whose header says type 6, and its status byte. */
    ULONG found = 0;
    for (ULONG i = 0; i < x->QueueSize; i++)
        if (x->Slots[i].Type == 6) {
            KT_EQ(x->Slots[i].Status, VBLK_S_UNSUPP);
            found++;
        }
    KT_GE(found, 1);
    KT_ST(raw_type(top, fo, VBLK_T_FLUSH), STATUS_SUCCESS);
    KT_ST(raw_type(top, fo, VBLK_T_IN), STATUS_INVALID_PARAMETER);   /* data types need a buffer */
    KT_EQ(x->Stats.Errors - errors, 1);
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(buf);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf, PAGE_SIZE, 0, &info), STATUS_SUCCESS);
    KT_EQ(info, PAGE_SIZE);
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* The DPC takes used entries in whatever order the device returns them:
 * each entry's id names its head, and the head names its piece and IRP.
 * QEMU usually returns requests in order, so the test makes the order: with
 * the driver's completion work held (a test switch) and each read notified
 * at once, 8 reads of 8 different places go to the device; once the device has returned all 8, the test
 * reverses their entries in the used ring - as a device that finished the
 * last one first would have written them - and lets the DPC run. Every
 * read must still land in its own buffer with its own bytes. */
#define NORDER 8
KTEST(vblk, completions_out_of_order_reach_the_right_irps)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk1\\DR0", &fo, &top);
    const ULONG each = 2 * PAGE_SIZE;
    const LONGLONG base = 20480 * 512;
    PUCHAR src = ExAllocatePoolWithTag(NonPagedPoolNx, NORDER * each, DRVT_TAG);
    PUCHAR dst = ExAllocatePoolWithTag(NonPagedPoolNx, NORDER * each, DRVT_TAG);
    DRVT_ASYNC *a = ExAllocatePoolWithTag(NonPagedPoolNx, NORDER * sizeof(DRVT_ASYNC), DRVT_TAG);
    KT_ASSERT(src && dst && a);
    for (ULONG i = 0; i < NORDER; i++)
        DrvtFill(src + i * each, each, 300 + i);
    memset(dst, 0, NORDER * each);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, src, NORDER * each, base, &info), STATUS_SUCCESS);

    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    KT_EQ(x->Stats.InFlight, 0);
    x->HoldCompletions = TRUE;
    /* Every read notified at once: a deferred notify would wait for the
     * held DPC. */
    BOOLEAN defer = x->DeferNotify;
    x->DeferNotify = FALSE;
    USHORT first = x->LastUsed;
    KeReleaseSpinLock(&x->Lock, old);
    for (ULONG i = 0; i < NORDER; i++)
        DrvtSendRead(&a[i], top, fo, dst + i * each, each, base + (LONGLONG)i * each);
    ULONG64 passes0 = x->Stats.DpcPasses;
    /* All 8 back from the device (bounded: 10 s). */
    for (ULONG waited = 0; (USHORT)(__atomic_load_n(&x->Used[1], __ATOMIC_ACQUIRE) - first) < NORDER && waited < 10000;
         waited += 10)
        DrvtSleep(10);
    KeAcquireSpinLock(&x->Lock, &old);
    USHORT back = (USHORT)(x->Used[1] - first);
    ULONG ids[NORDER];
    volatile ULONG *ring = (volatile ULONG *)(x->Used + 2);
    if (back == NORDER) {
        ULONG e[NORDER][2];
        for (ULONG i = 0; i < NORDER; i++) {
            ULONG k = (USHORT)(first + i) % x->QueueSize;
            e[i][0] = ring[2 * k];
            e[i][1] = ring[2 * k + 1];
        }
        for (ULONG i = 0; i < NORDER; i++) {
            ULONG k = (USHORT)(first + i) % x->QueueSize;
            ring[2 * k] = e[NORDER - 1 - i][0];
            ring[2 * k + 1] = e[NORDER - 1 - i][1];
            ids[i] = e[NORDER - 1 - i][0];
        }
    }
    x->HoldCompletions = FALSE;
    x->DeferNotify = defer;
    KeReleaseSpinLock(&x->Lock, old);
    KeInsertQueueDpc(&x->Dpc, NULL, NULL);
    for (ULONG i = 0; i < NORDER; i++) {
        KT_ST(DrvtWait(&a[i]), STATUS_SUCCESS);
        KT_EQ(a[i].Iosb.Information, each);
    }
    KT_EQ(back, NORDER);
    /* The held DPCs walked nothing; the one queued after took all 8, out
     * of order, in a single pass. */
    KT_EQ(x->Stats.DpcPasses - passes0, 1);
    /* The heads in the reversed ring: the last-sent read's first. */
    KT_NE(ids[0], ids[NORDER - 1]);
    for (ULONG i = 0; i < NORDER; i++)
        KT_ASSERT(DrvtCheck(dst + i * each, each, 300 + i));
    ExFreePoolWithTag(a, DRVT_TAG);
    ExFreePoolWithTag(src, DRVT_TAG);
    ExFreePoolWithTag(dst, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* The DPC turns the device's interrupts back on only when a pass finds
 * nothing, and then reads the used index once more: a request the device
 * finishes in between raised no interrupt (the ISR had turned them off),
 * and only that second look finds it. The test builds exactly that
 * moment. A read goes to the device with the DPC's work held; once the
 * device has returned it, the test hides the entry (the used index one
 * back, as if the device had not got there yet: nothing else is on the
 * device, so the device will not write the index meanwhile), turns
 * interrupts off as the ISR would, and queues the DPC. Its first pass
 * finds nothing; at the hook - the window between that pass and
 * interrupts going back on - the test puts the index back: the device
 * "finishes" the read while interrupts are off. Only the re-check can find
 * it now: without it the read would never complete (DrvtWait gives up
 * after 10 s). */
static USHORT hidden_used;
static ULONG hook_calls;
static void device_finishes_inside_the_window(VB_DISK *x)
{
    if (hook_calls++ == 0)
        __atomic_store_n(&x->Used[1], hidden_used, __ATOMIC_RELEASE);
}

KTEST(vblk, a_completion_while_interrupts_are_off_is_found_by_the_recheck)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    VB_DISK *x = open_disk("\\Device\\Harddisk1\\DR0", &fo, &top);
    const ULONG len = 2 * PAGE_SIZE;
    const LONGLONG off = 24576 * 512;
    PUCHAR src = ExAllocatePoolWithTag(NonPagedPoolNx, len, DRVT_TAG);
    PUCHAR dst = ExAllocatePoolWithTag(NonPagedPoolNx, len, DRVT_TAG);
    KT_ASSERT(src && dst);
    DrvtFill(src, len, 77);
    memset(dst, 0, len);
    ULONG_PTR info;
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, src, len, off, &info), STATUS_SUCCESS);
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    KT_EQ(x->Stats.InFlight, 0);
    x->HoldCompletions = TRUE;
    BOOLEAN defer = x->DeferNotify;
    x->DeferNotify = FALSE;
    USHORT first = x->LastUsed;
    KeReleaseSpinLock(&x->Lock, old);
    DRVT_ASYNC a;
    DrvtSendRead(&a, top, fo, dst, len, off);
    for (ULONG waited = 0; __atomic_load_n(&x->Used[1], __ATOMIC_ACQUIRE) == first && waited < 10000; waited += 10)
        DrvtSleep(10);
    KeAcquireSpinLock(&x->Lock, &old);
    hidden_used = x->Used[1];
    KT_EQ((USHORT)(hidden_used - first), 1);
    __atomic_store_n(&x->Used[1], first, __ATOMIC_RELEASE);   /* not returned yet, as far as the DPC can tell */
    hook_calls = 0;
    x->TestBeforeInterruptsOn = device_finishes_inside_the_window;
    x->HoldCompletions = FALSE;
    x->Avail[0] = VQ_AVAIL_F_NO_INTERRUPT;   /* what the ISR does */
    ULONG64 late0 = x->Stats.LateCompletions;
    KeReleaseSpinLock(&x->Lock, old);
    KeInsertQueueDpc(&x->Dpc, NULL, NULL);
    NTSTATUS st = DrvtWait(&a);
    KeAcquireSpinLock(&x->Lock, &old);
    x->TestBeforeInterruptsOn = NULL;
    x->DeferNotify = defer;
    KeReleaseSpinLock(&x->Lock, old);
    KT_ST(st, STATUS_SUCCESS);
    KT_EQ(a.Iosb.Information, len);
    KT_ASSERT(DrvtCheck(dst, len, 77));
    KT_EQ(x->Stats.LateCompletions - late0, 1);   /* the re-check, not a later interrupt, found it */
    KT_EQ(x->Avail[0], 0);                        /* and interrupts are back on */
    ExFreePoolWithTag(src, DRVT_TAG);
    ExFreePoolWithTag(dst, DRVT_TAG);
    ObDereferenceObject(fo);
}
