/*
 * vblk.h: the virtio-blk driver's internals (drivers/virtio/), shared by its
 * file and its tests. Virtio 1.x over PCI, the modern transport only
 * (1af4:1042): the registers are reached through the vendor capabilities
 * the PCI bus driver decoded (common, notify, ISR and device configuration
 * structures, each a BAR + offset), one split virtqueue (queue 0), requests
 * built from the DMA adapter's scatter/gather lists of the IRP's MDL.
 */
#pragma once
#include "drivers/drivers.h"
#include "drivers/pci/pci.h"
#include "drivers/virtio/vblk_ioctl.h"

#define VB_TAG        POOL_TAG('V', 'B', 'l', 'k')
#define VB_MAX_DISKS  2
#define VB_QUEUE_MAX  256          /* queue_size is capped here: the ring area stays 5 pages */
/* Bytes one sub-request carries at most. Virtio-blk states no transfer
 * limit without SIZE_MAX (which bounds each segment; QEMU does not offer
 * it), so this is the driver's own: 2 MiB, above Linux's 1280 KiB
 * (BLK_DEF_MAX_SECTORS), so a physically contiguous 1 MiB buffer goes as
 * one request. The adapter's MaximumLength: an unaligned one spans 513
 * pages, within its map-register count. Longer IRPs are split. */
#define VB_MAX_TRANSFER (2 * 1024 * 1024)
/* Scatter/gather elements (data descriptors) one sub-request may have at
 * most, whatever seg_max says: what one indirect table holds, with the
 * header and the status byte. 129: a scattered 512 KiB, one frame a page. */
#define VB_SEG_CAP    129
#define VB_IND_ENTRIES (VB_SEG_CAP + 2)
#define VB_LAST_ELEMENTS VBLK_LAST_MAX

/* Virtio 1.x 4.1.4.3: struct virtio_pci_common_cfg (offsets). */
#define VIO_DEVICE_FEATURE_SELECT 0x00
#define VIO_DEVICE_FEATURE        0x04
#define VIO_DRIVER_FEATURE_SELECT 0x08
#define VIO_DRIVER_FEATURE        0x0C
#define VIO_MSIX_CONFIG           0x10
#define VIO_NUM_QUEUES            0x12
#define VIO_DEVICE_STATUS         0x14
#define VIO_QUEUE_SELECT          0x16
#define VIO_QUEUE_SIZE            0x18
#define VIO_QUEUE_MSIX_VECTOR     0x1A
#define VIO_QUEUE_ENABLE          0x1C
#define VIO_QUEUE_NOTIFY_OFF      0x1E
#define VIO_QUEUE_DESC            0x20
#define VIO_QUEUE_DRIVER          0x28
#define VIO_QUEUE_DEVICE          0x30
#define VIO_NO_VECTOR             0xFFFF

/* Device status bits (2.1). */
#define VIO_S_ACKNOWLEDGE  1
#define VIO_S_DRIVER       2
#define VIO_S_DRIVER_OK    4
#define VIO_S_FEATURES_OK  8
#define VIO_S_FAILED       0x80

/* Feature bits (5.2.3, 6). */
#define VBLK_F_SEG_MAX   (1ULL << 2)
#define VBLK_F_BLK_SIZE  (1ULL << 6)
#define VBLK_F_FLUSH     (1ULL << 9)
#define VIO_F_INDIRECT_DESC (1ULL << 28)
#define VIO_F_EVENT_IDX  (1ULL << 29)
#define VIO_F_VERSION_1  (1ULL << 32)

/* struct virtio_blk_config (5.2.4). */
#define VBLK_CFG_CAPACITY 0x00     /* u64, 512-byte sectors whatever blk_size is */
#define VBLK_CFG_SEG_MAX  0x0C
#define VBLK_CFG_BLK_SIZE 0x14

/* Request types and status byte values (5.2.6). */
#define VBLK_T_IN    0
#define VBLK_T_OUT   1
#define VBLK_T_FLUSH 4
#define VBLK_S_OK     0
#define VBLK_S_IOERR  1
#define VBLK_S_UNSUPP 2

