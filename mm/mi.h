/*
 * mi.h: memory-manager internals. The address map, the PTE formats, the
 * PFN database and the routines the pieces of mm/ share. docs/mm.md has the
 * pictures; the scripts/gdb/mdlos package reads these structures by name.
 */
#pragma once
#include "mm/mm.h"
#include "kernel/ke/ki.h"
#include "kernel/ps/ps.h"
#include "kernel/ntsyscall.h"

/* ---------------------------------------------------------------------
 * The system address map (docs/mm.md). Every region but the kernel image
 * lives in its own PML4 slot(s), created at boot and shared by every
 * future address space, so kernel mappings never need to be synchronised.
 * --------------------------------------------------------------------- */
#define MI_SELFMAP_INDEX       0x1EDULL
#define PTE_BASE               0xFFFFF68000000000ULL   /* slot 0x1ED maps the page tables themselves */
#define PDE_BASE               0xFFFFF6FB40000000ULL
#define PPE_BASE               0xFFFFF6FB7DA00000ULL
#define PXE_BASE               0xFFFFF6FB7DBED000ULL
#define PTE_TOP                0xFFFFF6FFFFFFFFFFULL
#define MI_HYPERSPACE_BASE     0xFFFFF70000000000ULL   /* slot 0x1EE: per-CPU temporary mappings */
#define MI_HYPERSPACE_PAGES    512ULL                  /* one page table */
#define MI_HYPERSPACE_PER_CPU  64
#define MI_SYSTEM_PTE_BASE     0xFFFFF88000000000ULL   /* slot 0x1F1 */
#define MI_SYSTEM_PTE_PAGES    16384ULL                /* 64 MiB of system PTEs */
#define MI_PAGED_POOL_START    0xFFFFF8A000000000ULL   /* slot 0x1F1 too */
#define MI_PAGED_POOL_PAGES    8192ULL                 /* 32 MiB */
#define MI_PFN_DATABASE        0xFFFFFA8000000000ULL   /* slot 0x1F5 */
#define MI_NONPAGED_POOL_START 0xFFFFFA8040000000ULL   /* 1 GiB after the PFN database */
#define MI_NONPAGED_POOL_PAGES 16384ULL                /* 64 MiB */
#define MI_KERNEL_IMAGE_BASE   0xFFFFFFFF80000000ULL   /* slot 0x1FF: the image, at physical + this */

/* ---------------------------------------------------------------------
 * PTE formats. With Valid = 1 the CPU reads the entry (Intel SDM vol. 3,
 * table 4-19); with Valid = 0 every other bit is ours, and NT's layout
 * is followed: Transition = the frame is still in memory on a list;
 * otherwise PageFileHigh != 0 = in the pagefile (later), else demand zero
 * with Protection, else (all zero) nothing there.
 * --------------------------------------------------------------------- */
typedef struct _MMPTE_HARDWARE {
    ULONG64 Valid : 1;
    ULONG64 Write : 1;
    ULONG64 Owner : 1;          /* 1 = user accessible */
    ULONG64 WriteThrough : 1;   /* PWT: PAT index bit 0 */
    ULONG64 CacheDisable : 1;   /* PCD: PAT index bit 1 */
    ULONG64 Accessed : 1;
    ULONG64 Dirty : 1;
    ULONG64 LargePage : 1;      /* PS in upper levels; PAT index bit 2 in a PTE */
    ULONG64 Global : 1;
    ULONG64 CopyOnWrite : 1;    /* software bit 9 */
    ULONG64 Unused : 2;         /* software bits 10-11 */
    ULONG64 PageFrameNumber : 40;
    ULONG64 Reserved : 11;
    ULONG64 NoExecute : 1;
} MMPTE_HARDWARE;

typedef struct _MMPTE_SOFTWARE {
    ULONG64 Valid : 1;
    ULONG64 PageFileLow : 4;
    ULONG64 Protection : 5;
    ULONG64 Prototype : 1;
    ULONG64 Transition : 1;
    ULONG64 Unused : 20;
    ULONG64 PageFileHigh : 32;
} MMPTE_SOFTWARE;

typedef struct _MMPTE_TRANSITION {
    ULONG64 Valid : 1;
    ULONG64 Write : 1;
    ULONG64 Owner : 1;
    ULONG64 WriteThrough : 1;
    ULONG64 CacheDisable : 1;
    ULONG64 Protection : 5;
    ULONG64 Prototype : 1;
    ULONG64 Transition : 1;
    ULONG64 PageFrameNumber : 40;
    ULONG64 Unused : 12;
} MMPTE_TRANSITION;

/* Prototype format (NT x64's _MMPTE_PROTOTYPE): Valid = 0, Prototype
 * (bit 10) = 1, Transition (bit 11) = 0. Bits 16..63 hold bits 0..47 of
 * a kernel address, which an arithmetic shift right by 16 sign-extends
 * back to the canonical address (every mdlos address has 48 significant
 * bits). What the address names depends on where the PTE is:
 *   - in a process page table: the image's prototype PTE for this page
 *     (the page is shared; a fault resolves it through the prototype);
 *   - in an image's prototype array: the MI_IMAGE whose file holds the
 *     page (NT's subsection PTE): not in memory, read it from the file.
 * Protection is the page's MM_* code, as in the other software formats. */
