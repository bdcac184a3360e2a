/*
 * vblk_queue.c: the virtio-blk driver's split virtqueue (virtio 1.x 2.7):
 * handing IRPs to the device as chains of descriptors, the notify, the
 * interrupt, and the DPC that walks the used ring and completes the IRPs.
 *
 * A request's path: VbQueue (from dispatch) marks the IRP pending and puts
 * it on the disk's waiting queue, cancelable; vb_start takes the first
 * waiting IRP's next piece (a sub-request: at most VB_MAX_TRANSFER bytes
 * and SegLimit scatter/gather elements) while the ring has room, reserves its descriptors
 * and its head, and asks the DMA adapter for a scatter/gather list of that
 * piece of the IRP's MDL (the caller's own locked frames: a 64-bit master,
 * nothing bounces). vb_sg_ready writes the chain - header, the list's
 * elements, status byte - either straight into the ring or, with
 * VIRTIO_F_INDIRECT_DESC, into the head's indirect table with a single ring
 * descriptor pointing at it, and publishes the head in the available ring.
 * Every piece of an IRP goes out at once, and the notify register is
 * written once at the end of the batch. The device's interrupt (an MSI-X
 * message, else the shared INTx line with the ISR status register read to
 * acknowledge it) only queues the DPC; the DPC walks the used ring, puts
 * each piece's list, frees its descriptors, and completes the IRP when its
 * last piece is back, with the status byte translated.
 *
 * Locking: the disk's spin lock (at DISPATCH_LEVEL) covers the descriptor
 * free list, the rings, the sub-request table and the waiting queue. It is
 * never held across GetScatterGatherList / PutScatterGatherList: an
 * execution routine (this driver's vb_sg_ready, which takes the lock) may
 * run inside either. The ISR takes no lock: it touches only the ISR
 * register, a time stamp and the DPC.
 */
#include "drivers/virtio/vblk.h"
#include "kernel/hal/x86.h"

volatile LONG VblkReqsOutstanding;
PFILE_OBJECT volatile VblkLabFile;
PDMA_ADAPTER volatile VblkLabDma;

/* Every IRP takes a VB_REQ: from a lookaside list, as NT's I/O manager
 * keeps its IRPs and small MDLs, rather than a pool search and free per
 * request. */
static NPAGED_LOOKASIDE_LIST req_lookaside, member_lookaside;
static BOOLEAN req_lookaside_live;

void VbInitializeRequests(void)
{
    if (!req_lookaside_live) {
        ExInitializeNPagedLookasideList(&req_lookaside, NULL, NULL, 0, sizeof(VB_REQ), VB_TAG, 64);
        ExInitializeNPagedLookasideList(&member_lookaside, NULL, NULL, 0, sizeof(VB_MEMBER), VB_TAG, 64);
    }
    req_lookaside_live = TRUE;
}

void VbDeleteRequests(void)
{
    if (req_lookaside_live) {
        ExDeleteNPagedLookasideList(&req_lookaside);
        ExDeleteNPagedLookasideList(&member_lookaside);
    }
    req_lookaside_live = FALSE;
}

static inline volatile ULONG *used_elem(VB_DISK *x, ULONG i)
{
    return (volatile ULONG *)(x->Used + 2) + 2 * i;
}

static USHORT desc_alloc(VB_DISK *x)
{
    USHORT d = x->FreeHead;
    x->FreeHead = x->Desc[d].Next;
    x->FreeCount--;
    return d;
}

/* The ring descriptors of head's chain back on the free list (under the
 * lock): one when it went indirect, else the NEXT links from the head. */
static USHORT desc_free_chain(VB_DISK *x, USHORT head, BOOLEAN indirect)
{
    USHORT d = head, n = 1;
    if (!indirect) {
        while (x->Desc[d].Flags & VQ_DESC_F_NEXT) {
            d = x->Desc[d].Next;
            n++;
        }
    }
    x->Desc[d].Flags = 0;
    x->Desc[d].Next = x->FreeHead;
    x->FreeHead = head;
    x->FreeCount += n;
    return n;
}

/* Tell the device there is work (under the lock). Without EVENT_IDX the
 * device may say, in used.flags, that it is already walking the ring and
 * needs no notify (2.7.10): each notify is an MMIO write, under TCG a trip
 * out of the translated code into QEMU's device model. The full barrier
 * orders the available index (stored before) against the flags load. */
__attribute__((noinline)) static void vb_notify(VB_DISK *x)   /* a breakpoint target (docs/debugging.md) */
{
    x->NotifyPending = FALSE;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (x->Used[0] & VQ_USED_F_NO_NOTIFY) {
        x->Stats.NotifiesSuppressed++;
        return;
    }
    x->TNotifyStart = rdtsc();
    *x->Notify = 0;   /* queue 0's index */
    x->TNotifyEnd = rdtsc();
    x->Stats.Notifies++;
}

