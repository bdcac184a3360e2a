/*
 * pci.h: the PCI bus driver (drivers/pci/): what it found on every bus at
 * boot, and the routines a device driver uses on its function - find it,
 * read and write its configuration space, map a BAR, enable decoding and
 * bus mastering, connect its interrupt (INTx through the IOAPIC, or an
 * MSI-X message).
 *
 * On NT the PCI bus driver (pci.sys) enumerates the bus, creates a PDO per
 * function and hands each function driver its resources (BARs, interrupt)
 * in IRP_MN_START_DEVICE. mdlos has no Plug and Play manager: the bus
 * driver keeps a table of functions instead (PciDevices[], read by the
 * shell's and GDB's `pci`), and a driver looks its device up in it and
 * claims it (PciClaimDevice). Configuration cycles themselves are the
 * HAL's (HalGetBusDataByOffset, kernel/hal/pci.c).
 */
#pragma once
#include "kernel/mdlos.h"

/* ---- configuration space header (PCI Local Bus spec 3.0, chapter 6) ---- */
#define PCI_VENDOR_ID        0x00
#define PCI_DEVICE_ID        0x02
#define PCI_COMMAND          0x04
#define PCI_STATUS           0x06
#define PCI_REVISION_ID      0x08
#define PCI_PROG_IF          0x09
#define PCI_SUB_CLASS        0x0A
#define PCI_BASE_CLASS       0x0B
#define PCI_HEADER_TYPE      0x0E
#define PCI_BAR0             0x10
#define PCI_PRIMARY_BUS      0x18   /* header type 1 (PCI-to-PCI bridge) */
#define PCI_SECONDARY_BUS    0x19
#define PCI_SUBORDINATE_BUS  0x1A
#define PCI_SUBSYSTEM_VENDOR 0x2C   /* header type 0 */
#define PCI_SUBSYSTEM_ID     0x2E
#define PCI_CAPABILITIES_PTR 0x34
#define PCI_INTERRUPT_LINE   0x3C
#define PCI_INTERRUPT_PIN    0x3D

#define PCI_COMMAND_IO            0x0001
#define PCI_COMMAND_MEMORY        0x0002
#define PCI_COMMAND_BUS_MASTER    0x0004
#define PCI_COMMAND_INTX_DISABLE  0x0400
#define PCI_STATUS_CAPABILITIES   0x0010
#define PCI_HEADER_MULTIFUNCTION  0x80
#define PCI_INVALID_VENDORID      0xFFFF

#define PCI_CAP_ID_MSI     0x05
#define PCI_CAP_ID_VENDOR  0x09   /* virtio's structures (virtio 1.x, 4.1.4) */
#define PCI_CAP_ID_MSIX    0x11
/* MSI-X capability: Message Control at +2 (10:0 table size - 1, bit 14
 * function mask, bit 15 enable), Table at +4 and PBA at +8 (BIR in bits
 * 2:0, the offset in the BAR in the rest). Each table entry is 16 bytes. */
#define PCI_MSIX_CONTROL_ENABLE   0x8000
#define PCI_MSIX_CONTROL_MASKALL  0x4000
#define PCI_MSIX_ENTRY_SIZE       16
#define PCI_MSIX_ENTRY_ADDR_LO    0
#define PCI_MSIX_ENTRY_ADDR_HI    4
#define PCI_MSIX_ENTRY_DATA       8
#define PCI_MSIX_ENTRY_CONTROL    12   /* bit 0: masked */

/* The bus driver's table. Enums, not #defines, so GDB's `pci` reads the
 * names from the DWARF. */
typedef enum _PCI_BAR_TYPE {
    PciBarUnused = 0,     /* not implemented (reads back 0 after all ones) */
    PciBarIo = 1,         /* I/O space */
    PciBarMemory32 = 2,
    PciBarMemory64 = 3,   /* this and the next register */
    PciBarUpperHalf = 4,  /* the high dword of the 64-bit BAR before it */
} PCI_BAR_TYPE;

typedef struct _PCI_BAR {
    ULONG64 Base;          /* as the firmware assigned it: a physical or port address */
    ULONG64 Size;          /* bytes decoded, from the write-all-ones probe */
    PCI_BAR_TYPE Type;
    BOOLEAN Prefetchable;
} PCI_BAR, *PPCI_BAR;

/* A vendor-specific capability (ID 9) in virtio's layout (virtio 1.x
 * 4.1.4: cfg_type, bar, offset, length); other vendors' are kept as found. */
typedef struct _PCI_VENDOR_CAP {
    UCHAR Offset;          /* in configuration space */
    UCHAR Length;          /* cap_len */
    UCHAR CfgType;         /* virtio: 1 common, 2 notify, 3 ISR, 4 device, 5 PCI cfg access */
    UCHAR Bar;
    ULONG BarOffset;
    ULONG BarLength;
    ULONG NotifyOffMultiplier;   /* cfg_type 2 only */
} PCI_VENDOR_CAP, *PPCI_VENDOR_CAP;

#define PCI_MAX_DEVICES     64
#define PCI_MAX_CAPS        16
#define PCI_MAX_VENDOR_CAPS 8

