/*
 * The driver writers' questions (docs/mdl.md §6), answered by running
 * them: each test is one seed's scenario, done the right way, with
 * everything checked and given back.
 *
 *  000  a filter pends a user buffer: lock it in the caller's process,
 *       complete it later from another thread in another process; and
 *       "can I just probe whatever Irp->UserBuffer is?" (yes).
 *  001  who unmaps what MmGetSystemAddressForMdlSafe mapped? MmUnlockPages.
 *       And for an MDL built for nonpaged pool it maps nothing.
 *  002/003  nonpaged pool described both ways; "build then probe" (the
 *       sidebar) is caught by the verifier; stack buffers must be probed.
 *  004  a nonpaged buffer shared with a user process (user/mdlshare.c).
 */
#include "io/tests/mdl_test_util.h"
#include "io/tests/io_test_util.h"

static USHORT flags(PMDL m) { return (USHORT)m->MdlFlags; }
static PVOID alloc(POOL_TYPE type, SIZE_T bytes)
{
    PVOID p = ExAllocatePoolWithTag(type, bytes, MDLT_TAG);
    if (p)
        memset(p, 0, bytes);
    return p;
}
static void release(PVOID p) { ExFreePoolWithTag(p, MDLT_TAG); }

/* ---- seed 000: pend a user buffer, complete it elsewhere ---- */

typedef struct {
    PIRP Irp;
    PEPROCESS Other;                 /* where the completion runs */
    ULONG64 Pattern;
    PEPROCESS SeenActive;            /* the address space the completion ran in */
    BOOLEAN Mapped;
} SEED000_REQUEST;

/* The "device": in another thread, attached to another process, it fills
 * the buffer through its system address (at DISPATCH_LEVEL, as a DPC
 * would: the pages are resident and the mapping is context-free), then
 * completes the IRP, which unlocks and frees the MDL. */
static void seed000_complete(PVOID ctx)
{
    SEED000_REQUEST *q = ctx;
    PEPROCESS saved;
    KeStackAttachProcess(q->Other, &saved);
    q->SeenActive = KeGetCurrentThread()->ActiveProcess;
    PMDL m = q->Irp->MdlAddress;
    PULONG64 sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    q->Mapped = sys != NULL;
    if (sys) {
        KIRQL old;
        KeRaiseIrql(DISPATCH_LEVEL, &old);
        for (ULONG i = 0; i < m->ByteCount / 8; i++)
            sys[i] = q->Pattern ^ i;
        KeLowerIrql(old);
        q->Irp->IoStatus.Status = STATUS_SUCCESS;
        q->Irp->IoStatus.Information = m->ByteCount;
    } else {
        q->Irp->IoStatus.Status = STATUS_INSUFFICIENT_RESOURCES;
    }
    IoCompleteRequest(q->Irp, 0);
    KeUnstackDetachProcess(&saved);
}

static SEED000_REQUEST seed000_q;
static PKTHREAD seed000_thread;

/* The driver: lock-before-pend is done by the caller below (as a filter
 * does in the caller's context); dispatch pends and hands the IRP to a
 * thread of its own. */
static NTSTATUS seed000_dispatch(PDEVICE_OBJECT dev, PIRP irp)
{
    UNREFERENCED_PARAMETER(dev);
    IoMarkIrpPending(irp);
    seed000_q.Irp = irp;
    seed000_thread = KeCreateSystemThread(seed000_complete, &seed000_q, KI_DEFAULT_PRIORITY, "seed000");
    return STATUS_PENDING;
}

