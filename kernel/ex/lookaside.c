/*
 * Lookaside lists: a per-use cache of fixed-size blocks in front of the
 * pool. Freed blocks are kept (up to Depth) and handed straight back to
 * the next allocation, skipping the pool's search and its lock - which is
 * why the I/O manager keeps IRPs and small MDLs in them.
 */
#include "mm/mi.h"

/* Every live lookaside list, so the leak check can tell blocks a list
 * keeps for reuse from blocks someone forgot. */
#define MAX_LISTS 64
static GENERAL_LOOKASIDE *lists[MAX_LISTS];
static KSPIN_LOCK lists_lock;   /* lists[] is shared by every thread that creates a list: a leaf lock */

static void register_list(GENERAL_LOOKASIDE *l, BOOLEAN add)
{
    KIRQL old;
    KeAcquireSpinLock(&lists_lock, &old);
    for (int i = 0; i < MAX_LISTS; i++) {
        if (add ? lists[i] == NULL : lists[i] == l) {
            lists[i] = add ? l : NULL;
            break;
        }
    }
    KeReleaseSpinLock(&lists_lock, old);
}

ULONG64 ExLookasideCachedBlocks(BOOLEAN paged)
{
    ULONG64 n = 0;
    KIRQL old;
    KeAcquireSpinLock(&lists_lock, &old);
    for (int i = 0; i < MAX_LISTS; i++)
        if (lists[i] && ((lists[i]->Type & 1) != 0) == paged && lists[i]->Allocate == ExAllocatePoolWithTag)
            n += lists[i]->Depth;
    KeReleaseSpinLock(&lists_lock, old);
    return n;
}

static void init(GENERAL_LOOKASIDE *l, PALLOCATE_FUNCTION alloc, PFREE_FUNCTION free, SIZE_T size, ULONG tag,
                 USHORT depth, POOL_TYPE type)
{
    /* The header holds the list's lock, which the dispatcher (for a paged
     * list's mutex) or any spin-lock holder touches at DISPATCH_LEVEL: in
     * paged pool it could be trimmed and fault there. NT requires nonpaged
     * storage for it; mdlos checks. */
    if ((ULONG64)l >= MI_PAGED_POOL_START && (ULONG64)l < MI_PAGED_POOL_START + MI_PAGED_POOL_PAGES * PAGE_SIZE)
        KeBugCheckRule(BAD_POOL_CALLER, 0x1001 /* mdlos */, (ULONG_PTR)l, type, 0,
                       "lookaside list header %p is in paged pool; a lookaside list header (and its lock) must be "
                       "in nonpaged memory", (void *)l);
    memset(l, 0, sizeof(*l));
    l->Allocate = alloc ? alloc : ExAllocatePoolWithTag;
    l->Free = free ? free : ExFreePool;
    /* A freed block holds the list link, so it must have room for one. */
    l->Size = (ULONG)(size < sizeof(SLIST_ENTRY) ? sizeof(SLIST_ENTRY) : size);
    l->Tag = tag;
    l->MaximumDepth = depth ? depth : 16;
    l->Type = type;
    KeInitializeSpinLock(&l->SpinLock);
    KeInitializeMutex(&l->Mutex, 0);
    register_list(l, TRUE);
}

/* The list is locked by its own kind of lock (see GENERAL_LOOKASIDE).
 * A nonpaged list takes a spin lock: its blocks are nonpaged, so reading a
 * block's link at DISPATCH_LEVEL is safe. A paged list must never do that:
 * its blocks are paged pool, and a kept block's page may have been trimmed
 * since it was freed; the pop reads that block's link (and the push writes
 * one), which soft-faults - allowed at APC_LEVEL, a bugcheck (0xA) at
 * DISPATCH_LEVEL. So a paged list holds a mutex at APC_LEVEL: it keeps
 * other threads out while the pop is half done (a block popped and freed
 * by someone else meanwhile would be read after its free), and still lets
 * the fault be served. The pool, when the list cannot serve, is called
 * after the lock is dropped. */
static BOOLEAN is_paged(GENERAL_LOOKASIDE *l) { return (l->Type & 1) != 0; }

static inline __attribute__((always_inline)) KIRQL list_lock(GENERAL_LOOKASIDE *l)
{
    KIRQL old;
    if (is_paged(l)) {
        KeRaiseIrql(APC_LEVEL, &old);
        if (KiSchedulerReady)
            KeWaitForSingleObject(&l->Mutex, Executive, KernelMode, FALSE, NULL);
    } else {
        /* KeAcquireSpinLock's body, inline (kernel/ke/ki.h says why). */
        old = KiRaiseIrqlInline(DISPATCH_LEVEL);
        KiAcquireSpinLockInline(&l->SpinLock, (ULONG_PTR)__builtin_return_address(0));
    }
    return old;
}

