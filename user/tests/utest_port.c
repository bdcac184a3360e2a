/*
 * user.port.*: I/O completion ports from ring 3 (io/completion.c): a
 * disk file associated with a port ends every request as a packet with
 * the file's key, the request's apc_context and its final status, the
 * caller's status block written only when the packet is removed;
 * NtRemoveIoCompletionEx takes many at once; bad counts, pointers and
 * handles are a status and lose no packet.
 */
#include <nt.h>
#include <stdio.h>
#include <string.h>
#include <utest.h>

#define P PAGE_SIZE
#define SELF NtCurrentProcess()
#define RW (FILE_READ_DATA | FILE_WRITE_DATA)
#define DISK "\\Device\\Harddisk1\\DR0"
#define KEY ((void *)0x6B6579)
#define SENTINEL 0x7777

static HANDLE new_port(void)
{
    HANDLE port;
    UT_SUCCESS(NtCreateIoCompletion(&port, IO_COMPLETION_ALL_ACCESS, NULL, 0));
    return port;
}

static HANDLE disk_on_port(HANDLE port, void *key)
{
    HANDLE f;
    UT_SUCCESS(OpenDevice(DISK, RW, 0, &f));   /* asynchronous */
    FILE_COMPLETION_INFORMATION_T fci = { port, key };
    IO_STATUS_BLOCK_T si;
    UT_SUCCESS(NtSetInformationFile(f, &si, &fci, sizeof(fci), FileCompletionInformation));
    return f;
}

/* Writes, then reads back, of 8 pieces of 16 KiB: each a packet with the
 * key, its own apc_context and its byte count; the status block stays
 * untouched until its packet is removed (the port being signalled first,
 * so the request has finished in the kernel). */
UTEST(port, disk_requests_arrive_with_key_apc_context_status_and_bytes)
{
    enum { N = 8, EACH = 4 * P };
    HANDLE port = new_port();
    HANDLE f = disk_on_port(port, KEY);
    uint8_t *out = UtRegion(N * EACH), *in = UtRegion(N * EACH);
    for (int i = 0; i < N; i++)
        UtFill(out + i * EACH, EACH, 30 + i);
    static IO_STATUS_BLOCK_T iosb[N];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < N; i++) {
            iosb[i].Status = SENTINEL;
            int64_t off = (int64_t)(1 << 20) + (int64_t)i * EACH;
            void *ctx = (void *)(uintptr_t)(0x100 * (pass + 1) + i);
            NTSTATUS st = pass == 0 ? NtWriteFile(f, 0, NULL, ctx, &iosb[i], out + i * EACH, EACH, &off, NULL)
                                    : NtReadFile(f, 0, NULL, ctx, &iosb[i], in + i * EACH, EACH, &off, NULL);
            UT_EQ(st, STATUS_PENDING);
        }
        UT_EQ(WaitHandle(port, 10000), STATUS_WAIT_0);   /* the port is waitable: a packet is there */
        int seen[N] = { 0 };
        for (int got = 0; got < N;) {
            void *key = NULL, *ctx = NULL;
            IO_STATUS_BLOCK_T pk;
            int64_t ten_s = -100000000LL;
            UT_SUCCESS(NtRemoveIoCompletion(port, &key, &ctx, &pk, &ten_s));
            UT_EQ((uint64_t)key, (uint64_t)KEY);
            uint64_t i = (uint64_t)ctx - 0x100 * (uint64_t)(pass + 1);
            UT_ASSERT_MSG(i < N && !seen[i], "apc_context %#llx", (unsigned long long)(uint64_t)ctx);
            seen[i] = 1;
            UT_EQ(pk.Status, STATUS_SUCCESS);
            UT_EQ(pk.Information, EACH);
            /* Removed: its own status block is written now, the same. */
            UT_EQ(iosb[i].Status, STATUS_SUCCESS);
            UT_EQ(iosb[i].Information, EACH);
            got++;
        }
    }
    for (int i = 0; i < N; i++)
        UT_ASSERT_MSG(UtCheck(in + i * EACH, EACH, 30 + i), "piece %d read back wrong", i);
    int64_t zero = 0;
    void *key, *ctx;
    IO_STATUS_BLOCK_T pk;
    UT_EQ(NtRemoveIoCompletion(port, &key, &ctx, &pk, &zero), STATUS_TIMEOUT);   /* nothing extra */
    UT_SUCCESS(NtClose(f));
    UT_SUCCESS(NtClose(port));
}

