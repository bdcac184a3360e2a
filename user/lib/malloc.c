/*
 * malloc on NtAllocateVirtualMemory, the NT way: reserve a large region
 * (address space only), commit pages at its top as the heap grows, and keep
 * freed blocks on an address-ordered free list that merges neighbours.
 * Big blocks (>= 256 KiB) get a region of their own, released by free().
 *
 * Every block starts with a 16-byte header {size, tag}; the tag catches
 * double frees and wild pointers (the process is ended with a message).
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_RESERVE (64UL << 20)
#define COMMIT_CHUNK (64UL << 10)
#define BIG_BLOCK (256UL << 10)
#define HDR 16UL
#define MIN_BLOCK 32UL

#define TAG_USED 0x6B6C427355ULL   /* "UsBlk" */
#define TAG_FREE 0x6B6C424665ULL   /* "eFBlk" */
#define TAG_BIG 0x6B6C424769ULL    /* "iGBlk" */

typedef struct block {
    size_t size;         /* whole block, header included */
    uint64_t tag;
    struct block *next;  /* free blocks only: the next free block by address */
} BLOCK;

#define MAX_ARENAS 64
typedef struct {
    char *base, *top, *committed, *end;
} ARENA;

static ARENA arenas[MAX_ARENAS];
static int arena_count;
static BLOCK *free_list;
static size_t big_blocks, in_use;

static __attribute__((noreturn)) void heap_corrupt(const char *what, void *p)
{
    fflush(stdout);
    printf("*** heap: %s (%p): process terminated\n", what, p);
    fflush(stdout);
    NtTerminateCurrentProcess(STATUS_UNSUCCESSFUL);
}

static ARENA *new_arena(size_t at_least)
{
    if (arena_count == MAX_ARENAS)
        return NULL;
    size_t size = at_least > ARENA_RESERVE ? (at_least + ARENA_RESERVE - 1) & ~(ARENA_RESERVE - 1) : ARENA_RESERVE;
    void *base = NULL;
    if (!NT_SUCCESS(NtAllocateVirtualMemory(NtCurrentProcess(), &base, 0, &size, MEM_RESERVE, PAGE_READWRITE)))
        return NULL;
    ARENA *a = &arenas[arena_count++];
    a->base = a->top = a->committed = base;
    a->end = (char *)base + size;
    return a;
}

/* NEED more bytes at the top of the current arena, committing as needed. */
static BLOCK *grow(size_t need)
{
    ARENA *a = arena_count ? &arenas[arena_count - 1] : NULL;
    if (!a || (size_t)(a->end - a->top) < need) {
        a = new_arena(need);
        if (!a)
            return NULL;
    }
    if ((size_t)(a->committed - a->top) < need) {
        size_t want = need - (size_t)(a->committed - a->top);
        size_t size = (want + COMMIT_CHUNK - 1) & ~(COMMIT_CHUNK - 1);
        if (size > (size_t)(a->end - a->committed))
            size = (size_t)(a->end - a->committed);
        void *at = a->committed;
        if (!NT_SUCCESS(NtAllocateVirtualMemory(NtCurrentProcess(), &at, 0, &size, MEM_COMMIT, PAGE_READWRITE)))
            return NULL;
        a->committed = (char *)at + size;
    }
    BLOCK *b = (BLOCK *)a->top;
    a->top += need;
    b->size = need;
    return b;
}