KTEST(mdlseed, seed000_pended_user_buffer_completed_from_another_thread_and_process)
{
    PEPROCESS a, b;
    MT_CONTROL ca, cb;
    KT_EQ(MdlTestStartTarget(&a, &ca), 0);
    KT_EQ(MdlTestStartTarget(&b, &cb), 0);
    KT_NE(a->DirectoryTableBase, b->DirectoryTableBase);
    ULONG64 va = MT_RW_BASE + 2 * PAGE_SIZE + 0x18;
    ULONG len = 3 * PAGE_SIZE - 0x20;        /* spans 3 */
    PDEVICE_OBJECT dev = IotCreateDevice(seed000_dispatch, DO_DIRECT_IO);
    KT_ASSERT(dev != NULL);
    PIRP irp = IoAllocateIrp(dev->StackSize, FALSE);
    KT_ASSERT(irp != NULL);
    static KEVENT done;
    static IO_STATUS_BLOCK iosb;
    KeInitializeEvent(&done, NotificationEvent, FALSE);
    irp->UserEvent = &done;
    irp->UserIosb = &iosb;
    irp->RequestorMode = KernelMode;
    irp->Tail.Overlay.Thread = KeGetCurrentThread();   /* stage 2 of the completion comes back here */
    irp->UserBuffer = (PVOID)va;
    IoGetNextIrpStackLocation(irp)->MajorFunction = IRP_MJ_READ;
    IoGetNextIrpStackLocation(irp)->Parameters.Read.Length = len;

    /* In the caller's context: lock before pending. */
    MdlTestAttach(a);
    PMDL m = IoAllocateMdl((PVOID)va, len, FALSE, FALSE, irp);
    MT_ASSERT(m != NULL);
    MT_EQ(irp->MdlAddress, m);
    MT_EQ(MdlTestProbe(m, UserMode, IoWriteAccess), 0);
    MT_EQ(m->Process, a);
    MT_EQ(a->LockedPages, 3);
    PFN_NUMBER pfn[3];
    USHORT refs[3];
    for (int i = 0; i < 3; i++) {
        pfn[i] = MmGetMdlPfnArray(m)[i];
        MT_EQ(MdlTestPfnOf((PVOID)(MT_RW_BASE + (2 + i) * PAGE_SIZE)), pfn[i]);
        refs[i] = MdlTestRefs(pfn[i]);
    }
    MdlTestDetach();

    /* Send it; the driver pends it and completes it later, elsewhere. */
    SEED000_REQUEST *q = &seed000_q;
    memset(q, 0, sizeof(*q));
    q->Other = b;
    q->Pattern = 0x5EED000000000000ULL;
    KT_EQ(IoCallDriver(dev, irp), STATUS_PENDING);
    KT_ASSERT(seed000_thread != NULL);
    LARGE_INTEGER ten_s = { -KI_MS(10000) };
    /* The I/O manager finishes the IRP in this thread (an APC during
     * this wait): the MDL unlocked and freed, the status written. */
    KT_EQ(KeWaitForSingleObject(&done, Executive, KernelMode, FALSE, &ten_s), STATUS_WAIT_0);
    KT_EQ(KeWaitForSingleObject(seed000_thread, Executive, KernelMode, FALSE, &ten_s), STATUS_WAIT_0);
    KeDereferenceThread(seed000_thread);
    KT_EQ(q->SeenActive, b);
    KT_ASSERT(q->Mapped);
    KT_EQ((ULONG)iosb.Status, 0);
    KT_EQ(iosb.Information, len);
    KT_EQ(a->LockedPages, 0);                 /* unlocked against the right process... */
    KT_EQ(b->LockedPages, 0);                 /* ...not the one it ran in */
    for (int i = 0; i < 3; i++)
        KT_EQ(MdlTestRefs(pfn[i]), refs[i] - 1);

    /* The data reached the caller's buffer. */
    MdlTestAttach(a);
    ULONG64 w[4];
    MT_EQ(MdlTestReadUser(w, va, sizeof(w)), 0);
    for (int i = 0; i < 4; i++)
        MT_EQ(w[i], q->Pattern ^ i);
    MT_EQ(MdlTestReadUser(w, va + len - 8, 8), 0);
    MT_EQ(w[0], q->Pattern ^ (len / 8 - 1));
    MT_EQ(MdlTestReadUser(w, va + len, 8), 0);
    MT_EQ(w[0], MT_RW_WORD(va + len - MT_RW_BASE));   /* not one byte further */
    MdlTestDetach();
    IotDeleteDevice(dev);
    KT_EQ((ULONG)MdlTestStopTarget(b), 0);
    KT_EQ((ULONG)MdlTestStopTarget(a), 0);
}

