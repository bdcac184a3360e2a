/*
 * The virtio-blk driver: \Device\Harddisk0\DR0 and \Device\Harddisk1\DR0 on
 * QEMU's virtio-blk-pci functions (modern transport, 1af4:1042).
 *
 * Bring-up (virtio 1.x 3.1.1): reset (device_status 0, read back until it
 * is 0 - the firmware may have left the device running with its own rings),
 * ACKNOWLEDGE, DRIVER, read the device's features, write ours, FEATURES_OK
 * and check it stuck (a device clears it when it refuses the subset), set
 * up queue 0, DRIVER_OK. Bus mastering goes on only after the reset, so a
 * device left live by the firmware cannot DMA into memory mdlos reuses.
 *
 * Features taken: VERSION_1 (required: without it the device speaks the
 * legacy layout), SEG_MAX (how many data descriptors one request may have:
 * longer requests are split), BLK_SIZE (the sector size the device reports
 * becomes the device object's SectorSize) and FLUSH (IRP_MJ_FLUSH_BUFFERS
 * becomes VIRTIO_BLK_T_FLUSH; without it the device has no write cache to
 * flush and the flush succeeds at once). Not taken: INDIRECT_DESC (a
 * request is at most SegLimit + 2 direct descriptors; indirect tables would
 * let more requests share the ring but need one more allocation per
 * request), EVENT_IDX (interrupt suppression: an optimisation), SIZE_MAX
 * (QEMU does not offer it), MQ (one queue is enough for one CPU's worth of
 * requests).
 *
 * A request's path: dispatch checks the sector alignment, marks the IRP
 * pending and queues it, cancelable; vb_start takes waiting IRPs while free
 * descriptors last, reserving a chain's worth for each, and asks the DMA
 * adapter for a scatter/gather list of the IRP's MDL (the caller's own
 * locked frames: a 64-bit master, nothing bounces). vb_sg_ready writes the
 * chain - header, the list's elements, status byte - publishes its head in
 * the available ring and notifies the device. The device's interrupt (an
 * MSI-X message, else the shared INTx line with the ISR status register
 * read to acknowledge it) only queues the DPC; the DPC walks the used ring,
 * frees the chains, puts the lists, and completes each IRP with the status
 * byte translated - or starts its next sub-request.
 *
 * Locking: the disk's spin lock (at DISPATCH_LEVEL) covers the descriptor
 * free list, the rings and the waiting queue. The ISR takes no lock: it
 * touches only the ISR register and the DPC.
 */
#include "drivers/virtio/vblk.h"
#include "kernel/ntsyscall.h"

#define VIRTIO_VENDOR 0x1AF4
#define VIRTIO_BLK_MODERN 0x1042
#define VB_IRQL 7

VB_DISK *VblkDisks[VB_MAX_DISKS];
ULONG VblkDiskCount;
volatile LONG VblkReqsOutstanding;


/* ---- registers ---- */

static inline UCHAR rd8(volatile UCHAR *b, ULONG o) { return *(volatile UCHAR *)(b + o); }
static inline USHORT rd16(volatile UCHAR *b, ULONG o) { return *(volatile USHORT *)(b + o); }
static inline ULONG rd32(volatile UCHAR *b, ULONG o) { return *(volatile ULONG *)(b + o); }
static inline void wr8(volatile UCHAR *b, ULONG o, UCHAR v) { *(volatile UCHAR *)(b + o) = v; }
static inline void wr16(volatile UCHAR *b, ULONG o, USHORT v) { *(volatile USHORT *)(b + o) = v; }
static inline void wr32(volatile UCHAR *b, ULONG o, ULONG v) { *(volatile ULONG *)(b + o) = v; }
/* 64-bit fields of the common configuration are written as two 32-bit
 * halves, low first (4.1.3.1: the driver may access them so). */
static inline void wr64(volatile UCHAR *b, ULONG o, ULONG64 v)
{
    wr32(b, o, (ULONG)v);
    wr32(b, o + 4, (ULONG)(v >> 32));
}

static PPCI_VENDOR_CAP vio_cap(PPCI_DEVICE d, UCHAR type)
{
    for (ULONG i = 0; i < d->VendorCapCount; i++)
        if (d->VendorCaps[i].CfgType == type)
            return &d->VendorCaps[i];
    return NULL;
}

