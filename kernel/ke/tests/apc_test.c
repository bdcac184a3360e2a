/* Special kernel APCs (kernel/ke/apc.c): where they run, what holds them
 * off, and that a wait they interrupt still waits for what it waited for. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

static LARGE_INTEGER ms(LONG n) { LARGE_INTEGER t = { -KI_MS(n) }; return t; }
static void sleep_ms(LONG n) { LARGE_INTEGER t = ms(n); KeDelayExecutionThread(KernelMode, FALSE, &t); }

/* An APC that writes down where and how it ran. */
typedef struct {
    KAPC Apc;
    KEVENT Done;
    volatile int Runs, Rundowns;
    PKTHREAD RanIn;
    PEPROCESS Process;
    KIRQL Irql;
    BOOLEAN Disabled, TargetExiting;
    PVOID Arg1, Arg2;
    ULONG64 SystemCalls;
    ULONG64 RanAt;   /* interrupt time */
} APC_REC;

static void record_apc(PKAPC apc, PKNORMAL_ROUTINE *normal, PVOID *ctx, PVOID *a1, PVOID *a2)
{
    APC_REC *r = CONTAINING_RECORD(apc, APC_REC, Apc);
    KT_ASSERT(*normal == NULL && *ctx == NULL);
    r->RanIn = KeGetCurrentThread();
    r->Process = PsGetCurrentProcess();
    r->Irql = KeGetCurrentIrql();
    r->Disabled = KeAreAllApcsDisabled();
    r->TargetExiting = PsGetCurrentThreadProcess()->Exiting;
    r->Arg1 = *a1;
    r->Arg2 = *a2;
    r->SystemCalls = KiSystemCalls;
    r->RanAt = KeQueryInterruptTime();
    r->Runs++;
    KeSetEvent(&r->Done, 0, FALSE);   /* allowed at APC_LEVEL */
}

static void record_rundown(PKAPC apc)
{
    APC_REC *r = CONTAINING_RECORD(apc, APC_REC, Apc);
    KT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    r->Rundowns++;
}

static void rec_init(APC_REC *r, PKTHREAD t, BOOLEAN rundown)
{
    memset(r, 0, sizeof(*r));
    KeInitializeEvent(&r->Done, NotificationEvent, FALSE);
    KeInitializeApc(&r->Apc, t, OriginalApcEnvironment, record_apc, rundown ? record_rundown : NULL, NULL,
                    KernelMode, NULL);
}

static NTSTATUS wait_done(APC_REC *r, LONG n)
{
    LARGE_INTEGER t = ms(n);
    return KeWaitForSingleObject(&r->Done, Executive, KernelMode, FALSE, &t);
}

static NTSTATUS join(PKTHREAD t, LONG n)
{
    LARGE_INTEGER to = ms(n);
    return KeWaitForSingleObject(t, Executive, KernelMode, FALSE, &to);
}

/* ---- a waiting system thread ---- */
static KEVENT go;
static volatile NTSTATUS waiter_status;
static volatile ULONG64 waiter_start, waiter_elapsed;   /* interrupt time */
static volatile LONG waiter_timeout_ms;   /* 0: wait for ever */
static volatile BOOLEAN waiter_delays;    /* KeDelayExecutionThread instead of an event */

static void waiter(PVOID unused)
{
    UNREFERENCED_PARAMETER(unused);
    ULONG64 t0 = KeQueryInterruptTime();
    waiter_start = t0;
    LARGE_INTEGER to = ms(waiter_timeout_ms);
    if (waiter_delays)
        waiter_status = KeDelayExecutionThread(KernelMode, FALSE, &to);
    else
        waiter_status = KeWaitForSingleObject(&go, Executive, KernelMode, FALSE, waiter_timeout_ms ? &to : NULL);
    waiter_elapsed = KeQueryInterruptTime() - t0;
}

