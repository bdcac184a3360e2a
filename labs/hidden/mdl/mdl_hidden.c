/*
 * Hidden tests of the MDL lab (course staff's; never in a student tree).
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

typedef struct {
    MDL Mdl;
    PFN_NUMBER Pfn[4];
} H_MDL;

/* A buffer that runs off the end of its allocation: the first page locks,
 * the second has no VAD, so the probe fails - and must give the first
 * page's reference back. */
KTEST_POINTS(mdl_hidden, lock__failure_after_a_locked_page_releases_it, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    KT_EQ(KtCreateProcess("hello", &p), STATUS_SUCCESS);
    KT_EQ(KtAllocateUser(&p, PAGE_SIZE, PAGE_READWRITE, &va), STATUS_SUCCESS);
    ULONG64 x = 7;
    KT_EQ(KtWriteUser(&p, va, &x, 8), STATUS_SUCCESS);
    UCHAR c;
    KT_ASSERT(!NT_SUCCESS(KtReadUser(&p, va + PAGE_SIZE, &c, 1)));   /* nothing is there */
    PFN_NUMBER f = MI_PTE_PFN(KtPteOf(&p, va));
    ULONG refs = KtPfnReferenceCount(f);
    ULONG64 locked = KtLockedPages();
    H_MDL b;
    memset(&b, 0, sizeof(b));
    MmInitializeMdl(&b.Mdl, (PVOID)(va + 0x800), PAGE_SIZE);
    KtAttach(&p);
    NTSTATUS s = MiLabProbeAndLockPages(&b.Mdl, UserMode, IoReadAccess);
    KtDetach(&p);
    KT_EQ(s, STATUS_ACCESS_VIOLATION);
    KT_EQ(b.Mdl.MdlFlags & MDL_PAGES_LOCKED, 0);
    KT_EQ(KtPfnReferenceCount(f), refs);
    KT_EQ(KtLockedPages(), locked);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
}

/* UserMode says the buffer came from ring 3: a kernel address is refused
 * before anything is touched. Two MDLs on one page hold two references. */
KTEST_POINTS(mdl_hidden, lock__user_mode_kernel_address_and_two_locks, 5)
{
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, POOL_TAG('H', 'i', 'd', 'M'));
    KT_ASSERT(buf != NULL);
    H_MDL a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    MmInitializeMdl(&a.Mdl, buf, 64);
    MmInitializeMdl(&b.Mdl, buf + 128, 64);
    ULONG64 locked = KtLockedPages();
    KT_EQ(MiLabProbeAndLockPages(&a.Mdl, UserMode, IoReadAccess), STATUS_ACCESS_VIOLATION);
    KT_EQ(a.Mdl.MdlFlags & MDL_PAGES_LOCKED, 0);
    KT_EQ(KtLockedPages(), locked);
    PFN_NUMBER f = MI_PTE_PFN(KtKernelPteOf(buf));
    ULONG refs = KtPfnReferenceCount(f);
    KT_EQ(MiLabProbeAndLockPages(&a.Mdl, KernelMode, IoReadAccess), STATUS_SUCCESS);
    KT_EQ(MiLabProbeAndLockPages(&b.Mdl, KernelMode, IoWriteAccess), STATUS_SUCCESS);
    KT_EQ(KtPfnReferenceCount(f), refs + 2);
    MiLabUnlockPages(&a.Mdl);
    MiLabUnlockPages(&b.Mdl);
    KT_EQ(KtPfnReferenceCount(f), refs);
    KT_EQ(KtLockedPages(), locked);
    ExFreePoolWithTag(buf, POOL_TAG('H', 'i', 'd', 'M'));
}
