/*
 * The I/O ring (io/ioring.c) against the real disk: a process that exits
 * with its ring's reads on the device. Ends with the runner's leak check
 * (every frame, pool block, IRP, object and handle back, the ring's
 * frames and both its views included); the test checks the moments in
 * between.
 */
#include "drivers/virtio/tests/vblk_test_util.h"
#include "io/iop.h"
#include "kernel/ps/psp.h"

#define NREADS 16          /* user/tests/child.c disk_inflight ... ring */

/* The child's 16 reads, sent by one NtSubmitIoRing, are on the device
 * (completion held) when it exits: its exit cancels them and waits, as for
 * any file's; when the device is let go each completes to the ring (its
 * CQE written through the system mapping, the IRP freed), which lets the
 * exit go on; then the ring's handle closes and its views and frames go. */
KTEST(vblk, process_exiting_with_ring_reads_on_the_device_leaks_nothing)
{
    VB_DISK *x = VblkDisks[0];
    KT_ASSERT(x != NULL);
    VbtExitWithReadsHeld(x, "ring", NREADS);
}
