/*
 * The PCI bus driver: enumeration of every bus at boot, and the services a
 * function's driver needs (drivers/pci/pci.h). Configuration cycles are the
 * HAL's (kernel/hal/pci.c); this file knows the PCI header layout.
 *
 * Enumeration (PCI Local Bus spec 3.0, chapter 6; PCI-to-PCI Bridge spec
 * 1.2, chapter 3): on bus 0 try each of the 32 devices' function 0; a
 * vendor ID of 0xFFFF means nothing answered. Functions 1-7 exist only when
 * function 0's header type has bit 7 (multi-function) set. A header of type
 * 1 is a PCI-to-PCI bridge: the bus number the firmware gave its secondary
 * side (register 0x19) is scanned the same way, depth first. The firmware
 * (SeaBIOS) has already numbered the buses and assigned every BAR and
 * Interrupt Line: mdlos reads what it did and reassigns nothing, as NT keeps
 * the BIOS's assignment when it is consistent. A minimal firmware (qboot,
 * which the test runner boots for speed) numbers the buses and routes the
 * interrupts but leaves every BAR at 0 with decoding off: then, and only
 * then, the bus driver assigns the BARs itself (assign_resources below).
 */
#include "kernel/mdlos.h"
#include "kernel/ntsyscall.h"
#include "drivers/drivers.h"
#include "drivers/pci/pci.h"

PCI_DEVICE PciDevices[PCI_MAX_DEVICES];
ULONG PciDeviceCount;
static PDRIVER_OBJECT pci_driver;   /* \Driver\Pci: owns the bridges */

/* ---- configuration space ---- */

static ULONG slot_of(PPCI_DEVICE d)
{
    return PCI_SLOT(d->Device, d->Function);
}

ULONG PciReadConfig(PPCI_DEVICE d, PVOID buf, ULONG off, ULONG len)
{
    return HalGetBusDataByOffset(PCIConfiguration, d->Bus, slot_of(d), buf, off, len);
}

ULONG PciWriteConfig(PPCI_DEVICE d, PVOID buf, ULONG off, ULONG len)
{
    return HalSetBusDataByOffset(PCIConfiguration, d->Bus, slot_of(d), buf, off, len);
}

static ULONG cfg_read(ULONG bus, ULONG slot, ULONG off, ULONG width)
{
    ULONG v = 0;
    HalGetBusDataByOffset(PCIConfiguration, bus, slot, &v, off, width);
    return v;
}

static void cfg_write(ULONG bus, ULONG slot, ULONG off, ULONG width, ULONG v)
{
    HalSetBusDataByOffset(PCIConfiguration, bus, slot, &v, off, width);
}

UCHAR PciRead8(PPCI_DEVICE d, ULONG off) { return (UCHAR)cfg_read(d->Bus, slot_of(d), off, 1); }
USHORT PciRead16(PPCI_DEVICE d, ULONG off) { return (USHORT)cfg_read(d->Bus, slot_of(d), off, 2); }
ULONG PciRead32(PPCI_DEVICE d, ULONG off) { return cfg_read(d->Bus, slot_of(d), off, 4); }
void PciWrite16(PPCI_DEVICE d, ULONG off, USHORT v) { cfg_write(d->Bus, slot_of(d), off, 2, v); }
void PciWrite32(PPCI_DEVICE d, ULONG off, ULONG v) { cfg_write(d->Bus, slot_of(d), off, 4, v); }

/* The command register is read-modify-write: one lock around it, so that
 * two drivers' updates (or a driver's and a test's) do not lose bits. */
static KSPIN_LOCK command_lock;

USHORT PciSetCommand(PPCI_DEVICE d, USHORT set, USHORT clear)
{
    KIRQL old;
    KeAcquireSpinLock(&command_lock, &old);
    USHORT was = PciRead16(d, PCI_COMMAND);
    PciWrite16(d, PCI_COMMAND, (USHORT)((was & ~clear) | set));
    KeReleaseSpinLock(&command_lock, old);
    return was;
}

void PciEnableMemory(PPCI_DEVICE d)
{
    PciSetCommand(d, PCI_COMMAND_MEMORY, 0);
}

