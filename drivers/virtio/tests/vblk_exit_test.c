/*
 * A process that exits with its reads on the real disk. virtio has no
 * abort: once a chain is in the available ring the device owns the
 * frames it names until it puts the chain in the used ring, so a dying
 * process's cancel cannot take those reads back, and its exit must wait
 * for the device before its frames (and address space) can go.
 */
#include "drivers/virtio/tests/vblk_test_util.h"
#include "kernel/ps/psp.h"
#include "mm/mdl.h"

#define NREADS 16          /* user/tests/child.c disk_inflight */

/* The child sends 16 reads of 512 KiB and exits at once. The driver's
 * completion work is held (the DPC leaves the used ring alone: a device
 * slower than any real one) so the moment is certain: all 16 are on the
 * ring, the child's exit has cancelled them (IoCancelIrp sets Irp->Cancel;
 * no cancel routine, the driver gave it up when it sent them) and waits.
 * While it waits, the process has not ended, its 16 * 128 frames are still
 * locked and its IRPs still exist. Then the DPC runs: the IRPs complete
 * (the driver checks each MDL still locks its frames), the exit finishes,
 * and the runner's leak check finds every frame, pool block, IRP, object,
 * handle and lock reference back - the child's included. */
KTEST(vblk, process_exiting_with_reads_on_the_device_waits_for_them)
{
    VB_DISK *x = VblkDisks[0];
    KT_ASSERT(x != NULL);
    ULONG64 done0 = x->Stats.CompletedCancelled, req0 = x->Stats.Requests, locked0 = MiMdlLockedFrames;
    ULONG irps0 = IopIrpsInUse;
    /* 512 KiB reads with indirect tables (one ring descriptor each). A
     * direct chain takes a descriptor per segment plus the header and the
     * status byte, and the user's frames need not be physically contiguous
     * (the free list hands out the frame freed last first), so a read of
     * QueueSize / 16 - 4 pages keeps all 16 on the ring at once (12 of a
     * 256-entry ring), with room to spare. */
    ULONG PAGES_EACH = x->Indirect ? 128 : x->QueueSize / NREADS - 4;
    char cmd[80];
    ksnprintf(cmd, sizeof(cmd), "child disk_inflight \\Device\\Harddisk0\\DR0 %u %u", NREADS, PAGES_EACH);
    PEPROCESS p;
    ULONG inflight;   /* all 16 on the ring (bounded: 10 s) */
    KT_ST(VbtStartChildWithReadsHeld(x, cmd, NREADS, &p, &inflight), STATUS_SUCCESS);
    /* The exit cannot finish while the device has the reads. */
    LARGE_INTEGER t = { -KI_MS(300) };
    NTSTATUS w = KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &t);
    ULONG64 locked = MiMdlLockedFrames;
    ULONG irps = IopIrpsInUse;
    ULONG cancelled = 0;
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    for (ULONG i = 0; i < x->QueueSize; i++)
        if (x->Subs[i].Req && x->Subs[i].OnDevice && x->Subs[i].Req->Irp->Cancel)
            cancelled++;
    USHORT returned = (USHORT)(x->Used[1] - x->LastUsed);   /* done by the device, not yet by the driver */
    KeReleaseSpinLock(&x->Lock, old);
    VbtHold(x, FALSE);
    KeInsertQueueDpc(&x->Dpc, NULL, NULL);   /* the interrupts came while held */
    LARGE_INTEGER ten = { -KI_MS(10000) };
    NTSTATUS end = KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &ten);
    NTSTATUS code = p->ExitStatus;
    kprintf("vblk: child exiting: %u reads on the ring (%u returned by the device), %u of them cancelled, %llu frames "
            "locked, exit status %d\n", inflight, returned, cancelled, (unsigned long long)(locked - locked0), (int)code);
    PsDereferenceProcess(p);
    KT_EQ(inflight, NREADS);
    KT_EQ(w, STATUS_TIMEOUT);
    KT_EQ(cancelled, NREADS);
    KT_GE(locked - locked0, (ULONG64)NREADS * PAGES_EACH);
    KT_GE(irps - irps0, NREADS);
    KT_EQ(end, STATUS_WAIT_0);
    KT_EQ(code, NREADS * PAGES_EACH);   /* the pages it had locked when it began to exit */
    KT_EQ(x->Stats.Requests - req0, NREADS);
    KT_EQ(x->Stats.CompletedCancelled - done0, NREADS);
    KT_EQ(x->Stats.InFlight, 0);
    KT_EQ(VblkReqsOutstanding, 0);
}
