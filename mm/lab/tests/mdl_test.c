/*
 * The MDL lab's tests (docs/labs/mdl.md): `make grade LAB=mdl`. Each
 * locks a buffer with the student's MiLabProbeAndLockPages - a user
 * buffer in a process made for the test (KtCreateProcess, attached to only
 * around the probe) or nonpaged pool - and checks the effects against the
 * memory manager's own view, never against the student's: the PFN array
 * against the process's PTEs (KtPteOf), the frames' reference counts
 * (KtPfnReferenceCount), the references all MDL locks hold (KtLockedPages),
 * the system PTEs in use (KtSystemPtesInUse). Points beside each test.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define TAG_LAB POOL_TAG('L', 'a', 'b', 'M')
#define SENTINEL 0xDEADULL   /* a PFN array slot past the buffer's pages: must stay untouched */

/* An MDL with room for its PFN array, which lives right after it. */
typedef struct {
    MDL Mdl;
    PFN_NUMBER Pfn[6];
} LAB_MDL;

static PMDL lab_mdl(LAB_MDL *b, ULONG64 va, ULONG len)
{
    memset(b, 0, sizeof(*b));
    MmInitializeMdl(&b->Mdl, (PVOID)va, len);
    for (ULONG i = 0; i < 6; i++)
        b->Pfn[i] = SENTINEL;
    return &b->Mdl;
}

/* A process with PAGES committed read/write pages at *VA, each written
 * once (so resident) when TOUCH. */
static void lab_process(KT_PROCESS *p, ULONG pages, BOOLEAN touch, ULONG64 *va)
{
    KT_EQ(KtCreateProcess("hello", p), STATUS_SUCCESS);
    KT_EQ(KtAllocateUser(p, pages * PAGE_SIZE, PAGE_READWRITE, va), STATUS_SUCCESS);
    for (ULONG i = 0; touch && i < pages; i++) {
        ULONG64 x = 0x1111111111111111ULL * (i + 1);
        KT_EQ(KtWriteUser(p, *va + i * PAGE_SIZE, &x, 8), STATUS_SUCCESS);
    }
}

static NTSTATUS probe_in(KT_PROCESS *p, PMDL m, LOCK_OPERATION op)
{
    KtAttach(p);
    NTSTATUS s = MiLabProbeAndLockPages(m, UserMode, op);
    KtDetach(p);
    return s;
}

KTEST_POINTS(mdllab, lock__pfn_array_is_the_users_ptes, 15)
{
    KT_PROCESS p;
    ULONG64 va;
    lab_process(&p, 3, TRUE, &va);
    ULONG64 pte[3];
    ULONG refs[3];
    for (ULONG i = 0; i < 3; i++) {
        pte[i] = KtPteOf(&p, va + i * PAGE_SIZE);
        KT_ASSERT(pte[i] & MI_PTE_VALID);
        refs[i] = KtPfnReferenceCount(MI_PTE_PFN(pte[i]));
    }
    ULONG64 locked = KtLockedPages();
    LAB_MDL b;
    PMDL m = lab_mdl(&b, va, 3 * PAGE_SIZE);
    KT_EQ(probe_in(&p, m, IoReadAccess), STATUS_SUCCESS);
    KT_ASSERT(m->MdlFlags & MDL_PAGES_LOCKED);
    KT_EQ(m->MdlFlags & MDL_WRITE_OPERATION, 0);
    KT_EQ(m->Process, p.Process);
    for (ULONG i = 0; i < 3; i++) {
        KT_EQ(b.Pfn[i], MI_PTE_PFN(pte[i]));                       /* the frame the user's PTE maps */
        KT_EQ(KtPfnReferenceCount(b.Pfn[i]), refs[i] + 1);         /* one reference per page locked */
    }
    KT_EQ(b.Pfn[3], SENTINEL);
    KT_EQ(KtLockedPages(), locked + 3);
    MiLabUnlockPages(m);
    KT_EQ(m->MdlFlags & MDL_PAGES_LOCKED, 0);
    for (ULONG i = 0; i < 3; i++)
        KT_EQ(KtPfnReferenceCount(MI_PTE_PFN(pte[i])), refs[i]);   /* and back */
    KT_EQ(KtLockedPages(), locked);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
}

