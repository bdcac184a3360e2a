/*
 * Small helpers over the process system calls, and status names.
 */
#include <nt.h>
#include <string.h>

NTSTATUS SleepMs(uint64_t ms)
{
    int64_t interval = -(int64_t)(ms * 10000);   /* 100 ns units, negative = relative */
    return NtDelayExecution(0, &interval);
}

NTSTATUS ProcessExitStatus(HANDLE process, NTSTATUS *exit_status)
{
    PROCESS_BASIC_INFORMATION_T info;
    size_t len = 0;
    memset(&info, 0, sizeof(info));
    NTSTATUS st = NtQueryInformationProcess(process, ProcessBasicInformation, &info, sizeof(info), &len);
    if (NT_SUCCESS(st))
        *exit_status = info.ExitStatus;
    return st;
}

uint64_t CurrentProcessId(void)
{
    PROCESS_BASIC_INFORMATION_T info;
    size_t len = 0;
    memset(&info, 0, sizeof(info));
    if (!NT_SUCCESS(NtQueryInformationProcess(NtCurrentProcess(), ProcessBasicInformation, &info, sizeof(info),
                                              &len)))
        return 0;
    return info.UniqueProcessId;
}

NTSTATUS RunProcess(const char *image, const char *command_line, uint64_t timeout_ms, NTSTATUS *exit_status)
{
    HANDLE h = 0;
    NTSTATUS st = NtCreateProcess(image, command_line, &h);
    if (!NT_SUCCESS(st))
        return st;
    int64_t timeout = -(int64_t)(timeout_ms * 10000);
    st = NtWaitForSingleObject(h, 0, timeout_ms ? &timeout : NULL);
    if (st == STATUS_TIMEOUT) {
        NtTerminateProcess(h, STATUS_TIMEOUT);
        int64_t grace = -(int64_t)(5000 * 10000LL);
        NtWaitForSingleObject(h, 0, &grace);
        NtClose(h);
        return STATUS_TIMEOUT;
    }
    if (NT_SUCCESS(st))
        st = ProcessExitStatus(h, exit_status);
    NtClose(h);
    return st;
}

