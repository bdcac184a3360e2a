/*
 * The PCI bus driver against QEMU's pc machine as scripts/qemu.sh builds
 * it: the i440FX host bridge and the PIIX3 on bus 0, a virtio-blk-pci
 * (modern only, 1af4:1042) on bus 0, a PCI-to-PCI bridge and a second
 * virtio-blk behind it on bus 1. Nothing here initializes a virtio device:
 * only what firmware set up is read, and what a test writes it puts back.
 */
#include "kernel/mdlos.h"
#include "kernel/hal/x86.h"
#include "drivers/pci/pci.h"

#define VIRTIO_VENDOR  0x1AF4
#define VIRTIO_BLK_MODERN 0x1042

static PPCI_DEVICE virtio_blk(ULONG index)
{
    PPCI_DEVICE d = PciFindDevice(VIRTIO_VENDOR, VIRTIO_BLK_MODERN, index);
    if (!d)
        KtFail(__FILE__, __LINE__, "no virtio-blk (1af4:1042) number %u: is QEMU started by scripts/qemu.sh?", index);
    return d;
}

static PPCI_VENDOR_CAP virtio_cap(PPCI_DEVICE d, UCHAR type)
{
    for (ULONG i = 0; i < d->VendorCapCount; i++)
        if (d->VendorCaps[i].CfgType == type)
            return &d->VendorCaps[i];   /* the first of each type is the one to use (virtio 1.x 4.1.4) */
    return NULL;
}

KTEST(pci, host_bridge_and_piix3_on_bus_0)
{
    PPCI_DEVICE host = PciFindDevice(0x8086, 0x1237, 0);   /* i440FX */
    KT_ASSERT(host);
    KT_EQ(host->Bus, 0);
    KT_EQ(host->Device, 0);
    KT_EQ(host->BaseClass, 0x06);                          /* bridge, */
    KT_EQ(host->SubClass, 0x00);                           /* host */
    KT_EQ(host->HeaderType, 0);
    KT_ASSERT(host->Driver != NULL);                       /* the bus driver's own */
    PPCI_DEVICE isa = PciFindDevice(0x8086, 0x7000, 0);    /* PIIX3, function 0: the ISA bridge */
    KT_ASSERT(isa);
    KT_EQ(isa->Bus, 0);
    KT_EQ(isa->Function, 0);
    KT_EQ(isa->SubClass, 0x01);
    /* The PIIX3 is multi-function: its IDE (function 1) was found too. */
    PPCI_DEVICE ide = PciFindDevice(0x8086, 0x7010, 0);
    KT_ASSERT(ide);
    KT_EQ(ide->Device, isa->Device);
    KT_EQ(ide->Function, 1);
    KT_EQ(ide->BaseClass, 0x01);
    KT_EQ(ide->Bars[4].Type, PciBarIo);                    /* bus-master IDE registers: 16 ports */
    KT_EQ(ide->Bars[4].Size, 16);
    KT_EQ(PciFindClass(0x06, 0x00, 0), host);
    KT_EQ(PciFindDevice(0x8086, 0x1237, 1), NULL);          /* one host bridge */
}