static PKTHREAD start_waiter(LONG timeout_ms, BOOLEAN delays)
{
    KeInitializeEvent(&go, NotificationEvent, FALSE);
    waiter_status = STATUS_PENDING;
    waiter_timeout_ms = timeout_ms;
    waiter_delays = delays;
    PKTHREAD t = KeCreateSystemThread(waiter, NULL, KI_DEFAULT_PRIORITY, "apcwaiter");
    sleep_ms(20);   /* it runs and goes to sleep */
    return t;
}

KTEST(apc, runs_in_the_waiting_thread_which_keeps_waiting)
{
    static APC_REC r;
    PKTHREAD t = start_waiter(0, FALSE);
    KT_ASSERT(t != NULL);
    KT_EQ(t->State, ThreadWaiting);
    rec_init(&r, t, FALSE);
    KT_ASSERT(KeInsertQueueApc(&r.Apc, (PVOID)0x11, (PVOID)0x22, 0));
    KT_EQ((ULONG)wait_done(&r, 1000), STATUS_WAIT_0);
    KT_EQ(r.Runs, 1);
    KT_EQ(r.RanIn, t);                        /* in the thread it was queued to */
    KT_EQ(r.Irql, APC_LEVEL);                 /* at NT's level for them */
    KT_ASSERT(r.Disabled);                    /* no APC inside an APC */
    KT_EQ(r.Process, &PsInitialSystemProcess);
    KT_EQ(r.Arg1, 0x11);
    KT_EQ(r.Arg2, 0x22);
    KT_ASSERT(!r.Apc.Inserted);
    /* The wait was interrupted, not ended: the thread waits on. */
    KT_EQ((ULONG)join(t, 50), STATUS_TIMEOUT);
    KT_EQ(waiter_status, STATUS_PENDING);
    KT_EQ(t->State, ThreadWaiting);
    KeSetEvent(&go, 0, FALSE);
    KT_EQ((ULONG)join(t, 1000), STATUS_WAIT_0);
    KT_EQ((ULONG)waiter_status, STATUS_WAIT_0);   /* never STATUS_KERNEL_APC */
    KeDereferenceThread(t);
}

static void note_time(PKDPC d, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(d);
    UNREFERENCED_PARAMETER(a1);
    UNREFERENCED_PARAMETER(a2);
    *(volatile ULONG64 *)ctx = KeQueryInterruptTime();
}

/* An interrupted wait waits out what is left of its timeout: not less
 * (it does not return early), not the whole timeout again. The end is
 * judged against when the APC ran, not against a wall-clock bound: a wait
 * restarted at the APC cannot end before the APC's time + 400 ms, one that
 * kept its deadline ends at its start + 400 ms plus however late the guest
 * got to see it. Under TCG the guest's clock follows the host's, so a host
 * that holds the vCPU back across the deadline makes every timer late at
 * once: a probe timer due at the same deadline measures that, and a round
 * in which it fired 100 ms late (or the APC itself ran too close to the
 * deadline to tell the two apart) proves nothing and runs again, at most 5
 * rounds. */
