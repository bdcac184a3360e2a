/*
 * The kernel's own 4-level page tables, reached through the self-map.
 *
 * At boot we still run on boot.asm's tables, which map physical 0-1 GiB at
 * KERNEL_VIRT_OFFSET. MiInitializePageTables builds the real tables in
 * frames from the early allocator (written through that boot mapping),
 * then switches CR3. From then on there is no mapping of physical memory
 * at all: a page table is read or written at its self-map address, and any
 * other frame through hyperspace or a system-PTE mapping.
 */
#include "mm/mi.h"
#include "kernel/ps/psp.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"

/* ---- before the switch: build tables through the boot mapping ---- */

static ULONG64 *boot_va_of(PFN_NUMBER pfn)
{
    return (ULONG64 *)(KERNEL_VIRT_OFFSET + (pfn << PAGE_SHIFT));
}

/* Upper-level entries carry P, RW (and US for user space); the leaf PTE
 * decides the real access, and NX in an upper level would apply to
 * everything below, so it is left clear there. */
#define MI_TABLE_ENTRY(pfn) (((ULONG64)(pfn) << PAGE_SHIFT) | MI_PTE_VALID | MI_PTE_WRITE)

static ULONG64 *early_next_level(ULONG64 *table, int index)
{
    if (!(table[index] & MI_PTE_VALID))
        table[index] = MI_TABLE_ENTRY(MiEarlyAllocatePage());
    return boot_va_of(MI_PTE_PFN(table[index]));
}

static ULONG64 *early_pte(ULONG64 *pml4, ULONG64 va)
{
    ULONG64 *pdpt = early_next_level(pml4, (va >> 39) & 511);
    ULONG64 *pd = early_next_level(pdpt, (va >> 30) & 511);
    ULONG64 *pt = early_next_level(pd, (va >> 21) & 511);
    return &pt[(va >> 12) & 511];
}

static ULONG64 image_flags(ULONG64 va)
{
    if (va >= (ULONG64)__text_start && va < (ULONG64)__text_end)
        return MI_PTE_VALID | MI_PROT_KERNEL_RX;              /* code: read + execute */
    if (va >= (ULONG64)__rodata_start && va < (ULONG64)__data_start)
        return MI_PTE_VALID | MI_PROT_KERNEL_RO;              /* constants: read only */
    return MI_PTE_VALID | MI_PROT_KERNEL_RW;                  /* data, bss: never executable */
}

static BOOLEAN boot_page_present(ULONG64 va)
{
    ULONG64 index = (va - KERNEL_VIRT_OFFSET) >> PAGE_SHIFT;
    return index >= ARRAYSIZE(boot_pt_high) || (boot_pt_high[index] & MI_PTE_VALID);
}

void MiInitializePageTables(void)
{
    PFN_NUMBER pml4_pfn = MiEarlyAllocatePage();
    ULONG64 *pml4 = boot_va_of(pml4_pfn);

    /* The self-map: the PML4 is its own PDPT, PD and PT in slot 0x1ED. */
    pml4[MI_SELFMAP_INDEX] = MI_TABLE_ENTRY(pml4_pfn) | MI_PTE_NX;

    /* The kernel image, W^X, page by page; guard pages stay out. */
    for (ULONG64 va = (ULONG64)__kernel_start; va < (ULONG64)__kernel_end; va += PAGE_SIZE) {
        if (!boot_page_present(va))
            continue;
        *early_pte(pml4, va) = (va - KERNEL_VIRT_OFFSET) | image_flags(va);
    }

    /* Hyperspace's page table exists from the start: mapping a page there
     * must never need to allocate one (it is how we zero new frames). */
    early_pte(pml4, MI_HYPERSPACE_BASE);

    /* The other system regions get their PML4 slot's PDPT now, so every
     * later address space can share the kernel half by copying PML4 slots. */
    early_next_level(pml4, (MI_SYSTEM_PTE_BASE >> 39) & 511);
    early_next_level(pml4, (MI_PAGED_POOL_START >> 39) & 511);
    early_next_level(pml4, (MI_NONPAGED_POOL_START >> 39) & 511);

    /* The PFN database, only over RAM: sparse memory maps cost no frames. */
    for (ULONG r = 0; r < MiRamRangeCount; r++) {
        ULONG64 s = MI_PFN_DATABASE + MiRamRanges[r].start * sizeof(MMPFN);
        ULONG64 e = MI_PFN_DATABASE + MiRamRanges[r].end * sizeof(MMPFN);
        for (ULONG64 va = s & ~(ULONG64)(PAGE_SIZE - 1); va < e; va += PAGE_SIZE) {
            ULONG64 *pte = early_pte(pml4, va);
            if (!(*pte & MI_PTE_VALID))
                *pte = (MiEarlyAllocatePage() << PAGE_SHIFT) | MI_PTE_VALID | MI_PROT_KERNEL_RW;
        }
    }

    /* The switch. The code, stack and data we are using are mapped at the
     * same addresses in both, so execution simply continues. VGA text
     * memory is not mapped in the new tables until MmMapIoSpace exists. */
    HalVgaSetBuffer(NULL);
    write_cr4(read_cr4() | (1ULL << 7));   /* PGE: global kernel entries survive CR3 reloads */
    write_cr3(pml4_pfn << PAGE_SHIFT);
    MiCloseEarlyAllocator();
}

