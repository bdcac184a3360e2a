/*
 * Executive pools: ExAllocatePoolWithTag and ExFreePoolWithTag.
 *
 * Small blocks (up to 4064 bytes) are carved from pool pages. Each block
 * starts with a 16-byte POOL_HEADER: the sizes of this block and of the one
 * before it (in 16-byte units), the pool type (0 while free) and the
 * owner's four-character tag. Free blocks sit on a free list per size and
 * merge with free neighbours; a page that becomes one free block goes back
 * to the PFN database, except one per pool, kept for the next allocation. Larger requests take whole pages, tracked in a
 * table ("big pages"), and are page aligned.
 *
 * The headers are also tripwires: a block that runs past its end tramples
 * the next header, which is checked (with a per-boot checksum) when either
 * block is freed. docs/mm.md draws the layout.
 */
#include "mm/mi.h"
#include "mm/pool.h"
#include "kernel/hal/x86.h"

MI_POOL MiNonPagedPool, MiPagedPool;
MI_POOL_TAG_STATS MiPoolTags[MI_POOL_TAG_SLOTS];
MI_BIG_PAGE MiBigPages[MI_BIG_PAGE_SLOTS];
static ULONG64 np_bits[MI_NONPAGED_POOL_PAGES / 64], paged_bits[MI_PAGED_POOL_PAGES / 64];
static USHORT checksum_secret;

#define TAG_NONE POOL_TAG('N', 'o', 'n', 'e')

/* ---- helpers ---- */

static USHORT header_checksum(const POOL_HEADER *h)
{
    ULONG64 x = h->PreviousSize | ((ULONG64)h->BlockSize << 16) | ((ULONG64)h->PoolType << 32) |
                ((ULONG64)h->PoolIndex << 40);
    x ^= ((ULONG64)h->PoolTag << 13) ^ ((ULONG64)h->RequestedBytes << 29);
    x ^= x >> 32;
    x ^= x >> 16;
    return (USHORT)(x ^ checksum_secret);
}

static void seal(POOL_HEADER *h) { h->Checksum = header_checksum(h); }
static BOOLEAN sealed(const POOL_HEADER *h) { return h->Checksum == header_checksum(h); }

static MI_POOL *pool_of_va(ULONG64 va)
{
    if (va >= MiNonPagedPool.Start && va < MiNonPagedPool.Start + (ULONG64)MiNonPagedPool.Pages * PAGE_SIZE)
        return &MiNonPagedPool;
    if (va >= MiPagedPool.Start && va < MiPagedPool.Start + (ULONG64)MiPagedPool.Pages * PAGE_SIZE)
        return &MiPagedPool;
    return NULL;
}

static ULONG page_index(MI_POOL *p, ULONG64 va) { return (ULONG)((va - p->Start) >> PAGE_SHIFT); }

/* The tag table and the big-page table serve BOTH pools, and the pools'
 * own locks differ (a spin lock for nonpaged pool, a mutex at APC_LEVEL for
 * paged pool, which a DPC's nonpaged allocation does not respect). So the
 * two tables have one lock of their own, this spin lock, and every routine
 * that reads or changes them asserts it. It is a leaf: taken inside either
 * pool's lock, nothing is taken inside it (docs/mm.md §6). */
static KSPIN_LOCK table_lock;
#define MI_ASSERT_POOL_TABLE_LOCK_HELD() KI_ASSERT_LOCK_HELD(&table_lock, "the pool table lock")
#define MI_BIG_PAGE_CLAIMED 1ULL   /* Va of a slot taken by an allocation still mapping its pages */

static KIRQL table_lock_acquire(void)
{
    KIRQL old;
    KeAcquireSpinLock(&table_lock, &old);
    return old;
}

static void table_lock_release(KIRQL old)
{
    KeReleaseSpinLock(&table_lock, old);
}

static MI_POOL_TAG_STATS *tag_stats(ULONG tag)
{
    MI_ASSERT_POOL_TABLE_LOCK_HELD();
    ULONG h = (tag * 2654435761u) % MI_POOL_TAG_SLOTS;
    for (ULONG i = 0; i < MI_POOL_TAG_SLOTS; i++) {
        MI_POOL_TAG_STATS *t = &MiPoolTags[(h + i) % MI_POOL_TAG_SLOTS];
        if (t->Tag == tag)
            return t;
        if (t->Tag == 0) {
            t->Tag = tag;
            return t;
        }
    }
    return &MiPoolTags[MI_POOL_TAG_SLOTS - 1];   /* table full: lumped into the last slot */
}

