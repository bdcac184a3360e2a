/*
 * The pagefile under fault injection, and a page out for GDB: manual tests
 * the host tests paging.*_error_* and gdb.pagefile_and_pt_show_a_page_that_is_out
 * run in boots with `pagefile=Harddisk1` (and QEMU's blkdebug on that disk).
 */
#include "mm/tests/pagefile_test_util.h"

/* ---- fault injection: the host tests paging.*_error_* put blkdebug on
 * the pagefile disk. Manual: they run only when named. ---- */


/* Writes to slots 512..527 fail (the disk says EIO): the cluster's pages
 * stay modified with their slots given back, the next cluster goes
 * elsewhere, and every byte comes back. */
KTEST_MANUAL(pagefile_inject, write_error_keeps_the_page)
{
    KT_ASSERT(MmNumberOfPagingFiles != 0);
    enum { PAGES = 16, BYTES = PAGES * PAGE_SIZE };
    PtPageOutPagedPool();   /* everything else first: the next cluster is ours */
    PULONG64 p = ExAllocatePoolWithTag(PagedPool, BYTES, TAG_PF);
    PtFill(p, BYTES, 0xE1);
    MmTrimSystemWorkingSet(0);
    ULONG64 errors = MiMpwWriteErrors, slots = MiPageFileSlotsInUse;
    PtSetHint(512);
    MiFlushModifiedPages();   /* stops at the failed cluster */
    MiWaitForPagingIdle();
    KT_GT(MiMpwWriteErrors, errors);
    KT_EQ(MiPageFileSlotsInUse, slots);   /* the failed cluster's slots went back */
    KT_EQ(MI_PFN_ELEMENT(MI_PTE_PFN(PtPte(p)))->PageLocation, ModifiedPageList);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    PtSetHint(600);
    PtPageOutPagedPool();
    KT_ASSERT(MiIsPageFilePte(PtPte(p)));
    KT_ASSERT(PtSame(p, BYTES, 0xE1));
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
    PtSetHint(700);
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
    PtPageOutPagedPool();   /* everything else first: the next cluster is ours */
    lost = ExAllocatePoolWithTag(PagedPool, PAGE_SIZE, TAG_PF);
    PtFill(lost, PAGE_SIZE, 0x7A);
    PtSetHint(900);
    PtPageOutPagedPool();
    KT_ASSERT(MiIsPageFilePte(PtPte(lost)));
    KtExpectParam(1, (ULONG64)MiGetPteAddress(lost));
    KtExpectParam(3, PtPte(lost));
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
    PtFill(p, PAGE_SIZE, 0x6D6);
    PtPageOutPagedPool();
    KT_ASSERT(MiIsPageFilePte(PtPte(p)));
    MiTestPagefileGdbStop(p, PtPte(p));
    KT_ASSERT(PtSame(p, PAGE_SIZE, 0x6D6));
    ExFreePoolWithTag(p, POOL_TAG('G', 'd', 'b', 'F'));
    MiWaitForPagingIdle();
}

