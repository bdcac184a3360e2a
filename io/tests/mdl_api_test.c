/*
 * The MDL API against the WDK's rules, on kernel buffers: the
 * structure and its size rules, IoAllocateMdl (lookaside, limits, IRP
 * chains), MmInitializeMdl, IoFreeMdl, MmBuildMdlForNonPagedPool,
 * IoBuildPartialMdl, MmAllocatePagesForMdlEx, kernel-mode mappings (cache
 * types, no-write, no-execute, running out of system PTEs),
 * MmProtectMdlSystemAddress and IRP completion. Locking itself is in
 * mm/tests/mdl_lock_test.c, the verifier in mm/tests/mdl_verifier_test.c.
 */
#include "io/tests/mdl_test_util.h"
#include "io/tests/io_test_util.h"
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

static USHORT flags(PMDL m) { return (USHORT)m->MdlFlags; }
static PUCHAR sys_pte_end(void) { return (PUCHAR)(MI_SYSTEM_PTE_BASE + MI_SYSTEM_PTE_PAGES * PAGE_SIZE); }
static BOOLEAN in_system_ptes(PVOID va)
{
    return (ULONG64)va >= MI_SYSTEM_PTE_BASE && (PUCHAR)va < sys_pte_end();
}
static PVOID alloc(POOL_TYPE type, SIZE_T bytes)
{
    PVOID p = ExAllocatePoolWithTag(type, bytes, MDLT_TAG);
    if (p)
        memset(p, 0, bytes);
    return p;
}
static void release(PVOID p) { ExFreePoolWithTag(p, MDLT_TAG); }
static const PHYSICAL_ADDRESS pa_zero = { 0 }, pa_max = { -1 };

/* ---- structure and sizes ---- */

KTEST(mdl, structure_layout_and_span_arithmetic)
{
    /* NT's x64 layout: the PFN array follows a 48-byte header. */
    KT_EQ(sizeof(MDL), 48);
    KT_EQ(__builtin_offsetof(MDL, Next), 0);
    KT_EQ(__builtin_offsetof(MDL, Size), 8);
    KT_EQ(__builtin_offsetof(MDL, MdlFlags), 10);
    KT_EQ(__builtin_offsetof(MDL, Process), 16);
    KT_EQ(__builtin_offsetof(MDL, MappedSystemVa), 24);
    KT_EQ(__builtin_offsetof(MDL, StartVa), 32);
    KT_EQ(__builtin_offsetof(MDL, ByteCount), 40);
    KT_EQ(__builtin_offsetof(MDL, ByteOffset), 44);
    MDL probe;
    KT_EQ((ULONG64)MmGetMdlPfnArray(&probe), (ULONG64)&probe + 48);

    KT_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES(0x1000, 0), 0);
    KT_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES(0x1000, 1), 1);
    KT_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES(0x1000, 0x1000), 1);
    KT_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES(0x1001, 0x1000), 2);
    KT_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES(0x1FFF, 2), 2);
    KT_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES(0x1FFF, 1), 1);
    KT_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES(0x1800, 0x3000), 4);
    KT_EQ(MmSizeOfMdl((PVOID)0x1000, 0x1000), 48 + 8);
    KT_EQ(MmSizeOfMdl((PVOID)0x1FFF, 2), 48 + 2 * 8);
    KT_EQ(MmSizeOfMdl((PVOID)0x5000, 23 * PAGE_SIZE), 48 + 23 * 8);
}

/* ---- IoAllocateMdl ---- */