/* P's own counters are under P's lock (held by the caller); the tag
 * table's under the table lock. */
static void account(MI_POOL *p, ULONG tag, ULONG64 bytes, BOOLEAN alloc)
{
    int i = p == &MiPagedPool;
    KIRQL old = table_lock_acquire();
    MI_POOL_TAG_STATS *t = tag_stats(tag);
    if (alloc) {
        t->Allocs[i]++;
        t->Bytes[i] += bytes;
    } else {
        t->Frees[i]++;
        t->Bytes[i] -= bytes;
    }
    table_lock_release(old);
    if (alloc) {
        p->Allocs++;
        p->BytesInUse += bytes;
    } else {
        p->Frees++;
        p->BytesInUse -= bytes;
    }
}

/* Nonpaged pool may be used up to DISPATCH_LEVEL, so it is guarded by a
 * spin lock there. Paged pool may fault, which a spin lock's DISPATCH_LEVEL
 * forbids: it is guarded by a mutex at APC_LEVEL (NT's guarded mutex), so
 * a preempted holder keeps others out instead of being raced. */
static KSPIN_LOCK nonpaged_lock;
static KMUTEX paged_mutex;

static KIRQL pool_lock(MI_POOL *p)
{
    KIRQL old;
    if (p == &MiPagedPool) {
        KeRaiseIrql(APC_LEVEL, &old);
        if (KiSchedulerReady)
            KeWaitForSingleObject(&paged_mutex, Executive, KernelMode, FALSE, NULL);
    } else {
        KeAcquireSpinLock(&nonpaged_lock, &old);
    }
    return old;
}

static void pool_unlock(MI_POOL *p, KIRQL old)
{
    if (p == &MiPagedPool) {
        if (KiSchedulerReady)
            KeReleaseMutex(&paged_mutex, FALSE);
        KeLowerIrql(old);
    } else {
        KeReleaseSpinLock(&nonpaged_lock, old);
    }
}

/* ---- pages for the pool ---- */

static PVOID pool_pages_alloc(MI_POOL *p, ULONG pages)
{
    ULONG at = RtlFindClearBitsAndSet(&p->PageMap, pages, p->Hint);
    if (at == 0xFFFFFFFF)
        return NULL;
    PUCHAR va = (PUCHAR)(p->Start + (ULONG64)at * PAGE_SIZE);
    for (ULONG i = 0; i < pages; i++) {
        PFN_NUMBER pfn = MiAllocatePfn(p == &MiPagedPool ? MiUsagePagedPool : MiUsageNonPagedPool, FALSE);
        if (!pfn) {
            while (i--)
                MiPoolReleasePage(p, va + (ULONG64)i * PAGE_SIZE);
            RtlClearBits(&p->PageMap, at, pages);
            return NULL;
        }
        MiMapPage(va + (ULONG64)i * PAGE_SIZE, pfn, MI_PROT_KERNEL_RW);
        if (p == &MiPagedPool) {
            /* No copy of a paged-pool page exists anywhere until the
             * pagefile has one: it is dirty from birth. The system working
             * set is the PFN lock's (mm/wslist.c). */
            KIRQL old = MiAcquirePfnLock();
            MI_PFN_ELEMENT(pfn)->Modified = 1;
            MiInsertWsle(&MmSystemCacheWs, va + (ULONG64)i * PAGE_SIZE);
            MiReleasePfnLock(old);
        }
    }
    p->PagesInUse += pages;
    p->Hint = at + pages;
    return va;
}

void MiPoolReleasePage(MI_POOL *p, PVOID va)
{
    if (p == &MiPagedPool)
        MiDeletePagedPoolPage(va);   /* it may be out in transition */
    else
        MiFreePfn(MiUnmapPage(va));
}

