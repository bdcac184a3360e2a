"""The PCI bus driver's table (drivers/pci/pci.h): `pci`. It reads
PciDevices[] and PciDeviceCount through the kernel's DWARF, so it shows
what enumeration found (IDs, class, BARs with sizes and types, interrupt
pin and line, capabilities, MSI-X, virtio's vendor capabilities, the driver
bound) without touching configuration space: it works at any stop after
the bus driver started, even with the kernel halted in a bugcheck."""
import gdb

from .common import Command, enumerators, kernel_value, to_int
from .ob import counted

CAP_NAMES = {0x01: "PM", 0x03: "VPD", 0x04: "slot-id", 0x05: "MSI", 0x09: "vendor", 0x0D: "bridge-subsys", 0x10: "PCIe", 0x11: "MSI-X",
             0x0C: "hotplug"}
VIRTIO_CFG = {1: "common", 2: "notify", 3: "isr", 4: "device", 5: "pci-cfg", 8: "shm", 9: "vendor"}


def bar_type_names():
    """PCI_BAR_TYPE's names from the DWARF, without the 'PciBar' prefix."""
    return {v: n[len("PciBar"):] for n, v in enumerators("PciBarUnused")}


def describe(d, types):
    """The lines for one PCI_DEVICE (a gdb.Value)."""
    u = lambda f: int(d[f])
    line = "%02x:%02x.%u %04x:%04x class %02x%02x%02x rev %02x hdr %u" % (
        u("Bus"), u("Device"), u("Function"), u("VendorId"), u("DeviceId"), u("BaseClass"), u("SubClass"),
        u("ProgIf"), u("RevisionId"), u("HeaderType"))
    if u("InterruptPin"):
        line += " INT%s line %u" % (chr(ord("A") + u("InterruptPin") - 1), u("InterruptLine"))
    if u("HeaderType") == 1:
        line += " bus %u-%u" % (u("SecondaryBus"), u("SubordinateBus"))
    drv = to_int(d["Driver"])
    line += " driver " + (counted(d["Driver"].dereference()["DriverName"]) if drv else "-")
    out = [line]
    for b in range(u("BarCount")):
        bar = d["Bars"][b]
        t = int(bar["Type"])
        name = types.get(t, str(t))
        if name in ("Unused", "UpperHalf"):
            continue
        out.append("    BAR%u %-8s %#x size %#x%s" % (b, name, to_int(bar["Base"]), to_int(bar["Size"]),
                                                   " prefetchable" if int(bar["Prefetchable"]) else ""))
    caps = []
    for i in range(u("CapCount")):
        cid = int(d["CapIds"][i])
        caps.append("%s@%#x" % (CAP_NAMES.get(cid, "%#x" % cid), int(d["CapOffsets"][i])))
    if caps:
        out.append("    caps " + " ".join(caps))
    if u("MsixCap"):
        out.append("    MSI-X %u entries: table BAR%u+%#x, PBA BAR%u+%#x%s" % (
            u("MsixTableSize"), u("MsixTableBar"), u("MsixTableOffset"), u("MsixPbaBar"), u("MsixPbaOffset"),
            ", %u connected" % u("MsixConnected") if u("MsixConnected") else ""))
    for i in range(u("VendorCapCount")):
        v = d["VendorCaps"][i]
        t = int(v["CfgType"])
        out.append("    vendor cap @%#x cfg_type %u (%s) BAR%u+%#x len %#x%s" % (
            int(v["Offset"]), t, VIRTIO_CFG.get(t, "?"), int(v["Bar"]), int(v["BarOffset"]), int(v["BarLength"]),
            " multiplier %u" % int(v["NotifyOffMultiplier"]) if t == 2 else ""))
    return out


class PciCommand(Command):
    """List the PCI functions the bus driver found (PciDevices[], drivers/pci).

Usage: pci

One line per function: bus:device.function, vendor:device, class /
subclass / prog-if, revision, header type, interrupt pin and the line the
firmware routed it to, a bridge's bus range, the driver bound (\\Driver\\...);
then each BAR in use (type, base, size), the capability list, MSI-X's table
and PBA, and each vendor capability with virtio's cfg_type."""

    def __init__(self):
        super().__init__("pci", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def run(self, arg):
        count = to_int(kernel_value("PciDeviceCount"))
        table = kernel_value("PciDevices")
        types = bar_type_names()
        for i in range(min(count, int(table.type.range()[1]) + 1)):
            for line in describe(table[i], types):
                print(line)
        print("%u PCI function(s)" % count)
