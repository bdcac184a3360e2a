/*
 * The demand-paging lab (docs/labs/fault.md): the student's own resolvers
 * of the two faults every NT process takes first - a demand-zero fault (a
 * committed page touched for the first time gets a zeroed frame) and a
 * copy-on-write fault (a write to a page shared read-only gets a private
 * copy).
 *
 * The kernel's resolvers (MiResolveDemandZeroFault and MiCopyOnWrite in
 * mm/userfault.c) serve every process but one kind: a process a lab test
 * made and marked (KtRouteFaultsToLab, which sets EPROCESS.Vm.LabFaults;
 * KtRunProgram has it set for a ring-3 program as its address space is
 * created).
 * MiDispatchFault sends that process's demand-zero and copy-on-write
 * faults to MiLabDispatchFault (mm/lab/fault.c), which calls the functions
 * below - for real faults, taken by real accesses, with the process's
 * address-space lock held. So a stubbed kernel boots and runs everything
 * else with the kernel's own code.
 */
#pragma once
#include "mm/mi.h"
#include "kernel/ps/psp.h"
#include "kernel/ktest/ktest.h"   /* KtLabNotImplemented, in the stubs */

/* A demand-zero fault in PROCESS (the current address space, its
 * address-space lock held, below DISPATCH_LEVEL) at page-aligned PAGE,
 * whose PTE is PTE. PTEVALUE is what that PTE held when the fault was
 * dispatched: a demand-zero PTE (MI_PTE_COMMITTED, the protection in
 * u.Soft.Protection), or 0 for an untouched page of a MemCommit region
 * VAD (protection VAD->CommitMm; its page tables may not exist yet).
 * ERRORCODE is the x86 #PF error code (bit 1 write, bit 4 instruction
 * fetch; bit 0 is clear for a not-present page). Returns STATUS_SUCCESS
 * when the access can be retried: the page is then valid with its
 * protection, a zeroed frame of its own, in the working set, and counted
 * as a demand-zero fault. A protection the access breaks:
 * STATUS_ACCESS_VIOLATION with nothing changed. A guard page: whatever
 * MiCheckForUserStackOverflow says. */
NTSTATUS MiLabResolveDemandZeroFault(PEPROCESS Process, PMMVAD Vad, PVOID Page, PMMPTE Pte, ULONG64 PteValue,
                                     ULONG64 ErrorCode);
/* A write to a valid copy-on-write page (MI_PTE_COPY_ON_WRITE set, not
 * writable) of PROCESS, whose PTE is PTE; same context. Give the page a
 * private copy of its frame, mapped writable and dirty; the old frame
 * loses this mapping (a shared image frame one share, a private frame is
 * freed). Counted as a copy-on-write fault; a shared image frame's copy
 * is one more private page of the process. STATUS_NO_MEMORY if no frame. */
NTSTATUS MiLabCopyOnWrite(PEPROCESS Process, PMMPTE Pte);