static void pool_pages_free(MI_POOL *p, PVOID va, ULONG pages)
{
    for (ULONG i = 0; i < pages; i++)
        MiPoolReleasePage(p, (PUCHAR)va + (ULONG64)i * PAGE_SIZE);
    RtlClearBits(&p->PageMap, page_index(p, (ULONG64)va), pages);
    p->PagesInUse -= pages;
}

/* ---- free lists of small blocks, one per size in units ---- */

static PLIST_ENTRY body(POOL_HEADER *h) { return (PLIST_ENTRY)(h + 1); }

static void list_insert(MI_POOL *p, POOL_HEADER *h)
{
    InsertTailList(&p->FreeList[h->BlockSize], body(h));
    p->NonEmpty[h->BlockSize / 64] |= 1ULL << (h->BlockSize % 64);
}

static void list_remove(MI_POOL *p, POOL_HEADER *h)
{
    PLIST_ENTRY e = body(h);
    if (e->Flink->Blink != e || e->Blink->Flink != e)
        KeBugCheckRule(BAD_POOL_HEADER, 3, (ULONG_PTR)e, (ULONG_PTR)e->Flink->Blink, (ULONG_PTR)e->Blink->Flink,
                       "a free pool block's list links were overwritten (a write after free, or an overrun)");
    if (RemoveEntryList(e))
        p->NonEmpty[h->BlockSize / 64] &= ~(1ULL << (h->BlockSize % 64));
}

static POOL_HEADER *next_block(POOL_HEADER *h)
{
    POOL_HEADER *n = (POOL_HEADER *)((PUCHAR)h + h->BlockSize * POOL_UNIT);
    return ((ULONG64)n & (PAGE_SIZE - 1)) ? n : NULL;   /* NULL: h ends the page */
}

/* The smallest non-empty free list of at least UNITS units, or 0: one
 * word of the bitmap at a time, the lowest set bit found by TZCNT/BSF
 * (__builtin_ctzll), not bit by bit. */
static ULONG first_nonempty(MI_POOL *p, ULONG units)
{
    ULONG w = units / 64;
    ULONG64 bits = p->NonEmpty[w] & (~0ULL << (units % 64));
    for (;;) {
        if (bits)
            return w * 64 + (ULONG)__builtin_ctzll(bits);
        if (++w >= ARRAYSIZE(p->NonEmpty))
            return 0;
        bits = p->NonEmpty[w];
    }
}

static PVOID alloc_small(MI_POOL *p, ULONG units, UCHAR type, ULONG tag, ULONG bytes)
{
    POOL_HEADER *h;
    ULONG i = first_nonempty(p, units);
    if (i) {
        PLIST_ENTRY e = p->FreeList[i].Flink;
        h = (POOL_HEADER *)e - 1;
        if (!sealed(h) || h->PoolType != 0 || h->BlockSize != i)
            KeBugCheckRule(BAD_POOL_HEADER, 0xD, (ULONG_PTR)h, 0, 0,
                           "a free pool block's header changed after it was freed (the block before it overran?)");
        list_remove(p, h);
        if (i == POOL_PAGE_UNITS)
            p->CachedPages--;   /* the kept empty page (below) is in use again */
    } else {
        h = pool_pages_alloc(p, 1);
        if (!h)
            return NULL;
        h->PreviousSize = 0;
        h->BlockSize = POOL_PAGE_UNITS;
    }
    if (h->BlockSize - units >= 2) {
        /* Split: the tail becomes a free block of its own. */
        POOL_HEADER *rest = (POOL_HEADER *)((PUCHAR)h + units * POOL_UNIT);
        rest->PreviousSize = units;
        rest->BlockSize = h->BlockSize - units;
        rest->PoolType = 0;
        rest->PoolIndex = 0;
        rest->PoolTag = 0;
        rest->RequestedBytes = 0;
        seal(rest);
        POOL_HEADER *after = next_block(rest);
        if (after) {
            after->PreviousSize = rest->BlockSize;
            seal(after);
        }
        list_insert(p, rest);
        h->BlockSize = units;
    }
    h->PoolType = type;
    h->PoolIndex = 0;
    h->PoolTag = tag;
    h->RequestedBytes = bytes;
    seal(h);
    account(p, tag, h->BlockSize * POOL_UNIT, TRUE);
    return h + 1;
}

/* ---- big allocations ---- */

