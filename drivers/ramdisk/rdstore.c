/*
 * The RAM disk's storage: nonpaged pool taken whole when the disk starts
 * (so a write never fails for lack of memory, and a request may be served
 * at DISPATCH_LEVEL), but zeroed a page at a time, at the page's first
 * write, instead of all of it at the start.
 *
 * Why: a fresh frame's first touch is what costs. The pool hands out
 * frames straight off the free list, whatever they last held, and does not
 * touch them; zeroing 6 MiB at every boot made the host fault in 1536
 * frames of guest RAM (~18 ms per MiB under QEMU, most of the disks'
 * start) for sectors that most boots never write. A disk must still read
 * as zeros where nothing was written - and must never show what a frame
 * held before (another component's freed pool): so a bitmap says which
 * pages were written, and a read of a page not in it returns zeros
 * without looking at the frame. Linux's brd gets the same by taking a
 * page at its first write; taking the frames up front keeps the frame
 * count the disk holds fixed, which is what the leak checks compare.
 *
 * A page's first write zeroes what the write does not cover and copies
 * the data under the storage's spin lock, and only then sets the page's
 * bit (release): a reader that sees the bit sees the zeros and the data,
 * one that does not returns zeros. Later writes copy without the lock, as
 * two overlapping requests to a real disk are unordered anyway.
 */
#include "drivers/ramdisk/ramdisk.h"

#define RD_STORE_TAG POOL_TAG('R', 'd', 'S', 't')
#define BITS         64

NTSTATUS RdStorageCreate(ULONG64 size, RD_STORAGE **out)
{
    ULONG64 pages = (size + PAGE_SIZE - 1) / PAGE_SIZE, words = (pages + BITS - 1) / BITS;
    RD_STORAGE *s = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(*s) + words * sizeof(ULONG64), RD_STORE_TAG);
    if (!s)
        return STATUS_INSUFFICIENT_RESOURCES;
    s->Bytes = ExAllocatePoolWithTag(NonPagedPoolNx, size, RD_TAG);
    if (!s->Bytes) {
        ExFreePoolWithTag(s, RD_STORE_TAG);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    s->Size = size;
    s->PagesWritten = 0;
    KeInitializeSpinLock(&s->Lock);
    memset(s->Written, 0, words * sizeof(ULONG64));
    *out = s;
    return STATUS_SUCCESS;
}

void RdStorageFree(RD_STORAGE *s)
{
    ExFreePoolWithTag(s->Bytes, RD_TAG);
    ExFreePoolWithTag(s, RD_STORE_TAG);
}

BOOLEAN RdStoragePageWritten(RD_STORAGE *s, ULONG64 page)
{
    return (__atomic_load_n(&s->Written[page / BITS], __ATOMIC_ACQUIRE) >> (page % BITS)) & 1;
}

/* [OFFSET, OFFSET + LENGTH) must lie on the disk (the caller checked). */
void RdStorageRead(RD_STORAGE *s, ULONG64 offset, PUCHAR to, ULONG length)
{
    while (length) {
        ULONG64 page = offset / PAGE_SIZE;
        ULONG n = (ULONG)(PAGE_SIZE - offset % PAGE_SIZE);
        if (n > length)
            n = length;
        if (RdStoragePageWritten(s, page))
            memcpy(to, s->Bytes + offset, n);
        else
            memset(to, 0, n);
        to += n, offset += n, length -= n;
    }
}

void RdStorageWrite(RD_STORAGE *s, ULONG64 offset, const UCHAR *from, ULONG length)
{
    while (length) {
        ULONG64 page = offset / PAGE_SIZE;
        ULONG in_page = (ULONG)(offset % PAGE_SIZE);
        ULONG n = (ULONG)PAGE_SIZE - in_page;
        if (n > length)
            n = length;
        PUCHAR p = s->Bytes + page * PAGE_SIZE;
        if (RdStoragePageWritten(s, page)) {
            memcpy(p + in_page, from, n);
        } else {
            KIRQL old;
            KeAcquireSpinLock(&s->Lock, &old);
            if (RdStoragePageWritten(s, page)) {
                memcpy(p + in_page, from, n);   /* another writer got here first */
            } else {
                memset(p, 0, in_page);
                memcpy(p + in_page, from, n);
                memset(p + in_page + n, 0, PAGE_SIZE - in_page - n);
                __atomic_or_fetch(&s->Written[page / BITS], 1ULL << (page % BITS), __ATOMIC_RELEASE);
                s->PagesWritten++;
            }
            KeReleaseSpinLock(&s->Lock, old);
        }
        from += n, offset += n, length -= n;
    }
}
