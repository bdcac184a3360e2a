/*
 * The memory thresholds sized from the RAM (mm/thresholds.c): the values
 * MM init chose on this machine, and the formula at every size a machine
 * of this kernel can have. The 16 MiB boot's own line is checked by the
 * host (scripts/ktest.py paging.user_tests_on_a_16mib_machine).
 */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

/* What MM init set is the formula at this RAM, and on a machine of 32 MiB
 * and more above 1 MiB (the test machines: 256, 64) the fixed values the
 * kernel had before, which every test written then assumes. */
KTEST(thresholds, this_machine_has_what_mm_init_computed)
{
    MI_MEMORY_THRESHOLDS t;
    MiComputeMemoryThresholds(MmNumberOfPhysicalPages, &t);
    KT_EQ(MiMinimumAvailablePages, t.MinimumAvailable);
    KT_EQ(MiLowMemoryPages, t.LowMemory);
    KT_EQ(MmProcessCreateReservePages, t.ProcessCreateReserve);
    if (MmNumberOfPhysicalPages >= 8192) {
        KT_EQ(MiMinimumAvailablePages, 96);
        KT_EQ(MiLowMemoryPages, 2048);
        KT_EQ(MmProcessCreateReservePages, 4096);
    }
}

/* Ordered at every size from 4 MiB to 8 GiB, each a fraction of the RAM
 * that leaves most of it usable, none shrinking as the RAM grows: the
 * floor for memory makers under the point where an in-page read stops
 * taking neighbours (low / 4, mm/pagefault.c), that under the working-set
 * manager's mark, that under the process reserve, all under the RAM. */
KTEST(thresholds, ordered_and_scaled_at_every_ram_size)
{
    MI_MEMORY_THRESHOLDS prev = { 0, 0, 0 };
    for (PFN_NUMBER pages = 1024; pages <= (8ULL << 30) / PAGE_SIZE; pages += pages / 64) {
        MI_MEMORY_THRESHOLDS t;
        MiComputeMemoryThresholds(pages, &t);
        KT_GT(t.MinimumAvailable, 0);
        KT_LT(t.MinimumAvailable, t.LowMemory / 4);
        KT_LT(t.LowMemory, t.ProcessCreateReserve);
        KT_LE(t.LowMemory, pages / 4);
        KT_LE(t.ProcessCreateReserve, pages / 2);
        KT_GE(t.MinimumAvailable, prev.MinimumAvailable);
        KT_GE(t.LowMemory, prev.LowMemory);
        KT_GE(t.ProcessCreateReserve, prev.ProcessCreateReserve);
        prev = t;
    }
    /* The machines the tests boot: 16 MiB (3840 pages above 1 MiB) gets
     * room to start processes; 32 MiB just under the ceilings; 64 MiB on. */
    MI_MEMORY_THRESHOLDS t;
    MiComputeMemoryThresholds(3840, &t);
    KT_EQ(t.MinimumAvailable, 60);
    KT_EQ(t.LowMemory, 960);
    KT_EQ(t.ProcessCreateReserve, 1920);
    MiComputeMemoryThresholds(7936, &t);
    KT_EQ(t.MinimumAvailable, 96);
    KT_EQ(t.LowMemory, 1984);
    KT_EQ(t.ProcessCreateReserve, 3968);
    MiComputeMemoryThresholds(16128, &t);
    KT_EQ(t.LowMemory, 2048);
    KT_EQ(t.ProcessCreateReserve, 4096);
}