static volatile UCHAR *map_cap(PPCI_DEVICE d, UCHAR type, ULONG want, PPCI_VENDOR_CAP *out)
{
    PPCI_VENDOR_CAP c = vio_cap(d, type);
    if (!c || c->BarLength < want)
        return NULL;
    if (out)
        *out = c;
    return PciMapBar(d, c->Bar, c->BarOffset, c->BarLength);
}

static void set_status(VB_DISK *x, UCHAR bits)
{
    wr8(x->Common, VIO_DEVICE_STATUS, rd8(x->Common, VIO_DEVICE_STATUS) | bits);
}

/* ---- the queue ---- */

static inline volatile ULONG *used_elem(VB_DISK *x, ULONG i)
{
    return (volatile ULONG *)(x->Used + 2) + 2 * i;
}

static USHORT desc_alloc(VB_DISK *x)
{
    USHORT d = x->FreeHead;
    x->FreeHead = x->Desc[d].Next;
    x->FreeCount--;
    return d;
}

/* The execution routine (DISPATCH_LEVEL): the list is there, write the chain. */
static void vb_sg_ready(PDEVICE_OBJECT dev, PIRP irp, PSCATTER_GATHER_LIST sg, PVOID ctx)
{
    UNREFERENCED_PARAMETER(dev);
    UNREFERENCED_PARAMETER(irp);
    VB_REQ *r = ctx;
    VB_DISK *x = r->Disk;
    KeAcquireSpinLockAtDpcLevel(&x->Lock);
    r->Sg = sg;
    ULONG n = sg ? sg->NumberOfElements : 0;
    /* Reserved was an upper bound (one element per page spanned); give the
     * rest back. */
    x->Unreserved += (USHORT)(r->Reserved - (n + 2));
    USHORT head = desc_alloc(x), d = head;
    VB_SLOT *slot = &x->Slots[head];
    slot->Type = r->Type;
    slot->Reserved = 0;
    slot->Sector = (ULONG64)(r->Offset + r->Done) / 512;   /* always 512-byte units (5.2.6) */
    slot->Status = 0xFF;
    x->Desc[d].Addr = x->SlotsPa + (ULONG64)head * sizeof(VB_SLOT);
    x->Desc[d].Len = 16;
    x->Desc[d].Flags = 0;   /* the device reads the header */
    for (ULONG i = 0; i < n; i++) {
        USHORT e = desc_alloc(x);
        x->Desc[d].Flags |= VQ_DESC_F_NEXT;
        x->Desc[d].Next = e;
        x->Desc[e].Addr = (ULONG64)sg->Elements[i].Address.QuadPart;
        x->Desc[e].Len = sg->Elements[i].Length;
        /* A read: the device writes the caller's frames. */
        x->Desc[e].Flags = r->Type == VBLK_T_IN ? VQ_DESC_F_WRITE : 0;
        d = e;
    }
    USHORT st = desc_alloc(x);
    x->Desc[d].Flags |= VQ_DESC_F_NEXT;
    x->Desc[d].Next = st;
    x->Desc[st].Addr = x->SlotsPa + (ULONG64)head * sizeof(VB_SLOT) + offsetof(VB_SLOT, Status);
    x->Desc[st].Len = 1;
    x->Desc[st].Flags = VQ_DESC_F_WRITE;
    r->Head = head;
    x->SlotReq[head] = r;
    if (sg) {
        x->Last.Irp = r->Irp;
        x->Last.Mdl = r->Irp->MdlAddress;
        x->Last.Chunk = r->Chunk;
        x->Last.Elements = n;
        PMDL m = r->Irp->MdlAddress;
        ULONG pages = (ULONG)ADDRESS_AND_SIZE_TO_SPAN_PAGES(MmGetMdlVirtualAddress(m), MmGetMdlByteCount(m));
        x->Last.MdlByteOffset = m->ByteOffset;
        x->Last.MdlPages = pages < VB_LAST_ELEMENTS ? pages : VB_LAST_ELEMENTS;
        for (ULONG i = 0; i < x->Last.MdlPages; i++)
            x->Last.MdlPfn[i] = MmGetMdlPfnArray(m)[i];
        for (ULONG i = 0; i < n && i < VB_LAST_ELEMENTS; i++) {
            x->Last.Address[i] = (ULONG64)sg->Elements[i].Address.QuadPart;
            x->Last.Length[i] = sg->Elements[i].Length;
        }
    }
    /* Publish: the ring entry, then (release) the index the device polls. */
    x->Avail[2 + x->AvailIdx % x->QueueSize] = head;
    x->AvailIdx++;
    __atomic_store_n(&x->Avail[1], x->AvailIdx, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (++x->Stats.InFlight > x->Stats.MaxInFlight)
        x->Stats.MaxInFlight = x->Stats.InFlight;
    x->Stats.SubRequests++;
    *x->Notify = 0;   /* queue 0 */
    KeReleaseSpinLockFromDpcLevel(&x->Lock);
}

/* The next sub-request's length: at most VB_MAX_TRANSFER, and spanning at
 * most SegLimit pages from where it starts. */
static ULONG chunk_of(VB_DISK *x, VB_REQ *r)
{
    if (r->Type == VBLK_T_FLUSH)
        return 0;
    ULONG left = r->Length - r->Done;
    ULONG o = (ULONG)(((ULONG_PTR)MmGetMdlVirtualAddress(r->Irp->MdlAddress) + r->Done) & (PAGE_SIZE - 1));
    ULONG64 fit = (ULONG64)x->SegLimit * PAGE_SIZE - o;
    ULONG c = left;
    if (c > VB_MAX_TRANSFER)
        c = VB_MAX_TRANSFER;
    if (c > fit)
        c = (ULONG)fit;
    c &= ~(x->SectorSize - 1);
    return c;
}

/* Start waiting requests while descriptors last (DISPATCH_LEVEL, lock not held). */
static void vb_start(VB_DISK *x)
{
    for (;;) {
        KeAcquireSpinLockAtDpcLevel(&x->Lock);
        /* The first one its cancel routine does not own. */
        VB_REQ *r = NULL;
        for (PLIST_ENTRY e = x->Waiting.Flink; e != &x->Waiting; e = e->Flink) {
            VB_REQ *c = CONTAINING_RECORD(e, VB_REQ, Link);
            if (!c->Cancelled) {
                r = c;
                break;
            }
        }
        if (!r) {
            KeReleaseSpinLockFromDpcLevel(&x->Lock);
            return;
        }
        r->Chunk = chunk_of(x, r);
        ULONG need = 2;
        if (r->Chunk) {
            PVOID va = (PUCHAR)MmGetMdlVirtualAddress(r->Irp->MdlAddress) + r->Done;
            need += (ULONG)ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, r->Chunk);
        }
        if (x->Unreserved < need) {
            /* FIFO: the first waiting IRP waits for the ring to drain. */
            KeReleaseSpinLockFromDpcLevel(&x->Lock);
            return;
        }
        /* A fresh IRP waited cancelable: take its cancel routine back. NULL
         * means IoCancelIrp got there first and the routine is running or
         * about to (it needs this lock to take the IRP off the queue). */
        if (r->Done == 0 && !IoSetCancelRoutine(r->Irp, NULL)) {
            r->Cancelled = TRUE;
            KeReleaseSpinLockFromDpcLevel(&x->Lock);
            continue;
        }
        x->Unreserved -= (USHORT)need;
        r->Reserved = need;
        RemoveEntryList(&r->Link);
        KeReleaseSpinLockFromDpcLevel(&x->Lock);
        if (!r->Chunk) {
            vb_sg_ready(x->Device, r->Irp, NULL, r);
            continue;
        }
        PVOID va = (PUCHAR)MmGetMdlVirtualAddress(r->Irp->MdlAddress) + r->Done;
        NTSTATUS s = x->Dma->DmaOperations->GetScatterGatherList(x->Dma, x->Device, r->Irp->MdlAddress, va,
                                                                 r->Chunk, vb_sg_ready, r,
                                                                 r->Type == VBLK_T_OUT);
        if (!NT_SUCCESS(s)) {
            KeAcquireSpinLockAtDpcLevel(&x->Lock);
            x->Unreserved += (USHORT)need;
            KeReleaseSpinLockFromDpcLevel(&x->Lock);
            PIRP irp = r->Irp;
            ExFreePoolWithTag(r, VB_TAG);
            __atomic_sub_fetch(&VblkReqsOutstanding, 1, __ATOMIC_RELAXED);
            irp->IoStatus.Status = s;
            irp->IoStatus.Information = 0;
            IoCompleteRequest(irp, IO_NO_INCREMENT);
        }
    }
}

