/* Threads, the scheduler, DPCs, timers and dispatcher objects. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

static LARGE_INTEGER ms(LONG n) { LARGE_INTEGER t = { -KI_MS(n) }; return t; }

/* ---- DPCs ---- */
static int dpc_log[8], dpc_n;
static KIRQL dpc_irql;
static void log_dpc(PKDPC d, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(d);
    UNREFERENCED_PARAMETER(a2);
    dpc_irql = KeGetCurrentIrql();
    dpc_log[dpc_n++] = (int)(ULONG_PTR)ctx * 10 + (int)(ULONG_PTR)a1;
}

KTEST(dpc, run_at_dispatch_in_order_when_irql_drops)
{
    static KDPC a, b, c;
    KeInitializeDpc(&a, log_dpc, (PVOID)1);
    KeInitializeDpc(&b, log_dpc, (PVOID)2);
    KeInitializeDpc(&c, log_dpc, (PVOID)3);
    dpc_n = 0;
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KT_ASSERT(KeInsertQueueDpc(&a, (PVOID)1, NULL));
    KT_ASSERT(KeInsertQueueDpc(&b, (PVOID)2, NULL));
    KT_ASSERT(!KeInsertQueueDpc(&a, (PVOID)9, NULL));   /* already queued: not twice */
    KT_ASSERT(KeInsertQueueDpc(&c, (PVOID)3, NULL));
    KT_ASSERT(KeRemoveQueueDpc(&c));                    /* dequeued before it ran */
    KT_EQ(dpc_n, 0);                                    /* nothing runs at DISPATCH_LEVEL yet */
    KeLowerIrql(old);
    KT_EQ(dpc_n, 2);                                    /* ran as the IRQL dropped */
    KT_EQ(dpc_log[0], 11);                              /* first in, first run, with its argument */
    KT_EQ(dpc_log[1], 22);
    KT_EQ(dpc_irql, DISPATCH_LEVEL);
    KT_ASSERT(KeInsertQueueDpc(&a, (PVOID)4, NULL));    /* at PASSIVE_LEVEL: runs at once */
    KT_EQ(dpc_n, 3);
    KT_EQ(dpc_log[2], 14);
}

KTEST(spinlock, raises_to_dispatch_and_excludes)
{
    static KSPIN_LOCK lock;
    KeInitializeSpinLock(&lock);
    KIRQL old;
    KeAcquireSpinLock(&lock, &old);
    KT_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    KT_NE(lock, 0);
    KeReleaseSpinLock(&lock, old);
    KT_EQ(lock, 0);
    KT_EQ(KeGetCurrentIrql(), old);
}

/* ---- timers ---- */
static ULONG64 fired_at[3];
static int fire_order[3], fires;
static void timer_dpc(PKDPC d, PVOID ctx, PVOID now, PVOID a2)
{
    UNREFERENCED_PARAMETER(d);
    UNREFERENCED_PARAMETER(a2);
    fire_order[fires] = (int)(ULONG_PTR)ctx;
    fired_at[fires++] = (ULONG64)now;
}