typedef struct _PCI_DEVICE {
    UCHAR Bus, Device, Function;
    UCHAR HeaderType;            /* bits 6:0; the multi-function bit is masked off */
    USHORT VendorId, DeviceId;
    UCHAR BaseClass, SubClass, ProgIf, RevisionId;
    USHORT SubVendorId, SubSystemId;
    UCHAR InterruptLine;         /* what the firmware programmed (0xFF: none) */
    UCHAR InterruptPin;          /* 0 none, 1..4 INTA#..INTD# */
    UCHAR SecondaryBus, SubordinateBus;   /* bridges */
    UCHAR BarCount;              /* 6 for a device, 2 for a bridge */
    PCI_BAR Bars[6];
    UCHAR CapCount;
    UCHAR CapIds[PCI_MAX_CAPS];  /* in list order */
    UCHAR CapOffsets[PCI_MAX_CAPS];
    UCHAR MsiCap;                /* configuration offset, 0 = none */
    UCHAR MsixCap;
    USHORT MsixTableSize;        /* entries */
    UCHAR MsixTableBar, MsixPbaBar;
    ULONG MsixTableOffset, MsixPbaOffset;
    UCHAR VendorCapCount;
    PCI_VENDOR_CAP VendorCaps[PCI_MAX_VENDOR_CAPS];
    /* Run time, under the driver's own care. */
    PDRIVER_OBJECT Driver;       /* bound by PciClaimDevice */
    volatile UCHAR *MsixTable;   /* mapped while MSI-X entries are connected */
    ULONG MsixConnected;
} PCI_DEVICE, *PPCI_DEVICE;

/* Filled once at boot by PciDriverEntry, then only read. */
extern PCI_DEVICE PciDevices[PCI_MAX_DEVICES];
extern ULONG PciDeviceCount;
/* How many BARs the bus driver placed itself because the firmware left
 * every one unassigned (qboot); 0 after SeaBIOS (drivers/pci/pci.c). */
extern ULONG PciBarsAssigned;

/* \Driver\Pci (drivers/drivers.h): enumerate every bus. */

/* The INDEX-th function (0, 1, ...) with these IDs or class, or NULL. */
PPCI_DEVICE PciFindDevice(USHORT VendorId, USHORT DeviceId, ULONG Index);
PPCI_DEVICE PciFindClass(UCHAR BaseClass, UCHAR SubClass, ULONG Index);
/* Bind DRIVER to the function (one driver each): STATUS_DEVICE_BUSY when another has it. */
NTSTATUS PciClaimDevice(PPCI_DEVICE Device, PDRIVER_OBJECT Driver);
void PciReleaseDevice(PPCI_DEVICE Device, PDRIVER_OBJECT Driver);

/* Configuration space of the function (HalGet/SetBusDataByOffset). */
ULONG PciReadConfig(PPCI_DEVICE Device, PVOID Buffer, ULONG Offset, ULONG Length);
ULONG PciWriteConfig(PPCI_DEVICE Device, PVOID Buffer, ULONG Offset, ULONG Length);
UCHAR PciRead8(PPCI_DEVICE Device, ULONG Offset);
USHORT PciRead16(PPCI_DEVICE Device, ULONG Offset);
ULONG PciRead32(PPCI_DEVICE Device, ULONG Offset);
void PciWrite16(PPCI_DEVICE Device, ULONG Offset, USHORT Value);
void PciWrite32(PPCI_DEVICE Device, ULONG Offset, ULONG Value);

/* Set (and clear) bits of the command register; returns the old value. */
USHORT PciSetCommand(PPCI_DEVICE Device, USHORT Set, USHORT Clear);
/* Memory decoding on, and bus mastering (the device may then DMA) on or off. */
void PciEnableMemory(PPCI_DEVICE Device);
void PciEnableBusMaster(PPCI_DEVICE Device, BOOLEAN Enable);

/* Size BAR INDEX again by the write-all-ones probe (decoding off while the
 * register holds all ones, the original value and command put back): what
 * enumeration does. FALSE for an index past the header's BARs. */
BOOLEAN PciProbeBar(ULONG Bus, ULONG Slot, ULONG Index, ULONG BarCount, PPCI_BAR Bar);

/* Map LENGTH bytes at OFFSET of memory BAR INDEX uncached (MmMapIoSpace,
 * MmNonCached: device registers must never be cached or combined). NULL for
 * an I/O or unused BAR or a range past its size. PciUnmapBar undoes it. */
PVOID PciMapBar(PPCI_DEVICE Device, ULONG Index, ULONG64 Offset, SIZE_T Length);
void PciUnmapBar(PVOID Address, SIZE_T Length);

/* INTx: connect ISR to the function's interrupt pin at IRQL. The GSI is the
 * Interrupt Line the firmware programmed (on QEMU's pc, SeaBIOS's PIRQ
 * routing: ISA IRQ 10 or 11, the same number at the IOAPIC); level
 * triggered, shareable with the other functions on that line. The ISR must
 * return FALSE when its device did not interrupt. */
NTSTATUS PciConnectInterrupt(PPCI_DEVICE Device, PKSERVICE_ROUTINE ServiceRoutine, PVOID Context, KIRQL Irql,
                             PKINTERRUPT *Interrupt);
/* MSI-X: connect ISR to table entry ENTRY (a vector of IRQL's class), program
 * the entry with the local APIC's message, unmask it and enable MSI-X (the
 * device then stops using INTx). PciDisconnectMsix masks the entry and, at
 * the last one, turns MSI-X off and unmaps the table. */
NTSTATUS PciConnectMsix(PPCI_DEVICE Device, ULONG Entry, PKSERVICE_ROUTINE ServiceRoutine, PVOID Context,
                        KIRQL Irql, PKINTERRUPT *Interrupt);
void PciDisconnectMsix(PPCI_DEVICE Device, ULONG Entry, PKINTERRUPT Interrupt);

/* The same text as the shell's `pci`, for the kd> shell. */
void PciDumpDevices(void);
/* SystemPciList (kernel/ps/ntapi.c): every function, at most MAX copied;
 * returns how many there are. */
ULONG PciSnapshotDevices(void *Out /* SYSTEM_PCI_T[] */, ULONG Max);
