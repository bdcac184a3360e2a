/*
 * The demand-paging lab's tests (docs/labs/fault.md): `make grade
 * LAB=fault`. Each makes a process for the test (KtCreateProcess: the
 * "hello" image mapped, no thread), gives it memory, and marks it
 * (KtRouteFaultsToLab) so that its demand-zero and copy-on-write faults
 * run the student's MiLabResolveDemandZeroFault / MiLabCopyOnWrite. The
 * faults are real: the test touches the process's pages the way a system
 * service does (KtReadUser / KtWriteUser: attached, ExCopyFromUser inside
 * ExTry), the CPU raises #PF, and MiDispatchFault picks the resolver.
 * What is checked is the memory manager's own view, never the student's
 * word: the PTE's bits (KtPteOf), the frame's reference and share counts
 * and list (KtFrameInfo), the working set and fault counters
 * (KtInWorkingSet, KtFaultCounters), the commit charge (KtCommitCharge),
 * and the bytes read back. Points beside each test.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

/* A process whose faults go to the lab, with PAGES committed pages of
 * PAGE_* PROTECT at *VA (allocated first: the allocation itself touches
 * the process's stack page through the kernel's resolver). */
static void lab_process(KT_PROCESS *p, ULONG pages, ULONG protect, ULONG64 *va)
{
    KT_EQ(KtCreateProcess("hello", p), STATUS_SUCCESS);
    if (pages)
        KT_EQ(KtAllocateUser(p, pages * PAGE_SIZE, protect, va), STATUS_SUCCESS);
    KtRouteFaultsToLab(p, TRUE);
}

static KT_FRAME frame_of(ULONG64 pte)
{
    KT_FRAME f;
    KT_ASSERT(KtFrameInfo(MI_PTE_PFN(pte), &f));
    return f;
}

static BOOLEAN all_zero(const UCHAR *b, ULONG n)
{
    for (ULONG i = 0; i < n; i++)
        if (b[i])
            return FALSE;
    return TRUE;
}

/* ---- Part 1: demand zero ---- */

KTEST_POINTS(faultlab, dz__first_touch_maps_a_zeroed_frame, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    lab_process(&p, 2, PAGE_READWRITE, &va);
    KT_EQ(KtPteOf(&p, va) & MI_PTE_VALID, 0);                      /* committed, never touched */
    KT_FAULTS before, after;
    KtFaultCounters(&p, &before);
    ULONG64 commit = KtCommitCharge(&p);
    UCHAR buf[64];
    memset(buf, 0xCC, sizeof(buf));
    KT_EQ(KtReadUser(&p, va + 0x800, buf, sizeof(buf)), STATUS_SUCCESS);
    KT_ASSERT(all_zero(buf, sizeof(buf)));                         /* a new page reads zero */
    ULONG64 pte = KtPteOf(&p, va);
    KT_ASSERT(pte & MI_PTE_VALID);
    KT_ASSERT(pte & MI_PTE_OWNER);                                 /* ring 3 may use it */
    KT_ASSERT(pte & MI_PTE_WRITE);                                 /* PAGE_READWRITE */
    KT_ASSERT(pte & MI_PTE_NX);                                    /* ... and not executable */
    KT_EQ(pte & MI_PTE_COPY_ON_WRITE, 0);
    KT_FRAME f = frame_of(pte);
    KT_EQ(f.ReferenceCount, 1);                                    /* mapped once */
    KT_EQ(f.ShareCount, 1);
    KT_EQ(f.List, ActiveAndValid);
    KT_EQ(f.PrototypePte, 0);                                      /* private */
    KT_ASSERT(f.Modified);                                         /* its only copy: a trim must write it */
    KT_ASSERT(KtInWorkingSet(&p, va));
    KtFaultCounters(&p, &after);
    KT_EQ(after.DemandZero, before.DemandZero + 1);
    KT_EQ(after.WorkingSetSize, before.WorkingSetSize + 1);
    KT_EQ(after.PrivatePages, before.PrivatePages);                /* counted at commit */
    KT_EQ(KtCommitCharge(&p), commit);                             /* charged at commit: a fault charges nothing */
    KT_EQ(KtPteOf(&p, va + PAGE_SIZE) & MI_PTE_VALID, 0);          /* only the page touched */
    KtDeleteProcess(&p);
}

