/*
 * iop.h: I/O manager internals, shared by the files of io/. Not for
 * drivers (they include kernel/mdlos.h).
 */
#pragma once
#include "io/io.h"
#include "kernel/ke/ki.h"

/* io/mdl.c: the lookaside list small MDLs come from. */
void IopInitializeMdls(void);
