/*
 * Hidden tests of the page-table lab: course staff's, never in a student
 * tree (scripts/lab.py cut leaves labs/hidden/ out; make grade and lab.py
 * grade compile them in as EXTRA_TESTS). Points beside each test, like the
 * visible ones.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

/* The top of another process's stack, and its image's data page: the walk
 * must agree with the process's own PTEs wherever they are. */
KTEST_POINTS(pgtbl_hidden, physical__stack_top_of_another_process, 5)
{
    KT_PROCESS p;
    KT_EQ(KtCreateProcess("hello", &p), STATUS_SUCCESS);
    ULONG64 top = p.StackTop - 8, v = 0x5A5A;
    KT_EQ(KtWriteUser(&p, top, &v, 8), STATUS_SUCCESS);
    MI_LAB_WALK w;
    ULONG64 pte = KtPteOf(&p, top);
    KT_ASSERT(pte & MI_PTE_VALID);
    KT_EQ(MiLabWalkPhysical(p.Cr3, top, &w), STATUS_SUCCESS);
    KT_EQ(w.PhysicalAddress, (pte & MI_PTE_PFN_MASK) | (top & 0xFFF));
    /* One page below the stack region's committed top, never touched. */
    KT_EQ(MiLabWalkPhysical(p.Cr3, top - 64 * PAGE_SIZE, &w), STATUS_ACCESS_VIOLATION);
    KtDeleteProcess(&p);
}

/* Every page of a 5-page nonpaged pool buffer, from an unaligned start: the
 * offset within each page must survive the walk. */
KTEST_POINTS(pgtbl_hidden, selfmap__every_page_of_a_buffer, 5)
{
    UCHAR *b = ExAllocatePoolWithTag(NonPagedPoolNx, 5 * PAGE_SIZE, POOL_TAG('H', 'i', 'd', 'n'));
    KT_ASSERT(b != NULL);
    for (ULONG i = 0; i < 5; i++) {
        ULONG64 va = (ULONG64)b + i * PAGE_SIZE + 0x321;
        MI_LAB_WALK w;
        KT_EQ(MiLabWalkSelfMap(va, &w), STATUS_SUCCESS);
        KT_EQ(w.PhysicalAddress, (ULONG64)MmGetPhysicalAddress((PVOID)va).QuadPart);
    }
    ExFreePoolWithTag(b, POOL_TAG('H', 'i', 'd', 'n'));
}
