/*
 * kd.h: the kernel debugger's public interface - the kd> shell and the
 * kernel's symbols and backtraces (kernel/kd/kd.c, ksym.c).
 */
#pragma once
#include "kernel/ke/ke.h"

/* The kd> prompt on the serial console, after init has run; `quit`
 * leaves QEMU. */
void KdShell(void);

/* ---- symbols and backtraces (kernel/kd/ksym.c) ---- */
/* Name of the function containing ADDR and the offset into it, NULL when
 * ADDR is outside the kernel's text. */
const char *KdLookupSymbol(ULONG_PTR addr, ULONG_PTR *offset);
/* Index in KiSymbolTable of the function containing ADDR, -1 when none:
 * a binary search, no lock, callable at any IRQL (the profiler's sample
 * interrupt, kernel/ke/profile.c, counts by it). */
LONG KdSymbolIndex(ULONG_PTR addr);
/* Address of function NAME, 0 when unknown. */
ULONG_PTR KdSymbolAddress(const char *name);
void KdDumpBacktrace(ULONG_PTR pc, ULONG_PTR rbp, BOOLEAN pc_is_return);
/* One backtrace line ("  #N addr name+off"): a return address is looked
 * up at addr - 1 (the call), a faulting RIP at addr. */
int KdFormatBacktraceFrame(char *buf, size_t size, int n, ULONG_PTR addr, BOOLEAN is_return);
/* Follow the frame-pointer chain from RBP; fills RETURNS with up to MAX
 * return addresses, innermost first, and returns how many. */
int KdWalkStack(ULONG_PTR rbp, ULONG_PTR *returns, int max);
/* Frame-pointer walks only follow RBP inside a registered stack. */
void KdRegisterStack(ULONG_PTR low, ULONG_PTR high);
void KdUnregisterStack(ULONG_PTR low, ULONG_PTR high);
/* Is VA inside a known kernel stack (boot, IST, thread stacks)? */
BOOLEAN KdIsAddressOnStack(ULONG_PTR va);

/* The symbol table scripts/gen-ksyms.sh generates from the first link. */
struct ksym {
    uint64_t addr, size;   /* size 0: asm label, runs to the next symbol */
    const char *name;
};
extern const uint64_t KiSymbolCount;
extern const struct ksym KiSymbolTable[];
