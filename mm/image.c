/*
 * Executable images: ELF64 files that GRUB loaded as modules, shared by
 * every process running them the way NT shares an image section: through
 * prototype PTEs.
 *
 * An image has one prototype PTE per page (MI_IMAGE.PrototypePte, nonpaged
 * pool). It is the one place that says where the page's contents are:
 *
 *   prototype PTE              meaning
 *   prototype format -> image  in the file only (NT: a subsection PTE)
 *   valid, frame F             in frame F, which some processes map
 *   transition, frame F        in frame F on the standby list: nobody maps it
 *
 * A process PTE for an image page is 0 (never touched), valid (it maps the
 * shared frame, or its private copy), or prototype format pointing at the
 * prototype PTE (it was trimmed; a touch resolves through the prototype).
 * The shared frame's PFN entry names the prototype (PteAddress, with
 * PrototypePte set) and counts the process PTEs mapping it (ShareCount):
 * no process PTE is ever the frame's "owner", so taking the frame away
 * (repurposing it from the standby list) rewrites only the prototype,
 * and every process finds out at its next fault. Read-only code is
 * shared; writable data is mapped copy-on-write, so a process gets its
 * private copy only of the pages it writes.
 */
#include "kernel/ps/psp.h"

#define TAG_IMAGE POOL_TAG('I', 'm', 'a', 'g')

typedef struct {
    uint8_t ident[16];
    uint16_t type, machine;
    uint32_t version;
    uint64_t entry, phoff, shoff;
    uint32_t flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
} ELF64_EHDR;

typedef struct {
    uint32_t type, flags;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
} ELF64_PHDR;

#define PT_LOAD 1
#define PF_X 1
#define PF_W 2
#define PF_R 4

static LIST_ENTRY images = { &images, &images };
static KMUTEX image_lock;
static BOOLEAN image_lock_ready;

static ULONG elf_protection(uint32_t flags)
{
    if (flags & PF_W)
        return (flags & PF_X) ? PAGE_EXECUTE_WRITECOPY : PAGE_WRITECOPY;
    return (flags & PF_X) ? PAGE_EXECUTE_READ : PAGE_READONLY;
}

static NTSTATUS parse(PMI_IMAGE im)
{
    const ELF64_EHDR *h = (const ELF64_EHDR *)im->File;
    if (im->FileSize < sizeof(*h) || memcmp(h->ident, "\x7f" "ELF", 4) || h->ident[4] != 2 || h->machine != 62 ||
        h->phentsize != sizeof(ELF64_PHDR) || h->phoff + (ULONG64)h->phnum * sizeof(ELF64_PHDR) > im->FileSize)
        return STATUS_INVALID_IMAGE_FORMAT;
    ULONG64 lo = ~0ULL, hi = 0;
    for (int i = 0; i < h->phnum; i++) {
        const ELF64_PHDR *ph = (const ELF64_PHDR *)(im->File + h->phoff) + i;
        if (ph->type != PT_LOAD || ph->memsz == 0)
            continue;
        /* Segments must be page aligned, inside user space, inside the file. */
        if (im->SegmentCount == MI_IMAGE_MAX_SEGMENTS || (ph->vaddr & (PAGE_SIZE - 1)) ||
            (ph->offset & (PAGE_SIZE - 1)) || ph->filesz > ph->memsz || ph->offset + ph->filesz > im->FileSize ||
            ph->vaddr < 0x10000 || ph->vaddr + ph->memsz > 0x00007FFF00000000ULL)
            return STATUS_INVALID_IMAGE_FORMAT;
        im->Segment[im->SegmentCount].Vaddr = ph->vaddr;
        im->Segment[im->SegmentCount].Memsz = ph->memsz;
        im->Segment[im->SegmentCount].Offset = ph->offset;
        im->Segment[im->SegmentCount].Filesz = ph->filesz;
        im->Segment[im->SegmentCount].Protection = elf_protection(ph->flags);
        im->SegmentCount++;
        if (ph->vaddr < lo)
            lo = ph->vaddr;
        if (ph->vaddr + ph->memsz > hi)
            hi = ph->vaddr + ph->memsz;
    }
    if (!im->SegmentCount || h->entry < lo || h->entry >= hi)
        return STATUS_INVALID_IMAGE_FORMAT;
    im->Entry = h->entry;
    im->BaseVpn = lo >> PAGE_SHIFT;
    im->Pages = BYTES_TO_PAGES(hi) - im->BaseVpn;
    return STATUS_SUCCESS;
}