static NTSTATUS translate(UCHAR st)
{
    switch (st) {
    case VBLK_S_OK:
        return STATUS_SUCCESS;
    case VBLK_S_UNSUPP:
        return STATUS_NOT_SUPPORTED;
    default:   /* IOERR, or a byte the device never wrote */
        return STATUS_DEVICE_DATA_ERROR;
    }
}

/* The DPC: everything the device finished. */
static void vb_dpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(dpc);
    UNREFERENCED_PARAMETER(a1);
    UNREFERENCED_PARAMETER(a2);
    VB_DISK *x = ctx;
    LIST_ENTRY done;
    InitializeListHead(&done);
    __atomic_add_fetch(&x->Stats.Dpcs, 1, __ATOMIC_RELAXED);
    KeAcquireSpinLockAtDpcLevel(&x->Lock);
    USHORT used;
    while (x->LastUsed != (used = __atomic_load_n(&x->Used[1], __ATOMIC_ACQUIRE))) {
        while (x->LastUsed != used) {
            ULONG id = used_elem(x, x->LastUsed % x->QueueSize)[0];
            x->LastUsed++;
            if (id >= x->QueueSize || !x->SlotReq[id])
                continue;   /* a device bug: nothing of ours */
            VB_REQ *r = x->SlotReq[id];
            x->SlotReq[id] = NULL;
            r->DevStatus = x->Slots[id].Status;
            /* Free the chain: head, elements, status. */
            USHORT d = (USHORT)id, n = 1;
            while (x->Desc[d].Flags & VQ_DESC_F_NEXT) {
                d = x->Desc[d].Next;
                n++;
            }
            x->Desc[d].Next = x->FreeHead;
            x->FreeHead = (USHORT)id;
            x->FreeCount += n;
            x->Unreserved += n;
            x->Stats.InFlight--;
            InsertTailList(&done, &r->Link);
        }
    }
    KeReleaseSpinLockFromDpcLevel(&x->Lock);

    while (!IsListEmpty(&done)) {
        VB_REQ *r = CONTAINING_RECORD(RemoveHeadList(&done), VB_REQ, Link);
        if (r->Sg) {
            x->Dma->DmaOperations->PutScatterGatherList(x->Dma, r->Sg, r->Type == VBLK_T_OUT);
            r->Sg = NULL;
        }
        NTSTATUS s = translate(r->DevStatus);
        if (!NT_SUCCESS(s))
            __atomic_add_fetch(&x->Stats.Errors, 1, __ATOMIC_RELAXED);
        r->Done += r->Chunk;
        if (NT_SUCCESS(s) && r->Done < r->Length) {
            /* The next sub-request goes first: the IRP already waited. */
            KeAcquireSpinLockAtDpcLevel(&x->Lock);
            InsertHeadList(&x->Waiting, &r->Link);
            KeReleaseSpinLockFromDpcLevel(&x->Lock);
            continue;
        }
        PIRP irp = r->Irp;
        irp->IoStatus.Status = s;
        irp->IoStatus.Information = NT_SUCCESS(s) ? r->Length : 0;
        ExFreePoolWithTag(r, VB_TAG);
        __atomic_sub_fetch(&VblkReqsOutstanding, 1, __ATOMIC_RELAXED);
        IoCompleteRequest(irp, NT_SUCCESS(s) ? IO_DISK_INCREMENT : IO_NO_INCREMENT);
    }
    vb_start(x);
}

