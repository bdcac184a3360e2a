/*
 * String routines with no kernel dependencies: the kernel links them, and
 * so does the user-mode libc (user/lib), which is why they use standard
 * types only and live apart from kernel/rtl/rtl.c.
 */
#include "kernel/rtl/rtlstring.h"

#define TRUE 1
#define FALSE 0

/* memset, memcpy, memmove, memcmp: the compiler may emit calls to these on
 * its own (struct copies, zero-initialised arrays), so a freestanding
 * program must have them under exactly these names, and their loops are
 * written as instructions the compiler cannot turn back into a call to the
 * function it is compiling.
 *
 * Why not just REP STOSB / REP MOVSB, fast on hardware since ERMSB: under
 * QEMU's TCG every iteration of a REP string instruction is one pass
 * through a translated block of its own (the instruction jumps back to
 * itself), so they move one byte per pass - a 4 KiB copy is 4096 passes,
 * and zeroing an IRP a few hundred. Here the bulk goes 64 bytes per pass
 * (eight 8-byte moves and a loop: one translated block), the rest 8 bytes
 * per REP MOVSQ/STOSQ iteration, the last 0-7 bytes by REP MOVSB/STOSB. On
 * hardware these loops run at the same cache speed; under TCG, memset was
 * the hottest kernel function of the 4 KiB depth-32 disk loop (9% of its
 * kernel samples, `make prof UBENCH=disk4kringregf`). */
void *memset(void *d, int c, size_t n)
{
    void *p = d;
    unsigned long long v = 0x0101010101010101ull * (unsigned char)c;
    size_t blocks = n >> 6, words = (n >> 3) & 7, bytes = n & 7;
    if (blocks)
        __asm__ volatile("1:\n\t"
                         "movq %[v], 0(%[p])\n\tmovq %[v], 8(%[p])\n\tmovq %[v], 16(%[p])\n\tmovq %[v], 24(%[p])\n\t"
                         "movq %[v], 32(%[p])\n\tmovq %[v], 40(%[p])\n\tmovq %[v], 48(%[p])\n\tmovq %[v], 56(%[p])\n\t"
                         "addq $64, %[p]\n\tdecq %[n]\n\tjnz 1b"
                         : [p] "+r"(p), [n] "+r"(blocks) : [v] "r"(v) : "memory", "cc");
    __asm__ volatile("rep stosq" : "+D"(p), "+c"(words) : "a"(v) : "memory");
    __asm__ volatile("rep stosb" : "+D"(p), "+c"(bytes) : "a"(v) : "memory");
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *dp = d;
    size_t blocks = n >> 6, words = (n >> 3) & 7, bytes = n & 7;
    if (blocks) {
        unsigned long long a, b;
        __asm__ volatile("1:\n\t"
                         "movq 0(%[s]), %[a]\n\tmovq 8(%[s]), %[b]\n\tmovq %[a], 0(%[d])\n\tmovq %[b], 8(%[d])\n\t"
                         "movq 16(%[s]), %[a]\n\tmovq 24(%[s]), %[b]\n\tmovq %[a], 16(%[d])\n\tmovq %[b], 24(%[d])\n\t"
                         "movq 32(%[s]), %[a]\n\tmovq 40(%[s]), %[b]\n\tmovq %[a], 32(%[d])\n\tmovq %[b], 40(%[d])\n\t"
                         "movq 48(%[s]), %[a]\n\tmovq 56(%[s]), %[b]\n\tmovq %[a], 48(%[d])\n\tmovq %[b], 56(%[d])\n\t"
                         "addq $64, %[s]\n\taddq $64, %[d]\n\tdecq %[n]\n\tjnz 1b"
                         : [d] "+r"(dp), [s] "+r"(s), [n] "+r"(blocks), [a] "=&r"(a), [b] "=&r"(b)
                         :
                         : "memory", "cc");
    }
    __asm__ volatile("rep movsq" : "+D"(dp), "+S"(s), "+c"(words) : : "memory");
    __asm__ volatile("rep movsb" : "+D"(dp), "+S"(s), "+c"(bytes) : : "memory");
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    if ((uintptr_t)d <= (uintptr_t)s || (uintptr_t)d >= (uintptr_t)s + n)
        return memcpy(d, s, n);
    /* Overlap with the destination above: copy backwards (DF=1, then back
     * to 0, which the C ABI expects). */
    void *dp = (char *)d + n - 1;
    const void *sp = (const char *)s + n - 1;
    __asm__ volatile("std; rep movsb; cld" : "+D"(dp), "+S"(sp), "+c"(n) : : "memory", "cc");
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

size_t strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b)
            return (unsigned char)*a - (unsigned char)*b;
        if (!*a)
            return 0;
    }
    return 0;
}