static MI_BIG_PAGE *big_find(ULONG64 va)
{
    MI_ASSERT_POOL_TABLE_LOCK_HELD();
    for (ULONG i = 0; i < MI_BIG_PAGE_SLOTS; i++)
        if (MiBigPages[i].Va == va)
            return &MiBigPages[i];
    return NULL;
}

static MI_BIG_PAGE *big_containing(ULONG64 va)
{
    MI_ASSERT_POOL_TABLE_LOCK_HELD();
    for (ULONG i = 0; i < MI_BIG_PAGE_SLOTS; i++)
        if (MiBigPages[i].Va && va >= MiBigPages[i].Va && va < MiBigPages[i].Va + MiBigPages[i].Pages * PAGE_SIZE)
            return &MiBigPages[i];
    return NULL;
}

/* The slot is claimed under the table lock before the pages are mapped
 * (which takes a while, and lets DPCs run for a paged allocation): nobody
 * else can pick it meanwhile. */
static PVOID alloc_big(MI_POOL *p, SIZE_T bytes, UCHAR type, ULONG tag)
{
    KIRQL old = table_lock_acquire();
    MI_BIG_PAGE *slot = big_find(0);
    if (slot) {
        slot->Va = MI_BIG_PAGE_CLAIMED;
        slot->Pages = 0;
    }
    table_lock_release(old);
    if (!slot)
        return NULL;
    ULONG pages = (ULONG)BYTES_TO_PAGES(bytes);
    PVOID va = pool_pages_alloc(p, pages);
    old = table_lock_acquire();
    if (va) {
        slot->Va = (ULONG64)va;
        slot->Pages = pages;
        slot->Tag = tag;
        slot->PoolType = type;
        slot->Bytes = bytes;
    } else {
        slot->Va = 0;   /* give the slot back */
    }
    table_lock_release(old);
    if (va)
        account(p, tag, (ULONG64)pages * PAGE_SIZE, TRUE);
    return va;
}

/* ---- the DDIs ---- */

static UCHAR header_type(POOL_TYPE t)
{
    return (UCHAR)(((t & 1) ? MI_POOL_HDR_PAGED : MI_POOL_HDR_NONPAGED) | ((t & NonPagedPoolNx) ? MI_POOL_HDR_NX : 0));
}

PVOID ExAllocatePoolWithTag(POOL_TYPE type, SIZE_T bytes, ULONG tag)
{
    /* The allocator may need a frame, and MiAllocatePfn may wake the
     * working-set manager: an allocation under the dispatcher lock would
     * take it again (SPIN_LOCK_ALREADY_OWNED, but only when memory is low).
     * Checked on every call, so the bug shows the first time. */
    KI_ASSERT_DISPATCHER_LOCK_NOT_HELD("pool may not be allocated under it: the allocator can signal an event");
    MI_POOL *p = (type & 1) ? &MiPagedPool : &MiNonPagedPool;
    KIRQL irql = KeGetCurrentIrql();
    if (irql > ((type & 1) ? APC_LEVEL : DISPATCH_LEVEL))
        KeBugCheckRule(BAD_POOL_CALLER, 0x08, irql, type, bytes,
                       "%s pool was requested at IRQL %u; the limit is %s", (type & 1) ? "paged" : "nonpaged", irql,
                       (type & 1) ? "APC_LEVEL (paged pool can fault)" : "DISPATCH_LEVEL");
    if (tag == 0)
        KeBugCheckRule(BAD_POOL_CALLER, 0x9B, type, bytes, (ULONG_PTR)__builtin_return_address(0),
                       "a pool allocation used tag 0, which makes it untraceable");
    if (bytes > (ULONG64)p->Pages * PAGE_SIZE)
        return NULL;
    KIRQL old = pool_lock(p);
    ULONG units = (ULONG)((bytes + sizeof(POOL_HEADER) + POOL_UNIT - 1) / POOL_UNIT);
    if (units < 2)
        units = 2;
    PVOID r = units <= POOL_SMALL_MAX_UNITS ? alloc_small(p, units, header_type(type), tag, (ULONG)bytes)
                                            : alloc_big(p, bytes, header_type(type), tag);
    if (!r)
        p->Failures++;
    pool_unlock(p, old);
    return r;
}