/* Split virtqueue (2.7): descriptor flags. */
#define VQ_DESC_F_NEXT  1
#define VQ_DESC_F_WRITE 2          /* the device writes this buffer */
#define VQ_DESC_F_INDIRECT 4       /* the buffer is a table of descriptors (2.7.5.3) */
/* used.flags: the device asks not to be notified (2.7.10; without EVENT_IDX). */
#define VQ_USED_F_NO_NOTIFY 1
/* avail.flags: the driver asks not to be interrupted (2.7.7; without EVENT_IDX). */
#define VQ_AVAIL_F_NO_INTERRUPT 1

typedef struct {
    volatile ULONG64 Addr;
    volatile ULONG Len;
    volatile USHORT Flags;
    volatile USHORT Next;
} VQ_DESC;

/* The header and the status byte of the request whose chain starts at
 * descriptor i: slot i of the slot area (a common buffer), so the device
 * reads and writes them at known physical addresses. */
typedef struct {
    ULONG Type;
    ULONG Reserved;
    ULONG64 Sector;
    volatile UCHAR Status;
    UCHAR Pad[15];
} VB_SLOT;
_Static_assert(sizeof(VB_SLOT) == 32, "a slot is 32 bytes");

/* One IRP's progress. It goes to the device as one or more sub-requests,
 * each at most VB_MAX_TRANSFER bytes and SegLimit elements (runs of
 * physically contiguous frames), all of them in flight at
 * once when the ring has room (the IRP stays at the head of the waiting
 * queue until its last piece is handed out). Under the disk's lock. */
typedef struct _VB_REQ {
    LIST_ENTRY Link;               /* on the waiting queue while Queued */
    PIRP Irp;
    struct _VB_DISK *Disk;
    ULONG Type;                    /* VBLK_T_* */
    ULONG Length;                  /* of the whole IRP */
    ULONG Issued;                  /* bytes handed to sub-requests so far */
    ULONG Outstanding;             /* sub-requests taken and not yet finished */
    ULONG Pieces;                  /* sub-requests so far */
    ULONG FirstChunk, FirstElements;   /* the first piece, as dispatch measured it (chunk_of) */
    LONGLONG Offset;               /* of the whole IRP, bytes */
    NTSTATUS Status;               /* the first failure, else STATUS_SUCCESS */
    BOOLEAN Queued;                /* on the waiting queue */
    BOOLEAN Cancelled;             /* its cancel routine won the race: vb_start skips it */
    ULONG64 TDispatch;             /* rdtsc when dispatch took it (the benchmark's phases) */
    PDMA_ADAPTER Dma;              /* the disk's adapter, or the DMA lab's (VblkLabFile) */
} VB_REQ;

/* One sub-request: a chain on the ring, indexed by its head descriptor
 * (which is also the slot holding its header and status byte, and, with
 * indirect descriptors, the index of its indirect table). */
typedef struct {
    LIST_ENTRY Link;               /* the DPC's list of finished ones */
    VB_REQ *Req;                   /* NULL: the head is free */
    PSCATTER_GATHER_LIST Sg;
    ULONG Offset;                  /* into the IRP */
    ULONG Chunk;                   /* bytes */
    USHORT Reserved;               /* ring descriptors promised to it */
    USHORT Descriptors;            /* ring descriptors it took (1 when indirect) */
    UCHAR DevStatus;
    BOOLEAN Indirect;
    BOOLEAN OnDevice;              /* published in the available ring */
    /* Whole IRPs merged behind this one's piece into the same device
     * request (adjacent sectors, the same direction: vb_start), each with
     * its own list; NULL-terminated, from the disk's member lookaside. */
    struct _VB_MEMBER *Members;
    USHORT MemberCount;
} VB_SUB;

