/*
 * user.ioring.*: the I/O ring from ring 3 (io/ioring.c): reads and writes
 * through it move the right bytes and end as CQEs with their user data,
 * status and byte count; an entry the kernel refuses gets an error CQE and
 * the others still run; ring 3's indices are hostile and bounded; a full
 * CQ stops the submit, and a CQE with no room is held, never lost; closing
 * the ring with requests held by a driver cancels them and removes both
 * views. What ring 3 can see of a leak is checked here: the process's
 * locked pages, the views (MEM_FREE after the close), the disk's count of
 * open file objects; the kernel's own leak check (frames, system PTEs,
 * objects, pool) runs around vblk.process_exiting_with_ring_reads_*.
 */
#include <nt.h>
#include <stdio.h>
#include <string.h>
#include <utest.h>
#include "drivers/iotest/iotest_ioctl.h"
#include "drivers/virtio/vblk_ioctl.h"

#define P PAGE_SIZE
#define SELF NtCurrentProcess()
#define RW (FILE_READ_DATA | FILE_WRITE_DATA)
#define DISK "\\Device\\Harddisk1\\DR0"
#define DIRECT "\\Device\\IoTestDirect"

static NTSTATUS ioctl(HANDLE f, uint32_t code, const void *in, uint32_t inlen, void *out, uint32_t outlen)
{
    IO_STATUS_BLOCK_T iosb;
    NTSTATUS st = NtDeviceIoControlFile(f, 0, NULL, NULL, &iosb, code, (void *)in, inlen, out, outlen);
    if (st == STATUS_PENDING) {
        UT_SUCCESS(NtWaitForSingleObject(f, 0, NULL));
        st = iosb.Status;
    }
    return st;
}

static void set_pend(HANDLE f, uint32_t mode)
{
    IOT_PEND p = { mode, 0 };
    UT_SUCCESS(ioctl(f, IOCTL_IOTEST_SET_PEND, &p, sizeof(p), NULL, 0));
}

static IOT_PEND_STATS pend_stats(HANDLE f)
{
    IOT_PEND_STATS s;
    memset(&s, 0, sizeof(s));
    UT_SUCCESS(ioctl(f, IOCTL_IOTEST_PEND_STATS, NULL, 0, &s, sizeof(s)));
    return s;
}

/* File objects open on DEVICE (SystemDeviceList's ReferenceCount). */
static uint32_t open_files(const char *device)
{
    static SYSTEM_DEVICE_T d[64];
    size_t need = 0;
    UT_SUCCESS(NtQuerySystemInformation(SystemDeviceList, d, sizeof(d), &need));
    for (size_t i = 0; i < need / sizeof(d[0]); i++)
        if (strcmp(d[i].Name, device) == 0)
            return d[i].ReferenceCount;
    UT_FAIL("no device %s", device);
    return 0;
}

static uint32_t unread(const IORING_T *r)
{
    return r->Info.Complete->CqTail - r->Info.Submit->CqHead;
}

/* 32 writes of 8 KiB in one submit, checked on the disk with NtReadFile,
 * then 32 reads back in another: every CQE once, with its user data, the
 * status and the byte count; the SQ head moved by 32 each time. */
UTEST(ioring, batch_of_32_writes_and_reads_move_the_right_bytes)
{
    enum { N = 32, EACH = 2 * P };
    IORING_T r;
    UT_SUCCESS(CreateIoRing(N, 0, &r));
    UT_EQ(r.Info.SubmissionQueueSize, N);
    UT_EQ(r.Info.CompletionQueueSize, 2 * N);
    HANDLE f;
    UT_SUCCESS(OpenDevice(DISK, RW, 0, &f));
    uint8_t *out = UtRegion(N * EACH), *in = UtRegion(N * EACH);
    for (int i = 0; i < N; i++)
        UtFill(out + i * EACH, EACH, 50 + i);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < N; i++) {
            int64_t off = (int64_t)(3 << 20) + (int64_t)i * EACH;
            uint64_t ud = 0x1000 * (uint64_t)(pass + 1) + (uint64_t)i;
            UT_ASSERT(pass == 0 ? BuildIoRingWriteFile(&r, f, out + i * EACH, EACH, off, ud)
                                : BuildIoRingReadFile(&r, f, in + i * EACH, EACH, off, ud));
        }
        UT_EQ(BuildIoRingNop(&r, 0), 0);   /* the SQ is full */
        uint32_t took = 0;
        int64_t ten_s = -100000000LL;
        UT_SUCCESS(SubmitIoRing(&r, N, &ten_s, &took));
        UT_EQ(took, N);
        UT_EQ(unread(&r), N);
        int seen[N] = { 0 };
        IORING_CQE_T c;
        for (int k = 0; k < N; k++) {
            UT_ASSERT(PopIoRingCompletion(&r, &c));
            uint64_t i = c.UserData - 0x1000 * (uint64_t)(pass + 1);
            UT_ASSERT_MSG(i < N && !seen[i], "user data %#llx", (unsigned long long)c.UserData);
            seen[i] = 1;
            UT_EQ(c.Status, STATUS_SUCCESS);
            UT_EQ(c.Information, EACH);
        }
        UT_EQ(PopIoRingCompletion(&r, &c), 0);
        if (pass == 0) {   /* on the disk, by the ordinary path */
            IO_STATUS_BLOCK_T iosb;
            for (int i = 0; i < N; i++) {
                memset(in + i * EACH, 0, EACH);
                UT_SUCCESS(ReadAt(f, in + i * EACH, EACH, (3u << 20) + (uint64_t)i * EACH, &iosb));
                UT_ASSERT_MSG(UtCheck(in + i * EACH, EACH, 50 + i), "write %d is not on the disk", i);
                memset(in + i * EACH, 0, EACH);
            }
        }
    }
    for (int i = 0; i < N; i++)
        UT_ASSERT_MSG(UtCheck(in + i * EACH, EACH, 50 + i), "read %d brought the wrong bytes", i);
    UT_SUCCESS(NtClose(f));
    UT_SUCCESS(CloseIoRing(&r));
}

