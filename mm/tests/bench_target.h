/* A target process for the mm benchmarks (mm/tests/bench_*.c): created but
 * not yet running, attached, with PAGES committed demand-zero private pages
 * at REGION and nothing touched yet. The caller makes them resident if it
 * needs them resident, and detaches and ends the process when done. */
#pragma once
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

static inline PEPROCESS bench_make_target(ULONG64 region, ULONG pages, PEPROCESS *saved)
{
    PEPROCESS p;
    if (!NT_SUCCESS(PsCreateProcess("hello", "hello bench", NULL, &p)))
        return NULL;
    KeSetPriorityThread(p->Thread, 1);   /* it must not run (and exit) while we measure */
    KeStackAttachProcess(p, saved);
    KeWaitForSingleObject(&p->AddressSpaceLock, Executive, KernelMode, FALSE, NULL);
    MiInsertVad(p, region >> PAGE_SHIFT, (region >> PAGE_SHIFT) + pages - 1, PAGE_READWRITE, VadPrivate);
    /* Committed pages are charged, as NtAllocateVirtualMemory would: the
     * process gives them back at its end (0x1A/0x41701 without this). */
    MiForceChargeCommitment(p, pages);
    for (ULONG i = 0; i < pages; i++) {
        PVOID va = (PVOID)(region + (ULONG64)i * PAGE_SIZE);
        MiEnsurePageTables(va);
        MiWriteUserPte(MiGetPteAddress(va), MiDemandZeroPte(MM_READWRITE));
        p->Vm.Counters.PrivatePages++;
    }
    KeReleaseMutex(&p->AddressSpaceLock, FALSE);
    return p;
}
