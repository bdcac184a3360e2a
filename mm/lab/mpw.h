/*
 * The modified page writer lab (docs/labs/mpw.md): the student's own
 * writer of one cluster - take the oldest modified pages and as many
 * contiguous pagefile slots, describe the frames with one MDL, send one
 * paging write and wait, and finish each page by what happened to it
 * meanwhile - and the loop that writes the modified list out.
 *
 * The kernel keeps its own writer (mm/mpw.c) for its own paging: only the
 * lab's tests call this code, with the kernel's writer paused
 * (KtBeginPaging), so a kernel with the stubs boots and pages as before.
 *
 * All PFN-database work is under the PFN lock; the write is sent and
 * waited for with no lock held (the disk driver takes its own locks and
 * allocates; docs/paging.md §7).
 */
#pragma once
#include "mm/mi.h"
#include "io/io.h"
#include "io/iomgr.h"
#include "kernel/ktest/ktest.h"   /* KtLabNotImplemented, in the stubs */

/* One write cluster: up to MI_WRITE_CLUSTER_PAGES (16) pages, 64 KiB, in
 * one request. */
typedef struct _MI_LAB_CLUSTER {
    ULONG File;                                   /* MmPagingFile[File] */
    ULONG Count;                                  /* pages taken = slots used (0: nothing to write) */
    ULONG64 FirstSlot;                            /* Pages[i] goes to slot FirstSlot + i */
    PFN_NUMBER Pages[MI_WRITE_CLUSTER_PAGES];     /* the frames taken, oldest first */
    NTSTATUS Status;                              /* the write's final status (MiLabWriteCluster) */
    MDL Mdl;                                      /* the write's MDL (MiLabBuildClusterMdl) ... */
    PFN_NUMBER MdlPfns[MI_WRITE_CLUSTER_PAGES];   /* ... and its PFN array, right after it */
} MI_LAB_CLUSTER;

/* Part 1. Under the PFN lock: reserve up to MAX (at most 16, at most the
 * modified list's length) contiguous slots in one paging file
 * (MiAllocatePageFileSpace), and take as many frames from the head of the
 * modified list (the oldest). Each frame: off the list, one reference (the
 * write's), PageLocation TransitionPage, WriteInProgress 1, Modified 0,
 * OriginalPte the pagefile PTE of its slot; MiPagesInFlight counts it, and
 * MiPageFileSystemSlots too for a paged-pool page. Its PTE stays the
 * transition PTE it is. Slots the list could not fill go back. Fills
 * File, FirstSlot, Count and Pages; returns Count (0: nothing taken, no
 * slot held). */
ULONG MiLabTakeCluster(MI_LAB_CLUSTER *Cluster, ULONG Max);

/* Part 2. The MDL of the write: Count pages from the virtual address
 * FirstSlot << PAGE_SHIFT (nobody maps it: it is only a base for the byte
 * offset, page aligned), MDL_PAGES_LOCKED (the write's references are the
 * lock), the PFN array = Pages. */
void MiLabBuildClusterMdl(MI_LAB_CLUSTER *Cluster);
/* Part 2. Build the MDL, send it with IoSynchronousPageWrite to the
 * paging file's disk at BaseOffset + FirstSlot * 4096, wait for it, and
 * return (and store in Status) the write's final status. No lock held;
 * the current thread is a memory maker meanwhile. */
NTSTATUS MiLabWriteCluster(MI_LAB_CLUSTER *Cluster);

/* Part 3. Under the PFN lock, per page: WriteInProgress 0, out of
 * MiPagesInFlight; if STATUS succeeded and nothing happened to the page
 * meanwhile (no reference but the write's, not Modified again, its PTE not
 * deleted), drop the reference: it goes to the standby list with its
 * slot. Otherwise, unless its PTE was deleted, give the slot back, clear
 * OriginalPte and set Modified (the only copy again), then drop the
 * reference: to the modified list, or it stays resident; a deleted PTE's
 * frame is freed with its slot. Returns how many pages went to standby. */
ULONG MiLabCompleteCluster(MI_LAB_CLUSTER *Cluster, NTSTATUS Status);

/* Part 4. Take, write, complete, cluster after cluster, until the
 * modified list is empty or a write fails (which stops the run); returns
 * the pages written. Below DISPATCH_LEVEL. */
ULONG64 MiLabWriteModifiedPages(void);