KTEST(timer, expire_in_due_time_order_and_wake_waiters)
{
    static KTIMER t[3];
    static KDPC d[3];
    static const LONG due_ms[3] = { 60, 20, 40 };
    fires = 0;
    ULONG64 start = KeQueryInterruptTime();
    for (int i = 0; i < 3; i++) {
        KeInitializeTimer(&t[i]);
        KeInitializeDpc(&d[i], timer_dpc, (PVOID)(ULONG_PTR)i);
        KeSetTimer(&t[i], ms(due_ms[i]), &d[i]);
    }
    /* Waiting on the latest timer object: it is signaled when it expires. */
    KT_EQ(KeWaitForSingleObject(&t[0], Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
    KT_ASSERT(KeReadStateTimer(&t[0]));
    KT_EQ(fires, 3);
    KT_EQ(fire_order[0], 1);    /* 20 ms */
    KT_EQ(fire_order[1], 2);    /* 40 ms */
    KT_EQ(fire_order[2], 0);    /* 60 ms */
    for (int i = 0; i < 3; i++)
        KT_GE(fired_at[i] - start, (ULONG64)KI_MS(due_ms[fire_order[i]]));
    KT_ASSERT(!KeCancelTimer(&t[1]));   /* already expired */
}

KTEST(timer, delay_and_wait_timeout)
{
    ULONG64 t0 = KeQueryInterruptTime();
    LARGE_INTEGER d = ms(30);
    KT_EQ(KeDelayExecutionThread(KernelMode, FALSE, &d), STATUS_SUCCESS);
    KT_GE(KeQueryInterruptTime() - t0, KI_MS(30));
    static KEVENT never;
    KeInitializeEvent(&never, NotificationEvent, FALSE);
    t0 = KeQueryInterruptTime();
    d = ms(20);
    KT_EQ(KeWaitForSingleObject(&never, Executive, KernelMode, FALSE, &d), STATUS_TIMEOUT);
    KT_GE(KeQueryInterruptTime() - t0, KI_MS(20));
    LARGE_INTEGER zero = { 0 };
    KT_EQ(KeWaitForSingleObject(&never, Executive, KernelMode, FALSE, &zero), STATUS_TIMEOUT);   /* a poll */
}

/* ---- threads ---- */
static volatile LONG counter;
static void add_ten(PVOID ctx)
{
    for (int i = 0; i < 10; i++) {
        __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
        if (ctx)
            KeYieldExecution();
    }
}

KTEST(thread, create_run_and_join)
{
    counter = 0;
    PKTHREAD t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = KeCreateSystemThread(add_ten, (PVOID)(ULONG_PTR)(i & 1), KI_DEFAULT_PRIORITY, "adder");
        KT_ASSERT(t[i] != NULL);
    }
    for (int i = 0; i < 4; i++) {
        KT_EQ(KeWaitForSingleObject(t[i], Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
        KT_EQ(t[i]->State, ThreadTerminated);
        KeDereferenceThread(t[i]);
    }
    KT_EQ(counter, 40);
    /* Let the last one be reaped (its stack freed by the next switch). */
    LARGE_INTEGER d = ms(1);
    KeDelayExecutionThread(KernelMode, FALSE, &d);
}

static volatile int order[4], order_n;
static void note(PVOID ctx) { order[order_n++] = (int)(ULONG_PTR)ctx; }

KTEST(thread, higher_priority_runs_first_and_preempts)
{
    order_n = 0;
    PKTHREAD lo = KeCreateSystemThread(note, (PVOID)1, 4, "low");
    PKTHREAD hi = KeCreateSystemThread(note, (PVOID)2, 12, "high");   /* outranks us (8): runs at once */
    KT_EQ(order_n, 1);
    KT_EQ(order[0], 2);
    KT_EQ(KeWaitForSingleObject(lo, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);   /* we block: low runs */
    KT_EQ(order[1], 1);
    KeWaitForSingleObject(hi, Executive, KernelMode, FALSE, NULL);
    KeDereferenceThread(lo);
    KeDereferenceThread(hi);
    LARGE_INTEGER d = ms(1);
    KeDelayExecutionThread(KernelMode, FALSE, &d);
}

/* Two threads that never yield both make progress: the clock's quantum
 * end forces round robin. */
static volatile BOOLEAN spin_flag;
static volatile ULONG64 spins;
static void spin_until_flag(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    while (!spin_flag)
        spins++;
}
static void set_flag_after_spinning(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    for (volatile int i = 0; i < 100000; i++)
        ;
    spin_flag = TRUE;
}

KTEST(thread, quantum_end_time_slices_busy_threads)
{
    spin_flag = FALSE;
    spins = 0;
    PKTHREAD a = KeCreateSystemThread(spin_until_flag, NULL, 6, "spinner");
    PKTHREAD b = KeCreateSystemThread(set_flag_after_spinning, NULL, 6, "setter");
    KeWaitForSingleObject(a, Executive, KernelMode, FALSE, NULL);   /* would hang without time slicing */
    KeWaitForSingleObject(b, Executive, KernelMode, FALSE, NULL);
    KT_GT(spins, 0);
    KeDereferenceThread(a);
    KeDereferenceThread(b);
    LARGE_INTEGER d = ms(1);
    KeDelayExecutionThread(KernelMode, FALSE, &d);
}

/* ---- events, semaphores, mutexes ---- */
static KEVENT ping, pong;
static volatile int rallies;
static void ponger(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    for (int i = 0; i < 20; i++) {
        KeWaitForSingleObject(&ping, Executive, KernelMode, FALSE, NULL);
        rallies++;
        KeSetEvent(&pong, 0, FALSE);
    }
}

KTEST(sync, events_ping_pong)
{
    KeInitializeEvent(&ping, SynchronizationEvent, FALSE);
    KeInitializeEvent(&pong, SynchronizationEvent, FALSE);
    rallies = 0;
    PKTHREAD t = KeCreateSystemThread(ponger, NULL, KI_DEFAULT_PRIORITY, "ponger");
    for (int i = 0; i < 20; i++) {
        KeSetEvent(&ping, 0, FALSE);
        KeWaitForSingleObject(&pong, Executive, KernelMode, FALSE, NULL);
        KT_EQ(rallies, i + 1);
        KT_EQ(KeReadStateEvent(&pong), 0);   /* a synchronization event resets as it wakes one */
    }
    KeWaitForSingleObject(t, Executive, KernelMode, FALSE, NULL);
    KeDereferenceThread(t);
    LARGE_INTEGER d = ms(1);
    KeDelayExecutionThread(KernelMode, FALSE, &d);
}

static KSEMAPHORE items;
static KMUTEX mutex;
static volatile int consumed, in_section, max_in_section;
static void consumer(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    for (int i = 0; i < 5; i++) {
        KeWaitForSingleObject(&items, Executive, KernelMode, FALSE, NULL);
        KeWaitForSingleObject(&mutex, Executive, KernelMode, FALSE, NULL);
        KeWaitForSingleObject(&mutex, Executive, KernelMode, FALSE, NULL);   /* recursive: the owner may */
        in_section++;
        if (in_section > max_in_section)
            max_in_section = in_section;
        KeYieldExecution();                 /* give the other consumer a chance to break in */
        consumed++;
        in_section--;
        KeReleaseMutex(&mutex, FALSE);
        KeReleaseMutex(&mutex, FALSE);
    }
}

KTEST(sync, semaphore_and_recursive_mutex)
{
    KeInitializeSemaphore(&items, 0, 100);
    KeInitializeMutex(&mutex, 0);
    consumed = in_section = max_in_section = 0;
    PKTHREAD c1 = KeCreateSystemThread(consumer, NULL, KI_DEFAULT_PRIORITY, "consumer1");
    PKTHREAD c2 = KeCreateSystemThread(consumer, NULL, KI_DEFAULT_PRIORITY, "consumer2");
    LARGE_INTEGER d = ms(5);
    KeDelayExecutionThread(KernelMode, FALSE, &d);
    KT_EQ(consumed, 0);                     /* nothing produced yet: both wait */
    KeReleaseSemaphore(&items, 0, 4, FALSE);
    KeReleaseSemaphore(&items, 0, 6, FALSE);
    KeWaitForSingleObject(c1, Executive, KernelMode, FALSE, NULL);
    KeWaitForSingleObject(c2, Executive, KernelMode, FALSE, NULL);
    KT_EQ(consumed, 10);
    KT_EQ(max_in_section, 1);               /* the mutex kept them apart */
    KT_EQ(mutex.Header.SignalState, 1);
    KeDereferenceThread(c1);
    KeDereferenceThread(c2);
    KeDelayExecutionThread(KernelMode, FALSE, &d);
}

KTEST_BUGCHECK(sync, wait_at_dispatch_level_bugchecks, IRQL_NOT_LESS_OR_EQUAL, KT_ANY, DISPATCH_LEVEL, 0, 0)
{
    static KEVENT e;
    KeInitializeEvent(&e, NotificationEvent, FALSE);
    KtExpectParam(1, (ULONG64)&e);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, NULL);
}

KBENCH(thread, switch)
{
    KeInitializeEvent(&ping, SynchronizationEvent, FALSE);
    KeInitializeEvent(&pong, SynchronizationEvent, FALSE);
    PKTHREAD t = KeCreateSystemThread(ponger, NULL, KI_DEFAULT_PRIORITY, "ponger");
    uint64_t t0 = rdtsc();
    for (int i = 0; i < 20; i++) {
        KeSetEvent(&ping, 0, FALSE);
        KeWaitForSingleObject(&pong, Executive, KernelMode, FALSE, NULL);
    }
    uint64_t t1 = rdtsc();
    KeWaitForSingleObject(t, Executive, KernelMode, FALSE, NULL);
    KeDereferenceThread(t);
    KtBenchReport("cycles_per_switch_via_events", (t1 - t0) / 40, "cycles");
}
