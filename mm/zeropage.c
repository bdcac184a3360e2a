/*
 * The zero-page thread (NT's MmZeroPageThread): when the CPU has nothing
 * else to do, it takes frames from the free list, zeroes them and moves
 * them to the zeroed list, so that a demand-zero fault (or any frame asked
 * for zeroed) is given one that is ready, instead of zeroing it while the
 * faulting thread waits.
 *
 * It is the lowest-priority thread of the system (priority 1; only the
 * idle loop is below it), so it runs only when every other thread waits,
 * and any thread made ready preempts it after the page in hand: a page is
 * zeroed at DISPATCH_LEVEL, through a hyperspace slot, with non-temporal
 * 64-bit stores (the page may not be used for a long time; it should not
 * evict useful cache lines).
 *
 * It works from the cold end of the free list - the list is LIFO, so the
 * frame at its tail is the one freed longest ago, or never touched since
 * boot - and leaves the hot end to allocations that do not need zeroes
 * (pool pages, frames about to be overwritten by a copy). Under TCG this is
 * also where a guest frame's first touch is paid (the host backs it with
 * memory then, 10-20 us on this machine): at idle, not in a fault.
 *
 * Where mdlos differs from NT: NT zeroes every free page. Here the thread
 * stops when the zeroed list holds MiZeroedPageTarget frames (boot option
 * `zeropages=N`, default 1/16 of RAM, at most 4096 = 16 MiB): enough for a
 * burst of faults, without making every boot of a 256 MiB test machine
 * touch all of its memory. An allocation that drains the list below half
 * the target wakes the thread (after the PFN lock is released: nothing is
 * signalled inside it); it also looks once a second.
 *
 * The PFN lock is held while one page is zeroed (~1 000 cycles under TCG,
 * far less on hardware), so the frame never leaves the lists' view: it is
 * on the free list until it is on the zeroed list, and MiVerifyPfnDatabase
 * and the leak counters (which count zeroed and free frames alike) never
 * see it in between. A multiprocessor kernel would rather take a batch off
 * the list in a "being zeroed" state and zero it outside the lock.
 */
#include "mm/mi.h"
#include "kernel/ke/ke.h"
#include "kernel/hal/x86.h"

PFN_NUMBER MiZeroedPageTarget;
volatile ULONG64 MiZeroPageThreadPages;   /* frames zeroed at idle since boot */
static KEVENT zero_event;
static volatile BOOLEAN zero_ready;
/* Set when the event is signalled, cleared when the thread wakes: on a busy
 * system the thread is ready but does not run for a long time, and every
 * allocation meanwhile would otherwise take the dispatcher lock to signal
 * it again (a synchronization event is reset as it wakes its waiter). */
static volatile BOOLEAN wake_pending;

/* Zero the coldest free frame and move it to the zeroed list; FALSE when
 * there is nothing (more) to do. */
BOOLEAN MiZeroOneFreePage(void)
{
    KIRQL old = MiAcquirePfnLock();
    if (MmZeroedPageListHead.Total >= MiZeroedPageTarget || !MmFreePageListHead.Total) {
        MiReleasePfnLock(old);
        return FALSE;
    }
    PFN_NUMBER pfn = MmFreePageListHead.Blink;
    KIRQL h;
    PVOID va = MiMapPageInHyperspace(pfn, &h);   /* already at DISPATCH_LEVEL: no second raise */
    MiZeroPageNonTemporal(va);
    MiUnmapPageInHyperspace(va, h);
    MiUnlinkPfnFromList(pfn);
    MiInsertPageInList(&MmZeroedPageListHead, pfn);
    MiZeroPageThreadPages++;
    MiReleasePfnLock(old);
    return TRUE;
}

void MiSignalZeroPageThread(void)
{
    MI_ASSERT_PFN_LOCK_NOT_HELD("nothing may be signalled inside the PFN lock");
    /* Read without the lock: a stale count only wakes the thread a little
     * early or late, and it checks again under the lock. */
    if (zero_ready && !wake_pending && MmZeroedPageListHead.Total < MiZeroedPageTarget / 2 &&
        MmFreePageListHead.Total) {
        KI_ASSERT_DISPATCHER_LOCK_NOT_HELD("signalling an event takes the dispatcher lock again");
        wake_pending = TRUE;
        KeSetEvent(&zero_event, 0, FALSE);
    }
}

static void zero_page_thread(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    for (;;) {
        LARGE_INTEGER second = { -KI_MS(1000) };
        KeWaitForSingleObject(&zero_event, Executive, KernelMode, FALSE, &second);
        wake_pending = FALSE;   /* running now: a later drain may wake it again */
        /* No check for other work: every other thread outranks this one,
         * so the scheduler takes the CPU back as soon as one is ready
         * (when the page in hand is done and the IRQL drops). */
        while (MiZeroOneFreePage())
            ;
    }
}

void MiStartZeroPageThread(void)
{
    const char *opt = KeGetOption("zeropages");
    ULONG64 n = MmNumberOfPhysicalPages / 16;
    if (n > 4096)
        n = 4096;
    if (opt)
        RtlParseUlong64(opt, &n);   /* checked as a number at boot */
    MiZeroedPageTarget = n;
    KeInitializeEvent(&zero_event, SynchronizationEvent, n != 0);
    if (!n)
        return;   /* zeropages=0: no thread, every zeroed frame is zeroed when it is taken */
    PKTHREAD t = KeCreateSystemThread(zero_page_thread, NULL, 1, "zeropage");
    ASSERT(t);
    zero_ready = TRUE;
}
