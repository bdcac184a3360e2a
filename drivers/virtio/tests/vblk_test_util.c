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

NTSTATUS VbtStartChildWithReadsHeld(VB_DISK *x, PCSTR cmd, ULONG want, PEPROCESS *p, ULONG *inflight)
{
    VbtHold(x, TRUE);
    NTSTATUS s = PsCreateProcess("child", cmd, NULL, p);
    if (!NT_SUCCESS(s)) {
        VbtHold(x, FALSE);
        return s;
    }
    for (ULONG waited = 0; x->Stats.InFlight < want && waited < 10000; waited += 10)
        DrvtSleep(10);
    *inflight = x->Stats.InFlight;
    return STATUS_SUCCESS;
}