KTEST_POINTS(faultlab, dz__write_across_two_pages_reads_back, 5)
{
    KT_PROCESS p;
    ULONG64 va;
    lab_process(&p, 3, PAGE_READWRITE, &va);
    UCHAR pattern[100], back[100];
    for (ULONG i = 0; i < sizeof(pattern); i++)
        pattern[i] = (UCHAR)(i * 13 + 1);
    ULONG64 at = va + 2 * PAGE_SIZE - 50;                          /* the end of page 1, the start of page 2 */
    KT_FAULTS before, after;
    KtFaultCounters(&p, &before);
    KT_EQ(KtWriteUser(&p, at, pattern, sizeof(pattern)), STATUS_SUCCESS);
    KtFaultCounters(&p, &after);
    KT_EQ(after.DemandZero, before.DemandZero + 2);                /* one fault per page */
    KT_EQ(KtReadUser(&p, at, back, sizeof(back)), STATUS_SUCCESS);
    KT_EQ(memcmp(back, pattern, sizeof(back)), 0);
    ULONG64 p1 = KtPteOf(&p, va + PAGE_SIZE), p2 = KtPteOf(&p, va + 2 * PAGE_SIZE);
    KT_ASSERT((p1 & MI_PTE_VALID) && (p2 & MI_PTE_VALID));
    KT_NE(MI_PTE_PFN(p1), MI_PTE_PFN(p2));                         /* a frame each */
    KT_EQ(KtPteOf(&p, va) & MI_PTE_VALID, 0);                      /* page 0 was never touched */
    UCHAR head[PAGE_SIZE - 50];
    KT_EQ(KtReadUser(&p, va + PAGE_SIZE, head, sizeof(head)), STATUS_SUCCESS);
    KT_ASSERT(all_zero(head, sizeof(head)));                       /* the rest of page 1 is still zero */
    KtDeleteProcess(&p);
}

KTEST_POINTS(faultlab, dz__read_only_page_refuses_a_write, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    lab_process(&p, 1, PAGE_READONLY, &va);
    KT_FAULTS before, after;
    KtFaultCounters(&p, &before);
    ULONG64 x = 0x1234;
    KT_EQ(KtWriteUser(&p, va, &x, 8), STATUS_ACCESS_VIOLATION);    /* the #PF error code says write */
    KT_EQ(KtPteOf(&p, va) & MI_PTE_VALID, 0);                      /* refused before a frame was spent */
    KtFaultCounters(&p, &after);
    KT_EQ(after.DemandZero, before.DemandZero);
    KT_EQ(after.WorkingSetSize, before.WorkingSetSize);
    /* A read of the same page is fine, and maps it read-only. */
    x = 0xFF;
    KT_EQ(KtReadUser(&p, va + 8, &x, 8), STATUS_SUCCESS);
    KT_EQ(x, 0);
    ULONG64 pte = KtPteOf(&p, va);
    KT_ASSERT(pte & MI_PTE_VALID);
    KT_ASSERT(pte & MI_PTE_OWNER);
    KT_EQ(pte & (MI_PTE_WRITE | MI_PTE_COPY_ON_WRITE), 0);
    KtFaultCounters(&p, &after);
    KT_EQ(after.DemandZero, before.DemandZero + 1);
    /* And a write is still refused, now by the hardware's W bit. */
    KT_EQ(KtWriteUser(&p, va, &x, 8), STATUS_ACCESS_VIOLATION);
    KT_EQ(KtPteOf(&p, va), pte);
    KtDeleteProcess(&p);
}

