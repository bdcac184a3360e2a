/* Pools: every size, alignment, tags and statistics, coalescing, lookaside
 * lists, exhaustion, and the bugchecks for misuse. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define TAG_TEST POOL_TAG('T', 'e', 's', 't')
#define TAG_OTHR POOL_TAG('O', 't', 'h', 'r')

static void check_block(PUCHAR p, SIZE_T size, POOL_TYPE type)
{
    KT_ASSERT(p != NULL);
    KT_EQ((ULONG64)p & 15, 0);                              /* 16-byte aligned */
    if (size > POOL_SMALL_MAX_UNITS * POOL_UNIT - sizeof(POOL_HEADER))
        KT_EQ((ULONG64)p & (PAGE_SIZE - 1), 0);             /* big blocks: page aligned */
    MI_POOL *pool = (type & 1) ? &MiPagedPool : &MiNonPagedPool;
    KT_GE((ULONG64)p, pool->Start);
    KT_LE((ULONG64)p + size, pool->Start + (ULONG64)pool->Pages * PAGE_SIZE);
    memset(p, 0xCD, size);                                  /* all of it is ours to write */
}

KTEST(pool, every_size_from_1_byte_to_several_pages)
{
    static const POOL_TYPE types[] = { NonPagedPoolNx, PagedPool };
    for (int t = 0; t < 2; t++) {
        PVOID keep = NULL;
        for (SIZE_T size = 1; size <= 5 * PAGE_SIZE; size += size < 512 ? 1 : size < 4200 ? 7 : 509) {
            PUCHAR p = ExAllocatePoolWithTag(types[t], size, TAG_TEST);
            check_block(p, size, types[t]);
            /* Keep every 16th block a while, so frees interleave and splits
             * and merges happen in the middle of pages too. */
            if ((size & 15) == 0) {
                if (keep)
                    ExFreePoolWithTag(keep, TAG_TEST);
                keep = p;
            } else {
                ExFreePoolWithTag(p, TAG_TEST);
            }
        }
        if (keep)
            ExFreePoolWithTag(keep, TAG_TEST);
    }
}

KTEST(pool, headers_tags_and_statistics)
{
    const MI_POOL_TAG_STATS *s = MiLookupPoolTag(TAG_OTHR);
    ULONG64 a0 = s ? s->Allocs[0] : 0, f0 = s ? s->Frees[0] : 0, b0 = s ? s->Bytes[0] : 0;
    ULONG64 a1 = s ? s->Allocs[1] : 0;
    PVOID p[3];
    for (int i = 0; i < 3; i++)
        p[i] = ExAllocatePoolWithTag(NonPagedPoolNx, 100, TAG_OTHR);
    PVOID q = ExAllocatePoolWithTag(PagedPool, 40, TAG_OTHR);
    s = MiLookupPoolTag(TAG_OTHR);
    KT_ASSERT(s != NULL);
    KT_EQ(s->Allocs[0], a0 + 3);
    KT_EQ(s->Allocs[1], a1 + 1);
    /* 100 + 16-byte header = 8 units of 16 bytes; a free block one unit
     * bigger is not split (a 1-unit tail could hold only its header), so
     * a block may be 9 units, depending on what the free lists hold. */
    ULONG64 units = 0;
    for (int i = 0; i < 3; i++) {
        ULONG bs = ((POOL_HEADER *)p[i] - 1)->BlockSize;
        KT_ASSERT(bs == 8 || bs == 9);
        units += bs;
    }
    KT_EQ(s->Bytes[0], b0 + units * 16);
    POOL_HEADER *h = (POOL_HEADER *)p[0] - 1;
    KT_EQ(h->PoolTag, TAG_OTHR);
    KT_EQ(h->RequestedBytes, 100);
    KT_EQ(h->PoolType & (MI_POOL_HDR_NONPAGED | MI_POOL_HDR_PAGED), MI_POOL_HDR_NONPAGED);
    KT_EQ(((POOL_HEADER *)q - 1)->PoolType & MI_POOL_HDR_PAGED, MI_POOL_HDR_PAGED);
    KT_ASSERT(!memcmp(&h->PoolTag, "Othr", 4));             /* a tag reads as text in memory */
    for (int i = 0; i < 3; i++)
        ExFreePoolWithTag(p[i], TAG_OTHR);
    ExFreePool(q);                                          /* ExFreePool skips the tag check */
    KT_EQ(s->Frees[0], f0 + 3);
    KT_EQ(s->Bytes[0], b0);
}