PVOID ExAllocatePool(POOL_TYPE type, SIZE_T bytes)
{
    return ExAllocatePoolWithTag(type, bytes, TAG_NONE);
}

static void free_small(MI_POOL *p, POOL_HEADER *h, ULONG tag)
{
    PVOID block = h + 1;
    if (!sealed(h)) {
        if (h->PoolType == 0 && h->BlockSize)
            goto double_free;
        KeBugCheckRule(BAD_POOL_CALLER, 0x01, (ULONG_PTR)h, *(ULONG64 *)h, 0,
                       "the header of pool block %p is damaged (something wrote just before the block?)", block);
    }
    if (h->PoolType == 0) {
double_free:
        KeBugCheckRule(BAD_POOL_CALLER, 0x07, 0, *(ULONG64 *)h, (ULONG_PTR)block,
                       "pool block %p was freed twice", block);
    }
    if (tag && (tag & 0x7FFFFFFF) != (h->PoolTag & 0x7FFFFFFF))
        KeBugCheckRule(BAD_POOL_CALLER, 0x0A, (ULONG_PTR)block, h->PoolTag, tag,
                       "pool block %p was freed with tag '%.4s' but allocated with '%.4s'", block, (char *)&tag,
                       (char *)&h->PoolTag);
    POOL_HEADER *next = next_block(h);
    if (next && (!sealed(next) || next->PreviousSize != h->BlockSize))
        KeBugCheckRule(BAD_POOL_HEADER, 0x20, (ULONG_PTR)h, (ULONG_PTR)next, 0,
                       "the block after %p ('%.4s', %u bytes) has a damaged header: this block was overrun",
                       block, (char *)&h->PoolTag, h->RequestedBytes);
    POOL_HEADER *prev = h->PreviousSize ? (POOL_HEADER *)((PUCHAR)h - h->PreviousSize * POOL_UNIT) : NULL;
    if (prev && (!sealed(prev) || prev->BlockSize != h->PreviousSize))
        KeBugCheckRule(BAD_POOL_HEADER, 0x5, (ULONG_PTR)prev, 0, (ULONG_PTR)h,
                       "pool blocks %p and %p have headers that contradict each other", prev + 1, block);

    account(p, h->PoolTag, h->BlockSize * POOL_UNIT, FALSE);
    h->PoolType = 0;
    h->PoolTag = 0;
    h->RequestedBytes = 0;
    if (next && next->PoolType == 0) {          /* merge with the block after */
        list_remove(p, next);
        h->BlockSize += next->BlockSize;
    }
    if (prev && prev->PoolType == 0) {          /* and with the one before */
        list_remove(p, prev);
        prev->BlockSize += h->BlockSize;
        h = prev;
    }
    seal(h);
    if (h->BlockSize == POOL_PAGE_UNITS) {      /* the whole page is free again */
        /* One empty page per pool stays mapped, as one free block on the
         * whole-page list, for the next allocation that finds no room:
         * otherwise a lone block allocated and freed in a loop maps,
         * unmaps and flushes a page every time. It is still the pool's
         * (PagesInUse, and its frame's usage, count it; CachedPages says
         * which part of that is this page), and is given back when a
         * second page empties while it is kept. */
        if (p->CachedPages == 0) {
            p->CachedPages = 1;
            list_insert(p, h);
            return;
        }
        pool_pages_free(p, h, 1);
        return;
    }
    next = next_block(h);
    if (next) {
        next->PreviousSize = h->BlockSize;
        seal(next);
    }
    list_insert(p, h);
}