static void record_last(VB_DISK *x, VB_SUB *s, PSCATTER_GATHER_LIST sg, USHORT head)
{
    PMDL m = s->Req->Irp->MdlAddress;
    ULONG n = sg->NumberOfElements;
    x->Last.Irp = s->Req->Irp;
    x->Last.Mdl = m;
    x->Last.Chunk = s->Chunk;
    x->Last.Elements = n;
    x->Last.Head = head;
    x->Last.RingDescriptors = s->Descriptors;
    x->Last.Indirect = s->Indirect;
    ULONG pages = (ULONG)ADDRESS_AND_SIZE_TO_SPAN_PAGES(MmGetMdlVirtualAddress(m), MmGetMdlByteCount(m));
    x->Last.MdlByteOffset = m->ByteOffset;
    x->Last.MdlPages = pages < VB_LAST_ELEMENTS ? pages : VB_LAST_ELEMENTS;
    for (ULONG i = 0; i < x->Last.MdlPages; i++)
        x->Last.MdlPfn[i] = MmGetMdlPfnArray(m)[i];
    for (ULONG i = 0; i < n && i < VB_LAST_ELEMENTS; i++) {
        x->Last.Address[i] = (ULONG64)sg->Elements[i].Address.QuadPart;
        x->Last.Length[i] = sg->Elements[i].Length;
    }
}

/* The execution routine (DISPATCH_LEVEL): the list is there, write the
 * chain. CTX is the sub-request, whose head vb_start allocated. */
static void vb_sg_ready(PDEVICE_OBJECT dev, PIRP irp, PSCATTER_GATHER_LIST sg, PVOID ctx)
{
    UNREFERENCED_PARAMETER(dev);
    UNREFERENCED_PARAMETER(irp);
    VB_SUB *s = ctx;
    VB_REQ *r = s->Req;
    VB_DISK *x = r->Disk;
    USHORT head = (USHORT)(s - x->Subs);
    KeAcquireSpinLockAtDpcLevel(&x->Lock);
    s->Sg = sg;
    ULONG n = sg ? sg->NumberOfElements : 0;
    VB_SLOT *slot = &x->Slots[head];
    slot->Type = r->Type;
    slot->Reserved = 0;
    slot->Sector = (ULONG64)(r->Offset + s->Offset) / 512;   /* always 512-byte units (5.2.6) */
    slot->Status = 0xFF;
    ULONG64 hdr_pa = x->SlotsPa + (ULONG64)head * sizeof(VB_SLOT);
    /* A read: the device writes the caller's frames. */
    USHORT data_flags = r->Type == VBLK_T_IN ? VQ_DESC_F_WRITE : 0;
    if (s->Indirect) {
        /* The whole chain in the head's table; the ring gets one
         * descriptor. Inside a table, Next indexes the table (2.7.5.3). */
        VQ_DESC *t = x->Ind + (ULONG)head * VB_IND_ENTRIES;
        t[0].Addr = hdr_pa;
        t[0].Len = 16;
        t[0].Flags = VQ_DESC_F_NEXT;   /* the device reads the header */
        t[0].Next = 1;
        for (ULONG i = 0; i < n; i++) {
            t[i + 1].Addr = (ULONG64)sg->Elements[i].Address.QuadPart;
            t[i + 1].Len = sg->Elements[i].Length;
            t[i + 1].Flags = data_flags | VQ_DESC_F_NEXT;
            t[i + 1].Next = (USHORT)(i + 2);
        }
        /* Merged IRPs: their elements follow, in sector order - to the
         * device one request of the sectors after the header's. */
        for (VB_MEMBER *m = s->Members; m; m = m->Next) {
            ASSERT(m->Sg && "vblk merges only requests whose lists the adapter built at once");
            for (ULONG i = 0; i < m->Sg->NumberOfElements; i++, n++) {
                ASSERT(n + 2 < VB_IND_ENTRIES && "a merged request fits its indirect table");
                t[n + 1].Addr = (ULONG64)m->Sg->Elements[i].Address.QuadPart;
                t[n + 1].Len = m->Sg->Elements[i].Length;
                t[n + 1].Flags = data_flags | VQ_DESC_F_NEXT;
                t[n + 1].Next = (USHORT)(n + 2);
            }
        }
        t[n + 1].Addr = hdr_pa + offsetof(VB_SLOT, Status);
        t[n + 1].Len = 1;
        t[n + 1].Flags = VQ_DESC_F_WRITE;
        t[n + 1].Next = 0;
        x->Desc[head].Addr = (ULONG64)x->IndPa.QuadPart + (ULONG64)head * VB_IND_ENTRIES * sizeof(VQ_DESC);
        x->Desc[head].Len = (n + 2) * (ULONG)sizeof(VQ_DESC);
        x->Desc[head].Flags = VQ_DESC_F_INDIRECT;   /* never with NEXT */
        s->Descriptors = 1;
        x->Stats.Indirect++;
    } else {
        USHORT d = head;
        x->Desc[d].Addr = hdr_pa;
        x->Desc[d].Len = 16;
        x->Desc[d].Flags = 0;
        for (ULONG i = 0; i < n; i++) {
            USHORT e = desc_alloc(x);
            x->Desc[d].Flags |= VQ_DESC_F_NEXT;
            x->Desc[d].Next = e;
            x->Desc[e].Addr = (ULONG64)sg->Elements[i].Address.QuadPart;
            x->Desc[e].Len = sg->Elements[i].Length;
            x->Desc[e].Flags = data_flags;
            d = e;
        }
        USHORT st = desc_alloc(x);
        x->Desc[d].Flags |= VQ_DESC_F_NEXT;
        x->Desc[d].Next = st;
        x->Desc[st].Addr = hdr_pa + offsetof(VB_SLOT, Status);
        x->Desc[st].Len = 1;
        x->Desc[st].Flags = VQ_DESC_F_WRITE;
        s->Descriptors = (USHORT)(n + 2);
    }
    /* Reserved was an upper bound (chunk_of's count; the list may merge
     * more); give the rest back. A list with more elements than that
     * would overrun the table or the reservation. */
    ASSERT(n + 2 <= (s->Indirect ? VB_IND_ENTRIES : s->Reserved));
    x->Unreserved += (USHORT)(s->Reserved - s->Descriptors);
    if (sg)
        record_last(x, s, sg, head);
    /* Publish: the ring entry, then (release) the index the device polls. */
    x->Avail[2 + x->AvailIdx % x->QueueSize] = head;
    x->AvailIdx++;
    __atomic_store_n(&x->Avail[1], x->AvailIdx, __ATOMIC_RELEASE);
    s->OnDevice = TRUE;
    if (++x->Stats.InFlight > x->Stats.MaxInFlight)
        x->Stats.MaxInFlight = x->Stats.InFlight;
    x->Stats.SubRequests++;
    /* Inside vb_start's loop the notify waits for the end of the batch;
     * a list that was late (the adapter queued it for map registers)
     * notifies itself. */
    if (x->Starters)
        x->NotifyPending = TRUE;
    else
        vb_notify(x);
    KeReleaseSpinLockFromDpcLevel(&x->Lock);
}

