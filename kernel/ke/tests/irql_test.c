/* IRQL through CR8: raising, lowering, and the rules. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

KTEST(irql, raise_and_lower)
{
    KIRQL a, b;
    KT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KeRaiseIrql(APC_LEVEL, &a);
    KT_EQ(a, PASSIVE_LEVEL);
    KT_EQ(KeGetCurrentIrql(), APC_LEVEL);
    KeRaiseIrql(DISPATCH_LEVEL, &b);
    KT_EQ(b, APC_LEVEL);
    KT_EQ(read_cr8(), DISPATCH_LEVEL);      /* the IRQL is the CPU's task priority */
    KeRaiseIrql(DISPATCH_LEVEL, &b);        /* raising to the same level is allowed */
    KT_EQ(b, DISPATCH_LEVEL);
    KeRaiseIrql(HIGH_LEVEL, &b);
    KT_EQ(read_cr8(), 15);
    KeLowerIrql(DISPATCH_LEVEL);
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