/* The segment holding image page INDEX, or -1 (a hole between segments). */
static int segment_of(PMI_IMAGE im, ULONG64 index)
{
    ULONG64 va = (im->BaseVpn + index) << PAGE_SHIFT;
    for (ULONG i = 0; i < im->SegmentCount; i++)
        if (va >= (im->Segment[i].Vaddr & ~(PAGE_SIZE - 1)) && va < im->Segment[i].Vaddr + im->Segment[i].Memsz)
            return (int)i;
    return -1;
}

/* A prototype PTE for a page that is only in the file: prototype format,
 * naming the image (whose segment table says where in the file), with the
 * page's protection. Also every shared frame's OriginalPte: what the
 * prototype becomes when the frame is taken away. */
static ULONG64 in_file_pte(PMI_IMAGE im, ULONG64 index)
{
    int seg = segment_of(im, index);
    ULONG mm = seg < 0 ? MM_NOACCESS : (ULONG)MiMakeProtectionMask(im->Segment[seg].Protection);
    return MiMakePrototypeFormatPte(im, mm);
}

/* The image named NAME (a module's command-line string), loaded once. */
static NTSTATUS get_image(const char *name, PMI_IMAGE *out)
{
    for (PLIST_ENTRY e = images.Flink; e != &images; e = e->Flink) {
        PMI_IMAGE im = CONTAINING_RECORD(e, MI_IMAGE, Links);
        if (strcmp(im->Name, name) == 0) {
            *out = im;
            return STATUS_SUCCESS;
        }
    }
    const KI_MODULE *m = NULL;
    for (uint32_t i = 0; i < KiBootInfo.module_count; i++)
        if (strcmp(KiBootInfo.modules[i].name, name) == 0)
            m = &KiBootInfo.modules[i];
    if (!m || strlen(name) >= sizeof(((MI_IMAGE *)0)->Name))
        return STATUS_OBJECT_NAME_NOT_FOUND;
    PMI_IMAGE im = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*im), TAG_IMAGE);
    if (!im)
        return STATUS_INSUFFICIENT_RESOURCES;
    memset(im, 0, sizeof(*im));
    strlcpy(im->Name, name, sizeof(im->Name));
    PHYSICAL_ADDRESS pa = { (LONGLONG)m->start };
    im->FileSize = m->end - m->start;
    im->File = MmMapIoSpace(pa, im->FileSize, MmCached);   /* the module's frames, read through system PTEs */
    NTSTATUS s = im->File ? parse(im) : STATUS_INSUFFICIENT_RESOURCES;
    if (NT_SUCCESS(s)) {
        /* Nonpaged: a prototype PTE is read and written at DISPATCH_LEVEL
         * (trims, repurposing), where nothing may fault. */
        im->PrototypePte = ExAllocatePoolWithTag(NonPagedPoolNx, im->Pages * sizeof(MMPTE), TAG_IMAGE);
        if (!im->PrototypePte)
            s = STATUS_INSUFFICIENT_RESOURCES;
        else
            for (ULONG64 i = 0; i < im->Pages; i++)
                im->PrototypePte[i].u.Long = in_file_pte(im, i);
    }
    if (!NT_SUCCESS(s)) {
        if (im->File)
            MmUnmapIoSpace(im->File, im->FileSize);
        ExFreePoolWithTag(im, TAG_IMAGE);
        return s;
    }
    InsertTailList(&images, &im->Links);
    MiForceChargeCommitment(NULL, im->Pages);   /* the image cache: its frames stay for good (mm/commit.c) */
    *out = im;
    return STATUS_SUCCESS;
}

