/*
 * The DMA lab's given half (docs/labs/dma.md): the device's limits and map
 * registers (IO_LAB_DMA), and a DMA adapter whose lists the student's
 * io/lab/sg.c builds, so that a real driver - virtio-blk, for the requests
 * of one file object a test routes to it (VblkLabRoute) - hands the
 * student's lists to a real device. Not graded code: the grader puts this
 * file back from the teacher's tree.
 *
 * A list goes to the device only after IoLabCheckList found it to be
 * exactly the transfer: a wrong address in a descriptor would let the
 * device read or write whatever memory it names, and a kernel test must
 * fail, not scribble over the kernel.
 */
#include "io/lab/sg.h"
#include "io/dmap.h"
#include "mm/mi.h"
#include "kernel/ke/ki.h"

#define TAG_LAB_DMA POOL_TAG('L', 'D', 'm', 'a')
#define LAB_ADAPTER_MAGIC POOL_TAG('L', 'a', 'b', 'A')

/* ---- limits and map registers ---- */

static ULONG64 reach_of(const DEVICE_DESCRIPTION *d)
{
    if (d->Version >= DEVICE_DESCRIPTION_VERSION3 && d->DmaAddressWidth)
        return d->DmaAddressWidth >= 64 ? ~0ULL : (1ULL << d->DmaAddressWidth) - 1;
    if (d->Dma64BitAddresses)
        return ~0ULL;
    return d->InterfaceType == Isa && !d->Dma32BitAddresses ? 0xFFFFFFULL : 0xFFFFFFFFULL;
}

NTSTATUS IoLabInitializeDma(IO_LAB_DMA *Dma, const DEVICE_DESCRIPTION *d)
{
    memset(Dma, 0, sizeof(*Dma));
    if (!d || !d->Master || !d->ScatterGather || !d->MaximumLength || d->Version > DEVICE_DESCRIPTION_VERSION3)
        return STATUS_INVALID_PARAMETER;
    if (d->Version >= DEVICE_DESCRIPTION_VERSION3 && d->DmaAddressWidth && d->DmaAddressWidth < 24)
        return STATUS_INVALID_PARAMETER;
    if (d->SegmentBoundary && ((d->SegmentBoundary & (d->SegmentBoundary - 1)) || d->SegmentBoundary < PAGE_SIZE))
        return STATUS_INVALID_PARAMETER;
    ULONG regs = (ULONG)BYTES_TO_PAGES(d->MaximumLength) + 1;
    if (regs > IOP_DMA_MAX_MAP_REGISTERS)
        regs = IOP_DMA_MAX_MAP_REGISTERS;
    Dma->HighestAddress = reach_of(d);
    Dma->MaximumSegmentLength = d->MaximumSegmentLength ? d->MaximumSegmentLength : ~0ULL;
    Dma->SegmentBoundary = d->SegmentBoundary;
    Dma->MapRegistersPerTransfer = regs;
    KeInitializeSpinLock(&Dma->Lock);
    ULONG64 top_of_ram = ((ULONG64)MmHighestPhysicalPage << PAGE_SHIFT) | (PAGE_SIZE - 1);
    if (top_of_ram <= Dma->HighestAddress)
        return STATUS_SUCCESS;   /* nothing is out of reach: no map registers */
    PHYSICAL_ADDRESS lo = { 0 }, hi = { (LONGLONG)Dma->HighestAddress }, skip = { 0 };
    PMDL m = MmAllocatePagesForMdlEx(lo, hi, skip, (SIZE_T)regs * PAGE_SIZE, MmCached, MM_ALLOCATE_FULLY_REQUIRED);
    PVOID va = m ? MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority) : NULL;
    USHORT *stack = va ? ExAllocatePoolWithTag(NonPagedPoolNx, regs * sizeof(USHORT), TAG_LAB_DMA) : NULL;
    if (!stack) {
        if (va)
            MmUnmapLockedPages(va, m);
        if (m) {
            MmFreePagesFromMdl(m);
            ExFreePool(m);
        }
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    Dma->MapRegisterMdl = m;
    Dma->MapRegisterPfn = MmGetMdlPfnArray(m);
    Dma->MapRegisterVa = va;
    Dma->MapRegisterCount = regs;
    Dma->FreeStack = stack;
    for (ULONG i = 0; i < regs; i++)
        stack[i] = (USHORT)(regs - 1 - i);   /* register 0 handed out first */
    Dma->FreeCount = regs;
    return STATUS_SUCCESS;
}