typedef struct _VB_MEMBER {
    struct _VB_MEMBER *Next;
    VB_REQ *Req;
    PSCATTER_GATHER_LIST Sg;
} VB_MEMBER;

/* What the last sub-request handed to the device (tests' zero-copy check;
 * IOCTL_VBLK_LAST_REQUEST returns it with the counters). */
typedef struct {
    PIRP Irp;
    PMDL Mdl;
    ULONG Chunk;
    ULONG Elements;
    ULONG MdlByteOffset, MdlPages;
    USHORT Head, RingDescriptors;
    BOOLEAN Indirect;
    ULONG64 MdlPfn[VB_LAST_ELEMENTS];
    ULONG64 Address[VB_LAST_ELEMENTS];
    ULONG Length[VB_LAST_ELEMENTS];
} VB_LAST;

typedef struct {
    volatile ULONG64 Interrupts;   /* ISR claimed */
    volatile ULONG64 Dpcs;
    volatile ULONG64 Requests;     /* IRPs taken */
    volatile ULONG64 SubRequests;  /* chains put on the ring */
    volatile ULONG64 Merged;       /* IRPs that went inside another's chain (a plugged batch's adjacent requests) */
    volatile ULONG64 Indirect;     /* of which through an indirect table */
    volatile ULONG64 Splits;       /* IRPs that needed more than one sub-request */
    volatile ULONG64 Waited;       /* IRPs that waited for free descriptors */
    volatile ULONG64 Refused;
    volatile ULONG64 Errors;       /* device status not OK */
    volatile ULONG64 Cancelled;    /* IRPs cancelled while waiting for descriptors */
    volatile ULONG64 Notifies;     /* writes to the notify register */
    volatile ULONG64 NotifiesSuppressed;   /* skipped: used.flags said NO_NOTIFY */
    volatile ULONG64 NotifiesDeferred;     /* left to the next DPC: the device was busy */
    volatile ULONG64 CompletedCancelled;   /* finished by the device after IoCancelIrp (requester exiting) */
    volatile ULONG64 DpcPasses;    /* walks of the used ring by the DPC (one DPC may make several) */
    volatile ULONG64 LateCompletions;  /* found by the re-check after interrupts were re-enabled */
    ULONG InFlight, MaxInFlight;   /* chains on the device (under the lock) */
    /* Where one request's time goes (rdtsc), summed over IRPs with nothing
     * else on the device (exact at queue depth 1; an IRP's pieces go out
     * in one batch): dispatch -> notify written, the notify write itself,
     * notify -> ISR (the device and the host), ISR -> DPC, DPC -> the IRP
     * completed. */
    ULONG64 Timed, CyclesToNotify, CyclesNotify, CyclesDevice, CyclesIsrToDpc, CyclesDpc;
    /* The last timed IRP's time stamps: dispatch, notify start and end,
     * ISR, DPC start, IRP completed (VBLK_LAST_T.LastT). */
    ULONG64 LastT[6];
} VB_STATS;

