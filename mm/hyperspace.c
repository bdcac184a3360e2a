/*
 * Hyperspace: a page table's worth of per-CPU slots for short-lived
 * mappings of any frame - to zero a new page, or copy one - since the
 * kernel has no mapping of all physical memory. A slot is used at
 * DISPATCH_LEVEL so the thread cannot move to another CPU (whose slots
 * these are not) or be preempted while holding it.
 */
#include "mm/mi.h"
#include "kernel/hal/x86.h"

static ULONG64 slot_busy[MI_HYPERSPACE_PAGES / 64];   /* one bit per slot */

static ULONG current_cpu(void)
{
    return 0;   /* one CPU for now; each CPU owns MI_HYPERSPACE_PER_CPU slots */
}

PVOID MiMapPageInHyperspace(PFN_NUMBER pfn, PKIRQL old_irql)
{
    KeRaiseIrql(DISPATCH_LEVEL, old_irql);
    ULONG first = current_cpu() * MI_HYPERSPACE_PER_CPU;
    for (ULONG s = first; s < first + MI_HYPERSPACE_PER_CPU; s++) {
        if (slot_busy[s / 64] & (1ULL << (s % 64)))
            continue;
        slot_busy[s / 64] |= 1ULL << (s % 64);
        PVOID va = (PVOID)(MI_HYPERSPACE_BASE + (ULONG64)s * PAGE_SIZE);
        /* Not counted as a share in the PFN entry: the mapping is gone
         * before anyone else can look. */
        MiWritePteAndFlush(MiGetPteAddress(va), (pfn << PAGE_SHIFT) | MI_PTE_VALID | MI_PROT_KERNEL_RW);
        return va;
    }
    KeBugCheckRule(MEMORY_MANAGEMENT, 0x3451, pfn, 0, 0, "all %d hyperspace slots of this CPU are in use (a missing unmap?)",
                   MI_HYPERSPACE_PER_CPU);
}

void MiUnmapPageInHyperspace(PVOID va, KIRQL old_irql)
{
    KI_ASSERT_IRQL_GE(DISPATCH_LEVEL);   /* the slot is this CPU's only while nothing could switch us away */
    ULONG64 s = ((ULONG64)va - MI_HYPERSPACE_BASE) >> PAGE_SHIFT;
    ASSERT(s < MI_HYPERSPACE_PAGES && (slot_busy[s / 64] & (1ULL << (s % 64))));
    MiWritePteAndFlush(MiGetPteAddress(va), 0);
    slot_busy[s / 64] &= ~(1ULL << (s % 64));
    KeLowerIrql(old_irql);
}

ULONG MiHyperspaceSlotsInUse(void)
{
    ULONG n = 0;
    for (ULONG s = 0; s < MI_HYPERSPACE_PAGES; s++)
        n += (slot_busy[s / 64] >> (s % 64)) & 1;
    return n;
}

void MiZeroPhysicalPage(PFN_NUMBER pfn)
{
    KIRQL old;
    PVOID va = MiMapPageInHyperspace(pfn, &old);
    memset(va, 0, PAGE_SIZE);
    MiUnmapPageInHyperspace(va, old);
}