/* Each entry stands alone: a bad handle, a handle of another type, a
 * synchronous file, a buffered device, an unknown op, flags set - each an
 * error CQE of its own; the read and the nop between them still run. */
UTEST(ioring, a_refused_entry_gets_an_error_cqe_and_the_others_run)
{
    IORING_T r;
    UT_SUCCESS(CreateIoRing(16, 0, &r));
    HANDLE f, sync, buffered, ev;
    UT_SUCCESS(OpenDevice(DISK, RW, 0, &f));
    UT_SUCCESS(OpenDevice(DISK, RW, FILE_SYNCHRONOUS_IO_NONALERT, &sync));
    UT_SUCCESS(OpenDevice("\\Device\\IoTestBuffered", RW, 0, &buffered));
    UT_SUCCESS(CreateEventHandle(&ev, 0, 0));
    uint8_t *b = UtRegion(P);
    UT_ASSERT(BuildIoRingReadFile(&r, 0x1234, b, P, 0, 1));
    UT_ASSERT(BuildIoRingReadFile(&r, f, b, P, 0, 2));
    UT_ASSERT(BuildIoRingReadFile(&r, ev, b, P, 0, 3));
    UT_ASSERT(BuildIoRingNop(&r, 4));
    UT_ASSERT(BuildIoRingReadFile(&r, sync, b, P, 0, 5));
    UT_ASSERT(BuildIoRingReadFile(&r, buffered, b, 512, 0, 6));
    UT_ASSERT(BuildIoRingReadFile(&r, f, (void *)0xFFFF800000000000ULL, P, 0, 7));
    UT_ASSERT(BuildIoRingReadFile(&r, f, b, P, -512, 8));
    UT_ASSERT(BuildIoRingNop(&r, 9));
    r.Info.Submit->Sqe[8].OpCode = 77;
    UT_ASSERT(BuildIoRingNop(&r, 10));
    r.Info.Submit->Sqe[9].Flags = 1;
    static const NTSTATUS want[11] = { 0, STATUS_INVALID_HANDLE, STATUS_SUCCESS, STATUS_OBJECT_TYPE_MISMATCH,
                                       STATUS_SUCCESS, STATUS_INVALID_PARAMETER, STATUS_INVALID_DEVICE_REQUEST,
                                       STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER,
                                       STATUS_INVALID_PARAMETER };
    int64_t ten_s = -100000000LL;
    uint32_t took;
    UT_SUCCESS(SubmitIoRing(&r, 10, &ten_s, &took));
    UT_EQ(took, 10);
    int seen[11] = { 0 };
    IORING_CQE_T c;
    while (PopIoRingCompletion(&r, &c)) {
        UT_ASSERT(c.UserData >= 1 && c.UserData <= 10 && !seen[c.UserData]);
        seen[c.UserData] = 1;
        UT_ASSERT_MSG(c.Status == want[c.UserData], "entry %llu: %s, expected %s", (unsigned long long)c.UserData,
                      UtStatusText(c.Status), UtStatusText(want[c.UserData]));
        UT_EQ(c.Information, c.UserData == 2 ? P : 0);
    }
    for (int i = 1; i <= 10; i++)
        UT_ASSERT_MSG(seen[i], "no CQE for entry %d", i);
    UT_SUCCESS(NtClose(f));
    UT_SUCCESS(NtClose(sync));
    UT_SUCCESS(NtClose(buffered));
    UT_SUCCESS(NtClose(ev));
    UT_SUCCESS(CloseIoRing(&r));
}

/* Misaligned offsets and lengths on the disk: the CQE has the status
 * NtReadFile gets for the same request (the same IRP path). */
UTEST(ioring, misaligned_requests_are_refused_as_ntreadfile_refuses_them)
{
    IORING_T r;
    UT_SUCCESS(CreateIoRing(4, 0, &r));
    HANDLE f;
    UT_SUCCESS(OpenDevice(DISK, RW, 0, &f));
    uint8_t *b = UtRegion(2 * P);
    IO_STATUS_BLOCK_T iosb;
    NTSTATUS direct_off = ReadAt(f, b, 512, 100, &iosb);
    NTSTATUS direct_len = ReadAt(f, b, 100, 0, &iosb);
    UT_ASSERT(!NT_SUCCESS(direct_off) && !NT_SUCCESS(direct_len));
    UT_ASSERT(BuildIoRingReadFile(&r, f, b, 512, 100, 1));
    UT_ASSERT(BuildIoRingReadFile(&r, f, b, 100, 0, 2));
    int64_t ten_s = -100000000LL;
    UT_SUCCESS(SubmitIoRing(&r, 2, &ten_s, NULL));
    IORING_CQE_T c;
    for (int k = 0; k < 2; k++) {
        UT_ASSERT(PopIoRingCompletion(&r, &c));
        UT_EQ(c.Status, c.UserData == 1 ? direct_off : direct_len);
    }
    UT_SUCCESS(NtClose(f));
    UT_SUCCESS(CloseIoRing(&r));
}

