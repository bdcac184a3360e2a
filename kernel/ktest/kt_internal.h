/*
 * kt_internal.h: the one header for tests that must look inside a
 * component (PFN entries, PTEs, pool headers, EPROCESS, the PRCB, MDL
 * tracking). A test includes kernel/mdlos.h and, only if it needs them,
 * this; drivers never do. docs/testing.md says when to use it.
 */
#pragma once
#include "kernel/mdlos.h"
#include "kernel/ke/ki.h"
#include "kernel/hal/x86.h"
#include "kernel/ps/psp.h"
#include "mm/mi.h"
#include "mm/pool.h"
#include "mm/mdl.h"
#include "io/iop.h"
#include "io/dmap.h"
#include "mm/lab/pgtbl.h"
#include "mm/lab/pools.h"
#include "mm/lab/mdl.h"
#include "mm/lab/fault.h"
