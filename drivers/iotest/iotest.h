/* The test devices' internals, shared by the files of drivers/iotest. */
#pragma once
#include "drivers/drivers.h"
#include "drivers/iotest/iotest_ioctl.h"

#define IOT_TAG  POOL_TAG('I', 'o', 'T', 's')
#define IOT_TAG_FILE  POOL_TAG('I', 'o', 'T', 'f')
#define IOT_TAG_TIMER POOL_TAG('I', 'o', 'T', 't')

typedef enum { IotBuffered, IotDirect, IotNeither, IotKinds } IOT_KIND;

typedef struct {
    ULONG Mode;                  /* IOT_PEND_* */
    ULONG DelayMs;
} IOT_MODE;

/* FILE_OBJECT.FsContext: what one open of a device chose. */
typedef struct {
    IOT_MODE Pend;
} IOT_FILE;

typedef struct {
    IOT_KIND Kind;
    PUCHAR Store;                /* IOT_STORE_SIZE bytes, nonpaged */
    KSPIN_LOCK Lock;             /* guards Held, Last, Stats.Held */
    LIST_ENTRY Held;             /* IOT_PEND_HOLD IRPs, by Tail.Overlay.ListEntry */
    IOT_MODE DevicePend;         /* for IRPs without a file object */
    IOT_LAST_REQUEST Last;
    IOT_PEND_STATS Stats;
} IOT_EXTENSION;

#define IotCount(field, n) __atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)

/* iotest_rw.c: reads and writes of the store, by the device's method. */
NTSTATUS IotReadWrite(PDEVICE_OBJECT DeviceObject, PIRP Irp);
/* iotest_ioctl.c */
NTSTATUS IotDeviceControl(PDEVICE_OBJECT DeviceObject, PIRP Irp);
/* iotest_last.c: remember what IRP looked like at dispatch. */
void IotRecordRequest(IOT_EXTENSION *Ext, PIRP Irp);
void IotQueryLastRequest(IOT_EXTENSION *Ext, IOT_LAST_REQUEST *Out);
/* iotest_pend.c: finish IRP with STATUS/INFORMATION - now, or, when its
 * file (or the device) is in pend mode, later. Returns what the dispatch
 * routine must return. */
NTSTATUS IotFinish(PDEVICE_OBJECT DeviceObject, PIRP Irp, NTSTATUS Status, ULONG_PTR Information);
NTSTATUS IotSetPend(PDEVICE_OBJECT DeviceObject, PIRP Irp);
/* Complete the held IRPs of FILE (NULL: all) with their own results
 * (CANCEL FALSE) or STATUS_CANCELLED. Returns how many. */
ULONG IotReleaseHeld(PDEVICE_OBJECT DeviceObject, PFILE_OBJECT File, BOOLEAN AllFiles, BOOLEAN Cancel);
/* Wait until no timer-pended IRP is left (unload). */
void IotDrainTimers(IOT_EXTENSION *Ext);

static inline NTSTATUS IotComplete(PIRP Irp, NTSTATUS Status, ULONG_PTR Information)
{
    Irp->IoStatus.Status = Status;
    Irp->IoStatus.Information = Information;
    IoCompleteRequest(Irp, IO_NO_INCREMENT);
    return Status;
}
