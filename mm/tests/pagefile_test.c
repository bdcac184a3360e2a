/*
 * The pagefile (docs/paging.md): paged pool going out to disk and coming
 * back, the modified page writer's rules (an MDL lock keeps a page in, a
 * page dirtied during its write stays dirty), collided faults, the commit
 * limit. pagefile.* runs in the ordinary test boot, where each test makes
 * its own paging file on \Device\Harddisk1\DR0 and takes it away again,
 * and in a 64 MiB boot with `pagefile=Harddisk1` (the host test
 * paging.kernel_tests_with_a_pagefile). pagefile_inject.* need blkdebug on
 * that disk: only the host tests paging.*_error_* run them.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define TAG_PF POOL_TAG('P', 'f', 'T', 's')

static BOOLEAN made_here;

/* A paging file for the test: the boot's, or one made now. */
static void pf_begin(void)
{
    made_here = FALSE;
    if (MmNumberOfPagingFiles)
        return;
    ULONG64 limit = MiCommitLimit();
    KT_EQ(MiCreatePagingFile("\\Device\\Harddisk1\\DR0", 0, 0), STATUS_SUCCESS);
    made_here = TRUE;
    /* The limit grew by the file's slots (nothing else moved meanwhile
     * but a frame or two of pool for the file's own bitmap). */
    KT_GE(MiCommitLimit() + 8, limit + MiPageFileTotalSlots);
}

static void pf_end(void)
{
    MiWaitForPagingIdle();
    if (made_here)
        KT_EQ(MiDeletePagingFile(), STATUS_SUCCESS);
    made_here = FALSE;
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
}

static void fill(PULONG64 p, SIZE_T bytes, ULONG64 seed)
{
    for (SIZE_T i = 0; i < bytes / 8; i++)
        p[i] = seed ^ (i * 0x9E3779B97F4A7C15ULL);
}

static BOOLEAN same(const ULONG64 *p, SIZE_T bytes, ULONG64 seed)
{
    for (SIZE_T i = 0; i < bytes / 8; i++)
        if (p[i] != (seed ^ (i * 0x9E3779B97F4A7C15ULL)))
            return FALSE;
    return TRUE;
}

static ULONG64 pte_of(PVOID va)
{
    return MiGetPteAddress(va)->u.Long;
}

/* Trim paged pool, write what is modified, and purge the standby list:
 * every trimmed paged-pool page is then out, only in its slot. */
static void page_out_paged_pool(void)
{
    MmTrimSystemWorkingSet(0);
    MiFlushModifiedPages();
    MiWaitForPagingIdle();
    MiPurgeStandbyList();
}