/* MSI-X: the message is ours alone; nothing to read. */
static BOOLEAN vb_isr_msix(PKINTERRUPT in, PVOID ctx)
{
    UNREFERENCED_PARAMETER(in);
    VB_DISK *x = ctx;
    __atomic_add_fetch(&x->Stats.Interrupts, 1, __ATOMIC_RELAXED);
    KeInsertQueueDpc(&x->Dpc, NULL, NULL);
    return TRUE;
}

/* INTx: the line is shared. Reading the ISR status register tells whether
 * this device interrupted and deasserts the line (4.1.4.5); 0 = not ours. */
static BOOLEAN vb_isr_intx(PKINTERRUPT in, PVOID ctx)
{
    UNREFERENCED_PARAMETER(in);
    VB_DISK *x = ctx;
    if (!(*x->Isr & 3))
        return FALSE;
    __atomic_add_fetch(&x->Stats.Interrupts, 1, __ATOMIC_RELAXED);
    KeInsertQueueDpc(&x->Dpc, NULL, NULL);
    return TRUE;
}

/* ---- dispatch ---- */

static NTSTATUS vb_complete(PIRP irp, NTSTATUS s, ULONG_PTR info)
{
    irp->IoStatus.Status = s;
    irp->IoStatus.Information = info;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return s;
}

