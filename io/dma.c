/*
 * DMA adapters, NT's model (io/dma.h): IoGetDmaAdapter and the adapter's
 * DMA_OPERATIONS - scatter/gather lists built from MDLs, bounce buffers
 * ("map registers") for what a device cannot address, common buffers.
 *
 * Where it lives: NT keeps adapter objects in the HAL (HalGetAdapter,
 * the bus driver's GetDmaAdapter), because on some machines the
 * translation from memory to bus addresses is chipset work (ISA's 8237
 * controller, IOMMUs, the map registers of old Alphas). In mdlos the HAL
 * is the lowest layer (console, APIC) and knows nothing of MDLs, pool or
 * frames, while the PC's translation is the identity: a bus address is a
 * physical address. So the adapter is the I/O manager's, built on the
 * memory manager, and the HAL is not involved.
 *
 * Bouncing: a device reaches only addresses up to its limit (a 32-bit
 * device: the first 4 GiB). A frame above that cannot be handed to it;
 * the piece goes through a low "map register" frame instead - copied
 * there when the list is built for a write to the device, copied back
 * from there when the list is put after a read. NT's HAL (and ReactOS's)
 * skip this for scatter/gather adapters and trust the device; mdlos does
 * not, so a 32-bit device on a machine with more than 4 GiB works.
 *
 * Map registers are a bounded resource per adapter: when a list needs
 * more than are free, the request waits in the adapter's queue (as NT's
 * adapter wait queue does) and its execution routine runs later, from
 * the PutScatterGatherList that freed enough of them.
 */
#include "io/dmap.h"
#include "mm/mdl.h"
#include "kernel/ktest/ktest.h"

#define ATOMIC_ADD(v, n) __atomic_add_fetch(&(v), (n), __ATOMIC_RELAXED)

LIST_ENTRY IopDmaAdapters;
static KSPIN_LOCK adapters_lock;   /* IopDmaAdapters */
volatile LONG IopDmaAdapterCount, IopDmaListsOutstanding, IopDmaMapRegistersInUse, IopDmaCommonBuffers;

static DMA_OPERATIONS dma_operations;

/* GetScatterGatherList allocates a list for every request; small ones
 * (up to about 40 pages) come from a lookaside list, as IRPs and MDLs do,
 * because drivers ask for one per request. */
#define SGL_LOOKASIDE_BYTES 2048
static NPAGED_LOOKASIDE_LIST sgl_lookaside;
enum { FROM_CALLER = 0, FROM_POOL = 1, FROM_LOOKASIDE = 2 };

static int dma_counters(KT_COUNTER *out, int max)
{
    if (max < 4)
        return 0;
    out[0] = (KT_COUNTER){ "DMA adapters", (uint64_t)IopDmaAdapterCount };
    out[1] = (KT_COUNTER){ "scatter/gather lists outstanding", (uint64_t)IopDmaListsOutstanding };
    out[2] = (KT_COUNTER){ "map registers in use", (uint64_t)IopDmaMapRegistersInUse };
    out[3] = (KT_COUNTER){ "DMA common buffers", (uint64_t)IopDmaCommonBuffers };
    return 4;
}

void IopInitializeDma(void)
{
    InitializeListHead(&IopDmaAdapters);
    KeInitializeSpinLock(&adapters_lock);
    ExInitializeNPagedLookasideList(&sgl_lookaside, NULL, NULL, 0, SGL_LOOKASIDE_BYTES, TAG_DMA_SGL, 32);
    KtRegisterCounters(dma_counters);
}

__attribute__((noreturn)) static void dma_violation(ULONG code, ULONG_PTR p2, ULONG_PTR p3, ULONG_PTR p4,
                                                    const char *rule)
{
    KeBugCheckRule(DRIVER_VERIFIER_DMA_VIOLATION, code, p2, p3, p4, "%s", rule);
}

static PIOP_DMA_ADAPTER adapter_of(PDMA_ADAPTER dma)
{
    PIOP_DMA_ADAPTER a = (PIOP_DMA_ADAPTER)dma;
    if (!a || a->Magic != IOP_DMA_MAGIC)
        dma_violation(IOP_DMA_NOT_AN_ADAPTER, (ULONG_PTR)dma, 0, 0,
                      "a DMA operation was given an adapter IoGetDmaAdapter did not return (or one already put)");
    return a;
}