KTEST(pagefile, paged_pool_goes_out_and_comes_back)
{
    enum { PAGES = 20, BYTES = PAGES * PAGE_SIZE };
    pf_begin();
    PULONG64 p = ExAllocatePoolWithTag(PagedPool, BYTES, TAG_PF);
    KT_ASSERT(p != NULL);
    fill(p, BYTES, 0xFEED);
    ULONG64 written = MiMpwPagesWritten, clusters = MiMpwClusters, reads = MiInPageReads,
            hard = MiSystemFaults[MiFaultHard], prefetched = MiInPagePrefetched;

    /* Trimmed: modified. Written: standby, each frame with its slot in
     * OriginalPte, PTE still in transition. */
    MmTrimSystemWorkingSet(0);
    PFN_NUMBER pfn0 = MI_PTE_PFN(pte_of(p));
    KT_EQ(MI_PFN_ELEMENT(pfn0)->PageLocation, ModifiedPageList);
    KT_GE(MiFlushModifiedPages(), PAGES);
    MiWaitForPagingIdle();
    KT_GE(MiMpwPagesWritten, written + PAGES);
    KT_GT(MiMpwClusters, clusters);
    KT_LT(MiMpwClusters - clusters, MiMpwPagesWritten - written);   /* clustered: more pages than writes */
    for (int i = 0; i < PAGES; i++) {
        PVOID va = (PUCHAR)p + i * PAGE_SIZE;
        MMPTE t = { .u.Long = pte_of(va) };
        KT_EQ(t.u.Trans.Transition, 1);
        PMMPFN e = MI_PFN_ELEMENT(t.u.Trans.PageFrameNumber);
        KT_EQ(e->PageLocation, StandbyPageList);
        KT_ASSERT(MiIsPageFilePte(e->OriginalPte.u.Long));
        KT_ASSERT(MiPageFileSlotInUse(e->OriginalPte.u.Long));
    }
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));

    /* Repurposed: the PTE is the pagefile PTE (file, slot, protection). */
    MiPurgeStandbyList();
    for (int i = 0; i < PAGES; i++) {
        ULONG64 v = pte_of((PUCHAR)p + i * PAGE_SIZE);
        KT_ASSERT(MiIsPageFilePte(v));
        KT_EQ(((MMPTE *)&v)->u.Soft.Protection, MM_READWRITE);
        KT_ASSERT(MiPageFileSlotInUse(v));
    }
    ULONG64 slots = MiPageFileSlotsInUse;
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));

    /* Touched: hard faults (each read bringing its neighbours along to the
     * standby list: read clustering), the same bytes, slots given back. */
    KT_ASSERT(same(p, BYTES, 0xFEED));
    KT_GT(MiInPageReads - reads, 0);
    KT_EQ((MiInPageReads - reads) + (MiInPagePrefetched - prefetched), PAGES);
    KT_EQ(MiSystemFaults[MiFaultHard] - hard, MiInPageReads - reads);
    KT_EQ(MiPageFileSlotsInUse, slots - PAGES);
    for (int i = 0; i < PAGES; i++)
        KT_ASSERT(MmIsAddressValid((PUCHAR)p + i * PAGE_SIZE));
    ExFreePoolWithTag(p, TAG_PF);
    pf_end();
}

KTEST(pagefile, freeing_paged_pool_that_is_out_gives_its_slot_back)
{
    pf_begin();
    ULONG64 slots = MiPageFileSlotsInUse;
    PUCHAR p = ExAllocatePoolWithTag(PagedPool, 8 * PAGE_SIZE, TAG_PF);
    memset(p, 0x5A, 8 * PAGE_SIZE);
    page_out_paged_pool();
    KT_ASSERT(MiIsPageFilePte(pte_of(p)));
    KT_GE(MiPageFileSlotsInUse, slots + 8);
    ExFreePoolWithTag(p, TAG_PF);   /* a big block: freed without touching it */
    KT_EQ(pte_of(p), 0);
    pf_end();
}

/* A page locked by an MDL is never written while locked (a device may be
 * changing it by DMA): its reference keeps it off the modified list. Once
 * unlocked after a write lock it is modified, written, and what the
 * "device" wrote comes back from the pagefile. */
KTEST(pagefile, mdl_lock_keeps_page_resident_while_the_writer_runs)
{
    pf_begin();
    PULONG64 p = ExAllocatePoolWithTag(PagedPool, PAGE_SIZE, TAG_PF);
    fill(p, PAGE_SIZE, 1);
    PMDL m = IoAllocateMdl(p, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmProbeAndLockPages(m, KernelMode, IoWriteAccess);
    PFN_NUMBER pfn = MmGetMdlPfnArray(m)[0];
    MmTrimSystemWorkingSet(0);
    KT_ASSERT(!MmIsAddressValid(p));
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ActiveAndValid);   /* the lock holds it */
    MiFlushModifiedPages();
    MiWaitForPagingIdle();
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ActiveAndValid);
    KT_ASSERT(!MiIsPageFilePte(MI_PFN_ELEMENT(pfn)->OriginalPte.u.Long));   /* never written: no slot */
    MiPurgeStandbyList();
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ActiveAndValid);   /* nor repurposed */
    /* The "device" writes through the MDL's own mapping, not p's PTE. */
    PULONG64 sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(sys != NULL);
    fill(sys, PAGE_SIZE, 2);
    MmUnlockPages(m);   /* a write unlock: modified */
    IoFreeMdl(m);
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ModifiedPageList);
    page_out_paged_pool();
    KT_ASSERT(MiIsPageFilePte(pte_of(p)));
    KT_ASSERT(same(p, PAGE_SIZE, 2));
    ExFreePoolWithTag(p, TAG_PF);
    pf_end();
}