/* ---- after the switch: everything through the self-map ---- */

BOOLEAN MiIsPteAccessible(const void *va)
{
    return (MiGetPxeAddress(va)->u.Long & MI_PTE_VALID) && (MiGetPpeAddress(va)->u.Long & MI_PTE_VALID) &&
           (MiGetPdeAddress(va)->u.Long & MI_PTE_VALID) && !(MiGetPdeAddress(va)->u.Long & MI_PTE_LARGE);
}

ULONG64 MiReadUserPte(ULONG64 vpn, ULONG64 *last)
{
    const void *va = (const void *)(vpn << PAGE_SHIFT);
    if (!(MiGetPxeAddress(va)->u.Long & MI_PTE_VALID)) {
        *last = vpn | ((1ULL << 27) - 1);   /* no PDPT: 512 GiB read as zero */
        return 0;
    }
    if (!(MiGetPpeAddress(va)->u.Long & MI_PTE_VALID)) {
        *last = vpn | ((1ULL << 18) - 1);   /* no PD: 1 GiB */
        return 0;
    }
    if (!(MiGetPdeAddress(va)->u.Long & MI_PTE_VALID)) {
        *last = vpn | ((1ULL << 9) - 1);    /* no PT: 2 MiB */
        return 0;
    }
    *last = vpn;
    return MiGetPteAddress(va)->u.Long;
}

void MiWritePteAndFlush(PMMPTE pte, ULONG64 value)
{
    /* One 64-bit store: the CPU may walk the tables at any moment and must
     * never see half an entry. (Only software changes P, under the lock
     * that owns the PTE, so reading it first is safe.) */
    ULONG64 old = pte->u.Long;
    *(volatile ULONG64 *)&pte->u.Long = value;
    /* A not-present entry is never cached, in the TLB or the paging-
     * structure caches (Intel SDM vol. 3, 4.10.2.3 and 4.10.4.3: changing P
     * from 0 to 1 needs no invalidation). So making a page present - every
     * fault's last step, every new mapping - needs no INVLPG, which costs a
     * few hundred cycles under TCG. Only an entry that was valid can be
     * stale. */
    if (old & MI_PTE_VALID)
        invlpg(MiGetVirtualAddressMappedByPte(pte));
}

static BOOLEAN ensure_level(PMMPTE entry, BOOLEAN user)
{
    if (entry->u.Long & MI_PTE_VALID)
        return TRUE;
    PFN_NUMBER pfn = MiAllocatePfn(MiUsagePageTable, TRUE);
    if (!pfn)
        return FALSE;
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    e->PteAddress = entry;
    e->PteFrame = MiGetPteFrame(entry);
    e->ShareCount = 0;
    /* Kernel PML4 slots are all created at boot and shared by every
     * address space; a new one now would exist in this PML4 only. */
    if ((ULONG64)entry >= PXE_BASE + 256 * 8 && (ULONG64)entry < PXE_BASE + PAGE_SIZE)
        KeBugCheckRule(MEMORY_MANAGEMENT, 0x3000, (ULONG_PTR)entry, 0, 0, "a kernel PML4 slot was created after boot (%p)",
                       MiGetVirtualAddressMappedByPte(entry));
    MI_PFN_ELEMENT(MiGetPteFrame(entry))->ShareCount++;
    if (user)
        MiUserPageTableCreated(KeGetCurrentThread()->ActiveProcess);   /* charged to the address space it is in */
    *(volatile ULONG64 *)&entry->u.Long = MI_TABLE_ENTRY(pfn) | (user ? MI_PTE_OWNER : 0);
    /* The new table's self-map address may be cached as not-present in
     * the paging-structure caches; flush it before touching the table. */
    invlpg(MiGetVirtualAddressMappedByPte(entry));
    return TRUE;
}

BOOLEAN MiEnsurePageTables(const void *va)
{
    BOOLEAN user = (ULONG64)va < 0x0000800000000000ULL;
    return ensure_level(MiGetPxeAddress(va), user) && ensure_level(MiGetPpeAddress(va), user) &&
           ensure_level(MiGetPdeAddress(va), user);
}

