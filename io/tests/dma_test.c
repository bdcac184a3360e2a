/*
 * DMA, NT's model (io/dma.c): adapters from DEVICE_DESCRIPTIONs,
 * scatter/gather lists from MDL chains (merging, splitting, subranges),
 * zero copy for a user buffer, bouncing through map registers (write
 * copied at build, read copied back at put), map registers running out
 * (the request waits and runs from the put that frees them), caller
 * memory for the list, where the flushes happen, common buffers, the
 * verifier's DMA rules (0xE6) and the IRQL rule.
 *
 * Lists for a 64-bit adapter never touch the frames, so most tests build
 * MDLs by hand with made-up PFNs: the expected elements are then known
 * exactly. Bouncing needs frames above the adapter's reach: in the 256 MiB
 * test boot an adapter of 27 address bits (DmaAddressWidth, NT's version-3
 * field: 128 MiB) with frames above 128 MiB; the 32-bit case with frames
 * above 4 GiB runs in a boot of its own with 4608 MiB
 * (dma.bounce_32bit_adapter_above_4gib, host test dma.bounce_above_4gib).
 */
#include "io/tests/mdl_test_util.h"
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define T_TAG POOL_TAG('D', 'm', 'T', 's')
#define FAKE_VA ((PUCHAR)0xFFFFF80012340000ULL)   /* never dereferenced: only its page offset counts */
#define LIMIT_27 ((1ULL << 27) - 1)

typedef struct {
    PSCATTER_GATHER_LIST List;
    ULONG Calls;
    KIRQL Irql;
    PIRP Irp;
    ULONG64 FlushesSeen;   /* KiFlushIoBuffersCalls when the routine ran */
} EXEC_CTX;

static void record_list(PDEVICE_OBJECT device, PIRP irp, PSCATTER_GATHER_LIST list, PVOID context)
{
    UNREFERENCED_PARAMETER(device);
    EXEC_CTX *x = context;
    x->List = list;
    x->Calls++;
    x->Irql = KeGetCurrentIrql();
    x->Irp = irp;
    x->FlushesSeen = KiFlushIoBuffersCalls;
}

static PDMA_ADAPTER make_adapter(ULONG width, ULONG max_length, ULONG max_segment, ULONG boundary, ULONG *regs)
{
    DEVICE_DESCRIPTION d;
    memset(&d, 0, sizeof(d));
    d.Version = DEVICE_DESCRIPTION_VERSION3;
    d.Master = TRUE;
    d.ScatterGather = TRUE;
    d.Dma32BitAddresses = TRUE;
    d.Dma64BitAddresses = width == 64;
    d.InterfaceType = PCIBus;
    d.MaximumLength = max_length;
    d.DmaAddressWidth = width == 64 ? 0 : width;
    d.MaximumSegmentLength = max_segment;
    d.SegmentBoundary = boundary;
    ULONG dummy;
    return IoGetDmaAdapter(NULL, &d, regs ? regs : &dummy);
}
static PIOP_DMA_ADAPTER internal(PDMA_ADAPTER a) { return (PIOP_DMA_ADAPTER)a; }
static void put_adapter(PDMA_ADAPTER a) { a->DmaOperations->PutDmaAdapter(a); }

static NTSTATUS get_list_dev(PDMA_ADAPTER a, PDEVICE_OBJECT dev, PMDL m, PVOID va, ULONG len, BOOLEAN write,
                             EXEC_CTX *x)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    NTSTATUS s = a->DmaOperations->GetScatterGatherList(a, dev, m, va, len, record_list, x, write);
    KeLowerIrql(old);
    return s;
}
static NTSTATUS get_list(PDMA_ADAPTER a, PMDL m, PVOID va, ULONG len, BOOLEAN write, EXEC_CTX *x)
{
    return get_list_dev(a, NULL, m, va, len, write, x);
}
static void put_list(PDMA_ADAPTER a, PSCATTER_GATHER_LIST l, BOOLEAN write)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    a->DmaOperations->PutScatterGatherList(a, l, write);
    KeLowerIrql(old);
}

/* An MDL over made-up frames, as MmBuildMdlForNonPagedPool leaves one
 * (the DMA code reads only the PFN array for a 64-bit adapter). */
static PMDL fake_mdl(ULONG offset, ULONG bytes, const PFN_NUMBER *pfns)
{
    PVOID va = FAKE_VA + offset;
    PMDL m = ExAllocatePoolWithTag(NonPagedPoolNx, MmSizeOfMdl(va, bytes), T_TAG);
    KT_ASSERT(m != NULL);
    MmInitializeMdl(m, va, bytes);
    memcpy(MmGetMdlPfnArray(m), pfns, ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, bytes) * sizeof(PFN_NUMBER));
    m->MdlFlags |= MDL_SOURCE_IS_NONPAGED_POOL;
    return m;
}
static void free_fake(PMDL m) { ExFreePoolWithTag(m, T_TAG); }

static void expect_element(PSCATTER_GATHER_LIST l, ULONG i, ULONG64 address, ULONG length)
{
    KT_LT(i, l->NumberOfElements);
    KT_EQ((ULONG64)l->Elements[i].Address.QuadPart, address);
    KT_EQ(l->Elements[i].Length, length);
}

/* The list is exactly the transfer: walked piece by piece (each inside one
 * page of the MDL chain), the pieces follow the elements byte for byte, and
 * no two neighbouring elements could have been one (maximal merging),
 * unless the segment limit or boundary split them. BOUNCED pieces are
 * skipped over (their addresses are map registers). */
static void check_exact_cover(PDMA_ADAPTER a, PMDL mdl, PVOID cva, ULONG length, PSCATTER_GATHER_LIST l)
{
    PIOP_DMA_ADAPTER ia = internal(a);
    ULONG e = 0;
    ULONG64 used = 0;
    ULONG64 off = (ULONG_PTR)cva - (ULONG_PTR)MmGetMdlVirtualAddress(mdl), left = length;
    for (PMDL m = mdl; left; m = m->Next, off = 0) {
        KT_ASSERT(m != NULL);
        ULONG64 take = m->ByteCount - off < left ? m->ByteCount - off : left;
        ULONG64 pos = m->ByteOffset + off;
        left -= take;
        while (take) {
            ULONG64 in = pos & (PAGE_SIZE - 1), n = PAGE_SIZE - in < take ? PAGE_SIZE - in : take;
            ULONG64 pa = (MmGetMdlPfnArray(m)[pos >> PAGE_SHIFT] << PAGE_SHIFT) | in;
            ULONG64 done = 0;
            while (done < n) {
                KT_LT(e, l->NumberOfElements);
                ULONG64 room = l->Elements[e].Length - used, k = room < n - done ? room : n - done;
                if (pa + n - 1 <= ia->HighestAddress)
                    KT_EQ((ULONG64)l->Elements[e].Address.QuadPart + used, pa + done);   /* zero copy */
                else
                    KT_LE((ULONG64)l->Elements[e].Address.QuadPart + used + k - 1, ia->HighestAddress);
                used += k;
                done += k;
                if (used == l->Elements[e].Length) {
                    e++;
                    used = 0;
                }
            }
            pos += n;
            take -= n;
        }
    }
    KT_EQ(used, 0);
    KT_EQ(e, l->NumberOfElements);
    /* Maximal: two neighbours that touch were split by a limit. (Only for
     * adapters without map registers: bounced pieces never merge.) */
    for (ULONG i = 0; ia->MapRegisterCount == 0 && i + 1 < l->NumberOfElements; i++) {
        ULONG64 end = (ULONG64)l->Elements[i].Address.QuadPart + l->Elements[i].Length;
        BOOLEAN limit = l->Elements[i].Length >= ia->MaximumSegmentLength ||
                        (ia->SegmentBoundary && (end & (ia->SegmentBoundary - 1)) == 0);
        if (!limit && end == (ULONG64)l->Elements[i + 1].Address.QuadPart)
            KtFail(__FILE__, __LINE__, "elements %u and %u are contiguous and were not merged", i, i + 1);
    }
}