/* The next sub-request's length, and *ELEMENTS an upper bound on its
 * scatter/gather elements: at most PieceBytes, and at most SegLimit
 * elements from where it starts. The elements are counted the way the
 * disk's adapter builds them: a frame that continues the last one extends
 * its element (io/dma.c merges physically contiguous frames; the adapter
 * has no segment length or boundary limit), so a contiguous 1 MiB buffer
 * is one element and goes as one request, where a count by pages split it
 * in two. The DMA lab's adapter is a student's and may merge nothing: its
 * requests count one element a page. Walks the MDL chain's PFN arrays, one
 * read per page - what building the list costs anyway. */
static ULONG chunk_of(VB_DISK *x, VB_REQ *r, ULONG *elements)
{
    *elements = 0;
    if (r->Type != VBLK_T_IN && r->Type != VBLK_T_OUT)
        return 0;
    if (r->Issued == 0 && r->FirstChunk) {   /* dispatch measured the first piece already */
        *elements = r->FirstElements;
        return r->FirstChunk;
    }
    ULONG left = r->Length - r->Issued;
    if (left > x->PieceBytes)
        left = x->PieceBytes;
    BOOLEAN merges = r->Dma == x->Dma;
    ULONG64 off = r->Issued;
    ULONG bytes = 0, n = 0;
    PFN_NUMBER last = 0;
    BOOLEAN at_page_end = FALSE;   /* the last piece ended where its frame did */
    PMDL m = r->Irp->MdlAddress;
    while (m && off >= m->ByteCount) {
        off -= m->ByteCount;
        m = m->Next;
    }
    for (; m && bytes < left; m = m->Next, off = 0) {
        PPFN_NUMBER pfns = MmGetMdlPfnArray(m);
        ULONG64 pos = m->ByteOffset + off, end = (ULONG64)m->ByteOffset + m->ByteCount;
        if (end - pos > left - bytes)
            end = pos + (left - bytes);
        ULONG64 i = pos >> PAGE_SHIFT, last_page = (end - 1) >> PAGE_SHIFT, j = i + 1;
        /* The first page continues the element only from its start, after
         * a piece that ended at its frame's end in the frame before. */
        if (!(merges && at_page_end && (pos & (PAGE_SIZE - 1)) == 0 && pfns[i] == last + 1)) {
            if (n == x->SegLimit)
                goto full;
            n++;
        }
        if (merges) {
            /* The pages after it each start a frame: a new element unless
             * the frame follows the last (one compare a page). */
            for (; j <= last_page; j++)
                if (pfns[j] != pfns[j - 1] + 1) {
                    if (n == x->SegLimit)
                        break;
                    n++;
                }
        } else {
            ULONG64 room = x->SegLimit - n;
            j = last_page - i > room ? i + 1 + room : last_page + 1;
            n += (ULONG)(j - i - 1);
        }
        ULONG64 stop = j << PAGE_SHIFT;
        if (stop > end)
            stop = end;
        bytes += (ULONG)(stop - pos);
        last = pfns[j - 1];
        at_page_end = (stop & (PAGE_SIZE - 1)) == 0;
        if (j <= last_page)
            break;   /* the element limit fell inside this MDL */
    }
full:
    *elements = n;
    /* A piece ends on a sector: the device counts in sectors. The IRP's
     * length is whole sectors (dispatch checked), so its last piece is. */
    return bytes & ~(x->SectorSize - 1);
}