/* Dirtied while its write is in flight: the write hook (the cluster is
 * taken, the IRP not sent yet) touches the page - a soft fault maps the
 * frame under the write - changes it and trims it again (D set: Modified).
 * The completion must not put it on the standby list with the old slot:
 * it goes back to modified, slot released, and is written again. */
static PULONG64 dirty_target;
static ULONG dirty_hits;
static void dirty_during_write(PFN_NUMBER *pages, ULONG count)
{
    PFN_NUMBER mine = MI_PTE_PFN(pte_of(dirty_target));
    for (ULONG i = 0; i < count; i++) {
        if (pages[i] != mine || dirty_hits)
            continue;
        dirty_hits++;
        KT_EQ(MI_PFN_ELEMENT(mine)->WriteInProgress, 1);
        fill(dirty_target, PAGE_SIZE, 0xD1D1);   /* soft fault on a frame being written */
        KT_EQ(MI_PFN_ELEMENT(mine)->PageLocation, ActiveAndValid);
        MmTrimSystemWorkingSet(0);               /* the D bit becomes Modified */
        KT_EQ(MI_PFN_ELEMENT(mine)->Modified, 1);
    }
}

KTEST(pagefile, page_dirtied_during_its_write_stays_dirty)
{
    pf_begin();
    dirty_target = ExAllocatePoolWithTag(PagedPool, PAGE_SIZE, TAG_PF);
    fill(dirty_target, PAGE_SIZE, 0xC1C1);
    MmTrimSystemWorkingSet(0);
    PFN_NUMBER pfn = MI_PTE_PFN(pte_of(dirty_target));
    ULONG64 rewrites = MiMpwRewrites;
    dirty_hits = 0;
    MiTestWriteHook = dirty_during_write;
    /* One cluster: the hook runs before it is sent. */
    KIRQL old = MiAcquirePfnLock();
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ModifiedPageList);
    MiReleasePfnLock(old);
    while (MI_PFN_ELEMENT(pfn)->PageLocation == ModifiedPageList && !dirty_hits && MiFlushModifiedPages())
        ;
    MiTestWriteHook = NULL;
    KT_EQ(dirty_hits, 1);
    KT_GT(MiMpwRewrites, rewrites);
    /* Back on the modified list (or written again by the flush's next
     * round, which then saw the new bytes): never standby with the old copy. */
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    KT_ASSERT(e->PageLocation == ModifiedPageList ||
              (e->PageLocation == StandbyPageList && MiIsPageFilePte(e->OriginalPte.u.Long)));
    page_out_paged_pool();
    KT_ASSERT(same(dirty_target, PAGE_SIZE, 0xD1D1));   /* the new bytes, read back from the pagefile */
    ExFreePoolWithTag(dirty_target, TAG_PF);
    pf_end();
}

/* Two threads fault on one page that is out: one reads, the other waits
 * for that read (a collided fault); one read in all. The read hook holds
 * the first read back until the second thread has collided. */
static PULONG64 collide_page;
static KEVENT collide_reading, collide_done;
static ULONG64 collide_seen;
static ULONG64 collide_base;
static void hold_read(PVOID va)
{
    if (va != PAGE_ALIGN(collide_page))
        return;
    KeSetEvent(&collide_reading, 0, FALSE);
    for (int i = 0; i < 2000 && MiCollidedFaults == collide_base; i++) {
        LARGE_INTEGER ms = { -KI_MS(1) };
        KeDelayExecutionThread(KernelMode, FALSE, &ms);
    }
}

