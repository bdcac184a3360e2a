/*
 * IRQL through CR8. Writing CR8 is how x64 NT raises and lowers the
 * interrupt request level: the APIC compares each pending interrupt's
 * priority class with CR8 and holds back those at or below it. A raise must
 * go up and a lower must go down; anything else is a driver bug that would
 * otherwise silently reopen a window the caller meant to keep closed.
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/x86.h"

KIRQL KeGetCurrentIrql(void)
{
    return (KIRQL)read_cr8();
}

void KeRaiseIrql(KIRQL new_irql, PKIRQL old_irql)
{
    KIRQL cur = KeGetCurrentIrql();
    if (new_irql < cur || new_irql > HIGH_LEVEL)
        KeBugCheckRule(IRQL_NOT_GREATER_OR_EQUAL, cur, new_irql, 0, 0,
                       "KeRaiseIrql was asked to go from IRQL %u down to %u; raising must never lower the IRQL",
                       cur, new_irql);
    write_cr8(new_irql);
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
    /* Dropping below DISPATCH_LEVEL is when queued DPCs run and a
     * preemption takes effect: NT's "dispatch software interrupt". The
     * check and the final CR8 write happen with interrupts off, so work
     * queued by an interrupt in between is not left waiting. */
    if (new_irql < DISPATCH_LEVEL && cur >= DISPATCH_LEVEL && KiSchedulerReady) {
        uint64_t flags = read_rflags();
        cli();
        while (KiSoftwareWorkPending()) {
            write_cr8(DISPATCH_LEVEL);
            sti();
            KiDispatchInterrupt();
            cli();
        }
        write_cr8(new_irql);
        if (flags & (1 << 9))
            sti();
        return;
    }
    write_cr8(new_irql);
}

KIRQL KeRaiseIrqlToDpcLevel(void)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    return old;
}