/* Sizes from ring 3: 0 and more than the most refused, the CQ between the
 * SQ and twice it; others rounded up to powers of two. */
UTEST(ioring, bad_sizes_are_refused_and_others_rounded)
{
    static const struct { uint32_t sq, cq; NTSTATUS want; uint32_t got_sq, got_cq; } c[] = {
        { 0, 0, STATUS_INVALID_PARAMETER, 0, 0 },       { IORING_SQ_MAX + 1, 0, STATUS_INVALID_PARAMETER, 0, 0 },
        { 8, 4, STATUS_INVALID_PARAMETER, 0, 0 },       { 8, 17, STATUS_INVALID_PARAMETER, 0, 0 },
        { 4, 0xFFFFFFFF, STATUS_INVALID_PARAMETER, 0, 0 }, { 5, 0, STATUS_SUCCESS, 8, 16 },
        { 5, 9, STATUS_SUCCESS, 8, 16 },                { 1, 1, STATUS_SUCCESS, 1, 1 },
        { IORING_SQ_MAX, 0, STATUS_SUCCESS, IORING_SQ_MAX, 2 * IORING_SQ_MAX },
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        IORING_T r;
        NTSTATUS st = CreateIoRing(c[i].sq, c[i].cq, &r);
        UT_ASSERT_MSG(st == c[i].want, "SQ %u CQ %u: %s", c[i].sq, c[i].cq, UtStatusText(st));
        if (!NT_SUCCESS(st))
            continue;
        UT_EQ(r.Info.SubmissionQueueSize, c[i].got_sq);
        UT_EQ(r.Info.CompletionQueueSize, c[i].got_cq);
        UT_SUCCESS(CloseIoRing(&r));
    }
}

/* The views: the completion area is read-only to ring 3 - not even a
 * device may write there for it (a read into it fails to lock) - and the
 * submission area read-write; after the close both are gone. */
UTEST(ioring, completion_view_is_read_only_and_both_go_with_the_close)
{
    IORING_T r;
    UT_SUCCESS(CreateIoRing(4, 0, &r));
    MEMORY_BASIC_INFORMATION_T m;
    uint64_t cq = (uint64_t)(uintptr_t)r.Info.Complete, sq = (uint64_t)(uintptr_t)r.Info.Submit;
    UT_SUCCESS(NtQueryVirtualMemory(SELF, (void *)cq, MemoryBasicInformation, &m, sizeof(m), NULL));
    UT_EQ(m.Protect, PAGE_READONLY);
    UT_SUCCESS(NtQueryVirtualMemory(SELF, (void *)sq, MemoryBasicInformation, &m, sizeof(m), NULL));
    UT_EQ(m.Protect, PAGE_READWRITE);
    HANDLE f;
    UT_SUCCESS(OpenDevice(DISK, RW, 0, &f));
    IO_STATUS_BLOCK_T iosb;
    UT_STATUS(ReadAt(f, (void *)cq, 512, 0, &iosb), STATUS_ACCESS_VIOLATION);
    UT_SUCCESS(NtClose(f));
    UT_SUCCESS(CloseIoRing(&r));
    UT_SUCCESS(NtQueryVirtualMemory(SELF, (void *)cq, MemoryBasicInformation, &m, sizeof(m), NULL));
    UT_EQ(m.State, MEM_FREE);
    UT_SUCCESS(NtQueryVirtualMemory(SELF, (void *)sq, MemoryBasicInformation, &m, sizeof(m), NULL));
    UT_EQ(m.State, MEM_FREE);
}

/* A tail far past the SQ takes one SQ's worth, no more; a tail that a
 * device rewrites while the submit runs (the first entry reads 4 bytes
 * into the SQ tail itself) does not change what this call takes. */
UTEST(ioring, hostile_sq_tail_is_read_once_and_bounded)
{
    IORING_T r;
    UT_SUCCESS(CreateIoRing(8, 0, &r));
    IORING_SUBMIT_AREA_T *sq = r.Info.Submit;
    for (int i = 0; i < 8; i++)
        UT_ASSERT(BuildIoRingNop(&r, 100 + (uint64_t)i));
    sq->SqTail = 1000;
    UT_SUCCESS(NtSubmitIoRing(r.Handle, 0, 0, NULL));
    UT_EQ(r.Info.Complete->SqHead, 8);
    UT_EQ(unread(&r), 8);
    sq->CqHead = r.Info.Complete->CqTail;   /* read them all */
    /* The device's rewrite: IoTestDirect's store holds 5000 at offset 0. */
    HANDLE d;
    UT_SUCCESS(OpenDevice(DIRECT, RW, 0, &d));
    static uint32_t v __attribute__((aligned(16))) = 5000;
    IO_STATUS_BLOCK_T iosb;
    UT_SUCCESS(WriteAt(d, &v, sizeof(v), 0, &iosb));
    r.SqTail = 8;
    UT_ASSERT(BuildIoRingReadFile(&r, d, (void *)&sq->SqTail, 4, 0, 1));
    UT_ASSERT(BuildIoRingNop(&r, 2));
    UT_ASSERT(BuildIoRingNop(&r, 3));
    uint32_t took;
    UT_SUCCESS(SubmitIoRing(&r, 3, NULL, &took));
    UT_EQ(sq->SqTail, 5000);             /* the read did land there, during the call */
    UT_EQ(took, 3);
    UT_EQ(r.Info.Complete->SqHead, 11);
    IORING_CQE_T c;
    UT_ASSERT(PopIoRingCompletion(&r, &c));
    UT_EQ(c.UserData, 1);
    UT_EQ(c.Status, STATUS_SUCCESS);
    UT_EQ(c.Information, 4);
    /* The next call sees 5000 - 11 waiting and takes 8. */
    sq->CqHead = r.Info.Complete->CqTail;
    UT_SUCCESS(NtSubmitIoRing(r.Handle, 0, 0, NULL));
    UT_EQ(r.Info.Complete->SqHead, 19);
    UT_SUCCESS(NtClose(d));
    UT_SUCCESS(CloseIoRing(&r));
}