/* IRP R gets no more pieces (under the lock). */
static void stop_issuing(VB_REQ *r)
{
    if (r->Queued) {
        RemoveEntryList(&r->Link);
        r->Queued = FALSE;
    }
}

static NTSTATUS translate(UCHAR st)
{
    switch (st) {
    case VBLK_S_OK:
        return STATUS_SUCCESS;
    case VBLK_S_UNSUPP:
        return STATUS_NOT_SUPPORTED;
    default:   /* IOERR, or a byte the device never wrote */
        return STATUS_DEVICE_DATA_ERROR;
    }
}

/* R's last piece is back: complete the IRP (DISPATCH_LEVEL, no lock). */
static void finish(VB_DISK *x, VB_REQ *r, ULONG64 dpc_start, BOOLEAN timed)
{
    PIRP irp = r->Irp;
    NTSTATUS s = r->Status;
    if (irp->Cancel) {
        /* IoCancelIrp came while the pieces were on the device (virtio has
         * no abort; a requester that exits waits for us): the frames must
         * still be locked now, for the device wrote them until a moment ago.
         * A partial MDL (an I/O ring's registered buffer) is locked through
         * its source, which its builder keeps locked until the IRP is done. */
        ASSERT(!irp->MdlAddress || (irp->MdlAddress->MdlFlags & (MDL_PAGES_LOCKED | MDL_PARTIAL)));
        __atomic_add_fetch(&x->Stats.CompletedCancelled, 1, __ATOMIC_RELAXED);
    }
    irp->IoStatus.Status = s;
    irp->IoStatus.Information = NT_SUCCESS(s) ? r->Length : 0;
    ExFreeToNPagedLookasideList(&req_lookaside, r);
    __atomic_sub_fetch(&VblkReqsOutstanding, 1, __ATOMIC_RELAXED);
    IoCompleteRequest(irp, NT_SUCCESS(s) ? IO_DISK_INCREMENT : IO_NO_INCREMENT);
    if (timed) {
        ULONG64 now = rdtsc();
        x->Stats.CyclesDpc += now - dpc_start;
        x->Stats.LastT[5] = now;
        x->Stats.Timed++;
    }
}

/*
 * Merging. A plugged batch (io/plug.c: NtSubmitIoRing's entries) reaches
 * vb_start all at once, and sequential requests in it are adjacent on the
 * disk: IRP R's whole transfer and the ones queued right behind it that
 * continue it - the same direction, the next sector, whole IRPs on the
 * disk's own adapter, in all at most PieceBytes and SegLimit elements -
 * go as ONE device request: one header (R's sector), R's elements, then
 * each member's, one status byte for all. Under TCG each device request
 * costs QEMU a walk of the chain, an I/O on the host and a completion,
 * whatever its size; 32 adjacent 4 KiB reads merged are one 128 KiB read.
 * Linux's block layer merges the same way (its plug around io_submit, and
 * bios queued behind a busy device); it is what its 4 KiB depth-32 figure
 * measures (docs/performance.md). A member's IRP completes with the
 * request's status, and its own list is put back first.
 */
static void merge_behind(VB_DISK *x, VB_REQ *r, VB_SUB *s, ULONG elements)
{
    if (!x->Merge || !x->Indirect || r->Dma != x->Dma || (r->Type != VBLK_T_IN && r->Type != VBLK_T_OUT))
        return;
    VB_MEMBER **tail = &s->Members;
    ULONG bytes = r->Length, elems = elements;
    LONGLONG end = r->Offset + r->Length;
    while (!IsListEmpty(&x->Waiting)) {
        VB_REQ *c = CONTAINING_RECORD(x->Waiting.Flink, VB_REQ, Link);
        if (c->Cancelled || c->Pieces || c->Type != r->Type || c->Offset != end || c->Dma != x->Dma ||
            c->FirstChunk != c->Length || bytes + c->Length > x->MergeBytes || elems + c->FirstElements > x->SegLimit)
            break;
        VB_MEMBER *m = ExAllocateFromNPagedLookasideList(&member_lookaside);
        if (!m)
            break;
        if (!IoSetCancelRoutine(c->Irp, NULL)) {   /* its cancel routine runs: it is not ours */
            c->Cancelled = TRUE;
            ExFreeToNPagedLookasideList(&member_lookaside, m);
            break;
        }
        m->Next = NULL;
        m->Req = c;
        m->Sg = NULL;
        *tail = m;
        tail = &m->Next;
        s->MemberCount++;
        c->Issued = c->Length;
        c->Outstanding = 1;
        c->Pieces = 1;
        stop_issuing(c);
        bytes += c->Length;
        elems += c->FirstElements;
        end += c->Length;
        x->Stats.Merged++;
    }
}