void MiMapPage(void *va, PFN_NUMBER pfn, ULONG64 flags)
{
    if (!MiEnsurePageTables(va))
        KeBugCheckRule(MEMORY_MANAGEMENT, 0x41284, (ULONG_PTR)va, 0, 0,
                       "no frame left for a page table while mapping %p", va);
    PMMPTE pte = MiGetPteAddress(va);
    if (pte->u.Long & MI_PTE_VALID)
        KeBugCheckRule(MEMORY_MANAGEMENT, 0x411, (ULONG_PTR)pte, pte->u.Long, (ULONG_PTR)va,
                       "a mapping was made over a valid PTE (%p already maps frame %#llx)", va,
                       (unsigned long long)MI_PTE_PFN(pte->u.Long));
    if (pte->u.Long == 0)
        MI_PFN_ELEMENT(MiGetPteFrame(pte))->ShareCount++;
    if (MiIsPfnRam(pfn)) {
        PMMPFN e = MI_PFN_ELEMENT(pfn);
        /* This PTE becomes the frame's owner (PteAddress). A shared image
         * frame has none: its PFN names the prototype PTE, which is what
         * lets any one process's mapping of it come and go (mm/image.c). */
        if (e->PrototypePte)
            KeBugCheckRule(PFN_LIST_CORRUPT, 0x99, pfn, (ULONG_PTR)e->PteAddress, (ULONG_PTR)pte,
                           "shared image frame %#llx was mapped at %p as if it were private: its PFN entry "
                           "must keep naming its prototype PTE", (unsigned long long)pfn, va);
        e->ShareCount++;
        e->PteAddress = pte;
        e->PteFrame = MiGetPteFrame(pte);
    }
    MiWritePteAndFlush(pte, (pfn << PAGE_SHIFT) | flags | MI_PTE_VALID);
}

PFN_NUMBER MiUnmapPage(void *va)
{
    PMMPTE pte = MiGetPteAddress(va);
    if (!MiIsPteAccessible(va) || !(pte->u.Long & MI_PTE_VALID))
        KeBugCheckRule(MEMORY_MANAGEMENT, 0x411, (ULONG_PTR)pte, MiIsPteAccessible(va) ? pte->u.Long : 0, (ULONG_PTR)va,
                       "an unmap found no valid mapping at %p", va);
    PFN_NUMBER pfn = MI_PTE_PFN(pte->u.Long);
    MiWritePteAndFlush(pte, 0);
    MI_PFN_ELEMENT(MiGetPteFrame(pte))->ShareCount--;
    if (MiIsPfnRam(pfn)) {
        PMMPFN e = MI_PFN_ELEMENT(pfn);
        if (e->ShareCount == 0)
            KeBugCheckRule(PFN_LIST_CORRUPT, 0x99, pfn, 0, 0, "frame %#llx unmapped more often than mapped",
                           (unsigned long long)pfn);
        e->ShareCount--;
    }
    return pfn;
}

BOOLEAN MmIsAddressValid(PVOID va)
{
    return MiIsPteAccessible(va) && (MiGetPteAddress(va)->u.Long & MI_PTE_VALID);
}

PHYSICAL_ADDRESS MmGetPhysicalAddress(PVOID va)
{
    PHYSICAL_ADDRESS pa = { 0 };
    if (MmIsAddressValid(va))
        pa.QuadPart = (LONGLONG)((MI_PTE_PFN(MiGetPteAddress(va)->u.Long) << PAGE_SHIFT) | BYTE_OFFSET(va));
    return pa;
}

/* ---- PAT: page attribute table (Intel SDM vol. 3, 11.12) ----
 * A PTE's PAT, PCD and PWT bits form a 3-bit index into the IA32_PAT MSR,
 * whose 8 entries each name a memory type. We keep the power-on layout for
 * entries 0, 2, 3 (WB, UC-, UC) and put write-combining in entry 1, so:
 *   MmCached        -> index 0 (no bits)  write-back
 *   MmWriteCombined -> index 1 (PWT)      write-combining
 *   MmNonCached     -> index 3 (PCD|PWT)  uncacheable */
#define MSR_PAT 0x277
#define PAT_UC 0ULL
#define PAT_WC 1ULL
#define PAT_WB 6ULL
#define PAT_UCMINUS 7ULL

void MiInitializePat(void)
{
    ULONG64 pat = PAT_WB | (PAT_WC << 8) | (PAT_UCMINUS << 16) | (PAT_UC << 24) | (PAT_WB << 32) |
                  (PAT_WC << 40) | (PAT_UCMINUS << 48) | (PAT_UC << 56);
    __asm__ volatile("wbinvd" ::: "memory");   /* no stale cache lines under the new types */
    wrmsr(MSR_PAT, pat);
    write_cr3(read_cr3());
}

ULONG64 MiCacheFlags(MEMORY_CACHING_TYPE type)
{
    switch (type) {
    case MmCached: return 0;
    case MmWriteCombined: return MI_PTE_PWT;
    default: return MI_PTE_PWT | MI_PTE_PCD;
    }
}