typedef struct _MMPTE_PROTOTYPE {
    ULONG64 Valid : 1;
    ULONG64 Unused0 : 4;
    ULONG64 Protection : 5;
    ULONG64 Prototype : 1;      /* 1 */
    ULONG64 Transition : 1;     /* 0 */
    ULONG64 Unused1 : 4;
    ULONG64 ProtoAddress : 48;  /* address bits 0..47 */
} MMPTE_PROTOTYPE;

typedef struct _MMPTE {
    union {
        ULONG64 Long;
        MMPTE_HARDWARE Hard;
        MMPTE_SOFTWARE Soft;
        MMPTE_TRANSITION Trans;
        MMPTE_PROTOTYPE Proto;
    } u;
} MMPTE, *PMMPTE;

/* Hardware bits, for building entries in one 64-bit store. */
#define MI_PTE_VALID     (1ULL << 0)
#define MI_PTE_WRITE     (1ULL << 1)
#define MI_PTE_OWNER     (1ULL << 2)
#define MI_PTE_PWT       (1ULL << 3)
#define MI_PTE_PCD       (1ULL << 4)
#define MI_PTE_ACCESSED  (1ULL << 5)
#define MI_PTE_DIRTY     (1ULL << 6)
#define MI_PTE_LARGE     (1ULL << 7)
#define MI_PTE_GLOBAL    (1ULL << 8)
#define MI_PTE_NX        (1ULL << 63)
#define MI_PTE_PFN_MASK  0x000FFFFFFFFFF000ULL
#define MI_PTE_TRANSITION (1ULL << 11)
#define MI_PTE_COPY_ON_WRITE (1ULL << 9)   /* software bit of a valid PTE */
#define MI_PTE_COMMITTED (1ULL << 12)      /* a not-valid, not-transition PTE: committed (demand zero) */
#define MI_PTE_PROTOTYPE (1ULL << 10)      /* a not-valid PTE in prototype format (MMPTE_PROTOTYPE) */
#define MI_PTE_PFN(pte)  (((pte) & MI_PTE_PFN_MASK) >> PAGE_SHIFT)

/* A prototype-format PTE naming ADDRESS (a prototype PTE, or in a
 * prototype array the image whose file holds the page), protection MM. */
static inline ULONG64 MiMakePrototypeFormatPte(const void *address, ULONG mm)
{
    return ((ULONG64)address << 16) | ((ULONG64)(mm & 0x1F) << 5) | MI_PTE_PROTOTYPE;
}
static inline BOOLEAN MiIsPrototypeFormatPte(ULONG64 v)
{
    return (v & (MI_PTE_VALID | MI_PTE_PROTOTYPE | MI_PTE_TRANSITION)) == MI_PTE_PROTOTYPE;
}
static inline PVOID MiPrototypeFormatAddress(ULONG64 v)
{
    return (PVOID)((LONG64)v >> 16);   /* arithmetic: bit 63 (address bit 47) sign-extends */
}

/* NT's protection codes (MM_*), kept in software PTEs. An enum, not #defines,
 * so that the values reach the DWARF (scripts/gdb/mdlos reads them there). */
enum {
    MM_NOACCESS          = 0,
    MM_READONLY          = 1,
    MM_EXECUTE           = 2,
    MM_EXECUTE_READ      = 3,
    MM_READWRITE         = 4,
    MM_WRITECOPY         = 5,
    MM_EXECUTE_READWRITE = 6,
    MM_EXECUTE_WRITECOPY = 7,
    MM_NOCACHE           = 0x08,
    MM_GUARD_PAGE        = 0x10,
    MM_WRITECOMBINE      = 0x18,
};

/* Self-map arithmetic: PML4 slot 0x1ED points at the PML4 itself, so the
 * PTE for any VA sits at PTE_BASE + (VA bits 47..12) * 8, and applying the
 * same formula again gives the PDE, PPE and PXE. */
static inline PMMPTE MiGetPteAddress(const void *va)
{
    return (PMMPTE)(PTE_BASE + ((((ULONG64)va) >> 9) & 0x7FFFFFFFF8ULL));
}
static inline PMMPTE MiGetPdeAddress(const void *va)
{
    return (PMMPTE)(PDE_BASE + ((((ULONG64)va) >> 18) & 0x3FFFFFF8ULL));
}
static inline PMMPTE MiGetPpeAddress(const void *va)
{
    return (PMMPTE)(PPE_BASE + ((((ULONG64)va) >> 27) & 0x1FFFF8ULL));
}
static inline PMMPTE MiGetPxeAddress(const void *va)
{
    return (PMMPTE)(PXE_BASE + ((((ULONG64)va) >> 36) & 0xFF8ULL));
}
/* The VA a PTE maps (inverse of MiGetPteAddress), sign-extended. */
static inline PVOID MiGetVirtualAddressMappedByPte(const MMPTE *pte)
{
    LONG64 va = (LONG64)(((ULONG64)pte - PTE_BASE) << 9) << 16 >> 16;
    return (PVOID)va;
}

/* ---------------------------------------------------------------------
 * The PFN database: one MMPFN per RAM frame at MI_PFN_DATABASE + PFN * 48.
 * --------------------------------------------------------------------- */
typedef enum _MMLISTS {
    ZeroedPageList = 0,
    FreePageList = 1,
    StandbyPageList = 2,     /* clean: a copy is in backing store, the PTE is in transition */
    ModifiedPageList = 3,    /* dirty: must be written before the frame is reused */
    ModifiedNoWritePageList = 4,
    BadPageList = 5,
    ActiveAndValid = 6,      /* in use, on no list */
    TransitionPage = 7,      /* in-page or write I/O in progress */
} MMLISTS;

