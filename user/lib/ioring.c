/*
 * The I/O ring from ring 3: building SQEs, submitting them and popping
 * CQEs, as Windows' ioringapi.h helpers do over NtCreateIoRing and
 * NtSubmitIoRing. The queues are the two views the kernel mapped
 * (kernel/ntsyscall.h): this side writes the SQ tail and the CQ head
 * only, and reads the kernel's SQ head and CQ tail with acquire loads so
 * that an index it sees covers the entries before it.
 */
#include <nt.h>
#include <string.h>

NTSTATUS CreateIoRing(uint32_t sq_size, uint32_t cq_size, IORING_T *ring)
{
    IORING_CREATE_T p = { sq_size, cq_size };
    memset(ring, 0, sizeof(*ring));
    NTSTATUS s = NtCreateIoRing(&ring->Handle, sizeof(p), &p, sizeof(ring->Info), &ring->Info);
    if (NT_SUCCESS(s))
        ring->SqTail = ring->Info.Submit->SqTail;
    return s;
}

static int build_ex(IORING_T *r, uint32_t op, uint32_t flags, uint32_t index, HANDLE file, uint64_t buffer,
                    uint32_t length, int64_t offset, uint64_t user_data)
{
    uint32_t head = __atomic_load_n(&r->Info.Complete->SqHead, __ATOMIC_ACQUIRE);
    if (r->SqTail - head >= r->Info.SubmissionQueueSize)
        return 0;
    IORING_SQE_T *e = &r->Info.Submit->Sqe[r->SqTail & (r->Info.SubmissionQueueSize - 1)];
    e->OpCode = op;
    e->Flags = flags;
    e->File = file;
    e->Offset = offset;
    e->Buffer = buffer;
    e->Length = length;
    e->BufferIndex = index;
    e->UserData = user_data;
    r->SqTail++;
    return 1;
}

static int build(IORING_T *r, uint32_t op, HANDLE file, uint64_t buffer, uint32_t length, int64_t offset,
                 uint64_t user_data)
{
    return build_ex(r, op, 0, 0, file, buffer, length, offset, user_data);
}

int BuildIoRingRegisterBuffers(IORING_T *r, const IORING_BUFFER_INFO_T *buffers, uint32_t count, uint64_t user_data)
{
    return build(r, IORING_OP_REGISTER_BUFFERS, 0, (uint64_t)(uintptr_t)buffers, count, 0, user_data);
}

int BuildIoRingRegisterFiles(IORING_T *r, const HANDLE *files, uint32_t count, uint64_t user_data)
{
    return build(r, IORING_OP_REGISTER_FILES, 0, (uint64_t)(uintptr_t)files, count, 0, user_data);
}

int BuildIoRingEntry(IORING_T *r, uint32_t op, uint32_t flags, uint64_t file, uint64_t buffer, uint32_t buffer_index,
                     uint32_t length, int64_t offset, uint64_t user_data)
{
    return build_ex(r, op, flags, buffer_index, file, buffer, length, offset, user_data);
}

int BuildIoRingReadFileRegistered(IORING_T *r, HANDLE file, uint32_t index, uint32_t buffer_offset, uint32_t length,
                                  int64_t offset, uint64_t user_data)
{
    return build_ex(r, IORING_OP_READ, IORING_SQE_REGISTERED_BUFFER, index, file, buffer_offset, length, offset,
                    user_data);
}

int BuildIoRingWriteFileRegistered(IORING_T *r, HANDLE file, uint32_t index, uint32_t buffer_offset, uint32_t length,
                                   int64_t offset, uint64_t user_data)
{
    return build_ex(r, IORING_OP_WRITE, IORING_SQE_REGISTERED_BUFFER, index, file, buffer_offset, length, offset,
                    user_data);
}

int BuildIoRingReadFile(IORING_T *r, HANDLE file, void *buffer, uint32_t length, int64_t offset, uint64_t user_data)
{
    return build(r, IORING_OP_READ, file, (uint64_t)(uintptr_t)buffer, length, offset, user_data);
}

int BuildIoRingWriteFile(IORING_T *r, HANDLE file, const void *buffer, uint32_t length, int64_t offset,
                         uint64_t user_data)
{
    return build(r, IORING_OP_WRITE, file, (uint64_t)(uintptr_t)buffer, length, offset, user_data);
}

int BuildIoRingNop(IORING_T *r, uint64_t user_data)
{
    return build(r, IORING_OP_NOP, 0, 0, 0, 0, user_data);
}

NTSTATUS SubmitIoRing(IORING_T *r, uint32_t wait_operations, int64_t *timeout, uint32_t *submitted)
{
    uint32_t before = __atomic_load_n(&r->Info.Complete->SqHead, __ATOMIC_ACQUIRE);
    /* Release: the kernel that reads the tail sees the entries under it. */
    __atomic_store_n(&r->Info.Submit->SqTail, r->SqTail, __ATOMIC_RELEASE);
    NTSTATUS s = NtSubmitIoRing(r->Handle, 0, wait_operations, timeout);
    if (submitted)
        *submitted = __atomic_load_n(&r->Info.Complete->SqHead, __ATOMIC_ACQUIRE) - before;
    return s;
}

int PopIoRingCompletion(IORING_T *r, IORING_CQE_T *cqe)
{
    uint32_t head = r->Info.Submit->CqHead;
    if (head == __atomic_load_n(&r->Info.Complete->CqTail, __ATOMIC_ACQUIRE))
        return 0;
    *cqe = r->Info.Complete->Cqe[head & (r->Info.CompletionQueueSize - 1)];
    /* Release: the slot is the kernel's again only after it was read. */
    __atomic_store_n(&r->Info.Submit->CqHead, head + 1, __ATOMIC_RELEASE);
    return 1;
}

NTSTATUS CloseIoRing(IORING_T *r)
{
    NTSTATUS s = NtClose(r->Handle);
    memset(r, 0, sizeof(*r));
    return s;
}
