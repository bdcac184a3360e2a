/*
 * Boot phases, timed: each step of the kernel's start records the time
 * stamp counter when it ends, and `boot.phases` on the command line prints
 * the table once the system is up (docs/performance.md "Boot").
 *
 * The TSC is read, not a clock: it counts from the CPU's reset, so the
 * first mark also says what the firmware and the loader took. Under TCG it
 * reads the host's TSC (noisy on a loaded host); with QEMU's -icount
 * shift=0 it counts executed instructions instead, which is the figure to
 * compare before and after a change (docs/performance.md, "Measuring").
 * A mark costs one RDTSC and a store: cheap enough to stay in every boot.
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/x86.h"

#define KI_BOOT_PHASES_MAX 24

static struct { const char *name; uint64_t tsc; } phases[KI_BOOT_PHASES_MAX];
static ULONG phase_count;

void KeMarkBootPhase(const char *name)
{
    if (phase_count < KI_BOOT_PHASES_MAX)
        phases[phase_count++] = (typeof(phases[0])){ name, rdtsc() };
}

void KiPrintBootPhases(void)
{
    if (!KeOptionEnabled("boot.phases") || !phase_count)
        return;
    /* One line each, "boot: phase NAME CYCLES (TOTAL since reset)":
     * scripts/bootphases.py reads them. */
    uint64_t prev = 0;
    for (ULONG i = 0; i < phase_count; i++) {
        kprintf("boot: phase %s %llu (%llu since reset)\n", phases[i].name,
                (unsigned long long)(phases[i].tsc - prev), (unsigned long long)phases[i].tsc);
        prev = phases[i].tsc;
    }
}
