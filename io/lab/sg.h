/*
 * The DMA lab (docs/labs/dma.md): the student's scatter/gather list from
 * an MDL chain - what NT's GetScatterGatherList / BuildScatterGatherList
 * / PutScatterGatherList do for a bus-master driver (io/dma.c is the
 * kernel's own). A list is the transfer as the device sees it: (bus
 * address, length) elements made from the MDLs' PFN arrays, cut to the
 * device's limits, with the pieces the device cannot reach bounced
 * through low "map register" pages.
 *
 * The kernel does not use this code: the lab's tests call it, and the
 * lab's DMA adapter (io/lab/sgadapter.c, IoLabGetDmaAdapter) wraps it so
 * that the virtio-blk driver can use it for the requests of one file
 * object a test chooses (VblkLabRoute). A kernel with the stubs boots and
 * passes every other test.
 *
 * Differences from NT, to keep grading simple: the list is always built in
 * memory the caller gives (Build, never Get: the lab's adapter allocates
 * it), and a transfer that needs more map registers than are free fails
 * with STATUS_INSUFFICIENT_RESOURCES instead of waiting in a queue.
 */
#pragma once
#include "kernel/mdlos.h"
#include "kernel/ktest/ktest.h"   /* KtLabNotImplemented, in the stubs */

#ifndef STATUS_DATA_ERROR
#define STATUS_DATA_ERROR ((NTSTATUS)0xC000003EL)   /* NT's: the lab's adapter refused a wrong list */
#endif

/* One device's DMA limits and its adapter's map registers. IoLabInitializeDma
 * fills it in from a DEVICE_DESCRIPTION, as IoGetDmaAdapter does. */
typedef struct _IO_LAB_DMA {
    ULONG64 HighestAddress;        /* the last bus address the device reaches (~0: 64 bits) */
    ULONG64 MaximumSegmentLength;  /* the longest element, bytes (~0: no limit) */
    ULONG64 SegmentBoundary;       /* 0, or a power of two >= PAGE_SIZE no element may cross */
    ULONG MapRegistersPerTransfer; /* the most pages one transfer may span */
    /* The map registers: MapRegisterCount low frames (each <= HighestAddress),
     * register i is frame MapRegisterPfn[i], mapped at MapRegisterVa + i *
     * PAGE_SIZE. None when no RAM lies above the device's reach. Take and
     * return them with IoLabTakeMapRegisters / IoLabReturnMapRegisters. */
    ULONG MapRegisterCount;
    PPFN_NUMBER MapRegisterPfn;
    PUCHAR MapRegisterVa;
    /* The free ones (IoLabTakeMapRegisters' business). */
    KSPIN_LOCK Lock;
    ULONG FreeCount;
    USHORT *FreeStack;
    PMDL MapRegisterMdl;
} IO_LAB_DMA;

/* ---- given (io/lab/sgadapter.c) ---- */

/* Fill DMA in from D (Master and ScatterGather bus masters only; the reach
 * from Dma64BitAddresses / Dma32BitAddresses / DmaAddressWidth, the
 * segment limits from mdlos's MaximumSegmentLength and SegmentBoundary)
 * and give it map registers when RAM lies above the reach: one per page of
 * the longest transfer. STATUS_INVALID_PARAMETER for a description that
 * is not built, STATUS_INSUFFICIENT_RESOURCES without memory. */
NTSTATUS IoLabInitializeDma(IO_LAB_DMA *Dma, const DEVICE_DESCRIPTION *D);
/* Give the map registers back (PASSIVE_LEVEL). Ends the test as failed
 * when some are still taken (a list not put, or a put that forgot them). */
void IoLabFreeDma(IO_LAB_DMA *Dma);
/* Take COUNT free map registers into REGISTERS (their numbers), all or
 * none: FALSE, nothing taken, when fewer are free. <= DISPATCH_LEVEL. */
BOOLEAN IoLabTakeMapRegisters(IO_LAB_DMA *Dma, ULONG Count, USHORT *Registers);
/* Give back COUNT map registers taken with IoLabTakeMapRegisters. */
void IoLabReturnMapRegisters(IO_LAB_DMA *Dma, ULONG Count, const USHORT *Registers);

/* ---- yours (io/lab/sg.c) ---- */

