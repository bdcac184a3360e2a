/*
 * Prototype PTEs: how two processes share an image page (mm/image.c).
 *
 * Each test builds bare address spaces running the same image (what
 * PsCreateProcess builds, without a thread), so the test alone decides
 * when a page is faulted in (a copy from the process, inside ExTry),
 * trimmed (MmTrimProcessWorkingSet) or deleted, and can read every PTE.
 * `hello` is used: nothing else runs it while these tests run. Its code
 * page 0x400000 is read-only and shared; 0x403000 is its write-copy data.
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"
#include "mm/tests/frames_test_util.h"

#define TAG_PT POOL_TAG('P', 'r', 'T', 's')
#define IMAGE "hello"
#define CODE 0x400000ULL
#define DATA 0x403000ULL

static PEPROCESS space(void)
{
    PEPROCESS p = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*p), TAG_PT);
    KT_ASSERT(p != NULL);
    memset(p, 0, sizeof(*p));
    strlcpy(p->ImageName, IMAGE, sizeof(p->ImageName));
    KT_EQ((ULONG)MmCreateAddressSpace(p), 0);
    PEPROCESS saved;
    ULONG64 entry, top;
    KeStackAttachProcess(p, &saved);
    NTSTATUS s = MmMapImage(p, IMAGE, &entry, &top);
    KeUnstackDetachProcess(&saved);
    KT_EQ((ULONG)s, 0);
    return p;
}

static void space_free(PEPROCESS p)
{
    PEPROCESS saved;
    KeStackAttachProcess(p, &saved);
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    MmDeleteAddressSpace(p);
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    KeUnstackDetachProcess(&saved);
    MmFreeAddressSpaceRoot(p);
    ExFreePoolWithTag(p, TAG_PT);
}

/* Copy N bytes from (or, if WRITE, to) VA in P, as a system service would. */
static NTSTATUS touch(PEPROCESS p, ULONG64 va, void *buf, ULONG n, BOOLEAN write)
{
    PEPROCESS saved;
    volatile NTSTATUS s = STATUS_SUCCESS;
    KeStackAttachProcess(p, &saved);
    ExTry {
        if (write)
            ExCopyToUser((void *)va, buf, n);
        else
            ExCopyFromUser(buf, (const void *)va, n);
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    KeUnstackDetachProcess(&saved);
    return s;
}

/* P's PTE for VA (0 if no page table), and the frame of the page table holding it. */
static ULONG64 pte_of(PEPROCESS p, ULONG64 va, PFN_NUMBER *table)
{
    PEPROCESS saved;
    ULONG64 v = 0;
    KeStackAttachProcess(p, &saved);
    if (MiIsPteAccessible((PVOID)va)) {
        v = MiGetPteAddress((PVOID)va)->u.Long;
        if (table)
            *table = MI_PTE_PFN(MiGetPteAddress(MiGetPteAddress((PVOID)va))->u.Long);
    }
    KeUnstackDetachProcess(&saved);
    return v;
}

static ULONG trim(PEPROCESS p)
{
    PEPROCESS saved;
    KeStackAttachProcess(p, &saved);
    ULONG n = MmTrimProcessWorkingSet(p);
    KeUnstackDetachProcess(&saved);
    return n;
}

static ULONG64 read_frame(PFN_NUMBER pfn, ULONG offset)
{
    KIRQL old;
    PUCHAR v = MiMapPageInHyperspace(pfn, &old);
    ULONG64 x = *(PULONG64)(v + offset);
    MiUnmapPageInHyperspace(v, old);
    return x;
}

/* The image file's bytes for VA (zero past the segment's file size: .bss). */
static void file_bytes(PMI_IMAGE im, ULONG64 va, UCHAR *out, ULONG n)
{
    memset(out, 0, n);
    for (ULONG i = 0; i < im->SegmentCount; i++) {
        ULONG64 s = im->Segment[i].Vaddr;
        if (va < s || va >= s + im->Segment[i].Memsz)
            continue;
        for (ULONG k = 0; k < n && va + k - s < im->Segment[i].Filesz; k++)
            out[k] = im->File[im->Segment[i].Offset + (va + k - s)];
    }
}

/* Read 64 bytes at VA in P and compare them with the file. */
static void expect_image_bytes(PEPROCESS p, ULONG64 va)
{
    UCHAR got[64], want[64];
    KT_EQ((ULONG)touch(p, va, got, sizeof(got), FALSE), 0);
    file_bytes(p->Image, va, want, sizeof(want));
    KT_MEMEQ(got, want, sizeof(got));
}

/* The bug this replaces: a shared frame's PFN entry named the PTE of the
 * last process that mapped it. When that process went, the PFN named a
 * PTE in a freed page table - the one repurposing would have rewritten,
 * while another process still mapped the frame. Whatever the PFN names
 * must still be a live PTE (or prototype PTE) that points at the frame. */
KTEST(proto, shared_frame_names_a_live_pte_after_its_last_mapper_goes)
{
    PEPROCESS a = space(), b = space();
    UCHAR buf[16];
    KT_EQ((ULONG)touch(a, CODE, buf, sizeof(buf), FALSE), 0);
    KT_EQ((ULONG)touch(b, CODE, buf, sizeof(buf), FALSE), 0);   /* b maps it last */
    ULONG64 va_pte = pte_of(a, CODE, NULL);
    PFN_NUMBER f = MI_PTE_PFN(va_pte);
    KT_NE(va_pte & MI_PTE_VALID, 0);
    KT_EQ(MI_PTE_PFN(pte_of(b, CODE, NULL)), f);   /* one frame, shared */
    space_free(b);

    KT_EQ(pte_of(a, CODE, NULL), va_pte);          /* a still maps it */
    PMMPFN e = MI_PFN_ELEMENT(f);
    KT_EQ(e->PageLocation, ActiveAndValid);
    KT_NE(e->PteFrame, 0);
    /* The page holding the PTE the PFN names is still in use... */
    KT_EQ(MI_PFN_ELEMENT(e->PteFrame)->PageLocation, ActiveAndValid);
    /* ...and that PTE, read in its own page, is valid and maps the frame. */
    ULONG64 named = read_frame(e->PteFrame, (ULONG)((ULONG64)e->PteAddress & (PAGE_SIZE - 1)));
    KT_NE(named & MI_PTE_VALID, 0);
    KT_EQ(MI_PTE_PFN(named), f);
    space_free(a);
}

KTEST(proto, shared_frame_points_at_its_prototype)
{
    PEPROCESS a = space(), b = space();
    PMI_IMAGE im = a->Image;
    PMMPTE proto = MiImagePrototypePte(im, (PVOID)CODE);
    expect_image_bytes(a, CODE);
    expect_image_bytes(b, CODE);
    PFN_NUMBER f = MI_PTE_PFN(pte_of(a, CODE, NULL));
    KT_EQ(MI_PTE_PFN(pte_of(b, CODE, NULL)), f);
    PMMPFN e = MI_PFN_ELEMENT(f);
    KT_EQ(e->PrototypePte, 1);
    KT_EQ((ULONG64)e->PteAddress, (ULONG64)proto);
    KT_EQ(e->PteFrame, MI_PTE_PFN(MiGetPteAddress(proto)->u.Long));   /* the pool page holding it */
    KT_EQ(e->ShareCount, 2);
    KT_EQ(e->ReferenceCount, 1);
    KT_EQ(e->Usage, MiUsageImage);
    KT_NE(proto->u.Long & MI_PTE_VALID, 0);
    KT_EQ(MI_PTE_PFN(proto->u.Long), f);
    /* What the frame becomes when taken away: "in the file", naming the image. */
    KT_ASSERT(MiIsPrototypeFormatPte(e->OriginalPte.u.Long));
    KT_EQ((ULONG64)MiPrototypeFormatAddress(e->OriginalPte.u.Long), (ULONG64)im);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    space_free(a);
    space_free(b);
}

KTEST(proto, trimming_one_process_leaves_the_other_mapped)
{
    PEPROCESS a = space(), b = space();
    PMMPTE proto = MiImagePrototypePte(a->Image, (PVOID)CODE);
    expect_image_bytes(a, CODE);
    expect_image_bytes(b, CODE);
    PFN_NUMBER f = MI_PTE_PFN(pte_of(a, CODE, NULL));
    ULONG64 b_pte = pte_of(b, CODE, NULL);
    KT_EQ(MI_PTE_PFN(b_pte), f);
    KT_GE(trim(a), 1);

    /* a's PTE points at the prototype now, with the page's protection. */
    ULONG64 v = pte_of(a, CODE, NULL);
    KT_ASSERT(MiIsPrototypeFormatPte(v));
    KT_EQ((ULONG64)MiPrototypeFormatAddress(v), (ULONG64)proto);
    KT_EQ(((MMPTE *)&v)->u.Proto.Protection, MM_EXECUTE_READ);
    /* b's PTE, the prototype and the PFN are as they were, minus a share. */
    KT_EQ(pte_of(b, CODE, NULL), b_pte);
    KT_NE(proto->u.Long & MI_PTE_VALID, 0);
    KT_EQ(MI_PTE_PFN(proto->u.Long), f);
    PMMPFN e = MI_PFN_ELEMENT(f);
    KT_EQ((ULONG64)e->PteAddress, (ULONG64)proto);
    KT_EQ(e->ShareCount, 1);
    KT_EQ(e->PageLocation, ActiveAndValid);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));

    /* a's next touch finds the frame through the prototype: same frame. */
    ULONG64 img = a->Vm.Counters.ImageFaults;
    expect_image_bytes(a, CODE);
    KT_EQ(MI_PTE_PFN(pte_of(a, CODE, NULL)), f);
    KT_EQ(a->Vm.Counters.ImageFaults, img + 1);
    KT_EQ(e->ShareCount, 2);
    space_free(a);
    space_free(b);
}

