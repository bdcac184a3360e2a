/*
 * MmAllocateContiguousMemorySpecifyCache (mm/contig.c): one run of
 * consecutive frames inside the window, not across the boundary, zeroed,
 * mapped; refused when no such run can exist.
 */
#include "kernel/mdlos.h"

KTEST(contig, run_is_consecutive_inside_the_window_and_zeroed)
{
    PHYSICAL_ADDRESS lo = { 16LL << 20 }, hi = { (64LL << 20) - 1 }, none = { 0 };
    PUCHAR va = MmAllocateContiguousMemorySpecifyCache(5 * PAGE_SIZE, lo, hi, none, MmCached);
    KT_ASSERT(va != NULL);
    ULONG64 first = (ULONG64)MmGetPhysicalAddress(va).QuadPart;
    KT_GE(first, 16ULL << 20);
    KT_LE(first + 5 * PAGE_SIZE - 1, (64ULL << 20) - 1);
    for (ULONG i = 0; i < 5; i++)
        KT_EQ((ULONG64)MmGetPhysicalAddress(va + i * PAGE_SIZE).QuadPart, first + i * PAGE_SIZE);
    for (ULONG i = 0; i < 5 * PAGE_SIZE; i++)
        if (va[i])
            KT_EQ(va[i], 0);
    memset(va, 0x77, 5 * PAGE_SIZE);
    MmFreeContiguousMemorySpecifyCache(va, 5 * PAGE_SIZE, MmCached);
}

KTEST(contig, run_does_not_cross_the_boundary)
{
    PHYSICAL_ADDRESS lo = { 0 }, hi = { -1 }, boundary = { 4 * PAGE_SIZE };
    PVOID held[8];
    /* Several runs of 3 pages, each inside one 16 KiB block. */
    for (int i = 0; i < 8; i++) {
        held[i] = MmAllocateContiguousMemorySpecifyCache(3 * PAGE_SIZE, lo, hi, boundary, MmNonCached);
        KT_ASSERT(held[i] != NULL);
        ULONG64 pa = (ULONG64)MmGetPhysicalAddress(held[i]).QuadPart;
        KT_EQ(pa / (4 * PAGE_SIZE), (pa + 3 * PAGE_SIZE - 1) / (4 * PAGE_SIZE));
    }
    for (int i = 0; i < 8; i++)
        MmFreeContiguousMemorySpecifyCache(held[i], 3 * PAGE_SIZE, MmNonCached);
}

KTEST(contig, impossible_requests_are_refused)
{
    PHYSICAL_ADDRESS lo = { 0 }, hi = { -1 }, odd = { 3 * PAGE_SIZE }, small = { 2 * PAGE_SIZE };
    PHYSICAL_ADDRESS none = { 0 }, tiny_hi = { 2 * PAGE_SIZE - 1 };
    KT_ASSERT(MmAllocateContiguousMemorySpecifyCache(PAGE_SIZE, lo, hi, odd, MmCached) == NULL);   /* not a power of two */
    KT_ASSERT(MmAllocateContiguousMemorySpecifyCache(3 * PAGE_SIZE, lo, hi, small, MmCached) == NULL);   /* cannot fit */
    KT_ASSERT(MmAllocateContiguousMemorySpecifyCache(0, lo, hi, none, MmCached) == NULL);
    /* Below 8 KiB there is no RAM the allocator hands out (the first MiB is left alone). */
    KT_ASSERT(MmAllocateContiguousMemorySpecifyCache(PAGE_SIZE, lo, tiny_hi, none, MmCached) == NULL);
}