void IoLabFreeDma(IO_LAB_DMA *Dma)
{
    ULONG taken = Dma->MapRegisterCount - Dma->FreeCount;
    if (Dma->MapRegisterMdl) {
        MmUnmapLockedPages(Dma->MapRegisterVa, Dma->MapRegisterMdl);
        MmFreePagesFromMdl(Dma->MapRegisterMdl);
        ExFreePool(Dma->MapRegisterMdl);
        ExFreePoolWithTag(Dma->FreeStack, TAG_LAB_DMA);
    }
    memset(Dma, 0, sizeof(*Dma));
    if (taken)
        KtFail(__FILE__, __LINE__, "%u map register(s) still taken when the adapter went: a list was not put, or "
                                   "IoLabPutScatterGatherList did not give its registers back", taken);
}

BOOLEAN IoLabTakeMapRegisters(IO_LAB_DMA *Dma, ULONG Count, USHORT *Registers)
{
    KIRQL old;
    KeAcquireSpinLock(&Dma->Lock, &old);
    BOOLEAN ok = Dma->FreeCount >= Count;
    for (ULONG i = 0; ok && i < Count; i++)
        Registers[i] = Dma->FreeStack[--Dma->FreeCount];
    KeReleaseSpinLock(&Dma->Lock, old);
    return ok;
}

void IoLabReturnMapRegisters(IO_LAB_DMA *Dma, ULONG Count, const USHORT *Registers)
{
    KIRQL old;
    KeAcquireSpinLock(&Dma->Lock, &old);
    for (ULONG i = 0; i < Count; i++) {
        if (Registers[i] >= Dma->MapRegisterCount || Dma->FreeCount >= Dma->MapRegisterCount)
            KeBugCheckRule(DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_FREED_TOO_MANY_SG_LISTS, (ULONG_PTR)Dma,
                           Registers[i], Dma->FreeCount,
                           "IoLabReturnMapRegisters: a map register that was not taken (given back twice?)");
        Dma->FreeStack[Dma->FreeCount++] = Registers[i];
    }
    KeReleaseSpinLock(&Dma->Lock, old);
}

/* ---- the check ---- */

static LONG map_register_of(IO_LAB_DMA *d, PFN_NUMBER pfn)
{
    for (ULONG i = 0; i < d->MapRegisterCount; i++)
        if (d->MapRegisterPfn[i] == pfn)
            return (LONG)i;
    return -1;
}