KTEST(proto, trimming_both_puts_only_the_prototype_in_transition)
{
    PEPROCESS a = space(), b = space();
    PMMPTE proto = MiImagePrototypePte(a->Image, (PVOID)CODE);
    expect_image_bytes(a, CODE);
    expect_image_bytes(b, CODE);
    PFN_NUMBER f = MI_PTE_PFN(pte_of(a, CODE, NULL));
    trim(a);
    trim(b);
    PMMPFN e = MI_PFN_ELEMENT(f);
    KT_EQ(e->ShareCount, 0);
    KT_EQ(e->ReferenceCount, 0);
    KT_EQ(e->PageLocation, StandbyPageList);      /* clean: the file has its bytes */
    KT_EQ((ULONG64)e->PteAddress, (ULONG64)proto);
    KT_EQ(proto->u.Long & (MI_PTE_VALID | MI_PTE_TRANSITION), MI_PTE_TRANSITION);
    KT_EQ(proto->u.Trans.PageFrameNumber, f);
    /* The process PTEs name the prototype, not the frame. */
    ULONG64 va = pte_of(a, CODE, NULL), vb = pte_of(b, CODE, NULL);
    KT_ASSERT(MiIsPrototypeFormatPte(va));
    KT_ASSERT(MiIsPrototypeFormatPte(vb));
    KT_EQ((ULONG64)MiPrototypeFormatAddress(va), (ULONG64)proto);
    KT_EQ((ULONG64)MiPrototypeFormatAddress(vb), (ULONG64)proto);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));

    /* b touches it: a soft fault through the prototype, the same frame. */
    ULONG64 soft = b->Vm.Counters.SoftFaults;
    expect_image_bytes(b, CODE);
    KT_EQ(b->Vm.Counters.SoftFaults, soft + 1);
    KT_EQ(MI_PTE_PFN(pte_of(b, CODE, NULL)), f);
    KT_EQ(e->PageLocation, ActiveAndValid);
    KT_EQ(e->ShareCount, 1);
    KT_EQ(e->ReferenceCount, 1);
    KT_NE(proto->u.Long & MI_PTE_VALID, 0);
    KT_ASSERT(MiIsPrototypeFormatPte(pte_of(a, CODE, NULL)));   /* a did not notice */

    /* Both trimmed again, then a first: a soft fault from a as well. */
    trim(b);
    KT_EQ(e->PageLocation, StandbyPageList);
    soft = a->Vm.Counters.SoftFaults;
    expect_image_bytes(a, CODE);
    KT_EQ(a->Vm.Counters.SoftFaults, soft + 1);
    KT_EQ(MI_PTE_PFN(pte_of(a, CODE, NULL)), f);
    expect_image_bytes(b, CODE);
    KT_EQ(MI_PTE_PFN(pte_of(b, CODE, NULL)), f);
    KT_EQ(e->ShareCount, 2);
    space_free(a);
    space_free(b);
    /* The last mappers gone: the frame waits on standby for the next process. */
    KT_EQ(e->PageLocation, StandbyPageList);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
}

