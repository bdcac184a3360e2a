/*
 * The local APIC (one per CPU: its timer, end-of-interrupt, priority) and
 * the IOAPIC (routes device interrupt lines to vectors). The 8259 PICs were
 * masked at boot. Addresses: the local APIC's from the IA32_APIC_BASE MSR;
 * the IOAPIC at 0xFEC00000, where QEMU's PC puts it (ACPI's MADT would say
 * so on other machines; mdlos does not parse ACPI yet).
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"
#include "mm/mm.h"

#define LAPIC_ID        0x020
#define LAPIC_EOI       0x0B0
#define LAPIC_SVR       0x0F0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3E0
#define LVT_MASKED      (1u << 16)
#define LVT_PERIODIC    (1u << 17)

#define IOAPIC_PHYS 0xFEC00000ULL

static volatile ULONG *lapic;
static volatile ULONG *ioapic;
static ULONG ioapic_entries;
static ULONG lapic_ticks_per_10ms;
static ULONG64 tsc_per_ms;

static ULONG lapic_read(ULONG reg) { return lapic[reg / 4]; }
static void lapic_write(ULONG reg, ULONG v) { lapic[reg / 4] = v; }

static ULONG ioapic_read(ULONG reg)
{
    ioapic[0] = reg;          /* IOREGSEL, then the value through IOWIN (+0x10) */
    return ioapic[4];
}
static void ioapic_write(ULONG reg, ULONG v)
{
    ioapic[0] = reg;
    ioapic[4] = v;
}

void HalSendEoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}

/* Count local-APIC timer ticks and TSC cycles across 2 ms of the PIT
 * (channel 2, gate via port 0x61, whose bit 5 reports the channel's
 * output), five times, and keep the shortest window. Under TCG a busy
 * host can hold the vCPU thread back just as the PIT's output goes high:
 * that window's end is seen late and the clocks look faster than they are
 * (one 10 ms window read a 2.4 GHz TSC as 4.4 GHz, and every timeout came
 * out 80% long). All three clocks keep real time meanwhile, so a late end
 * can only lengthen a window: the shortest is the truest. */
static void calibrate(void)
{
    ULONG64 best_tsc = ~0ull;
    ULONG best_ticks = 0;
    for (int w = 0; w < 5; w++) {
        outb(0x61, (inb(0x61) & ~0x02) | 0x01);   /* gate on, speaker off */
        outb(0x43, 0xB0);                          /* channel 2, lo/hi byte, mode 0 */
        ULONG count = 1193182 / 500;               /* 2 ms */
        outb(0x42, count & 0xFF);
        outb(0x42, count >> 8);
        lapic_write(LAPIC_TIMER_DIV, 0x3);         /* divide by 16 */
        lapic_write(LAPIC_TIMER_INIT, 0xFFFFFFFF);
        ULONG64 t0 = rdtsc();
        while (!(inb(0x61) & 0x20))
            cpu_pause();
        ULONG64 t1 = rdtsc();
        ULONG elapsed = 0xFFFFFFFF - lapic_read(LAPIC_TIMER_CUR);
        lapic_write(LAPIC_TIMER_INIT, 0);
        if (t1 - t0 < best_tsc) {
            best_tsc = t1 - t0;
            best_ticks = elapsed;
        }
    }
    lapic_ticks_per_10ms = best_ticks ? best_ticks * 5 : 100000;
    tsc_per_ms = best_tsc / 2;
}

ULONG64 HalTscPerMs(void) { return tsc_per_ms; }

void HalStartClock(ULONG hz)
{
    lapic_write(LAPIC_TIMER_DIV, 0x3);
    lapic_write(LAPIC_LVT_TIMER, KI_CLOCK_VECTOR | LVT_PERIODIC);
    lapic_write(LAPIC_TIMER_INIT, lapic_ticks_per_10ms * 100 / hz);
}

BOOLEAN HalIoApicPresent(void) { return ioapic != NULL; }

