/* Pool internals shared by mm/pool.c, mm/pagedpool.c, tests and GDB. */
#pragma once
#include "mm/mi.h"

#define POOL_UNIT 16
#define POOL_PAGE_UNITS 256          /* a page is 256 units */
#define POOL_SMALL_MAX_UNITS 255     /* the largest small block: 4080 bytes, 4064 usable */

typedef struct _POOL_HEADER {
    USHORT PreviousSize;     /* units of the block before this one in the page, 0 for the first */
    USHORT BlockSize;        /* units of this block, header included */
    UCHAR PoolType;          /* MI_POOL_HDR_* while allocated, 0 while free */
    UCHAR PoolIndex;
    USHORT Checksum;         /* of the fields above and below, keyed per boot */
    ULONG PoolTag;           /* four characters, e.g. "Mdl " */
    ULONG RequestedBytes;    /* what the caller asked for */
} POOL_HEADER;

/* PoolType bits. An enum, not #defines, so that the values reach the DWARF
 * (scripts/gdb/mdlos reads them there). */
enum { MI_POOL_HDR_NONPAGED = 1, MI_POOL_HDR_PAGED = 2, MI_POOL_HDR_NX = 4 };

typedef struct _MI_POOL {
    const char *Name;
    ULONG64 Start;
    ULONG Pages, Hint;
    RTL_BITMAP PageMap;                          /* which region pages are in use */
    LIST_ENTRY FreeList[POOL_PAGE_UNITS + 1];    /* free small blocks by size in units */
    ULONG64 NonEmpty[(POOL_PAGE_UNITS + 64) / 64];
    ULONG64 Allocs, Frees, BytesInUse, PagesInUse, Failures;
    ULONG CachedPages;                           /* empty pages kept mapped for reuse (0 or 1), part of PagesInUse */
} MI_POOL;

#define MI_POOL_TAG_SLOTS 256
typedef struct _MI_POOL_TAG_STATS {
    ULONG Tag;
    ULONG64 Allocs[2], Frees[2], Bytes[2];       /* [0] nonpaged, [1] paged */
} MI_POOL_TAG_STATS;

#define MI_BIG_PAGE_SLOTS 1024
typedef struct _MI_BIG_PAGE {
    ULONG64 Va;
    ULONG Pages, Tag;
    ULONG64 Bytes;
    UCHAR PoolType;
} MI_BIG_PAGE;

extern MI_POOL MiNonPagedPool, MiPagedPool;
extern MI_POOL_TAG_STATS MiPoolTags[MI_POOL_TAG_SLOTS];
extern MI_BIG_PAGE MiBigPages[MI_BIG_PAGE_SLOTS];

void MiPoolReleasePage(MI_POOL *p, PVOID va);
void MiDeletePagedPoolPage(PVOID va);
const MI_POOL_TAG_STATS *MiLookupPoolTag(ULONG tag);
