/*
 * MmProbeAndLockPages / MmUnlockPages against the WDK's rules:
 * kernel buffers (nonpaged and paged pool, trimmed pages), and user
 * buffers in a real process (user/mdltarget.c, attached to as in
 * kernel/ps/tests/process_test.c): unaligned ranges, read-only, unmapped,
 * out-of-range and wrapping ranges, transition pages, demand-zero pages,
 * copy-on-write image pages, the process's LockedPages, and a range freed
 * while it is locked.
 *
 * Assertions made while attached to the process use MT_* (io/tests/
 * mdl_test_util.h), which detach before failing; none is made inside ExTry.
 */
#include "io/tests/mdl_test_util.h"

static USHORT flags(PMDL m) { return (USHORT)m->MdlFlags; }
static PVOID alloc(POOL_TYPE type, SIZE_T bytes)
{
    PVOID p = ExAllocatePoolWithTag(type, bytes, MDLT_TAG);
    if (p)
        memset(p, 0, bytes);
    return p;
}
static void release(PVOID p) { ExFreePoolWithTag(p, MDLT_TAG); }

/* ---- kernel buffers ---- */

KTEST(mdllock, nonpaged_pool_lock_references_each_page)
{
    PUCHAR buf = alloc(NonPagedPoolNx, 3 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    PUCHAR va = buf + 0x200;
    ULONG len = 2 * PAGE_SIZE;                /* spans 3 */
    PMDL m = IoAllocateMdl(va, len, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    m->Process = (struct _EPROCESS *)0x1;     /* a kernel address: must become NULL */
    PFN_NUMBER pfn[3];
    USHORT refs[3];
    for (int i = 0; i < 3; i++) {
        pfn[i] = MdlTestPfnOf(buf + i * PAGE_SIZE);
        KT_NE(pfn[i], 0);
        refs[i] = MdlTestRefs(pfn[i]);
    }
    KT_EQ(MdlTestProbe(m, KernelMode, IoWriteAccess), 0);
    KT_EQ(flags(m), MDL_ALLOCATED_FIXED_SIZE | MDL_PAGES_LOCKED | MDL_WRITE_OPERATION);
    KT_EQ(m->Process, NULL);
    KT_EQ(m->StartVa, buf);
    KT_EQ(m->ByteOffset, 0x200);
    KT_EQ(m->ByteCount, len);
    for (int i = 0; i < 3; i++) {
        KT_EQ(MmGetMdlPfnArray(m)[i], pfn[i]);
        KT_EQ(MdlTestRefs(pfn[i]), refs[i] + 1);
        KT_EQ(MI_PFN_ELEMENT(pfn[i])->PageLocation, ActiveAndValid);
    }
    MmUnlockPages(m);
    KT_EQ(flags(m) & MDL_PAGES_LOCKED, 0);
    for (int i = 0; i < 3; i++)
        KT_EQ(MdlTestRefs(pfn[i]), refs[i]);

    /* Read access clears WRITE_OPERATION (left over from the last lock);
     * modify access is write access. */
    KT_EQ(MdlTestProbe(m, KernelMode, IoReadAccess), 0);
    KT_EQ(flags(m), MDL_ALLOCATED_FIXED_SIZE | MDL_PAGES_LOCKED);
    MmUnlockPages(m);
    KT_EQ(MdlTestProbe(m, KernelMode, IoModifyAccess), 0);
    KT_EQ(flags(m), MDL_ALLOCATED_FIXED_SIZE | MDL_PAGES_LOCKED | MDL_WRITE_OPERATION);
    for (int i = 0; i < 3; i++)
        KT_EQ(MdlTestRefs(pfn[i]), refs[i] + 1);
    MmUnlockPages(m);
    for (int i = 0; i < 3; i++)
        KT_EQ(MdlTestRefs(pfn[i]), refs[i]);
    IoFreeMdl(m);
    release(buf);
}

/* What the spec allows at DISPATCH_LEVEL works there, on nonpaged memory:
 * IoAllocateMdl, MmProbeAndLockPages, MmBuildMdlForNonPagedPool, kernel
 * maps, MmUnlockPages, IoFreeMdl, MmAllocatePagesForMdlEx. (Checked after
 * lowering the IRQL: an assertion must not fail at DISPATCH_LEVEL.) */
KTEST(mdllock, nonpaged_work_at_dispatch_level)
{
    PUCHAR buf = alloc(NonPagedPoolNx, 2 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    PFN_NUMBER pfn = MdlTestPfnOf(buf);
    USHORT r = MdlTestRefs(pfn);
    static const PHYSICAL_ADDRESS lo = { 0 }, hi = { -1 }, skip = { 0 };
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    PMDL a = IoAllocateMdl(buf, 2 * PAGE_SIZE, FALSE, FALSE, NULL);
    PMDL b = IoAllocateMdl(buf + 8, 100, FALSE, FALSE, NULL);
    NTSTATUS s = a ? MdlTestProbe(a, KernelMode, IoWriteAccess) : STATUS_NO_MEMORY;
    USHORT locked = MdlTestRefs(pfn);
    PUCHAR sys = NT_SUCCESS(s) ? MmGetSystemAddressForMdlSafe(a, NormalPagePriority) : NULL;
    if (sys)
        sys[1] = 0x71;
    if (b)
        MmBuildMdlForNonPagedPool(b);
    PVOID bsys = b ? MmGetSystemAddressForMdlSafe(b, NormalPagePriority) : NULL;
    PMDL pages = MmAllocatePagesForMdlEx(lo, hi, skip, PAGE_SIZE, MmCached, 0);
    if (pages) {
        MmFreePagesFromMdl(pages);
        ExFreePool(pages);
    }
    if (NT_SUCCESS(s))
        MmUnlockPages(a);
    if (a)
        IoFreeMdl(a);
    if (b)
        IoFreeMdl(b);
    KeLowerIrql(old);
    KT_ASSERT(a && b);
    KT_EQ((ULONG)s, 0);
    KT_EQ(locked, r + 1);
    KT_ASSERT(sys != NULL);
    KT_EQ(buf[1], 0x71);
    KT_EQ(bsys, buf + 8);
    KT_ASSERT(pages != NULL);
    KT_EQ(MdlTestRefs(pfn), r);
    release(buf);
}

KTEST(mdllock, two_mdls_over_one_page_lock_it_twice)
{
    PUCHAR buf = alloc(NonPagedPoolNx, PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    PMDL a = IoAllocateMdl(buf, 16, FALSE, FALSE, NULL);
    PMDL b = IoAllocateMdl(buf + 100, 16, FALSE, FALSE, NULL);
    KT_ASSERT(a && b);
    PFN_NUMBER pfn = MdlTestPfnOf(buf);
    USHORT r = MdlTestRefs(pfn);
    KT_EQ(MdlTestProbe(a, KernelMode, IoReadAccess), 0);
    KT_EQ(MdlTestRefs(pfn), r + 1);
    KT_EQ(MdlTestProbe(b, KernelMode, IoWriteAccess), 0);
    KT_EQ(MdlTestRefs(pfn), r + 2);
    KT_EQ(MmGetMdlPfnArray(a)[0], pfn);
    KT_EQ(MmGetMdlPfnArray(b)[0], pfn);
    MmUnlockPages(a);
    KT_EQ(MdlTestRefs(pfn), r + 1);
    MmUnlockPages(b);
    KT_EQ(MdlTestRefs(pfn), r);
    IoFreeMdl(b);
    IoFreeMdl(a);
    release(buf);
}

KTEST(mdllock, paged_pool_lock_references_each_page)
{
    PUCHAR buf = alloc(PagedPool, 2 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    PMDL m = IoAllocateMdl(buf + 1, 2 * PAGE_SIZE - 2, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    PFN_NUMBER pfn[2] = { MdlTestPfnOf(buf), MdlTestPfnOf(buf + PAGE_SIZE) };
    KT_NE(pfn[0], 0);
    KT_NE(pfn[1], 0);
    USHORT refs[2] = { MdlTestRefs(pfn[0]), MdlTestRefs(pfn[1]) };
    KT_EQ(MdlTestProbe(m, KernelMode, IoReadAccess), 0);
    KT_EQ(flags(m), MDL_ALLOCATED_FIXED_SIZE | MDL_PAGES_LOCKED);
    KT_EQ(m->Process, NULL);
    for (int i = 0; i < 2; i++) {
        KT_EQ(MmGetMdlPfnArray(m)[i], pfn[i]);
        KT_EQ(MdlTestRefs(pfn[i]), refs[i] + 1);
    }
    MmUnlockPages(m);
    for (int i = 0; i < 2; i++)
        KT_EQ(MdlTestRefs(pfn[i]), refs[i]);
    IoFreeMdl(m);
    release(buf);
}

KTEST(mdllock, trimmed_paged_pool_is_brought_back_and_locked)
{
    enum { PAGES = 3 };
    PULONG64 buf = alloc(PagedPool, PAGES * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    for (ULONG i = 0; i < PAGES * PAGE_SIZE / 8; i++)
        buf[i] = 0xB00B000000000000ULL | i;
    PFN_NUMBER pfn[PAGES];
    for (int i = 0; i < PAGES; i++)
        pfn[i] = MdlTestPfnOf((PUCHAR)buf + i * PAGE_SIZE);
    KT_GE(MmTrimSystemWorkingSet(0), PAGES);
    for (int i = 0; i < PAGES; i++) {
        PVOID va = (PUCHAR)buf + i * PAGE_SIZE;
        KT_ASSERT(!MmIsAddressValid(va));
        KT_EQ(MiGetPteAddress(va)->u.Trans.Transition, 1);
        KT_EQ(MI_PFN_ELEMENT(pfn[i])->PageLocation, ModifiedPageList);
    }
    PMDL m = IoAllocateMdl(buf, PAGES * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoWriteAccess), 0);
    for (int i = 0; i < PAGES; i++) {
        PVOID va = (PUCHAR)buf + i * PAGE_SIZE;
        KT_ASSERT(MmIsAddressValid(va));       /* made resident by the probe itself */
        KT_EQ(MdlTestPfnOf(va), pfn[i]);       /* the same frames: soft faults */
        KT_EQ(MmGetMdlPfnArray(m)[i], pfn[i]);
        KT_EQ(MI_PFN_ELEMENT(pfn[i])->PageLocation, ActiveAndValid);
        KT_EQ(MdlTestRefs(pfn[i]), 2);         /* the mapping and the lock */
    }
    for (ULONG i = 0; i < PAGES * PAGE_SIZE / 8; i++)
        if (buf[i] != (0xB00B000000000000ULL | i))
            KT_EQ(buf[i], 0xB00B000000000000ULL | i);
    MmUnlockPages(m);
    for (int i = 0; i < PAGES; i++)
        KT_EQ(MdlTestRefs(pfn[i]), 1);
    IoFreeMdl(m);
    release(buf);
}

KTEST(mdllock, locked_paged_pool_page_keeps_its_frame_when_trimmed)
{
    PULONG64 buf = alloc(PagedPool, PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    for (ULONG i = 0; i < PAGE_SIZE / 8; i++)
        buf[i] = 0x7777000000000000ULL | i;
    PMDL m = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoWriteAccess), 0);
    PFN_NUMBER pfn = MmGetMdlPfnArray(m)[0];
    PULONG64 sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(sys != NULL);

    MmTrimSystemWorkingSet(0);
    MMPTE pte = *MiGetPteAddress(buf);
    BOOLEAN trimmed = !pte.u.Hard.Valid;
    if (trimmed) {
        KT_EQ(pte.u.Trans.Transition, 1);
        KT_EQ(pte.u.Trans.PageFrameNumber, pfn);
    } else {
        KT_EQ(MI_PTE_PFN(pte.u.Long), pfn);
    }
    /* Locked: the frame is on no list, still holds the data. */
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ActiveAndValid);
    KT_GE(MdlTestRefs(pfn), 1);
    for (ULONG i = 0; i < PAGE_SIZE / 8; i++)
        if (sys[i] != (0x7777000000000000ULL | i))
            KT_EQ(sys[i], 0x7777000000000000ULL | i);
    sys[5] = 0x5555;

    MmUnlockPages(m);                          /* the last reference of a trimmed page */
    if (trimmed) {
        KT_EQ(MdlTestRefs(pfn), 0);
        KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ModifiedPageList);   /* dirty: kept for the owner */
    }
    KT_EQ(buf[5], 0x5555);                     /* soft fault: the same frame */
    KT_EQ(MdlTestPfnOf(buf), pfn);
    KT_EQ(MdlTestRefs(pfn), 1);
    IoFreeMdl(m);
    release(buf);
}

/* Each lock is a reference: a frame referenced past MAXUSHORT/2 refuses
 * more with STATUS_WORKING_SET_QUOTA. To get there without 32767 MDLs,
 * one frame is mapped 512 times in a row (a hand-built, locked MDL that
 * names it 512 times), and 512-page MDLs over that range lock it 512
 * times each. */
KTEST(mdllock, locking_a_frame_past_half_maxushort_raises_working_set_quota)
{
    enum { SPAN = 512, ROUNDS = 64 };
    static const PHYSICAL_ADDRESS lo = { 0 }, hi = { -1 }, skip = { 0 };
    PMDL one = MmAllocatePagesForMdlEx(lo, hi, skip, PAGE_SIZE, MmCached, 0);
    KT_ASSERT(one != NULL);
    PFN_NUMBER pfn = MmGetMdlPfnArray(one)[0];
    USHORT base = MdlTestRefs(pfn);
    PMDL alias = alloc(NonPagedPoolNx, MmSizeOfMdl(NULL, SPAN * PAGE_SIZE));
    KT_ASSERT(alias != NULL);
    MmInitializeMdl(alias, NULL, SPAN * PAGE_SIZE);
    alias->Process = NULL;
    alias->MappedSystemVa = NULL;
    for (ULONG i = 0; i < SPAN; i++)
        MmGetMdlPfnArray(alias)[i] = pfn;
    alias->MdlFlags |= MDL_PAGES_LOCKED;
    PUCHAR va = MmMapLockedPagesSpecifyCache(alias, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
    KT_ASSERT(va != NULL);
    va[0] = 0x42;
    KT_EQ(va[(SPAN - 1) * PAGE_SIZE], 0x42);     /* one frame, 512 addresses */

    static PMDL m[ROUNDS];
    NTSTATUS last = 0;
    ULONG locked = 0;
    for (ULONG r = 0; r < ROUNDS; r++) {
        m[r] = IoAllocateMdl(va, SPAN * PAGE_SIZE, FALSE, FALSE, NULL);
        KT_ASSERT(m[r] != NULL);
        last = MdlTestProbe(m[r], KernelMode, IoReadAccess);
        if (!NT_SUCCESS(last))
            break;
        locked++;
    }
    USHORT at_failure = MdlTestRefs(pfn);
    USHORT failed_flags = locked < ROUNDS ? (USHORT)m[locked]->MdlFlags : 0;
    for (ULONG r = 0; r < locked; r++) {
        MmUnlockPages(m[r]);
        IoFreeMdl(m[r]);
    }
    if (locked < ROUNDS)
        IoFreeMdl(m[locked]);
    USHORT after = MdlTestRefs(pfn);
    MmUnmapLockedPages(va, alias);
    release(alias);
    MmFreePagesFromMdl(one);
    ExFreePool(one);
    /* 63 locks take it to base + 32256 < 32767; the 64th would pass it. */
    KT_LE(base, 511);
    KT_EQ(locked, ROUNDS - 1);
    KT_EQ((ULONG)last, (ULONG)STATUS_WORKING_SET_QUOTA);
    KT_EQ(at_failure, base + (ROUNDS - 1) * SPAN);   /* the failed probe left nothing behind */
    KT_EQ(failed_flags & MDL_PAGES_LOCKED, 0);
    KT_EQ(after, base);
}

/* Frames that are not RAM (an MmMapIoSpace mapping) lock as I/O space:
 * the MDL says MDL_IO_SPACE (as NT's MmProbeAndLockPages sets it) and no
 * PFN entry is touched; MmUnlockPages clears it again. */
KTEST(mdllock, io_space_locks_as_io_space)
{
    PHYSICAL_ADDRESS vga = { 0xB8000 };
    PUCHAR p = MmMapIoSpace(vga, PAGE_SIZE, MmNonCached);
    KT_ASSERT(p != NULL);
    KT_ASSERT(!MiIsPfnRam(0xB8));
    PMDL m = IoAllocateMdl(p + 0x100, 0x40, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    NTSTATUS s = MdlTestProbe(m, KernelMode, IoReadAccess);
    USHORT locked = flags(m);
    PFN_NUMBER pfn = MmGetMdlPfnArray(m)[0];
    if (NT_SUCCESS(s))
        MmUnlockPages(m);
    USHORT unlocked = flags(m);
    IoFreeMdl(m);
    MmUnmapIoSpace(p, PAGE_SIZE);
    KT_EQ((ULONG)s, 0);
    KT_EQ(pfn, 0xB8);
    KT_EQ(locked & (MDL_PAGES_LOCKED | MDL_IO_SPACE), MDL_PAGES_LOCKED | MDL_IO_SPACE);
    KT_EQ(unlocked & (MDL_PAGES_LOCKED | MDL_IO_SPACE), 0);
}

/* UserMode: a range that wraps or ends above MmUserProbeAddress raises
 * before anything is touched (from the system process: no user space at all). */
KTEST(mdllock, user_mode_refuses_kernel_and_wrapping_ranges)
{
    PUCHAR buf = alloc(NonPagedPoolNx, PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    PFN_NUMBER pfn = MdlTestPfnOf(buf);
    USHORT r = MdlTestRefs(pfn);
    static const struct { ULONG64 va; ULONG len; } bad[] = {
        { 0, 16 },                                       /* the pool buffer, filled in below */
        { MmUserProbeAddress - PAGE_SIZE, 2 * PAGE_SIZE },   /* ends above the probe address */
        { MmUserProbeAddress, 1 },
        { 0x00007FFFFFFFF000ULL, 0x10 },
        { 0xFFFFFFFFFFFFF000ULL, 0x2000 },                /* wraps to 0x1000 */
    };
    for (ULONG i = 0; i < ARRAYSIZE(bad); i++) {
        PVOID va = i == 0 ? (PVOID)buf : (PVOID)bad[i].va;
        PMDL m = IoAllocateMdl(va, bad[i].len, FALSE, FALSE, NULL);
        KT_ASSERT(m != NULL);
        NTSTATUS s = MdlTestProbe(m, UserMode, IoReadAccess);
        USHORT f = flags(m);
        IoFreeMdl(m);
        if (s != STATUS_ACCESS_VIOLATION)
            KtFail(__FILE__, __LINE__, "case %u (%p + %#x): status %#x, expected STATUS_ACCESS_VIOLATION", i, va,
                   bad[i].len, (unsigned)s);
        KT_EQ(f & MDL_PAGES_LOCKED, 0);
        KT_EQ(MdlTestRefs(pfn), r);
    }
    /* The same pool buffer in kernel mode is fine. */
    PMDL m = IoAllocateMdl(buf, 16, FALSE, FALSE, NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoReadAccess), 0);
    KT_EQ(MdlTestRefs(pfn), r + 1);
    MmUnlockPages(m);
    IoFreeMdl(m);
    release(buf);
}

/* ---- user buffers, in user/mdltarget ---- */

KTEST(mdllock, user_buffer_spanning_pages_is_locked_in_its_process)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    ULONG64 va = MT_RW_BASE + PAGE_SIZE + 0xF08;
    ULONG len = 0x2200;                         /* pages 1..4 */
    PMDL m = IoAllocateMdl((PVOID)va, len, FALSE, FALSE, NULL);
    PMDL m2 = IoAllocateMdl((PVOID)MT_RW_BASE, 2 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m && m2);
    KT_EQ(p->LockedPages, 0);

    MdlTestAttach(p);
    PFN_NUMBER pfn[4];
    USHORT refs[4];
    for (int i = 0; i < 4; i++) {
        pfn[i] = MdlTestPfnOf((PVOID)(MT_RW_BASE + (1 + i) * PAGE_SIZE));
        MT_NE(pfn[i], 0);                        /* mdltarget wrote every page */
        refs[i] = MdlTestRefs(pfn[i]);
    }
    MT_EQ(MdlTestProbe(m, UserMode, IoWriteAccess), 0);
    MT_EQ(flags(m), MDL_ALLOCATED_FIXED_SIZE | MDL_PAGES_LOCKED | MDL_WRITE_OPERATION);
    MT_EQ(m->Process, p);                        /* the process whose address space it is */
    MT_EQ(p->LockedPages, 4);                    /* grows by the span */
    MT_EQ(m->StartVa, MT_RW_BASE + PAGE_SIZE);
    MT_EQ(m->ByteOffset, 0xF08);
    for (int i = 0; i < 4; i++) {
        MT_EQ(MmGetMdlPfnArray(m)[i], pfn[i]);
        MT_EQ(MdlTestRefs(pfn[i]), refs[i] + 1);
    }
    /* The system address sees the user's bytes, and the user sees ours. */
    PULONG64 sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    MT_ASSERT(sys != NULL);
    MT_EQ(BYTE_OFFSET(sys), 0xF08);
    for (ULONG off = 0; off < len; off += 8)
        if (sys[off / 8] != MT_RW_WORD(va - MT_RW_BASE + off))
            MT_EQ(sys[off / 8], MT_RW_WORD(va - MT_RW_BASE + off));
    sys[1] = 0xFEEDFACECAFEBEEFULL;
    ULONG64 seen = 0;
    MT_EQ(MdlTestReadUser(&seen, va + 8, 8), 0);
    MT_EQ(seen, 0xFEEDFACECAFEBEEFULL);

    /* A partial MDL of it belongs to the same process. */
    PMDL part = IoAllocateMdl((PVOID)(va + PAGE_SIZE), 0x100, FALSE, FALSE, NULL);
    MT_ASSERT(part != NULL);
    IoBuildPartialMdl(m, part, (PVOID)(va + PAGE_SIZE), 0x100);
    MT_EQ(part->Process, p);
    MT_EQ(MmGetMdlPfnArray(part)[0], pfn[1]);
    MT_EQ(p->LockedPages, 4);                    /* a partial MDL locks nothing */
    IoFreeMdl(part);

    /* A second MDL, overlapping page 1: the count is per lock. */
    MT_EQ(MdlTestProbe(m2, UserMode, IoReadAccess), 0);
    MT_EQ(p->LockedPages, 6);
    MT_EQ(MdlTestRefs(pfn[0]), refs[0] + 2);
    MmUnlockPages(m2);
    MT_EQ(p->LockedPages, 4);
    MmUnlockPages(m);                            /* unmaps, unlocks */
    MT_EQ(p->LockedPages, 0);
    MT_EQ(flags(m) & (MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA), 0);
    for (int i = 0; i < 4; i++)
        MT_EQ(MdlTestRefs(pfn[i]), refs[i]);
    MdlTestDetach();
    IoFreeMdl(m2);
    IoFreeMdl(m);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
}

KTEST(mdllock, user_read_only_page_probed_for_write_raises)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    PMDL m = IoAllocateMdl((PVOID)(MT_RO_BASE + 0x10), PAGE_SIZE, FALSE, FALSE, NULL);   /* both pages */
    KT_ASSERT(m != NULL);
    MdlTestAttach(p);
    PFN_NUMBER pfn[2] = { MdlTestPfnOf((PVOID)MT_RO_BASE), MdlTestPfnOf((PVOID)(MT_RO_BASE + PAGE_SIZE)) };
    MT_NE(pfn[0], 0);
    MT_NE(pfn[1], 0);
    MT_EQ(MdlTestPteOf((PVOID)MT_RO_BASE) & MI_PTE_WRITE, 0);
    USHORT refs[2] = { MdlTestRefs(pfn[0]), MdlTestRefs(pfn[1]) };
    MT_EQ((ULONG)MdlTestProbe(m, UserMode, IoWriteAccess), (ULONG)STATUS_ACCESS_VIOLATION);
    MT_EQ(flags(m) & MDL_PAGES_LOCKED, 0);
    MT_EQ(p->LockedPages, 0);
    MT_EQ(MdlTestRefs(pfn[0]), refs[0]);          /* nothing left locked */
    MT_EQ(MdlTestRefs(pfn[1]), refs[1]);
    MT_EQ((ULONG)MdlTestProbe(m, UserMode, IoModifyAccess), (ULONG)STATUS_ACCESS_VIOLATION);
    MT_EQ(p->LockedPages, 0);
    ULONG64 w = 0;
    MT_EQ(MdlTestReadUser(&w, MT_RO_BASE + 0x10, 8), 0);
    MT_EQ(w, MT_RO_WORD(0x10));                   /* and nothing written */
    /* Reading is allowed. */
    MT_EQ(MdlTestProbe(m, UserMode, IoReadAccess), 0);
    MT_EQ(flags(m) & (MDL_PAGES_LOCKED | MDL_WRITE_OPERATION), MDL_PAGES_LOCKED);
    MT_EQ(p->LockedPages, 2);
    MT_EQ(MdlTestRefs(pfn[0]), refs[0] + 1);
    MmUnlockPages(m);
    MT_EQ(p->LockedPages, 0);
    MdlTestDetach();
    IoFreeMdl(m);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
}

KTEST(mdllock, user_range_with_a_hole_raises_with_nothing_locked)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    ULONG64 last = MT_RW_BASE + (MT_RW_PAGES - 1) * PAGE_SIZE;   /* the next page has no VAD */
    PMDL across = IoAllocateMdl((PVOID)(last + 0x800), PAGE_SIZE, FALSE, FALSE, NULL);
    PMDL reserved = IoAllocateMdl((PVOID)MT_RES_BASE, PAGE_SIZE, FALSE, FALSE, NULL);
    PMDL nothing = IoAllocateMdl((PVOID)MT_FREE_VA, 100, FALSE, FALSE, NULL);
    KT_ASSERT(across && reserved && nothing);
    MdlTestAttach(p);
    PFN_NUMBER pfn = MdlTestPfnOf((PVOID)last);
    MT_NE(pfn, 0);
    USHORT r = MdlTestRefs(pfn);
    MT_EQ((ULONG)MdlTestProbe(across, UserMode, IoReadAccess), (ULONG)STATUS_ACCESS_VIOLATION);
    MT_EQ(MdlTestRefs(pfn), r);                    /* the first page was undone */
    MT_EQ(flags(across) & MDL_PAGES_LOCKED, 0);
    MT_EQ(p->LockedPages, 0);
    MT_EQ((ULONG)MdlTestProbe(across, UserMode, IoWriteAccess), (ULONG)STATUS_ACCESS_VIOLATION);
    MT_EQ(MdlTestRefs(pfn), r);
    /* Kernel mode does not check the range, but the touch still faults. */
    MT_EQ((ULONG)MdlTestProbe(across, KernelMode, IoReadAccess), (ULONG)STATUS_ACCESS_VIOLATION);
    MT_EQ(MdlTestRefs(pfn), r);
    MT_EQ((ULONG)MdlTestProbe(reserved, UserMode, IoReadAccess), (ULONG)STATUS_ACCESS_VIOLATION);
    MT_EQ(flags(reserved) & MDL_PAGES_LOCKED, 0);
    MT_EQ((ULONG)MdlTestProbe(nothing, UserMode, IoReadAccess), (ULONG)STATUS_ACCESS_VIOLATION);
    MT_EQ(flags(nothing) & MDL_PAGES_LOCKED, 0);
    MT_EQ(p->LockedPages, 0);
    MdlTestDetach();
    IoFreeMdl(nothing);
    IoFreeMdl(reserved);
    IoFreeMdl(across);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
}

KTEST(mdllock, user_transition_pages_come_back_and_lock)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    ULONG64 va = MT_RW_BASE + 4 * PAGE_SIZE;
    PMDL m = IoAllocateMdl((PVOID)va, 4 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MdlTestAttach(p);
    PFN_NUMBER pfn[4];
    for (int i = 0; i < 4; i++) {
        pfn[i] = MdlTestPfnOf((PVOID)(va + i * PAGE_SIZE));
        MT_NE(pfn[i], 0);
    }
    MT_GE(MmTrimProcessWorkingSet(p), 4);
    for (int i = 0; i < 4; i++) {
        MMPTE pte = { .u.Long = MdlTestPteOf((PVOID)(va + i * PAGE_SIZE)) };
        MT_EQ(pte.u.Hard.Valid, 0);
        MT_EQ(pte.u.Trans.Transition, 1);
        MT_EQ(pte.u.Trans.PageFrameNumber, pfn[i]);
        MT_EQ(MI_PFN_ELEMENT(pfn[i])->PageLocation, ModifiedPageList);
    }
    MT_EQ(MdlTestProbe(m, UserMode, IoWriteAccess), 0);
    MT_EQ(p->LockedPages, 4);
    for (int i = 0; i < 4; i++) {
        MT_EQ(MdlTestPfnOf((PVOID)(va + i * PAGE_SIZE)), pfn[i]);   /* valid again, same frame */
        MT_EQ(MmGetMdlPfnArray(m)[i], pfn[i]);
        MT_EQ(MI_PFN_ELEMENT(pfn[i])->PageLocation, ActiveAndValid);
        MT_EQ(MdlTestRefs(pfn[i]), 2);
    }
    ULONG64 w = 0;
    MT_EQ(MdlTestReadUser(&w, va + 3 * PAGE_SIZE + 0x18, 8), 0);
    MT_EQ(w, MT_RW_WORD(7 * PAGE_SIZE + 0x18));
    MmUnlockPages(m);
    MT_EQ(p->LockedPages, 0);
    for (int i = 0; i < 4; i++)
        MT_EQ(MdlTestRefs(pfn[i]), 1);
    MdlTestDetach();
    IoFreeMdl(m);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
}

KTEST(mdllock, locked_user_page_keeps_its_frame_when_trimmed)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    ULONG64 va = MT_RW_BASE + 9 * PAGE_SIZE;
    PMDL m = IoAllocateMdl((PVOID)va, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MdlTestAttach(p);
    MT_EQ(MdlTestProbe(m, UserMode, IoWriteAccess), 0);
    PFN_NUMBER pfn = MmGetMdlPfnArray(m)[0];
    MT_EQ(MdlTestRefs(pfn), 2);
    PULONG64 sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    MT_ASSERT(sys != NULL);
    MmTrimProcessWorkingSet(p);
    MMPTE pte = { .u.Long = MdlTestPteOf((PVOID)va) };
    MT_EQ(pte.u.Hard.Valid, 0);
    MT_EQ(pte.u.Trans.Transition, 1);
    MT_EQ(pte.u.Trans.PageFrameNumber, pfn);
    MT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ActiveAndValid);   /* not on the modified list */
    MT_EQ(MdlTestRefs(pfn), 1);                                  /* the lock */
    MT_EQ(sys[3], MT_RW_WORD(9 * PAGE_SIZE + 24));
    sys[3] = 0xD00DULL;
    MmUnlockPages(m);
    MT_EQ(MdlTestRefs(pfn), 0);
    MT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ModifiedPageList);  /* the process still owns it */
    ULONG64 w = 0;
    MT_EQ(MdlTestReadUser(&w, va + 24, 8), 0);                   /* a soft fault */
    MT_EQ(w, 0xD00DULL);
    MT_EQ(MdlTestPfnOf((PVOID)va), pfn);
    MT_EQ(MdlTestRefs(pfn), 1);
    MdlTestDetach();
    IoFreeMdl(m);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
}

