/*
 * Paging files: where a page goes when its frame is wanted for something
 * else (docs/paging.md).
 *
 * A paging file is a run of 4 KiB slots on a disk (a virtio-blk disk, or a
 * region of one, named on the command line: `pagefile=Harddisk1`), and a
 * bitmap of the slots in use. A page that is out has a pagefile PTE, NT's
 * x64 MMPTE_SOFTWARE: PageFileLow (bits 1-4) says which file, PageFileHigh
 * (bits 32-63) which slot. Slot 0 of every file is never used, so that
 * PageFileHigh = 0 keeps meaning "not in a file" (a demand-zero PTE).
 *
 * The bitmaps are the PFN lock's, as in NT before Windows 8: every slot is
 * taken or given back together with a change to a PFN entry or a PTE that
 * the PFN lock guards anyway (the writer assigning a slot to a frame,
 * repurposing, a page-in, a delete), so one lock keeps them in step.
 *
 * Each file adds its slots to the commit limit (mm/commit.c): a page that
 * is charged can live in a frame or in a slot, so the limit is about RAM
 * plus the pagefiles, and a request past it fails up front with
 * STATUS_COMMITMENT_LIMIT instead of finding the pagefile full later.
 */
#include "mm/mi.h"
#include "io/io.h"

#define TAG_PAGEFILE POOL_TAG('M', 'm', 'P', 'f')

PMMPAGING_FILE MmPagingFile[MI_MAX_PAGING_FILES];
volatile ULONG MmNumberOfPagingFiles;
volatile ULONG64 MiPageFileSlotsInUse, MiPageFileSystemSlots, MiPageFileTotalSlots;

static BOOLEAN test_bit(PMMPAGING_FILE f, ULONG64 i) { return (f->Bitmap[i / 64] >> (i % 64)) & 1; }
static void set_bit(PMMPAGING_FILE f, ULONG64 i) { f->Bitmap[i / 64] |= 1ULL << (i % 64); }
static void clear_bit(PMMPAGING_FILE f, ULONG64 i) { f->Bitmap[i / 64] &= ~(1ULL << (i % 64)); }

/* The longest run of free slots up to WANT long starting at or after
 * FROM (next-fit), in file F: its start, and *LEN. Word-at-a-time over
 * full words, so a mostly-full file costs a word per 64 slots. */
static ULONG64 find_run(PMMPAGING_FILE f, ULONG64 from, ULONG want, ULONG *len)
{
    ULONG64 best = 0;
    ULONG best_len = 0;
    for (ULONG64 i = from; i < f->Size;) {
        if (i % 64 == 0 && f->Bitmap[i / 64] == ~0ULL) {
            i += 64;
            continue;
        }
        if (test_bit(f, i)) {
            i++;
            continue;
        }
        ULONG n = 0;
        while (i + n < f->Size && n < want && !test_bit(f, i + n))
            n++;
        if (n > best_len) {
            best = i;
            best_len = n;
            if (n == want)
                break;
        }
        i += n;
    }
    *len = best_len;
    return best;
}

ULONG MiAllocatePageFileSpace(ULONG want, ULONG *file, ULONG64 *first)
{
    MI_ASSERT_PFN_LOCK_HELD();
    /* The file with the most room, next-fit from its hint, then from the
     * start: a write cluster wants WANT contiguous slots (one request), and
     * takes a shorter run when there is none. */
    PMMPAGING_FILE best = NULL;
    for (ULONG k = 0; k < MI_MAX_PAGING_FILES; k++)
        if (MmPagingFile[k] && MmPagingFile[k]->FreeSpace && (!best || MmPagingFile[k]->FreeSpace > best->FreeSpace))
            best = MmPagingFile[k];
    if (!best || !want)
        return 0;
    ULONG len;
    ULONG64 at = find_run(best, best->Hint, want, &len);
    if (len < want) {
        ULONG len2;
        ULONG64 at2 = find_run(best, 1, want, &len2);
        if (len2 > len) {
            at = at2;
            len = len2;
        }
    }
    if (!len)
        return 0;
    for (ULONG i = 0; i < len; i++)
        set_bit(best, at + i);
    best->FreeSpace -= len;
    best->Hint = at + len;
    MiPageFileSlotsInUse += len;
    *file = best->Index;
    *first = at;
    return len;
}

static PMMPAGING_FILE file_of(ULONG64 v, ULONG64 *slot)
{
    MMPTE p = { .u.Long = v };
    PMMPAGING_FILE f = MmPagingFile[p.u.Soft.PageFileLow];
    *slot = p.u.Soft.PageFileHigh;
    return f && *slot && *slot < f->Size ? f : NULL;
}

