/*
 * Requests a driver builds for another driver (NT's IoBuild*Request):
 * the same transfer-method rules the system services follow, for a
 * kernel caller's buffer. The buffer is probed with KernelMode: a driver
 * passing a bad one is a driver bug, and NT's verifier stops on it
 * (0xC9/0x8, 0xC9/0x9); without the verifier NT returns NULL. mdlos
 * returns NULL too, and says so on the console.
 */
#include "io/iop.h"

NTSTATUS IopLockBuffer(PVOID va, ULONG length, KPROCESSOR_MODE mode, LOCK_OPERATION op, PIRP irp, PMDL *out)
{
    PMDL m = IoAllocateMdl(va, length, FALSE, mode == UserMode, irp);
    if (!m)
        return STATUS_INSUFFICIENT_RESOURCES;
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        MmProbeAndLockPages(m, mode, op);
    } ExExcept(code) {
        s = code;
    } ExEndTry;
    if (!NT_SUCCESS(s)) {
        if (irp)
            irp->MdlAddress = NULL;
        IoFreeMdl(m);
        return s;
    }
    if (out)
        *out = m;
    return STATUS_SUCCESS;
}

NTSTATUS IopLockBufferIntoIrp(PIRP irp, PVOID va, ULONG length, KPROCESSOR_MODE mode, LOCK_OPERATION op)
{
    return IopLockBuffer(va, length, mode, op, irp, NULL);
}

void IopFreeUnsentIrp(PIRP irp)
{
    if ((irp->Flags & IRP_DEALLOCATE_BUFFER) && irp->AssociatedIrp.SystemBuffer)
        ExFreePoolWithTag(irp->AssociatedIrp.SystemBuffer, TAG_IOBUF);
    while (irp->MdlAddress) {
        PMDL m = irp->MdlAddress;
        irp->MdlAddress = m->Next;
        if (m->MdlFlags & MDL_PAGES_LOCKED)
            MmUnlockPages(m);
        IoFreeMdl(m);
    }
    /* The references a file service took for it, by stage 2's rule: the
     * caller's event (not the I/O manager's own) and the file. */
    PFILE_OBJECT fo = irp->Tail.Overlay.OriginalFileObject;
    if (fo && irp->UserEvent && !(irp->Flags & IRP_SYNCHRONOUS_API))
        ObDereferenceObject(irp->UserEvent);
    IoFreeIrp(irp);
    if (fo)
        ObDereferenceObject(fo);
}

/* Set up the caller's buffer for DEV's transfer method. WRITE: the
 * device reads the buffer. FALSE when out of memory or it cannot be locked. */
static BOOLEAN setup_buffer(PIRP irp, PDEVICE_OBJECT dev, PVOID buf, ULONG len, BOOLEAN device_reads,
                            BOOLEAN copy_back)
{
    if (!len)
        return TRUE;
    if (dev->Flags & DO_BUFFERED_IO) {
        PVOID sys = ExAllocatePoolWithTag(NonPagedPoolNx, len, TAG_IOBUF);
        if (!sys)
            return FALSE;
        if (device_reads)
            memcpy(sys, buf, len);
        else
            memset(sys, 0, len);
        irp->AssociatedIrp.SystemBuffer = sys;
        irp->UserBuffer = buf;
        irp->Flags |= IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER | (copy_back ? IRP_INPUT_OPERATION : 0);
        return TRUE;
    }
    if (dev->Flags & DO_DIRECT_IO) {
        NTSTATUS s = IopLockBufferIntoIrp(irp, buf, len, KernelMode, device_reads ? IoReadAccess : IoWriteAccess);
        if (!NT_SUCCESS(s))
            kprintf("io: IoBuild*Request: buffer %p (+%u) cannot be locked: status %#x\n", buf, len, (unsigned)s);
        return NT_SUCCESS(s);
    }
    irp->UserBuffer = buf;
    return TRUE;
}

