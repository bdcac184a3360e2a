/*
 * Time and timers. Interrupt time counts 100 ns units since boot, from
 * the TSC (calibrated against the PIT). Timers wait in a list sorted by due
 * time; the clock interrupt (100 Hz) only compares the head's due time and
 * queues the expiration DPC, which signals the timers at DISPATCH_LEVEL,
 * wakes threads whose waits timed out, and queues the timers' own DPCs.
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"

static LIST_ENTRY timer_list;
static volatile ULONG64 next_due = ~0ULL;   /* read by the clock ISR without the lock */
static KDPC expire_dpc;
static ULONG64 boot_tsc;
/* KeSetClockWatchdog's deadline: compared by the clock interrupt itself,
 * not through a timer's DPC, so it fires even when the code it watches
 * spins at DISPATCH_LEVEL (holding a spin lock, which keeps DPCs off this
 * CPU) or waits forever; only a loop with interrupts off escapes it. */
static volatile ULONG64 watchdog_due = ~0ULL;
static KE_WATCHDOG_ROUTINE volatile watchdog_routine;

ULONG64 KeQueryInterruptTime(void)
{
    ULONG64 per_ms = HalTscPerMs();
    if (!per_ms)
        return 0;
    ULONG64 ticks = rdtsc() - boot_tsc;
    /* split to avoid overflowing 64 bits */
    return (ticks / per_ms) * 10000 + ((ticks % per_ms) * 10000) / per_ms;
}

static void update_next_due(void)
{
    next_due = IsListEmpty(&timer_list) ? ~0ULL
                                        : CONTAINING_RECORD(timer_list.Flink, KTIMER, TimerListEntry)->DueTime;
}

void KiCancelTimerLocked(PKTIMER t)
{
    KI_ASSERT_DISPATCHER_LOCK_HELD();
    if (!t->Header.Inserted)
        return;
    RemoveEntryList(&t->TimerListEntry);
    t->Header.Inserted = FALSE;
    update_next_due();
}

void KiSetTimerLocked(PKTIMER t, LARGE_INTEGER due, LONG period, PKDPC dpc)
{
    KI_ASSERT_DISPATCHER_LOCK_HELD();
    KiCancelTimerLocked(t);
    ULONG64 now = KeQueryInterruptTime();
    t->DueTime = due.QuadPart < 0 ? now + (ULONG64)(-due.QuadPart) : (ULONG64)due.QuadPart;
    t->Period = period;
    t->Dpc = dpc;
    t->Header.SignalState = 0;
    PLIST_ENTRY e = timer_list.Flink;
    while (e != &timer_list && CONTAINING_RECORD(e, KTIMER, TimerListEntry)->DueTime <= t->DueTime)
        e = e->Flink;
    InsertTailList(e, &t->TimerListEntry);   /* before E: keeps the list sorted */
    t->Header.Inserted = TRUE;
    update_next_due();
}

static void expire_timers(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(dpc);
    UNREFERENCED_PARAMETER(ctx);
    UNREFERENCED_PARAMETER(a1);
    UNREFERENCED_PARAMETER(a2);
    KIRQL old = KiAcquireDispatcherLock();
    ULONG64 now = KeQueryInterruptTime();
    while (!IsListEmpty(&timer_list)) {
        PKTIMER t = CONTAINING_RECORD(timer_list.Flink, KTIMER, TimerListEntry);
        if (t->DueTime > now)
            break;
        KiCancelTimerLocked(t);
        t->Header.SignalState = 1;
        if (t->WaitThread)
            KiUnwaitThread(t->WaitThread, STATUS_TIMEOUT);   /* a wait's timeout */
        else
            KiWaitTest(&t->Header);
        if (t->Dpc)
            KeInsertQueueDpc(t->Dpc, (PVOID)now, NULL);
        if (t->Period) {
            LARGE_INTEGER next = { (LONGLONG)(t->DueTime + (ULONG64)t->Period * 10000) };
            KiSetTimerLocked(t, next, t->Period, t->Dpc);
        }
    }
    KiReleaseDispatcherLock(old);
}

void KiTimerInitialize(void)
{
    InitializeListHead(&timer_list);
    KeInitializeDpc(&expire_dpc, expire_timers, NULL);
    boot_tsc = rdtsc();
}

/* The clock interrupt, at CLOCK_LEVEL. */
void KiClockTick(void)
{
    PKPRCB prcb = KeGetCurrentPrcb();
    prcb->ClockTicks++;
    ULONG64 now = KeQueryInterruptTime();
    if (now >= watchdog_due) {
        KE_WATCHDOG_ROUTINE routine = watchdog_routine;
        watchdog_due = ~0ULL;
        if (routine)
            routine(now);
    }
    if (now >= next_due)
        KeInsertQueueDpc(&expire_dpc, NULL, NULL);
    PKTHREAD t = prcb->CurrentThread;
    if (t && t != prcb->IdleThread && --t->Quantum <= 0)
        prcb->QuantumEnd = TRUE;
}

void KeSetClockWatchdog(ULONG64 due, KE_WATCHDOG_ROUTINE routine)
{
    /* Routine first: the ISR reads the deadline, then the routine. */
    watchdog_due = ~0ULL;
    watchdog_routine = routine;
    watchdog_due = routine ? due : ~0ULL;
}

void KeInitializeTimer(PKTIMER t)
{
    memset(t, 0, sizeof(*t));
    t->Header.Type = KeTimerObject;
    InitializeListHead(&t->Header.WaitListHead);
}

BOOLEAN KeSetTimerEx(PKTIMER t, LARGE_INTEGER due, LONG period, PKDPC dpc)
{
    KIRQL old = KiAcquireDispatcherLock();
    BOOLEAN was = t->Header.Inserted;
    KiSetTimerLocked(t, due, period, dpc);
    KiReleaseDispatcherLock(old);
    return was;
}

BOOLEAN KeSetTimer(PKTIMER t, LARGE_INTEGER due, PKDPC dpc)
{
    return KeSetTimerEx(t, due, 0, dpc);
}

BOOLEAN KeCancelTimer(PKTIMER t)
{
    KIRQL old = KiAcquireDispatcherLock();
    BOOLEAN was = t->Header.Inserted;
    KiCancelTimerLocked(t);
    KiReleaseDispatcherLock(old);
    return was;
}

BOOLEAN KeReadStateTimer(PKTIMER t)
{
    return t->Header.SignalState != 0;
}