static void vb_member_list(PDEVICE_OBJECT dev, PIRP irp, PSCATTER_GATHER_LIST sg, PVOID ctx)
{
    UNREFERENCED_PARAMETER(dev);
    UNREFERENCED_PARAMETER(irp);
    ((VB_MEMBER *)ctx)->Sg = sg;
}

/* Each member's list, before the head's (whose execution routine writes
 * the chain). The disk's adapter is a 64-bit scatter/gather master with
 * no map registers: it builds a list and runs the routine before it
 * returns. No lock held. */
static NTSTATUS member_lists(VB_DISK *x, VB_SUB *s)
{
    for (VB_MEMBER *m = s->Members; m; m = m->Next) {
        PMDL mdl = m->Req->Irp->MdlAddress;
        NTSTATUS st = x->Dma->DmaOperations->GetScatterGatherList(x->Dma, x->Device, mdl, MmGetMdlVirtualAddress(mdl),
                                                                  m->Req->Length, vb_member_list, m,
                                                                  m->Req->Type == VBLK_T_OUT);
        if (!NT_SUCCESS(st))
            return st;
        ASSERT(m->Sg && "vblk merges only requests whose lists the adapter built at once");
    }
    return STATUS_SUCCESS;
}

/* The members of S's request are done with status ST - the device's
 * status byte translated, or the failure that kept the request from the
 * device: lists back, IRPs completed (DISPATCH_LEVEL, no lock). */
static void finish_members(VB_DISK *x, VB_SUB *s, NTSTATUS st, ULONG64 t0)
{
    VB_MEMBER *m = s->Members;
    s->Members = NULL;
    s->MemberCount = 0;
    while (m) {
        VB_MEMBER *next = m->Next;
        VB_REQ *c = m->Req;
        if (m->Sg)
            x->Dma->DmaOperations->PutScatterGatherList(x->Dma, m->Sg, c->Type == VBLK_T_OUT);
        if (!NT_SUCCESS(st))
            c->Status = st;
        c->Outstanding = 0;
        ExFreeToNPagedLookasideList(&member_lookaside, m);
        finish(x, c, t0, FALSE);
        m = next;
    }
}

/* Hand out pieces of waiting IRPs while the ring has room (DISPATCH_LEVEL),
 * then notify once for the batch. From dispatch (FROM_DPC FALSE), when
 * chains were already on the device before the batch, the notify is
 * deferred: those chains will interrupt, and the DPC that takes them
 * notifies for everything published meanwhile. Each notify is an MMIO
 * write that QEMU under TCG handles synchronously in the vCPU - the
 * largest single cost of a request (docs/status.md) - so at queue depth
 * 32 this turns one notify per request into one per completion batch; a
 * request to an idle device is notified at once (queue depth 1 loses
 * nothing). The device is never left idle with work: the notify is
 * deferred only while something it has not returned is on the ring. */
