/*
 * The course-staff test API (kernel/ktest/ktapi.c, docs/testing.md): each
 * routine against the kernel's own view, so a hidden test can trust it.
 * Only kernel/mdlos.h: what a hidden test has.
 */
#include "kernel/mdlos.h"

/* The example of docs/testing.md, "The test API for course staff". */
KTEST(ktapi, process__touched_page_is_private_and_active)
{
    KT_PROCESS p;
    ULONG64 va, v = 1, back = 0;
    KT_EQ(KtCreateProcess("hello", &p), STATUS_SUCCESS);
    KT_NE(p.Cr3, 0);
    KT_EQ(KtAllocateUser(&p, 2 * PAGE_SIZE, PAGE_READWRITE, &va), STATUS_SUCCESS);
    KT_NE(va, 0);
    KT_EQ(KtPteOf(&p, va) & 1, 0);                     /* committed, not yet touched */
    KT_EQ(KtWriteUser(&p, va, &v, sizeof(v)), STATUS_SUCCESS);
    KT_EQ(KtReadUser(&p, va, &back, sizeof(back)), STATUS_SUCCESS);
    KT_EQ(back, 1);
    ULONG64 pte = KtPteOf(&p, va);
    KT_EQ(pte & 7, 7);                                 /* valid, writable, user */
    KT_FRAME f;
    KT_ASSERT(KtFrameInfo(pte >> 12 & 0xFFFFFFFFFFULL, &f));
    KT_EQ(f.ShareCount, 1);
    KT_EQ(f.ReferenceCount, 1);
    KT_STREQ(KtFrameListName(f.List), "Active");
    KT_EQ(KtPfnShareCount(pte >> 12 & 0xFFFFFFFFFFULL), 1);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KT_EQ(KtPteOf(&p, va) & 1, 0);
    KtDeleteProcess(&p);
}

KTEST(ktapi, process__attached_sees_its_memory)
{
    KT_PROCESS p;
    ULONG64 va;
    KT_EQ(KtCreateProcess("hello", &p), STATUS_SUCCESS);
    KtAttach(&p);
    KT_EQ(KtAllocateUser(&p, PAGE_SIZE, PAGE_READWRITE, &va), STATUS_SUCCESS);   /* works attached too */
    ULONG64 v = 42;
    KT_EQ(KtWriteUser(&p, va, &v, 8), STATUS_SUCCESS);
    KtDetach(&p);
    /* A bad address is a status, not a bugcheck. */
    KT_EQ(KtReadUser(&p, 0x10, &v, 8), STATUS_ACCESS_VIOLATION);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
}

KTEST(ktapi, system_ptes_and_locked_pages)
{
    ULONG before = KtSystemPtesInUse();
    PHYSICAL_ADDRESS vga = { 0xB8000 };
    PVOID io = MmMapIoSpace(vga, 2 * PAGE_SIZE, MmNonCached);
    KT_ASSERT(io != NULL);
    KT_GE(KtSystemPtesInUse(), before + 2);   /* two pages, and any guard the allocator keeps */
    KT_EQ(KtKernelPteOf(io) >> 12 & 0xFFFFFFFFFFULL, 0xB8);
    MmUnmapIoSpace(io, 2 * PAGE_SIZE);
    KT_EQ(KtSystemPtesInUse(), before);

    ULONG64 locked = KtLockedPages();
    UCHAR *buf = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, POOL_TAG('K', 't', 'A', 'p'));
    KT_ASSERT(buf != NULL);
    PMDL mdl = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(mdl != NULL);
    MmProbeAndLockPages(mdl, KernelMode, IoWriteAccess);
    KT_EQ(KtLockedPages(), locked + 1);
    MmUnlockPages(mdl);
    KT_EQ(KtLockedPages(), locked);
    IoFreeMdl(mdl);
    ExFreePoolWithTag(buf, POOL_TAG('K', 't', 'A', 'p'));
    KT_ASSERT(!KtFrameInfo(~0ULL >> 12, &(KT_FRAME){ 0 }));   /* not RAM */
}

KTEST(ktapi, ex_exception_code_inside_ex_except)
{
    volatile NTSTATUS seen = 0, named = 0;
    ExTry {
        ExRaiseStatus(STATUS_INVALID_PARAMETER);
    } ExExcept(status) {
        named = status;
        seen = ExExceptionCode();
    } ExEndTry;
    KT_EQ((ULONG)seen, (ULONG)STATUS_INVALID_PARAMETER);
    KT_EQ((ULONG)named, (ULONG)seen);
}
