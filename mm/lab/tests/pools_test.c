/*
 * The pool lab's tests (docs/labs/pools.md): `make grade LAB=pools`.
 * Each builds a lab pool over pages of its own and checks the headers
 * (MI_LAB_POOL_HEADER is part of the specification), the bytes, and the
 * bugchecks NT's pool gives for each misuse. Points beside each test.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define TAG_ARENA POOL_TAG('L', 'a', 'b', 'A')
#define TAG1 POOL_TAG('L', 'a', 'b', '1')
#define TAG2 POOL_TAG('L', 'a', 'b', '2')

static PUCHAR arena(MI_LAB_POOL *p, ULONG pages)
{
    PUCHAR base = ExAllocatePoolWithTag(NonPagedPoolNx, pages * PAGE_SIZE, TAG_ARENA);
    KT_ASSERT(base != NULL);
    KT_EQ((ULONG64)base & (PAGE_SIZE - 1), 0);   /* a big allocation is whole pages */
    memset(base, 0xCC, pages * PAGE_SIZE);
    MiLabPoolInitialize(p, base, pages);
    return base;
}

static MI_LAB_POOL_HEADER *hdr(PVOID block)
{
    return (MI_LAB_POOL_HEADER *)block - 1;
}

KTEST_POINTS(pools, initialize__each_page_one_free_block, 5)
{
    MI_LAB_POOL p;
    PUCHAR base = arena(&p, 3);
    for (ULONG i = 0; i < 3; i++) {
        MI_LAB_POOL_HEADER *h = (MI_LAB_POOL_HEADER *)(base + i * PAGE_SIZE);
        KT_EQ(h->PreviousSize, 0);
        KT_EQ(h->BlockSize, MI_LAB_POOL_PAGE_UNITS);
        KT_EQ(h->Allocated, 0);
    }
    ExFreePoolWithTag(base, TAG_ARENA);
}

KTEST_POINTS(pools, allocate__rounds_up_and_fills_the_header, 10)
{
    MI_LAB_POOL p;
    PUCHAR base = arena(&p, 1);
    PUCHAR a = MiLabPoolAllocate(&p, 1, TAG1);      /* 1 byte: one unit of data, one of header */
    PUCHAR b = MiLabPoolAllocate(&p, 100, TAG2);    /* 100 bytes: 7 units of data */
    KT_EQ(a, base + 16);                            /* first fit, right after its header */
    KT_EQ(b, a + 2 * 16);
    KT_EQ(hdr(a)->BlockSize, 2);
    KT_EQ(hdr(a)->PreviousSize, 0);
    KT_EQ(hdr(a)->Allocated, 1);
    KT_EQ(hdr(a)->PoolTag, TAG1);
    KT_EQ(hdr(a)->RequestedBytes, 1);
    KT_EQ(hdr(b)->BlockSize, 8);
    KT_EQ(hdr(b)->PreviousSize, 2);
    KT_EQ(hdr(b)->PoolTag, TAG2);
    KT_EQ(hdr(b)->RequestedBytes, 100);
    /* The rest of the page is one free block that knows its neighbour. */
    MI_LAB_POOL_HEADER *rest = (MI_LAB_POOL_HEADER *)(b + 7 * 16);
    KT_EQ(rest->Allocated, 0);
    KT_EQ(rest->BlockSize, MI_LAB_POOL_PAGE_UNITS - 10);
    KT_EQ(rest->PreviousSize, 8);
    KT_EQ(p.Allocs, 2);
    KT_ASSERT(MiLabPoolAllocate(&p, 0, TAG1) == NULL);
    KT_ASSERT(MiLabPoolAllocate(&p, 4081, TAG1) == NULL);
    MiLabPoolFree(&p, b, TAG2);
    MiLabPoolFree(&p, a, TAG1);
    ExFreePoolWithTag(base, TAG_ARENA);
}

KTEST_POINTS(pools, allocate__blocks_never_overlap, 10)
{
    MI_LAB_POOL p;
    PUCHAR base = arena(&p, 4);
    PUCHAR blocks[64];
    SIZE_T sizes[64];
    for (ULONG i = 0; i < 64; i++) {
        sizes[i] = 8 + (i * 37) % 300;
        blocks[i] = MiLabPoolAllocate(&p, sizes[i], TAG1);
        KT_ASSERT(blocks[i] != NULL);
        KT_EQ((ULONG64)blocks[i] & 15, 0);
        KT_GE(blocks[i], base);
        KT_LE(blocks[i] + sizes[i], base + 4 * PAGE_SIZE);
        /* Never across a page boundary: a block lives in one page. */
        KT_EQ((ULONG64)(blocks[i] - 16) >> 12, (ULONG64)(blocks[i] + sizes[i] - 1) >> 12);
        memset(blocks[i], (int)i, sizes[i]);
    }
    for (ULONG i = 0; i < 64; i++)
        for (SIZE_T k = 0; k < sizes[i]; k++)
            KT_EQ(blocks[i][k], (UCHAR)i);
    for (ULONG i = 0; i < 64; i++)
        MiLabPoolFree(&p, blocks[i], TAG1);
    KT_EQ(p.Frees, 64);
    ExFreePoolWithTag(base, TAG_ARENA);
}