KTEST(pool, freed_blocks_merge_and_pages_return)
{
    /* Pages in use apart from the one empty page the pool may keep: that
     * one is accounted for exactly (CachedPages), and may differ after. */
    ULONG64 pages = MiNonPagedPool.PagesInUse - MiNonPagedPool.CachedPages;
    PFN_NUMBER avail = MmAvailablePages + MiNonPagedPool.CachedPages;
    enum { N = 15 };
    PVOID p[N];
    for (int i = 0; i < N; i++)
        p[i] = ExAllocatePoolWithTag(NonPagedPoolNx, 240, TAG_TEST);   /* 16 units each */
    /* Free in a scattered order: every merge case (next, previous, both) happens. */
    static const int order[N] = { 3, 5, 4, 0, 14, 1, 2, 9, 7, 8, 6, 13, 11, 12, 10 };
    for (int i = 0; i < N; i++)
        ExFreePoolWithTag(p[order[i]], TAG_TEST);
    KT_EQ(MiNonPagedPool.PagesInUse - MiNonPagedPool.CachedPages, pages);
    KT_EQ(MmAvailablePages + MiNonPagedPool.CachedPages, avail);
    /* A block freed next to free neighbours becomes one block again: a
     * fresh 4000-byte allocation fits where the small ones were. */
    PVOID big = ExAllocatePoolWithTag(NonPagedPoolNx, 4000, TAG_TEST);
    KT_ASSERT(big != NULL);
    ExFreePoolWithTag(big, TAG_TEST);
}

/* The empty page a pool keeps: the next allocation that finds no room
 * gets that very page back (no frame allocated, nothing mapped), a second
 * page that empties while one is kept goes back to the PFN database, and
 * the kept page is in PagesInUse and CachedPages, never in a leak count. */
KTEST(pool, one_empty_page_is_kept_and_reused)
{
    MI_POOL *p = &MiNonPagedPool;
    /* The largest small block, 255 of a page's 256 units: only an empty
     * page has room for one, so each of these needs a page to itself. */
    enum { BIG = POOL_SMALL_MAX_UNITS * POOL_UNIT - sizeof(POOL_HEADER) };
    PVOID a = ExAllocatePoolWithTag(NonPagedPoolNx, BIG, TAG_TEST);
    PVOID b = ExAllocatePoolWithTag(NonPagedPoolNx, BIG, TAG_TEST);
    KT_ASSERT(a && b && PAGE_ALIGN(a) != PAGE_ALIGN(b));
    KT_EQ(p->CachedPages, 0);   /* a kept page, if there was one, went to the first */
    ULONG64 in_use = p->PagesInUse;
    PFN_NUMBER avail = MmAvailablePages;
    ExFreePoolWithTag(a, TAG_TEST);        /* a's page empties: kept */
    KT_EQ(p->CachedPages, 1);
    KT_EQ(p->PagesInUse, in_use);
    KT_EQ(MmAvailablePages, avail);
    KT_ASSERT(MmIsAddressValid(PAGE_ALIGN(a)));
    ExFreePoolWithTag(b, TAG_TEST);        /* b's page empties too: one is kept already, so it goes */
    KT_EQ(p->CachedPages, 1);
    KT_EQ(p->PagesInUse, in_use - 1);
    KT_EQ(MmAvailablePages, avail + 1);
    KT_ASSERT(!MmIsAddressValid(PAGE_ALIGN(b)));
    PVOID c = ExAllocatePoolWithTag(NonPagedPoolNx, BIG, TAG_TEST);
    KT_EQ((ULONG64)PAGE_ALIGN(c), (ULONG64)PAGE_ALIGN(a));   /* the kept page, straight back */
    KT_EQ(p->CachedPages, 0);
    KT_EQ(MmAvailablePages, avail + 1);                        /* no frame was taken for it */
    ExFreePoolWithTag(c, TAG_TEST);
    KT_EQ(p->CachedPages, 1);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
}