static void second_faulter(PVOID ctx)
{
    UNREFERENCED_PARAMETER(ctx);
    KeWaitForSingleObject(&collide_reading, Executive, KernelMode, FALSE, NULL);
    collide_seen = ((volatile ULONG64 *)collide_page)[7];   /* collides with the read in flight */
    KeSetEvent(&collide_done, 0, FALSE);
    PsTerminateSystemThread(STATUS_SUCCESS);
}

KTEST(pagefile, collided_faults_share_one_read)
{
    pf_begin();
    collide_page = ExAllocatePoolWithTag(PagedPool, PAGE_SIZE, TAG_PF);
    fill(collide_page, PAGE_SIZE, 0xC011);
    page_out_paged_pool();
    KT_ASSERT(MiIsPageFilePte(pte_of(collide_page)));
    KeInitializeEvent(&collide_reading, NotificationEvent, FALSE);
    KeInitializeEvent(&collide_done, NotificationEvent, FALSE);
    collide_base = MiCollidedFaults;
    ULONG64 reads = MiInPageReads;
    collide_seen = 0;
    PKTHREAD t = KeCreateSystemThread(second_faulter, NULL, 8, "collider");
    KT_ASSERT(t != NULL);
    MiTestReadHook = hold_read;
    __asm__ volatile("" ::: "memory");   /* the hook is in place before the touch */
    ULONG64 mine = ((volatile ULONG64 *)collide_page)[3];   /* the first fault: reads */
    __asm__ volatile("" ::: "memory");
    MiTestReadHook = NULL;
    LARGE_INTEGER five = { -KI_MS(5000) };
    KT_EQ(KeWaitForSingleObject(&collide_done, Executive, KernelMode, FALSE, &five), STATUS_WAIT_0);
    KeWaitForSingleObject(t, Executive, KernelMode, FALSE, &five);
    KeDereferenceThread(t);
    KT_EQ(mine, 0xC011 ^ (3 * 0x9E3779B97F4A7C15ULL));
    KT_EQ(collide_seen, 0xC011 ^ (7 * 0x9E3779B97F4A7C15ULL));
    KT_EQ(MiCollidedFaults - collide_base, 1);
    KT_EQ(MiInPageReads - reads, 1);
    ExFreePoolWithTag(collide_page, TAG_PF);
    pf_end();
}

/* Commit: the paging file raised the limit by its size; a charge past it
 * is refused up front and changes nothing. */
KTEST(pagefile, commit_limit_includes_the_pagefile)
{
    pf_begin();
    ULONG64 limit = MiCommitLimit(), charge = MmTotalCommittedPages;
    KT_GT(limit, MmAvailablePages);   /* more than RAM could back */
    KT_ASSERT(!MiChargeCommitment(NULL, limit - charge + 1));
    KT_EQ(MmTotalCommittedPages, charge);
    KT_ASSERT(MiChargeCommitment(NULL, 16));
    MiReturnCommitment(NULL, 16);
    pf_end();
}

/* A process whose pages are out in the pagefile ends: every one of its
 * slots is given back, exactly (nothing else pages in a test boot). */
KTEST(pagefile, process_exit_releases_every_slot)
{
    pf_begin();
    MiWaitForPagingIdle();
    ULONG64 slots = MiPageFileSlotsInUse;
    PEPROCESS p;
    KT_EQ(PsCreateProcess("utest_paging", "utest_paging hold 8", NULL, &p), STATUS_SUCCESS);
    for (int i = 0; i < 500 && p->Vm.Count < 2048; i++) {   /* it writes 8 MiB, then sleeps */
        LARGE_INTEGER ms = { -KI_MS(10) };
        KeDelayExecutionThread(KernelMode, FALSE, &ms);
    }
    KT_GE(p->Vm.Count, 2048);
    PEPROCESS saved;
    KeStackAttachProcess(p, &saved);
    MmTrimProcessWorkingSet(p);
    KeUnstackDetachProcess(&saved);
    MiFlushModifiedPages();
    MiWaitForPagingIdle();
    MiPurgeStandbyList();
    KT_GE(MiPageFileSlotsInUse, slots + 2048);   /* out, only in the pagefile */
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    KT_EQ(PsTerminateProcess(p, 0x55), STATUS_SUCCESS);
    LARGE_INTEGER ten = { -KI_MS(10000) };
    KT_EQ(KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &ten), STATUS_WAIT_0);
    PsDereferenceProcess(p);
    MiWaitForPagingIdle();
    KT_EQ(MiPageFileSlotsInUse, slots);
    pf_end();
}