/* A full CQ: the submit takes nothing and leaves the entries in the SQ;
 * each CQE read makes room for one more. */
UTEST(ioring, full_cq_stops_the_submit_until_cqes_are_read)
{
    IORING_T r;
    UT_SUCCESS(CreateIoRing(4, 4, &r));
    for (int i = 0; i < 4; i++)
        UT_ASSERT(BuildIoRingNop(&r, (uint64_t)i));
    uint32_t took;
    UT_SUCCESS(SubmitIoRing(&r, 0, NULL, &took));
    UT_EQ(took, 4);
    for (int i = 4; i < 8; i++)
        UT_ASSERT(BuildIoRingNop(&r, (uint64_t)i));
    UT_SUCCESS(SubmitIoRing(&r, 0, NULL, &took));
    UT_EQ(took, 0);
    UT_EQ(unread(&r), 4);
    IORING_CQE_T c;
    UT_ASSERT(PopIoRingCompletion(&r, &c));
    UT_EQ(c.UserData, 0);
    UT_ASSERT(PopIoRingCompletion(&r, &c));
    UT_EQ(c.UserData, 1);
    UT_SUCCESS(SubmitIoRing(&r, 0, NULL, &took));
    UT_EQ(took, 2);
    for (uint64_t i = 2; i < 6; i++) {
        UT_ASSERT(PopIoRingCompletion(&r, &c));
        UT_EQ(c.UserData, i);
    }
    UT_SUCCESS(SubmitIoRing(&r, 0, NULL, &took));
    UT_EQ(took, 2);
    UT_SUCCESS(CloseIoRing(&r));
}

/* A CQ head moved back while requests are held by the driver: their CQEs
 * find no room, are held by the kernel (CqOverflow) instead of
 * overwriting the entries ring 3 says it has not read, and arrive, in
 * order, once the head is put right and a submit runs. */
UTEST(ioring, a_cqe_with_no_room_is_held_and_never_overwrites)
{
    IORING_T r;
    UT_SUCCESS(CreateIoRing(4, 4, &r));
    HANDLE d;
    UT_SUCCESS(OpenDevice(DIRECT, RW, 0, &d));
    set_pend(d, IOT_PEND_HOLD);
    uint8_t *b = UtRegion(P);
    UT_ASSERT(BuildIoRingReadFile(&r, d, b, 64, 0, 0xA1));
    UT_ASSERT(BuildIoRingReadFile(&r, d, b + 64, 64, 64, 0xA2));
    UT_SUCCESS(SubmitIoRing(&r, 0, NULL, NULL));
    UT_EQ(pend_stats(d).Held, 2);
    IORING_SUBMIT_AREA_T *sq = r.Info.Submit;
    uint32_t tail = r.Info.Complete->CqTail;
    sq->CqHead = tail - 4;   /* "four unread": the CQ looks full */
    UT_SUCCESS(ioctl(d, IOCTL_IOTEST_RELEASE, NULL, 0, NULL, 0));
    UT_EQ(r.Info.Complete->CqTail, tail);
    UT_EQ(r.Info.Complete->CqOverflow, 2);
    sq->CqHead = tail;
    int64_t ten_s = -100000000LL;
    UT_SUCCESS(SubmitIoRing(&r, 2, &ten_s, NULL));
    UT_EQ(unread(&r), 2);
    IORING_CQE_T c;
    UT_ASSERT(PopIoRingCompletion(&r, &c));
    UT_EQ(c.UserData, 0xA1);
    UT_EQ(c.Status, STATUS_SUCCESS);
    UT_ASSERT(PopIoRingCompletion(&r, &c));
    UT_EQ(c.UserData, 0xA2);
    UT_EQ(r.Info.Complete->CqDropped, 0);
    set_pend(d, IOT_PEND_NONE);
    UT_SUCCESS(NtClose(d));
    UT_SUCCESS(CloseIoRing(&r));
}

/* Closing the ring with requests held by the driver: they are cancelled
 * and waited for (the driver saw three cancels), the views go, and the
 * runner's leak check finds every IRP, MDL, locked page and frame back. */
UTEST(ioring, closing_with_requests_held_cancels_them)
{
    IORING_T r;
    UT_SUCCESS(CreateIoRing(4, 0, &r));
    HANDLE d;
    UT_SUCCESS(OpenDevice(DIRECT, RW, 0, &d));
    set_pend(d, IOT_PEND_HOLD);
    IOT_PEND_STATS before = pend_stats(d);
    uint8_t *b = UtRegion(3 * P);
    for (int i = 0; i < 3; i++)
        UT_ASSERT(BuildIoRingReadFile(&r, d, b + i * P, P, 0, (uint64_t)i));
    UT_SUCCESS(SubmitIoRing(&r, 0, NULL, NULL));
    UT_EQ(pend_stats(d).Held, 3);
    PROCESS_FAULT_COUNTERS_T fc;
    UT_SUCCESS(NtQueryInformationProcess(SELF, ProcessFaultCounters, &fc, sizeof(fc), NULL));
    UT_EQ(fc.LockedPages, 3);
    void *cq = r.Info.Complete;
    UT_SUCCESS(CloseIoRing(&r));
    IOT_PEND_STATS after = pend_stats(d);
    UT_EQ(after.Held, 0);
    UT_EQ(after.Cancelled - before.Cancelled, 3);
    UT_SUCCESS(NtQueryInformationProcess(SELF, ProcessFaultCounters, &fc, sizeof(fc), NULL));
    UT_EQ(fc.LockedPages, 0);
    MEMORY_BASIC_INFORMATION_T m;
    UT_SUCCESS(NtQueryVirtualMemory(SELF, cq, MemoryBasicInformation, &m, sizeof(m), NULL));
    UT_EQ(m.State, MEM_FREE);
    set_pend(d, IOT_PEND_NONE);
    UT_SUCCESS(NtClose(d));
}

