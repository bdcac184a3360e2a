/* Shared between user/tests/child.c and its callers. */
#pragma once
#include <stdint.h>

#define CHILD_COW_MAGIC 0xC0DEC0DE11112222ULL
/* child's exit statuses when a check fails */
#define CHILD_BAD_USAGE        0x0C100001
#define CHILD_COW_NOT_PRISTINE 0x0C100002   /* the image's data page did not hold its initial value */
#define CHILD_COW_BSS_NOT_ZERO 0x0C100003
#define CHILD_COW_CHANGED      0x0C100004   /* our value changed under us (another process wrote our page) */
#define CHILD_COW_NO_COUNTERS  0x0C100005   /* NtQueryInformationProcess(ProcessFaultCounters) failed */
#define CHILD_COW_NOT_COUNTED  0x0C100006   /* CopyOnWriteFaults did not increase */

/* FNV-1a of a string, folded to 30 bits (a positive exit status). */
static inline uint32_t child_hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h & 0x3FFFFFFF;
}