KTEST(mdllock, user_demand_zero_pages_are_faulted_in_and_locked)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    PMDL m = IoAllocateMdl((PVOID)MT_DZ_BASE, 2 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MdlTestAttach(p);
    for (int i = 0; i < 2; i++) {
        ULONG64 pte = MdlTestPteOf((PVOID)(MT_DZ_BASE + i * PAGE_SIZE));
        MT_EQ(pte & MI_PTE_VALID, 0);
        MT_NE(pte & MI_PTE_COMMITTED, 0);        /* committed, never touched */
    }
    MT_EQ(MdlTestProbe(m, UserMode, IoWriteAccess), 0);
    MT_EQ(p->LockedPages, 2);
    PULONG64 sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    MT_ASSERT(sys != NULL);
    for (int i = 0; i < 2; i++) {
        PFN_NUMBER pfn = MdlTestPfnOf((PVOID)(MT_DZ_BASE + i * PAGE_SIZE));
        MT_NE(pfn, 0);
        MT_EQ(MmGetMdlPfnArray(m)[i], pfn);
        MT_EQ(MdlTestRefs(pfn), 2);
    }
    for (ULONG i = 0; i < 2 * PAGE_SIZE / 8; i++)
        if (sys[i])
            MT_EQ(sys[i], 0);
    MmUnlockPages(m);
    MT_EQ(p->LockedPages, 0);
    MdlTestDetach();
    IoFreeMdl(m);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
}

