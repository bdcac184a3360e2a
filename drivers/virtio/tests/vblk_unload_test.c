/*
 * Unloading the virtio-blk driver and loading it again. This file sorts
 * after the other vblk tests (the runner goes file by file), so they run
 * against the boot's driver; the test ends with the driver started again
 * through its entry point, as at boot, so tests after it (and `make run`'s
 * shell) find the disks where they were.
 */
#include "drivers/tests/drv_test_util.h"
#include "drivers/virtio/vblk.h"

static PDRIVER_OBJECT driver_named(PCSTR name)
{
    ANSI_STRING n;
    RtlInitAnsiString(&n, name);
    PVOID obj;
    if (!NT_SUCCESS(ObReferenceObjectByName(&n, IoDriverObjectType, &obj)))
        return NULL;
    ObDereferenceObject(obj);
    return obj;
}

#define NC 32
static uint64_t counter(const KT_COUNTER *c, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(c[i].name, name) == 0)
            return c[i].value;
    KtFail(__FILE__, __LINE__, "no leak counter named \"%s\"", name);
    return 0;
}

/* One write and read back on disk NAME (the reloaded driver works). */
static void round_trip(PCSTR name, ULONG seed)
{
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    DrvtOpen(name, &fo, &top);
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, 4 * PAGE_SIZE, DRVT_TAG);
    KT_ASSERT(buf);
    ULONG_PTR info;
    DrvtFill(buf, 2 * PAGE_SIZE, seed);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_WRITE, buf, 2 * PAGE_SIZE, 6000 * 512, &info), STATUS_SUCCESS);
    memset(buf + 2 * PAGE_SIZE, 0, 2 * PAGE_SIZE);
    KT_ST(DrvtReadWrite(top, fo, IRP_MJ_READ, buf + 2 * PAGE_SIZE, 2 * PAGE_SIZE, 6000 * 512, &info), STATUS_SUCCESS);
    KT_ASSERT(DrvtCheck(buf + 2 * PAGE_SIZE, 2 * PAGE_SIZE, seed));
    ExFreePoolWithTag(buf, DRVT_TAG);
    ObDereferenceObject(fo);
}

/* IoUnloadDriver(\Driver\Vblk): the DriverUnload resets each device and
 * gives back everything it had - both disks' MSI-X entries (or INTx
 * connections), the queue and indirect-table common buffers and their
 * frames, the register mappings (system PTEs), the DMA adapters, the PCI
 * claims, the device objects and their names. Every leak counter is then
 * below its value with the driver loaded by exactly what the driver held,
 * and the names no longer open. IoCreateDriver with VblkDriverEntry brings
 * the driver back (new driver and device objects, the device reset and set
 * up again), both disks work, and the runner's leak check sees every
 * counter at its baseline again. */
KTEST(vblk, unload_gives_everything_back_and_a_reload_works)
{
    PDRIVER_OBJECT drv = driver_named("\\Driver\\Vblk");
    KT_ASSERT(drv != NULL);
    KT_EQ(VblkDiskCount, 2);
    ULONG disks = VblkDiskCount;
    BOOLEAN msix = VblkDisks[0]->Msix, indirect = VblkDisks[0]->Indirect;
    ULONG ring_pages = VblkDisks[0]->RingBytes / PAGE_SIZE, ind_pages = VblkDisks[0]->IndBytes / PAGE_SIZE;
    KT_COUNTER *before = ExAllocatePoolWithTag(NonPagedPoolNx, 2 * NC * sizeof(KT_COUNTER), DRVT_TAG);
    KT_ASSERT(before);
    KT_COUNTER *mid = before + NC;
    int nb = KtSnapshotCounters(before, NC);

    KT_ST(IoUnloadDriver(drv), STATUS_SUCCESS);
    int nm = KtSnapshotCounters(mid, NC);
    KT_EQ(VblkDiskCount, 0);
    KT_EQ(VblkDisks[0], NULL);
    KT_EQ(DrvtNamedDevice("\\Device\\Harddisk0\\DR0"), NULL);
    KT_EQ(DrvtNamedDevice("\\Device\\Harddisk1\\DR0"), NULL);
    for (int i = 0; i < nb; i++) {
        uint64_t m = counter(mid, nm, before[i].name);
        if (m != before[i].value)
            kprintf("vblk: unload: %s %llu -> %llu\n", before[i].name, (unsigned long long)before[i].value,
                    (unsigned long long)m);
    }
#define DROP(name, by) KT_EQ(counter(before, nb, name) - counter(mid, nm, name), (uint64_t)(by))
    DROP("DMA adapters", disks);
    DROP("DMA common buffers", disks * (indirect ? 2 : 1));
    DROP("PCI MSI-X entries connected", msix ? disks : 0);
    DROP("PCI functions claimed by drivers", disks);
    /* The common buffers' frames (contiguous memory, not pool). */
    KT_GE(counter(before, nb, "frames in use (page tables, image cache and pool aside)") -
              counter(mid, nm, "frames in use (page tables, image cache and pool aside)"),
          (uint64_t)disks * (ring_pages + ind_pages));
    /* The four register structures of each disk, and the MSI-X tables. */
    KT_GE(counter(before, nb, "system PTEs in use") - counter(mid, nm, "system PTEs in use"), (uint64_t)disks * 4);
    /* Two device objects and the driver object (the directories stay). */
    KT_GE(counter(before, nb, "objects") - counter(mid, nm, "objects"), 3);
    KT_EQ(driver_named("\\Driver\\Vblk"), NULL);

    ANSI_STRING name;
    RtlInitAnsiString(&name, "\\Driver\\Vblk");
    PDRIVER_OBJECT again;
    KT_ST(IoCreateDriver(&name, VblkDriverEntry, &again), STATUS_SUCCESS);
    KT_EQ(VblkDiskCount, disks);
    KT_EQ(VblkDisks[0]->Msix, msix);
    KT_EQ(VblkDisks[0]->Indirect, indirect);
    KT_EQ(VblkDisks[0]->Pci->Driver, again);
    round_trip("\\Device\\Harddisk0\\DR0", 61);
    round_trip("\\Device\\Harddisk1\\DR0", 62);
    ExFreePoolWithTag(before, DRVT_TAG);
}
