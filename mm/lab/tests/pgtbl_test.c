/*
 * The page-table lab's tests (docs/labs/pgtbl.md): `make grade LAB=pgtbl`.
 * Each is graded against the kernel's own view of the same address - its
 * self-map (MmGetPhysicalAddress, KtKernelPteOf) or, for another process,
 * KtPteOf - never against the student's other walk. The points are beside
 * each test (KTEST_POINTS); the GDB comparison of the dump is the host
 * test pgtbl.dump.matches_gdb_ptdump (scripts/labhost.py).
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define A_D (MI_PTE_ACCESSED | MI_PTE_DIRTY)   /* the CPU may set these at any time */
#define TAG_LAB POOL_TAG('L', 'a', 'b', 'P')

static ULONG index_at(ULONG64 va, ULONG level)
{
    return (va >> (39 - 9 * level)) & 511;
}

/* Everything a correct physical walk of the current address space must
 * have seen for VA, which must be mapped by a 4 KiB page. */
static void check_physical(ULONG64 va)
{
    MI_LAB_WALK w;
    ULONG64 cr3 = read_cr3();
    KT_EQ(MiLabWalkPhysical(cr3, va, &w), STATUS_SUCCESS);
    KT_EQ(w.Levels, 4);
    KT_EQ(w.PageSize, PAGE_SIZE);
    KT_EQ(w.PhysicalAddress, (ULONG64)MmGetPhysicalAddress((PVOID)va).QuadPart);
    /* Each entry where the CPU reads it: the table the level above names,
     * plus the VA's index times 8. */
    KT_EQ(w.EntryAddress[0], (cr3 & MI_PTE_PFN_MASK) + index_at(va, 0) * 8);
    for (ULONG l = 1; l < 4; l++)
        KT_EQ(w.EntryAddress[l], (w.Entry[l - 1] & MI_PTE_PFN_MASK) + index_at(va, l) * 8);
    /* The same values the kernel reads through the self-map. */
    KT_EQ(w.Entry[0] & ~A_D, MiGetPxeAddress((PVOID)va)->u.Long & ~A_D);
    KT_EQ(w.Entry[1] & ~A_D, MiGetPpeAddress((PVOID)va)->u.Long & ~A_D);
    KT_EQ(w.Entry[2] & ~A_D, MiGetPdeAddress((PVOID)va)->u.Long & ~A_D);
    KT_EQ(w.Entry[3] & ~A_D, KtKernelPteOf((PVOID)va) & ~A_D);
}

KTEST_POINTS(pgtbl, physical__kernel_code_and_data, 10)
{
    check_physical((ULONG64)&check_physical);            /* .text */
    check_physical((ULONG64)&MmAvailablePages);          /* .data/.bss */
    check_physical((ULONG64)&check_physical + 0x1234);   /* another offset, maybe another page */
}

KTEST_POINTS(pgtbl, physical__pool_stack_and_io_space, 10)
{
    UCHAR *p = ExAllocatePoolWithTag(NonPagedPoolNx, 3 * PAGE_SIZE, TAG_LAB);
    KT_ASSERT(p != NULL);
    for (ULONG i = 0; i < 3; i++)
        check_physical((ULONG64)p + i * PAGE_SIZE + 17 * i);
    ULONG64 local = 0;
    check_physical((ULONG64)&local);                    /* this thread's kernel stack */
    PHYSICAL_ADDRESS vga = { 0xB8000 };
    PVOID io = MmMapIoSpace(vga, PAGE_SIZE, MmNonCached);   /* a system PTE mapping a device frame */
    KT_ASSERT(io != NULL);
    MI_LAB_WALK w;
    KT_EQ(MiLabWalkPhysical(read_cr3(), (ULONG64)io + 0x10, &w), STATUS_SUCCESS);
    KT_EQ(w.PhysicalAddress, 0xB8010);
    KT_ASSERT(w.Entry[3] & MI_PTE_PCD);                 /* uncached: the walk hands back the raw entry */
    MmUnmapIoSpace(io, PAGE_SIZE);
    ExFreePoolWithTag(p, TAG_LAB);
}

