/*
 * Hidden tests of the DMA lab (course staff's; never in a student tree):
 * the rules of the interface in io/lab/sg.h that the visible tests do not
 * grade - all-or-nothing map registers, and the verifier's three DMA
 * checks (an unlocked MDL, a list put twice, a put in the other direction).
 */
#include "kernel/mdlos.h"
#include "io/lab/sg.h"

#define TAG_H POOL_TAG('L', 'D', 'H', 'd')
static const PHYSICAL_ADDRESS h_zero = { 0 }, h_max = { -1 }, h_above_128m = { 1LL << 27 };

static void h_describe(DEVICE_DESCRIPTION *d, ULONG width, ULONG max_length)
{
    memset(d, 0, sizeof(*d));
    d->Version = DEVICE_DESCRIPTION_VERSION3;
    d->Master = d->ScatterGather = d->Dma32BitAddresses = TRUE;
    d->Dma64BitAddresses = width == 64;
    d->InterfaceType = PCIBus;
    d->MaximumLength = max_length;
    d->DmaAddressWidth = width == 64 ? 0 : width;
}

static PSCATTER_GATHER_LIST h_build(IO_LAB_DMA *d, PMDL m, PVOID cva, ULONG len, BOOLEAN write, NTSTATUS *status)
{
    ULONG size = 0;
    KT_EQ(IoLabCalculateScatterGatherList(d, m, cva, len, &size, NULL), STATUS_SUCCESS);
    PSCATTER_GATHER_LIST l = ExAllocatePoolWithTag(NonPagedPoolNx, size, TAG_H);
    KT_ASSERT(l != NULL);
    *status = IoLabBuildScatterGatherList(d, m, cva, len, write, l, size);
    if (!NT_SUCCESS(*status)) {
        ExFreePoolWithTag(l, TAG_H);
        return NULL;
    }
    return l;
}

/* Three map registers; a list holds all three; the next one that needs a
 * register is refused with STATUS_INSUFFICIENT_RESOURCES and takes none;
 * a list needing two when one is free takes neither. */
KTEST_POINTS(dma_hidden, bounce__too_few_map_registers_take_none, 5)
{
    DEVICE_DESCRIPTION desc;
    h_describe(&desc, 27, 2 * PAGE_SIZE);
    IO_LAB_DMA d;
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    KT_EQ(d.MapRegisterCount, 3);
    PMDL high = MmAllocatePagesForMdlEx(h_above_128m, h_max, h_zero, 3 * PAGE_SIZE, MmCached,
                                        MM_ALLOCATE_FULLY_REQUIRED);
    KT_ASSERT(high != NULL);
    PUCHAR mva = MmGetMdlVirtualAddress(high);
    NTSTATUS s;
    PSCATTER_GATHER_LIST all = h_build(&d, high, mva + 0x10, 2 * PAGE_SIZE, TRUE, &s);
    KT_EQ(s, STATUS_SUCCESS);
    KT_EQ(d.FreeCount, 0);
    KT_ASSERT(h_build(&d, high, mva, 0x10, FALSE, &s) == NULL);
    KT_EQ(s, STATUS_INSUFFICIENT_RESOURCES);
    KT_EQ(d.FreeCount, 0);
    IoLabPutScatterGatherList(&d, all, TRUE);
    ExFreePoolWithTag(all, TAG_H);
    KT_EQ(d.FreeCount, 3);
    PSCATTER_GATHER_LIST two = h_build(&d, high, mva + PAGE_SIZE, 2 * PAGE_SIZE, TRUE, &s);   /* 2 registers */
    KT_EQ(s, STATUS_SUCCESS);
    KT_EQ(d.FreeCount, 1);
    KT_ASSERT(h_build(&d, high, mva + 0x800, PAGE_SIZE, TRUE, &s) == NULL);   /* spans 2 pages: needs 2 */
    KT_EQ(s, STATUS_INSUFFICIENT_RESOURCES);
    KT_EQ(d.FreeCount, 1);                       /* the one free register was not kept */
    PSCATTER_GATHER_LIST one = h_build(&d, high, mva, 0x200, FALSE, &s);
    KT_EQ(s, STATUS_SUCCESS);
    KT_EQ(d.FreeCount, 0);
    IoLabPutScatterGatherList(&d, one, FALSE);
    IoLabPutScatterGatherList(&d, two, TRUE);
    ExFreePoolWithTag(one, TAG_H);
    ExFreePoolWithTag(two, TAG_H);
    KT_EQ(d.FreeCount, 3);
    MmFreePagesFromMdl(high);
    ExFreePool(high);
    IoLabFreeDma(&d);
}

static UCHAR h_buffer[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

KTEST_BUGCHECK_POINTS(dma_hidden, list__for_an_unlocked_mdl_is_caught, 5, DRIVER_VERIFIER_DMA_VIOLATION,
                      0x101 /* the MDL is not locked */, KT_ANY, KT_ANY, KT_ANY)
{
    DEVICE_DESCRIPTION desc;
    h_describe(&desc, 64, PAGE_SIZE);
    static IO_LAB_DMA d;
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    PMDL m = IoAllocateMdl(h_buffer, 64, FALSE, FALSE, NULL);   /* never locked or built */
    KT_ASSERT(m != NULL);
    KtExpectParam(2, (uint64_t)m);
    static ULONG64 list[64];
    IoLabBuildScatterGatherList(&d, m, h_buffer, 64, TRUE, list, sizeof(list));
}

static PMDL h_locked(void)
{
    PMDL m = IoAllocateMdl(h_buffer, 64, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmBuildMdlForNonPagedPool(m);
    return m;
}

KTEST_BUGCHECK_POINTS(dma_hidden, put__twice_is_caught, 5, DRIVER_VERIFIER_DMA_VIOLATION,
                      0x06 /* a list that is not out */, KT_ANY, KT_ANY, KT_ANY)
{
    DEVICE_DESCRIPTION desc;
    h_describe(&desc, 64, PAGE_SIZE);
    static IO_LAB_DMA d;
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    PMDL m = h_locked();
    NTSTATUS s;
    PSCATTER_GATHER_LIST l = h_build(&d, m, h_buffer, 64, TRUE, &s);
    KT_EQ(s, STATUS_SUCCESS);
    IoLabPutScatterGatherList(&d, l, TRUE);
    IoLabPutScatterGatherList(&d, l, TRUE);
}

KTEST_BUGCHECK_POINTS(dma_hidden, put__in_the_other_direction_is_caught, 5, DRIVER_VERIFIER_DMA_VIOLATION,
                      0x102 /* the other direction */, KT_ANY, KT_ANY, KT_ANY)
{
    DEVICE_DESCRIPTION desc;
    h_describe(&desc, 64, PAGE_SIZE);
    static IO_LAB_DMA d;
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    PMDL m = h_locked();
    NTSTATUS s;
    PSCATTER_GATHER_LIST l = h_build(&d, m, h_buffer, 64, FALSE, &s);   /* a read */
    KT_EQ(s, STATUS_SUCCESS);
    KtExpectParam(2, (uint64_t)l);
    IoLabPutScatterGatherList(&d, l, TRUE);
}