static ULONG64 read_frame_qword(PFN_NUMBER pfn, ULONG index)
{
    KIRQL old;
    PULONG64 v = MiMapPageInHyperspace(pfn, &old);
    ULONG64 x = v[index];
    MiUnmapPageInHyperspace(v, old);
    return x;
}

KTEST(mdllock, user_copy_on_write_page_probed_for_write_gets_a_private_copy)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    PMDL w = IoAllocateMdl((PVOID)(c.CowPage + 0x40), 0x100, FALSE, FALSE, NULL);
    PMDL r = IoAllocateMdl((PVOID)c.ImagePage, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(w && r);
    KT_EQ(BYTE_OFFSET(c.CowPage), 0);
    MdlTestAttach(p);
    PMI_IMAGE im = p->Image;
    PFN_NUMBER proto = MI_PTE_PFN(MiImagePrototypePte(im, (PVOID)c.CowPage)->u.Long);   /* valid: mdltarget maps it */
    PFN_NUMBER proto2 = MI_PTE_PFN(MiImagePrototypePte(im, (PVOID)c.ImagePage)->u.Long);
    MT_NE(proto, 0);
    MT_NE(proto2, 0);
    ULONG64 pte = MdlTestPteOf((PVOID)c.CowPage);
    MT_NE(pte & MI_PTE_VALID, 0);                 /* mdltarget read it: the shared frame, copy-on-write */
    MT_NE(pte & MI_PTE_COPY_ON_WRITE, 0);
    MT_EQ(pte & MI_PTE_WRITE, 0);
    MT_EQ(MI_PTE_PFN(pte), proto);
    USHORT proto_refs = MdlTestRefs(proto);

    MT_EQ(MdlTestProbe(w, UserMode, IoWriteAccess), 0);
    PFN_NUMBER priv = MmGetMdlPfnArray(w)[0];
    MT_NE(priv, proto);                           /* the copy was broken first */
    pte = MdlTestPteOf((PVOID)c.CowPage);
    MT_NE(pte & MI_PTE_VALID, 0);
    MT_EQ(MI_PTE_PFN(pte), priv);                 /* and the process maps the copy */
    MT_NE(pte & MI_PTE_WRITE, 0);
    MT_EQ(pte & MI_PTE_COPY_ON_WRITE, 0);
    MT_EQ(MdlTestRefs(priv), 2);
    MT_LE(MdlTestRefs(proto), proto_refs);        /* the prototype is not locked (its last mapper may be gone) */
    MT_EQ(p->LockedPages, 1);
    PULONG64 sys = MmGetSystemAddressForMdlSafe(w, NormalPagePriority);
    MT_ASSERT(sys != NULL);
    MT_EQ(sys[0], MT_COW_WORD);                   /* a copy of the image's bytes */
    sys[0] = 0x1234;                              /* at page offset 0x40 */
    MT_EQ(read_frame_qword(proto, 0x40 / 8), MT_COW_WORD);   /* other processes' view unchanged */
    MT_EQ(read_frame_qword(priv, 0x40 / 8), 0x1234);
    MmUnlockPages(w);
    MT_EQ(MdlTestRefs(priv), 1);

    /* Read access on an image page locks the shared frame itself. */
    pte = MdlTestPteOf((PVOID)c.ImagePage);
    MT_EQ(MI_PTE_PFN(pte), proto2);
    USHORT r2 = MdlTestRefs(proto2);
    MT_EQ(MdlTestProbe(r, UserMode, IoReadAccess), 0);
    MT_EQ(MmGetMdlPfnArray(r)[0], proto2);
    MT_EQ(MdlTestRefs(proto2), r2 + 1);
    pte = MdlTestPteOf((PVOID)c.ImagePage);
    MT_EQ(MI_PTE_PFN(pte), proto2);               /* no copy for a read */
    MT_NE(pte & MI_PTE_COPY_ON_WRITE, 0);
    MmUnlockPages(r);
    MT_EQ(MdlTestRefs(proto2), r2);
    MT_EQ(p->LockedPages, 0);
    MdlTestDetach();
    IoFreeMdl(r);
    IoFreeMdl(w);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
}