/* A wait for more CQEs than can ever come ends when the last one is
 * there; a wait with nothing in flight ends at once; a timed-out wait
 * says STATUS_TIMEOUT. */
UTEST(ioring, waits_are_bounded_by_what_can_come)
{
    IORING_T r;
    UT_SUCCESS(CreateIoRing(4, 0, &r));
    UT_ASSERT(BuildIoRingNop(&r, 1));
    UT_SUCCESS(SubmitIoRing(&r, 1000, NULL, NULL));   /* one can come: it is there */
    UT_EQ(unread(&r), 1);
    HANDLE d;
    UT_SUCCESS(OpenDevice(DIRECT, RW, 0, &d));
    set_pend(d, IOT_PEND_HOLD);
    uint8_t *b = UtRegion(P);
    UT_ASSERT(BuildIoRingReadFile(&r, d, b, 64, 0, 2));
    int64_t short_wait = -200000LL;   /* 20 ms */
    UT_STATUS(SubmitIoRing(&r, 2, &short_wait, NULL), STATUS_TIMEOUT);
    UT_SUCCESS(ioctl(d, IOCTL_IOTEST_RELEASE, NULL, 0, NULL, 0));
    UT_SUCCESS(SubmitIoRing(&r, 2, NULL, NULL));
    UT_EQ(unread(&r), 2);
    set_pend(d, IOT_PEND_NONE);
    UT_SUCCESS(NtClose(d));
    UT_SUCCESS(CloseIoRing(&r));
}

static uint64_t locked_pages(void)
{
    PROCESS_FAULT_COUNTERS_T fc;
    UT_SUCCESS(NtQueryInformationProcess(SELF, ProcessFaultCounters, &fc, sizeof(fc), NULL));
    return fc.LockedPages;
}

static NTSTATUS one_cqe(IORING_T *r, IORING_CQE_T *c)
{
    int64_t ten_s = -100000000LL;
    NTSTATUS st = SubmitIoRing(r, 1, &ten_s, NULL);
    if (!NT_SUCCESS(st))
        return st;
    return PopIoRingCompletion(r, c) ? STATUS_SUCCESS : STATUS_UNSUCCESSFUL;
}

/* Registered buffers: two buffers locked once (the process's locked pages
 * say so for as long as they are registered, and no longer), writes and
 * reads naming (index, offset, length) move the right bytes - checked with
 * NtReadFile - and a range outside its buffer, an index past the set, a
 * registration with a bad array or a bad buffer each get an error CQE and
 * leave the set as it was; unregistering (count 0) unlocks them. */