/* IoCancelIrp on an IRP waiting for descriptors (the cancel spin lock held). */
static void vb_cancel(PDEVICE_OBJECT dev, PIRP irp)
{
    IoReleaseCancelSpinLock(irp->CancelIrql);
    VB_DISK *x = dev->DeviceExtension;
    VB_REQ *r = irp->Tail.Overlay.DriverContext[0];
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    RemoveEntryList(&r->Link);   /* still queued: vb_start never takes an IRP whose routine it could not clear */
    KeReleaseSpinLock(&x->Lock, old);
    ExFreePoolWithTag(r, VB_TAG);
    __atomic_sub_fetch(&VblkReqsOutstanding, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&x->Stats.Cancelled, 1, __ATOMIC_RELAXED);
    vb_complete(irp, STATUS_CANCELLED, 0);
}

static NTSTATUS vb_queue(VB_DISK *x, PIRP irp, ULONG type, LONGLONG offset, ULONG length)
{
    VB_REQ *r = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(VB_REQ), VB_TAG);
    if (!r)
        return vb_complete(irp, STATUS_INSUFFICIENT_RESOURCES, 0);
    memset(r, 0, sizeof(*r));
    __atomic_add_fetch(&VblkReqsOutstanding, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&x->Stats.Requests, 1, __ATOMIC_RELAXED);
    r->Irp = irp;
    r->Disk = x;
    r->Type = type;
    r->Offset = offset;
    r->Length = length;
    if (type != VBLK_T_FLUSH && chunk_of(x, r) < length)
        __atomic_add_fetch(&x->Stats.Splits, 1, __ATOMIC_RELAXED);
    IoMarkIrpPending(irp);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KeAcquireSpinLockAtDpcLevel(&x->Lock);
    if (!IsListEmpty(&x->Waiting) || x->Unreserved < x->SegLimit + 2)
        __atomic_add_fetch(&x->Stats.Waited, 1, __ATOMIC_RELAXED);
    InsertTailList(&x->Waiting, &r->Link);
    irp->Tail.Overlay.DriverContext[0] = r;
    IoSetCancelRoutine(irp, vb_cancel);
    if (irp->Cancel && IoSetCancelRoutine(irp, NULL)) {
        /* Cancelled before the routine was set: ours to finish. */
        RemoveEntryList(&r->Link);
        KeReleaseSpinLockFromDpcLevel(&x->Lock);
        ExFreePoolWithTag(r, VB_TAG);
        __atomic_sub_fetch(&VblkReqsOutstanding, 1, __ATOMIC_RELAXED);
        vb_complete(irp, STATUS_CANCELLED, 0);
        KeLowerIrql(old);
        return STATUS_PENDING;
    }
    KeReleaseSpinLockFromDpcLevel(&x->Lock);
    vb_start(x);
    KeLowerIrql(old);
    return STATUS_PENDING;
}

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
        return vb_complete(irp, STATUS_INVALID_PARAMETER, 0);
    }
    if (length == 0)
        return vb_complete(irp, STATUS_SUCCESS, 0);
    return vb_queue(x, irp, sl->MajorFunction == IRP_MJ_WRITE ? VBLK_T_OUT : VBLK_T_IN, offset, length);
}

static NTSTATUS vb_flush(PDEVICE_OBJECT dev, PIRP irp)
{
    VB_DISK *x = dev->DeviceExtension;
    /* Without FLUSH the device has no volatile write cache to empty. */
    if (!(x->Features & VBLK_F_FLUSH))
        return vb_complete(irp, STATUS_SUCCESS, 0);
    return vb_queue(x, irp, VBLK_T_FLUSH, 0, 0);
}

static NTSTATUS vb_succeed(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    return vb_complete(irp, STATUS_SUCCESS, 0);
}