PIRP IoBuildAsynchronousFsdRequest(ULONG major, PDEVICE_OBJECT dev, PVOID buf, ULONG len, PLARGE_INTEGER offset,
                                   PIO_STATUS_BLOCK iosb)
{
    PIRP irp = IoAllocateIrp(dev->StackSize, FALSE);
    if (!irp)
        return NULL;
    irp->RequestorMode = KernelMode;
    irp->UserIosb = iosb;
    /* Completion runs stage 2 as an APC to this thread unless the
     * caller's completion routine takes the IRP back first (NT's rule
     * for asynchronous FSD requests: free it there, return
     * STATUS_MORE_PROCESSING_REQUIRED). */
    irp->Tail.Overlay.Thread = KeGetCurrentThread();
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->MajorFunction = (UCHAR)major;
    if (major == IRP_MJ_READ || major == IRP_MJ_WRITE) {
        if (!setup_buffer(irp, dev, buf, len, major == IRP_MJ_WRITE, major == IRP_MJ_READ)) {
            IopFreeUnsentIrp(irp);
            return NULL;
        }
        sl->Parameters.Read.Length = len;
        sl->Parameters.Read.ByteOffset.QuadPart = offset ? offset->QuadPart : 0;
        irp->Flags |= major == IRP_MJ_READ ? IRP_READ_OPERATION : IRP_WRITE_OPERATION;
    } else if (major != IRP_MJ_FLUSH_BUFFERS && major != IRP_MJ_SHUTDOWN && major != IRP_MJ_PNP) {
        KeBugCheckRule(DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x8, (ULONG_PTR)dev, major, 0,
                       "IoBuildAsynchronousFsdRequest takes IRP_MJ_READ, WRITE, FLUSH_BUFFERS, SHUTDOWN or PNP "
                       "only (major function %#x)", major);
    }
    return irp;
}

PIRP IoBuildSynchronousFsdRequest(ULONG major, PDEVICE_OBJECT dev, PVOID buf, ULONG len, PLARGE_INTEGER offset,
                                  PKEVENT event, PIO_STATUS_BLOCK iosb)
{
    PIRP irp = IoBuildAsynchronousFsdRequest(major, dev, buf, len, offset, iosb);
    if (!irp)
        return NULL;
    /* The I/O manager finishes and frees it; the caller waits on EVENT
     * when IoCallDriver returns STATUS_PENDING. */
    irp->UserEvent = event;
    IopQueueThreadIrp(irp);
    return irp;
}

PIRP IoBuildDeviceIoControlRequest(ULONG code, PDEVICE_OBJECT dev, PVOID in, ULONG inlen, PVOID out, ULONG outlen,
                                   BOOLEAN internal, PKEVENT event, PIO_STATUS_BLOCK iosb)
{
    PIRP irp = IoAllocateIrp(dev->StackSize, FALSE);
    if (!irp)
        return NULL;
    irp->RequestorMode = KernelMode;
    irp->UserIosb = iosb;
    irp->UserEvent = event;
    PIO_STACK_LOCATION sl = IoGetNextIrpStackLocation(irp);
    sl->MajorFunction = internal ? IRP_MJ_INTERNAL_DEVICE_CONTROL : IRP_MJ_DEVICE_CONTROL;
    sl->Parameters.DeviceIoControl.IoControlCode = code;
    sl->Parameters.DeviceIoControl.InputBufferLength = inlen;
    sl->Parameters.DeviceIoControl.OutputBufferLength = outlen;
    BOOLEAN ok = TRUE;
    switch (METHOD_FROM_CTL_CODE(code)) {
    case METHOD_BUFFERED: {
        ULONG n = inlen > outlen ? inlen : outlen;
        if (n) {
            PVOID sys = ExAllocatePoolWithTag(NonPagedPoolNx, n, TAG_IOBUF);
            ok = sys != NULL;
            if (sys) {
                memset(sys, 0, n);
                if (inlen)
                    memcpy(sys, in, inlen);
                irp->AssociatedIrp.SystemBuffer = sys;
                irp->Flags |= IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER | (outlen ? IRP_INPUT_OPERATION : 0);
            }
        }
        irp->UserBuffer = out;
        break;
    }
    case METHOD_IN_DIRECT:
    case METHOD_OUT_DIRECT:
        if (inlen) {
            PVOID sys = ExAllocatePoolWithTag(NonPagedPoolNx, inlen, TAG_IOBUF);
            ok = sys != NULL;
            if (sys) {
                memcpy(sys, in, inlen);
                irp->AssociatedIrp.SystemBuffer = sys;
                irp->Flags |= IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER;
            }
        }
        /* The output buffer is locked: read by the device for
         * IN_DIRECT, written for OUT_DIRECT. */
        if (ok && outlen)
            ok = NT_SUCCESS(IopLockBufferIntoIrp(irp, out, outlen, KernelMode,
                                                 METHOD_FROM_CTL_CODE(code) == METHOD_IN_DIRECT ? IoReadAccess
                                                                                                : IoWriteAccess));
        break;
    default:
        sl->Parameters.DeviceIoControl.Type3InputBuffer = in;
        irp->UserBuffer = out;
        break;
    }
    if (!ok) {
        IopFreeUnsentIrp(irp);
        return NULL;
    }
    IopQueueThreadIrp(irp);
    return irp;
}
