/*
 * The DMA lab's tests (docs/labs/dma.md): `make grade LAB=dma`. Each
 * builds lists with the student's IoLab*ScatterGatherList and judges them
 * by the kernel's own view, never the student's: against the list io/dma.c
 * makes for the same MDL and the same device (IoGetDmaAdapter), against
 * the frames in a process's PTEs, against the bytes a "device" reads and
 * writes at the elements' bus addresses (through hyperspace), and - in
 * Part 3 - against the bytes a real virtio-blk disk holds, read back
 * through the kernel's own path. Points beside each test.
 *
 * Most MDLs are built by hand over chosen frames (MDL_SOURCE_IS_NONPAGED_POOL,
 * as MmBuildMdlForNonPagedPool leaves one): a list for a 64-bit device
 * reads only the PFN array, so the expected elements are known exactly.
 * Bouncing needs frames above the device's reach: in the 256 MiB test
 * boot, a device of 27 address bits (128 MiB) and frames above 128 MiB.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "io/lab/sg.h"
#include "drivers/tests/drv_test_util.h"
#include "drivers/virtio/vblk.h"

#define TAG_T POOL_TAG('L', 'D', 'T', 's')
#define FAKE_VA ((PUCHAR)0xFFFFF80056780000ULL)   /* never dereferenced: only its page offset counts */
#define LIMIT_27 ((1ULL << 27) - 1)

static const PHYSICAL_ADDRESS pa_zero = { 0 }, pa_max = { -1 }, above_128m = { 1LL << 27 }, below_128m = { LIMIT_27 };

static void describe(DEVICE_DESCRIPTION *d, ULONG width, ULONG max_length, ULONG segment, ULONG boundary)
{
    memset(d, 0, sizeof(*d));
    d->Version = DEVICE_DESCRIPTION_VERSION3;
    d->Master = d->ScatterGather = d->Dma32BitAddresses = TRUE;
    d->Dma64BitAddresses = width == 64;
    d->InterfaceType = PCIBus;
    d->MaximumLength = max_length;
    d->DmaAddressWidth = width == 64 ? 0 : width;
    d->MaximumSegmentLength = segment;
    d->SegmentBoundary = boundary;
}

static PMDL fake_mdl(ULONG offset, ULONG bytes, const PFN_NUMBER *pfns)
{
    PVOID va = FAKE_VA + offset;
    PMDL m = ExAllocatePoolWithTag(NonPagedPoolNx, MmSizeOfMdl(va, bytes), TAG_T);
    KT_ASSERT(m != NULL);
    MmInitializeMdl(m, va, bytes);
    memcpy(MmGetMdlPfnArray(m), pfns, ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, bytes) * sizeof(PFN_NUMBER));
    m->MdlFlags |= MDL_SOURCE_IS_NONPAGED_POOL;
    return m;
}

/* ---- the kernel's list and the student's ---- */

typedef struct {
    ULONG N;
    ULONG64 Address[64];
    ULONG Length[64];
    PSCATTER_GATHER_LIST List;
} ELEMS;

static void copy_list(PDEVICE_OBJECT dev, PIRP irp, PSCATTER_GATHER_LIST l, PVOID ctx)
{
    UNREFERENCED_PARAMETER(dev);
    UNREFERENCED_PARAMETER(irp);
    ELEMS *e = ctx;
    e->List = l;
    e->N = l->NumberOfElements;
    for (ULONG i = 0; i < e->N && i < 64; i++) {
        e->Address[i] = (ULONG64)l->Elements[i].Address.QuadPart;
        e->Length[i] = l->Elements[i].Length;
    }
}

/* What io/dma.c makes of the same transfer for the same device. */
static void kernel_list(DEVICE_DESCRIPTION *d, PMDL m, PVOID cva, ULONG len, ELEMS *out)
{
    ULONG regs;
    memset(out, 0, sizeof(*out));
    PDMA_ADAPTER a = IoGetDmaAdapter(NULL, d, &regs);
    KT_ASSERT(a != NULL);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    NTSTATUS s = a->DmaOperations->GetScatterGatherList(a, NULL, m, cva, len, copy_list, out, TRUE);
    if (NT_SUCCESS(s) && out->List)
        a->DmaOperations->PutScatterGatherList(a, out->List, TRUE);
    KeLowerIrql(old);
    a->DmaOperations->PutDmaAdapter(a);
    KT_EQ(s, STATUS_SUCCESS);
    KT_ASSERT(out->List != NULL);
    out->List = NULL;
}

/* The student's list for the transfer, in a block of the size their
 * Calculate asks for; exactly the transfer (IoLabCheckList). */
