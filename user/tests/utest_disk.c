/*
 * user.disk.*: the virtio-blk disk \Device\Harddisk0\DR0 (drivers/virtio)
 * from ring 3 through the I/O manager - the "done when": a pattern
 * written with NtWriteFile from an unaligned multi-page buffer, DMAed by the
 * device from this process's own frames (the driver's record of the last
 * request: every data descriptor's address is a frame of the MDL the I/O
 * manager locked from our PTEs, at the buffer's byte offset), read back
 * asynchronously, compared; nothing stays locked.
 */
#include <nt.h>
#include <stdio.h>
#include <string.h>
#include <utest.h>
#include "drivers/virtio/vblk_ioctl.h"

#define P PAGE_SIZE
#define SELF NtCurrentProcess()
#define RW (FILE_READ_DATA | FILE_WRITE_DATA)

static uint64_t locked_pages(void)
{
    PROCESS_FAULT_COUNTERS_T f;
    UT_SUCCESS(NtQueryInformationProcess(SELF, ProcessFaultCounters, &f, sizeof(f), NULL));
    return f.LockedPages;
}

static uint64_t region(size_t size)
{
    void *b = NULL;
    UT_SUCCESS(NtAllocateVirtualMemory(SELF, &b, 0, &size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
    return (uint64_t)b;
}

static VBLK_LAST_T last_request(HANDLE disk, HANDLE ev)
{
    static VBLK_LAST_T l;
    IO_STATUS_BLOCK_T iosb;
    memset(&l, 0, sizeof(l));
    NTSTATUS st = NtDeviceIoControlFile(disk, ev, NULL, NULL, &iosb, IOCTL_VBLK_LAST_REQUEST, NULL, 0, &l, sizeof(l));
    if (st == STATUS_PENDING) {
        UT_EQ(WaitHandle(ev, 5000), STATUS_WAIT_0);
        st = iosb.Status;
    }
    UT_SUCCESS(st);
    UT_EQ(iosb.Information, sizeof(l));
    return l;
}

/* The descriptors walked page piece by page piece land on the MDL's
 * frames in order, starting at its byte offset: the device used our pages. */
static void check_zero_copy(const VBLK_LAST_T *l, uint32_t len, uint32_t byte_offset)
{
    UT_EQ(l->Chunk, len);
    UT_EQ(l->MdlByteOffset, byte_offset);
    UT_ASSERT(l->Elements >= 1 && l->Elements <= VBLK_LAST_MAX);
    uint64_t pos = byte_offset;   /* in the MDL's pages */
    uint32_t total = 0;
    for (uint32_t e = 0; e < l->Elements; e++) {
        for (uint32_t k = 0; k < l->Length[e];) {
            uint32_t piece = P - (uint32_t)(pos & (P - 1));
            if (piece > l->Length[e] - k)
                piece = l->Length[e] - k;
            UT_ASSERT(pos / P < l->MdlPages);
            UT_EQ(l->Address[e] + k, l->MdlPfn[pos / P] * P + (pos & (P - 1)));
            k += piece;
            pos += piece;
        }
        total += l->Length[e];
    }
    UT_EQ(total, len);
}

UTEST(disk, pattern_written_from_unaligned_buffer_by_dma_read_back)
{
    /* 0x234 into a page, 5 pages of sectors: 6 pages spanned. */
    const uint32_t len = 5 * P, boff = 0x234;
    uint8_t *w = (uint8_t *)(region(8 * P) + boff), *r = (uint8_t *)(region(8 * P) + boff);
    const uint64_t disk_offset = 3 << 20;
    for (uint32_t i = 0; i < len; i += 8)
        *(uint64_t *)(w + i) = (disk_offset + i) ^ 0x76626C6B5F6F6BULL;
    HANDLE disk = 0, ev;
    UT_SUCCESS(OpenDevice("\\Device\\Harddisk0\\DR0", RW, 0, &disk));
    UT_SUCCESS(CreateEventHandle(&ev, 0, 0));
    VBLK_LAST_T l0 = last_request(disk, ev);
    UT_EQ(l0.Msix, 1);

    IO_STATUS_BLOCK_T iosb;
    int64_t off = (int64_t)disk_offset;
    NTSTATUS st = NtWriteFile(disk, ev, NULL, NULL, &iosb, w, len, &off, NULL);
    UT_STATUS(st, STATUS_PENDING);        /* the device finishes it, by interrupt and DPC */
    UT_EQ(WaitHandle(ev, 5000), STATUS_WAIT_0);
    UT_SUCCESS(iosb.Status);
    UT_EQ(iosb.Information, len);
    UT_EQ(locked_pages(), 0);
    VBLK_LAST_T l = last_request(disk, ev);
    UT_EQ(l.MdlPages, 6);
    check_zero_copy(&l, len, boff);
    UT_EQ(l.SubRequests, l0.SubRequests + 1);
    UT_ASSERT(l.Interrupts > l0.Interrupts);

    memset(r, 0, len);
    st = NtReadFile(disk, ev, NULL, NULL, &iosb, r, len, &off, NULL);
    UT_STATUS(st, STATUS_PENDING);
    UT_EQ(WaitHandle(ev, 5000), STATUS_WAIT_0);
    UT_SUCCESS(iosb.Status);
    UT_EQ(iosb.Information, len);
    UT_ASSERT_MSG(memcmp(r, w, len) == 0, "the pattern read back from the disk differs");
    UT_EQ(locked_pages(), 0);
    l = last_request(disk, ev);
    check_zero_copy(&l, len, boff);

    /* Misaligned: refused before anything is locked or sent. */
    int64_t bad = 100;
    st = NtReadFile(disk, ev, NULL, NULL, &iosb, r, 512, &bad, NULL);
    if (st == STATUS_PENDING) {
        UT_EQ(WaitHandle(ev, 5000), STATUS_WAIT_0);
        st = iosb.Status;
    }
    UT_STATUS(st, STATUS_INVALID_PARAMETER);
    UT_SUCCESS(NtFlushBuffersFile(disk, &iosb));
    UT_SUCCESS(NtClose(ev));
    UT_SUCCESS(NtClose(disk));
}

static NTSTATUS transfer(HANDLE disk, HANDLE ev, int write, void *buf, uint32_t len, int64_t off)
{
    IO_STATUS_BLOCK_T iosb;
    NTSTATUS st = write ? NtWriteFile(disk, ev, NULL, NULL, &iosb, buf, len, &off, NULL)
                        : NtReadFile(disk, ev, NULL, NULL, &iosb, buf, len, &off, NULL);
    if (st == STATUS_PENDING) {
        UT_EQ(WaitHandle(ev, 5000), STATUS_WAIT_0);
        st = iosb.Status;
    }
    if (NT_SUCCESS(st))
        UT_EQ(iosb.Information, len);
    return st;
}

/* The memory manager gives a buffer touched in order physically
 * consecutive frames (mm/pfn.c, MiAllocateZeroedPfnLocked), and the
 * scatter/gather list merges them: a 64-page write goes out in far fewer
 * elements than pages (before the frame choice: 64, the zeroed list runs
 * downwards; now one per run of up to 64, plus one per 2 MiB page-table
 * line crossed or taken frame met - "fewer than half" leaves room for a
 * fragmented free list). The merged descriptors must still carry every
 * byte: read back into a buffer touched in reverse (descending frames,
 * one element per page) and into one touched in order, both equal. */
UTEST(disk, buffer_touched_in_order_gets_merged_segments_and_its_bytes_land)
{
    enum { PAGES = 64 };
    const uint32_t len = PAGES * P;
    const int64_t disk_offset = 5 << 20;
    uint8_t *w = (uint8_t *)region(len), *back = (uint8_t *)region(len), *fwd = (uint8_t *)region(len);
    for (uint32_t i = 0; i < len; i += 8)
        *(uint64_t *)(w + i) = ((uint64_t)disk_offset + i) * 0x9E3779B97F4A7C15ULL;
    for (int pg = PAGES - 1; pg >= 0; pg--)
        back[(uint32_t)pg * P] = 1;   /* first touch, last page first */
    for (uint32_t pg = 0; pg < PAGES; pg++)
        fwd[pg * P] = 1;
    HANDLE disk = 0, ev;
    UT_SUCCESS(OpenDevice("\\Device\\Harddisk0\\DR0", RW, 0, &disk));
    UT_SUCCESS(CreateEventHandle(&ev, 0, 0));

    UT_SUCCESS(transfer(disk, ev, 1, w, len, disk_offset));
    VBLK_LAST_T l = last_request(disk, ev);
    UT_EQ(l.Chunk, len);   /* one sub-request: 64 pages is within the driver's piece */
    printf("# %u pages written in %u scatter/gather elements\n", PAGES, l.Elements);
    UT_ASSERT_MSG(l.Elements < PAGES / 2, "a buffer touched in order did not get merged SG elements");
    UT_EQ(l.Address[0], l.MdlPfn[0] * P);   /* our own first frame, zero copy */
    if (l.Elements <= VBLK_LAST_MAX) {
        uint64_t total = 0;
        for (uint32_t e = 0; e < l.Elements; e++)
            total += l.Length[e];
        UT_EQ(total, len);
    }

    UT_SUCCESS(transfer(disk, ev, 0, back, len, disk_offset));
    UT_ASSERT_MSG(memcmp(back, w, len) == 0, "read into page-by-page frames: not what the merged write sent");
    UT_SUCCESS(transfer(disk, ev, 0, fwd, len, disk_offset));
    l = last_request(disk, ev);
    UT_ASSERT(l.Elements < PAGES / 2);
    UT_ASSERT_MSG(memcmp(fwd, w, len) == 0, "read through merged elements: not what was written");
    UT_EQ(locked_pages(), 0);
    UT_SUCCESS(NtClose(ev));
    UT_SUCCESS(NtClose(disk));
}

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}
