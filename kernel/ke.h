/*
 * ke.h: the kernel core's public interface (Ke = kernel, Kd = debugger
 * output, Rtl = runtime library). Drivers and tests include kernel/mdlos.h,
 * which pulls this in.
 */
#pragma once
#include "kernel/ntdef.h"
#include "kernel/bugcodes.h"

/* Kernel virtual = physical + KERNEL_VIRT_OFFSET for the kernel image
 * (linker.ld). Nothing else in the system is direct-mapped. */
#define KERNEL_VIRT_OFFSET 0xFFFFFFFF80000000ULL
#define PAGE_SIZE  4096
#define PAGE_SHIFT 12

/* ---- console and formatted output (kernel/kprintf.c, console.c) ---- */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
#define DbgPrint kprintf

/* ---- bugcheck (kernel/bugcheck.c) ---- */
__attribute__((noreturn)) void KeBugCheckEx(ULONG Code, ULONG_PTR P1, ULONG_PTR P2, ULONG_PTR P3, ULONG_PTR P4);
__attribute__((noreturn)) void KeBugCheck(ULONG Code);
/* Like KeBugCheckEx, with the broken rule stated in one sentence (the
 * verifier uses this so every report says what was done wrong). */
__attribute__((noreturn)) void KeBugCheckRule(ULONG Code, ULONG_PTR P1, ULONG_PTR P2, ULONG_PTR P3, ULONG_PTR P4,
                                              const char *rule_fmt, ...) __attribute__((format(printf, 6, 7)));
const char *KeBugCheckName(ULONG Code);

/* A kernel invariant; its failure is a kernel bug, so a bugcheck naming
 * the expression (0x1E with STATUS_ASSERTION_FAILURE, as NT's ASSERT). */
#define ASSERT(e) ((e) ? (void)0 : KiAssertFailed(#e, __FILE__, __LINE__))
__attribute__((noreturn)) void KiAssertFailed(const char *expr, const char *file, int line);

/* ---- boot command line (kernel/cmdline.c) ---- */
/* Value of option NAME ("ktest=mm.*" -> "mm.*"), "" for a bare flag, NULL
 * when absent. */
const char *KeGetOption(const char *name);
/* "1", "on", "yes", "true" or a bare flag are true. */
BOOLEAN KeOptionEnabled(const char *name);

/* ---- symbols and backtraces (kernel/ksym.c) ---- */
/* Name of the function containing ADDR and the offset into it, NULL when
 * ADDR is outside the kernel's text. */
const char *KeLookupSymbol(ULONG_PTR addr, ULONG_PTR *offset);
/* Address of function NAME, 0 when unknown. */
ULONG_PTR KeSymbolAddress(const char *name);
void KeDumpBacktrace(ULONG_PTR rip, ULONG_PTR rbp);
/* Follow the frame-pointer chain from RBP; fills RETURNS with up to MAX
 * return addresses, innermost first, and returns how many. */
int KeWalkStack(ULONG_PTR rbp, ULONG_PTR *returns, int max);
/* Frame-pointer walks only follow RBP inside a registered stack. */
void KeRegisterStack(ULONG_PTR low, ULONG_PTR high);
void KeUnregisterStack(ULONG_PTR low, ULONG_PTR high);

/* ---- hardware (kernel/hal.c) ---- */
/* Leave QEMU through the isa-debug-exit device: QEMU's exit status becomes
 * (code << 1) | 1. Returns only when the device is absent. */
void HalQemuExit(uint8_t code);
#define QEMU_EXIT_PASS     0x10
#define QEMU_EXIT_FAIL     0x11
#define QEMU_EXIT_BUGCHECK 0x12
__attribute__((noreturn)) void HalHaltSystem(void);

/* ---- runtime library (kernel/rtl.c) ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
size_t strlcpy(char *d, const char *s, size_t size);
/* Shell-style glob: '*' any run, '?' one character. */
BOOLEAN RtlGlobMatch(const char *pattern, const char *text);
/* Parse an unsigned number in base 10 or, with 0x, 16. FALSE on junk. */
BOOLEAN RtlParseUlong64(const char *s, ULONG64 *out);

#define RtlZeroMemory(d, n) memset((d), 0, (n))
#define RtlCopyMemory(d, s, n) memcpy((d), (s), (n))
#define RtlMoveMemory(d, s, n) memmove((d), (s), (n))
#define RtlFillMemory(d, n, c) memset((d), (c), (n))
#define RtlCompareMemory(a, b, n) KiRtlCompareMemory((a), (b), (n))
SIZE_T KiRtlCompareMemory(const void *a, const void *b, SIZE_T n);

/* ---- IRQL (kernel/irql.c) ----
 * On x64 NT keeps the IRQL in CR8, the task-priority register: the local
 * APIC delivers only interrupts whose vector class (vector >> 4) is above
 * it. Raising to DISPATCH_LEVEL stops the scheduler and DPCs on this CPU;
 * code at DISPATCH_LEVEL or above must never take a page fault. */
typedef UCHAR KIRQL, *PKIRQL;
#define PASSIVE_LEVEL  0
#define LOW_LEVEL      0
#define APC_LEVEL      1
#define DISPATCH_LEVEL 2
#define CMCI_LEVEL     5
#define CLOCK_LEVEL    13
#define IPI_LEVEL      14
#define POWER_LEVEL    14
#define PROFILE_LEVEL  15
#define HIGH_LEVEL     15

#define IRQL_NOT_GREATER_OR_EQUAL 0x00000009
#define ATTEMPTED_WRITE_TO_READONLY_MEMORY 0x000000BE
#define ATTEMPTED_EXECUTE_OF_NOEXECUTE_MEMORY 0x000000FC

KIRQL KeGetCurrentIrql(void);
/* Raising to a lower level, or lowering to a higher one, is a bugcheck
 * (0x9 IRQL_NOT_GREATER_OR_EQUAL / 0xA IRQL_NOT_LESS_OR_EQUAL), as on NT. */
void KeRaiseIrql(KIRQL NewIrql, PKIRQL OldIrql);
void KeLowerIrql(KIRQL NewIrql);
KIRQL KeRaiseIrqlToDpcLevel(void);

/* ---- bitmaps (kernel/rtlbitmap.c) ---- */
void RtlInitializeBitMap(PRTL_BITMAP Bitmap, PULONG64 Buffer, ULONG Bits);
/* Find NUMBER clear bits in a row, starting the search at HINT and
 * wrapping; set them and return the first index, or 0xFFFFFFFF. */
ULONG RtlFindClearBitsAndSet(PRTL_BITMAP Bitmap, ULONG Number, ULONG Hint);
void RtlSetBits(PRTL_BITMAP Bitmap, ULONG Start, ULONG Number);
void RtlClearBits(PRTL_BITMAP Bitmap, ULONG Start, ULONG Number);
BOOLEAN RtlCheckBit(PRTL_BITMAP Bitmap, ULONG Index);
ULONG RtlNumberOfSetBits(PRTL_BITMAP Bitmap);
