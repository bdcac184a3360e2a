#include "drivers/virtio/tests/vblk_test_util.h"
#include "kernel/ps/psp.h"
#include "io/iop.h"

static BOOLEAN saved_defer;

void VbtHold(VB_DISK *x, BOOLEAN on)
{
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    x->HoldCompletions = on;
    if (on) {
        saved_defer = x->DeferNotify;
        x->DeferNotify = FALSE;
    } else {
        x->DeferNotify = saved_defer;
    }
    KeReleaseSpinLock(&x->Lock, old);
}

static BOOLEAN waiting_empty(VB_DISK *x)
{
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    BOOLEAN empty = IsListEmpty(&x->Waiting);
    KeReleaseSpinLock(&x->Lock, old);
    return empty;
}

NTSTATUS VbtStartChildWithReadsHeld(VB_DISK *x, PCSTR cmd, ULONG want, PEPROCESS *p, ULONG *inflight)
{
    VbtHold(x, TRUE);
    NTSTATUS s = PsCreateProcess("child", cmd, NULL, p);
    if (!NT_SUCCESS(s)) {
        VbtHold(x, FALSE);
        return s;
    }
    /* Counted in IRPs, not chains: a plugged batch's adjacent reads share
     * one chain (vblk_queue.c merge_behind). All of them taken by the
     * driver and none waiting: every one is on the device. */
    for (ULONG waited = 0; !(VblkReqsOutstanding >= (LONG)want && waiting_empty(x)) && waited < 10000; waited += 10)
        DrvtSleep(10);
    *inflight = (ULONG)VblkReqsOutstanding;
    return STATUS_SUCCESS;
}

static NTSTATUS wait_process(PEPROCESS p, ULONG ms)
{
    LARGE_INTEGER t = { -KI_MS(ms) };
    return KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &t);
}

void VbtExitWithReadsHeld(VB_DISK *x, PCSTR mode, ULONG nreads)
{
    ULONG irps0 = IopIrpsInUse;
    ULONG pages = x->Indirect ? 32 : x->QueueSize / nreads - 4;
    char cmd[96];
    ksnprintf(cmd, sizeof(cmd), "child disk_inflight \\Device\\Harddisk0\\DR0 %u %u %s", nreads, pages, mode);
    PEPROCESS p;
    ULONG inflight;
    KT_ST(VbtStartChildWithReadsHeld(x, cmd, nreads, &p, &inflight), STATUS_SUCCESS);
    NTSTATUS w = wait_process(p, 300);   /* the exit waits for the device */
    VbtHold(x, FALSE);
    KeInsertQueueDpc(&x->Dpc, NULL, NULL);   /* the interrupts came while held */
    NTSTATUS end = wait_process(p, 10000);
    NTSTATUS code = p->ExitStatus;
    PsDereferenceProcess(p);
    KT_EQ(inflight, nreads);
    KT_EQ(w, STATUS_TIMEOUT);
    KT_EQ(end, STATUS_WAIT_0);
    KT_EQ(code, nreads * pages);   /* the pages it had locked when it began to exit */
    KT_EQ(IopIrpsInUse, irps0);
    KT_EQ(VblkReqsOutstanding, 0);
}
