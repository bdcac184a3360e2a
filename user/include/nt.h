/*
 * nt.h: the mdlos system calls as user mode sees them (ntdll's job on NT).
 * Numbers, structures and flag values come from kernel/ntsyscall.h, the one
 * contract between the kernel and user/; the stubs are in user/lib/syscalls.c.
 *
 * Calling convention: SYSCALL with RAX = number, arguments in RDI, RSI, RDX,
 * R10, R8, R9; the NTSTATUS comes back in RAX; RCX and R11 are clobbered.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "kernel/ntsyscall.h"

typedef int32_t NTSTATUS;
typedef HANDLE_T HANDLE;

#define NT_SUCCESS(s) ((NTSTATUS)(s) >= 0)

/* NT's status values: the kernel's one list, NT's names and values. */
#include "kernel/ntstatus.h"

/* NtCurrentProcess() comes from kernel/ntsyscall.h: the pseudo-handle -1. */

/* The address-space facts user/ relies on (kernel/ex/ex.h, docs/architecture.md). */
#define MM_LOWEST_USER_ADDRESS  0x0000000000010000ULL
#define MM_HIGHEST_USER_ADDRESS 0x00007FFFFFFEFFFFULL
/* The highest address a region (VAD) may hold: NT keeps the 64 KiB below
 * MM_HIGHEST_USER_ADDRESS out of every VAD. */
#define MM_HIGHEST_VAD_ADDRESS (MM_HIGHEST_USER_ADDRESS - 0x10000)
#define MM_USER_PROBE_ADDRESS   0x00007FFFFFFF0000ULL
#define PAGE_SIZE 4096UL
#define ALLOCATION_GRANULARITY 0x10000UL

/* ---- the system calls, one function each (user/lib/syscalls.c) ---- */
__attribute__((noreturn)) void NtTerminateCurrentProcess(NTSTATUS status);
NTSTATUS NtTerminateProcess(HANDLE process, NTSTATUS status);
NTSTATUS NtDisplayString(const char *text, size_t length);
NTSTATUS NtAllocateVirtualMemory(HANDLE process, void **base, uint64_t zero_bits, size_t *size, uint32_t type,
                                 uint32_t protect);
NTSTATUS NtFreeVirtualMemory(HANDLE process, void **base, size_t *size, uint32_t type);
NTSTATUS NtProtectVirtualMemory(HANDLE process, void **base, size_t *size, uint32_t new_protect,
                                uint32_t *old_protect);
NTSTATUS NtQueryVirtualMemory(HANDLE process, const void *address, uint32_t info_class, void *buffer, size_t length,
                              size_t *return_length);
NTSTATUS NtCreateProcess(const char *image, const char *command_line, HANDLE *process);
NTSTATUS NtWaitForSingleObject(HANDLE handle, uint8_t alertable, int64_t *timeout);
NTSTATUS NtClose(HANDLE handle);
NTSTATUS NtQueryInformationProcess(HANDLE process, uint32_t info_class, void *buffer, size_t length,
                                   size_t *return_length);
NTSTATUS NtDelayExecution(uint8_t alertable, int64_t *interval);
NTSTATUS NtReadConsole(char *buffer, size_t length, size_t *read);
NTSTATUS NtQuerySystemInformation(uint32_t info_class, void *buffer, size_t length, size_t *return_length);
NTSTATUS NtSetSystemInformation(uint32_t info_class, void *buffer, size_t length);   /* SystemProfileControl */
NTSTATUS NtYieldExecution(void);
NTSTATUS NtGetCommandLine(char *buffer, size_t length, size_t *needed);
NTSTATUS NtSetInformationProcess(HANDLE process, uint32_t info_class, void *buffer, size_t length);
NTSTATUS NtCreateEvent(HANDLE *event, uint32_t access, OBJECT_ATTRIBUTES_T *attributes, uint32_t type,
                       uint8_t initial_state);
NTSTATUS NtOpenEvent(HANDLE *event, uint32_t access, OBJECT_ATTRIBUTES_T *attributes);
NTSTATUS NtSetEvent(HANDLE event, int32_t *previous_state);
NTSTATUS NtResetEvent(HANDLE event, int32_t *previous_state);
NTSTATUS NtCreateFile(HANDLE *file, uint32_t access, OBJECT_ATTRIBUTES_T *attributes, IO_STATUS_BLOCK_T *iosb,
                      int64_t *allocation_size, uint32_t file_attributes, uint32_t share_access, uint32_t disposition,
                      uint32_t options, void *ea_buffer, uint32_t ea_length);