UTEST(ioring, registered_buffers_are_locked_once_and_checked_per_request)
{
    IORING_T r;
    UT_SUCCESS(CreateIoRing(8, 0, &r));
    HANDLE f;
    UT_SUCCESS(OpenDevice(DISK, RW, 0, &f));
    uint8_t *a = UtRegion(4 * P), *b = UtRegion(2 * P), *check_buf = UtRegion(4 * P);
    UtFill(a, 4 * P, 7);
    uint64_t locked0 = locked_pages();
    static IORING_BUFFER_INFO_T set[2];
    set[0] = (IORING_BUFFER_INFO_T){ (uint64_t)(uintptr_t)a, 4 * P, 0 };
    set[1] = (IORING_BUFFER_INFO_T){ (uint64_t)(uintptr_t)(b + 512), P, 0 };   /* unaligned start: 2 pages */
    IORING_CQE_T c;
    UT_ASSERT(BuildIoRingRegisterBuffers(&r, set, 2, 0x50));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.UserData, 0x50);
    UT_EQ(c.Status, STATUS_SUCCESS);
    UT_EQ(locked_pages() - locked0, 6);
    /* buffer 0, bytes [P, 3P) to the disk; read back by NtReadFile */
    UT_ASSERT(BuildIoRingWriteFileRegistered(&r, f, 0, P, 2 * P, 5 << 20, 0x51));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_SUCCESS);
    UT_EQ(c.Information, 2 * P);
    IO_STATUS_BLOCK_T iosb;
    UT_SUCCESS(ReadAt(f, check_buf, 2 * P, 5 << 20, &iosb));
    UT_ASSERT(memcmp(check_buf, a + P, 2 * P) == 0);
    /* and into buffer 1 at offset 512 through the ring */
    memset(b, 0, 2 * P);
    UT_ASSERT(BuildIoRingReadFileRegistered(&r, f, 1, 512, 512, (5 << 20) + 1024, 0x52));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_SUCCESS);
    UT_EQ(c.Information, 512);
    UT_ASSERT(memcmp(b + 1024, a + P + 1024, 512) == 0);
    UT_EQ(b[1023], 0);
    UT_EQ(b[1536], 0);
    /* refused, each on its own; the set stays */
    static const struct { uint32_t index, off, len; } bad[] = {
        { 0, 3 * P, 2 * P }, { 1, 1, P }, { 2, 0, 512 }, { 0, 0xFFFFFFFF, 2 }, { 0xFFFFFFFF, 0, 512 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        UT_ASSERT(BuildIoRingReadFileRegistered(&r, f, bad[i].index, bad[i].off, bad[i].len, 0, 0x60 + i));
        UT_SUCCESS(one_cqe(&r, &c));
        UT_ASSERT_MSG(c.Status == STATUS_INVALID_PARAMETER, "bad range %zu: %s", i, UtStatusText(c.Status));
    }
    UT_ASSERT(BuildIoRingRegisterBuffers(&r, (void *)0xFFFF800000000000ULL, 2, 0x70));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_ACCESS_VIOLATION);
    static IORING_BUFFER_INFO_T worse[2];
    worse[0] = set[0];
    worse[1] = (IORING_BUFFER_INFO_T){ (uint64_t)(uintptr_t)r.Info.Complete, 64, 0 };   /* read-only */
    UT_ASSERT(BuildIoRingRegisterBuffers(&r, worse, 2, 0x71));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_ACCESS_VIOLATION);
    UT_ASSERT(BuildIoRingRegisterBuffers(&r, set, IORING_REGISTERED_BUFFERS_MAX + 1, 0x72));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_INVALID_PARAMETER);
    UT_EQ(locked_pages() - locked0, 6);   /* the first set, nothing more */
    UT_ASSERT(BuildIoRingReadFileRegistered(&r, f, 1, 0, 512, 0, 0x73));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_SUCCESS);
    UT_ASSERT(BuildIoRingRegisterBuffers(&r, NULL, 0, 0x74));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_SUCCESS);
    UT_EQ(locked_pages(), locked0);
    UT_ASSERT(BuildIoRingReadFileRegistered(&r, f, 0, 0, 512, 0, 0x75));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_INVALID_PARAMETER);   /* nothing registered now */
    UT_SUCCESS(NtClose(f));
    UT_SUCCESS(CloseIoRing(&r));
}

/* A registered set with a request on it held by the driver cannot be
 * replaced (STATUS_DEVICE_BUSY: the partial MDL uses its pages); closing
 * the ring then cancels the request and unlocks the set. */
UTEST(ioring, registered_set_in_use_is_not_replaced_and_goes_with_the_close)
{
    IORING_T r;
    UT_SUCCESS(CreateIoRing(4, 0, &r));
    HANDLE d;
    UT_SUCCESS(OpenDevice(DIRECT, RW, 0, &d));
    uint8_t *a = UtRegion(2 * P);
    uint64_t locked0 = locked_pages();
    static IORING_BUFFER_INFO_T set[1];
    set[0] = (IORING_BUFFER_INFO_T){ (uint64_t)(uintptr_t)a, 2 * P, 0 };
    IORING_CQE_T c;
    UT_ASSERT(BuildIoRingRegisterBuffers(&r, set, 1, 1));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_SUCCESS);
    set_pend(d, IOT_PEND_HOLD);
    UT_ASSERT(BuildIoRingReadFileRegistered(&r, d, 0, 0, 64, 0, 2));
    UT_SUCCESS(SubmitIoRing(&r, 0, NULL, NULL));
    UT_EQ(pend_stats(d).Held, 1);
    UT_ASSERT(BuildIoRingRegisterBuffers(&r, NULL, 0, 3));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.UserData, 3);
    UT_EQ(c.Status, STATUS_DEVICE_BUSY);
    UT_EQ(locked_pages() - locked0, 2);   /* the set's own lock only: the request added none */
    UT_SUCCESS(CloseIoRing(&r));
    UT_EQ(pend_stats(d).Held, 0);
    UT_EQ(locked_pages(), locked0);
    set_pend(d, IOT_PEND_NONE);
    UT_SUCCESS(NtClose(d));
}

/* Registered files: the ring references each once with the access its
 * handle granted - a request by index then looks up no handle, still
 * works after the handle is closed, and may do only what the handle
 * allowed; a bad index, a bad handle or an event in the set is an error
 * CQE, and a failed registration leaves the old set. */