static void vb_start(VB_DISK *x, BOOLEAN from_dpc)
{
    KeAcquireSpinLockAtDpcLevel(&x->Lock);
    ULONG busy = x->Stats.InFlight;
    x->Starters++;
    for (;;) {
        /* The first one its cancel routine does not own. */
        VB_REQ *r = NULL;
        for (PLIST_ENTRY e = x->Waiting.Flink; e != &x->Waiting; e = e->Flink) {
            VB_REQ *c = CONTAINING_RECORD(e, VB_REQ, Link);
            if (!c->Cancelled) {
                r = c;
                break;
            }
        }
        if (!r)
            break;
        ULONG elements;
        ULONG chunk = chunk_of(x, r, &elements);
        ULONG need = x->Indirect ? 1 : 2 + elements;
        if (x->Unreserved < need)
            break;   /* FIFO: the first waiting IRP waits for the ring to drain */
        /* A fresh IRP waited cancelable: take its cancel routine back. NULL
         * means IoCancelIrp got there first and the routine is running or
         * about to (it needs this lock to take the IRP off the queue). */
        if (r->Pieces == 0 && !IoSetCancelRoutine(r->Irp, NULL)) {
            r->Cancelled = TRUE;
            continue;
        }
        x->Unreserved -= (USHORT)need;
        USHORT head = desc_alloc(x);
        VB_SUB *s = &x->Subs[head];
        memset(s, 0, sizeof(*s));
        s->Req = r;
        s->Offset = r->Issued;
        s->Chunk = chunk;
        s->Reserved = (USHORT)need;
        s->Indirect = x->Indirect;
        s->DevStatus = 0xFF;
        BOOLEAN whole = r->Issued == 0 && chunk == r->Length;
        r->Issued += chunk;
        r->Outstanding++;
        r->Pieces++;
        if (r->Issued >= r->Length)
            stop_issuing(r);
        if (whole)
            merge_behind(x, r, s, elements);
        KeReleaseSpinLockFromDpcLevel(&x->Lock);
        NTSTATUS st = STATUS_SUCCESS;
        if (s->Members)
            st = member_lists(x, s);
        if (!NT_SUCCESS(st)) {
            /* a member's list was refused: none of the request went out */
        } else if (!chunk) {
            vb_sg_ready(x->Device, r->Irp, NULL, s);
        } else {
            PVOID va = (PUCHAR)MmGetMdlVirtualAddress(r->Irp->MdlAddress) + s->Offset;
            st = r->Dma->DmaOperations->GetScatterGatherList(r->Dma, x->Device, r->Irp->MdlAddress, va, chunk,
                                                             vb_sg_ready, s, r->Type == VBLK_T_OUT);
        }
        if (!NT_SUCCESS(st) && s->Members)
            finish_members(x, s, st, 0);   /* they fail with it: they were to go in its chain */
        KeAcquireSpinLockAtDpcLevel(&x->Lock);
        if (!NT_SUCCESS(st)) {
            /* No list (the adapter refused the piece): nothing went to the
             * device; the head and the reservation come back. */
            x->Unreserved += (USHORT)(need - 1);
            x->Unreserved += desc_free_chain(x, head, TRUE);
            s->Req = NULL;
            if (NT_SUCCESS(r->Status))
                r->Status = st;
            stop_issuing(r);
            if (--r->Outstanding == 0) {
                KeReleaseSpinLockFromDpcLevel(&x->Lock);
                finish(x, r, 0, FALSE);
                KeAcquireSpinLockAtDpcLevel(&x->Lock);
            }
        }
    }
    if (--x->Starters == 0 && x->NotifyPending) {
        if (!from_dpc && x->DeferNotify && busy > 0)
            x->Stats.NotifiesDeferred++;
        else
            vb_notify(x);
    }
    KeReleaseSpinLockFromDpcLevel(&x->Lock);
}

/* Interrupts from the device on or off (avail.flags, VIRTQ_AVAIL_F_NO_INTERRUPT):
 * off from the ISR until the DPC has taken everything. */
static inline void vb_interrupts(VB_DISK *x, BOOLEAN on)
{
    __atomic_store_n(&x->Avail[0], on ? 0 : VQ_AVAIL_F_NO_INTERRUPT, __ATOMIC_RELAXED);
}

/* One walk of the used ring: the finished pieces onto DONE (under the lock). */
static ULONG take_used(VB_DISK *x, PLIST_ENTRY done)
{
    ULONG n = 0;
    USHORT used;
    while (x->LastUsed != (used = __atomic_load_n(&x->Used[1], __ATOMIC_ACQUIRE))) {
        while (x->LastUsed != used) {
            ULONG id = used_elem(x, x->LastUsed % x->QueueSize)[0];
            x->LastUsed++;
            if (id >= x->QueueSize || !x->Subs[id].Req || !x->Subs[id].OnDevice)
                continue;   /* a device bug: nothing of ours */
            VB_SUB *s = &x->Subs[id];
            s->OnDevice = FALSE;
            s->DevStatus = x->Slots[id].Status;
            x->Stats.InFlight--;
            InsertTailList(done, &s->Link);
            n++;
        }
    }
    return n;
}

/* The pieces on DONE: each one's list back to the adapter (no lock: a put
 * may run a queued execution routine), then its descriptors and its IRP.
 * The head stays taken (Req set) until then, so vb_start cannot reuse it. */
static void complete_done(VB_DISK *x, PLIST_ENTRY done, ULONG64 t0, ULONG64 t_isr)
{
    while (!IsListEmpty(done)) {
        VB_SUB *s = CONTAINING_RECORD(RemoveHeadList(done), VB_SUB, Link);
        VB_REQ *r = s->Req;
        if (s->Sg) {
            r->Dma->DmaOperations->PutScatterGatherList(r->Dma, s->Sg, r->Type == VBLK_T_OUT);
            s->Sg = NULL;
        }
        NTSTATUS st = translate(s->DevStatus);
        BOOLEAN merged = s->Members != NULL;
        if (merged)
            finish_members(x, s, st, t0);
        KeAcquireSpinLockAtDpcLevel(&x->Lock);
        x->Unreserved += desc_free_chain(x, (USHORT)(s - x->Subs), s->Indirect);
        s->Req = NULL;
        if (!NT_SUCCESS(st)) {
            x->Stats.Errors++;
            if (NT_SUCCESS(r->Status))
                r->Status = st;
            stop_issuing(r);   /* the rest would be wasted: the IRP has failed */
        }
        BOOLEAN last = --r->Outstanding == 0 && !r->Queued;
        /* The phases of a lone request (queue depth 1): nothing else on the
         * device, the time stamps in order - its pieces went out in one batch
         * after its dispatch, and this DPC follows the interrupt of its last. */
        BOOLEAN timed = last && !merged && x->Stats.InFlight == 0 && r->TDispatch < x->TNotifyStart &&
                        x->TNotifyEnd <= t_isr && t_isr <= t0;
        if (timed) {
            x->Stats.CyclesToNotify += x->TNotifyStart - r->TDispatch;
            x->Stats.CyclesNotify += x->TNotifyEnd - x->TNotifyStart;
            x->Stats.CyclesDevice += t_isr - x->TNotifyEnd;
            x->Stats.CyclesIsrToDpc += t0 - t_isr;
            ULONG64 stamps[5] = { r->TDispatch, x->TNotifyStart, x->TNotifyEnd, t_isr, t0 };
            memcpy(x->Stats.LastT, stamps, sizeof(stamps));
        }
        KeReleaseSpinLockFromDpcLevel(&x->Lock);
        if (last)
            finish(x, r, t0, timed);
    }
}