/* ---- the adapter ---- */

KTEST(dma, adapter_from_a_device_description)
{
    ULONG regs = 0;
    PDMA_ADAPTER a = make_adapter(64, 64 * 1024, 0, 0, &regs);
    KT_ASSERT(a != NULL);
    KT_EQ(regs, 17);                              /* BYTES_TO_PAGES(64 KiB) + 1: an unaligned transfer spans one more */
    KT_EQ(a->Size, sizeof(DMA_ADAPTER));
    PDMA_OPERATIONS ops = a->DmaOperations;
    KT_EQ(ops->Size, sizeof(DMA_OPERATIONS));
    KT_EQ(__builtin_offsetof(DMA_OPERATIONS, GetScatterGatherList), 11 * 8);   /* wdm.h's order */
    KT_EQ(__builtin_offsetof(DMA_OPERATIONS, BuildScatterGatherList), 14 * 8);
    KT_ASSERT(ops->PutDmaAdapter && ops->AllocateCommonBuffer && ops->FreeCommonBuffer && ops->FlushAdapterBuffers &&
              ops->GetDmaAlignment && ops->GetScatterGatherList && ops->PutScatterGatherList &&
              ops->CalculateScatterGatherList && ops->BuildScatterGatherList);
    KT_ASSERT(!ops->AllocateAdapterChannel && !ops->MapTransfer && !ops->ReadDmaCounter);   /* packet DMA: not built */
    KT_EQ(ops->GetDmaAlignment(a), 1);
    KT_EQ(internal(a)->HighestAddress, ~0ULL);
    KT_EQ(internal(a)->MapRegisterCount, 0);      /* a 64-bit device never bounces */
    put_adapter(a);

    /* 32 bits, 24 bits (ISA), and the version-3 width. */
    DEVICE_DESCRIPTION d;
    memset(&d, 0, sizeof(d));
    d.Master = d.ScatterGather = d.Dma32BitAddresses = TRUE;
    d.InterfaceType = PCIBus;
    d.MaximumLength = PAGE_SIZE;
    a = IoGetDmaAdapter(NULL, &d, &regs);
    KT_ASSERT(a != NULL);
    KT_EQ(regs, 2);
    KT_EQ(internal(a)->HighestAddress, 0xFFFFFFFFULL);
    if (MmHighestPhysicalPage < 0x100000)
        KT_EQ(internal(a)->MapRegisterCount, 0);  /* no RAM above 4 GiB here: nothing to bounce */
    put_adapter(a);
    a = make_adapter(27, 3 * PAGE_SIZE, 0, 0, &regs);
    KT_ASSERT(a != NULL);
    KT_EQ(internal(a)->HighestAddress, LIMIT_27);
    KT_EQ(internal(a)->MapRegisterCount, 4);      /* RAM lies above 128 MiB: one transfer's worth, all below it */
    PPFN_NUMBER mr = MmGetMdlPfnArray(internal(a)->MapRegisterMdl);
    for (int i = 0; i < 4; i++)
        KT_LE(((ULONG64)mr[i] << PAGE_SHIFT) | (PAGE_SIZE - 1), LIMIT_27);
    put_adapter(a);

    /* What is not built is refused. */
    DEVICE_DESCRIPTION bad = d;
    bad.Master = FALSE;
    KT_ASSERT(IoGetDmaAdapter(NULL, &bad, &regs) == NULL);
    bad = d;
    bad.ScatterGather = FALSE;
    KT_ASSERT(IoGetDmaAdapter(NULL, &bad, &regs) == NULL);
    bad = d;
    bad.MaximumLength = 0;
    KT_ASSERT(IoGetDmaAdapter(NULL, &bad, &regs) == NULL);
    bad = d;
    bad.Version = 4;
    KT_ASSERT(IoGetDmaAdapter(NULL, &bad, &regs) == NULL);
    bad = d;
    bad.SegmentBoundary = 0x3000;
    KT_ASSERT(IoGetDmaAdapter(NULL, &bad, &regs) == NULL);
    KT_ASSERT(IoGetDmaAdapter(NULL, NULL, &regs) == NULL);
}

/* ---- building lists ---- */

KTEST(dma, contiguous_frames_merge_into_one_element)
{
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    PFN_NUMBER pfns[4] = { 0x5000, 0x5001, 0x5002, 0x5003 };
    PMDL m = fake_mdl(0x10, 4 * PAGE_SIZE - 0x20, pfns);
    EXEC_CTX x = { 0 };
    KT_EQ(get_list(a, m, MmGetMdlVirtualAddress(m), m->ByteCount, TRUE, &x), STATUS_SUCCESS);
    KT_EQ(x.Calls, 1);                            /* at once: nothing to wait for */
    KT_EQ(x.Irql, DISPATCH_LEVEL);
    KT_EQ(x.List->NumberOfElements, 1);
    expect_element(x.List, 0, 0x5000010ULL, 4 * PAGE_SIZE - 0x20);
    check_exact_cover(a, m, MmGetMdlVirtualAddress(m), m->ByteCount, x.List);
    put_list(a, x.List, TRUE);
    free_fake(m);

    /* Real frames, contiguous by construction: contiguous memory built
     * into an MDL, one element. */
    PHYSICAL_ADDRESS lo = { 0 }, hi = { -1 }, none = { 0 };
    PUCHAR buf = MmAllocateContiguousMemorySpecifyCache(3 * PAGE_SIZE, lo, hi, none, MmCached);
    KT_ASSERT(buf != NULL);
    PMDL r = IoAllocateMdl(buf + 0x100, 3 * PAGE_SIZE - 0x200, FALSE, FALSE, NULL);
    MmBuildMdlForNonPagedPool(r);
    EXEC_CTX y = { 0 };
    KT_EQ(get_list(a, r, MmGetMdlVirtualAddress(r), r->ByteCount, FALSE, &y), STATUS_SUCCESS);
    KT_EQ(y.List->NumberOfElements, 1);
    expect_element(y.List, 0, (ULONG64)MmGetPhysicalAddress(buf + 0x100).QuadPart, 3 * PAGE_SIZE - 0x200);
    put_list(a, y.List, FALSE);
    IoFreeMdl(r);
    MmFreeContiguousMemorySpecifyCache(buf, 3 * PAGE_SIZE, MmCached);
    put_adapter(a);
}

