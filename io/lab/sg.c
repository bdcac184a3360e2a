/*
 * The DMA lab (docs/labs/dma.md): the student's scatter/gather lists. The
 * regions between the LAB markers are the solution; `scripts/lab.py cut
 * dma` replaces each with the STUB comment after it.
 *
 * A device puts bus addresses on the bus (on a PC, physical addresses):
 * it walks no page tables, so a virtual address means nothing to it. The
 * MDL's PFN array is the buffer as the device sees it, and the lock
 * MmProbeAndLockPages took is what keeps those frames true until the
 * transfer ends. The list is that array cut into the pieces the device's
 * descriptors hold: one per run of physically contiguous bytes, no longer
 * than the device's longest segment, never across its boundary; and for
 * a frame beyond the device's address lines, a low page standing in for
 * it (a map register), with the copy made when the data is the CPU's -
 * before a write, after a read.
 */
#include "io/lab/sg.h"
#include "io/dmap.h"
#include "mm/mi.h"

/* LAB dma: BEGIN SOLUTION */
#define LAB_SG_MAGIC POOL_TAG('L', 'a', 'b', 'S')

/* One bounced piece: the frame and the bytes of it the map register stands for. */
typedef struct {
    PFN_NUMBER Pfn;
    ULONG Offset;
    ULONG Length;
} LAB_BOUNCE;

/* My record of a list, after its elements (List->Reserved points here);
 * then Bounce[Room] and Register[Room]. */
typedef struct {
    ULONG Magic;
    BOOLEAN WriteToDevice;
    ULONG Room;                  /* bounce slots */
    ULONG Bounced;               /* used: one map register each */
    PSCATTER_GATHER_LIST List;
    LAB_BOUNCE *Bounce;
    USHORT *Register;
} LAB_SG_RECORD;

static ULONG elements_for(IO_LAB_DMA *d, ULONG span)
{
    if (d->MaximumSegmentLength >= PAGE_SIZE)
        return span;   /* a page piece crosses no boundary >= a page: at most one new element each */
    return span * (ULONG)((PAGE_SIZE + d->MaximumSegmentLength - 1) / d->MaximumSegmentLength);
}

/* Where the bounce slots and registers of a record start. */
static ULONG record_bytes(IO_LAB_DMA *d, ULONG span)
{
    ULONG room = d->MapRegisterCount ? span : 0;
    return (ULONG)(sizeof(LAB_SG_RECORD) + room * (sizeof(LAB_BOUNCE) + sizeof(USHORT)));
}

static ULONG list_size(IO_LAB_DMA *d, ULONG span)
{
    ULONG head = (ULONG)(sizeof(SCATTER_GATHER_LIST) + elements_for(d, span) * sizeof(SCATTER_GATHER_ELEMENT));
    return head + record_bytes(d, span);
}

/* The (MDL, CurrentVa, Length) triple as NT defines it, and the pages it spans. */
static NTSTATUS lab_measure(PMDL mdl, PVOID current_va, ULONG length, ULONG *span)
{
    if (!mdl || !length)
        return STATUS_INVALID_PARAMETER;
    ULONG_PTR start = (ULONG_PTR)MmGetMdlVirtualAddress(mdl);
    if ((ULONG_PTR)current_va < start || (ULONG_PTR)current_va - start >= mdl->ByteCount)
        return STATUS_INVALID_PARAMETER;
    ULONG64 off = (ULONG_PTR)current_va - start, left = length, pages = 0;
    for (PMDL m = mdl; left; m = m->Next, off = 0) {
        if (!m)
            return STATUS_INVALID_PARAMETER;
        if (!(m->MdlFlags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL | MDL_PARTIAL)))
            KeBugCheckRule(DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_MDL_NOT_LOCKED, (ULONG_PTR)m, m->MdlFlags, 0,
                           "a scatter/gather list was asked for an MDL whose pages are not locked: its PFN array "
                           "means nothing");
        ULONG64 take = m->ByteCount - off < left ? m->ByteCount - off : left;
        pages += ADDRESS_AND_SIZE_TO_SPAN_PAGES(m->ByteOffset + off, take);
        left -= take;
    }
    *span = (ULONG)pages;
    return STATUS_SUCCESS;
}

/* Call FN(ctx, pfn, offset in page, length) for every page piece of the transfer. */
typedef void (*LAB_PIECE_FN)(void *ctx, PFN_NUMBER pfn, ULONG off, ULONG len);
static void for_each_piece(PMDL mdl, PVOID current_va, ULONG length, LAB_PIECE_FN fn, void *ctx)
{
    ULONG64 off = (ULONG_PTR)current_va - (ULONG_PTR)MmGetMdlVirtualAddress(mdl), left = length;
    for (PMDL m = mdl; left; m = m->Next, off = 0) {
        ULONG64 take = m->ByteCount - off < left ? m->ByteCount - off : left;
        ULONG64 pos = m->ByteOffset + off;
        left -= take;
        while (take) {
            ULONG in = (ULONG)(pos & (PAGE_SIZE - 1));
            ULONG n = (ULONG)(PAGE_SIZE - in < take ? PAGE_SIZE - in : take);
            fn(ctx, MmGetMdlPfnArray(m)[pos >> PAGE_SHIFT], in, n);
            pos += n;
            take -= n;
        }
    }
}