static PSCATTER_GATHER_LIST student_list(IO_LAB_DMA *d, PMDL m, PVOID cva, ULONG len, BOOLEAN write)
{
    ULONG size = 0, regs = 0;
    KT_EQ(IoLabCalculateScatterGatherList(d, m, cva, len, &size, &regs), STATUS_SUCCESS);
    KT_GE(size, sizeof(SCATTER_GATHER_LIST) + sizeof(SCATTER_GATHER_ELEMENT));
    KT_LE(size, 1024 * 1024);
    PSCATTER_GATHER_LIST l = ExAllocatePoolWithTag(NonPagedPoolNx, size, TAG_T);
    KT_ASSERT(l != NULL);
    NTSTATUS s = IoLabBuildScatterGatherList(d, m, cva, len, write, l, size);
    if (!NT_SUCCESS(s)) {
        ExFreePoolWithTag(l, TAG_T);
        KT_EQ(s, STATUS_SUCCESS);
    }
    char why[160];
    const char *bad = IoLabCheckList(d, m, cva, len, l, why, sizeof(why));
    if (bad)
        KtFail(__FILE__, __LINE__, "the list is not the transfer: %s", bad);
    return l;
}

static void student_put(IO_LAB_DMA *d, PSCATTER_GATHER_LIST l, BOOLEAN write)
{
    IoLabPutScatterGatherList(d, l, write);
    ExFreePoolWithTag(l, TAG_T);
}

static BOOLEAN in_map_register(IO_LAB_DMA *d, ULONG64 pa)
{
    for (ULONG i = 0; i < d->MapRegisterCount; i++)
        if (d->MapRegisterPfn[i] == pa >> PAGE_SHIFT)
            return TRUE;
    return FALSE;
}

/* The student's list is the kernel's: the same elements - and where the
 * kernel bounced, the same lengths through one of the lab's map registers. */
static void same_as_kernel(IO_LAB_DMA *d, DEVICE_DESCRIPTION *desc, PMDL m, PVOID cva, ULONG len)
{
    ELEMS k;
    kernel_list(desc, m, cva, len, &k);
    PSCATTER_GATHER_LIST l = student_list(d, m, cva, len, TRUE);
    ULONG n = l->NumberOfElements;
    SCATTER_GATHER_ELEMENT got[64];
    memcpy(got, l->Elements, (n < 64 ? n : 64) * sizeof(SCATTER_GATHER_ELEMENT));
    student_put(d, l, TRUE);
    KT_EQ(n, k.N);
    for (ULONG i = 0; i < n && i < 64; i++) {
        KT_EQ(got[i].Length, k.Length[i]);
        if (!in_map_register(d, (ULONG64)got[i].Address.QuadPart))
            KT_EQ((ULONG64)got[i].Address.QuadPart, k.Address[i]);
    }
}

static void expect(PSCATTER_GATHER_LIST l, ULONG i, ULONG64 address, ULONG length)
{
    KT_LT(i, l->NumberOfElements);
    KT_EQ((ULONG64)l->Elements[i].Address.QuadPart, address);
    KT_EQ(l->Elements[i].Length, length);
}

/* ---- Part 1: the list from the PFN array ---- */

