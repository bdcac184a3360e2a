/*
 * I/O completion ports: NtCreateIoCompletion, the association of a file
 * with a port (NtSetInformationFile, FileCompletionInformation),
 * NtRemoveIoCompletion, NtRemoveIoCompletionEx, NtSetIoCompletion.
 *
 * NT's model (Windows Internals, "I/O completion ports"; the Win32 docs of
 * CreateIoCompletionPort): a port is a queue object with a handle. A file
 * associated with it (once, with a key) has every asynchronous request
 * that does not fail at once end as a packet on the port - the key, the
 * request's apc_context and its final status - and the status block the
 * caller passed is not written until the packet is removed. Since Vista
 * the IRP itself is the packet ("thread-agnostic I/O"): completion needs no
 * APC to the requester and no wake-up of it; stage 2 of the completion
 * (io/irp.c: the status block, the event, freeing the IRP) runs in the
 * thread that removes the packet, in its own context - the same process.
 * A batch of completions from one DPC is then one wake-up of one
 * remover, which takes them all with one NtRemoveIoCompletionEx.
 *
 * What mdlos does: the same, with the port a KEVENT (signaled while
 * packets wait, so NtWaitForSingleObject on a port works as on NT) and a
 * spin-locked list of packets: IRPs (Tail.Overlay.ListEntry, key in
 * DriverContext[0], the requester's process in DriverContext[1]) and mini
 * packets from NtSetIoCompletion. Simplified: the concurrency value is
 * kept but not enforced (NT wakes waiters LIFO and holds back more than
 * NumberOfConcurrentThreads running; mdlos wakes every waiter and the
 * first to take the lock takes the packets - one CPU); a waiter that wakes
 * to find the packets gone waits again for its whole timeout.
 *
 * Lifetime: an IRP in flight is on its thread's list as any other (thread
 * exit cancels and waits for it); it leaves that list when it becomes a
 * packet, holding its file object, which holds the port. So the port
 * cannot go before its packets, and its last handle's close drains them:
 * each IRP finished without the requester's memory (nothing is written to
 * ring 3: whoever would read it has closed the port), mini packets freed,
 * and any completion after that finished at once the same way. A
 * thread waiting on the port when the last handle goes wakes with
 * STATUS_ABANDONED_WAIT_0, as on NT since Vista.
 */
#include "io/iop.h"
#include "kernel/ob/obp.h"
#include "kernel/ps/ps.h"
#include "kernel/ntsyscall.h"
#include "kernel/ktest/ktest.h"

#define TAG_PORT_PACKET POOL_TAG('I', 'o', 'C', 'p')
/* What follows a packet's list link says what it is: an IRP's
 * Tail.Overlay.CurrentStackLocation (unused once the IRP completed; NT
 * overlays its PacketType there too) or a mini packet's Type. */
#define PACKET_IRP  1
#define PACKET_MINI 2
/* Mini packets one port may hold: each is pool ring 3 allocates by
 * calling NtSetIoCompletion, which NT charges to the process's quota;
 * mdlos has no quotas, so it bounds them. */
#define PORT_MINI_MAX 4096

typedef struct _IOP_COMPLETION_PORT {
    KEVENT Ready;                  /* first: the dispatcher header waits use */
    KSPIN_LOCK Lock;               /* everything below */
    LIST_ENTRY Packets;            /* FIFO */
    ULONG Queued;
    ULONG MiniPackets;
    ULONG Concurrency;             /* NtCreateIoCompletion's, not enforced */
    BOOLEAN Closed;                /* its last handle is gone: nothing more is queued */
} IOP_COMPLETION_PORT;

typedef struct {
    LIST_ENTRY Link;
    ULONG_PTR Type;                /* PACKET_MINI */
    PVOID Key, ApcContext;
    IO_STATUS_BLOCK IoStatus;
} MINI_PACKET;

static POBJECT_TYPE port_type;
static KSPIN_LOCK association_lock;
volatile LONG IopCompletionPacketsQueued;   /* all ports: the leak check's counter */

static ULONG_PTR packet_type(PLIST_ENTRY e)
{
    return *(ULONG_PTR *)(e + 1);
}

static PIRP packet_irp(PLIST_ENTRY e)
{
    return CONTAINING_RECORD(e, IRP, Tail.Overlay.ListEntry);
}

