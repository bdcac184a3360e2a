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

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}
