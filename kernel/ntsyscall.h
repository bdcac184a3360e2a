/*
 * The system-call interface between user mode (user/) and the kernel:
 * numbers, argument conventions and shared structures. Included by both
 * sides, so it uses only fixed-size types.
 *
 * Calling convention (mdlos): SYSCALL with RAX = the number, arguments in
 * RDI, RSI, RDX, R10, R8, R9 (R10 instead of RCX, which SYSCALL overwrites
 * with the return address; R11 receives RFLAGS). The NTSTATUS comes back
 * in RAX; all other registers but RCX and R11 are preserved. Every pointer
 * argument is probed and captured by the kernel: a bad one returns
 * STATUS_ACCESS_VIOLATION (STATUS_GUARD_PAGE_VIOLATION for a guard page,
 * STATUS_DATATYPE_MISALIGNMENT when not aligned for its type), never a
 * crash. user/tests/svctable.h describes each service's arguments for the
 * bad-input matrix and the fuzzer: a new service goes there too.
 */
#pragma once
#include <stdint.h>

#define NtCurrentProcess() ((HANDLE_T)-1)
typedef uint64_t HANDLE_T;

enum {
    SYS_NtTerminateProcess = 0,        /* (HANDLE process, NTSTATUS status) */
    SYS_NtDisplayString,               /* (const char *text, size_t length): write to the console */
    SYS_NtAllocateVirtualMemory,       /* (HANDLE, void **base, uint64_t zero_bits, size_t *size, uint32_t type, uint32_t protect) */
    SYS_NtFreeVirtualMemory,           /* (HANDLE, void **base, size_t *size, uint32_t type) */
    SYS_NtProtectVirtualMemory,        /* (HANDLE, void **base, size_t *size, uint32_t new_protect, uint32_t *old_protect) */
    SYS_NtQueryVirtualMemory,          /* (HANDLE, void *address, uint32_t class, void *buffer, size_t length, size_t *return_length) */
    SYS_NtCreateProcess,               /* (const char *image, const char *command_line, HANDLE *process): image = a GRUB module name */
    SYS_NtWaitForSingleObject,         /* (HANDLE, uint8_t alertable, int64_t *timeout): NULL = forever */
    SYS_NtClose,                       /* (HANDLE) */
    SYS_NtQueryInformationProcess,     /* (HANDLE, uint32_t class, void *buffer, size_t length, size_t *return_length) */
    SYS_NtDelayExecution,              /* (uint8_t alertable, int64_t *interval): 100 ns units, negative = relative */
    SYS_NtReadConsole,                 /* (char *buffer, size_t length, size_t *read): one line from the serial console */
    SYS_NtQuerySystemInformation,      /* (uint32_t class, void *buffer, size_t length, size_t *return_length) */
    SYS_NtYieldExecution,              /* () */
    SYS_NtGetCommandLine,              /* (char *buffer, size_t length, size_t *needed) */
    SYS_NtSetInformationProcess,       /* (HANDLE, uint32_t class, void *buffer, size_t length) */
    SYS_COUNT
};

/* NtAllocateVirtualMemory / NtFreeVirtualMemory types (NT's values) */
#define MEM_COMMIT   0x00001000
#define MEM_RESERVE  0x00002000
#define MEM_DECOMMIT 0x00004000
#define MEM_RELEASE  0x00008000
#define MEM_FREE     0x00010000
#define MEM_PRIVATE  0x00020000
#define MEM_MAPPED   0x00040000
#define MEM_IMAGE    0x01000000

/* Page protections (NT's values). An enum, not #defines, so that the values
 * reach the kernel's DWARF (scripts/gdb/mdlos reads them there). */
enum {
    PAGE_NOACCESS          = 0x01,
    PAGE_READONLY          = 0x02,
    PAGE_READWRITE         = 0x04,
    PAGE_WRITECOPY         = 0x08,
    PAGE_EXECUTE           = 0x10,
    PAGE_EXECUTE_READ      = 0x20,
    PAGE_EXECUTE_READWRITE = 0x40,
    PAGE_EXECUTE_WRITECOPY = 0x80,
    PAGE_GUARD             = 0x100,
    PAGE_NOCACHE           = 0x200,
};

/* NtQueryVirtualMemory class 0 */
#define MemoryBasicInformation 0
typedef struct {
    uint64_t BaseAddress;
    uint64_t AllocationBase;
    uint32_t AllocationProtect;
    uint32_t Reserved;
    uint64_t RegionSize;
    uint32_t State;      /* MEM_COMMIT, MEM_RESERVE, MEM_FREE */
    uint32_t Protect;
    uint32_t Type;       /* MEM_PRIVATE, MEM_IMAGE, MEM_MAPPED */
    uint32_t Reserved2;
} MEMORY_BASIC_INFORMATION_T;

/* NtQueryInformationProcess classes */
#define ProcessBasicInformation 0
typedef struct {
    int32_t ExitStatus;          /* STATUS_PENDING (0x103) while running */
    uint32_t Reserved;
    uint64_t UniqueProcessId;
    uint64_t ParentProcessId;
} PROCESS_BASIC_INFORMATION_T;

#define ProcessFaultCounters 100     /* mdlos */
typedef struct {
    uint64_t DemandZeroFaults, SoftFaults, CopyOnWriteFaults, ImageFaults, HardFaults;
    uint64_t WorkingSetSize;      /* pages */
    uint64_t PeakWorkingSetSize;
    uint64_t PrivatePages;        /* committed private pages */
    uint64_t LockedPages;         /* pages locked by MDLs */
} PROCESS_FAULT_COUNTERS_T;

/* NtSetInformationProcess classes */
#define ProcessTrimWorkingSet 101    /* mdlos: no buffer; trims the whole working set */

/* NtQuerySystemInformation classes */
#define SystemProcessList 200        /* array of SYSTEM_PROCESS_T */
typedef struct {
    uint64_t ProcessId, ParentId;
    uint64_t WorkingSetSize, PrivatePages;
    uint32_t Threads, State;     /* State: 0 running, 1 exiting */
    char ImageName[32];
} SYSTEM_PROCESS_T;
#define SystemMemoryInformation 201
typedef struct {
    uint64_t PhysicalPages, AvailablePages, ZeroedPages, FreePages, StandbyPages, ModifiedPages;
    uint64_t DemandZeroFaults, SoftFaults, CopyOnWriteFaults, ImageFaults, HardFaults;
    uint64_t NonPagedPoolBytes, PagedPoolBytes;
    /* Commit (docs/mm.md): pages promised now, the most that may be, the peak. */
    uint64_t CommittedPages, CommitLimitPages, PeakCommitmentPages;
} SYSTEM_MEMORY_T;

#define STATUS_PENDING_T 0x00000103