/* Who a frame belongs to; shown by `pfn`/`pfnstats` and kept in the check. */
typedef enum _MI_PFN_USAGE {
    MiUsageFree = 0,
    MiUsageKernelImage,
    MiUsagePageTable,
    MiUsagePfnDatabase,
    MiUsageNonPagedPool,
    MiUsagePagedPool,
    MiUsageKernelStack,
    MiUsageBootModule,
    MiUsageDriver,          /* MmAllocatePagesForMdl and friends */
    MiUsageTest,
    MiUsageUser,
    MiUsageImage,           /* an image page's contents, shared by every process running it */
    MiUsageMax
} MI_PFN_USAGE;

#define MI_PFN_LIST_END ((PFN_NUMBER)-1)

typedef struct _MMPFN {
    PFN_NUMBER Flink;        /* next frame on its list (MI_PFN_LIST_END ends it) */
    PFN_NUMBER Blink;        /* previous frame */
    PMMPTE PteAddress;       /* the PTE mapping (or last mapping) this frame, via the self-map;
                                for a PrototypePte frame, its prototype PTE */
    MMPTE OriginalPte;       /* what that PTE becomes when the frame is taken away */
    ULONG ShareCount;        /* valid PTEs mapping it; for a page table, entries in use */
    USHORT ReferenceCount;   /* 1 while mapped or on I/O, +1 per MDL lock */
    UCHAR PageLocation;      /* MMLISTS */
    UCHAR Modified : 1;      /* contents exist nowhere else: write before reuse */
    UCHAR PteDeleted : 1;    /* the PTE is gone: free the frame at the last dereference */
    UCHAR CacheAttribute : 2;
    UCHAR PrototypePte : 1;  /* a shared image frame: PteAddress is its prototype PTE (in the
                                image's array, nonpaged pool), not any process's PTE; NT's
                                u4.PrototypePte */
    UCHAR ReadInProgress : 1;  /* a hard fault is reading it from the pagefile (TransitionPage);
                                  Blink then names the MI_INPAGE_BLOCK colliders wait on (NT's u1.Event) */
    UCHAR WriteInProgress : 1; /* the modified page writer is writing it out (mm/mpw.c) */
    UCHAR Spare : 1;
    ULONG64 PteFrame : 40;   /* the page table holding PteAddress: a user PTE's self-map
                                address is only meaningful in its own process (for a
                                PrototypePte frame: the pool page holding the prototype) */
    ULONG64 Usage : 8;       /* MI_PFN_USAGE */
    ULONG64 Spare2 : 16;
} MMPFN, *PMMPFN;
_Static_assert(sizeof(MMPFN) == 48, "MMPFN is 48 bytes, as on x64 NT");

typedef struct _MMPFNLIST {
    PFN_NUMBER Total;
    MMLISTS ListName;
    PFN_NUMBER Flink, Blink;
} MMPFNLIST, *PMMPFNLIST;

extern PMMPFN MmPfnDatabase;
extern PFN_NUMBER MmHighestPhysicalPage, MmLowestPhysicalPage;
extern MMPFNLIST MmZeroedPageListHead, MmFreePageListHead, MmStandbyPageListHead, MmModifiedPageListHead,
    MmBadPageListHead;
extern PMMPFNLIST MmPageLocationList[6];
#define MI_PFN_ELEMENT(pfn) (&MmPfnDatabase[pfn])

/* The frame holding ENTRY: for a PTE (PDE, PPE) reached through the
 * self-map, its page table, whose PFN entry's ShareCount counts the entries
 * in use; for a prototype PTE, the pool page holding it. What
 * MMPFN.PteFrame records. The one lookup every mapping path uses. */
static inline PFN_NUMBER MiGetPteFrame(const MMPTE *entry)
{
    return MI_PTE_PFN(MiGetPteAddress(entry)->u.Long);
}

/* ---- the memory thresholds (mm/thresholds.c), sized from the RAM in MM
 * init: a fraction of it up to a ceiling, as NT sizes its own. ----
 * MiLowMemoryPages: below this many available pages, MiAllocatePfn wakes
 * the working-set manager (mm/userfault.c); RAM / 4, at most 2048 (8 MiB).
 * MiMinimumAvailablePages: see may_take_last_frames (mm/pfn.c); RAM / 64,
 * at most 96. MmProcessCreateReservePages (mm.h): the process manager's. */
extern PFN_NUMBER MiLowMemoryPages, MiMinimumAvailablePages;
typedef struct {
    PFN_NUMBER MinimumAvailable, LowMemory, ProcessCreateReserve;
} MI_MEMORY_THRESHOLDS;
/* What a machine of PAGES RAM pages gets (pure: the tests try any size). */
void MiComputeMemoryThresholds(PFN_NUMBER pages, MI_MEMORY_THRESHOLDS *out);
void MiInitializeMemoryThresholds(void);

/* ---- physical memory (mm/physmem.c) ---- */
typedef struct { PFN_NUMBER start, end; } MI_PFN_RANGE;   /* [start, end) */
#define MI_MAX_RAM_RANGES 32
extern MI_PFN_RANGE MiRamRanges[MI_MAX_RAM_RANGES];
extern ULONG MiRamRangeCount;
void MiInitializePhysicalMemory(void);
BOOLEAN MiIsPfnRam(PFN_NUMBER pfn);
/* Before the PFN database exists: a zeroed frame below 1 GiB (reached
 * through the boot mapping). Its PFN, which the page-table walk in
 * MiInitializePfnDatabase later finds and accounts. */