/* Five packets posted with NtSetIoCompletion come out of one
 * NtRemoveIoCompletionEx, in order, with what was posted; a count smaller
 * than the queue takes that many and leaves the rest. */
UTEST(port, remove_ex_takes_several_at_once_in_order)
{
    HANDLE port = new_port();
    for (int i = 0; i < 5; i++)
        UT_SUCCESS(NtSetIoCompletion(port, (void *)(uintptr_t)(10 + i), (void *)(uintptr_t)(20 + i),
                                     i == 3 ? STATUS_END_OF_FILE : STATUS_SUCCESS, 100 + i));
    FILE_IO_COMPLETION_INFORMATION_T e[8];
    uint32_t n = 99;
    int64_t zero = 0;
    UT_SUCCESS(NtRemoveIoCompletionEx(port, e, 2, &n, &zero, 0));
    UT_EQ(n, 2);
    UT_SUCCESS(NtRemoveIoCompletionEx(port, e + 2, 8, &n, &zero, 0));
    UT_EQ(n, 3);
    for (int i = 0; i < 5; i++) {
        UT_EQ((uint64_t)e[i].KeyContext, 10 + i);
        UT_EQ((uint64_t)e[i].ApcContext, 20 + i);
        UT_EQ(e[i].IoStatusBlock.Status, i == 3 ? STATUS_END_OF_FILE : STATUS_SUCCESS);
        UT_EQ(e[i].IoStatusBlock.Information, 100 + i);
    }
    UT_EQ(NtRemoveIoCompletionEx(port, e, 8, &n, &zero, 0), STATUS_TIMEOUT);
    UT_EQ(n, 0);
    UT_SUCCESS(NtClose(port));
}

/* Every bad argument of a remove is refused before a packet is taken:
 * after all of them the three packets are still there, in order. */
UTEST(port, bad_counts_and_pointers_get_a_status_and_lose_nothing)
{
    HANDLE port = new_port();
    for (int i = 0; i < 3; i++)
        UT_SUCCESS(NtSetIoCompletion(port, (void *)(uintptr_t)(1 + i), NULL, STATUS_SUCCESS, i));
    FILE_IO_COMPLETION_INFORMATION_T e[4];
    uint32_t n;
    int64_t zero = 0;
    /* A page whose second half is not writable: entry 64 would land there. */
    uint8_t *two = UtRegion(2 * P);
    void *b = two + P;
    size_t sz = P;
    uint32_t old;
    UT_SUCCESS(NtProtectVirtualMemory(SELF, &b, &sz, PAGE_READONLY, &old));
    FILE_IO_COMPLETION_INFORMATION_T *edge = (FILE_IO_COMPLETION_INFORMATION_T *)(two + P) - 1;
    UT_EQ(NtRemoveIoCompletionEx(port, e, 0, &n, &zero, 0), STATUS_INVALID_PARAMETER);
    UT_EQ(NtRemoveIoCompletionEx(port, NULL, 4, &n, &zero, 0), STATUS_ACCESS_VIOLATION);
    UT_EQ(NtRemoveIoCompletionEx(port, edge, 2, &n, &zero, 0), STATUS_ACCESS_VIOLATION);
    UT_EQ(NtRemoveIoCompletionEx(port, (void *)(two + P), 1, &n, &zero, 0), STATUS_ACCESS_VIOLATION);
    UT_EQ(NtRemoveIoCompletionEx(port, (void *)0xFFFF800000000000ULL, 4, &n, &zero, 0), STATUS_ACCESS_VIOLATION);
    UT_EQ(NtRemoveIoCompletionEx(port, (void *)((uint8_t *)e + 4), 4, &n, &zero, 0),
          STATUS_DATATYPE_MISALIGNMENT);
    UT_EQ(NtRemoveIoCompletionEx(port, e, 4, NULL, &zero, 0), STATUS_ACCESS_VIOLATION);
    UT_EQ(NtRemoveIoCompletionEx(port, e, 4, (uint32_t *)(two + P), &zero, 0), STATUS_ACCESS_VIOLATION);
    UT_EQ(NtRemoveIoCompletionEx(port, e, 4, &n, (int64_t *)0x10, 0), STATUS_ACCESS_VIOLATION);
    UT_EQ(NtRemoveIoCompletionEx(0x1234, e, 4, &n, &zero, 0), STATUS_INVALID_HANDLE);
    void *key, *ctx;
    IO_STATUS_BLOCK_T pk;
    UT_EQ(NtRemoveIoCompletion(port, NULL, &ctx, &pk, &zero), STATUS_ACCESS_VIOLATION);
    UT_EQ(NtRemoveIoCompletion(port, &key, (void **)(two + P), &pk, &zero), STATUS_ACCESS_VIOLATION);
    UT_EQ(NtRemoveIoCompletion(port, &key, &ctx, (IO_STATUS_BLOCK_T *)(two + P), &zero), STATUS_ACCESS_VIOLATION);
    /* A handle that may not modify the port may not take from it either. */
    HANDLE weak;
    UT_SUCCESS(NtCreateIoCompletion(&weak, IO_COMPLETION_QUERY_STATE | SYNCHRONIZE, NULL, 0));
    UT_EQ(NtRemoveIoCompletionEx(weak, e, 4, &n, &zero, 0), STATUS_ACCESS_DENIED);
    UT_EQ(NtSetIoCompletion(weak, NULL, NULL, 0, 0), STATUS_ACCESS_DENIED);
    UT_SUCCESS(NtClose(weak));
    /* Nothing was lost. */
    UT_SUCCESS(NtRemoveIoCompletionEx(port, e, 4, &n, &zero, 0));
    UT_EQ(n, 3);
    for (int i = 0; i < 3; i++) {
        UT_EQ((uint64_t)e[i].KeyContext, 1 + i);
        UT_EQ(e[i].IoStatusBlock.Information, i);
    }
    UT_SUCCESS(NtClose(port));
}