KTEST(pci, virtio_blk_found_with_bars_sized)
{
    for (ULONG n = 0; n < 2; n++) {
        PPCI_DEVICE d = virtio_blk(n);
        KT_EQ(d->BaseClass, 0x01);                         /* mass storage */
        KT_EQ(d->SubClass, 0x00);
        KT_GE(d->RevisionId, 1);                           /* non-transitional: revision 1 or more */
        KT_GE(d->SubSystemId, 0x40);
        KT_EQ(d->InterruptPin, 1);                         /* INTA# */
        KT_EQ(d->BarCount, 6);
        /* disable-legacy=on: no legacy I/O BAR 0; BAR1 the MSI-X table and
         * PBA (4 KiB), BAR4 64-bit prefetchable with the virtio structures (16 KiB). */
        KT_EQ(d->Bars[0].Type, PciBarUnused);
        KT_EQ(d->Bars[1].Type, PciBarMemory32);
        KT_EQ(d->Bars[1].Size, 0x1000);
        KT_EQ(d->Bars[4].Type, PciBarMemory64);
        KT_EQ(d->Bars[4].Prefetchable, TRUE);
        KT_EQ(d->Bars[4].Size, 0x4000);
        KT_EQ(d->Bars[5].Type, PciBarUpperHalf);
        KT_NE(d->Bars[4].Base, 0);
        KT_EQ(d->Bars[4].Base & (d->Bars[4].Size - 1), 0);  /* naturally aligned */
        KT_NE(d->Driver, NULL);                             /* \Driver\Vblk's (drivers/virtio) */
    }
    KT_EQ(PciFindDevice(VIRTIO_VENDOR, VIRTIO_BLK_MODERN, 2), NULL);
}

KTEST(pci, bridge_and_the_bus_behind_it)
{
    PPCI_DEVICE br = PciFindClass(0x06, 0x04, 0);          /* PCI-to-PCI bridge */
    KT_ASSERT(br);
    KT_EQ(br->HeaderType, 1);
    KT_EQ(br->Bus, 0);
    KT_EQ(br->BarCount, 2);
    KT_EQ(br->SecondaryBus, 1);
    KT_GE(br->SubordinateBus, 1);
    KT_ASSERT(br->Driver != NULL);
    /* The second disk sits behind it: found by scanning bus 1. */
    PPCI_DEVICE d = virtio_blk(1);
    KT_EQ(d->Bus, br->SecondaryBus);
    /* Its INTA# reaches bus 0 swizzled through the bridge, (pin - 1 +
     * device) mod 4, so SeaBIOS routed it to another PIRQ than its slot alone. */
    KT_NE(d->InterruptLine, 0);
    KT_NE(d->InterruptLine, 0xFF);
}

KTEST(pci, virtio_capabilities_listed)
{
    PPCI_DEVICE d = virtio_blk(0);
    /* common 1, notify 2, ISR 3, device 4 - each in BAR4 inside its size -
     * and the PCI configuration access window 5. */
    for (UCHAR t = 1; t <= 5; t++) {
        PPCI_VENDOR_CAP c = virtio_cap(d, t);
        if (!c)
            KtFail(__FILE__, __LINE__, "no virtio capability of cfg_type %u", t);
        KT_GE(c->Length, 16);
        if (t <= 4) {
            KT_EQ(c->Bar, 4);
            KT_LE((ULONG64)c->BarOffset + c->BarLength, d->Bars[4].Size);
            KT_GT(c->BarLength, 0);
        }
    }
    KT_EQ(virtio_cap(d, 2)->NotifyOffMultiplier, 4);
    KT_EQ(virtio_cap(d, 2)->Length, 20);
    /* MSI-X: num_queues + 1 entries (one queue with one vCPU), table at
     * offset 0 of BAR1, PBA at 0x800 of the same BAR. */
    KT_NE(d->MsixCap, 0);
    KT_EQ(d->MsixTableSize, 2);
    KT_EQ(d->MsixTableBar, 1);
    KT_EQ(d->MsixTableOffset, 0);
    KT_EQ(d->MsixPbaBar, 1);
    KT_EQ(d->MsixPbaOffset, 0x800);
    /* The full list in order has them all: 5 vendor capabilities and MSI-X. */
    ULONG vendor = 0, msix = 0;
    for (ULONG i = 0; i < d->CapCount; i++) {
        vendor += d->CapIds[i] == PCI_CAP_ID_VENDOR;
        msix += d->CapIds[i] == PCI_CAP_ID_MSIX;
    }
    KT_EQ(vendor, 5);
    KT_EQ(msix, 1);
    KT_EQ(d->VendorCapCount, 5);
}

