/*
 * exhaust.*_pool_*: the pools running out, and coming back. Allocate
 * until ExAllocatePoolWithTag returns NULL (big blocks, then smaller,
 * down to the smallest), free everything, and the pool works again with
 * every counter where it was (the runner's leak check), as far as the
 * first time. (Process exhaustion: kernel/ps/tests/exhaust_test.c; commit and
 * page tables are the commit tests'.)
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define TAG_EXHAUST POOL_TAG('E', 'x', 'h', 's')

/* Fill POOL: blocks of each size in turn until none fits; the blocks are
 * chained through their first 8 bytes, so the test needs no memory of its
 * own. Returns how many bytes it took. (Bytes, not blocks: the first fill
 * finds the pool's free space cut up by whatever ran before and fills the
 * holes with small blocks; after the drain they have merged, and the same
 * bytes go in fewer, bigger blocks. Counting blocks failed with nothing
 * lost, 343 against 373, whenever the shard ran fragmenting tests first.) */
static ULONG64 fill(POOL_TYPE type, void **chain)
{
    static const SIZE_T sizes[] = { 256 * 1024, 16 * 1024, 2000, 100, 8 };
    ULONG64 bytes = 0;
    for (ULONG s = 0; s < ARRAYSIZE(sizes); s++) {
        void *b;
        while ((b = ExAllocatePoolWithTag(type, sizes[s], TAG_EXHAUST)) != NULL) {
            *(void **)b = *chain;
            *chain = b;
            bytes += sizes[s];
        }
    }
    return bytes;
}

static void drain(void **chain)
{
    while (*chain) {
        void *next = *(void **)*chain;
        ExFreePoolWithTag(*chain, TAG_EXHAUST);
        *chain = next;
    }
}

static void exhaust_pool(POOL_TYPE type, MI_POOL *p)
{
    void *chain = NULL;
    ULONG64 failures = p->Failures;
    ULONG64 n = fill(type, &chain);
    KT_GT(n, 0);
    KT_GT(p->Failures, failures);                                     /* it did run out ... */
    KT_ASSERT(ExAllocatePoolWithTag(type, 8, TAG_EXHAUST) == NULL);   /* ... down to the smallest block */
    drain(&chain);
    /* and it works again, small and big */
    void *a = ExAllocatePoolWithTag(type, 64, TAG_EXHAUST), *b = ExAllocatePoolWithTag(type, 256 * 1024, TAG_EXHAUST);
    KT_ASSERT(a && b);
    RtlFillMemory(b, 256 * 1024, 0x5A);
    ExFreePoolWithTag(a, TAG_EXHAUST);
    ExFreePoolWithTag(b, TAG_EXHAUST);
    /* a second fill gets as far as the first: nothing was lost on the way
     * (drained before the check, so a failure does not leave the pool full
     * for every test after it) */
    ULONG64 again = fill(type, &chain);
    drain(&chain);
    KT_GE(again, n * 9 / 10);
}

KTEST(exhaust, nonpaged_pool_until_null_then_all_back)
{
    exhaust_pool(NonPagedPoolNx, &MiNonPagedPool);
}

KTEST(exhaust, paged_pool_until_null_then_all_back)
{
    exhaust_pool(PagedPool, &MiPagedPool);
}