/* The DPC: everything the device finished, in as many passes as it takes.
 * The ISR turned the device's interrupts off (VIRTQ_AVAIL_F_NO_INTERRUPT):
 * while this runs, what the device finishes is picked up by the next pass
 * instead of costing an interrupt each - under TCG an MSI delivery, an
 * exit from the translated code and the interrupt path, for a DPC that is
 * already queued or running. Interrupts go back on only when a pass finds
 * nothing, and then the used index is read once more (after a full
 * barrier, so the device's view of the flag and ours of the index are
 * ordered): a completion that came after the last pass but before the
 * device saw the flag cleared raised no interrupt, and is taken here - so
 * a suppressed interrupt is never a lost completion (virtio 1.x 2.7.7.1's
 * rule for drivers that suppress interrupts without EVENT_IDX).
 * Why the flag and not VIRTIO_F_EVENT_IDX's used_event: the flag says
 * exactly "not while the DPC works", which is all that is wanted here;
 * used_event would let the driver ask for an interrupt only after the Nth
 * completion, which trades latency for fewer interrupts (a waiter for the
 * first of 32 requests would wait for the rest) - not a trade this driver
 * can make without knowing who waits for what. */
void VbDpc(PKDPC dpc, PVOID ctx, PVOID a1, PVOID a2)
{
    UNREFERENCED_PARAMETER(dpc);
    UNREFERENCED_PARAMETER(a1);
    UNREFERENCED_PARAMETER(a2);
    VB_DISK *x = ctx;
    ULONG64 t0 = rdtsc();
    LIST_ENTRY done;
    InitializeListHead(&done);
    __atomic_add_fetch(&x->Stats.Dpcs, 1, __ATOMIC_RELAXED);
    KeAcquireSpinLockAtDpcLevel(&x->Lock);
    if (x->HoldCompletions) {
        /* A test stands in for a slow device: what the device finished
         * stays in the used ring until it queues this DPC again. */
        vb_interrupts(x, TRUE);
        KeReleaseSpinLockFromDpcLevel(&x->Lock);
        return;
    }
    ULONG64 t_isr = x->TIsr;
    BOOLEAN started = FALSE;
    for (BOOLEAN rechecked = FALSE;;) {
        ULONG n = take_used(x, &done);
        if (n) {
            x->Stats.DpcPasses++;
            if (rechecked)
                x->Stats.LateCompletions += n;
        } else if (rechecked) {
            break;   /* nothing since interrupts went back on: the next completion interrupts */
        }
        KeReleaseSpinLockFromDpcLevel(&x->Lock);
        if (n) {
            complete_done(x, &done, t0, t_isr);
            vb_start(x, TRUE);   /* the freed descriptors to waiting IRPs, and the deferred notify */
            started = TRUE;
            KeAcquireSpinLockAtDpcLevel(&x->Lock);
            rechecked = FALSE;
            continue;
        }
        KeAcquireSpinLockAtDpcLevel(&x->Lock);
        if (x->TestBeforeInterruptsOn)
            x->TestBeforeInterruptsOn(x);
        vb_interrupts(x, TRUE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);   /* the flag out before the index is read again */
        rechecked = TRUE;
    }
    KeReleaseSpinLockFromDpcLevel(&x->Lock);
    if (!started)
        vb_start(x, TRUE);   /* a DPC with nothing new still hands out what waits, and notifies what was deferred */
}

/* MSI-X: the message is ours alone; nothing to read. */
BOOLEAN VbIsrMsix(PKINTERRUPT in, PVOID ctx)
{
    UNREFERENCED_PARAMETER(in);
    VB_DISK *x = ctx;
    x->TIsr = rdtsc();
    __atomic_add_fetch(&x->Stats.Interrupts, 1, __ATOMIC_RELAXED);
    vb_interrupts(x, FALSE);   /* until the DPC has taken everything */
    KeInsertQueueDpc(&x->Dpc, NULL, NULL);
    return TRUE;
}

