/*
 * Bringing up the memory manager, in the only order that works:
 *   physical ranges -> the kernel's own page tables (switch CR3)
 *   -> the PFN database, derived from those tables -> system PTEs
 *   -> pools. Each step uses only what the steps before it built.
 */
#include "mm/mi.h"
#include "mm/pool.h"
#include "mm/mdl.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"
#include "kernel/ktest/ktest.h"

const MI_REGION MiAddressMap[] = {
    { "user space", 0x0000000000010000ULL, 0x00007FFFFFFEFFFFULL },
    { "page tables (self-map, PML4 slot 0x1ED)", PTE_BASE, PTE_TOP },
    { "hyperspace (per-CPU temporary maps)", MI_HYPERSPACE_BASE, MI_HYPERSPACE_BASE + MI_HYPERSPACE_PAGES * PAGE_SIZE - 1 },
    { "system PTEs", MI_SYSTEM_PTE_BASE, MI_SYSTEM_PTE_BASE + MI_SYSTEM_PTE_PAGES * PAGE_SIZE - 1 },
    { "paged pool", MI_PAGED_POOL_START, MI_PAGED_POOL_START + MI_PAGED_POOL_PAGES * PAGE_SIZE - 1 },
    { "PFN database", MI_PFN_DATABASE, MI_NONPAGED_POOL_START - 1 },
    { "nonpaged pool", MI_NONPAGED_POOL_START, MI_NONPAGED_POOL_START + MI_NONPAGED_POOL_PAGES * PAGE_SIZE - 1 },
    { "kernel image (physical + this base)", MI_KERNEL_IMAGE_BASE, 0xFFFFFFFFFFFFFFFFULL },
};
const ULONG MiAddressMapCount = ARRAYSIZE(MiAddressMap);

void MiPrintAddressMap(void)
{
    kprintf("Kernel address map:\n");
    for (ULONG i = 0; i < MiAddressMapCount; i++)
        kprintf("  %p - %p  %s\n", (void *)MiAddressMap[i].start, (void *)MiAddressMap[i].end, MiAddressMap[i].name);
}

static void enable_cpu_protections(void)
{
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    if (a < 7)
        return;
    cpuid(7, 0, &a, &b, &c, &d);
    ULONG64 cr4 = read_cr4();
    if (b & (1u << 7))
        cr4 |= CR4_SMEP;   /* ring 0 may not execute user pages */
    if (b & (1u << 20))
        cr4 |= CR4_SMAP;   /* ring 0 may not touch user pages unless it says so (stac) */
    write_cr4(cr4);
}

/* What every test must leave as it found it. Kernel page tables are never
 * freed (every address space shares them), and an image's pages stay
 * cached for the next process that runs it, so neither counts as a leak. */
static int mm_counters(KT_COUNTER *out, int max)
{
    KT_COUNTER c[] = {
        /* Pool pages are covered by the block counts below (the pool gives
         * back every page that empties), so they are not counted twice -
         * and blocks a lookaside list keeps for reuse hold pages too. */
        { "frames in use (page tables, image cache and pool aside)",
          MiCommittedPages() - MiUsageCount[MiUsagePageTable] - MiUsageCount[MiUsageImage] -
              MiUsageCount[MiUsageNonPagedPool] - MiUsageCount[MiUsagePagedPool] },
        /* Blocks a lookaside list keeps for reuse are not leaks. */
        { "nonpaged pool blocks", MiNonPagedPool.Allocs - MiNonPagedPool.Frees - ExLookasideCachedBlocks(FALSE) },
        { "paged pool blocks", MiPagedPool.Allocs - MiPagedPool.Frees - ExLookasideCachedBlocks(TRUE) },
        { "system PTEs in use", MiSystemPtesInUse() },
        /* Every page charged is given back (mm/commit.c). */
        { "commit charge (pages)", MmTotalCommittedPages },
        { "hyperspace slots in use", MiHyperspaceSlotsInUse() },
        /* An MDL locked and never unlocked holds its frames even after their
         * owner freed them: no other counter moves (the frame still counts
         * as pool, the MDL block went back to its lookaside list). */
        { "frame references held by MDL locks", MiMdlLockedFrames },
        { "frame references held by MDL user views", MiMdlViewFrames },
        /* Paging (mm/pagefile.c, mm/mpw.c, mm/pagefault.c): every slot a
         * test's pages took is given back, no paging I/O is left over. */
        { "pagefile slots in use", MiPageFileSlotsInUse },
        { "pages in paging I/O", MiPagesInFlight },
    };
    int n = 0;
    for (; n < (int)ARRAYSIZE(c) && n < max; n++)
        out[n] = c[n];
    return n;
}