NTSTATUS NtOpenFile(HANDLE *file, uint32_t access, OBJECT_ATTRIBUTES_T *attributes, IO_STATUS_BLOCK_T *iosb,
                    uint32_t share_access, uint32_t options);
NTSTATUS NtReadFile(HANDLE file, HANDLE event, void *apc_routine, void *apc_context, IO_STATUS_BLOCK_T *iosb,
                    void *buffer, uint32_t length, int64_t *byte_offset, uint32_t *key);
NTSTATUS NtWriteFile(HANDLE file, HANDLE event, void *apc_routine, void *apc_context, IO_STATUS_BLOCK_T *iosb,
                     const void *buffer, uint32_t length, int64_t *byte_offset, uint32_t *key);
NTSTATUS NtDeviceIoControlFile(HANDLE file, HANDLE event, void *apc_routine, void *apc_context,
                               IO_STATUS_BLOCK_T *iosb, uint32_t code, void *input, uint32_t input_length,
                               void *output, uint32_t output_length);
NTSTATUS NtFlushBuffersFile(HANDLE file, IO_STATUS_BLOCK_T *iosb);
NTSTATUS NtCancelIoFile(HANDLE file, IO_STATUS_BLOCK_T *iosb);
NTSTATUS NtCreateIoCompletion(HANDLE *port, uint32_t access, OBJECT_ATTRIBUTES_T *attributes, uint32_t concurrency);
NTSTATUS NtSetInformationFile(HANDLE file, IO_STATUS_BLOCK_T *iosb, void *information, uint32_t length,
                              uint32_t info_class);
NTSTATUS NtRemoveIoCompletion(HANDLE port, void **key, void **apc_context, IO_STATUS_BLOCK_T *iosb,
                              int64_t *timeout);
NTSTATUS NtRemoveIoCompletionEx(HANDLE port, FILE_IO_COMPLETION_INFORMATION_T *entries, uint32_t count,
                                uint32_t *removed, int64_t *timeout, uint8_t alertable);
NTSTATUS NtSetIoCompletion(HANDLE port, void *key, void *apc_context, NTSTATUS status, uint64_t information);
NTSTATUS NtCreateIoRing(HANDLE *ring, uint32_t params_length, const IORING_CREATE_T *params, uint32_t info_length,
                        IORING_INFO_T *info);
NTSTATUS NtSubmitIoRing(HANDLE ring, uint32_t flags, uint32_t wait_operations, int64_t *timeout);

/* The raw gate, for tests that pass what no prototype allows. */
uint64_t NtSystemCall6(uint64_t number, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                       uint64_t a6);
/* Up to 12 arguments from ARGS (always 12 entries): 7.. go on the stack. */
uint64_t NtSystemCallN(uint64_t number, const uint64_t *args);

/* ---- object names (user/lib/object.c) ---- */
void RtlInitString(STRING_T *s, const char *text);
void InitializeObjectAttributes(OBJECT_ATTRIBUTES_T *oa, STRING_T *name, uint32_t attributes);

/* ---- files, devices and events (user/lib/file.c) ---- */
/* NtOpenFile of the device NAME (\Device\Null) with ACCESS (FILE_READ_DATA,
 * GENERIC_READ | GENERIC_WRITE, ...; SYNCHRONIZE is added) and OPTIONS
 * (FILE_SYNCHRONOUS_IO_NONALERT for a file with a position; 0 for an
 * asynchronous one), sharing read and write. */
NTSTATUS OpenDevice(const char *name, uint32_t access, uint32_t options, HANDLE *file);
/* NtReadFile / NtWriteFile of LENGTH bytes at OFFSET, waiting (on the file
 * handle) if the request pends: the final status, bytes in IOSB->Information. */
NTSTATUS ReadAt(HANDLE file, void *buffer, uint32_t length, uint64_t offset, IO_STATUS_BLOCK_T *iosb);
NTSTATUS WriteAt(HANDLE file, const void *buffer, uint32_t length, uint64_t offset, IO_STATUS_BLOCK_T *iosb);
/* A disk's length in bytes (IOCTL_DISK_GET_LENGTH_INFO); an error status
 * from a device that is not a disk. */
NTSTATUS DiskLength(HANDLE file, uint64_t *length);
/* NtCreateEvent, unnamed: notification (0) or synchronization (1). */
NTSTATUS CreateEventHandle(HANDLE *event, int synchronization, int signalled);
/* NtWaitForSingleObject with a time-out in ms (0 = forever): STATUS_WAIT_0,
 * STATUS_TIMEOUT or an error. */