void MiReleasePageFileSpace(ULONG64 v, BOOLEAN system)
{
    MI_ASSERT_PFN_LOCK_HELD();
    ULONG64 slot;
    PMMPAGING_FILE f = file_of(v, &slot);
    if (!f || !test_bit(f, slot))
        KeBugCheckRule(PFN_LIST_CORRUPT, 0x9A, v, f ? f->Size : 0, 0,
                       "pagefile slot %#llx of file %u was given back but it is not in use (a PTE and a frame "
                       "both thought they owned it?)", (unsigned long long)slot, ((MMPTE *)&v)->u.Soft.PageFileLow);
    clear_bit(f, slot);
    f->FreeSpace++;
    MiPageFileSlotsInUse--;
    if (system)
        MiPageFileSystemSlots--;
}

BOOLEAN MiPageFileSlotInUse(ULONG64 v)
{
    ULONG64 slot;
    PMMPAGING_FILE f = file_of(v, &slot);
    return f && test_bit(f, slot);
}

ULONG64 MiCountPageFileBitsInUse(void)
{
    ULONG64 n = 0;
    for (ULONG k = 0; k < MI_MAX_PAGING_FILES; k++) {
        PMMPAGING_FILE f = MmPagingFile[k];
        if (!f)
            continue;
        for (ULONG64 w = 0; w < (f->Size + 63) / 64; w++)
            for (ULONG64 x = f->Bitmap[w]; x; x &= x - 1)   /* no libgcc: count bits by clearing the lowest */
                n++;
        n -= 1 + ((f->Size + 63) / 64 * 64 - f->Size);   /* slot 0, and the bits past the end */
    }
    return n;
}

/* The disk's size in bytes, from the driver (IOCTL_DISK_GET_LENGTH_INFO). */
static NTSTATUS disk_length(PFILE_OBJECT fo, ULONG64 *bytes)
{
    PDEVICE_OBJECT dev = IoGetRelatedDeviceObject(fo);
    GET_LENGTH_INFORMATION_T info;
    KEVENT ev;
    IO_STATUS_BLOCK iosb;
    KeInitializeEvent(&ev, NotificationEvent, FALSE);
    PIRP irp = IoBuildDeviceIoControlRequest(IOCTL_DISK_GET_LENGTH_INFO, dev, NULL, 0, &info, sizeof(info), FALSE,
                                             &ev, &iosb);
    if (!irp)
        return STATUS_INSUFFICIENT_RESOURCES;
    IoGetNextIrpStackLocation(irp)->FileObject = fo;
    NTSTATUS s = IoCallDriver(dev, irp);
    KeWaitForSingleObject(&ev, Executive, KernelMode, FALSE, NULL);
    s = iosb.Status;
    if (NT_SUCCESS(s))
        *bytes = (ULONG64)info.Length;
    return s;
}

NTSTATUS MiCreatePagingFile(const char *name, ULONG64 offset, ULONG64 bytes)
{
    ULONG k = 0;
    while (k < MI_MAX_PAGING_FILES && MmPagingFile[k])
        k++;
    if (k == MI_MAX_PAGING_FILES)
        return STATUS_INSUFFICIENT_RESOURCES;
    ANSI_STRING n;
    RtlInitAnsiString(&n, name);
    PFILE_OBJECT fo;
    PDEVICE_OBJECT top;
    NTSTATUS s = IoGetDeviceObjectPointer(&n, FILE_READ_DATA | FILE_WRITE_DATA, &fo, &top);
    if (!NT_SUCCESS(s))
        return s;
    ULONG64 length;
    s = disk_length(fo, &length);
    if (NT_SUCCESS(s) && (offset % PAGE_SIZE || offset >= length))
        s = STATUS_INVALID_PARAMETER;
    if (!NT_SUCCESS(s)) {
        ObDereferenceObject(fo);
        return s;
    }
    if (!bytes || bytes > length - offset)
        bytes = length - offset;
    ULONG64 slots = bytes / PAGE_SIZE;
    if (slots < 2 || slots > 0xFFFFFFFFULL) {
        ObDereferenceObject(fo);
        return STATUS_INVALID_PARAMETER;
    }
    PMMPAGING_FILE f = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*f), TAG_PAGEFILE);
    ULONG64 *map = ExAllocatePoolWithTag(NonPagedPoolNx, (slots + 63) / 64 * 8, TAG_PAGEFILE);
    if (!f || !map) {
        if (f)
            ExFreePoolWithTag(f, TAG_PAGEFILE);
        if (map)
            ExFreePoolWithTag(map, TAG_PAGEFILE);
        ObDereferenceObject(fo);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    memset(f, 0, sizeof(*f));
    memset(map, 0, (slots + 63) / 64 * 8);
    /* Bits past the end read as in use, so a word-at-a-time scan stops there. */
    for (ULONG64 i = slots; i < (slots + 63) / 64 * 64; i++)
        map[i / 64] |= 1ULL << (i % 64);
    map[0] |= 1;   /* slot 0: PageFileHigh 0 means "not in a file" */
    f->File = fo;
    f->BaseOffset = offset;
    f->Size = slots;
    f->FreeSpace = slots - 1;
    f->Hint = 1;
    f->Bitmap = map;
    f->Index = k;
    strlcpy(f->Name, name, sizeof(f->Name));
    KIRQL old = MiAcquirePfnLock();
    MmPagingFile[k] = f;
    MiPageFileTotalSlots += slots - 1;
    MmNumberOfPagingFiles++;
    MiReleasePfnLock(old);
    kprintf("mm: paging file %u on %s: %llu KiB from offset %llu, %llu slots; commit limit now %llu pages\n", k,
            name, (unsigned long long)(slots * 4), (unsigned long long)offset, (unsigned long long)(slots - 1),
            (unsigned long long)MiCommitLimit());
    return STATUS_SUCCESS;
}