/* Take every free and zeroed frame, and standby frames (repurposing them)
 * until standby frame F is taken; F is among the frames held. */
static BOOLEAN hold_until(MT_HELD_FRAMES *h, PFN_NUMBER f)
{
    for (PFN_NUMBER pfn; (pfn = MtHoldFrame(h)) != 0;)
        if (pfn == f)
            return TRUE;
    return FALSE;
}

KTEST(proto, repurposing_a_standby_frame_rewrites_only_the_prototype)
{
    PEPROCESS a = space(), b = space();
    PMI_IMAGE im = a->Image;
    PMMPTE proto = MiImagePrototypePte(im, (PVOID)CODE);
    expect_image_bytes(a, CODE);
    expect_image_bytes(b, CODE);
    PFN_NUMBER f = MI_PTE_PFN(pte_of(a, CODE, NULL));
    trim(a);
    trim(b);
    KT_EQ(MI_PFN_ELEMENT(f)->PageLocation, StandbyPageList);
    ULONG64 va = pte_of(a, CODE, NULL), vb = pte_of(b, CODE, NULL);

    /* Memory runs out: the allocator repurposes standby frames, f too. */
    MT_HELD_FRAMES held = { 0 };
    BOOLEAN got = hold_until(&held, f);
    /* Check before giving back: nothing else can run in between. */
    ULONG64 now = proto->u.Long;
    ULONG64 now_a = pte_of(a, CODE, NULL), now_b = pte_of(b, CODE, NULL);
    UCHAR usage = MI_PFN_ELEMENT(f)->Usage;
    MtReleaseFrames(&held);
    KT_ASSERT(got);
    KT_EQ(usage, MiUsageTest);                     /* f has a new owner */
    /* The prototype says "in the file" again; no process PTE changed. */
    KT_ASSERT(MiIsPrototypeFormatPte(now));
    KT_EQ((ULONG64)MiPrototypeFormatAddress(now), (ULONG64)im);
    KT_EQ(now_a, va);
    KT_EQ(now_b, vb);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));

    /* Both read the page again: from the module's bytes, into one new frame. */
    ULONG64 img = b->Vm.Counters.ImageFaults;
    expect_image_bytes(b, CODE);
    KT_EQ(b->Vm.Counters.ImageFaults, img + 1);
    expect_image_bytes(a, CODE);
    PFN_NUMBER g = MI_PTE_PFN(pte_of(a, CODE, NULL));
    KT_EQ(MI_PTE_PFN(pte_of(b, CODE, NULL)), g);
    KT_EQ(MI_PFN_ELEMENT(g)->ShareCount, 2);
    KT_EQ((ULONG64)MI_PFN_ELEMENT(g)->PteAddress, (ULONG64)proto);
    KT_EQ(MI_PTE_PFN(proto->u.Long), g);
    space_free(a);
    space_free(b);
}