KTEST(apc, interrupted_timeout_keeps_its_total)
{
    static APC_REC r;
    static KTIMER probe;
    static KDPC probe_dpc;
    static volatile ULONG64 probe_at;
    for (int delay = 0; delay < 2; delay++) {
        int round;
        for (round = 0; round < 5; round++) {
            PKTHREAD t = start_waiter(400, (BOOLEAN)delay);
            KT_ASSERT(t != NULL);
            ULONG64 deadline = waiter_start + (ULONG64)KI_MS(400);
            probe_at = 0;
            KeInitializeTimer(&probe);
            KeInitializeDpc(&probe_dpc, note_time, (PVOID)&probe_at);
            LARGE_INTEGER due = { (LONGLONG)deadline };   /* positive: absolute interrupt time */
            KeSetTimer(&probe, due, &probe_dpc);
            sleep_ms(180);                       /* start_waiter slept 20 more */
            rec_init(&r, t, FALSE);
            if (!KeInsertQueueApc(&r.Apc, NULL, NULL, 0)) {
                /* The host held this boot back past the waiter's whole
                 * timeout: it has ended, there is no wait left to
                 * interrupt (KeInsertQueueApc refuses an exiting thread).
                 * Such a round proves nothing: another one. */
                KT_EQ((ULONG)join(t, 1000), STATUS_WAIT_0);
                KT_GE(KeQueryInterruptTime(), deadline);
                KeCancelTimer(&probe);
                KeDereferenceThread(t);
                continue;
            }
            KT_EQ((ULONG)wait_done(&r, 1000), STATUS_WAIT_0);
            KT_EQ(r.RanIn, t);
            KT_EQ((ULONG)join(t, 1000), STATUS_WAIT_0);
            KT_EQ((ULONG)waiter_status, delay ? STATUS_SUCCESS : STATUS_TIMEOUT);
            KT_GE(waiter_elapsed, (ULONG64)KI_MS(400));       /* the timeout, all of it */
            KeCancelTimer(&probe);
            KeDereferenceThread(t);
            BOOLEAN clean = probe_at != 0 && probe_at < deadline + (ULONG64)KI_MS(100) &&
                            r.RanAt + (ULONG64)KI_MS(100) < deadline;
            if (!clean)
                continue;
            /* Not restarted at the APC: that would end at RanAt + 400 ms or later. */
            KT_LT(waiter_start + waiter_elapsed, r.RanAt + (ULONG64)KI_MS(400));
            break;
        }
        KT_LT(round, 5);   /* 5 rounds, each with the host late across the deadline */
    }
}

/* ---- from a DPC (a timer's), in whatever thread the DPC interrupts ---- */
static void queue_from_dpc(PKDPC d, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(d);
    UNREFERENCED_PARAMETER(a1);
    UNREFERENCED_PARAMETER(a2);
    APC_REC *r = ctx;
    r->Arg2 = (PVOID)(ULONG_PTR)KeInsertQueueApc(&r->Apc, (PVOID)(ULONG_PTR)KeGetCurrentIrql(), NULL, 0);
}

KTEST(apc, queued_from_a_dpc)
{
    static APC_REC r;
    static KTIMER timer;
    static KDPC dpc;
    PKTHREAD t = start_waiter(0, FALSE);
    KT_ASSERT(t != NULL);
    rec_init(&r, t, FALSE);
    KeInitializeTimer(&timer);
    KeInitializeDpc(&dpc, queue_from_dpc, &r);
    KeSetTimer(&timer, ms(20), &dpc);
    KT_EQ((ULONG)wait_done(&r, 1000), STATUS_WAIT_0);
    KT_EQ(r.RanIn, t);
    KT_EQ(r.Arg1, DISPATCH_LEVEL);           /* it was queued at DISPATCH_LEVEL */
    KT_EQ(r.Irql, APC_LEVEL);
    KeSetEvent(&go, 0, FALSE);
    KT_EQ((ULONG)join(t, 1000), STATUS_WAIT_0);
    KT_EQ((ULONG)waiter_status, STATUS_WAIT_0);
    KeDereferenceThread(t);
}

/* ---- a mutex owner gets none until it releases its last mutex ---- */
static KMUTEX mutex1, mutex2;
static KEVENT owner_go;
static volatile int runs_before_release, runs_after_first, runs_after_last;
static APC_REC owner_rec;

static void mutex_owner(PVOID unused)
{
    UNREFERENCED_PARAMETER(unused);
    KeWaitForSingleObject(&mutex1, Executive, KernelMode, FALSE, NULL);
    KeWaitForSingleObject(&mutex2, Executive, KernelMode, FALSE, NULL);
    KeWaitForSingleObject(&mutex2, Executive, KernelMode, FALSE, NULL);   /* recursively */
    KeWaitForSingleObject(&owner_go, Executive, KernelMode, FALSE, NULL); /* the APC arrives here */
    runs_before_release = owner_rec.Runs;
    KeReleaseMutex(&mutex2, FALSE);
    KeReleaseMutex(&mutex2, FALSE);
    runs_after_first = owner_rec.Runs;
    KeReleaseMutex(&mutex1, FALSE);   /* the last one: it runs in here */
    runs_after_last = owner_rec.Runs;
}