/* `pagefile=NAME` (NAME: `Harddisk1`, or a full name written with
 * slashes, `/Device/Harddisk1/DR0`: GRUB's command line eats
 * backslashes), `pagefile.offset_mib=`, `pagefile.mib=` (a region). */
void MmInitializePagingFiles(void)
{
    const char *v = KeGetOption("pagefile");
    if (!v || !v[0])
        return;
    char name[48];
    ULONG i = 0;
    if (v[0] != '/' && v[0] != '\\') {
        const char *pre = "\\Device\\";
        while (*pre)
            name[i++] = *pre++;
    }
    for (; *v && *v != ' ' && i < sizeof(name) - 8; v++)
        name[i++] = *v == '/' ? '\\' : *v;
    name[i] = 0;
    if (!strchr(name + 8, '\\')) {   /* `Harddisk1` names the disk's DR0 */
        const char *dr = "\\DR0";
        while (*dr)
            name[i++] = *dr++;
        name[i] = 0;
    }
    const char *o = KeGetOption("pagefile.offset_mib"), *m = KeGetOption("pagefile.mib");
    ULONG64 offset = 0, bytes = 0;
    if (o && RtlParseUlong64(o, &offset))
        offset <<= 20;
    if (m && RtlParseUlong64(m, &bytes))
        bytes <<= 20;
    NTSTATUS s = MiCreatePagingFile(name, offset, bytes);
    if (!NT_SUCCESS(s))
        kprintf("mm: no paging file on %s: status %#x\n", name, (unsigned)s);
}

/* For tests that need a pagefile in a boot that has none, and must leave
 * the machine as they found it (NT cannot remove a paging file while it
 * runs; a test can, because it knows what is out there). */
NTSTATUS MiDeletePagingFile(void)
{
    ULONG k = MI_MAX_PAGING_FILES;
    while (k > 0 && !MmPagingFile[k - 1])
        k--;
    if (!k)
        return STATUS_NOT_FOUND;
    PMMPAGING_FILE f = MmPagingFile[k - 1];
    MiWaitForPagingIdle();
    /* Paged pool that is out comes back in: touch it. */
    for (ULONG64 i = 0; i < MI_PAGED_POOL_PAGES; i++) {
        PVOID va = (PVOID)(MI_PAGED_POOL_START + i * PAGE_SIZE);
        if (MiIsPteAccessible(va) && MiIsPageFilePte(MiGetPteAddress(va)->u.Long) &&
            MiGetPteAddress(va)->u.Soft.PageFileLow == f->Index)
            (void)*(volatile UCHAR *)va;
    }
    MiWaitForPagingIdle();
    KIRQL old = MiAcquirePfnLock();
    /* Frames on standby whose copy is in this file become the only copy again. */
    for (PFN_NUMBER pfn = MmStandbyPageListHead.Flink; pfn != MI_PFN_LIST_END;) {
        PMMPFN e = MI_PFN_ELEMENT(pfn);
        PFN_NUMBER next = e->Flink;
        if (!e->PrototypePte && MiIsPageFilePte(e->OriginalPte.u.Long) &&
            e->OriginalPte.u.Soft.PageFileLow == f->Index) {
            MiReleasePageFileSpace(e->OriginalPte.u.Long,
                                   (ULONG64)e->PteAddress >= (ULONG64)MiGetPteAddress((void *)0xFFFF800000000000ULL));
            e->OriginalPte.u.Long = 0;
            e->Modified = 1;
            MiUnlinkPfnFromList(pfn);
            MiInsertPageInList(&MmModifiedPageListHead, pfn);
        }
        pfn = next;
    }
    if (f->FreeSpace != f->Size - 1) {
        ULONG64 used = f->Size - 1 - f->FreeSpace;
        MiReleasePfnLock(old);
        kprintf("mm: paging file %u still holds %llu pages of processes\n", f->Index, (unsigned long long)used);
        return STATUS_UNSUCCESSFUL;
    }
    MmPagingFile[k - 1] = NULL;
    MiPageFileTotalSlots -= f->Size - 1;
    MmNumberOfPagingFiles--;
    MiReleasePfnLock(old);
    ObDereferenceObject(f->File);
    ExFreePoolWithTag(f->Bitmap, TAG_PAGEFILE);
    ExFreePoolWithTag(f, TAG_PAGEFILE);
    return STATUS_SUCCESS;
}
