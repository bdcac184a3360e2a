/* Bitmaps of free and used things: system PTEs, pool pages, slots. */
#include "kernel/ke/ke.h"

void RtlInitializeBitMap(PRTL_BITMAP b, PULONG64 buffer, ULONG bits)
{
    b->SizeOfBitMap = bits;
    b->Buffer = buffer;
}

BOOLEAN RtlCheckBit(PRTL_BITMAP b, ULONG i)
{
    return (b->Buffer[i / 64] >> (i % 64)) & 1;
}

void RtlSetBits(PRTL_BITMAP b, ULONG start, ULONG n)
{
    for (ULONG i = start; i < start + n; i++)
        b->Buffer[i / 64] |= 1ULL << (i % 64);
}

void RtlClearBits(PRTL_BITMAP b, ULONG start, ULONG n)
{
    for (ULONG i = start; i < start + n; i++)
        b->Buffer[i / 64] &= ~(1ULL << (i % 64));
}

static ULONG find_clear_run(PRTL_BITMAP b, ULONG n, ULONG from, ULONG to)
{
    ULONG run = 0;
    for (ULONG i = from; i < to; i++) {
        if (run == 0 && (i % 64) == 0 && b->Buffer[i / 64] == ~0ULL && i + 64 <= to) {
            i += 63;            /* a full word: skip it whole */
            continue;
        }
        run = RtlCheckBit(b, i) ? 0 : run + 1;
        if (run == n)
            return i + 1 - n;
    }
    return 0xFFFFFFFF;
}

ULONG RtlFindClearBitsAndSet(PRTL_BITMAP b, ULONG n, ULONG hint)
{
    if (n == 0 || n > b->SizeOfBitMap)
        return 0xFFFFFFFF;
    if (hint >= b->SizeOfBitMap)
        hint = 0;
    ULONG at = find_clear_run(b, n, hint, b->SizeOfBitMap);
    if (at == 0xFFFFFFFF && hint)
        at = find_clear_run(b, n, 0, hint + n - 1 < b->SizeOfBitMap ? hint + n - 1 : b->SizeOfBitMap);
    if (at != 0xFFFFFFFF)
        RtlSetBits(b, at, n);
    return at;
}

ULONG RtlNumberOfSetBits(PRTL_BITMAP b)
{
    ULONG n = 0;
    for (ULONG i = 0; i < b->SizeOfBitMap; i++)
        n += RtlCheckBit(b, i);
    return n;
}
