/*
 * ps.h: processes (EPROCESS) and what the memory manager keeps per
 * address space. Internal to kernel/ and mm/.
 */
#pragma once
#include "kernel/ke/ki.h"
#include "kernel/ntsyscall.h"
#include "mm/mi.h"

/* ---- the address space: VADs ---- */
typedef enum { VadPrivate = 0, VadImage, VadStack, VadLockedView } MI_VAD_TYPE;

typedef struct _MMVAD {
    LIST_ENTRY Links;              /* the process's VADs, sorted by address */
    ULONG64 StartVpn, EndVpn;      /* first and last virtual page, inclusive */
    ULONG Protection;              /* PAGE_* given at reservation (AllocationProtect) */
    UCHAR Type;                    /* MI_VAD_TYPE */
    UCHAR NoFree;                  /* only its creator may remove it (MDL user views) */
    USHORT Segment;                /* VadImage: which segment of the image */
    struct _MI_IMAGE *Image;
    PVOID Owner;                   /* VadLockedView: the MDL */
    /* VadPrivate reserved and committed in one call (NT's MemCommit): every
     * page is committed with CommitMm, a zero PTE (or no page table at all)
     * means "committed, never touched", and the page tables are built at
     * the first touch from TableReserve, charged at commit. */
    UCHAR MemCommit, CommitMm;
    ULONG64 TableReserve;
} MMVAD, *PMMVAD;

/* ---- images: ELF executables from GRUB modules, shared by every process running them ---- */
#define MI_IMAGE_MAX_SEGMENTS 8
typedef struct _MI_IMAGE {
    LIST_ENTRY Links;
    char Name[32];
    PUCHAR File;                   /* the module, mapped in system PTEs */
    ULONG64 FileSize;
    ULONG64 Entry;
    ULONG SegmentCount;
    struct {
        ULONG64 Vaddr, Memsz, Offset, Filesz;
        ULONG Protection;          /* PAGE_* from the ELF flags */
    } Segment[MI_IMAGE_MAX_SEGMENTS];
    ULONG64 BaseVpn, Pages;
    PMMPTE PrototypePte;           /* per image page, in nonpaged pool: its prototype PTE (valid, transition,
                                      or prototype format naming this image: in the file) - mm/image.c */
} MI_IMAGE, *PMI_IMAGE;

/* ---- the working set: the user pages now valid in this process ---- */
typedef struct _MMSUPPORT {
    PVOID *List;                   /* page-aligned VAs */
    ULONG Count, Capacity, Peak;
    BOOLEAN GrowFailed;            /* the list could not grow: do not retry until an entry leaves */
    PROCESS_FAULT_COUNTERS_T Counters;
} MMSUPPORT;

#define PS_MAX_HANDLES 32

typedef struct _EPROCESS {
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
    PVOID Handles[PS_MAX_HANDLES];
    NTSTATUS ExitStatus;
    BOOLEAN Exiting;
    volatile BOOLEAN TerminateRequested;   /* by another process: honoured on the way back to ring 3 */
    NTSTATUS TerminateStatus;
    volatile LONG RefCount;
    /* Commit (mm/commit.c): everything charged to this process, in pages;
     * of it, page tables promised but not built yet, and the writable
     * image pages that copy-on-write may make private. 0 again at the end. */
    ULONG64 CommitCharge, TableReserve, ImageCharge;
} EPROCESS, *PEPROCESS;

extern EPROCESS PsInitialSystemProcess;
extern LIST_ENTRY PsActiveProcessHead;   /* guarded by the process-list lock only */
KIRQL PsAcquireProcessListLock(void);
void PsReleaseProcessListLock(KIRQL old);
BOOLEAN PsProcessListLockHeld(void);
ULONG PsSnapshotProcessList(SYSTEM_PROCESS_T *out, ULONG max);
extern volatile ULONG64 MiSystemFaults[5];   /* demand-zero, soft, COW, image, hard */