const char *IoLabCheckList(IO_LAB_DMA *d, PMDL mdl, PVOID cva, ULONG length, PSCATTER_GATHER_LIST l, char *why,
                           ULONG size)
{
#define BAD(...) do { ksnprintf(why, size, __VA_ARGS__); return why; } while (0)
    if (!l)
        BAD("no list");
    ULONG n = l->NumberOfElements;
    ULONG64 span = 0, bytes = 0;
    for (PMDL m = mdl; m; m = m->Next)
        span += ADDRESS_AND_SIZE_TO_SPAN_PAGES(m->ByteOffset, m->ByteCount);
    ULONG64 cap = d->MaximumSegmentLength >= PAGE_SIZE ? span : span * ((PAGE_SIZE + d->MaximumSegmentLength - 1) /
                                                                        d->MaximumSegmentLength);
    if (n == 0 || n > cap)
        BAD("%u elements for a transfer of %u bytes", n, length);
    for (ULONG e = 0; e < n; e++) {
        ULONG64 a = (ULONG64)l->Elements[e].Address.QuadPart, len = l->Elements[e].Length;
        if (!len || len > d->MaximumSegmentLength)
            BAD("element %u is %#llx bytes (the longest segment is %#llx)", e, (unsigned long long)len,
                (unsigned long long)d->MaximumSegmentLength);
        if (a + len - 1 > d->HighestAddress || a + len < a)
            BAD("element %u at %#llx ends beyond the device's reach %#llx", e, (unsigned long long)a,
                (unsigned long long)d->HighestAddress);
        if (d->SegmentBoundary && (a & ~(d->SegmentBoundary - 1)) != ((a + len - 1) & ~(d->SegmentBoundary - 1)))
            BAD("element %u at %#llx + %#llx crosses a %#llx boundary", e, (unsigned long long)a, (unsigned long long)len,
                (unsigned long long)d->SegmentBoundary);
        bytes += len;
    }
    if (bytes != length)
        BAD("the elements hold %#llx bytes, the transfer %#x", (unsigned long long)bytes, length);
    /* Walk the transfer's page pieces alongside the elements. */
    ULONG e = 0;
    ULONG64 used = 0, regs_used[16] = { 0 };
    ULONG64 off = (ULONG_PTR)cva - (ULONG_PTR)MmGetMdlVirtualAddress(mdl), left = length;
    for (PMDL m = mdl; left; m = m->Next, off = 0) {
        ULONG64 take = m->ByteCount - off < left ? m->ByteCount - off : left;
        ULONG64 pos = m->ByteOffset + off;
        left -= take;
        while (take) {
            ULONG64 in = pos & (PAGE_SIZE - 1), k = PAGE_SIZE - in < take ? PAGE_SIZE - in : take;
            ULONG64 pa = (MmGetMdlPfnArray(m)[pos >> PAGE_SHIFT] << PAGE_SHIFT) | in;
            BOOLEAN bounced = pa + k - 1 > d->HighestAddress;
            for (ULONG64 done = 0; done < k;) {
                ULONG64 at = (ULONG64)l->Elements[e].Address.QuadPart + used;
                ULONG64 room = l->Elements[e].Length - used, c = room < k - done ? room : k - done;
                if (!bounced && at != pa + done)
                    BAD("byte %#llx of the transfer is at %#llx in element %u, not on its frame (%#llx)",
                        (unsigned long long)(length - left - take + done), (unsigned long long)at, e,
                        (unsigned long long)(pa + done));
                if (bounced) {
                    LONG r = map_register_of(d, at >> PAGE_SHIFT);
                    if (r < 0 || (at & (PAGE_SIZE - 1)) != in + done || ((at + c - 1) >> PAGE_SHIFT) != (at >> PAGE_SHIFT))
                        BAD("the piece on frame %#llx out of reach is at %#llx (element %u): not in a map register "
                            "at its own page offset", (unsigned long long)(pa >> PAGE_SHIFT), (unsigned long long)at, e);
                    if (done == 0) {
                        if (regs_used[r / 64 % 16] & (1ULL << (r % 64)))
                            BAD("map register %d holds two pieces of one list", r);
                        regs_used[r / 64 % 16] |= 1ULL << (r % 64);
                    }
                }
                used += c;
                done += c;
                if (used == l->Elements[e].Length) {
                    e++;
                    used = 0;
                }
            }
            pos += k;
            take -= k;
        }
    }
    return NULL;
#undef BAD
}

/* ---- the adapter ---- */

typedef struct {
    DMA_ADAPTER Header;          /* first: a PDMA_ADAPTER is one of these */
    ULONG Magic;
    IO_LAB_DMA Dma;
    volatile LONG ListsOut;
    volatile ULONG64 ListsBuilt;
    char Problem[160];
} LAB_ADAPTER;

static DMA_OPERATIONS lab_operations;

static LAB_ADAPTER *lab_of(PDMA_ADAPTER a)
{
    LAB_ADAPTER *l = (LAB_ADAPTER *)a;
    if (!l || l->Header.DmaOperations != &lab_operations || l->Magic != LAB_ADAPTER_MAGIC)
        KeBugCheckRule(DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_NOT_AN_ADAPTER, (ULONG_PTR)a, 0, 0,
                       "not an adapter IoLabGetDmaAdapter made");
    return l;
}

PDMA_ADAPTER IoLabGetDmaAdapter(PDEVICE_DESCRIPTION d, PULONG regs)
{
    if (!d || !regs || (d->MaximumSegmentLength && d->MaximumSegmentLength < PAGE_SIZE))
        return NULL;   /* a driver reserves one descriptor per page spanned: no more elements than pages */
    LAB_ADAPTER *l = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*l), TAG_LAB_DMA);
    if (!l)
        return NULL;
    memset(l, 0, sizeof(*l));
    if (!NT_SUCCESS(IoLabInitializeDma(&l->Dma, d))) {
        ExFreePoolWithTag(l, TAG_LAB_DMA);
        return NULL;
    }
    l->Header.Version = 1;
    l->Header.Size = sizeof(DMA_ADAPTER);
    l->Header.DmaOperations = &lab_operations;
    l->Magic = LAB_ADAPTER_MAGIC;
    *regs = l->Dma.MapRegistersPerTransfer;
    return &l->Header;
}

