/*
 * The I/O ring: NtCreateIoRing, NtSubmitIoRing (docs/io.md section 12).
 *
 * NT's model (Windows 11, ioringapi.h; the kernel side NtCreateIoRing and
 * NtSubmitIoRing): a ring is an object with a handle whose submission
 * queue and completion queue are kernel memory mapped into the creating
 * process through an MDL, as well as into system space. Ring 3 writes
 * entries (SQEs) and moves the SQ's tail; one NtSubmitIoRing hands every
 * entry between head and tail to the I/O manager as ordinary IRPs - one
 * system call, one handle lookup of the ring, for a whole batch - and
 * each request's result comes back as a CQE the kernel writes into the
 * completion queue, read by ring 3 with no system call at all.
 *
 * What mdlos does: the same with two MDLs of fresh nonpaged frames
 * (MmAllocatePagesForMdlEx), because the two sides must own different
 * indices and a page is the unit of protection: the submission area (SQ
 * tail, CQ head, the SQEs) is mapped read-write into the process, the
 * completion area (SQ head, CQ tail, the CQEs) read-only
 * (MdlMappingNoWrite); both are mapped into system space, where the kernel
 * reads and writes them in any context. Everything ring 3 can write is
 * hostile: the tail is read once per call and at most the SQ's size of
 * entries is taken, each SQE is copied out of the shared page before any
 * field is looked at, and the CQ head only ever makes the kernel write
 * less.
 *
 * Completion: a ring's IRP (IRP_COMPLETION_RING) is finished entirely in
 * stage 1, wherever it runs (the disk's DPC): its MDL is unlocked by
 * IoCompleteRequest, the IRP freed, then its CQE written through the
 * system mapping. Stage 2 exists in NT to reach the requester's address
 * space (the status block, a buffered copy-back); a ring request writes
 * nothing there - only direct I/O devices are accepted, whose bytes the
 * device already put in place - so it needs no APC and no wake-up of the
 * requester per request. A waiter (wait_operations) is woken once, when
 * as many CQEs as it asked for are there.
 *
 * A full CQ: each request takes a CQ slot when it is taken off the SQ (in
 * flight + unread <= CQ size), and a submit stops taking entries when no
 * slot is left - they stay in the SQ for a later call, and the SQ head
 * says how far it got. Only a ring 3 that moves the CQ head backwards can
 * make a completion find no room; that CQE is then held in the kernel
 * (CqOverflow counts them) and written when room appears, in order, at
 * the next NtSubmitIoRing - never an unread CQE overwritten, never one
 * lost without CqDropped saying so (only if the pool for holding it was
 * exhausted).
 *
 * Registered buffers and files (io/ioring_register.c) take the probe and
 * lock of a request's buffer, and the look-up of its handle, out of the
 * per-request path.
 *
 * Lifetime: every IRP in flight holds a reference on the ring (its CQE is
 * written after its thread may have closed the handle or exited). The
 * last handle's close, in the owning process, cancels the thread's ring
 * requests and waits for them (io/cancel.c), then removes the two user
 * views; the frames go with the last reference. A process exiting cancels
 * and waits for all its IRPs first (IoCancelThreadIo), then closes its
 * handles - so the views are gone before its address space is.
 */
#include "io/ioringp.h"
#include "kernel/ob/obp.h"
#include "kernel/ps/ps.h"
#include "kernel/ntsyscall.h"
#include "kernel/ktest/ktest.h"

#define TAG_RING_HELD POOL_TAG('I', 'o', 'R', 'h')
/* All rings' frames together. NT charges a ring's queues to the process's
 * quota; mdlos has no quotas, so ring 3 creating rings is bounded here. */
#define RING_PAGES_MOST 4096

_Static_assert(sizeof(IORING_SQE_T) == 48 && sizeof(IORING_CQE_T) == 24, "the ring's entry layouts");
_Static_assert(sizeof(IORING_SUBMIT_AREA_T) == 64 && sizeof(IORING_COMPLETE_AREA_T) == 64, "the ring's headers");