void MmInitSystem(void)
{
    MiInitializePhysicalMemory();
    MiInitializePageTables();
    MiInitializePat();
    enable_cpu_protections();
    MiInitializePfnDatabase();
    MiInitializeMemoryThresholds();   /* from MmNumberOfPhysicalPages, before anything allocates */
    MiInitializeSystemPtes();

    PHYSICAL_ADDRESS vga = { 0xB8000 };
    HalVgaSetBuffer(MmMapIoSpace(vga, HAL_VGA_WINDOW_BYTES, MmNonCached));

    MiInitializePools();
    MiVerifyPfnDatabase(TRUE);
    /* The MDL verifier is the memory manager's (verifier=1 on the command
     * line): on before any MDL exists. */
    MiInitializeMdlVerifier();
    KtRegisterCounters(mm_counters);

    kprintf("mm: %llu pages of RAM (%llu MiB), %llu available; PFN database %u pages, page tables %u\n",
            (unsigned long long)MmNumberOfPhysicalPages, (unsigned long long)(MmNumberOfPhysicalPages >> 8),
            (unsigned long long)MmAvailablePages, (unsigned)MiUsageCount[MiUsagePfnDatabase],
            (unsigned)MiUsageCount[MiUsagePageTable]);   /* kept exact, checked by the pass above */
    /* scripts/ktest.py's paging boot checks this line on a small machine. */
    kprintf("mm: thresholds from RAM: memory makers only below %llu available, working-set manager below %llu, "
            "new processes need %llu\n",
            (unsigned long long)MiMinimumAvailablePages, (unsigned long long)MiLowMemoryPages,
            (unsigned long long)MmProcessCreateReservePages);
    kprintf("mm: CR4 %s%s, NX on, kernel image W^X\n", (read_cr4() & CR4_SMEP) ? "SMEP " : "",
            (read_cr4() & CR4_SMAP) ? "SMAP" : "");
}

/* ---- a known point for GDB checks (scripts/ktest.py gdb.*) ----
 * With `gdbcheck=1` on the command line the kernel prints its own
 * translation of a few addresses, then calls MiGdbCheckpointDone, where
 * the test's breakpoint waits to compare GDB's `pt` and `pfn` with them. */
__attribute__((noinline)) void MiGdbCheckpointDone(void)
{
    __asm__ volatile("" ::: "memory");
}

static void print_translation(const void *va)
{
    PHYSICAL_ADDRESS pa = MmGetPhysicalAddress((PVOID)va);
    PFN_NUMBER pfn = (ULONG64)pa.QuadPart >> PAGE_SHIFT;
    PMMPFN e = MiIsPfnRam(pfn) ? MI_PFN_ELEMENT(pfn) : NULL;
    kprintf("mm: translate %p -> %#llx pte=%#llx pfn=%#llx state=%s refs=%u shares=%u\n", va,
            (unsigned long long)pa.QuadPart, (unsigned long long)MiGetPteAddress(va)->u.Long,
            (unsigned long long)pfn, e ? MiListName(e->PageLocation) : "none", e ? e->ReferenceCount : 0,
            e ? e->ShareCount : 0);
}

__attribute__((noinline)) void MiGdbCheckpoint(void)
{
    PVOID np = ExAllocatePoolWithTag(NonPagedPoolNx, 100, POOL_TAG('G', 'd', 'b', 'N'));
    PVOID pp = ExAllocatePoolWithTag(PagedPool, 5000, POOL_TAG('G', 'd', 'b', 'P'));
    print_translation((const void *)MiGdbCheckpoint);   /* kernel text */
    print_translation(&MmAvailablePages);               /* kernel data */
    print_translation(MmPfnDatabase + MmLowestPhysicalPage);
    print_translation(np);
    print_translation(pp);
    print_translation(MiGetPteAddress(np));              /* a page table, through the self-map */
    MiGdbCheckpointDone();
    ExFreePoolWithTag(pp, POOL_TAG('G', 'd', 'b', 'P'));
    ExFreePoolWithTag(np, POOL_TAG('G', 'd', 'b', 'N'));
}
