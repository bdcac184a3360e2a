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

static void register_list(GENERAL_LOOKASIDE *l, BOOLEAN add)
{
    for (int i = 0; i < MAX_LISTS; i++) {
        if (add ? lists[i] == NULL : lists[i] == l) {
            lists[i] = add ? l : NULL;
            return;
        }
    }
}

ULONG64 MiLookasideCachedBlocks(BOOLEAN paged)
{
    ULONG64 n = 0;
    for (int i = 0; i < MAX_LISTS; i++)
        if (lists[i] && ((lists[i]->Type & 1) != 0) == paged && lists[i]->Allocate == ExAllocatePoolWithTag)
            n += lists[i]->Depth;
    return n;
}

static void init(GENERAL_LOOKASIDE *l, PALLOCATE_FUNCTION alloc, PFREE_FUNCTION free, SIZE_T size, ULONG tag,
                 USHORT depth, POOL_TYPE type)
{
    memset(l, 0, sizeof(*l));
    l->Allocate = alloc ? alloc : ExAllocatePoolWithTag;
    l->Free = free ? free : ExFreePool;
    /* A freed block holds the list link, so it must have room for one. */
    l->Size = (ULONG)(size < sizeof(SLIST_ENTRY) ? sizeof(SLIST_ENTRY) : size);
    l->Tag = tag;
    l->MaximumDepth = depth ? depth : 16;
    l->Type = type;
    register_list(l, TRUE);
}

/* The list itself is only touched at DISPATCH_LEVEL (a push or pop cannot
 * be preempted half-way); the pool, when the list cannot serve, is called
 * at the caller's IRQL - paged pool must not be called at DISPATCH_LEVEL. */
static PVOID allocate(GENERAL_LOOKASIDE *l)
{
    KIRQL old = KeRaiseIrqlToDpcLevel();
    l->TotalAllocates++;
    PSLIST_ENTRY e = l->ListHead;
    if (e) {
        l->ListHead = e->Next;
        l->Depth--;
    } else {
        l->AllocateMisses++;
    }
    KeLowerIrql(old);
    return e ? e : l->Allocate(l->Type, l->Size, l->Tag);
}

static void free_to(GENERAL_LOOKASIDE *l, PVOID p)
{
    KIRQL old = KeRaiseIrqlToDpcLevel();
    l->TotalFrees++;
    BOOLEAN keep = l->Depth < l->MaximumDepth;
    if (keep) {
        PSLIST_ENTRY e = p;
        e->Next = l->ListHead;
        l->ListHead = e;
        l->Depth++;
    } else {
        l->FreeMisses++;
    }
    KeLowerIrql(old);
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

void ExInitializeNPagedLookasideList(PNPAGED_LOOKASIDE_LIST l, PALLOCATE_FUNCTION a, PFREE_FUNCTION f, ULONG flags,
                                     SIZE_T size, ULONG tag, USHORT depth)
{
    UNREFERENCED_PARAMETER(flags);
    init(l, a, f, size, tag, depth, NonPagedPoolNx);
}

void ExDeleteNPagedLookasideList(PNPAGED_LOOKASIDE_LIST l) { delete_list(l); }

PVOID ExAllocateFromNPagedLookasideList(PNPAGED_LOOKASIDE_LIST l) { return allocate(l); }
void ExFreeToNPagedLookasideList(PNPAGED_LOOKASIDE_LIST l, PVOID p) { free_to(l, p); }

/* Paged lists run below DISPATCH_LEVEL (their blocks may be paged out). */
void ExInitializePagedLookasideList(PPAGED_LOOKASIDE_LIST l, PALLOCATE_FUNCTION a, PFREE_FUNCTION f, ULONG flags,
                                    SIZE_T size, ULONG tag, USHORT depth)
{
    UNREFERENCED_PARAMETER(flags);
    init(l, a, f, size, tag, depth, PagedPool);
}

void ExDeletePagedLookasideList(PPAGED_LOOKASIDE_LIST l) { delete_list(l); }
PVOID ExAllocateFromPagedLookasideList(PPAGED_LOOKASIDE_LIST l) { return allocate(l); }
void ExFreeToPagedLookasideList(PPAGED_LOOKASIDE_LIST l, PVOID p) { free_to(l, p); }