static POBJECT_TYPE ring_type;
static volatile LONG ring_pages;   /* all rings' frames */

PVOID IopIrpRing(PIRP irp)
{
    return (irp->Flags & IRP_COMPLETION_RING) ? irp->Overlay.AsynchronousParameters.UserApcRoutine : NULL;
}

/* ---- the completion queue (any IRQL <= DISPATCH_LEVEL) ---- */

/* CQEs written and not yet read, by ring 3's head. A head ahead of the
 * tail (or more than the CQ behind it) is nonsense: the CQ counts as full,
 * so the kernel writes nothing until ring 3 puts it right. */
static ULONG unread_locked(IOP_RING *r)
{
    ULONG head = __atomic_load_n(&r->Submit->CqHead, __ATOMIC_ACQUIRE);
    ULONG n = r->CqTail - head;
    return n > r->CqSize ? r->CqSize : n;
}

static void write_cqe_locked(IOP_RING *r, const IORING_CQE_T *c)
{
    r->Complete->Cqe[r->CqTail & (r->CqSize - 1)] = *c;
    r->CqTail++;
    /* Release: ring 3 that sees the tail sees the entry. */
    __atomic_store_n(&r->Complete->CqTail, r->CqTail, __ATOMIC_RELEASE);
}

/* Held CQEs into the room there is now, oldest first. */
static void flush_held_locked(IOP_RING *r)
{
    while (!IsListEmpty(&r->Held) && unread_locked(r) < r->CqSize) {
        HELD_CQE *h = CONTAINING_RECORD(RemoveHeadList(&r->Held), HELD_CQE, Link);
        write_cqe_locked(r, &h->Cqe);
        r->HeldCount--;
        ExFreePoolWithTag(h, TAG_RING_HELD);
    }
}

static void wake_locked(IOP_RING *r)
{
    if (r->WaitFor && unread_locked(r) >= r->WaitFor) {
        r->WaitFor = 0;
        KeSetEvent(&r->Ready, 0, FALSE);
    }
}

/* One entry's result, its CQ slot given back. */
static void post(IOP_RING *r, ULONG64 user_data, NTSTATUS status, ULONG_PTR information)
{
    IORING_CQE_T c = { user_data, status, 0, information };
    KIRQL old;
    KeAcquireSpinLock(&r->Lock, &old);
    r->InFlight--;
    if (r->Closed) {
        KeReleaseSpinLock(&r->Lock, old);   /* nobody can read it any more */
        return;
    }
    flush_held_locked(r);
    if (IsListEmpty(&r->Held) && unread_locked(r) < r->CqSize) {
        write_cqe_locked(r, &c);
        wake_locked(r);
        KeReleaseSpinLock(&r->Lock, old);
        return;
    }
    KeReleaseSpinLock(&r->Lock, old);
    /* No room: ring 3 moved the head back. Held (allocated outside the
     * lock) until a submit finds room. */
    HELD_CQE *h = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*h), TAG_RING_HELD);
    KeAcquireSpinLock(&r->Lock, &old);
    if (r->Closed) {
        KeReleaseSpinLock(&r->Lock, old);
        if (h)
            ExFreePoolWithTag(h, TAG_RING_HELD);
        return;
    }
    if (h) {
        h->Cqe = c;
        InsertTailList(&r->Held, &h->Link);
        r->HeldCount++;
        r->Complete->CqOverflow++;
    } else {
        r->Complete->CqDropped++;
    }
    KeReleaseSpinLock(&r->Lock, old);
}