static inline __attribute__((always_inline)) void list_unlock(GENERAL_LOOKASIDE *l, KIRQL old)
{
    if (is_paged(l)) {
        if (KiSchedulerReady)
            KeReleaseMutex(&l->Mutex, FALSE);
        KeLowerIrql(old);
    } else {
        KiReleaseSpinLockInline(&l->SpinLock);
        KiLowerIrqlInline(old, (ULONG_PTR)__builtin_return_address(0));
    }
}

static inline __attribute__((always_inline)) PVOID allocate(GENERAL_LOOKASIDE *l)
{
    KIRQL old = list_lock(l);
    l->TotalAllocates++;
    PSLIST_ENTRY e = l->ListHead;
    if (e) {
        l->ListHead = e->Next;   /* paged list: may soft-fault, at APC_LEVEL */
        l->Depth--;
    } else {
        l->AllocateMisses++;
    }
    list_unlock(l, old);
    return e ? e : l->Allocate(l->Type, l->Size, l->Tag);
}

static inline __attribute__((always_inline)) void free_to(GENERAL_LOOKASIDE *l, PVOID p)
{
    KIRQL old = list_lock(l);
    l->TotalFrees++;
    BOOLEAN keep = l->Depth < l->MaximumDepth;
    if (keep) {
        PSLIST_ENTRY e = p;
        e->Next = l->ListHead;   /* paged list: may soft-fault, at APC_LEVEL */
        l->ListHead = e;
        l->Depth++;
    } else {
        l->FreeMisses++;
    }
    list_unlock(l, old);
    if (!keep)
        l->Free(p);
}

static void delete_list(GENERAL_LOOKASIDE *l)
{
    while (l->ListHead) {
        PSLIST_ENTRY e = l->ListHead;
        l->ListHead = e->Next;
        l->Free(e);
    }
    l->Depth = 0;
    register_list(l, FALSE);
}

/* NT's rules: nonpaged lists up to DISPATCH_LEVEL, paged lists up to
 * APC_LEVEL. Checked at the call, so a paged list used at DISPATCH_LEVEL
 * stops right there with the rule named, not later at whatever trimmed
 * block or paged-pool call it would have touched. */
void ExInitializeNPagedLookasideList(PNPAGED_LOOKASIDE_LIST l, PALLOCATE_FUNCTION a, PFREE_FUNCTION f, ULONG flags,
                                     SIZE_T size, ULONG tag, USHORT depth)
{
    UNREFERENCED_PARAMETER(flags);
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    init(l, a, f, size, tag, depth, NonPagedPoolNx);
}

void ExDeleteNPagedLookasideList(PNPAGED_LOOKASIDE_LIST l)
{
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    delete_list(l);
}

PVOID ExAllocateFromNPagedLookasideList(PNPAGED_LOOKASIDE_LIST l)
{
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    return allocate(l);
}

void ExFreeToNPagedLookasideList(PNPAGED_LOOKASIDE_LIST l, PVOID p)
{
    KI_ASSERT_IRQL_LE(DISPATCH_LEVEL);
    free_to(l, p);
}

void ExInitializePagedLookasideList(PPAGED_LOOKASIDE_LIST l, PALLOCATE_FUNCTION a, PFREE_FUNCTION f, ULONG flags,
                                    SIZE_T size, ULONG tag, USHORT depth)
{
    UNREFERENCED_PARAMETER(flags);
    KI_ASSERT_IRQL_LE(APC_LEVEL);
    init(l, a, f, size, tag, depth, PagedPool);
}

void ExDeletePagedLookasideList(PPAGED_LOOKASIDE_LIST l)
{
    KI_ASSERT_IRQL_LE(APC_LEVEL);
    delete_list(l);
}

PVOID ExAllocateFromPagedLookasideList(PPAGED_LOOKASIDE_LIST l)
{
    KI_ASSERT_IRQL_LE(APC_LEVEL);
    return allocate(l);
}

void ExFreeToPagedLookasideList(PPAGED_LOOKASIDE_LIST l, PVOID p)
{
    KI_ASSERT_IRQL_LE(APC_LEVEL);
    free_to(l, p);
}