/* ---- IoGetDmaAdapter / PutDmaAdapter ---- */

/* The last bus address the device can put on the bus. */
static ULONG64 highest_address(const DEVICE_DESCRIPTION *d)
{
    if (d->Version >= DEVICE_DESCRIPTION_VERSION3 && d->DmaAddressWidth)
        return d->DmaAddressWidth >= 64 ? ~0ULL : (1ULL << d->DmaAddressWidth) - 1;
    if (d->Dma64BitAddresses)
        return ~0ULL;
    if (d->Dma32BitAddresses)
        return 0xFFFFFFFFULL;
    /* An ISA bus master drives 24 address lines; any other master is
     * taken to reach 32 bits (what NT assumes of a PCI master). */
    return d->InterfaceType == Isa ? 0xFFFFFFULL : 0xFFFFFFFFULL;
}

PDMA_ADAPTER IoGetDmaAdapter(PDEVICE_OBJECT pdo, PDEVICE_DESCRIPTION d, PULONG number_of_map_registers)
{
    KI_ASSERT_IRQL_LE(PASSIVE_LEVEL);
    if (!d || !number_of_map_registers || d->Version > DEVICE_DESCRIPTION_VERSION3)
        return NULL;
    /* Only what is built: scatter/gather bus masters. System DMA (the
     * 8237) and packet-based DMA (AllocateAdapterChannel/MapTransfer)
     * are not. */
    if (!d->Master || !d->ScatterGather || d->MaximumLength == 0)
        return NULL;
    if (d->Version >= DEVICE_DESCRIPTION_VERSION3 && d->DmaAddressWidth && d->DmaAddressWidth < 24)
        return NULL;
    if (d->SegmentBoundary && ((d->SegmentBoundary & (d->SegmentBoundary - 1)) || d->SegmentBoundary < PAGE_SIZE))
        return NULL;
    ULONG regs = (ULONG)BYTES_TO_PAGES(d->MaximumLength) + 1;   /* an unaligned transfer spans one page more */
    if (regs > IOP_DMA_MAX_MAP_REGISTERS)
        regs = IOP_DMA_MAX_MAP_REGISTERS;

    PIOP_DMA_ADAPTER a = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*a) + regs * sizeof(USHORT), TAG_DMA_ADAPTER);
    if (!a)
        return NULL;
    memset(a, 0, sizeof(*a));
    a->DmaHeader.Version = 1;
    a->DmaHeader.Size = sizeof(DMA_ADAPTER);
    a->DmaHeader.DmaOperations = &dma_operations;
    a->Magic = IOP_DMA_MAGIC;
    a->PhysicalDeviceObject = pdo;
    a->HighestAddress = highest_address(d);
    a->MaximumSegmentLength = d->MaximumSegmentLength ? d->MaximumSegmentLength : ~0ULL;
    a->SegmentBoundary = d->SegmentBoundary;
    a->MapRegistersPerTransfer = regs;
    a->FreeStack = (USHORT *)(a + 1);
    KeInitializeSpinLock(&a->Lock);
    InitializeListHead(&a->WaitQueue);

    /* Map registers only if some RAM lies beyond the device's reach: a
     * 64-bit device, or a 32-bit one on a machine with <= 4 GiB, never
     * bounces. Enough for one transfer of MaximumLength, all bounced. */
    ULONG64 top_of_ram = ((ULONG64)MmHighestPhysicalPage << PAGE_SHIFT) | (PAGE_SIZE - 1);
    if (top_of_ram > a->HighestAddress) {
        PHYSICAL_ADDRESS lo = { 0 }, hi = { (LONGLONG)a->HighestAddress }, skip = { 0 };
        PMDL m = MmAllocatePagesForMdlEx(lo, hi, skip, (SIZE_T)regs * PAGE_SIZE, MmCached, MM_ALLOCATE_FULLY_REQUIRED);
        PVOID va = m ? MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority) : NULL;
        if (!va) {
            if (m) {
                MmFreePagesFromMdl(m);
                ExFreePool(m);
            }
            a->Magic = 0;
            ExFreePoolWithTag(a, TAG_DMA_ADAPTER);
            return NULL;
        }
        a->MapRegisterMdl = m;
        a->MapRegisterVa = va;
        a->MapRegisterCount = regs;
        for (ULONG i = 0; i < regs; i++)
            a->FreeStack[i] = (USHORT)(regs - 1 - i);   /* register 0 on top: handed out in order */
        a->FreeCount = regs;
    }
    KIRQL old;
    KeAcquireSpinLock(&adapters_lock, &old);
    InsertTailList(&IopDmaAdapters, &a->Links);
    KeReleaseSpinLock(&adapters_lock, old);
    ATOMIC_ADD(IopDmaAdapterCount, 1);
    *number_of_map_registers = regs;
    return &a->DmaHeader;
}

