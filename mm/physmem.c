/*
 * Physical memory as GRUB describes it. RAM ranges come from the
 * multiboot2 memory map ("available" entries), cut to whole pages and
 * without the first 1 MiB (real-mode leftovers: BIOS data, the EBDA, video
 * memory, option ROMs). Until the PFN database exists, page tables and the
 * database itself are carved from these ranges by a bump allocator.
 */
#include "mm/mi.h"

MI_PFN_RANGE MiRamRanges[MI_MAX_RAM_RANGES];
ULONG MiRamRangeCount;
PFN_NUMBER MmHighestPhysicalPage, MmLowestPhysicalPage;

static PFN_NUMBER early_cursor;   /* next PFN the early allocator may try */
static BOOLEAN early_closed;

#define LOW_MEMORY_PFN 0x100      /* 1 MiB */
#define EARLY_LIMIT_PFN 0x40000   /* 1 GiB: the boot tables map no further */

static PFN_NUMBER kernel_first_pfn(void) { return ((ULONG64)__kernel_start - KERNEL_VIRT_OFFSET) >> PAGE_SHIFT; }
static PFN_NUMBER kernel_end_pfn(void) { return ((ULONG64)__kernel_end - KERNEL_VIRT_OFFSET + PAGE_SIZE - 1) >> PAGE_SHIFT; }

void MiInitializePhysicalMemory(void)
{
    MiRamRangeCount = 0;
    for (uint32_t i = 0; i < KiBootInfo.range_count; i++) {
        const KI_MEMORY_RANGE *r = &KiBootInfo.ranges[i];
        if (r->type != KI_MEMORY_AVAILABLE)
            continue;
        PFN_NUMBER s = (r->base + PAGE_SIZE - 1) >> PAGE_SHIFT;
        PFN_NUMBER e = (r->base + r->length) >> PAGE_SHIFT;
        if (s < LOW_MEMORY_PFN)
            s = LOW_MEMORY_PFN;
        if (e <= s)
            continue;
        if (MiRamRangeCount == MI_MAX_RAM_RANGES) {
            kprintf("mm: more than %d RAM ranges; ignoring the rest\n", MI_MAX_RAM_RANGES);
            break;
        }
        /* Keep the ranges sorted: GRUB's map usually is, but need not be. */
        ULONG j = MiRamRangeCount++;
        while (j > 0 && MiRamRanges[j - 1].start > s) {
            MiRamRanges[j] = MiRamRanges[j - 1];
            j--;
        }
        MiRamRanges[j].start = s;
        MiRamRanges[j].end = e;
    }
    if (MiRamRangeCount == 0)
        KeBugCheckRule(PHASE0_INITIALIZATION_FAILED, 0, 0, 0, 0, "the memory map has no RAM above 1 MiB");
    MmLowestPhysicalPage = MiRamRanges[0].start;
    MmHighestPhysicalPage = MiRamRanges[MiRamRangeCount - 1].end - 1;
    early_cursor = kernel_end_pfn();
}

BOOLEAN MiIsPfnRam(PFN_NUMBER pfn)
{
    ULONG lo = 0, hi = MiRamRangeCount;
    while (lo < hi) {
        ULONG mid = (lo + hi) / 2;
        if (pfn < MiRamRanges[mid].start)
            hi = mid;
        else if (pfn >= MiRamRanges[mid].end)
            lo = mid + 1;
        else
            return TRUE;
    }
    return FALSE;
}

BOOLEAN MiIsPfnReservedAtBoot(PFN_NUMBER pfn)
{
    for (uint32_t i = 0; i < KiBootInfo.module_count; i++) {
        PFN_NUMBER s = KiBootInfo.modules[i].start >> PAGE_SHIFT;
        PFN_NUMBER e = (KiBootInfo.modules[i].end + PAGE_SIZE - 1) >> PAGE_SHIFT;
        if (pfn >= s && pfn < e)
            return TRUE;
    }
    return FALSE;
}

PFN_NUMBER MiEarlyAllocatePage(void)
{
    ASSERT(!early_closed);
    for (ULONG i = 0; i < MiRamRangeCount; i++) {
        PFN_NUMBER pfn = early_cursor > MiRamRanges[i].start ? early_cursor : MiRamRanges[i].start;
        for (; pfn < MiRamRanges[i].end && pfn < EARLY_LIMIT_PFN; pfn++) {
            if ((pfn >= kernel_first_pfn() && pfn < kernel_end_pfn()) || MiIsPfnReservedAtBoot(pfn))
                continue;
            early_cursor = pfn + 1;
            /* 64-bit stores: the kernel's memset is REP STOSB, which TCG
             * runs a byte at a time (the PFN database is hundreds of these
             * pages: 24 ms of a 256 MiB boot). */
            MiZeroPage((void *)(KERNEL_VIRT_OFFSET + (pfn << PAGE_SHIFT)));
            return pfn;
        }
    }
    KeBugCheckRule(PHASE0_INITIALIZATION_FAILED, 0, 0, 0, 0, "no RAM below 1 GiB left for the boot-time page tables");
}

/* After the switch to the kernel's own page tables the boot mapping is
 * gone, and every page comes from the PFN database instead. */
void MiCloseEarlyAllocator(void)
{
    early_closed = TRUE;
}