KTEST_POINTS(dmalab, list__user_buffer_is_its_frames, 10)
{
    DEVICE_DESCRIPTION desc;
    describe(&desc, 64, 1 << 20, 0, 0);
    IO_LAB_DMA d;
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    KT_EQ(d.MapRegisterCount, 0);   /* a 64-bit device never bounces */

    /* A user buffer: 6 pages from 0x321, its frames where the faults put
     * them (written last page first). */
    KT_PROCESS p;
    ULONG64 va;
    KT_EQ(KtCreateProcess("hello", &p), STATUS_SUCCESS);
    KT_EQ(KtAllocateUser(&p, 6 * PAGE_SIZE, PAGE_READWRITE, &va), STATUS_SUCCESS);
    for (int i = 5; i >= 0; i--) {
        ULONG64 x = 0x100 + (ULONG64)i;
        KT_EQ(KtWriteUser(&p, va + (ULONG64)i * PAGE_SIZE, &x, 8), STATUS_SUCCESS);
    }
    ULONG len = 5 * PAGE_SIZE + 0x100;
    PMDL m = IoAllocateMdl((PVOID)(va + 0x321), len, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KtAttach(&p);
    MmProbeAndLockPages(m, UserMode, IoWriteAccess);
    KtDetach(&p);
    for (ULONG i = 0; i < 6; i++)
        KT_EQ(MmGetMdlPfnArray(m)[i], MI_PTE_PFN(KtPteOf(&p, va + i * PAGE_SIZE)));
    PSCATTER_GATHER_LIST l = student_list(&d, m, (PVOID)(va + 0x321), len, TRUE);
    /* The first element starts at the byte offset in the user's first frame. */
    KT_EQ((ULONG64)l->Elements[0].Address.QuadPart, (MmGetMdlPfnArray(m)[0] << PAGE_SHIFT) | 0x321);
    student_put(&d, l, TRUE);
    same_as_kernel(&d, &desc, m, (PVOID)(va + 0x321), len);
    same_as_kernel(&d, &desc, m, (PVOID)(va + 0x1000), 0x1800);   /* a piece of it */
    KtAttach(&p);
    MmUnlockPages(m);
    KtDetach(&p);
    IoFreeMdl(m);

    /* A user buffer whose frames are contiguous by construction: a user
     * view of contiguous memory. Its whole transfer is one element. */
    PUCHAR contig = MmAllocateContiguousMemorySpecifyCache(4 * PAGE_SIZE, pa_zero, pa_max, pa_zero, MmCached);
    KT_ASSERT(contig != NULL);
    PMDL cm = IoAllocateMdl(contig, 4 * PAGE_SIZE, FALSE, FALSE, NULL);
    MmBuildMdlForNonPagedPool(cm);
    KtAttach(&p);
    PUCHAR view = MmMapLockedPagesSpecifyCache(cm, UserMode, MmCached, NULL, FALSE, NormalPagePriority);
    KT_ASSERT(view != NULL);
    PMDL um = IoAllocateMdl(view + 0x80, 4 * PAGE_SIZE - 0x100, FALSE, FALSE, NULL);
    MmProbeAndLockPages(um, UserMode, IoReadAccess);
    KtDetach(&p);
    l = student_list(&d, um, view + 0x80, um->ByteCount, FALSE);
    KT_EQ(l->NumberOfElements, 1);
    expect(l, 0, (ULONG64)MmGetPhysicalAddress(contig).QuadPart + 0x80, 4 * PAGE_SIZE - 0x100);
    student_put(&d, l, FALSE);
    KtAttach(&p);
    MmUnlockPages(um);
    MmUnmapLockedPages(view, cm);
    KtDetach(&p);
    IoFreeMdl(um);
    IoFreeMdl(cm);
    MmFreeContiguousMemorySpecifyCache(contig, 4 * PAGE_SIZE, MmCached);
    KT_EQ(KtFreeUser(&p, va), STATUS_SUCCESS);
    KtDeleteProcess(&p);
    IoLabFreeDma(&d);
}

KTEST_POINTS(dmalab, list__contiguous_frames_merge_across_a_chain, 10)
{
    DEVICE_DESCRIPTION desc;
    describe(&desc, 64, 1 << 20, 0, 0);
    IO_LAB_DMA d;
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    /* Unaligned, in an order no merge can join: one element per page. */
    PFN_NUMBER scattered[4] = { 0x7003, 0x7001, 0x9000, 0x7002 };
    PMDL s = fake_mdl(0x234, 3 * PAGE_SIZE, scattered);
    PSCATTER_GATHER_LIST l = student_list(&d, s, MmGetMdlVirtualAddress(s), s->ByteCount, TRUE);
    KT_EQ(l->NumberOfElements, 4);
    expect(l, 0, 0x7003234ULL, PAGE_SIZE - 0x234);
    expect(l, 1, 0x7001000ULL, PAGE_SIZE);
    expect(l, 2, 0x9000000ULL, PAGE_SIZE);
    expect(l, 3, 0x7002000ULL, 0x234);
    student_put(&d, l, TRUE);

    /* A chain: the first MDL ends on 0x6001's end, the second starts on
     * 0x6002 - one element across the two - then 0x8000 is elsewhere. */
    PFN_NUMBER p1[2] = { 0x6000, 0x6001 }, p2[2] = { 0x6002, 0x8000 };
    PMDL m1 = fake_mdl(0x800, 2 * PAGE_SIZE - 0x800, p1);
    PMDL m2 = fake_mdl(0, 2 * PAGE_SIZE - 0x10, p2);
    m1->Next = m2;
    ULONG total = m1->ByteCount + m2->ByteCount;
    l = student_list(&d, m1, MmGetMdlVirtualAddress(m1), total, FALSE);
    KT_EQ(l->NumberOfElements, 2);
    expect(l, 0, 0x6000800ULL, 3 * PAGE_SIZE - 0x800);
    expect(l, 1, 0x8000000ULL, PAGE_SIZE - 0x10);
    student_put(&d, l, FALSE);
    /* From inside the first MDL to inside the second. */
    l = student_list(&d, m1, (PUCHAR)MmGetMdlVirtualAddress(m1) + 0x900, PAGE_SIZE + 0x100, TRUE);
    KT_EQ(l->NumberOfElements, 1);
    expect(l, 0, 0x6001100ULL, PAGE_SIZE + 0x100);
    student_put(&d, l, TRUE);
    same_as_kernel(&d, &desc, m1, MmGetMdlVirtualAddress(m1), total);
    same_as_kernel(&d, &desc, s, (PUCHAR)MmGetMdlVirtualAddress(s) + 0x1000, 0x1100);
    ExFreePoolWithTag(s, TAG_T);
    ExFreePoolWithTag(m1, TAG_T);
    ExFreePoolWithTag(m2, TAG_T);
    IoLabFreeDma(&d);
}

KTEST_POINTS(dmalab, list__split_at_the_segment_length_and_boundary, 10)
{
    PFN_NUMBER pfns[8] = { 0x4002, 0x4003, 0x4004, 0x4005, 0x4006, 0x4007, 0x4008, 0x4009 };
    PMDL m = fake_mdl(0, 8 * PAGE_SIZE, pfns);
    PVOID base = MmGetMdlVirtualAddress(m);
    DEVICE_DESCRIPTION desc;
    IO_LAB_DMA d;
    /* 12 KiB segments: 8 contiguous pages are 12 + 12 + 8 KiB. */
    describe(&desc, 64, 1 << 20, 3 * PAGE_SIZE, 0);
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    PSCATTER_GATHER_LIST l = student_list(&d, m, base, 8 * PAGE_SIZE, TRUE);
    KT_EQ(l->NumberOfElements, 3);
    expect(l, 0, 0x4002000ULL, 3 * PAGE_SIZE);
    expect(l, 1, 0x4005000ULL, 3 * PAGE_SIZE);
    expect(l, 2, 0x4008000ULL, 2 * PAGE_SIZE);
    student_put(&d, l, TRUE);
    IoLabFreeDma(&d);
    /* A 16 KiB boundary: nothing crosses 0x4004000 or 0x4008000. */
    describe(&desc, 64, 1 << 20, 0, 4 * PAGE_SIZE);
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    l = student_list(&d, m, base, 8 * PAGE_SIZE, TRUE);
    KT_EQ(l->NumberOfElements, 3);
    expect(l, 0, 0x4002000ULL, 2 * PAGE_SIZE);
    expect(l, 1, 0x4004000ULL, 4 * PAGE_SIZE);
    expect(l, 2, 0x4008000ULL, 2 * PAGE_SIZE);
    student_put(&d, l, TRUE);
    IoLabFreeDma(&d);
    /* Segments shorter than a page. */
    describe(&desc, 64, 1 << 20, 0x600, 0);
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    l = student_list(&d, m, (PUCHAR)base + 0x100, 0x1000, TRUE);
    KT_EQ(l->NumberOfElements, 3);
    expect(l, 0, 0x4002100ULL, 0x600);
    expect(l, 1, 0x4002700ULL, 0x600);
    expect(l, 2, 0x4002D00ULL, 0x400);
    student_put(&d, l, TRUE);
    same_as_kernel(&d, &desc, m, (PUCHAR)base + 0x345, 5 * PAGE_SIZE);
    IoLabFreeDma(&d);
    /* Both at once, from an odd offset: as the kernel cuts it. */
    describe(&desc, 64, 1 << 20, 0x2800, 2 * PAGE_SIZE);
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    same_as_kernel(&d, &desc, m, (PUCHAR)base + 0x1F0, 7 * PAGE_SIZE);
    IoLabFreeDma(&d);
    ExFreePoolWithTag(m, TAG_T);
}

KTEST_POINTS(dmalab, size__small_buffers_and_bad_ranges_are_refused, 5)
{
    DEVICE_DESCRIPTION desc;
    describe(&desc, 27, 4 * PAGE_SIZE, 0, 0);   /* map registers: RAM lies above 128 MiB */
    IO_LAB_DMA d;
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    KT_EQ(d.MapRegisterCount, 5);
    PMDL high = MmAllocatePagesForMdlEx(above_128m, pa_max, pa_zero, 2 * PAGE_SIZE, MmCached,
                                        MM_ALLOCATE_FULLY_REQUIRED);
    KT_ASSERT(high != NULL);
    PUCHAR mva = MmGetMdlVirtualAddress(high);
    ULONG size = 0, regs = 0, ksize = 0, kregs = 0;
    KT_EQ(IoLabCalculateScatterGatherList(&d, high, mva + 8, PAGE_SIZE, &size, &regs), STATUS_SUCCESS);
    ULONG kr;
    PDMA_ADAPTER a = IoGetDmaAdapter(NULL, &desc, &kr);
    KT_ASSERT(a != NULL);
    KT_EQ(a->DmaOperations->CalculateScatterGatherList(a, high, mva + 8, PAGE_SIZE, &ksize, &kregs), STATUS_SUCCESS);
    a->DmaOperations->PutDmaAdapter(a);
    KT_EQ(regs, kregs);                          /* the pages spanned: 2 */
    KT_EQ(regs, 2);
    KT_GE(size, sizeof(SCATTER_GATHER_LIST) + 2 * sizeof(SCATTER_GATHER_ELEMENT));
    PUCHAR buf = ExAllocatePoolWithTag(NonPagedPoolNx, size, TAG_T);
    KT_ASSERT(buf != NULL);
    memset(buf, 0xEE, size);
    KT_EQ(IoLabBuildScatterGatherList(&d, high, mva + 8, PAGE_SIZE, TRUE, buf, size - 1), STATUS_BUFFER_TOO_SMALL);
    KT_EQ(d.FreeCount, d.MapRegisterCount);      /* nothing taken */
    KT_EQ(buf[0], 0xEE);                         /* nothing written */
    /* The transfer must lie in the chain, start in the first MDL, and be bytes. */
    KT_EQ(IoLabCalculateScatterGatherList(&d, high, mva, 0, &size, NULL), STATUS_INVALID_PARAMETER);
    KT_EQ(IoLabCalculateScatterGatherList(&d, high, mva - 1, 16, &size, NULL), STATUS_INVALID_PARAMETER);
    KT_EQ(IoLabCalculateScatterGatherList(&d, high, mva + 2 * PAGE_SIZE, 16, &size, NULL), STATUS_INVALID_PARAMETER);
    KT_EQ(IoLabCalculateScatterGatherList(&d, high, mva + 8, 2 * PAGE_SIZE, &size, NULL), STATUS_INVALID_PARAMETER);
    KT_EQ(IoLabBuildScatterGatherList(&d, high, mva + 8, 2 * PAGE_SIZE, TRUE, buf, size), STATUS_INVALID_PARAMETER);
    KT_EQ(d.FreeCount, d.MapRegisterCount);
    ExFreePoolWithTag(buf, TAG_T);
    MmFreePagesFromMdl(high);
    ExFreePool(high);
    /* Longer than the device's largest transfer (5 pages spanned at most). */
    PFN_NUMBER pfns[6] = { 0x3000, 0x3001, 0x3002, 0x3003, 0x3004, 0x3005 };
    PMDL m = fake_mdl(0x10, 5 * PAGE_SIZE, pfns);
    KT_EQ(IoLabCalculateScatterGatherList(&d, m, MmGetMdlVirtualAddress(m), 5 * PAGE_SIZE, &size, NULL),
          STATUS_INSUFFICIENT_RESOURCES);
    KT_EQ(IoLabCalculateScatterGatherList(&d, m, MmGetMdlVirtualAddress(m), 4 * PAGE_SIZE, &size, &regs),
          STATUS_SUCCESS);
    KT_EQ(regs, 5);
    ExFreePoolWithTag(m, TAG_T);
    IoLabFreeDma(&d);
}

/* ---- Part 2: bouncing ---- */

static UCHAR pattern(ULONG64 i, ULONG seed) { return (UCHAR)(i * 7 + (i >> 8) + seed); }

static void frame_bytes(PFN_NUMBER pfn, ULONG off, PUCHAR buf, ULONG len, BOOLEAN write)
{
    KIRQL old;
    PUCHAR v = MiMapPageInHyperspace(pfn, &old);
    if (write)
        memcpy(v + off, buf, len);
    else
        memcpy(buf, v + off, len);
    MiUnmapPageInHyperspace(v, old);
}

/* Fill each frame of the MDL with the pattern of its transfer offsets. */
static void fill_frames(PMDL m, ULONG seed)
{
    static UCHAR page[PAGE_SIZE];
    for (ULONG i = 0; i < ADDRESS_AND_SIZE_TO_SPAN_PAGES(m->ByteOffset, m->ByteCount); i++) {
        for (ULONG b = 0; b < PAGE_SIZE; b++)
            page[b] = pattern((ULONG64)i * PAGE_SIZE + b, seed);
        frame_bytes(MmGetMdlPfnArray(m)[i], 0, page, PAGE_SIZE, TRUE);
    }
}

/* The device: read (or write, with SEED) every element at its bus address,
 * walking the transfer from the MDL's byte FROM. */
static void device(PSCATTER_GATHER_LIST l, PMDL m, ULONG from, ULONG seed, BOOLEAN writes)
{
    static UCHAR got[PAGE_SIZE];
    ULONG64 at = m->ByteOffset + from;   /* the pattern's index: the offset in the MDL's pages */
    for (ULONG e = 0; e < l->NumberOfElements; e++) {
        ULONG64 pa = (ULONG64)l->Elements[e].Address.QuadPart;
        for (ULONG done = 0; done < l->Elements[e].Length;) {
            ULONG n = PAGE_SIZE - (ULONG)(pa & (PAGE_SIZE - 1));
            if (n > l->Elements[e].Length - done)
                n = l->Elements[e].Length - done;
            if (writes) {
                for (ULONG i = 0; i < n; i++)
                    got[i] = pattern(at + i, seed);
                frame_bytes(pa >> PAGE_SHIFT, (ULONG)(pa & (PAGE_SIZE - 1)), got, n, TRUE);
            } else {
                frame_bytes(pa >> PAGE_SHIFT, (ULONG)(pa & (PAGE_SIZE - 1)), got, n, FALSE);
                for (ULONG i = 0; i < n; i++)
                    if (got[i] != pattern(at + i, 1))
                        KtFail(__FILE__, __LINE__, "the device reads %#x at bus address %#llx, the buffer has %#x "
                                                   "there (byte %#llx of the MDL)", got[i],
                               (unsigned long long)(pa + i), pattern(at + i, 1), (unsigned long long)(at + i));
            }
            pa += n;
            done += n;
            at += n;
        }
    }
}

/* Byte I of the MDL's pages (from the start of its first page) now. */
static UCHAR mdl_byte(PMDL m, ULONG64 i)
{
    UCHAR c;
    frame_bytes(MmGetMdlPfnArray(m)[i >> PAGE_SHIFT], (ULONG)(i & (PAGE_SIZE - 1)), &c, 1, FALSE);
    return c;
}

typedef struct {
    PMDL Low, High, Mdl;
} MIXED;

/* Frames high[0], low[0], high[1], low[1]: two out of the reach of a
 * 27-bit device, two inside it. */
static void mixed_mdl(MIXED *x, ULONG offset, ULONG bytes)
{
    x->Low = MmAllocatePagesForMdlEx(pa_zero, below_128m, pa_zero, 2 * PAGE_SIZE, MmCached, MM_ALLOCATE_FULLY_REQUIRED);
    x->High = MmAllocatePagesForMdlEx(above_128m, pa_max, pa_zero, 2 * PAGE_SIZE, MmCached, MM_ALLOCATE_FULLY_REQUIRED);
    KT_ASSERT(x->Low && x->High);
    PFN_NUMBER pfns[4] = { MmGetMdlPfnArray(x->High)[0], MmGetMdlPfnArray(x->Low)[0], MmGetMdlPfnArray(x->High)[1],
                           MmGetMdlPfnArray(x->Low)[1] };
    KT_GT(pfns[0], LIMIT_27 >> PAGE_SHIFT);
    KT_LE(pfns[1], LIMIT_27 >> PAGE_SHIFT);
    x->Mdl = fake_mdl(offset, bytes, pfns);
    fill_frames(x->Mdl, 1);
}

static void free_mixed(MIXED *x)
{
    ExFreePoolWithTag(x->Mdl, TAG_T);
    MmFreePagesFromMdl(x->Low);
    ExFreePool(x->Low);
    MmFreePagesFromMdl(x->High);
    ExFreePool(x->High);
}

KTEST_POINTS(dmalab, bounce__write_is_copied_in_at_build, 10)
{
    DEVICE_DESCRIPTION desc;
    describe(&desc, 27, 4 * PAGE_SIZE, 0, 0);
    IO_LAB_DMA d;
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    KT_EQ(d.MapRegisterCount, 5);
    for (ULONG i = 0; i < d.MapRegisterCount; i++)
        KT_LE(d.MapRegisterPfn[i], LIMIT_27 >> PAGE_SHIFT);
    memset(d.MapRegisterVa, 0xCC, (SIZE_T)d.MapRegisterCount * PAGE_SIZE);
    MIXED x;
    mixed_mdl(&x, 0x80, 4 * PAGE_SIZE - 0x100);
    PVOID cva = MmGetMdlVirtualAddress(x.Mdl);
    PSCATTER_GATHER_LIST l = student_list(&d, x.Mdl, cva, x.Mdl->ByteCount, TRUE);
    /* High, low, high, low: no two pieces merge, the high ones are in map registers. */
    KT_EQ(l->NumberOfElements, 4);
    KT_ASSERT(in_map_register(&d, (ULONG64)l->Elements[0].Address.QuadPart));
    expect(l, 1, (ULONG64)MmGetMdlPfnArray(x.Mdl)[1] << PAGE_SHIFT, PAGE_SIZE);   /* zero copy */
    KT_ASSERT(in_map_register(&d, (ULONG64)l->Elements[2].Address.QuadPart));
    KT_EQ(l->Elements[0].Length, PAGE_SIZE - 0x80);
    KT_EQ((ULONG64)l->Elements[0].Address.QuadPart & (PAGE_SIZE - 1), 0x80);   /* the piece's own offset */
    KT_EQ(d.FreeCount, d.MapRegisterCount - 2);  /* one register per bounced piece */
    device(l, x.Mdl, 0, 0, FALSE);               /* the device reads the buffer's bytes, bounced or not */
    device(l, x.Mdl, 0, 0x77, TRUE);             /* and (a misbehaving device) writes over them */
    student_put(&d, l, TRUE);
    KT_EQ(d.FreeCount, d.MapRegisterCount);
    /* The device's writes reached the low frames themselves; a write's
     * bounced pieces are never copied back, so the high frames are as they were. */
    for (ULONG64 i = 0; i < 4 * PAGE_SIZE; i++) {
        BOOLEAN high = (i >> PAGE_SHIFT) == 0 || (i >> PAGE_SHIFT) == 2;
        BOOLEAN in = i >= 0x80 && i < 4 * PAGE_SIZE - 0x80;
        UCHAR want = !high && in ? pattern(i, 0x77) : pattern(i, 1);
        if (mdl_byte(x.Mdl, i) != want)
            KtFail(__FILE__, __LINE__, "after the put of a write, byte %#llx of the buffer is %#x, not %#x",
                   (unsigned long long)i, mdl_byte(x.Mdl, i), want);
    }
    same_as_kernel(&d, &desc, x.Mdl, cva, x.Mdl->ByteCount);
    free_mixed(&x);
    IoLabFreeDma(&d);
}

KTEST_POINTS(dmalab, bounce__read_is_copied_back_at_put_and_only_its_bytes, 10)
{
    DEVICE_DESCRIPTION desc;
    describe(&desc, 27, 4 * PAGE_SIZE, 0, 0);
    IO_LAB_DMA d;
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    MIXED x;
    mixed_mdl(&x, 0, 4 * PAGE_SIZE);
    /* From 0x100 of the first (high) page to 0x80 into the third (high):
     * both high pages only partly in the transfer. */
    ULONG from = 0x100, len = 2 * PAGE_SIZE - 0x80;
    PUCHAR cva = (PUCHAR)MmGetMdlVirtualAddress(x.Mdl) + from;
    PSCATTER_GATHER_LIST l = student_list(&d, x.Mdl, cva, len, FALSE);
    KT_EQ(l->NumberOfElements, 3);
    KT_EQ(d.FreeCount, d.MapRegisterCount - 2);
    for (ULONG64 i = 0; i < 4 * PAGE_SIZE; i++)
        if (mdl_byte(x.Mdl, i) != pattern(i, 1))
            KT_EQ(mdl_byte(x.Mdl, i), pattern(i, 1));   /* a read copies nothing in: the buffer is as it was */
    device(l, x.Mdl, from, 0x55, TRUE);          /* the device writes the elements */
    /* Not there yet for the high frames: the device wrote map registers. */
    KT_EQ(mdl_byte(x.Mdl, from), pattern(from, 1));
    KT_EQ(mdl_byte(x.Mdl, PAGE_SIZE), pattern(PAGE_SIZE, 0x55));   /* the low frame: the device's own write */
    /* The CPU writes the bytes of the high pages outside the transfer
     * meanwhile: they are not the device's, and the copy back must keep them. */
    UCHAR mark[0x100];
    memset(mark, 0xA7, sizeof(mark));
    frame_bytes(MmGetMdlPfnArray(x.Mdl)[0], 0, mark, 0x100, TRUE);
    frame_bytes(MmGetMdlPfnArray(x.Mdl)[2], 0x80, mark, 0x100, TRUE);
    student_put(&d, l, FALSE);
    KT_EQ(d.FreeCount, d.MapRegisterCount);
    for (ULONG64 i = 0; i < 3 * PAGE_SIZE; i++) {
        UCHAR want = pattern(i, 1);
        if (i >= from && i < from + len)
            want = pattern(i, 0x55);             /* the transfer: the device's bytes */
        else if (i < 0x100 || (i >= 2 * PAGE_SIZE + 0x80 && i < 2 * PAGE_SIZE + 0x180))
            want = 0xA7;                         /* the CPU's, kept */
        if (mdl_byte(x.Mdl, i) != want)
            KtFail(__FILE__, __LINE__, "after the put, byte %#llx of the buffer is %#x, not %#x",
                   (unsigned long long)i, mdl_byte(x.Mdl, i), want);
    }
    free_mixed(&x);
    IoLabFreeDma(&d);
}

/* ---- Part 3: a real disk ---- */

#define LAB_SECTOR_A (100000LL * 512)
#define LAB_SECTOR_B (110000LL * 512)

typedef struct {
    PMDL Frames;                 /* the buffer's frames, chosen */
    PUCHAR Va;                   /* their system mapping */
    PFILE_OBJECT Lab, Kernel;    /* the disk opened twice: through your lists, through io/dma.c */
    PDEVICE_OBJECT Top;
    VB_DISK *Disk;
    PDMA_ADAPTER Adapter;
} E2E;

static void unroute(void)
{
    VblkLabFile = NULL;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    VblkLabDma = NULL;
}

/* Your three functions once on the buffer, both ways, before any request
 * depends on them: an unfinished lab fails here, in the test, and not in
 * the disk's DPC. */
static void preflight(E2E *e, ULONG off, ULONG len)
{
    IO_LAB_DMA *d = IoLabDmaOfAdapter(e->Adapter);
    PMDL m = IoAllocateMdl(e->Va + off, len, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmProbeAndLockPages(m, KernelMode, IoWriteAccess);
    PSCATTER_GATHER_LIST l = student_list(d, m, e->Va + off, len, FALSE);
    student_put(d, l, FALSE);
    l = student_list(d, m, e->Va + off, len, TRUE);
    student_put(d, l, TRUE);
    MmUnlockPages(m);
    IoFreeMdl(m);
}

static void e2e_start(E2E *e, ULONG width, PHYSICAL_ADDRESS low, ULONG pages)
{
    memset(e, 0, sizeof(*e));
    DEVICE_DESCRIPTION desc;
    describe(&desc, width, 64 * 1024, 0, 0);
    ULONG regs;
    e->Adapter = IoLabGetDmaAdapter(&desc, &regs);
    KT_ASSERT(e->Adapter != NULL);
    /* Scattered frames: every other pair swapped, so pages are not in order. */
    e->Frames = MmAllocatePagesForMdlEx(low, pa_max, pa_zero, (SIZE_T)pages * PAGE_SIZE, MmCached,
                                        MM_ALLOCATE_FULLY_REQUIRED);
    KT_ASSERT(e->Frames != NULL);
    PPFN_NUMBER f = MmGetMdlPfnArray(e->Frames);
    for (ULONG i = 0; i + 1 < pages; i += 2) {
        PFN_NUMBER t = f[i];
        f[i] = f[i + 1];
        f[i + 1] = t;
    }
    e->Va = MmMapLockedPagesSpecifyCache(e->Frames, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
    KT_ASSERT(e->Va != NULL);
    DrvtOpen("\\Device\\Harddisk0\\DR0", &e->Lab, &e->Top);
    PDEVICE_OBJECT top2;
    DrvtOpen("\\Device\\Harddisk0\\DR0", &e->Kernel, &top2);
    e->Disk = DrvtNamedDevice("\\Device\\Harddisk0\\DR0")->DeviceExtension;
    KtRegisterTestEndHook(unroute);   /* a failed test must not leave its file routed */
    VblkLabDma = e->Adapter;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    VblkLabFile = e->Lab;
}

static void e2e_end(E2E *e)
{
    unroute();
    ObDereferenceObject(e->Lab);
    ObDereferenceObject(e->Kernel);
    MmUnmapLockedPages(e->Va, e->Frames);
    MmFreePagesFromMdl(e->Frames);
    ExFreePool(e->Frames);
    e->Adapter->DmaOperations->PutDmaAdapter(e->Adapter);
}

static NTSTATUS io(E2E *e, PFILE_OBJECT fo, UCHAR major, PVOID buf, ULONG len, LONGLONG offset)
{
    ULONG_PTR info = 0;
    NTSTATUS s = DrvtReadWrite(e->Top, fo, major, buf, len, offset, &info);
    if (s == STATUS_DATA_ERROR)
        KtFail(__FILE__, __LINE__, "the lab's adapter refused your list: %s", IoLabLastProblem(e->Adapter));
    if (NT_SUCCESS(s))
        KT_EQ(info, len);
    return s;
}

/* The ring's descriptors for the last request were the elements of a list
 * the lab's adapter built and checked: each data descriptor lies on the
 * buffer's own frames (zero copy) or, when BOUNCED, in a map register. */
static void ring_used_your_list(E2E *e, PUCHAR buf, ULONG len, BOOLEAN bounced)
{
    VB_LAST *last = &e->Disk->Last;
    KT_ASSERT(last->Elements > 0 && last->Elements <= VB_LAST_ELEMENTS);
    ULONG done = 0;
    for (ULONG i = 0; i < last->Elements; i++) {
        for (ULONG k = 0; k < last->Length[i];) {
            ULONG piece = PAGE_SIZE - (ULONG)(((ULONG_PTR)buf + done) & (PAGE_SIZE - 1));
            if (piece > last->Length[i] - k)
                piece = last->Length[i] - k;
            ULONG64 pa = last->Address[i] + k;
            if (bounced)
                KT_ASSERT(in_map_register(IoLabDmaOfAdapter(e->Adapter), pa));
            else
                KT_EQ((ULONG64)MmGetPhysicalAddress(buf + done).QuadPart, pa);
            k += piece;
            done += piece;
        }
    }
    KT_EQ(done, len);
}

static void write_read_back(ULONG width, PHYSICAL_ADDRESS low, LONGLONG sector, BOOLEAN bounced)
{
    E2E e;
    const ULONG pages = 6, off = 0x200, len = 4 * PAGE_SIZE + 0x400;   /* sector multiples, 6 pages spanned */
    e2e_start(&e, width, low, pages);
    preflight(&e, off, len);
    PUCHAR check = ExAllocatePoolWithTag(NonPagedPoolNx, len, TAG_T);
    KT_ASSERT(check != NULL);
    ULONG64 built = IoLabListsBuilt(e.Adapter), subs = e.Disk->Stats.SubRequests;
    /* A write through your list; the disk's bytes read back through the kernel's. */
    DrvtFill(e.Va + off, len, 41);
    KT_ST(io(&e, e.Lab, IRP_MJ_WRITE, e.Va + off, len, sector), STATUS_SUCCESS);
    KT_EQ(IoLabListsBuilt(e.Adapter), built + 1);   /* the request took its list from your code */
    ring_used_your_list(&e, e.Va + off, len, bounced);
    memset(check, 0, len);
    KT_ST(io(&e, e.Kernel, IRP_MJ_READ, check, len, sector), STATUS_SUCCESS);
    if (!DrvtCheck(check, len, 41))
        KtFail(__FILE__, __LINE__, "the disk does not hold what your list's write sent");
    /* Other bytes written by the kernel's path, read into the buffer through your list. */
    DrvtFill(check, len, 42);
    KT_ST(io(&e, e.Kernel, IRP_MJ_WRITE, check, len, sector), STATUS_SUCCESS);
    memset(e.Va, 0x3C, (SIZE_T)pages * PAGE_SIZE);
    KT_ST(io(&e, e.Lab, IRP_MJ_READ, e.Va + off, len, sector), STATUS_SUCCESS);
    KT_EQ(IoLabListsBuilt(e.Adapter), built + 2);
    ring_used_your_list(&e, e.Va + off, len, bounced);
    if (!DrvtCheck(e.Va + off, len, 42))
        KtFail(__FILE__, __LINE__, "the buffer does not hold what the disk sent through your list");
    KT_EQ(e.Va[off - 1], 0x3C);                  /* and nothing around it changed */
    KT_EQ(e.Va[off + len], 0x3C);
    KT_EQ(e.Disk->Stats.SubRequests - subs, 4);
    ExFreePoolWithTag(check, TAG_T);
    e2e_end(&e);
}

KTEST_POINTS(dmalab, vblk__write_and_read_back_through_your_lists, 10)
{
    write_read_back(64, pa_zero, LAB_SECTOR_A, FALSE);
}

KTEST_POINTS(dmalab, vblk__bounced_through_a_27_bit_adapter, 10)
{
    write_read_back(27, above_128m, LAB_SECTOR_B, TRUE);
}