/* The process whose address space the thread runs in (the attached one
 * while KeStackAttachProcess is in effect), as NT's PsGetCurrentProcess. */
PEPROCESS PsGetCurrentProcess(void);
/* The thread's own process, attached elsewhere or not (NT's
 * PsGetCurrentThreadProcess). */
PEPROCESS PsGetCurrentThreadProcess(void);
/* Start IMAGE (a GRUB module name) as a new process. */
NTSTATUS PsCreateProcess(const char *image, const char *cmdline, PEPROCESS parent, PEPROCESS *out);
/* End the current process with STATUS (from its own thread). */
__attribute__((noreturn)) void PsExitCurrentProcess(NTSTATUS status);
void PsDereferenceProcess(PEPROCESS p);
void PsInitialize(void);
/* End the current system thread (drivers' worker threads). */
__attribute__((noreturn)) void PsTerminateSystemThread(NTSTATUS ExitStatus);

/* mm side */
NTSTATUS MmCreateAddressSpace(PEPROCESS p);
void MmDeleteAddressSpace(PEPROCESS p);
NTSTATUS MmMapImage(PEPROCESS p, const char *name, ULONG64 *entry, ULONG64 *stack_top);
/* The prototype PTE of image page VA (mm/image.c). */
PMMPTE MiImagePrototypePte(PMI_IMAGE im, PVOID va);
NTSTATUS MiImageFault(PEPROCESS p, PMMVAD vad, PVOID va, ULONG64 error);
PMMVAD MiLocateVad(PEPROCESS p, ULONG64 va);
NTSTATUS MiUserFault(PEPROCESS p, ULONG64 va, ULONG64 error, BOOLEAN user_mode);
ULONG MmTrimProcessWorkingSet(PEPROCESS p);
void MiWorkingSetInsert(PEPROCESS p, PVOID va);

NTSTATUS NtAllocateVirtualMemory(HANDLE_T process, PVOID *base, ULONG_PTR zero_bits, PSIZE_T size, ULONG type,
                                 ULONG protect);
NTSTATUS NtFreeVirtualMemory(HANDLE_T process, PVOID *base, PSIZE_T size, ULONG type);
NTSTATUS NtProtectVirtualMemory(HANDLE_T process, PVOID *base, PSIZE_T size, ULONG protect, PULONG old);
NTSTATUS NtQueryVirtualMemory(HANDLE_T process, PVOID base, ULONG cls, PVOID buffer, SIZE_T length,
                              PSIZE_T return_length);

#define MI_USER_STACK_TOP  0x00007FFFFFF00000ULL
#define MI_USER_STACK_SIZE (1024 * 1024)

/* mm/virtual.c, mm/userfault.c internals */
LONG MiMakeProtectionMask(ULONG protect);
ULONG MiProtectionToPage(ULONG mm);
ULONG64 MiUserPteFlags(ULONG mm);
ULONG MiPteProtection(ULONG64 pte);
ULONG64 MiDemandZeroPte(ULONG mm);
PMMVAD MiInsertVad(PEPROCESS p, ULONG64 start_vpn, ULONG64 end_vpn, ULONG protect, UCHAR type);
void MiDeleteVad(PEPROCESS p, PMMVAD v);
/* mm/mdl.c: remove an MDL's user view (a VadLockedView's PTEs) and drop the
 * frame references they held. For MiDeleteVad, address space locked. */
void MiDeleteLockedView(PEPROCESS p, PMMVAD v);
/* Delete every page in [start, end) of P (the current address space),
 * give back their commit, and free the page tables left covering nothing;
 * returns how many charged pages (non-zero private PTEs) went. Costs what
 * is mapped, not the size of the range. */
ULONG64 MiDeleteUserRange(PEPROCESS p, ULONG64 start, ULONG64 end);
/* The page tables above page VPN of V, built now; a MemCommit VAD pays
 * for them from its TableReserve. */
