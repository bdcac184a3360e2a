/*
 * Spin locks. On one CPU, raising to DISPATCH_LEVEL alone would do; the
 * lock word is what keeps a second CPU out. The word holds the owner's
 * PRCB so that a CPU trying to take a lock it already holds - which would
 * spin forever - is caught as the bug it is.
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/x86.h"


void KeInitializeSpinLock(PKSPIN_LOCK l)
{
    *l = 0;
}

void KiSpinLockAcquiredTwice(PKSPIN_LOCK l, ULONG_PTR caller)
{
    KeBugCheckRule(SPIN_LOCK_ALREADY_OWNED, (ULONG_PTR)l, 0, 0, 0,
                   "spin lock %p was acquired again by the CPU that holds it: it would spin forever (caller %p)",
                   (void *)l, (void *)caller);
}

void KiSpinLockReleasedUnowned(PKSPIN_LOCK l)
{
    KeBugCheckRule(SPIN_LOCK_NOT_OWNED, (ULONG_PTR)l, 0, 0, 0, "spin lock %p released by a CPU that does not hold it",
                   (void *)l);
}

void KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK l)
{
    /* "At DPC level" is the caller's promise: below DISPATCH_LEVEL, with
     * interrupts on, the holder could be preempted and another thread on
     * this CPU would spin on the lock forever. (Interrupts off is as good:
     * the DPC queue is locked that way from any IRQL.) */
    if (KeGetCurrentIrql() < DISPATCH_LEVEL && (read_rflags() & (1 << 9)))
        KiIrqlTooLow(KeGetCurrentIrql(), DISPATCH_LEVEL, __func__, (ULONG_PTR)__builtin_return_address(0));
    KiAcquireSpinLockInline(l, (ULONG_PTR)__builtin_return_address(0));
}

void KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK l)
{
    KiReleaseSpinLockInline(l);
}

void KeAcquireSpinLock(PKSPIN_LOCK l, PKIRQL old)
{
    *old = KiRaiseIrqlInline(DISPATCH_LEVEL);
    KiAcquireSpinLockInline(l, (ULONG_PTR)__builtin_return_address(0));
}

void KeReleaseSpinLock(PKSPIN_LOCK l, KIRQL new_irql)
{
    KiReleaseSpinLockInline(l);
    KiLowerIrqlInline(new_irql, (ULONG_PTR)__builtin_return_address(0));
}

/* ---- the lock-discipline checks' slow paths (kernel/ke/ki.h) ---- */

void KiLockNotHeld(PKSPIN_LOCK lock, const char *lock_name, const char *routine, ULONG_PTR caller)
{
    KeBugCheckRule(SPIN_LOCK_NOT_OWNED, (ULONG_PTR)lock, 1, caller, 0,
                   "%s must be called with %s held (caller %p); it changes what that lock guards", routine,
                   lock_name, (void *)caller);
}

void KiLockHeld(PKSPIN_LOCK lock, const char *lock_name, const char *routine, const char *why, ULONG_PTR caller)
{
    KeBugCheckRule(SPIN_LOCK_ALREADY_OWNED, (ULONG_PTR)lock, 1, caller, 0,
                   "%s was called with %s held (caller %p): %s", routine, lock_name, (void *)caller, why);
}

void KiIrqlTooHigh(KIRQL irql, KIRQL limit, const char *routine, ULONG_PTR caller)
{
    KeBugCheckRule(IRQL_NOT_LESS_OR_EQUAL, 0, irql, limit, caller,
                   "%s was called at IRQL %u; it may only be called at IRQL <= %u (caller %p)", routine, irql, limit,
                   (void *)caller);
}

void KiIrqlTooLow(KIRQL irql, KIRQL needed, const char *routine, ULONG_PTR caller)
{
    KeBugCheckRule(IRQL_NOT_GREATER_OR_EQUAL, irql, needed, 0, caller,
                   "%s was called at IRQL %u; it needs IRQL >= %u (caller %p)", routine, irql, needed,
                   (void *)caller);
}