NTSTATUS MmMapImage(PEPROCESS p, const char *name, ULONG64 *entry, ULONG64 *stack_top)
{
    if (!image_lock_ready) {
        KeInitializeMutex(&image_lock, 0);
        image_lock_ready = TRUE;
    }
    PMI_IMAGE im;
    KeWaitForSingleObject(&image_lock, Executive, KernelMode, FALSE, NULL);
    NTSTATUS s = get_image(name, &im);
    KeReleaseMutex(&image_lock, FALSE);
    if (!NT_SUCCESS(s))
        return s;
    for (ULONG i = 0; i < im->SegmentCount; i++) {
        ULONG64 start = im->Segment[i].Vaddr >> PAGE_SHIFT;
        ULONG64 end = (im->Segment[i].Vaddr + im->Segment[i].Memsz - 1) >> PAGE_SHIFT;
        PMMVAD v = MiInsertVad(p, start, end, im->Segment[i].Protection, VadImage);
        if (!v)
            return STATUS_INSUFFICIENT_RESOURCES;
        v->Image = im;
        v->Segment = (USHORT)i;
    }
    /* The stack: reserved, the top page committed, a guard page below it;
     * the stack grows down one guard page at a time (mm/userfault.c). */
    ULONG64 top = MI_USER_STACK_TOP;
    ULONG64 pages = MI_USER_STACK_SIZE >> PAGE_SHIFT;
    /* Refused up front, with a status, when commit is short (mm/commit.c). */
    NTSTATUS cs = MiChargeImageAndStack(p, im, (top >> PAGE_SHIFT) - pages, (top >> PAGE_SHIFT) - 1);
    if (!NT_SUCCESS(cs) || !MiChargeCommitment(p, 2))   /* the two stack pages below */
        return NT_SUCCESS(cs) ? STATUS_COMMITMENT_LIMIT : cs;
    PMMVAD sv = MiInsertVad(p, (top >> PAGE_SHIFT) - pages, (top >> PAGE_SHIFT) - 1, PAGE_READWRITE, VadStack);
    if (!sv)
        return STATUS_INSUFFICIENT_RESOURCES;
    for (int k = 1; k <= 2; k++) {
        PVOID va = (PVOID)(top - (ULONG64)k * PAGE_SIZE);
        if (!MiEnsurePageTables(va))
            return STATUS_NO_MEMORY;
        MiWriteUserPte(MiGetPteAddress(va), MiDemandZeroPte(k == 1 ? MM_READWRITE : MM_READWRITE | MM_GUARD_PAGE));
        p->Vm.Counters.PrivatePages++;
    }
    p->Image = im;
    *entry = im->Entry;
    *stack_top = top;
    return STATUS_SUCCESS;
}

PMMPTE MiImagePrototypePte(PMI_IMAGE im, PVOID va)
{
    return &im->PrototypePte[((ULONG64)va >> PAGE_SHIFT) - im->BaseVpn];
}

__attribute__((noreturn)) static void bad_prototype(PMMPTE proto, PFN_NUMBER pfn, const char *why)
{
    KeBugCheckRule(PFN_LIST_CORRUPT, 0x99, pfn, (ULONG_PTR)proto, proto ? proto->u.Long : 0,
                   "%s (frame %#llx, prototype PTE %p)", why, (unsigned long long)pfn, proto);
}

/* A new frame holding image page VA of segment SEG, copied from the
 * module's bytes (mapped in system PTEs for good, so this also serves
 * every re-read after the frame was repurposed); 0 when out of memory. */
static PFN_NUMBER read_image_page(PMI_IMAGE im, ULONG seg, ULONG64 va)
{
    PFN_NUMBER pfn = MiAllocatePfn(MiUsageImage, TRUE);
    if (!pfn)
        return 0;
    ULONG64 off_in_seg = va - im->Segment[seg].Vaddr;
    if (off_in_seg < im->Segment[seg].Filesz) {
        ULONG64 n = im->Segment[seg].Filesz - off_in_seg;
        if (n > PAGE_SIZE)
            n = PAGE_SIZE;
        KIRQL old;
        PVOID dst = MiMapPageInHyperspace(pfn, &old);
        memcpy(dst, im->File + im->Segment[seg].Offset + off_in_seg, n);   /* the rest stays zero: .bss */
        MiUnmapPageInHyperspace(dst, old);
    }
    return pfn;
}

/* Make the prototype PTE of image page VA valid and take one share of its
 * frame for the caller (a PTE about to map it, or a copy being made).
 * Under image_lock, so only one fault reads a page in; trims and
 * repurposing change prototypes at DISPATCH_LEVEL without it, but they
 * never touch one that is in the file. *SOFT says whether the frame was
 * still in memory (in transition). Returns the frame, or 0. */