KTEST_POINTS(pgtbl, physical__unmapped_and_non_canonical, 5)
{
    MI_LAB_WALK w;
    /* Non-canonical: bits 63..47 differ. Nothing may be read. */
    KT_EQ(MiLabWalkPhysical(read_cr3(), 0x0000800000000000ULL, &w), STATUS_INVALID_ADDRESS);
    KT_EQ(w.Levels, 0);
    KT_EQ(MiLabWalkPhysical(read_cr3(), 0xFFFF7FFFFFFFF000ULL, &w), STATUS_INVALID_ADDRESS);
    /* The null page: the system process has no user PML4 entries... */
    KT_EQ(MiLabWalkPhysical(read_cr3(), 0, &w), STATUS_ACCESS_VIOLATION);
    KT_GE(w.Levels, 1);
    KT_EQ(w.Entry[w.Levels - 1] & MI_PTE_VALID, 0);
    /* ...and a freed pool page: its PTE exists and is not present. */
    UCHAR *p = ExAllocatePoolWithTag(NonPagedPoolNx, 2 * PAGE_SIZE, TAG_LAB);
    KT_ASSERT(p != NULL);
    ULONG64 va = (ULONG64)p;
    ExFreePoolWithTag(p, TAG_LAB);
    if (!MmIsAddressValid((PVOID)va)) {
        KT_EQ(MiLabWalkPhysical(read_cr3(), va, &w), STATUS_ACCESS_VIOLATION);
        KT_EQ(w.Levels, MiIsPteAccessible((PVOID)va) ? 4u : w.Levels);
    }
}

KTEST_POINTS(pgtbl, physical__another_process, 10)
{
    KT_PROCESS p;
    KT_EQ(KtCreateProcess("hello", &p), STATUS_SUCCESS);
    ULONG64 va;
    KT_EQ(KtAllocateUser(&p, 3 * PAGE_SIZE, PAGE_READWRITE, &va), STATUS_SUCCESS);
    ULONG64 pattern = 0x1234;
    KT_EQ(KtWriteUser(&p, va + PAGE_SIZE, &pattern, 8), STATUS_SUCCESS);   /* only the middle page is touched */
    /* Walked from the system process: its CR3 is not the one in use. */
    MI_LAB_WALK w;
    ULONG64 pte = KtPteOf(&p, va + PAGE_SIZE);
    KT_ASSERT(pte & MI_PTE_VALID);
    KT_EQ(MiLabWalkPhysical(p.Cr3, va + PAGE_SIZE + 8, &w), STATUS_SUCCESS);
    KT_EQ(w.PhysicalAddress, (pte & MI_PTE_PFN_MASK) + 8);
    KT_EQ(w.Entry[3] & ~A_D, pte & ~A_D);
    KT_ASSERT(w.Entry[3] & MI_PTE_OWNER);   /* a user page */
    /* The untouched first page: committed, demand zero, not present. */
    KT_EQ(MiLabWalkPhysical(p.Cr3, va, &w), STATUS_ACCESS_VIOLATION);
    KT_EQ(w.Levels, 4);
    KT_EQ(w.Entry[3], KtPteOf(&p, va));
    /* The image's first page, once read. */
    UCHAR b;
    KT_EQ(KtReadUser(&p, 0x400000, &b, 1), STATUS_SUCCESS);
    pte = KtPteOf(&p, 0x400000);
    KT_EQ(MiLabWalkPhysical(p.Cr3, 0x400000, &w), STATUS_SUCCESS);
    KT_EQ(w.PhysicalAddress, pte & MI_PTE_PFN_MASK);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
}

static void check_selfmap(ULONG64 va)
{
    MI_LAB_WALK w, phys;
    KT_EQ(MiLabWalkSelfMap(va, &w), STATUS_SUCCESS);
    KT_EQ(w.Levels, 4);
    KT_EQ(w.PhysicalAddress, (ULONG64)MmGetPhysicalAddress((PVOID)va).QuadPart);
    KT_EQ(w.EntryAddress[0], PXE_BASE + index_at(va, 0) * 8);
    KT_EQ(w.EntryAddress[1], PPE_BASE + ((va >> 30) & 0x3FFFF) * 8);
    KT_EQ(w.EntryAddress[2], PDE_BASE + ((va >> 21) & 0x7FFFFFF) * 8);
    KT_EQ(w.EntryAddress[3], PTE_BASE + ((va >> 12) & 0xFFFFFFFFFULL) * 8);
    /* The physical walk (graded above) reads the same four entries. */
    KT_EQ(MiLabWalkPhysical(read_cr3(), va, &phys), STATUS_SUCCESS);
    for (ULONG l = 0; l < 4; l++)
        KT_EQ(w.Entry[l] & ~A_D, phys.Entry[l] & ~A_D);
}