KTEST(apc, a_mutex_owner_gets_it_after_its_last_release)
{
    KeInitializeMutex(&mutex1, 0);
    KeInitializeMutex(&mutex2, 0);
    KeInitializeEvent(&owner_go, NotificationEvent, FALSE);
    runs_before_release = runs_after_first = runs_after_last = -1;
    PKTHREAD t = KeCreateSystemThread(mutex_owner, NULL, KI_DEFAULT_PRIORITY, "apcmutex");
    KT_ASSERT(t != NULL);
    sleep_ms(20);
    KT_EQ(t->MutexCount, 3);
    KT_EQ(t->State, ThreadWaiting);
    rec_init(&owner_rec, t, FALSE);
    KT_ASSERT(KeInsertQueueApc(&owner_rec.Apc, NULL, NULL, 0));
    KT_EQ((ULONG)wait_done(&owner_rec, 50), STATUS_TIMEOUT);   /* held off: the wait was not even woken */
    KT_EQ(t->State, ThreadWaiting);
    KT_ASSERT(t->KernelApcPending);
    KeSetEvent(&owner_go, 0, FALSE);
    KT_EQ((ULONG)join(t, 1000), STATUS_WAIT_0);
    KT_EQ(runs_before_release, 0);   /* not when its wait ended either: it still owned the mutexes */
    KT_EQ(runs_after_first, 0);      /* one mutex left */
    KT_EQ(runs_after_last, 1);
    KT_EQ(owner_rec.RanIn, t);
    KT_EQ(t->MutexCount, 0);
    KeDereferenceThread(t);
}

/* ---- a guarded region, and the queue operations ---- */
KTEST(apc, a_guarded_region_holds_it_off)
{
    static APC_REC r;
    PKTHREAD me = KeGetCurrentThread();
    rec_init(&r, me, FALSE);
    KT_ASSERT(!KeAreAllApcsDisabled());
    KeEnterGuardedRegion();
    KeEnterGuardedRegion();
    KT_ASSERT(KeAreAllApcsDisabled());
    KT_ASSERT(KeInsertQueueApc(&r.Apc, NULL, NULL, 0));
    KT_EQ(r.Runs, 0);                 /* not at once, as it would be outside the region */
    sleep_ms(10);                     /* nor in a wait */
    KT_EQ(r.Runs, 0);
    KeLeaveGuardedRegion();
    KT_EQ(r.Runs, 0);                 /* still one level in */
    KeLeaveGuardedRegion();
    KT_EQ(r.Runs, 1);                 /* the region's end delivers */
    KT_EQ(r.RanIn, me);
    KT_ASSERT(!me->KernelApcPending);
    /* Outside any region, queued to itself at PASSIVE_LEVEL: runs now. */
    KT_ASSERT(KeInsertQueueApc(&r.Apc, NULL, NULL, 0));
    KT_EQ(r.Runs, 2);
}

KTEST(apc, insert_twice_remove_and_a_dead_thread)
{
    static APC_REC r;
    PKTHREAD me = KeGetCurrentThread();
    rec_init(&r, me, FALSE);
    KeEnterGuardedRegion();
    KT_ASSERT(KeInsertQueueApc(&r.Apc, NULL, NULL, 0));
    KT_ASSERT(!KeInsertQueueApc(&r.Apc, NULL, NULL, 0));   /* already queued */
    KT_ASSERT(r.Apc.Inserted);
    KT_ASSERT(KeRemoveQueueApc(&r.Apc));
    KT_ASSERT(!KeRemoveQueueApc(&r.Apc));                  /* not queued any more */
    KT_ASSERT(!me->KernelApcPending);
    KeLeaveGuardedRegion();
    KT_EQ(r.Runs, 0);                                      /* removed: never ran */
    /* A thread that has ended takes none. */
    PKTHREAD t = start_waiter(1, TRUE);
    KT_ASSERT(t != NULL);
    KT_EQ((ULONG)join(t, 1000), STATUS_WAIT_0);
    rec_init(&r, t, TRUE);
    KT_ASSERT(!KeInsertQueueApc(&r.Apc, NULL, NULL, 0));
    KT_EQ(r.Rundowns, 0);
    KeDereferenceThread(t);
}