void PciEnableBusMaster(PPCI_DEVICE d, BOOLEAN enable)
{
    /* Bus mastering is what lets the function start memory cycles of its
     * own: DMA, and MSI/MSI-X messages, which are memory writes. */
    if (enable)
        PciSetCommand(d, PCI_COMMAND_BUS_MASTER, 0);
    else
        PciSetCommand(d, 0, PCI_COMMAND_BUS_MASTER);
}

/* ---- BARs ---- */

/*
 * Sizing a BAR: write all ones, read back; the bits the device keeps at 0
 * (below its size, which is a power of two) give the size: ~(value & mask)
 * + 1. The low bits are the BAR's type and are read-only: bit 0 set is I/O
 * space (bits 1:0 type), else memory with bits 2:1 the width (0 32-bit,
 * 2 64-bit: the next register holds bits 63:32) and bit 3 prefetchable.
 * While the register holds all ones the device would decode there, on top
 * of whatever lives at that address: so decoding (I/O and memory) is off in
 * the command register for the probe, the original value and command are
 * written back after, and the whole probe runs at HIGH_LEVEL so nothing on
 * this CPU touches the device (or a kprintf the VGA) in between.
 */
BOOLEAN PciProbeBar(ULONG bus, ULONG slot, ULONG i, ULONG count, PPCI_BAR bar)
{
    memset(bar, 0, sizeof(*bar));
    if (i >= count)
        return FALSE;
    ULONG reg = PCI_BAR0 + 4 * i;
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    ULONG cmd = cfg_read(bus, slot, PCI_COMMAND, 2);
    cfg_write(bus, slot, PCI_COMMAND, 2, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
    ULONG lo = cfg_read(bus, slot, reg, 4);
    cfg_write(bus, slot, reg, 4, 0xFFFFFFFF);
    ULONG lo_mask = cfg_read(bus, slot, reg, 4);
    cfg_write(bus, slot, reg, 4, lo);
    ULONG hi = 0, hi_mask = 0;
    BOOLEAN is64 = !(lo & 1) && ((lo >> 1) & 3) == 2 && i + 1 < count;
    if (is64) {
        hi = cfg_read(bus, slot, reg + 4, 4);
        cfg_write(bus, slot, reg + 4, 4, 0xFFFFFFFF);
        hi_mask = cfg_read(bus, slot, reg + 4, 4);
        cfg_write(bus, slot, reg + 4, 4, hi);
    }
    cfg_write(bus, slot, PCI_COMMAND, 2, cmd);
    KeLowerIrql(old);

    if (lo_mask == 0 || lo_mask == 0xFFFFFFFF)
        return TRUE;   /* not implemented (or nothing there): unused */
    if (lo & 1) {
        /* I/O: only the low 16 bits are ports on x86; the upper ones may read 0. */
        ULONG m = (lo_mask & ~3u) | 0xFFFF0000u;
        bar->Type = PciBarIo;
        bar->Base = lo & ~3u;
        bar->Size = (ULONG)(~m + 1) & 0xFFFF;
    } else if (is64) {
        ULONG64 m = ((ULONG64)hi_mask << 32) | (lo_mask & ~0xFu);
        bar->Type = PciBarMemory64;
        bar->Base = ((ULONG64)hi << 32) | (lo & ~0xFu);
        bar->Size = ~m + 1;
        bar->Prefetchable = (lo & 8) != 0;
    } else {
        bar->Type = PciBarMemory32;
        bar->Base = lo & ~0xFu;
        bar->Size = (ULONG)(~(lo_mask & ~0xFu) + 1);
        bar->Prefetchable = (lo & 8) != 0;
    }
    return TRUE;
}

PVOID PciMapBar(PPCI_DEVICE d, ULONG i, ULONG64 off, SIZE_T len)
{
    if (i >= d->BarCount || len == 0)
        return NULL;
    PPCI_BAR b = &d->Bars[i];
    if ((b->Type != PciBarMemory32 && b->Type != PciBarMemory64) || b->Base == 0 || off >= b->Size ||
        len > b->Size - off)
        return NULL;
    PHYSICAL_ADDRESS pa = { (LONGLONG)(b->Base + off) };
    return MmMapIoSpace(pa, len, MmNonCached);
}

void PciUnmapBar(PVOID va, SIZE_T len)
{
    MmUnmapIoSpace(va, len);
}

/* ---- the capability list ---- */

/*
 * Status bit 4 says there is a list; register 0x34 points at the first
 * entry, each entry is {ID, next} and then its own body. Pointers are dword
 * aligned (the low two bits are reserved) and lie past the 64-byte header;
 * a corrupt list could loop, so at most 48 entries (what fits) are walked.
 */
static void walk_capabilities(PPCI_DEVICE d)
{
    if (!(PciRead16(d, PCI_STATUS) & PCI_STATUS_CAPABILITIES))
        return;
    UCHAR at = PciRead8(d, PCI_CAPABILITIES_PTR) & 0xFC;
    for (int n = 0; at >= 0x40 && n < 48; n++) {
        UCHAR id = PciRead8(d, at), next = PciRead8(d, at + 1) & 0xFC;
        if (d->CapCount < PCI_MAX_CAPS) {
            d->CapIds[d->CapCount] = id;
            d->CapOffsets[d->CapCount] = at;
            d->CapCount++;
        }
        if (id == PCI_CAP_ID_MSI && !d->MsiCap) {
            d->MsiCap = at;
        } else if (id == PCI_CAP_ID_MSIX && !d->MsixCap) {
            d->MsixCap = at;
            d->MsixTableSize = (PciRead16(d, at + 2) & 0x7FF) + 1;
            ULONG t = PciRead32(d, at + 4), p = PciRead32(d, at + 8);
            d->MsixTableBar = t & 7;
            d->MsixTableOffset = t & ~7u;
            d->MsixPbaBar = p & 7;
            d->MsixPbaOffset = p & ~7u;
        } else if (id == PCI_CAP_ID_VENDOR && d->VendorCapCount < PCI_MAX_VENDOR_CAPS) {
            /* virtio_pci_cap: {vndr, next, len, cfg_type, bar, id, pad[2],
             * le32 offset, le32 length}; notify adds le32 multiplier. */
            PPCI_VENDOR_CAP v = &d->VendorCaps[d->VendorCapCount++];
            v->Offset = at;
            v->Length = PciRead8(d, at + 2);
            v->CfgType = PciRead8(d, at + 3);
            v->Bar = PciRead8(d, at + 4);
            if (v->Length >= 16) {
                v->BarOffset = PciRead32(d, at + 8);
                v->BarLength = PciRead32(d, at + 12);
            }
            if (v->CfgType == 2 && v->Length >= 20)
                v->NotifyOffMultiplier = PciRead32(d, at + 16);
        }
        at = next;
    }
}

/* ---- enumeration ---- */

static ULONG buses_seen[256 / 32];

static void scan_bus(ULONG bus);

static void add_function(ULONG bus, ULONG dev, ULONG fn)
{
    ULONG slot = PCI_SLOT(dev, fn);
    if (PciDeviceCount == PCI_MAX_DEVICES) {
        kprintf("pci: more than %u functions; %02x:%02x.%u and later left out\n", PCI_MAX_DEVICES, bus, dev, fn);
        return;
    }
    PPCI_DEVICE d = &PciDevices[PciDeviceCount++];
    memset(d, 0, sizeof(*d));
    d->Bus = (UCHAR)bus;
    d->Device = (UCHAR)dev;
    d->Function = (UCHAR)fn;
    d->VendorId = PciRead16(d, PCI_VENDOR_ID);
    d->DeviceId = PciRead16(d, PCI_DEVICE_ID);
    d->RevisionId = PciRead8(d, PCI_REVISION_ID);
    d->ProgIf = PciRead8(d, PCI_PROG_IF);
    d->SubClass = PciRead8(d, PCI_SUB_CLASS);
    d->BaseClass = PciRead8(d, PCI_BASE_CLASS);
    d->HeaderType = PciRead8(d, PCI_HEADER_TYPE) & 0x7F;
    d->InterruptLine = PciRead8(d, PCI_INTERRUPT_LINE);
    d->InterruptPin = PciRead8(d, PCI_INTERRUPT_PIN);
    /* Type 0 has six BARs, type 1 (bridge) two; type 2 (CardBus) none here. */
    d->BarCount = d->HeaderType == 0 ? 6 : d->HeaderType == 1 ? 2 : 0;
    if (d->HeaderType == 0) {
        d->SubVendorId = PciRead16(d, PCI_SUBSYSTEM_VENDOR);
        d->SubSystemId = PciRead16(d, PCI_SUBSYSTEM_ID);
    }
    for (ULONG i = 0; i < d->BarCount; i++) {
        PciProbeBar(bus, slot, i, d->BarCount, &d->Bars[i]);
        if (d->Bars[i].Type == PciBarMemory64 && i + 1 < d->BarCount)
            d->Bars[++i].Type = PciBarUpperHalf;
    }
    walk_capabilities(d);
    if (d->HeaderType == 1) {
        d->SecondaryBus = PciRead8(d, PCI_SECONDARY_BUS);
        d->SubordinateBus = PciRead8(d, PCI_SUBORDINATE_BUS);
        /* Bus 0 is never behind a bridge: a secondary of 0 is a bridge the
         * firmware left unconfigured; a bus seen before is a loop. */
        if (d->SecondaryBus != 0)
            scan_bus(d->SecondaryBus);
    }
}

static void scan_bus(ULONG bus)
{
    if (buses_seen[bus / 32] & (1u << (bus % 32)))
        return;
    buses_seen[bus / 32] |= 1u << (bus % 32);
    for (ULONG dev = 0; dev < 32; dev++) {
        if (cfg_read(bus, PCI_SLOT(dev, 0), PCI_VENDOR_ID, 2) == PCI_INVALID_VENDORID)
            continue;
        BOOLEAN multi = (cfg_read(bus, PCI_SLOT(dev, 0), PCI_HEADER_TYPE, 1) & PCI_HEADER_MULTIFUNCTION) != 0;
        for (ULONG fn = 0; fn < (multi ? 8u : 1u); fn++) {
            if (fn && cfg_read(bus, PCI_SLOT(dev, fn), PCI_VENDOR_ID, 2) == PCI_INVALID_VENDORID)
                continue;
            add_function(bus, dev, fn);
        }
    }
}

/* ---- resources the firmware left unassigned ---- */

/*
 * A BAR is placed at a multiple of its size (its low bits are hardwired
 * to 0) inside the PCI hole: QEMU's pc machine puts no RAM between 3.5 GiB
 * (its largest below-4 GiB RAM) and 4 GiB, and the I/O APIC sits at
 * 0xFEC00000, so memory BARs go in [0xE0000000, 0xFEC00000) - 64-bit ones
 * too, with the upper half 0 - and I/O BARs in ports 0xC000-0xFFFF, above
 * every legacy ISA port. A PCI-to-PCI bridge forwards to its secondary bus
 * only the addresses inside its windows (PCI-to-PCI Bridge spec 1.2,
 * 3.2.5.6-3.2.5.10: the memory window is [base, limit] in 1 MiB units,
 * the I/O window in 4 KiB units): the functions behind a bridge are placed
 * in one run, and the bridge's windows are set around that run. The
 * prefetchable window stays closed (base above limit); a prefetchable BAR
 * may always sit in the ordinary memory window. A bridge also needs
 * bus-master on: the DMA and MSI-X writes of the functions behind it cross
 * it upstream as its own memory cycles.
 */
#define ASSIGN_MEM_BASE  0xE0000000ull
#define ASSIGN_MEM_LIMIT 0xFEC00000ull
#define ASSIGN_IO_BASE   0xC000u
#define ASSIGN_IO_LIMIT  0x10000u
#define PCI_IO_BASE      0x1C   /* header type 1: 8-bit I/O base and limit */
#define PCI_IO_LIMIT     0x1D
#define PCI_MEMORY_BASE  0x20   /* 16-bit memory base and limit */
#define PCI_MEMORY_LIMIT 0x22
#define PCI_PREF_BASE    0x24
#define PCI_PREF_LIMIT   0x26

static ULONG64 assign_mem, assign_io;
ULONG PciBarsAssigned;   /* BARs this driver placed (0 when the firmware did) */

static ULONG64 align_up(ULONG64 v, ULONG64 a)
{
    return (v + a - 1) & ~(a - 1);
}

static void assign_bars(PPCI_DEVICE d)
{
    USHORT enable = 0;
    for (ULONG i = 0; i < d->BarCount; i++) {
        PPCI_BAR b = &d->Bars[i];
        ULONG reg = PCI_BAR0 + 4 * i;
        if (b->Size == 0 || (b->Size & (b->Size - 1)))
            continue;   /* unused or upper half (size 0), or not a BAR */
        if (b->Type == PciBarIo) {
            ULONG64 at = align_up(assign_io, b->Size);
            if (at + b->Size > ASSIGN_IO_LIMIT) {
                kprintf("pci: %02x:%02x.%u BAR%u: no I/O space left\n", d->Bus, d->Device, d->Function, i);
                continue;
            }
            PciWrite32(d, reg, (ULONG)at);
            b->Base = at;
            assign_io = at + b->Size;
            enable |= PCI_COMMAND_IO;
        } else if (b->Type == PciBarMemory32 || b->Type == PciBarMemory64) {
            ULONG64 at = align_up(assign_mem, b->Size < PAGE_SIZE ? PAGE_SIZE : b->Size);
            if (at + b->Size > ASSIGN_MEM_LIMIT) {
                kprintf("pci: %02x:%02x.%u BAR%u: no memory space left\n", d->Bus, d->Device, d->Function, i);
                continue;
            }
            PciWrite32(d, reg, (ULONG)at);
            if (b->Type == PciBarMemory64)
                PciWrite32(d, reg + 4, 0);
            b->Base = at;
            assign_mem = at + b->Size;
            enable |= PCI_COMMAND_MEMORY;
        } else {
            continue;
        }
        PciBarsAssigned++;
    }
    /* A VGA (class 03/00) also answers the legacy VGA ports and memory
     * (0x3B0-0x3DF, 0xA0000-0xBFFFF) without any BAR, when its I/O and
     * memory decoding are on; then its text memory can be set up. */
    BOOLEAN vga = d->BaseClass == 0x03 && d->SubClass == 0x00;
    if (vga)
        enable |= PCI_COMMAND_IO | PCI_COMMAND_MEMORY;
    if (enable)
        PciSetCommand(d, enable, 0);
    if (vga)
        HalVgaEnableTextMemory();
}

static void assign_bus(ULONG bus, ULONG depth)
{
    for (ULONG k = 0; k < PciDeviceCount; k++) {
        PPCI_DEVICE d = &PciDevices[k];
        if (d->Bus != bus)
            continue;
        assign_bars(d);   /* a bridge's own BARs are on its primary side */
        if (d->HeaderType != 1 || d->SecondaryBus == 0 || d->SecondaryBus == bus || depth >= 8)
            continue;
        assign_mem = align_up(assign_mem, 1 << 20);
        assign_io = align_up(assign_io, 1 << 12);
        ULONG64 mem0 = assign_mem, io0 = assign_io;
        assign_bus(d->SecondaryBus, depth + 1);
        assign_mem = align_up(assign_mem, 1 << 20);
        assign_io = align_up(assign_io, 1 << 12);
        /* An empty window is closed by a base above its limit. */
        if (assign_mem > mem0) {
            PciWrite16(d, PCI_MEMORY_BASE, (USHORT)((mem0 >> 16) & 0xFFF0));
            PciWrite16(d, PCI_MEMORY_LIMIT, (USHORT)(((assign_mem - 1) >> 16) & 0xFFF0));
        } else {
            PciWrite16(d, PCI_MEMORY_BASE, 0xFFF0);
            PciWrite16(d, PCI_MEMORY_LIMIT, 0);
        }
        if (assign_io > io0) {
            cfg_write(d->Bus, slot_of(d), PCI_IO_BASE, 1, (io0 >> 8) & 0xF0);
            cfg_write(d->Bus, slot_of(d), PCI_IO_LIMIT, 1, ((assign_io - 1) >> 8) & 0xF0);
        } else {
            cfg_write(d->Bus, slot_of(d), PCI_IO_BASE, 1, 0xF0);
            cfg_write(d->Bus, slot_of(d), PCI_IO_LIMIT, 1, 0);
        }
        PciWrite16(d, PCI_PREF_BASE, 0xFFF0);
        PciWrite16(d, PCI_PREF_LIMIT, 0);
        PciSetCommand(d, PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_BUS_MASTER, 0);
    }
}

/* The firmware's assignment is kept whenever it made one: only when no
 * memory or I/O BAR of any function has a base does the driver place them
 * all (mixing the two could overlap what the firmware placed). */
static void assign_resources(void)
{
    PciBarsAssigned = 0;
    for (ULONG k = 0; k < PciDeviceCount; k++)
        for (ULONG i = 0; i < PciDevices[k].BarCount; i++)
            if (PciDevices[k].Bars[i].Type != PciBarUnused && PciDevices[k].Bars[i].Base != 0)
                return;
    assign_mem = ASSIGN_MEM_BASE;
    assign_io = ASSIGN_IO_BASE;
    assign_bus(0, 0);
    kprintf("pci: the firmware assigned no BARs: %u placed by the bus driver\n", PciBarsAssigned);
}

/* ---- lookup and binding ---- */

PPCI_DEVICE PciFindDevice(USHORT vendor, USHORT device, ULONG index)
{
    for (ULONG i = 0; i < PciDeviceCount; i++)
        if (PciDevices[i].VendorId == vendor && PciDevices[i].DeviceId == device && index-- == 0)
            return &PciDevices[i];
    return NULL;
}

PPCI_DEVICE PciFindClass(UCHAR base, UCHAR sub, ULONG index)
{
    for (ULONG i = 0; i < PciDeviceCount; i++)
        if (PciDevices[i].BaseClass == base && PciDevices[i].SubClass == sub && index-- == 0)
            return &PciDevices[i];
    return NULL;
}

NTSTATUS PciClaimDevice(PPCI_DEVICE d, PDRIVER_OBJECT driver)
{
    PDRIVER_OBJECT none = NULL;
    if (!__atomic_compare_exchange_n(&d->Driver, &none, driver, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return d->Driver == driver ? STATUS_SUCCESS : STATUS_DEVICE_BUSY;
    return STATUS_SUCCESS;
}

void PciReleaseDevice(PPCI_DEVICE d, PDRIVER_OBJECT driver)
{
    __atomic_compare_exchange_n(&d->Driver, &driver, NULL, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* ---- interrupts ---- */

NTSTATUS PciConnectInterrupt(PPCI_DEVICE d, PKSERVICE_ROUTINE isr, PVOID ctx, KIRQL irql, PKINTERRUPT *out)
{
    /* No pin, or a line the firmware did not route (0xFF "unknown" on
     * x86; 0 would be the timer): nothing to connect. */
    if (d->InterruptPin == 0 || d->InterruptPin > 4 || d->InterruptLine == 0 || d->InterruptLine >= 0xFF)
        return STATUS_NOT_FOUND;
    /* INTx is level-triggered and shared: the line stays asserted until
     * the device is serviced, and other functions may drive it too. */
    NTSTATUS s = IoConnectInterruptEx(out, isr, ctx, d->InterruptLine, irql, TRUE);
    if (NT_SUCCESS(s))
        PciSetCommand(d, 0, PCI_COMMAND_INTX_DISABLE);
    return s;
}

static volatile ULONG *msix_entry(PPCI_DEVICE d, ULONG e)
{
    return (volatile ULONG *)(d->MsixTable + (SIZE_T)e * PCI_MSIX_ENTRY_SIZE);
}

NTSTATUS PciConnectMsix(PPCI_DEVICE d, ULONG e, PKSERVICE_ROUTINE isr, PVOID ctx, KIRQL irql, PKINTERRUPT *out)
{
    if (!d->MsixCap)
        return STATUS_NOT_SUPPORTED;
    if (e >= d->MsixTableSize)
        return STATUS_INVALID_PARAMETER;
    SIZE_T table_bytes = (SIZE_T)d->MsixTableSize * PCI_MSIX_ENTRY_SIZE;
    if (!d->MsixTable) {
        d->MsixTable = PciMapBar(d, d->MsixTableBar, d->MsixTableOffset, table_bytes);
        if (!d->MsixTable)
            return STATUS_INSUFFICIENT_RESOURCES;
    }
    PKINTERRUPT in;
    NTSTATUS s = IoConnectInterruptEx(&in, isr, ctx, KINTERRUPT_MESSAGE_SIGNALED, irql, FALSE);
    if (!NT_SUCCESS(s)) {
        if (!d->MsixConnected) {
            PciUnmapBar((PVOID)d->MsixTable, table_bytes);
            d->MsixTable = NULL;
        }
        return s;
    }
    ULONG64 addr;
    ULONG data;
    HalGetMessageSignaledInterrupt(in->Vector, &addr, &data);
    /* PCI 3.0 6.8.2: enable with the function masked, write the entry
     * while it is masked, unmask it, then lift the function mask. The
     * device sends the message as a memory write: bus mastering on. */
    USHORT ctl = PciRead16(d, d->MsixCap + 2);
    PciWrite16(d, d->MsixCap + 2, ctl | PCI_MSIX_CONTROL_ENABLE | PCI_MSIX_CONTROL_MASKALL);
    volatile ULONG *ent = msix_entry(d, e);
    ent[PCI_MSIX_ENTRY_CONTROL / 4] |= 1;
    ent[PCI_MSIX_ENTRY_ADDR_LO / 4] = (ULONG)addr;
    ent[PCI_MSIX_ENTRY_ADDR_HI / 4] = (ULONG)(addr >> 32);
    ent[PCI_MSIX_ENTRY_DATA / 4] = data;
    ent[PCI_MSIX_ENTRY_CONTROL / 4] &= ~1u;
    PciEnableBusMaster(d, TRUE);
    PciWrite16(d, d->MsixCap + 2, (USHORT)((ctl | PCI_MSIX_CONTROL_ENABLE) & ~PCI_MSIX_CONTROL_MASKALL));
    d->MsixConnected++;
    *out = in;
    return STATUS_SUCCESS;
}

void PciDisconnectMsix(PPCI_DEVICE d, ULONG e, PKINTERRUPT in)
{
    ASSERT(d->MsixTable && d->MsixConnected && e < d->MsixTableSize);
    msix_entry(d, e)[PCI_MSIX_ENTRY_CONTROL / 4] |= 1;   /* masked before its vector is given back */
    IoDisconnectInterrupt(in);
    if (--d->MsixConnected == 0) {
        USHORT ctl = PciRead16(d, d->MsixCap + 2);
        PciWrite16(d, d->MsixCap + 2, ctl & ~(PCI_MSIX_CONTROL_ENABLE | PCI_MSIX_CONTROL_MASKALL));
        PciUnmapBar((PVOID)d->MsixTable, (SIZE_T)d->MsixTableSize * PCI_MSIX_ENTRY_SIZE);
        d->MsixTable = NULL;
    }
}

/* ---- the views: kd's `pci`, SystemPciList ---- */

static const char *bar_type_name(PCI_BAR_TYPE t)
{
    switch (t) {
    case PciBarIo: return "io";
    case PciBarMemory32: return "mem32";
    case PciBarMemory64: return "mem64";
    default: return "-";
    }
}

void PciDumpDevices(void)
{
    for (ULONG i = 0; i < PciDeviceCount; i++) {
        PPCI_DEVICE d = &PciDevices[i];
        kprintf("%02x:%02x.%u %04x:%04x class %02x%02x%02x rev %02x hdr %u", d->Bus, d->Device, d->Function,
                d->VendorId, d->DeviceId, d->BaseClass, d->SubClass, d->ProgIf, d->RevisionId, d->HeaderType);
        if (d->InterruptPin)
            kprintf(" INT%c line %u", 'A' + d->InterruptPin - 1, d->InterruptLine);
        if (d->HeaderType == 1)
            kprintf(" bus %u-%u", d->SecondaryBus, d->SubordinateBus);
        if (d->MsixCap)
            kprintf(" msix %u", d->MsixTableSize);
        if (d->Driver)
            kprintf(" driver %.*s", d->Driver->DriverName.Length, d->Driver->DriverName.Buffer);
        kprintf("\n");
        for (ULONG b = 0; b < d->BarCount; b++)
            if (d->Bars[b].Type != PciBarUnused && d->Bars[b].Type != PciBarUpperHalf)
                kprintf("    BAR%u %-5s %#llx size %#llx%s\n", b, bar_type_name(d->Bars[b].Type),
                        (unsigned long long)d->Bars[b].Base, (unsigned long long)d->Bars[b].Size,
                        d->Bars[b].Prefetchable ? " prefetchable" : "");
    }
    kprintf("%u PCI function(s)\n", PciDeviceCount);
}

ULONG PciSnapshotDevices(void *out, ULONG max)
{
    SYSTEM_PCI_T *o = out;
    for (ULONG i = 0; i < PciDeviceCount && i < max; i++) {
        PPCI_DEVICE d = &PciDevices[i];
        SYSTEM_PCI_T *p = &o[i];
        memset(p, 0, sizeof(*p));
        p->Bus = d->Bus;
        p->Device = d->Device;
        p->Function = d->Function;
        p->HeaderType = d->HeaderType;
        p->VendorId = d->VendorId;
        p->DeviceId = d->DeviceId;
        p->BaseClass = d->BaseClass;
        p->SubClass = d->SubClass;
        p->ProgIf = d->ProgIf;
        p->Revision = d->RevisionId;
        p->SubVendorId = d->SubVendorId;
        p->SubSystemId = d->SubSystemId;
        p->InterruptPin = d->InterruptPin;
        p->InterruptLine = d->InterruptLine;
        p->SecondaryBus = d->SecondaryBus;
        p->BarCount = d->BarCount;
        p->MsixTableSize = d->MsixCap ? d->MsixTableSize : 0;
        p->MsiCap = d->MsiCap;
        p->MsixCap = d->MsixCap;
        p->CapCount = d->CapCount;
        p->VendorCapCount = d->VendorCapCount;
        memcpy(p->CapIds, d->CapIds, sizeof(p->CapIds));
        for (ULONG v = 0; v < d->VendorCapCount; v++)
            p->VendorCfgTypes[v] = d->VendorCaps[v].CfgType;
        for (ULONG b = 0; b < 6; b++) {
            p->Bars[b].Base = d->Bars[b].Base;
            p->Bars[b].Size = d->Bars[b].Size;
            p->Bars[b].Type = (uint8_t)d->Bars[b].Type;
            p->Bars[b].Prefetchable = d->Bars[b].Prefetchable;
        }
        PDRIVER_OBJECT drv = d->Driver;
        if (drv) {
            ULONG n = drv->DriverName.Length < sizeof(p->DriverName) - 1 ? drv->DriverName.Length
                                                                          : sizeof(p->DriverName) - 1;
            memcpy(p->DriverName, drv->DriverName.Buffer, n);
        }
    }
    return PciDeviceCount;
}

/* ---- DriverEntry ---- */

/* Leak counters: a test that connects an MSI-X entry or claims a function
 * must give it back (the host and PCI-to-PCI bridges are the bus driver's
 * own for good, so only other drivers' claims count). */
static int pci_counters(KT_COUNTER *out, int max)
{
    ULONG64 msix = 0, claimed = 0;
    for (ULONG i = 0; i < PciDeviceCount; i++) {
        msix += PciDevices[i].MsixConnected;
        claimed += PciDevices[i].Driver && PciDevices[i].Driver != pci_driver;
    }
    if (max < 2)
        return 0;
    out[0] = (KT_COUNTER){ "PCI MSI-X entries connected", msix };
    out[1] = (KT_COUNTER){ "PCI functions claimed by drivers", claimed };
    return 2;
}

NTSTATUS PciDriverEntry(PDRIVER_OBJECT driver, PANSI_STRING registry)
{
    UNREFERENCED_PARAMETER(registry);
    KeInitializeSpinLock(&command_lock);
    pci_driver = driver;
    PciDeviceCount = 0;
    memset(buses_seen, 0, sizeof(buses_seen));
    KeMarkBootPhase("io.managers");
    scan_bus(0);
    KeMarkBootPhase("io.pci_scan");
    assign_resources();
    KeMarkBootPhase("io.pci_assign");
    ULONG buses = 0;
    for (ULONG i = 0; i < 256; i++)
        buses += (buses_seen[i / 32] >> (i % 32)) & 1;
    kprintf("pci: %u function(s) on %u bus(es)\n", PciDeviceCount, buses);
    /* The host bridge (class 06/00) and PCI-to-PCI bridges (06/04) are
     * the bus driver's own, as on NT, where pci.sys drives the bridges
     * whose buses it enumerates. */
    for (ULONG i = 0; i < PciDeviceCount; i++)
        if (PciDevices[i].BaseClass == 0x06 && (PciDevices[i].SubClass == 0x00 || PciDevices[i].SubClass == 0x04))
            PciDevices[i].Driver = driver;
    KtRegisterCounters(pci_counters);
    return STATUS_SUCCESS;
}
