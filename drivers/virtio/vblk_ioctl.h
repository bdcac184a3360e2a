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
    uint32_t Indirect;                   /* the last sub-request went through an indirect table */
    uint32_t RingDescriptors;            /* ring descriptors it took: 1 indirect, Elements + 2 direct */
    uint32_t IndirectNegotiated;         /* VIRTIO_F_INDIRECT_DESC is on (boot option vblk.noindirect) */
    uint32_t Outstanding;                /* IRPs in the driver, all disks */
    uint32_t InFlight;                   /* sub-requests on this disk's ring now */
    uint32_t Pad;
    uint64_t Requests, Errors, Notifies, NotifiesSuppressed, Dpcs, NotifiesDeferred;
    uint64_t CompletedCancelled;         /* finished by the device after IoCancelIrp (a requester exiting) */
    /* Where the time of a lone request goes, summed (rdtsc) over Timed IRPs:
     * dispatch -> notify, the notify write, notify -> ISR (device + host),
     * ISR -> DPC, DPC -> IRP completed (drivers/virtio/vblk.h, VB_STATS). */
    uint64_t Timed, CyclesToNotify, CyclesNotify, CyclesDevice, CyclesIsrToDpc, CyclesDpc;
    /* The last such IRP's rdtsc stamps (the TSC ring 3 reads too): dispatch,
     * notify start, notify end, ISR, DPC start, IRP completed. */
    uint64_t LastT[6];
    uint64_t Merged;                     /* IRPs sent inside another's device request (a plugged batch's) */
} VBLK_LAST_T;

/* Kernel-mode tests only (IRP_MJ_INTERNAL_DEVICE_CONTROL, which ring 3
 * cannot send): a request of the raw virtio-blk type in the input ULONG,
 * no data, sector 0, for a type the device does not implement
 * (VIRTIO_BLK_S_UNSUPP -> STATUS_NOT_SUPPORTED). */
#define IOCTL_VBLK_INTERNAL_RAW_TYPE CTL_CODE(FILE_DEVICE_DISK_T, 0x802, METHOD_BUFFERED, FILE_ANY_ACCESS)
