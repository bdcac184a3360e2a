/*
 * mm.h: the memory manager's public interface, with NT's names and
 * semantics: physical pages, I/O space mappings, kernel stacks, pools and
 * lookaside lists. Internals are in mm/mi.h. docs/mm.md explains it all.
 */
#pragma once
#include "kernel/ke/ke.h"
#include "kernel/ntsyscall.h"   /* HANDLE_T */

typedef ULONG64 PFN_NUMBER, *PPFN_NUMBER;
typedef struct { LONGLONG QuadPart; } PHYSICAL_ADDRESS, *PPHYSICAL_ADDRESS;

#define PAGE_ALIGN(va) ((PVOID)((ULONG_PTR)(va) & ~(ULONG_PTR)(PAGE_SIZE - 1)))
#define BYTE_OFFSET(va) ((ULONG)((ULONG_PTR)(va) & (PAGE_SIZE - 1)))
#define ROUND_TO_PAGES(n) (((ULONG_PTR)(n) + PAGE_SIZE - 1) & ~(ULONG_PTR)(PAGE_SIZE - 1))
#define BYTES_TO_PAGES(n) (((ULONG_PTR)(n) + PAGE_SIZE - 1) >> PAGE_SHIFT)
#define ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, n) \
    ((ULONG)((((ULONG_PTR)(va) & (PAGE_SIZE - 1)) + (ULONG_PTR)(n) + PAGE_SIZE - 1) >> PAGE_SHIFT))

/* Counters, as on NT: RAM pages the PFN database describes, and those
 * immediately usable (zeroed + free + standby). */
extern PFN_NUMBER MmNumberOfPhysicalPages;
extern PFN_NUMBER MmAvailablePages;
/* A new process is refused while fewer pages than this are available
 * (kernel/ps/process.c): half the RAM, at most 4096 (16 MiB); sized in MM
 * init (mm/thresholds.c). */
extern PFN_NUMBER MmProcessCreateReservePages;
/* Print the commit charge, limit and peak (kd> mem). */
void MmPrintCommit(void);

/* Bring up the memory manager (kmain calls this once). */
void MmInitSystem(void);

/* TRUE if reading VA now would not fault (its PTE is valid). */
BOOLEAN MmIsAddressValid(PVOID VirtualAddress);
/* Physical address VA is mapped to; 0 when it is not valid. */
PHYSICAL_ADDRESS MmGetPhysicalAddress(PVOID BaseAddress);

/* ---- caching (PAT) ---- */
typedef enum _MEMORY_CACHING_TYPE {
    MmNonCached = 0,
    MmCached = 1,
    MmWriteCombined = 2,
} MEMORY_CACHING_TYPE;

/* Map device (or any physical) memory into system PTEs. NULL when out of PTEs. */
PVOID MmMapIoSpace(PHYSICAL_ADDRESS PhysicalAddress, SIZE_T NumberOfBytes, MEMORY_CACHING_TYPE CacheType);
void MmUnmapIoSpace(PVOID BaseAddress, SIZE_T NumberOfBytes);

/* Physically contiguous memory inside [Lowest, Highest] not crossing a
 * multiple of BoundaryAddressMultiple (0: any), zeroed, mapped with
 * CacheType (mm/contig.c). NULL when no such run is free. <= DISPATCH_LEVEL. */
PVOID MmAllocateContiguousMemorySpecifyCache(SIZE_T NumberOfBytes, PHYSICAL_ADDRESS LowestAcceptableAddress,
                                             PHYSICAL_ADDRESS HighestAcceptableAddress,
                                             PHYSICAL_ADDRESS BoundaryAddressMultiple, MEMORY_CACHING_TYPE CacheType);
void MmFreeContiguousMemorySpecifyCache(PVOID BaseAddress, SIZE_T NumberOfBytes, MEMORY_CACHING_TYPE CacheType);

/* Kernel stacks: resident pages in system PTEs with a guard page below. */
PVOID MmCreateKernelStack(ULONG Pages, PVOID *StackLimit);   /* returns the stack top (initial RSP) */
void MmDeleteKernelStack(PVOID StackTop, ULONG Pages);

/* ---- pools (mm/pool.c) ---- */
typedef enum _POOL_TYPE {
    NonPagedPool = 0,
    PagedPool = 1,
    NonPagedPoolNx = 512,
} POOL_TYPE;

PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag);
PVOID ExAllocatePool(POOL_TYPE PoolType, SIZE_T NumberOfBytes);   /* tag 'None' */
void ExFreePoolWithTag(PVOID P, ULONG Tag);
void ExFreePool(PVOID P);