/* PORT's lock held. */
static void insert_locked(IOP_COMPLETION_PORT *p, PLIST_ENTRY e, BOOLEAN head)
{
    if (head)
        InsertHeadList(&p->Packets, e);
    else
        InsertTailList(&p->Packets, e);
    p->Queued++;
    __atomic_add_fetch(&IopCompletionPacketsQueued, 1, __ATOMIC_RELAXED);
    /* Under the lock, so a remover that found the list empty (and cleared
     * the event under the same lock) cannot miss it, and the port cannot
     * go away between the insert and the set. */
    KeSetEvent(&p->Ready, 0, FALSE);
}

/* A removed packet's end. USER_CONTEXT: the remover is the requester's
 * process and its memory may be written (the status block). */
static void finish_packet(IOP_COMPLETION_PORT *p, PLIST_ENTRY e, BOOLEAN user_context)
{
    if (packet_type(e) == PACKET_MINI) {
        __atomic_sub_fetch(&p->MiniPackets, 1, __ATOMIC_RELAXED);
        ExFreePoolWithTag(CONTAINING_RECORD(e, MINI_PACKET, Link), TAG_PORT_PACKET);
        return;
    }
    PIRP irp = packet_irp(e);
    PEPROCESS requester = irp->Tail.Overlay.DriverContext[1];
    BOOLEAN mine = user_context && requester && requester == PsGetCurrentThreadProcess();
    (void)IopFinishRequest(irp, mine);
    if (requester)
        ObDereferenceObject(requester);   /* IopQueueCompletionIrp's */
}

static void describe(PLIST_ENTRY e, FILE_IO_COMPLETION_INFORMATION_T *out)
{
    if (packet_type(e) == PACKET_MINI) {
        MINI_PACKET *m = CONTAINING_RECORD(e, MINI_PACKET, Link);
        out->KeyContext = m->Key;
        out->ApcContext = m->ApcContext;
        out->IoStatusBlock.Status = m->IoStatus.Status;
        out->IoStatusBlock.Information = m->IoStatus.Information;
        return;
    }
    PIRP irp = packet_irp(e);
    out->KeyContext = irp->Tail.Overlay.DriverContext[0];
    out->ApcContext = irp->Overlay.AsynchronousParameters.UserApcContext;
    out->IoStatusBlock.Status = irp->IoStatus.Status;
    out->IoStatusBlock.Information = irp->IoStatus.Information;
}

void IopQueueCompletionIrp(PIRP irp)
{
    PFILE_OBJECT fo = irp->Tail.Overlay.OriginalFileObject;
    IOP_COMPLETION_PORT *p = fo->CompletionPort;
    PKTHREAD t = IopIrpThread(irp);
    /* The packet keeps its requester's process object: the remover
     * compares it with its own to decide whether the status block and a
     * buffered read's bytes may be written, and a named port can outlive
     * the requester (another process opened it, OBJ_OPENIF). Without the
     * reference, a new process created at the dead one's address and
     * holding the port would have the dead process's status blocks
     * written into its own memory. The requester is alive here (the IRP
     * is still on its thread's list), so this is never the last
     * reference, at any IRQL. */
    PEPROCESS requester = t ? t->Process : NULL;
    if (requester)
        ObReferenceObject(requester);
    irp->Tail.Overlay.DriverContext[0] = fo->CompletionKey;
    irp->Tail.Overlay.DriverContext[1] = requester;
    irp->Tail.Overlay.CurrentStackLocation = (PIO_STACK_LOCATION)PACKET_IRP;
    /* Off the thread's list first: once on the port, another thread may
     * remove and free it. From here the IRP lives as long as the port
     * holds it, whatever its thread does. */
    IopDequeueThreadIrp(irp);
    KIRQL old;
    KeAcquireSpinLock(&p->Lock, &old);
    if (!p->Closed) {
        insert_locked(p, &irp->Tail.Overlay.ListEntry, FALSE);
        KeReleaseSpinLock(&p->Lock, old);
        return;
    }
    KeReleaseSpinLock(&p->Lock, old);
    (void)IopFinishRequest(irp, FALSE);   /* nobody can remove it: done now, nothing written to ring 3 */
    if (requester)
        ObDereferenceObject(requester);   /* not the last: see above */
}

