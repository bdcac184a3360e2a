/*
 * The page-table lab (docs/labs/pgtbl.md): the student's walks and dump.
 * The regions between the LAB markers are the solution; `scripts/lab.py
 * cut pgtbl` replaces each with the STUB comment after it.
 *
 * x86-64 4-level paging (Intel SDM vol. 3, 4.5): a canonical VA's bits
 * 47..39, 38..30, 29..21 and 20..12 index the PML4, the PDPT, the PD and
 * the PT; bit 0 of each entry is Present, bit 7 (PS) in a PDPTE or PDE
 * makes it a 1 GiB or 2 MiB page, and bits 51..12 hold the next table's
 * (or the page's) physical address.
 */
#include "mm/lab/pgtbl.h"
#include "kernel/hal/x86.h"

/* LAB pgtbl: BEGIN SOLUTION */
static BOOLEAN canonical(ULONG64 va)
{
    /* Bits 63..47 all equal (the SDM's "canonical"): shift the sign bit of
     * the 48-bit address up to bit 63 and back. */
    return (ULONG64)((LONG64)(va << 16) >> 16) == va;
}

/* One 8-byte entry of the table in frame TABLE_PA, read through a
 * hyperspace slot: the kernel has no mapping of all physical memory. */
static ULONG64 read_physical_entry(ULONG64 table_pa, ULONG index)
{
    KIRQL old;
    ULONG64 *table = MiMapPageInHyperspace(table_pa >> PAGE_SHIFT, &old);
    ULONG64 entry = table[index];
    MiUnmapPageInHyperspace(table, old);
    return entry;
}

/* The size of the page a leaf at LEVEL maps. */
static ULONG64 level_page_size(ULONG level)
{
    return 1ULL << (39 - 9 * level);
}
/* LAB pgtbl: END SOLUTION */
/* LAB pgtbl: STUB
// Your helpers go here: a test for a canonical address, one that reads an
// entry of a table by its physical address through hyperspace
// (MiMapPageInHyperspace / MiUnmapPageInHyperspace, mm/hyperspace.c), and
// whatever else the walks and the dump share.
 */

NTSTATUS MiLabWalkPhysical(ULONG64 Cr3, ULONG64 Va, MI_LAB_WALK *Walk)
{
    memset(Walk, 0, sizeof(*Walk));
    /* LAB pgtbl: BEGIN SOLUTION */
    if (!canonical(Va))
        return STATUS_INVALID_ADDRESS;
    ULONG64 table = Cr3 & MI_PTE_PFN_MASK;
    for (ULONG level = 0; level < 4; level++) {
        ULONG index = (Va >> (39 - 9 * level)) & 511;
        ULONG64 entry = read_physical_entry(table, index);
        Walk->Entry[level] = entry;                       /* STEP: one level read */
        Walk->EntryAddress[level] = table + index * 8;
        Walk->Levels = level + 1;
        if (!(entry & MI_PTE_VALID))
            return STATUS_ACCESS_VIOLATION;
        /* PS in a PDPTE or PDE: this entry maps the page itself. */
        if (level == 3 || ((level == 1 || level == 2) && (entry & MI_PTE_LARGE))) {
            ULONG64 size = level_page_size(level);
            Walk->PageSize = size;
            Walk->PhysicalAddress = (entry & MI_PTE_PFN_MASK & ~(size - 1)) | (Va & (size - 1));
            return STATUS_SUCCESS;
        }
        table = entry & MI_PTE_PFN_MASK;
    }
    return STATUS_ACCESS_VIOLATION;   /* not reached: level 3 always ends the walk */
    /* LAB pgtbl: END SOLUTION */
    /* LAB pgtbl: STUB
    (void)Cr3;
    (void)Va;
    KtLabNotImplemented("pgtbl", "MiLabWalkPhysical (mm/lab/pgtbl.c): walk the four levels from CR3, "
                                 "reading each table through hyperspace");
     */
}