UTEST(ioring, registered_files_keep_their_object_and_their_access)
{
    IORING_T r;
    UT_SUCCESS(CreateIoRing(8, 0, &r));
    uint32_t files0 = open_files(DISK);
    HANDLE f, ro, ev;
    UT_SUCCESS(OpenDevice(DISK, RW, 0, &f));
    UT_SUCCESS(OpenDevice(DISK, FILE_READ_DATA, 0, &ro));
    UT_SUCCESS(CreateEventHandle(&ev, 0, 0));
    uint8_t *out = UtRegion(P), *in = UtRegion(P);
    UtFill(out, P, 99);
    IO_STATUS_BLOCK_T iosb;
    UT_SUCCESS(WriteAt(f, out, P, 6u << 20, &iosb));
    static HANDLE set[2];
    set[0] = f;
    set[1] = ro;
    IORING_CQE_T c;
    UT_ASSERT(BuildIoRingRegisterFiles(&r, set, 2, 1));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_SUCCESS);
    UT_SUCCESS(NtClose(f));   /* the ring's reference keeps the file object */
    UT_EQ(open_files(DISK) - files0, 2);
    UT_ASSERT(BuildIoRingEntry(&r, IORING_OP_READ, IORING_SQE_REGISTERED_FILE, 0, (uint64_t)(uintptr_t)in, 0, P,
                               6 << 20, 2));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_SUCCESS);
    UT_EQ(c.Information, P);
    UT_ASSERT(UtCheck(in, P, 99));
    UT_ASSERT(BuildIoRingEntry(&r, IORING_OP_WRITE, IORING_SQE_REGISTERED_FILE, 1, (uint64_t)(uintptr_t)out, 0, P,
                               6 << 20, 3));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_ACCESS_DENIED);   /* the read-only handle's access */
    UT_ASSERT(BuildIoRingEntry(&r, IORING_OP_READ, IORING_SQE_REGISTERED_FILE, 2, (uint64_t)(uintptr_t)in, 0, P,
                               0, 4));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_INVALID_PARAMETER);   /* past the set */
    UT_ASSERT(BuildIoRingEntry(&r, IORING_OP_NOP, IORING_SQE_REGISTERED_FILE, 0, 0, 0, 0, 0, 5));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_INVALID_PARAMETER);
    static HANDLE bad[2];
    bad[0] = ro;
    bad[1] = 0x1234;
    UT_ASSERT(BuildIoRingRegisterFiles(&r, bad, 2, 6));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_INVALID_HANDLE);
    bad[1] = ev;
    UT_ASSERT(BuildIoRingRegisterFiles(&r, bad, 2, 7));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_OBJECT_TYPE_MISMATCH);
    UT_ASSERT(BuildIoRingRegisterFiles(&r, (const HANDLE *)0xFFFF800000000000ULL, 1, 8));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_ACCESS_VIOLATION);
    memset(in, 0, P);
    UT_ASSERT(BuildIoRingEntry(&r, IORING_OP_READ, IORING_SQE_REGISTERED_FILE, 0, (uint64_t)(uintptr_t)in, 0, P,
                               6 << 20, 9));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_SUCCESS);   /* the old set is still there */
    UT_ASSERT(UtCheck(in, P, 99));
    UT_ASSERT(BuildIoRingRegisterFiles(&r, NULL, 0, 10));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_SUCCESS);
    UT_EQ(open_files(DISK) - files0, 1);   /* f is gone with the set; ro has its handle */
    UT_ASSERT(BuildIoRingEntry(&r, IORING_OP_READ, IORING_SQE_REGISTERED_FILE, 0, (uint64_t)(uintptr_t)in, 0, P,
                               0, 11));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_INVALID_PARAMETER);
    UT_SUCCESS(NtClose(ro));
    UT_SUCCESS(NtClose(ev));
    UT_EQ(open_files(DISK), files0);
    UT_ASSERT(BuildIoRingRegisterFiles(&r, set + 1, 1, 12));   /* a handle closed: refused */
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_INVALID_HANDLE);
    UT_SUCCESS(CloseIoRing(&r));
}

/* A hostile batch of the SQ's most (4096 entries, where the disk's ring has
 * 256 heads: the rest wait in the driver for descriptors) in one submit,
 * one plug, over 128 pages of the disk in blocks of 4. The first half:
 * the pages in order, even blocks read, odd blocks written, so each
 * block's requests continue one another (merged into one device request)
 * and each block ends where one of the other direction starts (never
 * merged). The second half: the read blocks only, each twice running
 * (0 0 2 2 ...): the same range again, then a gap, in the same direction
 * (never merged). Reads alternate between a plain buffer and a registered
 * one within a block; each page is read into (written from) the same
 * buffer every time. Every entry gets one CQE with its bytes, each read
 * the disk's bytes, each write lands at its own sector and nowhere else,
 * nothing stays locked, and the driver did merge: fewer device requests
 * than IRPs, never fewer than the blocks. */
