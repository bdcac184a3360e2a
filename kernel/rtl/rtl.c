/*
 * The few C library routines a freestanding kernel needs. The compiler may
 * emit calls to memset/memcpy/memmove/memcmp on its own (struct copies,
 * zero-initialised arrays), so these exact names must exist.
 */
#include "kernel/ke/ke.h"

/* rep stosb / rep movsb: fast on every CPU since "ERMSB", and written as
 * instructions so the compiler cannot turn the loop back into a call to
 * the very function it is compiling. */
void *memset(void *d, int c, size_t n)
{
    void *p = d;
    __asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *dp = d;
    __asm__ volatile("rep movsb" : "+D"(dp), "+S"(s), "+c"(n) : : "memory");
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    if ((uintptr_t)d <= (uintptr_t)s || (uintptr_t)d >= (uintptr_t)s + n)
        return memcpy(d, s, n);
    /* Overlap with the destination above: copy backwards (DF=1). */
    void *dp = (char *)d + n - 1;
    const void *sp = (const char *)s + n - 1;
    __asm__ volatile("std; rep movsb; cld" : "+D"(dp), "+S"(sp), "+c"(n) : : "memory");
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

SIZE_T RtlCompareMemory(const void *a, const void *b, SIZE_T n)
{
    const unsigned char *x = a, *y = b;
    SIZE_T i = 0;
    while (i < n && x[i] == y[i])
        i++;
    return i;
}