static void put_dma_adapter(PDMA_ADAPTER dma)
{
    KI_ASSERT_IRQL_LE(PASSIVE_LEVEL);
    PIOP_DMA_ADAPTER a = adapter_of(dma);
    if (a->ListsOutstanding)
        dma_violation(IOP_DMA_PUT_ADAPTER_SG_LISTS, (ULONG_PTR)a, (ULONG_PTR)a->ListsOutstanding, 0,
                      "PutDmaAdapter was called while scatter/gather lists of the adapter were still out (or "
                      "waiting for map registers): put every list first");
    if (a->CommonBuffers)
        dma_violation(IOP_DMA_PUT_ADAPTER_COMMON_BUFFERS, (ULONG_PTR)a, (ULONG_PTR)a->CommonBuffers, 0,
                      "PutDmaAdapter was called while common buffers of the adapter were still allocated");
    KIRQL old;
    KeAcquireSpinLock(&adapters_lock, &old);
    RemoveEntryList(&a->Links);
    KeReleaseSpinLock(&adapters_lock, old);
    if (a->MapRegisterMdl) {
        MmUnmapLockedPages(a->MapRegisterVa, a->MapRegisterMdl);
        MmFreePagesFromMdl(a->MapRegisterMdl);
        ExFreePool(a->MapRegisterMdl);
    }
    a->Magic = 0;
    ATOMIC_ADD(IopDmaAdapterCount, -1);
    ExFreePoolWithTag(a, TAG_DMA_ADAPTER);
}

/* ---- common buffers ---- */

/* Physically contiguous, within the device's reach, and - as NT's HAL
 * does for bus masters - not across a 4 GiB line (many devices keep the
 * high half of a ring's address in one register). */
static PVOID allocate_common_buffer(PDMA_ADAPTER dma, ULONG length, PPHYSICAL_ADDRESS logical, BOOLEAN cache_enabled)
{
    KI_ASSERT_IRQL_LE(PASSIVE_LEVEL);
    PIOP_DMA_ADAPTER a = adapter_of(dma);
    if (!length || !logical)
        return NULL;
    PHYSICAL_ADDRESS lo = { 0 }, hi = { (LONGLONG)a->HighestAddress }, boundary = { 0x100000000LL };
    if (ROUND_TO_PAGES(length) > 0x100000000ULL)
        return NULL;
    PVOID va = MmAllocateContiguousMemorySpecifyCache(length, lo, hi, boundary, cache_enabled ? MmCached : MmNonCached);
    if (!va)
        return NULL;
    *logical = MmGetPhysicalAddress(va);   /* the bus address is the physical one on a PC */
    ATOMIC_ADD(a->CommonBuffers, 1);
    ATOMIC_ADD(IopDmaCommonBuffers, 1);
    return va;
}

static void free_common_buffer(PDMA_ADAPTER dma, ULONG length, PHYSICAL_ADDRESS logical, PVOID va,
                               BOOLEAN cache_enabled)
{
    KI_ASSERT_IRQL_LE(PASSIVE_LEVEL);
    PIOP_DMA_ADAPTER a = adapter_of(dma);
    if (a->CommonBuffers <= 0)
        dma_violation(IOP_DMA_FREED_TOO_MANY_COMMON_BUFFERS, 1, (ULONG_PTR)va, 0,
                      "FreeCommonBuffer was called more often than AllocateCommonBuffer (a buffer freed twice?)");
    if (MmGetPhysicalAddress(va).QuadPart != logical.QuadPart)
        dma_violation(IOP_DMA_FREED_TOO_MANY_COMMON_BUFFERS, 2, (ULONG_PTR)va, (ULONG_PTR)logical.QuadPart,
                      "FreeCommonBuffer's LogicalAddress is not the one AllocateCommonBuffer gave for this address");
    MmFreeContiguousMemorySpecifyCache(va, length, cache_enabled ? MmCached : MmNonCached);
    ATOMIC_ADD(a->CommonBuffers, -1);
    ATOMIC_ADD(IopDmaCommonBuffers, -1);
}