NTSTATUS MiLabWalkSelfMap(ULONG64 Va, MI_LAB_WALK *Walk)
{
    memset(Walk, 0, sizeof(*Walk));
    /* LAB pgtbl: BEGIN SOLUTION */
    if (!canonical(Va))
        return STATUS_INVALID_ADDRESS;
    /* The self-map makes each level's entry a virtual address: PML4 slot
     * 0x1ED points at the PML4 itself, so the CPU, walking an address in
     * that slot, stops one level early and lands on a page table. */
    PMMPTE entries[4] = { MiGetPxeAddress((PVOID)Va), MiGetPpeAddress((PVOID)Va), MiGetPdeAddress((PVOID)Va),
                          MiGetPteAddress((PVOID)Va) };
    for (ULONG level = 0; level < 4; level++) {
        /* Readable only because the level above is present: checked first. */
        ULONG64 entry = entries[level]->u.Long;
        Walk->Entry[level] = entry;
        Walk->EntryAddress[level] = (ULONG64)entries[level];
        Walk->Levels = level + 1;
        if (!(entry & MI_PTE_VALID))
            return STATUS_ACCESS_VIOLATION;
        if (level == 3 || ((level == 1 || level == 2) && (entry & MI_PTE_LARGE))) {
            ULONG64 size = level_page_size(level);
            Walk->PageSize = size;
            Walk->PhysicalAddress = (entry & MI_PTE_PFN_MASK & ~(size - 1)) | (Va & (size - 1));
            return STATUS_SUCCESS;
        }
    }
    return STATUS_ACCESS_VIOLATION;
    /* LAB pgtbl: END SOLUTION */
    /* LAB pgtbl: STUB
    (void)Va;
    KtLabNotImplemented("pgtbl", "MiLabWalkSelfMap (mm/lab/pgtbl.c): walk the four levels through the "
                                 "self-map (MiGetPxeAddress ... MiGetPteAddress)");
     */
}

/* LAB pgtbl: BEGIN SOLUTION */
typedef struct {
    ULONG64 start, end, visited;
    MI_LAB_DUMP_CALLBACK callback;
    PVOID context;
} DUMP;

static void dump_table(DUMP *d, ULONG64 table_pa, ULONG level, ULONG64 base)
{
    ULONG64 span = level_page_size(level);
    for (ULONG i = 0; i < 512; i++) {
        /* The VA this entry starts at: in the PML4, index 256 and up are
         * the upper half, sign-extended from bit 47. */
        ULONG64 va = base + i * span;
        if (level == 0)
            va = (ULONG64)((LONG64)(va << 16) >> 16);
        ULONG64 last = va + span - 1;
        if (last < d->start || va > d->end)
            continue;
        ULONG64 entry = read_physical_entry(table_pa, i);
        if (!(entry & MI_PTE_VALID))
            continue;
        BOOLEAN leaf = level == 3 || ((level == 1 || level == 2) && (entry & MI_PTE_LARGE));
        d->visited++;
        d->callback(d->context, level, i, entry, va, leaf);
        if (leaf || (level == 0 && i == MI_SELFMAP_INDEX))
            continue;
        dump_table(d, entry & MI_PTE_PFN_MASK, level + 1, va);
    }
}
/* LAB pgtbl: END SOLUTION */

ULONG64 MiLabDumpPageTables(ULONG64 Cr3, ULONG64 Start, ULONG64 End, MI_LAB_DUMP_CALLBACK Callback,
                            PVOID Context)
{
    /* LAB pgtbl: BEGIN SOLUTION */
    DUMP d = { Start, End, 0, Callback, Context };
    dump_table(&d, Cr3 & MI_PTE_PFN_MASK, 0, 0);
    return d.visited;
    /* LAB pgtbl: END SOLUTION */
    /* LAB pgtbl: STUB
    (void)Cr3;
    (void)Start;
    (void)End;
    (void)Callback;
    (void)Context;
    KtLabNotImplemented("pgtbl", "MiLabDumpPageTables (mm/lab/pgtbl.c): visit every present entry, depth "
                                 "first, and call Callback for each");
     */
}

void MiLabPrintDumpEntry(PVOID Context, ULONG Level, ULONG Index, ULONG64 Entry, ULONG64 Va, BOOLEAN Leaf)
{
    (void)Context;
    static const char *const dots[] = { "", ".. ", ".. .. ", ".. .. .. " };
    ULONG64 size = 1ULL << (39 - 9 * Level);
    ULONG64 pa = Entry & MI_PTE_PFN_MASK & (Leaf ? ~(size - 1) : ~0ULL);
    kprintf("pgtbl: %s..0x%03x: pte %#018llx pa 0x%llx", dots[Level & 3], Index, (unsigned long long)Entry, (unsigned long long)pa);
    if (Leaf)
        kprintf(" va 0x%llx%s", (unsigned long long)Va, Level == 1 ? " 1G" : Level == 2 ? " 2M" : "");
    kprintf("\n");
}