KTEST(mdl, allocate_fills_in_the_header)
{
    PUCHAR buf = alloc(NonPagedPoolNx, 4 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    KT_EQ(BYTE_OFFSET(buf), 0);   /* a multi-page block starts a page */
    PUCHAR va = buf + 0x123;
    ULONG len = 2 * PAGE_SIZE + 0x345;
    PMDL m = IoAllocateMdl(va, len, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(m->Next, NULL);
    KT_EQ((USHORT)m->Size, MmSizeOfMdl(va, len));
    KT_EQ((USHORT)m->Size, 48 + 3 * 8);
    KT_EQ(m->StartVa, buf);
    KT_EQ(m->ByteOffset, 0x123);
    KT_EQ(m->ByteCount, len);
    KT_EQ(flags(m), MDL_ALLOCATED_FIXED_SIZE);   /* small: from the lookaside list, and nothing else */
    KT_EQ(MmGetMdlVirtualAddress(m), va);
    KT_EQ(MmGetMdlByteCount(m), len);
    KT_EQ(MmGetMdlByteOffset(m), 0x123);
    KT_EQ(MmGetMdlBaseVa(m), buf);
    IoFreeMdl(m);

    /* A user address is only described, never touched. */
    PVOID user = (PVOID)0x00007FF000001234ULL;
    m = IoAllocateMdl(user, 100, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(m->StartVa, 0x00007FF000001000ULL);
    KT_EQ(m->ByteOffset, 0x234);
    KT_EQ(m->ByteCount, 100);
    IoFreeMdl(m);
    release(buf);
}

/* NT's I/O manager keeps a lookaside list of MDLs with room for
 * IOP_FIXED_SIZE_MDL_PFNS = 23 pages; bigger ones come from pool. The
 * span counts, not the length. */
KTEST(mdl, small_mdls_come_from_the_lookaside_list)
{
    PVOID va = (PVOID)0xFFFFFA8050000000ULL;   /* described, not touched */
    static const struct { ULONG offset, length; BOOLEAN fixed; } cases[] = {
        { 0, 1, TRUE },
        { 0, PAGE_SIZE, TRUE },
        { 0, 23 * PAGE_SIZE, TRUE },
        { 0x10, 22 * PAGE_SIZE, TRUE },      /* spans 23 */
        { 0x10, 23 * PAGE_SIZE, FALSE },     /* spans 24 */
        { 0, 24 * PAGE_SIZE, FALSE },
        { 0, 100 * PAGE_SIZE, FALSE },
    };
    for (ULONG i = 0; i < ARRAYSIZE(cases); i++) {
        PUCHAR v = (PUCHAR)va + cases[i].offset;
        PMDL m = IoAllocateMdl(v, cases[i].length, FALSE, FALSE, NULL);
        KT_ASSERT(m != NULL);
        USHORT f = flags(m);
        USHORT size = (USHORT)m->Size;
        IoFreeMdl(m);
        if (f != (cases[i].fixed ? MDL_ALLOCATED_FIXED_SIZE : 0))
            KtFail(__FILE__, __LINE__, "case %u (offset %#x, length %#x): flags %#x, expected %#x", i,
                   cases[i].offset, cases[i].length, f, cases[i].fixed ? MDL_ALLOCATED_FIXED_SIZE : 0);
        KT_EQ(size, MmSizeOfMdl(v, cases[i].length));
    }
}

/* NT 5.2's limit: the MDL's Size must fit 16 bits; a length with bit 31 set is refused. */
KTEST(mdl, allocate_refuses_what_a_16_bit_size_cannot_hold)
{
    PUCHAR va = (PUCHAR)0xFFFFFA8050000000ULL;
    ULONG most = (0xFFFF - sizeof(MDL)) / sizeof(PFN_NUMBER);   /* 8185 pages */
    KT_EQ(most, 8185);
    PMDL m = IoAllocateMdl(va, most * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ((USHORT)m->Size, sizeof(MDL) + most * 8);
    KT_EQ(m->ByteCount, most * PAGE_SIZE);
    KT_EQ(flags(m), 0);
    IoFreeMdl(m);
    KT_ASSERT(IoAllocateMdl(va, (most + 1) * PAGE_SIZE, FALSE, FALSE, NULL) == NULL);
    KT_ASSERT(IoAllocateMdl(va + 1, most * PAGE_SIZE, FALSE, FALSE, NULL) == NULL);   /* spans one more */
    KT_ASSERT(IoAllocateMdl(va, 0x80000000u, FALSE, FALSE, NULL) == NULL);
    KT_ASSERT(IoAllocateMdl(va, 0xFFFFFFFFu, FALSE, FALSE, NULL) == NULL);
}

KTEST(mdl, allocate_with_an_irp_sets_and_chains)
{
    PIRP irp = IoAllocateIrp(1, FALSE);
    KT_ASSERT(irp != NULL);
    KT_EQ(irp->MdlAddress, NULL);
    PUCHAR va = (PUCHAR)0xFFFFFA8050000000ULL;
    PMDL a = IoAllocateMdl(va, 100, FALSE, FALSE, irp);
    KT_ASSERT(a != NULL);
    KT_EQ(irp->MdlAddress, a);
    KT_EQ(a->Next, NULL);
    PMDL b = IoAllocateMdl(va + PAGE_SIZE, 200, TRUE, FALSE, irp);   /* secondary: at the tail */
    KT_ASSERT(b != NULL);
    KT_EQ(irp->MdlAddress, a);
    KT_EQ(a->Next, b);
    KT_EQ(b->Next, NULL);
    PMDL c = IoAllocateMdl(va + 2 * PAGE_SIZE, 300, TRUE, FALSE, irp);
    KT_ASSERT(c != NULL);
    KT_EQ(irp->MdlAddress, a);
    KT_EQ(a->Next, b);
    KT_EQ(b->Next, c);
    KT_EQ(c->Next, NULL);
    KT_EQ(c->ByteCount, 300);
    /* Nothing locked: free them ourselves rather than complete the IRP. */
    irp->MdlAddress = NULL;
    IoFreeMdl(c);
    IoFreeMdl(b);
    IoFreeMdl(a);
    IoFreeIrp(irp);
}

KTEST(mdl, initialize_leaves_process_and_mapped_va_alone)
{
    PUCHAR va = (PUCHAR)0xFFFFFA8050000000ULL + 0x777;
    ULONG len = 3 * PAGE_SIZE;
    PMDL m = alloc(NonPagedPoolNx, MmSizeOfMdl(va, len));
    KT_ASSERT(m != NULL);
    m->Next = (PMDL)0x1111;
    m->Process = (struct _EPROCESS *)0x2222;
    m->MappedSystemVa = (PVOID)0x3333;
    m->MdlFlags = (CSHORT)0xFFFF;
    m->ByteCount = 5;
    MmInitializeMdl(m, va, len);
    KT_EQ(m->Next, NULL);
    KT_EQ((USHORT)m->Size, MmSizeOfMdl(va, len));
    KT_EQ(flags(m), 0);
    KT_EQ(m->StartVa, PAGE_ALIGN(va));
    KT_EQ(m->ByteOffset, 0x777);
    KT_EQ(m->ByteCount, len);
    KT_EQ(m->Process, 0x2222);          /* untouched, as NT's macro does */
    KT_EQ(m->MappedSystemVa, 0x3333);
    release(m);
}

KTEST(mdl, free_mdl_neither_unlocks_nor_frees_the_chain)
{
    /* The chain: two pool-sized MDLs (too big for the lookaside list). */
    PUCHAR va = (PUCHAR)0xFFFFFA8050000000ULL;
    PMDL a = IoAllocateMdl(va, 100 * PAGE_SIZE, FALSE, FALSE, NULL);
    PMDL b = IoAllocateMdl(va, 100 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(a && b);
    a->Next = b;
    ULONG64 blocks = MiPoolOutstandingAllocations();
    IoFreeMdl(a);
    KT_EQ(MiPoolOutstandingAllocations(), blocks - 1);   /* b is still allocated */
    KT_EQ(b->ByteCount, 100 * PAGE_SIZE);
    IoFreeMdl(b);
    KT_EQ(MiPoolOutstandingAllocations(), blocks - 2);

    /* A locked MDL freed without MmUnlockPages stays locked: IoFreeMdl
     * only frees the structure. A copy of it unlocks afterwards. (That is
     * NT without the verifier; with it, the free is 0xC4/0xBB - see
     * mdlverifier.free_of_a_locked_mdl - so it is off for this one call.) */
    PUCHAR buf = alloc(NonPagedPoolNx, PAGE_SIZE);
    PMDL m = IoAllocateMdl(buf, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(buf && m);
    KT_EQ(MdlTestProbe(m, KernelMode, IoReadAccess), 0);
    PFN_NUMBER pfn = MmGetMdlPfnArray(m)[0];
    USHORT locked = MdlTestRefs(pfn);
    PMDL copy = alloc(NonPagedPoolNx, (USHORT)m->Size);
    KT_ASSERT(copy != NULL);
    memcpy(copy, m, (USHORT)m->Size);
    BOOLEAN verifier = MiVerifierEnabled;
    MiVerifierEnabled = FALSE;
    IoFreeMdl(m);
    MiVerifierEnabled = verifier;
    KT_EQ(MdlTestRefs(pfn), locked);
    MmUnlockPages(copy);
    KT_EQ(MdlTestRefs(pfn), locked - 1);
    release(copy);
    release(buf);
}

/* ---- MmBuildMdlForNonPagedPool ---- */

KTEST(mdl, build_for_nonpaged_pool_describes_without_locking)
{
    PUCHAR buf = alloc(NonPagedPoolNx, 4 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    PUCHAR va = buf + 0x80;
    ULONG len = 3 * PAGE_SIZE;   /* spans 4 */
    PMDL m = IoAllocateMdl(va, len, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    m->Process = (struct _EPROCESS *)0x1;   /* must be set to NULL */
    USHORT refs[4];
    for (int i = 0; i < 4; i++)
        refs[i] = MdlTestRefs(MdlTestPfnOf(buf + i * PAGE_SIZE));
    ULONG ptes = MiSystemPtesInUse();
    MmBuildMdlForNonPagedPool(m);
    KT_EQ(flags(m), MDL_ALLOCATED_FIXED_SIZE | MDL_SOURCE_IS_NONPAGED_POOL);   /* not PAGES_LOCKED */
    KT_EQ(m->Process, NULL);
    KT_EQ(m->MappedSystemVa, va);
    KT_EQ(m->StartVa, buf);
    KT_EQ(m->ByteOffset, 0x80);
    KT_EQ(m->ByteCount, len);
    PPFN_NUMBER pfns = MmGetMdlPfnArray(m);
    for (int i = 0; i < 4; i++) {
        KT_EQ(pfns[i], MdlTestPfnOf(buf + i * PAGE_SIZE));
        KT_EQ(MdlTestRefs(pfns[i]), refs[i]);          /* no reference taken */
    }
    /* Already mapped: the "safe" address is the buffer itself, no PTEs. */
    KT_EQ(MmGetSystemAddressForMdlSafe(m, NormalPagePriority), va);
    KT_EQ(MmGetSystemAddressForMdlSafe(m, NormalPagePriority), va);
    KT_EQ(MiSystemPtesInUse(), ptes);
    KT_EQ(flags(m), MDL_ALLOCATED_FIXED_SIZE | MDL_SOURCE_IS_NONPAGED_POOL);
    IoFreeMdl(m);                  /* no undo: nothing to unlock */
    for (int i = 0; i < 4; i++)
        KT_EQ(MdlTestRefs(MdlTestPfnOf(buf + i * PAGE_SIZE)), refs[i]);
    release(buf);
}

/* Frames that are not RAM (device memory mapped with MmMapIoSpace) make
 * the MDL MDL_IO_SPACE. */
KTEST(mdl, build_for_io_space_marks_io_space)
{
    PHYSICAL_ADDRESS pa = { (LONGLONG)(rdmsr(0x1B) & 0xFFFFFF000ULL) };   /* the local APIC */
    PUCHAR apic = MmMapIoSpace(pa, PAGE_SIZE, MmNonCached);
    KT_ASSERT(apic != NULL);
    PMDL m = IoAllocateMdl(apic + 0x20, 4, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    MmBuildMdlForNonPagedPool(m);
    USHORT f = flags(m);
    PFN_NUMBER pfn = MmGetMdlPfnArray(m)[0];
    PVOID sys = m->MappedSystemVa;
    IoFreeMdl(m);
    MmUnmapIoSpace(apic, PAGE_SIZE);
    KT_EQ(f, MDL_ALLOCATED_FIXED_SIZE | MDL_SOURCE_IS_NONPAGED_POOL | MDL_IO_SPACE);
    KT_EQ(pfn, (ULONG64)pa.QuadPart >> PAGE_SHIFT);
    KT_EQ(sys, apic + 0x20);
}

/* ---- IoBuildPartialMdl ---- */

KTEST(mdl, partial_mdl_of_a_nonpaged_source)
{
    PUCHAR buf = alloc(NonPagedPoolNx, 4 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    PUCHAR srcva = buf + 0x100;
    ULONG srclen = 3 * PAGE_SIZE + 0x200;   /* pages 0..3 */
    PMDL src = IoAllocateMdl(srcva, srclen, FALSE, FALSE, NULL);
    KT_ASSERT(src != NULL);
    MmBuildMdlForNonPagedPool(src);
    PPFN_NUMBER sp = MmGetMdlPfnArray(src);
    USHORT refs[4];
    for (int i = 0; i < 4; i++)
        refs[i] = MdlTestRefs(sp[i]);

    PUCHAR subva = buf + PAGE_SIZE + 0x80;
    ULONG sublen = PAGE_SIZE + 0x10;        /* pages 1..2 */
    PMDL t = IoAllocateMdl(subva, sublen, FALSE, FALSE, NULL);
    KT_ASSERT(t != NULL);
    t->MdlFlags |= MDL_WRITE_OPERATION;      /* the target's own: gone, the source (built, not locked for write) has none */
    IoBuildPartialMdl(src, t, subva, sublen);
    KT_EQ(t->StartVa, buf + PAGE_SIZE);
    KT_EQ(t->ByteOffset, 0x80);
    KT_EQ(t->ByteCount, sublen);
    KT_EQ(t->Process, src->Process);
    KT_EQ(t->MappedSystemVa, (PUCHAR)src->MappedSystemVa + (subva - srcva));
    KT_EQ(flags(t), MDL_ALLOCATED_FIXED_SIZE | MDL_SOURCE_IS_NONPAGED_POOL | MDL_PARTIAL);
    KT_EQ(MmGetMdlPfnArray(t)[0], sp[1]);
    KT_EQ(MmGetMdlPfnArray(t)[1], sp[2]);
    /* The partial MDL of a nonpaged source is "already mapped" too. */
    KT_EQ(MmGetSystemAddressForMdlSafe(t, NormalPagePriority), subva);

    /* Length 0: to the end of the source. */
    PMDL t2 = IoAllocateMdl(subva, (ULONG)(srcva + srclen - subva), FALSE, FALSE, NULL);
    KT_ASSERT(t2 != NULL);
    IoBuildPartialMdl(src, t2, subva, 0);
    KT_EQ(t2->ByteCount, (ULONG)(srcva + srclen - subva));
    KT_EQ(t2->ByteOffset, 0x80);
    for (int i = 0; i < 3; i++)
        KT_EQ(MmGetMdlPfnArray(t2)[i], sp[1 + i]);
    for (int i = 0; i < 4; i++)
        KT_EQ(MdlTestRefs(sp[i]), refs[i]);   /* copying PFNs takes no references */
    IoFreeMdl(t2);
    IoFreeMdl(t);
    IoFreeMdl(src);
    release(buf);
}

KTEST(mdl, partial_mdl_of_a_locked_source_inherits_the_right_flags)
{
    PUCHAR buf = alloc(PagedPool, 4 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    KT_EQ(BYTE_OFFSET(buf), 0);
    PUCHAR srcva = buf + 0x10;
    ULONG srclen = 3 * PAGE_SIZE;           /* pages 0..3 */
    PMDL src = IoAllocateMdl(srcva, srclen, FALSE, FALSE, NULL);
    KT_ASSERT(src != NULL);
    KT_EQ(MdlTestProbe(src, KernelMode, IoWriteAccess), 0);
    PPFN_NUMBER sp = MmGetMdlPfnArray(src);
    USHORT refs[4];
    for (int i = 0; i < 4; i++)
        refs[i] = MdlTestRefs(sp[i]);
    /* As if it were the MDL of a paging read: that flag is inherited, and
     * so is WRITE_OPERATION (the direction); PAGES_LOCKED is not (a partial
     * MDL holds no lock of its own). */
    src->MdlFlags |= MDL_IO_PAGE_READ;

    /* A target that is not from the lookaside list: no FIXED_SIZE to keep. */
    PUCHAR subva = buf + 2 * PAGE_SIZE + 5;
    PMDL t = alloc(NonPagedPoolNx, MmSizeOfMdl(subva, 2 * PAGE_SIZE));
    KT_ASSERT(t != NULL);
    MmInitializeMdl(t, subva, 2 * PAGE_SIZE);
    t->Process = (struct _EPROCESS *)0x1;
    IoBuildPartialMdl(src, t, subva, 0);
    USHORT tf = flags(t);
    src->MdlFlags &= ~MDL_IO_PAGE_READ;     /* back to an ordinary locked MDL */
    KT_EQ(tf, MDL_IO_PAGE_READ | MDL_WRITE_OPERATION | MDL_PARTIAL);
    KT_EQ(t->ByteCount, (ULONG)(srcva + srclen - subva));
    KT_EQ(t->ByteOffset, 5);
    KT_EQ(t->StartVa, buf + 2 * PAGE_SIZE);
    KT_EQ(t->Process, NULL);                /* the source's: a kernel buffer */
    KT_EQ(MmGetMdlPfnArray(t)[0], sp[2]);
    KT_EQ(MmGetMdlPfnArray(t)[1], sp[3]);
    for (int i = 0; i < 4; i++)
        KT_EQ(MdlTestRefs(sp[i]), refs[i]);
    release(t);

    /* A mapped source: MAPPED and the address are inherited, so the
     * partial MDL's system address costs no PTEs. */
    ULONG unmapped = MiSystemPtesInUse();
    PUCHAR sys = MmGetSystemAddressForMdlSafe(src, NormalPagePriority);
    KT_ASSERT(sys != NULL);
    ULONG ptes = MiSystemPtesInUse();
    PMDL t3 = IoAllocateMdl(subva, 100, FALSE, FALSE, NULL);
    KT_ASSERT(t3 != NULL);
    IoBuildPartialMdl(src, t3, subva, 100);
    KT_EQ(flags(t3), MDL_ALLOCATED_FIXED_SIZE | MDL_MAPPED_TO_SYSTEM_VA | MDL_WRITE_OPERATION | MDL_PARTIAL);
    KT_EQ(t3->MappedSystemVa, sys + (subva - srcva));
    PUCHAR p3 = MmGetSystemAddressForMdlSafe(t3, NormalPagePriority);
    KT_EQ(p3, sys + (subva - srcva));
    KT_EQ(MiSystemPtesInUse(), ptes);
    subva[0] = 0x3C;
    KT_EQ(p3[0], 0x3C);
    /* Freeing a partial MDL that merely inherited the mapping must leave
     * the source's mapping alone. */
    IoFreeMdl(t3);
    KT_EQ(MiSystemPtesInUse(), ptes);
    KT_ASSERT(MmIsAddressValid(sys));
    KT_EQ(sys[subva - srcva], 0x3C);

    MmUnlockPages(src);                      /* unmaps too */
    KT_EQ(MiSystemPtesInUse(), unmapped);
    for (int i = 0; i < 4; i++)
        KT_EQ(MdlTestRefs(sp[i]), refs[i] - 1);
    IoFreeMdl(src);
    release(buf);
}

KTEST(mdl, partial_mdl_mapped_on_its_own_is_unmapped_by_reuse_and_free)
{
    PUCHAR buf = alloc(NonPagedPoolNx, 3 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    for (ULONG i = 0; i < 3 * PAGE_SIZE; i++)
        buf[i] = (UCHAR)(i * 7 + 1);
    PMDL src = IoAllocateMdl(buf, 3 * PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(src != NULL);
    KT_EQ(MdlTestProbe(src, KernelMode, IoReadAccess), 0);
    USHORT srcflags = flags(src);
    PUCHAR subva = buf + PAGE_SIZE + 0x300;
    PMDL t = IoAllocateMdl(subva, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(t != NULL);
    IoBuildPartialMdl(src, t, subva, PAGE_SIZE);
    KT_EQ(flags(t), MDL_ALLOCATED_FIXED_SIZE | MDL_PARTIAL);
    USHORT r1 = MdlTestRefs(MmGetMdlPfnArray(t)[0]);

    ULONG ptes = MiSystemPtesInUse();
    PUCHAR p = MmGetSystemAddressForMdlSafe(t, NormalPagePriority);
    KT_ASSERT(p != NULL);
    KT_ASSERT(in_system_ptes(p));
    KT_EQ(BYTE_OFFSET(p), 0x300);
    KT_EQ(flags(t), MDL_ALLOCATED_FIXED_SIZE | MDL_PARTIAL | MDL_MAPPED_TO_SYSTEM_VA | MDL_PARTIAL_HAS_BEEN_MAPPED);
    KT_EQ(t->MappedSystemVa, p);
    KT_EQ(flags(src), srcflags);              /* the source is not mapped by it */
    KT_GT(MiSystemPtesInUse(), ptes);
    KT_EQ(MdlTestRefs(MmGetMdlPfnArray(t)[0]), r1);
    KT_MEMEQ(p, subva, PAGE_SIZE);

    MmPrepareMdlForReuse(t);
    KT_EQ(flags(t) & (MDL_MAPPED_TO_SYSTEM_VA | MDL_PARTIAL_HAS_BEEN_MAPPED), 0);
    KT_EQ(MiSystemPtesInUse(), ptes);
    KT_ASSERT(!MmIsAddressValid(p));

    /* MmUnmapLockedPages clears both mapping flags as well. */
    p = MmGetSystemAddressForMdlSafe(t, NormalPagePriority);
    KT_ASSERT(p != NULL);
    MmUnmapLockedPages(p, t);
    KT_EQ(flags(t), MDL_ALLOCATED_FIXED_SIZE | MDL_PARTIAL);
    KT_EQ(MiSystemPtesInUse(), ptes);

    /* Mapped again, then freed without an unmap: IoFreeMdl does it. */
    IoBuildPartialMdl(src, t, subva, PAGE_SIZE);
    p = MmGetSystemAddressForMdlSafe(t, NormalPagePriority);
    KT_ASSERT(p != NULL);
    KT_GT(MiSystemPtesInUse(), ptes);
    IoFreeMdl(t);
    KT_EQ(MiSystemPtesInUse(), ptes);
    KT_ASSERT(!MmIsAddressValid(p));
    MmUnlockPages(src);
    IoFreeMdl(src);
    release(buf);
}

/* ---- MmAllocatePagesForMdlEx ---- */

KTEST(mdl, allocate_pages_for_mdl_gives_locked_zeroed_frames)
{
    enum { N = 8 };
    PHYSICAL_ADDRESS skip = { 0 };
    /* Dirty some frames first, so that zeroing is really needed. */
    PMDL d = MmAllocatePagesForMdlEx(pa_zero, pa_max, skip, N * PAGE_SIZE, MmCached, MM_DONT_ZERO_ALLOCATION);
    KT_ASSERT(d != NULL);
    KT_EQ(d->ByteCount, N * PAGE_SIZE);
    PUCHAR dp = MmGetSystemAddressForMdlSafe(d, NormalPagePriority);
    KT_ASSERT(dp != NULL);
    memset(dp, 0xA5, N * PAGE_SIZE);
    PFN_NUMBER dirty[N];
    memcpy(dirty, MmGetMdlPfnArray(d), sizeof(dirty));
    MmFreePagesFromMdl(d);                    /* mapped: it unmaps too */
    KT_EQ(flags(d) & (MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA), 0);
    for (int i = 0; i < N; i++) {
        KT_EQ(MdlTestRefs(dirty[i]), 0);
        KT_ASSERT(MI_PFN_ELEMENT(dirty[i])->PageLocation == FreePageList ||
                  MI_PFN_ELEMENT(dirty[i])->PageLocation == ZeroedPageList);
    }
    ExFreePool(d);

    ULONG ptes = MiSystemPtesInUse();
    PMDL m = MmAllocatePagesForMdlEx(pa_zero, pa_max, skip, N * PAGE_SIZE, MmCached, 0);
    KT_ASSERT(m != NULL);
    KT_EQ(m->StartVa, NULL);
    KT_EQ(m->ByteOffset, 0);
    KT_EQ(m->ByteCount, N * PAGE_SIZE);
    KT_EQ(m->Next, NULL);
    KT_EQ(flags(m) & (MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL | MDL_PARTIAL),
          MDL_PAGES_LOCKED);
    KT_EQ(MiSystemPtesInUse(), ptes);         /* not mapped */
    PPFN_NUMBER pfns = MmGetMdlPfnArray(m);
    for (int i = 0; i < N; i++) {
        KT_ASSERT(MiIsPfnRam(pfns[i]));
        KT_EQ(MI_PFN_ELEMENT(pfns[i])->PageLocation, ActiveAndValid);
        KT_GE(MdlTestRefs(pfns[i]), 1);
        KT_EQ(MI_PFN_ELEMENT(pfns[i])->Usage, MiUsageDriver);
        for (int j = 0; j < i; j++)
            KT_NE(pfns[i], pfns[j]);
    }
    PULONG64 p = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(p != NULL);
    for (ULONG i = 0; i < N * PAGE_SIZE / 8; i++)
        if (p[i] != 0)
            KT_EQ(p[i], 0);
    MmUnmapLockedPages(p, m);
    PFN_NUMBER keep[N];
    memcpy(keep, pfns, sizeof(keep));
    MmFreePagesFromMdl(m);
    for (int i = 0; i < N; i++)
        KT_EQ(MdlTestRefs(keep[i]), 0);
    ExFreePool(m);
}

/* More than one MDL can describe (its 16-bit Size: MI_MDL_MAX_PAGES), or
 * more than a ULONG ByteCount could say: NT gives what it can and the
 * caller reads MmGetMdlByteCount; only MM_ALLOCATE_FULLY_REQUIRED refuses. */
KTEST(mdl, allocate_pages_for_mdl_past_one_mdl_gives_what_fits)
{
    PHYSICAL_ADDRESS skip = { 0 };
    static const SIZE_T asks[] = { 2ULL << 30, (1ULL << 44) + PAGE_SIZE, ~(SIZE_T)0 };
    for (ULONG k = 0; k < ARRAYSIZE(asks); k++) {
        PMDL m = MmAllocatePagesForMdlEx(pa_zero, pa_max, skip, asks[k], MmCached, MM_DONT_ZERO_ALLOCATION);
        KT_ASSERT(m != NULL);
        /* 8185 pages (32 MiB) are free in a test boot's 256 MiB. */
        KT_EQ(MmGetMdlByteCount(m), MI_MDL_MAX_PAGES * PAGE_SIZE);
        KT_EQ((USHORT)m->Size, MmSizeOfMdl(0, MmGetMdlByteCount(m)));
        KT_LE((USHORT)m->Size, 0xFFFF);
        KT_EQ(flags(m) & MDL_PAGES_LOCKED, MDL_PAGES_LOCKED);
        PFN_NUMBER last = MmGetMdlPfnArray(m)[MI_MDL_MAX_PAGES - 1];
        KT_ASSERT(MiIsPfnRam(last));
        KT_EQ(MdlTestRefs(last), 1);
        MmFreePagesFromMdl(m);
        ExFreePool(m);
        KT_EQ(MdlTestRefs(last), 0);
        KT_EQ(MmAllocatePagesForMdlEx(pa_zero, pa_max, skip, asks[k], MmCached, MM_ALLOCATE_FULLY_REQUIRED), NULL);
    }
}

KTEST(mdl, allocate_pages_for_mdl_respects_the_physical_range)
{
    PHYSICAL_ADDRESS lo = { 16LL << 20 }, hi = { (64LL << 20) - 1 }, skip = { 0 };
    PMDL m = MmAllocatePagesForMdlEx(lo, hi, skip, 16 * PAGE_SIZE, MmCached, MM_DONT_ZERO_ALLOCATION);
    KT_ASSERT(m != NULL);
    KT_GT(m->ByteCount, 0);
    KT_EQ(m->ByteCount % PAGE_SIZE, 0);
    ULONG n = m->ByteCount / PAGE_SIZE;
    KT_LE(n, 16);
    for (ULONG i = 0; i < n; i++) {
        PFN_NUMBER pfn = MmGetMdlPfnArray(m)[i];
        KT_GE(pfn, (16ULL << 20) >> PAGE_SHIFT);
        KT_LE(pfn, ((64ULL << 20) - 1) >> PAGE_SHIFT);
    }
    MmFreePagesFromMdl(m);
    ExFreePool(m);
}

/* ---- kernel-mode mappings ---- */

KTEST(mdl, map_locked_pages_in_kernel_mode)
{
    PUCHAR buf = alloc(PagedPool, 3 * PAGE_SIZE);
    KT_ASSERT(buf != NULL);
    PUCHAR va = buf + 0x40;
    ULONG len = 2 * PAGE_SIZE;                /* spans 3 */
    PMDL m = IoAllocateMdl(va, len, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    KT_EQ(MdlTestProbe(m, KernelMode, IoWriteAccess), 0);
    PPFN_NUMBER pfns = MmGetMdlPfnArray(m);
    USHORT refs[3];
    for (int i = 0; i < 3; i++)
        refs[i] = MdlTestRefs(pfns[i]);
    ULONG ptes = MiSystemPtesInUse();

    PUCHAR p = MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
    KT_ASSERT(p != NULL);
    KT_ASSERT(in_system_ptes(p));
    KT_EQ(BYTE_OFFSET(p), 0x40);
    KT_EQ(m->MappedSystemVa, p);
    KT_ASSERT(flags(m) & MDL_MAPPED_TO_SYSTEM_VA);
    KT_ASSERT(flags(m) & MDL_PAGES_LOCKED);
    KT_GE(MiSystemPtesInUse(), ptes + 3);
    for (int i = 0; i < 3; i++) {
        ULONG64 pte = MdlTestPteOf((PUCHAR)PAGE_ALIGN(p) + i * PAGE_SIZE);
        KT_ASSERT(pte & MI_PTE_VALID);
        KT_ASSERT(pte & MI_PTE_WRITE);
        KT_ASSERT(!(pte & MI_PTE_OWNER));
        KT_ASSERT(pte & MI_PTE_NX);           /* W^X: a writable kernel mapping never executes */
        KT_EQ(pte & (MI_PTE_PCD | MI_PTE_PWT | MI_PTE_LARGE), 0);   /* MmCached */
        KT_EQ(MI_PTE_PFN(pte), pfns[i]);
        KT_EQ(MdlTestRefs(pfns[i]), refs[i]);   /* mapping takes no references */
    }
    /* One set of frames, two addresses. */
    p[0] = 0x5A;
    p[len - 1] = 0xA5;
    KT_EQ(va[0], 0x5A);
    KT_EQ(va[len - 1], 0xA5);
    va[PAGE_SIZE] = 0x77;
    KT_EQ(p[PAGE_SIZE], 0x77);
    /* The "safe" macro returns the existing mapping, twice. */
    ULONG mapped = MiSystemPtesInUse();
    KT_EQ(MmGetSystemAddressForMdlSafe(m, NormalPagePriority), p);
    KT_EQ(MmGetSystemAddressForMdlSafe(m, NormalPagePriority), p);
    KT_EQ(MiSystemPtesInUse(), mapped);

    MmUnmapLockedPages(p, m);
    KT_EQ(flags(m) & MDL_MAPPED_TO_SYSTEM_VA, 0);
    KT_ASSERT(flags(m) & MDL_PAGES_LOCKED);   /* still locked */
    KT_EQ(MiSystemPtesInUse(), ptes);
    for (int i = 0; i < 3; i++) {
        KT_ASSERT(!MmIsAddressValid((PUCHAR)PAGE_ALIGN(p) + i * PAGE_SIZE));
        KT_EQ(MdlTestRefs(pfns[i]), refs[i]);
    }
    MmUnlockPages(m);
    IoFreeMdl(m);
    release(buf);
}

KTEST(mdl, get_system_address_maps_once)
{
    PUCHAR buf = alloc(PagedPool, 2 * PAGE_SIZE);
    PMDL m = IoAllocateMdl(buf + 8, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(buf && m);
    KT_EQ(MdlTestProbe(m, KernelMode, IoReadAccess), 0);
    ULONG ptes = MiSystemPtesInUse();
    PVOID a = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(a != NULL);
    ULONG after = MiSystemPtesInUse();
    KT_GT(after, ptes);
    KT_EQ(MmGetSystemAddressForMdlSafe(m, LowPagePriority), a);
    KT_EQ(MmGetSystemAddressForMdlSafe(m, HighPagePriority), a);
    KT_EQ(MiSystemPtesInUse(), after);
    KT_EQ(BYTE_OFFSET(a), 8);
    MmUnlockPages(m);                         /* unmaps */
    KT_EQ(MiSystemPtesInUse(), ptes);
    IoFreeMdl(m);
    release(buf);
}

KTEST(mdl, map_cache_types_reach_the_pte)
{
    PHYSICAL_ADDRESS skip = { 0 };
    PMDL m = MmAllocatePagesForMdlEx(pa_zero, pa_max, skip, PAGE_SIZE, MmCached, 0);
    KT_ASSERT(m != NULL);
    static const struct { MEMORY_CACHING_TYPE type; ULONG64 bits; } cases[] = {
        { MmCached, 0 },
        { MmNonCached, MI_PTE_PCD | MI_PTE_PWT },   /* PAT entry 3: UC */
        { MmWriteCombined, MI_PTE_PWT },            /* PAT entry 1: WC (MiInitializePat) */
    };
    for (ULONG i = 0; i < ARRAYSIZE(cases); i++) {
        PVOID p = MmMapLockedPagesSpecifyCache(m, KernelMode, cases[i].type, NULL, FALSE, NormalPagePriority);
        KT_ASSERT(p != NULL);
        ULONG64 pte = MdlTestPteOf(p);
        MmUnmapLockedPages(p, m);
        if ((pte & (MI_PTE_PCD | MI_PTE_PWT | MI_PTE_LARGE)) != cases[i].bits)
            KtFail(__FILE__, __LINE__, "cache type %d: PTE %#llx has cache bits %#llx, expected %#llx",
                   cases[i].type, (unsigned long long)pte,
                   (unsigned long long)(pte & (MI_PTE_PCD | MI_PTE_PWT | MI_PTE_LARGE)),
                   (unsigned long long)cases[i].bits);
        KT_EQ(MI_PTE_PFN(pte), MmGetMdlPfnArray(m)[0]);
    }
    MmFreePagesFromMdl(m);
    ExFreePool(m);
}

KTEST(mdl, map_no_write_and_no_execute_priorities)
{
    PHYSICAL_ADDRESS skip = { 0 };
    PMDL m = MmAllocatePagesForMdlEx(pa_zero, pa_max, skip, 2 * PAGE_SIZE, MmCached, 0);
    KT_ASSERT(m != NULL);
    PUCHAR rw = MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
    KT_ASSERT(rw != NULL);
    rw[PAGE_SIZE + 5] = 0x42;
    MmUnmapLockedPages(rw, m);

    PUCHAR ro = MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE,
                                             NormalPagePriority | MdlMappingNoWrite);
    KT_ASSERT(ro != NULL);
    ULONG64 pte0 = MdlTestPteOf(ro), pte1 = MdlTestPteOf(ro + PAGE_SIZE);
    UCHAR seen = ro[PAGE_SIZE + 5];
    MmUnmapLockedPages(ro, m);
    KT_ASSERT(pte0 & MI_PTE_VALID);
    KT_EQ(pte0 & MI_PTE_WRITE, 0);
    KT_EQ(pte1 & MI_PTE_WRITE, 0);
    KT_EQ(seen, 0x42);

    PUCHAR nx = MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE,
                                             NormalPagePriority | MdlMappingNoExecute);
    KT_ASSERT(nx != NULL);
    ULONG64 pte2 = MdlTestPteOf(nx);
    MmUnmapLockedPages(nx, m);
    KT_ASSERT(pte2 & MI_PTE_NX);
    MmFreePagesFromMdl(m);
    ExFreePool(m);
}

KTEST(mdl, protect_mdl_system_address)
{
    PHYSICAL_ADDRESS skip = { 0 };
    PMDL m = MmAllocatePagesForMdlEx(pa_zero, pa_max, skip, 2 * PAGE_SIZE, MmCached, 0);
    KT_ASSERT(m != NULL);
    KT_EQ((ULONG)MmProtectMdlSystemAddress(m, PAGE_READONLY), (ULONG)STATUS_NOT_MAPPED_VIEW);
    PUCHAR p = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(p != NULL);
    KT_EQ((ULONG)MmProtectMdlSystemAddress(m, 0), (ULONG)STATUS_INVALID_PAGE_PROTECTION);
    KT_EQ((ULONG)MmProtectMdlSystemAddress(m, PAGE_READONLY | PAGE_READWRITE), (ULONG)STATUS_INVALID_PAGE_PROTECTION);
    KT_ASSERT(MdlTestPteOf(p) & MI_PTE_WRITE);            /* a refused call changes nothing */
    p[1] = 0x11;
    KT_EQ((ULONG)MmProtectMdlSystemAddress(m, PAGE_READONLY), 0);
    for (int i = 0; i < 2; i++) {
        ULONG64 pte = MdlTestPteOf(p + i * PAGE_SIZE);
        KT_ASSERT(pte & MI_PTE_VALID);
        KT_EQ(pte & MI_PTE_WRITE, 0);
        KT_EQ(MI_PTE_PFN(pte), MmGetMdlPfnArray(m)[i]);
    }
    KT_EQ(p[1], 0x11);                                     /* still readable */
    KT_EQ((ULONG)MmProtectMdlSystemAddress(m, PAGE_READWRITE), 0);
    KT_ASSERT(MdlTestPteOf(p) & MI_PTE_WRITE);
    KT_ASSERT(MdlTestPteOf(p + PAGE_SIZE) & MI_PTE_WRITE);
    p[PAGE_SIZE] = 0x22;
    KT_EQ(p[PAGE_SIZE], 0x22);
    MmUnmapLockedPages(p, m);
    KT_EQ((ULONG)MmProtectMdlSystemAddress(m, PAGE_READONLY), (ULONG)STATUS_NOT_MAPPED_VIEW);
    MmFreePagesFromMdl(m);
    ExFreePool(m);
}

/* A round trip through PAGE_NOACCESS keeps the memory type the mapping
 * was made with: an uncached (PCD|PWT) or write-combined (PWT, PAT entry 1)
 * page must not come back write-back. */
KTEST(mdl, protect_mdl_system_address_keeps_the_cache_type)
{
    PHYSICAL_ADDRESS skip = { 0 };
    static const struct { MEMORY_CACHING_TYPE type; ULONG64 bits; } kinds[] = {
        { MmNonCached, MI_PTE_PCD | MI_PTE_PWT },
        { MmWriteCombined, MI_PTE_PWT },
        { MmCached, 0 },
    };
    const ULONG64 cache = MI_PTE_PCD | MI_PTE_PWT | MI_PTE_LARGE;   /* bit 7 is PAT in a 4 KiB PTE */
    static const ULONG trips[] = { PAGE_NOACCESS, PAGE_READWRITE, PAGE_NOACCESS, PAGE_READONLY, PAGE_EXECUTE_READ,
                                   PAGE_NOACCESS, PAGE_READWRITE };
    for (ULONG k = 0; k < ARRAYSIZE(kinds); k++) {
        PMDL m = MmAllocatePagesForMdlEx(pa_zero, pa_max, skip, 2 * PAGE_SIZE, MmCached, 0);
        KT_ASSERT(m != NULL);
        PUCHAR p = MmMapLockedPagesSpecifyCache(m, KernelMode, kinds[k].type, NULL, FALSE, NormalPagePriority);
        KT_ASSERT(p != NULL);
        KT_EQ(MdlTestPteOf(p) & cache, kinds[k].bits);
        for (ULONG t = 0; t < ARRAYSIZE(trips); t++) {
            KT_EQ((ULONG)MmProtectMdlSystemAddress(m, trips[t]), 0);
            for (int i = 0; i < 2; i++) {
                ULONG64 pte = MdlTestPteOf(p + i * PAGE_SIZE);
                KT_EQ(pte & MI_PTE_VALID, trips[t] == PAGE_NOACCESS ? 0 : MI_PTE_VALID);
                KT_EQ(pte & cache, kinds[k].bits);
                KT_EQ(MI_PTE_PFN(pte), MmGetMdlPfnArray(m)[i]);
                KT_ASSERT(pte & MI_PTE_GLOBAL);
            }
        }
        p[PAGE_SIZE + 3] = 0x3C;                           /* read/write again, at the same frame */
        KT_EQ(p[PAGE_SIZE + 3], 0x3C);
        MmUnmapLockedPages(p, m);
        MmFreePagesFromMdl(m);
        ExFreePool(m);
    }
}

/* With no system PTEs left, a map that may fail returns NULL and changes
 * no flags. (The bugcheck NO_MORE_SYSTEM_PTES needs BugCheckOnFailure =
 * TRUE, which the verifier - always on in test boots - stops first as
 * 0xC4/0x82; so it is not tested.) */
KTEST(mdl, map_fails_cleanly_without_system_ptes)
{
    PHYSICAL_ADDRESS skip = { 0 };
    PMDL m = MmAllocatePagesForMdlEx(pa_zero, pa_max, skip, 2 * PAGE_SIZE, MmCached, 0);
    KT_ASSERT(m != NULL);
    USHORT f = flags(m);

    static PMMPTE runs[MI_SYSTEM_PTE_PAGES / 2];
    static ULONG sizes[MI_SYSTEM_PTE_PAGES / 2];
    ULONG n = 0;
    static const ULONG sizes_to_try[] = { 1023, 255, 63, 15, 3, 1 };
    for (ULONG k = 0; k < ARRAYSIZE(sizes_to_try); k++) {
        PMMPTE r;
        while ((r = MiReserveSystemPtes(sizes_to_try[k])) != NULL) {
            runs[n] = r;
            sizes[n++] = sizes_to_try[k];
        }
    }
    PVOID a = MmMapLockedPagesSpecifyCache(m, KernelMode, MmCached, NULL, FALSE, NormalPagePriority);
    USHORT fa = flags(m);
    PVOID b = MmGetSystemAddressForMdlSafe(m, HighPagePriority);
    USHORT fb = flags(m);
    m->MdlFlags |= MDL_MAPPING_CAN_FAIL;
    PVOID c = MmMapLockedPagesSpecifyCache(m, KernelMode, MmNonCached, NULL, FALSE, NormalPagePriority);
    USHORT fc = flags(m);
    m->MdlFlags &= ~MDL_MAPPING_CAN_FAIL;
    while (n--)
        MiReleaseSystemPtes(runs[n], sizes[n]);
    if (a)
        MmUnmapLockedPages(a, m);
    KT_EQ(a, NULL);
    KT_EQ(fa, f);
    KT_EQ(b, NULL);
    KT_EQ(fb, f);
    KT_EQ(c, NULL);
    KT_EQ(fc, f | MDL_MAPPING_CAN_FAIL);
    /* PTEs back: it maps again. */
    PVOID d = MmGetSystemAddressForMdlSafe(m, NormalPagePriority);
    KT_ASSERT(d != NULL);
    MmUnmapLockedPages(d, m);
    MmFreePagesFromMdl(m);
    ExFreePool(m);
}

/* ---- IRP completion ---- */

KTEST(mdl, completion_unlocks_and_frees_every_mdl_of_the_irp)
{
    PUCHAR paged = alloc(PagedPool, 2 * PAGE_SIZE);
    PUCHAR nonpaged = alloc(NonPagedPoolNx, PAGE_SIZE);
    KT_ASSERT(paged && nonpaged);
    PFN_NUMBER f[3] = { MdlTestPfnOf(paged), MdlTestPfnOf(paged + PAGE_SIZE), MdlTestPfnOf(nonpaged) };
    USHORT r[3];
    for (int i = 0; i < 3; i++)
        r[i] = MdlTestRefs(f[i]);
    ULONG ptes = MiSystemPtesInUse();

    /* A real request: one device that completes what it gets, and the
     * I/O manager finishing the IRP (stage 2, in this thread). */
    PDEVICE_OBJECT dev = IotCreateDevice(IotCompleteAtOnce, 0);
    KT_ASSERT(dev != NULL);
    PIRP irp = IoAllocateIrp(dev->StackSize, FALSE);
    KT_ASSERT(irp != NULL);
    PMDL a = IoAllocateMdl(paged, 2 * PAGE_SIZE, FALSE, FALSE, irp);
    PMDL b = IoAllocateMdl(nonpaged + 0x10, 0x100, TRUE, FALSE, irp);
    PMDL c = IoAllocateMdl(paged + 0x800, PAGE_SIZE, TRUE, FALSE, irp);   /* the same frames again */
    KT_ASSERT(a && b && c);
    KT_EQ(irp->MdlAddress, a);
    KT_EQ(MdlTestProbe(a, KernelMode, IoWriteAccess), 0);
    KT_EQ(MdlTestProbe(b, KernelMode, IoReadAccess), 0);
    KT_EQ(MdlTestProbe(c, KernelMode, IoReadAccess), 0);
    KT_EQ(MdlTestRefs(f[0]), r[0] + 2);
    KT_EQ(MdlTestRefs(f[1]), r[1] + 2);
    KT_EQ(MdlTestRefs(f[2]), r[2] + 1);
    PUCHAR sys = MmGetSystemAddressForMdlSafe(a, NormalPagePriority);   /* completion unmaps it */
    KT_ASSERT(sys != NULL);
    sys[3] = 9;

    KEVENT done;
    IO_STATUS_BLOCK iosb = { { STATUS_PENDING }, 0 };
    KeInitializeEvent(&done, NotificationEvent, FALSE);
    irp->UserEvent = &done;
    irp->UserIosb = &iosb;
    irp->RequestorMode = KernelMode;
    irp->Tail.Overlay.Thread = KeGetCurrentThread();
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->MajorFunction = IRP_MJ_READ;
    sl->Parameters.Read.Length = 0x1234;
    ULONG irps = (ULONG)IopIrpsInUse;
    KT_EQ(IoCallDriver(dev, irp), STATUS_SUCCESS);
    /* Stage 2 arrives as an APC to this thread: the wait lets it run. */
    KT_EQ(KeWaitForSingleObject(&done, Executive, KernelMode, FALSE, NULL), STATUS_WAIT_0);
    KT_EQ((ULONG)iosb.Status, 0);
    KT_EQ(iosb.Information, 0x1234);
    KT_EQ((ULONG)IopIrpsInUse, irps - 1);   /* the I/O manager freed the IRP, and the chain with it */
    for (int i = 0; i < 3; i++)
        KT_EQ(MdlTestRefs(f[i]), r[i]);
    KT_EQ(MiSystemPtesInUse(), ptes);
    KT_EQ(paged[3], 9);
    IotDeleteDevice(dev);              /* the MDLs' pool blocks: the leak check */
    release(nonpaged);
    release(paged);
}