/* ---- fault injection: the host tests paging.*_error_* put blkdebug on
 * the pagefile disk. Manual: they run only when named. ---- */

static void set_hint(ULONG64 slot)
{
    KIRQL old = MiAcquirePfnLock();
    MmPagingFile[0]->Hint = slot;
    MiReleasePfnLock(old);
}

/* Writes to slots 512..527 fail (the disk says EIO): the cluster's pages
 * stay modified with their slots given back, the next cluster goes
 * elsewhere, and every byte comes back. */
KTEST_MANUAL(pagefile_inject, write_error_keeps_the_page)
{
    KT_ASSERT(MmNumberOfPagingFiles != 0);
    enum { PAGES = 16, BYTES = PAGES * PAGE_SIZE };
    page_out_paged_pool();   /* everything else first: the next cluster is ours */
    PULONG64 p = ExAllocatePoolWithTag(PagedPool, BYTES, TAG_PF);
    fill(p, BYTES, 0xE1);
    MmTrimSystemWorkingSet(0);
    ULONG64 errors = MiMpwWriteErrors, slots = MiPageFileSlotsInUse;
    set_hint(512);
    MiFlushModifiedPages();   /* stops at the failed cluster */
    MiWaitForPagingIdle();
    KT_GT(MiMpwWriteErrors, errors);
    KT_EQ(MiPageFileSlotsInUse, slots);   /* the failed cluster's slots went back */
    KT_EQ(MI_PFN_ELEMENT(MI_PTE_PFN(pte_of(p)))->PageLocation, ModifiedPageList);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    set_hint(600);
    page_out_paged_pool();
    KT_ASSERT(MiIsPageFilePte(pte_of(p)));
    KT_ASSERT(same(p, BYTES, 0xE1));
    ExFreePoolWithTag(p, TAG_PF);
    MiWaitForPagingIdle();
}

/* Reads of slots 700..715 fail: a process whose pages are there ends with
 * STATUS_IN_PAGE_ERROR when it touches them, and gives everything back. */
KTEST_MANUAL(pagefile_inject, read_error_ends_the_process)
{
    KT_ASSERT(MmNumberOfPagingFiles != 0);
    ULONG64 slots = MiPageFileSlotsInUse, errors = MiInPageErrors;
    PEPROCESS p;
    KT_EQ(PsCreateProcess("utest_paging", "utest_paging touch", NULL, &p), STATUS_SUCCESS);
    LARGE_INTEGER ms300 = { -KI_MS(300) };
    KeDelayExecutionThread(KernelMode, FALSE, &ms300);   /* it has written its 16 pages and sleeps */
    PEPROCESS saved;
    KeStackAttachProcess(p, &saved);
    MmTrimProcessWorkingSet(p);
    KeUnstackDetachProcess(&saved);
    set_hint(700);
    MiFlushModifiedPages();
    MiWaitForPagingIdle();
    MiPurgeStandbyList();
    LARGE_INTEGER ten = { -KI_MS(10000) };
    KT_EQ(KeWaitForSingleObject(p, Executive, KernelMode, FALSE, &ten), STATUS_WAIT_0);
    KT_EQ(p->ExitStatus, STATUS_IN_PAGE_ERROR);
    KT_GT(MiInPageErrors, errors);
    PsDereferenceProcess(p);
    MiWaitForPagingIdle();
    KT_EQ(MiPageFileSlotsInUse, slots);   /* its slots went with it */
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
}

/* Paged pool whose slot cannot be read: KERNEL_DATA_INPAGE_ERROR (0x7A),
 * P1 the PTE's address, P2 the status, P3 the PTE, P4 the address. */