static ULONG get_dma_alignment(PDMA_ADAPTER dma)
{
    adapter_of(dma);
    return 1;   /* a PC bus master takes any byte address: no alignment beyond the device's own */
}

/* ---- measuring a transfer ---- */

/* Check the (Mdl, CurrentVa, Length) triple as NT defines it - CurrentVa
 * inside the first MDL's buffer, the transfer going on through Next for
 * Length bytes - and count the pages it spans. */
static NTSTATUS measure(PMDL mdl, PVOID current_va, ULONG length, ULONG *span)
{
    if (!mdl || !length)
        return STATUS_INVALID_PARAMETER;
    ULONG_PTR start = (ULONG_PTR)MmGetMdlVirtualAddress(mdl);
    if ((ULONG_PTR)current_va < start || (ULONG_PTR)current_va - start >= mdl->ByteCount)
        return STATUS_INVALID_PARAMETER;
    ULONG64 off = (ULONG_PTR)current_va - start, left = length, pages = 0;
    for (PMDL m = mdl; left; m = m->Next, off = 0) {
        if (!m)
            return STATUS_INVALID_PARAMETER;   /* Length runs past the chain */
        if (!(m->MdlFlags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL | MDL_PARTIAL)))
            dma_violation(IOP_DMA_MDL_NOT_LOCKED, (ULONG_PTR)m, m->MdlFlags, 0,
                          "a scatter/gather list was asked for an MDL whose pages are not locked (no "
                          "MmProbeAndLockPages, MmBuildMdlForNonPagedPool or MmAllocatePagesForMdlEx): its PFN "
                          "array means nothing, and the frames could move while the device uses them");
        ULONG64 take = m->ByteCount - off < left ? m->ByteCount - off : left;
        pages += ADDRESS_AND_SIZE_TO_SPAN_PAGES(m->ByteOffset + off, take);
        left -= take;
    }
    *span = (ULONG)pages;
    return STATUS_SUCCESS;
}

/* Elements a list of SPAN pages can need at most: one per page, more when
 * the device's segments are shorter than a page. Merging contiguous
 * frames only lowers it. */
static ULONG max_elements(PIOP_DMA_ADAPTER a, ULONG span)
{
    ULONG64 per_page = a->MaximumSegmentLength < PAGE_SIZE ? (PAGE_SIZE + a->MaximumSegmentLength - 1) /
                                                                 a->MaximumSegmentLength
                                                           : 1;
    return (ULONG)(span * per_page);
}

static ULONG list_bytes(PIOP_DMA_ADAPTER a, ULONG span, ULONG *elements)
{
    ULONG n = max_elements(a, span);
    if (elements)
        *elements = n;
    return (ULONG)(sizeof(SCATTER_GATHER_LIST) + n * sizeof(SCATTER_GATHER_ELEMENT) + sizeof(IOP_SG_PRIVATE) +
                   (a->MapRegisterCount ? span : 0) * sizeof(IOP_SG_BOUNCE));
}

static NTSTATUS calculate_scatter_gather_list(PDMA_ADAPTER dma, PMDL mdl, PVOID current_va, ULONG length,
                                              PULONG size, PULONG map_registers)
{
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    PIOP_DMA_ADAPTER a = adapter_of(dma);
    if (!size || !length)
        return STATUS_INVALID_PARAMETER;
    ULONG span;
    if (mdl) {
        NTSTATUS s = measure(mdl, current_va, length, &span);
        if (!NT_SUCCESS(s))
            return s;
    } else {
        span = ADDRESS_AND_SIZE_TO_SPAN_PAGES(current_va, length);   /* a buffer of LENGTH bytes at CURRENT_VA */
    }
    *size = list_bytes(a, span, NULL);
    if (map_registers)
        *map_registers = span;
    return STATUS_SUCCESS;
}

