/*
 * vblk_init.c: bringing a virtio-blk function up, and the driver's entry
 * and unload.
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
 * becomes the device object's SectorSize), FLUSH (IRP_MJ_FLUSH_BUFFERS
 * becomes VIRTIO_BLK_T_FLUSH; without it the device has no write cache to
 * flush and the flush succeeds at once) and INDIRECT_DESC (each
 * sub-request's chain goes in a table of its own and takes one ring
 * descriptor: a 256-entry ring holds 256 requests whatever their length,
 * where direct chains of 2 + pages descriptors hold one 512 KiB request or
 * a few dozen small ones; the boot option vblk.noindirect turns it off).
 * Not taken: EVENT_IDX (notify and interrupt suppression by index: QEMU
 * under TCG handles a notify inside the MMIO write and re-arms at once, so
 * it never asks for fewer notifies than one per batch - the driver's own
 * deferral while the device is busy does better, vblk_queue.c - and
 * interrupts are suppressed while the DPC works with avail.flags'
 * NO_INTERRUPT, which needs no feature: VbDpc says why),
 * SIZE_MAX (QEMU does not offer it), MQ (one queue is enough for one CPU's
 * worth of requests).
 */
#include "drivers/virtio/vblk.h"

#define VIRTIO_VENDOR 0x1AF4
#define VIRTIO_BLK_MODERN 0x1042
#define VB_IRQL 7

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

static volatile UCHAR *map_cap(PPCI_DEVICE d, UCHAR type, ULONG want, PPCI_VENDOR_CAP *out, PVOID *map,
                               SIZE_T *len)
{
    PPCI_VENDOR_CAP c = vio_cap(d, type);
    if (!c || c->BarLength < want)
        return NULL;
    if (out)
        *out = c;
    *map = PciMapBar(d, c->Bar, c->BarOffset, c->BarLength);
    *len = *map ? c->BarLength : 0;
    return *map;
}

static void set_status(VB_DISK *x, UCHAR bits)
{
    wr8(x->Common, VIO_DEVICE_STATUS, rd8(x->Common, VIO_DEVICE_STATUS) | bits);
}

/* Reset (4.1.4.3.2): write 0 and wait until the device says 0, bounded.
 * After it the device uses no ring and raises no interrupt. */
static BOOLEAN reset_device(VB_DISK *x)
{
    wr8(x->Common, VIO_DEVICE_STATUS, 0);
    for (ULONG spins = 0; rd8(x->Common, VIO_DEVICE_STATUS) != 0;)
        if (++spins > 1000000)
            return FALSE;
    return TRUE;
}

/* ---- bring-up ---- */

static NTSTATUS vb_fail(VB_DISK *x, const char *why)
{
    kprintf("vblk: %02x:%02x.%x: %s\n", x->Pci->Bus, x->Pci->Device, x->Pci->Function, why);
    if (x->Common)
        set_status(x, VIO_S_FAILED);
    return STATUS_UNSUCCESSFUL;
}

/* Everything vb_init_device got, given back (PASSIVE_LEVEL): the device
 * reset first, so it touches neither the rings nor the interrupt again. */
static void vb_release(VB_DISK *x)
{
    if (x->Common)
        reset_device(x);
    PciEnableBusMaster(x->Pci, FALSE);
    if (x->Interrupt) {
        if (x->Msix)
            PciDisconnectMsix(x->Pci, 0, x->Interrupt);
        else
            IoDisconnectInterrupt(x->Interrupt);
        x->Interrupt = NULL;
    }
    PDMA_OPERATIONS ops = x->Dma->DmaOperations;
    if (x->Ind)
        ops->FreeCommonBuffer(x->Dma, x->IndBytes, x->IndPa, x->Ind, TRUE);
    if (x->Ring)
        ops->FreeCommonBuffer(x->Dma, x->RingBytes, x->RingPa, x->Ring, TRUE);
    x->Ind = NULL;
    x->Ring = NULL;
    PVOID *maps[] = { &x->CommonMap, &x->NotifyMap, &x->IsrMap, &x->DevCfgMap };
    SIZE_T lens[] = { x->CommonLen, x->NotifyLen, x->IsrLen, x->DevCfgLen };
    for (ULONG i = 0; i < ARRAYSIZE(maps); i++) {
        if (*maps[i])
            PciUnmapBar(*maps[i], lens[i]);
        *maps[i] = NULL;
    }
    x->Common = x->Isr = x->DevCfg = NULL;
    x->Notify = NULL;
}