/* ---- attached: not until it is back in its own process ---- */
KTEST(apc, an_attached_thread_gets_it_after_detaching)
{
    static APC_REC r;
    PEPROCESS p, saved;
    KT_EQ((ULONG)PsCreateProcess("child", "child sleep 600000", NULL, &p), 0);
    PKTHREAD me = KeGetCurrentThread();
    rec_init(&r, me, FALSE);
    KeStackAttachProcess(p, &saved);
    BOOLEAN disabled = KeAreAllApcsDisabled();
    BOOLEAN queued = KeInsertQueueApc(&r.Apc, NULL, NULL, 0);
    sleep_ms(10);
    int runs_attached = r.Runs;
    KeUnstackDetachProcess(&saved);
    KT_ASSERT(disabled);
    KT_ASSERT(queued);
    KT_EQ(runs_attached, 0);
    KT_EQ(r.Runs, 1);                         /* the detach delivered it */
    KT_EQ(r.Process, &PsInitialSystemProcess);  /* in its own process */
    PsTerminateProcess(p, STATUS_SUCCESS);
    KT_EQ((ULONG)KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
    PsDereferenceProcess(p);
    sleep_ms(2);
}

/* ---- rundown at thread exit ---- */
static KEVENT exit_go;
static void exits_guarded(PVOID unused)
{
    UNREFERENCED_PARAMETER(unused);
    KeEnterGuardedRegion();   /* ends inside it, as an exiting process's thread does */
    KeWaitForSingleObject(&exit_go, Executive, KernelMode, FALSE, NULL);
}

KTEST(apc, still_queued_at_thread_exit_is_run_down)
{
    static APC_REC with, without;
    KeInitializeEvent(&exit_go, NotificationEvent, FALSE);
    PKTHREAD t = KeCreateSystemThread(exits_guarded, NULL, KI_DEFAULT_PRIORITY, "apcexit");
    KT_ASSERT(t != NULL);
    sleep_ms(20);
    rec_init(&with, t, TRUE);
    rec_init(&without, t, FALSE);
    KT_ASSERT(KeInsertQueueApc(&with.Apc, NULL, NULL, 0));
    KT_ASSERT(KeInsertQueueApc(&without.Apc, NULL, NULL, 0));
    KT_EQ(t->State, ThreadWaiting);            /* a guarded region: not woken */
    KeSetEvent(&exit_go, 0, FALSE);
    KT_EQ((ULONG)join(t, 1000), STATUS_WAIT_0);
    KT_EQ(with.Runs, 0);                       /* never delivered */
    KT_EQ(with.Rundowns, 1);                   /* given back to its owner */
    KT_ASSERT(!with.Apc.Inserted);
    KT_EQ(without.Runs, 0);                    /* no rundown routine: just taken off */
    KT_ASSERT(!without.Apc.Inserted);
    KT_ASSERT(!KeInsertQueueApc(&with.Apc, NULL, NULL, 0));   /* and none after */
    KeDereferenceThread(t);
}

/* ---- only special kernel APCs ---- */
static void some_normal_routine(PVOID c, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(c);
    UNREFERENCED_PARAMETER(a1);
    UNREFERENCED_PARAMETER(a2);
}

KTEST_BUGCHECK(apc, a_normal_routine_is_refused, APC_INDEX_MISMATCH, KT_ANY, KT_ANY, KernelMode, 1)
{
    static KAPC apc;
    KtExpectParam(1, (uint64_t)&apc);
    KtExpectParam(2, (uint64_t)some_normal_routine);
    KeInitializeApc(&apc, KeGetCurrentThread(), OriginalApcEnvironment, record_apc, NULL, some_normal_routine,
                    KernelMode, NULL);
}

KTEST_BUGCHECK(apc, a_user_mode_apc_is_refused, APC_INDEX_MISMATCH, KT_ANY, 0, UserMode, 1)
{
    static KAPC apc;
    KtExpectParam(1, (uint64_t)&apc);
    KeInitializeApc(&apc, KeGetCurrentThread(), OriginalApcEnvironment, record_apc, NULL, NULL, UserMode, NULL);
}

KTEST_BUGCHECK(apc, leaving_a_guarded_region_never_entered, APC_INDEX_MISMATCH, KT_ANY, 0, 0, 5)
{
    KtExpectParam(1, (uint64_t)KeGetCurrentThread());
    KeLeaveGuardedRegion();
}

/* ---- user threads: on the way back to ring 3, and in user-mode waits ---- */
static PEPROCESS start_child(const char *cmdline)
{
    PEPROCESS p;
    if (!NT_SUCCESS(PsCreateProcess("child", cmdline, NULL, &p)))
        return NULL;
    sleep_ms(100);   /* it starts and reaches its loop or its sleep */
    return p;
}

static NTSTATUS stop_child(PEPROCESS p)
{
    PsTerminateProcess(p, STATUS_SUCCESS);
    LARGE_INTEGER t = ms(5000);
    NTSTATUS s = KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &t);
    PsDereferenceProcess(p);
    sleep_ms(2);   /* its stack is reaped */
    return s;
}

