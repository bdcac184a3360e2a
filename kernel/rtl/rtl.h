/*
 * rtl.h: the runtime library's public interface (kernel/rtl/): formatted
 * output, memory and string routines, bitmaps. Depends on nothing but the
 * base types, so every component may use it.
 */
#pragma once
#include "kernel/ntdef.h"

/* ---- console and formatted output (kernel/rtl/kprintf.c; the console is the HAL's) ---- */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
#define DbgPrint kprintf

/* ---- memory (kernel/rtl/rtl.c; the string routines are in
 * kernel/rtl/rtlstring.c, which the user-mode libc shares) ---- */
#include "kernel/rtl/rtlstring.h"   /* the string and memory routines, declared once */

#define RtlZeroMemory(d, n) memset((d), 0, (n))
#define RtlCopyMemory(d, s, n) memcpy((d), (s), (n))
#define RtlMoveMemory(d, s, n) memmove((d), (s), (n))
#define RtlFillMemory(d, n, c) memset((d), (c), (n))
/* The stack protector's cookie (kernel/rtl/ssp.c), randomized by boot.asm. */
extern uintptr_t __stack_chk_guard;
/* How many leading bytes of A and B are equal (N when all are). */
SIZE_T RtlCompareMemory(const void *a, const void *b, SIZE_T n);

/* ---- bitmaps (kernel/rtl/rtlbitmap.c) ---- */
void RtlInitializeBitMap(PRTL_BITMAP Bitmap, PULONG64 Buffer, ULONG Bits);
/* Find NUMBER clear bits in a row, starting the search at HINT and
 * wrapping; set them and return the first index, or 0xFFFFFFFF. */
ULONG RtlFindClearBitsAndSet(PRTL_BITMAP Bitmap, ULONG Number, ULONG Hint);
void RtlSetBits(PRTL_BITMAP Bitmap, ULONG Start, ULONG Number);
void RtlClearBits(PRTL_BITMAP Bitmap, ULONG Start, ULONG Number);
BOOLEAN RtlCheckBit(PRTL_BITMAP Bitmap, ULONG Index);
ULONG RtlNumberOfSetBits(PRTL_BITMAP Bitmap);