void IopRingCompleteIrp(PIRP irp)
{
    IOP_RING *r = irp->Overlay.AsynchronousParameters.UserApcRoutine;
    ULONG64 user_data = (ULONG64)irp->Overlay.AsynchronousParameters.UserApcContext;
    NTSTATUS status = irp->IoStatus.Status;
    ULONG_PTR information = irp->IoStatus.Information;
    /* Only a registered buffer's request has a partial MDL here. */
    BOOLEAN registered = irp->MdlAddress && (irp->MdlAddress->MdlFlags & MDL_PARTIAL);
    /* The IRP first (its MDL freed, off its thread's list, the file let
     * go), the CQE after: a ring 3 that sees the CQE may free the buffer,
     * and an exiting thread waiting for its IRPs sees this one gone. No
     * status block, no event: nothing of the requester's is written. */
    (void)IopFinishRequest(irp, FALSE);
    if (registered)
        __atomic_sub_fetch(&r->BufferUsers, 1, __ATOMIC_RELEASE);   /* before the CQE: ring 3 may re-register then */
    post(r, user_data, status, information);
    ObDereferenceObject(r);   /* the request's; at DISPATCH_LEVEL a last one is deferred */
}

/* ---- one submission entry ---- */

/* Start entry E (the kernel's copy). STATUS_PENDING: an IRP was sent and
 * its completion posts the CQE; anything else is the CQE's status now. */
static NTSTATUS start_entry(IOP_RING *r, const IORING_SQE_T *e)
{
    if (e->OpCode == IORING_OP_REGISTER_BUFFERS)
        return e->Flags ? STATUS_INVALID_PARAMETER : IopRingRegisterBuffers(r, e);
    if (e->OpCode == IORING_OP_REGISTER_FILES)
        return e->Flags ? STATUS_INVALID_PARAMETER : IopRingRegisterFiles(r, e);
    BOOLEAN reg = (e->Flags & IORING_SQE_REGISTERED_BUFFER) != 0;
    BOOLEAN reg_file = (e->Flags & IORING_SQE_REGISTERED_FILE) != 0;
    if ((e->Flags & ~(IORING_SQE_REGISTERED_BUFFER | IORING_SQE_REGISTERED_FILE)) || (!reg && e->BufferIndex))
        return STATUS_INVALID_PARAMETER;
    if (e->OpCode == IORING_OP_NOP)
        return reg || reg_file ? STATUS_INVALID_PARAMETER : STATUS_SUCCESS;
    if (e->OpCode != IORING_OP_READ && e->OpCode != IORING_OP_WRITE)
        return STATUS_INVALID_PARAMETER;
    BOOLEAN write = e->OpCode == IORING_OP_WRITE;
    PVOID ubuf = (PVOID)e->Buffer;
    PMDL locked = NULL;
    NTSTATUS s;
    if (reg) {
        /* (index, offset, length) inside a registered buffer: the range is
         * checked against the locked MDL, so no probe is needed. */
        if (e->BufferIndex >= r->BufferCount)
            return STATUS_INVALID_PARAMETER;
        locked = r->Buffers[e->BufferIndex];
        ULONG size = MmGetMdlByteCount(locked);
        if (e->Buffer > size || e->Length > size - e->Buffer)
            return STATUS_INVALID_PARAMETER;
        ubuf = (PUCHAR)MmGetMdlVirtualAddress(locked) + e->Buffer;
    } else if (!NT_SUCCESS(s = IopProbeUserRange(ubuf, e->Length))) {
        return s;
    }
    if (e->Offset < 0)
        return STATUS_INVALID_PARAMETER;
    PFILE_OBJECT fo;
    OBJECT_HANDLE_INFORMATION info;
    if (reg_file) {
        /* The ring's own reference stands for the handle: the access its
         * handle granted at registration is what the request may do. */
        if (e->File >= r->FileCount)
            return STATUS_INVALID_PARAMETER;
        fo = r->Files[e->File];
        ObReferenceObject(fo);
        info.GrantedAccess = r->FileAccess[e->File];
    } else if (!NT_SUCCESS(s = ObReferenceObjectByHandle(e->File, 0, IoFileObjectType, UserMode, (PVOID *)&fo,
                                                          &info))) {
        return s;
    }
    ACCESS_MASK need = write ? FILE_WRITE_DATA : FILE_READ_DATA;
    PDEVICE_OBJECT dev = IoGetRelatedDeviceObject(fo);
    if ((info.GrantedAccess & need) != need)
        s = STATUS_ACCESS_DENIED;
    else if (fo->Flags & FO_SYNCHRONOUS_IO)
        s = STATUS_INVALID_PARAMETER;   /* its requests are serialised on its position: not a ring's */
    else if (!(dev->Flags & DO_DIRECT_IO))
        s = STATUS_INVALID_DEVICE_REQUEST;   /* a buffered read's copy-back needs the requester's context */
    PIRP irp = NULL;
    if (NT_SUCCESS(s)) {
        LARGE_INTEGER off = { e->Offset };
        s = IopBuildReadWriteIrp(fo, write, ubuf, e->Length, off, 0, locked, &irp);
    }
    if (!NT_SUCCESS(s)) {
        ObDereferenceObject(fo);
        return s;
    }
    if (irp->MdlAddress && (irp->MdlAddress->MdlFlags & MDL_PARTIAL))
        __atomic_add_fetch(&r->BufferUsers, 1, __ATOMIC_RELAXED);   /* IopRingCompleteIrp's to drop */
    irp->Flags |= IRP_COMPLETION_RING | IRP_DEFER_IO_COMPLETION;
    irp->Overlay.AsynchronousParameters.UserApcRoutine = r;
    irp->Overlay.AsynchronousParameters.UserApcContext = (PVOID)e->UserData;
    ObReferenceObject(r);   /* IopRingCompleteIrp's */
    IopQueueThreadIrp(irp);
    if (IoCallDriver(dev, irp) != STATUS_PENDING)
        IopRingCompleteIrp(irp);   /* finished in dispatch: IoCompleteRequest left it to us (deferred) */
    ObDereferenceObject(fo);
    return STATUS_PENDING;
}

