/*
 * Helpers of the virtio-blk tests that need reads to stay with the device:
 * a process that exits, or closes its port, with its reads in flight.
 */
#pragma once
#include "drivers/tests/drv_test_util.h"
#include "drivers/virtio/vblk.h"

/* Hold the driver's completion work (the DPC leaves the used ring alone:
 * a device slower than any real one), and notify every read at once while
 * held (a deferred notify would wait for the held DPC): the reads then
 * really are with the device. ON FALSE gives both back. */
void VbtHold(VB_DISK *Disk, BOOLEAN On);

/* `child CMD` started with DISK held, and waited for (10 s at most) until
 * WANT reads are on the device (IRPs the driver took, none of them
 * waiting); *INFLIGHT is how many were. On failure the
 * hold is given back and the status returned. */
NTSTATUS VbtStartChildWithReadsHeld(VB_DISK *Disk, PCSTR Cmd, ULONG Want, PEPROCESS *Process, ULONG *InFlight);

/* `child disk_inflight \Device\Harddisk0\DR0 NREADS PAGES MODE` (MODE "port"
 * or "ring": how it sends them) exits with its reads held on the device,
 * then the device is let go. Checks what every such exit must show: all
 * NREADS on the device, the exit waiting for them and then ending, its exit
 * status the pages it had locked, and no IRP left. */
void VbtExitWithReadsHeld(VB_DISK *Disk, PCSTR Mode, ULONG NReads);
