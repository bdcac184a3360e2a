/*
 * io.h: the I/O manager's public interface: MDLs, and (io/iomgr.h, included
 * at the end) driver and device objects, IRPs and their stack locations,
 * file objects, the transfer methods. NT's names, flags and semantics;
 * Microsoft's WDK pages for each routine are the contract, and where mdlos
 * differs the comment says so.
 */
#pragma once
#include "kernel/ke/ke.h"
#include "kernel/ob/ob.h"
#include "mm/mm.h"

struct _EPROCESS;
struct _IRP;
typedef struct _IRP IRP, *PIRP;

typedef struct _MDL {
    struct _MDL *Next;
    CSHORT Size;                 /* sizeof(MDL) + pages * sizeof(PFN_NUMBER) */
    CSHORT MdlFlags;
    struct _EPROCESS *Process;   /* the process whose pages are locked, NULL for kernel addresses */
    PVOID MappedSystemVa;
    PVOID StartVa;               /* page aligned */
    ULONG ByteCount;
    ULONG ByteOffset;            /* < PAGE_SIZE */
} MDL, *PMDL;

/* MdlFlags. An enum, not #defines, so that the values reach the DWARF and the
 * GDB commands (scripts/gdb/mdlos) read them from there. */
enum {
    MDL_MAPPED_TO_SYSTEM_VA     = 0x0001,
    MDL_PAGES_LOCKED            = 0x0002,
    MDL_SOURCE_IS_NONPAGED_POOL = 0x0004,
    MDL_ALLOCATED_FIXED_SIZE    = 0x0008,
    MDL_PARTIAL                 = 0x0010,
    MDL_PARTIAL_HAS_BEEN_MAPPED = 0x0020,
    MDL_IO_PAGE_READ            = 0x0040,
    MDL_WRITE_OPERATION         = 0x0080,
    MDL_FREE_EXTRA_PTES         = 0x0200,
    MDL_IO_SPACE                = 0x0800,
    MDL_MAPPING_CAN_FAIL        = 0x2000,
};

typedef enum _LOCK_OPERATION { IoReadAccess = 0, IoWriteAccess = 1, IoModifyAccess = 2 } LOCK_OPERATION;

typedef enum _MM_PAGE_PRIORITY { LowPagePriority = 0, NormalPagePriority = 16, HighPagePriority = 32 } MM_PAGE_PRIORITY;
#define MdlMappingNoWrite   0x80000000
#define MdlMappingNoExecute 0x40000000

#define MM_DONT_ZERO_ALLOCATION    0x00000001
#define MM_ALLOCATE_FULLY_REQUIRED 0x00000004


#define MmGetMdlPfnArray(m)       ((PPFN_NUMBER)((PMDL)(m) + 1))
#define MmGetMdlVirtualAddress(m) ((PVOID)((PUCHAR)(m)->StartVa + (m)->ByteOffset))
#define MmGetMdlByteCount(m)      ((m)->ByteCount)
#define MmGetMdlByteOffset(m)     ((m)->ByteOffset)
#define MmGetMdlBaseVa(m)         ((m)->StartVa)
#define MmSizeOfMdl(va, n)        ((SIZE_T)(sizeof(MDL) + ADDRESS_AND_SIZE_TO_SPAN_PAGES((va), (n)) * sizeof(PFN_NUMBER)))

/* ---- device interrupts (io/interrupt.c) ---- */
/* Connect ISR to the device interrupt on IOAPIC input GSI at IRQL (3..12):
 * the vector is chosen in IRQL's priority class, so the APIC's priority
 * logic is NT's IRQL. The ISR runs at IRQL and should queue a DPC.
 * GSI KINTERRUPT_MESSAGE_SIGNALED (edge only): a vector for an MSI/MSI-X
 * message, nothing routed; (*Interrupt)->Vector is what the device must
 * send (HalGetMessageSignaledInterrupt; drivers/pci does it for MSI-X). */
NTSTATUS IoConnectInterruptEx(PKINTERRUPT *Interrupt, PKSERVICE_ROUTINE ServiceRoutine, PVOID ServiceContext,
                              ULONG Gsi, KIRQL Irql, BOOLEAN LevelTriggered);
void IoDisconnectInterrupt(PKINTERRUPT Interrupt);

/* SystemDeviceList (kernel/ps/ntapi.c): every device, at most MAX copied;
 * returns how many there are. */
ULONG IopSnapshotDevices(void *Out /* SYSTEM_DEVICE_T[] */, ULONG Max);
/* io/cancel.c, for SystemIoInformation: how long exit and NtCancelIoFile
 * wait for cancelled IRPs (io.cancel_wait_ms=), and the IRPs whose driver
 * had not completed them by then (disassociated from their thread). */
extern ULONG IopCancelWaitMs;
extern ULONG64 IopIrpsDisassociated;

/* Start the I/O manager at boot (io/ioinit.c). */
void IoInitSystem(void);

PMDL IoAllocateMdl(PVOID VirtualAddress, ULONG Length, BOOLEAN SecondaryBuffer, BOOLEAN ChargeQuota, PIRP Irp);
void IoFreeMdl(PMDL Mdl);
void MmInitializeMdl(PMDL Mdl, PVOID BaseVa, SIZE_T Length);
void MmBuildMdlForNonPagedPool(PMDL Mdl);
/* Raises (ExRaiseStatus) on bad user ranges and faults: call inside ExTry. */
void MmProbeAndLockPages(PMDL Mdl, KPROCESSOR_MODE AccessMode, LOCK_OPERATION Operation);
void MmUnlockPages(PMDL Mdl);
PVOID MmMapLockedPagesSpecifyCache(PMDL Mdl, KPROCESSOR_MODE AccessMode, MEMORY_CACHING_TYPE CacheType,
                                   PVOID RequestedAddress, ULONG BugCheckOnFailure, ULONG Priority);
PVOID MmMapLockedPages(PMDL Mdl, KPROCESSOR_MODE AccessMode);   /* the old call: a verifier violation */
void MmUnmapLockedPages(PVOID BaseAddress, PMDL Mdl);
PVOID MmGetSystemAddressForMdlSafe(PMDL Mdl, ULONG Priority);
void MmPrepareMdlForReuse(PMDL Mdl);
void IoBuildPartialMdl(PMDL SourceMdl, PMDL TargetMdl, PVOID VirtualAddress, ULONG Length);
PMDL MmAllocatePagesForMdlEx(PHYSICAL_ADDRESS LowAddress, PHYSICAL_ADDRESS HighAddress, PHYSICAL_ADDRESS SkipBytes,
                             SIZE_T TotalBytes, MEMORY_CACHING_TYPE CacheType, ULONG Flags);
void MmFreePagesFromMdl(PMDL Mdl);
NTSTATUS MmProtectMdlSystemAddress(PMDL MemoryDescriptorList, ULONG NewProtect);

/* mdlos: print an MDL's fields, decoded flags and frames (the verifier's
 * reports and the `mdl` GDB command show the same). */
void MmDumpMdl(PMDL Mdl);

#include "io/iomgr.h"
#include "io/dma.h"