/* How many bytes the list for (MDL, CURRENTVA, LENGTH) may need at most
 * (*LISTSIZE: the SCATTER_GATHER_LIST header, the elements, and whatever
 * record of your own you keep after them), and the pages the transfer
 * spans (*MAPREGISTERS, optional: NT's NumberOfMapRegisters). CURRENTVA
 * is an address in the first MDL's buffer (MmGetMdlVirtualAddress terms);
 * the transfer goes on through Mdl->Next for LENGTH bytes. A LENGTH of 0,
 * a CURRENTVA outside the first MDL, or a chain shorter than LENGTH:
 * STATUS_INVALID_PARAMETER. More pages than MapRegistersPerTransfer:
 * STATUS_INSUFFICIENT_RESOURCES. */
NTSTATUS IoLabCalculateScatterGatherList(IO_LAB_DMA *Dma, PMDL Mdl, PVOID CurrentVa, ULONG Length, PULONG ListSize,
                                         PULONG MapRegisters);
/* Build the list in BUFFER (8-byte aligned, BUFFERLENGTH bytes): the same
 * checks as above, then STATUS_BUFFER_TOO_SMALL when BUFFERLENGTH is less
 * than IoLabCalculateScatterGatherList's size, STATUS_INSUFFICIENT_RESOURCES
 * when too few map registers are free (nothing taken, nothing copied). An
 * MDL whose pages are not locked (no MDL_PAGES_LOCKED,
 * MDL_SOURCE_IS_NONPAGED_POOL or MDL_PARTIAL) is the verifier's
 * DRIVER_VERIFIER_DMA_VIOLATION 0x101 (P2: that MDL), as in io/dma.c.
 *
 * The elements: each page piece's bus address is its frame's, plus its
 * offset in the page; a piece that continues the last element extends it
 * (contiguous frames merge, across MDLs too), up to MaximumSegmentLength
 * and never across SegmentBoundary. A piece the device cannot reach (its
 * last byte above HighestAddress) goes through a map register of its own,
 * at the same offset in the register's page, never merged with anything;
 * for WRITETODEVICE its bytes are copied there now. On success BUFFER is
 * the SCATTER_GATHER_LIST, and its Reserved field is yours (your record
 * of the list: what Put needs). */
NTSTATUS IoLabBuildScatterGatherList(IO_LAB_DMA *Dma, PMDL Mdl, PVOID CurrentVa, ULONG Length,
                                     BOOLEAN WriteToDevice, PVOID Buffer, ULONG BufferLength);
/* The device is done with LIST: for a read (WRITETODEVICE FALSE) copy each
 * bounced piece back to its frame - exactly its bytes, nothing else of the
 * page - then give the map registers back. A list that is not out (never
 * built, or put already) is DRIVER_VERIFIER_DMA_VIOLATION 0x06; a
 * WRITETODEVICE other than Build's is 0x102 (P2: the list). The buffer
 * stays the caller's. */
void IoLabPutScatterGatherList(IO_LAB_DMA *Dma, PSCATTER_GATHER_LIST List, BOOLEAN WriteToDevice);

/* ---- the lab's adapter, for a driver (io/lab/sgadapter.c) ---- */

/* A DMA_ADAPTER like IoGetDmaAdapter's whose GetScatterGatherList /
 * PutScatterGatherList are yours: Get allocates the size your Calculate
 * asks for, calls your Build, checks the list against the MDL (every byte
 * either on its own frame or in one of the adapter's map registers, every
 * element within the limits) before the execution routine may give it to
 * a device, and fails the request with STATUS_DATA_ERROR otherwise
 * (IoLabLastProblem says why). Only MaximumSegmentLength 0 or >= PAGE_SIZE. */
PDMA_ADAPTER IoLabGetDmaAdapter(PDEVICE_DESCRIPTION D, PULONG NumberOfMapRegisters);
IO_LAB_DMA *IoLabDmaOfAdapter(PDMA_ADAPTER Adapter);
ULONG64 IoLabListsBuilt(PDMA_ADAPTER Adapter);
const char *IoLabLastProblem(PDMA_ADAPTER Adapter);
/* The check the adapter makes, for tests: NULL when LIST is exactly the
 * transfer (MDL, CURRENTVA, LENGTH) within DMA's limits, else what is wrong. */
const char *IoLabCheckList(IO_LAB_DMA *Dma, PMDL Mdl, PVOID CurrentVa, ULONG Length, PSCATTER_GATHER_LIST List,
                           char *Why, ULONG WhySize);