PFN_NUMBER MiEarlyAllocatePage(void);
BOOLEAN MiIsPfnReservedAtBoot(PFN_NUMBER pfn);   /* boot modules */
void MiCloseEarlyAllocator(void);

/* ---- PFN database (mm/pfn.c) ---- */
/* The PFN lock: a spin lock (so DISPATCH_LEVEL) over the PFN database -
 * every frame's list links, location, reference count and usage, the list
 * heads, MmAvailablePages and MiUsageCount. Routines marked "PFN lock"
 * below must be called with it held and assert so (a bugcheck
 * SPIN_LOCK_NOT_OWNED naming the routine otherwise); MiAllocatePfn and
 * MiFreePfn take it themselves. Inside it only hyperspace may be used (the
 * per-CPU mapping, for zeroing and repurposing): no pool, no frame
 * allocation, no signalling. docs/mm.md §6 has the whole lock order. */
extern KSPIN_LOCK MmPfnLock;
static inline KIRQL MiAcquirePfnLock(void)
{
    KIRQL old;
    KeAcquireSpinLock(&MmPfnLock, &old);
    return old;
}
static inline void MiReleasePfnLock(KIRQL old)
{
    KeReleaseSpinLock(&MmPfnLock, old);
}
#define MI_ASSERT_PFN_LOCK_HELD() KI_ASSERT_LOCK_HELD(&MmPfnLock, "the PFN lock")
#define MI_ASSERT_PFN_LOCK_NOT_HELD(why) KI_ASSERT_LOCK_NOT_HELD(&MmPfnLock, "the PFN lock", (why))

void MiInitializePfnDatabase(void);
/* A frame for USAGE: zeroed if ZERO. 0 when there is none (PFN 0 is
 * below 1 MiB and never handed out). Charged usages (user, image, page
 * table) wait for a frame below DISPATCH_LEVEL instead (bugcheck 0x4D after
 * MiFrameWaitLimitMs); uncharged ones also get 0 when the frames left are
 * promised to committed memory (mm/commit.c). */
PFN_NUMBER MiAllocatePfn(MI_PFN_USAGE usage, BOOLEAN zero);
extern ULONG MiFrameWaitLimitMs;
extern volatile ULONG64 MiFrameWaits;
PFN_NUMBER MiAllocatePfnInRange(MI_PFN_USAGE usage, BOOLEAN zero, PFN_NUMBER low, PFN_NUMBER high);
/* COUNT consecutive frames in [LOW, HIGH] not crossing a multiple of
 * BOUNDARY pages (0: none); the first PFN, or 0 (mm/pfn.c). */
PFN_NUMBER MiAllocateContiguousPfns(MI_PFN_USAGE usage, BOOLEAN zero, PFN_NUMBER count, PFN_NUMBER low,
                                    PFN_NUMBER high, PFN_NUMBER boundary);
/* Give back a frame nothing maps and nothing references (takes the PFN
 * lock; MiFreePfnLocked for a caller that holds it). */
void MiFreePfn(PFN_NUMBER pfn);
void MiFreePfnLocked(PFN_NUMBER pfn);
/* PFN lock. */
void MiInsertPageInList(PMMPFNLIST list, PFN_NUMBER pfn);
/* PFN lock. Put an unreferenced frame on the free list, forgetting its owner. */
void MiInsertFreePage(PFN_NUMBER pfn);
/* PFN lock. */
void MiUnlinkPfnFromList(PFN_NUMBER pfn);
/* PFN lock. Drop one reference; at zero the frame goes to the free list
 * (PTE deleted), modified list (dirty) or standby list (clean). */
void MiDecrementReferenceCount(PFN_NUMBER pfn);
/* The frame's contents changed behind its PTE's back (a device wrote it
 * through an MDL): it must be written out before it is reused, so a trim
 * sends it to the modified list, not standby. At DISPATCH_LEVEL. */
void MiMarkPfnModified(PFN_NUMBER pfn);
/* A process PTE stopped mapping shared (PrototypePte) frame PFN; at the
 * last share its prototype PTE goes to transition and the frame to the
 * standby list (mm/image.c). At DISPATCH_LEVEL. */
void MiDecrementShareCount(PFN_NUMBER pfn);
/* PFN lock. The frame a transition PTE names is mapped again (every soft
 * fault: paged pool, a process page, a prototype PTE): off the modified or
 * standby list with one reference, or, if an MDL lock kept it active
 * meanwhile, one reference more; and one share more. */
void MiMakeTransitionPageActive(PFN_NUMBER pfn);
/* PFN lock. The transition PTE naming PFN was deleted: the frame goes to
 * the free list, or, if an MDL lock holds it, at the last unlock. */
void MiDeleteTransitionPage(PFN_NUMBER pfn);
/* Check every invariant of the database; on failure bugcheck
 * PFN_LIST_CORRUPT (if FATAL) or return FALSE with a message printed. */
