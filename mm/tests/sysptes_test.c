/* System PTEs: runs, guard pages, exhaustion; MmMapIoSpace; kernel stacks. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

static ULONG index_of(PMMPTE pte)
{
    return (ULONG)(((ULONG64)MiGetVirtualAddressMappedByPte(pte) - MI_SYSTEM_PTE_BASE) >> PAGE_SHIFT);
}

KTEST(sysptes, runs_do_not_overlap_and_have_guards)
{
    ULONG before = MiSystemPtesInUse();
    PMMPTE a = MiReserveSystemPtes(1), b = MiReserveSystemPtes(4), c = MiReserveSystemPtes(2);
    KT_ASSERT(a && b && c);
    KT_EQ(MiSystemPtesInUse(), before + (1 + 1) + (4 + 1) + (2 + 1));   /* each run + its guard */
    ULONG ia = index_of(a), ib = index_of(b), ic = index_of(c);
    /* Runs are disjoint and never adjacent: a guard PTE follows each. */
    KT_ASSERT(ib >= ia + 2 || ia >= ib + 5);
    KT_ASSERT(ic >= ib + 5 || ib >= ic + 3);
    KT_ASSERT(ic >= ia + 2 || ia >= ic + 3);
    for (int i = 0; i < 4; i++)
        KT_EQ(b[i].u.Long, 0);   /* reserved, not yet mapped */
    MiReleaseSystemPtes(b, 4);
    MiReleaseSystemPtes(a, 1);
    MiReleaseSystemPtes(c, 2);
    KT_EQ(MiSystemPtesInUse(), before);
}

KTEST(sysptes, exhaustion_returns_null)
{
    static PMMPTE runs[MI_SYSTEM_PTE_PAGES / 2];
    static ULONG sizes[MI_SYSTEM_PTE_PAGES / 2];
    ULONG before = MiSystemPtesInUse(), n = 0;
    /* Big runs first, then single pages until nothing is left. */
    static const ULONG sizes_to_try[] = { 1023, 255, 63, 15, 3, 1 };
    for (ULONG k = 0; k < ARRAYSIZE(sizes_to_try); k++) {
        ULONG size = sizes_to_try[k];
        PMMPTE p;
        while ((p = MiReserveSystemPtes(size)) != NULL) {
            runs[n] = p;
            sizes[n++] = size;
        }
    }
    KT_ASSERT(MiReserveSystemPtes(1) == NULL);
    /* Only lone PTEs can be left (a run needs 2, itself and its guard): at
     * most one in each gap between the runs that were in use before (each
     * takes at least 2 PTEs), plus one where the next-fit search wrapped
     * around its hint. (Not "at most one": how many depends on where
     * earlier tests left the hint.) */
    KT_LE(MiSystemPtesTotal() - MiSystemPtesInUse(), before / 2 + 2);
    while (n--)
        MiReleaseSystemPtes(runs[n], sizes[n]);
    KT_EQ(MiSystemPtesInUse(), before);
    PMMPTE again = MiReserveSystemPtes(1000);               /* usable again */
    KT_ASSERT(again != NULL);
    MiReleaseSystemPtes(again, 1000);
}

KTEST(sysptes, io_space_maps_the_local_apic)
{
    /* A real device: the local APIC's registers, at the physical address
     * in IA32_APIC_BASE. Its ID register must agree with CPUID. */
    PHYSICAL_ADDRESS pa = { (LONGLONG)(rdmsr(0x1B) & 0xFFFFFF000ULL) };
    volatile ULONG *apic = MmMapIoSpace(pa, PAGE_SIZE, MmNonCached);
    KT_ASSERT(apic != NULL);
    PMMPTE pte = MiGetPteAddress((PVOID)apic);
    KT_EQ(pte->u.Long & (MI_PTE_PCD | MI_PTE_PWT), MI_PTE_PCD | MI_PTE_PWT);   /* uncached, PAT entry 3 */
    KT_EQ(MI_PTE_PFN(pte->u.Long), (ULONG64)pa.QuadPart >> PAGE_SHIFT);
    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    KT_EQ(apic[0x20 / 4] >> 24, b >> 24);            /* APIC ID */
    ULONG version = apic[0x30 / 4];
    KT_GE(version & 0xFF, 0x10);                      /* an integrated APIC */
    KT_GE((version >> 16) & 0xFF, 3);                 /* at least 4 LVT entries */
    MmUnmapIoSpace((PVOID)apic, PAGE_SIZE);
    KT_ASSERT(!MmIsAddressValid((PVOID)apic));
}

KTEST(sysptes, io_space_caching_types_and_aliases)
{
    PHYSICAL_ADDRESS vga = { 0xB8000 + 2 * (80 * 24 + 79) };   /* bottom-right cell */
    volatile USHORT *wc = MmMapIoSpace(vga, 2, MmWriteCombined);
    volatile USHORT *uc = MmMapIoSpace(vga, 2, MmNonCached);
    volatile USHORT *wb = MmMapIoSpace(vga, 2, MmCached);
    KT_ASSERT(wc && uc && wb);
    KT_NE((ULONG64)wc, (ULONG64)uc);
    KT_EQ(MiGetPteAddress((PVOID)wc)->u.Long & (MI_PTE_PCD | MI_PTE_PWT), MI_PTE_PWT);
    KT_EQ(MiGetPteAddress((PVOID)wb)->u.Long & (MI_PTE_PCD | MI_PTE_PWT), 0);
    USHORT saved = *uc;
    *uc = 0x1F58;                /* 'X', white on blue */
    KT_EQ(*wc, 0x1F58);          /* the same frame through another mapping */
    *uc = saved;
    MmUnmapIoSpace((PVOID)wb, 2);
    MmUnmapIoSpace((PVOID)uc, 2);
    MmUnmapIoSpace((PVOID)wc, 2);
}