/* ---- the services ---- */

static ULONG round_up_pow2(ULONG v)
{
    ULONG p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

/* A UserMode view of M (raises on failure, as NT's does: caught here). */
static __attribute__((noinline)) NTSTATUS map_view(PMDL m, BOOLEAN read_only, PVOID *out)
{
    volatile NTSTATUS s = STATUS_SUCCESS;
    PVOID volatile va = NULL;
    ExTry {
        va = MmMapLockedPagesSpecifyCache(m, UserMode, MmCached, NULL, FALSE,
                                          NormalPagePriority | (read_only ? MdlMappingNoWrite : 0));
    } ExExcept(code) {
        s = code;
    } ExEndTry;
    *out = va;
    return s;
}

/* The views, in the process they were made in (the close runs there). */
static void remove_views(IOP_RING *r)
{
    if (!r->SubmitUser && !r->CompleteUser)
        return;
    if (PsGetCurrentProcess() != r->Owner)
        KeBugCheckRule(SYSTEM_PTE_MISUSE, 0x300, (ULONG_PTR)r, (ULONG_PTR)r->Owner, (ULONG_PTR)PsGetCurrentProcess(),
                       "the I/O ring %p's queues are mapped in process %p but its views are being removed in %p: "
                       "a ring's handles never leave the process that created it", r, r->Owner,
                       PsGetCurrentProcess());
    if (r->SubmitUser)
        MmUnmapLockedPages(r->SubmitUser, r->SubmitMdl);
    if (r->CompleteUser)
        MmUnmapLockedPages(r->CompleteUser, r->CompleteMdl);
    r->SubmitUser = r->CompleteUser = NULL;
}

static void free_held(IOP_RING *r)
{
    LIST_ENTRY all;
    InitializeListHead(&all);
    KIRQL old;
    KeAcquireSpinLock(&r->Lock, &old);
    r->Closed = TRUE;
    while (!IsListEmpty(&r->Held))
        InsertTailList(&all, RemoveHeadList(&r->Held));
    r->HeldCount = 0;
    KeReleaseSpinLock(&r->Lock, old);
    while (!IsListEmpty(&all))
        ExFreePoolWithTag(CONTAINING_RECORD(RemoveHeadList(&all), HELD_CQE, Link), TAG_RING_HELD);
}

static void ring_close(struct _EPROCESS *proc, PVOID object, ULONG handles_left)
{
    UNREFERENCED_PARAMETER(proc);
    if (handles_left)
        return;
    IOP_RING *r = object;
    /* Its requests still with a driver: cancelled and waited for (bounded;
     * one whose driver ignores the cancel completes later, to a closed
     * ring). Then nobody can read a CQE: the views go. */
    (void)IopCancelRingIo(r);
    free_held(r);
    remove_views(r);
    /* The registered buffers go with the ring's last reference, which is
     * this handle's once the cancelled requests are done: their pages are
     * unlocked before the process's exit checks its locked pages - unless a
     * driver ignored the cancel, when they stay locked as a file's would. */
}

static void free_area(PMDL m)
{
    if (!m)
        return;
    MmFreePagesFromMdl(m);   /* removes the system mapping */
    ExFreePool(m);
}

static void ring_delete(PVOID object)
{
    IOP_RING *r = object;
    remove_views(r);   /* only a ring that never had a handle still has them: its creator is running */
    if (r->Held.Flink)
        free_held(r);
    IopRingDropBuffers(r);   /* every request is done (each held a reference): nothing uses them */
    IopRingDropFiles(r);
    free_area(r->SubmitMdl);
    free_area(r->CompleteMdl);
    __atomic_sub_fetch(&ring_pages, r->Pages, __ATOMIC_RELAXED);
}

/* Frames for SIZE bytes, zeroed, mapped into system space. */
static NTSTATUS make_area(ULONG size, PMDL *m, PVOID *sys)
{
    PHYSICAL_ADDRESS low = { 0 }, high = { -1 }, skip = { 0 };
    *m = MmAllocatePagesForMdlEx(low, high, skip, size, MmCached, MM_ALLOCATE_FULLY_REQUIRED);
    if (!*m)
        return STATUS_INSUFFICIENT_RESOURCES;
    *sys = MmGetSystemAddressForMdlSafe(*m, NormalPagePriority);
    return *sys ? STATUS_SUCCESS : STATUS_INSUFFICIENT_RESOURCES;
}

static NTSTATUS NtCreateIoRing(ULONG64 uhandle, ULONG64 plen, ULONG64 uparams, ULONG64 ilen, ULONG64 uinfo,
                               ULONG64 a6)
{
    (void)a6;
    NTSTATUS s;
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)uhandle, sizeof(HANDLE), sizeof(HANDLE), 8)))
        return s;
    if ((ULONG)plen != sizeof(IORING_CREATE_T) || (ULONG)ilen < sizeof(IORING_INFO_T))
        return STATUS_INFO_LENGTH_MISMATCH;
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)uinfo, sizeof(IORING_INFO_T), sizeof(IORING_INFO_T), 8)))
        return s;
    IORING_CREATE_T p;
    if (!NT_SUCCESS(s = ExCaptureUser(&p, (const void *)uparams, sizeof(p), 4)))
        return s;
    /* Sizes are ring 3's: powers of two (an index is masked, never
     * divided), bounded, and the CQ at least the SQ (a full SQ's worth
     * fits) and at most twice it. */
    if (!p.SubmissionQueueSize || p.SubmissionQueueSize > IORING_SQ_MAX || p.CompletionQueueSize > 2 * IORING_SQ_MAX)
        return STATUS_INVALID_PARAMETER;
    ULONG sq = round_up_pow2(p.SubmissionQueueSize);
    ULONG cq = p.CompletionQueueSize ? round_up_pow2(p.CompletionQueueSize) : 2 * sq;
    if (cq < sq || cq > 2 * sq)
        return STATUS_INVALID_PARAMETER;
    ULONG submit_bytes = sizeof(IORING_SUBMIT_AREA_T) + sq * sizeof(IORING_SQE_T);
    ULONG complete_bytes = sizeof(IORING_COMPLETE_AREA_T) + cq * sizeof(IORING_CQE_T);
    ULONG pages = (ULONG)(BYTES_TO_PAGES(submit_bytes) + BYTES_TO_PAGES(complete_bytes));
    if (__atomic_add_fetch(&ring_pages, pages, __ATOMIC_RELAXED) > RING_PAGES_MOST) {
        __atomic_sub_fetch(&ring_pages, pages, __ATOMIC_RELAXED);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    IOP_RING *r;
    if (!NT_SUCCESS(s = ObCreateObject(ring_type, NULL, sizeof(*r), (PVOID *)&r))) {
        __atomic_sub_fetch(&ring_pages, pages, __ATOMIC_RELAXED);
        return s;
    }
    memset(r, 0, sizeof(*r));
    r->Pages = pages;   /* from here the delete gives them back */
    KeInitializeEvent(&r->Ready, NotificationEvent, FALSE);
    KeInitializeEvent(&r->SubmitLock, SynchronizationEvent, TRUE);
    KeInitializeSpinLock(&r->Lock);
    InitializeListHead(&r->Held);
    r->Owner = PsGetCurrentProcess();
    r->SqSize = sq;
    r->CqSize = cq;
    if (!NT_SUCCESS(s = make_area(submit_bytes, &r->SubmitMdl, (PVOID *)&r->Submit)) ||
        !NT_SUCCESS(s = make_area(complete_bytes, &r->CompleteMdl, (PVOID *)&r->Complete)) ||
        !NT_SUCCESS(s = map_view(r->SubmitMdl, FALSE, &r->SubmitUser)) ||
        !NT_SUCCESS(s = map_view(r->CompleteMdl, TRUE, &r->CompleteUser))) {
        ObDereferenceObject(r);   /* the delete undoes what was done */
        return s;
    }
    HANDLE h;
    if (!NT_SUCCESS(s = ObInsertObject(r, IORING_ALL_ACCESS, &h)))
        return s;   /* the ring went with the failure */
    IORING_INFO_T info = { sq, cq, r->SubmitUser, r->CompleteUser };
    (void)ExReturnToUser((void *)uinfo, &info, sizeof(info), 8);   /* probed above */
    return ObReturnNewHandle(uhandle, h, STATUS_SUCCESS);
}