KTEST(pool, lookaside_lists_reuse_blocks)
{
    static NPAGED_LOOKASIDE_LIST np;
    ExInitializeNPagedLookasideList(&np, NULL, NULL, 0, 200, TAG_TEST, 4);
    PVOID a = ExAllocateFromNPagedLookasideList(&np);
    ExFreeToNPagedLookasideList(&np, a);
    PVOID b = ExAllocateFromNPagedLookasideList(&np);
    KT_EQ((ULONG64)a, (ULONG64)b);                  /* the same block, straight back */
    KT_EQ(np.TotalAllocates, 2);
    KT_EQ(np.AllocateMisses, 1);
    PVOID many[6] = { b };
    for (int i = 1; i < 6; i++)
        many[i] = ExAllocateFromNPagedLookasideList(&np);
    for (int i = 0; i < 6; i++)
        ExFreeToNPagedLookasideList(&np, many[i]);
    KT_EQ(np.Depth, 4);                              /* kept at most Depth */
    KT_EQ(np.FreeMisses, 2);                         /* the rest went back to pool */
    ExDeleteNPagedLookasideList(&np);

    static PAGED_LOOKASIDE_LIST pl;
    ExInitializePagedLookasideList(&pl, NULL, NULL, 0, 64, TAG_TEST, 2);
    PVOID c = ExAllocateFromPagedLookasideList(&pl);
    KT_ASSERT((ULONG64)c >= MI_PAGED_POOL_START);
    ExFreeToPagedLookasideList(&pl, c);
    KT_EQ((ULONG64)ExAllocateFromPagedLookasideList(&pl), (ULONG64)c);
    ExFreeToPagedLookasideList(&pl, c);
    ExDeletePagedLookasideList(&pl);
}

/* Fill a pool with 256 KiB blocks until it says no; then give them all
 * back. The leak check after the test proves nothing stayed behind. */
static void exhaust(POOL_TYPE type, ULONG max_blocks)
{
    static PVOID blocks[512];
    ULONG n = 0;
    PVOID p;
    while (n < ARRAYSIZE(blocks) && (p = ExAllocatePoolWithTag(type, 256 * 1024, TAG_TEST)) != NULL)
        blocks[n++] = p;
    KT_LT(n, ARRAYSIZE(blocks));            /* it did run out */
    KT_LE(n, max_blocks);
    KT_GT(n, max_blocks / 2);
    KT_ASSERT(ExAllocatePoolWithTag(type, 256 * 1024, TAG_TEST) == NULL);
    while (n)
        ExFreePoolWithTag(blocks[--n], TAG_TEST);
}

KTEST(pool, exhaustion_returns_null_and_leaks_nothing)
{
    ULONG64 np_fail = MiNonPagedPool.Failures;
    exhaust(NonPagedPoolNx, MI_NONPAGED_POOL_PAGES / 64);
    exhaust(PagedPool, MI_PAGED_POOL_PAGES / 64);
    KT_GT(MiNonPagedPool.Failures, np_fail);
    PVOID p = ExAllocatePoolWithTag(NonPagedPoolNx, 256 * 1024, TAG_TEST);   /* and it recovers */
    KT_ASSERT(p != NULL);
    ExFreePoolWithTag(p, TAG_TEST);
}

/* ---- misuse: NT's bugchecks with NT's parameters ---- */