KTEST_POINTS(pgtbl, selfmap__kernel_addresses, 5)
{
    ULONG64 local = 0;
    check_selfmap((ULONG64)&check_selfmap);
    check_selfmap((ULONG64)&local);
    check_selfmap((ULONG64)&MmAvailablePages);
    MI_LAB_WALK w;
    KT_EQ(MiLabWalkSelfMap(0x0000800000000000ULL, &w), STATUS_INVALID_ADDRESS);
    KT_EQ(MiLabWalkSelfMap(0, &w), STATUS_ACCESS_VIOLATION);
    KT_EQ(w.Entry[w.Levels - 1] & MI_PTE_VALID, 0);
}

KTEST_POINTS(pgtbl, selfmap__the_page_tables_themselves, 5)
{
    /* A PTE's own address is in the self-map slot: the walk of it is one
     * level short in the CPU's eyes and ends on the page table. */
    ULONG64 va = (ULONG64)MiGetPteAddress(&check_selfmap);
    MI_LAB_WALK w;
    KT_EQ(MiLabWalkSelfMap(va, &w), STATUS_SUCCESS);
    KT_EQ(w.PhysicalAddress, (ULONG64)MmGetPhysicalAddress((PVOID)va).QuadPart);
    KT_EQ(w.Entry[0] & MI_PTE_PFN_MASK, read_cr3() & MI_PTE_PFN_MASK);   /* slot 0x1ED: the PML4 itself */
    KT_EQ(MiLabWalkPhysical(read_cr3(), va, &w), STATUS_SUCCESS);
    KT_EQ(w.PhysicalAddress, (ULONG64)MmGetPhysicalAddress((PVOID)va).QuadPart);
}

KTEST_POINTS(pgtbl, selfmap__attached_to_a_process, 5)
{
    KT_PROCESS p;
    KT_EQ(KtCreateProcess("hello", &p), STATUS_SUCCESS);
    UCHAR b;
    KT_EQ(KtReadUser(&p, 0x400000, &b, 1), STATUS_SUCCESS);
    MI_LAB_WALK w;
    KtAttach(&p);
    NTSTATUS s = MiLabWalkSelfMap(0x400000, &w);
    KtDetach(&p);
    KT_EQ(s, STATUS_SUCCESS);
    KT_EQ(w.PhysicalAddress, KtPteOf(&p, 0x400000) & MI_PTE_PFN_MASK);
    KtDeleteProcess(&p);
}

/* ---- the dump ---- */
#define MAX_SEEN 2048
typedef struct {
    ULONG n, bad_order, bad_nesting, selfmap_descended;
    ULONG level[MAX_SEEN], index[MAX_SEEN];
    ULONG64 entry[MAX_SEEN], va[MAX_SEEN];
    BOOLEAN leaf[MAX_SEEN];
    ULONG64 last_va[4];
    LONG depth;
} SEEN;

static void record(PVOID ctx, ULONG level, ULONG index, ULONG64 entry, ULONG64 va, BOOLEAN leaf)
{
    SEEN *s = ctx;
    if (s->n && level > (ULONG)s->depth + 1)
        s->bad_nesting++;                  /* a child without its parent just before */
    if (level > 0 && s->n && s->level[s->n - 1] == 0 && s->index[s->n - 1] == MI_SELFMAP_INDEX)
        s->selfmap_descended++;
    if (s->n && va < s->last_va[level] && level <= (ULONG)s->depth)
        s->bad_order++;
    s->last_va[level] = va;
    s->depth = leaf ? (LONG)level - 1 : (LONG)level;
    if (s->n < MAX_SEEN) {
        s->level[s->n] = level;
        s->index[s->n] = index;
        s->entry[s->n] = entry;
        s->va[s->n] = va;
        s->leaf[s->n] = leaf;
    }
    s->n++;
}

