/*
 * The pool lab (docs/labs/pools.md): a small-block allocator in NT's
 * style, written by the student, over pages the caller gives it. Each
 * page is carved into blocks of 16-byte units, each with a header; a
 * freed block merges with free neighbours; every free checks the headers
 * around the block and bugchecks, with NT's codes, on a double free, a
 * wrong tag or an overrun.
 *
 * The kernel's own pools (mm/pool.c) do not use this code: only the lab's
 * tests (mm/lab/tests/pools_test.c) call it, so a kernel with the stubs
 * boots and runs as before.
 */
#pragma once
#include "mm/mi.h"
#include "kernel/ktest/ktest.h"   /* KtLabNotImplemented, in the stubs */

#define MI_LAB_POOL_UNIT 16          /* bytes per unit: block sizes and addresses are multiples */
#define MI_LAB_POOL_PAGE_UNITS 256   /* a page is 256 units */

/* The header before every block, free or allocated: 16 bytes, one unit.
 * The layout is part of the specification (the tests read it). */
typedef struct _MI_LAB_POOL_HEADER {
    USHORT PreviousSize;    /* units of the block before this one in its page; 0 for a page's first block */
    USHORT BlockSize;       /* units of this block, header included */
    UCHAR Allocated;        /* 1 while allocated, 0 while free */
    UCHAR Spare[3];
    ULONG PoolTag;          /* the allocation's tag (0 while free) */
    ULONG RequestedBytes;   /* what the caller asked for (0 while free) */
} MI_LAB_POOL_HEADER;
_Static_assert(sizeof(MI_LAB_POOL_HEADER) == MI_LAB_POOL_UNIT, "a header is one unit");

typedef struct _MI_LAB_POOL {
    PUCHAR Base;            /* page-aligned: Pages pages */
    ULONG Pages;
    ULONG64 Allocs, Frees;  /* successful calls, counted by the student's code */
} MI_LAB_POOL;

/* Make every page of [BASE, BASE + PAGES pages) one free block of 256 units. */
void MiLabPoolInitialize(MI_LAB_POOL *Pool, PVOID Base, ULONG Pages);
/* A block of at least BYTES (1-4080, header excluded), 16-byte aligned,
 * tagged TAG, from the first page (lowest address first) with a free block
 * large enough; the rest of that free block stays free. NULL when no free
 * block is large enough, or BYTES is 0 or too large. */
PVOID MiLabPoolAllocate(MI_LAB_POOL *Pool, SIZE_T Bytes, ULONG Tag);
/* Free BLOCK, allocated with TAG, merging it with a free block before
 * and after it in its page. Bugchecks with NT's codes; P1 is the
 * sub-code, then P2-P4:
 *   BAD_POOL_CALLER (0x07, 0, header, block)       BLOCK is already free
 *   BAD_POOL_CALLER (0x0A, block, its tag, TAG)    TAG is not the block's
 *   BAD_POOL_HEADER (0x20, header, next header, 0) the block after it is damaged: BLOCK was overrun
 *   BAD_POOL_HEADER (0x05, previous, 0, header)    the block before and this one disagree */
void MiLabPoolFree(MI_LAB_POOL *Pool, PVOID Block, ULONG Tag);
