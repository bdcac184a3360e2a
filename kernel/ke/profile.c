/*
 * A sampling profiler: "where does the kernel spend its time?". A
 * periodic interrupt looks at the RIP it interrupted and counts it - ring
 * 3, the idle thread's HLT, or a kernel function, found in the kernel's own
 * symbol table (kernel/kd/ksym.c) - and the report lists the functions by
 * samples. The counts are statistics, not a trace: N samples of a function
 * are N x (1/HZ) seconds spent there, give or take sqrt(N).
 *
 * The clock is the PIT's channel 0 (kernel/hal/pit.c), not the local APIC
 * timer: that one is the scheduler's 100 Hz tick, and running it faster
 * with only every Nth tick passed on would put the profiler inside the
 * scheduler's clock and its samples in step with it. The PIT is a clock of
 * its own, and off (prof= absent, nothing started) it is not armed at all:
 * no interrupt, no cost.
 *
 * Its vector is in priority class 15, above every device IRQL and the
 * clock's (13): a sample interrupts ISRs and DPCs too. What it cannot
 * interrupt, and so where the samples are biased:
 * - Code running with interrupts off (CLI, an interrupt gate's entry, the
 *   trap stubs, the idle loop's CLI...STI;HLT) or at HIGH_LEVEL (CR8 15):
 *   the interrupt waits, and the sample lands on the instruction after the
 *   STI, POPFQ or CR8 write that lets it in - time spent with interrupts
 *   off is charged to whoever turns them back on.
 * - Under TCG, QEMU checks for an interrupt only between translated
 *   blocks, so a sample names the first instruction of the block that
 *   would have run next: the cost of a block is charged to its successor
 *   (the last block of a function, the one that ends in RET, to the
 *   caller). Time QEMU spends inside a helper - an MMIO write such as a
 *   virtio notify or an EOI, a CR3 or CR8 write, INVLPG - shows up on the
 *   instruction after the one that called it: the hot-address list says
 *   which.
 * - Under `-icount`, QEMU's virtual clock advances with the guest's
 *   instructions, so the PIT fires every HZ-th of a second of
 *   *instructions*: the profile is then one of instructions executed, not
 *   of host time (helpers cost nothing there).
 *
 * Memory: one counter per symbol and a fixed table of hot addresses, both
 * static: nothing is allocated, nothing can fail, and an interrupt at any
 * IRQL can count without a lock (interrupts are off in the handler, and
 * there is one CPU).
 */
#include "kernel/ke/ki.h"
#include "kernel/kd/kd.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"
#include "kernel/ntsyscall.h"
#include "kernel/rtl/rtl.h"

/* Symbols counted one by one; a kernel with more counts the rest as
 * unresolved (ke.profile.symbol_table_fits checks the build). */
#define MAX_SYMBOLS 8192
/* Hot addresses: open addressing over a power of two; a sample looks at
 * PROBES slots at most, then is counted as dropped. */
#define HOT_SLOTS 4096
#define HOT_PROBES 8

static ULONG fn_samples[MAX_SYMBOLS];
static struct hot_slot {
    ULONG_PTR rip;
    ULONG count;
} hot[HOT_SLOTS];
static SYSTEM_PROFILE_T totals;
static ULONG64 running_since;   /* TSC at the start (or the clear) of this run */
static ULONG boot_hz;
static ULONG64 interrupts_taken;   /* every sample interrupt, counted or not (tests) */

ULONG64 KiProfileInterruptsTaken(void) { return interrupts_taken; }

ULONG KeProfileMaxSymbols(void) { return MAX_SYMBOLS; }

static void count_hot(ULONG_PTR rip)
{
    ULONG h = (ULONG)((rip * 0x9E3779B97F4A7C15ull) >> 52) & (HOT_SLOTS - 1);
    for (ULONG i = 0; i < HOT_PROBES; i++) {
        struct hot_slot *s = &hot[(h + i) & (HOT_SLOTS - 1)];
        if (s->rip == rip || s->rip == 0) {
            s->rip = rip;
            s->count++;
            return;
        }
    }
    totals.AddressesDropped++;
}

/* The sample, from KiInterruptDispatch with interrupts still off (the
 * gate cleared IF): nothing here may wait, take a lock or touch pageable
 * memory. HALTED: the idle thread's HLT was interrupted. */
