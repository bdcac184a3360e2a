/*
 * System PTEs: a region of kernel address space handed out in runs of
 * pages, for mappings that come and go - MmMapIoSpace, kernel stacks, and
 * (issue 5) MDL mappings. Every run is followed by one PTE left unused, a
 * guard page, so running off the end of a mapping faults instead of
 * landing silently in the next one.
 */
#include "mm/mi.h"
#include "kernel/kd/kd.h"
#include "kernel/hal/x86.h"

#define NPTES MI_SYSTEM_PTE_PAGES
static ULONG64 used_bits[NPTES / 64];   /* one bit per PTE, guards included */
static RTL_BITMAP used;
static USHORT run_length[NPTES];        /* at a run's first PTE: its length */
static ULONG in_use, hint;
/* The bitmap, run lengths and counts: one spin lock (docs/mm.md §6).
 * Inside it a run's page tables may be created, which takes the PFN lock. */
static KSPIN_LOCK pte_lock;

static PMMPTE pte_of(ULONG i) { return MiGetPteAddress((void *)(MI_SYSTEM_PTE_BASE + (ULONG64)i * PAGE_SIZE)); }

void MiInitializeSystemPtes(void)
{
    RtlInitializeBitMap(&used, used_bits, NPTES);
    in_use = hint = 0;
    KeInitializeSpinLock(&pte_lock);
}

PMMPTE MiReserveSystemPtes(ULONG count)
{
    if (count == 0 || count >= 0xFFFF)
        return NULL;
    KIRQL old;
    KeAcquireSpinLock(&pte_lock, &old);
    ULONG first = RtlFindClearBitsAndSet(&used, count + 1, hint);   /* + the guard */
    if (first == 0xFFFFFFFF) {
        KeReleaseSpinLock(&pte_lock, old);
        return NULL;
    }
    /* The page tables under the run must exist before anyone maps there;
     * creating them may fail when memory is exhausted. */
    for (ULONG i = 0; i < count; i++) {
        /* Once per page table the run crosses, not once per page. */
        if (i && (first + i) % 512)
            continue;
        if (!MiEnsurePageTables(MiGetVirtualAddressMappedByPte(pte_of(first + i)))) {
            RtlClearBits(&used, first, count + 1);
            KeReleaseSpinLock(&pte_lock, old);
            return NULL;
        }
    }
    run_length[first] = (USHORT)count;
    in_use += count + 1;
    hint = first + count + 1;
    if (hint >= NPTES)
        hint = 0;
    KeReleaseSpinLock(&pte_lock, old);
    return pte_of(first);
}

/* CLEARED: the caller has just exchanged every PTE of the run to zero
 * (MiUnmapSystemPtes), so the check that none still maps something cannot
 * fail and its pass over the run is skipped; every other caller gets it. */
static void release_run(PMMPTE first_pte, ULONG count, BOOLEAN cleared)
{
    ULONG64 va = (ULONG64)MiGetVirtualAddressMappedByPte(first_pte);
    ULONG first = (ULONG)((va - MI_SYSTEM_PTE_BASE) >> PAGE_SHIFT);
    if (va < MI_SYSTEM_PTE_BASE || first >= NPTES || run_length[first] != count || !RtlCheckBit(&used, first))
        KeBugCheckRule(SYSTEM_PTE_MISUSE, 0x101, (ULONG_PTR)first_pte, count, first < NPTES ? run_length[first] : 0,
                       "system PTEs released that were not reserved as one run of %u", count);
    KIRQL old;
    KeAcquireSpinLock(&pte_lock, &old);
    for (ULONG i = 0; i < count && !cleared; i++)
        if (pte_of(first + i)->u.Long != 0)
            KeBugCheckRule(SYSTEM_PTE_MISUSE, 0x102, (ULONG_PTR)pte_of(first + i), pte_of(first + i)->u.Long, 0,
                           "system PTEs released while still mapping something (unmap first)");
    RtlClearBits(&used, first, count + 1);
    run_length[first] = 0;
    in_use -= count + 1;
    KeReleaseSpinLock(&pte_lock, old);
}

void MiReleaseSystemPtes(PMMPTE first_pte, ULONG count)
{
    release_run(first_pte, count, FALSE);
}

/* Every run goes back to the bitmap with its PTEs zero (checked, or made
 * so here), which is why a map may write a reserved run's PTEs without
 * reading them first (MiWriteFreshPte). */
void MiUnmapSystemPtes(PMMPTE first_pte, ULONG count)
{
    MiZeroPtesAndFlush(first_pte, count);
    release_run(first_pte, count, TRUE);
}

ULONG MiSystemPtesInUse(void) { return in_use; }

/* ---- clearing PTEs with one flush (NT's flush list) ----
 * Unmapping N pages makes up to N translations stale. NT collects their
 * addresses in a flush list while it clears the PTEs and flushes once at
 * the end - on a multiprocessor one shootdown for all of them, not N -
 * and past a threshold flushes the whole TLB instead, because refilling
 * it then costs less than N single invalidations. mdlos does the same.
 *
 * A PTE whose accessed flag is still clear when it is cleared has no TLB
 * entry to flush anywhere: the processor sets A in the PTE whenever it
 * uses the PTE for a translation (Intel SDM vol. 3, 4.8), which it must
 * do before it can cache that translation, and nothing in mdlos clears A
 * in a valid system PTE without flushing it (MiWritePteAndFlush does).
 * The exchange reads A in the same locked step that clears the PTE, so a
 * translation another CPU caches an instant before is not missed. So a
 * mapping nobody touched - an MDL mapped for a driver that then did not
 * need it, a device range probed and given back - costs no flush at all;
 * one that was used pays for each page it used. */
