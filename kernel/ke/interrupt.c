/*
 * Device interrupts, NT style. A vector's priority class (vector >> 4) is
 * an IRQL: the APIC delivers an interrupt only while CR8 is below its
 * class, so raising CR8 to an IRQL holds back exactly the interrupts at or
 * below it. On entry we raise to the interrupt's IRQL, let higher ones in
 * (STI), run the connected service routines, signal end-of-interrupt, and
 * on the way out run DPCs and switch threads if the IRQL we return to is
 * below DISPATCH_LEVEL.
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"
#include "mm/mm.h"
#include "kernel/ps/psp.h"

static LIST_ENTRY vectors[256];
static BOOLEAN vector_used[256];

void KiInitializeInterrupts(void)
{
    for (int i = 0; i < 256; i++)
        InitializeListHead(&vectors[i]);
    HalInitializeApic();
    vector_used[KI_CLOCK_VECTOR] = vector_used[KI_SPURIOUS_VECTOR] = vector_used[KI_PROFILE_VECTOR] = TRUE;
    HalStartClock(100);   /* 10 ms ticks */
    sti();
}

/* Give INTERRUPT (Irql, Gsi filled in) a free vector in its IRQL's
 * priority class and route its IOAPIC input there (a message-signalled
 * interrupt has no input: only the vector is taken). FALSE when the class
 * has no free vector. */
/* The vector an IOAPIC input is already routed to, 0 when none: a line
 * is one vector however many interrupt objects share it. */
static ULONG vector_of_gsi(ULONG gsi, KIRQL *irql)
{
    for (ULONG v = 0; v < 256; v++) {
        if (IsListEmpty(&vectors[v]))
            continue;
        PKINTERRUPT first = CONTAINING_RECORD(vectors[v].Flink, KINTERRUPT, InterruptListEntry);
        if (first->Gsi == gsi) {
            *irql = first->Irql;
            return v;
        }
    }
    return 0;
}

BOOLEAN KeConnectInterrupt(PKINTERRUPT in, BOOLEAN level)
{
    /* A device IRQL is above DISPATCH_LEVEL: the levels at and below it are
     * kept in software, and CR8 does not hold their classes back (KiSetIrql). */
    if (in->Irql <= DISPATCH_LEVEL)
        return FALSE;
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    /* A level-triggered line (PCI INTx) may be shared: the second object
     * on an input joins the first one's vector, where KiInterruptDispatch
     * calls every service routine until one claims it, as NT chains
     * interrupt objects. It must want the same IRQL: a vector has one. */
    KIRQL shared_irql;
    ULONG shared = in->Gsi != KINTERRUPT_MESSAGE_SIGNALED ? vector_of_gsi(in->Gsi, &shared_irql) : 0;
    if (shared) {
        if (shared_irql != in->Irql) {
            KeLowerIrql(old);
            return FALSE;
        }
        in->Vector = shared;
        InsertTailList(&vectors[shared], &in->InterruptListEntry);
        KeLowerIrql(old);
        return TRUE;
    }
    ULONG vector = 0;
    for (ULONG v = (ULONG)in->Irql << 4; v < ((ULONG)in->Irql << 4) + 16; v++) {
        if (!vector_used[v]) {
            vector = v;
            break;
        }
    }
    if (!vector) {
        KeLowerIrql(old);
        return FALSE;
    }
    in->Vector = vector;
    vector_used[vector] = TRUE;
    InsertTailList(&vectors[vector], &in->InterruptListEntry);
    if (in->Gsi != KINTERRUPT_MESSAGE_SIGNALED)
        HalIoApicRoute(in->Gsi, vector, level, FALSE);
    KeLowerIrql(old);
    return TRUE;
}

void KeDisconnectInterrupt(PKINTERRUPT in)
{
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    RemoveEntryList(&in->InterruptListEntry);
    if (IsListEmpty(&vectors[in->Vector])) {   /* the last object on the vector: the line goes quiet */
        if (in->Gsi != KINTERRUPT_MESSAGE_SIGNALED)
            HalIoApicRoute(in->Gsi, in->Vector, FALSE, TRUE);
        vector_used[in->Vector] = FALSE;
    }
    KeLowerIrql(old);
}

void KiInterruptDispatch(PKTRAP_FRAME f)
{
    ULONG vector = (ULONG)f->vector;
    if (vector == KI_SPURIOUS_VECTOR)
        return;   /* the APIC withdrew it: no EOI for a spurious interrupt */
    PKPRCB prcb = KeGetCurrentPrcb();
    BOOLEAN halted = prcb->HaltTsc != 0;
    if (halted) {   /* it ends the idle thread's HLT */
        prcb->IdleCycles += rdtsc() - prcb->HaltTsc;
        prcb->HaltTsc = 0;
    }
    /* The profiler's sample: counted and done, interrupts still off. It
     * queues no work, so none waits to be run on the way out, and it is
     * left out of InterruptCount (the figures that count interrupts per
     * request would grow with the sampling rate). */
    if (vector == KI_PROFILE_VECTOR) {
        KiProfileInterrupt(f, halted);
        return;
    }
    prcb->InterruptCount++;
    KIRQL old = KeGetCurrentIrql();
    KiSetIrql((KIRQL)(vector >> 4));   /* raise to the interrupt's IRQL */
    sti();                      /* higher-priority interrupts may now nest */
    if (vector == KI_CLOCK_VECTOR) {
        KiClockTick();
    } else {
        BOOLEAN claimed = FALSE;
        for (PLIST_ENTRY e = vectors[vector].Flink; e != &vectors[vector]; e = e->Flink) {
            PKINTERRUPT in = CONTAINING_RECORD(e, KINTERRUPT, InterruptListEntry);
            if (in->ServiceRoutine(in, in->ServiceContext)) {
                in->Count++;
                claimed = TRUE;
            }
        }
        if (!claimed && IsListEmpty(&vectors[vector]))
            kprintf("interrupt: vector %#x with nothing connected\n", vector);
    }
    cli();
    HalSendEoi();
    KiSetIrql(old);
    /* Returning below DISPATCH_LEVEL: this is where queued DPCs run and
     * where a preempted thread gives way - the "dispatch interrupt". */
    while (old < DISPATCH_LEVEL && KiSoftwareWorkPending()) {
        KiSetIrql(DISPATCH_LEVEL);
        sti();
        KiDispatchInterrupt();
        cli();
        KiSetIrql(old);
    }
    if (f->cs & 3)
        PsCheckTermination(f);   /* back to ring 3: unless the process was told to end */
}
