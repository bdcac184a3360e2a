/*
 * svctable.h: every system service described by its arguments, for the
 * bad-input matrix (utest_badinput.c) and the fuzzer (fuzz.c). A new
 * service gets one SERVICE entry here and both pick it up: the matrix
 * tries every bad pointer, handle and length on each of its arguments, the
 * fuzzer mixes valid and hostile values of each kind.
 *
 * Each pointer argument carries what NT's probe of it checks: the size
 * the service reads or writes (fixed, or the value of another argument),
 * the alignment of the user's type (8 for SIZE_T, PVOID, HANDLE and
 * structures with such fields, 4 for ULONG, 1 for characters) and whether
 * NULL is allowed. Handles say which object type the service wants (a
 * handle of another type is STATUS_OBJECT_TYPE_MISMATCH); an
 * OBJECT_ATTRIBUTES argument holds two more pointers (ObjectName and its
 * Buffer) that the matrix and the fuzzer spoil too. Up to 11 arguments:
 * 7.. go on the user stack (NtSystemCallN).
 */
#pragma once
#include <nt.h>

typedef enum {
    A_NONE,     /* unused register */
    A_VALUE,    /* a flag, class, status or count: checked by value */
    A_HANDLE,   /* a process handle (or NtCurrentProcess()) */
    A_ANY_HANDLE, /* a handle of any type (NtWaitForSingleObject, NtClose) */
    A_EVENT,    /* an event handle (optional: 0 means none) */
    A_FILE,     /* a file handle (NtOpenFile / NtCreateFile) */
    A_PORT,     /* an I/O completion port handle (NtCreateIoCompletion) */
    A_RING,     /* an I/O ring handle (NtCreateIoRing) */
    A_IN,       /* the service reads SIZE bytes there */
    A_OUT,      /* the service writes there */
    A_INOUT,    /* the service reads, then writes back */
    A_STRING,   /* a NUL-terminated string the service reads byte by byte */
    A_LENGTH,   /* the length of another argument's buffer (size 4: a ULONG, else a SIZE_T) */
    A_OBJATTR,  /* an OBJECT_ATTRIBUTES the service reads, with ObjectName (a STRING_T) and its Buffer inside */
} ARGKIND;

typedef struct {
    ARGKIND kind;
    uint8_t align;       /* pointers: the alignment NT's probe checks */
    uint8_t optional;    /* pointers: NULL is allowed; A_EVENT: 0 (no event) is allowed */
    int8_t len_arg;      /* pointers: index of the length argument, -1 = fixed SIZE */
    uint32_t size;       /* pointers with a fixed size: how many bytes; A_LENGTH: 4 for a ULONG */
    const char *name;
} ARGDESC;

enum {
    SVC_NEVER_VALID = 1,   /* never call with all arguments valid (it ends us, or waits for input) */
};
#define MAX_ARGS 11

typedef struct {
    const char *name;
    uint32_t number;
    uint32_t flags;
    /* What a length past the end of user space (or one that wraps) gets,
     * when it is not STATUS_ACCESS_VIOLATION from the probe. */
    NTSTATUS length_past_user_space;
    ARGDESC arg[MAX_ARGS];   /* 7.. are passed on the stack (kernel/ntsyscall.h) */
} SERVICE;

#define NONE { A_NONE, 0, 0, -1, 0, 0 }
#define VALUE(n) { A_VALUE, 0, 0, -1, 0, n }
#define HANDLE_ARG(n) { A_HANDLE, 0, 0, -1, 0, n }
#define ANY_HANDLE(n) { A_ANY_HANDLE, 0, 0, -1, 0, n }
#define EVENT(opt, n) { A_EVENT, 0, opt, -1, 0, n }
#define FILE_ARG(n) { A_FILE, 0, 0, -1, 0, n }
#define PORT_ARG(n) { A_PORT, 0, 0, -1, 0, n }
#define RING_ARG(n) { A_RING, 0, 0, -1, 0, n }
#define LENGTH(n) { A_LENGTH, 0, 0, -1, 0, n }
#define LENGTH32(n) { A_LENGTH, 0, 0, -1, 4, n }
#define OBJATTR(opt, n) { A_OBJATTR, 8, opt, -1, sizeof(OBJECT_ATTRIBUTES_T), n }
#define PTR(kind, size, align, opt, n) { kind, align, opt, -1, size, n }
#define BUF(kind, len_arg, align, opt, n) { kind, align, opt, len_arg, 0, n }
#define STRING(opt, n) { A_STRING, 1, opt, -1, 1, n }

