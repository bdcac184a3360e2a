/*
 * Hyperspace: a page table's worth of per-CPU slots for short-lived
 * mappings of any frame - to zero a new page, or copy one - since the
 * kernel has no mapping of all physical memory. A slot is used at
 * DISPATCH_LEVEL so the thread cannot move to another CPU (whose slots
 * these are not) or be preempted while holding it.
 *
 * Costs that matter here (they are paid on every demand-zero fault that
 * must zero its frame): the map writes a PTE that was not present, which
 * needs no TLB flush (mm/pagetable.c); the unmap flushes the one page it
 * made stale; a caller already at DISPATCH_LEVEL (the PFN lock) is not
 * raised again; and a page is zeroed with 64-bit stores, never bytes.
 */
#include "mm/mi.h"
#include "kernel/hal/x86.h"

static ULONG64 slot_busy[MI_HYPERSPACE_PAGES / 64];   /* one bit per slot */

static ULONG current_cpu(void)
{
    return 0;   /* one CPU for now; each CPU owns MI_HYPERSPACE_PER_CPU slots */
}

_Static_assert(MI_HYPERSPACE_PER_CPU == 64, "a CPU's slots are one word of slot_busy");

PVOID MiMapPageInHyperspace(PFN_NUMBER pfn, PKIRQL old_irql)
{
    KIRQL cur = KeGetCurrentIrql();
    if (cur < DISPATCH_LEVEL)
        KeRaiseIrql(DISPATCH_LEVEL, &cur);
    *old_irql = cur;
    ULONG64 *word = &slot_busy[current_cpu()];
    if (~*word == 0)
        KeBugCheckRule(MEMORY_MANAGEMENT, 0x3451, pfn, 0, 0,
                       "all %d hyperspace slots of this CPU are in use (a missing unmap?)", MI_HYPERSPACE_PER_CPU);
    ULONG s = (ULONG)__builtin_ctzll(~*word);   /* the first free slot: one TZCNT/BSF, not a loop */
    *word |= 1ULL << s;
    PVOID va = (PVOID)(MI_HYPERSPACE_BASE + ((ULONG64)current_cpu() * MI_HYPERSPACE_PER_CPU + s) * PAGE_SIZE);
    /* Not counted as a share in the PFN entry: the mapping is gone before
     * anyone else can look. The slot's PTE is 0 (its unmap cleared and
     * flushed it), so this needs no flush. */
    MiWritePteAndFlush(MiGetPteAddress(va), (pfn << PAGE_SHIFT) | MI_PTE_VALID | MI_PROT_KERNEL_RW);
    return va;
}

void MiUnmapPageInHyperspace(PVOID va, KIRQL old_irql)
{
    KI_ASSERT_IRQL_GE(DISPATCH_LEVEL);   /* the slot is this CPU's only while nothing could switch us away */
    ULONG64 s = ((ULONG64)va - MI_HYPERSPACE_BASE) >> PAGE_SHIFT;
    ASSERT(s < MI_HYPERSPACE_PAGES && (slot_busy[s / 64] & (1ULL << (s % 64))));
    MiWritePteAndFlush(MiGetPteAddress(va), 0);   /* valid before: flushed, so no stale translation remains */
    slot_busy[s / 64] &= ~(1ULL << (s % 64));
    if (old_irql < DISPATCH_LEVEL)
        KeLowerIrql(old_irql);
}

ULONG MiHyperspaceSlotsInUse(void)
{
    ULONG n = 0;
    for (ULONG w = 0; w < ARRAYSIZE(slot_busy); w++)
        for (ULONG64 b = slot_busy[w]; b; b &= b - 1)   /* one step per busy slot */
            n++;
    return n;
}

/* Zero one mapped page with 64-bit stores, eight to a loop: REP STOSB,
 * which TCG runs a byte at a time, took about 12 000 cycles a page against
 * about 1 000 for these stores (on hardware either runs at cache speed).
 * memset's bulk is the same loop now (kernel/rtl/rtlstring.c); this one
 * stays beside its non-temporal twin below. */
void MiZeroPage(PVOID va)
{
    ULONG64 *p = va, *end = (ULONG64 *)((PUCHAR)va + PAGE_SIZE);
    __asm__ volatile("1:\n\t"
                     "movq %[z], 0(%[p])\n\tmovq %[z], 8(%[p])\n\tmovq %[z], 16(%[p])\n\tmovq %[z], 24(%[p])\n\t"
                     "movq %[z], 32(%[p])\n\tmovq %[z], 40(%[p])\n\tmovq %[z], 48(%[p])\n\tmovq %[z], 56(%[p])\n\t"
                     "addq $64, %[p]\n\tcmpq %[e], %[p]\n\tjb 1b"
                     : [p] "+r"(p) : [z] "r"(0UL), [e] "r"(end) : "memory", "cc");
}

/* The same with non-temporal stores (MOVNTI), for the zero-page thread: a
 * page zeroed at idle may not be used for a long time, so it should not
 * push useful lines out of the cache (NT's zero-page thread does the same).
 * SFENCE orders the weakly ordered stores before the page is handed out. */
void MiZeroPageNonTemporal(PVOID va)
{
    ULONG64 *p = va, *end = (ULONG64 *)((PUCHAR)va + PAGE_SIZE);
    __asm__ volatile("1:\n\t"
                     "movnti %[z], 0(%[p])\n\tmovnti %[z], 8(%[p])\n\tmovnti %[z], 16(%[p])\n\tmovnti %[z], 24(%[p])\n\t"
                     "movnti %[z], 32(%[p])\n\tmovnti %[z], 40(%[p])\n\tmovnti %[z], 48(%[p])\n\tmovnti %[z], 56(%[p])\n\t"
                     "addq $64, %[p]\n\tcmpq %[e], %[p]\n\tjb 1b\n\t"
                     "sfence"
                     : [p] "+r"(p) : [z] "r"(0UL), [e] "r"(end) : "memory", "cc");
}

void MiZeroPhysicalPage(PFN_NUMBER pfn)
{
    KIRQL old;
    PVOID va = MiMapPageInHyperspace(pfn, &old);
    MiZeroPage(va);
    MiUnmapPageInHyperspace(va, old);
}
