/*
 * kd.h: the kernel debugger's public interface - the kd> shell and the
 * kernel's symbols and backtraces (kernel/kd/kd.c, ksym.c).
 */
#pragma once
#include "kernel/ntdef.h"

/* The kd> prompt on the serial console, after init has run; `quit`
 * leaves QEMU. */
void KdShell(void);

/* The symbol table scripts/gen-ksyms.sh generates from the first link. */
struct ksym {
    uint64_t addr, size;   /* size 0: asm label, runs to the next symbol */
    const char *name;
};
extern const uint64_t KiSymbolCount;
extern const struct ksym KiSymbolTable[];