static NTSTATUS answer(PIRP irp, const void *data, ULONG need, ULONG size)
{
    ULONG out = IoGetCurrentIrpStackLocation(irp)->Parameters.DeviceIoControl.OutputBufferLength;
    if (out < need)
        return vb_complete(irp, STATUS_BUFFER_TOO_SMALL, 0);
    ULONG n = out < size ? need : size;
    memcpy(irp->AssociatedIrp.SystemBuffer, data, n);
    return vb_complete(irp, STATUS_SUCCESS, n);
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
        memset(&l, 0, sizeof(l));
        KIRQL old;
        KeAcquireSpinLock(&x->Lock, &old);
        l.Chunk = x->Last.Chunk;
        l.Elements = x->Last.Elements;
        l.MdlByteOffset = x->Last.MdlByteOffset;
        l.MdlPages = x->Last.MdlPages;
        for (ULONG i = 0; i < VB_LAST_ELEMENTS; i++) {
            l.MdlPfn[i] = x->Last.MdlPfn[i];
            l.Address[i] = x->Last.Address[i];
            l.Length[i] = x->Last.Length[i];
        }
        l.MaxInFlight = x->Stats.MaxInFlight;
        KeReleaseSpinLock(&x->Lock, old);
        l.Interrupts = x->Stats.Interrupts;
        l.SubRequests = x->Stats.SubRequests;
        l.Msix = x->Msix;
        return answer(irp, &l, sizeof(l), sizeof(l));
    }
    default:
        return vb_complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    }
}

/* ---- bring-up ---- */

static NTSTATUS vb_fail(VB_DISK *x, const char *why)
{
    kprintf("vblk: %02x:%02x.%x: %s\n", x->Pci->Bus, x->Pci->Device, x->Pci->Function, why);
    if (x->Common)
        set_status(x, VIO_S_FAILED);
    return STATUS_UNSUCCESSFUL;
}

