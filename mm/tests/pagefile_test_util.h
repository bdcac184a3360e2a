/*
 * What the pagefile tests and benchmarks share (mm/tests/pagefile_test.c,
 * pagefile_inject_test.c, bench_paging.c): a paging file for the test,
 * patterns, and paging paged pool out.
 */
#pragma once
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define TAG_PF POOL_TAG('P', 'f', 'T', 's')

/* A paging file for the test: the boot's (`pagefile=`), or one made now on
 * \Device\Harddisk1\DR0; PtEnd takes a made one away again and checks
 * the PFN database. */
void PtBegin(void);
void PtEnd(void);
/* BYTES at P filled with / holding the pattern of SEED. */
void PtFill(PULONG64 p, SIZE_T bytes, ULONG64 seed);
BOOLEAN PtSame(const ULONG64 *p, SIZE_T bytes, ULONG64 seed);
/* The PTE of VA now. */
ULONG64 PtPte(PVOID va);
/* Trim paged pool, write what is modified, and purge the standby list:
 * every trimmed paged-pool page is then out, only in its slot. */
void PtPageOutPagedPool(void);
/* The next write cluster's slots start at SLOT (paging file 0). */
void PtSetHint(ULONG64 slot);