KTEST_POINTS(pools, free__merges_with_both_neighbours, 10)
{
    MI_LAB_POOL p;
    PUCHAR base = arena(&p, 1);
    PUCHAR a = MiLabPoolAllocate(&p, 64, TAG1), b = MiLabPoolAllocate(&p, 64, TAG1);
    PUCHAR c = MiLabPoolAllocate(&p, 64, TAG1), d = MiLabPoolAllocate(&p, 64, TAG1);
    KT_ASSERT(a && b && c && d);
    MiLabPoolFree(&p, a, TAG1);
    MiLabPoolFree(&p, c, TAG1);
    KT_EQ(hdr(a)->Allocated, 0);
    KT_EQ(hdr(a)->BlockSize, 5);
    KT_EQ(hdr(c)->BlockSize, 5);
    /* b between two free blocks: one block of 15 units at a. */
    MiLabPoolFree(&p, b, TAG1);
    KT_EQ(hdr(a)->BlockSize, 15);
    KT_EQ(hdr(d)->PreviousSize, 15);
    /* A request that needs the merged space gets it, at a. */
    PUCHAR e = MiLabPoolAllocate(&p, 14 * 16, TAG2);
    KT_EQ(e, a);
    MiLabPoolFree(&p, e, TAG2);
    MiLabPoolFree(&p, d, TAG1);
    /* Everything free again: the page is one block. */
    MI_LAB_POOL_HEADER *first = (MI_LAB_POOL_HEADER *)base;
    KT_EQ(first->BlockSize, MI_LAB_POOL_PAGE_UNITS);
    KT_EQ(first->Allocated, 0);
    ExFreePoolWithTag(base, TAG_ARENA);
}

KTEST_POINTS(pools, allocate__full_page_refused_then_the_next_page, 5)
{
    MI_LAB_POOL p;
    PUCHAR base = arena(&p, 2);
    PUCHAR big = MiLabPoolAllocate(&p, 4080, TAG1);   /* a whole page */
    KT_EQ(big, base + 16);
    PUCHAR next = MiLabPoolAllocate(&p, 4080, TAG1);
    KT_EQ(next, base + PAGE_SIZE + 16);
    KT_ASSERT(MiLabPoolAllocate(&p, 16, TAG1) == NULL);   /* nothing left */
    MiLabPoolFree(&p, big, TAG1);
    KT_EQ(MiLabPoolAllocate(&p, 16, TAG2), base + 16);  /* reused */
    ExFreePoolWithTag(base, TAG_ARENA);
}

/* ---- misuse: NT's bugchecks ---- */
static PUCHAR bug_base;

KTEST_BUGCHECK_POINTS(pools, free__twice_is_bad_pool_caller_7, 5, BAD_POOL_CALLER, 0x07, 0, KT_ANY, KT_ANY)
{
    MI_LAB_POOL p;
    bug_base = arena(&p, 1);
    PUCHAR a = MiLabPoolAllocate(&p, 32, TAG1);
    KT_ASSERT(a != NULL);
    MiLabPoolAllocate(&p, 32, TAG1);   /* a neighbour that stays allocated */
    KtExpectParam(3, (ULONG64)hdr(a));
    KtExpectParam(4, (ULONG64)a);
    MiLabPoolFree(&p, a, TAG1);
    MiLabPoolFree(&p, a, TAG1);
}

KTEST_BUGCHECK_POINTS(pools, free__with_another_tag_is_bad_pool_caller_a, 5, BAD_POOL_CALLER, 0x0A, KT_ANY, TAG1,
                      TAG2)
{
    MI_LAB_POOL p;
    bug_base = arena(&p, 1);
    PUCHAR a = MiLabPoolAllocate(&p, 32, TAG1);
    KT_ASSERT(a != NULL);
    KtExpectParam(2, (ULONG64)a);
    MiLabPoolFree(&p, a, TAG2);
}

KTEST_BUGCHECK_POINTS(pools, free__after_an_overrun_is_bad_pool_header_20, 10, BAD_POOL_HEADER, 0x20, KT_ANY,
                      KT_ANY, 0)
{
    MI_LAB_POOL p;
    bug_base = arena(&p, 1);
    PUCHAR a = MiLabPoolAllocate(&p, 32, TAG1);
    PUCHAR b = MiLabPoolAllocate(&p, 32, TAG1);
    KT_ASSERT(a && b);
    KtExpectParam(2, (ULONG64)hdr(a));
    KtExpectParam(3, (ULONG64)hdr(b));
    memset(a, 0x41, 32 + 4);   /* 4 bytes too many: b's PreviousSize and BlockSize */
    MiLabPoolFree(&p, a, TAG1);
}