void IopReleaseCompletionPort(PFILE_OBJECT fo)
{
    if (fo->CompletionPort)
        ObDereferenceObject(fo->CompletionPort);
    fo->CompletionPort = NULL;
}

/* Take every packet off P (closing it when CLOSE) and finish them
 * without any requester's memory. PASSIVE_LEVEL. */
static void drain(IOP_COMPLETION_PORT *p, BOOLEAN close)
{
    LIST_ENTRY all;
    InitializeListHead(&all);
    KIRQL old;
    KeAcquireSpinLock(&p->Lock, &old);
    if (close) {
        p->Closed = TRUE;
        KeSetEvent(&p->Ready, 0, FALSE);   /* waiters wake to STATUS_ABANDONED_WAIT_0 */
    }
    while (!IsListEmpty(&p->Packets)) {
        InsertTailList(&all, RemoveHeadList(&p->Packets));
        __atomic_sub_fetch(&IopCompletionPacketsQueued, 1, __ATOMIC_RELAXED);
    }
    p->Queued = 0;
    KeReleaseSpinLock(&p->Lock, old);
    while (!IsListEmpty(&all))
        finish_packet(p, RemoveHeadList(&all), FALSE);
}

static void port_close(struct _EPROCESS *proc, PVOID object, ULONG handles_left)
{
    UNREFERENCED_PARAMETER(proc);
    if (!handles_left)
        drain(object, TRUE);
}

static void port_delete(PVOID object)
{
    drain(object, TRUE);   /* a port that never had a handle; otherwise already empty */
}

/* Up to MAX packets off P into GOT, waiting as NtRemoveIoCompletion does.
 * STATUS_SUCCESS with *N > 0, or the wait's status (STATUS_TIMEOUT, the
 * thread's end) with nothing taken. */
static NTSTATUS take(IOP_COMPLETION_PORT *p, PLARGE_INTEGER timeout, PLIST_ENTRY *got, ULONG max, ULONG *n)
{
    *n = 0;
    for (;;) {
        KIRQL old;
        KeAcquireSpinLock(&p->Lock, &old);
        ULONG k = 0;
        while (k < max && !IsListEmpty(&p->Packets)) {
            got[k++] = RemoveHeadList(&p->Packets);
            p->Queued--;
            __atomic_sub_fetch(&IopCompletionPacketsQueued, 1, __ATOMIC_RELAXED);
        }
        BOOLEAN closed = p->Closed;
        if (IsListEmpty(&p->Packets) && !closed)
            KeClearEvent(&p->Ready);
        KeReleaseSpinLock(&p->Lock, old);
        if (k) {
            *n = k;
            return STATUS_SUCCESS;
        }
        if (closed)
            return STATUS_ABANDONED_WAIT_0;
        NTSTATUS w = KeWaitForSingleObject(&p->Ready, UserRequest, UserMode, FALSE, timeout);
        if (w != STATUS_WAIT_0)
            return w;
    }
}

/* The copy-out failed: the packets go back at the head, in order, so
 * nothing is lost (or are finished, if the port closed meanwhile). */
static void put_back(IOP_COMPLETION_PORT *p, PLIST_ENTRY *got, ULONG n)
{
    KIRQL old;
    KeAcquireSpinLock(&p->Lock, &old);
    if (!p->Closed) {
        for (ULONG i = n; i-- > 0;)
            insert_locked(p, got[i], TRUE);
        KeReleaseSpinLock(&p->Lock, old);
        return;
    }
    KeReleaseSpinLock(&p->Lock, old);
    for (ULONG i = 0; i < n; i++)
        finish_packet(p, got[i], FALSE);
}

static NTSTATUS reference_port(ULONG64 h, ACCESS_MASK need, IOP_COMPLETION_PORT **p)
{
    return ObReferenceObjectByHandle(h, need, port_type, UserMode, (PVOID *)p, NULL);
}

static NTSTATUS capture_timeout(ULONG64 utimeout, LARGE_INTEGER *t, PLARGE_INTEGER *out)
{
    *out = NULL;
    if (!utimeout)
        return STATUS_SUCCESS;   /* NULL: wait for ever */
    NTSTATUS s = ExCaptureUser(t, (const void *)utimeout, sizeof(*t), 8);
    if (NT_SUCCESS(s))
        *out = t;
    return s;
}