KTEST(pci, bar_sizing_restores_bar_and_command)
{
    PPCI_DEVICE d = virtio_blk(0);
    ULONG slot = PCI_SLOT(d->Device, d->Function);
    ULONG before[6], after[6];
    USHORT cmd = PciRead16(d, PCI_COMMAND);
    KT_NE(cmd & PCI_COMMAND_MEMORY, 0);   /* the firmware left it decoding: the probe must turn it back on */
    for (ULONG i = 0; i < 6; i++)
        before[i] = PciRead32(d, PCI_BAR0 + 4 * i);
    for (ULONG i = 0; i < 6; i++) {
        PCI_BAR b;
        KT_EQ(PciProbeBar(d->Bus, slot, i, d->BarCount, &b), TRUE);
        if (d->Bars[i].Type != PciBarUpperHalf) {
            KT_EQ(b.Type, d->Bars[i].Type);
            KT_EQ(b.Size, d->Bars[i].Size);
            KT_EQ(b.Base, d->Bars[i].Base);
        }
    }
    for (ULONG i = 0; i < 6; i++)
        after[i] = PciRead32(d, PCI_BAR0 + 4 * i);
    KT_MEMEQ(after, before, sizeof(before));
    KT_EQ(PciRead16(d, PCI_COMMAND), cmd);
    PCI_BAR b;
    KT_EQ(PciProbeBar(d->Bus, slot, 6, d->BarCount, &b), FALSE);   /* past the header's BARs */
}

KTEST(pci, map_bar_reads_virtio_common_config)
{
    PPCI_DEVICE d = virtio_blk(0);
    PPCI_VENDOR_CAP c = virtio_cap(d, 1);
    KT_ASSERT(c);
    /* Refused: a range past the BAR, an unused BAR, I/O space. */
    KT_EQ(PciMapBar(d, c->Bar, d->Bars[c->Bar].Size, 4), NULL);
    KT_EQ(PciMapBar(d, c->Bar, 0, d->Bars[c->Bar].Size + 1), NULL);
    KT_EQ(PciMapBar(d, 0, 0, 4), NULL);
    KT_EQ(PciMapBar(d, 5, 0, 4), NULL);
    KT_EQ(PciMapBar(d, 6, 0, 4), NULL);
    volatile UCHAR *common = PciMapBar(d, c->Bar, c->BarOffset, 0x38);
    KT_ASSERT(common);
    /* Only reads, each at its field's own width (QEMU decodes the common
     * configuration by exact offset and size: a 32-bit read at 0x10 would
     * return config_msix_vector alone). device_feature_select is 0 or 1
     * (whatever the BIOS left), num_queues 1 with one vCPU, queue_size of
     * the selected queue 256 (QEMU's default) or 0. */
    ULONG select = *(volatile ULONG *)(common + 0x00);
    USHORT queues = *(volatile USHORT *)(common + 0x12);
    UCHAR status = common[0x14];
    KT_LE(select, 1);
    KT_EQ(queues, 1);
    /* SeaBIOS drove the disk to boot from it and left it live: DRIVER_OK (4) set. */
    KT_NE(status & 4, 0);
    PciUnmapBar((PVOID)common, 0x38);
}

static BOOLEAN never_mine(PKINTERRUPT in, PVOID ctx)
{
    UNREFERENCED_PARAMETER(in);
    UNREFERENCED_PARAMETER(ctx);
    return FALSE;
}