KTEST(dma, unaligned_buffer_on_scattered_frames_one_element_per_page)
{
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    /* 0x234 into its first page, 3 pages long: spans 4 pages, in an order
     * no merge can join. */
    PFN_NUMBER pfns[4] = { 0x7003, 0x7001, 0x9000, 0x7002 };
    PMDL m = fake_mdl(0x234, 3 * PAGE_SIZE, pfns);
    EXEC_CTX x = { 0 };
    KT_EQ(get_list(a, m, MmGetMdlVirtualAddress(m), m->ByteCount, TRUE, &x), STATUS_SUCCESS);
    KT_EQ(x.List->NumberOfElements, 4);
    expect_element(x.List, 0, 0x7003234ULL, PAGE_SIZE - 0x234);   /* starts at the byte offset */
    expect_element(x.List, 1, 0x7001000ULL, PAGE_SIZE);
    expect_element(x.List, 2, 0x9000000ULL, PAGE_SIZE);
    expect_element(x.List, 3, 0x7002000ULL, 0x234);               /* ends short */
    check_exact_cover(a, m, MmGetMdlVirtualAddress(m), m->ByteCount, x.List);
    put_list(a, x.List, TRUE);

    /* Two of them contiguous (0x7001, 0x7002 would be, but are not
     * neighbours in the buffer): reorder so 2 and 3 are. */
    PFN_NUMBER pfns2[4] = { 0x7003, 0x9000, 0x9001, 0x7002 };
    PMDL m2 = fake_mdl(0x234, 3 * PAGE_SIZE, pfns2);
    EXEC_CTX y = { 0 };
    KT_EQ(get_list(a, m2, MmGetMdlVirtualAddress(m2), m2->ByteCount, TRUE, &y), STATUS_SUCCESS);
    KT_EQ(y.List->NumberOfElements, 3);
    expect_element(y.List, 1, 0x9000000ULL, 2 * PAGE_SIZE);
    put_list(a, y.List, TRUE);
    free_fake(m);
    free_fake(m2);
    put_adapter(a);
}

KTEST(dma, elements_split_at_the_maximum_segment_length_and_boundary)
{
    PFN_NUMBER pfns[8] = { 0x4002, 0x4003, 0x4004, 0x4005, 0x4006, 0x4007, 0x4008, 0x4009 };
    PMDL m = fake_mdl(0, 8 * PAGE_SIZE, pfns);
    /* 12 KiB segments: 8 contiguous pages become 12 + 12 + 8 KiB. */
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 3 * PAGE_SIZE, 0, NULL);
    EXEC_CTX x = { 0 };
    KT_EQ(get_list(a, m, MmGetMdlVirtualAddress(m), m->ByteCount, TRUE, &x), STATUS_SUCCESS);
    KT_EQ(x.List->NumberOfElements, 3);
    expect_element(x.List, 0, 0x4002000ULL, 3 * PAGE_SIZE);
    expect_element(x.List, 1, 0x4005000ULL, 3 * PAGE_SIZE);
    expect_element(x.List, 2, 0x4008000ULL, 2 * PAGE_SIZE);
    check_exact_cover(a, m, MmGetMdlVirtualAddress(m), m->ByteCount, x.List);
    put_list(a, x.List, TRUE);
    put_adapter(a);

    /* A 16 KiB boundary: no element crosses 0x4004000 or 0x4008000. */
    a = make_adapter(64, 1 << 20, 0, 4 * PAGE_SIZE, NULL);
    EXEC_CTX y = { 0 };
    KT_EQ(get_list(a, m, MmGetMdlVirtualAddress(m), m->ByteCount, TRUE, &y), STATUS_SUCCESS);
    KT_EQ(y.List->NumberOfElements, 3);
    expect_element(y.List, 0, 0x4002000ULL, 2 * PAGE_SIZE);
    expect_element(y.List, 1, 0x4004000ULL, 4 * PAGE_SIZE);
    expect_element(y.List, 2, 0x4008000ULL, 2 * PAGE_SIZE);
    check_exact_cover(a, m, MmGetMdlVirtualAddress(m), m->ByteCount, y.List);
    put_list(a, y.List, TRUE);
    put_adapter(a);

    /* Segments shorter than a page: 0x600 bytes. */
    a = make_adapter(64, 1 << 20, 0x600, 0, NULL);
    EXEC_CTX z = { 0 };
    KT_EQ(get_list(a, m, (PUCHAR)MmGetMdlVirtualAddress(m) + 0x100, 0x1000, TRUE, &z), STATUS_SUCCESS);
    KT_EQ(z.List->NumberOfElements, 3);
    expect_element(z.List, 0, 0x4002100ULL, 0x600);
    expect_element(z.List, 1, 0x4002700ULL, 0x600);
    expect_element(z.List, 2, 0x4002D00ULL, 0x400);
    put_list(a, z.List, TRUE);
    put_adapter(a);
    free_fake(m);
}

KTEST(dma, an_mdl_chain_is_one_transfer)
{
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    /* First MDL ends at a page end on 0x6001; the second starts on 0x6002:
     * the element runs on across the MDLs. Then 0x8000 is elsewhere. */
    PFN_NUMBER p1[2] = { 0x6000, 0x6001 }, p2[2] = { 0x6002, 0x8000 };
    PMDL m1 = fake_mdl(0x800, 2 * PAGE_SIZE - 0x800, p1);
    PMDL m2 = fake_mdl(0, 2 * PAGE_SIZE - 0x10, p2);
    m1->Next = m2;
    ULONG total = m1->ByteCount + m2->ByteCount;
    EXEC_CTX x = { 0 };
    ULONG64 flushes = KiFlushIoBuffersCalls;
    KT_EQ(get_list(a, m1, MmGetMdlVirtualAddress(m1), total, TRUE, &x), STATUS_SUCCESS);
    KT_EQ(x.List->NumberOfElements, 2);
    expect_element(x.List, 0, 0x6000800ULL, 3 * PAGE_SIZE - 0x800);
    expect_element(x.List, 1, 0x8000000ULL, PAGE_SIZE - 0x10);
    check_exact_cover(a, m1, MmGetMdlVirtualAddress(m1), total, x.List);
    KT_EQ(x.FlushesSeen - flushes, 2);           /* KeFlushIoBuffers for each MDL, before the device is told */
    put_list(a, x.List, TRUE);

    /* Starting inside the first MDL and ending inside the second. */
    EXEC_CTX y = { 0 };
    KT_EQ(get_list(a, m1, (PUCHAR)MmGetMdlVirtualAddress(m1) + 0x900, PAGE_SIZE + 0x100, FALSE, &y), STATUS_SUCCESS);
    KT_EQ(y.List->NumberOfElements, 1);
    expect_element(y.List, 0, 0x6001100ULL, PAGE_SIZE + 0x100);
    put_list(a, y.List, FALSE);

    /* Past the chain's end, outside the first MDL, or nothing at all. */
    EXEC_CTX z = { 0 };
    KT_EQ(get_list(a, m1, MmGetMdlVirtualAddress(m1), total + 1, TRUE, &z), STATUS_INVALID_PARAMETER);
    KT_EQ(get_list(a, m1, (PUCHAR)MmGetMdlVirtualAddress(m1) - 1, 16, TRUE, &z), STATUS_INVALID_PARAMETER);
    KT_EQ(get_list(a, m1, (PUCHAR)MmGetMdlVirtualAddress(m1) + m1->ByteCount, 16, TRUE, &z),
          STATUS_INVALID_PARAMETER);   /* CurrentVa must be inside the first MDL */
    KT_EQ(get_list(a, m1, MmGetMdlVirtualAddress(m1), 0, TRUE, &z), STATUS_INVALID_PARAMETER);
    KT_EQ(z.Calls, 0);
    free_fake(m1);
    free_fake(m2);
    put_adapter(a);
}

