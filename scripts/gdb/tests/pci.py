"""gdb.pci_command_lists_the_bus_drivers_table.

The kernel boots with a ktest= that selects one pci test, so the bus driver
has enumerated every bus by the time the tests start. GDB stops at
KtRunTests, prints what plain GDB expressions read from PciDevices[]
(@@@ DEV, @@@ BAR, @@@ VCAP lines), then runs `pci`; the runner checks that
every function, BAR and vendor capability the expressions read is in the
command's output, with the same values."""
import gdb



def main():
    try:
        gdb.execute("help pci", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the pci command of the mdlos package")
    if gdb.lookup_global_symbol("PciDevices") is None:
        return print("@@@ NOTRUN the kernel has no PciDevices (no PCI bus driver)")
    where = stop_at("KtRunTests")
    if where != "KtRunTests":
        return
    n = val("PciDeviceCount")
    print("@@@ COUNT %d" % n)
    for i in range(n):
        d = "PciDevices[%d]" % i
        f = lambda name: val(d + "." + name)
        print("@@@ DEV %d %02x:%02x.%u %04x:%04x %02x%02x%02x %02x pin=%d line=%d hdr=%d sec=%d msix=%d vcaps=%d driver=%#x" % (
            i, f("Bus"), f("Device"), f("Function"), f("VendorId"), f("DeviceId"), f("BaseClass"), f("SubClass"),
            f("ProgIf"), f("RevisionId"), f("InterruptPin"), f("InterruptLine"), f("HeaderType"), f("SecondaryBus"),
            f("MsixTableSize") if f("MsixCap") else 0, f("VendorCapCount"), val("(unsigned long long)" + d + ".Driver")))
        for b in range(f("BarCount")):
            bar = "%s.Bars[%d]" % (d, b)
            print("@@@ BAR %d %d type=%d base=%#x size=%#x pf=%d" % (
                i, b, val(bar + ".Type"), val(bar + ".Base"), val(bar + ".Size"), val(bar + ".Prefetchable")))
        for v in range(f("VendorCapCount")):
            c = "%s.VendorCaps[%d]" % (d, v)
            print("@@@ VCAP %d off=%#x type=%d bar=%d at=%#x len=%#x" % (
                i, val(c + ".Offset"), val(c + ".CfgType"), val(c + ".Bar"), val(c + ".BarOffset"),
                val(c + ".BarLength")))
    run("pci")


main()