KTEST_POINTS(mdllab, lock__faults_in_demand_zero_pages, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    lab_process(&p, 2, FALSE, &va);
    for (ULONG i = 0; i < 2; i++)
        KT_EQ(KtPteOf(&p, va + i * PAGE_SIZE) & MI_PTE_VALID, 0);   /* committed, never touched */
    LAB_MDL b;
    PMDL m = lab_mdl(&b, va, 2 * PAGE_SIZE);
    KT_EQ(probe_in(&p, m, IoWriteAccess), STATUS_SUCCESS);
    KT_ASSERT(m->MdlFlags & MDL_PAGES_LOCKED);
    KT_ASSERT(m->MdlFlags & MDL_WRITE_OPERATION);
    for (ULONG i = 0; i < 2; i++) {
        ULONG64 pte = KtPteOf(&p, va + i * PAGE_SIZE);
        KT_ASSERT(pte & MI_PTE_VALID);                            /* the probe faulted it in */
        KT_ASSERT(pte & MI_PTE_WRITE);
        KT_EQ(b.Pfn[i], MI_PTE_PFN(pte));
        KT_EQ(KtPfnReferenceCount(b.Pfn[i]), 2);                  /* the PTE's and the lock's */
    }
    MiLabUnlockPages(m);
    for (ULONG i = 0; i < 2; i++)
        KT_EQ(KtPfnReferenceCount(b.Pfn[i]), 1);
    ULONG64 x = 1;
    KT_EQ(KtReadUser(&p, va + PAGE_SIZE, &x, 8), STATUS_SUCCESS);
    KT_EQ(x, 0);                                                   /* a demand-zero page reads zero */
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
}

KTEST_POINTS(mdllab, lock__read_only_page_for_write_fails_and_locks_nothing, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    KT_EQ(KtCreateProcess("hello", &p), STATUS_SUCCESS);
    KT_EQ(KtAllocateUser(&p, 2 * PAGE_SIZE, PAGE_READONLY, &va), STATUS_SUCCESS);
    UCHAR c;
    KT_EQ(KtReadUser(&p, va, &c, 1), STATUS_SUCCESS);              /* page 0 resident, page 1 not */
    ULONG64 pte0 = KtPteOf(&p, va);
    KT_ASSERT(pte0 & MI_PTE_VALID);
    ULONG refs0 = KtPfnReferenceCount(MI_PTE_PFN(pte0));
    ULONG64 locked = KtLockedPages();
    LAB_MDL b;
    PMDL m = lab_mdl(&b, va, 2 * PAGE_SIZE);
    KT_EQ(probe_in(&p, m, IoWriteAccess), STATUS_ACCESS_VIOLATION);
    KT_EQ(m->MdlFlags & (MDL_PAGES_LOCKED | MDL_WRITE_OPERATION), 0);
    KT_EQ(KtLockedPages(), locked);
    KT_EQ(KtPfnReferenceCount(MI_PTE_PFN(pte0)), refs0);
    KT_EQ(KtPteOf(&p, va) & MI_PTE_WRITE, 0);                      /* and the page is still read-only */
    /* Read access to the same pages is fine. */
    m = lab_mdl(&b, va, 2 * PAGE_SIZE);
    KT_EQ(probe_in(&p, m, IoReadAccess), STATUS_SUCCESS);
    KT_EQ(KtLockedPages(), locked + 2);
    MiLabUnlockPages(m);
    KT_EQ(KtLockedPages(), locked);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
}

KTEST_POINTS(mdllab, lock__unaligned_buffer_gets_offset_count_and_pages, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    lab_process(&p, 4, TRUE, &va);
    ULONG len = 2 * PAGE_SIZE + 0x100;   /* from offset 0x123: 0x2223 bytes of address space, 3 pages */
    LAB_MDL b;
    PMDL m = lab_mdl(&b, va + 0x123, len);
    ULONG refs3 = KtPfnReferenceCount(MI_PTE_PFN(KtPteOf(&p, va + 3 * PAGE_SIZE)));
    ULONG64 locked = KtLockedPages();
    KT_EQ(probe_in(&p, m, IoModifyAccess), STATUS_SUCCESS);
    KT_EQ((ULONG64)m->StartVa, va);
    KT_EQ(m->ByteOffset, 0x123);
    KT_EQ(m->ByteCount, len);
    KT_EQ((ULONG64)MmGetMdlVirtualAddress(m), va + 0x123);
    KT_ASSERT(m->MdlFlags & MDL_WRITE_OPERATION);                  /* modify access is write access */
    for (ULONG i = 0; i < 3; i++)
        KT_EQ(b.Pfn[i], MI_PTE_PFN(KtPteOf(&p, va + i * PAGE_SIZE)));
    KT_EQ(b.Pfn[3], SENTINEL);                                     /* the fourth page is not in the buffer */
    KT_EQ(KtPfnReferenceCount(MI_PTE_PFN(KtPteOf(&p, va + 3 * PAGE_SIZE))), refs3);
    KT_EQ(KtLockedPages(), locked + 3);
    MiLabUnlockPages(m);
    KT_EQ(KtLockedPages(), locked);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
}