/* ---- the services ---- */

static NTSTATUS NtCreateIoCompletion(ULONG64 uhandle, ULONG64 access, ULONG64 uattr, ULONG64 concurrency,
                                     ULONG64 a5, ULONG64 a6)
{
    (void)a5, (void)a6;
    OBJECT_ATTRIBUTES oa;
    ANSI_STRING name;
    CHAR buf[OB_MAX_NAME];
    NTSTATUS s;
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)uhandle, sizeof(HANDLE), sizeof(HANDLE), 8)))
        return s;
    ULONG attributes;
    if (!NT_SUCCESS(s = ObCaptureCreateAttributes(uattr, &oa, &name, buf, &attributes)))
        return s;
    IOP_COMPLETION_PORT *p;
    if (!NT_SUCCESS(s = ObCreateObject(port_type, &name, sizeof(*p), (PVOID *)&p)))
        return s;
    memset(p, 0, sizeof(*p));
    KeInitializeEvent(&p->Ready, NotificationEvent, FALSE);
    KeInitializeSpinLock(&p->Lock);
    InitializeListHead(&p->Packets);
    p->Concurrency = (ULONG)concurrency;   /* NT: 0 means the number of CPUs */
    HANDLE h;
    if (!NT_SUCCESS(s = ObpInsertObjectEx(p, (ACCESS_MASK)access, &h, attributes)))
        return s;
    return ObReturnNewHandle(uhandle, h, s);   /* STATUS_OBJECT_NAME_EXISTS under OBJ_OPENIF */
}

/* Only FileCompletionInformation: the one class mdlos's files have. NT's
 * rules for it: the file must be asynchronous (a synchronous file's
 * requests are waited for by the I/O manager, never queued), and the
 * association is made once for the file object's life. */
static NTSTATUS NtSetInformationFile(ULONG64 fh, ULONG64 uiosb, ULONG64 uinfo, ULONG64 length, ULONG64 cls,
                                     ULONG64 a6)
{
    (void)a6;
    NTSTATUS s = ExProbeUserOutput((void *)uiosb, sizeof(IO_STATUS_BLOCK), sizeof(IO_STATUS_BLOCK), 8);
    if (!NT_SUCCESS(s))
        return s;
    if ((ULONG)cls != FileCompletionInformation)
        return STATUS_INVALID_INFO_CLASS;
    if ((ULONG)length < sizeof(FILE_COMPLETION_INFORMATION_T))
        return STATUS_INFO_LENGTH_MISMATCH;
    FILE_COMPLETION_INFORMATION_T info;
    if (!NT_SUCCESS(s = ExCaptureUser(&info, (const void *)uinfo, sizeof(info), 8)))
        return s;
    PFILE_OBJECT fo;
    if (!NT_SUCCESS(s = ObReferenceObjectByHandle(fh, 0, IoFileObjectType, UserMode, (PVOID *)&fo, NULL)))
        return s;
    IOP_COMPLETION_PORT *p;
    if (!NT_SUCCESS(s = reference_port(info.Port, IO_COMPLETION_MODIFY_STATE, &p))) {
        ObDereferenceObject(fo);
        return s;
    }
    s = STATUS_INVALID_PARAMETER;
    if (!(fo->Flags & FO_SYNCHRONOUS_IO)) {
        KIRQL old;
        KeAcquireSpinLock(&association_lock, &old);
        if (!fo->CompletionPort) {
            fo->CompletionKey = info.Key;
            /* Release: a request that sees the port sees its key. The
             * file keeps the by-handle reference. */
            __atomic_store_n(&fo->CompletionPort, p, __ATOMIC_RELEASE);
            p = NULL;
            s = STATUS_SUCCESS;
        }
        KeReleaseSpinLock(&association_lock, old);
    }
    if (p)
        ObDereferenceObject(p);
    ObDereferenceObject(fo);
    if (NT_SUCCESS(s)) {
        IO_STATUS_BLOCK iosb = { { STATUS_SUCCESS }, 0 };
        (void)ExReturnToUser((void *)uiosb, &iosb, sizeof(iosb), 8);
    }
    return s;
}

