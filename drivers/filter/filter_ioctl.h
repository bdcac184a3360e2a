/*
 * filter_ioctl.h: the RAM disk filter's own IOCTL (only #defines and
 * fixed-size types, for kernel tests and user/). The filter answers it
 * itself and passes every other IOCTL down to the disk.
 */
#pragma once
#include <stdint.h>
#include "kernel/ntioapi.h"

#define IOCTL_FILTER_GET_STATS CTL_CODE(FILE_DEVICE_DISK_T, 0x900, METHOD_BUFFERED, FILE_ANY_ACCESS)

typedef struct {
    uint64_t ReadsPended;          /* marked pending in dispatch and queued to the worker */
    uint64_t ReadsForwarded;       /* sent down by the worker */
    uint64_t ReadsCompleted;       /* back through the filter's completion routine */
    uint64_t ReadsCancelled;       /* completed STATUS_CANCELLED while queued (cancel, or unload) */
    uint64_t MdlsBuilt;            /* reads that came with only Irp->UserBuffer: locked by the filter */
    uint64_t MdlsFreed;            /* ...unlocked and freed again (completion or cancel) */
    uint64_t CompletedInWorker;    /* completion routines that ran in the worker thread */
    uint64_t PassedThrough;        /* everything else, sent down untouched */
    uint64_t Queued;               /* in the queue now */
    uint64_t WorkerThread;         /* the worker's KTHREAD (a cookie outside the kernel) */
    uint64_t LastDispatchThread;   /* the thread the last read was dispatched in */
    uint64_t LastCompletionThread; /* the thread its completion routine ran in */
} FILTER_STATS_T;