/* After a successful lock the owner may free the range: the frames live
 * until the last unlock, which may come from any context. */
KTEST(mdllock, user_range_freed_while_locked_lives_until_unlock)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    ULONG64 va = MT_RW_BASE + 12 * PAGE_SIZE;
    PMDL m = IoAllocateMdl((PVOID)va, 2 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MdlTestAttach(p);
    MT_EQ(MdlTestProbe(m, UserMode, IoWriteAccess), 0);
    PFN_NUMBER pfn[2] = { MmGetMdlPfnArray(m)[0], MmGetMdlPfnArray(m)[1] };
    PULONG64 sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    MT_ASSERT(sys != NULL);
    /* Decommit, as NtFreeVirtualMemory(MEM_DECOMMIT) does. */
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    MiDeleteUserRange(p, va, va + 2 * PAGE_SIZE);
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    for (int i = 0; i < 2; i++) {
        MT_EQ(MdlTestPteOf((PVOID)(va + i * PAGE_SIZE)), 0);
        PMMPFN e = MI_PFN_ELEMENT(pfn[i]);
        MT_EQ(e->PteDeleted, 1);
        MT_EQ(e->PageLocation, ActiveAndValid);   /* not freed: still locked */
        MT_EQ(e->ReferenceCount, 1);
        MT_EQ(e->ShareCount, 0);
    }
    MT_EQ(sys[PAGE_SIZE / 8 + 2], MT_RW_WORD(13 * PAGE_SIZE + 16));   /* the data is still there */
    MT_EQ(p->LockedPages, 2);
    MdlTestDetach();
    MmUnlockPages(m);                             /* from the system process: not attached */
    KT_EQ(p->LockedPages, 0);
    for (int i = 0; i < 2; i++) {
        KT_EQ(MdlTestRefs(pfn[i]), 0);
        KT_ASSERT(MI_PFN_ELEMENT(pfn[i])->PageLocation == FreePageList ||
                  MI_PFN_ELEMENT(pfn[i])->PageLocation == ZeroedPageList);
    }
    IoFreeMdl(m);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
}

