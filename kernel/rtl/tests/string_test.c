/* memset, memcpy and memmove (kernel/rtl/rtlstring.c) at every length up to
 * a few of their 64-byte blocks and at every alignment: each part of them
 * (the 64-byte loop, the 8-byte REP, the 0-7 byte tail) writes exactly its
 * bytes, and not one outside [d, d + n). */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

enum { MAXLEN = 200, PAD = 16, AREA = PAD + 8 + MAXLEN + PAD };

static UCHAR src[AREA], dst[AREA];

static void pattern(UCHAR *p, ULONG seed)
{
    for (ULONG i = 0; i < AREA; i++)
        p[i] = (UCHAR)(i * 131 + seed * 7 + 1);
}

/* The first index of DST that is not what it should be, or -1. */
static int first_bad(ULONG off, ULONG n, int value, const UCHAR *from, ULONG seed)
{
    UCHAR was[AREA];
    pattern(was, seed);
    for (ULONG i = 0; i < AREA; i++) {
        BOOLEAN inside = i >= PAD + off && i < PAD + off + n;
        UCHAR want = !inside ? was[i] : from ? from[i - (PAD + off)] : (UCHAR)value;
        if (dst[i] != want)
            return (int)i;
    }
    return -1;
}

KTEST(rtl, memset_writes_exactly_its_bytes_at_every_length_and_alignment)
{
    for (ULONG off = 0; off < 8; off++)
        for (ULONG n = 0; n <= MAXLEN; n++) {
            pattern(dst, n);
            int c = (int)(0x100 | (n * 37 + off));   /* only the low byte counts */
            KT_EQ(memset(dst + PAD + off, c, n), dst + PAD + off);
            int bad = first_bad(off, n, c & 0xFF, NULL, n);
            if (bad >= 0)
                KtFail(__FILE__, __LINE__, "memset(+%u, 0x%x, %u): byte %d is 0x%x", off, c, n, bad - PAD, dst[bad]);
        }
}

KTEST(rtl, memcpy_copies_exactly_its_bytes_at_every_length_and_alignment)
{
    for (ULONG soff = 0; soff < 8; soff += 3)
        for (ULONG off = 0; off < 8; off++)
            for (ULONG n = 0; n <= MAXLEN; n++) {
                pattern(src, n + 1000);
                pattern(dst, n);
                KT_EQ(memcpy(dst + PAD + off, src + PAD + soff, n), dst + PAD + off);
                int bad = first_bad(off, n, 0, src + PAD + soff, n);
                if (bad >= 0)
                    KtFail(__FILE__, __LINE__, "memcpy(+%u, +%u, %u): byte %d is 0x%x", off, soff, n, bad - PAD, dst[bad]);
            }
}

KTEST(rtl, memmove_overlapping_both_ways)
{
    for (ULONG n = 0; n <= MAXLEN; n += 7)
        for (int shift = -9; shift <= 9; shift += 3) {
            UCHAR want[AREA];
            pattern(dst, n);
            for (ULONG i = 0; i < AREA; i++)
                want[i] = dst[i];
            UCHAR *from = dst + PAD + 8, *to = from + shift;
            for (ULONG i = 0; i < n; i++)
                want[PAD + 8 + shift + i] = dst[PAD + 8 + i];
            KT_EQ(memmove(to, from, n), to);
            for (ULONG i = 0; i < AREA; i++)
                if (dst[i] != want[i])
                    KtFail(__FILE__, __LINE__, "memmove(%d, %u): byte %u is 0x%x, expected 0x%x", shift, n, i, dst[i], want[i]);
        }
}