void *malloc(size_t n)
{
    if (n > (1UL << 40))
        return NULL;
    size_t need = ((n ? n : 1) + HDR + 15) & ~15UL;
    if (need < MIN_BLOCK)
        need = MIN_BLOCK;
    if (need >= BIG_BLOCK) {
        void *base = NULL;
        size_t size = (need + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        if (!NT_SUCCESS(NtAllocateVirtualMemory(NtCurrentProcess(), &base, 0, &size, MEM_RESERVE | MEM_COMMIT,
                                                PAGE_READWRITE)))
            return NULL;
        BLOCK *b = base;
        b->size = size;
        b->tag = TAG_BIG;
        big_blocks++;
        in_use += size;
        return (char *)b + HDR;
    }
    BLOCK **link = &free_list, *b;
    for (b = free_list; b; link = &b->next, b = b->next) {
        if (b->tag != TAG_FREE)
            heap_corrupt("free list damaged", b);
        if (b->size < need)
            continue;
        if (b->size - need >= MIN_BLOCK) {
            BLOCK *rest = (BLOCK *)((char *)b + need);
            rest->size = b->size - need;
            rest->tag = TAG_FREE;
            rest->next = b->next;
            *link = rest;
            b->size = need;
        } else {
            *link = b->next;
        }
        break;
    }
    if (!b && !(b = grow(need)))
        return NULL;
    b->tag = TAG_USED;
    in_use += b->size;
    return (char *)b + HDR;
}

void free(void *p)
{
    if (!p)
        return;
    BLOCK *b = (BLOCK *)((char *)p - HDR);
    if (((uintptr_t)p & 15) != 0)
        heap_corrupt("free() of a pointer malloc never returned", p);
    if (b->tag == TAG_BIG) {
        void *base = b;
        size_t size = 0;
        big_blocks--;
        in_use -= b->size;
        b->tag = 0;
        NtFreeVirtualMemory(NtCurrentProcess(), &base, &size, MEM_RELEASE);
        return;
    }
    if (b->tag == TAG_FREE)
        heap_corrupt("double free", p);
    if (b->tag != TAG_USED)
        heap_corrupt("free() of a pointer malloc never returned, or a damaged block header", p);
    in_use -= b->size;
    b->tag = TAG_FREE;
    BLOCK *prev = NULL, *next = free_list;
    while (next && next < b) {
        prev = next;
        next = next->next;
    }
    b->next = next;
    if (next && (char *)b + b->size == (char *)next) {
        b->size += next->size;
        b->next = next->next;
        next->tag = 0;
    }
    if (prev && (char *)prev + prev->size == (char *)b) {
        prev->size += b->size;
        prev->next = b->next;
        b->tag = 0;
    } else if (prev) {
        prev->next = b;
    } else {
        free_list = b;
    }
}

void *calloc(size_t count, size_t size)
{
    if (size && count > (size_t)-1 / size)
        return NULL;
    void *p = malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    if (!n) {
        free(p);
        return NULL;
    }
    BLOCK *b = (BLOCK *)((char *)p - HDR);
    if (b->tag != TAG_USED && b->tag != TAG_BIG)
        heap_corrupt("realloc() of a pointer malloc never returned, or a freed one", p);
    size_t usable = b->size - HDR;
    if (n <= usable)
        return p;
    void *q = malloc(n);
    if (q) {
        memcpy(q, p, usable);
        free(p);
    }
    return q;
}

void malloc_stats(MALLOC_STATS *out)
{
    memset(out, 0, sizeof(*out));
    out->arenas = arena_count;
    for (int i = 0; i < arena_count; i++) {
        out->reserved += arenas[i].end - arenas[i].base;
        out->committed += arenas[i].committed - arenas[i].base;
    }
    for (BLOCK *b = free_list; b; b = b->next)
        out->free_blocks++;
    out->in_use = in_use;
    out->big_blocks = big_blocks;
}

int malloc_check(void)
{
    size_t free_bytes = 0, used_bytes = 0;
    for (BLOCK *b = free_list; b; b = b->next) {
        if (b->tag != TAG_FREE || b->size < MIN_BLOCK || (b->size & 15))
            return 1;
        if (b->next && (char *)b + b->size > (char *)b->next)
            return 2;   /* out of order or overlapping */
        if (b->next && (char *)b + b->size == (char *)b->next)
            return 3;   /* two neighbours left unmerged */
        free_bytes += b->size;
    }
    size_t walked_free = 0, total = 0;
    for (int i = 0; i < arena_count; i++) {
        char *p = arenas[i].base;
        total += arenas[i].top - arenas[i].base;
        while (p < arenas[i].top) {
            BLOCK *b = (BLOCK *)p;
            if (b->size < MIN_BLOCK || (b->size & 15) || p + b->size > arenas[i].top)
                return 4;
            /* A free block merged into its predecessor keeps no tag of its own:
             * walk by the sizes of the blocks that own the space. */
            if (b->tag == TAG_FREE)
                walked_free += b->size;
            else if (b->tag == TAG_USED)
                used_bytes += b->size;
            else
                return 5;
            p += b->size;
        }
    }
    if (walked_free != free_bytes)
        return 6;
    if (walked_free + used_bytes != total)
        return 7;
    return 0;
}