static NTSTATUS capture_timeout(ULONG64 utimeout, LARGE_INTEGER *t, PLARGE_INTEGER *out)
{
    *out = NULL;
    if (!utimeout)
        return STATUS_SUCCESS;
    NTSTATUS s = ExCaptureUser(t, (const void *)utimeout, sizeof(*t), 8);
    if (NT_SUCCESS(s))
        *out = t;
    return s;
}

/* Until WANT CQEs are unread (at most what can still come: those unread
 * and those in flight), or the wait ends otherwise. A waiter that wakes
 * to fewer (ring 3 read some meanwhile) waits again for its whole
 * timeout, as a port's remover does. */
static NTSTATUS wait_for(IOP_RING *r, ULONG want, PLARGE_INTEGER timeout)
{
    for (;;) {
        KIRQL old;
        KeAcquireSpinLock(&r->Lock, &old);
        flush_held_locked(r);
        ULONG unread = unread_locked(r);
        ULONG most = unread + r->InFlight + r->HeldCount;
        ULONG target = want < most ? want : most;
        if (unread >= target) {
            r->WaitFor = 0;
            KeReleaseSpinLock(&r->Lock, old);
            return STATUS_SUCCESS;
        }
        r->WaitFor = target;
        KeClearEvent(&r->Ready);
        KeReleaseSpinLock(&r->Lock, old);
        NTSTATUS w = KeWaitForSingleObject(&r->Ready, UserRequest, UserMode, FALSE, timeout);
        if (w != STATUS_WAIT_0) {
            KeAcquireSpinLock(&r->Lock, &old);
            r->WaitFor = 0;
            KeReleaseSpinLock(&r->Lock, old);
            return w;
        }
    }
}

