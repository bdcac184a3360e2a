/* The sampling profiler (kernel/ke/profile.c): samples land in the
 * function that was running, by the IRQL it ran at; what interrupts off
 * and HIGH_LEVEL hide; and off, nothing is armed. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "kernel/ke/ki.h"
#include "kernel/kd/kd.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"

/* Spin for MS milliseconds of TSC time in a function of its own, so that
 * its samples have a name to land on. */
static __attribute__((noinline)) void profile_test_spin(ULONG ms)
{
    ULONG64 end = rdtsc() + HalTscPerMs() * ms;
    while (rdtsc() < end)
        __asm__ volatile("" ::: "memory");
}

static void sleep_ms(LONG n)
{
    LARGE_INTEGER t = { -(LONGLONG)n * 10000 };
    KeDelayExecutionThread(KernelMode, FALSE, &t);
}

/* Spin MS at IRQL (interrupts off instead when IRQL is 0xFF) with the
 * profiler on at 2000 Hz from a clean count; the totals after. */
static void profile_spin(KIRQL irql, ULONG ms, SYSTEM_PROFILE_T *t)
{
    KeStopProfile();
    KeClearProfile();
    KT_EQ(KeStartProfile(2000), STATUS_SUCCESS);
    if (irql == 0xFF) {
        cli();
        profile_test_spin(ms);
        sti();
    } else {
        KIRQL old;
        KeRaiseIrql(irql, &old);
        profile_test_spin(ms);
        KeLowerIrql(old);
    }
    KeStopProfile();
    KeQueryProfile(t);
}

KTEST(profile, samples_land_in_the_function_that_spins)
{
    SYSTEM_PROFILE_T t;
    profile_spin(PASSIVE_LEVEL, 200, &t);
    ULONG in_spin = KeQueryProfileFunction("profile_test_spin");
    /* About 400 samples in 200 ms; a loaded host merges some (the figure
     * is TCG's, not asserted), but a profiler that counts at all counts
     * dozens, and nearly all of them in the spin: the clock's ISR and the
     * start and stop are the rest. */
    KT_GE(t.Samples, 40);
    KT_EQ(t.User, 0);
    KT_GE((ULONG64)in_spin * 100, t.Kernel * 90);
    KT_GE((ULONG64)t.KernelByIrql[PASSIVE_LEVEL] * 100, t.Kernel * 90);
    KT_EQ(KeQueryProfileFunction("profile_test_spin"), in_spin);   /* stopped: nothing more counted */
    KeClearProfile();
    KT_EQ(KeQueryProfileFunction("profile_test_spin"), 0);
}

KTEST(profile, a_sample_at_dispatch_level_counts_there)
{
    SYSTEM_PROFILE_T t;
    profile_spin(DISPATCH_LEVEL, 100, &t);
    KT_GE(t.Kernel, 20);
    KT_GE((ULONG64)KeQueryProfileFunction("profile_test_spin") * 100, t.Kernel * 90);
    KT_GE((ULONG64)t.KernelByIrql[DISPATCH_LEVEL] * 100, t.Kernel * 90);
    KeClearProfile();
}

/* The bias the report warns about: with interrupts off, or at HIGH_LEVEL
 * (CR8 15 holds back class 15, the profiler's), the spin gets no sample
 * at all; the ones held back merge into one, taken when the level drops. */
KTEST(profile, interrupts_off_and_high_level_hide_the_spin)
{
    SYSTEM_PROFILE_T t;
    profile_spin(0xFF, 50, &t);
    KT_EQ(KeQueryProfileFunction("profile_test_spin"), 0);
    KT_LE(t.Samples, 3);
    profile_spin(HIGH_LEVEL, 50, &t);
    KT_EQ(KeQueryProfileFunction("profile_test_spin"), 0);
    KT_LE(t.Samples, 3);
    profile_spin(CLOCK_LEVEL, 50, &t);   /* the clock's level is below the profiler's: seen */
    KT_GE(KeQueryProfileFunction("profile_test_spin"), 10);
    KeClearProfile();
}

/* Stopped, the PIT's input is masked and no more sample interrupts come
 * (one already pending at the stop may). Without prof= on the command
 * line nothing was ever armed: the boot's default costs nothing. */
KTEST(profile, stopped_or_never_started_nothing_is_armed)
{
    if (!KeGetOption("prof"))
        KT_ASSERT(!KiProfileArmedAtBoot);
    KT_EQ(KeStartProfile(2000), STATUS_SUCCESS);
    KT_ASSERT(HalProfileTimerArmed());
    ULONG64 started = KiProfileInterruptsTaken();
    sleep_ms(30);
    KT_GT(KiProfileInterruptsTaken(), started);   /* armed, it interrupts, idle or not */
    KeStopProfile();
    KT_ASSERT(!HalProfileTimerArmed());
    ULONG64 stopped = KiProfileInterruptsTaken();
    sleep_ms(50);
    KT_LE(KiProfileInterruptsTaken(), stopped + 1);
    KeClearProfile();
    if (KeGetOption("prof"))
        KeStartProfile(0);   /* as the boot had it */
}

KTEST(profile, rates_outside_the_bounds_are_refused)
{
    KT_EQ(KeStartProfile(KE_PROFILE_MAX_HZ + 1), STATUS_INVALID_PARAMETER);
    KT_EQ(KeStartProfile(KE_PROFILE_MIN_HZ - 1), STATUS_INVALID_PARAMETER);
    KT_ASSERT(!KeProfileRunning() || KeGetOption("prof"));
}

/* Every function has its own counter (beyond the table's size they would
 * all be "unresolved"): the build must not outgrow it unnoticed. */
KTEST(profile, symbol_table_fits)
{
    KT_LE(KiSymbolCount, KeProfileMaxSymbols());
}