KTEST(sysptes, kernel_stack_has_guard_pages)
{
    PVOID limit;
    ULONG in_use = MiSystemPtesInUse();
    PUCHAR top = MmCreateKernelStack(4, &limit);
    KT_ASSERT(top != NULL);
    KT_EQ((ULONG64)(top - (PUCHAR)limit), 4 * PAGE_SIZE);
    for (int i = 0; i < 4; i++)
        KT_ASSERT(MmIsAddressValid((PUCHAR)limit + i * PAGE_SIZE));
    KT_ASSERT(!MmIsAddressValid((PUCHAR)limit - PAGE_SIZE));   /* guard below: overflow faults */
    KT_ASSERT(!MmIsAddressValid(top));                         /* and the run's guard above */
    KT_EQ(MiSystemPtesInUse(), in_use + 6);
    KT_EQ(MI_PFN_ELEMENT(MI_PTE_PFN(MiGetPteAddress(limit)->u.Long))->Usage, MiUsageKernelStack);
    MmDeleteKernelStack(top, 4);
    KT_EQ(MiSystemPtesInUse(), in_use);
}

static ULONG64 sum_on_stack(ULONG64 n)
{
    volatile ULONG64 buf[64];
    for (int i = 0; i < 64; i++)
        buf[i] = n + i;
    ULONG64 s = 0;
    for (int i = 0; i < 64; i++)
        s += buf[i];
    return s;
}

KTEST(sysptes, code_runs_on_a_new_kernel_stack)
{
    PVOID limit;
    PVOID top = MmCreateKernelStack(2, &limit);
    KT_EQ(KiCallOnStack(sum_on_stack, 1, top), 64 + 63 * 64 / 2);
    MmDeleteKernelStack(top, 2);
}

static volatile ULONG64 depth_limit = ~0ULL;
__attribute__((noinline)) static ULONG64 deep(ULONG64 n)
{
    volatile UCHAR pad[512];
    pad[0] = (UCHAR)n;
    if (n >= depth_limit)
        return n;
    return deep(n + 1) + pad[0];
}

KTEST_BUGCHECK(sysptes, kernel_stack_overflow_hits_guard, UNEXPECTED_KERNEL_MODE_TRAP, 8, 0, KT_ANY, 0)
{
    PVOID limit;
    PVOID top = MmCreateKernelStack(2, &limit);
    KiCallOnStack(deep, 0, top);
}

/* Every run goes back to the bitmap with its PTEs zero: that is what lets
 * a map write a reserved run's PTEs without reading them (MiWriteFreshPte)
 * and without a flush. A caller that releases a run it still maps breaks
 * it; the release must stop, naming the first PTE that still maps. */
KTEST_BUGCHECK(sysptes, releasing_a_run_that_still_maps_a_page, SYSTEM_PTE_MISUSE, 0x102, KT_ANY, KT_ANY, 0)
{
    PMMPTE run = MiReserveSystemPtes(3);
    KT_ASSERT(run != NULL);
    PHYSICAL_ADDRESS vga = { 0xB8000 };
    MiWriteFreshPte(&run[1], ((ULONG64)vga.QuadPart) | MI_PTE_VALID | MI_PROT_KERNEL_RW | MiCacheFlags(MmNonCached));
    KtExpectParam(2, (ULONG64)&run[1]);
    KtExpectParam(3, run[1].u.Long);
    MiReleaseSystemPtes(run, 3);
    kprintf("a run was released while it still mapped a page\n");
}

/* The unmap's own pass (MiUnmapSystemPtes) does not re-read what it just
 * cleared; the run must still come back whole, with zero PTEs. (That the
 * touched pages' translations are flushed is
 * tlb.touching_an_unmapped_mdl_mapping_bugchecks.) */
KTEST(sysptes, unmap_gives_back_a_zero_run)
{
    ULONG before = MiSystemPtesInUse();
    PHYSICAL_ADDRESS vga = { 0xB8000 };
    volatile USHORT *v = MmMapIoSpace(vga, 2 * PAGE_SIZE, MmNonCached);
    KT_ASSERT(v != NULL);
    (void)v[0];
    (void)v[PAGE_SIZE / 2];
    PMMPTE pte = MiGetPteAddress((PVOID)v);
    MmUnmapIoSpace((PVOID)v, 2 * PAGE_SIZE);
    KT_EQ(pte[0].u.Long, 0);
    KT_EQ(pte[1].u.Long, 0);
    KT_ASSERT(!MmIsAddressValid((PVOID)v));
    KT_ASSERT(!MmIsAddressValid((PVOID)(v + PAGE_SIZE / 2)));
    KT_EQ(MiSystemPtesInUse(), before);
}