/* ---- building a list ---- */

/* Pieces of the transfer, each inside one page, go in one by one: a
 * piece whose frame continues the last element extends it (physically
 * contiguous frames merge), up to the device's maximum segment length
 * and never across its boundary; anything else starts a new element.
 * Bounced pieces never merge. */
typedef struct {
    PIOP_DMA_ADAPTER A;
    PSCATTER_GATHER_ELEMENT E;
    ULONG Count;
    BOOLEAN LastMergeable;
} SG_BUILDER;

static void append(SG_BUILDER *b, ULONG64 pa, ULONG64 len, BOOLEAN mergeable)
{
    ULONG64 maxseg = b->A->MaximumSegmentLength, boundary = b->A->SegmentBoundary;
    while (len) {
        ULONG64 n = len;
        ULONG64 to_line = boundary ? boundary - (pa & (boundary - 1)) : ~0ULL;
        PSCATTER_GATHER_ELEMENT last = b->Count ? &b->E[b->Count - 1] : NULL;
        if (last && mergeable && b->LastMergeable && (ULONG64)last->Address.QuadPart + last->Length == pa &&
            last->Length < maxseg && !(boundary && (pa & (boundary - 1)) == 0)) {
            n = n < maxseg - last->Length ? n : maxseg - last->Length;
            n = n < to_line ? n : to_line;
            last->Length += (ULONG)n;
        } else {
            n = n < maxseg ? n : maxseg;
            n = n < to_line ? n : to_line;
            PSCATTER_GATHER_ELEMENT e = &b->E[b->Count++];
            e->Address.QuadPart = (LONGLONG)pa;
            e->Length = (ULONG)n;
            e->Reserved = 0;
            b->LastMergeable = mergeable;
        }
        pa += n;
        len -= n;
    }
}

/* Copy LEN bytes between frame PFN at OFFSET and map register R. */
static void bounce_copy(PIOP_DMA_ADAPTER a, const IOP_SG_BOUNCE *bn, BOOLEAN to_device)
{
    KIRQL old;
    PUCHAR frame = MiMapPageInHyperspace(bn->Pfn, &old);
    PUCHAR reg = a->MapRegisterVa + (ULONG64)bn->MapRegister * PAGE_SIZE;
    if (to_device)
        memcpy(reg + bn->Offset, frame + bn->Offset, bn->Length);
    else
        memcpy(frame + bn->Offset, reg + bn->Offset, bn->Length);
    MiUnmapPageInHyperspace(frame, old);
}

static BOOLEAN needs_bounce(PIOP_DMA_ADAPTER a, ULONG64 pa, ULONG64 len)
{
    return pa + len - 1 > a->HighestAddress;
}

/* Visit every piece of the transfer: (frame, offset in its page, length). */
#define FOR_EACH_PIECE(mdl, current_va, length, PFN, OFF, LEN, BODY)                                      \
    do {                                                                                                \
        ULONG64 off_ = (ULONG_PTR)(current_va) - (ULONG_PTR)MmGetMdlVirtualAddress(mdl), left_ = (length); \
        for (PMDL m_ = (mdl); left_; m_ = m_->Next, off_ = 0) {                                         \
            ULONG64 take_ = m_->ByteCount - off_ < left_ ? m_->ByteCount - off_ : left_;                \
            ULONG64 pos_ = m_->ByteOffset + off_;                                                       \
            PPFN_NUMBER pfns_ = MmGetMdlPfnArray(m_);                                                   \
            left_ -= take_;                                                                             \
            while (take_) {                                                                             \
                ULONG OFF = (ULONG)(pos_ & (PAGE_SIZE - 1));                                            \
                ULONG LEN = (ULONG)(PAGE_SIZE - OFF < take_ ? PAGE_SIZE - OFF : take_);                 \
                PFN_NUMBER PFN = pfns_[pos_ >> PAGE_SHIFT];                                             \
                BODY;                                                                                   \
                pos_ += LEN;                                                                            \
                take_ -= LEN;                                                                           \
            }                                                                                           \
        }                                                                                               \
    } while (0)