/* The common part of both removes: up to MAX packets described into
 * INFO (kernel memory), copied out by COPY_OUT; only when that worked
 * are they finished (each IRP's stage 2, here, in the remover's context).
 * A copy-out that faults puts them back: a bad pointer loses nothing. */
typedef NTSTATUS (*COPY_OUT)(const FILE_IO_COMPLETION_INFORMATION_T *Info, ULONG N, const ULONG64 *Args);

static NTSTATUS remove_common(ULONG64 port, ULONG max, ULONG64 utimeout, COPY_OUT copy, const ULONG64 *args)
{
    LARGE_INTEGER t;
    PLARGE_INTEGER timeout;
    NTSTATUS s = capture_timeout(utimeout, &t, &timeout);
    if (!NT_SUCCESS(s))
        return s;
    IOP_COMPLETION_PORT *p;
    if (!NT_SUCCESS(s = reference_port(port, IO_COMPLETION_MODIFY_STATE, &p)))
        return s;
    PLIST_ENTRY got[IO_COMPLETION_REMOVE_MAX];
    FILE_IO_COMPLETION_INFORMATION_T info[IO_COMPLETION_REMOVE_MAX];
    ULONG n;
    s = take(p, timeout, got, max, &n);
    if (n) {
        for (ULONG i = 0; i < n; i++)
            describe(got[i], &info[i]);
        s = copy(info, n, args);
        if (NT_SUCCESS(s)) {
            for (ULONG i = 0; i < n; i++)
                finish_packet(p, got[i], TRUE);
        } else {
            put_back(p, got, n);
        }
    }
    ObDereferenceObject(p);
    return s;
}

static NTSTATUS copy_one(const FILE_IO_COMPLETION_INFORMATION_T *info, ULONG n, const ULONG64 *a)
{
    (void)n;
    NTSTATUS s;
    if (!NT_SUCCESS(s = ExReturnToUser((void *)a[1], &info->KeyContext, sizeof(PVOID), 8)) ||
        !NT_SUCCESS(s = ExReturnToUser((void *)a[2], &info->ApcContext, sizeof(PVOID), 8)) ||
        !NT_SUCCESS(s = ExReturnToUser((void *)a[3], &info->IoStatusBlock, sizeof(IO_STATUS_BLOCK), 8)))
        return s;
    return STATUS_SUCCESS;
}

static NTSTATUS NtRemoveIoCompletion(ULONG64 port, ULONG64 ukey, ULONG64 uapc, ULONG64 uiosb, ULONG64 utimeout,
                                     ULONG64 a6)
{
    (void)a6;
    /* Every output checked before anything is taken. */
    NTSTATUS s;
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)ukey, sizeof(PVOID), sizeof(PVOID), 8)) ||
        !NT_SUCCESS(s = ExProbeUserOutput((void *)uapc, sizeof(PVOID), sizeof(PVOID), 8)) ||
        !NT_SUCCESS(s = ExProbeUserOutput((void *)uiosb, sizeof(IO_STATUS_BLOCK), sizeof(IO_STATUS_BLOCK), 8)))
        return s;
    const ULONG64 args[4] = { port, ukey, uapc, uiosb };
    return remove_common(port, 1, utimeout, copy_one, args);
}

static NTSTATUS copy_many(const FILE_IO_COMPLETION_INFORMATION_T *info, ULONG n, const ULONG64 *a)
{
    NTSTATUS s = ExReturnToUser((void *)a[1], info, (SIZE_T)n * sizeof(*info), 8);
    if (!NT_SUCCESS(s))
        return s;
    return ExReturnToUser((void *)a[3], &n, sizeof(n), 4);
}

/* COUNT is ring 3's: 0 is refused, and one call takes at most
 * IO_COMPLETION_REMOVE_MAX whatever it says (the rest stay queued for the
 * next call). The whole array of COUNT entries must be user space. */
