/*
 * Frames a test takes away from the system, to make memory short or to
 * exhaust it, and gives back (mm/tests/pfn_test.c, commit_test.c,
 * prototype_test.c, kernel/ke/tests/locks_test.c, exhaust_test.c).
 *
 * The held frames are chained through their own PFN entries' OriginalPte:
 * nothing reads that field while a frame belongs to MiUsageTest, and when
 * memory is exhausted there is nowhere else to keep a list.
 */
#pragma once
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

typedef struct {
    PFN_NUMBER Head;    /* the last frame taken; 0: none */
    PFN_NUMBER Count;
} MT_HELD_FRAMES;

/* Take one more frame (of any list: free, zeroed, or standby, which
 * repurposes it); returns it, or 0 when none is left. */
PFN_NUMBER MtHoldFrame(MT_HELD_FRAMES *h);
/* Take frames while MmAvailablePages >= AT_LEAST (0: until none is left). */
void MtHoldFramesWhileAvailable(MT_HELD_FRAMES *h, PFN_NUMBER at_least);
/* Give back the frame taken last; FALSE when none is held. */
BOOLEAN MtReleaseFrame(MT_HELD_FRAMES *h);
/* Give every held frame back. */
void MtReleaseFrames(MT_HELD_FRAMES *h);