static ULONG count_bounces(PIOP_DMA_ADAPTER a, PMDL mdl, PVOID current_va, ULONG length)
{
    ULONG n = 0;
    FOR_EACH_PIECE(mdl, current_va, length, pfn, off, len,
                   n += needs_bounce(a, ((ULONG64)pfn << PAGE_SHIFT) | off, len));
    return n;
}

/* Build the list (the map registers are held) and hand it to the driver. */
static void build_and_execute(PIOP_SG_PRIVATE p)
{
    PIOP_DMA_ADAPTER a = p->Adapter;
    SG_BUILDER b = { a, p->List->Elements, 0, FALSE };
    ULONG bounced = 0;
    FOR_EACH_PIECE(p->Mdl, p->CurrentVa, p->Length, pfn, off, len, {
        ULONG64 pa = ((ULONG64)pfn << PAGE_SHIFT) | off;
        if (!needs_bounce(a, pa, len)) {
            append(&b, pa, len, TRUE);   /* zero copy: the device reads or writes the frame itself */
        } else {
            IOP_SG_BOUNCE *bn = &p->Bounce[bounced++];
            bn->Pfn = pfn;
            bn->Offset = (USHORT)off;
            bn->Length = len;
            /* bn->MapRegister was set when the registers were taken. The
             * piece keeps its offset in the map register's page. */
            if (p->WriteToDevice) {
                bounce_copy(a, bn, TRUE);
                a->BytesCopiedToDevice += len;
            }
            a->PiecesBounced++;
            PFN_NUMBER reg_pfn = MmGetMdlPfnArray(a->MapRegisterMdl)[bn->MapRegister];
            append(&b, ((ULONG64)reg_pfn << PAGE_SHIFT) | off, len, FALSE);
        }
    });
    ASSERT(bounced == p->MapRegisters && b.Count <= p->MaxElements);
    p->List->NumberOfElements = b.Count;
    p->List->Reserved = (ULONG_PTR)p;
    a->ListsBuilt++;
    /* Before the device touches memory: on a machine whose DMA does not
     * snoop the caches, write back what the CPU wrote (a write to the
     * device) or drop the lines the device is about to overwrite (a read). */
    for (PMDL m = p->Mdl; m; m = m->Next)
        KeFlushIoBuffers(m, !p->WriteToDevice, TRUE);
    p->ExecutionRoutine(p->DeviceObject, p->DeviceObject ? p->DeviceObject->CurrentIrp : NULL, p->List, p->Context);
}

/* Take the map registers P needs (adapter lock held); FALSE if too few are free. */
static BOOLEAN take_map_registers(PIOP_DMA_ADAPTER a, PIOP_SG_PRIVATE p)
{
    if (a->FreeCount < p->MapRegisters)
        return FALSE;
    for (ULONG i = 0; i < p->MapRegisters; i++)
        p->Bounce[i].MapRegister = a->FreeStack[--a->FreeCount];
    ATOMIC_ADD(IopDmaMapRegistersInUse, (LONG)p->MapRegisters);
    return TRUE;
}

/* The common part of Get and Build: BUFFER (BYTES long) becomes the list. */
static NTSTATUS start_list(PIOP_DMA_ADAPTER a, PDEVICE_OBJECT device, PMDL mdl, PVOID current_va, ULONG length,
                           PDRIVER_LIST_CONTROL routine, PVOID context, BOOLEAN write, PVOID buffer, ULONG span,
                           UCHAR allocated)
{
    ULONG elements;
    list_bytes(a, span, &elements);
    PSCATTER_GATHER_LIST list = buffer;
    PIOP_SG_PRIVATE p = (PIOP_SG_PRIVATE)&list->Elements[elements];
    p->Magic = IOP_SG_MAGIC;
    p->Allocated = allocated;
    p->WriteToDevice = write;
    p->Queued = FALSE;
    p->Adapter = a;
    p->List = list;
    p->DeviceObject = device;
    p->Mdl = mdl;
    p->CurrentVa = current_va;
    p->Length = length;
    p->ExecutionRoutine = routine;
    p->Context = context;
    p->MaxElements = elements;
    p->MapRegisters = a->MapRegisterCount ? count_bounces(a, mdl, current_va, length) : 0;
    list->NumberOfElements = 0;
    list->Reserved = (ULONG_PTR)p;

    KeAcquireSpinLockAtDpcLevel(&a->Lock);
    a->ListsOutstanding++;
    ATOMIC_ADD(IopDmaListsOutstanding, 1);
    /* First come, first served: a request does not overtake older ones
     * that are waiting, or a big one could wait for ever. */
    if (p->MapRegisters && (!IsListEmpty(&a->WaitQueue) || !take_map_registers(a, p))) {
        p->Queued = TRUE;
        a->Queued++;
        InsertTailList(&a->WaitQueue, &p->WaitLink);
        KeReleaseSpinLockFromDpcLevel(&a->Lock);
        return STATUS_SUCCESS;   /* as on NT: the execution routine runs when registers free up */
    }
    KeReleaseSpinLockFromDpcLevel(&a->Lock);
    build_and_execute(p);
    return STATUS_SUCCESS;
}