static NTSTATUS NtSubmitIoRing(ULONG64 h, ULONG64 flags, ULONG64 wait_operations, ULONG64 utimeout, ULONG64 a5,
                               ULONG64 a6)
{
    (void)a5, (void)a6;
    if ((ULONG)flags)
        return STATUS_INVALID_PARAMETER;
    LARGE_INTEGER t;
    PLARGE_INTEGER timeout;
    NTSTATUS s = capture_timeout(utimeout, &t, &timeout);
    if (!NT_SUCCESS(s))
        return s;
    IOP_RING *r;
    if (!NT_SUCCESS(s = ObReferenceObjectByHandle(h, 0, ring_type, UserMode, (PVOID *)&r, NULL)))
        return s;
    KeWaitForSingleObject(&r->SubmitLock, Executive, KernelMode, FALSE, NULL);
    /* The tail once: whatever ring 3 (or a device writing into its pages)
     * does to it meanwhile, this call takes what was there, and never
     * more than the SQ holds. */
    ULONG tail = __atomic_load_n(&r->Submit->SqTail, __ATOMIC_ACQUIRE);
    ULONG n = tail - r->SqHead;
    if (n > r->SqSize)
        n = r->SqSize;
    /* A CQ slot for each entry taken: in flight + unread never passes the CQ. */
    KIRQL old;
    KeAcquireSpinLock(&r->Lock, &old);
    flush_held_locked(r);
    ULONG used = r->InFlight + unread_locked(r) + r->HeldCount;
    ULONG room = used >= r->CqSize ? 0 : r->CqSize - used;
    if (n > room)
        n = room;
    r->InFlight += n;
    KeReleaseSpinLock(&r->Lock, old);
    /* One batch (io/plug.c): a disk driver that takes part starts its
     * device once, after the last entry, with them all in hand - adjacent
     * ones merged into one device request, as Linux's io_submit plugs. */
    IO_PLUG plug;
    IoStartPlug(&plug);
    for (ULONG i = 0; i < n; i++) {
        IORING_SQE_T e;
        memcpy(&e, &r->Submit->Sqe[r->SqHead & (r->SqSize - 1)], sizeof(e));
        /* Only the copy is used from here: ring 3 may rewrite the entry
         * while it is looked at. */
        __asm__ volatile("" ::: "memory");
        r->SqHead++;
        NTSTATUS st = start_entry(r, &e);
        if (st != STATUS_PENDING)
            post(r, e.UserData, st, 0);
    }
    IoFinishPlug(&plug);
    __atomic_store_n(&r->Complete->SqHead, r->SqHead, __ATOMIC_RELEASE);
    KeSetEvent(&r->SubmitLock, 0, FALSE);
    ULONG want = (ULONG)wait_operations;
    if (want) {
        s = wait_for(r, want > r->CqSize ? r->CqSize : want, timeout);
    }
    ObDereferenceObject(r);
    return s;
}

static int ring_counters(KT_COUNTER *out, int max)
{
    if (max < 1)
        return 0;
    out[0] = (KT_COUNTER){ "I/O ring pages", (uint64_t)ring_pages };
    if (max < 2)
        return 1;
    out[1] = (KT_COUNTER){ "I/O ring registered pages", (uint64_t)IopRingRegisteredPages };
    return 2;
}

void IopInitializeIoRings(void)
{
    OBJECT_TYPE_INITIALIZER init = {
        .GenericMapping = { STANDARD_RIGHTS_READ | 0x1, STANDARD_RIGHTS_WRITE | 0x2, STANDARD_RIGHTS_EXECUTE,
                            IORING_ALL_ACCESS },
        .ValidAccessMask = IORING_ALL_ACCESS,
        .DispatcherHeaderOffset = -1,
        .CloseProcedure = ring_close,
        .DeleteProcedure = ring_delete,
    };
    NTSTATUS s = ObCreateObjectType("IoRing", &init, &ring_type);
    ASSERT(NT_SUCCESS(s));
    KtRegisterCounters(ring_counters);
    KiRegisterService(SYS_NtCreateIoRing, NtCreateIoRing);
    KiRegisterService(SYS_NtSubmitIoRing, NtSubmitIoRing);
}
