/*
 * dmap.h: the DMA adapter's internals (io/dma.c), for the tests and the
 * debugger. Drivers see only DMA_ADAPTER and its DMA_OPERATIONS.
 */
#pragma once
#include "io/iop.h"

#define TAG_DMA_ADAPTER POOL_TAG('D', 'm', 'a', 'A')
#define TAG_DMA_SGL     POOL_TAG('D', 'm', 'a', 'S')

/* DRIVER_VERIFIER_DMA_VIOLATION (0xE6) parameter 1, NT's codes, and
 * mdlos's own above 0x100 where NT's table has none. */
#define IOP_DMA_FREED_TOO_MANY_COMMON_BUFFERS 0x03
#define IOP_DMA_FREED_TOO_MANY_SG_LISTS       0x06
#define IOP_DMA_PUT_ADAPTER_COMMON_BUFFERS    0x07
#define IOP_DMA_PUT_ADAPTER_SG_LISTS          0x0A
#define IOP_DMA_MDL_NOT_LOCKED                0x101   /* mdlos: the MDL's PFN array is not locked down */
#define IOP_DMA_DIRECTION_CHANGED             0x102   /* mdlos: Put's WriteToDevice is not Get's */
#define IOP_DMA_NOT_AN_ADAPTER                0x103   /* mdlos: not an adapter IoGetDmaAdapter made */

/* The most map registers an adapter hands out (4 MiB of transfer). */
#define IOP_DMA_MAX_MAP_REGISTERS 1024

/* One bounced piece: which map register holds it, and the original
 * frame and byte range it stands for (always inside one page). */
typedef struct _IOP_SG_BOUNCE {
    PFN_NUMBER Pfn;
    USHORT MapRegister;
    USHORT Offset;
    ULONG Length;
} IOP_SG_BOUNCE;

struct _IOP_DMA_ADAPTER;

/* The I/O manager's record of one list, after its elements in the same
 * block (SCATTER_GATHER_LIST.Reserved points here). It also keeps the
 * request while it waits for map registers. */
typedef struct _IOP_SG_PRIVATE {
    ULONG Magic;                 /* IOP_SG_MAGIC while the list is out */
    UCHAR Allocated;             /* 0: the caller's (Build); 1 pool, 2 lookaside: GetScatterGatherList's, Put frees it */
    BOOLEAN WriteToDevice;
    BOOLEAN Queued;              /* waiting for map registers */
    struct _IOP_DMA_ADAPTER *Adapter;
    PSCATTER_GATHER_LIST List;
    LIST_ENTRY WaitLink;
    PDEVICE_OBJECT DeviceObject;
    PMDL Mdl;
    PVOID CurrentVa;
    ULONG Length;
    PDRIVER_LIST_CONTROL ExecutionRoutine;
    PVOID Context;
    ULONG MaxElements;
    ULONG MapRegisters;          /* held (or wanted while queued): one per bounced piece */
    IOP_SG_BOUNCE Bounce[];
} IOP_SG_PRIVATE, *PIOP_SG_PRIVATE;
#define IOP_SG_MAGIC POOL_TAG('S', 'g', 'L', '!')

typedef struct _IOP_DMA_ADAPTER {
    DMA_ADAPTER DmaHeader;       /* first: a PDMA_ADAPTER is one of these */
    ULONG Magic;                 /* IOP_DMA_MAGIC */
    PDEVICE_OBJECT PhysicalDeviceObject;
    ULONG64 HighestAddress;      /* the last bus address the device reaches */
    ULONG64 MaximumSegmentLength;
    ULONG64 SegmentBoundary;     /* 0 or a power of two >= PAGE_SIZE */
    ULONG MapRegistersPerTransfer;   /* what IoGetDmaAdapter returned */
    /* The map registers: low frames (<= HighestAddress) for bouncing,
     * allocated and mapped once; 0 of them when no RAM lies above the
     * device's reach. */
    ULONG MapRegisterCount;
    PMDL MapRegisterMdl;
    PUCHAR MapRegisterVa;
    KSPIN_LOCK Lock;             /* the free map registers, the wait queue and the counts below */
    ULONG FreeCount;
    USHORT *FreeStack;           /* FreeCount free map register numbers */
    LIST_ENTRY WaitQueue;        /* IOP_SG_PRIVATE.WaitLink, oldest first */
    LONG ListsOutstanding;       /* built or queued, not yet put */
    LONG CommonBuffers;
    /* Statistics for tests and the debugger. */
    ULONG64 ListsBuilt, PiecesBounced, BytesCopiedToDevice, BytesCopiedBack, Queued, FlushCalls;
    LIST_ENTRY Links;            /* IopDmaAdapters */
} IOP_DMA_ADAPTER, *PIOP_DMA_ADAPTER;
#define IOP_DMA_MAGIC POOL_TAG('D', 'm', 'a', '!')

/* Every live adapter, and totals for the leak check. */
extern LIST_ENTRY IopDmaAdapters;
extern volatile LONG IopDmaAdapterCount, IopDmaListsOutstanding, IopDmaMapRegistersInUse, IopDmaCommonBuffers;
extern volatile ULONG64 KiFlushIoBuffersCalls;   /* kernel/ke/flush.c */

void IopInitializeDma(void);
