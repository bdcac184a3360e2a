/*
 * The IRQL: the PRCB's level, and CR8 above DISPATCH_LEVEL (KiSetIrql,
 * kernel/ke/ki.h). Writing CR8 is how x64 NT raises and lowers the
 * interrupt request level: the APIC compares each pending interrupt's
 * priority class with CR8 and holds back those at or below it; APC_LEVEL
 * and DISPATCH_LEVEL hold back no device interrupt, so mdlos keeps them in
 * software, as NT's x86 HALs did. A raise must
 * go up and a lower must go down; anything else is a driver bug that would
 * otherwise silently reopen a window the caller meant to keep closed.
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/x86.h"

void KiRaiseIrqlTooLow(KIRQL cur, KIRQL new_irql)
{
    KeBugCheckRule(IRQL_NOT_GREATER_OR_EQUAL, cur, new_irql, 0, 0,
                   "KeRaiseIrql was asked to go from IRQL %u down to %u; raising must never lower the IRQL", cur,
                   new_irql);
}

void KiLowerIrqlTooHigh(KIRQL cur, KIRQL new_irql, ULONG_PTR caller)
{
    KeBugCheckRule(IRQL_NOT_LESS_OR_EQUAL, 0, cur, 0, caller,
                   "KeLowerIrql was asked to go from IRQL %u up to %u; lowering must never raise the IRQL", cur,
                   new_irql);
}

/* The raise and the lower themselves are KiRaiseIrqlInline and
 * KiLowerIrqlInline (kernel/ke/ki.h), which the spin-lock routines inline
 * too. */
void KeRaiseIrql(KIRQL new_irql, PKIRQL old_irql)
{
    *old_irql = KiRaiseIrqlInline(new_irql);
}

BOOLEAN KiSchedulerReady;

void KeLowerIrql(KIRQL new_irql)
{
    KiLowerIrqlInline(new_irql, (ULONG_PTR)__builtin_return_address(0));
}

/* Below DISPATCH_LEVEL again, with work queued: this is when queued DPCs
 * run and a preemption takes effect - NT's "dispatch software interrupt".
 * The check (KiLowerIrqlInline) comes after the drop: work an interrupt
 * queued before it is seen there, and an interrupt after it runs the work
 * itself on its way out (KiInterruptDispatch: it returns below
 * DISPATCH_LEVEL), so nothing is left waiting - without turning interrupts
 * off around the check (a CLI, STI and PUSHFQ on every spin lock release,
 * each of which ends a translated block under TCG). */
void KiLowerIrqlRunPending(KIRQL new_irql)
{
    uint64_t flags = read_rflags();
    cli();
    while (KiSoftwareWorkPending()) {
        KiSetIrql(DISPATCH_LEVEL);
        sti();
        KiDispatchInterrupt();
        cli();
    }
    KiSetIrql(new_irql);
    if (flags & (1 << 9))
        sti();
}

KIRQL KeRaiseIrqlToDpcLevel(void)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    return old;
}