BOOLEAN MiVerifyPfnDatabase(BOOLEAN fatal);
/* Frames not on the free/zeroed/bad lists: everything somebody holds. */
PFN_NUMBER MiCommittedPages(void);
extern PFN_NUMBER MiUsageCount[MiUsageMax];
ULONG MiCountPfnsByUsage(MI_PFN_USAGE usage);
void MiCountPfnsByUsageAll(PFN_NUMBER counts[MiUsageMax]);   /* one pass: every usage */
const char *MiUsageName(UCHAR usage);
const char *MiListName(UCHAR location);

/* ---- page tables (mm/pagetable.c) ---- */
#define MI_PROT_KERNEL_RW  (MI_PTE_WRITE | MI_PTE_NX | MI_PTE_GLOBAL)
#define MI_PROT_KERNEL_RO  (MI_PTE_NX | MI_PTE_GLOBAL)
#define MI_PROT_KERNEL_RX  (MI_PTE_GLOBAL)
void MiInitializePageTables(void);
/* Make sure the PXE, PPE and PDE above VA exist (allocating zeroed page
 * tables as needed); FALSE when out of memory. */
BOOLEAN MiEnsurePageTables(const void *va);
/* Map VA to PFN with hardware FLAGS (MI_PTE_*; VALID is implied) and
 * account the mapping in the PFN entry (when PFN is RAM). */
void MiMapPage(void *va, PFN_NUMBER pfn, ULONG64 flags);
/* Unmap VA; returns the frame it mapped (its counts are the caller's). */
PFN_NUMBER MiUnmapPage(void *va);
/* Write a PTE and flush the old translation from this CPU's TLB. */
void MiWritePteAndFlush(PMMPTE pte, ULONG64 value);
/* Write a PTE of a system PTE run just reserved: every run goes back
 * zero (mm/sysptes.c), and a not-present entry is never cached, so there
 * is neither an old value to read nor a translation to flush. One 64-bit
 * store, as MiWritePteAndFlush's: the CPU must never see half an entry. */
static inline void MiWriteFreshPte(PMMPTE pte, ULONG64 value)
{
    *(volatile ULONG64 *)&pte->u.Long = value;
}
/* PTE cache bits for a caching type, through the PAT set in MiInitializePat. */
ULONG64 MiCacheFlags(MEMORY_CACHING_TYPE type);
void MiInitializePat(void);
/* Upper levels present and the PTE itself readable? */
BOOLEAN MiIsPteAccessible(const void *va);
/* The PTE of user page VPN in the current address space, 0 when a table
 * above it is absent; *LAST is the last page known to read the same: the
 * end of the absent table's span (2 MiB, 1 GiB or 512 GiB), else VPN.
 * Walks over user ranges step with it, so they cost what is mapped. */
ULONG64 MiReadUserPte(ULONG64 vpn, ULONG64 *last);

/* ---- commit (mm/commit.c) ----
 * The commit charge is every page promised to somebody who may touch it
 * later (committed private pages, page tables, writable image pages, the
 * image cache); the limit is what can be made available for them. */
extern volatile ULONG64 MmTotalCommittedPages, MmPeakCommitment;
extern volatile ULONG64 MiUserPageTables;   /* user page-table frames (PML4s too) */
#define MI_COMMIT_RESERVE_PAGES 512ULL      /* 2 MiB kept for the kernel's own must-succeed frames */
ULONG64 MiCommitLimit(void);
/* May a frame go to an uncharged user (pool, kernel stack, driver) without
 * eating frames promised to committed memory? */
BOOLEAN MiUnchargedFrameAllowed(void);

/* ---- hyperspace (mm/hyperspace.c) ---- */
/* Map PFN at a per-CPU temporary address; raises to DISPATCH_LEVEL until
 * the matching unmap, as NT's MiMapPageInHyperSpace does. */
PVOID MiMapPageInHyperspace(PFN_NUMBER pfn, PKIRQL old_irql);
void MiUnmapPageInHyperspace(PVOID va, KIRQL old_irql);
void MiZeroPhysicalPage(PFN_NUMBER pfn);
void MiZeroPage(PVOID va);                /* a mapped page, 64-bit stores (mm/hyperspace.c) */
void MiZeroPageNonTemporal(PVOID va);     /* the same, bypassing the cache (the zero-page thread) */
ULONG MiHyperspaceSlotsInUse(void);

/* ---- system PTEs (mm/sysptes.c) ---- */
/* Clear COUNT PTEs and flush what they may have left in the TLB at once:
 * single invalidations for up to MI_FLUSH_LIST_MAX pages that were used,
 * a full flush past that (NT's flush list). */
#define MI_FLUSH_LIST_MAX 32
void MiZeroPtesAndFlush(PMMPTE pte, ULONG count);
void MiFlushEntireTb(void);
extern ULONG64 MiFlushListSingles, MiFlushListFull;
/* Reserve COUNT contiguous PTEs (plus one guard PTE after them). */
PMMPTE MiReserveSystemPtes(ULONG count);
void MiReleaseSystemPtes(PMMPTE first, ULONG count);
/* Unmap a run: MiZeroPtesAndFlush, then release it (without re-reading
 * the PTEs it has just cleared). */
void MiUnmapSystemPtes(PMMPTE first, ULONG count);
ULONG MiSystemPtesInUse(void);
ULONG MiSystemPtesTotal(void);
void MiInitializeSystemPtes(void);

/* ---- pools (mm/pool.c, mm/pagedpool.c) ---- */
void MiInitializePools(void);
ULONG64 MiPoolOutstandingAllocations(void);
/* Trim up to COUNT paged-pool pages out of the system working set (all
 * when COUNT is 0): their PTEs go to transition, the frames to the
 * modified list. Returns how many were trimmed. */