static NTSTATUS vb_init_device(VB_DISK *x)
{
    PPCI_DEVICE d = x->Pci;
    PPCI_VENDOR_CAP ncap;
    x->Common = map_cap(d, 1, 0x38, NULL);
    x->Notify = (volatile USHORT *)map_cap(d, 2, 2, &ncap);
    x->Isr = map_cap(d, 3, 1, NULL);
    x->DevCfg = map_cap(d, 4, 0x18, NULL);
    if (!x->Common || !x->Notify || !x->Isr || !x->DevCfg)
        return vb_fail(x, "a virtio structure is missing or unmappable");
    PciEnableMemory(d);

    /* Reset: 0, then wait until the device says 0 (4.1.4.3.2), bounded. */
    wr8(x->Common, VIO_DEVICE_STATUS, 0);
    ULONG spins = 0;
    while (rd8(x->Common, VIO_DEVICE_STATUS) != 0)
        if (++spins > 1000000)
            return vb_fail(x, "the device did not reset");
    set_status(x, VIO_S_ACKNOWLEDGE);
    set_status(x, VIO_S_DRIVER);

    wr32(x->Common, VIO_DEVICE_FEATURE_SELECT, 0);
    ULONG64 offered = rd32(x->Common, VIO_DEVICE_FEATURE);
    wr32(x->Common, VIO_DEVICE_FEATURE_SELECT, 1);
    offered |= (ULONG64)rd32(x->Common, VIO_DEVICE_FEATURE) << 32;
    if (!(offered & VIO_F_VERSION_1))
        return vb_fail(x, "no VIRTIO_F_VERSION_1: a legacy device");
    x->Features = offered & (VIO_F_VERSION_1 | VBLK_F_SEG_MAX | VBLK_F_BLK_SIZE | VBLK_F_FLUSH);
    wr32(x->Common, VIO_DRIVER_FEATURE_SELECT, 0);
    wr32(x->Common, VIO_DRIVER_FEATURE, (ULONG)x->Features);
    wr32(x->Common, VIO_DRIVER_FEATURE_SELECT, 1);
    wr32(x->Common, VIO_DRIVER_FEATURE, (ULONG)(x->Features >> 32));
    set_status(x, VIO_S_FEATURES_OK);
    if (!(rd8(x->Common, VIO_DEVICE_STATUS) & VIO_S_FEATURES_OK))
        return vb_fail(x, "the device refused our features");

    x->Capacity = (ULONG64)rd32(x->DevCfg, VBLK_CFG_CAPACITY) | ((ULONG64)rd32(x->DevCfg, VBLK_CFG_CAPACITY + 4) << 32);
    x->SectorSize = 512;
    if (x->Features & VBLK_F_BLK_SIZE) {
        ULONG b = rd32(x->DevCfg, VBLK_CFG_BLK_SIZE);
        if (b >= 512 && b <= PAGE_SIZE && !(b & (b - 1)))
            x->SectorSize = b;
    }
    x->SegMax = (x->Features & VBLK_F_SEG_MAX) ? rd32(x->DevCfg, VBLK_CFG_SEG_MAX) : 1;
    if (x->SegMax == 0)
        x->SegMax = 1;

    /* Queue 0. */
    wr16(x->Common, VIO_QUEUE_SELECT, 0);
    USHORT qs = rd16(x->Common, VIO_QUEUE_SIZE);
    if (qs < 4)
        return vb_fail(x, "queue 0 is missing or too small");
    if (qs > VB_QUEUE_MAX)
        qs = VB_QUEUE_MAX;
    x->QueueSize = qs;
    wr16(x->Common, VIO_QUEUE_SIZE, qs);
    x->SegLimit = x->SegMax < (ULONG)qs - 2 ? x->SegMax : (ULONG)qs - 2;
    if (x->SegLimit > VB_MAX_TRANSFER / PAGE_SIZE + 1)
        x->SegLimit = VB_MAX_TRANSFER / PAGE_SIZE + 1;

    /* Layout (2.7): descriptors 16-byte aligned, available ring 2, used ring
     * 4; the used ring gets its own page, the slots follow. */
    ULONG desc_bytes = 16u * qs, avail_bytes = 6u + 2u * qs, used_bytes = 6u + 8u * qs;
    ULONG used_off = (ULONG)ROUND_TO_PAGES(desc_bytes + avail_bytes);
    ULONG slots_off = (ULONG)ROUND_TO_PAGES(used_off + used_bytes);
    x->RingBytes = (ULONG)ROUND_TO_PAGES(slots_off + sizeof(VB_SLOT) * qs);
    x->Ring = x->Dma->DmaOperations->AllocateCommonBuffer(x->Dma, x->RingBytes, &x->RingPa, TRUE);
    if (!x->Ring)
        return vb_fail(x, "no common buffer for the queue");
    memset(x->Ring, 0, x->RingBytes);
    x->Desc = x->Ring;
    x->Avail = (volatile USHORT *)((PUCHAR)x->Ring + desc_bytes);
    x->Used = (volatile USHORT *)((PUCHAR)x->Ring + used_off);
    x->Slots = (VB_SLOT *)((PUCHAR)x->Ring + slots_off);
    x->SlotsPa = (ULONG64)x->RingPa.QuadPart + slots_off;
    for (USHORT i = 0; i < qs; i++)
        x->Desc[i].Next = (USHORT)(i + 1);
    x->FreeHead = 0;
    x->FreeCount = x->Unreserved = qs;
    wr64(x->Common, VIO_QUEUE_DESC, (ULONG64)x->RingPa.QuadPart);
    wr64(x->Common, VIO_QUEUE_DRIVER, (ULONG64)x->RingPa.QuadPart + desc_bytes);
    wr64(x->Common, VIO_QUEUE_DEVICE, (ULONG64)x->RingPa.QuadPart + used_off);
    ULONG noff = rd16(x->Common, VIO_QUEUE_NOTIFY_OFF) * ncap->NotifyOffMultiplier;
    if (noff + 2 > ncap->BarLength)
        return vb_fail(x, "the queue's notify address lies outside the notify structure");
    x->Notify = (volatile USHORT *)((volatile UCHAR *)x->Notify + noff);

    /* Interrupts: MSI-X entry 0 for the queue, no configuration-change
     * vector; the device answers NO_VECTOR when it cannot take the entry. */
    KeInitializeDpc(&x->Dpc, vb_dpc, x);
    BOOLEAN want_msix = d->MsixCap && !KeOptionEnabled("vblk.intx");
    if (want_msix && NT_SUCCESS(PciConnectMsix(d, 0, vb_isr_msix, x, VB_IRQL, &x->Interrupt))) {
        wr16(x->Common, VIO_MSIX_CONFIG, VIO_NO_VECTOR);
        wr16(x->Common, VIO_QUEUE_MSIX_VECTOR, 0);
        if (rd16(x->Common, VIO_QUEUE_MSIX_VECTOR) == 0) {
            x->Msix = TRUE;
        } else {
            PciDisconnectMsix(d, 0, x->Interrupt);
            x->Interrupt = NULL;
        }
    }
    if (!x->Msix) {
        /* INTx: on MSI-X-less or forced; the vectors stay NO_VECTOR, so the
         * device raises the line and sets the ISR status bits. */
        if (!NT_SUCCESS(PciConnectInterrupt(d, vb_isr_intx, x, VB_IRQL - 1, &x->Interrupt)))
            return vb_fail(x, "no interrupt");
    }
    wr16(x->Common, VIO_QUEUE_ENABLE, 1);
    PciEnableBusMaster(d, TRUE);
    set_status(x, VIO_S_DRIVER_OK);
    return STATUS_SUCCESS;
}

