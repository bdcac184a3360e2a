/*
 * dma.h: NT's DMA model for bus-master devices (included by io/io.h):
 * IoGetDmaAdapter turns a DEVICE_DESCRIPTION into a DMA_ADAPTER whose
 * DMA_OPERATIONS build scatter/gather lists from MDLs, bounce what the
 * device cannot reach, and hand out common buffers for rings. wdm.h's
 * names, field order and signatures; docs/io.md ("DMA, NT's model") tells
 * the story. Implemented in io/dma.c.
 *
 * Why an MDL: a device does not see virtual addresses - it puts physical
 * (bus) addresses on the bus. An MDL is exactly the list of physical
 * frames behind a buffer, locked so they cannot move while the device
 * uses them; a scatter/gather list is that list cut into the (address,
 * length) pieces the device's descriptors hold.
 */
#pragma once

/* wdm.h's INTERFACE_TYPE (the first few). */
typedef enum _INTERFACE_TYPE {
    InterfaceTypeUndefined = -1,
    Internal = 0,
    Isa = 1,
    Eisa = 2,
    MicroChannel = 3,
    TurboChannel = 4,
    PCIBus = 5,
} INTERFACE_TYPE;
typedef enum _DMA_WIDTH { Width8Bits, Width16Bits, Width32Bits, Width64Bits, WidthNoWrap, MaximumDmaWidth } DMA_WIDTH;
typedef enum _DMA_SPEED { Compatible, TypeA, TypeB, TypeC, TypeF, MaximumDmaSpeed } DMA_SPEED;

#define DEVICE_DESCRIPTION_VERSION  0
#define DEVICE_DESCRIPTION_VERSION1 1
#define DEVICE_DESCRIPTION_VERSION2 2
#define DEVICE_DESCRIPTION_VERSION3 3   /* DmaAddressWidth and the fields after it are read */

/* What a driver tells the I/O manager about its device's DMA engine.
 * Zero it, then fill in what applies (as the WDK asks). mdlos supports
 * bus masters (Master) with scatter/gather (ScatterGather): system
 * (8237-style) DMA and packet-based DMA are not built. */
typedef struct _DEVICE_DESCRIPTION {
    ULONG Version;               /* DEVICE_DESCRIPTION_VERSION..3 */
    BOOLEAN Master;              /* a bus master: must be TRUE */
    BOOLEAN ScatterGather;       /* takes a list of pieces: must be TRUE */
    BOOLEAN DemandMode;          /* system DMA only */
    BOOLEAN AutoInitialize;      /* system DMA only */
    BOOLEAN Dma32BitAddresses;   /* reaches the first 4 GiB */
    BOOLEAN IgnoreCount;
    BOOLEAN Reserved1;
    BOOLEAN Dma64BitAddresses;   /* reaches every physical address */
    ULONG BusNumber;
    ULONG DmaChannel;            /* system DMA only */
    INTERFACE_TYPE InterfaceType;
    DMA_WIDTH DmaWidth;
    DMA_SPEED DmaSpeed;
    ULONG MaximumLength;         /* the largest transfer, bytes: sets NumberOfMapRegisters */
    ULONG DmaPort;
    /* Version 3 (Windows 8): the address width in bits, which overrides
     * the two booleans above when nonzero (24 = the first 16 MiB). */
    ULONG DmaAddressWidth;
    ULONG DmaControllerInstance;
    ULONG DmaRequestLine;
    PHYSICAL_ADDRESS DeviceAddress;
    /* mdlos, not in NT (NT's HAL has no such limits; a miniport splits
     * for itself): the longest element the device takes (virtio-blk's
     * size_max), and a power of two no element may cross (0 = none). */
    ULONG MaximumSegmentLength;
    ULONG SegmentBoundary;
} DEVICE_DESCRIPTION, *PDEVICE_DESCRIPTION;

/* One piece of a transfer as the device sees it: a bus address and a
 * length (24 bytes on x64, as in wdm.h). */
typedef struct _SCATTER_GATHER_ELEMENT {
    PHYSICAL_ADDRESS Address;
    ULONG Length;
    ULONG_PTR Reserved;
} SCATTER_GATHER_ELEMENT, *PSCATTER_GATHER_ELEMENT;

typedef struct _SCATTER_GATHER_LIST {
    ULONG NumberOfElements;
    ULONG_PTR Reserved;          /* the I/O manager's: its record of the list (map registers, bounce copies) */
    SCATTER_GATHER_ELEMENT Elements[];
} SCATTER_GATHER_LIST, *PSCATTER_GATHER_LIST;
_Static_assert(sizeof(SCATTER_GATHER_ELEMENT) == 24, "SCATTER_GATHER_ELEMENT is 24 bytes on x64");
_Static_assert(sizeof(SCATTER_GATHER_LIST) == 16, "the SCATTER_GATHER_LIST header is 16 bytes on x64");

struct _DMA_OPERATIONS;
typedef struct _DMA_ADAPTER {
    USHORT Version;
    USHORT Size;
    struct _DMA_OPERATIONS *DmaOperations;
} DMA_ADAPTER, *PDMA_ADAPTER;

/* The execution routine: called at DISPATCH_LEVEL with the list once the
 * resources (map registers) are there - during GetScatterGatherList, or
 * later from the PutScatterGatherList that freed them. Program the
 * device here. IRP is DeviceObject->CurrentIrp, as NT passes it. */