static PFN_NUMBER take_prototype(PMI_IMAGE im, ULONG seg, ULONG64 va, BOOLEAN *soft)
{
    PMMPTE proto = MiImagePrototypePte(im, (PVOID)va);
    ULONG mm = (ULONG)MiMakeProtectionMask(im->Segment[seg].Protection);
    PFN_NUMBER fresh = 0;
    for (;;) {
        KIRQL old = MiAcquirePfnLock();
        MMPTE v = *proto;
        if (v.u.Long & MI_PTE_VALID) {
            /* Another process maps it now: one more share. */
            PFN_NUMBER pfn = MI_PTE_PFN(v.u.Long);
            MI_PFN_ELEMENT(pfn)->ShareCount++;
            MiReleasePfnLock(old);
            if (fresh)
                MiFreePfn(fresh);   /* cannot happen under image_lock; harmless if it did */
            *soft = FALSE;
            return pfn;
        }
        if (v.u.Long & MI_PTE_TRANSITION) {
            /* Nobody maps it, but the frame still holds it: take it back
             * from the standby list (a soft fault, no I/O). */
            PFN_NUMBER pfn = v.u.Trans.PageFrameNumber;
            PMMPFN e = MI_PFN_ELEMENT(pfn);
            if (!e->PrototypePte || e->PteAddress != proto)
                bad_prototype(proto, pfn, "a prototype PTE in transition names a frame that is not its own");
            MiMakeTransitionPageActive(pfn);   /* as every soft fault does (or an MDL lock kept it active) */
            proto->u.Long = (pfn << PAGE_SHIFT) | MiUserPteFlags(mm);
            MiReleasePfnLock(old);
            if (fresh)
                MiFreePfn(fresh);
            *soft = TRUE;
            return pfn;
        }
        if (!MiIsPrototypeFormatPte(v.u.Long) || MiPrototypeFormatAddress(v.u.Long) != im)
            bad_prototype(proto, 0, "an image's prototype PTE is in no known state");
        if (fresh) {
            /* In the file: the frame just read becomes the page's. */
            PMMPFN e = MI_PFN_ELEMENT(fresh);
            e->PteAddress = proto;
            e->PteFrame = MiGetPteFrame(proto);   /* the pool page holding it */
            e->OriginalPte = v;                   /* back to the file when repurposed */
            e->PrototypePte = 1;
            e->ShareCount = 1;
            proto->u.Long = (fresh << PAGE_SHIFT) | MiUserPteFlags(mm);
            MiReleasePfnLock(old);
            *soft = FALSE;
            return fresh;
        }
        MiReleasePfnLock(old);
        fresh = read_image_page(im, seg, va);   /* at PASSIVE_LEVEL: the allocation may have to wait */
        if (!fresh)
            return 0;
    }
}

void MiDecrementShareCount(PFN_NUMBER pfn)
{
    ASSERT(KeGetCurrentIrql() >= DISPATCH_LEVEL);
    PMMPFN e = MI_PFN_ELEMENT(pfn);
    PMMPTE proto = e->PteAddress;
    if (!e->PrototypePte || !e->ShareCount)
        bad_prototype(proto, pfn, "a shared image frame lost more shares than PTEs mapped it");
    if (--e->ShareCount)
        return;
    if (!(proto->u.Long & MI_PTE_VALID) || MI_PTE_PFN(proto->u.Long) != pfn)
        bad_prototype(proto, pfn, "a mapped image frame's prototype PTE does not point at it");
    /* The last process PTE is gone: the prototype (and only it) goes to
     * transition, and the frame, clean - the file has its bytes - to the
     * standby list, from where a fault can take it back or an allocation
     * can repurpose it. */
    MMPTE t = { .u.Long = 0 };
    t.u.Trans.Transition = 1;
    t.u.Trans.Protection = MiPteProtection(proto->u.Long);
    t.u.Trans.PageFrameNumber = pfn;
    proto->u.Long = t.u.Long;
    MiDecrementReferenceCount(pfn);
}

/* Map shared frame PFN at PTE, which is 0 or prototype format. The PFN
 * entry is not told who maps it (its PteAddress is the prototype): its
 * share was taken by take_prototype. */
static void map_shared(PMMPTE pte, PFN_NUMBER pfn, ULONG mm)
{
    if (pte->u.Long & MI_PTE_VALID)
        KeBugCheckRule(MEMORY_MANAGEMENT, 0x411, (ULONG_PTR)pte, pte->u.Long, (ULONG_PTR)MiGetVirtualAddressMappedByPte(pte),
                       "a mapping was made over a valid PTE (%p)", MiGetVirtualAddressMappedByPte(pte));
    MiWriteUserPte(pte, (pfn << PAGE_SHIFT) | MiUserPteFlags(mm));
}