/* ---- lookaside lists (kernel/ex/lookaside.c) ---- */
typedef PVOID (*PALLOCATE_FUNCTION)(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag);
typedef void (*PFREE_FUNCTION)(PVOID Buffer);

typedef struct _SLIST_ENTRY { struct _SLIST_ENTRY *Next; } SLIST_ENTRY, *PSLIST_ENTRY;

typedef struct _GENERAL_LOOKASIDE {
    PSLIST_ENTRY ListHead;        /* freed blocks kept for reuse */
    USHORT Depth, MaximumDepth;   /* how many are kept now, at most */
    ULONG TotalAllocates, AllocateMisses;
    ULONG TotalFrees, FreeMisses;
    POOL_TYPE Type;
    ULONG Tag;
    ULONG Size;
    PALLOCATE_FUNCTION Allocate;
    PFREE_FUNCTION Free;
    /* One of these guards ListHead and the counts (kernel/ex/lookaside.c): a
     * nonpaged list is used up to DISPATCH_LEVEL, so a spin lock; a paged
     * list's blocks are pageable, so popping one (which reads its link)
     * may fault: a mutex at APC_LEVEL, where a fault can still be served.
     * The header itself must be in nonpaged memory. */
    KSPIN_LOCK SpinLock;
    KMUTEX Mutex;
} GENERAL_LOOKASIDE;
typedef GENERAL_LOOKASIDE NPAGED_LOOKASIDE_LIST, *PNPAGED_LOOKASIDE_LIST;
typedef GENERAL_LOOKASIDE PAGED_LOOKASIDE_LIST, *PPAGED_LOOKASIDE_LIST;

void ExInitializeNPagedLookasideList(PNPAGED_LOOKASIDE_LIST Lookaside, PALLOCATE_FUNCTION Allocate,
                                     PFREE_FUNCTION Free, ULONG Flags, SIZE_T Size, ULONG Tag, USHORT Depth);
void ExDeleteNPagedLookasideList(PNPAGED_LOOKASIDE_LIST Lookaside);
PVOID ExAllocateFromNPagedLookasideList(PNPAGED_LOOKASIDE_LIST Lookaside);
void ExFreeToNPagedLookasideList(PNPAGED_LOOKASIDE_LIST Lookaside, PVOID Entry);
/* Paged lists: IRQL <= APC_LEVEL only, as on NT (a bugcheck naming the
 * rule otherwise, IRQL_NOT_LESS_OR_EQUAL at the call). */
void ExInitializePagedLookasideList(PPAGED_LOOKASIDE_LIST Lookaside, PALLOCATE_FUNCTION Allocate,
                                    PFREE_FUNCTION Free, ULONG Flags, SIZE_T Size, ULONG Tag, USHORT Depth);
void ExDeletePagedLookasideList(PPAGED_LOOKASIDE_LIST Lookaside);
PVOID ExAllocateFromPagedLookasideList(PPAGED_LOOKASIDE_LIST Lookaside);
void ExFreeToPagedLookasideList(PPAGED_LOOKASIDE_LIST Lookaside, PVOID Entry);
/* Blocks the lookaside lists hold of the (paged or nonpaged) pool, for the
 * pool leak counters (kernel/ex/lookaside.c). */
ULONG64 ExLookasideCachedBlocks(BOOLEAN paged);

/* A tag is four characters stored little-endian, so 'Mdl ' reads "Mdl " in
 * memory; write it as a multi-character constant like NT drivers do. */
#define POOL_TAG(a, b, c, d) ((ULONG)(a) | ((ULONG)(b) << 8) | ((ULONG)(c) << 16) | ((ULONG)(d) << 24))

/* The virtual-memory system services (mm/virtual.c), callable in the kernel. */
NTSTATUS NtAllocateVirtualMemory(HANDLE_T process, PVOID *base, ULONG_PTR zero_bits, PSIZE_T size, ULONG type,
                                 ULONG protect);
NTSTATUS NtFreeVirtualMemory(HANDLE_T process, PVOID *base, PSIZE_T size, ULONG type);
NTSTATUS NtProtectVirtualMemory(HANDLE_T process, PVOID *base, PSIZE_T size, ULONG protect, PULONG old);
NTSTATUS NtQueryVirtualMemory(HANDLE_T process, PVOID base, ULONG cls, PVOID buffer, SIZE_T length,
                              PSIZE_T return_length);