KTEST_BUGCHECK(pool, overrun_detected_at_free, BAD_POOL_HEADER, 0x20, KT_ANY, KT_ANY, 0)
{
    /* Two neighbours: b's header right after a's 64 bytes. Other blocks
     * may have left fragments around, so take pairs until one is adjacent. */
    PUCHAR a = NULL, b = NULL;
    for (int i = 0; i < 200 && !(b && b == a + 80 && PAGE_ALIGN(a) == PAGE_ALIGN(b)); i++) {
        a = ExAllocatePoolWithTag(NonPagedPoolNx, 64, TAG_TEST);
        b = ExAllocatePoolWithTag(NonPagedPoolNx, 64, TAG_TEST);
    }
    KT_EQ((ULONG64)b, (ULONG64)a + 80);
    KtExpectParam(2, (ULONG64)(a - 16));
    KtExpectParam(3, (ULONG64)(b - 16));
    memset(a, 'A', 72);                           /* 8 bytes too many: into b's header */
    ExFreePoolWithTag(a, TAG_TEST);
}

KTEST_BUGCHECK(pool, double_free, BAD_POOL_CALLER, 0x07, 0, KT_ANY, KT_ANY)
{
    /* KEEP keeps P's page alive (an emptied page goes back to the PFN
     * database, and then the second free is of a page pool does not use). */
    PVOID keep = NULL, p = NULL;
    for (int i = 0; i < 200 && !(p && PAGE_ALIGN(p) == PAGE_ALIGN(keep)); i++) {
        keep = ExAllocatePoolWithTag(NonPagedPoolNx, 32, TAG_TEST);
        p = ExAllocatePoolWithTag(NonPagedPoolNx, 32, TAG_TEST);
    }
    KtExpectParam(4, (ULONG64)p);
    ExFreePoolWithTag(p, TAG_TEST);
    ExFreePoolWithTag(p, TAG_TEST);
    ExFreePool(keep);
}

KTEST_BUGCHECK(pool, free_with_wrong_tag, BAD_POOL_CALLER, 0x0A, KT_ANY, TAG_TEST, TAG_OTHR)
{
    PVOID p = ExAllocatePoolWithTag(PagedPool, 32, TAG_TEST);
    KtExpectParam(2, (ULONG64)p);
    ExFreePoolWithTag(p, TAG_OTHR);
}

KTEST_BUGCHECK(pool, free_of_a_pointer_pool_never_gave, BAD_POOL_CALLER, 0x42, KT_ANY, 0, 0)
{
    ULONG64 on_stack[4];
    KtExpectParam(2, (ULONG64)on_stack);
    ExFreePool(on_stack);
}

KTEST_BUGCHECK(pool, paged_pool_at_dispatch_level, BAD_POOL_CALLER, 0x08, DISPATCH_LEVEL, PagedPool, 64)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    ExAllocatePoolWithTag(PagedPool, 64, TAG_TEST);
}

KTEST_BUGCHECK(pool, zero_tag_is_refused, BAD_POOL_CALLER, 0x9B, NonPagedPoolNx, 64, KT_ANY)
{
    ExAllocatePoolWithTag(NonPagedPoolNx, 64, 0);
}