static NTSTATUS vb_init_device(VB_DISK *x)
{
    PPCI_DEVICE d = x->Pci;
    PPCI_VENDOR_CAP ncap = NULL;
    x->Common = map_cap(d, 1, 0x38, NULL, &x->CommonMap, &x->CommonLen);
    x->Notify = (volatile USHORT *)map_cap(d, 2, 2, &ncap, &x->NotifyMap, &x->NotifyLen);
    x->Isr = map_cap(d, 3, 1, NULL, &x->IsrMap, &x->IsrLen);
    x->DevCfg = map_cap(d, 4, 0x18, NULL, &x->DevCfgMap, &x->DevCfgLen);
    if (!x->Common || !x->Notify || !x->Isr || !x->DevCfg)
        return vb_fail(x, "a virtio structure is missing or unmappable");
    PciEnableMemory(d);

    if (!reset_device(x))
        return vb_fail(x, "the device did not reset");
    set_status(x, VIO_S_ACKNOWLEDGE);
    set_status(x, VIO_S_DRIVER);

    wr32(x->Common, VIO_DEVICE_FEATURE_SELECT, 0);
    ULONG64 offered = rd32(x->Common, VIO_DEVICE_FEATURE);
    wr32(x->Common, VIO_DEVICE_FEATURE_SELECT, 1);
    offered |= (ULONG64)rd32(x->Common, VIO_DEVICE_FEATURE) << 32;
    if (!(offered & VIO_F_VERSION_1))
        return vb_fail(x, "no VIRTIO_F_VERSION_1: a legacy device");
    ULONG64 want = VIO_F_VERSION_1 | VBLK_F_SEG_MAX | VBLK_F_BLK_SIZE | VBLK_F_FLUSH;
    if (!KeOptionEnabled("vblk.noindirect"))
        want |= VIO_F_INDIRECT_DESC;
    x->Features = offered & want;
    wr32(x->Common, VIO_DRIVER_FEATURE_SELECT, 0);
    wr32(x->Common, VIO_DRIVER_FEATURE, (ULONG)x->Features);
    wr32(x->Common, VIO_DRIVER_FEATURE_SELECT, 1);
    wr32(x->Common, VIO_DRIVER_FEATURE, (ULONG)(x->Features >> 32));
    set_status(x, VIO_S_FEATURES_OK);
    if (!(rd8(x->Common, VIO_DEVICE_STATUS) & VIO_S_FEATURES_OK))
        return vb_fail(x, "the device refused our features");
    x->Indirect = (x->Features & VIO_F_INDIRECT_DESC) != 0;
    x->DeferNotify = !KeOptionEnabled("vblk.nodefer");
    x->Merge = !KeOptionEnabled("vblk.nomerge");

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
    /* Elements (data descriptors) per sub-request: what the device takes
     * (an indirect table's entries count against seg_max like direct
     * ones), what a direct chain fits in the ring, what one table holds;
     * at least 2, so a piece that starts late in a page still reaches a
     * sector's end. An element is a run of physically contiguous frames,
     * so a contiguous buffer is one element whatever its length, and only
     * the byte limit below splits it. */
    ULONG lim = x->SegMax;
    if (!x->Indirect && lim > (ULONG)qs - 2)
        lim = (ULONG)qs - 2;
    if (lim > VB_SEG_CAP)
        lim = VB_SEG_CAP;
    if (lim < 2)
        return vb_fail(x, "seg_max is below 2");
    x->SegLimit = lim;
    /* vblk.piece_pages=N: pieces of at most N pages' bytes, all in flight
     * at once (the benchmark's question whether the host gains from them). */
    const char *pp = KeGetOption("vblk.piece_pages");
    ULONG pieces = 0;
    for (; pp && *pp >= '0' && *pp <= '9' && pieces < 100000; pp++)
        pieces = pieces * 10 + (ULONG)(*pp - '0');
    x->PieceBytes = VB_MAX_TRANSFER;
    if (pieces >= 2 && pieces < VB_MAX_TRANSFER / PAGE_SIZE)
        x->PieceBytes = pieces * PAGE_SIZE;
    /* vblk.merge_pages=N: a merged request of at most N pages' bytes
     * (default: a piece's); what size of merge the host does best with. */
    ULONG64 merge = 0;
    const char *mp = KeGetOption("vblk.merge_pages");
    x->MergeBytes = x->PieceBytes;
    if (mp && RtlParseUlong64(mp, &merge) && merge >= 1 && merge * PAGE_SIZE < x->PieceBytes)
        x->MergeBytes = (ULONG)merge * PAGE_SIZE;

    /* Layout (2.7): descriptors 16-byte aligned, available ring 2, used ring
     * 4; the used ring gets its own page, the slots follow. */
    PDMA_OPERATIONS ops = x->Dma->DmaOperations;
    ULONG desc_bytes = 16u * qs, avail_bytes = 6u + 2u * qs, used_bytes = 6u + 8u * qs;
    ULONG used_off = (ULONG)ROUND_TO_PAGES(desc_bytes + avail_bytes);
    ULONG slots_off = (ULONG)ROUND_TO_PAGES(used_off + used_bytes);
    x->RingBytes = (ULONG)ROUND_TO_PAGES(slots_off + sizeof(VB_SLOT) * qs);
    x->Ring = ops->AllocateCommonBuffer(x->Dma, x->RingBytes, &x->RingPa, TRUE);
    if (!x->Ring)
        return vb_fail(x, "no common buffer for the queue");
    memset(x->Ring, 0, x->RingBytes);
    if (x->Indirect) {
        /* One table per head: the device reads it by DMA like the ring, so
         * it is a common buffer too (physically contiguous, never freed
         * while the device runs). */
        x->IndBytes = (ULONG)ROUND_TO_PAGES((SIZE_T)qs * VB_IND_ENTRIES * sizeof(VQ_DESC));
        x->Ind = ops->AllocateCommonBuffer(x->Dma, x->IndBytes, &x->IndPa, TRUE);
        if (!x->Ind)
            return vb_fail(x, "no common buffer for the indirect tables");
        memset(x->Ind, 0, x->IndBytes);
    }
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
    KeInitializeDpc(&x->Dpc, VbDpc, x);
    BOOLEAN want_msix = d->MsixCap && !KeOptionEnabled("vblk.intx");
    if (want_msix && NT_SUCCESS(PciConnectMsix(d, 0, VbIsrMsix, x, VB_IRQL, &x->Interrupt))) {
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
        if (!NT_SUCCESS(PciConnectInterrupt(d, VbIsrIntx, x, VB_IRQL - 1, &x->Interrupt)))
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
    /* The directory stays when the driver unloads (a reload finds it). */
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
        /* Everything given back, the device reset (quiet: no ring, no
         * interrupt) and bus mastering off; a boot driver that failed is
         * not retried. */
        vb_release(x);
        x->Dma->DmaOperations->PutDmaAdapter(x->Dma);
        IoDeleteDevice(dev);
        return st;
    }
    dev->Flags |= DO_DIRECT_IO;
    dev->SectorSize = (USHORT)x->SectorSize;
    /* The descriptors hold byte addresses: any alignment does. */
    dev->AlignmentRequirement = FILE_BYTE_ALIGNMENT;
    VblkDisks[n] = x;
    kprintf("vblk: %s: %llu sectors of 512, block %u, seg_max %u, queue %u, %s%s\n", name,
            (unsigned long long)x->Capacity, x->SectorSize, x->SegMax, x->QueueSize, x->Msix ? "MSI-X" : "INTx",
            x->Indirect ? ", indirect" : "");
    return STATUS_SUCCESS;
}