KTEST_POINTS(faultlab, dz__guard_page_fires_once, 5)
{
    KT_PROCESS p;
    ULONG64 va;
    lab_process(&p, 1, PAGE_READWRITE | PAGE_GUARD, &va);
    KT_FAULTS before, after;
    KtFaultCounters(&p, &before);
    UCHAR c = 0xAA;
    KT_EQ(KtReadUser(&p, va, &c, 1), STATUS_GUARD_PAGE_VIOLATION);
    ULONG64 pte = KtPteOf(&p, va);
    KT_EQ(pte & MI_PTE_VALID, 0);
    KT_ASSERT(pte & MI_PTE_COMMITTED);                             /* demand zero, */
    KT_EQ(((MMPTE *)&pte)->u.Soft.Protection, MM_READWRITE);       /* the guard gone */
    KtFaultCounters(&p, &after);
    KT_EQ(after.DemandZero, before.DemandZero);                    /* no frame yet */
    KT_EQ(KtReadUser(&p, va, &c, 1), STATUS_SUCCESS);              /* the second touch is ordinary */
    KT_EQ(c, 0);
    KT_ASSERT(KtPteOf(&p, va) & MI_PTE_WRITE);
    KtFaultCounters(&p, &after);
    KT_EQ(after.DemandZero, before.DemandZero + 1);
    KtDeleteProcess(&p);
}

KTEST_POINTS(faultlab, dz__stack_grows_at_its_guard_page, 5)
{
    KT_PROCESS p;
    lab_process(&p, 0, 0, NULL);
    ULONG64 guard = p.StackTop - 2 * PAGE_SIZE;                    /* the top page, then the guard */
    ULONG64 g = KtPteOf(&p, guard);
    KT_EQ(((MMPTE *)&g)->u.Soft.Protection, MM_READWRITE | MM_GUARD_PAGE);
    ULONG64 commit = KtCommitCharge(&p);
    KT_FAULTS before, after;
    KtFaultCounters(&p, &before);
    ULONG64 x = 0x5757;
    KT_EQ(KtWriteUser(&p, guard + 0x100, &x, 8), STATUS_SUCCESS);  /* a stack's guard page just grows it */
    KT_ASSERT(KtPteOf(&p, guard) & MI_PTE_VALID);
    ULONG64 below = KtPteOf(&p, guard - PAGE_SIZE);
    KT_EQ(below & MI_PTE_VALID, 0);
    KT_EQ(((MMPTE *)&below)->u.Soft.Protection, MM_READWRITE | MM_GUARD_PAGE);   /* the new guard */
    KT_EQ(KtCommitCharge(&p), commit + 1);                         /* one more page committed */
    KtFaultCounters(&p, &after);
    KT_EQ(after.DemandZero, before.DemandZero + 1);
    KT_EQ(after.PrivatePages, before.PrivatePages + 1);
    x = 0;
    KT_EQ(KtReadUser(&p, guard + 0x100, &x, 8), STATUS_SUCCESS);
    KT_EQ(x, 0x5757);
    KtDeleteProcess(&p);
}

/* ---- Part 2: copy-on-write ---- */

