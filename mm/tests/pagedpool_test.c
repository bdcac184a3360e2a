/* Paged pool is pageable: trimmed pages soft-fault back at PASSIVE_LEVEL
 * with the same data, and touching them at DISPATCH_LEVEL is a bugcheck. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define TAG_PAGE POOL_TAG('P', 'g', 'T', 's')

static void fill(PULONG64 p, SIZE_T bytes, ULONG64 seed)
{
    for (SIZE_T i = 0; i < bytes / 8; i++)
        p[i] = seed ^ (i * 0x9E3779B97F4A7C15ULL);
}

KTEST(pagedpool, trimmed_pages_soft_fault_back_with_same_data)
{
    enum { BYTES = 3 * PAGE_SIZE };
    PULONG64 p = ExAllocatePoolWithTag(PagedPool, BYTES, TAG_PAGE);
    KT_ASSERT(p != NULL);
    fill(p, BYTES, 0x1234);
    PFN_NUMBER pfn[3];
    for (int i = 0; i < 3; i++) {
        pfn[i] = MI_PTE_PFN(MiGetPteAddress((PUCHAR)p + i * PAGE_SIZE)->u.Long);
        KT_ASSERT(MiGetPteAddress((PUCHAR)p + i * PAGE_SIZE)->u.Hard.Dirty);
    }
    PFN_NUMBER modified = MmModifiedPageListHead.Total;

    KT_GE(MmTrimSystemWorkingSet(0), 3);
    for (int i = 0; i < 3; i++) {
        PVOID va = (PUCHAR)p + i * PAGE_SIZE;
        PMMPTE pte = MiGetPteAddress(va);
        KT_ASSERT(!MmIsAddressValid(va));
        KT_EQ(pte->u.Trans.Transition, 1);                /* not present, but still names the frame */
        KT_EQ(pte->u.Trans.PageFrameNumber, pfn[i]);
        KT_EQ(MI_PFN_ELEMENT(pfn[i])->PageLocation, ModifiedPageList);   /* no pagefile copy: dirty */
        KT_EQ(MI_PFN_ELEMENT(pfn[i])->ReferenceCount, 0);
    }
    KT_GE(MmModifiedPageListHead.Total, modified + 3);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));

    /* Touch at PASSIVE_LEVEL: soft faults, same frames, same bytes. */
    for (SIZE_T i = 0; i < BYTES / 8; i++)
        if (p[i] != (0x1234 ^ (i * 0x9E3779B97F4A7C15ULL)))
            KT_EQ(p[i], 0x1234 ^ (i * 0x9E3779B97F4A7C15ULL));
    for (int i = 0; i < 3; i++) {
        KT_ASSERT(MmIsAddressValid((PUCHAR)p + i * PAGE_SIZE));
        KT_EQ(MI_PTE_PFN(MiGetPteAddress((PUCHAR)p + i * PAGE_SIZE)->u.Long), pfn[i]);
        KT_EQ(MI_PFN_ELEMENT(pfn[i])->PageLocation, ActiveAndValid);
    }
    ExFreePoolWithTag(p, TAG_PAGE);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
}

KTEST(pagedpool, small_blocks_survive_trimming_too)
{
    PULONG64 a = ExAllocatePoolWithTag(PagedPool, 100, TAG_PAGE);
    PULONG64 b = ExAllocatePoolWithTag(PagedPool, 100, TAG_PAGE);
    a[0] = 0xAAAA;
    b[0] = 0xBBBB;
    MmTrimSystemWorkingSet(0);
    KT_ASSERT(!MmIsAddressValid(a));
    /* Freeing touches the headers: the pool itself soft-faults them in. */
    ExFreePoolWithTag(a, TAG_PAGE);
    KT_EQ(b[0], 0xBBBB);
    ExFreePoolWithTag(b, TAG_PAGE);
}

KTEST(pagedpool, freeing_a_trimmed_page_frees_its_frame)
{
    PUCHAR p = ExAllocatePoolWithTag(PagedPool, 2 * PAGE_SIZE, TAG_PAGE);
    p[0] = 1;
    PFN_NUMBER pfn = MI_PTE_PFN(MiGetPteAddress(p)->u.Long);
    MmTrimSystemWorkingSet(0);
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ModifiedPageList);
    ExFreePoolWithTag(p, TAG_PAGE);    /* big block: freed without touching it */
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, FreePageList);
    KT_EQ(MiGetPteAddress(p)->u.Long, 0);
}

static PULONG64 trimmed;
KTEST_BUGCHECK(pagedpool, touching_trimmed_page_at_dispatch_bugchecks, IRQL_NOT_LESS_OR_EQUAL, KT_ANY,
               DISPATCH_LEVEL, 0, KT_ANY)
{
    trimmed = ExAllocatePoolWithTag(PagedPool, PAGE_SIZE, TAG_PAGE);
    trimmed[0] = 7;
    MmTrimSystemWorkingSet(0);
    KtExpectParam(1, (ULONG64)trimmed);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    kprintf("read %llu\n", (unsigned long long)trimmed[0]);   /* a page fault at DISPATCH_LEVEL */
}