/* "How do I decide which method to use?" You need not: probe-and-lock
 * works on any buffer a filter may be handed (nonpaged, paged, a kernel
 * stack), and MmUnlockPages + IoFreeMdl undo it. */
KTEST(mdlseed, seed000_probe_and_lock_works_on_any_kernel_buffer)
{
    UCHAR stack[300];
    PUCHAR nonpaged = alloc(NonPagedPoolNx, 500), paged = alloc(PagedPool, 500);
    KT_ASSERT(nonpaged && paged);
    PUCHAR bufs[3] = { nonpaged, paged, stack };
    for (int i = 0; i < 3; i++) {
        PMDL m = IoAllocateMdl(bufs[i], 300, FALSE, FALSE, NULL);
        KT_ASSERT(m != NULL);
        PFN_NUMBER pfn = MdlTestPfnOf(bufs[i]);
        KT_NE(pfn, 0);
        USHORT r = MdlTestRefs(pfn);
        KT_EQ(MdlTestProbe(m, KernelMode, IoWriteAccess), 0);
        KT_EQ(MmGetMdlPfnArray(m)[0], pfn);
        KT_EQ(MdlTestRefs(pfn), r + 1);
        KT_EQ(flags(m) & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL), MDL_PAGES_LOCKED);
        MmUnlockPages(m);
        IoFreeMdl(m);
        KT_EQ(MdlTestRefs(pfn), r);
    }
    release(paged);
    release(nonpaged);
}

/* ---- seed 001: who unmaps? ---- */

KTEST(mdlseed, seed001_unlock_alone_unmaps_what_get_system_address_mapped)
{
    PUCHAR buf = alloc(PagedPool, 3 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    PMDL m = IoAllocateMdl(buf + 0x30, 2 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoWriteAccess), 0);
    ULONG ptes = MiSystemPtesInUse();
    PUCHAR sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(sys != NULL);
    KT_GT(MiSystemPtesInUse(), ptes);
    KT_ASSERT(flags(m) & MDL_MAPPED_TO_SYSTEM_VA);
    sys[0] = 0xAB;
    KT_EQ(buf[0x30], 0xAB);
    MmUnlockPages(m);                          /* no MmUnmapLockedPages: unlock does it */
    KT_EQ(MiSystemPtesInUse(), ptes);
    KT_EQ(flags(m) & (MDL_MAPPED_TO_SYSTEM_VA | MDL_PAGES_LOCKED), 0);
    KT_ASSERT(!MmIsAddressValid(sys));
    IoFreeMdl(m);

    /* The longer way from the thread works too: unmap, then unlock. */
    m = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoReadAccess), 0);
    sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(sys != NULL);
    MmUnmapLockedPages(sys, m);
    KT_EQ(MiSystemPtesInUse(), ptes);
    MmUnlockPages(m);
    KT_EQ(MiSystemPtesInUse(), ptes);
    IoFreeMdl(m);
    release(buf);
}