static NTSTATUS get_scatter_gather_list(PDMA_ADAPTER dma, PDEVICE_OBJECT device, PMDL mdl, PVOID current_va,
                                        ULONG length, PDRIVER_LIST_CONTROL routine, PVOID context, BOOLEAN write)
{
    /* The WDK: "IRQL = DISPATCH_LEVEL". The execution routine runs at
     * DISPATCH_LEVEL whether it runs now or later, so the caller's own
     * state must already be safe there. */
    KI_ASSERT_IRQL_GE(DISPATCH_LEVEL);
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    PIOP_DMA_ADAPTER a = adapter_of(dma);
    ULONG span;
    NTSTATUS s = measure(mdl, current_va, length, &span);
    if (!NT_SUCCESS(s))
        return s;
    if (!routine)
        return STATUS_INVALID_PARAMETER;
    if (span > a->MapRegistersPerTransfer)
        return STATUS_INSUFFICIENT_RESOURCES;   /* longer than the adapter's maximum transfer */
    ULONG bytes = list_bytes(a, span, NULL);
    UCHAR from = bytes <= SGL_LOOKASIDE_BYTES ? FROM_LOOKASIDE : FROM_POOL;
    PVOID buffer = from == FROM_LOOKASIDE ? ExAllocateFromNPagedLookasideList(&sgl_lookaside)
                                          : ExAllocatePoolWithTag(NonPagedPoolNx, bytes, TAG_DMA_SGL);
    if (!buffer)
        return STATUS_INSUFFICIENT_RESOURCES;
    return start_list(a, device, mdl, current_va, length, routine, context, write, buffer, span, from);
}

static NTSTATUS build_scatter_gather_list(PDMA_ADAPTER dma, PDEVICE_OBJECT device, PMDL mdl, PVOID current_va,
                                          ULONG length, PDRIVER_LIST_CONTROL routine, PVOID context, BOOLEAN write,
                                          PVOID buffer, ULONG buffer_length)
{
    KI_ASSERT_IRQL_GE(DISPATCH_LEVEL);
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    PIOP_DMA_ADAPTER a = adapter_of(dma);
    ULONG span;
    NTSTATUS s = measure(mdl, current_va, length, &span);
    if (!NT_SUCCESS(s))
        return s;
    if (!routine || !buffer || ((ULONG_PTR)buffer & 7))
        return STATUS_INVALID_PARAMETER;
    if (span > a->MapRegistersPerTransfer)
        return STATUS_INSUFFICIENT_RESOURCES;
    if (buffer_length < list_bytes(a, span, NULL))
        return STATUS_BUFFER_TOO_SMALL;   /* CalculateScatterGatherList says how much */
    return start_list(a, device, mdl, current_va, length, routine, context, write, buffer, span, FROM_CALLER);
}

/* After the device is done: for a read, copy what it wrote into the map
 * registers back into the caller's frames. */
static void flush_list(PIOP_DMA_ADAPTER a, PIOP_SG_PRIVATE p)
{
    a->FlushCalls++;
    if (p->WriteToDevice)
        return;
    for (ULONG i = 0; i < p->MapRegisters; i++) {
        bounce_copy(a, &p->Bounce[i], FALSE);
        a->BytesCopiedBack += p->Bounce[i].Length;
    }
}

