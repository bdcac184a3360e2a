/*
 * Hidden tests of the demand-paging lab (course staff's; never in a
 * student tree). Written against the course-staff API only.
 */
#include "kernel/mdlos.h"

static void h_process(KT_PROCESS *p, ULONG pages, ULONG protect, ULONG64 *va)
{
    KT_EQ(KtCreateProcess("hello", p), STATUS_SUCCESS);
    if (pages)
        KT_EQ(KtAllocateUser(p, pages * PAGE_SIZE, protect, va), STATUS_SUCCESS);
    KtRouteFaultsToLab(p, TRUE);
}

/* PAGE_NOACCESS is committed but refuses every access: no frame, no
 * working-set entry, nothing counted. */
KTEST_POINTS(fault_hidden, dz__no_access_page_is_refused, 5)
{
    KT_PROCESS p;
    ULONG64 va;
    h_process(&p, 1, PAGE_NOACCESS, &va);
    KT_FAULTS before, after;
    KtFaultCounters(&p, &before);
    UCHAR c;
    KT_EQ(KtReadUser(&p, va, &c, 1), STATUS_ACCESS_VIOLATION);
    KT_EQ(KtPteOf(&p, va) & 1, 0);
    KtFaultCounters(&p, &after);
    KT_EQ(after.DemandZero, before.DemandZero);
    KT_EQ(after.WorkingSetSize, before.WorkingSetSize);
    /* The same region made readable afterwards would fault normally: a
     * fresh read-write region next to it does. */
    ULONG64 rw;
    KT_EQ(KtAllocateUser(&p, PAGE_SIZE, PAGE_READWRITE, &rw), STATUS_SUCCESS);
    KT_EQ(KtReadUser(&p, rw, &c, 1), STATUS_SUCCESS);
    KT_EQ(c, 0);
    KtDeleteProcess(&p);
}

/* Six pages, six faults, six frames, six working-set entries. */
KTEST_POINTS(fault_hidden, dz__each_page_its_own_frame, 5)
{
    KT_PROCESS p;
    ULONG64 va;
    h_process(&p, 6, PAGE_READWRITE, &va);
    KT_FAULTS before, after;
    KtFaultCounters(&p, &before);
    for (ULONG i = 0; i < 6; i++) {
        ULONG64 x = 0x100 + i;
        KT_EQ(KtWriteUser(&p, va + i * PAGE_SIZE + 8 * i, &x, 8), STATUS_SUCCESS);
    }
    KtFaultCounters(&p, &after);
    KT_EQ(after.DemandZero, before.DemandZero + 6);
    KT_EQ(after.WorkingSetSize, before.WorkingSetSize + 6);
    for (ULONG i = 0; i < 6; i++) {
        ULONG64 pte = KtPteOf(&p, va + i * PAGE_SIZE);
        KT_NE(pte & 1, 0);
        KT_EQ(KtPfnShareCount((pte >> 12) & 0xFFFFFFFFFULL), 1);
        for (ULONG j = 0; j < i; j++)
            KT_NE((KtPteOf(&p, va + j * PAGE_SIZE) >> 12) & 0xFFFFFFFFFULL, (pte >> 12) & 0xFFFFFFFFFULL);
        KT_ASSERT(KtInWorkingSet(&p, va + i * PAGE_SIZE));
        ULONG64 x = 0;
        KT_EQ(KtReadUser(&p, va + i * PAGE_SIZE + 8 * i, &x, 8), STATUS_SUCCESS);
        KT_EQ(x, 0x100 + i);
    }
    KtDeleteProcess(&p);
}

/* The copy is the whole page: a write of its last byte leaves the other
 * 4095 as the image has them. */
KTEST_POINTS(fault_hidden, cow__the_copy_is_the_whole_page, 5)
{
    KT_PROCESS a, b;
    h_process(&a, 0, 0, NULL);
    h_process(&b, 0, 0, NULL);
    ULONG64 data = KtImageWritablePage(&a);
    KT_ASSERT(data != 0);
    static UCHAR pa[PAGE_SIZE], pb[PAGE_SIZE];
    KT_EQ(KtReadUser(&a, data, pa, PAGE_SIZE), STATUS_SUCCESS);
    KT_EQ(KtReadUser(&b, data, pb, PAGE_SIZE), STATUS_SUCCESS);
    UCHAR last = (UCHAR)(pa[PAGE_SIZE - 1] ^ 0xFF);
    KT_EQ(KtWriteUser(&a, data + PAGE_SIZE - 1, &last, 1), STATUS_SUCCESS);
    KT_EQ(KtReadUser(&a, data, pa, PAGE_SIZE), STATUS_SUCCESS);
    KT_EQ(memcmp(pa, pb, PAGE_SIZE - 1), 0);
    KT_EQ(pa[PAGE_SIZE - 1], last);
    KT_EQ(KtReadUser(&b, data, pa, PAGE_SIZE), STATUS_SUCCESS);
    KT_EQ(memcmp(pa, pb, PAGE_SIZE), 0);                          /* b's page is the image's still */
    KtDeleteProcess(&a);
    KtDeleteProcess(&b);
}