static const SERVICE services[] = {
    { "NtTerminateProcess", SYS_NtTerminateProcess, SVC_NEVER_VALID, 0,
      { HANDLE_ARG("process"), VALUE("status"), NONE, NONE, NONE, NONE } },
    { "NtDisplayString", SYS_NtDisplayString, 0, STATUS_INVALID_PARAMETER,   /* more than 64 KiB */
      { BUF(A_IN, 1, 1, 0, "text"), LENGTH("length"), NONE, NONE, NONE, NONE } },
    { "NtAllocateVirtualMemory", SYS_NtAllocateVirtualMemory, 0, 0,
      { HANDLE_ARG("process"), PTR(A_INOUT, 8, 8, 0, "base"), VALUE("zero_bits"), PTR(A_INOUT, 8, 8, 0, "size"),
        VALUE("type"), VALUE("protect") } },
    { "NtFreeVirtualMemory", SYS_NtFreeVirtualMemory, 0, 0,
      { HANDLE_ARG("process"), PTR(A_INOUT, 8, 8, 0, "base"), PTR(A_INOUT, 8, 8, 0, "size"), VALUE("type"), NONE,
        NONE } },
    { "NtProtectVirtualMemory", SYS_NtProtectVirtualMemory, 0, 0,
      { HANDLE_ARG("process"), PTR(A_INOUT, 8, 8, 0, "base"), PTR(A_INOUT, 8, 8, 0, "size"), VALUE("new_protect"),
        PTR(A_OUT, 4, 4, 0, "old_protect"), NONE } },
    { "NtQueryVirtualMemory", SYS_NtQueryVirtualMemory, 0, 0,
      { HANDLE_ARG("process"), VALUE("address"), VALUE("class"), BUF(A_OUT, 4, 8, 0, "buffer"), LENGTH("length"),
        PTR(A_OUT, 8, 8, 1, "return_length") } },
    { "NtCreateProcess", SYS_NtCreateProcess, 0, 0,
      { STRING(0, "image"), STRING(1, "command_line"), PTR(A_OUT, 8, 8, 0, "process"), NONE, NONE, NONE } },
    { "NtWaitForSingleObject", SYS_NtWaitForSingleObject, 0, 0,
      { ANY_HANDLE("handle"), VALUE("alertable"), PTR(A_IN, 8, 8, 1, "timeout"), NONE, NONE, NONE } },
    { "NtClose", SYS_NtClose, SVC_NEVER_VALID, 0, { ANY_HANDLE("handle"), NONE, NONE, NONE, NONE, NONE } },
    { "NtQueryInformationProcess", SYS_NtQueryInformationProcess, 0, 0,
      { HANDLE_ARG("process"), VALUE("class"), BUF(A_OUT, 3, 8, 0, "buffer"), LENGTH("length"),
        PTR(A_OUT, 8, 8, 1, "return_length"), NONE } },
    { "NtDelayExecution", SYS_NtDelayExecution, 0, 0,
      { VALUE("alertable"), PTR(A_IN, 8, 8, 0, "interval"), NONE, NONE, NONE, NONE } },
    { "NtReadConsole", SYS_NtReadConsole, SVC_NEVER_VALID, 0,
      { BUF(A_OUT, 1, 1, 0, "buffer"), LENGTH("length"), PTR(A_OUT, 8, 8, 0, "read"), NONE, NONE, NONE } },
    { "NtQuerySystemInformation", SYS_NtQuerySystemInformation, 0, 0,
      { VALUE("class"), BUF(A_OUT, 2, 8, 0, "buffer"), LENGTH("length"), PTR(A_OUT, 8, 8, 1, "return_length"),
        NONE, NONE } },
    { "NtYieldExecution", SYS_NtYieldExecution, 0, 0, { NONE, NONE, NONE, NONE, NONE, NONE } },
    { "NtGetCommandLine", SYS_NtGetCommandLine, 0, 0,
      { BUF(A_OUT, 1, 1, 0, "buffer"), LENGTH("length"), PTR(A_OUT, 8, 8, 1, "needed"), NONE, NONE, NONE } },
    { "NtSetInformationProcess", SYS_NtSetInformationProcess, 0, 0,
      { HANDLE_ARG("process"), VALUE("class"), VALUE("buffer"), VALUE("length"), NONE, NONE } },
    { "NtCreateEvent", SYS_NtCreateEvent, 0, 0,
      { PTR(A_OUT, 8, 8, 0, "event"), VALUE("access"), OBJATTR(1, "attributes"), VALUE("type"),
        VALUE("initial_state"), NONE } },
    { "NtOpenEvent", SYS_NtOpenEvent, 0, 0,
      { PTR(A_OUT, 8, 8, 0, "event"), VALUE("access"), OBJATTR(0, "attributes"), NONE, NONE, NONE } },
    { "NtSetEvent", SYS_NtSetEvent, 0, 0,
      { EVENT(0, "event"), PTR(A_OUT, 4, 4, 1, "previous_state"), NONE, NONE, NONE, NONE } },
    { "NtResetEvent", SYS_NtResetEvent, 0, 0,
      { EVENT(0, "event"), PTR(A_OUT, 4, 4, 1, "previous_state"), NONE, NONE, NONE, NONE } },
    /* A buffered transfer of more than IOP_MAX_BUFFERED_TRANSFER (16 MiB)
     * is STATUS_INSUFFICIENT_RESOURCES: the templates use buffered devices. */
    { "NtCreateFile", SYS_NtCreateFile, 0, 0,
      { PTR(A_OUT, 8, 8, 0, "file"), VALUE("access"), OBJATTR(0, "attributes"), PTR(A_OUT, 16, 8, 0, "iosb"),
        PTR(A_IN, 8, 8, 1, "allocation_size"), VALUE("file_attributes"), VALUE("share_access"),
        VALUE("disposition"), VALUE("options"), VALUE("ea_buffer"), VALUE("ea_length") } },
    { "NtOpenFile", SYS_NtOpenFile, 0, 0,
      { PTR(A_OUT, 8, 8, 0, "file"), VALUE("access"), OBJATTR(0, "attributes"), PTR(A_OUT, 16, 8, 0, "iosb"),
        VALUE("share_access"), VALUE("options") } },
    { "NtReadFile", SYS_NtReadFile, 0, STATUS_INSUFFICIENT_RESOURCES,
      { FILE_ARG("file"), EVENT(1, "event"), VALUE("apc_routine"), VALUE("apc_context"),
        PTR(A_OUT, 16, 8, 0, "iosb"), BUF(A_OUT, 6, 1, 0, "buffer"), LENGTH32("length"),
        PTR(A_IN, 8, 8, 1, "byte_offset"), PTR(A_IN, 4, 4, 1, "key") } },
    { "NtWriteFile", SYS_NtWriteFile, 0, STATUS_INSUFFICIENT_RESOURCES,
      { FILE_ARG("file"), EVENT(1, "event"), VALUE("apc_routine"), VALUE("apc_context"),
        PTR(A_OUT, 16, 8, 0, "iosb"), BUF(A_IN, 6, 1, 0, "buffer"), LENGTH32("length"),
        PTR(A_IN, 8, 8, 1, "byte_offset"), PTR(A_IN, 4, 4, 1, "key") } },
    { "NtDeviceIoControlFile", SYS_NtDeviceIoControlFile, 0, STATUS_INSUFFICIENT_RESOURCES,
      { FILE_ARG("file"), EVENT(1, "event"), VALUE("apc_routine"), VALUE("apc_context"),
        PTR(A_OUT, 16, 8, 0, "iosb"), VALUE("code"), BUF(A_IN, 7, 1, 1, "input"), LENGTH32("input_length"),
        BUF(A_OUT, 9, 1, 1, "output"), LENGTH32("output_length") } },
    { "NtFlushBuffersFile", SYS_NtFlushBuffersFile, 0, 0,
      { FILE_ARG("file"), PTR(A_OUT, 16, 8, 0, "iosb"), NONE, NONE, NONE, NONE } },
    { "NtCancelIoFile", SYS_NtCancelIoFile, 0, 0,
      { FILE_ARG("file"), PTR(A_OUT, 16, 8, 0, "iosb"), NONE, NONE, NONE, NONE } },
    { "NtCreateIoCompletion", SYS_NtCreateIoCompletion, 0, 0,
      { PTR(A_OUT, 8, 8, 0, "port"), VALUE("access"), OBJATTR(1, "attributes"), VALUE("concurrency"), NONE,
        NONE } },
    /* The information is read as one FILE_COMPLETION_INFORMATION_T (16
     * bytes), whatever the length says beyond "at least that". */
    { "NtSetInformationFile", SYS_NtSetInformationFile, 0, 0,
      { FILE_ARG("file"), PTR(A_OUT, 16, 8, 0, "iosb"), PTR(A_IN, 16, 8, 0, "information"), VALUE("length"),
        VALUE("class"), NONE } },
    { "NtRemoveIoCompletion", SYS_NtRemoveIoCompletion, 0, 0,
      { PORT_ARG("port"), PTR(A_OUT, 8, 8, 0, "key"), PTR(A_OUT, 8, 8, 0, "apc_context"),
        PTR(A_OUT, 16, 8, 0, "iosb"), PTR(A_IN, 8, 8, 1, "timeout"), NONE } },
    /* The templates ask for one entry (32 bytes); counts are values. */
    { "NtRemoveIoCompletionEx", SYS_NtRemoveIoCompletionEx, 0, 0,
      { PORT_ARG("port"), PTR(A_OUT, 32, 8, 0, "entries"), VALUE("count"), PTR(A_OUT, 4, 4, 0, "removed"),
        PTR(A_IN, 8, 8, 1, "timeout"), VALUE("alertable") } },
    { "NtSetIoCompletion", SYS_NtSetIoCompletion, 0, 0,
      { PORT_ARG("port"), VALUE("key"), VALUE("apc_context"), VALUE("status"), VALUE("information"), NONE } },
    /* The lengths must be exactly the structures': values, not buffer lengths. */
    { "NtCreateIoRing", SYS_NtCreateIoRing, 0, 0,
      { PTR(A_OUT, 8, 8, 0, "ring"), VALUE("params_length"), PTR(A_IN, sizeof(IORING_CREATE_T), 4, 0, "params"),
        VALUE("info_length"), PTR(A_OUT, sizeof(IORING_INFO_T), 8, 0, "info"), NONE } },
    { "NtSubmitIoRing", SYS_NtSubmitIoRing, 0, 0,
      { RING_ARG("ring"), VALUE("flags"), VALUE("wait_operations"), PTR(A_IN, 8, 8, 1, "timeout"), NONE, NONE } },
    /* The buffer is read as one uint32_t (a profiler command), whatever
     * the length says beyond "at least that". */
    { "NtSetSystemInformation", SYS_NtSetSystemInformation, 0, 0,
      { VALUE("class"), PTR(A_IN, 4, 4, 0, "buffer"), VALUE("length"), NONE, NONE, NONE } },
};
#define SERVICE_COUNT (sizeof(services) / sizeof(services[0]))
_Static_assert(sizeof(services) / sizeof(services[0]) == SYS_COUNT,
               "kernel/ntsyscall.h has a new system service: describe it in user/tests/svctable.h");

#undef NONE
#undef VALUE
#undef HANDLE_ARG
#undef ANY_HANDLE
#undef EVENT
#undef FILE_ARG
#undef PORT_ARG
#undef RING_ARG
#undef LENGTH
#undef LENGTH32
#undef OBJATTR
#undef PTR
#undef BUF
#undef STRING

static inline int arg_is_pointer(const ARGDESC *d)
{
    return d->kind == A_IN || d->kind == A_OUT || d->kind == A_INOUT || d->kind == A_STRING || d->kind == A_OBJATTR;
}

static inline int arg_is_handle(const ARGDESC *d)
{
    return d->kind == A_HANDLE || d->kind == A_ANY_HANDLE || d->kind == A_EVENT || d->kind == A_FILE ||
           d->kind == A_PORT || d->kind == A_RING;
}

/* How many arguments the service takes (the last one that is not NONE). */
static inline int arg_count(const SERVICE *svc)
{
    int n = 0;
    for (int i = 0; i < MAX_ARGS; i++)
        if (svc->arg[i].kind != A_NONE)
            n = i + 1;
    return n;
}

static inline int arg_is_written(const ARGDESC *d)
{
    return d->kind == A_OUT || d->kind == A_INOUT;
}
