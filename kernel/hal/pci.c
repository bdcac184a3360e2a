/*
 * PCI configuration space, the HAL's half: NT's HalGetBusDataByOffset and
 * HalSetBusDataByOffset. How configuration space is reached is a property
 * of the platform, not of the PCI bus driver, which is why NT keeps it in
 * the HAL: here it is configuration mechanism #1 of the PCI Local Bus
 * specification, the two I/O ports of the i440FX host bridge of QEMU's
 * `-machine pc`:
 *   0xCF8  CONFIG_ADDRESS: bit 31 enable | bus << 16 | device << 11 |
 *          function << 8 | register (a dword offset, bits 7:2)
 *   0xCFC  CONFIG_DATA: the dword selected; a byte or word access at
 *          0xCFC + (offset & 3) reaches that part of it.
 * The newer way, ECAM (PCIe's memory-mapped configuration space, 4 KiB per
 * function), needs the base address from ACPI's MCFG table; mdlos parses
 * no ACPI, and the i440FX has no ECAM anyway (QEMU's pc machine has no
 * MCFG table: only q35 has one). Mechanism #1 reaches the first 256 bytes
 * of each function, which is all a conventional PCI device has.
 *
 * The address and data ports are a pair: a second writer of 0xCF8 between
 * our write of 0xCF8 and our access to 0xCFC would redirect the access to
 * its register. So every access holds HalpPciConfigLock at HIGH_LEVEL (an
 * ISR of any IRQL, or the kd shell, may read configuration space too).
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"

#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA    0xCFC

static KSPIN_LOCK HalpPciConfigLock;

static ULONG config_address(ULONG bus, PCI_SLOT_NUMBER slot, ULONG offset)
{
    return 0x80000000u | (bus & 0xFF) << 16 | (slot.u.bits.DeviceNumber & 0x1F) << 11 |
           (slot.u.bits.FunctionNumber & 7) << 8 | (offset & 0xFC);
}

/* One naturally aligned access of WIDTH (1, 2, 4) bytes: the caller holds
 * the lock. */
static ULONG config_read(ULONG bus, PCI_SLOT_NUMBER slot, ULONG offset, ULONG width)
{
    outl(PCI_CONFIG_ADDRESS, config_address(bus, slot, offset));
    USHORT port = (USHORT)(PCI_CONFIG_DATA + (offset & 3));
    return width == 4 ? inl(port) : width == 2 ? inw(port) : inb(port);
}

static void config_write(ULONG bus, PCI_SLOT_NUMBER slot, ULONG offset, ULONG width, ULONG value)
{
    outl(PCI_CONFIG_ADDRESS, config_address(bus, slot, offset));
    USHORT port = (USHORT)(PCI_CONFIG_DATA + (offset & 3));
    if (width == 4)
        outl(port, value);
    else if (width == 2)
        outw(port, (USHORT)value);
    else
        outb(port, (UCHAR)value);
}

/* Split [OFFSET, OFFSET+LENGTH) into the widest naturally aligned pieces:
 * a device may decode a register only at its own width (virtio's common
 * configuration does; configuration space usually is kinder). */
static ULONG config_transfer(BUS_DATA_TYPE type, ULONG bus, ULONG slot_number, PUCHAR buffer, ULONG offset,
                             ULONG length, BOOLEAN write)
{
    if (type != PCIConfiguration || bus > 255 || offset >= PCI_CONFIG_SPACE_SIZE)
        return 0;
    if (length > PCI_CONFIG_SPACE_SIZE - offset)
        length = PCI_CONFIG_SPACE_SIZE - offset;
    PCI_SLOT_NUMBER slot;
    slot.u.AsULONG = slot_number;
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    KeAcquireSpinLockAtDpcLevel(&HalpPciConfigLock);
    ULONG done = 0;
    while (done < length) {
        ULONG at = offset + done, left = length - done;
        ULONG width = (at & 3) == 0 && left >= 4 ? 4 : (at & 1) == 0 && left >= 2 ? 2 : 1;
        ULONG v = 0;
        if (write) {
            memcpy(&v, buffer + done, width);
            config_write(bus, slot, at, width, v);
        } else {
            v = config_read(bus, slot, at, width);
            memcpy(buffer + done, &v, width);
        }
        done += width;
    }
    KeReleaseSpinLockFromDpcLevel(&HalpPciConfigLock);
    KeLowerIrql(old);
    return done;
}

ULONG HalGetBusDataByOffset(BUS_DATA_TYPE type, ULONG bus, ULONG slot, PVOID buffer, ULONG offset, ULONG length)
{
    return config_transfer(type, bus, slot, buffer, offset, length, FALSE);
}

ULONG HalSetBusDataByOffset(BUS_DATA_TYPE type, ULONG bus, ULONG slot, PVOID buffer, ULONG offset, ULONG length)
{
    return config_transfer(type, bus, slot, buffer, offset, length, TRUE);
}