/* DriverUnload (PASSIVE_LEVEL): NT calls it when no file is open on the
 * driver's devices and no request is in it; each disk is reset (the device
 * forgets the rings), its interrupt disconnected, its queue and tables
 * freed, its registers unmapped, its adapter put, its function released and
 * its device object deleted. */
void VblkDriverUnload(PDRIVER_OBJECT drv)
{
    UNREFERENCED_PARAMETER(drv);
    for (ULONG i = 0; i < VB_MAX_DISKS; i++) {
        VB_DISK *x = VblkDisks[i];
        if (!x)
            continue;
        if (VblkReqsOutstanding != 0 || x->Stats.InFlight != 0 || !IsListEmpty(&x->Waiting))
            KeBugCheckRule(DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, (ULONG_PTR)x->Device,
                           (ULONG_PTR)VblkReqsOutstanding, x->Stats.InFlight, 0,
                           "a driver was unloaded with requests still in it");
        vb_release(x);
        x->Dma->DmaOperations->PutDmaAdapter(x->Dma);
        PciReleaseDevice(x->Pci, x->Device->DriverObject);
        VblkDisks[i] = NULL;
        IoDeleteDevice(x->Device);
    }
    VblkDiskCount = 0;
    VbDeleteRequests();
}

NTSTATUS VblkDriverEntry(PDRIVER_OBJECT drv, PANSI_STRING registry_path)
{
    UNREFERENCED_PARAMETER(registry_path);
    KeMarkBootPhase("io.drivers_before_vblk");
    VbInstallDispatch(drv);
    VbInitializeRequests();
    PPCI_DEVICE pci;
    for (ULONG i = 0; VblkDiskCount < VB_MAX_DISKS && (pci = PciFindDevice(VIRTIO_VENDOR, VIRTIO_BLK_MODERN, i)); i++) {
        if (!NT_SUCCESS(PciClaimDevice(pci, drv)))
            continue;
        if (NT_SUCCESS(vb_create_disk(drv, pci, VblkDiskCount)))
            VblkDiskCount++;
        else
            PciReleaseDevice(pci, drv);
        KeMarkBootPhase("io.vblk_disk");
    }
    if (!VblkDiskCount)
        VbDeleteRequests();
    return VblkDiskCount ? STATUS_SUCCESS : STATUS_NO_SUCH_DEVICE;
}