void KiProfileInterrupt(PKTRAP_FRAME f, BOOLEAN halted)
{
    interrupts_taken++;
    if (totals.Running) {   /* off: a last sample still pending at the stop */
        totals.Samples++;
        if (f->cs & 3) {
            totals.User++;
        } else if (halted) {
            totals.Idle++;
        } else {
            totals.Kernel++;
            totals.KernelByIrql[KeGetCurrentIrql() & 15]++;
            LONG i = KdSymbolIndex(f->rip);
            if (i < 0 || i >= MAX_SYMBOLS)
                totals.Unresolved++;
            else
                fn_samples[i]++;
            count_hot(f->rip);
        }
    }
    HalSendEoi();
}

NTSTATUS KeStartProfile(ULONG hz)
{
    if (!hz)
        hz = boot_hz ? boot_hz : KE_PROFILE_DEFAULT_HZ;
    if (hz < KE_PROFILE_MIN_HZ || hz > KE_PROFILE_MAX_HZ)
        return STATUS_INVALID_PARAMETER;
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    if (totals.Running)
        totals.Cycles += rdtsc() - running_since;
    totals.Hz = HalStartProfileTimer(hz, KI_PROFILE_VECTOR);
    totals.Running = 1;
    running_since = rdtsc();
    KeLowerIrql(old);
    return STATUS_SUCCESS;
}

void KeStopProfile(void)
{
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    if (totals.Running) {
        HalStopProfileTimer();
        totals.Cycles += rdtsc() - running_since;
        totals.Running = 0;
    }
    KeLowerIrql(old);
}

BOOLEAN KeProfileRunning(void)
{
    return totals.Running != 0;
}

void KeClearProfile(void)
{
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    ULONG running = totals.Running, hz = totals.Hz;
    memset(fn_samples, 0, sizeof(fn_samples));
    memset(hot, 0, sizeof(hot));
    memset(&totals, 0, sizeof(totals));
    totals.Running = running;
    totals.Hz = hz;
    running_since = rdtsc();
    KeLowerIrql(old);
}

void KeQueryProfile(SYSTEM_PROFILE_T *out)
{
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    *out = totals;
    if (totals.Running)
        out->Cycles += rdtsc() - running_since;
    KeLowerIrql(old);
}

ULONG KeQueryProfileFunction(const char *name)
{
    ULONG_PTR va = KdSymbolAddress(name);
    LONG i = va ? KdSymbolIndex(va) : -1;
    return i < 0 || i >= MAX_SYMBOLS ? 0 : fn_samples[i];
}

/* Does (count a, index ia) come after (b, ib) in the report's order:
 * most samples first, ties by index (address order)? */
static BOOLEAN after(ULONG a, ULONG ia, ULONG b, ULONG ib)
{
    return a < b || (a == b && ia > ib);
}

/* "12.3%" of PART in WHOLE, in tenths, without floating point. */
static void percent(char *buf, size_t size, ULONG64 part, ULONG64 whole)
{
    ULONG64 t = whole ? (part * 1000 + whole / 2) / whole : 0;
    ksnprintf(buf, size, "%llu.%llu%%", (unsigned long long)(t / 10), (unsigned long long)(t % 10));
}

/* The report: totals, the TOP functions, the TOP_ADDR hottest addresses.
 * Each list is picked by repeated selection (TOP passes over the table),
 * so the report needs no memory of its own; it is not meant for a hot
 * path. Counting goes on meanwhile if the profiler runs: stop it first
 * for a report of a region alone. */