void ExFreePoolWithTag(PVOID ptr, ULONG tag)
{
    KI_ASSERT_DISPATCHER_LOCK_NOT_HELD("pool may not be freed under it: freeing takes the pool and PFN locks");
    ULONG64 va = (ULONG64)ptr;
    MI_POOL *p = pool_of_va(va);
    if (!p)
        KeBugCheckRule(BAD_POOL_CALLER, 0x42, va, 0, 0, "%p was freed to pool but no pool ever gave it out", ptr);
    KIRQL irql = KeGetCurrentIrql();
    if (irql > (p == &MiPagedPool ? APC_LEVEL : DISPATCH_LEVEL))
        KeBugCheckRule(BAD_POOL_CALLER, 0x09, irql, p == &MiPagedPool ? PagedPool : NonPagedPool, va,
                       "%s pool was freed at IRQL %u", p == &MiPagedPool ? "paged" : "nonpaged", irql);
    if (!RtlCheckBit(&p->PageMap, page_index(p, va)))
        KeBugCheckRule(BAD_POOL_CALLER, 0x46, va, 0, 0, "%p is in %s pool but on a page it does not use", ptr,
                       p->Name);
    KIRQL old = pool_lock(p);
    if ((va & (PAGE_SIZE - 1)) == 0) {
        KIRQL told = table_lock_acquire();
        MI_BIG_PAGE *b = big_find(va);
        if (!b) {
            KeBugCheckRule(BAD_POOL_CALLER, big_containing(va) ? 0x41286 : 0x46, va, 0,
                           big_containing(va) ? (va - p->Start) >> PAGE_SHIFT : 0,
                           "%p is not the start of a pool allocation", ptr);
        }
        if (tag && (tag & 0x7FFFFFFF) != (b->Tag & 0x7FFFFFFF))
            KeBugCheckRule(BAD_POOL_CALLER, 0x0A, va, b->Tag, tag,
                           "pool block %p was freed with tag '%.4s' but allocated with '%.4s'", ptr, (char *)&tag,
                           (char *)&b->Tag);
        ULONG pages = b->Pages, btag = b->Tag;
        memset(b, 0, sizeof(*b));   /* the record goes first; the pages stay ours under P's lock */
        table_lock_release(told);
        account(p, btag, (ULONG64)pages * PAGE_SIZE, FALSE);
        pool_pages_free(p, ptr, pages);
    } else if ((va & (POOL_UNIT - 1)) == 0) {
        free_small(p, (POOL_HEADER *)ptr - 1, tag);
    } else {
        KeBugCheckRule(BAD_POOL_CALLER, 0x46, va, 0, 0, "%p is not a pool block address (misaligned)", ptr);
    }
    pool_unlock(p, old);
}

void ExFreePool(PVOID ptr)
{
    ExFreePoolWithTag(ptr, 0);
}

/* ---- setup and statistics ---- */

static void init_pool(MI_POOL *p, const char *name, ULONG64 start, ULONG pages, PULONG64 bits)
{
    memset(p, 0, sizeof(*p));
    p->Name = name;
    p->Start = start;
    p->Pages = pages;
    RtlInitializeBitMap(&p->PageMap, bits, pages);
    for (ULONG i = 0; i <= POOL_PAGE_UNITS; i++)
        InitializeListHead(&p->FreeList[i]);
}

void MiInitializePools(void)
{
    checksum_secret = (USHORT)(rdtsc() * 0x9E37);
    init_pool(&MiNonPagedPool, "nonpaged", MI_NONPAGED_POOL_START, MI_NONPAGED_POOL_PAGES, np_bits);
    init_pool(&MiPagedPool, "paged", MI_PAGED_POOL_START, MI_PAGED_POOL_PAGES, paged_bits);
    KeInitializeSpinLock(&nonpaged_lock);
    KeInitializeMutex(&paged_mutex, 0);
    KeInitializeSpinLock(&table_lock);
}

ULONG64 MiPoolOutstandingAllocations(void)
{
    return (MiNonPagedPool.Allocs - MiNonPagedPool.Frees) + (MiPagedPool.Allocs - MiPagedPool.Frees);
}

/* For tests and statistics: the entry stays put once made, its counts
 * are read without the lock (each a single 64-bit load). */
const MI_POOL_TAG_STATS *MiLookupPoolTag(ULONG tag)
{
    const MI_POOL_TAG_STATS *found = NULL;
    KIRQL old = table_lock_acquire();
    for (ULONG i = 0; i < MI_POOL_TAG_SLOTS && !found; i++)
        if (MiPoolTags[i].Tag == tag)
            found = &MiPoolTags[i];
    table_lock_release(old);
    return found;
}

ULONG64 MiPoolBytesInUse(int paged)
{
    return paged ? MiPagedPool.BytesInUse : MiNonPagedPool.BytesInUse;
}
