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

void KeRaiseIrql(KIRQL new_irql, PKIRQL old_irql)
{
    KIRQL cur = KeGetCurrentIrql();
    if (new_irql < cur || new_irql > HIGH_LEVEL)
        KeBugCheckRule(IRQL_NOT_GREATER_OR_EQUAL, cur, new_irql, 0, 0,
                       "KeRaiseIrql was asked to go from IRQL %u down to %u; raising must never lower the IRQL",
                       cur, new_irql);
    /* A raise to the level already held (KiAcquireDispatcherLock inside a
     * DPC, a spin lock at DISPATCH_LEVEL) changes nothing: no CR8 write,
     * which under TCG is a helper that takes QEMU's big lock. */
    if (new_irql != cur)
        KiSetIrql(new_irql);
    *old_irql = cur;
}

BOOLEAN KiSchedulerReady;

void KeLowerIrql(KIRQL new_irql)
{
    KIRQL cur = KeGetCurrentIrql();
    if (new_irql > cur)
        KeBugCheckRule(IRQL_NOT_LESS_OR_EQUAL, 0, cur, 0, (ULONG_PTR)__builtin_return_address(0),
                       "KeLowerIrql was asked to go from IRQL %u up to %u; lowering must never raise the IRQL",
                       cur, new_irql);
    if (new_irql == cur)
        return;   /* nothing to lower, nothing to run: a drop below DISPATCH_LEVEL is what runs DPCs */
    KiSetIrql(new_irql);
    /* Dropping below DISPATCH_LEVEL is when queued DPCs run and a
     * preemption takes effect: NT's "dispatch software interrupt". The
     * check comes after the drop: work an interrupt queued before it is
     * seen here, and an interrupt after it runs the work itself on its
     * way out (KiInterruptDispatch: it returns below DISPATCH_LEVEL), so
     * nothing is left waiting - without turning interrupts off around the
     * check (a CLI, STI and PUSHFQ on every spin lock release, each of
     * which ends a translated block under TCG). */
    if (new_irql < DISPATCH_LEVEL && cur >= DISPATCH_LEVEL && KiSchedulerReady && KiSoftwareWorkPending()) {
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
}

KIRQL KeRaiseIrqlToDpcLevel(void)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    return old;
}
