/*
 * psp.h: process-manager internals, for kernel/ps/ and the memory manager
 * (which keeps an address space per process): EPROCESS's layout, the
 * process list, handles, ending a process from a trap.
 */
#pragma once
#include "kernel/ps/ps.h"
#include "kernel/ke/ki.h"
#include "kernel/ntsyscall.h"
#include "mm/mi.h"
#include "kernel/ob/obp.h"

struct _EPROCESS {
    DISPATCHER_HEADER Header;      /* signaled when the process has ended */
    PFN_NUMBER Pml4Pfn;
    ULONG64 DirectoryTableBase;    /* its CR3 */
    LIST_ENTRY ProcessListEntry;
    ULONG64 UniqueProcessId, ParentId;
    char ImageName[32];
    char CommandLine[256];
    LIST_ENTRY VadListHead;
    KMUTEX AddressSpaceLock;       /* faults and Nt*VirtualMemory */
    MMSUPPORT Vm;
    volatile LONG LockedPages;     /* pages locked by MDLs (MmProbeAndLockPages) */
    PMI_IMAGE Image;
    PKTHREAD Thread;               /* one thread per process, for now */
    HANDLE_TABLE ObjectTable;      /* its handles (kernel/ob/handle.c) */
    NTSTATUS ExitStatus;
    BOOLEAN Exiting;
    volatile BOOLEAN TerminateRequested;   /* by another process: honoured on the way back to ring 3 */
    NTSTATUS TerminateStatus;
    /* Commit (mm/commit.c): everything charged to this process, in pages;
     * of it, page tables promised but not built yet, and the writable
     * image pages that copy-on-write may make private. 0 again at the end. */
    ULONG64 CommitCharge, TableReserve, ImageCharge;
};

extern EPROCESS PsInitialSystemProcess;
extern LIST_ENTRY PsActiveProcessHead;   /* guarded by the process-list lock only */
KIRQL PsAcquireProcessListLock(void);
void PsReleaseProcessListLock(KIRQL old);
BOOLEAN PsProcessListLockHeld(void);
ULONG PsSnapshotProcessList(SYSTEM_PROCESS_T *out, ULONG max);

__attribute__((noreturn)) void PsRaiseUserException(PKTRAP_FRAME f, NTSTATUS status, ULONG64 address);
/* On every return to ring 3: end the process if someone asked us to. */
void PsCheckTermination(PKTRAP_FRAME f);
/* TRUE when the current process is being ended: long services stop and
 * return STATUS_PROCESS_IS_TERMINATING instead of finishing the job. */
BOOLEAN PsTerminationPending(void);
