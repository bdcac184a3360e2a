/* stdlib.h: memory (user/lib/malloc.c), process end, number parsing. */
#pragma once
#include <stddef.h>

void *malloc(size_t size);
void *calloc(size_t count, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);

__attribute__((noreturn)) void exit(int status);
__attribute__((noreturn)) void abort(void);

int atoi(const char *s);
long strtol(const char *s, char **end, int base);
unsigned long strtoul(const char *s, char **end, int base);
unsigned long long strtoull(const char *s, char **end, int base);
int abs(int v);

/* mdlos: heap statistics, for tests. */
typedef struct {
    size_t arenas, reserved, committed, in_use, free_blocks, big_blocks;
} MALLOC_STATS;
void malloc_stats(MALLOC_STATS *out);
/* Walks every block and checks headers and the free list; 0 when sound. */
int malloc_check(void);