ULONG MmTrimSystemWorkingSet(ULONG count);
ULONG MiSystemWorkingSetSize(void);

/* ---- working sets (mm/wslist.c) ----
 * One MMSUPPORT (kernel/ps.h) per working set, as on NT: the system's,
 * MmSystemCacheWs (every valid paged-pool page), and each process's,
 * EPROCESS.Vm (its valid user pages). One insert, one remove, one trim
 * and one transition fault serve both. Each list is changed under its own
 * lock: the system's under the PFN lock, so that an entry changes with its
 * PTE (docs/mm.md §6); a process's under its AddressSpaceLock, held by the
 * caller, because it grows from pool, which nothing may allocate inside the
 * PFN lock (the system list has room for every paged-pool page from the
 * start and never grows). */
typedef struct _MMSUPPORT *PMMSUPPORT;
struct _EPROCESS;
extern struct _MMSUPPORT MmSystemCacheWs;
/* VA's PTE was just made valid: add it (NT's MiAllocateWsle). A process
 * list that cannot grow leaves the page untracked: it is never trimmed. */
void MiInsertWsle(PMMSUPPORT ws, PVOID va);
/* VA (its PTE still valid) leaves the list (NT's MiRemoveWsle). */
void MiRemoveWsle(PMMSUPPORT ws, PVOID va);
/* PFN lock. VA, just taken out of working set WS, becomes not valid
 * (NT's MiEliminateWorkingSetEntry): a private or paged-pool frame keeps
 * the page in transition and goes to the modified list (no pagefile holds
 * a copy); a shared image frame's PTE goes back to prototype format and
 * the frame loses one share. */
void MiEliminateWorkingSetEntry(PMMSUPPORT ws, PVOID va);
/* A process's list storage goes with the process (MmDeleteAddressSpace). */
void MiDeleteWorkingSetList(PMMSUPPORT ws);
/* Which entries a trim takes. */
typedef enum _MI_TRIM_ORDER {
    MiTrimAtNextSlot,     /* a clock hand (NextSlot) kept between trims: the system working set */
    MiTrimFirstEntry,     /* always entry 0, whose hole the last entry fills: the working-set manager */
    MiTrimLastEntry,      /* from the end of the list: emptying a process's working set */
} MI_TRIM_ORDER;
/* Trim COUNT entries (0: all) out of WS, each through
 * MiEliminateWorkingSetEntry; returns how many (NT's MiTrimWorkingSet). */
ULONG MiTrimWorkingSet(PMMSUPPORT ws, ULONG count, MI_TRIM_ORDER order);
/* The transition (soft) fault, for both kinds of working set: VA's PTE
 * names a frame still in memory; it is made valid again with that frame
 * and VA re-enters the working set of PROCESS (NULL: paged pool, the
 * system working set). A process page's protection, kept in the PTE, is
 * checked first (a guard page fires once); paged pool is always kernel
 * read/write. Below DISPATCH_LEVEL only. */
NTSTATUS MiResolveTransitionFault(PVOID va, PMMPTE pte, struct _EPROCESS *process, ULONG64 error);
/* Each resolved user fault counts in MiSystemFaults[] and in the process's
 * Vm.Counters, in this order (mm/userfault.c). */
typedef enum _MI_FAULT_KIND { MiFaultDemandZero, MiFaultSoft, MiFaultCopyOnWrite, MiFaultImage, MiFaultHard } MI_FAULT_KIND;
void MiCountFault(struct _EPROCESS *process, MI_FAULT_KIND kind);

/* ---- page faults (mm/fault.c) ---- */
/* Resolve a fault at VA; STATUS_SUCCESS when the access can be retried.
 * A failure status is returned for user addresses (the caller ends the
 * process or raises under ExTry); a bad kernel access bugchecks here. */
NTSTATUS MmAccessFault(ULONG64 error_code, PVOID va, PKTRAP_FRAME frame);

/* ---- the address map, for the boot banner, `memmap` and docs ---- */
typedef struct { const char *name; ULONG64 start, end; } MI_REGION;
extern const MI_REGION MiAddressMap[];
extern const ULONG MiAddressMapCount;
void MiPrintAddressMap(void);
void MiGdbCheckpoint(void);
void MiGdbCheckpointDone(void);

/* The boot images (mm/image.c) and the working-set manager thread
 * (mm/userfault.c), which low memory wakes (mm/pfn.c). */
void MiLoadBootImages(void);
void MiStartWorkingSetManager(void);
void MiSignalLowMemory(void);
/* The zero-page thread (mm/zeropage.c): fills the zeroed list at idle, up
 * to MiZeroedPageTarget frames; an allocation wakes it when the list runs low. */
void MiStartZeroPageThread(void);
/* mm/pfn.c: under the PFN lock, 0 if none; FOLLOW + 1 preferred (the frame of the page before, or 0) */
PFN_NUMBER MiAllocateZeroedPfnLocked(MI_PFN_USAGE usage, PFN_NUMBER follow);
extern ULONG64 MiContiguousFollows;
void MiSignalZeroPageThread(void);
BOOLEAN MiZeroOneFreePage(void);
extern PFN_NUMBER MiZeroedPageTarget;
extern volatile ULONG64 MiZeroPageThreadPages;
/* What wakes the working-set manager thread (mm/userfault.c). */
extern KEVENT MiWorkingSetManagerEvent;
extern ULONG64 MiWorkingSetManagerRuns, MiWorkingSetManagerTrimmed;

