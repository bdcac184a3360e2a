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
 * NULL is allowed.
 */
#pragma once
#include <nt.h>

typedef enum {
    A_NONE,     /* unused register */
    A_VALUE,    /* a flag, class, status or count: checked by value */
    A_HANDLE,   /* a process handle (or NtCurrentProcess()) */
    A_IN,       /* the service reads SIZE bytes there */
    A_OUT,      /* the service writes there */
    A_INOUT,    /* the service reads, then writes back */
    A_STRING,   /* a NUL-terminated string the service reads byte by byte */
    A_LENGTH,   /* the length of another argument's buffer */
} ARGKIND;

typedef struct {
    ARGKIND kind;
    uint8_t align;       /* pointers: the alignment NT's probe checks */
    uint8_t optional;    /* pointers: NULL is allowed */
    int8_t len_arg;      /* pointers: index of the length argument, -1 = fixed SIZE */
    uint32_t size;       /* pointers with a fixed size: how many bytes */
    const char *name;
} ARGDESC;

enum {
    SVC_NEVER_VALID = 1,   /* never call with all arguments valid (it ends us, or waits for input) */
    /* TEMPORARY, while the I/O manager is being built: the matrix and the
     * fuzzer do not handle this service yet (more than six arguments,
     * file and event handles, OBJECT_ATTRIBUTES). Removed when they do. */
    SVC_MATRIX_TODO = 2,
};

typedef struct {
    const char *name;
    uint32_t number;
    uint32_t flags;
    /* What a length past the end of user space (or one that wraps) gets,
     * when it is not STATUS_ACCESS_VIOLATION from the probe. */
    NTSTATUS length_past_user_space;
    ARGDESC arg[11];   /* 7.. are passed on the stack (kernel/ntsyscall.h) */
} SERVICE;

#define NONE { A_NONE, 0, 0, -1, 0, 0 }
#define VALUE(n) { A_VALUE, 0, 0, -1, 0, n }
#define HANDLE_ARG(n) { A_HANDLE, 0, 0, -1, 0, n }
#define LENGTH(n) { A_LENGTH, 0, 0, -1, 0, n }
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
      { HANDLE_ARG("handle"), VALUE("alertable"), PTR(A_IN, 8, 8, 1, "timeout"), NONE, NONE, NONE } },
    { "NtClose", SYS_NtClose, SVC_NEVER_VALID, 0, { HANDLE_ARG("handle"), NONE, NONE, NONE, NONE, NONE } },
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
    { "NtCreateEvent", SYS_NtCreateEvent, SVC_MATRIX_TODO, 0,
      { PTR(A_OUT, 8, 8, 0, "event"), VALUE("access"), PTR(A_IN, 48, 8, 1, "attributes"), VALUE("type"),
        VALUE("initial_state"), NONE } },
    { "NtOpenEvent", SYS_NtOpenEvent, SVC_MATRIX_TODO, 0,
      { PTR(A_OUT, 8, 8, 0, "event"), VALUE("access"), PTR(A_IN, 48, 8, 0, "attributes"), NONE, NONE, NONE } },
    { "NtSetEvent", SYS_NtSetEvent, SVC_MATRIX_TODO, 0,
      { HANDLE_ARG("event"), PTR(A_OUT, 4, 4, 1, "previous_state"), NONE, NONE, NONE, NONE } },
    { "NtResetEvent", SYS_NtResetEvent, SVC_MATRIX_TODO, 0,
      { HANDLE_ARG("event"), PTR(A_OUT, 4, 4, 1, "previous_state"), NONE, NONE, NONE, NONE } },
    { "NtCreateFile", SYS_NtCreateFile, SVC_MATRIX_TODO, 0,
      { PTR(A_OUT, 8, 8, 0, "file"), VALUE("access"), PTR(A_IN, 48, 8, 0, "attributes"), PTR(A_OUT, 16, 8, 0, "iosb"),
        PTR(A_IN, 8, 8, 1, "allocation_size"), VALUE("file_attributes"), VALUE("share_access"),
        VALUE("disposition"), VALUE("options"), PTR(A_IN, 1, 1, 1, "ea_buffer"), VALUE("ea_length") } },
    { "NtOpenFile", SYS_NtOpenFile, SVC_MATRIX_TODO, 0,
      { PTR(A_OUT, 8, 8, 0, "file"), VALUE("access"), PTR(A_IN, 48, 8, 0, "attributes"), PTR(A_OUT, 16, 8, 0, "iosb"),
        VALUE("share_access"), VALUE("options") } },
    { "NtReadFile", SYS_NtReadFile, SVC_MATRIX_TODO, 0,
      { HANDLE_ARG("file"), HANDLE_ARG("event"), VALUE("apc_routine"), VALUE("apc_context"),
        PTR(A_OUT, 16, 8, 0, "iosb"), BUF(A_OUT, 6, 1, 0, "buffer"), LENGTH("length"),
        PTR(A_IN, 8, 8, 1, "byte_offset"), PTR(A_IN, 4, 4, 1, "key") } },
    { "NtWriteFile", SYS_NtWriteFile, SVC_MATRIX_TODO, 0,
      { HANDLE_ARG("file"), HANDLE_ARG("event"), VALUE("apc_routine"), VALUE("apc_context"),
        PTR(A_OUT, 16, 8, 0, "iosb"), BUF(A_IN, 6, 1, 0, "buffer"), LENGTH("length"),
        PTR(A_IN, 8, 8, 1, "byte_offset"), PTR(A_IN, 4, 4, 1, "key") } },
    { "NtDeviceIoControlFile", SYS_NtDeviceIoControlFile, SVC_MATRIX_TODO, 0,
      { HANDLE_ARG("file"), HANDLE_ARG("event"), VALUE("apc_routine"), VALUE("apc_context"),
        PTR(A_OUT, 16, 8, 0, "iosb"), VALUE("code"), BUF(A_IN, 7, 1, 1, "input"), LENGTH("input_length"),
        BUF(A_OUT, 9, 1, 1, "output"), LENGTH("output_length") } },
    { "NtFlushBuffersFile", SYS_NtFlushBuffersFile, SVC_MATRIX_TODO, 0,
      { HANDLE_ARG("file"), PTR(A_OUT, 16, 8, 0, "iosb"), NONE, NONE, NONE, NONE } },
    { "NtCancelIoFile", SYS_NtCancelIoFile, SVC_MATRIX_TODO, 0,
      { HANDLE_ARG("file"), PTR(A_OUT, 16, 8, 0, "iosb"), NONE, NONE, NONE, NONE } },
};
#define SERVICE_COUNT (sizeof(services) / sizeof(services[0]))
_Static_assert(sizeof(services) / sizeof(services[0]) == SYS_COUNT,
               "kernel/ntsyscall.h has a new system service: describe it in user/tests/svctable.h");

#undef NONE
#undef VALUE
#undef HANDLE_ARG
#undef LENGTH
#undef PTR
#undef BUF
#undef STRING

static inline int arg_is_pointer(const ARGDESC *d)
{
    return d->kind == A_IN || d->kind == A_OUT || d->kind == A_INOUT || d->kind == A_STRING;
}

static inline int arg_is_written(const ARGDESC *d)
{
    return d->kind == A_OUT || d->kind == A_INOUT;
}
