/* The RAM disk's internals, shared by its files (not for other drivers). */
#pragma once
#include "drivers/drivers.h"
#include "kernel/ntsyscall.h"
#include "drivers/ramdisk/ramdisk_ioctl.h"

#define RD_TAG         POOL_TAG('R', 'a', 'm', 'D')
#define RD_SECTOR_SIZE 512
#define RD_DEFAULT_MIB 4
#define RD_MAX_MIB     32     /* nonpaged pool is 64 MiB of address space in all */

/* The bench disks: \Device\RamDisk1 (direct I/O, no filter on it) and
 * \Device\RamDisk1Buffered, the same storage through DO_BUFFERED_IO, so
 * make bench compares the two transfer methods with nothing else different. */
#define RD_BENCH_MIB   2

/* The sizes a disk gets without `ramdisk=` (rdsize.c): the figures above,
 * but never more than an eighth (RamDisk0) and a sixteenth (RamDisk1) of
 * the RAM, in whole MiB, at least 1: the storage is nonpaged and taken
 * whole at boot, so on a 16 MiB machine the fixed 6 MiB was two fifths of
 * what was left for everything else. */
ULONG64 RdDefaultDiskMib(PFN_NUMBER RamPages);
ULONG64 RdBenchDiskMib(PFN_NUMBER RamPages);

/* The disk's bytes (rdstore.c): nonpaged, reachable at any IRQL, each
 * page zeroed at its first write; a page never written reads as zeros. */
typedef struct {
    PUCHAR Bytes;
    ULONG64 Size;             /* bytes, a multiple of RD_SECTOR_SIZE */
    ULONG64 PagesWritten;     /* pages in Written, under Lock */
    KSPIN_LOCK Lock;          /* a page's first write */
    ULONG64 Written[];        /* bit n: page n has been written */
} RD_STORAGE;

NTSTATUS RdStorageCreate(ULONG64 Size, RD_STORAGE **Storage);
void RdStorageFree(RD_STORAGE *Storage);
BOOLEAN RdStoragePageWritten(RD_STORAGE *Storage, ULONG64 Page);
void RdStorageRead(RD_STORAGE *Storage, ULONG64 Offset, PUCHAR To, ULONG Length);
void RdStorageWrite(RD_STORAGE *Storage, ULONG64 Offset, const UCHAR *From, ULONG Length);

typedef struct {
    RD_STORAGE *Storage;
    BOOLEAN OwnsStorage;      /* FALSE for a second view of another device's storage */
    ULONG64 Size;             /* bytes, a multiple of RD_SECTOR_SIZE */
    RAMDISK_STATS_T Stats;    /* updated with atomics: requests come from any thread */
} RD_EXTENSION;

#define RdCount(field, n) __atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)

NTSTATUS RdReadWrite(PDEVICE_OBJECT DeviceObject, PIRP Irp);
NTSTATUS RdDeviceControl(PDEVICE_OBJECT DeviceObject, PIRP Irp);

static inline NTSTATUS RdComplete(PIRP Irp, NTSTATUS Status, ULONG_PTR Information)
{
    Irp->IoStatus.Status = Status;
    Irp->IoStatus.Information = Information;
    IoCompleteRequest(Irp, NT_SUCCESS(Status) ? IO_DISK_INCREMENT : IO_NO_INCREMENT);
    return Status;
}