UTEST_T(ioring, a_hostile_4096_entry_batch_merges_only_what_continues, 120)
{
    enum { N = 4096, PAGES = 128, BLOCK = 4 };
    const int64_t base = 16 << 20;
    IORING_T r;
    UT_SUCCESS(CreateIoRing(N, 0, &r));
    HANDLE f;
    UT_SUCCESS(OpenDevice(DISK, RW, 0, &f));
    uint8_t *plain = UtRegion(PAGES * P), *reg = UtRegion(PAGES * P), *src = UtRegion(PAGES * P),
            *disk = UtRegion(PAGES * P), *after = UtRegion(PAGES * P);
    UtFill(disk, PAGES * P, 90);
    IO_STATUS_BLOCK_T iosb;
    UT_SUCCESS(WriteAt(f, disk, PAGES * P, base, &iosb));
    UtFill(src, PAGES * P, 91);
    uint8_t *wrote = UtRegion(PAGES * P);   /* src's bytes, where no request can reach */
    memcpy(wrote, src, PAGES * P);
    uint64_t locked0 = locked_pages();
    static IORING_BUFFER_INFO_T set[1];
    set[0] = (IORING_BUFFER_INFO_T){ (uint64_t)(uintptr_t)reg, PAGES * P, 0 };
    IORING_CQE_T c;
    UT_ASSERT(BuildIoRingRegisterBuffers(&r, set, 1, 0xFFFF));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_SUCCESS);
    VBLK_LAST_T before;
    UT_SUCCESS(ioctl(f, IOCTL_VBLK_LAST_REQUEST, NULL, 0, &before, sizeof(before)));
    for (uint32_t i = 0; i < N; i++) {
        uint32_t q = i % PAGES;
        if (i >= N / 2) {
            /* the read blocks only, each twice running: 0 0 2 2 4 4 ... */
            uint32_t k = i % PAGES;
            q = (k / (2 * BLOCK)) * 2 * BLOCK + k % BLOCK;
        }
        int64_t off = base + (int64_t)q * P;
        int ok;
        if ((q / BLOCK) % 2)
            ok = BuildIoRingWriteFile(&r, f, src + q * P, P, off, i);
        else if (q % 2)
            ok = BuildIoRingReadFileRegistered(&r, f, 0, q * P, P, off, i);
        else
            ok = BuildIoRingReadFile(&r, f, plain + q * P, P, off, i);
        UT_ASSERT(ok);
    }
    uint32_t took = 0;
    int64_t thirty_s = -300000000LL;
    UT_SUCCESS(SubmitIoRing(&r, N, &thirty_s, &took));
    UT_EQ(took, N);
    UT_EQ(unread(&r), N);
    static uint8_t seen[N];
    memset(seen, 0, sizeof(seen));
    for (uint32_t k = 0; k < N; k++) {
        UT_ASSERT(PopIoRingCompletion(&r, &c));
        UT_ASSERT_MSG(c.UserData < N && !seen[c.UserData], "CQE %u: user data %#llx (again?)", k,
                      (unsigned long long)c.UserData);
        seen[c.UserData] = 1;
        UT_ASSERT_MSG(c.Status == STATUS_SUCCESS, "entry %llu: %s", (unsigned long long)c.UserData,
                      UtStatusText(c.Status));
        UT_EQ(c.Information, P);
    }
    VBLK_LAST_T now;
    UT_SUCCESS(ioctl(f, IOCTL_VBLK_LAST_REQUEST, NULL, 0, &now, sizeof(now)));
    UT_SUCCESS(ReadAt(f, after, PAGES * P, base, &iosb));
    for (uint32_t q = 0; q < PAGES; q++) {
        int written = (q / BLOCK) % 2;
        const uint8_t *want = (written ? wrote : disk) + q * P;
        UT_ASSERT_MSG(memcmp(after + q * P, want, P) == 0, "disk page %u is not the %s", q,
                      written ? "page written to it" : "page it had");
        if (!written)
            UT_ASSERT_MSG(memcmp((q % 2 ? reg : plain) + q * P, want, P) == 0, "read of disk page %u got wrong bytes",
                          q);
    }
    /* Merged: blocks of 4 go as one request at most (fewer when a block
     * straddles two starts of the driver), never as more than 4. */
    uint64_t irps = now.Requests - before.Requests, subs = now.SubRequests - before.SubRequests;
    UT_EQ(irps, N);
    printf("  %llu IRPs, %llu device requests\n", (unsigned long long)irps, (unsigned long long)subs);
    if (now.IndirectNegotiated)   /* no merging without indirect tables (a vblk.nomerge boot fails here) */
        UT_LT(subs, N);
    UT_GE(subs, N / BLOCK);
    UT_ASSERT(BuildIoRingRegisterBuffers(&r, NULL, 0, 0xFFFE));
    UT_SUCCESS(one_cqe(&r, &c));
    UT_EQ(c.Status, STATUS_SUCCESS);
    UT_EQ(locked_pages(), locked0);
    UT_SUCCESS(NtClose(f));
    UT_SUCCESS(CloseIoRing(&r));
}

/* `utest_ioring submit_and_exit`: 4096 reads of 64 KiB (adjacent in runs
 * of 8, merged) in one submit, and the end of the process at once. */
#define EXIT_AFTER_SUBMIT 0x0D00A000
static int submit_and_exit(void)
{
    enum { N = 4096, EACH = 16 * P };
    IORING_T r;
    HANDLE f;
    if (!NT_SUCCESS(CreateIoRing(N, 0, &r)) || !NT_SUCCESS(OpenDevice(DISK, RW, 0, &f)))
        return 1;
    uint8_t *buf = UtRegion(64 * EACH);
    for (uint32_t i = 0; i < N; i++)
        if (!BuildIoRingReadFile(&r, f, buf + (i % 64) * EACH, EACH, (int64_t)(i % 8) * EACH, i))
            return 2;
    uint32_t took = 0;
    if (!NT_SUCCESS(SubmitIoRing(&r, 0, NULL, &took)) || took != N)
        return 3;
    NtTerminateProcess(SELF, EXIT_AFTER_SUBMIT);
    return 4;
}

/* A process that ends right after a huge submit: most of its 4096 reads
 * still wait in the driver for descriptors (cancelled), some are on the
 * device (waited for), and each completes to the ring in the disk's DPC,
 * which frees the IRP there and then - while the exit walks the thread's
 * IRPs to cancel them (io/cancel.c: the walk once cancelled an IRP that
 * had just been freed, 0xA in IoCancelIrp). It ends with its own status
 * and its disk file goes; pages left locked would have stopped the
 * system at its teardown (PROCESS_HAS_LOCKED_PAGES). */
UTEST_T(ioring, a_process_ending_right_after_a_4096_entry_submit_leaves_nothing, 120)
{
    uint32_t files0 = open_files(DISK);
    HANDLE h;
    UT_SUCCESS(NtCreateProcess("utest_ioring", "utest_ioring submit_and_exit", &h));
    UT_EQ(WaitHandle(h, 60000), STATUS_WAIT_0);
    NTSTATUS code = 0;
    UT_SUCCESS(ProcessExitStatus(h, &code));
    UT_EQ((uint32_t)code, EXIT_AFTER_SUBMIT);
    NtClose(h);
    UT_EQ(open_files(DISK), files0);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "submit_and_exit") == 0)
        return submit_and_exit();
    return utest_main(argc, argv);
}
