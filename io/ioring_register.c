/*
 * The I/O ring's registered buffers and files (docs/io.md section 12; NT's
 * BuildIoRingRegisterBuffers and BuildIoRingRegisterFileHandles): what
 * every request would otherwise pay for - the probe and lock of its buffer,
 * the look-up of its handle - paid once, when ring 3 registers them.
 *
 * A registered buffer is an MDL of ring 3's pages locked for both
 * directions; a request on (index, offset, length) gets a partial MDL of it
 * (IoBuildPartialMdl: the source's frames, no references of its own), so
 * the source must stay locked while any such request is with a driver:
 * BufferUsers counts them, and a set is replaced or unlocked only when it
 * is 0. A registered file is a reference on the file object with the
 * access its handle granted; requests hold references of their own, so a
 * file set can be replaced at any time. Both sets go with the ring.
 */
#include "io/ioringp.h"

/* All rings' registered pages together: each is a page of ring 3's locked
 * for as long as the ring says (NT charges them to the process's quota;
 * mdlos bounds them). */
#define RING_REGISTERED_PAGES_MOST 8192
volatile LONG IopRingRegisteredPages;

/* The registered set: unlocked and freed. Only with no request using it. */
void IopRingDropBuffers(IOP_RING *r)
{
    for (ULONG i = 0; i < r->BufferCount; i++) {
        MmUnlockPages(r->Buffers[i]);
        IoFreeMdl(r->Buffers[i]);
        r->Buffers[i] = NULL;
    }
    __atomic_sub_fetch(&IopRingRegisteredPages, r->BufferPages, __ATOMIC_RELAXED);
    r->BufferCount = r->BufferPages = 0;
}

/* IORING_OP_REGISTER_BUFFERS: the new set locked whole first; only then
 * does it replace the old one (a failure leaves the old set as it was). */
NTSTATUS IopRingRegisterBuffers(IOP_RING *r, const IORING_SQE_T *e)
{
    ULONG n = e->Length;
    if (n > IORING_REGISTERED_BUFFERS_MAX || e->BufferIndex || e->File || e->Offset)
        return STATUS_INVALID_PARAMETER;
    if (__atomic_load_n(&r->BufferUsers, __ATOMIC_ACQUIRE))
        return STATUS_DEVICE_BUSY;   /* requests on the old set are still with a driver */
    IORING_BUFFER_INFO_T info[IORING_REGISTERED_BUFFERS_MAX];
    NTSTATUS s = ExCaptureUser(info, (const void *)e->Buffer, (SIZE_T)n * sizeof(info[0]), 8);
    if (!NT_SUCCESS(s))
        return s;
    PMDL m[IORING_REGISTERED_BUFFERS_MAX];
    ULONG got = 0, pages = 0;
    for (; got < n && NT_SUCCESS(s); got++) {
        PVOID va = (PVOID)info[got].Address;
        ULONG len = info[got].Length;
        if (!len || info[got].Reserved || len > IOP_MAX_BUFFERED_TRANSFER) {
            s = STATUS_INVALID_PARAMETER;
            break;
        }
        if (!NT_SUCCESS(s = IopProbeUserRange(va, len)))
            break;
        ULONG need = (ULONG)ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, len);
        if (__atomic_add_fetch(&IopRingRegisteredPages, need, __ATOMIC_RELAXED) > RING_REGISTERED_PAGES_MOST) {
            __atomic_sub_fetch(&IopRingRegisteredPages, need, __ATOMIC_RELAXED);
            s = STATUS_INSUFFICIENT_RESOURCES;
            break;
        }
        /* IoWriteAccess: a registered buffer serves reads (the device
         * writes it) and writes alike. */
        if (!NT_SUCCESS(s = IopLockBuffer(va, len, UserMode, IoWriteAccess, NULL, &m[got]))) {
            __atomic_sub_fetch(&IopRingRegisteredPages, need, __ATOMIC_RELAXED);
            break;
        }
        pages += need;
    }
    if (!NT_SUCCESS(s)) {
        for (ULONG i = 0; i < got; i++) {
            MmUnlockPages(m[i]);
            IoFreeMdl(m[i]);
        }
        __atomic_sub_fetch(&IopRingRegisteredPages, pages, __ATOMIC_RELAXED);
        return s;
    }
    IopRingDropBuffers(r);
    memcpy(r->Buffers, m, n * sizeof(m[0]));
    r->BufferCount = n;
    r->BufferPages = pages;
    return STATUS_SUCCESS;
}

void IopRingDropFiles(IOP_RING *r)
{
    for (ULONG i = 0; i < r->FileCount; i++) {
        ObDereferenceObject(r->Files[i]);
        r->Files[i] = NULL;
    }
    r->FileCount = 0;
}

/* IORING_OP_REGISTER_FILES: every handle looked up first (a bad one
 * leaves the old set); then the new set replaces it. Requests in flight
 * hold their own file references, so the old set may go at once. */
NTSTATUS IopRingRegisterFiles(IOP_RING *r, const IORING_SQE_T *e)
{
    ULONG n = e->Length;
    if (n > IORING_REGISTERED_FILES_MAX || e->BufferIndex || e->File || e->Offset)
        return STATUS_INVALID_PARAMETER;
    HANDLE h[IORING_REGISTERED_FILES_MAX];
    NTSTATUS s = ExCaptureUser(h, (const void *)e->Buffer, (SIZE_T)n * sizeof(h[0]), 8);
    if (!NT_SUCCESS(s))
        return s;
    PFILE_OBJECT fo[IORING_REGISTERED_FILES_MAX];
    ACCESS_MASK access[IORING_REGISTERED_FILES_MAX];
    ULONG got = 0;
    for (; got < n; got++) {
        OBJECT_HANDLE_INFORMATION info;
        s = ObReferenceObjectByHandle(h[got], 0, IoFileObjectType, UserMode, (PVOID *)&fo[got], &info);
        if (!NT_SUCCESS(s))
            break;
        access[got] = info.GrantedAccess;
    }
    if (!NT_SUCCESS(s)) {
        for (ULONG i = 0; i < got; i++)
            ObDereferenceObject(fo[i]);
        return s;
    }
    IopRingDropFiles(r);
    memcpy(r->Files, fo, n * sizeof(fo[0]));
    memcpy(r->FileAccess, access, n * sizeof(access[0]));
    r->FileCount = n;
    return STATUS_SUCCESS;
}