static PULONG64 lost;
#define KTEST_MANUAL_BUGCHECK(suite, name, code, p1, p2, p3, p4) \
    KTEST_DEFINE_(".ktests", suite, name, KTEST_F_MANUAL | KTEST_F_BUGCHECK, code, p1, p2, p3, p4)
KTEST_MANUAL_BUGCHECK(pagefile_inject, paged_pool_read_error_bugchecks, KERNEL_DATA_INPAGE_ERROR, KT_ANY,
                      (ULONG64)(LONG64)STATUS_DEVICE_DATA_ERROR, KT_ANY, KT_ANY)
{
    KT_ASSERT(MmNumberOfPagingFiles != 0);
    page_out_paged_pool();   /* everything else first: the next cluster is ours */
    lost = ExAllocatePoolWithTag(PagedPool, PAGE_SIZE, TAG_PF);
    fill(lost, PAGE_SIZE, 0x7A);
    set_hint(900);
    page_out_paged_pool();
    KT_ASSERT(MiIsPageFilePte(pte_of(lost)));
    KtExpectParam(1, (ULONG64)MiGetPteAddress(lost));
    KtExpectParam(3, pte_of(lost));
    KtExpectParam(4, (ULONG64)lost);
    kprintf("read %llu\n", (unsigned long long)lost[0]);   /* the slot's read fails */
}

/* For the host test gdb.pagefile_and_pt_show_a_page_that_is_out: one
 * paged-pool page written out and repurposed; GDB stops in
 * MiTestPagefileGdbStop (VA, its pagefile PTE) and runs `pagefile` and
 * `pt` on it, then the page comes back. */
__attribute__((noinline)) void MiTestPagefileGdbStop(PVOID va, ULONG64 pte)
{
    __asm__ volatile("" : : "r"(va), "r"(pte) : "memory");
}

KTEST_MANUAL(pagefile_gdb, one_page_out_for_gdb)
{
    KT_ASSERT(MmNumberOfPagingFiles != 0);
    PULONG64 p = ExAllocatePoolWithTag(PagedPool, PAGE_SIZE, POOL_TAG('G', 'd', 'b', 'F'));
    fill(p, PAGE_SIZE, 0x6D6);
    page_out_paged_pool();
    KT_ASSERT(MiIsPageFilePte(pte_of(p)));
    MiTestPagefileGdbStop(p, pte_of(p));
    KT_ASSERT(same(p, PAGE_SIZE, 0x6D6));
    ExFreePoolWithTag(p, POOL_TAG('G', 'd', 'b', 'F'));
    MiWaitForPagingIdle();
}

/* ---- make bench: what paging costs (ns and cycles; nothing asserted) ---- */
#include "mm/tests/frames_test_util.h"

/* Paging 256 paged-pool pages back in, each touched once in order: the
 * cost per page with one page per read, and with read clustering (up to 8
 * pages a read, the rest soft faults off the standby list). */
static uint64_t page_in(PUCHAR p, ULONG pages, ULONG cluster, ULONG64 *reads)
{
    for (ULONG i = 0; i < pages; i++)
        p[i * PAGE_SIZE] = (UCHAR)i;   /* in, dirty: written out again */
    page_out_paged_pool();
    ULONG saved = MiReadClusterPages;
    MiReadClusterPages = cluster;
    ULONG64 r = MiInPageReads;
    uint64_t t0 = rdtsc();
    for (ULONG i = 0; i < pages; i++)
        (void)((volatile UCHAR *)p)[i * PAGE_SIZE];
    uint64_t t1 = rdtsc();
    MiReadClusterPages = saved;
    *reads = MiInPageReads - r;
    return (t1 - t0) / pages;
}

KBENCH(paging, hard_fault)
{
    enum { PAGES = 256 };
    pf_begin();
    PUCHAR p = ExAllocatePoolWithTag(PagedPool, PAGES * PAGE_SIZE, TAG_PF);
    ULONG64 r1, r8;
    uint64_t one = page_in(p, PAGES, 1, &r1), eight = page_in(p, PAGES, MI_READ_CLUSTER_MAX, &r8);
    ExFreePoolWithTag(p, TAG_PF);
    pf_end();
    KtBenchReport("cycles_per_page_unclustered", one, "cycles");
    KtBenchReport("cycles_per_page_clustered", eight, "cycles");
    KtBenchReport("reads_per_256_pages_clustered", r8, "reads");
    (void)r1;
}