static NTSTATUS NtRemoveIoCompletionEx(ULONG64 port, ULONG64 uinfo, ULONG64 count, ULONG64 uremoved,
                                       ULONG64 utimeout, ULONG64 alertable)
{
    (void)alertable;   /* mdlos has no user APCs to be alerted for */
    ULONG c = (ULONG)count;
    if (c == 0)
        return STATUS_INVALID_PARAMETER;
    NTSTATUS s;
    ULONG max = c < IO_COMPLETION_REMOVE_MAX ? c : IO_COMPLETION_REMOVE_MAX;
    if (!NT_SUCCESS(s = ExProbeUserOutput((void *)uinfo, (SIZE_T)c * sizeof(FILE_IO_COMPLETION_INFORMATION_T),
                                          (SIZE_T)max * sizeof(FILE_IO_COMPLETION_INFORMATION_T), 8)) ||
        !NT_SUCCESS(s = ExProbeUserOutput((void *)uremoved, sizeof(ULONG), sizeof(ULONG), 4)))
        return s;
    const ULONG64 args[4] = { port, uinfo, count, uremoved };
    s = remove_common(port, max, utimeout, copy_many, args);
    if (s == STATUS_TIMEOUT) {
        ULONG zero = 0;
        (void)ExReturnToUser((void *)uremoved, &zero, sizeof(zero), 4);
    }
    return s;
}

static NTSTATUS NtSetIoCompletion(ULONG64 port, ULONG64 key, ULONG64 apc, ULONG64 status, ULONG64 information,
                                  ULONG64 a6)
{
    (void)a6;
    IOP_COMPLETION_PORT *p;
    NTSTATUS s = reference_port(port, IO_COMPLETION_MODIFY_STATE, &p);
    if (!NT_SUCCESS(s))
        return s;
    if (__atomic_add_fetch(&p->MiniPackets, 1, __ATOMIC_RELAXED) > PORT_MINI_MAX) {
        __atomic_sub_fetch(&p->MiniPackets, 1, __ATOMIC_RELAXED);
        ObDereferenceObject(p);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    MINI_PACKET *m = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*m), TAG_PORT_PACKET);
    if (!m) {
        __atomic_sub_fetch(&p->MiniPackets, 1, __ATOMIC_RELAXED);
        ObDereferenceObject(p);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    m->Type = PACKET_MINI;
    m->Key = (PVOID)key;
    m->ApcContext = (PVOID)apc;
    m->IoStatus.Status = (NTSTATUS)(ULONG)status;
    m->IoStatus.Information = (ULONG_PTR)information;
    KIRQL old;
    KeAcquireSpinLock(&p->Lock, &old);
    BOOLEAN closed = p->Closed;
    if (!closed)
        insert_locked(p, &m->Link, FALSE);
    KeReleaseSpinLock(&p->Lock, old);
    if (closed)
        finish_packet(p, &m->Link, FALSE);   /* the last handle went meanwhile: nobody would remove it */
    ObDereferenceObject(p);
    return STATUS_SUCCESS;
}

static int port_counters(KT_COUNTER *out, int max)
{
    if (max < 1)
        return 0;
    out[0] = (KT_COUNTER){ "completion packets queued", (uint64_t)IopCompletionPacketsQueued };
    return 1;
}

void IopInitializeCompletionPorts(void)
{
    OBJECT_TYPE_INITIALIZER init = {
        .GenericMapping = { STANDARD_RIGHTS_READ | IO_COMPLETION_QUERY_STATE,
                            STANDARD_RIGHTS_WRITE | IO_COMPLETION_MODIFY_STATE, STANDARD_RIGHTS_EXECUTE | SYNCHRONIZE,
                            IO_COMPLETION_ALL_ACCESS },
        .ValidAccessMask = IO_COMPLETION_ALL_ACCESS,
        .DispatcherHeaderOffset = offsetof(IOP_COMPLETION_PORT, Ready),
        .CloseProcedure = port_close,
        .DeleteProcedure = port_delete,
    };
    NTSTATUS s = ObCreateObjectType("IoCompletion", &init, &port_type);
    ASSERT(NT_SUCCESS(s));
    KeInitializeSpinLock(&association_lock);
    KtRegisterCounters(port_counters);
    KiRegisterService(SYS_NtCreateIoCompletion, NtCreateIoCompletion);
    KiRegisterService(SYS_NtSetInformationFile, NtSetInformationFile);
    KiRegisterService(SYS_NtRemoveIoCompletion, NtRemoveIoCompletion);
    KiRegisterService(SYS_NtRemoveIoCompletionEx, NtRemoveIoCompletionEx);
    KiRegisterService(SYS_NtSetIoCompletion, NtSetIoCompletion);
}
