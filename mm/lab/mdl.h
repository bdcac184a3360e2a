/*
 * The MDL lab (docs/labs/mdl.md): the student's own MmProbeAndLockPages,
 * MmUnlockPages and the kernel-mode half of MmMapLockedPagesSpecifyCache,
 * for an MDL the caller has initialized (MmInitializeMdl: StartVa,
 * ByteOffset, ByteCount, and room for the PFN array right after it).
 *
 * The kernel's own MDL code (mm/mdl.c) does not use this code: only the
 * lab's tests (mm/lab/tests/mdl_test.c) call it, so a kernel with the stubs
 * boots, does its I/O, and passes every other test.
 *
 * One difference from NT, to make grading simple: a failed probe returns
 * its status instead of raising it (NT's MmProbeAndLockPages raises, and a
 * driver wraps it in __try). Either way nothing may stay locked.
 */
#pragma once
#include "mm/mdl.h"
#include "kernel/ktest/ktest.h"   /* KtLabNotImplemented, in the stubs */

/* Make every page of the MDL's buffer resident with the access OPERATION
 * needs (IoReadAccess: readable; IoWriteAccess / IoModifyAccess: writable,
 * copy-on-write resolved), take one reference on each frame, and fill the
 * PFN array. For ACCESSMODE UserMode the whole buffer must lie below
 * MmUserProbeAddress. On success the MDL says MDL_PAGES_LOCKED, and
 * MDL_WRITE_OPERATION exactly when OPERATION is not IoReadAccess; Process
 * is the process whose user buffer it is (NULL for a kernel buffer), and
 * that process's LockedPages grows by the page count. On failure (a page
 * that cannot be made resident with that access: STATUS_ACCESS_VIOLATION)
 * nothing is locked and the MDL's flags are as they were.
 * MiMdlLockedFrames counts the frame references MDL locks hold. */
NTSTATUS MiLabProbeAndLockPages(PMDL Mdl, KPROCESSOR_MODE AccessMode, LOCK_OPERATION Operation);
/* Undo MiLabProbeAndLockPages: remove a system mapping if there is one,
 * mark each frame modified for a write lock (the device wrote it without
 * a dirty bit), drop the references. */
void MiLabUnlockPages(PMDL Mdl);
/* Map the locked frames at system PTEs (cached, writable, never
 * executable): returns MappedSystemVa, which is the buffer's first byte
 * (the ByteOffset kept), and sets MDL_MAPPED_TO_SYSTEM_VA. NULL when no
 * system PTEs are left. */
PVOID MiLabMapLockedPages(PMDL Mdl);
/* Remove that mapping and give its system PTEs back. */
void MiLabUnmapLockedPages(PMDL Mdl);
