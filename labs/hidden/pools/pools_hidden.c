/*
 * Hidden tests of the pool lab (course staff's; never in a student tree).
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define TAG_H POOL_TAG('H', 'i', 'd', 'P')

/* Many allocations and frees in a pseudo-random order: afterwards every
 * page must be one free block again (every merge done, no unit lost). */
KTEST_POINTS(pools_hidden, free__random_order_leaves_whole_pages, 10)
{
    MI_LAB_POOL p;
    PUCHAR base = ExAllocatePoolWithTag(NonPagedPoolNx, 2 * PAGE_SIZE, TAG_H);
    KT_ASSERT(base != NULL);
    MiLabPoolInitialize(&p, base, 2);
    PVOID b[40];
    ULONG x = 12345;
    for (ULONG i = 0; i < 40; i++) {
        x = x * 1103515245 + 12345;
        b[i] = MiLabPoolAllocate(&p, 16 + (x >> 16) % 150, TAG_H);
        KT_ASSERT(b[i] != NULL);
    }
    for (ULONG k = 0; k < 40; k++) {
        ULONG i = (k * 17) % 40;   /* 17 and 40 are coprime: every block once */
        MiLabPoolFree(&p, b[i], TAG_H);
    }
    for (ULONG pg = 0; pg < 2; pg++) {
        MI_LAB_POOL_HEADER *h = (MI_LAB_POOL_HEADER *)(base + pg * PAGE_SIZE);
        KT_EQ(h->BlockSize, MI_LAB_POOL_PAGE_UNITS);
        KT_EQ(h->Allocated, 0);
    }
    ExFreePoolWithTag(base, TAG_H);
}

/* A block whose PreviousSize was damaged (an underrun of the block before
 * it would do that): BAD_POOL_HEADER 0x05 at its free. */
KTEST_BUGCHECK_POINTS(pools_hidden, free__contradicting_neighbours_is_bad_pool_header_5, 5, BAD_POOL_HEADER, 0x05,
                      KT_ANY, 0, KT_ANY)
{
    MI_LAB_POOL p;
    PUCHAR base = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, TAG_H);
    KT_ASSERT(base != NULL);
    MiLabPoolInitialize(&p, base, 1);
    PUCHAR a = MiLabPoolAllocate(&p, 48, TAG_H), b = MiLabPoolAllocate(&p, 48, TAG_H);
    KT_ASSERT(a && b);
    MI_LAB_POOL_HEADER *hb = (MI_LAB_POOL_HEADER *)b - 1;
    hb->PreviousSize = 2;   /* a is 4 units */
    KtExpectParam(2, (ULONG64)((PUCHAR)hb - 2 * 16));
    KtExpectParam(4, (ULONG64)hb);
    MiLabPoolFree(&p, b, TAG_H);
}