KTEST_POINTS(pgtbl, dump__a_process, 10)
{
    KT_PROCESS p;
    KT_EQ(KtCreateProcess("hello", &p), STATUS_SUCCESS);
    ULONG64 va, v = 7;
    KT_EQ(KtAllocateUser(&p, 16 * PAGE_SIZE, PAGE_READWRITE, &va), STATUS_SUCCESS);
    for (ULONG i = 0; i < 16; i += 3)
        KT_EQ(KtWriteUser(&p, va + i * PAGE_SIZE, &v, 8), STATUS_SUCCESS);
    UCHAR b;
    KT_EQ(KtReadUser(&p, 0x400000, &b, 1), STATUS_SUCCESS);
    SEEN *s = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*s), TAG_LAB);
    KT_ASSERT(s != NULL);
    memset(s, 0, sizeof(*s));
    s->depth = -1;
    ULONG64 n = MiLabDumpPageTables(p.Cr3, 0, 0x00007FFFFFFFFFFFULL, record, s);
    KT_EQ(n, s->n);
    KT_LT(s->n, MAX_SEEN);
    KT_EQ(s->bad_nesting, 0);
    KT_EQ(s->bad_order, 0);
    /* Every leaf is a valid user PTE, the process's own; every valid PTE
     * the kernel knows of (the six written, the image page) is a leaf. */
    ULONG leaves = 0, found = 0;
    for (ULONG i = 0; i < s->n; i++) {
        KT_ASSERT(s->entry[i] & MI_PTE_VALID);
        KT_LT(s->va[i], 0x0000800000000000ULL);
        if (!s->leaf[i])
            continue;
        leaves++;
        KT_EQ(s->level[i], 3);
        KT_EQ(s->entry[i] & ~A_D, KtPteOf(&p, s->va[i]) & ~A_D);
        KT_EQ(s->index[i], index_at(s->va[i], 3));
        for (ULONG k = 0; k < 16; k += 3)
            found += s->va[i] == va + k * PAGE_SIZE;
        found += s->va[i] == 0x400000;
    }
    KT_EQ(found, 7);
    KT_GE(leaves, 7);
    ExFreePoolWithTag(s, TAG_LAB);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
}

typedef struct {
    ULONG64 entries, leaves, wrong, selfmap_seen, below_selfmap;
    ULONG64 last_level0_index;
} COUNT;

static void count(PVOID ctx, ULONG level, ULONG index, ULONG64 entry, ULONG64 va, BOOLEAN leaf)
{
    COUNT *c = ctx;
    c->entries++;
    if (level == 0) {
        c->last_level0_index = index;
        c->selfmap_seen += index == MI_SELFMAP_INDEX;
    } else if (c->last_level0_index == MI_SELFMAP_INDEX) {
        c->below_selfmap++;
    }
    if (leaf) {
        c->leaves++;
        /* The kernel's own translation of the leaf's first byte. Not in
         * hyperspace: the dump itself maps and unmaps its slots (the slot
         * reading the hyperspace table was valid when read, gone now). */
        ULONG64 size = 1ULL << (39 - 9 * level);
        if (va - MI_HYPERSPACE_BASE >= MI_HYPERSPACE_PAGES * PAGE_SIZE &&
            (ULONG64)MmGetPhysicalAddress((PVOID)va).QuadPart != (entry & MI_PTE_PFN_MASK & ~(size - 1)))
            c->wrong++;
    }
}

KTEST_POINTS(pgtbl, dump__the_kernel_half_skips_the_selfmap, 5)
{
    COUNT c = { 0 };
    ULONG64 n = MiLabDumpPageTables(read_cr3(), 0xFFFF800000000000ULL, ~0ULL, count, &c);
    KT_EQ(n, c.entries);
    KT_EQ(c.selfmap_seen, 1);
    KT_EQ(c.below_selfmap, 0);
    KT_EQ(c.wrong, 0);
    /* At least the image, the PFN database and the pool are mapped. */
    KT_GT(c.leaves, 100);
}

/* For the GDB comparison (scripts/labhost.py): print the dump of a
 * process, then stop in MiLabDumpCheckpoint, where GDB runs `ptdump`. */
__attribute__((noinline)) void MiLabDumpCheckpoint(ULONG64 Cr3)
{
    __asm__ volatile("" : : "r"(Cr3) : "memory");
}

KTEST_MANUAL(pgtbl, dump_for_gdb)
{
    KT_PROCESS p;
    KT_EQ(KtCreateProcess("hello", &p), STATUS_SUCCESS);
    ULONG64 va, v = 7;
    KT_EQ(KtAllocateUser(&p, 8 * PAGE_SIZE, PAGE_READWRITE, &va), STATUS_SUCCESS);
    for (ULONG i = 0; i < 8; i += 2)
        KT_EQ(KtWriteUser(&p, va + i * PAGE_SIZE, &v, 8), STATUS_SUCCESS);
    kprintf("pgtbl: dump of CR3 %#llx\n", (unsigned long long)p.Cr3);
    MiLabDumpPageTables(p.Cr3, 0, 0x00007FFFFFFFFFFFULL, MiLabPrintDumpEntry, NULL);
    kprintf("pgtbl: end of dump\n");
    MiLabDumpCheckpoint(p.Cr3);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
}