/* Kernel addresses are not checked for write access: a read-only kernel
 * page (.rodata) locks for IoWriteAccess in kernel mode. (Last in the
 * file: an implementation that writes to it would stop the boot.) */
static const UCHAR mdllock_rodata[2 * PAGE_SIZE] __attribute__((aligned(PAGE_SIZE))) = { 1, 2, 3 };
KTEST(mdllock, kernel_addresses_are_not_checked_for_write_access)
{
    PVOID va = (PVOID)(mdllock_rodata + 100);
    KT_EQ(MdlTestPteOf(va) & MI_PTE_WRITE, 0);
    PFN_NUMBER pfn = MdlTestPfnOf(va);
    KT_NE(pfn, 0);
    USHORT r = MdlTestRefs(pfn);
    PMDL m = IoAllocateMdl(va, 16, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoWriteAccess), 0);
    KT_EQ(flags(m), MDL_ALLOCATED_FIXED_SIZE | MDL_PAGES_LOCKED | MDL_WRITE_OPERATION);
    KT_EQ(MmGetMdlPfnArray(m)[0], pfn);
    KT_EQ(MdlTestRefs(pfn), r + 1);
    MmUnlockPages(m);
    KT_EQ(MdlTestRefs(pfn), r);
    IoFreeMdl(m);
    KT_EQ(mdllock_rodata[0], 1);
}

