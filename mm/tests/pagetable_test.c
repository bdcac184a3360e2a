/* Page tables: the self-map against a manual walk, W^X, protections, mapping. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

/* Read entry INDEX of the table in frame PFN, through hyperspace. */
static ULONG64 read_entry(PFN_NUMBER pfn, ULONG index)
{
    KIRQL old;
    ULONG64 *t = MiMapPageInHyperspace(pfn, &old);
    ULONG64 v = t[index];
    MiUnmapPageInHyperspace(t, old);
    return v;
}

/* The walk the CPU does: CR3 -> PML4 -> PDPT -> PD -> PT, by physical
 * frame; each step must agree with the self-map's view of that entry. */
static void check_walk(const void *va)
{
    ULONG64 a = (ULONG64)va;
    ULONG64 pml4e = read_entry(read_cr3() >> PAGE_SHIFT, (a >> 39) & 511);
    KT_EQ(pml4e, MiGetPxeAddress(va)->u.Long);
    ULONG64 pdpte = read_entry(MI_PTE_PFN(pml4e), (a >> 30) & 511);
    KT_EQ(pdpte, MiGetPpeAddress(va)->u.Long);
    ULONG64 pde = read_entry(MI_PTE_PFN(pdpte), (a >> 21) & 511);
    KT_EQ(pde, MiGetPdeAddress(va)->u.Long);
    ULONG64 pte = read_entry(MI_PTE_PFN(pde), (a >> 12) & 511);
    KT_EQ(pte, MiGetPteAddress(va)->u.Long);
    KT_EQ((MI_PTE_PFN(pte) << PAGE_SHIFT) | BYTE_OFFSET(va), (ULONG64)MmGetPhysicalAddress((PVOID)va).QuadPart);
}

KTEST(mm, selfmap_matches_manual_walk)
{
    /* The self-map constants follow from slot 0x1ED alone. */
    KT_EQ((ULONG64)MiGetPteAddress((void *)PTE_BASE), PDE_BASE);
    KT_EQ((ULONG64)MiGetPteAddress((void *)PDE_BASE), PPE_BASE);
    KT_EQ((ULONG64)MiGetPteAddress((void *)PPE_BASE), PXE_BASE);
    KT_EQ((ULONG64)MiGetPteAddress((void *)PXE_BASE), PXE_BASE + MI_SELFMAP_INDEX * 8);
    KT_EQ(MI_PTE_PFN(((PMMPTE)PXE_BASE)[MI_SELFMAP_INDEX].u.Long), read_cr3() >> PAGE_SHIFT);
    KT_EQ((ULONG64)MiGetVirtualAddressMappedByPte(MiGetPteAddress((void *)0xFFFFF8A000123000ULL)),
          0xFFFFF8A000123000ULL);

    check_walk((const void *)MmInitSystem);   /* text */
    check_walk(&MmAvailablePages);            /* data */
    check_walk(MmPfnDatabase + MmLowestPhysicalPage);
    PVOID p = ExAllocatePoolWithTag(NonPagedPoolNx, 64, POOL_TAG('T', 'e', 's', 't'));
    check_walk(p);
    ExFreePoolWithTag(p, POOL_TAG('T', 'e', 's', 't'));
}

static ULONG64 pte_of(const void *va) { return MiGetPteAddress(va)->u.Long; }

KTEST(mm, kernel_image_is_w_xor_x)
{
    extern char __rodata_start[], __data_start[], __bss_start[];
    ULONG64 text = pte_of((const void *)MmInitSystem);
    KT_ASSERT((text & MI_PTE_VALID) && !(text & MI_PTE_WRITE) && !(text & MI_PTE_NX));
    ULONG64 ro = pte_of(__rodata_start);
    KT_ASSERT((ro & MI_PTE_VALID) && !(ro & MI_PTE_WRITE) && (ro & MI_PTE_NX));
    ULONG64 data = pte_of(__data_start);
    KT_ASSERT((data & MI_PTE_VALID) && (data & MI_PTE_WRITE) && (data & MI_PTE_NX));
    ULONG64 bss = pte_of(__bss_start);
    KT_ASSERT((bss & MI_PTE_WRITE) && (bss & MI_PTE_NX));
    KT_ASSERT(text & MI_PTE_GLOBAL);
    /* No page of the image is both writable and executable. */
    for (ULONG64 va = (ULONG64)__kernel_start; va < (ULONG64)__kernel_end; va += PAGE_SIZE)
        if (MmIsAddressValid((PVOID)va))
            KT_ASSERT(!(pte_of((void *)va) & MI_PTE_WRITE) || (pte_of((void *)va) & MI_PTE_NX));
}

KTEST(mm, null_page_and_guards_unmapped)
{
    KT_ASSERT(!MmIsAddressValid(NULL));
    KT_ASSERT(!MmIsAddressValid((PVOID)0x10000));
    KT_ASSERT(!MmIsAddressValid(boot_stack_guard));          /* the boot stack's guard page */
    KT_ASSERT(MmIsAddressValid(boot_stack));
    KT_ASSERT(!MmIsAddressValid((PVOID)(KERNEL_VIRT_OFFSET + 0xB8000)));  /* no boot mapping left */
}

KTEST(mm, cpu_protections_enabled)
{
    uint32_t a, b, c, d;
    KT_ASSERT(read_cr0() & CR0_WP);
    KT_ASSERT(rdmsr(MSR_EFER) & EFER_NXE);
    cpuid(7, 0, &a, &b, &c, &d);
    if (b & (1u << 7))
        KT_ASSERT(read_cr4() & CR4_SMEP);
    if (b & (1u << 20))
        KT_ASSERT(read_cr4() & CR4_SMAP);
    KT_ASSERT((b & (1u << 7)) && (b & (1u << 20)));   /* make test runs -cpu max: both exist */
    KT_EQ(rdmsr(0x277), 0x0007010600070106ULL);       /* our PAT layout */
}