static BOOLEAN flush_adapter_buffers(PDMA_ADAPTER dma, PMDL mdl, PVOID map_register_base, PVOID current_va,
                                     ULONG length, BOOLEAN write)
{
    /* For packet-based DMA (not built), the driver calls this after each
     * transfer with its MapRegisterBase: the HAL drains the adapter's
     * buffers and copies a bounced read back. A scatter/gather driver
     * never calls it: PutScatterGatherList does the same work for the
     * list (flush_list). Here there is nothing to drain. */
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    PIOP_DMA_ADAPTER a = adapter_of(dma);
    UNREFERENCED_PARAMETER(map_register_base);
    UNREFERENCED_PARAMETER(current_va);
    UNREFERENCED_PARAMETER(length);
    a->FlushCalls++;
    if (mdl)
        KeFlushIoBuffers(mdl, !write, TRUE);
    return TRUE;
}

static void put_scatter_gather_list(PDMA_ADAPTER dma, PSCATTER_GATHER_LIST list, BOOLEAN write)
{
    KI_ASSERT_IRQL_GE(DISPATCH_LEVEL);
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    PIOP_DMA_ADAPTER a = adapter_of(dma);
    PIOP_SG_PRIVATE p = list ? (PIOP_SG_PRIVATE)list->Reserved : NULL;
    if (!p || p->Magic != IOP_SG_MAGIC || p->List != list || p->Adapter != a || p->Queued || a->ListsOutstanding <= 0)
        dma_violation(IOP_DMA_FREED_TOO_MANY_SG_LISTS, (ULONG_PTR)a->ListsOutstanding, (ULONG_PTR)list, 0,
                      "PutScatterGatherList was given a list that is not out on this adapter (put twice, never "
                      "built, or another adapter's)");
    if (!write != !p->WriteToDevice)
        dma_violation(IOP_DMA_DIRECTION_CHANGED, (ULONG_PTR)list, write, p->WriteToDevice,
                      "PutScatterGatherList's WriteToDevice is not the one the list was built with: a read's "
                      "bounced data would not be copied back");
    flush_list(a, p);
    p->Magic = 0;

    KeAcquireSpinLockAtDpcLevel(&a->Lock);
    for (ULONG i = 0; i < p->MapRegisters; i++)
        a->FreeStack[a->FreeCount++] = p->Bounce[i].MapRegister;
    ATOMIC_ADD(IopDmaMapRegistersInUse, -(LONG)p->MapRegisters);
    a->ListsOutstanding--;
    ATOMIC_ADD(IopDmaListsOutstanding, -1);
    KeReleaseSpinLockFromDpcLevel(&a->Lock);
    if (p->Allocated == FROM_LOOKASIDE)
        ExFreeToNPagedLookasideList(&sgl_lookaside, list);
    else if (p->Allocated == FROM_POOL)
        ExFreePoolWithTag(list, TAG_DMA_SGL);

    /* Start the waiting requests the freed registers are enough for, in
     * order. Their execution routines run here, at DISPATCH_LEVEL. */
    for (;;) {
        KeAcquireSpinLockAtDpcLevel(&a->Lock);
        PIOP_SG_PRIVATE w = IsListEmpty(&a->WaitQueue) ? NULL
                                                       : CONTAINING_RECORD(a->WaitQueue.Flink, IOP_SG_PRIVATE, WaitLink);
        if (!w || !take_map_registers(a, w)) {
            KeReleaseSpinLockFromDpcLevel(&a->Lock);
            break;
        }
        RemoveEntryList(&w->WaitLink);
        w->Queued = FALSE;
        KeReleaseSpinLockFromDpcLevel(&a->Lock);
        build_and_execute(w);
    }
}

static DMA_OPERATIONS dma_operations = {
    .Size = sizeof(DMA_OPERATIONS),
    .PutDmaAdapter = put_dma_adapter,
    .AllocateCommonBuffer = allocate_common_buffer,
    .FreeCommonBuffer = free_common_buffer,
    .FlushAdapterBuffers = flush_adapter_buffers,
    .GetDmaAlignment = get_dma_alignment,
    .GetScatterGatherList = get_scatter_gather_list,
    .PutScatterGatherList = put_scatter_gather_list,
    .CalculateScatterGatherList = calculate_scatter_gather_list,
    .BuildScatterGatherList = build_scatter_gather_list,
};