/* The modified page writer's throughput: 4 MiB of trimmed paged pool
 * written in 64 KiB clusters. */
KBENCH(paging, modified_page_writer)
{
    enum { PAGES = 1024 };
    pf_begin();
    PUCHAR p = ExAllocatePoolWithTag(PagedPool, PAGES * PAGE_SIZE, TAG_PF);
    for (int i = 0; i < PAGES; i++)
        p[i * PAGE_SIZE] = (UCHAR)i;
    page_out_paged_pool();   /* everything else first */
    for (int i = 0; i < PAGES; i++)
        p[i * PAGE_SIZE] = (UCHAR)(i + 1);   /* in again, dirty */
    MmTrimSystemWorkingSet(0);
    ULONG64 written = MiMpwPagesWritten, clusters = MiMpwClusters;
    uint64_t t0 = rdtsc();
    MiFlushModifiedPages();
    uint64_t t1 = rdtsc();
    ULONG64 n = MiMpwPagesWritten - written, c = MiMpwClusters - clusters;
    ExFreePoolWithTag(p, TAG_PF);
    pf_end();
    KtBenchReport("mpw_write_per_kib", (t1 - t0) / (n ? n * 4 : 1), "cycles");
    KtBenchReport("pages_per_cluster", c ? n / c : 0, "pages");
}

/* A process touching twice the memory left to it: frames are taken away
 * until 24 MiB are available, and `utest_paging worker 48 SEED MODE`
 * writes 48 MiB and reads it back in order (seq) or visits every page in
 * a random order (rand). Whole run, and hard faults per second. */
static void workload(const char *mode, const char *label)
{
    char cmd[64];
    ksnprintf(cmd, sizeof(cmd), "utest_paging worker 48 77 %s", mode);
    MT_HELD_FRAMES h = { 0 };
    MtHoldFramesWhileAvailable(&h, 6144);
    ULONG64 hard = MiSystemFaults[MiFaultHard], freq = HalTscPerMs();
    PEPROCESS p;
    uint64_t t0 = rdtsc();
    if (!NT_SUCCESS(PsCreateProcess("utest_paging", cmd, NULL, &p))) {
        MtReleaseFrames(&h);
        KtBenchReport("no_process", 0, "error");
        return;
    }
    KeWaitForSingleObject(p, Executive, KernelMode, FALSE, NULL);
    uint64_t t1 = rdtsc();
    NTSTATUS st = p->ExitStatus;
    PsDereferenceProcess(p);
    MtReleaseFrames(&h);
    ULONG64 faults = MiSystemFaults[MiFaultHard] - hard, ms = (t1 - t0) / (freq ? freq : 1);
    char what[48];
    ksnprintf(what, sizeof(what), "%s_48mib_on_24mib_ms", label);
    KtBenchReport(what, st == 0 ? ms : 0, st == 0 ? "ms" : "error");
    ksnprintf(what, sizeof(what), "%s_hard_faults_per_s", label);
    KtBenchReport(what, ms ? faults * 1000 / ms : 0, "faults/s");
}

KBENCH(paging, twice_available_ram)
{
    pf_begin();
    /* Each workload with and without read clustering, alternating, so that
     * a change of load on the host hits both. */
    ULONG saved = MiReadClusterPages;
    for (int round = 0; round < 2; round++) {
        MiReadClusterPages = saved;
        workload("seq", "seq");
        MiReadClusterPages = 1;
        workload("seq", "seq_unclustered");
        MiReadClusterPages = saved;
        workload("rand", "rand");
        MiReadClusterPages = 1;
        workload("rand", "rand_unclustered");
    }
    MiReadClusterPages = saved;
    MiWaitForPagingIdle();
    pf_end();
}