char *strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return NULL;
    }
}

size_t strlcpy(char *d, const char *s, size_t size)
{
    size_t n = strlen(s);
    if (size) {
        size_t k = n < size - 1 ? n : size - 1;
        memcpy(d, s, k);
        d[k] = 0;
    }
    return n;
}

uint8_t RtlGlobMatch(const char *p, const char *t)
{
    /* Iterative matcher: on a mismatch after '*', let the star eat one more
     * character and retry. Linear in practice, no recursion. */
    const char *star = NULL, *resume = NULL;
    while (*t) {
        if (*p == '*') {
            star = p++;
            resume = t;
        } else if (*p == '?' || *p == *t) {
            p++;
            t++;
        } else if (star) {
            p = star + 1;
            t = ++resume;
        } else {
            return FALSE;
        }
    }
    while (*p == '*')
        p++;
    return *p == 0;
}

uint8_t RtlTestInShard(const char *spec, const char *name)
{
    uint32_t i = 0, n = 0;
    const char *p = spec;
    if (!p || !*p)
        return TRUE;
    for (; *p >= '0' && *p <= '9' && i < 1000; p++)
        i = i * 10 + (uint32_t)(*p - '0');
    if (*p++ != '/')
        return TRUE;
    for (; *p >= '0' && *p <= '9' && n < 1000; p++)
        n = n * 10 + (uint32_t)(*p - '0');
    uint32_t salt = 0;
    if (*p == '/')
        for (p++; *p >= '0' && *p <= '9' && salt < 100000; p++)
            salt = salt * 10 + (uint32_t)(*p - '0');
    if (*p || n == 0 || n > 64 || i >= n)
        return TRUE;
    /* The suite (the name up to its last dot) is what is hashed: a suite's
     * tests stay together and in their order, as a test may (wrongly, but
     * it has happened) count on what an earlier one in its file set up. */
    const char *end = name;
    for (const char *c = name; *c; c++)
        if (*c == '.')
            end = c;
    if (end == name)
        end = name + strlen(name);
    uint32_t h = 2166136261u;
    for (const char *c = name; c < end; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    /* FNV's low bits depend only on the characters' low bits (its
     * multiplier is odd), so h % 2 could take just two values whatever the
     * salt: the salt goes in, then murmur3's finalizer mixes every bit
     * into every other before the modulo. */
    h ^= salt * 0x9E3779B9u;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h % n == i;
}

uint8_t RtlParseUlong64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    unsigned base = 10;
    if (!s || !*s)
        return FALSE;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        if (!*s)
            return FALSE;
    }
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return FALSE;
        if (v > (~0ULL - d) / base)
            return FALSE; /* overflow */
        v = v * base + d;
    }
    *out = v;
    return TRUE;
}

/* NT's RtlInitAnsiString: a counted string over SOURCE (not copied);
 * Length excludes the NUL, MaximumLength includes it. The kernel declares
 * it with ANSI_STRING (kernel/ob/ob.h); this file is compiled for user
 * mode too, so it spells the same layout out. */
struct rtl_counted_string {
    uint16_t Length, MaximumLength;
    char *Buffer;
};
void RtlInitAnsiString(struct rtl_counted_string *d, const char *s);
void RtlInitAnsiString(struct rtl_counted_string *d, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > 0xFFFE)
        n = 0xFFFE;
    d->Buffer = (char *)s;
    d->Length = (uint16_t)n;
    d->MaximumLength = (uint16_t)(s ? n + 1 : 0);
}
