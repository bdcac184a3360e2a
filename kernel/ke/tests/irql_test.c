/* The IRQL (the PRCB's level, CR8 above DISPATCH_LEVEL): raising, lowering, and the rules. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "kernel/ke/ki.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"

KTEST(irql, raise_and_lower)
{
    KIRQL a, b;
    KT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KeRaiseIrql(APC_LEVEL, &a);
    KT_EQ(a, PASSIVE_LEVEL);
    KT_EQ(KeGetCurrentIrql(), APC_LEVEL);
    KeRaiseIrql(DISPATCH_LEVEL, &b);
    KT_EQ(b, APC_LEVEL);
    KT_EQ(read_cr8(), 0);                   /* APC and DISPATCH are software levels: the APIC holds nothing back */
    KeRaiseIrql(DISPATCH_LEVEL, &b);        /* raising to the same level is allowed */
    KT_EQ(b, DISPATCH_LEVEL);
    KeRaiseIrql(HIGH_LEVEL, &b);
    KT_EQ(read_cr8(), 15);                  /* above DISPATCH_LEVEL the IRQL is the CPU's task priority */
    KeLowerIrql(DISPATCH_LEVEL);
    KT_EQ(read_cr8(), 0);
    KT_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    KeLowerIrql(APC_LEVEL);
    KeLowerIrql(a);
    KT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_EQ(KeRaiseIrqlToDpcLevel(), PASSIVE_LEVEL);
    KeLowerIrql(PASSIVE_LEVEL);
}

KTEST_BUGCHECK(irql, raising_to_a_lower_level_bugchecks, IRQL_NOT_GREATER_OR_EQUAL, DISPATCH_LEVEL,
               PASSIVE_LEVEL, 0, 0)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KeRaiseIrql(PASSIVE_LEVEL, &old);
}

KTEST_BUGCHECK(irql, lowering_to_a_higher_level_bugchecks, IRQL_NOT_LESS_OR_EQUAL, 0, PASSIVE_LEVEL, 0, KT_ANY)
{
    KeLowerIrql(DISPATCH_LEVEL);
}

/* What the software DISPATCH_LEVEL risks: with CR8 at 0, interrupts still
 * arrive (the clock ticks below), and each must leave the DPC queued - it
 * returns to DISPATCH_LEVEL, whatever CR8 says - until the level drops. */
static volatile LONG dpc_ran;
static void count_dpc(PKDPC d, PVOID c, PVOID a1, PVOID a2)
{
    (void)d, (void)c, (void)a1, (void)a2;
    dpc_ran++;
}

KTEST(irql, interrupts_at_dispatch_level_leave_a_dpc_queued_until_the_drop)
{
    KDPC dpc;
    KeInitializeDpc(&dpc, count_dpc, NULL);
    dpc_ran = 0;
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KT_ASSERT(KeInsertQueueDpc(&dpc, NULL, NULL));
    ULONG64 ticks = KeGetCurrentPrcb()->ClockTicks;
    for (ULONG64 t0 = rdtsc(); KeGetCurrentPrcb()->ClockTicks < ticks + 3 && rdtsc() - t0 < HalTscPerMs() * 2000;)
        __asm__ volatile("pause");
    ULONG64 seen = KeGetCurrentPrcb()->ClockTicks - ticks;
    LONG ran_at_dispatch = dpc_ran;
    KT_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    KeLowerIrql(old);
    KT_ASSERT(seen >= 3);            /* interrupts were delivered at DISPATCH_LEVEL */
    KT_EQ(ran_at_dispatch, 0);       /* and none of them ran the DPC */
    KT_EQ(dpc_ran, 1);               /* the drop did */
}

/* A device interrupt at a software level would not be held back by CR8. */
KTEST(irql, an_interrupt_at_dispatch_level_cannot_be_connected)
{
    KINTERRUPT in;
    memset(&in, 0, sizeof(in));
    in.Irql = DISPATCH_LEVEL;
    in.Gsi = KINTERRUPT_MESSAGE_SIGNALED;
    KT_EQ(KeConnectInterrupt(&in, FALSE), FALSE);
}
