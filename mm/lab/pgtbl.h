/*
 * The page-table lab (docs/labs/pgtbl.md): a four-level walk written by the
 * student, twice - through hyperspace, reading each table by its physical
 * address as the CPU does, and through the self-map, as the kernel does -
 * and a whole-address-space dump like xv6's vmprint.
 *
 * Nothing in the kernel calls these: the kernel translates with its own
 * self-map arithmetic (mm/mi.h, mm/pagetable.c), so a kernel with the
 * lab's stubs boots and runs as before; only the lab's tests
 * (mm/lab/tests/pgtbl_test.c) call the student's code.
 */
#pragma once
#include "mm/mi.h"
#include "kernel/ktest/ktest.h"   /* KtLabNotImplemented, in the stubs */

/* What one walk saw, level by level: 0 = PML4, 1 = PDPT, 2 = PD, 3 = PT. */
typedef struct _MI_LAB_WALK {
    ULONG Levels;               /* entries read, 1-4: fewer when a not-present entry or a large page ended it */
    ULONG64 Entry[4];           /* each entry's value, as read */
    ULONG64 EntryAddress[4];    /* where it was read: its physical address (hyperspace walk) or its
                                   self-map virtual address (self-map walk) */
    ULONG64 PhysicalAddress;    /* VA's physical address, when the walk succeeded */
    ULONG64 PageSize;           /* the page that maps VA: 4 KiB, 2 MiB or 1 GiB */
} MI_LAB_WALK;

/* Translate VA in the address space whose PML4 is the frame in CR3 (a CR3
 * value: DirectoryTableBase), reading every table through hyperspace
 * (MiMapPageInHyperspace): any address space, current or not.
 *   STATUS_SUCCESS           PhysicalAddress and PageSize set
 *   STATUS_INVALID_ADDRESS   VA is not canonical (nothing read, Levels 0)
 *   STATUS_ACCESS_VIOLATION  an entry is not present (Levels counts it) */
NTSTATUS MiLabWalkPhysical(ULONG64 Cr3, ULONG64 Va, MI_LAB_WALK *Walk);

/* The same for the current address space, reading each entry through the
 * self-map (PML4 slot 0x1ED): PXE_BASE, PPE_BASE, PDE_BASE, PTE_BASE plus
 * the VA's bits. EntryAddress[] are those virtual addresses. */
NTSTATUS MiLabWalkSelfMap(ULONG64 Va, MI_LAB_WALK *Walk);

/* One present entry found by the dump: LEVEL 0-3, its INDEX in its table,
 * its value, and VA, the first address it maps. LEAF: it maps a page (a
 * PTE, or a large-page PDE/PDPTE), rather than a table. */
typedef void (*MI_LAB_DUMP_CALLBACK)(PVOID Context, ULONG Level, ULONG Index, ULONG64 Entry, ULONG64 Va,
                                     BOOLEAN Leaf);

/* Visit every present entry of the tables under CR3 that covers a part of
 * [START, END] (inclusive, canonical), depth first in address order: an
 * entry, then the entries of the table it points at. The self-map slot
 * (PML4 index 0x1ED) is reported but never descended into (below it are
 * the page tables themselves, as data). Tables are read through
 * hyperspace. Returns how many entries were visited. */
ULONG64 MiLabDumpPageTables(ULONG64 Cr3, ULONG64 Start, ULONG64 End, MI_LAB_DUMP_CALLBACK Callback,
                            PVOID Context);

/* Given (not part of the lab): the callback that prints a dump as the GDB
 * command `ptdump` does, one line per entry, "pgtbl: " then
 *   ..0x000: pte 0x... pa 0x...           a PML4 entry
 *   .. ..0x001: pte 0x... pa 0x...        a PDPT entry, and so on down,
 * with " va 0x..." after a leaf (and " 2M"/" 1G" for a large page). */
void MiLabPrintDumpEntry(PVOID Context, ULONG Level, ULONG Index, ULONG64 Entry, ULONG64 Va, BOOLEAN Leaf);