KTEST_POINTS(mdllab, map__reads_the_same_bytes_as_the_user_address, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    lab_process(&p, 2, TRUE, &va);
    UCHAR pattern[64], back[64];
    for (ULONG i = 0; i < 64; i++)
        pattern[i] = (UCHAR)(i * 7 + 3);
    ULONG64 at = va + PAGE_SIZE - 32;   /* straddles the two pages */
    KT_EQ(KtWriteUser(&p, at, pattern, 64), STATUS_SUCCESS);
    LAB_MDL b;
    PMDL m = lab_mdl(&b, at, 64);
    KT_EQ(probe_in(&p, m, IoWriteAccess), STATUS_SUCCESS);
    ULONG ptes = KtSystemPtesInUse();
    PUCHAR sys = MiLabMapLockedPages(m);
    KT_ASSERT(sys != NULL);
    KT_EQ(sys, m->MappedSystemVa);
    KT_ASSERT(m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA);
    KT_EQ((ULONG64)sys & (PAGE_SIZE - 1), PAGE_SIZE - 32);          /* the byte offset is kept */
    KT_ASSERT((ULONG64)sys >= 0xFFFF800000000000ULL);               /* system space */
    KT_EQ(KtSystemPtesInUse(), ptes + 2 + 1);                      /* + the guard PTE after every run */
    for (ULONG i = 0; i < 2; i++) {
        ULONG64 spte = KtKernelPteOf(PAGE_ALIGN(sys) + i * PAGE_SIZE);
        KT_ASSERT(spte & MI_PTE_VALID);
        KT_ASSERT(spte & MI_PTE_NX);                                /* data, never code */
        KT_EQ(MI_PTE_PFN(spte), b.Pfn[i]);
    }
    KT_EQ(memcmp(sys, pattern, 64), 0);
    sys[40] = 0x5A;                                                /* on the second page */
    KT_EQ(KtReadUser(&p, at, back, 64), STATUS_SUCCESS);
    KT_EQ(back[40], 0x5A);
    MiLabUnmapLockedPages(m);
    KT_EQ(m->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA, 0);
    KT_EQ(KtSystemPtesInUse(), ptes);
    KT_EQ(KtKernelPteOf(PAGE_ALIGN(sys)) & MI_PTE_VALID, 0);      /* the mapping is gone */
    MiLabUnlockPages(m);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
}

KTEST_POINTS(mdllab, unlock__removes_a_mapping_left_in_place, 5)
{
    KT_PROCESS p;
    ULONG64 va;
    lab_process(&p, 3, TRUE, &va);
    LAB_MDL b;
    PMDL m = lab_mdl(&b, va, 3 * PAGE_SIZE);
    ULONG ptes = KtSystemPtesInUse();
    ULONG64 locked = KtLockedPages();
    KT_EQ(probe_in(&p, m, IoReadAccess), STATUS_SUCCESS);
    PUCHAR sys = MiLabMapLockedPages(m);
    KT_ASSERT(sys != NULL);
    KT_EQ(KtSystemPtesInUse(), ptes + 3 + 1);
    MiLabUnlockPages(m);                                           /* no unmap first: the unlock does it */
    KT_EQ(KtSystemPtesInUse(), ptes);
    KT_EQ(m->MdlFlags & (MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA), 0);
    KT_EQ(KtLockedPages(), locked);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
}

KTEST_POINTS(mdllab, lock__kernel_buffer_in_nonpaged_pool, 5)
{
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, 2 * PAGE_SIZE, TAG_LAB);
    KT_ASSERT(buf != NULL);
    LAB_MDL b;
    PMDL m = lab_mdl(&b, (ULONG64)buf + 0x10, PAGE_SIZE);          /* spans 2 pages */
    ULONG64 locked = KtLockedPages();
    KT_EQ(MiLabProbeAndLockPages(m, KernelMode, IoWriteAccess), STATUS_SUCCESS);
    KT_EQ(m->Process, NULL);                                       /* a kernel buffer: no process */
    for (ULONG i = 0; i < 2; i++)
        KT_EQ(b.Pfn[i], MI_PTE_PFN(KtKernelPteOf(buf + i * PAGE_SIZE)));
    KT_EQ(KtLockedPages(), locked + 2);
    MiLabUnlockPages(m);
    KT_EQ(KtLockedPages(), locked);
    ExFreePoolWithTag(buf, TAG_LAB);
}