KTEST(dma, current_va_and_length_choose_a_subrange)
{
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    PFN_NUMBER pfns[5] = { 0x3000, 0x3100, 0x3200, 0x3300, 0x3400 };
    PMDL m = fake_mdl(0x40, 5 * PAGE_SIZE - 0x80, pfns);
    PUCHAR base = MmGetMdlVirtualAddress(m);
    /* NT's drivers walk a long transfer in pieces: CurrentVa moves on by
     * what each list covered. 0x1800 bytes from offset 0x1000 of the buffer
     * (0x1040 into the pages): page 1 from 0x40, page 2 up to 0x840. */
    EXEC_CTX x = { 0 };
    KT_EQ(get_list(a, m, base + 0x1000, 0x1800, TRUE, &x), STATUS_SUCCESS);
    KT_EQ(x.List->NumberOfElements, 2);
    expect_element(x.List, 0, 0x3100040ULL, PAGE_SIZE - 0x40);
    expect_element(x.List, 1, 0x3200000ULL, 0x840);
    check_exact_cover(a, m, base + 0x1000, 0x1800, x.List);
    put_list(a, x.List, TRUE);
    /* The last byte alone. */
    EXEC_CTX y = { 0 };
    KT_EQ(get_list(a, m, base + m->ByteCount - 1, 1, TRUE, &y), STATUS_SUCCESS);
    KT_EQ(y.List->NumberOfElements, 1);
    expect_element(y.List, 0, 0x3400000ULL + 0x40 + m->ByteCount - 1 - 4 * PAGE_SIZE, 1);
    put_list(a, y.List, TRUE);
    free_fake(m);
    put_adapter(a);
}

KTEST(dma, execution_routine_gets_the_current_irp_at_dispatch_level)
{
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    PFN_NUMBER pfn = 0x2000;
    PMDL m = fake_mdl(0, 0x200, &pfn);
    DEVICE_OBJECT dev;
    memset(&dev, 0, sizeof(dev));
    dev.CurrentIrp = (PIRP)0xFFFFF80000C0FFEEULL;   /* only passed through */
    EXEC_CTX x = { 0 };
    KT_EQ(get_list_dev(a, &dev, m, MmGetMdlVirtualAddress(m), 0x200, TRUE, &x), STATUS_SUCCESS);
    KT_EQ(x.Irql, DISPATCH_LEVEL);
    KT_EQ((ULONG64)x.Irp, (ULONG64)dev.CurrentIrp);
    put_list(a, x.List, TRUE);
    /* No execution routine, or a transfer longer than the adapter's: refused. */
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    NTSTATUS s = a->DmaOperations->GetScatterGatherList(a, NULL, m, MmGetMdlVirtualAddress(m), 0x200, NULL, NULL, TRUE);
    KeLowerIrql(old);
    KT_EQ(s, STATUS_INVALID_PARAMETER);
    free_fake(m);
    put_adapter(a);
}

/* ---- zero copy from a user buffer ---- */

