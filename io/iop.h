/*
 * iop.h: I/O manager internals, shared by the files of io/. Not for
 * drivers (they include kernel/mdlos.h).
 */
#pragma once
#include "io/io.h"
#include "kernel/ke/ki.h"
#include "kernel/ex/ex.h"

#define TAG_IRP     POOL_TAG('I', 'r', 'p', ' ')
#define TAG_IOBUF   POOL_TAG('I', 'o', 'B', 'f')   /* buffered I/O system buffers */
#define TAG_IOCTX   POOL_TAG('I', 'o', 'C', 'x')   /* IoSetCompletionRoutineEx contexts */

/* The largest buffered transfer one request may ask for. NT has no such
 * limit but charges the system buffer to the caller's pool quota; mdlos
 * has no quotas, so this bound keeps one ring-3 call from taking all of
 * nonpaged pool. */
#define IOP_MAX_BUFFERED_TRANSFER (16u << 20)

/* The I/O verifier's checks: NT's DRIVER_VERIFIER_IOMANAGER_VIOLATION (0xC9)
 * with its parameter-1 codes, always on in mdlos. */
#define IOV_FREE_NOT_IRP             0x01
#define IOV_FREE_IRP_WITH_THREAD     0x02
#define IOV_CALL_NOT_IRP             0x03
#define IOV_CALL_BAD_DEVICE          0x04
#define IOV_IRQL_CHANGED_IN_DISPATCH 0x05
#define IOV_COMPLETE_PENDING         0x06
#define IOV_COMPLETE_WITH_CANCEL     0x07
#define IOV_COMPLETE_ABOVE_DISPATCH  0x0E
#define IOV_CALL_ABOVE_DISPATCH      0x10
#define IOV_FREE_IRP_IN_USE          0x1011   /* mdlos: a driver still owns it */

/* io/mdl.c: the lookaside list small MDLs come from. */
void IopInitializeMdls(void);

/* io/irp.c */
void IopInitializeIrps(void);
/* Stage 2 of completion, in the requester's context (the APC, or inline
 * for IRP_DEFER_IO_COMPLETION): copy a buffered read back, free the
 * system buffer and MDLs, write the status block, signal the events, take
 * the IRP off its thread, drop the file reference, free the IRP.
 * USER_CONTEXT FALSE when the requester is gone: nothing is written to
 * its memory. */
NTSTATUS IopFinishRequest(PIRP Irp, BOOLEAN UserContext);

/* io/cancel.c: the requesting thread's list of outstanding IRPs. */
void IopQueueThreadIrp(PIRP Irp);
void IopDequeueThreadIrp(PIRP Irp);
/* The thread an IRP completes to (NULL when disassociated), read under
 * the lock that disassociation takes. */
PKTHREAD IopIrpThread(PIRP Irp);
/* NtCancelIoFile: cancel the current thread's IRPs on FILE and wait
 * (bounded) for them to finish. */
NTSTATUS IopCancelFileIo(PFILE_OBJECT File);
/* Reads io.cancel_wait_ms= (IoInitSystem). */
void IopInitializeCancel(void);

/* io/driver.c, io/device.c */
void IopInitializeDrivers(void);
void IopInitializeDevices(void);
NTSTATUS IopInvalidDeviceRequest(PDEVICE_OBJECT DeviceObject, PIRP Irp);
void IopDeviceFileClosed(PDEVICE_OBJECT DeviceObject);

/* io/file.c */
void IopCreateObjectTypes(void);
/* Open the device NAME names: a file object (referenced, not yet in any
 * handle table) after IRP_MJ_CREATE succeeded down its stack. */
NTSTATUS IopOpenDevice(PCSTRING Name, ACCESS_MASK DesiredAccess, ULONG ShareAccess, ULONG Disposition,
                       ULONG Options, KPROCESSOR_MODE Mode, PFILE_OBJECT *FileObject);
/* An IRP for FILE on DEVICE (the top of its stack) with the next stack
 * location holding MAJOR and FILE; it references FILE for stage 2 of
 * its completion to drop. NULL when out of memory. */
PIRP IopAllocateFileIrp(PDEVICE_OBJECT Device, PFILE_OBJECT File, UCHAR Major, KPROCESSOR_MODE Mode);
/* Send a kernel-mode IRP and wait until it has completely finished
 * (IRP_MJ_CREATE, CLEANUP, FLUSH from the kernel): its final status. */