/* ---- a lock for writing marks its frames modified ---- */

/* A paged-pool page as the modified-page writer will leave it once there
 * is a pagefile: its contents written out, so the frame is clean (Modified
 * 0) and its PTE's dirty bit clear. A trim then puts it on the standby list,
 * to be reused without another write - right only if nothing changed it. */
static PFN_NUMBER clean_paged_page(PUCHAR *out)
{
    PUCHAR buf = alloc(PagedPool, PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    KT_EQ(BYTE_OFFSET(buf), 0);
    buf[0] = 0x11;
    KIRQL old = KeRaiseIrqlToDpcLevel();
    PMMPTE pte = MiGetPteAddress(buf);
    PFN_NUMBER pfn = MI_PTE_PFN(pte->u.Long);
    MI_PFN_ELEMENT(pfn)->Modified = 0;
    MiWritePteAndFlush(pte, pte->u.Long & ~MI_PTE_DIRTY);
    KeLowerIrql(old);
    *out = buf;
    return pfn;
}

/* Lock BUF's page with OP, write it the way a device does - through the
 * MDL (here its system mapping), never through the buffer's own PTE - and
 * unlock. Then trim: where does the frame go? */
static UCHAR write_through_mdl_then_trim(PUCHAR buf, PFN_NUMBER pfn, LOCK_OPERATION op, BOOLEAN *dirty_pte)
{
    PMDL m = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, op), 0);
    PUCHAR sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(sys != NULL);
    sys[0x40] = 0xD4;                                  /* "DMA": the pool PTE's D bit stays clear */
    *dirty_pte = (MiGetPteAddress(buf)->u.Long & MI_PTE_DIRTY) != 0;
    MmUnlockPages(m);
    IoFreeMdl(m);
    MmTrimSystemWorkingSet(0);
    KT_ASSERT(!MmIsAddressValid(buf));                 /* trimmed: the frame is on a list now */
    return MI_PFN_ELEMENT(pfn)->PageLocation;
}