void KePrintProfile(ULONG top, ULONG top_addr)
{
    SYSTEM_PROFILE_T t;
    KeQueryProfile(&t);
    char a[16], b[16], c[16];
    ULONG64 per_ms = HalTscPerMs();
    ULONG64 ms = per_ms ? t.Cycles / per_ms : 0;
    kprintf("prof: %llu samples at %u Hz over %llu ms (%llu TSC cycles)%s\n", (unsigned long long)t.Samples,
            t.Hz, (unsigned long long)ms, (unsigned long long)t.Cycles, t.Running ? ", still running" : "");
    if (!t.Samples)
        return;
    /* Fewer samples than HZ x time: some were held off for longer than a
     * period (interrupts off, CR8 at HIGH_LEVEL, or QEMU busy in a helper
     * holding its big lock, which keeps its timers from firing) and two
     * edges became one. Those are busy time, so the idle share reads high
     * by about the shortfall. */
    ULONG64 expected = per_ms ? t.Cycles * t.Hz / (per_ms * 1000) : 0;
    if (expected > t.Samples)
        kprintf("prof: %llu samples expected at that rate: %llu (%llu.%llu%%) held off past a period and merged\n",
                (unsigned long long)expected, (unsigned long long)(expected - t.Samples),
                (unsigned long long)((expected - t.Samples) * 100 / expected),
                (unsigned long long)((expected - t.Samples) * 1000 / expected % 10));
    percent(a, sizeof(a), t.Kernel, t.Samples);
    percent(b, sizeof(b), t.User, t.Samples);
    percent(c, sizeof(c), t.Idle, t.Samples);
    kprintf("prof: kernel %llu (%s), user %llu (%s), idle %llu (%s)\n", (unsigned long long)t.Kernel, a,
            (unsigned long long)t.User, b, (unsigned long long)t.Idle, c);
    static const char *const irql_names[16] = { "PASSIVE", "APC", "DISPATCH", "3", "4", "5", "6", "7", "8",
                                               "9", "10", "11", "12", "CLOCK", "14", "HIGH" };
    char line[200];
    int n = ksnprintf(line, sizeof(line), "prof: kernel by IRQL:");
    for (int i = 0; i < 16; i++) {
        if (!t.KernelByIrql[i])
            continue;
        percent(a, sizeof(a), t.KernelByIrql[i], t.Kernel);
        n += ksnprintf(line + n, sizeof(line) - (size_t)n, " %s %s", irql_names[i], a);
    }
    kprintf("%s\n", line);
    if (t.Unresolved || t.AddressesDropped)
        kprintf("prof: kernel samples at no symbol %llu, not in the address table %llu\n",
                (unsigned long long)t.Unresolved, (unsigned long long)t.AddressesDropped);

    kprintf("prof: %8s %7s %7s  %s\n", "samples", "%all", "%kernel", "function");
    ULONG n_syms = KiSymbolCount < MAX_SYMBOLS ? (ULONG)KiSymbolCount : MAX_SYMBOLS;
    ULONG prev = ~0u, prev_i = 0;
    for (ULONG k = 0; k < top; k++) {
        ULONG best = 0, best_i = 0;
        BOOLEAN found = FALSE;
        for (ULONG i = 0; i < n_syms; i++) {
            ULONG v = fn_samples[i];
            if (!v || !after(v, i, prev, prev_i) || (found && !after(best, best_i, v, i)))
                continue;
            best = v, best_i = i, found = TRUE;
        }
        if (!found)
            break;
        percent(a, sizeof(a), best, t.Samples);
        percent(b, sizeof(b), best, t.Kernel);
        kprintf("prof: %8u %7s %7s  %s\n", best, a, b, KiSymbolTable[best_i].name);
        prev = best, prev_i = best_i;
    }

    kprintf("prof: hottest kernel addresses (the instruction a sample interrupted: after a helper, the one after it)\n");
    prev = ~0u, prev_i = 0;
    for (ULONG k = 0; k < top_addr; k++) {
        ULONG best = 0, best_i = 0;
        BOOLEAN found = FALSE;
        for (ULONG i = 0; i < HOT_SLOTS; i++) {
            ULONG v = hot[i].count;
            if (!v || !after(v, i, prev, prev_i) || (found && !after(best, best_i, v, i)))
                continue;
            best = v, best_i = i, found = TRUE;
        }
        if (!found)
            break;
        ULONG_PTR off;
        const char *name = KdLookupSymbol(hot[best_i].rip, &off);
        percent(a, sizeof(a), best, t.Samples);
        kprintf("prof: %8u %7s  %p %s+%#lx\n", best, a, (void *)hot[best_i].rip, name ? name : "?",
                (unsigned long)off);
        prev = best, prev_i = best_i;
    }
    kprintf("prof: end\n");
}

/* `prof=HZ` on the command line: armed from the boot on (the rate is
 * also what a PROFILE_START from ring 3 gets). */
BOOLEAN KiProfileArmedAtBoot;

void KiInitializeProfile(void)
{
    const char *opt = KeGetOption("prof");
    ULONG64 hz;
    if (opt && RtlParseUlong64(opt, &hz) && hz) {
        if (hz > KE_PROFILE_MAX_HZ || hz < KE_PROFILE_MIN_HZ) {
            kprintf("prof: %llu Hz is outside %u..%u; the profiler stays off\n", (unsigned long long)hz,
                    KE_PROFILE_MIN_HZ, KE_PROFILE_MAX_HZ);
        } else {
            boot_hz = (ULONG)hz;
            KeStartProfile(boot_hz);
            kprintf("prof: sampling at %u Hz (PIT channel 0, vector %#x)\n", totals.Hz, KI_PROFILE_VECTOR);
        }
    }
    /* What the start left, read back from the IOAPIC: without prof= the
     * input must be masked (ke.profile.stopped_or_never_started_...). */
    KiProfileArmedAtBoot = HalProfileTimerArmed();
}