IO_LAB_DMA *IoLabDmaOfAdapter(PDMA_ADAPTER a) { return &lab_of(a)->Dma; }
ULONG64 IoLabListsBuilt(PDMA_ADAPTER a) { return lab_of(a)->ListsBuilt; }
const char *IoLabLastProblem(PDMA_ADAPTER a) { return lab_of(a)->Problem; }

static void lab_put_adapter(PDMA_ADAPTER a)
{
    LAB_ADAPTER *l = lab_of(a);
    if (l->ListsOut)
        KeBugCheckRule(DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_PUT_ADAPTER_SG_LISTS, (ULONG_PTR)a, (ULONG_PTR)l->ListsOut,
                       0, "the lab's adapter was put with lists still out");
    l->Magic = 0;
    IO_LAB_DMA dma = l->Dma;
    ExFreePoolWithTag(l, TAG_LAB_DMA);
    IoLabFreeDma(&dma);   /* may end the test: after everything is freed */
}

static NTSTATUS lab_calculate(PDMA_ADAPTER a, PMDL mdl, PVOID cva, ULONG length, PULONG size, PULONG regs)
{
    return IoLabCalculateScatterGatherList(&lab_of(a)->Dma, mdl, cva, length, size, regs);
}

static NTSTATUS lab_get(PDMA_ADAPTER a, PDEVICE_OBJECT dev, PMDL mdl, PVOID cva, ULONG length,
                        PDRIVER_LIST_CONTROL routine, PVOID context, BOOLEAN write)
{
    KI_ASSERT_IRQL_GE(DISPATCH_LEVEL);
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    LAB_ADAPTER *l = lab_of(a);
    ULONG size = 0;
    NTSTATUS s = IoLabCalculateScatterGatherList(&l->Dma, mdl, cva, length, &size, NULL);
    if (!NT_SUCCESS(s))
        return s;
    if (size < sizeof(SCATTER_GATHER_LIST) || size > 1024 * 1024) {
        ksnprintf(l->Problem, sizeof(l->Problem), "IoLabCalculateScatterGatherList said %u bytes", size);
        return STATUS_DATA_ERROR;
    }
    PSCATTER_GATHER_LIST list = ExAllocatePoolWithTag(NonPagedPoolNx, size, TAG_LAB_DMA);
    if (!list)
        return STATUS_INSUFFICIENT_RESOURCES;
    s = IoLabBuildScatterGatherList(&l->Dma, mdl, cva, length, write, list, size);
    if (!NT_SUCCESS(s)) {
        ExFreePoolWithTag(list, TAG_LAB_DMA);
        return s;
    }
    if (IoLabCheckList(&l->Dma, mdl, cva, length, list, l->Problem, sizeof(l->Problem))) {
        IoLabPutScatterGatherList(&l->Dma, list, write);
        ExFreePoolWithTag(list, TAG_LAB_DMA);
        return STATUS_DATA_ERROR;   /* never to the device */
    }
    __atomic_add_fetch(&l->ListsOut, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&l->ListsBuilt, 1, __ATOMIC_RELAXED);
    for (PMDL m = mdl; m; m = m->Next)
        KeFlushIoBuffers(m, !write, TRUE);
    routine(dev, dev ? dev->CurrentIrp : NULL, list, context);
    return STATUS_SUCCESS;
}

static void lab_put(PDMA_ADAPTER a, PSCATTER_GATHER_LIST list, BOOLEAN write)
{
    KI_ASSERT_IRQL_GE(DISPATCH_LEVEL);
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    LAB_ADAPTER *l = lab_of(a);
    IoLabPutScatterGatherList(&l->Dma, list, write);
    __atomic_sub_fetch(&l->ListsOut, 1, __ATOMIC_RELAXED);
    ExFreePoolWithTag(list, TAG_LAB_DMA);
}

static ULONG lab_alignment(PDMA_ADAPTER a)
{
    lab_of(a);
    return 1;
}

/* What a driver calls per request; common buffers stay the kernel's
 * adapter's (a lab adapter is for lists only). */
static DMA_OPERATIONS lab_operations = {
    .Size = sizeof(DMA_OPERATIONS),
    .PutDmaAdapter = lab_put_adapter,
    .GetDmaAlignment = lab_alignment,
    .GetScatterGatherList = lab_get,
    .PutScatterGatherList = lab_put,
    .CalculateScatterGatherList = lab_calculate,
};
