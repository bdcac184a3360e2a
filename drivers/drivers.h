/*
 * drivers.h: the entry points of the drivers built into the kernel. Each
 * is a DriverEntry: io/bootdrv.c starts it with IoCreateDriver at boot,
 * as NT's I/O manager starts a boot driver.
 */
#pragma once
#include "kernel/mdlos.h"

/* The PCI bus driver (drivers/pci/): enumerates every bus; first, so the
 * device drivers after it find their functions in its table. */
NTSTATUS PciDriverEntry(PDRIVER_OBJECT Driver, PANSI_STRING RegistryPath);
NTSTATUS NullDriverEntry(PDRIVER_OBJECT Driver, PANSI_STRING RegistryPath);     /* \Device\Null */
NTSTATUS RamDiskDriverEntry(PDRIVER_OBJECT Driver, PANSI_STRING RegistryPath);  /* \Device\RamDisk0 */
NTSTATUS IotDriverEntry(PDRIVER_OBJECT Driver, PANSI_STRING RegistryPath);   /* \Device\IoTest* */
/* Attaches above \Device\RamDisk0: started after the RAM disk. */
NTSTATUS FilterDriverEntry(PDRIVER_OBJECT Driver, PANSI_STRING RegistryPath);
/* virtio-blk (drivers/virtio/): \Device\Harddisk0\DR0, \Device\Harddisk1\DR0. */
NTSTATUS VblkDriverEntry(PDRIVER_OBJECT Driver, PANSI_STRING RegistryPath);