KBENCH(pool, allocate_free)
{
    static const SIZE_T sizes[] = { 16, 64, 256, 1024, 4000, 8192, 65536 };
    static const char *names[] = { "16", "64", "256", "1024", "4000", "8192", "65536" };
    char what[64];
    for (int t = 0; t < 2; t++) {
        POOL_TYPE type = t ? PagedPool : NonPagedPoolNx;
        for (ULONG s = 0; s < ARRAYSIZE(sizes); s++) {
            int n = sizes[s] > 4096 ? 100 : 1000;
            uint64_t t0 = rdtsc();
            for (int i = 0; i < n; i++)
                ExFreePoolWithTag(ExAllocatePoolWithTag(type, sizes[s], TAG_TEST), TAG_TEST);
            uint64_t t1 = rdtsc();
            ksnprintf(what, sizeof(what), "%s_%s_bytes_cycles", t ? "paged" : "nonpaged", names[s]);
            KtBenchReport(what, (t1 - t0) / n, "cycles");
        }
    }
    static NPAGED_LOOKASIDE_LIST l;
    ExInitializeNPagedLookasideList(&l, NULL, NULL, 0, 128, TAG_TEST, 8);
    uint64_t t0 = rdtsc();
    for (int i = 0; i < 1000; i++)
        ExFreeToNPagedLookasideList(&l, ExAllocateFromNPagedLookasideList(&l));
    uint64_t t1 = rdtsc();
    ExDeleteNPagedLookasideList(&l);
    KtBenchReport("lookaside_128_bytes_cycles", (t1 - t0) / 1000, "cycles");
}

/* Issue 8 item 9: the big-page table and the tag table serve both pools.
 * Nonpaged pool is used from DPCs, which run inside any stretch of paged
 * pool work (at APC_LEVEL, under the paged pool's mutex): a paged big
 * allocation that had picked a free table slot and was still mapping its
 * pages could find a DPC's nonpaged allocation taking the same slot, and
 * then overwrite it - the DPC's block would be unknown at its free. A
 * periodic DPC here keeps allocating (then freeing the previous) nonpaged
 * big blocks while this thread allocates and frees paged big blocks. */
#define TAG_RACE_NP POOL_TAG('R', 'c', 'N', 'p')
#define TAG_RACE_PG POOL_TAG('R', 'c', 'P', 'g')
static KTIMER race_timer;
static KDPC race_dpc;
static PVOID race_block;
static volatile ULONG race_runs;

static void race_dpc_routine(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(dpc);
    UNREFERENCED_PARAMETER(ctx);
    UNREFERENCED_PARAMETER(a1);
    UNREFERENCED_PARAMETER(a2);
    PVOID fresh = ExAllocatePoolWithTag(NonPagedPoolNx, 2 * PAGE_SIZE, TAG_RACE_NP);   /* first: takes a slot */
    if (race_block)
        ExFreePoolWithTag(race_block, TAG_RACE_NP);   /* its record must still be there */
    race_block = fresh;
    race_runs++;
}

KTEST(pool, big_page_table_shared_with_dpcs_stays_consistent)
{
    race_block = NULL;
    race_runs = 0;
    KeInitializeTimer(&race_timer);
    KeInitializeDpc(&race_dpc, race_dpc_routine, NULL);
    LARGE_INTEGER due = { -KI_MS(3) };
    KeSetTimerEx(&race_timer, due, 3, &race_dpc);
    ULONG64 start = KeQueryInterruptTime();
    ULONG rounds = 0;
    while (race_runs < 60 && KeQueryInterruptTime() - start < (ULONG64)KI_MS(20000)) {
        PVOID p = ExAllocatePoolWithTag(PagedPool, 64 * PAGE_SIZE, TAG_RACE_PG);
        KT_ASSERT(p != NULL);
        ExFreePoolWithTag(p, TAG_RACE_PG);
        rounds++;
    }
    KeCancelTimer(&race_timer);
    KeRemoveQueueDpc(&race_dpc);
    KT_GE(race_runs, 60);                          /* the DPC really ran among the paged allocations */
    KT_GT(rounds, 0);
    if (race_block)
        ExFreePoolWithTag(race_block, TAG_RACE_NP);
    race_block = NULL;
    const MI_POOL_TAG_STATS *np = MiLookupPoolTag(TAG_RACE_NP), *pg = MiLookupPoolTag(TAG_RACE_PG);
    KT_ASSERT(np && pg);
    KT_EQ(np->Allocs[0], np->Frees[0]);
    KT_EQ(np->Bytes[0], 0);
    KT_EQ(pg->Allocs[1], pg->Frees[1]);
    KT_EQ(pg->Bytes[1], 0);
}