typedef struct _VB_DISK {
    PDEVICE_OBJECT Device;
    PPCI_DEVICE Pci;
    volatile UCHAR *Common, *Isr, *DevCfg;
    volatile USHORT *Notify;
    ULONG64 Features;              /* negotiated */
    ULONG64 Capacity;              /* 512-byte sectors */
    ULONG SectorSize;              /* blk_size, or 512 */
    ULONG SegMax;                  /* from the device (or 0 without SEG_MAX) */
    ULONG SegLimit;                /* elements per sub-request: min(seg_max, VB_SEG_CAP); tests lower it */
    ULONG PieceBytes;              /* bytes per sub-request: VB_MAX_TRANSFER, or vblk.piece_pages' */
    ULONG MergeBytes;              /* bytes per merged request: PieceBytes, or vblk.merge_pages' */
    BOOLEAN Msix;
    BOOLEAN Indirect;              /* VIRTIO_F_INDIRECT_DESC negotiated: one ring descriptor per sub-request */
    BOOLEAN DeferNotify;           /* a notify waits for the next DPC while the device is busy (vblk.nodefer: off) */
    BOOLEAN Merge;                 /* a plugged batch's adjacent IRPs go as one request (vblk.nomerge: off) */
    PKINTERRUPT Interrupt;
    KDPC Dpc;
    PDMA_ADAPTER Dma;
    /* The queue: descriptors, available ring, used ring and the slots in one
     * common buffer. */
    USHORT QueueSize;
    PVOID Ring;
    PHYSICAL_ADDRESS RingPa;
    ULONG RingBytes;
    VQ_DESC *Desc;
    volatile USHORT *Avail;        /* flags, idx, ring[QueueSize] */
    volatile USHORT *Used;         /* flags, idx, then {u32 id, u32 len}[QueueSize] */
    VB_SLOT *Slots;
    ULONG64 SlotsPa;
    /* The indirect tables, VB_IND_ENTRIES descriptors for each head, in
     * their own common buffer (NULL without INDIRECT_DESC). */
    VQ_DESC *Ind;
    PHYSICAL_ADDRESS IndPa;
    ULONG IndBytes;
    /* What the driver mapped, for unload. */
    PVOID CommonMap, NotifyMap, IsrMap, DevCfgMap;
    SIZE_T CommonLen, NotifyLen, IsrLen, DevCfgLen;
    KSPIN_LOCK Lock;               /* everything below */
    USHORT FreeHead, FreeCount;    /* free descriptor list (through Next) */
    USHORT Unreserved;             /* free descriptors not promised to a sub-request */
    USHORT AvailIdx, LastUsed;
    USHORT Starters;               /* vb_start loops running: they notify once at their end */
    BOOLEAN NotifyPending;         /* published, not yet notified */
    BOOLEAN HoldCompletions;       /* tests only: the DPC leaves the used ring alone (a slow device) */
    /* Tests only: called by the DPC under the lock when a pass found
     * nothing, just before the device's interrupts go back on. */
    void (*TestBeforeInterruptsOn)(struct _VB_DISK *Disk);
    VB_SUB Subs[VB_QUEUE_MAX];     /* by head descriptor */
    LIST_ENTRY Waiting;            /* IRPs with pieces to hand out, FIFO */
    ULONG64 TNotifyStart, TNotifyEnd, TIsr;   /* the last notify and interrupt (rdtsc) */
    VB_STATS Stats;
    VB_LAST Last;
} VB_DISK;

extern VB_DISK *VblkDisks[VB_MAX_DISKS];
extern ULONG VblkDiskCount;
extern volatile LONG VblkReqsOutstanding;
/* The DMA lab (docs/labs/dma.md): requests on the file object VblkLabFile
 * take their lists from VblkLabDma (io/lab/sgadapter.c: the student's
 * builder) instead of the disk's adapter. NULL - off - except inside that
 * lab's tests, which set both with none of that file's requests in flight. */
extern PFILE_OBJECT volatile VblkLabFile;
extern PDMA_ADAPTER volatile VblkLabDma;

/* vblk_queue.c: the ring. vblk.c: dispatch. vblk_init.c: bring-up, unload. */
NTSTATUS VbQueue(VB_DISK *Disk, PIRP Irp, ULONG Type, LONGLONG Offset, ULONG Length);
void VbInitializeRequests(void);   /* the VB_REQ lookaside list: at driver entry */
void VbDeleteRequests(void);       /* and at unload */
void VbDpc(PKDPC Dpc, PVOID Context, PVOID Arg1, PVOID Arg2);
BOOLEAN VbIsrMsix(PKINTERRUPT Interrupt, PVOID Context);
BOOLEAN VbIsrIntx(PKINTERRUPT Interrupt, PVOID Context);
NTSTATUS VbComplete(PIRP Irp, NTSTATUS Status, ULONG_PTR Information);
void VbInstallDispatch(PDRIVER_OBJECT Driver);
void VblkDriverUnload(PDRIVER_OBJECT Driver);