/* Issue 8 item 7: a paged lookaside list keeps freed paged-pool blocks,
 * whose pages may be trimmed while they wait. Popping one reads its link,
 * pushing one writes it: both must happen where a soft fault is allowed
 * (IRQL <= APC_LEVEL), never at DISPATCH_LEVEL. */
KTEST(pagedpool, lookaside_list_reuses_trimmed_blocks)
{
    PAGED_LOOKASIDE_LIST l;   /* the header on the (nonpaged) stack, as NT requires nonpaged storage */
    ExInitializePagedLookasideList(&l, NULL, NULL, 0, 256, TAG_PAGE, 4);
    PUCHAR a = ExAllocateFromPagedLookasideList(&l);
    KT_ASSERT(a != NULL);
    for (int i = 8; i < 256; i++)
        a[i] = (UCHAR)i;
    ExFreeToPagedLookasideList(&l, a);
    MmTrimSystemWorkingSet(0);
    KT_ASSERT(!MmIsAddressValid(a));                    /* the kept block is out */
    PUCHAR b = ExAllocateFromPagedLookasideList(&l);    /* pops it: reads its link */
    KT_EQ((ULONG64)b, (ULONG64)a);
    KT_EQ(b[255], 255);                                 /* same bytes, by a soft fault */
    MmTrimSystemWorkingSet(0);
    KT_ASSERT(!MmIsAddressValid(b));
    ExFreeToPagedLookasideList(&l, b);                  /* pushes it: writes its link */
    KT_EQ(l.Depth, 1);
    ExDeletePagedLookasideList(&l);
}

KTEST_BUGCHECK(pagedpool, lookaside_list_at_dispatch_level_bugchecks, IRQL_NOT_LESS_OR_EQUAL, 0, DISPATCH_LEVEL,
               APC_LEVEL, KT_ANY)
{
    static PAGED_LOOKASIDE_LIST l;
    ExInitializePagedLookasideList(&l, NULL, NULL, 0, 64, TAG_PAGE, 4);
    ExFreeToPagedLookasideList(&l, ExAllocateFromPagedLookasideList(&l));   /* one block kept, resident */
    KIRQL old = KeRaiseIrqlToDpcLevel();
    PVOID p = ExAllocateFromPagedLookasideList(&l);     /* the rule is broken here, whatever the block's state */
    KeLowerIrql(old);
    ExFreeToPagedLookasideList(&l, p);
}

/* The list's own structure must not be pageable: its lock is touched at
 * DISPATCH_LEVEL (a mutex's wait list by the dispatcher). */
KTEST_BUGCHECK(pagedpool, lookaside_header_in_paged_pool_bugchecks, BAD_POOL_CALLER, 0x1001, KT_ANY, PagedPool, 0)
{
    PPAGED_LOOKASIDE_LIST l = ExAllocatePoolWithTag(PagedPool, sizeof(*l), TAG_PAGE);
    KtExpectParam(2, (ULONG64)l);
    ExInitializePagedLookasideList(l, NULL, NULL, 0, 64, TAG_PAGE, 4);
    ExDeletePagedLookasideList(l);
    ExFreePoolWithTag(l, TAG_PAGE);
}

/* The system working set's two halves, for make bench: a trim of every
 * page (valid -> transition, frame to the modified list) and the soft
 * fault that brings each one back. */
KBENCH(pagedpool, trim_and_soft_fault)
{
    enum { PAGES = 64, ROUNDS = 20 };
    PUCHAR p = ExAllocatePoolWithTag(PagedPool, PAGES * PAGE_SIZE, TAG_PAGE);
    if (!p) {
        KtBenchReport("no_paged_pool", 0, "error");
        return;
    }
    uint64_t trim = 0, fault = 0, trimmed = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < PAGES; i++)
            ((volatile UCHAR *)p)[i * PAGE_SIZE] = (UCHAR)r;   /* resident */
        uint64_t t0 = rdtsc();
        trimmed += MmTrimSystemWorkingSet(0);
        uint64_t t1 = rdtsc();
        for (int i = 0; i < PAGES; i++)
            ((volatile UCHAR *)p)[i * PAGE_SIZE] = (UCHAR)r;   /* a soft fault each */
        uint64_t t2 = rdtsc();
        trim += t1 - t0;
        fault += t2 - t1;
    }
    ExFreePoolWithTag(p, TAG_PAGE);
    KtBenchReport("cycles_per_trimmed_page", trim / (trimmed ? trimmed : 1), "cycles");
    KtBenchReport("cycles_per_soft_fault", fault / (PAGES * ROUNDS), "cycles");
}
