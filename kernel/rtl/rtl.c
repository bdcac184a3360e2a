/*
 * RtlCompareMemory. The C library routines the compiler may call on its own
 * (memset, memcpy, memmove, memcmp) are in kernel/rtl/rtlstring.c, shared
 * with the user-mode libc.
 */
#include "kernel/ke/ke.h"

SIZE_T RtlCompareMemory(const void *a, const void *b, SIZE_T n)
{
    const unsigned char *x = a, *y = b;
    SIZE_T i = 0;
    while (i < n && x[i] == y[i])
        i++;
    return i;
}