BOOLEAN MiEnsureVadPageTables(PEPROCESS p, PMMVAD v, ULONG64 vpn);
/* Give every untouched page of MemCommit region V its demand-zero PTE and
 * make it an ordinary region (before part of it is decommitted).
 * ABORTABLE: stop (still consistent) if the process is being ended. */
NTSTATUS MiMaterializeMemCommit(PEPROCESS p, PMMVAD v, BOOLEAN abortable);
void MiSetUserPageProtection(PEPROCESS p, PVOID va, ULONG mm);
/* Write a user PTE, keeping the page table's count of entries in use. */
void MiWriteUserPte(PMMPTE pte, ULONG64 value);
void MmFreeAddressSpaceRoot(PEPROCESS p);
PFN_NUMBER MiCopyPage(PFN_NUMBER from);
BOOLEAN MiProtectionAllows(ULONG mm, ULONG64 error);
HANDLE_T PsInsertHandle(PEPROCESS owner, PVOID object);
PVOID PsLookupHandle(PEPROCESS owner, HANDLE_T h);
/* A slot taken before its object exists (NtCreateProcess reserves the
 * handle first, so a full table refuses before a process starts):
 * invisible to lookups and NtClose until PsSetHandle fills it. */
#define PS_HANDLE_RESERVED ((PVOID)1)
void PsSetHandle(PEPROCESS owner, HANDLE_T h, PVOID object);
void PsFreeReservedHandle(PEPROCESS owner, HANDLE_T h);
NTSTATUS PsCloseHandle(PEPROCESS owner, HANDLE_T h);
__attribute__((noreturn)) void PsRaiseUserException(PKTRAP_FRAME f, NTSTATUS status, ULONG64 address);
void KiRegisterService(ULONG number, NTSTATUS (*fn)(ULONG64, ULONG64, ULONG64, ULONG64, ULONG64, ULONG64));
void PsRegisterNtServices(void);
NTSTATUS (*KiLookupService(ULONG number))(ULONG64, ULONG64, ULONG64, ULONG64, ULONG64, ULONG64);
NTSTATUS PsTerminateProcess(PEPROCESS p, NTSTATUS status);
/* On every return to ring 3: end the process if someone asked us to. */
void PsCheckTermination(PKTRAP_FRAME f);
BOOLEAN MiRangeIsFree(PEPROCESS p, ULONG64 start, ULONG64 end);
/* TRUE when the current process is being ended: long services stop and
 * return STATUS_PROCESS_IS_TERMINATING instead of finishing the job. */
BOOLEAN PsTerminationPending(void);

/* ---- commit (mm/commit.c) ---- */
/* Charge PAGES to P (NULL: the system) if the commit limit allows it. */
BOOLEAN MiChargeCommitment(PEPROCESS p, ULONG64 pages);
/* Charge without the check: only for what a checked charge already covered. */
void MiForceChargeCommitment(PEPROCESS p, ULONG64 pages);
void MiReturnCommitment(PEPROCESS p, ULONG64 pages);
/* A user page table was built / freed in P's address space. */
void MiUserPageTableCreated(PEPROCESS p);
void MiUserPageTableFreed(PEPROCESS p);
/* Process creation: the charge for IM's writable pages and the tables
 * the image and stack will need; STATUS_COMMITMENT_LIMIT when refused. */
NTSTATUS MiChargeImageAndStack(PEPROCESS p, PMI_IMAGE im, ULONG64 stack_first_vpn, ULONG64 stack_last_vpn);
/* At the end of P: give back what is still charged (reserve, image). */
void MiReturnProcessCommitment(PEPROCESS p);
/* Exactly how many page tables (PDPTs, PDs, PTs) and pages of [FIRST,
 * LAST] (page numbers) have none yet in the current address space; costs
 * what is mapped, not the size of the range. */
void MiCountUncommitted(ULONG64 first, ULONG64 last, ULONG64 *pages, ULONG64 *tables);
ULONG64 MiFindFreeRange(PEPROCESS p, ULONG64 pages);