KTEST(mm, map_and_unmap_update_the_pfn_entry)
{
    PMMPTE pte = MiReserveSystemPtes(1);
    KT_ASSERT(pte);
    PUCHAR va = MiGetVirtualAddressMappedByPte(pte);
    PFN_NUMBER pfn = MiAllocatePfn(MiUsageTest, TRUE);
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    KT_EQ(e->ShareCount, 0);
    MiMapPage(va, pfn, MI_PROT_KERNEL_RW);
    KT_EQ(e->ShareCount, 1);
    KT_EQ((ULONG64)e->PteAddress, (ULONG64)pte);
    KT_ASSERT(MmIsAddressValid(va));
    va[100] = 0x5A;
    KT_ASSERT(pte->u.Hard.Dirty);          /* the CPU set D on the write */
    KT_EQ(MiUnmapPage(va), pfn);
    KT_EQ(e->ShareCount, 0);
    KT_ASSERT(!MmIsAddressValid(va));
    MiFreePfn(pfn);
    MiReleaseSystemPtes(pte, 1);
}

KTEST(mm, hyperspace_map_and_release)
{
    PFN_NUMBER pfn = MiAllocatePfn(MiUsageTest, TRUE);
    KIRQL o1, o2;
    PULONG64 a = MiMapPageInHyperspace(pfn, &o1);
    KT_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);      /* held at DISPATCH_LEVEL */
    KT_EQ(o1, PASSIVE_LEVEL);
    KT_GE((ULONG64)a, MI_HYPERSPACE_BASE);
    KT_LT((ULONG64)a, MI_HYPERSPACE_BASE + MI_HYPERSPACE_PAGES * PAGE_SIZE);
    a[7] = 0x1122334455667788ULL;
    PULONG64 b = MiMapPageInHyperspace(pfn, &o2);   /* a second, simultaneous slot */
    KT_NE((ULONG64)a, (ULONG64)b);
    KT_EQ(b[7], 0x1122334455667788ULL);             /* same frame, two addresses */
    KT_EQ(MiHyperspaceSlotsInUse(), 2);
    MiUnmapPageInHyperspace(b, o2);
    MiUnmapPageInHyperspace(a, o1);
    KT_EQ(MiHyperspaceSlotsInUse(), 0);
    KT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_ASSERT(!MmIsAddressValid(a));
    MiFreePfn(pfn);
}

/* W^X is enforced by the CPU: each of these ends in NT's bugcheck for it. */
static UCHAR data_code[16] = { 0xC3 };   /* "ret", in a no-execute data page */

KTEST_BUGCHECK(mm, write_to_kernel_text_bugchecks, ATTEMPTED_WRITE_TO_READONLY_MEMORY, KT_ANY, KT_ANY, 0, 0)
{
    volatile UCHAR *code = (volatile UCHAR *)MmInitSystem;
    KtExpectParam(1, (ULONG64)code);
    *code = 0x90;
}

static const ULONG constant_value = 42;
KTEST_BUGCHECK(mm, write_to_rodata_bugchecks, ATTEMPTED_WRITE_TO_READONLY_MEMORY, KT_ANY, KT_ANY, 0, 0)
{
    volatile ULONG *p = (volatile ULONG *)&constant_value;
    KtExpectParam(1, (ULONG64)p);
    *p = 43;
}

KTEST_BUGCHECK(mm, execute_data_bugchecks, ATTEMPTED_EXECUTE_OF_NOEXECUTE_MEMORY, KT_ANY, KT_ANY, 0, 0)
{
    void (*fn)(void) = (void (*)(void))(void *)data_code;
    KtExpectParam(1, (ULONG64)data_code);
    fn();
}

KTEST_BUGCHECK(mm, execute_pool_bugchecks, ATTEMPTED_EXECUTE_OF_NOEXECUTE_MEMORY, KT_ANY, KT_ANY, 0, 0)
{
    PUCHAR p = ExAllocatePoolWithTag(NonPagedPool, 16, POOL_TAG('T', 'e', 's', 't'));
    p[0] = 0xC3;
    KtExpectParam(1, (ULONG64)p);
    ((void (*)(void))(void *)p)();
}

KBENCH(mm, map_unmap)
{
    enum { N = 2000 };
    PMMPTE pte = MiReserveSystemPtes(1);
    PVOID va = MiGetVirtualAddressMappedByPte(pte);
    PFN_NUMBER pfn = MiAllocatePfn(MiUsageTest, FALSE);
    uint64_t t0 = rdtsc();
    for (int i = 0; i < N; i++) {
        MiMapPage(va, pfn, MI_PROT_KERNEL_RW);
        MiUnmapPage(va);
    }
    uint64_t t1 = rdtsc();
    KIRQL old;
    for (int i = 0; i < N; i++) {
        PVOID hva = MiMapPageInHyperspace(pfn, &old);
        MiUnmapPageInHyperspace(hva, old);
    }
    uint64_t t2 = rdtsc();
    MiFreePfn(pfn);
    MiReleaseSystemPtes(pte, 1);
    KtBenchReport("cycles_per_map_unmap", (t1 - t0) / N, "cycles");
    KtBenchReport("cycles_per_hyperspace_map_unmap", (t2 - t1) / N, "cycles");
}