NTSTATUS WaitHandle(HANDLE handle, uint64_t timeout_ms);
/* 100 ns units since boot, monotonic (SystemInterruptTime); 0 if unknown. */
uint64_t InterruptTime100ns(void);

/* ---- the I/O ring from ring 3 (user/lib/ioring.c; ioringapi.h in spirit) ---- */
typedef struct {
    HANDLE Handle;
    IORING_INFO_T Info;          /* the sizes and the two views */
    uint32_t SqTail;             /* entries built, published by SubmitIoRing */
} IORING_T;
/* A ring of SQ_SIZE entries (CQ_SIZE, 0: twice that). */
NTSTATUS CreateIoRing(uint32_t sq_size, uint32_t cq_size, IORING_T *ring);
/* One SQE at the tail: 0 when the SQ is full (submit first). */
int BuildIoRingReadFile(IORING_T *ring, HANDLE file, void *buffer, uint32_t length, int64_t offset,
                        uint64_t user_data);
int BuildIoRingWriteFile(IORING_T *ring, HANDLE file, const void *buffer, uint32_t length, int64_t offset,
                         uint64_t user_data);
int BuildIoRingNop(IORING_T *ring, uint64_t user_data);
/* Lock COUNT buffers once (the kernel keeps the array only while the
 * entry is processed); 0 unregisters. Requests on them name (index,
 * offset in the buffer, length) and cost no probe and lock each. */
int BuildIoRingRegisterBuffers(IORING_T *ring, const IORING_BUFFER_INFO_T *buffers, uint32_t count,
                               uint64_t user_data);
int BuildIoRingReadFileRegistered(IORING_T *ring, HANDLE file, uint32_t index, uint32_t buffer_offset,
                                  uint32_t length, int64_t offset, uint64_t user_data);
int BuildIoRingWriteFileRegistered(IORING_T *ring, HANDLE file, uint32_t index, uint32_t buffer_offset,
                                   uint32_t length, int64_t offset, uint64_t user_data);
/* Reference COUNT file handles once; 0 unregisters. An entry with
 * IORING_SQE_REGISTERED_FILE names one by its index and looks up no handle. */
int BuildIoRingRegisterFiles(IORING_T *ring, const HANDLE *files, uint32_t count, uint64_t user_data);
/* Any entry, every field given (IORING_SQE_* flags combined). */
int BuildIoRingEntry(IORING_T *ring, uint32_t op, uint32_t flags, uint64_t file, uint64_t buffer,
                     uint32_t buffer_index, uint32_t length, int64_t offset, uint64_t user_data);
/* Publish the built entries and NtSubmitIoRing them, waiting for
 * WAIT_OPERATIONS CQEs (TIMEOUT in 100 ns units as NT's, negative:
 * relative; NULL forever). *SUBMITTED (may be NULL): how many the kernel took. */
NTSTATUS SubmitIoRing(IORING_T *ring, uint32_t wait_operations, int64_t *timeout, uint32_t *submitted);
/* The next CQE into *CQE: 1, or 0 when there is none. */
int PopIoRingCompletion(IORING_T *ring, IORING_CQE_T *cqe);
NTSTATUS CloseIoRing(IORING_T *ring);

/* ---- small helpers on top (user/lib/process.c) ---- */
/* Sleep for MS milliseconds (NtDelayExecution, relative). */
NTSTATUS SleepMs(uint64_t ms);
/* Start IMAGE with COMMAND_LINE, wait up to TIMEOUT_MS (0 = forever) and
 * return its exit status in *EXIT_STATUS. On a timeout the child is
 * terminated and STATUS_TIMEOUT returned. */
NTSTATUS RunProcess(const char *image, const char *command_line, uint64_t timeout_ms, NTSTATUS *exit_status);
/* The exit status of a process handle (STATUS_PENDING while it runs). */
NTSTATUS ProcessExitStatus(HANDLE process, NTSTATUS *exit_status);
/* This process's id (0 if the kernel will not say). */
uint64_t CurrentProcessId(void);
/* "STATUS_ACCESS_VIOLATION" etc., or NULL for a value the table lacks. */
const char *NtStatusName(NTSTATUS status);

/* This program's image name (argv[0]), set by the build (user/lib/progname.h). */
extern const char __progname[];
/* The raw command line this process was started with. */
const char *GetCommandLine(void);
/* Split LINE in place into at most MAX words (double quotes group words, and
 * are removed). Returns the number of words stored in ARGV (NULL-terminated
 * when there is room). */
int SplitCommandLine(char *line, char **argv, int max);
