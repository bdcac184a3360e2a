/*
 * The drivers built into the kernel, started in order at boot. A driver
 * that fails to start is reported and left out; the system goes on, as
 * NT goes on without a failed boot driver that is not critical.
 */
#include "io/iop.h"
#include "drivers/drivers.h"

static const struct {
    PCSTR Name;
    PDRIVER_INITIALIZE Entry;
} boot_drivers[] = {
    { "\\Driver\\Pci", PciDriverEntry },     /* first: the device drivers look their functions up */
    { "\\Driver\\Null", NullDriverEntry },
    { "\\Driver\\RamDisk", RamDiskDriverEntry },
    { "\\Driver\\IoTest", IotDriverEntry },
    { "\\Driver\\Filter", FilterDriverEntry },   /* after the RAM disk it sits on */
    { "\\Driver\\Vblk", VblkDriverEntry },       /* virtio-blk: \\Device\\Harddisk0\\DR0, ... */
};

void IopStartBootDrivers(void)
{
    for (ULONG i = 0; i < ARRAYSIZE(boot_drivers); i++) {
        ANSI_STRING name;
        RtlInitAnsiString(&name, boot_drivers[i].Name);
        NTSTATUS s = IoCreateDriver(&name, boot_drivers[i].Entry, NULL);
        if (!NT_SUCCESS(s))
            kprintf("io: driver %s did not start: status %#x\n", boot_drivers[i].Name, (unsigned)s);
    }
}