static const struct {
    NTSTATUS status;
    const char *name;
} names[] = {
    { STATUS_SUCCESS, "STATUS_SUCCESS" },
    { STATUS_TIMEOUT, "STATUS_TIMEOUT" },
    { STATUS_PENDING, "STATUS_PENDING" },
    { STATUS_GUARD_PAGE_VIOLATION, "STATUS_GUARD_PAGE_VIOLATION" },
    { STATUS_DATATYPE_MISALIGNMENT, "STATUS_DATATYPE_MISALIGNMENT" },
    { STATUS_BREAKPOINT, "STATUS_BREAKPOINT" },
    { STATUS_SINGLE_STEP, "STATUS_SINGLE_STEP" },
    { STATUS_BUFFER_OVERFLOW, "STATUS_BUFFER_OVERFLOW" },
    { STATUS_UNSUCCESSFUL, "STATUS_UNSUCCESSFUL" },
    { STATUS_NOT_IMPLEMENTED, "STATUS_NOT_IMPLEMENTED" },
    { STATUS_INVALID_INFO_CLASS, "STATUS_INVALID_INFO_CLASS" },
    { STATUS_INFO_LENGTH_MISMATCH, "STATUS_INFO_LENGTH_MISMATCH" },
    { STATUS_ACCESS_VIOLATION, "STATUS_ACCESS_VIOLATION" },
    { STATUS_INVALID_HANDLE, "STATUS_INVALID_HANDLE" },
    { STATUS_INVALID_PARAMETER, "STATUS_INVALID_PARAMETER" },
    { STATUS_NO_MEMORY, "STATUS_NO_MEMORY" },
    { STATUS_CONFLICTING_ADDRESSES, "STATUS_CONFLICTING_ADDRESSES" },
    { STATUS_NOT_MAPPED_VIEW, "STATUS_NOT_MAPPED_VIEW" },
    { STATUS_UNABLE_TO_FREE_VM, "STATUS_UNABLE_TO_FREE_VM" },
    { STATUS_INVALID_SYSTEM_SERVICE, "STATUS_INVALID_SYSTEM_SERVICE" },
    { STATUS_ILLEGAL_INSTRUCTION, "STATUS_ILLEGAL_INSTRUCTION" },
    { STATUS_BUFFER_TOO_SMALL, "STATUS_BUFFER_TOO_SMALL" },
    { STATUS_NOT_COMMITTED, "STATUS_NOT_COMMITTED" },
    { STATUS_OBJECT_NAME_INVALID, "STATUS_OBJECT_NAME_INVALID" },
    { STATUS_OBJECT_NAME_COLLISION, "STATUS_OBJECT_NAME_COLLISION" },
    { STATUS_OBJECT_PATH_NOT_FOUND, "STATUS_OBJECT_PATH_NOT_FOUND" },
    { STATUS_OBJECT_TYPE_MISMATCH, "STATUS_OBJECT_TYPE_MISMATCH" },
    { STATUS_ACCESS_DENIED, "STATUS_ACCESS_DENIED" },
    { STATUS_OBJECT_NAME_EXISTS, "STATUS_OBJECT_NAME_EXISTS" },
    { STATUS_PRIVILEGE_NOT_HELD, "STATUS_PRIVILEGE_NOT_HELD" },
    { STATUS_OBJECT_NAME_NOT_FOUND, "STATUS_OBJECT_NAME_NOT_FOUND" },
    { STATUS_INVALID_PAGE_PROTECTION, "STATUS_INVALID_PAGE_PROTECTION" },
    { STATUS_ARRAY_BOUNDS_EXCEEDED, "STATUS_ARRAY_BOUNDS_EXCEEDED" },
    { STATUS_FLOAT_DIVIDE_BY_ZERO, "STATUS_FLOAT_DIVIDE_BY_ZERO" },
    { STATUS_INTEGER_DIVIDE_BY_ZERO, "STATUS_INTEGER_DIVIDE_BY_ZERO" },
    { STATUS_INTEGER_OVERFLOW, "STATUS_INTEGER_OVERFLOW" },
    { STATUS_PRIVILEGED_INSTRUCTION, "STATUS_PRIVILEGED_INSTRUCTION" },
    { STATUS_INSUFFICIENT_RESOURCES, "STATUS_INSUFFICIENT_RESOURCES" },
    { STATUS_FREE_VM_NOT_AT_BASE, "STATUS_FREE_VM_NOT_AT_BASE" },
    { STATUS_MEMORY_NOT_ALLOCATED, "STATUS_MEMORY_NOT_ALLOCATED" },
    { STATUS_INVALID_PARAMETER_1, "STATUS_INVALID_PARAMETER_1" },
    { STATUS_INVALID_PARAMETER_2, "STATUS_INVALID_PARAMETER_2" },
    { STATUS_INVALID_PARAMETER_3, "STATUS_INVALID_PARAMETER_3" },
    { STATUS_INVALID_PARAMETER_4, "STATUS_INVALID_PARAMETER_4" },
    { STATUS_INVALID_PARAMETER_5, "STATUS_INVALID_PARAMETER_5" },
    { STATUS_INVALID_PARAMETER_6, "STATUS_INVALID_PARAMETER_6" },
    { STATUS_STACK_OVERFLOW, "STATUS_STACK_OVERFLOW" },
    { STATUS_PROCESS_IS_TERMINATING, "STATUS_PROCESS_IS_TERMINATING" },
    { STATUS_COMMITMENT_LIMIT, "STATUS_COMMITMENT_LIMIT" },
    { STATUS_STACK_BUFFER_OVERRUN, "STATUS_STACK_BUFFER_OVERRUN" },
};

const char *NtStatusName(NTSTATUS status)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].status == status)
            return names[i].name;
    return NULL;
}