static BOOLEAN out_of_reach(IO_LAB_DMA *d, PFN_NUMBER pfn, ULONG off, ULONG len)
{
    return (((ULONG64)pfn << PAGE_SHIFT) | off) + len - 1 > d->HighestAddress;
}

typedef struct {
    IO_LAB_DMA *Dma;
    ULONG Count;
} LAB_COUNT;

static void count_piece(void *ctx, PFN_NUMBER pfn, ULONG off, ULONG len)
{
    LAB_COUNT *c = ctx;
    c->Count += out_of_reach(c->Dma, pfn, off, len);
}

/* Copy one bounced piece between its frame and its map register. */
static void bounce_copy(IO_LAB_DMA *d, const LAB_BOUNCE *b, USHORT reg, BOOLEAN to_device)
{
    KIRQL old;
    PUCHAR frame = MiMapPageInHyperspace(b->Pfn, &old);
    PUCHAR r = d->MapRegisterVa + (ULONG64)reg * PAGE_SIZE;
    if (to_device)
        memcpy(r + b->Offset, frame + b->Offset, b->Length);
    else
        memcpy(frame + b->Offset, r + b->Offset, b->Length);   /* only the transfer's bytes: the rest is the CPU's */
    MiUnmapPageInHyperspace(frame, old);
}

typedef struct {
    IO_LAB_DMA *Dma;
    PSCATTER_GATHER_LIST List;
    LAB_SG_RECORD *Rec;
    BOOLEAN LastMergeable;
} LAB_BUILD;

/* BYTES at PA (inside one page) go to the device: extend the last element
 * or start new ones. A boundary is a power of two >= a page, so a piece
 * never crosses one: it only stops an element from running on over it. */
static void append(LAB_BUILD *b, ULONG64 pa, ULONG64 bytes, BOOLEAN mergeable)
{
    IO_LAB_DMA *d = b->Dma;
    while (bytes) {
        ULONG n_el = b->List->NumberOfElements;
        PSCATTER_GATHER_ELEMENT last = n_el ? &b->List->Elements[n_el - 1] : NULL;
        ULONG64 n = bytes;
        if (last && mergeable && b->LastMergeable && (ULONG64)last->Address.QuadPart + last->Length == pa &&
            last->Length < d->MaximumSegmentLength && !(d->SegmentBoundary && (pa & (d->SegmentBoundary - 1)) == 0)) {
            n = n < d->MaximumSegmentLength - last->Length ? n : d->MaximumSegmentLength - last->Length;
            last->Length += (ULONG)n;
        } else {
            n = n < d->MaximumSegmentLength ? n : d->MaximumSegmentLength;
            PSCATTER_GATHER_ELEMENT e = &b->List->Elements[b->List->NumberOfElements++];
            e->Address.QuadPart = (LONGLONG)pa;
            e->Length = (ULONG)n;
            e->Reserved = 0;
            b->LastMergeable = mergeable;
        }
        pa += n;
        bytes -= n;
    }
}

static void build_piece(void *ctx, PFN_NUMBER pfn, ULONG off, ULONG len)
{
    LAB_BUILD *b = ctx;
    IO_LAB_DMA *d = b->Dma;
    if (!out_of_reach(d, pfn, off, len)) {
        append(b, ((ULONG64)pfn << PAGE_SHIFT) | off, len, TRUE);   /* zero copy: the device uses the frame */
        return;
    }
    LAB_SG_RECORD *r = b->Rec;
    ULONG i = r->Bounced++;
    USHORT reg = r->Register[i];
    r->Bounce[i] = (LAB_BOUNCE){ pfn, off, len };
    if (r->WriteToDevice)
        bounce_copy(d, &r->Bounce[i], reg, TRUE);   /* the device reads the register: the data must be there first */
    append(b, ((ULONG64)d->MapRegisterPfn[reg] << PAGE_SHIFT) | off, len, FALSE);
}
/* LAB dma: END SOLUTION */
/* LAB dma: STUB
// Your helpers go here: check the (Mdl, CurrentVa, Length) triple and count
// the pages it spans; walk the transfer one page piece at a time; append a
// piece to the list (merge, split at the limits); copy a bounced piece
// between its frame and its map register (MiMapPageInHyperspace); and the
// record of a list you keep after its elements (List->Reserved).
 */

