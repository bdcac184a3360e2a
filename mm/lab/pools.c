/*
 * The pool lab (docs/labs/pools.md): the student's small-block allocator.
 * The regions between the LAB markers are the solution; `scripts/lab.py
 * cut pools` replaces each with the STUB comment after it.
 *
 * NT's small-pool layout: a page is a chain of blocks, each starting with
 * a header whose BlockSize leads to the next block and whose PreviousSize
 * leads back, so a free can find and check both neighbours in constant
 * time, and a corrupted size shows as two headers that disagree.
 */
#include "mm/lab/pools.h"

/* LAB pools: BEGIN SOLUTION */
static MI_LAB_POOL_HEADER *next_header(MI_LAB_POOL_HEADER *h)
{
    ULONG64 page = (ULONG64)h & ~(ULONG64)(PAGE_SIZE - 1);
    ULONG64 next = (ULONG64)h + (ULONG64)h->BlockSize * MI_LAB_POOL_UNIT;
    return next < page + PAGE_SIZE ? (MI_LAB_POOL_HEADER *)next : NULL;
}

static MI_LAB_POOL_HEADER *previous_header(MI_LAB_POOL_HEADER *h)
{
    return h->PreviousSize ? (MI_LAB_POOL_HEADER *)((PUCHAR)h - h->PreviousSize * MI_LAB_POOL_UNIT) : NULL;
}

static void make_free(MI_LAB_POOL_HEADER *h, USHORT previous, USHORT size)
{
    h->PreviousSize = previous;
    h->BlockSize = size;
    h->Allocated = 0;
    h->PoolTag = 0;
    h->RequestedBytes = 0;
}
/* LAB pools: END SOLUTION */
/* LAB pools: STUB
// Your helpers go here: the header after a block (or NULL at the end of
// its page), the header before it, ...
 */

void MiLabPoolInitialize(MI_LAB_POOL *Pool, PVOID Base, ULONG Pages)
{
    Pool->Base = Base;
    Pool->Pages = Pages;
    Pool->Allocs = Pool->Frees = 0;
    /* LAB pools: BEGIN SOLUTION */
    for (ULONG i = 0; i < Pages; i++)
        make_free((MI_LAB_POOL_HEADER *)(Pool->Base + (ULONG64)i * PAGE_SIZE), 0, MI_LAB_POOL_PAGE_UNITS);
    /* LAB pools: END SOLUTION */
    /* LAB pools: STUB
    KtLabNotImplemented("pools", "MiLabPoolInitialize (mm/lab/pools.c): make each page one free block");
     */
}

PVOID MiLabPoolAllocate(MI_LAB_POOL *Pool, SIZE_T Bytes, ULONG Tag)
{
    /* LAB pools: BEGIN SOLUTION */
    if (Bytes == 0 || Bytes > (MI_LAB_POOL_PAGE_UNITS - 1) * MI_LAB_POOL_UNIT)
        return NULL;
    USHORT units = (USHORT)(1 + (Bytes + MI_LAB_POOL_UNIT - 1) / MI_LAB_POOL_UNIT);
    for (ULONG i = 0; i < Pool->Pages; i++) {
        /* First fit within the page: walk its chain of headers. */
        for (MI_LAB_POOL_HEADER *h = (MI_LAB_POOL_HEADER *)(Pool->Base + (ULONG64)i * PAGE_SIZE); h;
             h = next_header(h)) {
            if (h->Allocated || h->BlockSize < units)
                continue;
            if (h->BlockSize > units) {
                /* Split: the tail stays free, and the block after it must
                 * learn its new neighbour's size. */
                MI_LAB_POOL_HEADER *rest = (MI_LAB_POOL_HEADER *)((PUCHAR)h + units * MI_LAB_POOL_UNIT);
                make_free(rest, units, h->BlockSize - units);
                MI_LAB_POOL_HEADER *after = next_header(rest);
                if (after)
                    after->PreviousSize = rest->BlockSize;
                h->BlockSize = units;
            }
            h->Allocated = 1;
            h->PoolTag = Tag;
            h->RequestedBytes = (ULONG)Bytes;
            Pool->Allocs++;
            return h + 1;
        }
    }
    return NULL;
    /* LAB pools: END SOLUTION */
    /* LAB pools: STUB
    (void)Pool;
    (void)Bytes;
    (void)Tag;
    KtLabNotImplemented("pools", "MiLabPoolAllocate (mm/lab/pools.c): find a free block that fits, split it, "
                                 "fill in the header");
     */
}

void MiLabPoolFree(MI_LAB_POOL *Pool, PVOID Block, ULONG Tag)
{
    /* LAB pools: BEGIN SOLUTION */
    MI_LAB_POOL_HEADER *h = (MI_LAB_POOL_HEADER *)Block - 1;
    if (!h->Allocated)
        KeBugCheckRule(BAD_POOL_CALLER, 0x07, 0, (ULONG_PTR)h, (ULONG_PTR)Block, "lab pool block %p was freed twice",
                       Block);
    if (h->PoolTag != Tag)
        KeBugCheckRule(BAD_POOL_CALLER, 0x0A, (ULONG_PTR)Block, h->PoolTag, Tag,
                       "lab pool block %p was freed with another tag than it was allocated with", Block);
    /* The neighbours' headers must agree with this one: a write past the
     * end of this block lands in the next header first. */
    MI_LAB_POOL_HEADER *next = next_header(h), *prev = previous_header(h);
    if (next && next->PreviousSize != h->BlockSize)
        KeBugCheckRule(BAD_POOL_HEADER, 0x20, (ULONG_PTR)h, (ULONG_PTR)next, 0,
                       "the block after lab pool block %p is damaged: the block was overrun", Block);
    if (prev && prev->BlockSize != h->PreviousSize)
        KeBugCheckRule(BAD_POOL_HEADER, 0x05, (ULONG_PTR)prev, 0, (ULONG_PTR)h,
                       "lab pool blocks %p and %p have headers that contradict each other", prev + 1, Block);
    make_free(h, h->PreviousSize, h->BlockSize);
    if (next && !next->Allocated)            /* merge with the block after */
        h->BlockSize += next->BlockSize;
    if (prev && !prev->Allocated) {          /* and with the one before */
        prev->BlockSize += h->BlockSize;
        h = prev;
    }
    MI_LAB_POOL_HEADER *after = next_header(h);
    if (after)
        after->PreviousSize = h->BlockSize;
    Pool->Frees++;
    /* LAB pools: END SOLUTION */
    /* LAB pools: STUB
    (void)Pool;
    (void)Block;
    (void)Tag;
    KtLabNotImplemented("pools", "MiLabPoolFree (mm/lab/pools.c): check the block and its neighbours, free it, "
                                 "merge it with free neighbours");
     */
}
