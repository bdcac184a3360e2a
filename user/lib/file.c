/*
 * Files and devices from user mode: small helpers around NtOpenFile,
 * NtReadFile and NtWriteFile (kernel32's CreateFile/ReadFile/WriteFile
 * are the same kind of wrapper on NT). Each keeps its one NT call in
 * plain sight: a reader of dd.c or hexdump.c should see the services,
 * not a stream library.
 */
#include <nt.h>
#include <string.h>

NTSTATUS OpenDevice(const char *name, uint32_t access, uint32_t options, HANDLE *file)
{
    STRING_T s;
    OBJECT_ATTRIBUTES_T oa;
    IO_STATUS_BLOCK_T iosb;
    RtlInitString(&s, name);
    InitializeObjectAttributes(&oa, &s, OBJ_CASE_INSENSITIVE);
    /* SYNCHRONIZE, as kernel32's CreateFile always adds: a synchronous file
     * needs it (the I/O manager waits on the file object for the caller,
     * and NT refuses the open without it), and waiting on an asynchronous
     * file's handle for its requests needs it too. */
    access |= SYNCHRONIZE;
    *file = 0;
    return NtOpenFile(file, access, &oa, &iosb, FILE_SHARE_READ | FILE_SHARE_WRITE, options);
}

/* A request that pended on a handle without an event: NT signals the file
 * object itself at completion, so waiting on the file handle waits for it,
 * and the status block then holds the result. */
static NTSTATUS finish(HANDLE file, NTSTATUS st, IO_STATUS_BLOCK_T *iosb)
{
    if (st == STATUS_PENDING) {
        st = NtWaitForSingleObject(file, 0, NULL);
        if (NT_SUCCESS(st))
            st = iosb->Status;
    }
    return st;
}

NTSTATUS ReadAt(HANDLE file, void *buffer, uint32_t length, uint64_t offset, IO_STATUS_BLOCK_T *iosb)
{
    int64_t where = (int64_t)offset;
    memset(iosb, 0, sizeof(*iosb));
    return finish(file, NtReadFile(file, 0, NULL, NULL, iosb, buffer, length, &where, NULL), iosb);
}

NTSTATUS WriteAt(HANDLE file, const void *buffer, uint32_t length, uint64_t offset, IO_STATUS_BLOCK_T *iosb)
{
    int64_t where = (int64_t)offset;
    memset(iosb, 0, sizeof(*iosb));
    return finish(file, NtWriteFile(file, 0, NULL, NULL, iosb, buffer, length, &where, NULL), iosb);
}

NTSTATUS CreateEventHandle(HANDLE *event, int synchronization, int signalled)
{
    *event = 0;
    return NtCreateEvent(event, EVENT_ALL_ACCESS, NULL, synchronization ? 1 : 0, signalled ? 1 : 0);
}

NTSTATUS WaitHandle(HANDLE handle, uint64_t timeout_ms)
{
    /* NT times: 100 ns units, negative = relative to now. */
    int64_t t = -(int64_t)(timeout_ms * 10000);
    return NtWaitForSingleObject(handle, 0, timeout_ms ? &t : NULL);
}

uint64_t InterruptTime100ns(void)
{
    SYSTEM_INTERRUPT_TIME_T t = { 0 };
    if (!NT_SUCCESS(NtQuerySystemInformation(SystemInterruptTime, &t, sizeof(t), NULL)))
        return 0;
    return t.InterruptTime;
}

NTSTATUS DiskLength(HANDLE file, uint64_t *length)
{
    GET_LENGTH_INFORMATION_T info = { 0 };
    IO_STATUS_BLOCK_T iosb;
    memset(&iosb, 0, sizeof(iosb));
    /* A raw disk answers IOCTL_DISK_GET_LENGTH_INFO (METHOD_BUFFERED: the
     * I/O manager copies the 8 bytes back); other devices refuse it. */
    NTSTATUS st = finish(file, NtDeviceIoControlFile(file, 0, NULL, NULL, &iosb, IOCTL_DISK_GET_LENGTH_INFO, NULL, 0,
                                                     &info, sizeof(info)), &iosb);
    if (NT_SUCCESS(st))
        *length = (uint64_t)info.Length;
    return st;
}