NTSTATUS IoLabCalculateScatterGatherList(IO_LAB_DMA *Dma, PMDL Mdl, PVOID CurrentVa, ULONG Length, PULONG ListSize,
                                         PULONG MapRegisters)
{
    /* LAB dma: BEGIN SOLUTION */
    ULONG span;
    if (!ListSize)
        return STATUS_INVALID_PARAMETER;
    NTSTATUS s = lab_measure(Mdl, CurrentVa, Length, &span);
    if (!NT_SUCCESS(s))
        return s;
    if (span > Dma->MapRegistersPerTransfer)
        return STATUS_INSUFFICIENT_RESOURCES;
    *ListSize = list_size(Dma, span);
    if (MapRegisters)
        *MapRegisters = span;
    return STATUS_SUCCESS;
    /* LAB dma: END SOLUTION */
    /* LAB dma: STUB
    (void)Dma;
    (void)Mdl;
    (void)CurrentVa;
    (void)Length;
    (void)ListSize;
    (void)MapRegisters;
    KtLabNotImplemented("dma", "IoLabCalculateScatterGatherList (io/lab/sg.c): check the transfer, count the "
                               "pages it spans, and the bytes its list may need");
     */
}

NTSTATUS IoLabBuildScatterGatherList(IO_LAB_DMA *Dma, PMDL Mdl, PVOID CurrentVa, ULONG Length,
                                     BOOLEAN WriteToDevice, PVOID Buffer, ULONG BufferLength)
{
    /* LAB dma: BEGIN SOLUTION */
    ULONG span;
    NTSTATUS s = lab_measure(Mdl, CurrentVa, Length, &span);
    if (!NT_SUCCESS(s))
        return s;
    if (!Buffer || ((ULONG_PTR)Buffer & 7))
        return STATUS_INVALID_PARAMETER;
    if (span > Dma->MapRegistersPerTransfer)
        return STATUS_INSUFFICIENT_RESOURCES;
    if (BufferLength < list_size(Dma, span))
        return STATUS_BUFFER_TOO_SMALL;
    PSCATTER_GATHER_LIST list = Buffer;
    LAB_SG_RECORD *r = (LAB_SG_RECORD *)&list->Elements[elements_for(Dma, span)];
    r->Room = Dma->MapRegisterCount ? span : 0;
    r->Bounce = (LAB_BOUNCE *)(r + 1);
    r->Register = (USHORT *)(r->Bounce + r->Room);
    r->WriteToDevice = WriteToDevice;
    r->List = list;
    r->Bounced = 0;
    /* All the map registers first, or none: a transfer half bounced and
     * then refused would have copied for nothing and must give them back. */
    LAB_COUNT c = { Dma, 0 };
    if (Dma->MapRegisterCount)
        for_each_piece(Mdl, CurrentVa, Length, count_piece, &c);
    if (c.Count && !IoLabTakeMapRegisters(Dma, c.Count, r->Register))
        return STATUS_INSUFFICIENT_RESOURCES;
    list->NumberOfElements = 0;
    LAB_BUILD b = { Dma, list, r, FALSE };
    for_each_piece(Mdl, CurrentVa, Length, build_piece, &b);
    r->Magic = LAB_SG_MAGIC;
    list->Reserved = (ULONG_PTR)r;
    return STATUS_SUCCESS;
    /* LAB dma: END SOLUTION */
    /* LAB dma: STUB
    (void)Dma;
    (void)Mdl;
    (void)CurrentVa;
    (void)Length;
    (void)WriteToDevice;
    (void)Buffer;
    (void)BufferLength;
    KtLabNotImplemented("dma", "IoLabBuildScatterGatherList (io/lab/sg.c): the elements from the PFN arrays, "
                               "merged and split at the device's limits, bounced beyond its reach");
     */
}

void IoLabPutScatterGatherList(IO_LAB_DMA *Dma, PSCATTER_GATHER_LIST List, BOOLEAN WriteToDevice)
{
    /* LAB dma: BEGIN SOLUTION */
    LAB_SG_RECORD *r = List ? (LAB_SG_RECORD *)List->Reserved : NULL;
    if (!r || r->Magic != LAB_SG_MAGIC || r->List != List)
        KeBugCheckRule(DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_FREED_TOO_MANY_SG_LISTS, 0, (ULONG_PTR)List, 0,
                       "IoLabPutScatterGatherList was given a list that is not out (put twice, or never built)");
    if (!WriteToDevice != !r->WriteToDevice)
        KeBugCheckRule(DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_DIRECTION_CHANGED, (ULONG_PTR)List, WriteToDevice,
                       r->WriteToDevice,
                       "IoLabPutScatterGatherList's WriteToDevice is not Build's: a read would not be copied back");
    /* A read: the device wrote the registers; now the bytes are the caller's. */
    for (ULONG i = 0; !r->WriteToDevice && i < r->Bounced; i++)
        bounce_copy(Dma, &r->Bounce[i], r->Register[i], FALSE);
    if (r->Bounced)
        IoLabReturnMapRegisters(Dma, r->Bounced, r->Register);
    r->Magic = 0;
    List->Reserved = 0;
    /* LAB dma: END SOLUTION */
    /* LAB dma: STUB
    (void)Dma;
    (void)List;
    (void)WriteToDevice;
    KtLabNotImplemented("dma", "IoLabPutScatterGatherList (io/lab/sg.c): copy a read's bounced pieces back, "
                               "give the map registers back");
     */
}