KTEST(mdllock, write_unlock_marks_the_frame_modified)
{
    PUCHAR buf;
    PFN_NUMBER pfn = clean_paged_page(&buf);
    BOOLEAN dirty_pte;
    UCHAR where = write_through_mdl_then_trim(buf, pfn, IoWriteAccess, &dirty_pte);
    KT_EQ(dirty_pte, FALSE);                           /* nothing but the unlock can tell */
    KT_EQ(MI_PFN_ELEMENT(pfn)->Modified, 1);
    KT_EQ(where, ModifiedPageList);                    /* kept until written, not reusable as is */
    KT_EQ(buf[0x40], 0xD4);                            /* soft fault: the written data */
    release(buf);
}

/* The same for IoModifyAccess; and a read lock leaves a clean frame clean. */
KTEST(mdllock, modify_unlock_marks_modified_and_read_unlock_does_not)
{
    PUCHAR buf;
    PFN_NUMBER pfn = clean_paged_page(&buf);
    BOOLEAN dirty_pte;
    KT_EQ(write_through_mdl_then_trim(buf, pfn, IoModifyAccess, &dirty_pte), ModifiedPageList);
    release(buf);

    pfn = clean_paged_page(&buf);
    PMDL m = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoReadAccess), 0);
    MmUnlockPages(m);
    IoFreeMdl(m);
    MmTrimSystemWorkingSet(0);
    KT_EQ(MI_PFN_ELEMENT(pfn)->Modified, 0);
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, StandbyPageList);
    KT_EQ(buf[0], 0x11);
    release(buf);
}

