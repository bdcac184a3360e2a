/*
 * The memory thresholds, sized from the RAM found at boot.
 *
 * NT derives its memory conditions from the number of physical pages it
 * finds at boot rather than using fixed counts: the low-memory condition
 * (the LowMemoryCondition event) is signalled, by default, at about 32 MiB
 * of available memory per 4 GiB of RAM, never above 64 MiB, and the
 * high-memory one at three times that. Beside them MmMinimumFreePages is a
 * small floor kept back for the threads that make memory (the modified
 * page writer, in-page reads).
 * A fixed count that suits a large machine is most of a small one's RAM:
 * here the process-creation reserve alone (16 MiB) stopped a 16 MiB
 * machine from starting init.
 *
 * mdlos keeps NT's shape (a fraction of RAM up to a ceiling) with its own
 * figures, chosen so that a machine of 64 MiB or more gets exactly what the
 * fixed values were (96, 2048, 4096), a 32 MiB one (7936 pages) just under
 * them (96, 1984, 3968), and the order between them holds at any size:
 *   minimum  = RAM / 64, at most 96      (memory makers only below it)
 *   low      = RAM / 4,  at most 2048    (the working-set manager wakes)
 *   reserve  = RAM / 2,  at most 4096    (a new process is refused below)
 * so minimum < low / 4 (the in-page read's cluster stops there) < low <
 * reserve < RAM. The reserve stays twice the low mark: a process is only
 * started while there is room above the point where trimming begins.
 */
#include "mm/mi.h"

PFN_NUMBER MiMinimumAvailablePages, MiLowMemoryPages, MmProcessCreateReservePages;

static PFN_NUMBER fraction_up_to(PFN_NUMBER pages, PFN_NUMBER divisor, PFN_NUMBER ceiling)
{
    PFN_NUMBER n = pages / divisor;
    return n < ceiling ? n : ceiling;
}

void MiComputeMemoryThresholds(PFN_NUMBER pages, MI_MEMORY_THRESHOLDS *out)
{
    out->MinimumAvailable = fraction_up_to(pages, 64, 96);
    out->LowMemory = fraction_up_to(pages, 4, 2048);
    out->ProcessCreateReserve = fraction_up_to(pages, 2, 4096);
}

void MiInitializeMemoryThresholds(void)
{
    MI_MEMORY_THRESHOLDS t;
    MiComputeMemoryThresholds(MmNumberOfPhysicalPages, &t);
    MiMinimumAvailablePages = t.MinimumAvailable;
    MiLowMemoryPages = t.LowMemory;
    MmProcessCreateReservePages = t.ProcessCreateReserve;
}