KTEST_POINTS(faultlab, cow__image_data_write_gets_a_private_copy, 15)
{
    KT_PROCESS a, b;
    lab_process(&a, 0, 0, NULL);
    lab_process(&b, 0, 0, NULL);
    ULONG64 data = KtImageWritablePage(&a);
    KT_ASSERT(data != 0);
    UCHAR orig[64], seen[64];
    KT_EQ(KtReadUser(&a, data, orig, sizeof(orig)), STATUS_SUCCESS);   /* image faults: the kernel's */
    KT_EQ(KtReadUser(&b, data, seen, sizeof(seen)), STATUS_SUCCESS);
    KT_EQ(memcmp(orig, seen, sizeof(orig)), 0);
    ULONG64 pa = KtPteOf(&a, data), pb = KtPteOf(&b, data);
    PFN_NUMBER shared = MI_PTE_PFN(pa);
    KT_EQ(MI_PTE_PFN(pb), shared);                                 /* one frame, both processes */
    KT_ASSERT(pa & MI_PTE_COPY_ON_WRITE);                          /* shared read-only until written */
    KT_EQ(pa & MI_PTE_WRITE, 0);
    KT_EQ(KtPfnShareCount(shared), 2);
    KT_FAULTS before, after;
    KtFaultCounters(&a, &before);
    ULONG64 commit = KtCommitCharge(&a);

    ULONG64 word = 0x5EC0DC0FFEEULL;
    KT_EQ(KtWriteUser(&a, data + 8, &word, 8), STATUS_SUCCESS);
    ULONG64 na = KtPteOf(&a, data);
    KT_ASSERT(na & MI_PTE_VALID);
    KT_NE(MI_PTE_PFN(na), shared);                                 /* a's own frame now */
    KT_ASSERT(na & MI_PTE_WRITE);
    KT_EQ(na & MI_PTE_COPY_ON_WRITE, 0);
    KT_ASSERT(na & MI_PTE_DIRTY);
    KT_EQ(na & MI_PTE_NX, pa & MI_PTE_NX);                         /* executable exactly if it was */
    KT_FRAME f = frame_of(na);
    KT_EQ(f.ReferenceCount, 1);
    KT_EQ(f.ShareCount, 1);
    KT_EQ(f.PrototypePte, 0);                                      /* private, not the image's */
    KT_EQ(f.List, ActiveAndValid);
    KT_ASSERT(f.Modified);
    KT_EQ(KtPfnShareCount(shared), 1);                             /* b still maps the original */
    KT_EQ(KtPteOf(&b, data), pb);
    KT_EQ(KtReadUser(&b, data, seen, sizeof(seen)), STATUS_SUCCESS);
    KT_EQ(memcmp(orig, seen, sizeof(orig)), 0);                    /* b sees the image's bytes */
    KT_EQ(KtReadUser(&a, data, seen, sizeof(seen)), STATUS_SUCCESS);
    KT_EQ(memcmp(seen, orig, 8), 0);                               /* a sees its copy: the old bytes */
    KT_EQ(memcmp(seen + 8, &word, 8), 0);                          /* with its write */
    KT_EQ(memcmp(seen + 16, orig + 16, sizeof(orig) - 16), 0);
    KtFaultCounters(&a, &after);
    KT_EQ(after.CopyOnWrite, before.CopyOnWrite + 1);
    KT_EQ(after.PrivatePages, before.PrivatePages + 1);            /* one more private page */
    KT_EQ(after.WorkingSetSize, before.WorkingSetSize);            /* the same page, the same entry */
    KT_ASSERT(KtInWorkingSet(&a, data));
    KT_EQ(KtCommitCharge(&a), commit);                             /* paid for when the image was mapped */
    KtDeleteProcess(&a);
    KtDeleteProcess(&b);
}

KTEST_POINTS(faultlab, cow__private_write_copy_page, 10)
{
    KT_PROCESS p;
    ULONG64 va;
    lab_process(&p, 1, PAGE_WRITECOPY, &va);
    ULONG64 commit = KtCommitCharge(&p);
    KT_FAULTS before, after;
    KtFaultCounters(&p, &before);
    ULONG64 x = 1;
    KT_EQ(KtReadUser(&p, va, &x, 8), STATUS_SUCCESS);              /* demand zero, mapped write-copy */
    KT_EQ(x, 0);
    ULONG64 pte = KtPteOf(&p, va);
    KT_ASSERT(pte & MI_PTE_VALID);
    KT_ASSERT(pte & MI_PTE_COPY_ON_WRITE);
    KT_EQ(pte & MI_PTE_WRITE, 0);
    PFN_NUMBER first = MI_PTE_PFN(pte);
    x = 0xC0FFEE;
    KT_EQ(KtWriteUser(&p, va + 0x10, &x, 8), STATUS_SUCCESS);      /* copy-on-write of a private frame */
    ULONG64 now = KtPteOf(&p, va);
    KT_NE(MI_PTE_PFN(now), first);
    KT_ASSERT(now & MI_PTE_WRITE);
    KT_EQ(now & MI_PTE_COPY_ON_WRITE, 0);
    KT_FRAME old;
    KT_ASSERT(KtFrameInfo(first, &old));
    KT_EQ(old.ReferenceCount, 0);                                  /* nobody else mapped it: freed */
    KT_NE(old.List, ActiveAndValid);
    KT_FRAME f = frame_of(now);
    KT_EQ(f.ShareCount, 1);
    KT_EQ(f.ReferenceCount, 1);
    KtFaultCounters(&p, &after);
    KT_EQ(after.DemandZero, before.DemandZero + 1);
    KT_EQ(after.CopyOnWrite, before.CopyOnWrite + 1);
    KT_EQ(after.PrivatePages, before.PrivatePages);                /* still the one committed page */
    KT_EQ(after.WorkingSetSize, before.WorkingSetSize + 1);
    KT_ASSERT(KtInWorkingSet(&p, va));
    KT_EQ(KtCommitCharge(&p), commit);
    ULONG64 back[4];
    KT_EQ(KtReadUser(&p, va, back, sizeof(back)), STATUS_SUCCESS);
    KT_EQ(back[0], 0);
    KT_EQ(back[2], 0xC0FFEE);
    KT_EQ(back[3], 0);
    KtDeleteProcess(&p);
}