/* =====================================================================
 * Per-process memory (moved from kernel/ps/ps.h): VADs, images, working
 * sets, and the routines of mm/ that work on a process's address space.
 * ===================================================================== */
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

/* ---- a working set: a process's valid user pages (EPROCESS.Vm), or the
 * system's valid paged-pool pages (MmSystemCacheWs); mm/wslist.c ---- */
typedef struct _MMSUPPORT {
    PVOID *List;                   /* page-aligned VAs */
    ULONG Count, Capacity, Peak;
    ULONG NextSlot;                /* the trim's clock hand (MiTrimAtNextSlot), NT's MMWSL.NextSlot */
    BOOLEAN GrowFailed;            /* the list could not grow: do not retry until an entry leaves */
    BOOLEAN LabFaults;             /* a fault lab's process (docs/labs/fault.md): see MiLabDispatchFault */
    PROCESS_FAULT_COUNTERS_T Counters;
} MMSUPPORT;

extern volatile ULONG64 MiSystemFaults[5];   /* demand-zero, soft, COW, image, hard */

/* =====================================================================
 * Paging files (mm/pagefile.c), the modified page writer (mm/mpw.c) and
 * hard faults (mm/pagefault.c). docs/paging.md follows one page's life.
 * ===================================================================== */
#define MI_MAX_PAGING_FILES 16          /* PageFileLow has 4 bits */
#define MI_WRITE_CLUSTER_PAGES 16       /* NT's MM_MAXIMUM_WRITE_CLUSTER: 64 KiB per paging write */
struct _FILE_OBJECT;
typedef struct _MMPAGING_FILE {
    struct _FILE_OBJECT *File;          /* the disk, opened once (referenced while the file exists) */
    ULONG64 BaseOffset;                 /* bytes: where on the disk slot 0 is */
    ULONG64 Size;                       /* slots (pages), slot 0 included and never used */
    ULONG64 FreeSpace;                  /* slots that are clear in Bitmap */
    ULONG64 Hint;                       /* next-fit: where the last allocation ended */
    ULONG64 *Bitmap;                    /* 1 = slot in use; nonpaged pool */
    ULONG Index;                        /* PageFileLow */
    char Name[48];
} MMPAGING_FILE, *PMMPAGING_FILE;
extern PMMPAGING_FILE MmPagingFile[MI_MAX_PAGING_FILES];
extern volatile ULONG MmNumberOfPagingFiles;
/* Slots in use (slot 0 of each file aside), the slots they hold that
 * belong to paged-pool pages (uncharged: mm/commit.c), all slots. PFN lock. */
extern volatile ULONG64 MiPageFileSlotsInUse, MiPageFileSystemSlots, MiPageFileTotalSlots;
/* A pagefile PTE (MMPTE_SOFTWARE): not valid, not transition, not prototype,
 * PageFileHigh != 0 (a slot, never 0: 0 means "not in a file", so a
 * demand-zero PTE stays one). */
static inline BOOLEAN MiIsPageFilePte(ULONG64 v)
{
    return !(v & (MI_PTE_VALID | MI_PTE_TRANSITION | MI_PTE_PROTOTYPE)) && (v >> 32) != 0;
}
static inline ULONG64 MiMakePageFilePte(ULONG file, ULONG64 slot, ULONG mm)
{
    MMPTE p = { .u.Long = 0 };
    p.u.Soft.PageFileLow = file;
    p.u.Soft.PageFileHigh = slot;
    p.u.Soft.Protection = mm;
    return p.u.Long;
}
/* Open the disk NAME and use BYTES of it from OFFSET (0: to its end) as
 * paging file; the commit limit grows by its slots. */
NTSTATUS MiCreatePagingFile(const char *name, ULONG64 offset, ULONG64 bytes);
/* The command line's `pagefile=` (after the I/O system is up; kmain). */
void MmInitializePagingFiles(void);
/* Tests: take the last paging file away again. Every page out in it is
 * brought back first (paged pool by touching it); refused with
 * STATUS_UNSUCCESSFUL while a process page is still out there. */
NTSTATUS MiDeletePagingFile(void);
/* PFN lock. Up to WANT contiguous free slots in one file: the first one
 * and how many (0: the files are full). */
ULONG MiAllocatePageFileSpace(ULONG want, ULONG *file, ULONG64 *first);
/* PFN lock. Give back the slot pagefile PTE V names; SYSTEM: a paged-pool page's. */
void MiReleasePageFileSpace(ULONG64 v, BOOLEAN system);
/* PFN lock. Is the slot V names in use in its bitmap? (the PFN check) */
BOOLEAN MiPageFileSlotInUse(ULONG64 v);
ULONG64 MiCountPageFileBitsInUse(void);

/* The modified page writer (mm/mpw.c). */
void MiStartModifiedPageWriter(void);
/* Wake it (not under the PFN lock or the dispatcher lock): whenever the
 * modified list is not empty / only when its threshold is passed or memory
 * is low (every allocation asks: MiSignalLowMemory). */
void MiWakeModifiedPageWriter(void);
void MiSignalModifiedPageWriter(void);
/* Write clusters until the modified list is empty or nothing more can be
 * written (tests, MiDeletePagingFile): pages written. Below DISPATCH_LEVEL. */
