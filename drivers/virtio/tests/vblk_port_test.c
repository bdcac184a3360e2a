/*
 * Completion ports (io/completion.c) against the real disk, where the
 * lifetime questions are: a process that exits with reads on the device
 * whose file has a port, and a port closed with the reads' IRPs queued in
 * it as packets. Both end with the runner's leak check (every frame, pool
 * block, IRP, object and handle back - the child's included); the tests
 * themselves check the moments in between.
 */
#include "drivers/virtio/tests/vblk_test_util.h"
#include "io/iop.h"
#include "kernel/ps/psp.h"
#include "mm/mdl.h"

#define NREADS 16          /* user/tests/child.c disk_inflight / disk_port_close */

static NTSTATUS wait_process(PEPROCESS p, ULONG ms)
{
    LARGE_INTEGER t = { -KI_MS(ms) };
    return KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &t);
}

/* The child's 16 reads are on the device (completion held) when it
 * exits; its exit cancels them and waits, as without a port. When the
 * device is let go the IRPs become packets - off the thread's list, which
 * lets the exit go on - and the exit's closing of the port's handle
 * finishes them without the child's memory. */
KTEST(vblk, process_exiting_with_reads_on_a_port_file_leaks_nothing)
{
    VB_DISK *x = VblkDisks[0];
    KT_ASSERT(x != NULL);
    LONG queued0 = IopCompletionPacketsQueued;
    VbtExitWithReadsHeld(x, "port", NREADS);
    KT_EQ(IopCompletionPacketsQueued, queued0);
}

/* The child's 16 reads all finish and wait on its port as packets (their
 * IRPs, each holding the file); then it closes the port's only handle:
 * every IRP is finished then, none of the child's status blocks written
 * (the child checks and says so in its exit status), and the file, the
 * port and the IRPs all go. */
KTEST(vblk, port_closed_with_reads_queued_finishes_them_and_writes_nothing)
{
    ULONG irps0 = IopIrpsInUse;
    LONG queued0 = IopCompletionPacketsQueued;
    char cmd[96];
    ksnprintf(cmd, sizeof(cmd), "child disk_port_close \\Device\\Harddisk1\\DR0 %u 8", NREADS);
    PEPROCESS p;
    KT_ST(PsCreateProcess("child", cmd, NULL, &p), STATUS_SUCCESS);
    ULONG waited = 0;
    while (IopCompletionPacketsQueued - queued0 < NREADS && waited < 10000) {
        DrvtSleep(10);
        waited += 10;
    }
    LONG queued = IopCompletionPacketsQueued - queued0;
    ULONG irps = IopIrpsInUse - irps0;
    ANSI_STRING name;
    RtlInitAnsiString(&name, "\\BaseNamedObjects\\vblkport");
    PVOID go = NULL;
    NTSTATUS s = ObReferenceObjectByName(&name, NULL, &go);
    if (NT_SUCCESS(s)) {
        KeSetEvent(go, 0, FALSE);
        ObDereferenceObject(go);
    }
    NTSTATUS end = wait_process(p, 20000);
    NTSTATUS code = p->ExitStatus;
    PsDereferenceProcess(p);
    kprintf("vblk: %d packets queued on the child's port, %u IRPs alive, exit status %d\n", (int)queued, irps,
            (int)code);
    KT_ST(s, STATUS_SUCCESS);
    KT_EQ(queued, NREADS);
    KT_GE(irps, NREADS);
    KT_EQ(end, STATUS_WAIT_0);
    KT_EQ(code, 0);   /* no status block written */
    KT_EQ(IopCompletionPacketsQueued, queued0);
    KT_EQ(IopIrpsInUse, irps0);
}