KTEST(proto, copy_on_write_after_sharing)
{
    PEPROCESS a = space(), b = space(), c = space();
    PMMPTE proto = MiImagePrototypePte(a->Image, (PVOID)DATA);
    expect_image_bytes(a, DATA);
    expect_image_bytes(b, DATA);
    ULONG64 pa = pte_of(a, DATA, NULL);
    PFN_NUMBER f = MI_PTE_PFN(pa);
    KT_EQ(MI_PTE_PFN(pte_of(b, DATA, NULL)), f);
    KT_NE(pa & MI_PTE_COPY_ON_WRITE, 0);           /* shared read-only until written */
    KT_EQ(pa & MI_PTE_WRITE, 0);
    PMMPFN e = MI_PFN_ELEMENT(f);
    KT_EQ(e->ShareCount, 2);

    /* a writes: a private copy, whose PFN names a's own PTE. */
    ULONG64 word = 0x5EC0DC0FFEEULL, cow = a->Vm.Counters.CopyOnWriteFaults;
    ULONG64 priv_before = a->Vm.Counters.PrivatePages;
    KT_EQ((ULONG)touch(a, DATA + 0x100, &word, sizeof(word), TRUE), 0);
    PFN_NUMBER table;
    ULONG64 na = pte_of(a, DATA, &table);
    PFN_NUMBER n = MI_PTE_PFN(na);
    KT_NE(n, f);
    KT_NE(na & MI_PTE_WRITE, 0);
    KT_EQ(a->Vm.Counters.CopyOnWriteFaults, cow + 1);
    KT_EQ(a->Vm.Counters.PrivatePages, priv_before + 1);
    PMMPFN ne = MI_PFN_ELEMENT(n);
    KT_EQ(ne->PrototypePte, 0);
    KT_EQ(ne->Usage, MiUsageUser);
    KT_EQ((ULONG64)ne->PteAddress, (ULONG64)MiGetPteAddress((PVOID)DATA));
    KT_EQ(ne->PteFrame, table);
    KT_EQ(ne->ShareCount, 1);
    /* The shared frame lost a's share only; b still sees the file's bytes. */
    KT_EQ(e->ShareCount, 1);
    KT_EQ((ULONG64)e->PteAddress, (ULONG64)proto);
    KT_EQ(MI_PTE_PFN(proto->u.Long), f);
    KT_EQ(read_frame(f, 0x100), 0);
    KT_EQ(read_frame(n, 0x100), word);
    expect_image_bytes(b, DATA);
    ULONG64 got = 0;
    KT_EQ((ULONG)touch(a, DATA + 0x100, &got, sizeof(got), FALSE), 0);
    KT_EQ(got, word);

    /* c writes without reading first: its copy comes from the same
     * prototype, which keeps b's share and nothing more. */
    cow = c->Vm.Counters.CopyOnWriteFaults;
    KT_EQ((ULONG)touch(c, DATA + 8, &word, sizeof(word), TRUE), 0);
    KT_EQ(c->Vm.Counters.CopyOnWriteFaults, cow + 1);
    KT_NE(MI_PTE_PFN(pte_of(c, DATA, NULL)), f);
    KT_EQ(e->ShareCount, 1);
    KT_EQ(MI_PTE_PFN(proto->u.Long), f);

    /* b writes too: the last share goes, the prototype to transition. */
    KT_EQ((ULONG)touch(b, DATA + 0x100, &word, sizeof(word), TRUE), 0);
    KT_EQ(e->ShareCount, 0);
    KT_EQ(e->PageLocation, StandbyPageList);
    KT_EQ(proto->u.Long & (MI_PTE_VALID | MI_PTE_TRANSITION), MI_PTE_TRANSITION);
    KT_EQ(proto->u.Trans.PageFrameNumber, f);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    space_free(a);
    space_free(b);
    space_free(c);
}

