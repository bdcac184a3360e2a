/*
 * Physically contiguous memory (NT's MmAllocateContiguousMemorySpecifyCache):
 * one run of consecutive frames inside a physical window, mapped into
 * system PTEs. Drivers want it for structures a device reads by physical
 * address without a scatter/gather list - descriptor rings, virtqueues -
 * through the DMA adapter's AllocateCommonBuffer (io/dma.c).
 */
#include "mm/mi.h"

PVOID MmAllocateContiguousMemorySpecifyCache(SIZE_T NumberOfBytes, PHYSICAL_ADDRESS LowestAcceptableAddress,
                                             PHYSICAL_ADDRESS HighestAcceptableAddress,
                                             PHYSICAL_ADDRESS BoundaryAddressMultiple, MEMORY_CACHING_TYPE CacheType)
{
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    if (NumberOfBytes == 0 || NumberOfBytes > (SIZE_T)MI_SYSTEM_PTE_PAGES * PAGE_SIZE)
        return NULL;
    PFN_NUMBER pages = BYTES_TO_PAGES(NumberOfBytes);
    ULONG64 boundary = (ULONG64)BoundaryAddressMultiple.QuadPart;
    if (boundary & (boundary - 1))
        return NULL;   /* a boundary is a power of two (the WDK's rule) */
    if (boundary && (boundary >> PAGE_SHIFT) < pages)
        return NULL;   /* the run could never fit between two multiples */
    /* The window's first and last whole frames. */
    PFN_NUMBER low = ((ULONG64)LowestAcceptableAddress.QuadPart + PAGE_SIZE - 1) >> PAGE_SHIFT;
    PFN_NUMBER high = ((ULONG64)HighestAcceptableAddress.QuadPart + 1) >> PAGE_SHIFT;
    if (high == 0)
        high = (ULONG64)HighestAcceptableAddress.QuadPart >> PAGE_SHIFT;   /* ~0: everything */
    else
        high--;
    PFN_NUMBER first = MiAllocateContiguousPfns(MiUsageDriver, TRUE, pages, low, high, boundary >> PAGE_SHIFT);
    if (!first)
        return NULL;
    PHYSICAL_ADDRESS pa = { (LONGLONG)(first << PAGE_SHIFT) };
    PVOID va = MmMapIoSpace(pa, pages * PAGE_SIZE, CacheType);
    if (!va) {
        for (PFN_NUMBER i = 0; i < pages; i++)
            MiFreePfn(first + i);
    }
    return va;
}

void MmFreeContiguousMemorySpecifyCache(PVOID BaseAddress, SIZE_T NumberOfBytes, MEMORY_CACHING_TYPE CacheType)
{
    UNREFERENCED_PARAMETER(CacheType);
    PFN_NUMBER pages = BYTES_TO_PAGES(NumberOfBytes);
    PFN_NUMBER first = (ULONG64)MmGetPhysicalAddress(BaseAddress).QuadPart >> PAGE_SHIFT;
    if (!first || BYTE_OFFSET(BaseAddress))
        KeBugCheckRule(MEMORY_MANAGEMENT, 0x60000, (ULONG_PTR)BaseAddress, NumberOfBytes, 0,
                       "MmFreeContiguousMemorySpecifyCache(%p) was not given what MmAllocateContiguousMemory"
                       "SpecifyCache returned", BaseAddress);
    MmUnmapIoSpace(BaseAddress, pages * PAGE_SIZE);
    for (PFN_NUMBER i = 0; i < pages; i++)
        MiFreePfn(first + i);
}
