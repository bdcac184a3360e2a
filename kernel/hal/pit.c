/*
 * The 8254 PIT's channel 0 as the profiler's clock (kernel/ke/profile.c).
 * The local APIC timer stays the scheduler's 100 Hz clock; the PIT is a
 * second, independent oscillator (1.193182 MHz), so its samples do not
 * fall in step with the clock tick, and turning it on or off touches
 * nothing the scheduler relies on. Channel 2 calibrates the APIC timer at
 * boot (apic.c); channel 0 is free once the firmware's 18.2 Hz tick is no
 * longer wanted (the 8259 that took it is masked, kmain).
 *
 * Channel 0's output is ISA IRQ 0, which reaches the IOAPIC on input 2,
 * not 0: every PC chipset since the IOAPIC wires it so, and QEMU's pc
 * machine does too (its ACPI MADT has the interrupt source override
 * IRQ 0 -> GSI 2, edge, active high). mdlos reads no ACPI, so it is
 * written down here, as the IOAPIC's address is in apic.c.
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"

#define PIT_HZ        1193182u
#define PIT_CH0       0x40
#define PIT_COMMAND   0x43
#define PIT_IRQ0_GSI  2

ULONG HalStartProfileTimer(ULONG hz, ULONG vector)
{
    ULONG divisor = (PIT_HZ + hz / 2) / hz;
    if (divisor < 2)
        divisor = 2;
    if (divisor > 0xFFFF)
        divisor = 0xFFFF;
    /* Mode 2, the rate generator: the output drops for one input clock
     * every DIVISOR clocks, an edge per period, and reloads by itself. */
    outb(PIT_COMMAND, 0x34);            /* channel 0, low then high byte, mode 2, binary */
    outb(PIT_CH0, divisor & 0xFF);
    outb(PIT_CH0, divisor >> 8);
    HalIoApicRoute(PIT_IRQ0_GSI, vector, FALSE, FALSE);
    return (PIT_HZ + divisor / 2) / divisor;
}

void HalStopProfileTimer(void)
{
    HalIoApicRoute(PIT_IRQ0_GSI, 0x30, FALSE, TRUE);   /* masked, as apic.c leaves an unused input */
    /* Mode 0 with a count of 1: one last edge (masked) and then the output
     * stays high - the channel counts on but never changes its output
     * again, so QEMU stops the timer behind it (mode 2 would keep waking
     * its I/O thread at the old rate with nobody listening). */
    outb(PIT_COMMAND, 0x30);
    outb(PIT_CH0, 1);
    outb(PIT_CH0, 0);
}

BOOLEAN HalProfileTimerArmed(void)
{
    return !(HalIoApicReadRoute(PIT_IRQ0_GSI) & (1u << 16));
}
