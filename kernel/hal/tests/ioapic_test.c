/* A real device interrupt through the IOAPIC: the PIT's one-shot on ISA
 * IRQ 0, which QEMU's PC wires to IOAPIC input 2. ISR -> DPC -> event. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

static KDPC pit_dpc;
static KEVENT pit_done;
static volatile KIRQL isr_irql, dpc_irql;
static volatile ULONG isr_calls;

static BOOLEAN pit_isr(PKINTERRUPT in, PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    isr_irql = KeGetCurrentIrql();
    isr_calls++;
    KeInsertQueueDpc(&pit_dpc, in, NULL);   /* the rest, at DISPATCH_LEVEL */
    return TRUE;
}

static void pit_dpc_routine(PKDPC d, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(d);
    UNREFERENCED_PARAMETER(ctx);
    UNREFERENCED_PARAMETER(a1);
    UNREFERENCED_PARAMETER(a2);
    dpc_irql = KeGetCurrentIrql();
    KeSetEvent(&pit_done, 0, FALSE);
}

KTEST(interrupt, device_interrupt_isr_dpc_event)
{
    KeInitializeDpc(&pit_dpc, pit_dpc_routine, NULL);
    KeInitializeEvent(&pit_done, NotificationEvent, FALSE);
    isr_calls = 0;
    PKINTERRUPT in;
    KT_EQ(IoConnectInterruptEx(&in, pit_isr, NULL, 2, 5, FALSE), STATUS_SUCCESS);
    KT_EQ(in->Vector >> 4, 5);                  /* the vector's class is the IRQL */
    outb(0x43, 0x30);                           /* PIT channel 0, mode 0: one interrupt at terminal count */
    outb(0x40, 0x00);
    outb(0x40, 0x30);                           /* 0x3000 ticks of 1.19 MHz: about 10 ms */
    LARGE_INTEGER timeout = { -KI_MS(2000) };
    KT_EQ(KeWaitForSingleObject(&pit_done, Executive, KernelMode, FALSE, &timeout), STATUS_WAIT_0);
    KT_EQ(isr_calls, 1);
    KT_EQ(isr_irql, 5);
    KT_EQ(dpc_irql, DISPATCH_LEVEL);
    KT_EQ(in->Count, 1);
    IoDisconnectInterrupt(in);
}

KTEST(interrupt, clock_ticks_and_counts)
{
    PKPRCB prcb = KeGetCurrentPrcb();
    ULONG64 ticks = prcb->ClockTicks, ints = prcb->InterruptCount;
    /* 100 Hz: about 5 ticks in 50 ms - of the guest's time. On a loaded
     * host QEMU's vCPU thread is held back while the TSC (host time) runs
     * on, and a local-APIC timer that fell behind fires once, not once per
     * missed period: 50 ms by the TSC gave 2 ticks. So wait for 3, up to
     * 2 s: a clock that does not tick still fails. */
    ULONG64 start = KeQueryInterruptTime();
    while (prcb->ClockTicks - ticks < 3 && KeQueryInterruptTime() - start < 20000000) {
        LARGE_INTEGER d = { -KI_MS(50) };
        KeDelayExecutionThread(KernelMode, FALSE, &d);
    }
    KT_GE(prcb->ClockTicks - ticks, 3);
    KT_GE(prcb->InterruptCount - ints, prcb->ClockTicks - ticks);
}