KTEST_BUGCHECK(proto, mapping_a_shared_frame_as_private_bugchecks, PFN_LIST_CORRUPT, 0x99, KT_ANY, KT_ANY, KT_ANY)
{
    PEPROCESS a = space();
    expect_image_bytes(a, CODE);
    PFN_NUMBER f = MI_PTE_PFN(pte_of(a, CODE, NULL));
    KtExpectParam(2, f);
    PMMPTE pte = MiReserveSystemPtes(1);
    MiMapPage(MiGetVirtualAddressMappedByPte(pte), f, MI_PROT_KERNEL_RO);
}

/* The same class of bug in the PFN check: a user PFN's PteAddress is a
 * self-map address, meaningful only in its own process, and the check
 * used to read it in whatever address space was current. a's trimmed
 * stack page waits on the modified list while b, current, has a valid
 * page at the same address: the check must read a's PTE, not b's. */
#define STACK_PAGE (MI_USER_STACK_TOP - PAGE_SIZE)
KTEST(pfn, check_reads_a_user_pte_in_its_own_process)
{
    PEPROCESS a = space(), b = space();
    ULONG64 word = 0xA11CE;
    KT_EQ((ULONG)touch(a, STACK_PAGE, &word, sizeof(word), TRUE), 0);
    KT_EQ((ULONG)touch(b, STACK_PAGE, &word, sizeof(word), TRUE), 0);
    PFN_NUMBER fa = MI_PTE_PFN(pte_of(a, STACK_PAGE, NULL));
    trim(a);
    KT_EQ(MI_PFN_ELEMENT(fa)->PageLocation, ModifiedPageList);
    PEPROCESS saved;
    KeStackAttachProcess(b, &saved);
    BOOLEAN ok = MiVerifyPfnDatabase(FALSE);
    KeUnstackDetachProcess(&saved);
    KT_ASSERT(ok);
    space_free(a);
    space_free(b);
}

