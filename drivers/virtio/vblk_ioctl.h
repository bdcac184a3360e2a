/*
 * vblk_ioctl.h: the virtio-blk driver's own IOCTL, for tests in the kernel
 * and in user/ (only #defines and fixed-size types). Besides it the disks
 * answer IOCTL_DISK_GET_LENGTH_INFO and IOCTL_DISK_GET_DRIVE_GEOMETRY_EX.
 */
#pragma once
#include <stdint.h>
#include "kernel/ntioapi.h"

/* The last sub-request the driver put on the ring, and its counters. */
#define IOCTL_VBLK_LAST_REQUEST CTL_CODE(FILE_DEVICE_DISK_T, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS)

#define VBLK_LAST_MAX 16
typedef struct {
    uint32_t Chunk;                      /* bytes of the sub-request */
    uint32_t Elements;                   /* scatter/gather elements = data descriptors */
    uint32_t MdlByteOffset;              /* of the IRP's MDL */
    uint32_t MdlPages;                   /* PFNs recorded below (at most VBLK_LAST_MAX) */
    uint64_t MdlPfn[VBLK_LAST_MAX];      /* the MDL's PFN array, as the driver saw it */
    uint64_t Address[VBLK_LAST_MAX];     /* each data descriptor's physical address */
    uint32_t Length[VBLK_LAST_MAX];
    uint64_t Interrupts, SubRequests;
    uint32_t MaxInFlight, Msix;
} VBLK_LAST_T;