typedef void (*PDRIVER_LIST_CONTROL)(PDEVICE_OBJECT DeviceObject, PIRP Irp, PSCATTER_GATHER_LIST ScatterGather,
                                     PVOID Context);

typedef void (*PPUT_DMA_ADAPTER)(PDMA_ADAPTER DmaAdapter);
typedef PVOID (*PALLOCATE_COMMON_BUFFER)(PDMA_ADAPTER DmaAdapter, ULONG Length, PPHYSICAL_ADDRESS LogicalAddress,
                                         BOOLEAN CacheEnabled);
typedef void (*PFREE_COMMON_BUFFER)(PDMA_ADAPTER DmaAdapter, ULONG Length, PHYSICAL_ADDRESS LogicalAddress,
                                    PVOID VirtualAddress, BOOLEAN CacheEnabled);
typedef BOOLEAN (*PFLUSH_ADAPTER_BUFFERS)(PDMA_ADAPTER DmaAdapter, PMDL Mdl, PVOID MapRegisterBase, PVOID CurrentVa,
                                          ULONG Length, BOOLEAN WriteToDevice);
typedef ULONG (*PGET_DMA_ALIGNMENT)(PDMA_ADAPTER DmaAdapter);
typedef NTSTATUS (*PGET_SCATTER_GATHER_LIST)(PDMA_ADAPTER DmaAdapter, PDEVICE_OBJECT DeviceObject, PMDL Mdl,
                                             PVOID CurrentVa, ULONG Length, PDRIVER_LIST_CONTROL ExecutionRoutine,
                                             PVOID Context, BOOLEAN WriteToDevice);
typedef void (*PPUT_SCATTER_GATHER_LIST)(PDMA_ADAPTER DmaAdapter, PSCATTER_GATHER_LIST ScatterGather,
                                         BOOLEAN WriteToDevice);
typedef NTSTATUS (*PCALCULATE_SCATTER_GATHER_LIST_SIZE)(PDMA_ADAPTER DmaAdapter, PMDL Mdl, PVOID CurrentVa,
                                                        ULONG Length, PULONG ScatterGatherListSize,
                                                        PULONG NumberOfMapRegisters);
typedef NTSTATUS (*PBUILD_SCATTER_GATHER_LIST)(PDMA_ADAPTER DmaAdapter, PDEVICE_OBJECT DeviceObject, PMDL Mdl,
                                               PVOID CurrentVa, ULONG Length, PDRIVER_LIST_CONTROL ExecutionRoutine,
                                               PVOID Context, BOOLEAN WriteToDevice, PVOID ScatterGatherBuffer,
                                               ULONG ScatterGatherLength);

/* wdm.h's version-1 table, in its order. The packet-DMA entries
 * (AllocateAdapterChannel, FreeAdapterChannel, FreeMapRegisters,
 * MapTransfer), system DMA's ReadDmaCounter and
 * BuildMdlFromScatterGatherList are not built: NULL. */
typedef struct _DMA_OPERATIONS {
    ULONG Size;
    PPUT_DMA_ADAPTER PutDmaAdapter;                               /* PASSIVE_LEVEL */
    PALLOCATE_COMMON_BUFFER AllocateCommonBuffer;                 /* PASSIVE_LEVEL */
    PFREE_COMMON_BUFFER FreeCommonBuffer;                         /* PASSIVE_LEVEL */
    PVOID AllocateAdapterChannel;
    PFLUSH_ADAPTER_BUFFERS FlushAdapterBuffers;                   /* <= DISPATCH_LEVEL */
    PVOID FreeAdapterChannel;
    PVOID FreeMapRegisters;
    PVOID MapTransfer;
    PGET_DMA_ALIGNMENT GetDmaAlignment;
    PVOID ReadDmaCounter;
    PGET_SCATTER_GATHER_LIST GetScatterGatherList;                /* == DISPATCH_LEVEL */
    PPUT_SCATTER_GATHER_LIST PutScatterGatherList;                /* == DISPATCH_LEVEL */
    PCALCULATE_SCATTER_GATHER_LIST_SIZE CalculateScatterGatherList; /* <= DISPATCH_LEVEL */
    PBUILD_SCATTER_GATHER_LIST BuildScatterGatherList;            /* == DISPATCH_LEVEL */
    PVOID BuildMdlFromScatterGatherList;
} DMA_OPERATIONS, *PDMA_OPERATIONS;

/* The adapter for PHYSICAL_DEVICE_OBJECT's DMA engine (PASSIVE_LEVEL).
 * *NUMBER_OF_MAP_REGISTERS gets the most pages one transfer may span:
 * BYTES_TO_PAGES(MaximumLength) + 1 (capped). NULL when the description
 * asks for what mdlos does not build, or out of memory. Give it back
 * with DmaOperations->PutDmaAdapter. */
PDMA_ADAPTER IoGetDmaAdapter(PDEVICE_OBJECT PhysicalDeviceObject, PDEVICE_DESCRIPTION DeviceDescription,
                             PULONG NumberOfMapRegisters);

/* Make the processor's caches and the memory MDL describes agree before
 * a transfer: ReadOperation = the device will write memory. A no-op on
 * x86, whose DMA snoops the caches (kernel/ke/flush.c says more); called
 * where a non-coherent machine would need it. <= DISPATCH_LEVEL. */
void KeFlushIoBuffers(PMDL Mdl, BOOLEAN ReadOperation, BOOLEAN DmaOperation);