KTEST_POINTS(faultlab, cow__last_sharer_sends_the_image_frame_to_standby, 5)
{
    KT_PROCESS a, b;
    lab_process(&a, 0, 0, NULL);
    lab_process(&b, 0, 0, NULL);
    ULONG64 data = KtImageWritablePage(&a);
    UCHAR c;
    KT_EQ(KtReadUser(&a, data, &c, 1), STATUS_SUCCESS);
    KT_EQ(KtReadUser(&b, data, &c, 1), STATUS_SUCCESS);
    PFN_NUMBER shared = MI_PTE_PFN(KtPteOf(&a, data));
    ULONG64 one = 1, two = 2;
    KT_EQ(KtWriteUser(&a, data, &one, 8), STATUS_SUCCESS);
    KT_EQ(KtPfnShareCount(shared), 1);
    KT_EQ(KtWriteUser(&b, data, &two, 8), STATUS_SUCCESS);
    PFN_NUMBER fa = MI_PTE_PFN(KtPteOf(&a, data)), fb = MI_PTE_PFN(KtPteOf(&b, data));
    KT_NE(fa, fb);
    KT_NE(fa, shared);
    KT_NE(fb, shared);
    /* No process maps the image's frame now: it is clean (the image file
     * has its bytes), so it waits on the standby list for the next
     * process that reads the page - it is not freed. */
    KT_FRAME f;
    KT_ASSERT(KtFrameInfo(shared, &f));
    KT_EQ(f.ShareCount, 0);
    KT_EQ(f.List, StandbyPageList);
    KT_ASSERT(f.PrototypePte);
    ULONG64 x;
    KT_EQ(KtReadUser(&a, data, &x, 8), STATUS_SUCCESS);
    KT_EQ(x, 1);
    KT_EQ(KtReadUser(&b, data, &x, 8), STATUS_SUCCESS);
    KT_EQ(x, 2);
    KtDeleteProcess(&a);
    KtDeleteProcess(&b);
}

/* ---- both, from ring 3 ---- */

KTEST_POINTS(faultlab, ring3__a_program_runs_on_your_faults, 10)
{
    /* user/faultlab.c, routed from its creation: its stack, 8 pages, its
     * image's .data and a write-copy page fault in ring 3 (U/S set in the
     * error code), and it checks what it reads. */
    NTSTATUS exit;
    KT_FAULTS c;
    KT_EQ(KtRunProgram("faultlab", TRUE, &exit, &c), STATUS_SUCCESS);
    KT_EQ(exit, 0);   /* 0x10N: its check N failed (user/faultlab.c); 0xC0000005: a fault was not resolved */
    KT_GE(c.DemandZero, 8 + 1 + 1);                                /* the pages, the write-copy page, its stack */
    KT_GE(c.CopyOnWrite, 2);
    KT_GE(c.WorkingSetSize, 8 + 1 + 1);
}