/*
 * The polarity of a level-triggered input. A PCI INTx# wire is active low
 * at the device, and an IOAPIC input wired straight to one (GSI 16-23 on
 * other chipsets) is programmed active low. But on QEMU's pc machine the
 * PCI interrupts reach the IOAPIC through the PIIX3's PIRQ router, which
 * drives them onto ISA IRQ lines 5, 9, 10 and 11 - and QEMU's ACPI MADT has
 * an interrupt source override for each of those: level-triggered, ACTIVE
 * HIGH (flags 0xd; read from this QEMU 7.2's tables). mdlos parses no ACPI,
 * so the overrides are written down here, as the IOAPIC's address is.
 * (TCG's IOAPIC ignores the polarity bit; KVM's honours it, and the wrong
 * polarity there is a line that always looks asserted: an interrupt storm.)
 */
static BOOLEAN level_active_high(ULONG gsi)
{
    return gsi == 5 || gsi == 9 || gsi == 10 || gsi == 11;
}

void HalIoApicRoute(ULONG gsi, ULONG vector, BOOLEAN level, BOOLEAN masked)
{
    ASSERT(gsi < ioapic_entries);
    /* Fixed delivery to this CPU's APIC, physical destination; bit 15
     * level-triggered, bit 13 active low (see level_active_high); edge
     * lines (ISA) are active high. */
    ULONG lo = vector | (level ? (1u << 15) | (level_active_high(gsi) ? 0 : 1u << 13) : 0) |
               (masked ? LVT_MASKED : 0);
    ioapic_write(0x10 + 2 * gsi + 1, (lapic_read(LAPIC_ID) >> 24) << 24);
    ioapic_write(0x10 + 2 * gsi, lo);
}

ULONG64 HalIoApicReadRoute(ULONG gsi)
{
    if (!ioapic || gsi >= ioapic_entries)
        return 0;
    /* IOREGSEL/IOWIN are a pair too: at HIGH_LEVEL, as KeConnectInterrupt
     * programs them, so nothing on this CPU moves IOREGSEL in between. */
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    ULONG64 v = ioapic_read(0x10 + 2 * gsi) | (ULONG64)ioapic_read(0x10 + 2 * gsi + 1) << 32;
    KeLowerIrql(old);
    return v;
}

void HalGetMessageSignaledInterrupt(ULONG vector, PULONG64 address, PULONG data)
{
    /* Intel SDM vol. 3, "Message Signalled Interrupts": address bits 31:20
     * are 0xFEE, 19:12 the destination APIC ID, bit 3 redirection hint (0),
     * bit 2 destination mode (0 physical); data bits 7:0 the vector, 10:8
     * delivery mode (0 fixed), bit 15 trigger mode (0 edge). */
    *address = 0xFEE00000ULL | (ULONG64)(lapic_read(LAPIC_ID) >> 24) << 12;
    *data = vector & 0xFF;
}

void HalInitializeApic(void)
{
    ULONG64 base = rdmsr(0x1B);
    wrmsr(0x1B, base | (1u << 11));            /* globally enabled */
    PHYSICAL_ADDRESS pa = { (LONGLONG)(base & 0xFFFFFF000ULL) };
    lapic = MmMapIoSpace(pa, PAGE_SIZE, MmNonCached);
    ASSERT(lapic);
    lapic_write(LAPIC_SVR, 0x100 | KI_SPURIOUS_VECTOR);   /* software enable + spurious vector */
    lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
    lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
    lapic_write(LAPIC_LVT_ERROR, LVT_MASKED);
    lapic_write(0x80, 0);                       /* TPR 0: CR8 is the IRQL from now on */
    calibrate();

    PHYSICAL_ADDRESS io = { IOAPIC_PHYS };
    ioapic = MmMapIoSpace(io, PAGE_SIZE, MmNonCached);
    ioapic_entries = ((ioapic_read(1) >> 16) & 0xFF) + 1;
    for (ULONG i = 0; i < ioapic_entries; i++)
        HalIoApicRoute(i, 0x30, FALSE, TRUE);    /* everything masked until connected */
}