/* The child loops in ring 3 and never calls the kernel: the APC can only
 * be delivered on the way back from an interrupt (the clock's). */
KTEST(apc, delivered_on_return_to_ring3_from_an_interrupt)
{
    static APC_REC r;
    PEPROCESS p = start_child("child spin");
    KT_ASSERT(p != NULL);
    KT_ASSERT(!p->Exiting);
    PKTHREAD t = p->Thread;
    rec_init(&r, t, TRUE);
    ULONG64 calls = KiSystemCalls;
    KT_ASSERT(KeInsertQueueApc(&r.Apc, NULL, NULL, 0));
    NTSTATUS s = wait_done(&r, 2000);
    KT_EQ((ULONG)stop_child(p), STATUS_WAIT_0);
    KT_EQ((ULONG)s, STATUS_WAIT_0);
    KT_EQ(r.Runs, 1);
    KT_EQ(r.Rundowns, 0);
    KT_EQ(r.RanIn, t);
    KT_EQ(r.Process, p);                 /* in its process's address space */
    KT_EQ(r.Irql, APC_LEVEL);
    KT_EQ(r.SystemCalls, calls);         /* no system call came in between */
}

/* Asleep in NtDelayExecution (a user-mode wait): run, and sleep on. */
KTEST(apc, interrupts_a_user_mode_wait_which_goes_on)
{
    static APC_REC r;
    PEPROCESS p = start_child("child sleep 600000");
    KT_ASSERT(p != NULL);
    PKTHREAD t = p->Thread;
    KT_EQ(t->State, ThreadWaiting);
    rec_init(&r, t, TRUE);
    KT_ASSERT(KeInsertQueueApc(&r.Apc, NULL, NULL, 0));
    NTSTATUS s = wait_done(&r, 2000);
    LARGE_INTEGER brief = ms(50);
    NTSTATUS still = KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &brief);
    KT_EQ((ULONG)stop_child(p), STATUS_WAIT_0);
    KT_EQ((ULONG)s, STATUS_WAIT_0);
    KT_EQ((ULONG)still, STATUS_TIMEOUT);  /* the sleep was not cut short */
    KT_EQ(r.RanIn, t);
    KT_EQ(r.Process, p);
    KT_EQ(r.Rundowns, 0);
}