KTEST(dma, user_buffer_zero_copy_addresses_are_the_users_frames)
{
    PEPROCESS p;
    MT_CONTROL c;
    KT_EQ(MdlTestStartTarget(&p, &c), 0);
    ULONG64 va = MT_RW_BASE + 0x321;
    ULONG len = 5 * PAGE_SIZE + 0x100;            /* spans 6 pages, unaligned both ends */
    PMDL m = IoAllocateMdl((PVOID)va, len, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MdlTestAttach(p);
    MT_EQ(MdlTestProbe(m, UserMode, IoWriteAccess), 0);
    PFN_NUMBER pte_pfn[6];
    for (int i = 0; i < 6; i++) {
        pte_pfn[i] = MdlTestPfnOf((PVOID)(MT_RW_BASE + i * PAGE_SIZE));
        MT_EQ(MmGetMdlPfnArray(m)[i], pte_pfn[i]);   /* the MDL holds the user's own frames */
    }
    MdlTestDetach();
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    EXEC_CTX x = { 0 };
    KT_EQ(get_list(a, m, (PVOID)va, len, TRUE, &x), STATUS_SUCCESS);
    /* Every byte's bus address is its user frame's: element 0 at the byte
     * offset of the first frame, the rest following the frames. */
    KT_EQ((ULONG64)x.List->Elements[0].Address.QuadPart, (pte_pfn[0] << PAGE_SHIFT) | 0x321);
    check_exact_cover(a, m, (PVOID)va, len, x.List);
    KT_EQ(internal(a)->PiecesBounced, 0);
    KT_EQ(internal(a)->BytesCopiedToDevice, 0);
    /* The frames stay locked while the list is out. */
    for (int i = 0; i < 6; i++)
        KT_GE(MdlTestRefs(pte_pfn[i]), 2);
    put_list(a, x.List, TRUE);
    KT_EQ(internal(a)->BytesCopiedBack, 0);
    put_adapter(a);
    MdlTestAttach(p);
    MmUnlockPages(m);
    MdlTestDetach();
    IoFreeMdl(m);
    KT_EQ((ULONG)MdlTestStopTarget(p), 0);
}

/* ---- bouncing ---- */

static const PHYSICAL_ADDRESS pa_zero = { 0 }, pa_max = { -1 }, above_128m = { 1LL << 27 };

static PMDL frames_above(PHYSICAL_ADDRESS low, ULONG pages)
{
    PHYSICAL_ADDRESS skip = { 0 };
    PMDL m = MmAllocatePagesForMdlEx(low, pa_max, skip, (SIZE_T)pages * PAGE_SIZE, MmCached, MM_ALLOCATE_FULLY_REQUIRED);
    KT_ASSERT(m != NULL);
    for (ULONG i = 0; i < pages; i++)
        KT_GE(MmGetMdlPfnArray(m)[i] << PAGE_SHIFT, (ULONG64)low.QuadPart);
    return m;
}
static void free_frames(PMDL m)
{
    MmFreePagesFromMdl(m);
    ExFreePool(m);
}
static UCHAR pattern(ULONG64 i) { return (UCHAR)(i * 7 + (i >> 8) + 1); }

/* Read LEN bytes at bus address PA (what a device would read). */
static void bus_read(ULONG64 pa, PUCHAR out, ULONG len)
{
    KIRQL old;
    PUCHAR v = MiMapPageInHyperspace(pa >> PAGE_SHIFT, &old);
    memcpy(out, v + (pa & (PAGE_SIZE - 1)), len);
    MiUnmapPageInHyperspace(v, old);
}
static void bus_write(ULONG64 pa, ULONG64 first_index, ULONG len)
{
    KIRQL old;
    PUCHAR v = MiMapPageInHyperspace(pa >> PAGE_SHIFT, &old);
    for (ULONG i = 0; i < len; i++)
        v[(pa & (PAGE_SIZE - 1)) + i] = pattern(first_index + i) ^ 0x5A;
    MiUnmapPageInHyperspace(v, old);
}

/* The device-side view of a write: every element's bytes are the
 * buffer's, in order. */
static void check_device_sees(PSCATTER_GATHER_LIST l, const UCHAR *want, ULONG len)
{
    static UCHAR got[PAGE_SIZE];
    ULONG at = 0;
    for (ULONG e = 0; e < l->NumberOfElements; e++) {
        ULONG64 pa = (ULONG64)l->Elements[e].Address.QuadPart;
        for (ULONG done = 0; done < l->Elements[e].Length;) {
            ULONG n = PAGE_SIZE - (ULONG)(pa & (PAGE_SIZE - 1));
            if (n > l->Elements[e].Length - done)
                n = l->Elements[e].Length - done;
            bus_read(pa, got, n);
            KT_MEMEQ(got, want + at, n);
            pa += n;
            done += n;
            at += n;
        }
    }
    KT_EQ(at, len);
}

static void bounce_write_and_read(PDMA_ADAPTER a, PMDL high, ULONG64 limit)
{
    PUCHAR sys = MmGetSystemAddressForMdlSafe(high, NormalPagePriority);
    KT_ASSERT(sys != NULL);
    /* CurrentVa is in the MDL's own terms (MmGetMdlVirtualAddress, 0 for
     * MmAllocatePagesForMdlEx's MDLs), not the system mapping's. */
    PUCHAR mva = MmGetMdlVirtualAddress(high);
    ULONG off = 0x100, len = 2 * PAGE_SIZE + 0x80;   /* 3 pages spanned */
    for (ULONG i = 0; i < high->ByteCount; i++)
        sys[i] = pattern(i);
    PIOP_DMA_ADAPTER ia = internal(a);
    ULONG free_before = ia->FreeCount;

    /* A write: the data is in the map registers when the device is told. */
    EXEC_CTX x = { 0 };
    KT_EQ(get_list(a, high, mva + off, len, TRUE, &x), STATUS_SUCCESS);
    KT_EQ(x.Calls, 1);
    KT_EQ(ia->FreeCount, free_before - 3);
    KT_EQ(ia->PiecesBounced, 3);
    KT_EQ(ia->BytesCopiedToDevice, len);
    for (ULONG e = 0; e < x.List->NumberOfElements; e++)
        KT_LE((ULONG64)x.List->Elements[e].Address.QuadPart + x.List->Elements[e].Length - 1, limit);
    check_exact_cover(a, high, mva + off, len, x.List);
    check_device_sees(x.List, sys + off, len);
    put_list(a, x.List, TRUE);
    KT_EQ(ia->FreeCount, free_before);           /* Put gave every map register back */
    KT_EQ(ia->BytesCopiedBack, 0);               /* nothing comes back from a write */

    /* A read: the device writes the map registers; the caller's frames
     * change only at Put. */
    EXEC_CTX y = { 0 };
    KT_EQ(get_list(a, high, mva + off, len, FALSE, &y), STATUS_SUCCESS);
    KT_EQ(ia->BytesCopiedToDevice, len);         /* no copy in for a read */
    ULONG64 index = 0;
    for (ULONG e = 0; e < y.List->NumberOfElements; e++) {
        ULONG64 pa = (ULONG64)y.List->Elements[e].Address.QuadPart;
        for (ULONG done = 0; done < y.List->Elements[e].Length;) {
            ULONG n = PAGE_SIZE - (ULONG)(pa & (PAGE_SIZE - 1));
            if (n > y.List->Elements[e].Length - done)
                n = y.List->Elements[e].Length - done;
            bus_write(pa, off + index, n);    /* the "device" */
            pa += n;
            done += n;
            index += n;
        }
    }
    for (ULONG i = 0; i < high->ByteCount; i++)
        if (sys[i] != pattern(i))
            KT_EQ(sys[i], pattern(i));           /* not yet: the device wrote the map registers */
    ULONG64 flushes = ia->FlushCalls;
    put_list(a, y.List, FALSE);
    KT_EQ(ia->FlushCalls, flushes + 1);          /* Put flushed the adapter buffers: the copy back */
    KT_EQ(ia->BytesCopiedBack, len);
    for (ULONG i = 0; i < high->ByteCount; i++) {
        UCHAR want = (i >= off && i < off + len) ? (UCHAR)(pattern(i) ^ 0x5A) : pattern(i);
        if (sys[i] != want)
            KT_EQ(sys[i], want);                 /* exactly the transfer's bytes came back */
    }
    KT_EQ(ia->FreeCount, free_before);
}

KTEST(dma, bounce_write_copied_at_build_read_copied_back_at_put)
{
    ULONG regs;
    PDMA_ADAPTER a = make_adapter(27, 3 * PAGE_SIZE, 0, 0, &regs);
    KT_ASSERT(a != NULL);
    KT_EQ(regs, 4);
    PMDL high = frames_above(above_128m, 3);
    bounce_write_and_read(a, high, LIMIT_27);
    free_frames(high);
    put_adapter(a);
}

KTEST(dma, only_frames_out_of_reach_bounce)
{
    /* One frame below the limit, one above, one below: the middle piece
     * goes through a map register, the others are the frames themselves. */
    PHYSICAL_ADDRESS skip = { 0 }, below = { (LONGLONG)LIMIT_27 };
    PMDL low = MmAllocatePagesForMdlEx(pa_zero, below, skip, 2 * PAGE_SIZE, MmCached, MM_ALLOCATE_FULLY_REQUIRED);
    KT_ASSERT(low != NULL);
    PMDL high = frames_above(above_128m, 1);
    PFN_NUMBER pfns[3] = { MmGetMdlPfnArray(low)[0], MmGetMdlPfnArray(high)[0], MmGetMdlPfnArray(low)[1] };
    PMDL m = fake_mdl(0x80, 3 * PAGE_SIZE - 0x100, pfns);
    PDMA_ADAPTER a = make_adapter(27, 3 * PAGE_SIZE, 0, 0, NULL);
    EXEC_CTX x = { 0 };
    KT_EQ(get_list(a, m, MmGetMdlVirtualAddress(m), m->ByteCount, TRUE, &x), STATUS_SUCCESS);
    KT_EQ(x.List->NumberOfElements, 3);
    expect_element(x.List, 0, (pfns[0] << PAGE_SHIFT) | 0x80, PAGE_SIZE - 0x80);   /* zero copy */
    KT_EQ((ULONG64)x.List->Elements[1].Address.QuadPart,
          (ULONG64)MmGetMdlPfnArray(internal(a)->MapRegisterMdl)[0] << PAGE_SHIFT);   /* map register 0 */
    KT_EQ(x.List->Elements[1].Length, PAGE_SIZE);
    expect_element(x.List, 2, pfns[2] << PAGE_SHIFT, PAGE_SIZE - 0x80);              /* zero copy */
    KT_EQ(internal(a)->PiecesBounced, 1);
    KT_EQ(internal(a)->BytesCopiedToDevice, PAGE_SIZE);
    put_list(a, x.List, TRUE);
    put_adapter(a);
    free_fake(m);
    free_frames(high);
    free_frames(low);
}

KTEST(dma, map_registers_run_out_the_request_waits_for_the_put)
{
    ULONG regs;
    PDMA_ADAPTER a = make_adapter(27, 3 * PAGE_SIZE, 0, 0, &regs);
    KT_EQ(regs, 4);
    PIOP_DMA_ADAPTER ia = internal(a);
    PMDL high = frames_above(above_128m, 5);
    PUCHAR base = MmGetMdlVirtualAddress(high);
    /* 3 pages + 1 byte from 0xFFF: spans 4 pages, takes all 4 registers. */
    EXEC_CTX first = { 0 }, second = { 0 }, third = { 0 };
    KT_EQ(get_list(a, high, base + 0xFFF, 3 * PAGE_SIZE + 1, TRUE, &first), STATUS_SUCCESS);
    KT_EQ(first.Calls, 1);
    KT_EQ(ia->FreeCount, 0);
    KT_EQ(IopDmaMapRegistersInUse, 4);
    /* The next one waits (STATUS_SUCCESS, as NT returns; no call yet). */
    KT_EQ(get_list(a, high, base, 0x10, FALSE, &second), STATUS_SUCCESS);
    KT_EQ(second.Calls, 0);
    KT_EQ(ia->Queued, 1);
    KT_EQ(ia->ListsOutstanding, 2);
    KT_EQ(IopDmaListsOutstanding, 2);
    /* More than one transfer may span: refused at once, never queued. */
    KT_EQ(get_list(a, high, base + 0x10, 4 * PAGE_SIZE, TRUE, &third), STATUS_INSUFFICIENT_RESOURCES);
    KT_EQ(third.Calls, 0);
    /* The put that frees the registers runs the waiting request's routine. */
    put_list(a, first.List, TRUE);
    KT_EQ(second.Calls, 1);
    KT_EQ(second.Irql, DISPATCH_LEVEL);
    KT_EQ(ia->FreeCount, 3);
    KT_EQ(second.List->NumberOfElements, 1);
    put_list(a, second.List, FALSE);
    KT_EQ(ia->FreeCount, 4);
    KT_EQ(IopDmaMapRegistersInUse, 0);
    free_frames(high);
    put_adapter(a);
}

KTEST(dma, waiting_requests_start_in_order)
{
    /* A big request waiting is not overtaken by a small one that would
     * fit: first come, first served, or the big one could wait for ever. */
    ULONG regs;
    PDMA_ADAPTER a = make_adapter(27, 3 * PAGE_SIZE, 0, 0, &regs);
    KT_EQ(regs, 4);
    PIOP_DMA_ADAPTER ia = internal(a);
    PMDL high = frames_above(above_128m, 4);
    PUCHAR base = MmGetMdlVirtualAddress(high);
    EXEC_CTX first = { 0 }, big = { 0 }, small = { 0 };
    KT_EQ(get_list(a, high, base, 3 * PAGE_SIZE, TRUE, &first), STATUS_SUCCESS);       /* 3 registers */
    KT_EQ(get_list(a, high, base + 0x10, 3 * PAGE_SIZE, TRUE, &big), STATUS_SUCCESS);  /* wants 4: waits */
    KT_EQ(get_list(a, high, base, 0x10, TRUE, &small), STATUS_SUCCESS);                /* 1 is free, but it queues */
    KT_EQ(first.Calls, 1);
    KT_EQ(big.Calls, 0);
    KT_EQ(small.Calls, 0);
    KT_EQ(ia->FreeCount, 1);
    put_list(a, first.List, TRUE);
    KT_EQ(big.Calls, 1);                          /* the older one first... */
    KT_EQ(small.Calls, 0);                        /* ...and it took all four */
    KT_EQ(ia->FreeCount, 0);
    put_list(a, big.List, TRUE);
    KT_EQ(small.Calls, 1);
    put_list(a, small.List, TRUE);
    KT_EQ(ia->FreeCount, 4);
    free_frames(high);
    put_adapter(a);
}

KTEST(dma, build_scatter_gather_list_uses_the_callers_memory)
{
    PDMA_ADAPTER a = make_adapter(27, 4 * PAGE_SIZE, 0, 0, NULL);
    PMDL high = frames_above(above_128m, 2);
    PUCHAR sys = MmGetSystemAddressForMdlSafe(high, NormalPagePriority);
    KT_ASSERT(sys != NULL);
    PUCHAR base = MmGetMdlVirtualAddress(high);
    ULONG size = 0, need = 0;
    KT_EQ(a->DmaOperations->CalculateScatterGatherList(a, high, base + 8, PAGE_SIZE, &size, &need), STATUS_SUCCESS);
    KT_EQ(need, 2);
    KT_GE(size, sizeof(SCATTER_GATHER_LIST) + 2 * sizeof(SCATTER_GATHER_ELEMENT));
    ULONG size_no_mdl = 0;
    KT_EQ(a->DmaOperations->CalculateScatterGatherList(a, NULL, (PVOID)0x1008, PAGE_SIZE, &size_no_mdl, NULL),
          STATUS_SUCCESS);
    KT_EQ(size_no_mdl, size);                     /* the same span, the same bound */
    PUCHAR buffer = ExAllocatePoolWithTag(NonPagedPoolNx, size, T_TAG);
    KT_ASSERT(buffer != NULL);
    EXEC_CTX x = { 0 };
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    NTSTATUS small = a->DmaOperations->BuildScatterGatherList(a, NULL, high, base + 8, PAGE_SIZE, record_list, &x,
                                                              TRUE, buffer, size - 1);
    NTSTATUS s = a->DmaOperations->BuildScatterGatherList(a, NULL, high, base + 8, PAGE_SIZE, record_list, &x, TRUE,
                                                          buffer, size);
    KeLowerIrql(old);
    KT_EQ(small, STATUS_BUFFER_TOO_SMALL);
    KT_EQ(s, STATUS_SUCCESS);
    KT_EQ(x.Calls, 1);
    KT_EQ((ULONG64)x.List, (ULONG64)buffer);     /* the list is in the caller's block */
    check_device_sees(x.List, sys + 8, PAGE_SIZE);
    put_list(a, x.List, TRUE);                    /* frees the registers, not the block */
    KT_EQ(internal(a)->FreeCount, internal(a)->MapRegisterCount);
    ExFreePoolWithTag(buffer, T_TAG);             /* ours to free: a double free would stop here */
    free_frames(high);
    put_adapter(a);
}

KTEST(dma, flushes_happen_before_the_device_and_after_it)
{
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    PFN_NUMBER pfn = 0x2345;
    PMDL m = fake_mdl(0, PAGE_SIZE, &pfn);
    ULONG64 ke_before = KiFlushIoBuffersCalls, ad_before = internal(a)->FlushCalls;
    EXEC_CTX x = { 0 };
    KT_EQ(get_list(a, m, MmGetMdlVirtualAddress(m), PAGE_SIZE, FALSE, &x), STATUS_SUCCESS);
    KT_EQ(x.FlushesSeen, ke_before + 1);         /* KeFlushIoBuffers ran before the execution routine */
    KT_EQ(internal(a)->FlushCalls, ad_before);   /* the adapter's flush is for after the transfer */
    put_list(a, x.List, FALSE);
    KT_EQ(internal(a)->FlushCalls, ad_before + 1);
    /* The packet-DMA entry a driver would call itself. */
    KT_EQ(a->DmaOperations->FlushAdapterBuffers(a, m, NULL, MmGetMdlVirtualAddress(m), PAGE_SIZE, FALSE), TRUE);
    KT_EQ(internal(a)->FlushCalls, ad_before + 2);
    KT_EQ(KiFlushIoBuffersCalls, ke_before + 2);
    free_fake(m);
    put_adapter(a);
}

/* ---- common buffers ---- */

KTEST(dma, common_buffer_is_contiguous_zeroed_and_within_reach)
{
    PDMA_ADAPTER a = make_adapter(27, PAGE_SIZE, 0, 0, NULL);
    PHYSICAL_ADDRESS logical;
    ULONG len = 5 * PAGE_SIZE;
    LONG before = IopDmaCommonBuffers;   /* the virtio-blk queues' */
    PUCHAR va = a->DmaOperations->AllocateCommonBuffer(a, len, &logical, TRUE);
    KT_ASSERT(va != NULL);
    KT_EQ(IopDmaCommonBuffers, before + 1);
    KT_EQ(BYTE_OFFSET(logical.QuadPart), 0);
    KT_LE((ULONG64)logical.QuadPart + len - 1, LIMIT_27);
    for (ULONG i = 0; i < 5; i++)
        KT_EQ((ULONG64)MmGetPhysicalAddress(va + i * PAGE_SIZE).QuadPart, (ULONG64)logical.QuadPart + i * PAGE_SIZE);
    for (ULONG i = 0; i < len; i++)
        if (va[i])
            KT_EQ(va[i], 0);
    memset(va, 0xC3, len);
    a->DmaOperations->FreeCommonBuffer(a, len, logical, va, TRUE);
    KT_EQ(IopDmaCommonBuffers, before);
    /* Uncached, for a ring the device polls. */
    va = a->DmaOperations->AllocateCommonBuffer(a, 100, &logical, FALSE);
    KT_ASSERT(va != NULL);
    a->DmaOperations->FreeCommonBuffer(a, 100, logical, va, FALSE);
    put_adapter(a);
}

/* ---- the rules ---- */

KTEST_BUGCHECK(dma, get_list_below_dispatch_level, IRQL_NOT_GREATER_OR_EQUAL, 0, DISPATCH_LEVEL, 0, KT_ANY)
{
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    PFN_NUMBER pfn = 0x2000;
    PMDL m = fake_mdl(0, 0x200, &pfn);
    EXEC_CTX x = { 0 };
    a->DmaOperations->GetScatterGatherList(a, NULL, m, MmGetMdlVirtualAddress(m), 0x200, record_list, &x, TRUE);
}

KTEST_BUGCHECK(dma, list_put_twice, DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_FREED_TOO_MANY_SG_LISTS, 0, KT_ANY, 0)
{
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    PFN_NUMBER pfn = 0x2000;
    PMDL m = fake_mdl(0, 0x200, &pfn);
    PUCHAR buffer = ExAllocatePoolWithTag(NonPagedPoolNx, 4096, T_TAG);
    EXEC_CTX x = { 0 };
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    a->DmaOperations->BuildScatterGatherList(a, NULL, m, MmGetMdlVirtualAddress(m), 0x200, record_list, &x, TRUE,
                                             buffer, 4096);
    a->DmaOperations->PutScatterGatherList(a, x.List, TRUE);
    a->DmaOperations->PutScatterGatherList(a, x.List, TRUE);
}

KTEST_BUGCHECK(dma, adapter_put_with_a_list_out, DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_PUT_ADAPTER_SG_LISTS, KT_ANY, 1,
               0)
{
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    PFN_NUMBER pfn = 0x2000;
    PMDL m = fake_mdl(0, 0x200, &pfn);
    EXEC_CTX x = { 0 };
    get_list(a, m, MmGetMdlVirtualAddress(m), 0x200, TRUE, &x);
    KtExpectParam(2, (uint64_t)a);
    put_adapter(a);
}

KTEST_BUGCHECK(dma, list_for_an_unlocked_mdl, DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_MDL_NOT_LOCKED, KT_ANY, KT_ANY, 0)
{
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    static UCHAR buffer[64];
    PMDL m = IoAllocateMdl(buffer, sizeof(buffer), FALSE, FALSE, NULL);   /* never built or locked */
    KtExpectParam(2, (uint64_t)m);
    EXEC_CTX x = { 0 };
    get_list(a, m, buffer, sizeof(buffer), TRUE, &x);
}

KTEST_BUGCHECK(dma, list_put_with_the_other_direction, DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_DIRECTION_CHANGED, KT_ANY,
               1, 0)
{
    PDMA_ADAPTER a = make_adapter(64, 1 << 20, 0, 0, NULL);
    PFN_NUMBER pfn = 0x2000;
    PMDL m = fake_mdl(0, 0x200, &pfn);
    EXEC_CTX x = { 0 };
    get_list(a, m, MmGetMdlVirtualAddress(m), 0x200, FALSE, &x);
    KtExpectParam(2, (uint64_t)x.List);
    put_list(a, x.List, TRUE);
}

KTEST_BUGCHECK(dma, common_buffer_freed_twice, DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_FREED_TOO_MANY_COMMON_BUFFERS, 1,
               KT_ANY, 0)
{
    PDMA_ADAPTER a = make_adapter(64, PAGE_SIZE, 0, 0, NULL);
    PHYSICAL_ADDRESS logical;
    PVOID va = a->DmaOperations->AllocateCommonBuffer(a, PAGE_SIZE, &logical, TRUE);
    KT_ASSERT(va != NULL);
    a->DmaOperations->FreeCommonBuffer(a, PAGE_SIZE, logical, va, TRUE);
    KtExpectParam(3, (uint64_t)va);
    a->DmaOperations->FreeCommonBuffer(a, PAGE_SIZE, logical, va, TRUE);
}

KTEST_BUGCHECK(dma, adapter_put_with_a_common_buffer, DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_PUT_ADAPTER_COMMON_BUFFERS,
               KT_ANY, 1, 0)
{
    PDMA_ADAPTER a = make_adapter(64, PAGE_SIZE, 0, 0, NULL);
    PHYSICAL_ADDRESS logical;
    KT_ASSERT(a->DmaOperations->AllocateCommonBuffer(a, PAGE_SIZE, &logical, TRUE) != NULL);
    KtExpectParam(2, (uint64_t)a);
    put_adapter(a);
}

KTEST_BUGCHECK(dma, operation_on_something_not_an_adapter, DRIVER_VERIFIER_DMA_VIOLATION, IOP_DMA_NOT_AN_ADAPTER,
               KT_ANY, 0, 0)
{
    PDMA_ADAPTER a = make_adapter(64, PAGE_SIZE, 0, 0, NULL);
    static struct { DMA_ADAPTER Header; ULONG64 Rest[16]; } fake;   /* room for what the check reads */
    fake.Header = *a;                             /* the header looks right; it is not one IoGetDmaAdapter made */
    KtExpectParam(2, (uint64_t)&fake.Header);
    a->DmaOperations->GetDmaAlignment(&fake.Header);
}

/* ---- a 32-bit device and RAM above 4 GiB (a boot with 4608 MiB) ---- */

KTEST_MANUAL(dma, bounce_32bit_adapter_above_4gib)
{
    KT_GE((ULONG64)MmHighestPhysicalPage, 0x100000ULL);   /* the runner boots this one with RAM above 4 GiB */
    DEVICE_DESCRIPTION d;
    memset(&d, 0, sizeof(d));
    d.Version = DEVICE_DESCRIPTION_VERSION;
    d.Master = d.ScatterGather = d.Dma32BitAddresses = TRUE;   /* no Dma64BitAddresses: 4 GiB is its reach */
    d.InterfaceType = PCIBus;
    d.MaximumLength = 3 * PAGE_SIZE;
    ULONG regs;
    PDMA_ADAPTER a = IoGetDmaAdapter(NULL, &d, &regs);
    KT_ASSERT(a != NULL);
    KT_EQ(internal(a)->HighestAddress, 0xFFFFFFFFULL);
    KT_EQ(internal(a)->MapRegisterCount, 4);
    PHYSICAL_ADDRESS four_gib = { 1LL << 32 };
    PMDL high = frames_above(four_gib, 3);
    bounce_write_and_read(a, high, 0xFFFFFFFFULL);
    free_frames(high);

    /* Frames below 4 GiB go to the device as they are. */
    PHYSICAL_ADDRESS skip = { 0 }, below = { 0xFFFFFFFFLL };
    PMDL low = MmAllocatePagesForMdlEx(pa_zero, below, skip, 2 * PAGE_SIZE, MmCached, MM_ALLOCATE_FULLY_REQUIRED);
    KT_ASSERT(low != NULL);
    ULONG64 bounced = internal(a)->PiecesBounced;
    EXEC_CTX x = { 0 };
    PUCHAR sys = MmGetSystemAddressForMdlSafe(low, NormalPagePriority);
    KT_ASSERT(sys != NULL);
    PUCHAR mva = MmGetMdlVirtualAddress(low);
    KT_EQ(get_list(a, low, mva + 0x10, PAGE_SIZE, TRUE, &x), STATUS_SUCCESS);
    check_exact_cover(a, low, mva + 0x10, PAGE_SIZE, x.List);
    KT_EQ((ULONG64)x.List->Elements[0].Address.QuadPart, (MmGetMdlPfnArray(low)[0] << PAGE_SHIFT) | 0x10);
    KT_EQ(internal(a)->PiecesBounced, bounced);
    put_list(a, x.List, TRUE);
    free_frames(low);
    put_adapter(a);
}

/* ---- the cost of a list ---- */

static void bench_one(PDMA_ADAPTER a, PMDL m, ULONG pages, BOOLEAN build, const char *what)
{
    PUCHAR va = MmGetMdlVirtualAddress(m);
    ULONG iterations = 4096 / pages + 16;
    static UCHAR buffer[256 * 24 + 4096 + 256 * 16] __attribute__((aligned(8)));
    EXEC_CTX x = { 0 };
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    uint64_t t0 = rdtsc();
    for (ULONG i = 0; i < iterations; i++) {
        if (build)
            a->DmaOperations->BuildScatterGatherList(a, NULL, m, va, pages * PAGE_SIZE, record_list, &x, TRUE, buffer,
                                                     sizeof(buffer));
        else
            a->DmaOperations->GetScatterGatherList(a, NULL, m, va, pages * PAGE_SIZE, record_list, &x, TRUE);
        a->DmaOperations->PutScatterGatherList(a, x.List, TRUE);
    }
    uint64_t t = rdtsc() - t0;
    KeLowerIrql(old);
    if (!what)
        return;   /* a warm-up: TCG translates the code on its first run */
    char name[64];
    ksnprintf(name, sizeof(name), "%s_%u_pages.cycles_per_page", what, pages);
    KtBenchReport(name, t / iterations / pages, "cycles");
}

KBENCH(dma, build_and_put_a_list_per_page)
{
    /* 256 frames in scattered order (every other one swapped with its
     * neighbour), so each page is its own element, as for a user buffer. */
    PMDL frames = MmAllocatePagesForMdlEx(pa_zero, pa_max, pa_zero, 256 * PAGE_SIZE, MmCached,
                                          MM_ALLOCATE_FULLY_REQUIRED | MM_DONT_ZERO_ALLOCATION);
    KT_ASSERT(frames != NULL);
    PFN_NUMBER pfns[256];
    for (int i = 0; i < 256; i++)
        pfns[i] = MmGetMdlPfnArray(frames)[i ^ 1];
    PMDL m = fake_mdl(0, 256 * PAGE_SIZE, pfns);
    PDMA_ADAPTER a = make_adapter(64, 256 * PAGE_SIZE, 0, 0, NULL);
    static const ULONG sizes[3] = { 1, 16, 256 };
    bench_one(a, m, 1, FALSE, NULL);
    for (int i = 0; i < 3; i++)
        bench_one(a, m, sizes[i], FALSE, "get_put");
    for (int i = 0; i < 3; i++)
        bench_one(a, m, sizes[i], TRUE, "build_put");
    put_adapter(a);
    free_fake(m);
    MmFreePagesFromMdl(frames);
    ExFreePool(frames);

    /* Bounced: every page copied in (a write) through map registers. */
    PMDL high = MmAllocatePagesForMdlEx(above_128m, pa_max, pa_zero, 256 * PAGE_SIZE, MmCached,
                                        MM_ALLOCATE_FULLY_REQUIRED | MM_DONT_ZERO_ALLOCATION);
    if (high) {
        PDMA_ADAPTER b = make_adapter(27, 256 * PAGE_SIZE, 0, 0, NULL);
        if (b) {
            for (int i = 0; i < 3; i++)
                bench_one(b, high, sizes[i], FALSE, "bounced_get_put");
            put_adapter(b);
        }
        MmFreePagesFromMdl(high);
        ExFreePool(high);
    }
}