KTEST(mdlseed, seed001_nonpaged_pool_mdl_maps_nothing)
{
    PUCHAR buf = alloc(NonPagedPoolNx, 2 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    PMDL m = IoAllocateMdl(buf + 0x10, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmBuildMdlForNonPagedPool(m);
    ULONG ptes = MiSystemPtesInUse();
    KT_EQ(MmGetSystemAddressForMdlSafe(m, NormalPagePriority), buf + 0x10);
    KT_EQ(MiSystemPtesInUse(), ptes);
    KT_EQ(flags(m) & MDL_MAPPED_TO_SYSTEM_VA, 0);
    IoFreeMdl(m);                               /* nothing to unmap, nothing to unlock */
    KT_EQ(MiSystemPtesInUse(), ptes);
    release(buf);
}

/* ---- seeds 002/003: nonpaged pool, both ways ---- */

KTEST(mdlseed, seed002_nonpaged_pool_described_both_ways)
{
    PUCHAR buf = alloc(NonPagedPoolNx, 3 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    PUCHAR va = buf + 0x10;
    ULONG len = 2 * PAGE_SIZE + 0x100;        /* spans 3 */
    PMDL built = IoAllocateMdl(va, len, FALSE, FALSE, NULL);
    PMDL locked = IoAllocateMdl(va, len, FALSE, FALSE, NULL);
    KT_ASSERT(built && locked);
    USHORT refs[3];
    for (int i = 0; i < 3; i++)
        refs[i] = MdlTestRefs(MdlTestPfnOf(buf + i * PAGE_SIZE));
    MmBuildMdlForNonPagedPool(built);
    KT_EQ(MdlTestProbe(locked, KernelMode, IoWriteAccess), 0);
    for (int i = 0; i < 3; i++) {
        KT_EQ(MmGetMdlPfnArray(built)[i], MmGetMdlPfnArray(locked)[i]);
        KT_EQ(MmGetMdlPfnArray(built)[i], MdlTestPfnOf(buf + i * PAGE_SIZE));
        KT_EQ(MdlTestRefs(MmGetMdlPfnArray(built)[i]), refs[i] + 1);   /* only the lock counts */
    }
    KT_EQ(flags(built) & (MDL_SOURCE_IS_NONPAGED_POOL | MDL_PAGES_LOCKED), MDL_SOURCE_IS_NONPAGED_POOL);
    KT_EQ(flags(locked) & (MDL_SOURCE_IS_NONPAGED_POOL | MDL_PAGES_LOCKED), MDL_PAGES_LOCKED);
    /* The built one is "mapped" at the buffer itself; the locked one gets
     * a second mapping of the same frames. */
    KT_EQ(MmGetSystemAddressForMdlSafe(built, NormalPagePriority), va);
    PUCHAR second = MmGetSystemAddressForMdlSafe(locked, NormalPagePriority);
    KT_ASSERT(second != NULL);
    KT_NE(second, va);
    va[len - 1] = 0x99;
    KT_EQ(second[len - 1], 0x99);
    /* The undo of each: nothing, and MmUnlockPages. */
    IoFreeMdl(built);
    MmUnlockPages(locked);
    IoFreeMdl(locked);
    for (int i = 0; i < 3; i++)
        KT_EQ(MdlTestRefs(MdlTestPfnOf(buf + i * PAGE_SIZE)), refs[i]);
    release(buf);
}

/* The sidebar: "please, let's not see anymore code that does this". */
KTEST_BUGCHECK(mdlseed, seed002_build_then_probe_is_caught, DRIVER_VERIFIER_DETECTED_VIOLATION, 0xB0, KT_ANY, KT_ANY,
               KT_ANY)
{
    PUCHAR buf = alloc(NonPagedPoolNx, 512);
    KT_ASSERT(buf != NULL);
    PMDL mdl = IoAllocateMdl(buf, 512, FALSE, FALSE, NULL);
    KT_ASSERT(mdl != NULL);
    MmBuildMdlForNonPagedPool(mdl);
    ExTry {
        MmProbeAndLockPages(mdl, KernelMode, IoWriteAccess);
    } ExExcept(status) {
        kprintf("the probe raised %#x instead\n", (unsigned)status);
    } ExEndTry;
}

/* "To build an MDL describing a kernel stack buffer, drivers must call
 * MmProbeAndLockPages" (MmBuildMdlForNonPagedPool on it: mdlverifier).
 * Done on the test's own stack (the boot stack, in the kernel image) and
 * on a system thread's guarded kernel stack. No assertion runs on the
 * other thread: it records, this one checks. */
typedef struct {
    PFN_NUMBER Pfn, Locked;
    UCHAR Usage;
    USHORT RefsBefore, RefsLocked, RefsAfter;
    NTSTATUS Probe;
    USHORT Flags;
    BOOLEAN Mapped;
    UCHAR Seen;
} SEED003_RESULT;

static __attribute__((noinline)) void seed003_lock_a_stack_buffer(SEED003_RESULT *r)
{
    volatile UCHAR local[600];
    local[0] = 0;
    r->Pfn = MdlTestPfnOf((PVOID)local);
    if (!r->Pfn)
        return;
    r->Usage = MI_PFN_ELEMENT(r->Pfn)->Usage;
    PMDL m = IoAllocateMdl((PVOID)local, sizeof(local), FALSE, FALSE, NULL);
    if (!m)
        return;
    r->RefsBefore = MdlTestRefs(r->Pfn);
    r->Probe = MdlTestProbe(m, KernelMode, IoWriteAccess);
    if (NT_SUCCESS(r->Probe)) {
        r->Locked = MmGetMdlPfnArray(m)[0];
        r->RefsLocked = MdlTestRefs(r->Pfn);
        r->Flags = flags(m);
        volatile UCHAR *sys = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
        r->Mapped = sys != NULL;
        if (sys)
            sys[0] = 0x3D;
        r->Seen = local[0];
        MmUnlockPages(m);
        r->RefsAfter = MdlTestRefs(r->Pfn);
    }
    IoFreeMdl(m);
}

static void seed003_thread(PVOID ctx)
{
    seed003_lock_a_stack_buffer(ctx);
}

static void seed003_check(const SEED003_RESULT *r)
{
    KT_NE(r->Pfn, 0);
    KT_EQ((ULONG)r->Probe, 0);
    KT_EQ(r->Locked, r->Pfn);
    KT_EQ(r->RefsLocked, r->RefsBefore + 1);
    KT_EQ(r->Flags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL), MDL_PAGES_LOCKED);
    KT_ASSERT(r->Mapped);
    KT_EQ(r->Seen, 0x3D);
    KT_EQ(r->RefsAfter, r->RefsBefore);
}

KTEST(mdlseed, seed003_stack_buffer_is_probed_and_locked)
{
    static SEED003_RESULT mine, theirs;
    memset(&mine, 0, sizeof(mine));
    memset(&theirs, 0, sizeof(theirs));
    seed003_lock_a_stack_buffer(&mine);
    seed003_check(&mine);
    PKTHREAD t = KeCreateSystemThread(seed003_thread, &theirs, KI_DEFAULT_PRIORITY, "seed003");
    KT_ASSERT(t != NULL);
    KeWaitForSingleObject(t, Executive, KernelMode, FALSE, NULL);
    KeDereferenceThread(t);
    MdlTestSleep(2);
    KT_EQ(theirs.Usage, MiUsageKernelStack);
    seed003_check(&theirs);
}

/* ---- seed 004: kernel memory shared with a user process ---- */

/* user/mdlshare.c's side of the conversation (keep the two in step). */
#define MS_KERNEL_WORD(page, off) (0x4B45524E00000000ULL | ((ULONG64)(page) << 16) | (ULONG64)(off))
#define MS_USER_WORD(page)        (0x5553455200000000ULL | (ULONG64)(page))
#define MS_USER_OFFSET    0x800
#define MS_DONE_OFFSET    0xF00
#define MS_VERDICT_OFFSET 0xF08
#define MS_DONE_MAGIC     0x454E4F4445524853ULL
#define SHARE_VA    0x50000000ULL
#define SHARE_PAGES 2

KTEST(mdlseed, seed004_nonpaged_buffer_shared_with_a_user_process)
{
    PULONG64 buf = alloc(NonPagedPoolNx, SHARE_PAGES * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    KT_EQ(BYTE_OFFSET(buf), 0);              /* whole pages: nothing else of the pool leaks out */
    for (ULONG p = 0; p < SHARE_PAGES; p++)
        for (ULONG off = 0; off < PAGE_SIZE; off += 8)
            buf[(p * PAGE_SIZE + off) / 8] = MS_KERNEL_WORD(p, off);
    PMDL m = IoAllocateMdl(buf, SHARE_PAGES * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmBuildMdlForNonPagedPool(m);
    USHORT f = flags(m);
    USHORT refs[SHARE_PAGES];
    for (int i = 0; i < SHARE_PAGES; i++)
        refs[i] = MdlTestRefs(MmGetMdlPfnArray(m)[i]);

    /* Map it before the process runs: outrank its thread meanwhile. */
    KPRIORITY prio = KeSetPriorityThread(KeGetCurrentThread(), LOW_REALTIME_PRIORITY + 1);
    char cmd[64];
    ksnprintf(cmd, sizeof(cmd), "mdlshare %#llx %d", (unsigned long long)SHARE_VA, SHARE_PAGES);
    PEPROCESS p;
    NTSTATUS s = PsCreateProcess("mdlshare", cmd, NULL, &p);
    if (!NT_SUCCESS(s))
        KeSetPriorityThread(KeGetCurrentThread(), prio);
    KT_EQ((ULONG)s, 0);
    MdlTestAttach(p);
    PVOID uva = NULL;
    s = MdlTestMap(m, UserMode, MmCached, (PVOID)SHARE_VA, NormalPagePriority, &uva);
    PMMVAD vad = MiLocateVad(p, SHARE_VA);
    ULONG64 pte[SHARE_PAGES];
    for (int i = 0; i < SHARE_PAGES; i++)
        pte[i] = MdlTestPteOf((PVOID)(SHARE_VA + i * PAGE_SIZE));
    MdlTestDetach();
    KeSetPriorityThread(KeGetCurrentThread(), prio);
    if (!NT_SUCCESS(s) || uva != (PVOID)SHARE_VA) {
        kprintf("seed004: map status %#x at %p\n", (unsigned)s, uva);
        MdlTestStopTarget(p);
        KT_EQ((ULONG)s, 0);
        KT_EQ(uva, SHARE_VA);
    }
    KT_EQ(flags(m), f);                      /* a user mapping sets no flag */
    KT_ASSERT(vad != NULL);
    KT_EQ(vad->Type, VadLockedView);
    KT_EQ(vad->StartVpn, SHARE_VA >> PAGE_SHIFT);
    KT_EQ(vad->EndVpn, (SHARE_VA >> PAGE_SHIFT) + SHARE_PAGES - 1);
    KT_ASSERT(vad->NoFree);
    for (int i = 0; i < SHARE_PAGES; i++) {
        KT_ASSERT(pte[i] & MI_PTE_VALID);
        KT_ASSERT(pte[i] & MI_PTE_OWNER);
        KT_ASSERT(pte[i] & MI_PTE_NX);        /* never executable */
        KT_EQ(MI_PTE_PFN(pte[i]), MmGetMdlPfnArray(m)[i]);
        KT_EQ(MdlTestRefs(MmGetMdlPfnArray(m)[i]), refs[i] + 1);   /* the view's own reference */
    }

    /* Let it run: wait for its verdict in our own view of the buffer. */
    volatile ULONG64 *v = buf;
    for (int i = 0; i < 1000 && v[MS_DONE_OFFSET / 8] != MS_DONE_MAGIC; i++)
        MdlTestSleep(10);
    BOOLEAN done = v[MS_DONE_OFFSET / 8] == MS_DONE_MAGIC;
    ULONG64 verdict = v[MS_VERDICT_OFFSET / 8];
    BOOLEAN user_wrote = TRUE;
    for (ULONG i = 0; i < SHARE_PAGES; i++)
        if (v[(i * PAGE_SIZE + MS_USER_OFFSET) / 8] != MS_USER_WORD(i))
            user_wrote = FALSE;

    /* Only its creator, in that process, removes the view. */
    MdlTestAttach(p);
    MmUnmapLockedPages((PVOID)SHARE_VA, m);
    PMMVAD after = MiLocateVad(p, SHARE_VA);
    ULONG64 pte_after = MdlTestPteOf((PVOID)SHARE_VA);
    MdlTestDetach();
    NTSTATUS w = MdlTestWaitProcess(p, 10000);
    NTSTATUS ended = p->ExitStatus;
    if (w != STATUS_SUCCESS)
        MdlTestStopTarget(p);
    else {
        PsDereferenceProcess(p);
        MdlTestSleep(2);
    }
    KT_ASSERT(done);
    KT_EQ(verdict, 0);
    KT_ASSERT(user_wrote);
    KT_EQ(after, NULL);
    KT_EQ(pte_after & MI_PTE_VALID, 0);
    KT_EQ((ULONG)w, 0);
    KT_EQ((ULONG)ended, 0);                  /* mdlshare's own verdict: everything held */
    for (int i = 0; i < SHARE_PAGES; i++)
        KT_EQ(MdlTestRefs(MmGetMdlPfnArray(m)[i]), refs[i]);
    KT_EQ(v[1], MS_KERNEL_WORD(0, 8));      /* the rest is still ours */
    IoFreeMdl(m);
    release(buf);
}

KTEST(mdlseed, seed004_user_mapping_refuses_bad_and_taken_addresses)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    PUCHAR buf = alloc(NonPagedPoolNx, 2 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    buf[0x10] = 0x66;
    PMDL m = IoAllocateMdl(buf, 2 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmBuildMdlForNonPagedPool(m);
    USHORT f = flags(m);
    MdlTestAttach(p);
    PVOID va = (PVOID)1;
    MT_EQ((ULONG)MdlTestMap(m, UserMode, MmCached, (PVOID)MT_RW_BASE, NormalPagePriority, &va),
          (ULONG)STATUS_CONFLICTING_ADDRESSES);
    MT_EQ(flags(m), f);
    MT_EQ((ULONG)MdlTestMap(m, UserMode, MmCached, (PVOID)(MT_RW_BASE + 15 * PAGE_SIZE), NormalPagePriority, &va),
          (ULONG)STATUS_CONFLICTING_ADDRESSES);       /* overlaps the region's last page */
    MT_EQ((ULONG)MdlTestMap(m, UserMode, MmCached, (PVOID)0xFFFFFA8000000000ULL, NormalPagePriority, &va),
          (ULONG)STATUS_INVALID_ADDRESS);
    MT_EQ((ULONG)MdlTestMap(m, UserMode, MmCached, (PVOID)((ULONG64)MM_HIGHEST_USER_ADDRESS + 1 - PAGE_SIZE),
                            NormalPagePriority, &va),
          (ULONG)STATUS_INVALID_ADDRESS);             /* its second page would pass the top */
    MT_EQ(flags(m), f);
    MT_EQ(MiLocateVad(p, 0x7FFFFFFEF000ULL), NULL);
    /* No address asked: the system picks one. */
    MT_EQ(MdlTestMap(m, UserMode, MmCached, NULL, NormalPagePriority, &va), 0);
    MT_ASSERT(va != NULL);
    MT_LT((ULONG64)va, MmUserProbeAddress);
    MT_EQ(BYTE_OFFSET(va), 0);
    PMMVAD vad = MiLocateVad(p, (ULONG64)va);
    MT_ASSERT(vad != NULL);
    MT_EQ(vad->Type, VadLockedView);
    MT_ASSERT(MdlTestPteOf(va) & MI_PTE_NX);
    UCHAR b = 0;
    MT_EQ(MdlTestReadUser(&b, (ULONG64)va + 0x10, 1), 0);
    MT_EQ(b, 0x66);
    MT_EQ(flags(m), f);
    MmUnmapLockedPages(va, m);
    MT_EQ(MiLocateVad(p, (ULONG64)va), NULL);
    MT_EQ(MdlTestPteOf(va) & MI_PTE_VALID, 0);
    MdlTestDetach();
    IoFreeMdl(m);
    release(buf);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
}