/* The prototype-PTE (image) fault: a process PTE in image VAD VAD that is
 * 0 (never touched) or prototype format (trimmed) resolves through the
 * page's prototype PTE: the shared frame is mapped (an image fault, or a
 * soft fault if it came back from standby), or for a write a private copy
 * (copy-on-write at once). NT's MiResolveProtoPteFault. */
NTSTATUS MiResolveProtoPteFault(PEPROCESS p, PMMVAD vad, PVOID va, ULONG64 error)
{
    /* The page's tables now, below DISPATCH_LEVEL, where a frame can be
     * waited for (charged to the process at its creation). */
    if (!MiEnsurePageTables(va))
        return STATUS_NO_MEMORY;
    PMI_IMAGE im = vad->Image;
    ULONG seg = vad->Segment;
    PMMPTE pte = MiGetPteAddress(va);
    ULONG64 v = pte->u.Long;
    LONG mm = MiMakeProtectionMask(im->Segment[seg].Protection);
    if (v) {
        /* Trimmed before: the PTE points at the prototype. It can only be
         * this VAD's own, or the kernel wrote a wrong PTE. */
        if (!MiIsPrototypeFormatPte(v) || MiPrototypeFormatAddress(v) != MiImagePrototypePte(im, va))
            KeBugCheckRule(MEMORY_MANAGEMENT, 0x8882 /* mdlos sub-code */, (ULONG_PTR)pte, v, (ULONG_PTR)va,
                           "the prototype-format PTE of image page %p does not point at its image's prototype "
                           "PTE %p", va, MiImagePrototypePte(im, va));
        mm = (LONG)((MMPTE *)&v)->u.Proto.Protection;
    }
    if (!MiProtectionAllows(mm, error))
        return STATUS_ACCESS_VIOLATION;
    BOOLEAN soft;
    KeWaitForSingleObject(&image_lock, Executive, KernelMode, FALSE, NULL);
    PFN_NUMBER proto = take_prototype(im, seg, (ULONG64)va, &soft);
    KeReleaseMutex(&image_lock, FALSE);
    if (!proto)
        return STATUS_NO_MEMORY;
    if (error & 2) {
        /* A write to a writable image page: straight to a private copy;
         * the share taken above only held the frame while it was copied. */
        PFN_NUMBER n = MiCopyPage(proto);
        KIRQL old = MiAcquirePfnLock();
        MiDecrementShareCount(proto);
        if (!n) {
            MiReleasePfnLock(old);
            return STATUS_NO_MEMORY;
        }
        /* A private frame: its PFN entry names this process's PTE. */
        MiMapPage(va, n, MiUserPteFlags(mm == MM_EXECUTE_WRITECOPY ? MM_EXECUTE_READWRITE : MM_READWRITE) &
                             ~MI_PTE_VALID);
        MI_PFN_ELEMENT(n)->Modified = 1;
        MiReleasePfnLock(old);
        p->Vm.Counters.PrivatePages++;
        MiCountFault(p, MiFaultCopyOnWrite);
    } else {
        KIRQL old = MiAcquirePfnLock();
        map_shared(pte, proto, (ULONG)mm);   /* the same frame in every process */
        MiReleasePfnLock(old);
        MiCountFault(p, soft ? MiFaultSoft : MiFaultImage);
    }
    MiInsertWsle(&p->Vm, va);
    return STATUS_SUCCESS;
}

/* Parse every module that is an executable at boot, so images are part
 * of the system from the start (and their structures are not mistaken for
 * a leak by the first test that runs a program). */
void MiLoadBootImages(void)
{
    KeInitializeMutex(&image_lock, 0);
    image_lock_ready = TRUE;
    for (uint32_t i = 0; i < KiBootInfo.module_count; i++) {
        PMI_IMAGE im;
        NTSTATUS s = get_image(KiBootInfo.modules[i].name, &im);
        if (NT_SUCCESS(s))
            kprintf("ps: image %s, entry %p, %llu pages\n", im->Name, (void *)im->Entry, (unsigned long long)im->Pages);
        else
            kprintf("ps: module %s is not a usable image (%#x)\n", KiBootInfo.modules[i].name, (unsigned)s);
    }
}
