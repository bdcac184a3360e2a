/*
 * Executable images: ELF64 files that GRUB loaded as modules. An image is
 * parsed once; each page of it gets a "prototype" frame the first time any
 * process touches it, and from then on every process running the image
 * maps that same frame - read-only code is shared, and writable data is
 * mapped copy-on-write, so a process gets its private copy only of the
 * pages it writes. (NT does this with prototype PTEs in a section object.)
 */
#include "kernel/ps.h"

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
        im->Prototype = ExAllocatePoolWithTag(NonPagedPoolNx, im->Pages * sizeof(PFN_NUMBER), TAG_IMAGE);
        if (!im->Prototype)
            s = STATUS_INSUFFICIENT_RESOURCES;
        else
            memset(im->Prototype, 0, im->Pages * sizeof(PFN_NUMBER));
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

/* The prototype frame of image page INDEX, read from the file the first time. */
static PFN_NUMBER prototype(PMI_IMAGE im, ULONG seg, ULONG64 va)
{
    ULONG64 index = (va >> PAGE_SHIFT) - im->BaseVpn;
    if (im->Prototype[index])
        return im->Prototype[index];
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
    im->Prototype[index] = pfn;   /* held by the image for good: ReferenceCount 1 */
    return pfn;
}

NTSTATUS MiImageFault(PEPROCESS p, PMMVAD vad, PVOID va, ULONG64 error)
{
    PMI_IMAGE im = vad->Image;
    ULONG seg = vad->Segment;
    LONG mm = MiMakeProtectionMask(im->Segment[seg].Protection);
    if (!MiProtectionAllows(mm, error))
        return STATUS_ACCESS_VIOLATION;
    KeWaitForSingleObject(&image_lock, Executive, KernelMode, FALSE, NULL);
    PFN_NUMBER proto = prototype(im, seg, (ULONG64)va);
    KeReleaseMutex(&image_lock, FALSE);
    if (!proto)
        return STATUS_NO_MEMORY;
    KIRQL old = KeRaiseIrqlToDpcLevel();
    if (error & 2) {
        /* A write to a writable image page: straight to a private copy. */
        KeLowerIrql(old);
        PFN_NUMBER n = MiCopyPage(proto);
        if (!n)
            return STATUS_NO_MEMORY;
        old = KeRaiseIrqlToDpcLevel();
        MiMapPage(va, n, MiUserPteFlags(mm == MM_EXECUTE_WRITECOPY ? MM_EXECUTE_READWRITE : MM_READWRITE) &
                             ~MI_PTE_VALID);
        MI_PFN_ELEMENT(n)->Modified = 1;
        p->Vm.Counters.PrivatePages++;
        MiSystemFaults[2]++;
        p->Vm.Counters.CopyOnWriteFaults++;
    } else {
        MiMapPage(va, proto, MiUserPteFlags(mm) & ~MI_PTE_VALID);   /* shared: the same frame in every process */
        MiSystemFaults[3]++;
        p->Vm.Counters.ImageFaults++;
    }
    KeLowerIrql(old);
    MiWorkingSetInsert(p, va);
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
