/*
 * One stub per system call in kernel/ntsyscall.h. Each is a real function
 * (easy to break on in GDB) around one SYSCALL instruction:
 * RAX = number, arguments in RDI, RSI, RDX, R10, R8, R9, NTSTATUS in RAX,
 * RCX (return RIP) and R11 (RFLAGS) clobbered by the instruction itself.
 */
#include <nt.h>

_Static_assert(SYS_COUNT == 35, "kernel/ntsyscall.h has a new system call: add its stub here and in nt.h");

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

NTSTATUS NtSetSystemInformation(uint32_t info_class, void *buffer, size_t length)
{
    return S(sys6(SYS_NtSetSystemInformation, info_class, U(buffer), length, 0, 0, 0));
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

NTSTATUS NtCreateEvent(HANDLE *event, uint32_t access, OBJECT_ATTRIBUTES_T *attributes, uint32_t type,
                       uint8_t initial_state)
{
    return S(sys6(SYS_NtCreateEvent, U(event), access, U(attributes), type, initial_state, 0));
}

NTSTATUS NtOpenEvent(HANDLE *event, uint32_t access, OBJECT_ATTRIBUTES_T *attributes)
{
    return S(sys6(SYS_NtOpenEvent, U(event), access, U(attributes), 0, 0, 0));
}

NTSTATUS NtSetEvent(HANDLE event, int32_t *previous_state)
{
    return S(sys6(SYS_NtSetEvent, event, U(previous_state), 0, 0, 0, 0));
}

NTSTATUS NtResetEvent(HANDLE event, int32_t *previous_state)
{
    return S(sys6(SYS_NtResetEvent, event, U(previous_state), 0, 0, 0, 0));
}

NTSTATUS NtOpenFile(HANDLE *file, uint32_t access, OBJECT_ATTRIBUTES_T *attributes, IO_STATUS_BLOCK_T *iosb,
                    uint32_t share_access, uint32_t options)
{
    return S(sys6(SYS_NtOpenFile, U(file), access, U(attributes), U(iosb), share_access, options));
}

NTSTATUS NtFlushBuffersFile(HANDLE file, IO_STATUS_BLOCK_T *iosb)
{
    return S(sys6(SYS_NtFlushBuffersFile, file, U(iosb), 0, 0, 0, 0));
}

NTSTATUS NtCancelIoFile(HANDLE file, IO_STATUS_BLOCK_T *iosb)
{
    return S(sys6(SYS_NtCancelIoFile, file, U(iosb), 0, 0, 0, 0));
}

NTSTATUS NtCreateIoCompletion(HANDLE *port, uint32_t access, OBJECT_ATTRIBUTES_T *attributes, uint32_t concurrency)
{
    return S(sys6(SYS_NtCreateIoCompletion, U(port), access, U(attributes), concurrency, 0, 0));
}

NTSTATUS NtSetInformationFile(HANDLE file, IO_STATUS_BLOCK_T *iosb, void *information, uint32_t length,
                              uint32_t info_class)
{
    return S(sys6(SYS_NtSetInformationFile, file, U(iosb), U(information), length, info_class, 0));
}

NTSTATUS NtRemoveIoCompletion(HANDLE port, void **key, void **apc_context, IO_STATUS_BLOCK_T *iosb,
                              int64_t *timeout)
{
    return S(sys6(SYS_NtRemoveIoCompletion, port, U(key), U(apc_context), U(iosb), U(timeout), 0));
}

NTSTATUS NtRemoveIoCompletionEx(HANDLE port, FILE_IO_COMPLETION_INFORMATION_T *entries, uint32_t count,
                                uint32_t *removed, int64_t *timeout, uint8_t alertable)
{
    return S(sys6(SYS_NtRemoveIoCompletionEx, port, U(entries), count, U(removed), U(timeout), alertable));
}

NTSTATUS NtSetIoCompletion(HANDLE port, void *key, void *apc_context, NTSTATUS status, uint64_t information)
{
    return S(sys6(SYS_NtSetIoCompletion, port, U(key), U(apc_context), (uint32_t)status, information, 0));
}

NTSTATUS NtCreateIoRing(HANDLE *ring, uint32_t params_length, const IORING_CREATE_T *params, uint32_t info_length,
                        IORING_INFO_T *info)
{
    return S(sys6(SYS_NtCreateIoRing, U(ring), params_length, U(params), info_length, U(info), 0));
}

NTSTATUS NtSubmitIoRing(HANDLE ring, uint32_t flags, uint32_t wait_operations, int64_t *timeout)
{
    return S(sys6(SYS_NtSubmitIoRing, ring, flags, wait_operations, U(timeout), 0, 0));
}

/* The services of more than six arguments. A C body cannot promise where
 * the compiler leaves the stack, so these are naked: the caller's CALL
 * put arguments 7 and on at RSP+8.. and the return address at RSP, which
 * is exactly where the kernel reads them (kernel/ntsyscall.h). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"   /* a naked body uses its arguments in registers */
#define STACK_ARGS_STUB(number)                                                 \
    __asm__ volatile("mov %%rcx, %%r10\n\tmov %0, %%eax\n\tsyscall\n\tret" \
                     : : "i"(number))

__attribute__((naked)) NTSTATUS NtCreateFile(HANDLE *file, uint32_t access, OBJECT_ATTRIBUTES_T *attributes,
                                             IO_STATUS_BLOCK_T *iosb, int64_t *allocation_size,
                                             uint32_t file_attributes, uint32_t share_access, uint32_t disposition,
                                             uint32_t options, void *ea_buffer, uint32_t ea_length)
{
    STACK_ARGS_STUB(SYS_NtCreateFile);
}

__attribute__((naked)) NTSTATUS NtReadFile(HANDLE file, HANDLE event, void *apc_routine, void *apc_context,
                                           IO_STATUS_BLOCK_T *iosb, void *buffer, uint32_t length,
                                           int64_t *byte_offset, uint32_t *key)
{
    STACK_ARGS_STUB(SYS_NtReadFile);
}

__attribute__((naked)) NTSTATUS NtWriteFile(HANDLE file, HANDLE event, void *apc_routine, void *apc_context,
                                            IO_STATUS_BLOCK_T *iosb, const void *buffer, uint32_t length,
                                            int64_t *byte_offset, uint32_t *key)
{
    STACK_ARGS_STUB(SYS_NtWriteFile);
}

__attribute__((naked)) NTSTATUS NtDeviceIoControlFile(HANDLE file, HANDLE event, void *apc_routine,
                                                      void *apc_context, IO_STATUS_BLOCK_T *iosb, uint32_t code,
                                                      void *input, uint32_t input_length, void *output,
                                                      uint32_t output_length)
{
    STACK_ARGS_STUB(SYS_NtDeviceIoControlFile);
}

#pragma GCC diagnostic pop

/* Any service with up to 12 arguments from an array: ARGS[6..11] go on
 * the stack where a stub's caller would have put them. For the bad-input
 * matrix and the fuzzer. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
__attribute__((naked)) uint64_t NtSystemCallN(uint64_t number, const uint64_t *args)
{
    __asm__ volatile("push %%rbx\n\t"
                     "mov %%rsp, %%rbx\n\t"
                     "sub $56, %%rsp\n\t"          /* a return-address slot and six arguments */
                     "mov 48(%%rsi), %%rax\n\tmov %%rax, 8(%%rsp)\n\t"
                     "mov 56(%%rsi), %%rax\n\tmov %%rax, 16(%%rsp)\n\t"
                     "mov 64(%%rsi), %%rax\n\tmov %%rax, 24(%%rsp)\n\t"
                     "mov 72(%%rsi), %%rax\n\tmov %%rax, 32(%%rsp)\n\t"
                     "mov 80(%%rsi), %%rax\n\tmov %%rax, 40(%%rsp)\n\t"
                     "mov 88(%%rsi), %%rax\n\tmov %%rax, 48(%%rsp)\n\t"
                     "mov %%rdi, %%rax\n\t"
                     "mov (%%rsi), %%rdi\n\t"
                     "mov 16(%%rsi), %%rdx\n\t"
                     "mov 24(%%rsi), %%r10\n\t"
                     "mov 32(%%rsi), %%r8\n\t"
                     "mov 40(%%rsi), %%r9\n\t"
                     "mov 8(%%rsi), %%rsi\n\t"
                     "syscall\n\t"
                     "mov %%rbx, %%rsp\n\t"
                     "pop %%rbx\n\t"
                     "ret" : :);
}
#pragma GCC diagnostic pop
