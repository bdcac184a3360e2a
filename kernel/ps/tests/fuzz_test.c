/*
 * fuzz.*: the seeded system-call fuzzer (user/tests/fuzz.c) run from the
 * kernel, so the runner's leak check brackets it: every frame, pool block,
 * system PTE and hyperspace slot the fuzz process and its children took
 * must be back once they have ended, and the system must still run
 * programs. `make test` runs FUZZ_DEFAULT_CALLS calls from a fixed seed;
 * `make fuzz N=CALLS SEED=S` runs only this, as long as asked
 * (command-line options fuzz.n= and fuzz.seed=). The seed is printed, so
 * a failure can be replayed.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define FUZZ_DEFAULT_SEED "0x8d105eed"
#define FUZZ_DEFAULT_CALLS "3000"

/* Processes still on PsActiveProcessHead. */
static ULONG live_processes(void)
{
    ULONG n = 0;
    KIRQL old = KiAcquireDispatcherLock();   /* as NtQuerySystemInformation reads the list */
    for (PLIST_ENTRY l = PsActiveProcessHead.Flink; l != &PsActiveProcessHead; l = l->Flink)
        n++;
    KiReleaseDispatcherLock(old);
    return n;
}

/* Children whose handles the fuzzer closed (or that it asked to end) may
 * still be running when it exits; each ends by itself within a few tens of
 * milliseconds. Wait for them (bounded) before the leak check counts. */
static void wait_for_children(ULONG before)
{
    for (int i = 0; i < 1000 && live_processes() > before; i++) {
        LARGE_INTEGER d = { -KI_MS(10) };
        KeDelayExecutionThread(KernelMode, FALSE, &d);
    }
}

KTEST(fuzz, random_system_calls_leave_nothing_behind)
{
    const char *seed = KeGetOption("fuzz.seed");
    const char *n = KeGetOption("fuzz.n");
    const char *huge = KeGetOption("fuzz.huge");     /* huge allocations: on unless fuzz.huge=0 */
    const char *trace = KeGetOption("fuzz.trace");   /* print each call from this one on */
    char cmd[160];
    if (!seed || !*seed)
        seed = FUZZ_DEFAULT_SEED;
    if (!n || !*n)
        n = FUZZ_DEFAULT_CALLS;
    ksnprintf(cmd, sizeof(cmd), "fuzz seed=%s n=%s%s%s%s", seed, n, huge && huge[0] == '0' ? "" : " huge=1",
              trace ? " trace=" : "", trace ? trace : "");
    kprintf("fuzz: \"%s\" (replay: make fuzz SEED=%s N=%s)\n", cmd, seed, n);
    ULONG before = live_processes();
    PEPROCESS p;
    KT_EQ((ULONG)PsCreateProcess("fuzz", cmd, NULL, &p), (ULONG)STATUS_SUCCESS);
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    NTSTATUS status = p->ExitStatus;
    PsDereferenceProcess(p);
    KT_EQ((ULONG)status, 0);   /* 1: it printed a [fuzz] FAIL line; an NTSTATUS: it crashed */
    wait_for_children(before);
    KT_EQ(live_processes(), before);   /* every child ended (none is stuck) */
    /* The fuzzer may have started the profiler (NtSetSystemInformation):
     * leave it as the boot had it, off without prof=. */
    if (!KeGetOption("prof")) {
        KeStopProfile();
        KeClearProfile();
    }

    /* and the system still runs programs */
    KT_EQ((ULONG)PsCreateProcess("hello", "hello after-the-fuzz", NULL, &p), (ULONG)STATUS_SUCCESS);
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    status = p->ExitStatus;
    PsDereferenceProcess(p);
    KT_EQ((ULONG)status, 0);
}