ULONG64 MiFlushModifiedPages(void);
/* Wait until no paging write is in flight (tests, for exact counters). */
void MiWaitForPagingIdle(void);
/* Tests (the mpw lab): the writer (its thread and MiFlushModifiedPages)
 * takes no page while paused; returns once no cluster of it is in flight.
 * Memory must not run short meanwhile: nothing else makes pages available. */
void MiPauseModifiedPageWriter(BOOLEAN pause);
extern volatile ULONG64 MiPagesInFlight;    /* write or read I/O on them now */
extern volatile ULONG64 MiMpwPagesWritten, MiMpwClusters, MiMpwWriteErrors, MiMpwRewrites, MiMpwRuns;
extern volatile ULONG64 MiMpwClusterSizes[MI_WRITE_CLUSTER_PAGES + 1];
extern volatile ULONG64 MiInPageReads, MiInPageErrors, MiCollidedFaults;
/* Tests: called with the frames of each write cluster just before the
 * write is sent (MiTestWriteHook; WriteInProgress set, PTEs in transition)
 * and with the address of each in-page read just before it is sent
 * (MiTestReadHook: ReadInProgress set); below DISPATCH_LEVEL, no lock held. */
extern void (*MiTestWriteHook)(PFN_NUMBER *pages, ULONG count);
extern void (*MiTestReadHook)(PVOID va);

/* Hard faults (mm/pagefault.c): VA's PTE (valid page tables above it) is
 * a pagefile PTE: read the page in and make it valid (PROCESS: its working
 * set, whose address-space lock the caller holds; NULL: paged pool).
 * STATUS_SUCCESS to retry the access; STATUS_IN_PAGE_ERROR for a process
 * whose read failed (paged pool: KERNEL_DATA_INPAGE_ERROR 0x7A). */
NTSTATUS MiResolvePageFileFault(PVOID va, PMMPTE pte, struct _EPROCESS *process, ULONG64 error);
/* PFN lock held on entry; a transition PTE names frame PFN, which is being
 * read in: wait for that read (a collided fault), drop the lock. */
NTSTATUS MiWaitForInPage(PFN_NUMBER pfn, KIRQL old);
/* Charged-like frame for a page-in: waits, never refused (mm/pfn.c);
 * NoWait: 0 at once when there is none (a read cluster's extra pages). */
PFN_NUMBER MiAllocatePfnForPageIn(MI_PFN_USAGE usage);
PFN_NUMBER MiAllocatePfnNoWait(MI_PFN_USAGE usage);
/* Pages an in-page read may bring in at once (1: no read clustering), and
 * how many came in besides the faulting ones (mm/pagefault.c). */
#define MI_READ_CLUSTER_MAX 8
extern ULONG MiReadClusterPages;
extern volatile ULONG64 MiInPagePrefetched;
/* Repurpose and free every standby frame (NT's MemoryPurgeStandbyList): how many. */
ULONG64 MiPurgeStandbyList(void);
/* User frames now on the standby list (their data is in a slot: mm/commit.c). */
extern volatile ULONG64 MiStandbyUserPages;
/* Below MiMinimumAvailablePages (mm/thresholds.c) only memory makers (the
 * modified page writer, a thread sending an in-page read:
 * KTHREAD.MemoryMaker) get a frame while a pagefile exists, so the path
 * that frees memory never waits for memory (NT keeps MmMinimumFreePages
 * for the same reason). */

/* for the process manager (kernel/ps/process.c) */
NTSTATUS MmCreateAddressSpace(PEPROCESS p);
void MmDeleteAddressSpace(PEPROCESS p);
NTSTATUS MmMapImage(PEPROCESS p, const char *name, ULONG64 *entry, ULONG64 *stack_top);
/* The prototype PTE of image page VA (mm/image.c). */
PMMPTE MiImagePrototypePte(PMI_IMAGE im, PVOID va);
NTSTATUS MiResolveProtoPteFault(PEPROCESS p, PMMVAD vad, PVOID va, ULONG64 error);
PMMVAD MiLocateVad(PEPROCESS p, ULONG64 va);
NTSTATUS MiUserFault(PEPROCESS p, ULONG64 va, ULONG64 error, BOOLEAN user_mode);
ULONG MmTrimProcessWorkingSet(PEPROCESS p);

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
/* A guard page of VAD was touched (demand-zero PTE or MemCommit page, MM
 * protection MM): grow the stack, or fire once (STATUS_GUARD_PAGE_VIOLATION). */
NTSTATUS MiCheckForUserStackOverflow(PEPROCESS p, PMMVAD vad, PVOID page, PMMPTE pte, ULONG mm);
/* The fault lab's hook (mm/lab/fault.c): a process whose Vm.LabFaults a
 * test set has its demand-zero and copy-on-write faults resolved by the
 * student's code; every other process never comes here. */
NTSTATUS MiLabDispatchFault(PEPROCESS p, PMMVAD vad, PVOID page, PMMPTE pte, ULONG64 v, ULONG64 error);
/* TRUE (once) for the address space the thread named by
 * MiLabRouteNextAddressSpace creates next: a test's ring-3 process is
 * routed before its thread can take its first fault. */
BOOLEAN MiLabClaimNewAddressSpace(void);
void MiLabRouteNextAddressSpace(struct _KTHREAD *creator);
BOOLEAN MiRangeIsFree(PEPROCESS p, ULONG64 start, ULONG64 end);

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