/* INTx: the line is shared. Reading the ISR status register tells whether
 * this device interrupted and deasserts the line (4.1.4.5); 0 = not ours. */
BOOLEAN VbIsrIntx(PKINTERRUPT in, PVOID ctx)
{
    UNREFERENCED_PARAMETER(in);
    VB_DISK *x = ctx;
    if (!(*x->Isr & 3))
        return FALSE;
    x->TIsr = rdtsc();
    __atomic_add_fetch(&x->Stats.Interrupts, 1, __ATOMIC_RELAXED);
    vb_interrupts(x, FALSE);
    KeInsertQueueDpc(&x->Dpc, NULL, NULL);
    return TRUE;
}

NTSTATUS VbComplete(PIRP irp, NTSTATUS s, ULONG_PTR info)
{
    irp->IoStatus.Status = s;
    irp->IoStatus.Information = info;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return s;
}

/* IoCancelIrp on an IRP waiting for its first piece (the cancel spin lock
 * held). */
static void vb_cancel(PDEVICE_OBJECT dev, PIRP irp)
{
    IoReleaseCancelSpinLock(irp->CancelIrql);
    VB_DISK *x = dev->DeviceExtension;
    VB_REQ *r = irp->Tail.Overlay.DriverContext[0];
    KIRQL old;
    KeAcquireSpinLock(&x->Lock, &old);
    stop_issuing(r);   /* still queued: vb_start never takes an IRP whose routine it could not clear */
    KeReleaseSpinLock(&x->Lock, old);
    ExFreeToNPagedLookasideList(&req_lookaside, r);
    __atomic_sub_fetch(&VblkReqsOutstanding, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&x->Stats.Cancelled, 1, __ATOMIC_RELAXED);
    VbComplete(irp, STATUS_CANCELLED, 0);
}

/* The end of a plugged batch (io/plug.c), in the sender's thread. */
static void vb_unplug(PDEVICE_OBJECT dev)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    vb_start(dev->DeviceExtension, FALSE);
    KeLowerIrql(old);
}

NTSTATUS VbQueue(VB_DISK *x, PIRP irp, ULONG type, LONGLONG offset, ULONG length)
{
    ULONG64 t = rdtsc();
    VB_REQ *r = ExAllocateFromNPagedLookasideList(&req_lookaside);
    if (!r)
        return VbComplete(irp, STATUS_INSUFFICIENT_RESOURCES, 0);
    memset(r, 0, sizeof(*r));
    __atomic_add_fetch(&VblkReqsOutstanding, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&x->Stats.Requests, 1, __ATOMIC_RELAXED);
    r->Irp = irp;
    r->Disk = x;
    r->Type = type;
    r->Offset = offset;
    r->Length = length;
    r->Status = STATUS_SUCCESS;
    r->TDispatch = t;
    PFILE_OBJECT lab = VblkLabFile;
    r->Dma = lab && IoGetCurrentIrpStackLocation(irp)->FileObject == lab ? VblkLabDma : x->Dma;
    ULONG elements;
    ULONG first = chunk_of(x, r, &elements);
    if (first < length)
        __atomic_add_fetch(&x->Stats.Splits, 1, __ATOMIC_RELAXED);
    r->FirstChunk = first;   /* vb_start's first piece: the walk is not done twice */
    r->FirstElements = elements;
    IoMarkIrpPending(irp);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KeAcquireSpinLockAtDpcLevel(&x->Lock);
    if (!IsListEmpty(&x->Waiting) || x->Unreserved < (x->Indirect ? 1 : x->SegLimit + 2))
        __atomic_add_fetch(&x->Stats.Waited, 1, __ATOMIC_RELAXED);
    InsertTailList(&x->Waiting, &r->Link);
    r->Queued = TRUE;
    irp->Tail.Overlay.DriverContext[0] = r;
    IoSetCancelRoutine(irp, vb_cancel);
    if (irp->Cancel && IoSetCancelRoutine(irp, NULL)) {
        /* Cancelled before the routine was set: ours to finish. */
        stop_issuing(r);
        KeReleaseSpinLockFromDpcLevel(&x->Lock);
        ExFreeToNPagedLookasideList(&req_lookaside, r);
        __atomic_sub_fetch(&VblkReqsOutstanding, 1, __ATOMIC_RELAXED);
        VbComplete(irp, STATUS_CANCELLED, 0);
        KeLowerIrql(old);
        return STATUS_PENDING;
    }
    KeReleaseSpinLockFromDpcLevel(&x->Lock);
    /* In a plugged batch the device starts once, at its end (vb_unplug),
     * with every request of the batch in hand to merge. */
    if (!(x->Merge && IoPlugDevice(x->Device, vb_unplug)))
        vb_start(x, FALSE);
    KeLowerIrql(old);
    return STATUS_PENDING;
}