static NTSTATUS vb_create_disk(PDRIVER_OBJECT drv, PPCI_DEVICE pci, ULONG n)
{
    char dir[32], name[40];
    ksnprintf(dir, sizeof(dir), "\\Device\\Harddisk%u", n);
    ksnprintf(name, sizeof(name), "%s\\DR0", dir);
    ANSI_STRING s;
    RtlInitAnsiString(&s, dir);
    NTSTATUS st = ObCreateDirectory(&s);
    if (!NT_SUCCESS(st) && st != STATUS_OBJECT_NAME_COLLISION)
        return st;
    RtlInitAnsiString(&s, name);
    PDEVICE_OBJECT dev;
    st = IoCreateDevice(drv, sizeof(VB_DISK), &s, FILE_DEVICE_DISK, 0, FALSE, &dev);
    if (!NT_SUCCESS(st))
        return st;
    VB_DISK *x = dev->DeviceExtension;
    memset(x, 0, sizeof(*x));
    x->Device = dev;
    x->Pci = pci;
    KeInitializeSpinLock(&x->Lock);
    InitializeListHead(&x->Waiting);
    /* A 64-bit scatter/gather bus master: the caller's frames wherever they are. */
    DEVICE_DESCRIPTION dd;
    memset(&dd, 0, sizeof(dd));
    dd.Version = DEVICE_DESCRIPTION_VERSION3;
    dd.Master = dd.ScatterGather = TRUE;
    dd.Dma32BitAddresses = dd.Dma64BitAddresses = TRUE;
    dd.InterfaceType = PCIBus;
    dd.BusNumber = pci->Bus;
    dd.MaximumLength = VB_MAX_TRANSFER;
    ULONG regs;
    x->Dma = IoGetDmaAdapter(dev, &dd, &regs);
    if (!x->Dma) {
        IoDeleteDevice(dev);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    st = vb_init_device(x);
    if (!NT_SUCCESS(st)) {
        /* The device is left FAILED with bus mastering off; what was mapped
         * stays mapped (a boot driver that failed is not retried). */
        PciEnableBusMaster(pci, FALSE);
        IoDeleteDevice(dev);
        return st;
    }
    dev->Flags |= DO_DIRECT_IO;
    dev->SectorSize = (USHORT)x->SectorSize;
    /* The descriptors hold byte addresses: any alignment does. */
    dev->AlignmentRequirement = FILE_BYTE_ALIGNMENT;
    VblkDisks[n] = x;
    kprintf("vblk: %s: %llu sectors of 512, block %u, seg_max %u, queue %u, %s\n", name,
            (unsigned long long)x->Capacity, x->SectorSize, x->SegMax, x->QueueSize, x->Msix ? "MSI-X" : "INTx");
    return STATUS_SUCCESS;
}

NTSTATUS VblkDriverEntry(PDRIVER_OBJECT drv, PANSI_STRING registry_path)
{
    UNREFERENCED_PARAMETER(registry_path);
    drv->MajorFunction[IRP_MJ_CREATE] = vb_succeed;
    drv->MajorFunction[IRP_MJ_CLOSE] = vb_succeed;
    drv->MajorFunction[IRP_MJ_CLEANUP] = vb_succeed;
    drv->MajorFunction[IRP_MJ_READ] = vb_read_write;
    drv->MajorFunction[IRP_MJ_WRITE] = vb_read_write;
    drv->MajorFunction[IRP_MJ_FLUSH_BUFFERS] = vb_flush;
    drv->MajorFunction[IRP_MJ_DEVICE_CONTROL] = vb_ioctl;
    PPCI_DEVICE pci;
    for (ULONG i = 0; VblkDiskCount < VB_MAX_DISKS && (pci = PciFindDevice(VIRTIO_VENDOR, VIRTIO_BLK_MODERN, i)); i++) {
        if (!NT_SUCCESS(PciClaimDevice(pci, drv)))
            continue;
        if (NT_SUCCESS(vb_create_disk(drv, pci, VblkDiskCount)))
            VblkDiskCount++;
        else
            PciReleaseDevice(pci, drv);
    }
    return VblkDiskCount ? STATUS_SUCCESS : STATUS_NO_SUCH_DEVICE;
}
