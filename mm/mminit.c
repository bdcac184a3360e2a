/*
 * Bringing up the memory manager, in the only order that works:
 *   physical ranges -> the kernel's own page tables (switch CR3)
 *   -> the PFN database, derived from those tables -> system PTEs
 *   -> pools. Each step uses only what the steps before it built.
 */
#include "mm/mi.h"
#include "mm/pool.h"
#include "kernel/console.h"
#include "kernel/x86.h"

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

void MmInitSystem(void)
{
    MiInitializePhysicalMemory();
    MiInitializePageTables();
    MiInitializePat();
    enable_cpu_protections();
    MiInitializePfnDatabase();
    MiInitializeSystemPtes();

    PHYSICAL_ADDRESS vga = { 0xB8000 };
    KiVgaSetBuffer(MmMapIoSpace(vga, 80 * 25 * 2, MmNonCached));

    MiInitializePools();
    MiVerifyPfnDatabase(TRUE);

    kprintf("mm: %llu pages of RAM (%llu MiB), %llu available; PFN database %u pages, page tables %u\n",
            (unsigned long long)MmNumberOfPhysicalPages, (unsigned long long)(MmNumberOfPhysicalPages >> 8),
            (unsigned long long)MmAvailablePages, MiCountPfnsByUsage(MiUsagePfnDatabase),
            MiCountPfnsByUsage(MiUsagePageTable));
    kprintf("mm: CR4 %s%s, NX on, kernel image W^X\n", (read_cr4() & CR4_SMEP) ? "SMEP " : "",
            (read_cr4() & CR4_SMAP) ? "SMAP" : "");
}