KTEST(pci, intx_connect_programs_the_ioapic)
{
    PPCI_DEVICE d = virtio_blk(0);
    /* SeaBIOS on i440FX: PIRQA-D -> ISA IRQ 10, 10, 11, 11 (the PIIX3's
     * registers 0x60-0x63), and the Interrupt Line says which; on QEMU's pc
     * the IOAPIC input of ISA IRQ n is GSI n for these lines. */
    KT_ASSERT(d->InterruptLine == 10 || d->InterruptLine == 11);
    ULONG gsi = d->InterruptLine;
    PKINTERRUPT a, b;
    KT_EQ(PciConnectInterrupt(d, never_mine, NULL, 6, &a), STATUS_SUCCESS);
    KT_EQ(a->Gsi, gsi);
    KT_EQ(a->Vector >> 4, 6);
    ULONG64 rte = HalIoApicReadRoute(gsi);
    KT_EQ(rte & 0xFF, a->Vector);
    KT_EQ((rte >> 8) & 7, 0);                  /* fixed delivery */
    KT_NE(rte & (1u << 15), 0);                /* level-triggered */
    KT_EQ(rte & (1u << 13), 0);                /* active high: QEMU's MADT override for IRQ 10/11 */
    KT_EQ(rte & (1u << 16), 0);                /* unmasked */
    KT_EQ(PciRead16(d, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE, 0);
    /* A second interrupt on the same line shares the vector (INTx is
     * shared), and the line stays routed until the last one goes. */
    KT_EQ(PciConnectInterrupt(d, never_mine, NULL, 6, &b), STATUS_SUCCESS);
    KT_EQ(b->Vector, a->Vector);
    IoDisconnectInterrupt(a);
    rte = HalIoApicReadRoute(gsi);
    KT_EQ(rte & 0xFF, b->Vector);
    KT_EQ(rte & (1u << 16), 0);
    IoDisconnectInterrupt(b);
    KT_NE(HalIoApicReadRoute(gsi) & (1u << 16), 0);   /* masked again */
    /* A function without a pin has nothing to connect. */
    PPCI_DEVICE host = PciFindDevice(0x8086, 0x1237, 0);
    KT_EQ(PciConnectInterrupt(host, never_mine, NULL, 6, &a), STATUS_NOT_FOUND);
    /* A shared vector is for one IRQL: another IRQL on the line is refused. */
    KT_EQ(PciConnectInterrupt(d, never_mine, NULL, 6, &a), STATUS_SUCCESS);
    KT_EQ(PciConnectInterrupt(d, never_mine, NULL, 7, &b), STATUS_INSUFFICIENT_RESOURCES);
    IoDisconnectInterrupt(a);
}

KTEST(pci, msix_entry_programmed_read_back_and_restored)
{
    PPCI_DEVICE d = virtio_blk(0);
    KT_NE(d->MsixCap, 0);
    USHORT ctl = PciRead16(d, d->MsixCap + 2);
    KT_NE(ctl & PCI_MSIX_CONTROL_ENABLE, 0);     /* the virtio-blk driver's queue has entry 0 */
    SIZE_T bytes = (SIZE_T)d->MsixTableSize * PCI_MSIX_ENTRY_SIZE;
    volatile ULONG *t = PciMapBar(d, d->MsixTableBar, d->MsixTableOffset, bytes);
    KT_ASSERT(t);
    ULONG saved[4];
    for (int i = 0; i < 4; i++)
        saved[i] = t[4 + i];                     /* entry 1 */
    /* By hand, masked: the message for vector 0x71. */
    ULONG64 addr;
    ULONG data;
    HalGetMessageSignaledInterrupt(0x71, &addr, &data);
    KT_EQ(addr & 0xFFF00FFFULL, 0xFEE00000ULL);
    KT_EQ(data, 0x71);
    t[4 + 3] = saved[3] | 1;
    t[4 + 0] = (ULONG)addr;
    t[4 + 1] = (ULONG)(addr >> 32);
    t[4 + 2] = data;
    KT_EQ(t[4 + 0], (ULONG)addr);
    KT_EQ(t[4 + 1], 0);
    KT_EQ(t[4 + 2], 0x71);
    KT_EQ(t[4 + 3] & 1, 1);
    for (int i = 0; i < 4; i++)
        t[4 + i] = saved[i];
    for (int i = 0; i < 4; i++)
        KT_EQ(t[4 + i], saved[i]);
    PciUnmapBar((PVOID)t, bytes);

    /* Through the driver's API: a vector of IRQL 7's class, the entry
     * unmasked, MSI-X on with the function mask off; disconnecting puts
     * everything back. (No message arrives: the device has no queue vector
     * assigned, which only its driver does - a real interrupt test needs
     * the virtio-blk driver.) */
    PKINTERRUPT in;
    KT_EQ(PciConnectMsix(d, 1, never_mine, NULL, 7, &in), STATUS_SUCCESS);
    KT_EQ(in->Vector >> 4, 7);
    KT_EQ(in->Gsi, KINTERRUPT_MESSAGE_SIGNALED);
    USHORT on = PciRead16(d, d->MsixCap + 2);
    KT_NE(on & PCI_MSIX_CONTROL_ENABLE, 0);
    KT_EQ(on & PCI_MSIX_CONTROL_MASKALL, 0);
    volatile ULONG *e = (volatile ULONG *)(d->MsixTable + PCI_MSIX_ENTRY_SIZE);
    HalGetMessageSignaledInterrupt(in->Vector, &addr, &data);
    KT_EQ(e[0], (ULONG)addr);
    KT_EQ(e[2], in->Vector);
    KT_EQ(e[3] & 1, 0);
    KT_EQ(PciConnectMsix(d, d->MsixTableSize, never_mine, NULL, 7, &in), STATUS_INVALID_PARAMETER);
    PciDisconnectMsix(d, 1, in);
    KT_NE(d->MsixTable, NULL);                   /* entry 0 is still connected */
    KT_EQ(PciRead16(d, d->MsixCap + 2), ctl);
    t = PciMapBar(d, d->MsixTableBar, d->MsixTableOffset, bytes);
    KT_ASSERT(t);
    KT_EQ(t[4 + 3] & 1, 1);                      /* left masked */
    t[4 + 3] = saved[3];
    PciUnmapBar((PVOID)t, bytes);
    PPCI_DEVICE host = PciFindDevice(0x8086, 0x1237, 0);
    KT_EQ(PciConnectMsix(host, 0, never_mine, NULL, 7, &in), STATUS_NOT_SUPPORTED);
}

KTEST(pci, claim_binds_one_driver)
{
    PPCI_DEVICE d = virtio_blk(1);
    DRIVER_OBJECT one, two;
    memset(&one, 0, sizeof(one));
    memset(&two, 0, sizeof(two));
    RtlInitAnsiString(&one.DriverName, "\\Driver\\PciTestOne");
    /* The virtio-blk driver has it: the binding is lent to the test and
     * given back (only the binding: the driver keeps using the device). */
    PDRIVER_OBJECT owner = d->Driver;
    KT_NE(owner, NULL);
    KT_EQ(PciClaimDevice(d, owner), STATUS_SUCCESS);
    KT_EQ(PciClaimDevice(d, &one), STATUS_DEVICE_BUSY);
    PciReleaseDevice(d, &one);                   /* not its to release */
    KT_EQ(d->Driver, owner);
    PciReleaseDevice(d, owner);
    KT_EQ(d->Driver, NULL);
    KT_EQ(PciClaimDevice(d, &one), STATUS_SUCCESS);
    KT_EQ(PciClaimDevice(d, &one), STATUS_SUCCESS);
    KT_EQ(PciClaimDevice(d, &two), STATUS_DEVICE_BUSY);
    PciReleaseDevice(d, &two);
    KT_EQ(d->Driver, &one);
    PciReleaseDevice(d, &one);
    KT_EQ(d->Driver, NULL);
    KT_EQ(PciClaimDevice(d, owner), STATUS_SUCCESS);
}

KTEST(pci, bus_master_enable_and_disable)
{
    PPCI_DEVICE d = virtio_blk(1);
    USHORT was = PciRead16(d, PCI_COMMAND);
    PciEnableBusMaster(d, FALSE);
    KT_EQ(PciRead16(d, PCI_COMMAND) & PCI_COMMAND_BUS_MASTER, 0);
    PciEnableBusMaster(d, TRUE);
    KT_NE(PciRead16(d, PCI_COMMAND) & PCI_COMMAND_BUS_MASTER, 0);
    PciEnableMemory(d);
    KT_NE(PciRead16(d, PCI_COMMAND) & PCI_COMMAND_MEMORY, 0);
    PciWrite16(d, PCI_COMMAND, was);
    KT_EQ(PciRead16(d, PCI_COMMAND), was);
}

/*
 * The disk images reach the guest: each virtio-blk's capacity (device
 * configuration offset 0, le64, 512-byte sectors) is its image's size. Read
 * only, as two 32-bit halves under config_generation (common configuration
 * 0x15): a 64-bit field may change between the halves, and the generation
 * says it did (virtio 1.x 2.5.1). The expected sizes are the build's images
 * (64 MiB each) unless `test.disk_sectors=A,B` says otherwise (the host test
 * disks.fresh_images_reach_the_guest boots this with images of its own).
 */
static ULONG64 virtio_capacity(PPCI_DEVICE d)
{
    PPCI_VENDOR_CAP common = virtio_cap(d, 1), dev = virtio_cap(d, 4);
    KT_ASSERT(common && dev);
    volatile UCHAR *c = PciMapBar(d, common->Bar, common->BarOffset, 0x38);
    volatile UCHAR *cfg = PciMapBar(d, dev->Bar, dev->BarOffset, 8);
    KT_ASSERT(c && cfg);
    ULONG64 cap;
    UCHAR gen;
    int tries = 0;
    do {
        gen = c[0x15];
        cap = *(volatile ULONG *)cfg | (ULONG64) * (volatile ULONG *)(cfg + 4) << 32;
    } while (c[0x15] != gen && ++tries < 100);
    PciUnmapBar((PVOID)cfg, 8);
    PciUnmapBar((PVOID)c, 0x38);
    return cap;
}

KTEST(pci, virtio_blk_capacity_is_the_image_size)
{
    ULONG64 want[2] = { (64u << 20) / 512, (64u << 20) / 512 };
    const char *opt = KeGetOption("test.disk_sectors");
    if (opt) {
        char a[24];
        ULONG n = 0;
        while (opt[n] && opt[n] != ',' && n + 1 < sizeof(a)) {
            a[n] = opt[n];
            n++;
        }
        a[n] = 0;
        KT_ASSERT(RtlParseUlong64(a, &want[0]) && opt[n] == ',' && RtlParseUlong64(opt + n + 1, &want[1]));
    }
    for (ULONG i = 0; i < 2; i++) {
        PPCI_DEVICE d = virtio_blk(i);
        ULONG64 cap = virtio_capacity(d);
        kprintf("pci: virtio-blk %02x:%02x.%u capacity %llu sectors\n", d->Bus, d->Device, d->Function,
                (unsigned long long)cap);
        KT_EQ(cap, want[i]);
    }
}

/* The leak check must catch an MSI-X entry left connected (and with it the
 * interrupt object in pool and the table's system PTEs): booted alone by the
 * host test runner.reports_a_leaked_msix_entry, which wants the failure to
 * name the counter. */
KTEST_MANUAL(pci, leaks_an_msix_entry_on_purpose)
{
    PKINTERRUPT in;
    /* Entry 1: entry 0 is the virtio-blk driver's queue. */
    KT_EQ(PciConnectMsix(virtio_blk(0), 1, never_mine, NULL, 7, &in), STATUS_SUCCESS);
}

/*
 * Whoever placed the BARs (SeaBIOS, or the bus driver itself after qboot:
 * PciBarsAssigned says which), the result must be what the hardware
 * needs: every implemented BAR at a nonzero multiple of its size, no two
 * decoding the same address, decoding on, and each function behind the
 * bridge inside one of the bridge's open windows (else the bridge never
 * forwards its cycles and the driver reads all ones).
 */
static BOOLEAN in_window(ULONG64 base, ULONG64 size, ULONG64 lo, ULONG64 hi)
{
    return lo <= hi && base >= lo && base + size - 1 <= hi;
}

KTEST(pci, every_bar_placed_aligned_apart_and_reachable)
{
    ULONG checked = 0;
    for (ULONG i = 0; i < PciDeviceCount; i++) {
        PPCI_DEVICE d = &PciDevices[i];
        for (ULONG b = 0; b < d->BarCount; b++) {
            PPCI_BAR x = &d->Bars[b];
            if (x->Type != PciBarIo && x->Type != PciBarMemory32 && x->Type != PciBarMemory64)
                continue;
            checked++;
            KT_NE(x->Base, 0);
            KT_EQ(x->Base & (x->Size - 1), 0);
            USHORT need = x->Type == PciBarIo ? 0x0001 : 0x0002;
            KT_EQ(PciRead16(d, 0x04) & need, need);          /* decoding on */
            for (ULONG j = 0; j < PciDeviceCount; j++)
                for (ULONG c = 0; c < PciDevices[j].BarCount; c++) {
                    PPCI_BAR y = &PciDevices[j].Bars[c];
                    if (y == x || (y->Type == PciBarIo) != (x->Type == PciBarIo) || y->Size == 0 ||
                        y->Type == PciBarUnused || y->Type == PciBarUpperHalf)
                        continue;
                    BOOLEAN apart = x->Base + x->Size <= y->Base || y->Base + y->Size <= x->Base;
                    if (!apart)
                        KtFail(__FILE__, __LINE__, "%02x:%02x.%u BAR%u [%#llx+%#llx] overlaps %02x:%02x.%u BAR%u",
                               d->Bus, d->Device, d->Function, b, (unsigned long long)x->Base,
                               (unsigned long long)x->Size, PciDevices[j].Bus, PciDevices[j].Device,
                               PciDevices[j].Function, c);
                }
            if (d->Bus == 0 || x->Type == PciBarIo)
                continue;
            PPCI_DEVICE br = NULL;
            for (ULONG j = 0; j < PciDeviceCount; j++)
                if (PciDevices[j].HeaderType == 1 && PciDevices[j].SecondaryBus == d->Bus)
                    br = &PciDevices[j];
            KT_ASSERT(br);
            /* Memory decoding on the bridge (its bus-master bit too on real
             * hardware; QEMU does not gate DMA on it, and SeaBIOS leaves it off). */
            KT_EQ(PciRead16(br, 0x04) & 0x0002, 0x0002);
            ULONG64 mlo = (ULONG64)(PciRead16(br, 0x20) & 0xFFF0) << 16;
            ULONG64 mhi = ((ULONG64)(PciRead16(br, 0x22) & 0xFFF0) << 16) | 0xFFFFF;
            ULONG64 plo = ((ULONG64)PciRead32(br, 0x28) << 32) | ((ULONG64)(PciRead16(br, 0x24) & 0xFFF0) << 16);
            ULONG64 phi = ((ULONG64)PciRead32(br, 0x2C) << 32) | ((ULONG64)(PciRead16(br, 0x26) & 0xFFF0) << 16) |
                          0xFFFFF;
            KT_ASSERT(in_window(x->Base, x->Size, mlo, mhi) || (x->Prefetchable && in_window(x->Base, x->Size, plo, phi)));
        }
    }
    KT_GE(checked, 6);   /* IDE, VGA x2, the two virtio-blk x2, the bridge's own */
    kprintf("pci: %u BARs checked, %u placed by the bus driver\n", checked, PciBarsAssigned);
}
