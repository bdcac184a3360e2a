/* The RAM disk filter's internals, shared by its files. */
#pragma once
#include "drivers/drivers.h"
#include "drivers/filter/filter_ioctl.h"

typedef struct {
    PDEVICE_OBJECT Self;
    PDEVICE_OBJECT Lower;         /* what IoAttachDeviceToDeviceStack returned: where IRPs go */
    KSPIN_LOCK Lock;              /* guards Queue, Unloading, InFlight's changes */
    LIST_ENTRY Queue;             /* pended reads, by Tail.Overlay.ListEntry */
    KEVENT Work;                  /* wakes the worker: a read queued, or stop */
    PKTHREAD Worker;
    volatile BOOLEAN Stop;
    BOOLEAN Unloading;            /* no more reads are queued */
    /* Requests inside the filter (queued, forwarded, or passing through):
     * unload detaches only when this is 0 - NT's remove lock, written out. */
    volatile LONG InFlight;
    FILTER_STATS_T Stats;
} FLT_EXTENSION;

#define FltCount(field) __atomic_add_fetch(&(field), 1, __ATOMIC_RELAXED)

/* fltread.c */
NTSTATUS FltRead(PDEVICE_OBJECT DeviceObject, PIRP Irp);
void FltWorker(PVOID Context);
/* Take every queued read off the queue and complete it STATUS_CANCELLED. */
void FltCancelQueued(FLT_EXTENSION *Ext);
/* filter.c */
NTSTATUS FltPassThrough(PDEVICE_OBJECT DeviceObject, PIRP Irp);
BOOLEAN FltEnter(FLT_EXTENSION *Ext);
void FltLeave(FLT_EXTENSION *Ext);
