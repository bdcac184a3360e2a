/*
 * A thread's plug: one batch of requests, started once.
 *
 * A disk that is sent N requests one by one starts the device N times,
 * and can only hand each one over as it is: it never sees two adjacent
 * ones together. A sender that knows a batch is coming (NtSubmitIoRing,
 * with a ring's worth of entries) puts a plug in its thread first. While
 * it is there, a driver that can use the whole batch (IoPlugDevice says
 * yes) only queues what it is sent and starts nothing; IoFinishPlug, at
 * the end of the batch, calls each such driver's unplug routine once, and
 * the driver hands the device everything it queued - adjacent requests
 * merged into one (the virtio-blk driver: drivers/virtio/vblk_queue.c).
 *
 * This is Linux's blk_plug (io_submit plugs the queue around its batch,
 * and the block layer merges adjacent bios held in the plug). NT has no
 * such call: its class drivers send each IRP on as it comes and leave
 * coalescing to the storage hardware. The plug lives on the sender's
 * stack and is always finished by the routine that started it, before
 * the thread returns to user mode, so no IRP waits in a queue for a plug
 * that is gone. The requests of a plugged batch are queued cancelable:
 * a cancel during the batch works as at any other time.
 *
 * A thread that blocks during its batch sends what it holds first
 * (IoFlushThreadPlug, from the wait): it may be waiting for one of those
 * requests - a page fault while NtSubmitIoRing locks an entry's buffer
 * reads the page back through the same disk, from the same thread - and
 * the plug's end is its own to reach. Linux flushes a task's plug when it
 * sleeps for the same reason.
 */
#include "io/iop.h"
#include "kernel/ke/ki.h"

void IoStartPlug(PIO_PLUG plug)
{
    PKTHREAD t = KeGetCurrentThread();
    plug->Count = 0;
    if (!t->IoPlug)   /* an inner batch joins the outer one */
        t->IoPlug = plug;
}

/* From a driver's dispatch routine, in the sender's thread: TRUE if a
 * plug is there, and the device's unplug routine will be called when the
 * batch ends (then queue and start nothing now). */
BOOLEAN IoPlugDevice(PDEVICE_OBJECT dev, IO_UNPLUG_ROUTINE *unplug)
{
    PIO_PLUG plug = KeGetCurrentThread()->IoPlug;
    /* An ISR, or a DPC that runs on the plugging thread's stack (a timer's,
     * a completion's that sends the next request): not the sender's batch,
     * so its request must not wait for that batch's end. */
    if (!plug || KeGetCurrentIrql() > DISPATCH_LEVEL || KeIsExecutingDpc())
        return FALSE;
    for (ULONG i = 0; i < plug->Count; i++)
        if (plug->Device[i] == dev)
            return TRUE;
    if (plug->Count == IO_PLUG_DEVICES)
        return FALSE;   /* a batch over many devices: the rest start at once */
    plug->Device[plug->Count] = dev;
    plug->Unplug[plug->Count++] = unplug;
    return TRUE;
}

static void unplug_all(PKTHREAD t, PIO_PLUG plug)
{
    t->IoPlug = NULL;
    for (ULONG i = 0; i < plug->Count; i++)
        plug->Unplug[i](plug->Device[i]);
    plug->Count = 0;
}

void IoFinishPlug(PIO_PLUG plug)
{
    PKTHREAD t = KeGetCurrentThread();
    if (t->IoPlug != plug)
        return;   /* an inner batch, or one its thread flushed by blocking */
    unplug_all(t, plug);
}

/* T is about to block (kernel/ke/wait.c; IRQL <= APC_LEVEL, no dispatcher
 * lock): the batch so far to its devices, and the rest of it unplugged -
 * a thread that blocked once in a batch may block again, and each wait
 * would cost the merge anyway. IoFinishPlug then finds nothing to do. */
void IoFlushThreadPlug(PKTHREAD t)
{
    unplug_all(t, t->IoPlug);
}
