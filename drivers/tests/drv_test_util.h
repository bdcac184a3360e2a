/*
 * Helpers of the driver tests (drivers/NAME/tests): open a device from
 * kernel mode and send it reads, writes and IOCTLs built with
 * IoBuildSynchronousFsdRequest / IoBuildDeviceIoControlRequest - the way
 * one driver talks to another.
 */
#pragma once
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define DRVT_TAG POOL_TAG('D', 'r', 'v', 'T')

/* Two NTSTATUS values equal (as 32-bit codes: STATUS_* constants are
 * negative LONGs, which KT_EQ would widen with their sign). */
#define KT_ST(a, b) KT_EQ((ULONG)(a), (ULONG)(b))

/* IoGetDeviceObjectPointer(NAME): a referenced file object and the top of
 * the device's stack. Fails the test when the device cannot be opened. */
void DrvtOpen(PCSTR Name, PFILE_OBJECT *File, PDEVICE_OBJECT *Top);
/* The device object NAME names (the bottom of its stack), unreferenced:
 * named devices live as long as their driver. NULL when absent. */
PDEVICE_OBJECT DrvtNamedDevice(PCSTR Name);

/* A read or write (IRP_MJ_READ/WRITE) of BUF to DEV's stack, with FILE in
 * the stack location (may be NULL), waited for: its final status and
 * *INFO. The wait also lets the completion APC (stage 2) run. */
NTSTATUS DrvtReadWrite(PDEVICE_OBJECT Dev, PFILE_OBJECT File, UCHAR Major, PVOID Buf, ULONG Len, LONGLONG Offset,
                       ULONG_PTR *Info);
NTSTATUS DrvtIoctl(PDEVICE_OBJECT Dev, PFILE_OBJECT File, ULONG Code, PVOID In, ULONG InLen, PVOID Out,
                   ULONG OutLen, ULONG_PTR *Info);
/* IRP_MJ_FLUSH_BUFFERS. */
NTSTATUS DrvtFlush(PDEVICE_OBJECT Dev, PFILE_OBJECT File);

/* An asynchronous read sent and left pending: IoBuildSynchronousFsdRequest
 * with its own event and status block, the IRP finished by the I/O
 * manager. DrvtWait waits for it (10 s at most) and returns its status. */
typedef struct {
    KEVENT Event;
    IO_STATUS_BLOCK Iosb;
    NTSTATUS Returned;     /* what IoCallDriver returned */
} DRVT_ASYNC;
void DrvtSendRead(DRVT_ASYNC *A, PDEVICE_OBJECT Dev, PFILE_OBJECT File, PVOID Buf, ULONG Len, LONGLONG Offset);
/* The same for IRP_MJ_READ or IRP_MJ_WRITE. */
void DrvtSend(DRVT_ASYNC *A, UCHAR Major, PDEVICE_OBJECT Dev, PFILE_OBJECT File, PVOID Buf, ULONG Len, LONGLONG Offset);
NTSTATUS DrvtWait(DRVT_ASYNC *A);

void DrvtSleep(ULONG Ms);
/* Fill / check a pattern that depends on SEED and the byte's position. */
void DrvtFill(PUCHAR Buf, ULONG Len, ULONG Seed);
BOOLEAN DrvtCheck(const UCHAR *Buf, ULONG Len, ULONG Seed);