/* A prototype-format PTE is written only by the kernel, and must point at
 * its own VAD's prototype PTE: anything else is a memory-manager bug, not
 * something to resolve (here: the data page's prototype, at the code VA). */
KTEST_BUGCHECK(proto, prototype_pte_pointing_elsewhere_bugchecks, 0x1A, 0x8882, KT_ANY, KT_ANY, CODE)
{
    PEPROCESS a = space(), saved;
    UCHAR b;
    KeStackAttachProcess(a, &saved);
    KT_ASSERT(MiEnsurePageTables((PVOID)CODE));
    MiWriteUserPte(MiGetPteAddress((PVOID)CODE),
                   MiMakePrototypeFormatPte(MiImagePrototypePte(a->Image, (PVOID)DATA), MM_EXECUTE_READ));
    ExCopyFromUser(&b, (const void *)CODE, 1);
}

/* An MDL lock on a shared frame: the last trim puts the prototype in
 * transition, but the lock keeps the frame active (not on standby, so it
 * cannot be repurposed under the driver); a touch meanwhile takes the same
 * frame back, and the unlock sends it to standby. */
KTEST(proto, a_locked_shared_frame_outlives_the_last_trim)
{
    PEPROCESS a = space(), b = space(), saved;
    PMMPTE proto = MiImagePrototypePte(a->Image, (PVOID)CODE);
    expect_image_bytes(a, CODE);
    expect_image_bytes(b, CODE);
    PFN_NUMBER f = MI_PTE_PFN(pte_of(a, CODE, NULL));
    PMMPFN e = MI_PFN_ELEMENT(f);
    PMDL m = IoAllocateMdl((PVOID)CODE, PAGE_SIZE, FALSE, FALSE, NULL);
    KT_ASSERT(m != NULL);
    volatile NTSTATUS s = STATUS_SUCCESS;
    KeStackAttachProcess(a, &saved);
    ExTry {
        MmProbeAndLockPages(m, UserMode, IoReadAccess);
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    KeUnstackDetachProcess(&saved);
    KT_EQ((ULONG)s, 0);
    KT_EQ(MmGetMdlPfnArray(m)[0], f);
    KT_EQ(e->ReferenceCount, 2);

    trim(a);
    trim(b);
    KT_EQ(e->ShareCount, 0);
    KT_EQ(e->ReferenceCount, 1);                  /* the lock's */
    KT_EQ(e->PageLocation, ActiveAndValid);
    KT_EQ(proto->u.Long & (MI_PTE_VALID | MI_PTE_TRANSITION), MI_PTE_TRANSITION);
    KT_EQ(proto->u.Trans.PageFrameNumber, f);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));

    ULONG64 soft = b->Vm.Counters.SoftFaults;
    expect_image_bytes(b, CODE);
    KT_EQ(b->Vm.Counters.SoftFaults, soft + 1);
    KT_EQ(MI_PTE_PFN(pte_of(b, CODE, NULL)), f);
    KT_EQ(e->ReferenceCount, 2);
    KT_EQ(e->ShareCount, 1);
    trim(b);

    MmUnlockPages(m);
    IoFreeMdl(m);
    KT_EQ(a->LockedPages, 0);
    KT_EQ(e->ReferenceCount, 0);
    KT_EQ(e->PageLocation, StandbyPageList);
    KT_ASSERT(MiVerifyPfnDatabase(FALSE));
    space_free(a);
    space_free(b);
}