/* A user-mode wait that ends because the process is being terminated
 * still runs the APCs queued meanwhile before it returns: the APC runs
 * (not its rundown), before the process starts exiting. */
KTEST(apc, an_aborted_user_wait_delivers_first)
{
    static APC_REC r;
    PEPROCESS p = start_child("child sleep 600000");
    KT_ASSERT(p != NULL);
    PKTHREAD t = p->Thread;
    KT_EQ(t->State, ThreadWaiting);
    rec_init(&r, t, TRUE);
    /* Terminate first (the wait ends with STATUS_PROCESS_IS_TERMINATING
     * and the thread is ready), then queue: nothing wakes it for the APC,
     * it is simply pending when the wait returns. */
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    PsTerminateProcess(p, 0x55);
    BOOLEAN queued = KeInsertQueueApc(&r.Apc, NULL, NULL, 0);
    KTHREAD_STATE state = (KTHREAD_STATE)t->State;
    KeLowerIrql(old);
    LARGE_INTEGER to = ms(5000);
    KT_EQ((ULONG)KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &to), STATUS_WAIT_0);
    KT_ASSERT(queued);
    KT_EQ(state, ThreadReady);
    KT_EQ(r.Runs, 1);
    KT_EQ(r.Rundowns, 0);
    KT_ASSERT(!r.TargetExiting);          /* in the wait, not later on the way out */
    KT_EQ(r.RanIn, t);
    KT_EQ(r.Process, p);
    KT_EQ((ULONG)p->ExitStatus, 0x55);
    PsDereferenceProcess(p);
    sleep_ms(2);
}

/* ---- cost ---- */
static KEVENT bench_stop;
static void bench_waiter(PVOID unused)
{
    UNREFERENCED_PARAMETER(unused);
    KeWaitForSingleObject(&bench_stop, Executive, KernelMode, FALSE, NULL);
}

static void bench_apc(PKAPC apc, PKNORMAL_ROUTINE *n, PVOID *c, PVOID *a1, PVOID *a2)
{
    UNREFERENCED_PARAMETER(n);
    UNREFERENCED_PARAMETER(c);
    UNREFERENCED_PARAMETER(a2);
    UNREFERENCED_PARAMETER(apc);
    KeSetEvent((PKEVENT)*a1, 0, FALSE);
}

/* Queue one APC to a thread asleep on an event and wait until it ran:
 * the insert, the wake-up, two switches, the delivery and its re-wait. */
KBENCH(apc, insert_and_deliver_to_a_waiting_thread)
{
    enum { N = 200 };
    static KAPC apc;
    static KEVENT ran;
    KeInitializeEvent(&bench_stop, NotificationEvent, FALSE);
    KeInitializeEvent(&ran, SynchronizationEvent, FALSE);
    PKTHREAD t = KeCreateSystemThread(bench_waiter, NULL, KI_DEFAULT_PRIORITY, "apcbench");
    KT_ASSERT(t != NULL);
    sleep_ms(10);
    KeInitializeApc(&apc, t, OriginalApcEnvironment, bench_apc, NULL, NULL, KernelMode, NULL);
    ULONG64 n0 = KeQueryInterruptTime();
    uint64_t t0 = rdtsc();
    for (int i = 0; i < N; i++) {
        KT_ASSERT(KeInsertQueueApc(&apc, &ran, NULL, 0));
        KeWaitForSingleObject(&ran, Executive, KernelMode, FALSE, NULL);
    }
    uint64_t t1 = rdtsc();
    ULONG64 n1 = KeQueryInterruptTime();
    KeSetEvent(&bench_stop, 0, FALSE);
    join(t, 1000);
    KeDereferenceThread(t);
    KtBenchReport("cycles_per_apc", (t1 - t0) / N, "cycles");
    KtBenchReport("ns_per_apc", (n1 - n0) * 100 / N, "ns");
}