NTSTATUS IopKernelSynchronousCall(PDEVICE_OBJECT Device, PIRP Irp);
/* The end of every file service: queue IRP to the thread, send it; a
 * status other than STATUS_PENDING is finished inline (stage 2 with no
 * APC); a synchronous file waits for the completion and returns the
 * final status; an asynchronous one returns STATUS_PENDING. */
NTSTATUS IopUserServiceTail(PDEVICE_OBJECT Device, PIRP Irp, PFILE_OBJECT File);
/* FO_SYNCHRONOUS_IO files: one request at a time (the byte offset). */
NTSTATUS IopAcquireFileLock(PFILE_OBJECT File);
void IopReleaseFileLock(PFILE_OBJECT File);

/* io/build.c: what the file services and IoBuild*Request share. */
/* An MDL for [VA, VA+LENGTH) on Irp->MdlAddress, probed and locked for OP
 * with MODE's rules: the exception's status (nothing left allocated or
 * locked) when the buffer is bad. */
/* [VA, VA+LENGTH) probed and locked for OP into a new MDL (*OUT; with IRP,
 * its MdlAddress): the exception of a bad buffer is the status returned,
 * and nothing is left allocated then. */
NTSTATUS IopLockBuffer(PVOID Va, ULONG Length, KPROCESSOR_MODE Mode, LOCK_OPERATION Op, PIRP Irp, PMDL *Out);
NTSTATUS IopLockBufferIntoIrp(PIRP Irp, PVOID Va, ULONG Length, KPROCESSOR_MODE Mode, LOCK_OPERATION Op);
/* Free an IRP that was built but never sent: its system buffer, its MDLs
 * (unlocked), and the event and file references a file service took. */
void IopFreeUnsentIrp(PIRP Irp);

/* io/iosvc.c */
void IopRegisterServices(void);
/* [VA, VA+LENGTH) is user space (nothing is touched): the status of the
 * probe's exception, if any. */
NTSTATUS IopProbeUserRange(PVOID Va, ULONG Length);
/* A read (WRITE FALSE) or write IRP of FILE at OFFSET for ring 3's buffer
 * (already probed as user space), the device's transfer method set up and
 * nothing sent; on failure nothing is left allocated or locked. LOCKED
 * (direct I/O only; NULL otherwise): an MDL, already locked, that holds the
 * buffer - the IRP gets a partial MDL of it instead of a lock of its own. */
NTSTATUS IopBuildReadWriteIrp(PFILE_OBJECT File, BOOLEAN Write, PVOID Buffer, ULONG Length, LARGE_INTEGER Offset,
                              ULONG Key, PMDL Locked, PIRP *Irp);

/* io/ioring.c: the I/O ring object and its services. */
void IopInitializeIoRings(void);
/* IRP (IRP_COMPLETION_RING, stage 1 done): its CQE into its ring, the IRP
 * finished and freed. <= DISPATCH_LEVEL, any thread. */
void IopRingCompleteIrp(PIRP Irp);
/* The ring an IRP completes to (NULL for any other IRP). */
PVOID IopIrpRing(PIRP Irp);
/* Cancel the current thread's requests that complete to RING and wait
 * (bounded, io.cancel_wait_ms=) for them: TRUE when all finished. */
BOOLEAN IopCancelRingIo(PVOID Ring);

/* io/completion.c: completion ports. The object type and its services. */
void IopInitializeCompletionPorts(void);
/* IRP (IRP_COMPLETION_PORT, stage 1 done) onto its file's port as a
 * packet, off its thread's list; finished at once, without the
 * requester's memory, when the port has no handle left. <= DISPATCH_LEVEL. */
void IopQueueCompletionIrp(PIRP Irp);
/* The file object is being deleted: its reference to the port goes. */
void IopReleaseCompletionPort(PFILE_OBJECT File);
/* Packets on all ports now (IRPs and mini packets). */
extern volatile LONG IopCompletionPacketsQueued;
/* drivers/: the drivers built into the kernel (drivers/drivers.c). */
void IopStartBootDrivers(void);


/* The I/O verifier's stop. */
__attribute__((noreturn)) void IopVerifierStop(ULONG Code, ULONG_PTR P2, ULONG_PTR P3, ULONG_PTR P4,
                                               const char *Rule);