ULONG64 MiFlushListSingles, MiFlushListFull;   /* statistics: pages flushed one by one, full flushes */

void MiFlushEntireTb(void)
{
    /* Kernel entries are global (CR4.PGE), and a CR3 reload keeps those;
     * clearing and setting PGE drops every entry, global ones included
     * (Intel SDM vol. 3, 4.10.4.1). Interrupts off: nothing may run with
     * PGE off in between. */
    ULONG64 flags = read_rflags();
    cli();
    ULONG64 cr4 = read_cr4();
    write_cr4(cr4 & ~(1ULL << 7));
    write_cr4(cr4);
    if (flags & (1 << 9))
        sti();
}

void MiZeroPtesAndFlush(PMMPTE pte, ULONG count)
{
    PVOID stale[MI_FLUSH_LIST_MAX];
    ULONG n = 0;
    BOOLEAN all = FALSE;
    for (ULONG i = 0; i < count; i++) {
        ULONG64 old = __atomic_exchange_n(&pte[i].u.Long, 0, __ATOMIC_SEQ_CST);
        if ((old & (MI_PTE_VALID | MI_PTE_ACCESSED)) != (MI_PTE_VALID | MI_PTE_ACCESSED))
            continue;   /* never used for a translation since it was made valid: nothing cached */
        if (n < MI_FLUSH_LIST_MAX)
            stale[n++] = MiGetVirtualAddressMappedByPte(&pte[i]);
        else
            all = TRUE;
    }
    if (all) {
        MiFlushEntireTb();
        MiFlushListFull++;
        return;
    }
    for (ULONG i = 0; i < n; i++)
        invlpg(stale[i]);
    MiFlushListSingles += n;
}
ULONG MiSystemPtesTotal(void) { return NPTES; }

/* ---- MmMapIoSpace: device registers and other physical ranges ---- */

PVOID MmMapIoSpace(PHYSICAL_ADDRESS pa, SIZE_T bytes, MEMORY_CACHING_TYPE cache)
{
    if (bytes == 0)
        return NULL;
    ULONG pages = ADDRESS_AND_SIZE_TO_SPAN_PAGES(pa.QuadPart, bytes);
    PMMPTE pte = MiReserveSystemPtes(pages);
    if (!pte)
        return NULL;
    PFN_NUMBER pfn = (ULONG64)pa.QuadPart >> PAGE_SHIFT;
    for (ULONG i = 0; i < pages; i++)
        MiWriteFreshPte(pte + i, ((pfn + i) << PAGE_SHIFT) | MI_PTE_VALID | MI_PROT_KERNEL_RW | MiCacheFlags(cache));
    return (PUCHAR)MiGetVirtualAddressMappedByPte(pte) + BYTE_OFFSET(pa.QuadPart);
}

void MmUnmapIoSpace(PVOID base, SIZE_T bytes)
{
    ULONG pages = ADDRESS_AND_SIZE_TO_SPAN_PAGES(base, bytes);
    PMMPTE pte = MiGetPteAddress(PAGE_ALIGN(base));
    ULONG first = (ULONG)(((ULONG64)PAGE_ALIGN(base) - MI_SYSTEM_PTE_BASE) >> PAGE_SHIFT);
    /* Check the run before touching any PTE: a wrong address or size must
     * not wipe someone else's mapping on its way to the bugcheck. */
    if ((ULONG64)base < MI_SYSTEM_PTE_BASE || first >= NPTES || run_length[first] != pages)
        KeBugCheckRule(SYSTEM_PTE_MISUSE, 0x101, (ULONG_PTR)base, pages, first < NPTES ? run_length[first] : 0,
                       "MmUnmapIoSpace(%p, %llu) does not match a mapping MmMapIoSpace made", base,
                       (unsigned long long)bytes);
    MiUnmapSystemPtes(pte, pages);
}

/* ---- kernel stacks: [guard][pages...] then the run's own trailing guard ---- */

PVOID MmCreateKernelStack(ULONG pages, PVOID *limit)
{
    PMMPTE pte = MiReserveSystemPtes(pages + 1);
    if (!pte)
        return NULL;
    PUCHAR base = (PUCHAR)MiGetVirtualAddressMappedByPte(pte + 1);   /* pte[0] stays the guard */
    for (ULONG i = 0; i < pages; i++) {
        PFN_NUMBER pfn = MiAllocatePfn(MiUsageKernelStack, TRUE);
        if (!pfn) {
            while (i--)
                MiFreePfn(MiUnmapPage(base + (ULONG64)i * PAGE_SIZE));
            MiReleaseSystemPtes(pte, pages + 1);
            return NULL;
        }
        MiMapPage(base + (ULONG64)i * PAGE_SIZE, pfn, MI_PROT_KERNEL_RW);
    }
    PUCHAR top = base + (ULONG64)pages * PAGE_SIZE;
    if (limit)
        *limit = base;
    KdRegisterStack((ULONG_PTR)base, (ULONG_PTR)top);
    return top;
}

void MmDeleteKernelStack(PVOID top, ULONG pages)
{
    PUCHAR base = (PUCHAR)top - (ULONG64)pages * PAGE_SIZE;
    KdUnregisterStack((ULONG_PTR)base, (ULONG_PTR)top);
    for (ULONG i = 0; i < pages; i++)
        MiFreePfn(MiUnmapPage(base + (ULONG64)i * PAGE_SIZE));
    MiReleaseSystemPtes(MiGetPteAddress(base) - 1, pages + 1);
}
