/*
 * kd.h: the kernel debugger's public interface - the kd> shell and the
 * kernel's symbols and backtraces (kernel/kd/kd.c, ksym.c).
 */
#pragma once
#include "kernel/ntdef.h"

/* The kd> prompt on the serial console, after init has run; `quit`
 * leaves QEMU. */
void KdShell(void);