/* The association: once per file, asynchronous files only, the right
 * class and length, a port handle. */
UTEST(port, association_rules)
{
    HANDLE port = new_port(), other = new_port();
    HANDLE f, sync, ev;
    UT_SUCCESS(OpenDevice(DISK, RW, 0, &f));
    UT_SUCCESS(OpenDevice(DISK, RW | SYNCHRONIZE, FILE_SYNCHRONOUS_IO_NONALERT, &sync));
    UT_SUCCESS(CreateEventHandle(&ev, 0, 0));
    FILE_COMPLETION_INFORMATION_T fci = { port, KEY };
    IO_STATUS_BLOCK_T si;
    UT_EQ(NtSetInformationFile(f, &si, &fci, sizeof(fci), 1), STATUS_INVALID_INFO_CLASS);
    UT_EQ(NtSetInformationFile(f, &si, &fci, 8, FileCompletionInformation), STATUS_INFO_LENGTH_MISMATCH);
    UT_EQ(NtSetInformationFile(sync, &si, &fci, sizeof(fci), FileCompletionInformation), STATUS_INVALID_PARAMETER);
    FILE_COMPLETION_INFORMATION_T not_port = { ev, KEY };
    UT_EQ(NtSetInformationFile(f, &si, &not_port, sizeof(not_port), FileCompletionInformation),
          STATUS_OBJECT_TYPE_MISMATCH);
    si.Status = SENTINEL;
    UT_SUCCESS(NtSetInformationFile(f, &si, &fci, sizeof(fci), FileCompletionInformation));
    UT_EQ(si.Status, STATUS_SUCCESS);
    FILE_COMPLETION_INFORMATION_T again = { other, KEY };
    UT_EQ(NtSetInformationFile(f, &si, &again, sizeof(again), FileCompletionInformation), STATUS_INVALID_PARAMETER);
    /* A request that fails at once queues nothing (NT's one exception):
     * its status block is written as without a port. */
    IO_STATUS_BLOCK_T io = { { SENTINEL }, 0 };
    int64_t off = 511;   /* not a sector multiple */
    static uint8_t buf[P] __attribute__((aligned(4096)));
    NTSTATUS st = NtReadFile(f, 0, NULL, NULL, &io, buf, P, &off, NULL);
    UT_EQ(st, STATUS_INVALID_PARAMETER);
    int64_t zero = 0;
    void *key, *ctx;
    IO_STATUS_BLOCK_T pk;
    UT_EQ(NtRemoveIoCompletion(port, &key, &ctx, &pk, &zero), STATUS_TIMEOUT);
    UT_SUCCESS(NtClose(f));
    UT_SUCCESS(NtClose(sync));
    UT_SUCCESS(NtClose(ev));
    UT_SUCCESS(NtClose(other));
    UT_SUCCESS(NtClose(port));
}

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}
