#include "drivers/virtio/tests/vblk_test_util.h"
#include "kernel/ps/psp.h"

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