/* A partial MDL of a buffer locked for writing says so (MDL_WRITE_OPERATION
 * comes from the source, as on NT), but it is never unlocked itself: data
 * written through the partial MDL's own mapping is kept because the
 * source's unlock marks the frames modified. */
KTEST(mdllock, write_through_a_partial_mdl_is_kept_by_the_source_unlock)
{
    PUCHAR buf;
    PFN_NUMBER pfn = clean_paged_page(&buf);
    PMDL src = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    PMDL part = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(src && part);
    KT_EQ(MdlTestProbe(src, KernelMode, IoWriteAccess), 0);
    KT_ASSERT(flags(src) & MDL_WRITE_OPERATION);
    IoBuildPartialMdl(src, part, buf + 0x100, 0x100);
    KT_EQ(flags(part), MDL_PARTIAL | MDL_ALLOCATED_FIXED_SIZE | MDL_WRITE_OPERATION);   /* the direction, not the lock */
    PUCHAR sys = MmGetSystemAddressForMdlSafe(part, NormalPagePriority);
    KT_ASSERT(sys != NULL);
    sys[0] = 0xE5;
    IoFreeMdl(part);                                   /* unmaps its own mapping */
    KT_EQ(MiGetPteAddress(buf)->u.Long & MI_PTE_DIRTY, 0);
    MmUnlockPages(src);
    IoFreeMdl(src);
    KT_EQ(MI_PFN_ELEMENT(pfn)->Modified, 1);
    MmTrimSystemWorkingSet(0);
    KT_EQ(MI_PFN_ELEMENT(pfn)->PageLocation, ModifiedPageList);
    KT_EQ(buf[0x100], 0xE5);
    release(buf);
}
