/*
 * One stub per system call in kernel/ntsyscall.h. Each is a real function
 * (easy to break on in GDB) around one SYSCALL instruction:
 * RAX = number, arguments in RDI, RSI, RDX, R10, R8, R9, NTSTATUS in RAX,
 * RCX (return RIP) and R11 (RFLAGS) clobbered by the instruction itself.
 */
#include <nt.h>

_Static_assert(SYS_COUNT == 16, "kernel/ntsyscall.h has a new system call: add its stub here and in nt.h");

static inline uint64_t sys6(uint64_t n, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                            uint64_t a6)
{
    register uint64_t r10 __asm__("r10") = a4;
    register uint64_t r8 __asm__("r8") = a5;
    register uint64_t r9 __asm__("r9") = a6;
    uint64_t ret;
    __asm__ volatile("syscall"
                     : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8), "+r"(r9)
                     : "a"(n)
                     : "rcx", "r11", "memory", "cc");
    return ret;
}

#define U(x) ((uint64_t)(uintptr_t)(x))
#define S(r) ((NTSTATUS)(uint32_t)(r))

uint64_t NtSystemCall6(uint64_t number, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                       uint64_t a6)
{
    return sys6(number, a1, a2, a3, a4, a5, a6);
}

NTSTATUS NtTerminateProcess(HANDLE process, NTSTATUS status)
{
    return S(sys6(SYS_NtTerminateProcess, process, (uint32_t)status, 0, 0, 0, 0));
}

void NtTerminateCurrentProcess(NTSTATUS status)
{
    for (;;)
        sys6(SYS_NtTerminateProcess, NtCurrentProcess(), (uint32_t)status, 0, 0, 0, 0);
}

NTSTATUS NtDisplayString(const char *text, size_t length)
{
    return S(sys6(SYS_NtDisplayString, U(text), length, 0, 0, 0, 0));
}

NTSTATUS NtAllocateVirtualMemory(HANDLE process, void **base, uint64_t zero_bits, size_t *size, uint32_t type,
                                 uint32_t protect)
{
    return S(sys6(SYS_NtAllocateVirtualMemory, process, U(base), zero_bits, U(size), type, protect));
}

NTSTATUS NtFreeVirtualMemory(HANDLE process, void **base, size_t *size, uint32_t type)
{
    return S(sys6(SYS_NtFreeVirtualMemory, process, U(base), U(size), type, 0, 0));
}

NTSTATUS NtProtectVirtualMemory(HANDLE process, void **base, size_t *size, uint32_t new_protect,
                                uint32_t *old_protect)
{
    return S(sys6(SYS_NtProtectVirtualMemory, process, U(base), U(size), new_protect, U(old_protect), 0));
}

NTSTATUS NtQueryVirtualMemory(HANDLE process, const void *address, uint32_t info_class, void *buffer, size_t length,
                              size_t *return_length)
{
    return S(sys6(SYS_NtQueryVirtualMemory, process, U(address), info_class, U(buffer), length, U(return_length)));
}

NTSTATUS NtCreateProcess(const char *image, const char *command_line, HANDLE *process)
{
    return S(sys6(SYS_NtCreateProcess, U(image), U(command_line), U(process), 0, 0, 0));
}

NTSTATUS NtWaitForSingleObject(HANDLE handle, uint8_t alertable, int64_t *timeout)
{
    return S(sys6(SYS_NtWaitForSingleObject, handle, alertable, U(timeout), 0, 0, 0));
}

NTSTATUS NtClose(HANDLE handle)
{
    return S(sys6(SYS_NtClose, handle, 0, 0, 0, 0, 0));
}

NTSTATUS NtQueryInformationProcess(HANDLE process, uint32_t info_class, void *buffer, size_t length,
                                   size_t *return_length)
{
    return S(sys6(SYS_NtQueryInformationProcess, process, info_class, U(buffer), length, U(return_length), 0));
}

NTSTATUS NtDelayExecution(uint8_t alertable, int64_t *interval)
{
    return S(sys6(SYS_NtDelayExecution, alertable, U(interval), 0, 0, 0, 0));
}

NTSTATUS NtReadConsole(char *buffer, size_t length, size_t *read)
{
    return S(sys6(SYS_NtReadConsole, U(buffer), length, U(read), 0, 0, 0));
}

NTSTATUS NtQuerySystemInformation(uint32_t info_class, void *buffer, size_t length, size_t *return_length)
{
    return S(sys6(SYS_NtQuerySystemInformation, info_class, U(buffer), length, U(return_length), 0, 0));
}

NTSTATUS NtYieldExecution(void)
{
    return S(sys6(SYS_NtYieldExecution, 0, 0, 0, 0, 0, 0));
}

NTSTATUS NtGetCommandLine(char *buffer, size_t length, size_t *needed)
{
    return S(sys6(SYS_NtGetCommandLine, U(buffer), length, U(needed), 0, 0, 0));
}

NTSTATUS NtSetInformationProcess(HANDLE process, uint32_t info_class, void *buffer, size_t length)
{
    return S(sys6(SYS_NtSetInformationProcess, process, info_class, U(buffer), length, 0, 0));
}
