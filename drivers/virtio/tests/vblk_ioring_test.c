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

static NTSTATUS wait_process(PEPROCESS p, ULONG ms)
{
    LARGE_INTEGER t = { -KI_MS(ms) };
    return KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &t);
}

/* The child's 16 reads, sent by one NtSubmitIoRing, are on the device
 * (completion held) when it exits: its exit cancels them and waits, as for
 * any file's; when the device is let go each completes to the ring (its
 * CQE written through the system mapping, the IRP freed), which lets the
 * exit go on; then the ring's handle closes and its views and frames go. */
KTEST(vblk, process_exiting_with_ring_reads_on_the_device_leaks_nothing)
{
    VB_DISK *x = VblkDisks[0];
    KT_ASSERT(x != NULL);
    ULONG irps0 = IopIrpsInUse;
    ULONG pages = x->Indirect ? 32 : x->QueueSize / NREADS - 4;
    char cmd[96];
    ksnprintf(cmd, sizeof(cmd), "child disk_inflight \\Device\\Harddisk0\\DR0 %u %u ring", NREADS, pages);
    PEPROCESS p;
    ULONG inflight;
    KT_ST(VbtStartChildWithReadsHeld(x, cmd, NREADS, &p, &inflight), STATUS_SUCCESS);
    NTSTATUS w = wait_process(p, 300);   /* the exit waits for the device */
    VbtHold(x, FALSE);
    KeInsertQueueDpc(&x->Dpc, NULL, NULL);
    NTSTATUS end = wait_process(p, 10000);
    NTSTATUS code = p->ExitStatus;
    PsDereferenceProcess(p);
    KT_EQ(inflight, NREADS);
    KT_EQ(w, STATUS_TIMEOUT);
    KT_EQ(end, STATUS_WAIT_0);
    KT_EQ(code, NREADS * pages);   /* the pages it had locked when it began to exit */
    KT_EQ(IopIrpsInUse, irps0);
    KT_EQ(VblkReqsOutstanding, 0);
}
