/*
 * The DMA lab's judge, tested (not graded, and passes in the student's
 * tree: it calls no student code): IoLabCheckList (io/lab/sgadapter.c),
 * which stands between a student's list and the virtio-blk device, must
 * refuse every kind of wrong list - a device given one would read or
 * write memory it was never meant to - and accept the right one; and the
 * map registers are taken all or nothing.
 */
#include "kernel/mdlos.h"
#include "io/lab/sg.h"

#define TAG_C POOL_TAG('L', 'D', 'C', 'k')

/* A list of up to 4 elements (a header with a flexible array cannot be a
 * struct member in ISO C). */
typedef struct {
    ULONG64 Raw[(sizeof(SCATTER_GATHER_LIST) + 4 * sizeof(SCATTER_GATHER_ELEMENT)) / 8];
} LIST4;
#define SGL(l) ((PSCATTER_GATHER_LIST)(l)->Raw)

static const char *check(IO_LAB_DMA *d, PMDL m, ULONG len, LIST4 *l, ULONG n)
{
    static char why[160];
    SGL(l)->NumberOfElements = n;
    return IoLabCheckList(d, m, MmGetMdlVirtualAddress(m), len, SGL(l), why, sizeof(why));
}

static void set(LIST4 *l, ULONG i, ULONG64 a, ULONG len)
{
    SGL(l)->Elements[i].Address.QuadPart = (LONGLONG)a;
    SGL(l)->Elements[i].Length = len;
    SGL(l)->Elements[i].Reserved = 0;
}

KTEST(dmalabcheck, wrong_lists_are_refused_the_right_one_taken)
{
    DEVICE_DESCRIPTION desc;
    memset(&desc, 0, sizeof(desc));
    desc.Version = DEVICE_DESCRIPTION_VERSION3;
    desc.Master = desc.ScatterGather = desc.Dma32BitAddresses = TRUE;
    desc.InterfaceType = PCIBus;
    desc.MaximumLength = 2 * PAGE_SIZE;
    desc.DmaAddressWidth = 27;
    desc.MaximumSegmentLength = 2 * PAGE_SIZE;
    desc.SegmentBoundary = 4 * PAGE_SIZE;
    IO_LAB_DMA d;
    KT_EQ(IoLabInitializeDma(&d, &desc), STATUS_SUCCESS);
    KT_EQ(d.MapRegisterCount, 3);
    /* Frames 0x1001, 0x1002 (below 128 MiB, contiguous) and one above it. */
    PFN_NUMBER high = (1ULL << 27 >> PAGE_SHIFT) + 0x10;
    PMDL m = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(MDL) + 3 * sizeof(PFN_NUMBER), TAG_C);
    KT_ASSERT(m != NULL);
    MmInitializeMdl(m, (PVOID)0xFFFFF80011110100ULL, 3 * PAGE_SIZE - 0x200);
    MmGetMdlPfnArray(m)[0] = 0x1001;
    MmGetMdlPfnArray(m)[1] = 0x1002;
    MmGetMdlPfnArray(m)[2] = high;
    m->MdlFlags |= MDL_SOURCE_IS_NONPAGED_POOL;
    ULONG len = m->ByteCount;
    ULONG64 reg = (ULONG64)d.MapRegisterPfn[1] << PAGE_SHIFT;
    LIST4 l;
    set(&l, 0, 0x1001100, 2 * PAGE_SIZE - 0x100);
    set(&l, 1, reg, PAGE_SIZE - 0x100);
    KT_ASSERT(check(&d, m, len, &l, 2) == NULL);                      /* right */
    set(&l, 0, 0x1001000, 2 * PAGE_SIZE - 0x100);
    KT_ASSERT(check(&d, m, len, &l, 2) != NULL);                      /* the byte offset lost */
    set(&l, 0, 0x1001100, 2 * PAGE_SIZE - 0x100);
    set(&l, 1, reg + 0x80, PAGE_SIZE - 0x100);
    KT_ASSERT(check(&d, m, len, &l, 2) != NULL);                      /* a bounce at another offset */
    set(&l, 1, (ULONG64)high << PAGE_SHIFT, PAGE_SIZE - 0x100);
    KT_ASSERT(check(&d, m, len, &l, 2) != NULL);                      /* the high frame itself: out of reach */
    set(&l, 1, 0x2000000, PAGE_SIZE - 0x100);
    KT_ASSERT(check(&d, m, len, &l, 2) != NULL);                      /* low, but not a map register */
    set(&l, 1, reg, PAGE_SIZE - 0x200);
    KT_ASSERT(check(&d, m, len, &l, 2) != NULL);                      /* short by 0x100 bytes */
    set(&l, 0, 0x1001100, PAGE_SIZE - 0x100);
    set(&l, 1, 0x1002000, PAGE_SIZE);
    set(&l, 2, reg, PAGE_SIZE - 0x100);
    KT_ASSERT(check(&d, m, len, &l, 3) == NULL);                      /* not merged: allowed */
    set(&l, 2, reg, PAGE_SIZE - 0x100);
    set(&l, 3, reg, 0);
    KT_ASSERT(check(&d, m, len, &l, 4) != NULL);                      /* an empty element; more than pages */
    /* Over a limit: longer than a segment, across the boundary. */
    MmGetMdlPfnArray(m)[2] = 0x1003;
    set(&l, 0, 0x1001100, 3 * PAGE_SIZE - 0x200);
    KT_ASSERT(check(&d, m, len, &l, 1) != NULL);
    MmGetMdlPfnArray(m)[0] = 0x1002;
    MmGetMdlPfnArray(m)[1] = 0x1003;
    MmGetMdlPfnArray(m)[2] = 0x1004;
    set(&l, 0, 0x1002100, 2 * PAGE_SIZE - 0x100);
    set(&l, 1, 0x1004000, PAGE_SIZE - 0x100);
    KT_ASSERT(check(&d, m, len, &l, 2) == NULL);
    set(&l, 0, 0x1002100, PAGE_SIZE - 0x100);
    set(&l, 1, 0x1003000, 2 * PAGE_SIZE - 0x100);
    KT_ASSERT(check(&d, m, len, &l, 2) != NULL);                      /* 0x1003000..0x1004F00 crosses 0x1004000 */
    /* Two bounced pieces in one register. */
    MmGetMdlPfnArray(m)[0] = high;
    MmGetMdlPfnArray(m)[1] = 0x1004;
    MmGetMdlPfnArray(m)[2] = high + 1;
    set(&l, 0, reg + 0x100, PAGE_SIZE - 0x100);
    set(&l, 1, 0x1004000, PAGE_SIZE);
    set(&l, 2, reg, PAGE_SIZE - 0x100);
    KT_ASSERT(check(&d, m, len, &l, 3) != NULL);
    set(&l, 2, (ULONG64)d.MapRegisterPfn[2] << PAGE_SHIFT, PAGE_SIZE - 0x100);
    KT_ASSERT(check(&d, m, len, &l, 3) == NULL);

    /* All or nothing. */
    USHORT r[3];
    KT_ASSERT(IoLabTakeMapRegisters(&d, 2, r));
    KT_ASSERT(!IoLabTakeMapRegisters(&d, 2, r + 2));
    KT_EQ(d.FreeCount, 1);
    IoLabReturnMapRegisters(&d, 2, r);
    KT_EQ(d.FreeCount, 3);
    ExFreePoolWithTag(m, TAG_C);
    IoLabFreeDma(&d);
}
