/*
 * ramdisk_ioctl.h: the RAM disk's own IOCTL, for tests and tools in the
 * kernel and in user/ (only #defines and fixed-size types). Besides it the
 * RAM disk answers the two disk IOCTLs of kernel/ntioapi.h,
 * IOCTL_DISK_GET_LENGTH_INFO and IOCTL_DISK_GET_DRIVE_GEOMETRY_EX.
 */
#pragma once
#include <stdint.h>
#include "kernel/ntioapi.h"

/* Function codes from 0x800 up are the driver writer's (below are Microsoft's). */
#define IOCTL_RAMDISK_GET_STATS CTL_CODE(FILE_DEVICE_DISK_T, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS)

/* What IOCTL_RAMDISK_GET_STATS returns: counts since the disk started. */
typedef struct {
    uint64_t Reads, Writes;              /* requests served (Length 0 included) */
    uint64_t BytesRead, BytesWritten;
    uint64_t Flushes, Ioctls;
    uint64_t Refused;                    /* reads/writes failed: misaligned, past the end, unmapped */
    uint64_t DiskSize;                   /* bytes */
} RAMDISK_STATS_T;
